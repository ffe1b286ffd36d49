//! Round trips of the rest of the schema: schedules and their slots, backup
//! sets, run items, inventory, policy versions and compliance snapshots.

use atlas_core::capability::BuiltinRole;
use atlas_core::gate::{Authority, ReasonCode};
use atlas_core::item::{ItemOutcome, ItemStatus};
use atlas_core::run::{NewRun, Run};
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::OperationType;
use atlas_store::admin::{ChangeBy, RoleRef, Tenant};
use atlas_store::backup::NewBackupItem;
use atlas_store::claim::{ClaimParams, Claimed};
use atlas_store::inventory::InventoryEntry;
use atlas_store::policy::PolicyObservation;
use atlas_store::results::RunResults;
use atlas_store::run_item::ItemResult;
use atlas_store::schedule::Fired;
use atlas_store::start::Started;
use atlas_store::{Store, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::fixture;

/// A tenant with a run of `op` running under a lease: (tenant, run id, lease token).
async fn running(store: &Store, op: OperationType) -> (Tenant, Uuid, Uuid) {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(store).await;
    let email = format!("u-{}@example.com", &Uuid::new_v4().simple().to_string()[..8]);
    let user = store.user_create(&email, "Jane Doe", None, &by).await.unwrap();
    store.member_grant(ws.id, user.id, &RoleRef::Builtin(BuiltinRole::Owner), &TenantScope::All, &by).await.unwrap();
    let tenant = store.tenant_create(ws.id, "Contoso", TenantStatus::Active, true, None, &by).await.unwrap();
    store.connection_add(tenant.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
    let (run, token) = running_on(store, &tenant, user.id, op).await;
    (tenant, run, token)
}

/// Another run of `op`, by `user_id`, running on `tenant`: (run id, lease token).
async fn running_on(store: &Store, tenant: &Tenant, user_id: Uuid, op: OperationType) -> (Uuid, Uuid) {
    let new = NewRun {
        op_type: op,
        workspace_id: tenant.workspace_id,
        tenant_id: Some(tenant.id),
        authority: Authority::Actor { user_id },
        params: json!({}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let (run, audit) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
    store.run_insert(&run, &audit).await.unwrap();
    let params = ClaimParams { worker: "t".into(), lease_ms: 30_000, batch: 1, backoff_base_ms: 10 };
    let claimed = store.run_claim_and_authorize(&params).await.unwrap();
    let [Claimed::Started(r)] = claimed.as_slice() else { panic!("{claimed:?}") };
    (run.id, r.lease.as_ref().unwrap().token)
}

/// The results handle of a run, under `token`.
async fn handle(store: &Store, run: Uuid, token: Uuid) -> RunResults {
    store.run_results(&store.run_get(run).await.unwrap(), token)
}

async fn schedules_and_slots(store: Store) {
    let (tenant, _, _) = running(&store, OperationType::InventorySync).await;
    let by = ChangeBy::cli();
    let s = store.schedule_add(tenant.id, "0 2 * * *", "Europe/Berlin", &by).await.unwrap();
    assert_eq!(store.schedule_get(s.id).await.unwrap(), s);
    assert_eq!(store.schedule_list(Some(tenant.workspace_id)).await.unwrap(), std::slice::from_ref(&s));
    let off = store.schedule_set_enabled(s.id, false, &by).await.unwrap();
    assert!(!off.enabled);
    let slot = atlas_core::Timestamp::parse_rfc3339("2026-11-26T01:00:00Z").unwrap();
    let new = NewRun {
        op_type: OperationType::BackupRun,
        workspace_id: tenant.workspace_id,
        tenant_id: Some(tenant.id),
        authority: Authority::schedule(s.id, slot),
        params: json!({}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let (run, audit) = Run::queued(new.clone(), Uuid::now_v7(), atlas_store::now());
    // The gate decides the slot's run in the firing transaction: a disabled
    // schedule's slot is refused and nothing is recorded.
    let Started::Refused(refused) = store.schedule_fire(s.id, slot, &run, &audit).await.unwrap() else {
        panic!("a disabled schedule's slot is refused")
    };
    assert_eq!(refused.reason_code, Some(ReasonCode::ScheduleDisabled));
    assert_eq!(store.schedule_last_slot(s.id).await.unwrap(), None, "a refused slot records nothing");
    assert!(matches!(store.run_get(run.id).await, Err(StoreError::NotFound(_))));
    store.schedule_set_enabled(s.id, true, &by).await.unwrap();
    let Started::Queued(Fired::Run(first)) = store.schedule_fire(s.id, slot, &run, &audit).await.unwrap() else {
        panic!("fires")
    };
    let (again, audit2) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
    assert_eq!(
        store.schedule_fire(s.id, slot, &again, &audit2).await.unwrap(),
        Started::Queued(Fired::AlreadyFired(Some(first.run.id)))
    );
    assert!(matches!(store.run_get(again.id).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.schedule_last_slot(s.id).await.unwrap(), Some(slot));
}

async fn backup_sets_store_payloads_once(store: Store) {
    let (tenant, run, token) = running(&store, OperationType::BackupRun).await;
    let item = |id: &str, name: &str| NewBackupItem {
        kind: "device_configuration".into(),
        object_id: id.into(),
        display_name: name.into(),
        content_hash: format!("hash-{name}"),
        payload: json!({"displayName": name}),
        assignments: json!([{"target": {"groupId": "g1"}}]),
    };
    let items = [item("a", "Alpha"), item("b", "Beta")];
    let results = handle(&store, run, token).await;
    let first = results.backup_create(&items).await.unwrap();
    assert_eq!((first.new_blobs, first.reused_blobs), (2, 0));
    assert_eq!((first.set.tenant_id, first.set.workspace_id), (tenant.id, tenant.workspace_id));
    let again = results.backup_create(&items).await.unwrap();
    assert_eq!(again.set, first.set, "a later attempt of the same run keeps the set it wrote");
    assert_eq!(store.backup_sets_for_tenant(tenant.id, 10).await.unwrap().len(), 1);
    let (other_tenant, other_run, other_token) = running(&store, OperationType::BackupRun).await;
    let second = handle(&store, other_run, other_token).await.backup_create(&items).await.unwrap();
    assert_eq!((second.new_blobs, second.reused_blobs), (0, 2), "equal content is stored once");
    assert_eq!(second.set.tenant_id, other_tenant.id);
    let back = store.backup_items(first.set.id).await.unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].payload, json!({"displayName": "Alpha"}));
    assert_eq!(back[0].assignments, json!([{"target": {"groupId": "g1"}}]));
    assert_eq!(store.backup_set_get(first.set.id).await.unwrap(), first.set);
    assert_eq!(store.backup_sets_for_tenant(tenant.id, 10).await.unwrap().len(), 1);
    let stale = handle(&store, run, Uuid::now_v7()).await.backup_create(&items).await;
    assert!(matches!(stale, Err(StoreError::Fenced)), "a stale lease writes no backup");
    results.restore_map_put("device_configuration", "a", "a2").await.unwrap();
    assert_eq!(results.restore_map_get("device_configuration", "a").await.unwrap().as_deref(), Some("a2"));
}

async fn run_items_are_idempotent_by_key(store: Store) {
    let (_, run, token) = running(&store, OperationType::BackupRun).await;
    let keys = vec![("k1".to_owned(), json!({"n": 1})), ("k2".to_owned(), json!({"n": 2}))];
    let results = handle(&store, run, token).await;
    assert_eq!(results.items_ensure(&keys).await.unwrap().len(), 2);
    assert_eq!(results.items_ensure(&keys).await.unwrap().len(), 2, "no duplicates");
    let ok = ItemResult {
        outcome: ItemOutcome::Succeeded,
        reason_code: None,
        error: None,
        detail: json!({"result": "created"}),
    };
    results.item_finish("k1", &ok).await.unwrap();
    let failed =
        ItemResult { outcome: ItemOutcome::Failed, reason_code: None, error: Some("x".into()), detail: json!({}) };
    results.item_finish("k1", &failed).await.unwrap();
    let items = store.run_items(run).await.unwrap();
    assert_eq!(items[0].outcome, ItemOutcome::Succeeded, "an item completes once");
    assert_eq!(items[0].status, ItemStatus::Completed);
    assert_eq!(results.items_close_pending(ItemOutcome::Blocked, Some("capability_revoked")).await.unwrap(), 1);
    assert_eq!(store.run_items(run).await.unwrap()[1].reason_code.as_deref(), Some("capability_revoked"));
    let stale = handle(&store, run, Uuid::now_v7()).await;
    assert!(matches!(stale.item_finish("k2", &ok).await, Err(StoreError::Fenced)));
}

async fn inventory_policies_and_compliance(store: Store) {
    let (tenant, run, token) = running(&store, OperationType::InventorySync).await;
    let results = handle(&store, run, token).await;
    let entry = |id: &str, hash: &str| InventoryEntry {
        kind: "compliance_policy".into(),
        object_id: id.into(),
        display_name: format!("P {id}"),
        content_hash: hash.into(),
    };
    let d1 = results.inventory_replace(&[entry("a", "1"), entry("b", "1")]).await.unwrap();
    assert_eq!((d1.created, d1.updated), (2, 0));
    let d2 = results.inventory_replace(&[entry("a", "2")]).await.unwrap();
    assert_eq!((d2.created, d2.updated, d2.removed), (0, 1, 1));
    assert_eq!(store.inventory_list(tenant.id).await.unwrap(), [entry("a", "2")]);

    let obs = |id: &str, hash: &str| PolicyObservation {
        kind: "compliance_policy".into(),
        object_id: id.into(),
        display_name: format!("P {id}"),
        content_hash: hash.into(),
        payload: json!({"h": hash}),
    };
    let drift = results.policy_sync_record(&[obs("a", "1"), obs("b", "1")]).await.unwrap();
    assert_eq!((drift.added.len(), drift.new_versions), (2, 2));
    let drift = results.policy_sync_record(&[obs("a", "1"), obs("b", "1")]).await.unwrap();
    assert_eq!((drift.unchanged, drift.new_versions), (2, 0));
    let drift = results.policy_sync_record(&[obs("a", "2")]).await.unwrap();
    assert_eq!((drift.changed.len(), drift.removed.len(), drift.new_versions), (1, 1, 1));
    assert_eq!(store.policy_versions(tenant.id).await.unwrap().len(), 3);

    let policies = json!([{"policy_id": "p", "display_name": "P", "compliant": 3, "non_compliant": 1, "error": 0, "not_applicable": 2}]);
    let snap = results.compliance_snapshot_record(&policies).await.unwrap();
    assert_eq!((snap.compliant, snap.non_compliant, snap.not_applicable), (3, 1, 2));
    assert_eq!(store.compliance_snapshots(tenant.id, 5).await.unwrap(), [snap]);
}

/// A drift check keeps its result: the newest per tenant for the tenant page
/// and the fleet overview, never written under a stale lease, and only
/// against the run's own tenant's backup set.
async fn drift_results_are_kept_per_tenant(store: Store) {
    let (tenant, run, token) = running(&store, OperationType::DriftCheck).await;
    let results = handle(&store, run, token).await;
    assert_eq!(results.backup_newest().await.unwrap(), None);
    assert_eq!(store.drift_latest(tenant.id).await.unwrap(), None);
    let item = NewBackupItem {
        kind: "device_configuration".into(),
        object_id: "a".into(),
        display_name: "Alpha".into(),
        content_hash: "hash-drift-alpha".into(),
        payload: json!({"displayName": "Alpha"}),
        assignments: json!([]),
    };
    let older = results.backup_create(std::slice::from_ref(&item)).await.unwrap().set;
    let user_id = store.run_get(run).await.unwrap().initiator_user_id.unwrap();
    let (later_run, later_token) = running_on(&store, &tenant, user_id, OperationType::BackupRun).await;
    let newest =
        handle(&store, later_run, later_token).await.backup_create(std::slice::from_ref(&item)).await.unwrap().set;
    assert_ne!(older.id, newest.id);
    assert_eq!(results.backup_newest().await.unwrap().as_ref(), Some(&newest));

    let diff = json!({
        "added": [{"object_type": "device_configuration", "object_id": "b", "name": "Beta"}],
        "removed": [],
        "changed": [{"object_type": "device_configuration", "object_id": "a", "name": "Alpha",
                     "changes": [{"path": "/description", "new": "x"}]}],
        "unchanged": 4,
    });
    let first = results
        .drift_record(&older, &json!({"added": [], "removed": [], "changed": [], "unchanged": 5}))
        .await
        .unwrap();
    assert_eq!(first.change_count(), 0);
    let kept = results.drift_record(&newest, &diff).await.unwrap();
    assert_eq!((kept.added, kept.removed, kept.changed, kept.unchanged), (1, 0, 1, 4));
    assert_eq!((kept.run_id, kept.backup_set_id, kept.backup_created_at), (run, newest.id, newest.created_at));
    assert_eq!(kept.change_count(), 2);
    assert_eq!(store.drift_latest(tenant.id).await.unwrap(), Some(kept.clone()), "the newest result");

    let fleet = store.drift_latest_per_tenant(tenant.workspace_id).await.unwrap();
    let [one] = fleet.as_slice() else { panic!("one tenant's newest result: {fleet:?}") };
    assert_eq!((one.id, one.changed, one.backup_set_id), (kept.id, 1, newest.id));
    assert_eq!(one.diff, json!({}), "the overview reads no diffs");

    let stale = handle(&store, run, Uuid::now_v7()).await.drift_record(&newest, &diff).await;
    assert!(matches!(stale, Err(StoreError::Fenced)), "a stale lease keeps no result");
    let (other, other_run, other_token) = running(&store, OperationType::DriftCheck).await;
    let theirs = handle(&store, other_run, other_token).await.drift_record(&newest, &diff).await;
    assert!(matches!(theirs, Err(StoreError::Invalid(_))), "another tenant's backup set is refused");
    assert_eq!(store.drift_latest(other.id).await.unwrap(), None);
    assert_eq!(store.drift_latest(tenant.id).await.unwrap(), Some(kept));
}

conformance!(
    drift_results_are_kept_per_tenant,
    schedules_and_slots,
    backup_sets_store_payloads_once,
    run_items_are_idempotent_by_key,
    inventory_policies_and_compliance
);
