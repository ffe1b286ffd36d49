//! `/admin/operations`: the Monitoring list (SPEC §6.2, UI.md) — tabs with
//! bounded counts, outcome chips, filters in the URL, keyset pagination, and
//! a table body that refreshes itself while runs are active.

use atlas_core::badge::outcome_badge;
use atlas_core::badge::AWAITING_APPROVAL;
use atlas_core::run::RunStatus;
use atlas_core::{Capability, OperationType};
use atlas_store::monitoring::{TabCounts, COUNT_WINDOW};
use atlas_store::run::RunFilter;
use axum::extract::{RawQuery, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use crate::ctx::Ctx;
use crate::error::PageResult;
use crate::query::{parse_query, run_page, Names, RunListQuery};
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::runs;

const PAGE_SIZE: u32 = 50;
const COUNT_CAP: u32 = 100;

/// A tab's count: "99+" at the cap, "12+" when only a lower bound is known
/// (a type or initiator filter: `TabCounts`), else the number.
fn count(c: &TabCounts, key: &str, n: i64) -> Markup {
    if n >= c.cap {
        html! { span.n { (c.cap - 1) "+" } }
    } else if c.is_lower_bound(key) {
        let title = format!("At least {n}: counted among the newest {COUNT_WINDOW} runs");
        html! { span.n title=(title) { (n) "+" } }
    } else {
        html! { span.n { (n) } }
    }
}

pub async fn list(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> PageResult<Response> {
    let q: RunListQuery = parse_query(raw.as_deref())?;
    let filter = q.filter(&ctx, PAGE_SIZE)?;
    let ws = ctx.workspace()?.clone();
    let counts = state
        .store
        .run_tab_counts(&RunFilter { status: None, outcome: None, before: None, ..filter.clone() }, COUNT_CAP)
        .await?;
    let (list, next) = run_page(&state, filter.clone()).await?;
    let members = state.store.membership_list(ws.id).await?;
    let user_ids = list.iter().filter_map(|r| r.initiator_user_id).chain(members.iter().map(|m| m.user_id));
    let names = Names::load(&state, ws.id, user_ids.collect()).await?;
    let tenants: Vec<(uuid::Uuid, String)> = state
        .store
        .tenant_list(ws.id)
        .await?
        .into_iter()
        .filter(|t| ctx.allows(Capability::OperationsView, &[t.id]))
        .map(|t| (t.id, t.name))
        .collect();
    let now = atlas_store::now();
    let live_src = format!("/admin/operations/rows?{}", q.with(&[]));
    let tabs_src = format!("/admin/operations/tabs?{}", q.with(&[]));
    let body = html! {
        h1 { "Operations" }
        p.sub { "Runs in " (ws.name) ", newest first." }
        div data-live-tabs=(tabs_src) { (tabs(&q, &filter, &counts)) }
        (filters(&q, &ws.slug, &tenants, &members.iter().map(|m| (m.user_id, names.user(m.user_id))).collect::<Vec<_>>()))
        (runs::table(&list, &names, now, &live_src, None))
        div.pager {
            @if q.cursor.as_deref().is_some_and(|c| !c.is_empty()) {
                a href=(format!("?{}", q.with(&[("cursor", None)]))) { "← Newest" }
            }
            @if let Some(n) = next {
                a href=(format!("?{}", q.with(&[("cursor", Some(&n.to_string()))]))) rel="next" { "Older →" }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "operations").await?;
    Ok(page(&frame, "Operations", body).into_response())
}

/// The table body alone, for live refresh; `X-Atlas-Active` says whether to keep refreshing.
pub async fn rows(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> PageResult<Response> {
    let q: RunListQuery = parse_query(raw.as_deref())?;
    let filter = q.filter(&ctx, PAGE_SIZE)?;
    let ws = ctx.workspace()?.clone();
    let (list, _) = run_page(&state, filter).await?;
    let names = Names::load(&state, ws.id, list.iter().filter_map(|r| r.initiator_user_id).collect()).await?;
    let active = list.iter().any(atlas_core::run::Run::is_active);
    let mut resp = runs::rows(&list, &names, atlas_store::now()).into_response();
    resp.headers_mut().insert("x-atlas-active", HeaderValue::from_static(if active { "true" } else { "false" }));
    Ok(resp)
}

/// The tabs and chips alone, for live refresh of their counts.
pub async fn tabs_fragment(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> PageResult<Response> {
    let q: RunListQuery = parse_query(raw.as_deref())?;
    let filter = q.filter(&ctx, PAGE_SIZE)?;
    let counts = state
        .store
        .run_tab_counts(&RunFilter { status: None, outcome: None, before: None, ..filter.clone() }, COUNT_CAP)
        .await?;
    Ok(tabs(&q, &filter, &counts).into_response())
}

fn tabs(q: &RunListQuery, f: &RunFilter, c: &TabCounts) -> Markup {
    let tab = |label: &str, status: Option<RunStatus>, n: i64| {
        let current = !f.awaiting_approval && f.status == status && (status.is_some() || f.outcome.is_none());
        let href =
            format!("?{}", q.with(&[("status", status.map(RunStatus::as_str)), ("outcome", None), ("cursor", None)]));
        let n = count(c, status.map_or("all", RunStatus::as_str), n);
        html! {
            @if current {
                a href=(href) aria-current="page" data-tab=(label) { (label) (n) }
            } @else {
                a href=(href) data-tab=(label) { (label) (n) }
            }
        }
    };
    html! {
        nav.tabs aria-label="Status" {
            (tab("All", None, c.all))
            (tab("Queued", Some(RunStatus::Queued), c.queued))
            (tab("Running", Some(RunStatus::Running), c.running))
            (tab("Completed", Some(RunStatus::Completed), c.completed))
            @let awaiting = AWAITING_APPROVAL;
            @let href = format!("?{}", q.with(&[("status", Some(awaiting.value)), ("outcome", None), ("cursor", None)]));
            @if f.awaiting_approval {
                a href=(href) aria-current="page" data-tab=(awaiting.label) { (awaiting.label) }
            } @else {
                a href=(href) data-tab=(awaiting.label) { (awaiting.label) }
            }
        }
        nav.chips aria-label="Outcome" {
            @for (o, n) in &c.outcomes {
                @let href = format!("?{}", q.with(&[("status", Some("completed")), ("outcome", Some(o.as_str())), ("cursor", None)]));
                @let label = outcome_badge(*o).label;
                @if f.outcome == Some(*o) {
                    a href=(href) aria-current="page" data-chip=(o.as_str()) { (label) " " (count(c, o.as_str(), *n)) }
                } @else {
                    a href=(href) data-chip=(o.as_str()) { (label) " " (count(c, o.as_str(), *n)) }
                }
            }
        }
    }
}

fn filters(q: &RunListQuery, slug: &str, tenants: &[(uuid::Uuid, String)], members: &[(uuid::Uuid, String)]) -> Markup {
    let sel = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    html! {
        form.filters method="get" action="/admin/operations" {
            input type="hidden" name="workspace" value=(slug);
            @if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) { input type="hidden" name="status" value=(s); }
            @if let Some(o) = q.outcome.as_deref().filter(|o| !o.is_empty()) { input type="hidden" name="outcome" value=(o); }
            div {
                label for="f-tenant" { "Tenant" }
                select id="f-tenant" name="tenant_id" {
                    option value="" { "All tenants" }
                    @for (id, name) in tenants {
                        option value=(id) selected[sel(&q.tenant_id, &id.to_string())] { (name) }
                    }
                }
            }
            div {
                label for="f-type" { "Operation" }
                select id="f-type" name="type" {
                    option value="" { "All operations" }
                    @for t in OperationType::all() {
                        option value=(t.as_str()) selected[sel(&q.op_type, t.as_str())] { (t.spec().label) }
                    }
                }
            }
            div {
                label for="f-initiator" { "Initiator" }
                select id="f-initiator" name="initiator" {
                    option value="" { "Anyone" }
                    option value="system" selected[sel(&q.initiator, "system")] { "System" }
                    @for (id, name) in members {
                        option value=(id) selected[sel(&q.initiator, &id.to_string())] { (name) }
                    }
                }
            }
            button type="submit" { "Filter" }
            a href=(format!("/admin/operations?workspace={slug}")) { "Clear" }
        }
    }
}
