//! Sign-in and sign-out. Passwords are checked by the store (argon2, a dummy
//! hash for an unknown email so both take as long); failures are throttled
//! per (email, client address) with growing delays and per address
//! (`atlas_store::throttle`), and a throttled attempt is refused before the
//! password is even looked at.

use std::net::SocketAddr;
use std::time::Duration;

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

/// Where a sign-in goes when `next` is missing or not a local path.
const DEFAULT_NEXT: &str = "/";

/// A local path to go to after signing in: one leading `/` followed by
/// neither `/` nor `\` (which browsers read as another host), only printable
/// ASCII (no tab or line break a browser would drop or a header refuse), of a
/// sane length. Anything else goes to the start page.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.len() <= 2048
                && n.starts_with('/')
                && !n[1..].starts_with(['/', '\\'])
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => DEFAULT_NEXT.to_owned(),
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

/// A throttled sign-in: 429 with the form, the wait in words and `Retry-After`.
fn throttled(state: &AppState, next: &str, email: &str, wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let when = if secs < 120 { format!("{secs} seconds") } else { format!("{} minutes", secs.div_ceil(60)) };
    let text = format!("Too many failed sign-ins. Wait {when}, then try again.");
    let mut resp = render(state, StatusCode::TOO_MANY_REQUESTS, next, email, Some(&text));
    resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    resp
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
    // A malformed email signs in nobody; it is throttled under one key so
    // that it cannot be varied to dodge the per-pair count.
    let email = atlas_store::admin::normalize_email(&f.email).unwrap_or_else(|_| "(invalid)".into());
    let shown = atlas_core::value::Email::parse(&f.email).map(|e| e.into_string()).unwrap_or_default();
    let wait = state.store.sign_in_wait(&email, &ip).await?;
    if !wait.is_zero() {
        return Ok(throttled(&state, &next, &shown, wait));
    }
    let Some(user) = state.store.user_verify_password(&email, &f.password).await? else {
        state.store.sign_in_failed(&email, &ip, &state.config.throttle).await?;
        return Ok(render(&state, StatusCode::UNAUTHORIZED, &next, &shown, Some("The email or password is wrong.")));
    };
    state.store.sign_in_succeeded(&email, &ip).await?;
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
