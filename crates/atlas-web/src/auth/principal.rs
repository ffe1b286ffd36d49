//! Authentication of every request: `Authorization: Bearer <token>` (API
//! tokens, stored hashed) or the session cookie. Both look at the user's
//! `disabled_at` on every request, so disabling a user ends access at once.

use atlas_store::admin::User;
use atlas_store::session::WebSession;
use axum::http::{header, HeaderMap};

use super::cookie;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The signed-in user, and their session when they came with a cookie.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub session: Option<WebSession>,
}

/// `Ok(None)`: nobody signed in. A bearer header that does not authenticate
/// is refused rather than ignored.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<Principal>> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated)?;
        let user = state.store.token_authenticate(token).await?.ok_or(ApiError::Unauthenticated)?;
        return Ok(Some(Principal { user, session: None }));
    }
    let Some(id) = cookie::get(headers, cookie::SESSION) else { return Ok(None) };
    let session = state.store.session_get(&id, state.config.session_idle).await?;
    Ok(session.map(|s| Principal { user: s.user.clone(), session: Some(s) }))
}
