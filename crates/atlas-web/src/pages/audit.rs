//! `/admin/audit`: the workspace's audit log, newest first, one line per
//! event in words (`view::audit_line`), filterable by actor, action,
//! tenant, run and time, with keyset pagination ("Older →"). A member with
//! partial scope sees the workspace's own events and those of their tenants;
//! a subject they may not open is shown as text.

use std::collections::{HashMap, HashSet};

use atlas_core::access::{self, Access};
use atlas_core::audit::Actor;
use atlas_core::{Capability, Timestamp};
use atlas_store::audit::{AuditEvent, AuditFilter};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult, PageResult};
use crate::query::{parse_query, run_label, Names};
use crate::state::AppState;
use crate::view::audit_line::{self, Links};
use crate::view::layout::{page, Frame};

/// The actions a person can filter by.
const ACTIONS: &[&str] = &[
    "operation.queued",
    "operation.started",
    "operation.blocked",
    "operation.retry_scheduled",
    "operation.completed",
    "operation.cancelled",
    "tenant.created",
    "tenant.status_changed",
    "tenant.write_gate_changed",
    "connection.created",
    "connection.enabled",
    "connection.disabled",
    "connection.status_changed",
    "membership.granted",
    "membership.role_changed",
    "membership.scope_changed",
    "membership.revoked",
    "role.created",
    "role.updated",
    "schedule.created",
    "schedule.enabled",
    "schedule.disabled",
    "user.created",
    "user.disabled",
    "user.password_set",
    "token.created",
    "workspace.created",
];

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub tenant_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// A run id: that run's events.
    pub run: Option<String>,
    /// `YYYY-MM-DD` (UTC) or RFC 3339: events from then on.
    pub from: Option<String>,
    /// `YYYY-MM-DD` (UTC, the whole day) or RFC 3339: events before then.
    pub to: Option<String>,
    pub before: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A day (its start, UTC; `end` its end) or an exact RFC 3339 time.
fn when(v: &str, end: bool) -> ApiResult<Timestamp> {
    if let Some(t) = Timestamp::parse_rfc3339(v) {
        return Ok(t);
    }
    let day = Timestamp::parse_rfc3339(&format!("{v}T00:00:00Z"))
        .ok_or_else(|| ApiError::Invalid(format!("`{v}` is not a date (YYYY-MM-DD) or an RFC 3339 time")))?;
    Ok(if end { day.plus_millis(86_400_000) } else { day })
}

/// One page of the events this viewer may read, and the cursor of the next.
pub async fn events(state: &AppState, ctx: &Ctx, q: &AuditQuery) -> ApiResult<(Vec<AuditEvent>, Option<i64>)> {
    let before_seq = given(&q.before)
        .map(|b| b.parse::<i64>().map_err(|_| ApiError::Invalid(format!("`{b}` is not a valid cursor"))))
        .transpose()?;
    let subject = given(&q.run)
        .map(|r| {
            Uuid::parse_str(&r)
                .map(|id| format!("run:{id}"))
                .map_err(|_| ApiError::Invalid(format!("`{r}` is not a run id")))
        })
        .transpose()?;
    let limit = 100;
    let filter = AuditFilter {
        workspace_id: Some(ctx.workspace()?.id),
        tenant_id: ctx.tenant.as_ref().map(|t| t.id),
        actor: given(&q.actor),
        action: given(&q.action),
        subject,
        before_seq,
        since: given(&q.from).map(|f| when(&f, false)).transpose()?,
        until: given(&q.to).map(|t| when(&t, true)).transpose()?,
        limit,
    };
    let page = state.store.audit_events(filter).await?;
    let next = if page.len() >= limit as usize { page.last().map(|e| e.seq) } else { None };
    let visible =
        page.into_iter().filter(|e| e.tenant_id.is_none_or(|t| ctx.allows(Capability::AuditView, &[t]))).collect();
    Ok((visible, next))
}

