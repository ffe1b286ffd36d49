//! The results handle's fence (issue 13): every write a family makes through
//! `RunResults` checks the run's lease token in its own transaction.

use atlas_core::item::{ItemOutcome, ItemStatus};
use atlas_core::run::{Run, RunEvent, RunOutcome};
use atlas_core::tenant::{ConnectionKind, TenantStatus};
use atlas_core::{OperationType, SummaryCounts};
use atlas_store::admin::{ChangeBy, Tenant};
use atlas_store::backup::NewBackupItem;
use atlas_store::inventory::InventoryEntry;
use atlas_store::policy::PolicyObservation;
use atlas_store::results::RunResults;
use atlas_store::run_item::ItemResult;
use atlas_store::{Store, StoreError, StoreResult};
use serde_json::json;
use uuid::Uuid;

use crate::fixture;

/// A tenant with a run of `op` running under a lease: (tenant, run id, lease token).
async fn running(store: &Store, op: OperationType) -> (Tenant, Uuid, Uuid) {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(store).await;
    let tenant = store.tenant_create(ws.id, "Contoso", TenantStatus::Active, true, None, &by).await.unwrap();
    store.connection_add(tenant.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
    let (run, token) = fixture::claimed(store, &tenant, op, json!({})).await;
    (tenant, run.id, token)
}

/// The results handle of a run, under `token`.
async fn handle(store: &Store, run: Uuid, token: Uuid) -> RunResults {
    store.run_results(&store.run_get(run).await.unwrap(), token)
}

/// Every write of the results handle is fenced in its own transaction: with a
/// token the run does not hold — a made-up one, or the real one after the run
/// finished — each is refused with `Fenced` and nothing is written.
async fn a_stale_lease_writes_nothing_through_the_handle(store: Store) {
    let (tenant, run, token) = running(&store, OperationType::BackupRun).await;
    let live = handle(&store, run, token).await;
    live.items_ensure(&[("k1".to_owned(), json!({}))]).await.unwrap();
    let before = store.run_get(run).await.unwrap();

    let made_up = handle(&store, run, Uuid::now_v7()).await;
    let done = RunEvent::Complete {
        outcome: RunOutcome::Succeeded,
        counts: SummaryCounts::default(),
        result: json!({}),
        failures: vec![],
    };
    // Another handle of the same run, to be made stale by the run finishing.
    let finished = handle(&store, run, token).await;
    for (what, results) in [("a made-up token", &made_up), ("the token of a finished run", &finished)] {
        if what == "the token of a finished run" {
            store.run_finish(run, token, done.clone()).await.unwrap();
        }
        let fenced = |r: StoreResult<()>| assert!(matches!(r, Err(StoreError::Fenced)), "{what}: {r:?}");
        fenced(results.items_ensure(&[("k2".to_owned(), json!({}))]).await.map(drop));
        let ok = ItemResult { outcome: ItemOutcome::Succeeded, reason_code: None, error: None, detail: json!({}) };
        fenced(results.item_finish("k1", &ok).await);
        fenced(results.items_close_pending(ItemOutcome::Blocked, None).await.map(drop));
        let entry = InventoryEntry {
            kind: "compliance_policy".into(),
            object_id: "a".into(),
            display_name: "A".into(),
            content_hash: "1".into(),
        };
        fenced(results.inventory_replace(&[entry]).await.map(drop));
        let obs = PolicyObservation {
            kind: "compliance_policy".into(),
            object_id: "a".into(),
            display_name: "A".into(),
            content_hash: "1".into(),
            payload: json!({}),
        };
        fenced(results.policy_sync_record(&[obs]).await.map(drop));
        fenced(results.compliance_snapshot_record(&json!([{"policy_id": "p", "compliant": 1}])).await.map(drop));
        let item = NewBackupItem {
            kind: "device_configuration".into(),
            object_id: "a".into(),
            display_name: "A".into(),
            content_hash: "h".into(),
            payload: json!({}),
            assignments: json!([]),
        };
        fenced(results.backup_create(&[item]).await.map(drop));
        fenced(results.restore_map_put("device_configuration", "a", "a2").await);
        fenced(results.connection_record_health(json!({"ok": false}), None).await.map(drop));
        let counts = SummaryCounts { total: 9, ..SummaryCounts::default() };
        fenced(results.progress(&counts).await);
    }

    let items = store.run_items(run).await.unwrap();
    assert_eq!(items.len(), 1, "no item added");
    assert_eq!((items[0].status, items[0].outcome), (ItemStatus::Pending, ItemOutcome::Pending), "none finished");
    assert!(store.inventory_list(tenant.id).await.unwrap().is_empty());
    assert!(store.policy_versions(tenant.id).await.unwrap().is_empty());
    assert!(store.compliance_snapshots(tenant.id, 5).await.unwrap().is_empty());
    assert!(store.backup_sets_for_tenant(tenant.id, 5).await.unwrap().is_empty());
    assert_eq!(live.restore_map_get("device_configuration", "a").await.unwrap(), None);
    assert_eq!(store.connection_get(tenant.id).await.unwrap().and_then(|c| c.health), None);
    assert_eq!(store.run_get(run).await.unwrap().summary_counts, before.summary_counts, "no progress written");
}

/// A bulk item's handle writes the item's tenant's results under the bulk
/// run's lease, and never another workspace's.
async fn a_bulk_items_handle_is_fenced_by_its_bulk_run(store: Store) {
    let (tenant, run, token) = running(&store, OperationType::BackupRun).await;
    let bulk = handle(&store, run, token).await;
    let mut item = store.run_get(run).await.unwrap();
    item.id = Uuid::now_v7();
    let results = bulk.for_item(&item).unwrap();
    let entry = InventoryEntry {
        kind: "compliance_policy".into(),
        object_id: "a".into(),
        display_name: "A".into(),
        content_hash: "1".into(),
    };
    results.inventory_replace(std::slice::from_ref(&entry)).await.unwrap();
    assert_eq!(store.inventory_list(tenant.id).await.unwrap(), std::slice::from_ref(&entry));
    results.progress(&SummaryCounts { total: 5, ..SummaryCounts::default() }).await.unwrap();
    assert_eq!(store.run_get(run).await.unwrap().summary_counts.total, 0, "an item reports no progress of its own");
    let stale = handle(&store, run, Uuid::now_v7()).await.for_item(&item).unwrap();
    assert!(matches!(stale.inventory_replace(&[]).await, Err(StoreError::Fenced)));
    assert_eq!(store.inventory_list(tenant.id).await.unwrap(), [entry]);
    let elsewhere = Run { workspace_id: Uuid::now_v7(), ..item };
    assert!(matches!(bulk.for_item(&elsewhere), Err(StoreError::Invalid(_))));
}

conformance!(a_stale_lease_writes_nothing_through_the_handle, a_bulk_items_handle_is_fenced_by_its_bulk_run);
