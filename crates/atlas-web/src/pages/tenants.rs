//! Tenants: the list, with the multi-select that starts a bulk run over the
//! chosen tenants (shown only to a viewer with `bulk.execute`), and the
//! tenant page with one start button per operation type the viewer may start
//! (UI.md "Tenant page"). A button the viewer has no capability for is not
//! shown; one the gate would refuse now is shown disabled with the gate's
//! reason beside it.

use atlas_core::gate::{Decision, ReasonCode};
use atlas_core::run::Run;
use atlas_core::{Capability, OperationType};
use atlas_engine::{service, StartRequest};
use atlas_store::admin::Tenant;
use atlas_store::backup::BackupSet;
use atlas_store::run::RunFilter;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{back, started, PageForm};
use crate::bulk;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult, PageResult};
use crate::flash::{self, Flash};
use crate::query::Names;
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::{form, icon, runs, time};

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let ws = ctx.workspace()?.clone();
    let mut rows = Vec::new();
    for t in state.store.tenant_list(ws.id).await? {
        if ctx.allows(Capability::TenantView, &[t.id]) {
            let conn = state.store.connection_get(t.id).await?;
            rows.push((t, conn));
        }
    }
    // The multi-select: only for a viewer the access rule gives bulk.execute,
    // offering the item operations their role grants.
    let bulk_ops: Vec<OperationType> = if state.bulk_supported && ctx.allows(Capability::BulkExecute, &[]) {
        bulk::item_types().filter(|t| ctx.allows(t.spec().capability, &[])).collect()
    } else {
        Vec::new()
    };
    let select = !bulk_ops.is_empty() && !rows.is_empty();
    let columns = if select { "5" } else { "4" };
    let table = html! {
        table {
            thead {
                tr {
                    @if select { th scope="col" { span.skip { "Select" } } }
                    th scope="col" { "Tenant" } th scope="col" { "Status" } th scope="col" { "Write gate" } th scope="col" { "Connection" }
                }
            }
            tbody {
                @if rows.is_empty() { tr { td.empty colspan=(columns) { "No tenants." } } }
                @for (t, conn) in &rows {
                    @let href = format!("/admin/tenants/{}", t.id);
                    @let check_id = format!("select-{}", t.id);
                    tr.row-link data-href=(href) data-tenant=(t.id) {
                        @if select {
                            td.pick {
                                input type="checkbox" id=(check_id) name="tenant_id" value=(t.id) form="bulk-start";
                                label.skip for=(check_id) { "Select " (t.name) }
                            }
                        }
                        td { a href=(href) { (t.name) } }
                        td data-tenant-status=(t.status.as_str()) { (t.status.as_str()) }
                        td { (gate(t.writes_enabled)) }
                        td { (conn.as_ref().map_or("none".to_owned(), |c| format!("{} · {}", c.kind.as_str(), c.status.as_str()))) }
                    }
                }
            }
        }
    };
    let body = html! {
        h1 { "Tenants" }
        p.sub { "Tenants of " (ws.name) " you are entitled to." }
        (table)
        @if select {
            form.card.bulk id="bulk-start" method="post" action=(format!("/admin/operations/bulk?workspace={}", ws.slug)) {
                (form::csrf(ctx.csrf()))
                h2 { "Bulk operation" }
                p.sub { "Select tenants above, pick an operation, and start one run over all of them. Each tenant is authorized again just before its item runs." }
                div.field {
                    label for="bulk-operation" { "Operation" }
                    select id="bulk-operation" name="operation" {
                        @for t in &bulk_ops { option value=(t.as_str()) { (t.spec().label) } }
                    }
                }
                button type="submit" { "Start on selected tenants" }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, "Tenants", body).into_response())
}

