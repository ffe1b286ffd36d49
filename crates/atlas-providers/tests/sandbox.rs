//! The sandbox provider against both stores: seeding, reads, injected faults,
//! and fenced, journaled writes. Each case is an `async fn(Store)`; the macro
//! at the bottom runs it on SQLite and on PostgreSQL (skipped loudly when no
//! server answers, unless `ATLAS_TEST_PG=require`).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use atlas_core::gate::Authority;
use atlas_core::run::{NewRun, Run, RunEvent};
use atlas_core::tenant::ConnectionKind;
use atlas_core::{OperationType, RunOutcome, SummaryCounts, TenantScope, TenantStatus};
use atlas_providers::sandbox::{self, SandboxProvider};
use atlas_providers::{Provider, ProviderError, UpdateOutcome, WriteFence};
use atlas_store::admin::{ChangeBy, RoleRef};
use atlas_store::claim::{ClaimParams, Claimed};
use atlas_store::sandbox::{JournalOp, SandboxFaultKind};
use atlas_store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

/// A registered object type by key.
fn ty(key: &str) -> atlas_providers::Kind {
    atlas_providers::object_type::by_key(key).unwrap()
}

const DEVICE_RESTRICTIONS: &str = "8d4d2cd6-1c9c-4db1-937d-d03b94b09201";
const WINDOWS_COMPLIANCE: &str = "fbabfd63-cc3a-4bd6-85b7-4005ca855dc8";
const BITLOCKER_CATALOG: &str = "9cb2b211-8b18-442f-a535-ce8771a3bb5a";
const TIME_ZONE_SCRIPT: &str = "c98d5944-9f97-4362-8e97-b27d3cd9d890";
const PILOT_GROUP: &str = "fdae9d6b-7d4d-4d37-8c08-2f8c452f28aa";

/// The types of the original fixtures, with their counts; every other
/// registered type is seeded too (at least one object, checked below).
const EXPECTED_COUNTS: [(&str, usize); 7] = [
    ("device_configuration", 8),
    ("compliance_policy", 4),
    ("configuration_policy", 4),
    ("app_protection_policy", 4),
    ("device_management_script", 2),
    ("assignment_filter", 3),
    ("role_scope_tag", 3),
];

/// A workspace with an owner and an active tenant on a seeded sandbox connection.
struct World {
    store: Store,
    workspace_id: Uuid,
    user_id: Uuid,
    tenant_id: Uuid,
}

impl World {
    async fn new(store: Store) -> World {
        let by = ChangeBy::cli();
        let ws = store.workspace_create("fabrikam", "Fabrikam", &by).await.unwrap();
        let user = store.user_create("owner@example.com", "Olive Owner", None, &by).await.unwrap();
        store.member_grant(ws.id, user.id, &RoleRef::parse("owner"), &TenantScope::All, &by).await.unwrap();
        let tenant_id = World::add_tenant(&store, ws.id, "Fabrikam Dental").await;
        World { store, workspace_id: ws.id, user_id: user.id, tenant_id }
    }

    async fn add_tenant(store: &Store, workspace_id: Uuid, name: &str) -> Uuid {
        let by = ChangeBy::cli();
        let t = store.tenant_create(workspace_id, name, TenantStatus::Active, false, None, &by).await.unwrap();
        store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
        assert!(sandbox::seed(store, t.id).await.unwrap());
        t.id
    }

    fn provider(&self) -> SandboxProvider {
        SandboxProvider::new(self.store.clone(), self.tenant_id)
    }

