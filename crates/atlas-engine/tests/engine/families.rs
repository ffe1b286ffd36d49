//! The read, backup and restore families end to end on the sandbox: their
//! effects, and the restore rules of SPEC §5.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use crate::support::{cli, World};
use atlas_core::gate::ReasonCode;
use atlas_core::run::{RunOutcome, RunStatus};
use atlas_core::tenant::TenantStatus;
use atlas_core::OperationType;
use atlas_engine::ServiceError;
use serde_json::{json, Value};
use uuid::Uuid;

async fn backup(w: &World) -> Uuid {
    let run = w.start(OperationType::BackupRun, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    Uuid::parse_str(run.result["backup_set_id"].as_str().unwrap()).unwrap()
}

/// The tenant's objects by (kind, display name) → comparable payload.
async fn tenant_state(w: &World) -> BTreeMap<(String, String), Value> {
    let mut state = BTreeMap::new();
    for kind in atlas_providers::object_type::all() {
        for o in w.store.sandbox_objects(w.tenant.id, kind.key).await.unwrap() {
            let prev = state.insert((kind.key.to_owned(), o.display_name.clone()), kind.comparable(&o.payload));
            assert!(prev.is_none(), "duplicate object {} {}", kind.key, o.display_name);
        }
    }
    state
}

async fn restore(w: &World, set: Uuid, dry_run: bool) -> atlas_core::run::Run {
    let run =
        w.start(OperationType::RestoreExecute, json!({"backup_set_id": set.to_string(), "dry_run": dry_run})).await;
    w.drain().await;
    w.run(run.id).await
}

async fn restore_round_trip(store: atlas_store::Store) {
    let w = World::new(store).await;
    let before = tenant_state(&w).await;
    let set = backup(&w).await;
    // An admin edits one object and deletes another in the portal.
    let objects = w.store.sandbox_objects(w.tenant.id, "device_configuration").await.unwrap();
    let (edited, deleted) = (&objects[0], &objects[1]);
    let mut changed = edited.payload.clone();
    changed["description"] = json!("changed outside TenantAtlas");
    w.store.sandbox_out_of_band_update(w.tenant.id, "device_configuration", &edited.object_id, &changed).await.unwrap();
    w.store.sandbox_out_of_band_delete(w.tenant.id, "device_configuration", &deleted.object_id).await.unwrap();
    assert_ne!(tenant_state(&w).await, before);

    let run = restore(&w, set, false).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::Succeeded), "{run:?}");
    assert_eq!(run.summary_counts.created, 1);
    assert_eq!(run.summary_counts.updated, 1);
    assert_eq!(run.summary_counts.processed, run.summary_counts.total);
    assert_eq!(tenant_state(&w).await, before, "the tenant equals the backup");
    let items = w.store.run_items(run.id).await.unwrap();
    assert_eq!(items.len() as u64, run.summary_counts.total, "one run item per object");
    assert_eq!(w.store.sandbox_journal(w.tenant.id).await.unwrap().len(), 2, "exactly two writes");

    // Restoring again changes nothing, even for the re-created object.
    let again = restore(&w, set, false).await;
    assert_eq!(again.outcome, RunOutcome::Succeeded);
    assert_eq!((again.summary_counts.created, again.summary_counts.updated), (0, 0));
    assert_eq!(again.summary_counts.skipped, again.summary_counts.total, "all unchanged");
    assert_eq!(tenant_state(&w).await, before);
    assert_eq!(w.store.sandbox_journal(w.tenant.id).await.unwrap().len(), 2, "no new writes");
}

