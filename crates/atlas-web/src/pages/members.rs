//! Members and custom roles (`members.manage`): grant, change role, change
//! tenant scope, revoke; add a custom role, change its capabilities. The
//! store audits each change with the person as its actor.

use std::collections::{BTreeSet, HashMap};

use atlas_core::capability::BuiltinRole;
use atlas_core::impact::AdminChange;
use atlas_core::tenant::TenantScope;
use atlas_core::{Capability, CapabilitySet};
use atlas_store::admin::RoleRef;
use atlas_store::StoreError;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use uuid::Uuid;

use super::{back, PageForm};
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult, PageResult};
use crate::flash::{self, Flash};
use crate::state::AppState;
use crate::view::form;
use crate::view::layout::{page, Frame};

type Pairs = Vec<(String, String)>;

fn field<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

fn fields<'a>(pairs: &'a Pairs, name: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
}

/// `scope=all`, or `scope=tenants` with one `tenant` field per entitlement.
pub fn scope_from(pairs: &Pairs) -> ApiResult<TenantScope> {
    match field(pairs, "scope") {
        Some("all") | None => Ok(TenantScope::All),
        Some("tenants") => {
            let ids = fields(pairs, "tenant")
                .into_iter()
                .map(|t| Uuid::parse_str(t).map_err(|_| ApiError::Invalid(format!("`{t}` is not a tenant id"))))
                .collect::<ApiResult<BTreeSet<Uuid>>>()?;
            Ok(TenantScope::Tenants(ids))
        }
        Some(other) => Err(ApiError::Invalid(format!("`{other}` is not a scope (all or tenants)"))),
    }
}

pub fn capabilities_from(pairs: &Pairs) -> ApiResult<CapabilitySet> {
    fields(pairs, "capability")
        .into_iter()
        .map(|c| c.parse::<Capability>().map_err(|e| ApiError::Invalid(e.to_string())))
        .collect()
}

fn user_param(params: &HashMap<String, String>) -> ApiResult<Uuid> {
    params.get("user").and_then(|u| Uuid::parse_str(u).ok()).ok_or(ApiError::NotFound)
}

