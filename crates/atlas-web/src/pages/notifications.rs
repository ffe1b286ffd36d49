//! The person's notifications, newest first: the outcome badge, one
//! sentence, and a link to the run (opening it marks it read).

use atlas_core::badge::outcome_badge;
use atlas_core::run::RunOutcome;
use atlas_store::notification::Notification;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use std::collections::HashMap;
use uuid::Uuid;

use super::{back, lower_first};
use crate::ctx::Ctx;
use crate::error::{ApiError, PageResult};
use crate::query::run_url;
use crate::state::AppState;
use crate::view::layout::{page, Frame};
use crate::view::{badge, form, time};

/// "Restore on Contoso North was blocked: the write gate of Contoso North is closed."
pub fn sentence(n: &Notification) -> String {
    let label = format!("{}: ", outcome_badge(n.outcome).label);
    let body = n.body.trim();
    let body = body.strip_prefix(&label).unwrap_or(body);
    match (n.outcome, body) {
        (_, "") => format!("{}.", n.title),
        (RunOutcome::Blocked | RunOutcome::Failed, body) => format!("{}: {}", n.title, lower_first(body)),
        (_, body) => format!("{}: {}", n.title, body),
    }
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let items = state.store.notifications_for(ctx.user.id, 100).await?;
    let now = atlas_store::now();
    let body = html! {
        h1 { "Notifications" }
        @if items.is_empty() { p.sub { "Nothing yet: you are told here when an operation you started ends." } }
        ul.notice {
            @for n in &items {
                li class=(if n.read { "read" } else { "unread" }) data-notification=(n.id) data-run=(n.run_id) {
                    (badge::outcome(n.outcome))
                    span { (sentence(n)) " " a href=(run_url(n.run_id)) { "View run" } }
                    span.when { (time::ago(n.created_at, now)) }
                    @if !n.read {
                        (form::button(&format!("/admin/notifications/{}/read", n.id), ctx.csrf(), "Mark read", "secondary", &[]))
                    }
                }
            }
        }
    };
    let frame = Frame::load(&state, &ctx, "notifications").await?;
    Ok(page(&frame, "Notifications", body).into_response())
}

pub async fn mark_read(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
) -> PageResult<Response> {
    let id = params.get("id").and_then(|s| Uuid::parse_str(s).ok()).ok_or(ApiError::NotFound)?;
    if !state.store.notification_mark_read(ctx.user.id, id).await? {
        return Err(ApiError::NotFound.into());
    }
    Ok(back("/admin/notifications"))
}
