//! Members and custom roles of a workspace (`members.manage`), mirroring
//! `atlas members` and `atlas roles`.

use std::collections::{BTreeSet, HashMap};

use atlas_core::tenant::TenantScope;
use atlas_core::{Capability, CapabilitySet};
use atlas_store::admin::RoleRef;
use atlas_store::StoreError;
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

/// `"all"` or a list of tenant ids.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum ScopeBody {
    Named(String),
    Tenants(Vec<Uuid>),
}

impl ScopeBody {
    fn scope(self) -> ApiResult<TenantScope> {
        match self {
            ScopeBody::Named(s) if s == "all" => Ok(TenantScope::All),
            ScopeBody::Named(s) => {
                Err(ApiError::Invalid(format!("`{s}` is not a scope (\"all\" or a list of tenant ids)")))
            }
            ScopeBody::Tenants(ids) => Ok(TenantScope::Tenants(ids.into_iter().collect::<BTreeSet<_>>())),
        }
    }
}

fn member_user(params: &HashMap<String, String>) -> ApiResult<Uuid> {
    params.get("user").and_then(|u| Uuid::parse_str(u).ok()).ok_or(ApiError::NotFound)
}

async fn ensure_member(state: &AppState, ctx: &Ctx, user: Uuid) -> ApiResult<Uuid> {
    let ws = ctx.workspace()?.id;
    match state.store.membership_get(ws, user).await? {
        Some(_) => Ok(ws),
        None => Err(ApiError::NotFound),
    }
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let mut data = Vec::new();
    for m in state.store.membership_list(ctx.workspace()?.id).await? {
        let u = state.store.user_get(m.user_id).await?;
        data.push(json!({"membership": m, "user": u}));
    }
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    email: String,
    role: String,
    tenants: Option<ScopeBody>,
}

pub async fn grant(State(state): State<AppState>, ctx: Ctx, ApiJson(b): ApiJson<GrantBody>) -> ApiResult<Response> {
    let scope = b.tenants.map_or(Ok(TenantScope::All), ScopeBody::scope)?;
    let user = match state.store.user_by_email(&b.email).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(ApiError::Invalid(format!("no user has the email `{}`", b.email))),
        Err(e) => return Err(e.into()),
    };
    let m = state.store.member_grant(ctx.workspace()?.id, user.id, &RoleRef::parse(&b.role), &scope, &ctx.by()).await?;
    Ok((StatusCode::CREATED, Json(json!(m))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult<Json<Value>> {
    let user = member_user(&params)?;
    let ws = ensure_member(&state, &ctx, user).await?;
    Ok(Json(json!(state.store.member_set_role(ws, user, &RoleRef::parse(&b.role), &ctx.by()).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeChange {
    tenants: ScopeBody,
}

pub async fn set_scope(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    ApiJson(b): ApiJson<ScopeChange>,
) -> ApiResult<Json<Value>> {
    let user = member_user(&params)?;
    let ws = ensure_member(&state, &ctx, user).await?;
    let scope = b.tenants.scope()?;
    Ok(Json(json!(state.store.member_set_scope(ws, user, &scope, &ctx.by()).await?)))
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let user = member_user(&params)?;
    let ws = ensure_member(&state, &ctx, user).await?;
    Ok(Json(json!(state.store.member_revoke(ws, user, &ctx.by()).await?)))
}

pub async fn roles(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let data = state.store.role_list(ctx.workspace()?.id).await?;
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    name: String,
    capabilities: Vec<String>,
}

pub async fn add_role(State(state): State<AppState>, ctx: Ctx, ApiJson(b): ApiJson<NewRole>) -> ApiResult<Response> {
    let caps = b
        .capabilities
        .iter()
        .map(|c| c.parse::<Capability>().map_err(|e| ApiError::Invalid(e.to_string())))
        .collect::<ApiResult<CapabilitySet>>()?;
    let r = state.store.role_create(ctx.workspace()?.id, &b.name, &caps, &ctx.by()).await?;
    Ok((StatusCode::CREATED, Json(json!(r))).into_response())
}
