//! One audit event as one line in words ("Mark Manager closed the write gate
//! of Contoso North", "Restore on Fabrikam was blocked: the write gate is
//! closed."), its data behind a disclosure. The audit log and the run
//! viewer's audit section both render through `list`.

use std::collections::{HashMap, HashSet};

use atlas_core::announce;
use atlas_core::audit::Actor;
use atlas_core::run::RunOutcome;
use atlas_core::OperationType;
use atlas_store::audit::AuditEvent;
use maud::{html, Markup};
use serde_json::Value;
use uuid::Uuid;

use super::time;
use crate::query::Names;

/// What the lines may link to, and the labels of the runs they name.
#[derive(Debug, Default)]
pub struct Links {
    /// Run id → (label, whether this viewer may open it).
    pub runs: HashMap<Uuid, (String, bool)>,
    /// Tenants whose page this viewer may open.
    pub tenants: HashSet<Uuid>,
}

impl Links {
    /// No links (the run viewer: its events are about the page's own run).
    pub fn none() -> Links {
        Links::default()
    }
}

/// The events as a list, one line each, newest first as given.
pub fn list(events: &[&AuditEvent], names: &Names, links: &Links) -> Markup {
    html! {
        @if events.is_empty() { p.empty { "No events." } }
        ol.audit {
            @for e in events {
                li data-action=(e.action) data-seq=(e.seq) {
                    span.when { (time::at(e.created_at)) }
                    span.what { (sentence(e, names, links)) }
                    details.data {
                        summary { "Data" span.skip { " of event " (e.seq) } }
                        pre { code { (serde_json::to_string_pretty(&e.data).unwrap_or_default()) } }
                    }
                }
            }
        }
    }
}

fn actor(e: &AuditEvent, names: &Names) -> String {
    match e.actor {
        Actor::User { user_id } => names.user(user_id),
        Actor::System if e.data.get("via").and_then(Value::as_str) == Some("cli") => "An administrator (CLI)".into(),
        Actor::System => "The system".into(),
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_str)
}

fn lower_first(s: &str) -> String {
    crate::pages::lower_first(s)
}

/// The tenant an event is about, by name: its tenant column, else its data.
fn tenant(e: &AuditEvent, names: &Names, links: &Links) -> Markup {
    let name = match e.tenant_id {
        Some(t) if names.tenants.contains_key(&t) => names.tenant(Some(t)),
        _ => text(&e.data, &["name"]).or_else(|| text(&e.data, &["after", "name"])).unwrap_or("a tenant").to_owned(),
    };
    match e.tenant_id.filter(|t| links.tenants.contains(t)) {
        Some(t) => html! { a href=(format!("/admin/tenants/{t}")) { (name) } },
        None => html! { (name) },
    }
}

/// "Restore on Contoso North", linked to the run when the viewer may open it.
fn run_subject(e: &AuditEvent, names: &Names, links: &Links) -> Markup {
    let id = e.subject.strip_prefix("run:").and_then(|s| Uuid::parse_str(s).ok());
    let known = id.and_then(|id| links.runs.get(&id));
    let label = match known {
        Some((label, _)) => label.clone(),
        None => text(&e.data, &["type"]).and_then(OperationType::parse).map_or_else(
            || "An operation".to_owned(),
            |t| announce::label(t, e.data.get("params").unwrap_or(&Value::Null)),
        ),
    };
    let on = html! {
        @if e.tenant_id.is_some() { " on " (tenant(e, names, links)) }
    };
    match (id, known) {
        (Some(id), Some((_, true))) => html! { a href=(crate::query::run_url(id)) { (label) } (on) },
        _ => html! { (label) (on) },
    }
}