/// A refusal a person can fix is a flash line; the rest are errors.
fn refusal(e: StoreError) -> ApiResult<Flash> {
    match e {
        StoreError::Invalid(m) | StoreError::Conflict(m) => Ok(Flash::error(m)),
        StoreError::NotFound(what) => Ok(Flash::error(format!("{what} not found."))),
        other => Err(other.into()),
    }
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let ws = ctx.workspace()?.clone();
    let members = state.store.membership_list(ws.id).await?;
    let tenants = state.store.tenant_list(ws.id).await?;
    let roles = state.store.role_list(ws.id).await?;
    let mut rows = Vec::new();
    for m in &members {
        rows.push((m, state.store.user_get(m.user_id).await?));
    }
    let q = format!("?workspace={}", ws.slug);
    let role_names: Vec<String> =
        BuiltinRole::ALL.iter().map(|r| r.as_str().to_owned()).chain(roles.iter().map(|r| r.name.clone())).collect();
    let scope_picker = |id: &str, scope: &TenantScope| -> Markup {
        html! {
            fieldset {
                legend { "Tenant scope" }
                input type="radio" id=(format!("{id}-all")) name="scope" value="all" checked[*scope == TenantScope::All];
                label for=(format!("{id}-all")) { "All tenants" } " "
                input type="radio" id=(format!("{id}-some")) name="scope" value="tenants" checked[*scope != TenantScope::All];
                label for=(format!("{id}-some")) { "Only:" }
                @for t in &tenants {
                    " "
                    input type="checkbox" id=(format!("{id}-{}", t.id)) name="tenant" value=(t.id)
                        checked[matches!(scope, TenantScope::Tenants(ids) if ids.contains(&t.id))];
                    label for=(format!("{id}-{}", t.id)) { (t.name) }
                }
            }
        }
    };
    let body = html! {
        h1 { "Members" }
        p.sub { "Who may do what in " (ws.name) "." }
        table {
            thead { tr { th { "Member" } th { "Role" } th { "Scope" } th { "Revoke" } } }
            tbody {
                @for (m, u) in &rows {
                    tr data-member=(u.email) {
                        td { (u.display_name) br; span.reason { (u.email) } }
                        td {
                            form method="post" action=(format!("/admin/members/{}/role{q}", u.id)) {
                                (form::csrf(ctx.csrf()))
                                label.skip for=(format!("role-{}", u.id)) { "Role of " (u.display_name) }
                                select id=(format!("role-{}", u.id)) name="role" {
                                    @for r in &role_names { option value=(r) selected[r == m.role.name()] { (r) } }
                                }
                                " " button.secondary type="submit" { "Set role" }
                            }
                        }
                        td {
                            form method="post" action=(format!("/admin/members/{}/scope{q}", u.id)) {
                                (form::csrf(ctx.csrf()))
                                (scope_picker(&format!("s-{}", u.id), &m.tenant_scope))
                                button.secondary type="submit" { "Set scope" }
                            }
                        }
                        td { (form::button(&format!("/admin/members/{}/revoke{q}", u.id), ctx.csrf(), "Revoke", "danger", &[])) }
                    }
                }
            }
        }
        h2 { "Grant membership" }
        form.card method="post" action=(format!("/admin/members{q}")) {
            (form::csrf(ctx.csrf()))
            div.field { label for="g-email" { "Email of an existing user" } input id="g-email" type="email" name="email" required; }
            div.field {
                label for="g-role" { "Role" }
                select id="g-role" name="role" { @for r in &role_names { option value=(r) selected[r == "readonly"] { (r) } } }
            }
            (scope_picker("g", &TenantScope::All))
            button type="submit" { "Grant" }
        }
        h2 { "Custom roles" }
        @for r in &roles {
            form.card method="post" action=(format!("/admin/roles/{}/capabilities{q}", r.id)) data-role=(r.name) {
                (form::csrf(ctx.csrf()))
                h3 { (r.name) }
                (capability_boxes(&format!("r-{}", r.id), &r.capabilities))
                button.secondary type="submit" { "Save capabilities" }
            }
        }
        form.card method="post" action=(format!("/admin/roles{q}")) {
            (form::csrf(ctx.csrf()))
            div.field { label for="new-role" { "New role name" } input id="new-role" type="text" name="name" required; }
            (capability_boxes("new", &CapabilitySet::new()))
            button type="submit" { "Add role" }
        }
    };
    let frame = Frame::load(&state, &ctx, "members").await?;
    Ok(page(&frame, "Members", body).into_response())
}

fn capability_boxes(id: &str, selected: &CapabilitySet) -> Markup {
    html! {
        fieldset {
            legend { "Capabilities" }
            @for c in Capability::ALL {
                span {
                    input type="checkbox" id=(format!("{id}-{}", c.as_str())) name="capability" value=(c.as_str()) checked[selected.contains(c)];
                    label for=(format!("{id}-{}", c.as_str())) { code { (c.as_str()) } }
                    " "
                }
            }
        }
    }
}

/// The confirmation step (SPEC §10.2) before a change to `action` (a path of
/// this page's): `Some(page)` to show instead of applying. A change that would
/// be refused is not previewed; applying it tells the refusal.
async fn confirmation(
    state: &AppState,
    ctx: &Ctx,
    change: Result<AdminChange, atlas_engine::ServiceError>,
    f: &Pairs,
    action: &str,
) -> PageResult<Option<Response>> {
    let Ok(change) = change else { return Ok(None) };
    let resend: Vec<(&str, &str)> = (f.iter())
        .filter(|(k, _)| k != crate::auth::csrf::FIELD && k != "confirm")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let action = format!("{action}?workspace={}", ctx.workspace()?.slug);
    let confirmed = field(f, "confirm").is_some();
    super::confirm::step(state, ctx, change, confirmed, &action, &resend, &here(ctx)?).await
}

fn here(ctx: &Ctx) -> ApiResult<String> {
    Ok(format!("/admin/members?workspace={}", ctx.workspace()?.slug))
}

async fn answer(state: &AppState, ctx: &Ctx, result: Result<String, StoreError>) -> PageResult<Response> {
    let flash = match result {
        Ok(text) => Flash::success(text),
        Err(e) => refusal(e)?,
    };
    flash::set(state, ctx, &flash).await?;
    Ok(back(&here(ctx)?))
}

