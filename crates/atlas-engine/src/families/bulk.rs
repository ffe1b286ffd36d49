//! `bulk.operation`: applies one operation type to many tenants (SPEC §3.5).
//! The orchestrator was gated with `bulk.execute` at claim; each item is gated
//! again, just before it runs, with the item operation's capability and its
//! tenant — so an entitlement revoked for one tenant blocks that item alone.
//! Items run concurrently up to a limit under the bulk run's lease and are
//! idempotent by key (the tenant id): after a rescue only unfinished items run.

use std::sync::Arc;

use async_trait::async_trait;
use atlas_core::gate::Authority;
use atlas_core::run::{Failure, NewRun, Run, RunOutcome};
use atlas_core::{OperationType, SummaryCounts};
use atlas_store::run_item::ItemResult;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::provider_for;
use crate::handler::{Checkpoint, Handler, HandlerContext, HandlerError, HandlerOutput, Registry};

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
    store: atlas_store::Store,
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
        let decision = self.store.run_decide_now(&item, self.bulk.attempt).await?;
        if !decision.allowed {
            let reason = decision.reason_code.map(|r| r.as_str().to_owned());
            return Ok((
                key,
                ItemResult {
                    outcome: "blocked",
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
        for attempt in 1..=ITEM_ATTEMPTS {
            let provider = provider_for(&self.store, &item).await?;
            let ctx = HandlerContext {
                run: item.clone(),
                provider,
                fence: self.fence,
                store: self.store.clone(),
                reevaluate_interval: self.reevaluate_interval,
            };
            match handler.execute(&ctx).await {
                Ok(out) if out.outcome == RunOutcome::Succeeded => {
                    return Ok((
                        key,
                        ItemResult {
                            outcome: "succeeded",
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
                            outcome: "failed",
                            reason_code: Some(out.outcome.as_str().into()),
                            error: Some(why),
                            detail: json!({"result": out.result}),
                        },
                    ));
                }
                Err(e) if e.failure_code == "lease_lost" => return Err(e),
                Err(e) if e.retryable && attempt < ITEM_ATTEMPTS => {
                    let wait = e.retry_after_ms.unwrap_or(100 << attempt).min(30_000);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                    last = Some(e);
                }
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        let e = last.unwrap_or_else(|| HandlerError::permanent("item_failed", "the item failed".into()));
        Ok((
            key,
            ItemResult {
                outcome: "failed",
                reason_code: Some(e.failure_code.clone()),
                error: Some(e.message),
                detail: json!({}),
            },
        ))
    }
}

#[async_trait]
impl Handler for Bulk {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        let params = &ctx.run.params;
        let op = params
            .get("operation")
            .and_then(Value::as_str)
            .and_then(OperationType::parse)
            .ok_or_else(|| HandlerError::permanent("invalid_params", "operation is missing".into()))?;
        let tenants: Vec<Uuid> = params
            .get("tenant_ids")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(|i| i.as_str().and_then(|s| Uuid::parse_str(s).ok())).collect())
            .unwrap_or_default();
        let keys: Vec<(String, Value)> =
            tenants.iter().map(|t| (t.to_string(), json!({"tenant_id": t, "operation": op}))).collect();
        let items = ctx.store.run_items_ensure(ctx.run.id, ctx.fence.lease_token, &keys).await?;
        let mut counts = SummaryCounts { total: tenants.len() as u64, ..Default::default() };
        for done in items.iter().filter(|i| i.status == "completed") {
            super::items::tally(&mut counts, &done.outcome, None);
        }
        let pending: Vec<Uuid> = tenants
            .iter()
            .copied()
            .filter(|t| items.iter().any(|i| i.item_key == t.to_string() && i.status == "pending"))
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
                        store: ctx.store.clone(),
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
        Ok(HandlerOutput::from_items(counts.recount(), result, failures))
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

/// The bulk family over every other registered family.
pub fn bulk(items: &Registry) -> Arc<Bulk> {
    Arc::new(Bulk { items: items.clone() })
}
