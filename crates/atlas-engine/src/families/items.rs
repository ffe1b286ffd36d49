//! What every item-processing family (restore, assignment restore, bulk)
//! shares: counting item outcomes, finishing an item under the run's lease,
//! and stopping between items with the rest blocked or cancelled (SPEC §3.6).

use atlas_core::item::{ItemOutcome, ItemStatus};
use atlas_core::run::Failure;
use atlas_core::SummaryCounts;
use atlas_store::run_item::{ItemResult, RunItem};
use serde_json::{json, Value};

use crate::handler::{HandlerContext, HandlerError, HandlerOutput, Stop};

/// Whether an earlier attempt (before a rescue) already finished the item.
pub fn is_done(items: &[RunItem], key: &str) -> bool {
    items.iter().any(|i| i.item_key == key && i.status == ItemStatus::Completed)
}

/// Counts the items an earlier attempt finished.
pub fn tally_done(counts: &mut SummaryCounts, items: &[RunItem]) {
    for done in items.iter().filter(|i| i.status == ItemStatus::Completed) {
        done.outcome.tally(counts, done.detail.get("result").and_then(Value::as_str));
    }
}

pub async fn finish(
    ctx: &HandlerContext,
    key: &str,
    result: &ItemResult,
    counts: &mut SummaryCounts,
) -> Result<(), HandlerError> {
    ctx.results.item_finish(key, result).await?;
    result.outcome.tally(counts, result.detail.get("result").and_then(Value::as_str));
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
        Stop::Blocked(d) => (ItemOutcome::Blocked, d.reason_code.map(|r| r.as_str())),
        Stop::Cancelled(_) => (ItemOutcome::Cancelled, Some("cancelled")),
    };
    let rest = ctx.results.items_close_pending(outcome, reason).await?;
    if outcome == ItemOutcome::Blocked {
        counts.blocked += rest;
    }
    let mut out = HandlerOutput::from_items(counts.recount(), json!({}), failures);
    out.stopped = Some(stop);
    Ok(out)
}
