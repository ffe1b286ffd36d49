//! Workers as real, separate `atlas worker` processes (SPEC §3.3, §4, §8):
//! a worker killed with SIGKILL in the middle of a restore leaves a run that
//! another worker finishes once the lease has expired, and the dead worker's
//! token can write nothing more; several worker processes draining one queue
//! complete every run exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::support::world::{Db, MANAGER};
use crate::support::Atlas;
use atlas_core::capability::BuiltinRole;
use atlas_core::run::{RunEvent, RunOutcome, RunStatus};
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::{OperationType, SummaryCounts};
use atlas_engine::{service, StartRequest};
use atlas_providers::sandbox::SandboxProvider;
use atlas_providers::{ObjectType, Provider, ProviderError, WriteFence};
use atlas_store::admin::{ChangeBy, RoleRef};
use atlas_store::audit::AuditFilter;
use atlas_store::sandbox::SandboxJournalEntry;
use atlas_store::{Store, StoreError};
use serde_json::{json, Value};
use uuid::Uuid;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// A short lease, so that a dead worker's run is rescued within seconds.
const SHORT_LEASE: &[(&str, &str)] =
    &[("ATLAS_LEASE_MS", "1500"), ("ATLAS_POLL_INTERVAL_MS", "25"), ("ATLAS_RETRY_BACKOFF_MS", "50")];

fn journal(db: &Db, tenant: Uuid) -> Vec<SandboxJournalEntry> {
    db.block(db.store.sandbox_journal(tenant)).unwrap()
}

/// Every audit event with this action in the workspace, however many.
async fn all_events(store: &Store, workspace_id: Uuid, action: &str) -> Vec<atlas_store::audit::AuditEvent> {
    let mut all = Vec::new();
    let mut before_seq = None;
    loop {
        let filter = AuditFilter {
            workspace_id: Some(workspace_id),
            action: Some(action.to_owned()),
            before_seq,
            limit: AuditFilter::MAX_LIMIT,
            ..Default::default()
        };
        let page = store.audit_events(filter).await.unwrap();
        let Some(min) = page.iter().map(|e| e.seq).min() else { break };
        before_seq = Some(min);
        all.extend(page);
    }
    all
}

fn run_actions(db: &Db, run: Uuid) -> Vec<String> {
    let filter = AuditFilter { subject: Some(format!("run:{run}")), limit: 1000, ..Default::default() };
    let mut events = db.block(db.store.audit_events(filter)).unwrap();
    events.sort_by_key(|e| e.seq);
    events.into_iter().map(|e| e.action).collect()
}