async fn dry_run_with_the_gate_closed_writes_nothing(store: atlas_store::Store) {
    let w = World::new(store).await;
    let set = backup(&w).await;
    let objects = w.store.sandbox_objects(w.tenant.id, "compliance_policy").await.unwrap();
    w.store.sandbox_out_of_band_delete(w.tenant.id, "compliance_policy", &objects[0].object_id).await.unwrap();
    w.store.tenant_set_write_gate(w.tenant.id, false, &cli()).await.unwrap();

    let run = restore(&w, set, true).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    assert!(w.store.sandbox_journal(w.tenant.id).await.unwrap().is_empty());
    let plan = run.result["plan"].as_array().unwrap();
    assert_eq!(plan.len() as u64, run.summary_counts.total);
    assert_eq!(run.result["plan_summary"]["create"], json!(1));
    assert_eq!(run.result["plan_summary"]["update"], json!(0));

    // A real restore is refused at start: nothing is stored.
    let err = w
        .start_as(w.initiator.id, OperationType::RestoreExecute, json!({"backup_set_id": set.to_string()}))
        .await
        .unwrap_err();
    let ServiceError::Denied(d) = err else { panic!("{err:?}") };
    assert_eq!(d.reason_code, Some(ReasonCode::WriteGateClosed));
}

/// The preview's plan says per item what a restore would do — `create`,
/// `update` with the setting-level changes, `unchanged` — and lists an
/// assignment whose group is gone as `skipped` with its reason; the real
/// restore then records the same per item.
async fn restore_preview_plans_each_item_and_the_restore_records_it(store: atlas_store::Store) {
    let w = World::new(store).await;
    let configs = w.store.sandbox_objects(w.tenant.id, "device_configuration").await.unwrap();
    let assigned = configs.iter().find(|o| o.assignments.iter().any(|a| a["target"]["groupId"].is_string())).unwrap();
    let group = assigned.assignments.iter().find_map(|a| a["target"]["groupId"].as_str()).unwrap().to_owned();
    let set = backup(&w).await;
    let edited = configs.iter().find(|o| o.object_id != assigned.object_id).unwrap();
    let mut payload = edited.payload.clone();
    payload["description"] = json!("changed outside TenantAtlas");
    w.store.sandbox_out_of_band_update(w.tenant.id, "device_configuration", &edited.object_id, &payload).await.unwrap();
    let gone = &w.store.sandbox_objects(w.tenant.id, "compliance_policy").await.unwrap()[0];
    w.store.sandbox_out_of_band_delete(w.tenant.id, "compliance_policy", &gone.object_id).await.unwrap();
    w.store.sandbox_out_of_band_group_delete(w.tenant.id, &group).await.unwrap();

    let dry = restore(&w, set, true).await;
    assert_eq!(dry.outcome, RunOutcome::Succeeded, "{dry:?}");
    let plan = dry.result["plan"].as_array().unwrap();
    let row = |id: &str| plan.iter().find(|r| r["object_id"] == id).unwrap_or_else(|| panic!("{id} in {plan:?}"));
    let update = row(&edited.object_id);
    assert_eq!(update["action"], json!("update"));
    let change = update["changes"].as_array().unwrap().iter().find(|c| c["path"] == "/description").unwrap();
    assert_eq!(
        (change["old"].clone(), change["new"].clone()),
        (json!("changed outside TenantAtlas"), edited.payload["description"].clone()),
        "{update}"
    );
    assert_eq!(row(&gone.object_id)["action"], json!("create"));
    let skipped = &row(&assigned.object_id)["assignments"];
    assert_eq!(
        (skipped[0]["group_id"].clone(), skipped[0]["action"].clone()),
        (json!(group), json!("skipped")),
        "{skipped}"
    );
    assert_eq!(skipped[0]["reason_code"], json!("group_not_found"));
    assert!(skipped[0]["reason"].as_str().unwrap().contains("no longer exists"));
    let unchanged = plan.iter().filter(|r| r["action"] == "unchanged").count();
    assert_eq!(
        dry.result["plan_summary"],
        json!({"create": 1, "update": 1, "unchanged": unchanged, "skipped": plan.len() - unchanged - 2})
    );
    assert!(w.store.sandbox_journal(w.tenant.id).await.unwrap().is_empty(), "a preview writes nothing");

    let real = restore(&w, set, false).await;
    assert_eq!(real.outcome, RunOutcome::Succeeded, "{real:?}");
    let items = w.store.run_items(real.id).await.unwrap();
    let item = |id: &str| items.iter().find(|i| i.target["object_id"] == json!(id)).unwrap();
    let recorded = &item(&edited.object_id).detail;
    assert_eq!((recorded["action"].clone(), recorded["result"].clone()), (json!("update"), json!("updated")));
    assert_eq!(recorded["changes"], update["changes"], "the restore records the change it previewed");
    assert_eq!(item(&gone.object_id).detail["action"], json!("create"));
    assert_eq!(item(&assigned.object_id).detail["assignments"], *skipped);
}

