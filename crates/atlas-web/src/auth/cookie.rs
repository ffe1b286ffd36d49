//! Reading and writing the few cookies the console uses. Every cookie is
//! `HttpOnly; SameSite=Lax; Path=/`, and `Secure` when configured behind TLS.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

/// The session cookie: a random id whose hash the store keeps.
pub const SESSION: &str = "atlas_session";
/// The sign-in form's double-submit token (there is no session yet).
pub const LOGIN_CSRF: &str = "atlas_login_csrf";

/// The value of cookie `name`, if the request carries it.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value; `max_age` `None` makes a browser-session cookie.
pub fn set(name: &str, value: &str, max_age: Option<Duration>, secure: bool) -> HeaderValue {
    let mut s = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that removes the cookie.
pub fn clear(name: &str, secure: bool) -> HeaderValue {
    set(name, "", Some(Duration::ZERO), secure)
}
