//! The workspace's audit log (`audit.view`), newest first, filterable by
//! `tenant_id`, `actor` and `action`; `next_cursor` continues with `before`.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::pages::audit::{events, AuditQuery};
use crate::query::parse_query;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> ApiResult<Json<Value>> {
    let q: AuditQuery = parse_query(raw.as_deref())?;
    let (data, next) = events(&state, &ctx, &q).await?;
    Ok(Json(json!({"data": data, "next_cursor": next})))
}
