//! `restore.execute`: writes a backup set's objects back to the tenant, one run
//! item per object (SPEC §5's restore rules): match by the stored object id (or
//! the id a previous restore re-created it under), update in place when it
//! exists, create it when it is gone, never a duplicate, no guessing by name.
//! With `dry_run` it records the plan and writes nothing. Between items it
//! honors cancels and re-asks the gate (SPEC §3.6).

use std::time::Duration;

use async_trait::async_trait;
use atlas_core::item::ItemOutcome;
use atlas_core::params::{OperationParams, RestoreParams};
use atlas_core::run::Failure;
use atlas_core::SummaryCounts;
use atlas_providers::{ObjectKind, ProviderError, RemoteObject, UpdateOutcome};
use atlas_store::backup::BackupItem;
use atlas_store::run_item::ItemResult;
use serde_json::{json, Value};

use super::{comparable, content_hash, tenant_of};
use crate::handler::{Checkpoint, Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct RestoreExecute;

/// What restoring one item does.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    Create,
    Update { target_id: String },
    Unchanged { target_id: String },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update { .. } => "update",
            Action::Unchanged { .. } => "unchanged",
        }
    }
}

/// Retries a throttled or unavailable provider call a few times within the item,
/// honoring Retry-After; other errors return at once.
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(e) if e.retryable() && tries < 3 => {
                let wait = match e {
                    ProviderError::Throttled { retry_after_ms } => retry_after_ms,
                    _ => 100 << tries,
                };
                tries += 1;
                tokio::time::sleep(Duration::from_millis(wait.min(30_000))).await;
            }
            other => return other,
        }
    }
}

async fn plan(ctx: &HandlerContext, kind: ObjectKind, item: &BackupItem) -> Result<Action, HandlerError> {
    let mapped = ctx.results.restore_map_get(kind.as_str(), &item.object_id).await?;
    let candidates = mapped.into_iter().chain(std::iter::once(item.object_id.clone()));
    for target_id in candidates {
        let live = patiently(|| ctx.provider.get_object(kind, &target_id)).await?;
        if let Some(live) = live {
            let same = content_hash(&comparable(&live.payload)) == content_hash(&comparable(&item.payload));
            return Ok(if same { Action::Unchanged { target_id } } else { Action::Update { target_id } });
        }
    }
    Ok(Action::Create)
}

async fn create(ctx: &HandlerContext, kind: ObjectKind, item: &BackupItem) -> Result<RemoteObject, HandlerError> {
    let payload = comparable(&item.payload);
    let created = patiently(|| ctx.provider.create_object(ctx.fence, kind, &payload)).await?;
    ctx.results.restore_map_put(kind.as_str(), &item.object_id, &created.id).await?;
    Ok(created)
}

/// Applies an item's action; returns whether it created (else updated or unchanged).
async fn apply(
    ctx: &HandlerContext,
    kind: ObjectKind,
    item: &BackupItem,
    action: &Action,
) -> Result<&'static str, HandlerError> {
    match action {
        Action::Unchanged { .. } => Ok("unchanged"),
        Action::Create => create(ctx, kind, item).await.map(|_| "created"),
        Action::Update { target_id } => {
            let payload = comparable(&item.payload);
            match patiently(|| ctx.provider.update_object(ctx.fence, kind, target_id, &payload)).await? {
                UpdateOutcome::Updated(_) => Ok("updated"),
                // Deleted since we looked: re-create it.
                UpdateOutcome::Gone => create(ctx, kind, item).await.map(|_| "created"),
            }
        }
    }
}

#[async_trait]
impl Handler for RestoreExecute {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        tenant_of(&ctx.run)?;
        let Ok(OperationParams::RestoreExecute(RestoreParams { backup_set_id: set_id, dry_run, item_ids })) =
            ctx.run.operation_params()
        else {
            return Err(HandlerError::permanent("invalid_params", "backup_set_id is missing".into()));
        };
        let mut items = ctx.results.backup_items(set_id).await?;
        if let Some(ids) = &item_ids {
            items.retain(|i| ids.contains(&i.id));
        }
        let keys: Vec<(String, Value)> = items
            .iter()
            .map(|i| {
                (i.id.to_string(), json!({"kind": i.kind, "object_id": i.object_id, "display_name": i.display_name}))
            })
            .collect();
        let run_items = ctx.results.items_ensure(&keys).await?;