    /// Inserts a backup run for `tenant_id` and claims it: running, with a lease.
    async fn running_run(&self, tenant_id: Uuid) -> (Run, WriteFence) {
        let new = NewRun {
            op_type: OperationType::BackupRun,
            workspace_id: self.workspace_id,
            tenant_id: Some(tenant_id),
            authority: Authority::Actor { user_id: self.user_id },
            params: json!({}),
            retry_of_run_id: None,
            max_attempts: 3,
        };
        let (run, audit) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
        self.store.run_insert(&run, &audit).await.unwrap();
        let params = ClaimParams { worker: "test:1:0".into(), lease_ms: 60_000, batch: 1, backoff_base_ms: 1000 };
        // The run becomes claimable by the database's clock, which may trail ours by a hair.
        for _ in 0..100 {
            if let Some(claimed) = self.store.run_claim_and_authorize(&params).await.unwrap().pop() {
                let Claimed::Started(run) = claimed else { panic!("the gate refused the run: {claimed:?}") };
                let token = run.lease.as_ref().unwrap().token;
                return (run.clone(), WriteFence { run_id: run.id, lease_token: token });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the run never became claimable");
    }

    async fn journal_len(&self) -> usize {
        self.store.sandbox_journal(self.tenant_id).await.unwrap().len()
    }
}

async fn seeding_is_realistic_and_idempotent(store: Store) {
    let w = World::new(store).await;
    let p = w.provider();
    for (kind, n) in EXPECTED_COUNTS {
        assert_eq!(p.list_objects(ty(kind)).await.unwrap().len(), n, "{kind}");
    }
    let mut counts = Vec::new();
    for kind in atlas_providers::object_type::all() {
        let n = p.list_objects(kind).await.unwrap().len();
        assert!(n >= 1, "{kind} has no sandbox object");
        counts.push(n);
    }
    assert!(!sandbox::seed(&w.store, w.tenant_id).await.unwrap(), "a second seed writes nothing");
    for (kind, n) in atlas_providers::object_type::all().iter().zip(counts) {
        assert_eq!(p.list_objects(kind).await.unwrap().len(), n, "{kind} after a second seed");
    }
    assert_eq!(w.store.sandbox_groups(w.tenant_id).await.unwrap().len(), 5);

    // What a backup tool reads beyond the list: settings, script content, types.
    let bitlocker = p.get_object(ty("configuration_policy"), BITLOCKER_CATALOG).await.unwrap().unwrap();
    assert_eq!(bitlocker.display_name, "[Baseline] Windows - BitLocker");
    assert_eq!(bitlocker.payload["settings"].as_array().unwrap().len(), 3);
    let script = p.get_object(ty("device_management_script"), TIME_ZONE_SCRIPT).await.unwrap().unwrap();
    assert!(script.payload["scriptContent"].as_str().is_some_and(|s| !s.is_empty()));
    for mam in p.list_objects(ty("app_protection_policy")).await.unwrap() {
        assert!(mam.payload["@odata.type"].as_str().unwrap().ends_with("ManagedAppProtection"));
    }
    let assigned = p.list_assignments(ty("device_configuration"), DEVICE_RESTRICTIONS).await.unwrap();
    assert_eq!(assigned.len(), 4);
    // Plausible assignments beyond the fixture's: 23 over 16 objects.
    let (mut assigned_objects, mut assignments) = (0, 0);
    for kind in atlas_providers::object_type::all().iter().filter(|k| k.assignable()) {
        for o in p.list_objects(kind).await.unwrap() {
            let n = p.list_assignments(kind, &o.id).await.unwrap().len();
            assigned_objects += usize::from(n > 0);
            assignments += n;
        }
    }
    assert_eq!((assigned_objects, assignments), (16, 23));

    let compliance = p.compliance_summaries().await.unwrap();
    assert_eq!(compliance.len(), 4);
    let windows = compliance.iter().find(|c| c.policy_id == WINDOWS_COMPLIANCE).unwrap();
    assert_eq!((windows.compliant, windows.non_compliant, windows.error, windows.not_applicable), (118, 7, 1, 3));

    // Object ids repeat across tenants; each tenant has its own copy.
    let other = World::add_tenant(&w.store, w.workspace_id, "Contoso Clinics").await;
    let q = SandboxProvider::new(w.store.clone(), other);
    assert_eq!(q.list_objects(ty("device_configuration")).await.unwrap().len(), 8);
    w.store.sandbox_out_of_band_delete(other, "device_configuration", DEVICE_RESTRICTIONS).await.unwrap();
    assert!(q.get_object(ty("device_configuration"), DEVICE_RESTRICTIONS).await.unwrap().is_none());
    assert!(p.get_object(ty("device_configuration"), DEVICE_RESTRICTIONS).await.unwrap().is_some());
}

async fn reads_round_trip(store: Store) {
    let w = World::new(store).await;
    let p = w.provider();
    for kind in atlas_providers::object_type::all() {
        for listed in p.list_objects(kind).await.unwrap() {
            let got = p.get_object(kind, &listed.id).await.unwrap().unwrap();
            assert_eq!(got, listed);
            assert_eq!(got.payload["id"], json!(listed.id), "payloads carry their id");
            assert!(!got.display_name.is_empty());
        }
    }
    assert!(p.get_object(ty("device_configuration"), "no-such-id").await.unwrap().is_none());
    // The same id under another kind is another object.
    assert!(p.get_object(ty("compliance_policy"), DEVICE_RESTRICTIONS).await.unwrap().is_none());
    assert!(matches!(
        p.list_assignments(ty("device_configuration"), "no-such-id").await,
        Err(ProviderError::NotFound(_))
    ));
    assert!(p.group_exists(PILOT_GROUP).await.unwrap());
    assert!(!p.group_exists("c1f0a9d2-3b4e-4f5a-8c6d-7e8f9a0b1c2d").await.unwrap());

    let health = p.check_health().await.unwrap();
    assert!(health.ok);
    assert!(health.missing_permissions.is_empty());
    assert_eq!(health.details["objects"]["device_configuration"], json!(8));
    assert_eq!(health.details["groups"], json!(5));
}

async fn faults_fire_for_exactly_n_calls(store: Store) {
    let w = World::new(store).await;
    let p = w.provider();
    let kind = ty("assignment_filter");

    w.store.sandbox_fault_set(w.tenant_id, SandboxFaultKind::Throttle, 2, 7_000).await.unwrap();
    for _ in 0..2 {
        let e = p.list_objects(kind).await.unwrap_err();
        assert_eq!(e, ProviderError::Throttled { retry_after_ms: 7_000 });
        assert!(e.retryable());
    }
    assert_eq!(p.list_objects(kind).await.unwrap().len(), 3);

    w.store.sandbox_fault_set(w.tenant_id, SandboxFaultKind::Throttle, 1, 0).await.unwrap();
    assert_eq!(p.check_health().await.unwrap_err(), ProviderError::Throttled { retry_after_ms: 1000 });

    w.store.sandbox_fault_set(w.tenant_id, SandboxFaultKind::Error, 1, 0).await.unwrap();
    let e = p.group_exists(PILOT_GROUP).await.unwrap_err();
    assert!(matches!(e, ProviderError::Transient(ref m) if m.contains("503")));
    assert!(e.retryable());
    assert_eq!(e.code(), "provider_unavailable");
    assert!(p.group_exists(PILOT_GROUP).await.unwrap());

    w.store.sandbox_fault_set(w.tenant_id, SandboxFaultKind::Latency, 1, 150).await.unwrap();
    let started = Instant::now();
    assert_eq!(p.list_objects(kind).await.unwrap().len(), 3, "a slow call still answers");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(w.store.sandbox_fault_take(w.tenant_id).await.unwrap().is_none(), "the latency fault is used up");

    // Setting zero calls clears a fault.
    w.store.sandbox_fault_set(w.tenant_id, SandboxFaultKind::Error, 5, 0).await.unwrap();
    w.store.sandbox_fault_set(w.tenant_id, SandboxFaultKind::Error, 0, 0).await.unwrap();
    assert!(p.list_objects(kind).await.is_ok());

    // Racing callers: exactly N of them are throttled.
    w.store.sandbox_fault_set(w.tenant_id, SandboxFaultKind::Throttle, 3, 500).await.unwrap();
    let calls = (0..10).map(|_| {
        let p = p.clone();
        tokio::spawn(async move { p.list_objects(ty("role_scope_tag")).await })
    });
    let mut throttled = 0;
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            Err(ProviderError::Throttled { .. }) => throttled += 1,
            other => assert_eq!(other.unwrap().len(), 3),
        }
    }
    assert_eq!(throttled, 3);