pub async fn grant(State(state): State<AppState>, ctx: Ctx, PageForm(f): PageForm<Pairs>) -> PageResult<Response> {
    let ws = ctx.workspace()?.id;
    let email = field(&f, "email").ok_or_else(|| ApiError::Invalid("email is required".into()))?;
    let role = RoleRef::parse(field(&f, "role").ok_or_else(|| ApiError::Invalid("role is required".into()))?);
    let scope = scope_from(&f)?;
    let result = async {
        let user = state.store.user_by_email(email).await?;
        state.store.member_grant(ws, user.id, &role, &scope, &ctx.by()).await?;
        Ok(format!("{} is now a member.", user.display_name))
    }
    .await;
    answer(&state, &ctx, result).await
}

pub async fn set_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    PageForm(f): PageForm<Pairs>,
) -> PageResult<Response> {
    let user = user_param(&params)?;
    let role = RoleRef::parse(field(&f, "role").ok_or_else(|| ApiError::Invalid("role is required".into()))?);
    let ws = ctx.workspace()?.id;
    if state.store.membership_get(ws, user).await?.is_none() {
        return Err(ApiError::NotFound.into());
    }
    let change = atlas_engine::impact::member_set_role(&state.store, ws, user, &role).await;
    if let Some(page) = confirmation(&state, &ctx, change, &f, &format!("/admin/members/{user}/role")).await? {
        return Ok(page);
    }
    let result = state
        .store
        .member_set_role(ws, user, &role, &ctx.by())
        .await
        .map(|m| format!("Role set to {}.", m.role.name()));
    answer(&state, &ctx, result).await
}

pub async fn set_scope(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    PageForm(f): PageForm<Pairs>,
) -> PageResult<Response> {
    let user = user_param(&params)?;
    let scope = scope_from(&f)?;
    let ws = ctx.workspace()?.id;
    if state.store.membership_get(ws, user).await?.is_none() {
        return Err(ApiError::NotFound.into());
    }
    let change = Ok(AdminChange::MemberSetScope { workspace_id: ws, user_id: user, scope: scope.clone() });
    if let Some(page) = confirmation(&state, &ctx, change, &f, &format!("/admin/members/{user}/scope")).await? {
        return Ok(page);
    }
    let result =
        state.store.member_set_scope(ws, user, &scope, &ctx.by()).await.map(|_| "Tenant scope saved.".to_owned());
    answer(&state, &ctx, result).await
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    PageForm(f): PageForm<Pairs>,
) -> PageResult<Response> {
    let user = user_param(&params)?;
    let ws = ctx.workspace()?.id;
    if state.store.membership_get(ws, user).await?.is_none() {
        return Err(ApiError::NotFound.into());
    }
    let change = atlas_engine::impact::member_revoke(&state.store, ws, user).await;
    if let Some(page) = confirmation(&state, &ctx, change, &f, &format!("/admin/members/{user}/revoke")).await? {
        return Ok(page);
    }
    let result = state.store.member_revoke(ws, user, &ctx.by()).await.map(|_| "Membership revoked.".to_owned());
    answer(&state, &ctx, result).await
}

pub async fn add_role(State(state): State<AppState>, ctx: Ctx, PageForm(f): PageForm<Pairs>) -> PageResult<Response> {
    let name = field(&f, "name").ok_or_else(|| ApiError::Invalid("name is required".into()))?;
    let caps = capabilities_from(&f)?;
    let ws = ctx.workspace()?.id;
    let result = state.store.role_create(ws, name, &caps, &ctx.by()).await.map(|r| format!("Role {} added.", r.name));
    answer(&state, &ctx, result).await
}

pub async fn set_role_caps(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    PageForm(f): PageForm<Pairs>,
) -> PageResult<Response> {
    let ws = ctx.workspace()?.id;
    let id = params.get("role").and_then(|r| Uuid::parse_str(r).ok()).ok_or(ApiError::NotFound)?;
    let role = state.store.role_list(ws).await?.into_iter().find(|r| r.id == id).ok_or(ApiError::NotFound)?;
    let caps = capabilities_from(&f)?;
    let change = Ok(AdminChange::RoleSet { workspace_id: ws, name: role.name.clone(), capabilities: caps.clone() });
    if let Some(page) = confirmation(&state, &ctx, change, &f, &format!("/admin/roles/{id}/capabilities")).await? {
        return Ok(page);
    }
    let result =
        state.store.role_set(ws, &role.name, &caps, &ctx.by()).await.map(|r| format!("Role {} saved.", r.name));
    answer(&state, &ctx, result).await
}