/// Starts a bulk run from the tenants list: the selected tenants (`tenant_id`,
/// repeated) and one `operation`. Answers like every start: back to the list
/// with "Operation queued. View run →", or the refusal.
pub async fn start_bulk(
    State(state): State<AppState>,
    ctx: Ctx,
    PageForm(f): PageForm<Vec<(String, String)>>,
) -> PageResult<Response> {
    let ws = ctx.workspace()?.clone();
    let here = format!("/admin/tenants?workspace={}", ws.slug);
    let op = form_values(&f, "operation")
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Invalid("operation is required".into()))?;
    let op_type =
        OperationType::parse(op).ok_or_else(|| ApiError::Invalid(format!("unknown operation type `{op}`")))?;
    let ids = form_values(&f, "tenant_id");
    if ids.is_empty() {
        flash::set(&state, &ctx, &Flash::error("Select at least one tenant to start a bulk operation.")).await?;
        return Ok(back(&here));
    }
    let req = bulk::request(&state, &ctx, &json!({"operation": op_type, "tenant_ids": ids})).await?;
    let result = service::start(&state.store, req).await;
    let what = format!("a bulk {} on {} tenants", op_type.spec().label.to_lowercase(), ids.len());
    started(&state, &ctx, result, &here, &what).await
}

/// The non-empty values of a (repeatable) form field.
fn form_values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
}

pub(crate) fn gate(open: bool) -> Markup {
    html! {
        @if open {
            span.lock data-write-gate="open" { (icon::svg("unlock")) "Writes open" }
        } @else {
            span.lock data-write-gate="closed" { (icon::svg("lock")) "Writes closed" }
        }
    }
}

/// The button text of each type on the tenant page.
fn button_label(t: OperationType) -> &'static str {
    match t {
        OperationType::ProviderConnectionCheck => "Verify connection",
        OperationType::InventorySync => "Sync inventory",
        OperationType::PoliciesSync => "Sync policies",
        OperationType::ComplianceSnapshot => "Snapshot compliance",
        OperationType::BackupRun => "Back up now",
        OperationType::DriftCheck => "Check drift",
        OperationType::RestoreExecute => "Preview restore…",
        OperationType::RestoreAssignments => "Restore assignments…",
        other => other.spec().label,
    }
}

const GROUPS: &[(&str, &[OperationType])] = &[
    (
        "Read",
        &[
            OperationType::ProviderConnectionCheck,
            OperationType::InventorySync,
            OperationType::PoliciesSync,
            OperationType::ComplianceSnapshot,
            OperationType::DriftCheck,
        ],
    ),
    ("Protect", &[OperationType::BackupRun]),
    ("Write", &[OperationType::RestoreExecute, OperationType::RestoreAssignments]),
];

/// What the gate would say to this viewer starting `t` now (nothing is stored).
async fn preview(state: &AppState, ctx: &Ctx, tenant: &Tenant, t: OperationType, params: Value) -> ApiResult<Decision> {
    let ask = crate::preview::Ask {
        user_id: ctx.user.id,
        workspace_id: tenant.workspace_id,
        tenant_id: Some(tenant.id),
        op_type: t,
        params,
    };
    crate::preview::start_decision(state, ask).await
}

/// One start control: hidden without the capability, disabled with the reason
/// when the gate would refuse.
struct Control {
    op: OperationType,
    refusal: Option<String>,
    note: Option<String>,
}

