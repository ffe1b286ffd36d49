//! `/admin/operations/{run}`: the run viewer, its live fragment, and its
//! Cancel and Retry. Opening a run marks the viewer's notification about it read.

use atlas_core::access::run_actions;
use atlas_core::audit::Actor;
use atlas_core::gate::ReasonCode;
use atlas_core::Capability;
use atlas_engine::service;
use atlas_store::audit::AuditFilter;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::Markup;
use uuid::Uuid;

use super::{back, started};
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult, PageResult};
use crate::flash::{self, Flash};
use crate::query::{run_json, run_label, run_url, Names};
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::run_detail::{body, RetryBlock, RunView};

pub async fn show(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let run = ctx.run()?.clone();
    state.store.notification_mark_run_read(ctx.user.id, run.id).await?;
    let (title, markup) = render(&state, &ctx).await?;
    let frame = Frame::load(&state, &ctx, "operations").await?;
    Ok(page(&frame, &title, markup).into_response())
}

/// The viewer's body alone, for the live channel's refresh.
pub async fn fragment(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let (_, markup) = render(&state, &ctx).await?;
    Ok(markup.into_response())
}

async fn render(state: &AppState, ctx: &Ctx) -> ApiResult<(String, Markup)> {
    let run = ctx.run()?.clone();
    let mut events = state
        .store
        .audit_events(AuditFilter { subject: Some(format!("run:{}", run.id)), limit: 1000, ..AuditFilter::default() })
        .await?;
    events.reverse();
    let items = state.store.run_items(run.id).await?;
    let approver = run.approval.as_ref().and_then(|a| a.by);
    let users = run.initiator_user_id.into_iter().chain(approver).chain(events.iter().filter_map(|e| match e.actor {
        Actor::User { user_id } => Some(user_id),
        Actor::System => None,
    }));
    let names = Names::load(state, run.workspace_id, users.collect()).await?;
    let schedule = match run.source.as_ref().and_then(|s| s.get("schedule_id")).and_then(|s| s.as_str()) {
        Some(id) => match Uuid::parse_str(id).ok() {
            Some(id) => match state.store.schedule_get(id).await {
                Ok(s) => Some(format!("schedule: {}, {}", crate::view::cron::describe(&s.cron), s.timezone)),
                Err(atlas_store::StoreError::NotFound(_)) => Some("a deleted schedule".into()),
                Err(e) => return Err(e.into()),
            },
            None => None,
        },
        None => None,
    };
    let actions = run_actions(ctx.viewer.as_ref(), &run);
    let retry = if actions.retry { retry_block(state, ctx, &run).await? } else { None };
    let json = serde_json::to_string_pretty(&run_json(ctx, &run)).unwrap_or_default();
    let now = atlas_store::now();
    let can_decide = match &run.approval {
        Some(a) if a.is_pending() => {
            let member = service::member(&state.store, run.workspace_id, ctx.user.id).await?;
            atlas_core::approval::can_decide(member.as_ref(), &run, run.approval.as_ref(), now)
        }
        _ => false,
    };
    let view = RunView {
        run: &run,
        names: &names,
        actions,
        retry,
        events: &events,
        items: &items,
        schedule,
        json,
        csrf: ctx.csrf(),
        now,
        tenant_link: run.tenant_id.filter(|t| ctx.allows(Capability::TenantView, &[*t])),
        can_decide,
    };
    let title = format!("{} · {}", run_label(&run), names.run_tenants(&run));
    Ok((title, body(&view)))
}

/// Retry, asked of the gate first: when the start would be refused the same
/// way now, the button is disabled with the reason and where to fix it.
async fn retry_block(state: &AppState, ctx: &Ctx, run: &atlas_core::run::Run) -> ApiResult<Option<RetryBlock>> {
    let d = crate::preview::retry_decision(state, run, ctx.user.id).await?;
    if d.allowed {
        return Ok(None);
    }
    let fix = run.tenant_id.and_then(|t| fix_link(ctx, t, d.reason_code));
    Ok(Some(RetryBlock { reason: d.message, fix }))
}

/// The page where the refusal's cause is changed, if this viewer may open it.
fn fix_link(ctx: &Ctx, tenant: Uuid, reason: Option<ReasonCode>) -> Option<(String, &'static str)> {
    use ReasonCode::*;
    let (cap, href, label) = match reason? {
        WriteGateClosed | TenantSuspended | TenantOnboarding | TenantArchived => {
            (Capability::TenantManage, format!("/admin/tenants/{tenant}/settings"), "Tenant settings")
        }
        ProviderConnectionMissing | ProviderConnectionDisabled => {
            (Capability::ProviderConnectionsManage, format!("/admin/tenants/{tenant}/connection"), "Connection")
        }
        CapabilityRevoked | WorkspaceMembershipRevoked | TenantEntitlementRevoked => {
            (Capability::MembersManage, "/admin/members".to_owned(), "Members")
        }
        BackupSetMissing => (Capability::TenantView, format!("/admin/tenants/{tenant}"), "Backups of the tenant"),
        _ => return None,
    };
    ctx.allows(cap, &[tenant]).then_some((href, label))
}

pub async fn cancel(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let run = ctx.run()?;
    let here = run_url(run.id);
    let flash = match service::cancel(&state.store, run.id, ctx.user.id).await {
        Ok(r) if r.is_active() => Flash::success("Cancel requested: the run stops before its next item."),
        Ok(_) => Flash::success("Operation cancelled."),
        Err(e) => match ApiError::from(e) {
            ApiError::Conflict(m) => Flash::error(m),
            other => return Err(other.into()),
        },
    };
    flash::set(&state, &ctx, &flash).await?;
    Ok(back(&here))
}

pub async fn retry(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let run = ctx.run()?;
    let here = run_url(run.id);
    let result = service::retry(&state.store, run.id, ctx.user.id, state.engine.max_attempts).await;
    let what = format!("a retry of this {}", run_label(run).to_lowercase());
    started(&state, &ctx, result, &here, &what).await
}

#[derive(serde::Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: Option<String>,
}

/// Approve (SPEC §10.2): a refusal (own run, not pending, …) is told in the flash.
pub async fn approve(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let run = ctx.run()?;
    let result = service::approve(&state.store, run.id, ctx.user.id).await;
    decided(&state, &ctx, result.map(|_| "Approved: the run will start.")).await
}

pub async fn reject(
    State(state): State<AppState>,
    ctx: Ctx,
    crate::pages::PageForm(f): crate::pages::PageForm<RejectForm>,
) -> PageResult<Response> {
    let run = ctx.run()?;
    let reason = f.reason.filter(|r| !r.trim().is_empty());
    let result = service::reject(&state.store, run.id, ctx.user.id, reason).await;
    decided(&state, &ctx, result.map(|_| "Rejected: the run was blocked.")).await
}

async fn decided(state: &AppState, ctx: &Ctx, result: Result<&str, service::ServiceError>) -> PageResult<Response> {
    let here = run_url(ctx.run()?.id);
    let flash = match result {
        Ok(done) => Flash::success(done),
        Err(e) => match ApiError::from(e) {
            ApiError::Conflict(m) | ApiError::Forbidden(m) | ApiError::Invalid(m) => Flash::error(m),
            other => return Err(other.into()),
        },
    };
    flash::set(state, ctx, &flash).await?;
    Ok(back(&here))
}