    // A fault in front of a write refuses it before anything is written.
    let (_, fence) = w.running_run(w.tenant_id).await;
    w.store.sandbox_fault_set(w.tenant_id, SandboxFaultKind::Error, 1, 0).await.unwrap();
    let e = p.update_object(fence, ty("device_configuration"), DEVICE_RESTRICTIONS, &json!({})).await;
    assert!(matches!(e, Err(ProviderError::Transient(_))));
    assert_eq!(w.journal_len().await, 0);
}

async fn writes_under_a_held_lease_are_journaled(store: Store) {
    let w = World::new(store).await;
    let p = w.provider();
    let (run, fence) = w.running_run(w.tenant_id).await;
    let kind = ty("device_configuration");

    let before = p.get_object(kind, DEVICE_RESTRICTIONS).await.unwrap().unwrap();
    let patch = json!({"id": "ignored", "passwordMinimumLength": 12, "version": 99});
    let UpdateOutcome::Updated(after) = p.update_object(fence, kind, DEVICE_RESTRICTIONS, &patch).await.unwrap() else {
        panic!("the object exists");
    };
    assert_eq!(after.id, DEVICE_RESTRICTIONS);
    assert_eq!(after.payload["passwordMinimumLength"], json!(12));
    assert_eq!(after.payload["id"], json!(DEVICE_RESTRICTIONS));
    assert_eq!(after.payload["version"], before.payload["version"], "read-only members are the service's");
    assert_eq!(after.payload["cameraBlocked"], before.payload["cameraBlocked"], "PATCH keeps what is not sent");
    assert_eq!(p.get_object(kind, DEVICE_RESTRICTIONS).await.unwrap().unwrap(), after);

    let body = json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration",
                      "id": DEVICE_RESTRICTIONS, "displayName": "Restored policy", "cameraBlocked": true});
    let created = p.create_object(fence, kind, &body).await.unwrap();
    assert_ne!(created.id, DEVICE_RESTRICTIONS, "a create gets a new id");
    assert!(Uuid::parse_str(&created.id).is_ok());
    assert_eq!(created.display_name, "Restored policy");
    assert_eq!(p.get_object(kind, &created.id).await.unwrap().unwrap(), created);
    assert_eq!(p.list_objects(kind).await.unwrap().len(), 9);

    let target = json!({"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": PILOT_GROUP});
    let all = json!({"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"});
    p.set_assignments(fence, kind, &created.id, &[json!({"target": target}), json!({"target": all})]).await.unwrap();
    let assigned = p.list_assignments(kind, &created.id).await.unwrap();
    let ids: Vec<&str> = assigned.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [format!("{}_{PILOT_GROUP}", created.id), format!("{}_adadadad-808e-44e2-905a-0b7873a8a531", created.id)]
    );

    let journal = w.store.sandbox_journal(w.tenant_id).await.unwrap();
    let ops: Vec<JournalOp> = journal.iter().map(|j| j.op).collect();
    assert_eq!(ops, [JournalOp::Update, JournalOp::Create, JournalOp::SetAssignments]);
    assert!(journal.iter().all(|j| j.run_id == run.id && j.lease_token == fence.lease_token));
    assert!(journal.windows(2).all(|p| p[0].seq < p[1].seq));
    assert_eq!(journal[0].object_id, DEVICE_RESTRICTIONS);
    assert_eq!(journal[0].payload["passwordMinimumLength"], json!(12));
    assert_eq!(journal[1].object_id, created.id);

    // An update of an object that is gone reports it, and writes nothing.
    let gone = p.update_object(fence, kind, "0d6c2b7e-5a41-4c3e-9f0b-8e2d7a1c4b99", &json!({})).await.unwrap();
    assert_eq!(gone, UpdateOutcome::Gone);
    assert!(matches!(
        p.set_assignments(fence, kind, "0d6c2b7e-5a41-4c3e-9f0b-8e2d7a1c4b99", &[]).await,
        Err(ProviderError::NotFound(_))
    ));
    assert_eq!(w.journal_len().await, 3);
}

