//! The console's confirmation step before a change that can affect
//! legitimacy (SPEC §10.2): the change-impact preview's sentence ("This change
//! will block 3 queued runs and the next 2 scheduled backups.") with a link to
//! each affected run and schedule, and a button that sends the same form again
//! with `confirm=1` to apply it. A change that blocks nothing applies at once.

use atlas_core::impact::{summary, AdminChange, AffectedState};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::ctx::Ctx;
use crate::error::PageResult;
use crate::query::run_url;
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::{form, time};

/// `Some(page)` when the change must be confirmed first: not yet confirmed
/// (`confirmed`), and it would block something. `fields` are the form's own
/// (re-sent on confirm); `cancel` is where "Cancel" goes.
pub async fn step(
    state: &AppState,
    ctx: &Ctx,
    change: AdminChange,
    confirmed: bool,
    action: &str,
    fields: &[(&str, &str)],
    cancel: &str,
) -> PageResult<Option<Response>> {
    if confirmed {
        return Ok(None);
    }
    let preview = atlas_engine::impact::preview(&state.store, &change, state.config.cron).await?;
    if preview.affected.is_empty() {
        return Ok(None);
    }
    let mut items = Vec::new();
    for a in &preview.affected {
        let (href, label) = match (a.run_id, a.schedule_id) {
            (Some(run), _) => (run_url(run), format!("Run {run}")),
            (None, Some(s)) => {
                let tenant = state.store.schedule_get(s).await?.tenant_id;
                (format!("/admin/tenants/{tenant}/schedules#schedule-{s}"), "Scheduled backup".to_owned())
            }
            (None, None) => continue,
        };
        items.push((href, label, a));
    }
    let mut confirm_fields: Vec<(&str, &str)> = fields.to_vec();
    confirm_fields.push(("confirm", "1"));
    let body = html! {
        h1 { "Confirm the change" }
        section.card.confirm data-confirm aria-labelledby="confirm-h" {
            p id="confirm-h" data-impact-summary { strong { (summary(&preview)) } }
            ul.affected {
                @for (href, label, a) in &items {
                    li data-affected=(match a.state {
                        AffectedState::Queued => "queued",
                        AffectedState::AwaitingApproval => "awaiting_approval",
                        AffectedState::Running => "running",
                        AffectedState::Scheduled => "scheduled",
                    }) {
                        a href=(href) { (label) }
                        @if let Some(slot) = a.slot { " at " (time::at(slot)) }
                        " — " (a.message) " " code { (a.reason_code.as_str()) }
                    }
                }
            }
            div.actions {
                (form::button(action, ctx.csrf(), "Apply the change", "danger", &confirm_fields))
                a href=(cancel) { "Cancel" }
            }
        }
    };
    let frame = Frame::load(state, ctx, "tenants").await?;
    Ok(Some(page(&frame, "Confirm the change", body).into_response()))
}
