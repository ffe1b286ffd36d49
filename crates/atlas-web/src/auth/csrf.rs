//! CSRF protection. A cookie-authenticated request that is not a read must
//! carry the session's token: as the `csrf` field of a form, or in the
//! `X-CSRF-Token` header (scripts). Bearer-token requests carry no cookie
//! and need none. The sign-in form, before any session, uses a
//! double-submit cookie instead.

use axum::body::{to_bytes, Body};
use axum::http::{header, request::Parts};

use crate::error::{ApiError, ApiResult};

pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "csrf";

/// Compares without an early exit on the first differing byte.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of a field in a urlencoded body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Checks `expected` against the request's token; returns the body to pass on
/// (read into memory when the token is in a form, within `limit`).
pub async fn check(parts: &Parts, body: Body, expected: &str, limit: usize) -> ApiResult<Body> {
    if let Some(given) = parts.headers.get(HEADER).and_then(|v| v.to_str().ok()) {
        return if same(given, expected) { Ok(body) } else { Err(ApiError::Csrf) };
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(ApiError::Csrf);
    }
    let bytes = to_bytes(body, limit).await.map_err(|_| ApiError::TooLarge)?;
    match form_field(&bytes, FIELD) {
        Some(given) if same(&given, expected) => Ok(Body::from(bytes)),
        _ => Err(ApiError::Csrf),
    }
}
