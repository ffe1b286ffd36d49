//! What changed, over the API (SPEC §10.1), answered by the same
//! `atlas_engine::changes` functions as `atlas policies` and `atlas backups`:
//! the object-type registry, an object's versions and the diff of two, a
//! backup set's items by type, the diff of two backup sets, and a tenant's
//! newest drift check.

use std::collections::HashMap;

use atlas_core::access::{self, Access};
use atlas_core::object_type;
use atlas_core::Capability;
use atlas_engine::{changes, service};
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::query::parse_query;
use crate::state::AppState;

/// `GET /api/v1/object-types`: every registered type.
pub async fn object_types() -> Json<Value> {
    Json(json!({"data": object_type::all()}))
}

fn object_id(params: &HashMap<String, String>) -> ApiResult<&str> {
    params.get("id").map(|s| s.trim()).filter(|s| !s.is_empty()).ok_or(ApiError::NotFound)
}

/// `GET /api/v1/tenants/{tenant}/objects/{id}/versions`.
pub async fn versions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let h = changes::history(&state.store, ctx.tenant()?.id, object_id(&params)?).await?;
    Ok(Json(json!(h)))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /api/v1/tenants/{tenant}/objects/{id}/diff?from=&to=`.
pub async fn version_diff(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q: DiffQuery = parse_query(raw.as_deref())?;
    let d = changes::version_diff(&state.store, ctx.tenant()?.id, object_id(&params)?, q.from, q.to).await?;
    Ok(Json(json!(d)))
}

/// `GET /api/v1/tenants/{tenant}/drift`: the tenant's newest drift check
/// (404 when it was never checked; start one with `drift.check`).
pub async fn drift(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    Ok(Json(changes::drift_latest(&state.store, ctx.tenant()?.id).await?))
}

fn set_id(params: &HashMap<String, String>, key: &str) -> ApiResult<Uuid> {
    params.get(key).and_then(|s| Uuid::parse_str(s.trim()).ok()).ok_or(ApiError::NotFound)
}

/// Whether the signed-in person may see the tenant of a backup set: the
/// same 404 for a set outside their workspace or scope as for none.
pub(crate) async fn may_see(state: &AppState, ctx: &Ctx, set: Uuid) -> ApiResult<bool> {
    let set = match state.store.backup_set_get(set).await {
        Ok(s) => s,
        Err(atlas_store::StoreError::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let viewer = service::viewer(&state.store, set.workspace_id, ctx.user.id).await?;
    Ok(access::check(viewer.as_ref(), &[set.tenant_id], Capability::TenantView) == Access::Allowed)
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    search: Option<String>,
}

/// `GET /api/v1/backups/{a}`: the set and its items by type and name.
pub async fn backup_show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q: ShowQuery = parse_query(raw.as_deref())?;
    let id = set_id(&params, "a")?;
    if !may_see(&state, &ctx, id).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(json!(changes::backup_contents(&state.store, id, q.search.as_deref()).await?)))
}

/// `GET /api/v1/backups/{a}/diff/{b}`.
pub async fn backup_diff(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (a, b) = (set_id(&params, "a")?, set_id(&params, "b")?);
    for id in [a, b] {
        if !may_see(&state, &ctx, id).await? {
            return Err(ApiError::NotFound);
        }
    }
    Ok(Json(json!(changes::backup_diff(&state.store, a, b, |_| true).await?)))
}
