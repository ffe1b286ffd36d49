//! Tenants: the list (filtered to the viewer's scope), one tenant, and the
//! administrative changes that mirror `atlas tenants` and `atlas connections`.

use atlas_core::tenant::TenantStatus;
use atlas_core::Capability;
use atlas_store::admin::Tenant;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::ApiJson;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

async fn tenant_json(state: &AppState, t: &Tenant) -> ApiResult<Value> {
    let conn = state.store.connection_get(t.id).await?;
    let mut v = json!(t);
    if let Value::Object(m) = &mut v {
        m.insert("connection".into(), json!(conn));
    }
    Ok(v)
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let ws = ctx.workspace()?;
    let mut data = Vec::new();
    for t in state.store.tenant_list(ws.id).await? {
        let wanted = ctx.tenant.as_ref().is_none_or(|f| f.id == t.id);
        if wanted && ctx.allows(Capability::TenantView, &[t.id]) {
            data.push(tenant_json(&state, &t).await?);
        }
    }
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

pub async fn show(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    Ok(Json(tenant_json(&state, ctx.tenant()?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<StatusBody>,
) -> ApiResult<Json<Value>> {
    let status = TenantStatus::parse(b.status.trim())
        .ok_or_else(|| ApiError::Invalid(format!("`{}` is not a tenant status", b.status)))?;
    let t = state.store.tenant_set_status(ctx.tenant()?.id, status, &ctx.by()).await?;
    Ok(Json(tenant_json(&state, &t).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateBody {
    open: bool,
}

pub async fn set_write_gate(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<GateBody>,
) -> ApiResult<Json<Value>> {
    let t = state.store.tenant_set_write_gate(ctx.tenant()?.id, b.open, &ctx.by()).await?;
    Ok(Json(tenant_json(&state, &t).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    enabled: bool,
}

pub async fn set_connection(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<ConnectionBody>,
) -> ApiResult<Json<Value>> {
    let c = state.store.connection_set_status(ctx.tenant()?.id, b.enabled, &ctx.by()).await?;
    Ok(Json(json!(c)))
}
