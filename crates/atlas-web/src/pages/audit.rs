//! The audit log of the workspace (`audit.view`), filterable by tenant,
//! actor and action, newest first. A member with partial scope sees the
//! workspace's own events and those of their tenants; the events of a run
//! over several tenants only when entitled to all of them, like the run
//! itself (`atlas_core::access::audit_event_tenants`).

use std::collections::HashMap;

use atlas_core::access::audit_event_tenants;
use atlas_core::audit::Actor;
use atlas_core::run::Run;
use atlas_core::value::quoted;
use atlas_core::Capability;
use atlas_store::audit::{AuditEvent, AuditFilter};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult, PageResult};
use crate::query::{parse_query, Names};
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::run_detail::summary;
use crate::view::time;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub tenant_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub before: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// One page of the events this viewer may read, and the cursor of the next.
pub async fn events(state: &AppState, ctx: &Ctx, q: &AuditQuery) -> ApiResult<(Vec<AuditEvent>, Option<i64>)> {
    let invalid = |e: atlas_core::value::ValueError| ApiError::Invalid(e.message);
    let before_seq = given(&q.before)
        .map(|b| b.parse::<i64>().map_err(|_| ApiError::Invalid(format!("{} is not a valid cursor", quoted(&b)))))
        .transpose()?;
    let actor = given(&q.actor)
        .map(|a| match a.as_str() {
            "system" => Ok(a),
            other => uuid::Uuid::parse_str(other)
                .map(|u| u.to_string())
                .map_err(|_| ApiError::Invalid(format!("actor {} is not a user id or `system`", quoted(other)))),
        })
        .transpose()?;
    let action = atlas_core::value::filter_text("action", q.action.as_deref()).map_err(invalid)?;
    let limit = 100;
    let filter = AuditFilter {
        workspace_id: Some(ctx.workspace()?.id),
        tenant_id: ctx.tenant.as_ref().map(|t| t.id),
        actor,
        action,
        subject: None,
        before_seq,
        limit,
    };
    let page = state.store.audit_events(filter).await?;
    let next = if page.len() >= limit as usize { page.last().map(|e| e.seq) } else { None };
    let mut runs: HashMap<Uuid, Option<Run>> = HashMap::new();
    let mut visible = Vec::with_capacity(page.len());
    for e in page {
        let run_id = e.subject.strip_prefix("run:").and_then(|r| Uuid::parse_str(r).ok()).filter(|_| e.tenant_id.is_none());
        let run = match run_id {
            Some(id) => match runs.get(&id) {
                Some(r) => r.clone(),
                None => {
                    let r = match state.store.run_get(id).await {
                        Ok(r) => Some(r),
                        Err(atlas_store::StoreError::NotFound(_)) => None,
                        Err(e) => return Err(e.into()),
                    };
                    runs.insert(id, r.clone());
                    r
                }
            },
            None => None,
        };
        // A run event whose run cannot be read names no tenants it could be checked against: hide it.
        if run_id.is_some() && run.is_none() && ctx.tenant_scope().is_some() {
            continue;
        }
        if ctx.allows(Capability::AuditView, &audit_event_tenants(e.tenant_id, run.as_ref())) {
            visible.push(e);
        }
    }
    Ok((visible, next))
}

pub async fn list(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> PageResult<Response> {
    let q: AuditQuery = parse_query(raw.as_deref())?;
    let (events, next) = events(&state, &ctx, &q).await?;
    let ws = ctx.workspace()?.clone();
    let members = state.store.membership_list(ws.id).await?;
    let users = members.iter().map(|m| m.user_id).chain(events.iter().filter_map(|e| match e.actor {
        Actor::User { user_id } => Some(user_id),
        Actor::System => None,
    }));
    let names = Names::load(&state, ws.id, users.collect()).await?;
    let tenants: Vec<_> = state
        .store
        .tenant_list(ws.id)
        .await?
        .into_iter()
        .filter(|t| ctx.allows(Capability::AuditView, &[t.id]))
        .collect();
    let sel = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    let body = html! {
        h1 { "Audit log" }
        p.sub { "Every change in " (ws.name) ", newest first. Append-only and hash-chained." }
        form.filters method="get" action="/admin/audit" {
            input type="hidden" name="workspace" value=(ws.slug);
            div {
                label for="a-tenant" { "Tenant" }
                select id="a-tenant" name="tenant_id" {
                    option value="" { "All" }
                    @for t in &tenants { option value=(t.id) selected[sel(&q.tenant_id, &t.id.to_string())] { (t.name) } }
                }
            }
            div {
                label for="a-actor" { "Actor" }
                select id="a-actor" name="actor" {
                    option value="" { "Anyone" }
                    option value="system" selected[sel(&q.actor, "system")] { "System" }
                    @for m in &members {
                        option value=(m.user_id) selected[sel(&q.actor, &m.user_id.to_string())] { (names.user(m.user_id)) }
                    }
                }
            }
            div {
                label for="a-action" { "Action" }
                input id="a-action" type="text" name="action" value=(q.action.clone().unwrap_or_default()) placeholder="operation.blocked";
            }
            button type="submit" { "Filter" }
        }
        table {
            thead { tr { th { "When" } th { "Actor" } th { "Action" } th { "Tenant" } th { "Subject" } th { "Data" } } }
            tbody {
                @if events.is_empty() { tr { td.empty colspan="6" { "No events match." } } }
                @for e in &events {
                    tr data-action=(e.action) {
                        td { (time::at(e.created_at)) }
                        td { (match e.actor { Actor::User { user_id } => names.user(user_id), Actor::System => "System".into() }) }
                        td { code { (e.action) } }
                        td { @if e.tenant_id.is_some() { (names.tenant(e.tenant_id)) } }
                        td {
                            @if let Some(run) = e.subject.strip_prefix("run:") {
                                a href=(format!("/admin/operations/{run}")) { code { (e.subject) } }
                            } @else { code { (e.subject) } }
                        }
                        td { code.mono { (summary(&e.data)) } }
                    }
                }
            }
        }
        @if let Some(n) = next {
            div.pager {
                a href=(format!("/admin/audit?{}", serde_urlencoded::to_string([
                    ("workspace", Some(ws.slug.clone())), ("tenant_id", given(&q.tenant_id)), ("actor", given(&q.actor)),
                    ("action", given(&q.action)), ("before", Some(n.to_string())),
                ].iter().filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone()))).collect::<Vec<_>>()).unwrap_or_default())) { "Older →" }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "audit").await?;
    Ok(page(&frame, "Audit log", body).into_response())
}
