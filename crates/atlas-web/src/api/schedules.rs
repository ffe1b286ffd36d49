//! A tenant's backup schedules, mirroring `atlas schedules`.

use std::collections::HashMap;

use atlas_core::value::TimeZone;
use atlas_core::Timestamp;
use atlas_engine::schedule::CronSpec;
use atlas_store::schedule::Fired;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::{ApiJson, OptionalJson};
use super::operations::started;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::pages::schedules::{current_slot, schedule_of};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let t = ctx.tenant()?;
    let data: Vec<_> =
        state.store.schedule_list(Some(t.workspace_id)).await?.into_iter().filter(|s| s.tenant_id == t.id).collect();
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    cron: String,
    /// Absent: UTC. Present, it must be a zone (`""` is refused, as in the CLI).
    timezone: Option<TimeZone>,
}

pub async fn add(State(state): State<AppState>, ctx: Ctx, ApiJson(b): ApiJson<AddBody>) -> ApiResult<Response> {
    let tz = b.timezone.unwrap_or_else(TimeZone::utc);
    CronSpec::parse(&b.cron, tz.as_str(), state.config.cron).map_err(ApiError::Invalid)?;
    let s = state.store.schedule_add(ctx.tenant()?.id, &b.cron, tz.as_str(), &ctx.by()).await?;
    Ok((StatusCode::CREATED, Json(json!(s))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnabledBody {
    enabled: bool,
}

pub async fn set_enabled(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    ApiJson(b): ApiJson<EnabledBody>,
) -> ApiResult<Json<Value>> {
    let s = schedule_of(&state, &ctx, &params).await?;
    if super::impact::wanted(raw.as_deref())? {
        if b.enabled {
            return Err(ApiError::Invalid("a preview is of disabling the schedule: send {\"enabled\": false}".into()));
        }
        let change = atlas_core::impact::AdminChange::ScheduleDisable { schedule_id: s.id };
        return super::impact::answer(&state, change).await;
    }
    let s = state.store.schedule_set_enabled(s.id, b.enabled, &ctx.by()).await?;
    Ok(Json(json!(s)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FireBody {
    slot: Option<String>,
}

/// Fires a slot now (default: the current one), as `atlas schedules fire`.
pub async fn fire(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(params): Path<HashMap<String, String>>,
    OptionalJson(b): OptionalJson<FireBody>,
) -> ApiResult<Response> {
    let s = schedule_of(&state, &ctx, &params).await?;
    let slot = match b.slot {
        Some(text) => Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| ApiError::Invalid(format!("`{text}` is not an RFC 3339 time")))?,
        None => current_slot(&state, &s)?,
    };
    match atlas_engine::schedule::fire(&state.store, &s, slot, state.engine.max_attempts).await? {
        Fired::Run(ins) => Ok(started(&ctx, &ins)),
        Fired::AlreadyFired(_) => Err(ApiError::Conflict("that schedule slot has already fired".into())),
    }
}