/// Tries every kind of write under `fence`; each must be refused as fenced.
async fn assert_all_writes_fenced(p: &SandboxProvider, fence: WriteFence) {
    let kind = ty("device_configuration");
    let patch = json!({"displayName": "should not land"});
    assert_eq!(p.update_object(fence, kind, DEVICE_RESTRICTIONS, &patch).await, Err(ProviderError::Fenced));
    assert_eq!(p.update_object(fence, kind, "missing", &patch).await, Err(ProviderError::Fenced));
    assert_eq!(p.create_object(fence, kind, &patch).await, Err(ProviderError::Fenced));
    assert_eq!(p.set_assignments(fence, kind, DEVICE_RESTRICTIONS, &[]).await, Err(ProviderError::Fenced));
}

async fn stale_or_finished_runs_write_nothing(store: Store) {
    let w = World::new(store).await;
    let p = w.provider();
    let original = p.list_objects(ty("device_configuration")).await.unwrap();
    let (run, fence) = w.running_run(w.tenant_id).await;

    // A lease token the run does not hold (a stale worker's).
    assert_all_writes_fenced(&p, WriteFence { run_id: run.id, lease_token: Uuid::now_v7() }).await;
    // A run that does not exist.
    assert_all_writes_fenced(&p, WriteFence { run_id: Uuid::now_v7(), lease_token: fence.lease_token }).await;
    // A run of another tenant may not write here.
    let other = World::add_tenant(&w.store, w.workspace_id, "Contoso Clinics").await;
    assert_all_writes_fenced(&SandboxProvider::new(w.store.clone(), other), fence).await;
    assert!(w.store.sandbox_journal(other).await.unwrap().is_empty());

    // The run completes: its own token no longer writes.
    let done = RunEvent::Complete {
        outcome: RunOutcome::Succeeded,
        counts: SummaryCounts::default(),
        result: json!({}),
        failures: Vec::new(),
    };
    w.store.run_finish(run.id, fence.lease_token, done).await.unwrap();
    assert_all_writes_fenced(&p, fence).await;

    assert_eq!(w.journal_len().await, 0, "nothing journaled");
    assert_eq!(p.list_objects(ty("device_configuration")).await.unwrap(), original, "nothing written");
}

