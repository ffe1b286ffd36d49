//! `restore.execute`: writes a backup set's objects back to the tenant, one run
//! item per object, in the registry's restore order (scope tags and filters
//! before the policies that refer to them). SPEC §5's restore rules: match by
//! the stored object id (or the id a previous restore re-created it under),
//! then — when that id is gone — by the type's secondary key (`displayName`
//! and `@odata.type`, …) if exactly one live object and one backed-up object
//! have it; update in place when found, create when gone, never a duplicate.
//! An update makes the object equal its backup (`ObjectType::update_body`:
//! members the backup lacks are cleared). Types the registry marks read-only
//! are compared, never written (`skipped`, `not_restorable`). With `dry_run`
//! it records the plan and writes nothing. Between items it honors cancels
//! and re-asks the gate (SPEC §3.6).

use std::collections::HashMap;

use async_trait::async_trait;
use atlas_core::diff::diff_objects;
use atlas_core::item::ItemOutcome;
use atlas_core::object_type::{by_key, restore_rank};
use atlas_core::params::{OperationParams, RestoreParams};
use atlas_core::run::Failure;
use atlas_core::SummaryCounts;
use atlas_providers::{Kind, RemoteObject, UpdateOutcome};
use atlas_store::backup::BackupItem;
use atlas_store::run_item::ItemResult;
use serde_json::{json, Value};

use super::{content_hash, tenant_of};
use crate::handler::{Checkpoint, Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct RestoreExecute;

/// What restoring one item does.
#[derive(Clone, Debug, PartialEq)]
enum Action {
    Create,
    /// `live` is the object as found; `matched_by_name` when found by the secondary key.
    Update {
        target_id: String,
        live: Value,
        matched_by_name: bool,
    },
    Unchanged {
        target_id: String,
    },
    Skipped {
        reason_code: &'static str,
        reason: String,
    },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update { .. } => "update",
            Action::Unchanged { .. } => "unchanged",
            Action::Skipped { .. } => "skipped",
        }
    }
}

/// What an item's plan says beyond its action: for an update, the
/// setting-level changes that turn the live object into its backup (SPEC
/// §10.1's `changes`); for a skip, why.
fn plan_detail(kind: Kind, item: &BackupItem, action: &Action) -> Value {
    let mut detail = json!({"action": action.name()});
    match action {
        Action::Update { live, .. } => {
            detail["changes"] = json!(diff_objects(kind, live, &item.payload));
        }
        Action::Skipped { reason_code, reason } => {
            detail["reason_code"] = json!(reason_code);
            detail["reason"] = json!(reason);
        }
        Action::Create | Action::Unchanged { .. } => {}
    }
    detail
}

/// The item's assignments whose group no longer exists, each `skipped` with
/// its reason: an assignment restore drops them rather than guess (SPEC §5),
/// and the plan says so before anything is written. `known` caches the
/// groups asked about in this run.
async fn skipped_assignments(
    ctx: &HandlerContext,
    item: &BackupItem,
    known: &mut HashMap<String, bool>,
) -> Result<Vec<Value>, HandlerError> {
    let mut out = Vec::new();
    for a in item.assignments.as_array().into_iter().flatten() {
        let Some(group) = a.get("target").and_then(|t| t.get("groupId")).and_then(Value::as_str) else { continue };
        let exists = match known.get(group) {
            Some(e) => *e,
            None => {
                let e = ctx.provider.group_exists(group).await?;
                known.insert(group.to_owned(), e);
                e
            }
        };
        if !exists {
            out.push(json!({
                "group_id": group,
                "action": "skipped",
                "reason_code": "group_not_found",
                "reason": format!("group {group} no longer exists; its assignment is not restored"),
            }));
        }
    }
    Ok(out)
}

/// The live objects of each type, read once per run when a secondary match needs them.
#[derive(Default)]
struct Live {
    by_type: HashMap<&'static str, Vec<RemoteObject>>,
}

fn same_content(kind: Kind, a: &Value, b: &Value) -> bool {
    content_hash(&kind.comparable(a)) == content_hash(&kind.comparable(b))
}

