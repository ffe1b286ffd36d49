//! The run viewer's sections (UI.md, top to bottom): header, refusal or
//! failure panel, summary counts, timeline, items, audit events, raw JSON.
//! The whole body is also served alone (`/admin/operations/{run}/live`) for
//! the live channel to swap in; its counts and progress bar are updated in
//! place from the channel's data (`data-count`, `data-progress`).

use atlas_core::access::Actions;
use atlas_core::approval::{Approval, ApprovalState};
use atlas_core::audit::Actor;
use atlas_core::gate::{CheckName, CheckResultKind, Decision};
use atlas_core::item::ItemOutcome;
use atlas_core::run::{Run, RunOutcome, RunStatus};
use atlas_core::{OperationType, Timestamp};
use atlas_store::audit::AuditEvent;
use atlas_store::run_item::RunItem;
use maud::{html, Markup};
use serde_json::Value;
use uuid::Uuid;

use super::{audit_line, badge, form, icon, runs, time};
use crate::query::{run_label, Names};

/// Retry, when the gate would refuse it now: why, and where to fix it.
pub struct RetryBlock {
    pub reason: String,
    /// (href, label) of the page that fixes the cause, if the viewer may open it.
    pub fix: Option<(String, &'static str)>,
}

/// Everything the viewer shows.
pub struct RunView<'a> {
    pub run: &'a Run,
    pub names: &'a Names,
    pub actions: Actions,
    /// `Some` when Retry is allowed by the role but the gate would refuse it now.
    pub retry: Option<RetryBlock>,
    pub events: &'a [AuditEvent],
    pub items: &'a [RunItem],
    pub schedule: Option<String>,
    pub json: String,
    pub csrf: &'a str,
    pub now: Timestamp,
    /// The run's tenant, when the viewer may open its page.
    pub tenant_link: Option<Uuid>,
    /// Whether this viewer may approve or reject the run now (`approval::can_decide`).
    pub can_decide: bool,
}