        let mut counts = SummaryCounts { total: items.len() as u64, ..Default::default() };
        let mut failures = Vec::new();
        let mut plan_rows = Vec::new();
        // Items a rescued earlier attempt finished stay finished.
        super::items::tally_done(&mut counts, &run_items);
        let mut checkpoint = Checkpoint::new();
        for item in &items {
            let key = item.id.to_string();
            if super::items::is_done(&run_items, &key) {
                continue;
            }
            if !dry_run {
                if let Some(stop) = checkpoint.check(ctx).await? {
                    return super::items::stopped(ctx, counts, stop, failures).await;
                }
            }
            let Some(kind) = ObjectKind::parse(&item.kind) else {
                let result = ItemResult {
                    outcome: ItemOutcome::Failed,
                    reason_code: None,
                    error: Some(format!("unknown object kind {}", item.kind)),
                    detail: json!({}),
                };
                super::items::finish(ctx, &key, &result, &mut counts).await?;
                continue;
            };
            let outcome = match plan(ctx, kind, item).await {
                Ok(action) if dry_run => {
                    plan_rows.push(json!({"item_id": key, "kind": item.kind, "object_id": item.object_id,
                        "display_name": item.display_name, "action": action.name()}));
                    ItemResult {
                        outcome: ItemOutcome::Skipped,
                        reason_code: Some("dry_run".into()),
                        error: None,
                        detail: json!({"action": action.name()}),
                    }
                }
                Ok(action) => match apply(ctx, kind, item, &action).await {
                    Ok("unchanged") => ItemResult {
                        outcome: ItemOutcome::Skipped,
                        reason_code: Some("unchanged".into()),
                        error: None,
                        detail: json!({"action": "unchanged", "result": "unchanged"}),
                    },
                    Ok(done) => ItemResult {
                        outcome: ItemOutcome::Succeeded,
                        reason_code: None,
                        error: None,
                        detail: json!({"action": action.name(), "result": done}),
                    },
                    Err(e) if e.failure_code == "write_refused" => {
                        // The tenant refused the write for legitimacy: stop here.
                        if let Some(stop) = checkpoint.force(ctx).await? {
                            return super::items::stopped(ctx, counts, stop, failures).await;
                        }
                        item_failure(e, &mut failures, item)?
                    }
                    Err(e) => item_failure(e, &mut failures, item)?,
                },
                Err(e) => item_failure(e, &mut failures, item)?,
            };
            super::items::finish(ctx, &key, &outcome, &mut counts).await?;
            ctx.progress(&counts).await?;
        }
        let summary = |a: &str| plan_rows.iter().filter(|r| r.get("action").and_then(Value::as_str) == Some(a)).count();
        let result = if dry_run {
            json!({"dry_run": true, "backup_set_id": set_id, "plan": plan_rows,
                   "plan_summary": {"create": summary("create"), "update": summary("update"), "unchanged": summary("unchanged")}})
        } else {
            json!({"dry_run": false, "backup_set_id": set_id, "created": counts.created, "updated": counts.updated})
        };
        Ok(HandlerOutput::from_items(counts.recount(), result, failures))
    }
}

/// A lost lease ends the handler; any other error fails just this item.
fn item_failure(e: HandlerError, failures: &mut Vec<Failure>, item: &BackupItem) -> Result<ItemResult, HandlerError> {
    if e.failure_code == "lease_lost" {
        return Err(e);
    }
    failures.push(Failure { code: e.failure_code.clone(), message: format!("{}: {}", item.display_name, e.message) });
    Ok(ItemResult {
        outcome: ItemOutcome::Failed,
        reason_code: Some(e.failure_code.clone()),
        error: Some(e.message),
        detail: json!({}),
    })
}