async fn restore_selected_items_only(store: atlas_store::Store) {
    let w = World::new(store).await;
    let set = backup(&w).await;
    let items = w.store.backup_items(set).await.unwrap();
    let pick = vec![items[0].id.to_string(), items[1].id.to_string()];
    let run = w.start(OperationType::RestoreExecute, json!({"backup_set_id": set.to_string(), "item_ids": pick})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!(run.summary_counts.total, 2);
    assert_eq!(run.summary_counts.skipped, 2, "both unchanged");
}

async fn backups_store_unchanged_payloads_once(store: atlas_store::Store) {
    let w = World::new(store).await;
    let first = backup(&w).await;
    let second = backup(&w).await;
    assert_ne!(first, second);
    let a = w.store.backup_items(first).await.unwrap();
    let b = w.store.backup_items(second).await.unwrap();
    assert_eq!(a.len(), b.len());
    assert!(!a.is_empty());
    let runs = w
        .store
        .run_list(&atlas_store::run::RunFilter { tenant_id: Some(w.tenant.id), limit: 10, ..Default::default() })
        .await
        .unwrap();
    let newest = &runs[0];
    assert_eq!(newest.result["new_payloads"], json!(0), "{:?}", newest.result);
    assert_eq!(newest.result["reused_payloads"], json!(a.len()));
    assert!(a.iter().any(|i| i.assignments.as_array().is_some_and(|x| !x.is_empty())), "assignments are backed up");
}

async fn policies_sync_versions_and_drift(store: atlas_store::Store) {
    let w = World::new(store).await;
    let sync = async |w: &World| {
        let run = w.start(OperationType::PoliciesSync, json!({})).await;
        w.drain().await;
        w.run(run.id).await
    };
    let first = sync(&w).await;
    assert_eq!(first.outcome, RunOutcome::Succeeded);
    let versions = w.store.policy_versions(w.tenant.id).await.unwrap().len();
    assert_eq!(first.summary_counts.created as usize, versions);

    let second = sync(&w).await;
    assert_eq!(w.store.policy_versions(w.tenant.id).await.unwrap().len(), versions, "no change, no new version");
    assert_eq!(second.result["new_versions"], json!(0));

    let objects = w.store.sandbox_objects(w.tenant.id, "compliance_policy").await.unwrap();
    let mut changed = objects[0].payload.clone();
    changed["description"] = json!("tightened");
    w.store
        .sandbox_out_of_band_update(w.tenant.id, "compliance_policy", &objects[0].object_id, &changed)
        .await
        .unwrap();
    let third = sync(&w).await;
    assert_eq!(w.store.policy_versions(w.tenant.id).await.unwrap().len(), versions + 1, "exactly one new version");
    assert_eq!(third.summary_counts.updated, 1);
    let drift = &third.result["drift"];
    assert_eq!(drift["changed"].as_array().unwrap().len(), 1);
    assert_eq!(drift["changed"][0]["object_id"], json!(objects[0].object_id));
    assert!(drift["added"].as_array().unwrap().is_empty());

    w.store.sandbox_out_of_band_delete(w.tenant.id, "compliance_policy", &objects[1].object_id).await.unwrap();
    let fourth = sync(&w).await;
    assert_eq!(fourth.result["drift"]["removed"].as_array().unwrap().len(), 1);
}

async fn compliance_snapshot_records_counts(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(OperationType::ComplianceSnapshot, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    let snaps = w.store.compliance_snapshots(w.tenant.id, 10).await.unwrap();
    assert_eq!(snaps.len(), 1);
    assert!(snaps[0].compliant + snaps[0].non_compliant + snaps[0].error + snaps[0].not_applicable > 0);
    assert_eq!(run.result["snapshot_id"], json!(snaps[0].id));
}

/// One provider-call retry policy for every family: a transient 503 or a
/// short throttle within a call is tried again there, for the assignment
/// restore as for the restore and the syncs; more failures than the policy's
/// tries send the run back to the queue.
async fn every_family_retries_provider_calls_alike(store: atlas_store::Store) {
    use atlas_engine::patience::RETRIES;
    use atlas_store::sandbox::SandboxFaultKind;
    let w = World::new(store).await;
    let set = backup(&w).await;
    w.store.sandbox_fault_set(w.tenant.id, SandboxFaultKind::Error, RETRIES, 0).await.unwrap();
    let run = w.start(OperationType::RestoreAssignments, json!({"backup_set_id": set.to_string()})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.outcome, run.attempt), (RunOutcome::Succeeded, 1), "absorbed within the calls: {run:?}");
    assert!(run.failures.is_empty(), "{run:?}");

    w.store.sandbox_fault_set(w.tenant.id, SandboxFaultKind::Throttle, 2, 50).await.unwrap();
    let run = w.start(OperationType::InventorySync, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.outcome, run.attempt), (RunOutcome::Succeeded, 1), "after Retry-After: {run:?}");

    // One failure more than the policy absorbs: the attempt fails retryably
    // and the run's next attempt succeeds.
    w.store.sandbox_fault_set(w.tenant.id, SandboxFaultKind::Error, RETRIES + 1, 0).await.unwrap();
    let run = w.start(OperationType::PoliciesSync, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.outcome, run.attempt), (RunOutcome::Succeeded, 2), "{run:?}");
    assert_eq!(run.failures[0].code, "provider_unavailable");
}