pub fn body(v: &RunView<'_>) -> Markup {
    let run = v.run;
    let title = format!("{} · {}", run_label(run), v.names.run_tenants(run));
    let bulk = crate::bulk::item_type(run).is_some();
    html! {
        div.run data-live-run=(run.id) data-status=(run.status.as_str()) data-outcome=(run.outcome.as_str())
            data-attempt=(run.attempt) data-active=(if run.is_active() { "true" } else { "false" }) {
            div.run-head {
                h1 { (title) }
                (badge::run_status(run))
                (badge::outcome(run.outcome))
            }
            @if let Some(a) = &run.approval { (approval(run, a, v)) }
            dl.meta {
                dt { "Initiator" }
                dd {
                    (runs::initiator(run, v.names))
                    @if let Some(s) = &v.schedule { " (" (s) ")" }
                }
                @if let Some(t) = v.tenant_link {
                    dt { "Tenant" } dd { a href=(format!("/admin/tenants/{t}")) { (v.names.tenant(Some(t))) } }
                }
                @if bulk {
                    dt { "Tenants" } dd { (v.names.run_tenant_names(run).join(", ")) }
                }
                dt { "Queued" } dd { (time::at(run.created_at)) }
                dt { "Started" } dd { (time::maybe(run.started_at)) }
                dt { "Completed" } dd { (time::maybe(run.completed_at)) }
                dt { "Duration" } dd { (runs::duration(run, v.now)) }
                dt { "Attempt" } dd { (run.attempt) " of " (run.max_attempts) }
                @if let Some(r) = run.retry_of_run_id {
                    dt { "Retry of" } dd { a href=(crate::query::run_url(r)) { code { (r) } } }
                }
                @if let Some(set) = backup_set(run) {
                    dt { "Backup set" }
                    dd {
                        @match v.tenant_link {
                            Some(t) => { a href=(format!("/admin/tenants/{t}#backup-{set}")) data-backup-set=(set) { code { (set) } } }
                            None => { code { (set) } }
                        }
                    }
                }
                dt { "Run id" } dd { code { (run.id) } }
            }
            @if v.actions.cancel || v.actions.retry {
                div.actions {
                    @if v.actions.cancel {
                        (form::button(&format!("/admin/operations/{}/cancel", run.id), v.csrf, "Cancel", "danger", &[]))
                    }
                    @if v.actions.retry {
                        @match &v.retry {
                            None => { (form::button(&format!("/admin/operations/{}/retry", run.id), v.csrf, "Retry", "", &[])) }
                            Some(block) => {
                                button type="button" disabled aria-describedby="retry-why" data-retry="disabled" { "Retry" }
                                span.reason id="retry-why" data-retry-reason {
                                    "Retrying now would be refused the same way: " (block.reason)
                                    @if let Some((href, label)) = &block.fix { " " a href=(href) { (label) " →" } }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(d) = refusal(run) { (refusal_panel(d)) }
            @if run.outcome == RunOutcome::Failed || (run.status == RunStatus::Completed && !run.failures.is_empty() && refusal(run).is_none()) {
                (failure_panel(run, v.events))
            }
            (counts(run))
            h2 { "Timeline" }
            (timeline(v.events, v.names))
            @if !v.items.is_empty() {
                h2 { "Items" }
                @if bulk { (tenant_items(v.items, v.names)) } @else { (items(v.items)) }
            }
            h2 { "Audit events" }
            (audit(v.events, v.names))
            details.raw {
                summary { "Raw JSON" }
                pre { code { (v.json) } }
            }
        }
    }
}

/// Who approved or rejected the run and when, the gate's `approval` check
/// when it was evaluated, and Approve / Reject for an eligible approver.
fn approval(run: &Run, a: &Approval, v: &RunView<'_>) -> Markup {
    let who = a.by.map(|u| v.names.user(u));
    let check = run.decision.as_ref().and_then(|d| d.checks.iter().find(|c| c.check == CheckName::Approval));
    html! {
        section.approval data-approval=(a.state.as_str()) aria-label="Approval" {
            h2 { "Approval" }
            p {
                @match a.state {
                    ApprovalState::Pending => { "Awaiting approval by another member who may run it on this tenant." }
                    ApprovalState::Approved => { "Approved by " strong data-approved-by { (who.clone().unwrap_or_default()) } }
                    ApprovalState::Rejected => { "Rejected by " strong { (who.clone().unwrap_or_default()) } }
                }
                @if let Some(at) = a.at { " · " (time::at(at)) }
            }
            @if let Some(reason) = &a.reason { p.reason { "Reason: " (reason) } }
            @if let Some(c) = check {
                p data-check="approval" {
                    "Gate check " code { "approval" } ": "
                    @if c.result == CheckResultKind::Pass { "pass" } @else { "fail" }
                    @if let Some(d) = &c.detail { " (" (d) ")" }
                }
            }
            @if v.can_decide {
                div.actions {
                    (form::button(&format!("/admin/operations/{}/approve", run.id), v.csrf, "Approve", "", &[]))
                    form method="post" action=(format!("/admin/operations/{}/reject", run.id)) {
                        (form::csrf(v.csrf))
                        label for="reject-reason" { "Reason (optional)" }
                        input id="reject-reason" name="reason" maxlength="1000";
                        button type="submit" class="danger" { "Reject" }
                    }
                }
            }
        }
    }
}

/// The backup set a backup run made (`result.backup_set_id`).
fn backup_set(run: &Run) -> Option<Uuid> {
    if run.op_type != OperationType::BackupRun {
        return None;
    }
    run.result.get("backup_set_id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

/// The decision that stopped the run, if a refusal did.
fn refusal(run: &Run) -> Option<&Decision> {
    run.decision.as_ref().filter(|d| !d.allowed && run.status == RunStatus::Completed)
}

fn refusal_panel(d: &Decision) -> Markup {
    html! {
        section.panel.panel-refusal aria-labelledby="refusal-title" data-refusal {
            h2 id="refusal-title" { (icon::svg("shield")) "Blocked — policy refusal" }
            p.decision-message { (d.message) }
            p {
                "Reason: "
                code.reason-code { (d.reason_code.map(|r| r.as_str()).unwrap_or("unknown")) }
                @if let Some(c) = d.denial_class.filter(|c| Some(c.as_str()) != d.reason_code.map(|r| r.as_str())) {
                    " (" (c.as_str()) ")"
                }
            }
            ol.checks aria-label="Checks in gate order" {
                @for c in &d.checks {
                    @let failed = c.result == CheckResultKind::Fail;
                    li class=(if failed { "fail" } else { "pass" }) data-check=(c.check.as_str()) {
                        span.mark aria-hidden="true" { (if failed { "✗" } else { "✓" }) }
                        (c.check.as_str())
                        " — " (c.result.as_str())
                        @if let Some(detail) = &c.detail { " (" code { (detail) } ")" }
                    }
                }
            }
            p { "Decided at attempt " (d.attempt) ", " (time::at(d.evaluated_at)) "." }
            @if let Some(r) = d.reason_code {
                p.remedy { "What to do next: " (r.remedy()) }
            }
        }
    }
}

/// One line per attempt that failed: "Attempt 2 of 3 · provider_unavailable · …",
/// from the run's audit events (each failed attempt's event carries its
/// errors), or from `failures` when the events are not at hand.
fn failure_lines(run: &Run, events: &[AuditEvent]) -> Vec<(u32, String, String)> {
    let mut lines = Vec::new();
    for e in events {
        let attempt = e.data.get("attempt").and_then(Value::as_u64).and_then(|a| u32::try_from(a).ok()).unwrap_or(0);
        let failures: Vec<Value> = match e.action.as_str() {
            "operation.retry_scheduled" => {
                e.data.get("failure").filter(|f| !f.is_null()).cloned().into_iter().collect()
            }
            "operation.completed" => e.data.get("failures").and_then(Value::as_array).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        for f in failures {
            let text = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            lines.push((attempt, text("code"), text("message")));
        }
    }
    if lines.is_empty() {
        lines = run.failures.iter().map(|f| (0, f.code.clone(), f.message.clone())).collect();
    }
    lines
}

fn failure_panel(run: &Run, events: &[AuditEvent]) -> Markup {
    let lines = failure_lines(run, events);
    html! {
        section.panel.panel-failure aria-labelledby="failure-title" {
            h2 id="failure-title" { (icon::svg("cross")) "Failed" }
            @if lines.is_empty() {
                p { "The run failed without a recorded error." }
            }
            ul.failures {
                @for (attempt, code, message) in &lines {
                    li data-failure-attempt=(attempt) {
                        @if *attempt > 0 { "Attempt " (attempt) " of " (run.max_attempts) " · " }
                        code { (code) } " · " (message)
                    }
                }
            }
        }
    }
}

/// The summary counts as small figures, with a progress bar while the run
/// runs; a restore preview shows what it would do instead; a finished run
/// that counted nothing shows no row of zeros.
fn counts(run: &Run) -> Markup {
    let c = run.summary_counts;
    let running = run.status == RunStatus::Running;
    let figures = [
        ("total", c.total),
        ("processed", c.processed),
        ("succeeded", c.succeeded),
        ("failed", c.failed),
        ("skipped", c.skipped),
        ("blocked", c.blocked),
        ("created", c.created),
        ("updated", c.updated),
    ];
    let counted = c != atlas_core::SummaryCounts::default();
    let done = c.processed + c.blocked;
    html! {
        @if let Some(plan) = atlas_core::announce::plan_counts(run) {
            section aria-labelledby="summary-title" {
                h2 id="summary-title" { "Preview" }
                p.sub { "A dry run: nothing was written. " (plan.sentence()) }
                div.figures {
                    div.figure data-plan="create" { b { (plan.create) } span { "would create" } }
                    div.figure data-plan="update" { b { (plan.update) } span { "would update" } }
                    div.figure data-plan="unchanged" { b { (plan.unchanged) } span { "would leave unchanged" } }
                }
            }
        } @else if counted || running {
            section aria-labelledby="summary-title" {
                h2 id="summary-title" { "Summary" }
                div.figures {
                    @for (k, n) in figures {
                        div.figure data-count=(k) { b { (n) } span { (k) } }
                    }
                }
            }
        }
        @if running {
            div.progress data-progress {
                label for="progress" {
                    @if c.total > 0 {
                        "Progress: " span data-progress-text { (done.min(c.total)) " of " (c.total) }
                    } @else {
                        "Progress: " span data-progress-text { "working…" }
                    }
                }
                @if c.total > 0 {
                    progress id="progress" max=(c.total) value=(done.min(c.total)) {}
                } @else {
                    progress id="progress" {}
                }
            }
        }
    }
}

fn actor(a: &Actor, names: &Names) -> String {
    match a {
        Actor::User { user_id } => names.user(*user_id),
        Actor::System => "System".into(),
    }
}

fn decision_of(e: &AuditEvent) -> Option<Decision> {
    e.data.get("decision").and_then(|d| serde_json::from_value(d.clone()).ok())
}

fn timeline(events: &[AuditEvent], names: &Names) -> Markup {
    let attempt = |e: &AuditEvent| e.data.get("attempt").and_then(Value::as_u64).unwrap_or(0);
    html! {
        @if events.is_empty() { p.empty { "No events yet." } }
        ol.timeline {
            @for e in events {
                @let (class, text) = match e.action.as_str() {
                    "operation.queued" => ("", match e.data.get("initiator_user_id").and_then(Value::as_str) {
                        Some(_) => format!("Queued by {}", actor(&e.actor, names)),
                        None => "Queued by a schedule (system authority)".to_owned(),
                    }),
                    "operation.started" => ("ok", format!("Attempt {}: authorized and started", attempt(e))),
                    "operation.blocked" => ("blocked", match decision_of(e) {
                        Some(d) => format!(
                            "Attempt {}: blocked — {} ({})",
                            attempt(e),
                            d.message,
                            d.reason_code.map(|r| r.as_str()).unwrap_or("unknown")
                        ),
                        None => format!("Attempt {}: blocked", attempt(e)),
                    }),
                    "operation.retry_scheduled" => {
                        let why = decision_of(e).map(|d| d.message).or_else(|| {
                            e.data.get("failure").and_then(|f| f.get("message")).and_then(Value::as_str).map(str::to_owned)
                        });
                        ("", format!("Attempt {}: retry scheduled{}", attempt(e), why.map(|w| format!(" — {w}")).unwrap_or_default()))
                    }
                    "operation.completed" => {
                        let outcome = e.data.get("outcome").and_then(Value::as_str).and_then(RunOutcome::parse);
                        let class = if outcome == Some(RunOutcome::Failed) { "failed" } else { "ok" };
                        (class, format!("Completed: {}", outcome.map(|o| atlas_core::badge::outcome_badge(o).label).unwrap_or("unknown")))
                    }
                    "operation.cancelled" => ("", format!("Cancelled by {}", actor(&e.actor, names))),
                    "operation.approval_requested" => ("", "Approval requested from the tenant's approvers".to_owned()),
                    "operation.approved" => ("ok", format!("Approved by {}", actor(&e.actor, names))),
                    "operation.rejected" => ("blocked", format!("Rejected by {}", actor(&e.actor, names))),
                    other => ("", other.to_owned()),
                };
                li class=(class) data-action=(e.action) { (time::at(e.created_at)) " — " (text) }
            }
        }
    }
}

/// An item's outcome badge: item outcomes are run outcomes (the one mapping),
/// except `skipped`, which no run has: "Skipped", neutral.
fn item_outcome(outcome: ItemOutcome) -> Markup {
    match outcome.as_run_outcome() {
        Some(o) => badge::outcome(o),
        None => html! { span.badge.badge-neutral data-outcome="skipped" { (icon::svg("dot")) "Skipped" } },
    }
}

/// Why an item ended as it did: its reason code, and the refusal's message
/// (blocked) or the error (failed, skipped).
fn item_reason(i: &RunItem) -> Markup {
    let message = i
        .detail
        .get("decision")
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| i.last_error.clone());
    html! {
        @if let Some(r) = &i.reason_code { code.reason-code { (r) } " " }
        @if let Some(m) = message { (m) }
    }
}

fn items(items: &[RunItem]) -> Markup {
    html! {
        table {
            thead { tr { th { "Item" } th { "Target" } th { "Outcome" } th { "Reason" } th.num { "Attempts" } } }
            tbody {
                @for i in items {
                    tr data-item=(i.item_key) {
                        td { code { (i.item_key) } }
                        td { (target(&i.target)) }
                        td { (item_outcome(i.outcome)) }
                        td { (item_reason(i)) }
                        td.num { (i.attempts) }
                    }
                }
            }
        }
    }
}

/// A bulk run's items: one per tenant (the item key is the tenant id).
fn tenant_items(items: &[RunItem], names: &Names) -> Markup {
    html! {
        table {
            thead { tr { th { "Tenant" } th { "Outcome" } th { "Reason" } th.num { "Attempts" } } }
            tbody {
                @for i in items {
                    @let tenant = uuid::Uuid::parse_str(&i.item_key).ok();
                    tr data-item=(i.item_key) {
                        td {
                            @match tenant {
                                Some(t) => { a href=(format!("/admin/tenants/{t}")) { (names.tenant(Some(t))) } }
                                None => { code { (i.item_key) } }
                            }
                        }
                        td { (item_outcome(i.outcome)) }
                        td { (item_reason(i)) }
                        td.num { (i.attempts) }
                    }
                }
            }
        }
    }
}

fn target(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => ["display_name", "name", "object_id", "tenant_id"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    }
}

/// The run's audit events, newest first, rendered as the audit log renders them.
fn audit(events: &[AuditEvent], names: &Names) -> Markup {
    let newest_first: Vec<&AuditEvent> = events.iter().rev().collect();
    audit_line::list(&newest_first, names, &audit_line::Links::none())
}
