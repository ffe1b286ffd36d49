//! The cron scheduler: one run per slot however many nodes fire it, one
//! catch-up run after downtime, and disabled schedules neither fire nor run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{cli, World};
use atlas_core::run::RunOutcome;
use atlas_core::Timestamp;
use atlas_engine::scheduler::{Scheduler, SchedulerConfig};
use atlas_store::run::RunFilter;

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

async fn backup_runs(w: &World) -> Vec<atlas_core::run::Run> {
    let filter = RunFilter {
        tenant_id: Some(w.tenant.id),
        op_type: Some(atlas_core::OperationType::BackupRun),
        limit: 500,
        ..Default::default()
    };
    w.store.run_list(&filter).await.unwrap()
}

async fn one_run_per_slot_across_nodes(store: atlas_store::Store) {
    let w = World::new(store).await;
    let schedule = w.store.schedule_add(w.tenant.id, "*/5 * * * *", "UTC", &cli()).await.unwrap();
    // Created "in the past" so that the slots below are due.
    w.store
        .execute_raw(&format!("UPDATE backup_schedules SET created_at = 0 WHERE id = '{}'", schedule.id))
        .await
        .unwrap();
    let nodes: Vec<Scheduler> = (0..3)
        .map(|_| Scheduler::new(w.store.clone(), SchedulerConfig { max_attempts: 3, ..SchedulerConfig::default() }))
        .collect();
    for minute in ["10:00", "10:05", "10:10"] {
        let now = at(&format!("2026-11-26T{minute}:30Z"));
        // Polled together: each node's tick races the others on the slot's unique key.
        let (a, b, c) = tokio::join!(nodes[0].tick_at(now), nodes[1].tick_at(now), nodes[2].tick_at(now));
        let fired: u64 = [a, b, c].iter().map(|t| t.as_ref().unwrap().fired).sum();
        assert_eq!(fired, 1, "exactly one node fires {minute}");
        w.drain().await;
    }
    let runs = backup_runs(&w).await;
    assert_eq!(runs.len(), 3, "one run per slot");
    assert!(runs.iter().all(|r| r.outcome == RunOutcome::Succeeded && r.initiator_user_id.is_none()));
    let mut slots: Vec<_> = runs.iter().map(|r| r.source.as_ref().unwrap()["slot"].clone()).collect();
    slots.dedup();
    assert_eq!(slots.len(), 3);
    // Downtime: an hour of missed slots catches up with one run (the latest).
    let report = nodes[0].tick_at(at("2026-11-26T11:12:00Z")).await.unwrap();
    assert_eq!(report.fired, 1);
    let again = nodes[1].tick_at(at("2026-11-26T11:13:00Z")).await.unwrap();
    assert_eq!(again.fired, 0, "11:10 already fired");
    let runs = backup_runs(&w).await;
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[0].source.as_ref().unwrap()["slot"], serde_json::json!("2026-11-26T11:10:00Z"));
}

async fn disabled_schedules_do_not_fire(store: atlas_store::Store) {
    let w = World::new(store).await;
    let schedule = w.store.schedule_add(w.tenant.id, "0 * * * *", "UTC", &cli()).await.unwrap();
    w.store
        .execute_raw(&format!("UPDATE backup_schedules SET created_at = 0 WHERE id = '{}'", schedule.id))
        .await
        .unwrap();
    w.store.schedule_set_enabled(schedule.id, false, &cli()).await.unwrap();
    let report = Scheduler::new(w.store.clone(), SchedulerConfig { max_attempts: 3, ..SchedulerConfig::default() })
        .tick_at(at("2026-11-26T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(report.fired, 0);
    assert!(backup_runs(&w).await.is_empty());
}

both_stores!(one_run_per_slot_across_nodes, disabled_schedules_do_not_fire);