async fn out_of_band_changes_and_reset(store: Store) {
    let w = World::new(store).await;
    let p = w.provider();
    let kind = ty("device_configuration");
    let mut edited: Value = p.get_object(kind, DEVICE_RESTRICTIONS).await.unwrap().unwrap().payload;
    edited["displayName"] = json!("Edited in the portal");
    assert!(w.store.sandbox_out_of_band_update(w.tenant_id, kind.key, DEVICE_RESTRICTIONS, &edited).await.unwrap());
    assert_eq!(p.get_object(kind, DEVICE_RESTRICTIONS).await.unwrap().unwrap().display_name, "Edited in the portal");

    assert!(w.store.sandbox_out_of_band_delete(w.tenant_id, kind.key, DEVICE_RESTRICTIONS).await.unwrap());
    assert!(p.get_object(kind, DEVICE_RESTRICTIONS).await.unwrap().is_none());
    let (_, fence) = w.running_run(w.tenant_id).await;
    assert_eq!(p.update_object(fence, kind, DEVICE_RESTRICTIONS, &edited).await.unwrap(), UpdateOutcome::Gone);

    assert!(w.store.sandbox_out_of_band_group_delete(w.tenant_id, PILOT_GROUP).await.unwrap());
    assert!(!p.group_exists(PILOT_GROUP).await.unwrap());
    assert_eq!(w.journal_len().await, 0, "out-of-band changes are not journaled");

    // Reset brings the seed back and keeps the journal.
    p.create_object(fence, kind, &json!({"displayName": "extra"})).await.unwrap();
    sandbox::reset(&w.store, w.tenant_id).await.unwrap();
    assert_eq!(p.list_objects(kind).await.unwrap().len(), 8);
    assert!(p.get_object(kind, DEVICE_RESTRICTIONS).await.unwrap().is_some());
    assert!(p.group_exists(PILOT_GROUP).await.unwrap());
    assert_eq!(w.journal_len().await, 1);
    assert!(!sandbox::seed(&w.store, w.tenant_id).await.unwrap(), "a reset tenant counts as seeded");
}

macro_rules! both_dialects {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(atlas_store::testkit::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(store) = atlas_store::testkit::postgres().await else { return };
                    super::$case(store).await;
                }
            )*
        }
    };
}

both_dialects!(
    seeding_is_realistic_and_idempotent,
    reads_round_trip,
    faults_fire_for_exactly_n_calls,
    writes_under_a_held_lease_are_journaled,
    stale_or_finished_runs_write_nothing,
    out_of_band_changes_and_reset,
);
