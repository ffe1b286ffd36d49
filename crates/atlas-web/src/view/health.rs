//! A provider connection's health in words (tenant page): its status, when
//! it was last checked and with what result, the objects it counted by type,
//! and what went wrong, in plain language.

use atlas_store::admin::ProviderConnection;
use maud::{html, Markup};
use serde_json::Value;

use super::time;

/// "Configuration policies", from `configuration_policies` or `deviceConfigurations`.
fn kind_words(kind: &str) -> String {
    let mut out = String::new();
    for (i, c) in kind.chars().enumerate() {
        if c == '_' || c == '.' {
            out.push(' ');
        } else if c.is_uppercase() && i > 0 {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else if i == 0 {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn connection(c: &ProviderConnection) -> Markup {
    let health = c.health.as_ref();
    let ok = health.and_then(|h| h.get("ok")).and_then(Value::as_bool);
    let message = health.and_then(|h| h.get("message")).and_then(Value::as_str);
    let missing: Vec<&str> = health
        .and_then(|h| h.get("missing_permissions"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let objects: Vec<(String, u64)> = health
        .and_then(|h| h.pointer("/details/objects"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (kind_words(k), v.as_u64().unwrap_or(0))).collect())
        .unwrap_or_default();
    let groups = health.and_then(|h| h.pointer("/details/groups")).and_then(Value::as_u64);
    html! {
        div.health data-connection-health=(match ok { Some(true) => "healthy", Some(false) => "unhealthy", None => "unchecked" }) {
            (c.kind.as_str().replace('_', " ")) " connection, " strong { (c.status.as_str().replace('_', " ")) } "."
            @match (ok, c.checked_at) {
                (Some(true), Some(at)) => { " Last check passed " (time::at(at)) "." }
                (Some(false), Some(at)) => { " Last check failed " (time::at(at)) "." }
                _ => { " Not checked yet: use Verify connection." }
            }
            @if let (Some(false), Some(m)) = (ok, message) {
                p.error-text data-health-error { "What went wrong: " (m) }
            } @else if let Some(m) = message {
                p.sub { (m) }
            }
            @if !missing.is_empty() {
                p { "Missing permissions: " @for (i, p) in missing.iter().enumerate() { @if i > 0 { ", " } code { (p) } } }
            }
            @if !objects.is_empty() {
                ul.objects aria-label="Objects by type" {
                    @for (kind, n) in &objects { li { (n) " " (kind.to_lowercase()) } }
                    @if let Some(g) = groups { li { (g) " groups" } }
                }
            }
        }
    }
}

/// The connection's health in one line (the fleet overview): words, never
/// the raw health document.
pub fn summary(c: Option<&ProviderConnection>, now: atlas_core::Timestamp) -> Markup {
    let Some(c) = c else {
        return html! { span data-connection-health="none" { "No provider connection" } };
    };
    let health = c.health.as_ref();
    let ok = health.and_then(|h| h.get("ok")).and_then(Value::as_bool);
    let message = health.and_then(|h| h.get("message")).and_then(Value::as_str);
    let state = match ok {
        Some(true) => "healthy",
        Some(false) => "unhealthy",
        None => "unchecked",
    };
    html! {
        span data-connection-health=(state) {
            (kind_words(c.kind.as_str())) ", " (c.status.as_str().replace('_', " "))
            @match (ok, c.checked_at) {
                (Some(true), Some(at)) => { " · check passed " (time::ago(at, now)) }
                (Some(false), Some(at)) => {
                    " · check failed " (time::ago(at, now))
                    @if let Some(m) = message { ": " (m) }
                }
                _ => { " · not checked yet" }
            }
        }
    }
}
