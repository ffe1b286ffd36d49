//! The cron scheduler across node processes on PostgreSQL: three `atlas worker`
//! nodes over several per-second slots make exactly one run per slot, and after
//! downtime a restarted node catches up with one run, not a burst.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::world::FAST;
use crate::support::Atlas;

/// Seconds-resolution cron for tests, and a quick scheduler tick.
const NODE: &[(&str, &str)] = &[("ATLAS_CRON_ALLOW_SECONDS", "1"), ("ATLAS_SCHEDULER_TICK_MS", "100")];

/// The schedule's runs as (slot, run id).
fn slot_runs(atlas: &Atlas, schedule: &str) -> Vec<(String, String)> {
    let runs = atlas.ok(&["runs", "list", "--workspace", "acme", "--type", "backup.run", "--limit", "500"]);
    runs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"]["schedule_id"] == schedule)
        .map(|r| (r["source"]["slot"].as_str().unwrap().to_owned(), r["id"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn three_nodes_fire_each_slot_once_and_catch_up_once() {
    let Some(atlas) = Atlas::postgres() else { return };
    let tenant = atlas.world();
    let env: Vec<(&str, &str)> = [FAST, NODE].concat();
    let schedule = {
        let out = atlas.run(&["schedules", "add", "--tenant", &tenant, "--cron", "* * * * * *", "--json"]);
        // Six fields are refused without the test switch…
        assert_eq!(out.code, 2, "{out:?}");
        let out = atlas.run_bounded(
            &["schedules", "add", "--tenant", &tenant, "--cron", "* * * * * *", "--json"],
            &env,
            Duration::from_secs(30),
        );
        assert_eq!(out.code, 0, "{out:?}");
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()["id"].as_str().unwrap().to_owned()
    };

    let mut nodes: Vec<_> = (0..3).map(|_| atlas.spawn(&["worker"], &env)).collect();
    std::thread::sleep(Duration::from_millis(3_500));
    for n in &mut nodes {
        n.kill();
    }
    let fired = slot_runs(&atlas, &schedule);
    let slots: BTreeSet<_> = fired.iter().map(|(slot, _)| slot.clone()).collect();
    assert!(slots.len() >= 2, "several slots fired: {fired:?}");
    assert_eq!(slots.len(), fired.len(), "exactly one run per slot: {fired:?}");

    // Downtime of several slots, then one node for a moment: one catch-up run.
    std::thread::sleep(Duration::from_millis(3_000));
    let before = fired.len();
    let restart = atlas_core::Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc());
    let slot_of = |s: &str| atlas_core::Timestamp::parse_rfc3339(s).unwrap_or_default();
    let last_before = fired.iter().map(|(slot, _)| slot_of(slot)).max().unwrap_or_default();
    let mut node = atlas.spawn(&["worker"], &env);
    // Until the node has fired (its start and first tick take longer on a busy
    // machine), for at most 15 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline
        && !slot_runs(&atlas, &schedule).iter().any(|(slot, _)| slot_of(slot) > last_before)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    node.kill();
    let after = slot_runs(&atlas, &schedule);
    let new: Vec<_> = after.iter().filter(|(slot, _)| slot_of(slot) > last_before).collect();
    // Several slots were missed while no node ran; they are covered by at most
    // one run (the newest due slot), not a burst. The restarted node may also
    // fire a slot that falls due after it started.
    let missed = new.iter().filter(|(slot, _)| slot_of(slot) < restart).count();
    assert!(missed <= 1, "no burst for the missed slots: {after:?}");
    assert!(!new.is_empty(), "the restarted node catches up: {after:?}");
    assert_eq!(after.len(), before + new.len());
    let slots: BTreeSet<_> = after.iter().map(|(slot, _)| slot.clone()).collect();
    assert_eq!(slots.len(), after.len(), "still one run per slot");
}