/// `drift.check` reads the live tenant through the provider and diffs it with
/// the newest backup set: an edit, a deletion and an object created in the
/// portal are reported with their setting-level changes, the result is kept,
/// and nothing is written to the tenant.
async fn drift_check_reports_changes_since_the_newest_backup(store: atlas_store::Store) {
    let w = World::new(store).await;
    // Without a backup there is nothing to compare with: refused at start.
    let refused = w.start_as(w.initiator.id, OperationType::DriftCheck, json!({})).await;
    let Err(ServiceError::Invalid(m)) = refused else { panic!("{refused:?}") };
    assert!(m.contains("no backup set"), "{m}");
    assert!(w.store.run_list(&Default::default()).await.unwrap().is_empty(), "nothing stored");

    backup(&w).await;
    let set = backup(&w).await;
    let journal = w.store.sandbox_journal(w.tenant.id).await.unwrap().len();
    let clean = w.start(OperationType::DriftCheck, json!({})).await;
    w.drain().await;
    let clean = w.run(clean.id).await;
    assert_eq!(clean.outcome, RunOutcome::Succeeded, "{clean:?}");
    assert_eq!(clean.result["changes"], json!(0), "{}", clean.result);
    assert_eq!(clean.result["backup_set_id"], json!(set), "the newest set");

    let configs = w.store.sandbox_objects(w.tenant.id, "device_configuration").await.unwrap();
    let edited = &configs[0];
    let mut payload = edited.payload.clone();
    payload["description"] = json!("changed outside TenantAtlas");
    w.store.sandbox_out_of_band_update(w.tenant.id, "device_configuration", &edited.object_id, &payload).await.unwrap();
    let gone = &w.store.sandbox_objects(w.tenant.id, "compliance_policy").await.unwrap()[0];
    w.store.sandbox_out_of_band_delete(w.tenant.id, "compliance_policy", &gone.object_id).await.unwrap();

    let run = w.start(OperationType::DriftCheck, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    assert_eq!((run.result["changed"].clone(), run.result["removed"].clone()), (json!(1), json!(1)), "{}", run.result);
    let kept = w.store.drift_latest(w.tenant.id).await.unwrap().expect("kept");
    assert_eq!((kept.run_id, kept.backup_set_id, kept.change_count()), (run.id, set, 2));
    let changed = &kept.diff["changed"][0];
    assert_eq!(changed["object_id"], json!(edited.object_id));
    let change = changed["changes"].as_array().unwrap().iter().find(|c| c["path"] == "/description").unwrap();
    assert_eq!(change["new"], json!("changed outside TenantAtlas"), "{changed}");
    assert_eq!(kept.diff["removed"][0]["object_id"], json!(gone.object_id));
    assert_eq!(kept.unchanged + kept.change_count(), i64::try_from(tenant_state(&w).await.len()).unwrap() + 1);
    assert_eq!(w.store.sandbox_journal(w.tenant.id).await.unwrap().len(), journal, "a drift check writes nothing");
}

/// A tenant without a provider connection cannot be checked: a clear error
/// at start, nothing stored.
async fn drift_check_without_a_connection_is_refused(store: atlas_store::Store) {
    let w = World::new(store).await;
    let bare = w.store.tenant_create(w.workspace.id, "Bare", TenantStatus::Active, false, None, &cli()).await.unwrap();
    let req = atlas_engine::StartRequest {
        user_id: w.initiator.id,
        workspace_id: w.workspace.id,
        tenant_id: Some(bare.id),
        op_type: OperationType::DriftCheck,
        params: json!({}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let refused = atlas_engine::service::start(&w.store, req).await;
    let Err(ServiceError::Invalid(m)) = refused else { panic!("{refused:?}") };
    assert!(m.contains("Bare has no provider connection"), "{m}");
    assert!(w.store.run_list(&Default::default()).await.unwrap().is_empty(), "nothing stored");
}

/// Two device configurations of a fresh backup, each edited in the portal
/// since, so that restoring either writes it.
async fn two_edited_configurations(w: &World, set: Uuid) -> Vec<atlas_store::backup::BackupItem> {
    let picked: Vec<_> = w
        .store
        .backup_items(set)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == "device_configuration")
        .take(2)
        .collect();
    for item in &picked {
        let mut edited = item.payload.clone();
        edited["description"] = json!("changed outside TenantAtlas");
        w.store
            .sandbox_out_of_band_update(w.tenant.id, "device_configuration", &item.object_id, &edited)
            .await
            .unwrap();
    }
    picked
}

/// SPEC §3.5: a restore item whose provider calls fail retryably beyond the
/// per-call policy fails only that item; as every failed item failed
/// retryably, the run goes back to the queue, and its next attempt passes the
/// gate again and runs just that item — the other, already written, is not
/// written again.
async fn items_that_failed_retryably_are_run_again_by_the_next_attempt(store: atlas_store::Store) {
    use atlas_engine::patience::RETRIES;
    use atlas_store::sandbox::SandboxFaultKind;
    let w = World::new(store).await;
    let set = backup(&w).await;
    let picked = two_edited_configurations(&w, set).await;
    let ids: Vec<String> = picked.iter().map(|i| i.id.to_string()).collect();
    // The first item's first call, and its three retries, answer 503.
    w.store.sandbox_fault_set(w.tenant.id, SandboxFaultKind::Error, RETRIES + 1, 0).await.unwrap();
    let run = w.start(OperationType::RestoreExecute, json!({"backup_set_id": set.to_string(), "item_ids": ids})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome, run.attempt), (RunStatus::Completed, RunOutcome::Succeeded, 2), "{run:?}");
    assert_eq!((run.summary_counts.updated, run.summary_counts.failed), (2, 0), "{:?}", run.summary_counts);
    assert_eq!(run.decision.as_ref().map(|d| d.attempt), Some(2), "the second attempt passed the gate");
    assert_eq!(run.failures.len(), 1, "{:?}", run.failures);
    assert_eq!(run.failures[0].code, "provider_unavailable");
    assert!(
        run.failures[0].message.starts_with("1 of 2 items failed with retryable errors; attempt 2 tries them again"),
        "{}",
        run.failures[0].message
    );
    let items = w.store.run_items(run.id).await.unwrap();
    let attempts = |key: &Uuid| items.iter().find(|i| i.item_key == key.to_string()).map(|i| i.attempts);
    assert_eq!((attempts(&picked[0].id), attempts(&picked[1].id)), (Some(2), Some(1)), "{items:?}");
    let journal = w.store.sandbox_journal(w.tenant.id).await.unwrap();
    let mut written: Vec<&str> = journal.iter().map(|e| e.object_id.as_str()).collect();
    written.sort_unstable();
    let mut expected = vec![picked[0].object_id.as_str(), picked[1].object_id.as_str()];
    expected.sort_unstable();
    assert_eq!(written, expected, "each object written once");
    let actions = w.run_actions(run.id).await;
    assert_eq!(
        actions,
        [
            "operation.queued",
            "operation.started",
            "operation.retry_scheduled",
            "operation.started",
            "operation.completed"
        ]
    );
    assert_eq!(w.store.notifications_for_run(run.id).await.unwrap().len(), 1, "one notification, at the end");
}

/// An item that keeps failing retryably is tried by every attempt and no
/// more; the run then fails with each attempt's line and the item's last error.
async fn items_that_keep_failing_retryably_fail_the_run_after_its_last_attempt(store: atlas_store::Store) {
    use atlas_engine::patience::RETRIES;
    use atlas_store::sandbox::SandboxFaultKind;
    let w = World::new(store).await;
    let set = backup(&w).await;
    let item = two_edited_configurations(&w, set).await.remove(0);
    // Every call of all three attempts answers 503.
    w.store.sandbox_fault_set(w.tenant.id, SandboxFaultKind::Error, 3 * (RETRIES + 1), 0).await.unwrap();
    let params = json!({"backup_set_id": set.to_string(), "item_ids": [item.id.to_string()]});
    let run = w.start(OperationType::RestoreExecute, params).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome, run.attempt), (RunStatus::Completed, RunOutcome::Failed, 3), "{run:?}");
    let codes: Vec<&str> = run.failures.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["provider_unavailable"; 3], "{:?}", run.failures);
    assert!(run.failures[2].message.starts_with(&format!("{}: ", item.display_name)), "{:?}", run.failures[2]);
    let items = w.store.run_items(run.id).await.unwrap();
    assert_eq!(items.iter().map(|i| i.attempts).collect::<Vec<_>>(), [3], "{items:?}");
    assert!(w.store.sandbox_journal(w.tenant.id).await.unwrap().is_empty(), "nothing written");
}

both_stores!(
    items_that_failed_retryably_are_run_again_by_the_next_attempt,
    items_that_keep_failing_retryably_fail_the_run_after_its_last_attempt,
    every_family_retries_provider_calls_alike,
    drift_check_reports_changes_since_the_newest_backup,
    drift_check_without_a_connection_is_refused,
    restore_round_trip,
    dry_run_with_the_gate_closed_writes_nothing,
    restore_preview_plans_each_item_and_the_restore_records_it,
    restore_selected_items_only,
    backups_store_unchanged_payloads_once,
    policies_sync_versions_and_drift,
    compliance_snapshot_records_counts,
);