/// A seeded tenant backed up, then every object of it edited by an
/// administrator in the portal, so that restoring each one is a write:
/// (tenant id as given to the CLI, tenant id, backup set id, database, the edited objects).
fn backed_up_then_edited(atlas: &Atlas) -> (String, Uuid, String, Db, Vec<(&'static ObjectType, String)>) {
    let north = atlas.world();
    let tenant = Uuid::parse_str(&north).unwrap();
    let backup = id(&atlas.start(MANAGER, &north, "backup.run", None));
    atlas.drain();
    let set = atlas.show(&backup)["result"]["backup_set_id"].as_str().unwrap().to_owned();
    let db = atlas.db();
    let mut edited = Vec::new();
    for kind in atlas_providers::object_type::all() {
        for o in db.block(db.store.sandbox_objects(tenant, kind.key)).unwrap() {
            let mut payload = o.payload.clone();
            payload["description"] = json!("edited outside TenantAtlas");
            assert!(db.block(db.store.sandbox_out_of_band_update(tenant, kind.key, &o.object_id, &payload)).unwrap());
            edited.push((kind, o.object_id));
        }
    }
    (north, tenant, set, db, edited)
}

/// Crash: SIGKILL mid-restore, rescue after the lease expires, fencing of the
/// dead worker's token, and no object written twice.
fn a_killed_worker_is_rescued_and_its_token_is_fenced(atlas: Atlas) {
    let (north, tenant, set, db, objects) = backed_up_then_edited(&atlas);
    let edited = objects.len() as u64;
    // Objects of read-only types are compared, never written (skipped, not_restorable).
    let read_only = objects.iter().filter(|(kind, _)| !kind.restorable()).count() as u64;
    let victim = objects.first().cloned();
    assert!(edited >= 10, "a seeded tenant has objects: {edited}");
    // The sandbox is slow for the first items, so the restore is caught mid-way.
    atlas.ok(&["sandbox", "fault", "--tenant", &north, "--kind", "latency", "--calls", "12", "--ms", "400"]);
    let params = format!(r#"{{"backup_set_id": "{set}"}}"#);
    let run = id(&atlas.start(MANAGER, &north, "restore.execute", Some(&params)));
    let run_id = Uuid::parse_str(&run).unwrap();

    let mut doomed = atlas.spawn(&["worker"], SHORT_LEASE);
    let deadline = Instant::now() + Duration::from_secs(30);
    let stale = loop {
        assert!(Instant::now() < deadline, "the restore never got going: {}", atlas.show(&run));
        if doomed.exited() {
            panic!("the worker exited by itself: {:?}", doomed.kill());
        }
        if atlas.show(&run)["status"] == "running" && journal(&db, tenant).iter().any(|e| e.run_id == run_id) {
            let held = db.block(db.store.run_get(run_id)).unwrap();
            break held.lease.expect("a running run holds a lease").token;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let killed = doomed.kill();
    assert_eq!(killed.code, -1, "killed by a signal: {killed:?}");
    let at_kill = journal(&db, tenant);
    assert!(!at_kill.is_empty() && at_kill.iter().all(|e| e.lease_token == stale), "{at_kill:?}");
    assert!((at_kill.len() as u64) < edited, "killed before the end: {} of {edited}", at_kill.len());
    let orphan = atlas.show(&run);
    assert_eq!((orphan["status"].clone(), orphan["attempt"].clone()), (json!("running"), json!(1)), "{orphan}");

    // Another worker waits out the dead one's lease, rescues the run and finishes it.
    let started = Instant::now();
    let out = atlas.run_bounded(&["worker", "--until-idle", "--json"], SHORT_LEASE, Duration::from_secs(90));
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!((report["rescued"].clone(), report["started"].clone()), (json!(1), json!(1)), "{report}");
    assert_eq!((report["finished"].clone(), report["lost_leases"].clone()), (json!(1), json!(0)), "{report}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // The operator reads which run was rescued, in words and without colour codes (stderr is a pipe).
    assert!(out.stderr.contains(&format!("rescued run {run}: attempt 1 of 3 stopped answering")), "{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "no ANSI codes off a terminal: {:?}", out.stderr);

    let done = atlas.show(&run);
    assert_eq!((done["status"].clone(), done["outcome"].clone()), (json!("completed"), json!("succeeded")), "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    let codes: Vec<&str> = done["failures"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
    assert_eq!(codes, ["lease_expired"], "{done}");
    let c = &done["summary_counts"];
    let n = |k: &str| c[k].as_u64().unwrap();
    assert_eq!((n("total"), n("processed"), n("failed"), n("blocked")), (edited, edited, 0, 0), "{done}");
    // An item written just before the kill but not yet recorded is found unchanged, never written again.
    assert_eq!(n("succeeded") + n("skipped"), edited, "{done}");
    assert!(n("skipped") <= 1 + read_only && n("updated") == n("succeeded"), "{done}");
    let items = done["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, edited);
    assert!(items.iter().all(|i| i["status"] == "completed"), "{items:?}");

    // The dead worker wrote nothing after it was killed; every object was written once.
    let after = journal(&db, tenant);
    let by_stale: Vec<_> = after.iter().filter(|e| e.lease_token == stale).collect();
    assert_eq!(by_stale.len(), at_kill.len(), "no write under the dead worker's token after the kill");
    let fresh: Vec<_> = after.iter().filter(|e| e.lease_token != stale).collect();
    assert!(!fresh.is_empty());
    assert_eq!(fresh.iter().map(|e| e.lease_token).collect::<BTreeSet<_>>().len(), 1, "one token for attempt 2");
    let last_stale = by_stale.iter().map(|e| e.seq).max().unwrap();
    assert!(fresh.iter().all(|e| e.seq > last_stale && e.run_id == run_id), "attempt 2 wrote after attempt 1");
    let objects: BTreeSet<_> = after.iter().map(|e| (e.kind.clone(), e.object_id.clone())).collect();
    let written = edited - read_only;
    assert_eq!((after.len() as u64, objects.len() as u64), (written, written), "each object written exactly once");

    // The dead worker's late writes (its stale token) are refused.
    let provider = SandboxProvider::new(db.store.clone(), tenant);
    let fence = WriteFence { run_id, lease_token: stale };
    let (kind, object_id) = victim.unwrap();
    let late = db.block(provider.update_object(fence, kind, &object_id, &json!({"displayName": "late"})));
    assert_eq!(late.err(), Some(ProviderError::Fenced));
    let late = db.block(provider.create_object(fence, kind, &json!({"displayName": "late twin"})));
    assert_eq!(late.err(), Some(ProviderError::Fenced));
    let late_finish = RunEvent::Complete {
        outcome: RunOutcome::Failed,
        counts: SummaryCounts::default(),
        result: json!({}),
        failures: vec![],
    };
    assert!(matches!(db.block(db.store.run_finish(run_id, stale, late_finish)), Err(StoreError::Fenced)));
    assert_eq!(journal(&db, tenant).len(), after.len());
    assert_eq!(atlas.show(&run)["outcome"], "succeeded", "completed runs never change");

    assert_eq!(
        run_actions(&db, run_id),
        [
            "operation.queued",
            "operation.started",
            "operation.retry_scheduled",
            "operation.started",
            "operation.completed"
        ]
    );
    assert_eq!(db.block(db.store.notifications_for_run(run_id)).unwrap().len(), 1, "one notification, rescue or not");

    // The tenant equals the backup: a dry run finds nothing to do, and nothing is duplicated.
    let dry = id(&atlas.start(
        MANAGER,
        &north,
        "restore.execute",
        Some(&format!(r#"{{"backup_set_id": "{set}", "dry_run": true}}"#)),
    ));
    atlas.drain();
    let dry = atlas.show(&dry);
    // Read-only types were edited too and cannot be written back: skipped, with their reason.
    let plan = json!({"create": 0, "update": 0, "unchanged": edited - read_only, "skipped": read_only});
    assert_eq!(dry["result"]["plan_summary"], plan, "{dry}");
    let count: u64 = atlas_providers::object_type::all()
        .iter()
        .map(|k| db.block(db.store.sandbox_objects(tenant, k.key)).unwrap().len() as u64)
        .sum();
    assert_eq!(count, edited);
}

/// SIGTERM mid-restore: the worker stops claiming, gives the in-flight run
/// its grace period, hands it back to the queue at once (no lease to wait
/// out, the attempt not counted) and exits 0; the next worker finishes it
/// and no object is written twice.
fn a_stopped_worker_hands_its_runs_back(atlas: Atlas) {
    let (north, tenant, set, db, objects) = backed_up_then_edited(&atlas);
    let written = objects.iter().filter(|(kind, _)| kind.restorable()).count() as u64;
    atlas.ok(&["sandbox", "fault", "--tenant", &north, "--kind", "latency", "--calls", "200", "--ms", "300"]);
    let params = format!(r#"{{"backup_set_id": "{set}"}}"#);
    let run = id(&atlas.start(MANAGER, &north, "restore.execute", Some(&params)));
    let run_id = Uuid::parse_str(&run).unwrap();

    // A long lease: were the run not handed back, the next worker would wait a minute for it.
    let env =
        [("ATLAS_LEASE_MS", "60000"), ("ATLAS_POLL_INTERVAL_MS", "25"), ("ATLAS_WORKER_SHUTDOWN_GRACE_MS", "300")];
    let worker = atlas.spawn(&["worker", "--json"], &env);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(atlas.show(&run)["status"] == "running" && journal(&db, tenant).iter().any(|e| e.run_id == run_id)) {
        assert!(Instant::now() < deadline, "the restore never got going: {}", atlas.show(&run));
        std::thread::sleep(Duration::from_millis(50));
    }
    let term = std::process::Command::new("kill").args(["-TERM", &worker.pid().to_string()]).status().unwrap();
    assert!(term.success());
    let stopped = worker.wait(Duration::from_secs(20));
    assert_eq!(stopped.code, 0, "SIGTERM exits 0: {stopped:?}");
    let report: Value = serde_json::from_str(stopped.stdout.trim()).unwrap();
    assert_eq!((report["handed_back"].clone(), report["finished"].clone()), (json!(1), json!(0)), "{report}");
    assert!(stopped.stderr.contains(&format!("run {run} handed back to the queue")), "{}", stopped.stderr);

    let back = atlas.show(&run);
    assert_eq!((back["status"].clone(), back["attempt"].clone()), (json!("queued"), json!(0)), "{back}");
    let codes: Vec<&str> = back["failures"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
    assert_eq!(codes, ["worker_stopped"], "{back}");
    let partial = journal(&db, tenant).len() as u64;
    assert!(partial < written, "stopped before the end: {partial} of {written}");

    atlas.ok(&["sandbox", "fault", "--tenant", &north, "--kind", "latency", "--calls", "0"]);
    let started = Instant::now();
    let report = atlas.drain_with(&[("ATLAS_LEASE_MS", "60000")]);
    assert!(started.elapsed() < Duration::from_secs(45), "no lease was waited out: {report}");
    let done = atlas.show(&run);
    assert_eq!((done["outcome"].clone(), done["attempt"].clone()), (json!("succeeded"), json!(1)), "{done}");
    let after = journal(&db, tenant);
    let objects: BTreeSet<_> = after.iter().map(|e| (e.kind.clone(), e.object_id.clone())).collect();
    assert_eq!((after.len() as u64, objects.len() as u64), (written, written), "each object written exactly once");
    assert_eq!(db.block(db.store.notifications_for_run(run_id)).unwrap().len(), 1);
}

/// Queues `runs` no-op runs (one per tenant: the dedupe key is per tenant)
/// through the start service in-process; returns the workspace and run ids.
fn queue_noops(db: &Db, runs: usize) -> (Uuid, Vec<Uuid>) {
    let noop = OperationType::parse("testkit.noop").expect("testkit build");
    db.block(async {
        let store = &db.store;
        let by = ChangeBy::cli();
        let ws = store.workspace_create("acme", "Acme", &by).await.unwrap();
        let user = store.user_create(MANAGER, "Jane Doe", None, &by).await.unwrap();
        let role = RoleRef::Builtin(BuiltinRole::Operator);
        store.member_grant(ws.id, user.id, &role, &TenantScope::All, &by).await.unwrap();
        // A few at a time: the setup is not what is under test.
        let mut tasks = tokio::task::JoinSet::new();
        for lane in 0..8 {
            let (store, by) = (store.clone(), by.clone());
            tasks.spawn(async move {
                let mut ids = Vec::new();
                for i in (lane..runs).step_by(8) {
                    let name = format!("Tenant {i:04}");
                    let t = store.tenant_create(ws.id, &name, TenantStatus::Active, false, None, &by).await.unwrap();
                    store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
                    let req = StartRequest {
                        user_id: user.id,
                        workspace_id: ws.id,
                        tenant_id: Some(t.id),
                        op_type: noop,
                        params: json!({}),
                        retry_of_run_id: None,
                        max_attempts: 3,
                    };
                    let inserted = service::start(&store, req).await.unwrap();
                    assert!(!inserted.deduplicated);
                    ids.push(inserted.run.id);
                }
                ids
            });
        }
        let mut ids = Vec::with_capacity(runs);
        while let Some(lane) = tasks.join_next().await {
            ids.extend(lane.unwrap());
        }
        assert_eq!(ids.len(), runs);
        (ws.id, ids)
    })
}

/// `workers` processes drain `runs` runs: each completes exactly once.
fn every_run_completes_exactly_once(atlas: &Atlas, runs: usize, workers: usize) {
    if OperationType::parse("testkit.noop").is_none() {
        eprintln!("!!! SKIPPING exactly-once: build with --features atlas-engine/testkit (./scripts/test does)");
        return;
    }
    let db = atlas.db();
    let setup = Instant::now();
    let (workspace, ids) = queue_noops(&db, runs);
    eprintln!("queued {runs} runs in {:?}", setup.elapsed());

    let env = [("ATLAS_WORKER_CONCURRENCY", "4"), ("ATLAS_POLL_INTERVAL_MS", "20"), ("ATLAS_RETRY_BACKOFF_MS", "50")];
    let started = Instant::now();
    let procs: Vec<_> = (0..workers).map(|_| atlas.spawn(&["worker", "--until-idle", "--json"], &env)).collect();
    let reports: Vec<Value> = procs
        .into_iter()
        .map(|p| {
            let out = p.wait(Duration::from_secs(240));
            assert_eq!(out.code, 0, "{out:?}");
            serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"))
        })
        .collect();
    eprintln!("{workers} workers drained {runs} runs in {:?}: {reports:?}", started.elapsed());
    let sum = |k: &str| reports.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
    let n = runs as u64;
    assert_eq!((sum("started"), sum("finished")), (n, n), "{reports:?}");
    assert_eq!(
        (sum("blocked"), sum("lost_leases"), sum("rescued"), sum("retried_at_claim")),
        (0, 0, 0, 0),
        "{reports:?}"
    );
    let busy = reports.iter().filter(|r| r["started"].as_u64().unwrap() > 0).count();
    assert!(busy >= 2, "the processes shared the queue: {reports:?}");

    db.block(async {
        let store = &db.store;
        for id in &ids {
            let run = store.run_get(*id).await.unwrap();
            assert_eq!(
                (run.status, run.outcome, run.attempt),
                (RunStatus::Completed, RunOutcome::Succeeded, 1),
                "{run:?}"
            );
            assert!(run.failures.is_empty(), "{run:?}");
            assert_eq!(store.notifications_for_run(*id).await.unwrap().len(), 1, "one notification for {id}");
        }
        let expected: BTreeSet<String> = ids.iter().map(|id| format!("run:{id}")).collect();
        for action in ["operation.queued", "operation.started", "operation.completed"] {
            let events = all_events(store, workspace, action).await;
            let mut per_run: BTreeMap<String, usize> = BTreeMap::new();
            for e in &events {
                *per_run.entry(e.subject.clone()).or_default() += 1;
            }
            assert_eq!(per_run.keys().cloned().collect::<BTreeSet<_>>(), expected, "{action} for every run");
            let twice: Vec<_> = per_run.iter().filter(|(_, n)| **n != 1).collect();
            assert!(twice.is_empty(), "{action} recorded more than once: {twice:?}");
        }
        for action in ["operation.retry_scheduled", "operation.blocked", "operation.cancelled"] {
            assert!(all_events(store, workspace, action).await.is_empty(), "no {action}");
        }
    });
    let verify = atlas.ok(&["audit", "verify"]);
    assert_eq!(verify["broken"], Value::Null, "{verify}");
}

#[test]
fn exactly_once_on_postgres_with_four_worker_processes() {
    let Some(atlas) = Atlas::postgres() else { return };
    every_run_completes_exactly_once(&atlas, 500, 4);
}

/// The embedded store shares one file between processes; the same guarantee holds.
#[test]
fn exactly_once_on_sqlite_with_several_worker_processes() {
    every_run_completes_exactly_once(&Atlas::new(), 120, 3);
}

cli_both_stores!(a_killed_worker_is_rescued_and_its_token_is_fenced, a_stopped_worker_hands_its_runs_back);
