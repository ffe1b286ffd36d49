//! `/admin/fleet`: the workspace's home page — every tenant the viewer may
//! see with its status, write gate, connection health in words, last backup,
//! drift ("3 changes since the backup of 2 Dec") and the outcome of its last
//! run, each linking to where a person acts on it.

use std::collections::HashMap;

use atlas_core::Capability;
use atlas_store::run::RunFilter;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::ctx::Ctx;
use crate::error::PageResult;
use crate::query::{run_label, run_url};
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::{badge, health, time};

pub async fn overview(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let ws = ctx.workspace()?.clone();
    let now = atlas_store::now();
    let drift: HashMap<_, _> =
        state.store.drift_latest_per_tenant(ws.id).await?.into_iter().map(|d| (d.tenant_id, d)).collect();
    let mut rows = Vec::new();
    for t in state.store.tenant_list(ws.id).await? {
        if !ctx.allows(Capability::TenantView, &[t.id]) {
            continue;
        }
        let conn = state.store.connection_get(t.id).await?;
        let backup = state.store.backup_sets_for_tenant(t.id, 1).await?.into_iter().next();
        let last_run = if ctx.allows(Capability::OperationsView, &[t.id]) {
            let filter = RunFilter {
                workspace_id: Some(ws.id),
                tenant_id: Some(t.id),
                tenant_scope: ctx.tenant_scope(),
                limit: 1,
                ..RunFilter::default()
            };
            state.store.run_list(&filter).await?.into_iter().next()
        } else {
            None
        };
        rows.push((t, conn, backup, last_run));
    }
    let body = html! {
        h1 { "Fleet overview" }
        p.sub { "Every tenant of " (ws.name) " you are entitled to, at a glance." }
        table.fleet {
            thead {
                tr {
                    th scope="col" { "Tenant" } th scope="col" { "Status" } th scope="col" { "Write gate" }
                    th scope="col" { "Connection" } th scope="col" { "Last backup" } th scope="col" { "Drift" }
                    th scope="col" { "Last run" }
                }
            }
            tbody {
                @if rows.is_empty() { tr { td.empty colspan="7" { "No tenants." } } }
                @for (t, conn, backup, last_run) in &rows {
                    tr data-tenant=(t.id) {
                        td { a href=(format!("/admin/tenants/{}", t.id)) { (t.name) } }
                        td data-tenant-status=(t.status.as_str()) { (t.status.as_str()) }
                        td { (super::tenants::gate(t.writes_enabled)) }
                        td { (health::summary(conn.as_ref(), now)) }
                        td data-last-backup {
                            @match backup {
                                Some(s) => { a href=(format!("/admin/backups/{}", s.id)) { (time::ago(s.created_at, now)) } " · " (s.item_count) " items" }
                                None => { span.drift-none { "Never backed up" } }
                            }
                        }
                        td data-drift=(drift.get(&t.id).map_or(-1, |d| d.change_count())) {
                            @match drift.get(&t.id) {
                                Some(d) => {
                                    @let words = atlas_core::announce::drift_sentence(d.change_count(), d.backup_created_at, now);
                                    a.drift-changes href=(format!("/admin/tenants/{}/drift", t.id)) { (words) }
                                }
                                None => { span.drift-none { "Not checked" } }
                            }
                        }
                        td data-last-run {
                            @match last_run {
                                Some(r) => {
                                    a href=(run_url(r.id)) { (run_label(r)) } " "
                                    @if r.status == atlas_core::run::RunStatus::Completed { (badge::outcome(r.outcome)) } @else { (badge::run_status(r)) }
                                    " " (time::ago(r.created_at, now))
                                }
                                None => { span.drift-none { "No runs yet" } }
                            }
                        }
                    }
                }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "overview").await?;
    Ok(page(&frame, "Fleet overview", body).into_response())
}