async fn controls(
    state: &AppState,
    ctx: &Ctx,
    tenant: &Tenant,
    sets: &[BackupSet],
) -> ApiResult<Vec<(&'static str, Vec<Control>)>> {
    let latest_set = sets.first().map_or(Uuid::nil(), |s| s.id).to_string();
    let mut out = Vec::new();
    for (group, types) in GROUPS {
        let mut group_controls = Vec::new();
        for t in *types {
            if !ctx.allows(t.spec().capability, &[tenant.id]) {
                continue;
            }
            // The restore form starts with its preview (a dry run); the real
            // restore's refusal, if any, is said beside the button it disables.
            let params = match t {
                OperationType::RestoreExecute => json!({"backup_set_id": latest_set, "dry_run": true}),
                OperationType::RestoreAssignments => json!({"backup_set_id": latest_set}),
                _ => json!({}),
            };
            let d = preview(state, ctx, tenant, *t, params).await?;
            let mut control = Control { op: *t, refusal: None, note: None };
            if d.allowed && *t == OperationType::RestoreExecute {
                let real =
                    preview(state, ctx, tenant, *t, json!({"backup_set_id": latest_set, "dry_run": false})).await?;
                if !real.allowed {
                    control.note = Some(format!("{} Only a dry run is possible.", real.message));
                }
            }
            if !d.allowed {
                if d.reason_code == Some(ReasonCode::BackupSetMissing) && sets.is_empty() {
                    control.refusal = Some("No backup set yet: back up the tenant first.".into());
                } else {
                    control.refusal = Some(d.message);
                }
            }
            group_controls.push(control);
        }
        if !group_controls.is_empty() {
            out.push((*group, group_controls));
        }
    }
    Ok(out)
}

/// The restore offered after its preview: the plan in words, a link to it,
/// and the real restore of the previewed set (disabled with the reason when
/// the gate would refuse it).
fn restore_after_preview(tenant: &Tenant, c: &Control, run: &Run, set: &BackupSet, csrf: &str) -> Markup {
    let action = format!("/admin/tenants/{}/operations", tenant.id);
    let plan = atlas_core::announce::plan_counts(run).unwrap_or_default();
    html! {
        div.preview data-preview=(run.id) {
            p {
                strong { "Preview of the backup of " (time::at(set.created_at)) ": " } (plan.sentence()) " "
                a href=(crate::query::run_url(run.id)) { "View plan →" }
            }
            form.op method="post" action=(action) data-op=(c.op.as_str()) data-step="restore" {
                (form::csrf(csrf))
                input type="hidden" name="type" value=(c.op.as_str());
                input type="hidden" name="backup_set_id" value=(set.id);
                button.danger type="submit" disabled[c.note.is_some()] aria-describedby=[c.note.as_ref().map(|_| "restore-real-why")] { "Restore this backup set" }
                @if let Some(why) = &c.note { span.reason id="restore-real-why" data-refusal { (why) } }
            }
        }
    }
}

fn control_form(tenant: &Tenant, c: &Control, sets: &[BackupSet], csrf: &str, previewed: Option<&Run>) -> Markup {
    let action = format!("/admin/tenants/{}/operations", tenant.id);
    let label = button_label(c.op);
    let disabled = c.refusal.is_some();
    let id = c.op.as_str().replace('.', "-");
    let needs_set = matches!(c.op, OperationType::RestoreExecute | OperationType::RestoreAssignments);
    html! {
        form.op method="post" action=(action) data-op=(c.op.as_str()) {
            (form::csrf(csrf))
            input type="hidden" name="type" value=(c.op.as_str());
            @if needs_set && !sets.is_empty() {
                div.field {
                    label for=(format!("{id}-set")) { "Backup set" }
                    select id=(format!("{id}-set")) name="backup_set_id" disabled[disabled] {
                        @for s in sets {
                            @let suffix = format!(" · {} items", s.item_count);
                            option value=(s.id) data-datetime=(s.created_at.to_rfc3339()) data-suffix=(suffix) { (time::utc(s.created_at)) (suffix) }
                        }
                    }
                }
            }
            @if c.op == OperationType::RestoreExecute {
                // The preview first: it writes nothing, and the real restore
                // is offered once its plan has been seen.
                input type="hidden" name="dry_run" value="true";
                @if previewed.is_none() && !disabled {
                    p.sub { "Preview the restore to see what it would create, update or leave unchanged; the restore itself is offered with the plan." }
                }
            }
            button type="submit" disabled[disabled] aria-describedby=[c.refusal.as_ref().map(|_| format!("{id}-why"))] { (label) }
            @if let Some(why) = &c.refusal { span.reason id=(format!("{id}-why")) data-refusal { (why) } }
            @if let (Some(note), None) = (&c.note, previewed) { span.reason { (note) } }
        }
        @if c.op == OperationType::RestoreExecute && !disabled {
            @if let Some(run) = previewed {
                @if let Some(set) = run.operation_params().ok().and_then(|p| p.backup_set_id()).and_then(|id| sets.iter().find(|s| s.id == id)) {
                    (restore_after_preview(tenant, c, run, set, csrf))
                }
            }
        }
    }
}

