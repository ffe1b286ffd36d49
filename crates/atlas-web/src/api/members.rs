//! Members and custom roles of a workspace (`members.manage`), mirroring
//! `atlas members` (list, grant, set-role, set-scope, revoke) and `atlas
//! roles` (list, add, set).

use std::collections::{BTreeSet, HashMap};

use atlas_core::impact::AdminChange;
use atlas_core::tenant::TenantScope;
use atlas_core::{Capability, CapabilitySet};
use atlas_store::admin::RoleRef;
use atlas_store::StoreError;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::impact;
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

/// The role a body names: a built-in role, or a custom role of the workspace
/// (an unknown name is invalid input, 422 — not a missing route object).
async fn role_ref(state: &AppState, ctx: &Ctx, name: &str) -> ApiResult<RoleRef> {
    let role = RoleRef::parse(name);
    if let RoleRef::Custom(custom) = &role {
        match state.store.role_get(ctx.workspace()?.id, custom).await {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => {
                return Err(ApiError::Invalid(format!(
                    "`{custom}` is neither a built-in role (owner, manager, operator, readonly) nor a custom role of this workspace"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(role)
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
    let role = role_ref(&state, &ctx, &b.role).await?;
    let m = state.store.member_grant(ctx.workspace()?.id, user.id, &role, &scope, &ctx.by()).await?;
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
    RawQuery(raw): RawQuery,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult<Json<Value>> {
    let user = member_user(&params)?;
    let ws = ensure_member(&state, &ctx, user).await?;
    let role = role_ref(&state, &ctx, &b.role).await?;
    if impact::wanted(raw.as_deref())? {
        let change = atlas_engine::impact::member_set_role(&state.store, ws, user, &role).await?;
        return impact::answer(&state, change).await;
    }
    Ok(Json(json!(state.store.member_set_role(ws, user, &role, &ctx.by()).await?)))
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
    RawQuery(raw): RawQuery,
    ApiJson(b): ApiJson<ScopeChange>,
) -> ApiResult<Json<Value>> {
    let user = member_user(&params)?;
    let ws = ensure_member(&state, &ctx, user).await?;
    let scope = b.tenants.scope()?;
    if impact::wanted(raw.as_deref())? {
        state.store.member_scope_check(ws, &scope).await?;
        return impact::answer(&state, AdminChange::MemberSetScope { workspace_id: ws, user_id: user, scope }).await;
    }
    Ok(Json(json!(state.store.member_set_scope(ws, user, &scope, &ctx.by()).await?)))
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let user = member_user(&params)?;
    let ws = ensure_member(&state, &ctx, user).await?;
    if impact::wanted(raw.as_deref())? {
        return impact::answer(&state, atlas_engine::impact::member_revoke(&state.store, ws, user).await?).await;
    }
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
    let caps = parse_capabilities(&b.capabilities)?;
    let r = state.store.role_create(ctx.workspace()?.id, &b.name, &caps, &ctx.by()).await?;
    Ok((StatusCode::CREATED, Json(json!(r))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleCapabilities {
    capabilities: Vec<String>,
}

/// `atlas roles set`: replaces a custom role's capabilities (`{role}`: its id
/// or its name); takes effect for every member holding it.
pub async fn set_role_capabilities(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    ApiJson(b): ApiJson<RoleCapabilities>,
) -> ApiResult<Json<Value>> {
    let ws = ctx.workspace()?.id;
    let wanted = params.get("role").map(String::as_str).unwrap_or_default();
    let id = Uuid::parse_str(wanted).ok();
    let role = state
        .store
        .role_list(ws)
        .await?
        .into_iter()
        .find(|r| Some(r.id) == id || r.name == wanted)
        .ok_or(ApiError::NotFound)?;
    let caps = parse_capabilities(&b.capabilities)?;
    if impact::wanted(raw.as_deref())? {
        return impact::answer(&state, AdminChange::RoleSet { workspace_id: ws, name: role.name, capabilities: caps })
            .await;
    }
    Ok(Json(json!(state.store.role_set(ws, &role.name, &caps, &ctx.by()).await?)))
}

fn parse_capabilities(names: &[String]) -> ApiResult<CapabilitySet> {
    names.iter().map(|c| c.parse::<Capability>().map_err(|e| ApiError::Invalid(e.to_string()))).collect()
}
