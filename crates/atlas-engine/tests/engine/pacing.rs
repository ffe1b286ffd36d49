//! Provider write pacing: a burst of restores to one tenant never exceeds the
//! write budget in any sliding window, checked from the sandbox journal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::World;
use atlas_core::run::RunOutcome;
use atlas_core::OperationType;
use atlas_store::pacing::WriteBudget;
use serde_json::json;

const BUDGET: usize = 6;
const WINDOW_MICROS: i64 = 1_000_000;

async fn burst_of_restores_stays_within_the_budget(store: atlas_store::Store) {
    let mut w = World::new(store).await;
    w.providers.write_budget = WriteBudget { limit: BUDGET as u32, window_ms: WINDOW_MICROS / 1000 };
    let configs = w.store.sandbox_objects(w.tenant.id, "device_configuration").await.unwrap();
    let mut sets = Vec::new();
    for version in 1..=3 {
        let run = w.start(OperationType::BackupRun, json!({})).await;
        w.drain().await;
        sets.push(w.run(run.id).await.result["backup_set_id"].as_str().unwrap().to_owned());
        // Change every configuration so that each set differs from the tenant.
        for o in &configs {
            let mut p = o.payload.clone();
            p["description"] = json!(format!("version {}", version + 1));
            w.store.sandbox_out_of_band_update(w.tenant.id, "device_configuration", &o.object_id, &p).await.unwrap();
        }
    }
    let mut runs = Vec::new();
    for set in &sets {
        runs.push(w.start(OperationType::RestoreExecute, json!({"backup_set_id": set})).await.id);
    }
    w.drain().await;
    for id in runs {
        assert_eq!(w.run(id).await.outcome, RunOutcome::Succeeded);
    }
    let mut times: Vec<i64> =
        w.store.sandbox_journal(w.tenant.id).await.unwrap().iter().map(|e| e.at.micros()).collect();
    times.sort_unstable();
    assert!(times.len() > BUDGET * 2, "a real burst: {} writes", times.len());
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|t| **t < start + WINDOW_MICROS).count();
        assert!(in_window <= BUDGET, "{in_window} writes within one window starting at write {i}");
    }
}

both_stores!(burst_of_restores_stays_within_the_budget);
