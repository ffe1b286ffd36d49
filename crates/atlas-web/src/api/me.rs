//! The caller and their workspaces.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::state::AppState;

pub async fn me(ctx: Ctx) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"user": ctx.user})))
}

pub async fn workspaces(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let mut data = Vec::new();
    for m in state.store.memberships_of_user(ctx.user.id).await? {
        let ws = state.store.workspace_get(m.workspace_id).await?;
        data.push(json!({"workspace": ws, "membership": m}));
    }
    Ok(Json(json!({"data": data, "next_cursor": null})))
}
