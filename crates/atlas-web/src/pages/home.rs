//! The root, and switching workspaces.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::PageForm;
use crate::ctx::Ctx;
use crate::error::{ApiError, PageError, PageResult};
use crate::state::AppState;

/// The first page the person may see: Operations, else Tenants, Audit…
/// (a role without `operations.view` does not land on a 403).
pub async fn index(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let Ok(Some(principal)) = crate::auth::authenticate(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    match crate::guard::user_ctx(&state, principal).await {
        Ok(ctx) => Redirect::to(&crate::view::layout::start_page(&ctx)).into_response(),
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct Switch {
    workspace: String,
}

/// Remembers the chosen workspace in the session; a workspace the person is
/// not a member of is not found.
pub async fn switch_workspace(
    State(state): State<AppState>,
    ctx: Ctx,
    PageForm(f): PageForm<Switch>,
) -> PageResult<Response> {
    let ws = state.store.workspace_by_slug(f.workspace.trim()).await?;
    if state.store.membership_get(ws.id, ctx.user.id).await?.is_none() {
        return Err(ApiError::NotFound.into());
    }
    if let Some(s) = &ctx.session {
        state.store.session_set_workspace(&s.id_hash, ws.id).await?;
    }
    // The workspace's home, as `/` finds it for the session's new workspace:
    // the fleet overview, or the first section the role may open.
    Ok(Redirect::to("/").into_response())
}