/// Found: unchanged, or an update (a read-only type is skipped instead).
fn found(kind: Kind, item: &BackupItem, target_id: String, live: Value, matched_by_name: bool) -> Action {
    if same_content(kind, &live, &item.payload) {
        Action::Unchanged { target_id }
    } else if let Some(reason) = kind.read_only_reason() {
        Action::Skipped { reason_code: "not_restorable", reason: format!("{} are not restored: {reason}", kind.label) }
    } else {
        Action::Update { target_id, live, matched_by_name }
    }
}

/// `unique_keys`: the secondary keys that only one item of the backup set has.
async fn plan(
    ctx: &HandlerContext,
    kind: Kind,
    item: &BackupItem,
    unique_keys: &HashMap<(String, String), usize>,
    live: &mut Live,
) -> Result<Action, HandlerError> {
    let mapped = ctx.results.restore_map_get(kind.key, &item.object_id).await?;
    let candidates = mapped.into_iter().chain(std::iter::once(item.object_id.clone()));
    for target_id in candidates {
        if let Some(o) = ctx.provider.get_object(kind, &target_id).await? {
            return Ok(found(kind, item, target_id, o.payload, false));
        }
    }
    // The id is gone: the secondary key, if it names one object on each side.
    if let Some(key) = kind.secondary_key(&item.payload) {
        if unique_keys.get(&(kind.key.to_owned(), key.clone())) == Some(&1) {
            if !live.by_type.contains_key(kind.key) {
                let objects = ctx.provider.list_objects(kind).await?;
                live.by_type.insert(kind.key, objects);
            }
            let same_key: Vec<&RemoteObject> = live.by_type[kind.key]
                .iter()
                .filter(|o| kind.secondary_key(&o.payload).as_ref() == Some(&key))
                .collect();
            match same_key.as_slice() {
                [o] => return Ok(found(kind, item, o.id.clone(), o.payload.clone(), true)),
                [] => {}
                several => {
                    return Ok(Action::Skipped {
                        reason_code: "ambiguous_match",
                        reason: format!(
                            "the backed-up id is gone and {} live objects share its name; none is guessed",
                            several.len()
                        ),
                    })
                }
            }
        }
    }
    Ok(match kind.read_only_reason() {
        Some(reason) => Action::Skipped {
            reason_code: "not_restorable",
            reason: format!("{} are not restored: {reason}", kind.label),
        },
        None => Action::Create,
    })
}

/// Re-creates a backed-up object that is gone — once, whatever happens to the
/// attempt: the tenant's create and the map entry that records it cannot share
/// a transaction, so the create is announced first. An announced create that
/// was never recorded (the attempt lost its lease, or its process died, after
/// the tenant answered) may have landed: the object is looked for before a
/// second create is sent.
async fn create(ctx: &HandlerContext, kind: Kind, item: &BackupItem) -> Result<RemoteObject, HandlerError> {
    if ctx.results.restore_intent_pending(kind.key, &item.object_id).await? {
        if let Some(landed) = landed_create(ctx, kind, item).await? {
            ctx.results.restore_map_put(kind.key, &item.object_id, &landed.id).await?;
            return Ok(landed);
        }
    }
    ctx.results.restore_intent_put(kind.key, &item.object_id).await?;
    let created = ctx.provider.create_object(ctx.fence, kind, &kind.comparable(&item.payload)).await?;
    ctx.results.restore_map_put(kind.key, &item.object_id, &created.id).await?;
    Ok(created)
}

/// The object an unrecorded create made: a live object of the kind with
/// exactly the backup's content that no restore stands for yet.
async fn landed_create(
    ctx: &HandlerContext,
    kind: Kind,
    item: &BackupItem,
) -> Result<Option<RemoteObject>, HandlerError> {
    let taken = ctx.results.restore_map_targets(kind.key).await?;
    let live = ctx.provider.list_objects(kind).await?;
    Ok(live.into_iter().find(|o| !taken.contains(&o.id) && same_content(kind, &o.payload, &item.payload)))
}

