//! Tenant settings (status and write gate, `tenant.manage`) and the provider
//! connection (`provider.connections.manage`). Each change is audited by the
//! store with the person as its actor.

use atlas_core::impact::AdminChange;
use atlas_core::tenant::TenantStatus;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::{back, confirm, PageForm};
use crate::ctx::Ctx;
use crate::error::{ApiError, PageResult};
use crate::flash::{self, Flash};
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::{form, time};

pub async fn show(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let t = ctx.tenant()?.clone();
    let base = format!("/admin/tenants/{}", t.id);
    let body = html! {
        p { a href=(base) { "← " (t.name) } }
        h1 { "Settings · " (t.name) }
        section.card aria-labelledby="status-h" {
            h2 id="status-h" { "Status" }
            form method="post" action=(format!("{base}/status")) {
                (form::csrf(ctx.csrf()))
                label for="status" { "Tenant status" } " "
                select id="status" name="status" {
                    @for s in TenantStatus::ALL {
                        option value=(s.as_str()) selected[*s == t.status] { (s.as_str()) }
                    }
                }
                " " button type="submit" { "Save status" }
            }
        }
        section.card aria-labelledby="gate-h" {
            h2 id="gate-h" { "Write gate" }
            p {
                @if t.writes_enabled { "Writes are open: restores may change this tenant." }
                @else { "Writes are closed: operations that write to this tenant are refused." }
                @if let Some(at) = t.writes_changed_at { " Last changed " (time::at(at)) "." }
            }
            @if t.writes_enabled {
                (form::button(&format!("{base}/write-gate"), ctx.csrf(), "Close write gate", "danger", &[("open", "false")]))
            } @else {
                (form::button(&format!("{base}/write-gate"), ctx.csrf(), "Open write gate", "", &[("open", "true")]))
            }
        }
        section.card aria-labelledby="approval-h" data-approval-required=(t.approval_required) {
            h2 id="approval-h" { "Approval" }
            p {
                @if t.approval_required { "Writing operations wait for another member's approval before they run." }
                @else { "Writing operations run without an approval." }
            }
            @if t.approval_required {
                (form::button(&format!("{base}/approval"), ctx.csrf(), "Stop requiring approval", "", &[("required", "false")]))
            } @else {
                (form::button(&format!("{base}/approval"), ctx.csrf(), "Require approval", "", &[("required", "true")]))
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, "Tenant settings", body).into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
    /// Set by the confirmation step.
    #[serde(default)]
    confirm: Option<String>,
}

pub async fn set_status(
    State(state): State<AppState>,
    ctx: Ctx,
    PageForm(f): PageForm<StatusForm>,
) -> PageResult<Response> {
    let t = ctx.tenant()?;
    let status = TenantStatus::parse(f.status.trim())
        .ok_or_else(|| ApiError::Invalid(format!("`{}` is not a tenant status", f.status)))?;
    let settings = format!("/admin/tenants/{}/settings", t.id);
    let change = AdminChange::TenantSetStatus { tenant_id: t.id, status };
    let action = format!("/admin/tenants/{}/status", t.id);
    let fields = [("status", status.as_str())];
    if let Some(page) = confirm::step(&state, &ctx, change, f.confirm.is_some(), &action, &fields, &settings).await? {
        return Ok(page);
    }
    let after = state.store.tenant_set_status(t.id, status, &ctx.by()).await?;
    flash::set(&state, &ctx, &Flash::success(format!("{} is now {}.", after.name, after.status))).await?;
    Ok(back(&format!("/admin/tenants/{}/settings", t.id)))
}

#[derive(Deserialize)]
pub struct GateForm {
    open: String,
    #[serde(default)]
    confirm: Option<String>,
}

pub fn parse_bool(v: &str) -> Result<bool, ApiError> {
    match v.trim() {
        "true" | "open" | "1" | "on" => Ok(true),
        "false" | "closed" | "0" | "off" => Ok(false),
        other => Err(ApiError::Invalid(format!("`{other}` is not true or false"))),
    }
}

pub async fn set_write_gate(
    State(state): State<AppState>,
    ctx: Ctx,
    PageForm(f): PageForm<GateForm>,
) -> PageResult<Response> {
    let t = ctx.tenant()?;
    let open = parse_bool(&f.open)?;
    let settings = format!("/admin/tenants/{}/settings", t.id);
    let change = AdminChange::TenantWriteGate { tenant_id: t.id, open };
    let action = format!("/admin/tenants/{}/write-gate", t.id);
    let fields = [("open", if open { "true" } else { "false" })];
    if let Some(page) = confirm::step(&state, &ctx, change, f.confirm.is_some(), &action, &fields, &settings).await? {
        return Ok(page);
    }
    let after = state.store.tenant_set_write_gate(t.id, open, &ctx.by()).await?;
    let text = if after.writes_enabled { "Write gate opened." } else { "Write gate closed." };
    flash::set(&state, &ctx, &Flash::success(text)).await?;
    Ok(back(&format!("/admin/tenants/{}/settings", t.id)))
}

pub async fn connection(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let t = ctx.tenant()?.clone();
    let conn = state.store.connection_get(t.id).await?;
    let base = format!("/admin/tenants/{}", t.id);
    let body = html! {
        p { a href=(base) { "← " (t.name) } }
        h1 { "Connection · " (t.name) }
        @match &conn {
            None => { p { "This tenant has no provider connection. Add one with " code { "atlas connections add" } "." } }
            Some(c) => {
                div.card {
                    dl.meta {
                        dt { "Kind" } dd { (c.kind.as_str()) }
                        dt { "Status" } dd data-connection-status=(c.status.as_str()) { (c.status.as_str().replace('_', " ")) }
                        dt { "Secret" } dd { (if c.has_secret { "stored (never shown)" } else { "none" }) }
                        dt { "Last check" } dd { (time::maybe(c.checked_at)) }
                    }
                    @if c.status == atlas_core::tenant::ConnectionStatus::Enabled {
                        (form::button(&format!("{base}/connection"), ctx.csrf(), "Disable connection", "danger", &[("enabled", "false")]))
                    } @else {
                        (form::button(&format!("{base}/connection"), ctx.csrf(), "Enable connection", "", &[("enabled", "true")]))
                    }
                }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, "Connection", body).into_response())
}

#[derive(Deserialize)]
pub struct ConnectionForm {
    enabled: String,
    #[serde(default)]
    confirm: Option<String>,
}

pub async fn set_connection(
    State(state): State<AppState>,
    ctx: Ctx,
    PageForm(f): PageForm<ConnectionForm>,
) -> PageResult<Response> {
    let t = ctx.tenant()?;
    let enabled = parse_bool(&f.enabled)?;
    if !enabled && state.store.connection_get(t.id).await?.is_some() {
        let back_to = format!("/admin/tenants/{}/connection", t.id);
        let change = AdminChange::ConnectionDisable { tenant_id: t.id };
        let fields = [("enabled", "false")];
        if let Some(page) =
            confirm::step(&state, &ctx, change, f.confirm.is_some(), &back_to, &fields, &back_to).await?
        {
            return Ok(page);
        }
    }
    let flash = match state.store.connection_set_status(t.id, enabled, &ctx.by()).await {
        Ok(c) => Flash::success(format!("The connection is now {}.", c.status.as_str().replace('_', " "))),
        Err(atlas_store::StoreError::Invalid(m)) => Flash::error(m),
        Err(e) => return Err(e.into()),
    };
    flash::set(&state, &ctx, &flash).await?;
    Ok(back(&format!("/admin/tenants/{}/connection", t.id)))
}

#[derive(Deserialize)]
pub struct ApprovalForm {
    required: String,
}

/// `atlas tenants approval`: whether writing runs need another member's approval.
pub async fn set_approval(
    State(state): State<AppState>,
    ctx: Ctx,
    PageForm(f): PageForm<ApprovalForm>,
) -> PageResult<Response> {
    let t = ctx.tenant()?;
    let required = parse_bool(&f.required)?;
    let after = state.store.tenant_set_approval(t.id, required, &ctx.by()).await?;
    let text = if after.approval_required {
        "Approval required: writing runs now wait for another member."
    } else {
        "Approval no longer required."
    };
    flash::set(&state, &ctx, &Flash::success(text)).await?;
    Ok(back(&format!("/admin/tenants/{}/settings", t.id)))
}
