//! Form helpers: every form posts with the session's CSRF token.

use maud::{html, Markup};

pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name=(crate::auth::csrf::FIELD) value=(token); }
}

/// A one-button form (`POST action`), with optional hidden fields.
pub fn button(action: &str, token: &str, label: &str, class: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(token))
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            button type="submit" class=(class) { (label) }
        }
    }
}
