//! What every item-processing family (restore, assignment restore, bulk)
//! shares: counting item outcomes, finishing an item under the run's lease,
//! and stopping between items with the rest blocked or cancelled (SPEC §3.6).

use atlas_core::run::Failure;
use atlas_core::SummaryCounts;
use atlas_store::run_item::ItemResult;
use serde_json::{json, Value};

use crate::handler::{HandlerContext, HandlerError, HandlerOutput, Stop};

pub fn tally(counts: &mut SummaryCounts, outcome: &str, result: Option<&str>) {
    match outcome {
        "succeeded" => counts.succeeded += 1,
        "failed" => counts.failed += 1,
        "skipped" => counts.skipped += 1,
        "blocked" => counts.blocked += 1,
        _ => {}
    }
    match result {
        Some("created") => counts.created += 1,
        Some("updated") => counts.updated += 1,
        _ => {}
    }
}

pub async fn finish(
    ctx: &HandlerContext,
    key: &str,
    result: &ItemResult,
    counts: &mut SummaryCounts,
) -> Result<(), HandlerError> {
    ctx.store.run_item_finish(ctx.run.id, ctx.fence.lease_token, key, result).await?;
    tally(counts, result.outcome, result.detail.get("result").and_then(Value::as_str));
    *counts = counts.recount();
    Ok(())
}

/// Stops between items: the rest are blocked (or cancelled), items done stay done.
pub async fn stopped(
    ctx: &HandlerContext,
    mut counts: SummaryCounts,
    stop: Stop,
    failures: Vec<Failure>,
) -> Result<HandlerOutput, HandlerError> {
    let (outcome, reason) = match &stop {
        Stop::Blocked(d) => ("blocked", d.reason_code.map(|r| r.as_str())),
        Stop::Cancelled(_) => ("cancelled", Some("cancelled")),
    };
    let rest = ctx.store.run_items_close_pending(ctx.run.id, ctx.fence.lease_token, outcome, reason).await?;
    if outcome == "blocked" {
        counts.blocked += rest;
    }
    let mut out = HandlerOutput::from_items(counts.recount(), json!({}), failures);
    out.stopped = Some(stop);
    Ok(out)
}
