//! `bulk.operation`: applies one operation type to many tenants (SPEC §3.5).
//! The orchestrator was gated with `bulk.execute` at claim; each item is gated
//! again, just before it runs, with the item operation's capability and its
//! tenant — so an entitlement revoked for one tenant blocks that item alone.
//! Items run concurrently up to a limit under the bulk run's lease and are
//! idempotent by key (the tenant id): after a rescue only unfinished items run.

use std::sync::Arc;

use async_trait::async_trait;
use atlas_core::gate::Authority;
use atlas_core::item::ItemOutcome;
use atlas_core::params::BulkParams;
use atlas_core::run::{Failure, NewRun, Run, RunOutcome};
use atlas_core::{OperationType, SummaryCounts};
use atlas_store::results::RunResults;
use atlas_store::run_item::ItemResult;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::handler::{Checkpoint, Handler, HandlerContext, HandlerError, HandlerOutput, Registry};
use crate::provider::Providers;

/// Items executed at once.
const ITEM_CONCURRENCY: usize = 4;
/// Attempts per item for retryable failures.
const ITEM_ATTEMPTS: u32 = 3;

pub struct Bulk {
    /// The non-bulk families the items run.
    pub items: Registry,
}

/// The run an item would be if started on its own: the gate and the item's
/// handler see exactly that.
fn item_run(bulk: &Run, op: OperationType, tenant_id: Uuid) -> Result<Run, HandlerError> {
    let user_id = bulk
        .initiator_user_id
        .ok_or_else(|| HandlerError::permanent("invalid_context", "a bulk run has an initiator".into()))?;
    let new = NewRun {
        op_type: op,
        workspace_id: bulk.workspace_id,
        tenant_id: Some(tenant_id),
        authority: Authority::Actor { user_id },
        params: json!({}),
        retry_of_run_id: None,
        max_attempts: 1,
    };
    let (mut run, _) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
    run.attempt = bulk.attempt;
    run.lease = bulk.lease.clone();
    Ok(run)
}

struct ItemJob {
    /// The bulk run's results handle: item writes are fenced by its lease.
    results: RunResults,
    providers: Providers,
    items: Registry,
    bulk: Run,
    fence: atlas_providers::WriteFence,
    op: OperationType,
    tenant_id: Uuid,
    reevaluate_interval: std::time::Duration,
}

