//! Sign-in and sign-out. Passwords are checked by the store (argon2);
//! failures are throttled per (email, client address) and per email, and a
//! throttled attempt is refused before the password is even looked at.

use std::net::SocketAddr;
use std::time::Duration;

use atlas_core::Timestamp;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use rand::RngCore;
use serde::Deserialize;

use super::{authenticate, cookie, csrf};
use crate::ctx::Ctx;
use crate::error::{ApiError, PageResult};
use crate::pages::PageForm;
use crate::state::AppState;

/// The client's address as the server saw it (no proxy header is trusted).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<ClientIp, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(ClientIp(ip.unwrap_or_else(|| "unknown".into())))
    }
}

/// A local path to go to after signing in; anything else goes to Monitoring.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn token() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn login_page(token: &str, next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Sign in · TenantAtlas" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                main.login {
                    div.card {
                        h1 { "Sign in to TenantAtlas" }
                        @if let Some(e) = error { p.error-text role="alert" { (e) } }
                        form method="post" action="/login" {
                            input type="hidden" name=(csrf::FIELD) value=(token);
                            input type="hidden" name="next" value=(next);
                            div.field { label for="email" { "Email" } input id="email" type="email" name="email" value=(email) autocomplete="username" required autofocus; }
                            div.field { label for="password" { "Password" } input id="password" type="password" name="password" autocomplete="current-password" required; }
                            button type="submit" { "Sign in" }
                        }
                    }
                }
            }
        }
    }
}

/// The sign-in page with a fresh double-submit token.
fn render(state: &AppState, status: StatusCode, next: &str, email: &str, error: Option<&str>) -> Response {
    let t = token();
    let set = cookie::set(cookie::LOGIN_CSRF, &t, Some(Duration::from_secs(3600)), state.config.secure_cookies);
    (status, [(header::SET_COOKIE, set)], login_page(&t, next, email, error)).into_response()
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> PageResult<Response> {
    let q: NextQuery = crate::query::parse_query(raw.as_deref())?;
    let next = safe_next(q.next.as_deref());
    if authenticate(&state, &headers).await.ok().flatten().is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(render(&state, StatusCode::OK, &next, "", None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: Option<String>,
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<LoginForm>,
) -> PageResult<Response> {
    let expected = cookie::get(&headers, cookie::LOGIN_CSRF).ok_or(ApiError::Csrf)?;
    if !f.csrf.as_deref().is_some_and(|given| csrf::same(given, &expected)) {
        return Err(ApiError::Csrf.into());
    }
    let next = safe_next(f.next.as_deref());
    let email = f.email.trim().to_lowercase();
    let window = i64::try_from(state.config.login_window.as_micros()).unwrap_or(i64::MAX);
    let since = Timestamp(atlas_store::now().micros().saturating_sub(window));
    let failures = state.store.login_failures(&email, &ip, since).await?;
    if failures.pair >= state.config.login_max_failures || failures.email >= state.config.login_max_failures_per_email {
        let minutes = state.config.login_window.as_secs().div_ceil(60);
        return Err(ApiError::Throttled(format!(
            "Too many failed sign-ins for this email. Wait {minutes} minutes, then try again."
        ))
        .into());
    }
    let Some(user) = state.store.user_verify_password(&email, &f.password).await? else {
        state.store.login_failure_record(&email, &ip, since).await?;
        return Ok(render(&state, StatusCode::UNAUTHORIZED, &next, &email, Some("The email or password is wrong.")));
    };
    state.store.login_failures_clear(&email, &ip).await?;
    let (id, _) = state.store.session_create(user.id, state.config.session_idle).await?;
    let secure = state.config.secure_cookies;
    let session = cookie::set(cookie::SESSION, &id, None, secure);
    let clear = cookie::clear(cookie::LOGIN_CSRF, secure);
    let mut resp = Redirect::to(&next).into_response();
    resp.headers_mut().append(header::SET_COOKIE, session);
    resp.headers_mut().append(header::SET_COOKIE, clear);
    Ok(resp)
}

/// Ends the session (the guard has checked its CSRF token).
pub async fn logout(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    if let Some(s) = &ctx.session {
        state.store.session_delete(&s.id_hash).await?;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie::clear(cookie::SESSION, state.config.secure_cookies));
    Ok(resp)
}