fn scope_words(v: Option<&Value>, names: &Names) -> String {
    match v {
        Some(Value::String(s)) if s == "all" => "all tenants".into(),
        Some(Value::Array(ids)) => {
            let list: Vec<String> = ids
                .iter()
                .filter_map(|i| i.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .map(|t| names.tenant(Some(t)))
                .collect();
            if list.is_empty() {
                "no tenants".into()
            } else {
                list.join(", ")
            }
        }
        Some(other) => other.to_string(),
        None => "all tenants".into(),
    }
}

/// The event in words.
pub fn sentence(e: &AuditEvent, names: &Names, links: &Links) -> Markup {
    let who = actor(e, names);
    let d = &e.data;
    let user = || {
        text(d, &["user_id"])
            .and_then(|u| Uuid::parse_str(u).ok())
            .map_or_else(|| "a user".to_owned(), |u| names.user(u))
    };
    let attempt = d.get("attempt").and_then(Value::as_u64).unwrap_or(0);
    match e.action.as_str() {
        "operation.queued" => match d.get("initiator_user_id").and_then(Value::as_str) {
            Some(_) => html! { (who) " queued " (run_subject(e, names, links)) "." },
            None => html! { "A schedule queued " (run_subject(e, names, links)) " (system authority)." },
        },
        "operation.started" => html! { (run_subject(e, names, links)) " started (attempt " (attempt) ")." },
        "operation.blocked" => {
            let why = text(d, &["decision", "message"]).map(lower_first).unwrap_or_default();
            let code = text(d, &["decision", "reason_code"]).unwrap_or("unknown");
            html! { (run_subject(e, names, links)) " was blocked: " (why) " " code.reason-code { (code) } }
        }
        "operation.retry_scheduled" => {
            let why = text(d, &["decision", "message"]).or_else(|| text(d, &["failure", "message"]));
            html! {
                (run_subject(e, names, links)) " will be tried again (attempt " (attempt) " did not finish)"
                @if let Some(w) = why { ": " (lower_first(w)) } @else { "." }
            }
        }
        "operation.completed" => {
            let verb = text(d, &["outcome"]).and_then(RunOutcome::parse).map_or("completed", announce::outcome_verb);
            html! { (run_subject(e, names, links)) " " (verb) "." }
        }
        "operation.cancelled" => html! { (who) " cancelled " (run_subject(e, names, links)) "." },
        "tenant.write_gate_changed" => {
            let verb = if d.pointer("/after/writes_enabled").and_then(Value::as_bool) == Some(true) {
                "opened"
            } else {
                "closed"
            };
            html! { (who) " " (verb) " the write gate of " (tenant(e, names, links)) "." }
        }
        "tenant.status_changed" => html! {
            (who) " set " (tenant(e, names, links)) " to " (text(d, &["after", "status"]).unwrap_or("?"))
            @if let Some(b) = text(d, &["before", "status"]) { " (was " (b) ")" } "."
        },
        "tenant.created" => html! { (who) " added the tenant " (tenant(e, names, links)) "." },
        "membership.granted" => html! {
            (who) " made " (user()) " a member as " (text(d, &["after", "role"]).unwrap_or("?"))
            " for " (scope_words(d.pointer("/after/tenant_scope"), names)) "."
        },
        "membership.role_changed" => html! {
            (who) " changed the role of " (user()) " from " (text(d, &["before", "role"]).unwrap_or("?"))
            " to " (text(d, &["after", "role"]).unwrap_or("?")) "."
        },
        "membership.scope_changed" => html! {
            (who) " limited " (user()) " to " (scope_words(d.pointer("/after/tenant_scope"), names))
            " (was " (scope_words(d.pointer("/before/tenant_scope"), names)) ")."
        },
        "membership.revoked" => html! { (who) " removed " (user()) " from the workspace." },
        "role.created" => html! { (who) " created the role " (text(d, &["name"]).unwrap_or("?")) "." },
        "role.updated" => {
            html! { (who) " changed the capabilities of the role " (text(d, &["name"]).unwrap_or("?")) "." }
        }
        "user.created" => html! { (who) " added the user " (text(d, &["after", "email"]).unwrap_or("?")) "." },
        "user.disabled" => html! { (who) " disabled the user " (text(d, &["email"]).unwrap_or("?")) "." },
        "user.password_set" => html! { (who) " set the password of " (text(d, &["email"]).unwrap_or("?")) "." },
        "token.created" => html! { (who) " created an API token for " (user()) "." },
        "workspace.created" => {
            html! { (who) " created the workspace " (text(d, &["after", "name"]).unwrap_or("?")) "." }
        }
        "connection.created" => html! {
            (who) " added a " (text(d, &["after", "kind"]).unwrap_or("provider").replace('_', " "))
            " connection to " (tenant(e, names, links)) "."
        },
        "connection.enabled" => html! { (who) " enabled the provider connection of " (tenant(e, names, links)) "." },
        "connection.disabled" => html! { (who) " disabled the provider connection of " (tenant(e, names, links)) "." },
        "connection.status_changed" => html! {
            "The provider connection of " (tenant(e, names, links)) " is now "
            (text(d, &["after", "status"]).unwrap_or("changed").replace('_', " ")) "."
        },
        "schedule.created" => html! {
            (who) " added a backup schedule to " (tenant(e, names, links)) ": "
            (super::cron::describe(text(d, &["cron"]).unwrap_or("")))
            " (" (text(d, &["timezone"]).unwrap_or("UTC")) ")."
        },
        "schedule.enabled" => html! { (who) " enabled a backup schedule of " (tenant(e, names, links)) "." },
        "schedule.disabled" => html! { (who) " disabled a backup schedule of " (tenant(e, names, links)) "." },
        other => html! { (who) " · " code { (other) } " · " (e.subject) },
    }
}
