//! What every item-processing family (restore, assignment restore, bulk)
//! shares: counting item outcomes, finishing an item under the run's lease,
//! stopping between items with the rest blocked or cancelled (SPEC §3.6), and
//! items that failed retryably, which the run's next attempt runs again
//! (SPEC §3.5).

use atlas_core::item::{ItemOutcome, ItemStatus};
use atlas_core::run::{Failure, ItemFailures};
use atlas_core::SummaryCounts;
use atlas_store::run_item::{ItemResult, RunItem};
use serde_json::{json, Value};

use crate::handler::{HandlerContext, HandlerError, HandlerOutput, Stop};

/// The member of a failed item's detail that says another attempt may succeed.
const RETRYABLE: &str = "retryable";

fn failed_retryably(item: &RunItem) -> bool {
    item.outcome == ItemOutcome::Failed && item.detail.get(RETRYABLE).and_then(Value::as_bool) == Some(true)
}

/// Whether an earlier attempt (before a rescue or a retry) already finished the item.
pub fn is_done(items: &[RunItem], key: &str) -> bool {
    items.iter().any(|i| i.item_key == key && i.status == ItemStatus::Completed)
}

/// The start of an attempt: the items an earlier attempt failed retryably go
/// back to `pending`, so this attempt runs them — and only them — again
/// with what the earlier attempts left unfinished. Returns the items as they
/// now stand.
pub async fn resume(ctx: &HandlerContext, items: Vec<RunItem>) -> Result<Vec<RunItem>, HandlerError> {
    let again: Vec<String> = items
        .iter()
        .filter(|i| i.status == ItemStatus::Completed && failed_retryably(i))
        .map(|i| i.item_key.clone())
        .collect();
    if again.is_empty() {
        return Ok(items);
    }
    ctx.results.items_reopen(&again).await?;
    Ok(ctx.results.items().await?)
}

/// A failed item: its line in the run's failures, and its result, which
/// records whether the failure was retryable.
pub fn failed(e: HandlerError, label: &str) -> (Failure, ItemResult) {
    let failure = Failure { code: e.failure_code.clone(), message: format!("{label}: {}", e.message) };
    let result = ItemResult {
        outcome: ItemOutcome::Failed,
        reason_code: Some(e.failure_code),
        error: Some(e.message),
        detail: json!({ RETRYABLE: e.retryable }),
    };
    (failure, result)
}

/// The end of an attempt that went through its items: the outcome from the
/// counts, and whether every failed item of the run failed retryably (then
/// the executor gives the run another attempt while attempts are left).
pub async fn output(
    ctx: &HandlerContext,
    counts: SummaryCounts,
    result: Value,
    failures: Vec<Failure>,
) -> Result<HandlerOutput, HandlerError> {
    let mut out = HandlerOutput::from_items(counts.recount(), result, failures);
    if counts.failed > 0 {
        let items = ctx.results.items().await?;
        let failed = items.iter().filter(|i| i.outcome == ItemOutcome::Failed);
        out.item_failures = ItemFailures {
            failed: failed.clone().count() as u64,
            retryable: failed.filter(|i| failed_retryably(i)).count() as u64,
        };
    }
    Ok(out)
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