/// The tenant's newest succeeded restore preview, if the viewer may see runs.
async fn newest_preview(state: &AppState, ctx: &Ctx, tenant: &Tenant) -> ApiResult<Option<Run>> {
    if !ctx.allows(Capability::OperationsView, &[tenant.id]) {
        return Ok(None);
    }
    let filter = RunFilter {
        workspace_id: Some(tenant.workspace_id),
        tenant_id: Some(tenant.id),
        tenant_scope: ctx.tenant_scope(),
        op_type: Some(OperationType::RestoreExecute),
        limit: 20,
        ..RunFilter::default()
    };
    Ok(state.store.run_list(&filter).await?.into_iter().find(|r| {
        atlas_core::announce::plan_counts(r).is_some()
            && r.status == atlas_core::run::RunStatus::Completed
            && r.outcome == atlas_core::run::RunOutcome::Succeeded
    }))
}

pub async fn show(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let tenant = ctx.tenant()?.clone();
    let conn = state.store.connection_get(tenant.id).await?;
    let sets = state.store.backup_sets_for_tenant(tenant.id, 20).await?;
    let groups = controls(&state, &ctx, &tenant, &sets).await?;
    let previewed = newest_preview(&state, &ctx, &tenant).await?;
    let drift = state.store.drift_latest(tenant.id).await?;
    let changed_by = tenant.writes_changed_by.as_deref().and_then(|b| Uuid::parse_str(b).ok());
    let filter = RunFilter {
        workspace_id: Some(tenant.workspace_id),
        tenant_id: Some(tenant.id),
        tenant_scope: ctx.tenant_scope(),
        limit: 10,
        ..RunFilter::default()
    };
    let recent = if ctx.allows(Capability::OperationsView, &[tenant.id]) {
        Some(state.store.run_list(&filter).await?)
    } else {
        None
    };
    let users = changed_by.into_iter().chain(recent.iter().flatten().filter_map(|r| r.initiator_user_id));
    let names = Names::load(&state, tenant.workspace_id, users.collect()).await?;
    let base = format!("/admin/tenants/{}", tenant.id);
    let links: Vec<(String, &str)> = [
        (Capability::TenantManage, "settings", "Settings"),
        (Capability::ProviderConnectionsManage, "connection", "Connection"),
        (Capability::TenantBackupSchedulesManage, "schedules", "Schedules"),
    ]
    .iter()
    .filter(|(cap, _, _)| ctx.allows(*cap, &[tenant.id]))
    .map(|(_, path, label)| (format!("{base}/{path}"), *label))
    .collect();
    let body = html! {
        h1 { (tenant.name) }
        div.card {
            dl.meta {
                dt { "Status" } dd data-tenant-status=(tenant.status.as_str()) { (tenant.status.as_str()) }
                dt { "Write gate" }
                dd {
                    (gate(tenant.writes_enabled))
                    @if let Some(at) = tenant.writes_changed_at {
                        " — changed by "
                        (match (changed_by, tenant.writes_changed_by.as_deref()) {
                            (Some(u), _) => names.user(u),
                            (None, Some(other)) => other.to_owned(),
                            (None, None) => "unknown".to_owned(),
                        })
                        ", " (time::at(at))
                    }
                }
                dt { "Connection" }
                dd {
                    @match &conn {
                        Some(c) => { (crate::view::health::connection(c)) }
                        None => { "No provider connection." }
                    }
                }
                dt { "Drift" }
                dd data-drift=(drift.as_ref().map_or(-1, |d| d.change_count())) {
                    @match &drift {
                        Some(d) => {
                            a href=(format!("/admin/tenants/{}/drift", tenant.id)) {
                                (atlas_core::announce::drift_sentence(d.change_count(), d.backup_created_at, atlas_store::now()))
                            }
                            " — checked " (time::at(d.created_at))
                        }
                        None => { "Not checked yet: use Check drift." }
                    }
                }
            }
            @if !links.is_empty() {
                p { @for (href, label) in &links { a href=(href) { (label) } " · " } a href=(format!("/admin/operations?tenant_id={}", tenant.id)) { "Operations" } }
            }
        }
        h2 { "Operations" }
        @if groups.is_empty() { p.sub { "You cannot start operations on this tenant." } }
        div.groups {
            @for (group, controls) in &groups {
                section.card.group aria-label=(group) {
                    h3 { (group) }
                    @for c in controls { (control_form(&tenant, c, &sets, ctx.csrf(), previewed.as_ref())) }
                }
            }
        }
        h2 { "Backups" }
        @if sets.is_empty() { p.sub { "No backups yet." } } @else {
            table {
                thead { tr { th { "Backup set" } th { "Taken" } th.num { "Items" } th { "Changes" } th { "Run" } } }
                tbody {
                    @for (i, s) in sets.iter().enumerate() {
                        tr id=(format!("backup-{}", s.id)) {
                            td { a href=(format!("/admin/backups/{}", s.id)) { code { (s.id) } } }
                            td { (time::at(s.created_at)) }
                            td.num { (s.item_count) }
                            td {
                                @if let Some(older) = sets.get(i + 1) {
                                    a href=(format!("/admin/backups/{}/diff/{}", older.id, s.id)) data-compare=(older.id) { "Compare with previous" }
                                }
                            }
                            td { @if let Some(r) = s.run_id { a href=(crate::query::run_url(r)) { "View run" } } }
                        }
                    }
                }
            }
        }
        @if let Some(recent) = &recent {
            h2 { "Recent operations" }
            @let src = format!("/admin/operations/rows?workspace={}&tenant_id={}&limit=10", ctx.workspace()?.slug, tenant.id);
            (runs::table(recent, &names, atlas_store::now(), &src, Some(tenant.id)))
        }
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, &tenant.name, body).into_response())
}

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(rename = "type")]
    op_type: String,
    backup_set_id: Option<String>,
    dry_run: Option<String>,
}

