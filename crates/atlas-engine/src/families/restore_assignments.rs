//! `restore.assignments`: restores a backup set's assignments onto the objects
//! they belong to, after their configurations exist (SPEC §5). An object that
//! is gone is skipped (restore it first); an assignment whose group no longer
//! exists is dropped with a reason, never re-pointed by guessing.

use async_trait::async_trait;
use atlas_core::item::ItemOutcome;
use atlas_core::object_type::{by_key, restore_rank};
use atlas_core::SummaryCounts;
use atlas_providers::Kind;
use atlas_store::backup::BackupItem;
use atlas_store::run_item::ItemResult;
use serde_json::{json, Value};

use super::{content_hash, tenant_of};
use crate::handler::{Checkpoint, Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct RestoreAssignments;

/// The group an assignment targets, if it targets one.
fn group_of(assignment: &Value) -> Option<&str> {
    assignment.get("target").and_then(|t| t.get("groupId")).and_then(Value::as_str)
}

/// Assignments compared without their server-assigned ids.
fn normalized(assignments: &[Value]) -> String {
    let mut targets: Vec<String> = assignments.iter().map(|a| content_hash(a.get("target").unwrap_or(a))).collect();
    targets.sort();
    targets.join(",")
}

async fn restore_one(ctx: &HandlerContext, kind: Kind, item: &BackupItem) -> Result<ItemResult, HandlerError> {
    let mapped = ctx.results.restore_map_get(kind.key, &item.object_id).await?;
    let mut target = None;
    for id in mapped.into_iter().chain(std::iter::once(item.object_id.clone())) {
        if ctx.provider.get_object(kind, &id).await?.is_some() {
            target = Some(id);
            break;
        }
    }
    let Some(target) = target else {
        return Ok(ItemResult {
            outcome: ItemOutcome::Skipped,
            reason_code: Some("configuration_missing".into()),
            error: None,
            detail: json!({"reason": "the object does not exist; restore its configuration first"}),
        });
    };
    let wanted: Vec<Value> = item.assignments.as_array().cloned().unwrap_or_default();
    let mut keep = Vec::new();
    let mut dropped = Vec::new();
    for a in wanted {
        match group_of(&a) {
            Some(group) if !ctx.provider.group_exists(group).await? => {
                dropped.push(json!({"group_id": group, "reason": "group_not_found"}));
            }
            _ => keep.push(a),
        }
    }
    let current = ctx.provider.list_assignments(kind, &target).await?;
    if normalized(&current) == normalized(&keep) {
        return Ok(ItemResult {
            outcome: ItemOutcome::Skipped,
            reason_code: Some("unchanged".into()),
            error: None,
            detail: json!({"result": "unchanged", "dropped": dropped}),
        });
    }
    ctx.provider.set_assignments(ctx.fence, kind, &target, &keep).await?;
    Ok(ItemResult {
        outcome: ItemOutcome::Succeeded,
        reason_code: None,
        error: None,
        detail: json!({"result": "updated", "assigned": keep.len(), "dropped": dropped}),
    })
}

#[async_trait]
impl Handler for RestoreAssignments {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        tenant_of(&ctx.run)?;
        let set_id = ctx
            .run
            .operation_params()
            .ok()
            .and_then(|p| p.backup_set_id())
            .ok_or_else(|| HandlerError::permanent("invalid_params", "backup_set_id is missing".into()))?;
        let mut items: Vec<BackupItem> = ctx
            .results
            .backup_items(set_id)
            .await?
            .into_iter()
            .filter(|i| by_key(&i.kind).is_some_and(|k| k.assignable()))
            .collect();
        // Assignments refer to filters: the registry's restore order.
        items.sort_by_key(|i| restore_rank(&i.kind));
        let keys: Vec<(String, Value)> = items
            .iter()
            .map(|i| {
                (i.id.to_string(), json!({"kind": i.kind, "object_id": i.object_id, "display_name": i.display_name}))
            })
            .collect();
        let run_items = super::items::resume(ctx, ctx.results.items_ensure(&keys).await?).await?;
        let mut counts = SummaryCounts { total: items.len() as u64, ..Default::default() };
        let mut failures = Vec::new();
        super::items::tally_done(&mut counts, &run_items);
        let mut checkpoint = Checkpoint::before_every_write();
        for item in &items {
            let key = item.id.to_string();
            if super::items::is_done(&run_items, &key) {
                continue;
            }
            if let Some(stop) = checkpoint.check(ctx).await? {
                return super::items::stopped(ctx, counts, stop, failures).await;
            }
            let Some(kind) = by_key(&item.kind) else { continue };
            let result = match restore_one(ctx, kind, item).await {
                Ok(r) => r,
                Err(e) if e.failure_code == "lease_lost" => return Err(e),
                Err(e) if e.failure_code == "write_refused" => {
                    if let Some(stop) = checkpoint.force(ctx).await? {
                        return super::items::stopped(ctx, counts, stop, failures).await;
                    }
                    let (failure, result) = super::items::failed(e, &item.display_name);
                    failures.push(failure);
                    result
                }
                Err(e) => {
                    let (failure, result) = super::items::failed(e, &item.display_name);
                    failures.push(failure);
                    result
                }
            };
            super::items::finish(ctx, &key, &result, &mut counts).await?;
            ctx.progress(&counts).await?;
        }
        let result = json!({"backup_set_id": set_id, "objects": counts.total, "updated": counts.succeeded});
        super::items::output(ctx, counts, result, failures).await
    }
}
