//! Operations: start (per tenant, and bulk per workspace), list, show,
//! cancel, retry, approve and reject (SPEC §10.2). Answers carry the run's JSON with `actions`; a start adds
//! `url` (absolute when the request named its host) and `deduplicated` (202
//! when new, 200 when deduplicated).

use atlas_core::OperationType;
use atlas_engine::{service, StartRequest};
use atlas_store::run::Inserted;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::{ApiJson, OptionalJson};
use crate::bulk;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::query::{parse_query, run_json, run_page, RunListQuery};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    #[serde(rename = "type")]
    op_type: String,
    #[serde(default)]
    params: Value,
}

fn parse_type(s: &str) -> ApiResult<OperationType> {
    OperationType::parse(s)
        .ok_or_else(|| ApiError::Invalid(format!("unknown operation type {}", atlas_core::value::quoted(s))))
}

/// The answer to a start: 202 with the new run, or 200 with the active one.
pub fn started(ctx: &Ctx, ins: &Inserted) -> Response {
    let mut v = run_json(ctx, &ins.run);
    if let Value::Object(m) = &mut v {
        m.insert("url".into(), json!(ctx.run_url(ins.run.id)));
        m.insert("deduplicated".into(), json!(ins.deduplicated));
    }
    let status = if ins.deduplicated { StatusCode::OK } else { StatusCode::ACCEPTED };
    (status, Json(v)).into_response()
}

pub async fn start(State(state): State<AppState>, ctx: Ctx, ApiJson(body): ApiJson<StartBody>) -> ApiResult<Response> {
    let tenant = ctx.tenant()?;
    let op_type = parse_type(&body.op_type)?;
    if op_type == OperationType::BulkOperation {
        return Err(ApiError::Invalid("a bulk operation starts at /api/v1/workspaces/{workspace}/operations".into()));
    }
    let req = StartRequest {
        user_id: ctx.user.id,
        workspace_id: tenant.workspace_id,
        tenant_id: Some(tenant.id),
        op_type,
        params: body.params,
        retry_of_run_id: None,
        max_attempts: state.engine.max_attempts,
    };
    let ins = service::start(&state.store, req).await?;
    Ok(started(&ctx, &ins))
}

/// A bulk run over tenants of the workspace: every tenant must exist in it
/// and be in the starter's scope (404 otherwise), like any object.
pub async fn start_bulk(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(body): ApiJson<StartBody>,
) -> ApiResult<Response> {
    let op_type = parse_type(&body.op_type)?;
    if op_type != OperationType::BulkOperation {
        return Err(ApiError::Invalid(format!(
            "this endpoint starts bulk.operation runs; start {op_type} at /api/v1/tenants/{{tenant}}/operations"
        )));
    }
    let req = bulk::request(&state, &ctx, &body.params).await?;
    let ins = service::start(&state.store, req).await?;
    Ok(started(&ctx, &ins))
}

pub async fn list(State(state): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> ApiResult<Json<Value>> {
    let q: RunListQuery = parse_query(raw.as_deref())?;
    let (runs, next) = run_page(&state, q.filter(&ctx, 50)?).await?;
    let data: Vec<Value> = runs.iter().map(|r| run_json(&ctx, r)).collect();
    Ok(Json(json!({"data": data, "next_cursor": next})))
}

/// The run with its items (`atlas runs show --json`'s shape): a restore's
/// items say what was done to each object (`action`, its `changes`, skipped
/// assignments), as its preview's plan did.
pub async fn show(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let run = ctx.run()?;
    let mut doc = run_json(&ctx, run);
    let items = state.store.run_items(run.id).await?;
    if let Value::Object(m) = &mut doc {
        m.insert("items".into(), json!(items));
    }
    Ok(Json(doc))
}

pub async fn cancel(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let run = service::cancel(&state.store, ctx.run()?.id, ctx.user.id).await?;
    Ok(Json(run_json(&ctx, &run)))
}

pub async fn retry(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Response> {
    let ins = service::retry(&state.store, ctx.run()?.id, ctx.user.id, state.engine.max_attempts).await?;
    Ok(started(&ctx, &ins))
}

/// Approves a run awaiting approval: another member than its initiator, with
/// its capability and tenants (403 otherwise; 409 when it awaits none).
pub async fn approve(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let run = service::approve(&state.store, ctx.run()?.id, ctx.user.id).await?;
    Ok(Json(run_json(&ctx, &run)))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    #[serde(default)]
    reason: Option<String>,
}

/// Rejects a run awaiting approval: it completes blocked `approval_rejected`.
pub async fn reject(
    State(state): State<AppState>,
    ctx: Ctx,
    OptionalJson(body): OptionalJson<RejectBody>,
) -> ApiResult<Json<Value>> {
    let run = service::reject(&state.store, ctx.run()?.id, ctx.user.id, body.reason).await?;
    Ok(Json(run_json(&ctx, &run)))
}