/// The labels of the runs the events name, and what this viewer may open.
async fn links(state: &AppState, ctx: &Ctx, events: &[AuditEvent]) -> ApiResult<Links> {
    let ids: HashSet<Uuid> =
        events.iter().filter_map(|e| e.subject.strip_prefix("run:").and_then(|s| Uuid::parse_str(s).ok())).collect();
    let mut runs = HashMap::new();
    for run in state.store.run_get_many(&ids.into_iter().collect::<Vec<_>>()).await? {
        let open = access::view_run(ctx.viewer.as_ref(), &run) == Access::Allowed;
        runs.insert(run.id, (run_label(&run), open));
    }
    let tenants = state
        .store
        .tenant_list(ctx.workspace()?.id)
        .await?
        .into_iter()
        .filter(|t| ctx.allows(Capability::TenantView, &[t.id]))
        .map(|t| t.id)
        .collect();
    Ok(Links { runs, tenants })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> PageResult<Response> {
    let q: AuditQuery = parse_query(raw.as_deref())?;
    let (events, next) = events(&state, &ctx, &q).await?;
    let ws = ctx.workspace()?.clone();
    let members = state.store.membership_list(ws.id).await?;
    let users = members.iter().map(|m| m.user_id).chain(events.iter().flat_map(|e| {
        let actor = match e.actor {
            Actor::User { user_id } => Some(user_id),
            Actor::System => None,
        };
        let subject = e.data.get("user_id").and_then(Value::as_str).and_then(|u| Uuid::parse_str(u).ok());
        actor.into_iter().chain(subject)
    }));
    let names = Names::load(&state, ws.id, users.collect()).await?;
    let links = links(&state, &ctx, &events).await?;
    let tenants: Vec<_> = state
        .store
        .tenant_list(ws.id)
        .await?
        .into_iter()
        .filter(|t| ctx.allows(Capability::AuditView, &[t.id]))
        .collect();
    let sel = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    let keep = |k: &'static str, v: &Option<String>| given(v).map(|v| (k, v));
    let older = next.map(|n| {
        let pairs: Vec<(&str, String)> = [
            Some(("workspace", ws.slug.clone())),
            keep("tenant_id", &q.tenant_id),
            keep("actor", &q.actor),
            keep("action", &q.action),
            keep("run", &q.run),
            keep("from", &q.from),
            keep("to", &q.to),
            Some(("before", n.to_string())),
        ]
        .into_iter()
        .flatten()
        .collect();
        format!("/admin/audit?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    });
    let shown: Vec<&AuditEvent> = events.iter().collect();
    let body = html! {
        h1 { "Audit log" }
        p.sub { "Every change in " (ws.name) ", newest first. Append-only and hash-chained." }
        form.filters method="get" action="/admin/audit" {
            input type="hidden" name="workspace" value=(ws.slug);
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
                select id="a-action" name="action" {
                    option value="" { "Any action" }
                    @for a in ACTIONS { option value=(a) selected[sel(&q.action, a)] { (a) } }
                }
            }
            div {
                label for="a-tenant" { "Tenant" }
                select id="a-tenant" name="tenant_id" {
                    option value="" { "All" }
                    @for t in &tenants { option value=(t.id) selected[sel(&q.tenant_id, &t.id.to_string())] { (t.name) } }
                }
            }
            div {
                label for="a-run" { "Run id" }
                input id="a-run" type="text" name="run" value=(q.run.clone().unwrap_or_default()) size="12";
            }
            div {
                label for="a-from" { "From (UTC)" }
                input id="a-from" type="date" name="from" value=(q.from.clone().unwrap_or_default());
            }
            div {
                label for="a-to" { "To (UTC)" }
                input id="a-to" type="date" name="to" value=(q.to.clone().unwrap_or_default());
            }
            button type="submit" { "Filter" }
            a href=(format!("/admin/audit?workspace={}", ws.slug)) { "Clear" }
        }
        (audit_line::list(&shown, &names, &links))
        @if let Some(href) = older {
            div.pager { a href=(href) rel="next" { "Older →" } }
        }
    };
    let frame = Frame::load(&state, &ctx, "audit").await?;
    Ok(page(&frame, "Audit log", body).into_response())
}