impl ItemJob {
    async fn run(self) -> Result<(String, ItemResult), HandlerError> {
        let key = self.tenant_id.to_string();
        let item = item_run(&self.bulk, self.op, self.tenant_id)?;
        let decision = self.results.decide_now(&item).await?;
        if !decision.allowed {
            let reason = decision.reason_code.map(|r| r.as_str().to_owned());
            return Ok((
                key,
                ItemResult {
                    outcome: ItemOutcome::Blocked,
                    reason_code: reason,
                    error: None,
                    detail: json!({"decision": decision}),
                },
            ));
        }
        let Some(handler) = self.items.get(self.op) else {
            return Err(HandlerError::permanent("no_handler", format!("no handler for {}", self.op)));
        };
        let mut last = None;
        let results = self.results.for_item(&item)?;
        for attempt in 1..=ITEM_ATTEMPTS {
            let provider = self.providers.for_run(&item).await?;
            let ctx = HandlerContext {
                run: item.clone(),
                provider,
                fence: self.fence,
                results: results.clone(),
                providers: self.providers.clone(),
                reevaluate_interval: self.reevaluate_interval,
            };
            match handler.execute(&ctx).await {
                Ok(out) if out.outcome == RunOutcome::Succeeded => {
                    return Ok((
                        key,
                        ItemResult {
                            outcome: ItemOutcome::Succeeded,
                            reason_code: None,
                            error: None,
                            detail: json!({"result": out.result}),
                        },
                    ));
                }
                Ok(out) => {
                    let why =
                        out.failures.first().map(|f| f.message.clone()).unwrap_or_else(|| out.outcome.as_str().into());
                    return Ok((
                        key,
                        ItemResult {
                            outcome: ItemOutcome::Failed,
                            reason_code: Some(out.outcome.as_str().into()),
                            error: Some(why),
                            detail: json!({"result": out.result}),
                        },
                    ));
                }
                Err(e) if e.failure_code == "lease_lost" => return Err(e),
                Err(e) if e.retryable && attempt < ITEM_ATTEMPTS => {
                    tokio::time::sleep(item_backoff(attempt, e.retry_after_ms)).await;
                    last = Some(e);
                }
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        let e = last.unwrap_or_else(|| HandlerError::permanent("item_failed", "the item failed".into()));
        Ok((key, super::items::failed(e, "").1))
    }
}

#[async_trait]
impl Handler for Bulk {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        let params = ctx.run.operation_params().ok();
        let Some(BulkParams { operation: op, tenant_ids: tenants }) = params.as_ref().and_then(|p| p.bulk()).cloned()
        else {
            return Err(HandlerError::permanent("invalid_params", "operation is missing".into()));
        };
        let keys: Vec<(String, serde_json::Value)> =
            tenants.iter().map(|t| (t.to_string(), json!({"tenant_id": t, "operation": op}))).collect();
        let items = super::items::resume(ctx, ctx.results.items_ensure(&keys).await?).await?;
        let mut counts = SummaryCounts { total: tenants.len() as u64, ..Default::default() };
        super::items::tally_done(&mut counts, &items);
        let pending: Vec<Uuid> = tenants
            .iter()
            .copied()
            .filter(|t| {
                let key = t.to_string();
                items.iter().any(|i| i.item_key == key) && !super::items::is_done(&items, &key)
            })
            .collect();
        let mut failures: Vec<Failure> = Vec::new();
        let mut checkpoint = Checkpoint::new();
        let mut running: JoinSet<Result<(String, ItemResult), HandlerError>> = JoinSet::new();
        let mut queue = pending.into_iter();
        loop {
            while running.len() < ITEM_CONCURRENCY {
                let Some(tenant_id) = queue.next() else { break };
                if let Some(stop) = checkpoint.check(ctx).await? {
                    while let Some(done) = running.join_next().await {
                        record(ctx, done, &mut counts, &mut failures).await?;
                    }
                    return super::items::stopped(ctx, counts, stop, failures).await;
                }
                running.spawn(
                    ItemJob {
                        results: ctx.results.clone(),
                        providers: ctx.providers.clone(),
                        items: self.items.clone(),
                        bulk: ctx.run.clone(),
                        fence: ctx.fence,
                        op,
                        tenant_id,
                        reevaluate_interval: ctx.reevaluate_interval,
                    }
                    .run(),
                );
            }
            let Some(done) = running.join_next().await else { break };
            record(ctx, done, &mut counts, &mut failures).await?;
            ctx.progress(&counts).await?;
        }
        let result = json!({"operation": op, "tenants": tenants.len()});
        super::items::output(ctx, counts, result, failures).await
    }
}

async fn record(
    ctx: &HandlerContext,
    done: Result<Result<(String, ItemResult), HandlerError>, tokio::task::JoinError>,
    counts: &mut SummaryCounts,
    failures: &mut Vec<Failure>,
) -> Result<(), HandlerError> {
    let (key, result) = done.map_err(|e| HandlerError::permanent("item_panicked", e.to_string()))??;
    if let Some(err) = &result.error {
        failures.push(Failure {
            code: result.reason_code.clone().unwrap_or_else(|| "item_failed".into()),
            message: format!("tenant {key}: {err}"),
        });
    }
    super::items::finish(ctx, &key, &result, counts).await
}

/// How long an item waits before retrying a retryable failure: the
/// provider's Retry-After when it gave one, else 200 ms doubling; at most 30 s.
fn item_backoff(attempt: u32, retry_after_ms: Option<u64>) -> std::time::Duration {
    let wait = retry_after_ms.unwrap_or(100 << attempt).min(30_000);
    std::time::Duration::from_millis(wait)
}

/// The bulk family over every other registered family.
pub fn bulk(items: &Registry) -> Arc<Bulk> {
    Arc::new(Bulk { items: items.clone() })
}
