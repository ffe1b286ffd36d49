//! A tenant's backup schedules: add, enable, disable, and "Run now", which
//! fires the current slot through the same path as the cron scheduler.

use atlas_engine::schedule::CronSpec;
use atlas_store::schedule::{Fired, Schedule};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

use super::settings::parse_bool;
use super::{back, started, PageForm};
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult, PageResult};
use crate::flash::{self, Flash};
use crate::query::{run_url, Names};
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::{form, time};

/// The tenant's schedule named in the path; another tenant's is not found.
pub async fn schedule_of(state: &AppState, ctx: &Ctx, params: &HashMap<String, String>) -> ApiResult<Schedule> {
    let tenant = ctx.tenant()?;
    let id = params.get("schedule").and_then(|s| Uuid::parse_str(s).ok()).ok_or(ApiError::NotFound)?;
    let s = state.store.schedule_get(id).await?;
    if s.tenant_id != tenant.id {
        return Err(ApiError::NotFound);
    }
    Ok(s)
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let t = ctx.tenant()?.clone();
    let schedules: Vec<Schedule> =
        state.store.schedule_list(Some(t.workspace_id)).await?.into_iter().filter(|s| s.tenant_id == t.id).collect();
    let users = schedules
        .iter()
        .flat_map(|s| [s.created_by.as_str(), s.last_changed_by.as_str()])
        .filter_map(|u| Uuid::parse_str(u).ok());
    let names = Names::load(&state, t.workspace_id, users.collect()).await?;
    let who = |s: &str| Uuid::parse_str(s).map_or_else(|_| s.to_owned(), |u| names.user(u));
    let now = atlas_store::now();
    let mut details = Vec::new();
    for s in &schedules {
        let spec = CronSpec::parse(&s.cron, &s.timezone, state.config.cron).ok();
        let next = if s.enabled { spec.as_ref().and_then(|c| c.next_slot_after(now)) } else { None };
        let next_in_zone = next.and_then(|n| spec.as_ref().and_then(|c| c.in_zone(n)));
        let last = match state.store.schedule_last_run(s.id).await? {
            Some(id) => match state.store.run_get(id).await {
                Ok(r) => Some(r),
                Err(atlas_store::StoreError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        details.push((next, next_in_zone, last));
    }
    let base = format!("/admin/tenants/{}/schedules", t.id);
    let body = html! {
        p { a href=(format!("/admin/tenants/{}", t.id)) { "← " (t.name) } }
        h1 { "Backup schedules · " (t.name) }
        p.sub { "Schedules belong to the workspace and run backups with system authority." }
        table {
            thead { tr { th { "When" } th { "State" } th { "Next backup" } th { "Last run" } th { "Created by" } th { "Last changed by" } th { "Actions" } } }
            tbody {
                @if schedules.is_empty() { tr { td.empty colspan="7" { "No schedules yet." } } }
                @for (s, (next, next_in_zone, last)) in schedules.iter().zip(&details) {
                    tr id=(format!("schedule-{}", s.id)) data-schedule=(s.id) {
                        td { (crate::view::cron::describe(&s.cron)) " (" (s.timezone) ")" br; code { (s.cron) } }
                        td { (if s.enabled { "enabled" } else { "disabled" }) }
                        td data-next-fire {
                            @match (next, next_in_zone) {
                                (Some(n), Some(z)) => { (z) " in " (s.timezone) br; (time::at(*n)) }
                                _ => { "—" }
                            }
                        }
                        td data-last-run {
                            @match last {
                                Some(r) => { a href=(run_url(r.id)) { (crate::view::badge::outcome(r.outcome)) } " " (time::ago(r.created_at, now)) }
                                None => { "Never ran" }
                            }
                        }
                        td { (who(&s.created_by)) ", " (time::at(s.created_at)) }
                        td { (who(&s.last_changed_by)) }
                        td {
                            @if s.enabled {
                                (form::button(&format!("{base}/{}/enabled", s.id), ctx.csrf(), "Disable", "secondary", &[("enabled", "false")]))
                            } @else {
                                (form::button(&format!("{base}/{}/enabled", s.id), ctx.csrf(), "Enable", "secondary", &[("enabled", "true")]))
                            }
                            " "
                            (form::button(&format!("{base}/{}/run", s.id), ctx.csrf(), "Run now", "", &[]))
                        }
                    }
                }
            }
        }
        h2 { "Add a schedule" }
        form.filters method="post" action=(base) {
            (form::csrf(ctx.csrf()))
            div { label for="cron" { "Cron (5 fields)" } input id="cron" type="text" name="cron" value="0 2 * * *" required; }
            div { label for="tz" { "Time zone" } input id="tz" type="text" name="timezone" value="UTC" required; }
            button type="submit" { "Add schedule" }
        }
    };
    let frame = Frame::load(&state, &ctx, "tenants").await?;
    Ok(page(&frame, "Schedules", body).into_response())
}

#[derive(Deserialize)]
pub struct AddForm {
    cron: String,
    timezone: Option<String>,
}

pub async fn add(State(state): State<AppState>, ctx: Ctx, PageForm(f): PageForm<AddForm>) -> PageResult<Response> {
    let t = ctx.tenant()?;
    let tz = f.timezone.as_deref().map(str::trim).filter(|z| !z.is_empty()).unwrap_or("UTC");
    let flash = match CronSpec::parse(f.cron.trim(), tz, state.config.cron) {
        Err(why) => Flash::error(why),
        Ok(_) => {
            state.store.schedule_add(t.id, f.cron.trim(), tz, &ctx.by()).await?;
            Flash::success("Schedule added.")
        }
    };
    flash::set(&state, &ctx, &flash).await?;
    Ok(back(&format!("/admin/tenants/{}/schedules", t.id)))
}

#[derive(Deserialize)]
pub struct EnabledForm {
    enabled: String,
    #[serde(default)]
    confirm: Option<String>,
}

pub async fn set_enabled(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    PageForm(f): PageForm<EnabledForm>,
) -> PageResult<Response> {
    let s = schedule_of(&state, &ctx, &params).await?;
    let enabled = parse_bool(&f.enabled)?;
    if !enabled {
        let list = format!("/admin/tenants/{}/schedules", s.tenant_id);
        let action = format!("{list}/{}/enabled", s.id);
        let change = atlas_core::impact::AdminChange::ScheduleDisable { schedule_id: s.id };
        let fields = [("enabled", "false")];
        if let Some(page) =
            super::confirm::step(&state, &ctx, change, f.confirm.is_some(), &action, &fields, &list).await?
        {
            return Ok(page);
        }
    }
    state.store.schedule_set_enabled(s.id, enabled, &ctx.by()).await?;
    let text = if enabled { "Schedule enabled." } else { "Schedule disabled." };
    flash::set(&state, &ctx, &Flash::success(text)).await?;
    Ok(back(&format!("/admin/tenants/{}/schedules", s.tenant_id)))
}

/// The slot "Run now" fires: the schedule's latest slot at or before now.
pub fn current_slot(state: &AppState, s: &Schedule) -> ApiResult<atlas_core::Timestamp> {
    let spec = CronSpec::parse(&s.cron, &s.timezone, state.config.cron).map_err(ApiError::Invalid)?;
    spec.slot_at_or_before(atlas_store::now())
        .ok_or_else(|| ApiError::Invalid("the schedule has no slot before now".into()))
}

pub async fn run_now(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
) -> PageResult<Response> {
    let s = schedule_of(&state, &ctx, &params).await?;
    let here = format!("/admin/tenants/{}/schedules", s.tenant_id);
    let slot = current_slot(&state, &s)?;
    match atlas_engine::schedule::fire(&state.store, &s, slot, state.engine.max_attempts).await {
        Ok(Fired::Run(inserted)) => started(&state, &ctx, Ok(*inserted), &here, "this schedule").await,
        Ok(Fired::AlreadyFired(run)) => {
            let mut f = Flash::success("This slot has already run.");
            if let Some(r) = run {
                f = f.with_link(run_url(r), "View run →");
            }
            flash::set(&state, &ctx, &f).await?;
            Ok(back(&here))
        }
        Err(e) => started(&state, &ctx, Err(e), &here, "this schedule now").await,
    }
}
