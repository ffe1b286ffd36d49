//! Small inline SVG icons, decorative only (`aria-hidden`): the text next to
//! an icon always carries the meaning.

use maud::{html, Markup, PreEscaped};

pub fn svg(name: &str) -> Markup {
    let body = match name {
        "check" => r#"<path d="M3 8.5l3 3 7-7" fill="none" stroke="currentColor" stroke-width="2"/>"#,
        "cross" => r#"<path d="M4 4l8 8M12 4l-8 8" fill="none" stroke="currentColor" stroke-width="2"/>"#,
        "shield" => r#"<path d="M8 1.5l5.5 2v4c0 3.5-2.4 6-5.5 7-3.1-1-5.5-3.5-5.5-7v-4z" fill="currentColor"/>"#,
        "slash" => {
            r#"<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.6"/><path d="M4 12L12 4" stroke="currentColor" stroke-width="1.6"/>"#
        }
        "half" => {
            r#"<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.6"/><path d="M8 2a6 6 0 010 12z" fill="currentColor"/>"#
        }
        "pulse" => r#"<circle class="pulse" cx="8" cy="8" r="4.5" fill="currentColor"/>"#,
        "clock" => {
            r#"<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.6"/><path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.6"/>"#
        }
        "circle-outline" => r#"<circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="1.6"/>"#,
        "lock" => {
            r#"<rect x="3" y="7" width="10" height="7" rx="1.5" fill="currentColor"/><path d="M5 7V5a3 3 0 016 0v2" fill="none" stroke="currentColor" stroke-width="1.6"/>"#
        }
        "unlock" => {
            r#"<rect x="3" y="7" width="10" height="7" rx="1.5" fill="currentColor"/><path d="M5 7V5a3 3 0 015.8-1" fill="none" stroke="currentColor" stroke-width="1.6"/>"#
        }
        "bell" => {
            r#"<path d="M8 2a4 4 0 00-4 4v3l-1.5 2.5h11L12 9V6a4 4 0 00-4-4zM6.5 13a1.5 1.5 0 003 0" fill="currentColor"/>"#
        }
        _ => r#"<circle cx="8" cy="8" r="3" fill="currentColor"/>"#,
    };
    html! {
        svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false" { (PreEscaped(body)) }
    }
}
