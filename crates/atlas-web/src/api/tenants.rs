//! Tenants: the list (filtered to the viewer's scope), one tenant, and the
//! administrative changes that mirror `atlas tenants` and `atlas connections`:
//! add a tenant, set its status and write gate; add, show, enable and
//! disable its provider connection. A Graph connection's client secret is
//! accepted in the request body, sealed at once, and never answered back.

use atlas_core::impact::AdminChange;
use atlas_core::tenant::{ConnectionKind, TenantStatus};
use atlas_core::value::{quoted, ClientId, ClientSecret, Guid};
use atlas_core::Capability;
use atlas_store::admin::Tenant;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::impact;
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
    RawQuery(raw): RawQuery,
    ApiJson(b): ApiJson<StatusBody>,
) -> ApiResult<Json<Value>> {
    let status = TenantStatus::parse(&b.status)
        .ok_or_else(|| ApiError::Invalid(format!("{} is not a tenant status", quoted(&b.status))))?;
    if impact::wanted(raw.as_deref())? {
        return impact::answer(&state, AdminChange::TenantSetStatus { tenant_id: ctx.tenant()?.id, status }).await;
    }
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
    RawQuery(raw): RawQuery,
    ApiJson(b): ApiJson<GateBody>,
) -> ApiResult<Json<Value>> {
    if impact::wanted(raw.as_deref())? {
        let change = AdminChange::TenantWriteGate { tenant_id: ctx.tenant()?.id, open: b.open };
        return impact::answer(&state, change).await;
    }
    let t = state.store.tenant_set_write_gate(ctx.tenant()?.id, b.open, &ctx.by()).await?;
    Ok(Json(tenant_json(&state, &t).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    required: bool,
}

/// `atlas tenants approval`: whether writing runs need another member's approval.
pub async fn set_approval(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<ApprovalBody>,
) -> ApiResult<Json<Value>> {
    let t = state.store.tenant_set_approval(ctx.tenant()?.id, b.required, &ctx.by()).await?;
    Ok(Json(tenant_json(&state, &t).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    name: String,
    /// Default `active`, as `atlas tenants add`.
    status: Option<String>,
    /// The write gate; closed by default.
    #[serde(default)]
    writes_enabled: bool,
    external_tenant_id: Option<String>,
}

/// `atlas tenants add`: 201 with the tenant (and its connection, none yet).
pub async fn create(State(state): State<AppState>, ctx: Ctx, ApiJson(b): ApiJson<NewTenant>) -> ApiResult<Response> {
    let ws = ctx.workspace()?;
    let status = match b.status.as_deref() {
        None => TenantStatus::Active,
        Some(s) => {
            TenantStatus::parse(s).ok_or_else(|| ApiError::Invalid(format!("{} is not a tenant status", quoted(s))))?
        }
    };
    let external = b.external_tenant_id.as_deref();
    let t = state.store.tenant_create(ws.id, &b.name, status, b.writes_enabled, external, &ctx.by()).await?;
    Ok((StatusCode::CREATED, Json(tenant_json(&state, &t).await?)).into_response())
}

/// The connection body: `{"enabled": bool}` enables or disables the
/// connection (`atlas connections enable|disable`); `{"kind": …}` adds it
/// (`atlas connections add`): a sandbox, or Microsoft Graph with
/// `external_tenant_id`, `client_id` and `client_secret`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    enabled: Option<bool>,
    kind: Option<String>,
    external_tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn set_connection(
    State(state): State<AppState>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
    ApiJson(b): ApiJson<ConnectionBody>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant()?;
    if impact::wanted(raw.as_deref())? {
        // Only disabling can block a run.
        if b.enabled != Some(false) || b.kind.is_some() {
            return Err(ApiError::Invalid(
                "a preview is of disabling the connection: send {\"enabled\": false}".into(),
            ));
        }
        let change = atlas_engine::impact::connection_disable(&state.store, tenant.id).await?;
        return Ok(impact::answer(&state, change).await?.into_response());
    }
    match (b.enabled, b.kind.as_deref()) {
        (Some(enabled), None) => {
            if b.external_tenant_id.is_some() || b.client_id.is_some() || b.client_secret.is_some() {
                return Err(ApiError::Invalid("enabling or disabling a connection takes only `enabled`".into()));
            }
            let c = state.store.connection_set_status(tenant.id, enabled, &ctx.by()).await?;
            Ok(Json(json!(c)).into_response())
        }
        (None, Some(kind)) => {
            let kind = ConnectionKind::parse(kind).ok_or_else(|| {
                ApiError::Invalid(format!("{} is not a connection kind (sandbox or microsoft_graph)", quoted(kind)))
            })?;
            // The input is checked in full before anything is looked up.
            let settings = match kind {
                ConnectionKind::Sandbox => {
                    if b.external_tenant_id.is_some() || b.client_id.is_some() || b.client_secret.is_some() {
                        return Err(ApiError::Invalid("a sandbox connection takes no Graph settings".into()));
                    }
                    None
                }
                ConnectionKind::MicrosoftGraph => {
                    Some(graph_settings(&state, b.external_tenant_id, b.client_id, b.client_secret)?)
                }
            };
            if state.store.connection_get(tenant.id).await?.is_some() {
                return Err(ApiError::Conflict(format!("tenant `{}` already has a provider connection", tenant.name)));
            }
            let c = match settings {
                None => {
                    let c = state.store.connection_add(tenant.id, kind, json!({}), None, &ctx.by()).await?;
                    // A sandbox tenant starts with realistic objects to operate on.
                    atlas_providers::sandbox::seed(&state.store, tenant.id).await.map_err(ApiError::internal)?;
                    c
                }
                Some((config, sealed)) => {
                    state.store.connection_add(tenant.id, kind, config, Some(sealed), &ctx.by()).await?
                }
            };
            Ok((StatusCode::CREATED, Json(json!(c))).into_response())
        }
        _ => {
            Err(ApiError::Invalid("send either `enabled` (true or false) or the `kind` of a connection to add".into()))
        }
    }
}

/// Validates a Graph connection's settings and seals its secret. Messages
/// name fields, never the secret's value.
fn graph_settings(
    state: &AppState,
    external_tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> ApiResult<(Value, String)> {
    let (Some(external), Some(client), Some(secret)) = (external_tenant_id, client_id, client_secret) else {
        return Err(ApiError::Invalid(
            "a microsoft_graph connection needs external_tenant_id, client_id and client_secret".into(),
        ));
    };
    let invalid = |e: atlas_core::value::ValueError| ApiError::Invalid(e.message);
    let external = Guid::parse("external_tenant_id", &external).map_err(invalid)?;
    let client = ClientId::parse(&client).map_err(invalid)?;
    // The secret's value is never part of a message.
    let secret = ClientSecret::parse(&secret)
        .map_err(|_| ApiError::Invalid("client_secret must be one line of at most 1024 characters without control characters or surrounding whitespace".into()))?;
    let sealed = state.config.secrets.seal(secret.as_str()).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((json!({"external_tenant_id": external.to_string(), "client_id": client.as_str()}), sealed))
}

/// `atlas connections show`: the connection without its secret.
pub async fn connection(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let c = state.store.connection_get(ctx.tenant()?.id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(json!(c)))
}
