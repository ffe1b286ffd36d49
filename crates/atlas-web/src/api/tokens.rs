//! The caller's own API tokens, mirroring `atlas tokens`: list (never the
//! secrets), create (the plaintext answered once, with an optional
//! `expires_in`), revoke. Another person's token is not found.

use std::collections::HashMap;

use atlas_core::value::{Lifetime, TokenName};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::json::ApiJson;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let data = state.store.token_list(ctx.user.id).await?;
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: TokenName,
    /// Absent: the token lives until revoked.
    expires_in: Option<Lifetime>,
}

pub async fn create(State(state): State<AppState>, ctx: Ctx, ApiJson(b): ApiJson<CreateBody>) -> ApiResult<Response> {
    let lifetime = b.expires_in.map(Lifetime::duration);
    let (record, token) = state.store.token_create_expiring(ctx.user.id, b.name.as_str(), lifetime, &ctx.by()).await?;
    let mut body = json!(record);
    if let Value::Object(m) = &mut body {
        m.insert("token".into(), json!(token));
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let id = params.get("id").and_then(|s| Uuid::parse_str(s).ok()).ok_or(ApiError::NotFound)?;
    let token = state.store.token_revoke(id, Some(ctx.user.id), &ctx.by()).await?;
    Ok(Json(json!(token)))
}
