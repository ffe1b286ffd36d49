//! `/admin/search?q=`: the top bar's search box. Finds a run by its id, tenants
//! by name, and objects by name (the inventory a sync recorded), among what
//! the viewer may see.

use atlas_core::access::{self, Access};
use atlas_core::Capability;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::error::PageResult;
use crate::query::{parse_query, run_url, Names};
use crate::state::AppState;
use crate::view::layout::{page, Frame};

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

pub async fn search(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> PageResult<Response> {
    let q: SearchQuery = parse_query(raw.as_deref())?;
    let text = q.q.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let ws = ctx.workspace()?.clone();
    // A run id that the viewer may open goes straight to the run.
    if let Ok(id) = Uuid::parse_str(&text) {
        if let Ok(run) = state.store.run_get(id).await {
            if run.workspace_id == ws.id && access::view_run(ctx.viewer.as_ref(), &run) == Access::Allowed {
                return Ok(Redirect::to(&run_url(run.id)).into_response());
            }
        }
    }
    let needle = text.to_lowercase();
    let tenants: Vec<_> = state
        .store
        .tenant_list(ws.id)
        .await?
        .into_iter()
        .filter(|t| ctx.allows(Capability::TenantView, &[t.id]))
        .collect();
    let matching: Vec<_> = tenants
        .iter()
        .filter(|t| !needle.is_empty() && (t.name.to_lowercase().contains(&needle) || t.id.to_string() == needle))
        .collect();
    let ids: Vec<Uuid> = tenants.iter().map(|t| t.id).collect();
    let objects = state.store.inventory_search(&ids, &text, 50).await?;
    let names = Names::load(&state, ws.id, Vec::new()).await?;
    let body = html! {
        h1 { "Search" }
        form.search.filters method="get" action="/admin/search" {
            input type="hidden" name="workspace" value=(ws.slug);
            label for="search-q" { "Run id, tenant or object name" }
            input id="search-q" type="search" name="q" value=(text);
            button type="submit" { "Search" }
        }
        @if text.is_empty() {
            p.sub { "Type a run id, a tenant's name, or the name of a policy or other object." }
        } @else {
            @if Uuid::parse_str(&text).is_ok() && matching.is_empty() {
                p.sub data-no-run { "No run with this id that you may see." }
            }
            h2 { "Tenants" }
            @if matching.is_empty() { p.sub { "No tenant matches “" (text) "”." } }
            ul.results data-results="tenants" {
                @for t in &matching { li { a href=(format!("/admin/tenants/{}", t.id)) { (t.name) } " · " (t.status.as_str()) } }
            }
            h2 { "Objects" }
            @if objects.is_empty() { p.sub { "No object in the inventory matches “" (text) "”." } }
            ul.results data-results="objects" {
                @for (tenant, o) in &objects {
                    li {
                        strong { (o.display_name) } " · " (o.kind) " · "
                        a href=(format!("/admin/tenants/{tenant}")) { (names.tenant(Some(*tenant))) }
                    }
                }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "").await?;
    Ok(page(&frame, "Search", body).into_response())
}
