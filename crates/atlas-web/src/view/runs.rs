//! The Monitoring table: one row per run, the whole row a link to the run.

use atlas_core::operation::AuthorityKind;
use atlas_core::run::Run;
use atlas_core::Timestamp;
use maud::{html, Markup};

use super::{badge, icon, time};
use crate::query::{run_label, run_url, Names};

/// "Jane Doe", or "System · schedule" with a clock for a system run.
pub fn initiator(run: &Run, names: &Names) -> Markup {
    match (run.authority_mode, run.initiator_user_id) {
        (AuthorityKind::ActorBound, Some(u)) => html! { (names.user(u)) },
        _ => {
            let source = run.source.as_ref().and_then(|s| s.get("kind")).and_then(|k| k.as_str()).unwrap_or("system");
            html! { span.system { (icon::svg("clock")) " System · " (source) } }
        }
    }
}

pub fn duration(run: &Run, now: Timestamp) -> String {
    match (run.started_at, run.completed_at) {
        (Some(s), Some(c)) => time::duration(s, c),
        (Some(s), None) => time::duration(s, now),
        _ => "—".into(),
    }
}

/// The rows of the table body (also served alone for live refresh). Each
/// cell names its column (`data-label`), so that under the phone breakpoint
/// a row reads as a card: operation, tenant, badges, time.
pub fn rows(runs: &[Run], names: &Names, now: Timestamp) -> Markup {
    html! {
        @if runs.is_empty() {
            tr { td.empty colspan="8" { "No operations match." } }
        }
        @for run in runs {
            @let href = run_url(run.id);
            tr.row-link data-href=(href) data-run=(run.id) {
                td.op data-label="Operation" { a href=(href) { (run_label(run)) } }
                td data-label="Tenant" {
                    @if run.tenant_id.is_some() {
                        (names.run_tenants(run))
                    } @else {
                        span.tenants title=(names.run_tenant_names(run).join(", ")) { (names.run_tenants(run)) }
                    }
                }
                td data-label="Initiator" { (initiator(run, names)) }
                td data-label="Status" { (badge::run_status(run)) }
                td data-label="Outcome" {
                    (badge::outcome(run.outcome))
                    @if let Some(d) = run.decision.as_ref().filter(|d| !d.allowed) {
                        @if run.outcome == atlas_core::RunOutcome::Blocked {
                            span.reason { (d.message) " " code { (d.reason_code.map(|r| r.as_str()).unwrap_or("")) } }
                        }
                    }
                }
                td data-label="Queued" { (time::ago(run.created_at, now)) }
                td.num data-label="Duration" { (duration(run, now)) }
                td.num data-label="Attempt" { (run.attempt) "/" (run.max_attempts) }
            }
        }
    }
}

/// The table. Its body refreshes itself from `live_src` (the rows fragment)
/// whenever the live channel reports a change it may show; `tenant` limits
/// that to one tenant's runs.
pub fn table(runs: &[Run], names: &Names, now: Timestamp, live_src: &str, tenant: Option<uuid::Uuid>) -> Markup {
    let active = runs.iter().any(Run::is_active);
    html! {
        table.runs {
            caption.skip { "Operations, newest first" }
            thead {
                tr {
                    th scope="col" { "Operation" }
                    th scope="col" { "Tenant" }
                    th scope="col" { "Initiator" }
                    th scope="col" { "Status" }
                    th scope="col" { "Outcome" }
                    th scope="col" { "Queued" }
                    th.num scope="col" { "Duration" }
                    th.num scope="col" { "Attempt" }
                }
            }
            tbody data-live-src=[(!live_src.is_empty()).then_some(live_src)]
                data-live-tenant=[tenant]
                data-active=(if active { "true" } else { "false" }) {
                (rows(runs, names, now))
            }
        }
    }
}