/// Starts an operation from its button; the gate authorizes it.
pub async fn start(State(state): State<AppState>, ctx: Ctx, PageForm(f): PageForm<StartForm>) -> PageResult<Response> {
    let tenant = ctx.tenant()?.clone();
    let op_type = OperationType::parse(f.op_type.trim())
        .filter(|t| *t != OperationType::BulkOperation)
        .ok_or_else(|| ApiError::Invalid(format!("unknown operation type `{}`", f.op_type)))?;
    let mut params = serde_json::Map::new();
    if let Some(set) = f.backup_set_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        params.insert("backup_set_id".into(), json!(set));
    }
    if op_type == OperationType::RestoreExecute {
        let dry = matches!(f.dry_run.as_deref(), Some("true" | "on" | "1"));
        params.insert("dry_run".into(), json!(dry));
    }
    let req = StartRequest {
        user_id: ctx.user.id,
        workspace_id: tenant.workspace_id,
        tenant_id: Some(tenant.id),
        op_type,
        params: Value::Object(params),
        retry_of_run_id: None,
        max_attempts: state.engine.max_attempts,
    };
    let result = service::start(&state.store, req).await;
    let what = format!("a {} on {}", op_type.spec().label.to_lowercase(), tenant.name);
    started(&state, &ctx, result, &format!("/admin/tenants/{}", tenant.id), &what).await
}