/// Applies an item's action; returns whether it created (else updated or unchanged).
async fn apply(
    ctx: &HandlerContext,
    kind: Kind,
    item: &BackupItem,
    action: &Action,
) -> Result<&'static str, HandlerError> {
    match action {
        Action::Unchanged { .. } | Action::Skipped { .. } => Ok("unchanged"),
        Action::Create => create(ctx, kind, item).await.map(|_| "created"),
        Action::Update { target_id, live, matched_by_name } => {
            let body = kind.update_body(&item.payload, live);
            match ctx.provider.update_object(ctx.fence, kind, target_id, &body).await? {
                UpdateOutcome::Updated(_) => {
                    if *matched_by_name {
                        // Found by name: later restores find it by id.
                        ctx.results.restore_map_put(kind.key, &item.object_id, target_id).await?;
                    }
                    Ok("updated")
                }
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
        items.sort_by_key(|i| restore_rank(&i.kind));
        // How many items of the whole set have each secondary key (a match
        // by it is made only when one does).
        let mut unique_keys: HashMap<(String, String), usize> = HashMap::new();
        for i in ctx.results.backup_items(set_id).await? {
            if let Some(key) = by_key(&i.kind).and_then(|k| k.secondary_key(&i.payload)) {
                *unique_keys.entry((i.kind.clone(), key)).or_default() += 1;
            }
        }
        let mut live = Live::default();
        let mut groups: HashMap<String, bool> = HashMap::new();
        let keys: Vec<(String, Value)> = items
            .iter()
            .map(|i| {
                (i.id.to_string(), json!({"kind": i.kind, "object_id": i.object_id, "display_name": i.display_name}))
            })
            .collect();
        let run_items = super::items::resume(ctx, ctx.results.items_ensure(&keys).await?).await?;

        let mut counts = SummaryCounts { total: items.len() as u64, ..Default::default() };
        let mut failures = Vec::new();
        let mut plan_rows = Vec::new();
        // Items a rescued earlier attempt finished stay finished.
        super::items::tally_done(&mut counts, &run_items);
        // A dry run never writes, so it is not checked between items at all.
        let mut checkpoint = Checkpoint::before_every_write();
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
            let Some(kind) = by_key(&item.kind) else {
                let result = ItemResult {
                    outcome: ItemOutcome::Failed,
                    reason_code: None,
                    error: Some(format!("unknown object kind {}", item.kind)),
                    detail: json!({}),
                };
                super::items::finish(ctx, &key, &result, &mut counts).await?;
                continue;
            };
            let planned = match plan(ctx, kind, item, &unique_keys, &mut live).await {
                Ok(action) => match skipped_assignments(ctx, item, &mut groups).await {
                    Ok(skipped) => {
                        let mut detail = plan_detail(kind, item, &action);
                        if !skipped.is_empty() {
                            detail["assignments"] = Value::Array(skipped);
                        }
                        Ok((action, detail))
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let outcome = match planned {
                Ok((_, detail)) if dry_run => {
                    let mut row = json!({"item_id": key, "kind": item.kind, "object_id": item.object_id,
                        "display_name": item.display_name});
                    if let (Value::Object(row), Value::Object(d)) = (&mut row, &detail) {
                        row.extend(d.clone());
                    }
                    plan_rows.push(row);
                    ItemResult {
                        outcome: ItemOutcome::Skipped,
                        reason_code: Some("dry_run".into()),
                        error: None,
                        detail,
                    }
                }
                Ok((Action::Skipped { reason_code, .. }, detail)) => ItemResult {
                    outcome: ItemOutcome::Skipped,
                    reason_code: Some(reason_code.into()),
                    error: None,
                    detail,
                },
                Ok((action, mut detail)) => match apply(ctx, kind, item, &action).await {
                    Ok("unchanged") => {
                        detail["result"] = json!("unchanged");
                        ItemResult {
                            outcome: ItemOutcome::Skipped,
                            reason_code: Some("unchanged".into()),
                            error: None,
                            detail,
                        }
                    }
                    Ok(done) => {
                        detail["result"] = json!(done);
                        ItemResult { outcome: ItemOutcome::Succeeded, reason_code: None, error: None, detail }
                    }
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
                   "plan_summary": {"create": summary("create"), "update": summary("update"),
                                    "unchanged": summary("unchanged"), "skipped": summary("skipped")}})
        } else {
            json!({"dry_run": false, "backup_set_id": set_id, "created": counts.created, "updated": counts.updated})
        };
        super::items::output(ctx, counts, result, failures).await
    }
}

/// A lost lease ends the handler; any other error fails just this item.
fn item_failure(e: HandlerError, failures: &mut Vec<Failure>, item: &BackupItem) -> Result<ItemResult, HandlerError> {
    if e.failure_code == "lease_lost" {
        return Err(e);
    }
    let (failure, result) = super::items::failed(e, &item.display_name);
    failures.push(failure);
    Ok(result)
}
