//! The caller's own notifications; another person's are not found.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let data = state.store.notifications_for(ctx.user.id, 100).await?;
    let unread = state.store.notifications_unread_count(ctx.user.id).await?;
    Ok(Json(json!({"data": data, "unread": unread, "next_cursor": null})))
}

pub async fn mark_read(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let id = params.get("id").and_then(|s| Uuid::parse_str(s).ok()).ok_or(ApiError::NotFound)?;
    if !state.store.notification_mark_read(ctx.user.id, id).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(json!({"id": id, "read": true})))
}
