//! What changed, in the console (SPEC §10.1): a tenant's newest drift check,
//! a backup set's items by type (searchable), the diff of two backup sets,
//! and the diff of two versions of an object — answered by the same
//! `atlas_engine::changes` functions as the API and the CLI, rendered by
//! `view::diff`.

use std::collections::HashMap;

use atlas_core::diff::SetDiff;
use atlas_engine::changes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::error::{ApiError, PageResult};
use crate::query::{parse_query, run_url};
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::{diff, time};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewQuery {
    view: Option<String>,
}

fn unified(q: &ViewQuery) -> bool {
    q.view.as_deref() == Some("unified")
}

/// `/admin/tenants/{tenant}/drift`: the newest drift check of the tenant.
pub async fn drift(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> PageResult<Response> {
    let q: ViewQuery = parse_query(raw.as_deref())?;
    let tenant = ctx.tenant()?.clone();
    let kept = state.store.drift_latest(tenant.id).await?;
    let base = format!("/admin/tenants/{}/drift", tenant.id);
    let body = html! {
        p { a href=(format!("/admin/tenants/{}", tenant.id)) { "← " (tenant.name) } }
        h1 { "Drift · " (tenant.name) }
        @match &kept {
            None => {
                p.sub data-drift="none" { "Never checked. Start a drift check on the tenant page: it compares the live tenant with its newest backup." }
            }
            Some(d) => {
                @let sentence = atlas_core::announce::drift_sentence(d.change_count(), d.backup_created_at, atlas_store::now());
                p.sub data-drift=(d.change_count()) {
                    strong { (sentence) } ". Checked " (time::at(d.created_at)) " against "
                    a href=(format!("/admin/backups/{}", d.backup_set_id)) { "the backup of " (time::at(d.backup_created_at)) }
                    " · " a href=(run_url(d.run_id)) { "View run" }
                }
                (diff::toggle(&base, unified(&q)))
                @let set: SetDiff = serde_json::from_value(d.diff.clone()).unwrap_or_default();
                (diff::set(&set, unified(&q)))
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, &format!("Drift · {}", tenant.name), body).into_response())
}

fn set_id(params: &HashMap<String, String>, key: &str) -> Result<Uuid, ApiError> {
    params.get(key).and_then(|s| Uuid::parse_str(s.trim()).ok()).ok_or(ApiError::NotFound)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    search: Option<String>,
}

/// `/admin/backups/{a}`: a backup set's items by type, searchable by name
/// or object id; a set the viewer may not see is not found.
pub async fn backup(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let q: ShowQuery = parse_query(raw.as_deref())?;
    let id = set_id(&params, "a")?;
    if !crate::api::changes::may_see(&state, &ctx, id).await? {
        return Err(ApiError::NotFound.into());
    }
    let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let c = changes::backup_contents(&state.store, id, search).await.map_err(ApiError::from)?;
    let tenant = state.store.tenant_get(c.backup_set.tenant_id).await?;
    let older: Vec<_> =
        state.store.backup_sets_for_tenant(tenant.id, 20).await?.into_iter().filter(|s| s.id != id).collect();
    let shown: usize = c.types.iter().map(|g| g.items.len()).sum();
    let body = html! {
        p { a href=(format!("/admin/tenants/{}", tenant.id)) { "← " (tenant.name) } }
        h1 { "Backup · " (tenant.name) }
        p.sub {
            "Taken " (time::at(c.backup_set.created_at)) " · " (c.backup_set.item_count) " items"
            @if let Some(r) = c.backup_set.run_id { " · " a href=(run_url(r)) { "View run" } }
        }
        form.filters method="get" action=(format!("/admin/backups/{id}")) role="search" {
            div.field {
                label for="backup-search" { "Search items by name or id" }
                input id="backup-search" type="search" name="search" value=(search.unwrap_or_default());
            }
            button type="submit" { "Search" }
            @if search.is_some() { a href=(format!("/admin/backups/{id}")) { "Clear" } }
        }
        @if !older.is_empty() {
            p.compare {
                "Compare with: "
                @for (i, s) in older.iter().take(5).enumerate() {
                    @if i > 0 { " · " }
                    a href=(format!("/admin/backups/{}/diff/{id}", s.id)) data-compare=(s.id) { (time::utc(s.created_at)) }
                }
            }
        }
        @if search.is_some() { p.sub data-shown=(shown) { (shown) " items match." } }
        @if c.types.is_empty() { p.empty { "No items." } }
        @for g in &c.types {
            details.card open data-object-type=(g.object_type) {
                summary { strong { (g.label) } " " span.kind { (g.object_type) } " · " (g.items.len()) }
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Object id" } th.num scope="col" { "Assignments" } } }
                    tbody {
                        @for i in &g.items {
                            tr data-object-id=(i.object_id) {
                                td { (i.name) }
                                td { code { (i.object_id) } }
                                td.num { (i.assignments) }
                            }
                        }
                    }
                }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, &format!("Backup · {}", tenant.name), body).into_response())
}

/// `/admin/backups/{a}/diff/{b}`: what changed from backup set A to B.
pub async fn backup_diff(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let q: ViewQuery = parse_query(raw.as_deref())?;
    let (a, b) = (set_id(&params, "a")?, set_id(&params, "b")?);
    for id in [a, b] {
        if !crate::api::changes::may_see(&state, &ctx, id).await? {
            return Err(ApiError::NotFound.into());
        }
    }
    let d = changes::backup_diff(&state.store, a, b, |_| true).await.map_err(ApiError::from)?;
    let (from, to) = (state.store.backup_set_get(a).await?, state.store.backup_set_get(b).await?);
    let tenant = state.store.tenant_get(to.tenant_id).await?;
    let base = format!("/admin/backups/{a}/diff/{b}");
    let body = html! {
        p { a href=(format!("/admin/tenants/{}", tenant.id)) { "← " (tenant.name) } }
        h1 { "Backup diff · " (tenant.name) }
        p.sub {
            "From " a href=(format!("/admin/backups/{a}")) { "the backup of " (time::at(from.created_at)) }
            " to " a href=(format!("/admin/backups/{b}")) { "the backup of " (time::at(to.created_at)) } "."
        }
        (diff::toggle(&base, unified(&q)))
        (diff::set(&d, unified(&q)))
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, &format!("Backup diff · {}", tenant.name), body).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    from: Option<i64>,
    to: Option<i64>,
    view: Option<String>,
}

/// `/admin/tenants/{tenant}/objects/{id}/diff?from=&to=`: two versions of an
/// object (default: the newest and the one before), with its history.
pub async fn version_diff(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let q: VersionQuery = parse_query(raw.as_deref())?;
    let tenant = ctx.tenant()?.clone();
    let object_id = params.get("id").map(|s| s.trim()).filter(|s| !s.is_empty()).ok_or(ApiError::NotFound)?;
    let h = changes::history(&state.store, tenant.id, object_id).await.map_err(ApiError::from)?;
    let d = changes::version_diff(&state.store, tenant.id, object_id, q.from, q.to).await.map_err(ApiError::from)?;
    let base = format!("/admin/tenants/{}/objects/{}/diff?from={}&to={}", tenant.id, object_id, d.from, d.to);
    let is_unified = q.view.as_deref() == Some("unified");
    let body = html! {
        p { a href=(format!("/admin/tenants/{}", tenant.id)) { "← " (tenant.name) } }
        h1 { (d.name) }
        p.sub { span.kind { (diff::type_label(&d.object_type)) } " " code { (d.object_id) } " · version " (d.from) " → " (d.to) }
        (diff::toggle(&base, is_unified))
        section.card data-diff {
            (diff::changes(&d.changes, is_unified))
        }
        h2 { "History" }
        table {
            thead { tr { th.num scope="col" { "Version" } th scope="col" { "Recorded" } th scope="col" { "Compare" } } }
            tbody {
                @for v in h.versions.iter().rev() {
                    tr data-version=(v.version) {
                        td.num { (v.version) }
                        td { (time::at(v.created_at)) }
                        td {
                            @if v.version > 1 {
                                a href=(format!("/admin/tenants/{}/objects/{}/diff?from={}&to={}", tenant.id, object_id, v.version - 1, v.version)) { "with version " (v.version - 1) }
                            }
                        }
                    }
                }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, &d.name, body).into_response())
}
