//! Side effects exactly once across a rescue (SPEC §5, issue 15 item 17): a
//! worker that dies — or loses its lease — after the tenant accepted a write
//! and before the write was recorded leaves the next attempt nothing to write
//! twice: a backup run keeps the one set, a restore re-creates a deleted
//! object once and finds an update already made.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use atlas_core::run::{RunOutcome, RunStatus};
use atlas_core::OperationType;
use atlas_store::sandbox::JournalOp;
use serde_json::json;

use crate::support::{AfterWrite, World};

/// A lease short enough for the test to outlive it.
const LEASE_MS: u64 = 300;

/// A sandbox provider after whose `nth` accepted write the run's lease runs
/// out and the run is rescued — before the family records the write.
fn dies_after_write(w: &World, nth: u32) -> Arc<AfterWrite> {
    let w2 = (w.store.clone(), LEASE_MS);
    Arc::new(AfterWrite::new(
        w.sandbox_providers().sandbox(w.tenant.id),
        Box::new(move |n| {
            let (store, lease_ms) = w2.clone();
            Box::pin(async move {
                if n == nth {
                    tokio::time::sleep(Duration::from_millis(lease_ms + 100)).await;
                    assert_eq!(store.run_rescue_expired(10, 100).await.unwrap().len(), 1, "the attempt is rescued");
                }
            })
        }),
    ))
}

async fn backup_set_count(w: &World) -> usize {
    w.store.backup_sets_for_tenant(w.tenant.id, 100).await.unwrap().len()
}

async fn a_backup_rescued_after_writing_its_set_keeps_that_one_set(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(OperationType::BackupRun, json!({})).await;
    // The attempt writes its set and dies before recording it.
    let provider = w.sandbox_providers().sandbox(w.tenant.id);
    let first = w.execute_claimed(LEASE_MS as i64, provider, Duration::from_secs(30)).await.unwrap();
    assert_eq!(backup_set_count(&w).await, 1);
    assert_eq!(w.expire_and_rescue(LEASE_MS).await, 1);
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome, run.attempt), (RunStatus::Completed, RunOutcome::Succeeded, 2), "{run:?}");
    assert_eq!(backup_set_count(&w).await, 1, "no second set");
    assert_eq!(run.result["backup_set_id"], first.result["backup_set_id"], "the run names the set it wrote");
}

/// Three items of one type: two deleted objects that share their name and
/// type (so no secondary-key match can find a re-created one) and one edited object
/// that gained a member. Each of the first two attempts dies right after its
/// first write landed; the third finishes.
async fn a_restore_rescued_after_its_writes_landed_writes_each_once(store: atlas_store::Store) {
    let w = World::new(store).await;
    let kind = "device_configuration";
    let objects = w.store.sandbox_objects(w.tenant.id, kind).await.unwrap();
    assert!(objects.len() >= 3, "the seed has three device configurations");
    let (twin_a, twin_b, edited) = (&objects[0], &objects[1], &objects[2]);
    // Same name and type (the secondary key), other content.
    let mut twin = twin_a.payload.clone();
    twin["description"] = json!("the twin");
    if let Some(id) = twin_b.payload.get("id") {
        twin["id"] = id.clone();
    }
    w.store.sandbox_out_of_band_update(w.tenant.id, kind, &twin_b.object_id, &twin).await.unwrap();
    let backup = w.start(OperationType::BackupRun, json!({})).await;
    w.drain().await;
    let set = w.run(backup.id).await.result["backup_set_id"].as_str().unwrap().to_owned();

    w.store.sandbox_out_of_band_delete(w.tenant.id, kind, &twin_a.object_id).await.unwrap();
    w.store.sandbox_out_of_band_delete(w.tenant.id, kind, &twin_b.object_id).await.unwrap();
    let mut changed = edited.payload.clone();
    changed["description"] = json!("changed outside TenantAtlas");
    changed["addedLater"] = json!("a member the backup does not have");
    w.store.sandbox_out_of_band_update(w.tenant.id, kind, &edited.object_id, &changed).await.unwrap();

    let items = w.store.backup_items(set.parse().unwrap()).await.unwrap();
    let picked: Vec<String> = items
        .iter()
        .filter(|i| [&twin_a.object_id, &twin_b.object_id, &edited.object_id].contains(&&i.object_id))
        .map(|i| i.id.to_string())
        .collect();
    assert_eq!(picked.len(), 3);
    let run = w.start(OperationType::RestoreExecute, json!({"backup_set_id": set, "item_ids": picked})).await;
    for attempt in 1..=2 {
        let doomed = dies_after_write(&w, 1);
        let ended = w.execute_claimed(LEASE_MS as i64, doomed.clone(), Duration::from_secs(30)).await;
        assert_eq!(doomed.attempted(), 1, "attempt {attempt} wrote once, then lost its lease");
        assert_eq!(ended.err().map(|e| e.failure_code), Some("lease_lost".to_owned()), "attempt {attempt}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome, run.attempt), (RunStatus::Completed, RunOutcome::Succeeded, 3), "{run:?}");

    let journal = w.store.sandbox_journal(w.tenant.id).await.unwrap();
    let ops = |op| journal.iter().filter(|e| e.op == op).count();
    assert_eq!((ops(JournalOp::Create), ops(JournalOp::Update)), (2, 1), "each object written once: {journal:?}");
    let now = w.store.sandbox_objects(w.tenant.id, kind).await.unwrap();
    assert_eq!(now.len(), objects.len(), "no duplicate object");
    let ty = atlas_core::object_type::by_key(kind).unwrap();
    let restored = now.iter().find(|o| o.object_id == edited.object_id).unwrap();
    assert_eq!(
        ty.comparable(&restored.payload),
        ty.comparable(&edited.payload),
        "the restored object equals its backup"
    );
    assert!(restored.payload.get("addedLater").is_none(), "a member added after the backup is removed");

    // The restored tenant settles: a second restore writes nothing.
    let again = w.start(OperationType::RestoreExecute, json!({"backup_set_id": set})).await;
    w.drain().await;
    let again = w.run(again.id).await;
    assert_eq!(again.outcome, RunOutcome::Succeeded, "{again:?}");
    assert_eq!((again.summary_counts.created, again.summary_counts.updated), (0, 0), "{:?}", again.summary_counts);
    assert_eq!(w.store.sandbox_journal(w.tenant.id).await.unwrap().len(), journal.len(), "no new writes");
}

both_stores!(
    a_backup_rescued_after_writing_its_set_keeps_that_one_set,
    a_restore_rescued_after_its_writes_landed_writes_each_once,
);
