//! Error pages. They carry nothing specific to the object asked for, so a
//! hidden run's 404 is byte-for-byte the page of a missing one; a signed-in
//! person gets them inside the frame (`errors::framed`), with the top bar.

use axum::http::StatusCode;
use maud::{html, Markup, DOCTYPE};

pub fn title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Sign in first",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::METHOD_NOT_ALLOWED => "Not a page",
        s if s.is_server_error() => "Something went wrong",
        _ => "Cannot do that",
    }
}

/// The card an error page shows.
pub fn body(status: StatusCode, message: &str) -> Markup {
    let title = title(status);
    html! {
        div.card data-error=(status.as_u16()) {
            h1 { (title) }
            @if message != title { p { (message) } }
            p { a href="/" { "Go to your start page" } }
        }
    }
}

/// The page without the frame (nobody signed in, or the frame cannot be read).
pub fn page(status: StatusCode, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title(status)) " · TenantAtlas" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                main id="main" { (body(status, message)) }
            }
        }
    }
}
