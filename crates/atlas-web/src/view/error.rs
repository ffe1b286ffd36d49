//! Error pages. They carry nothing specific to the viewer or the object, so a
//! hidden run's 404 is byte-for-byte the page of a missing one.

use axum::http::StatusCode;
use maud::{html, Markup, DOCTYPE};

pub fn page(status: StatusCode, message: &str) -> Markup {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Sign in first",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        s if s.is_server_error() => "Something went wrong",
        _ => "Cannot do that",
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · TenantAtlas" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                main {
                    div.card {
                        h1 { (title) }
                        @if message != title { p { (message) } }
                        p { a href="/admin/operations" { "Back to Operations" } }
                    }
                }
            }
        }
    }
}
