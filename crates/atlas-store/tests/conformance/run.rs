//! Runs in the store: round trip, the dedupe index, transitions written with
//! their audit event or not at all, fencing, notifications once per run.

use atlas_core::audit::Actor;
use atlas_core::capability::BuiltinRole;
use atlas_core::gate::{Authority, ReasonCode};
use atlas_core::run::{NewRun, Run, RunEvent, RunOutcome, RunStatus};
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::{OperationType, SummaryCounts};
use atlas_store::admin::{ChangeBy, RoleRef};
use atlas_store::audit::AuditFilter;
use atlas_store::claim::{ClaimParams, Claimed};
use atlas_store::start::Started;
use atlas_store::{Store, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::fixture;

struct Setup {
    workspace: Uuid,
    tenant: Uuid,
    user: Uuid,
}

async fn setup(store: &Store) -> Setup {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(store).await;
    let email = format!("u-{}@example.com", &Uuid::new_v4().simple().to_string()[..8]);
    let user = store.user_create(&email, "Jane Doe", None, &by).await.unwrap();
    store.member_grant(ws.id, user.id, &RoleRef::Builtin(BuiltinRole::Manager), &TenantScope::All, &by).await.unwrap();
    let tenant = store.tenant_create(ws.id, "Contoso", TenantStatus::Active, true, None, &by).await.unwrap();
    store.connection_add(tenant.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
    Setup { workspace: ws.id, tenant: tenant.id, user: user.id }
}

fn new_run(s: &Setup, op: OperationType) -> (Run, atlas_core::audit::AuditDraft) {
    let new = NewRun {
        op_type: op,
        workspace_id: s.workspace,
        tenant_id: Some(s.tenant),
        authority: Authority::Actor { user_id: s.user },
        params: json!({}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    Run::queued(new, Uuid::now_v7(), atlas_store::now())
}

async fn actions(store: &Store, run: Uuid) -> Vec<String> {
    let filter = AuditFilter { subject: Some(format!("run:{run}")), limit: 100, ..Default::default() };
    let mut events = store.audit_events(filter).await.unwrap();
    events.sort_by_key(|e| e.seq);
    events.into_iter().map(|e| e.action).collect()
}

fn claim_params() -> ClaimParams {
    ClaimParams { worker: "test".into(), lease_ms: 30_000, batch: 10, backoff_base_ms: 10 }
}

async fn run_round_trip(store: Store) {
    let s = setup(&store).await;
    let (run, audit) = new_run(&s, OperationType::InventorySync);
    let inserted = store.run_insert(&run, &audit).await.unwrap();
    assert!(!inserted.deduplicated);
    let back = store.run_get(run.id).await.unwrap();
    assert_eq!(back, run);
    assert_eq!(back.context, run.context, "the context survives the round trip");
    assert_eq!(actions(&store, run.id).await, ["operation.queued"]);
    assert!(matches!(store.run_get(Uuid::now_v7()).await, Err(StoreError::NotFound(_))));
}

async fn dedupe_index_refuses_a_second_active_run(store: Store) {
    let s = setup(&store).await;
    let (first, a1) = new_run(&s, OperationType::InventorySync);
    let (second, a2) = new_run(&s, OperationType::InventorySync);
    assert_eq!(first.dedupe_key, second.dedupe_key);
    store.run_insert(&first, &a1).await.unwrap();
    let dup = store.run_insert(&second, &a2).await.unwrap();
    assert!(dup.deduplicated);
    assert_eq!(dup.run.id, first.id);
    assert!(matches!(store.run_get(second.id).await, Err(StoreError::NotFound(_))), "nothing stored");
    assert!(actions(&store, second.id).await.is_empty(), "no audit event for the duplicate");
    // Once the first completes, the key is free again.
    store.run_cancel(first.id, Actor::System).await.unwrap();
    let again = store.run_insert(&second, &a2).await.unwrap();
    assert!(!again.deduplicated);
    // Concurrent inserts of the same key: exactly one wins.
    let (third, a3) = new_run(&s, OperationType::PoliciesSync);
    let (fourth, a4) = new_run(&s, OperationType::PoliciesSync);
    let (x, y) = tokio::join!(store.run_insert(&third, &a3), store.run_insert(&fourth, &a4));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.run.id, y.run.id);
    assert_ne!(x.deduplicated, y.deduplicated);
}

async fn a_start_is_decided_and_queued_in_one_transaction(store: Store) {
    let s = setup(&store).await;
    let (run, audit) = new_run(&s, OperationType::InventorySync);
    let Started::Queued(inserted) = store.run_start(&run, &audit).await.unwrap() else { panic!("allowed") };
    assert!(!inserted.deduplicated);
    assert_eq!(store.run_get(run.id).await.unwrap(), run);
    assert_eq!(actions(&store, run.id).await, ["operation.queued"]);
    let (dup, dup_audit) = new_run(&s, OperationType::InventorySync);
    let Started::Queued(again) = store.run_start(&dup, &dup_audit).await.unwrap() else { panic!("allowed") };
    assert!(again.deduplicated && again.run.id == run.id, "an active duplicate is returned, not queued");

    // Refused: nothing is written, neither the run nor an audit event.
    store.tenant_set_status(s.tenant, TenantStatus::Archived, &ChangeBy::cli()).await.unwrap();
    let (refused, refused_audit) = new_run(&s, OperationType::PoliciesSync);
    let Started::Refused(decision) = store.run_start(&refused, &refused_audit).await.unwrap() else {
        panic!("an archived tenant refuses the start")
    };
    assert_eq!(decision.reason_code, Some(ReasonCode::TenantArchived));
    assert!(matches!(store.run_get(refused.id).await, Err(StoreError::NotFound(_))));
    assert!(actions(&store, refused.id).await.is_empty());
    // The read-only decision agrees with the start and writes nothing either.
    let read = store.run_decide(&refused, 0).await.unwrap();
    assert_eq!((read.allowed, read.reason_code), (false, Some(ReasonCode::TenantArchived)));
    assert!(matches!(store.run_get(refused.id).await, Err(StoreError::NotFound(_))));
}

async fn transition_and_audit_event_are_atomic(store: Store) {
    let s = setup(&store).await;
    let (run, audit) = new_run(&s, OperationType::InventorySync);
    store.run_insert(&run, &audit).await.unwrap();
    atlas_store::testkit::fail_next_transition_after_row(run.id);
    let err = store.run_cancel(run.id, Actor::System).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let after = store.run_get(run.id).await.unwrap();
    assert_eq!((after.status, after.outcome), (RunStatus::Queued, RunOutcome::Pending), "row rolled back");
    assert_eq!(actions(&store, run.id).await, ["operation.queued"], "no audit event either");
    // Without the injected failure both are written.
    let done = store.run_cancel(run.id, Actor::System).await.unwrap();
    assert_eq!(done.outcome, RunOutcome::Cancelled);
    assert_eq!(actions(&store, run.id).await, ["operation.queued", "operation.cancelled"]);
}

async fn illegal_transition_changes_nothing(store: Store) {
    let s = setup(&store).await;
    let (run, audit) = new_run(&s, OperationType::InventorySync);
    store.run_insert(&run, &audit).await.unwrap();
    store.run_cancel(run.id, Actor::System).await.unwrap();
    let err = store.run_cancel(run.id, Actor::System).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // A finish on a run that is not running under that lease is fenced.
    let finish = RunEvent::Complete {
        outcome: RunOutcome::Succeeded,
        counts: SummaryCounts::default(),
        result: json!({}),
        failures: vec![],
    };
    assert!(matches!(store.run_finish(run.id, Uuid::now_v7(), finish).await, Err(StoreError::Fenced)));
    assert_eq!(store.run_get(run.id).await.unwrap().outcome, RunOutcome::Cancelled);
    assert_eq!(actions(&store, run.id).await, ["operation.queued", "operation.cancelled"]);
}

async fn claim_starts_and_finish_is_fenced(store: Store) {
    let s = setup(&store).await;
    let (run, audit) = new_run(&s, OperationType::InventorySync);
    store.run_insert(&run, &audit).await.unwrap();
    let claimed = store.run_claim_and_authorize(&claim_params()).await.unwrap();
    let [Claimed::Started(started)] = claimed.as_slice() else { panic!("{claimed:?}") };
    assert_eq!((started.status, started.attempt), (RunStatus::Running, 1));
    assert!(store.run_claim_and_authorize(&claim_params()).await.unwrap().is_empty(), "claimed once");
    let token = started.lease.as_ref().unwrap().token;
    store.run_heartbeat(run.id, token, 30_000).await.unwrap();
    assert!(matches!(store.run_heartbeat(run.id, Uuid::now_v7(), 30_000).await, Err(StoreError::Fenced)));
    let finish =
        |outcome| RunEvent::Complete { outcome, counts: SummaryCounts::default(), result: json!({}), failures: vec![] };
    assert!(matches!(
        store.run_finish(run.id, Uuid::now_v7(), finish(RunOutcome::Failed)).await,
        Err(StoreError::Fenced)
    ));
    let done = store.run_finish(run.id, token, finish(RunOutcome::Succeeded)).await.unwrap();
    assert_eq!(done.outcome, RunOutcome::Succeeded);
    assert!(matches!(store.run_finish(run.id, token, finish(RunOutcome::Failed)).await, Err(StoreError::Fenced)));
    assert_eq!(actions(&store, run.id).await, ["operation.queued", "operation.started", "operation.completed"]);
}

async fn notification_is_sent_once_per_run(store: Store) {
    let s = setup(&store).await;
    let (run, audit) = new_run(&s, OperationType::InventorySync);
    store.run_insert(&run, &audit).await.unwrap();
    store.run_cancel(run.id, Actor::User { user_id: s.user }).await.unwrap();
    let notes = store.notifications_for_run(run.id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].outcome, RunOutcome::Cancelled);
    assert_eq!(store.notifications_unread_count(s.user).await.unwrap(), 1);
    // The unique key refuses a second one outright.
    let dup = format!(
        "INSERT INTO notifications (id, user_id, workspace_id, run_id, kind, title, body, outcome, created_at) \
         VALUES ('{}', '{}', '{}', '{}', 'operation_run_completed', 't', 'b', 'cancelled', 0)",
        Uuid::now_v7(),
        s.user,
        s.workspace,
        run.id
    );
    assert!(store.execute_raw(&dup).await.is_err(), "(user, run, kind) is unique");
    assert!(store.notification_mark_read(s.user, notes[0].id).await.unwrap());
    assert_eq!(store.notifications_unread_count(s.user).await.unwrap(), 0);
    assert!(!store.notification_mark_read(Uuid::now_v7(), notes[0].id).await.unwrap(), "not someone else's");
}

async fn list_is_newest_first_with_keyset_and_scope(store: Store) {
    let s = setup(&store).await;
    let by = ChangeBy::cli();
    let other = store.tenant_create(s.workspace, "Other", TenantStatus::Active, true, None, &by).await.unwrap();
    let mut ids = Vec::new();
    for op in [OperationType::InventorySync, OperationType::PoliciesSync, OperationType::ComplianceSnapshot] {
        let (run, audit) = new_run(&s, op);
        store.run_insert(&run, &audit).await.unwrap();
        ids.push(run.id);
    }
    let mut elsewhere = new_run(&s, OperationType::InventorySync);
    elsewhere.0 = Run { tenant_id: Some(other.id), dedupe_key: format!("x|{}", other.id), ..elsewhere.0 };
    store.run_insert(&elsewhere.0, &elsewhere.1).await.unwrap();
    let base = atlas_store::run::RunFilter { workspace_id: Some(s.workspace), limit: 2, ..Default::default() };
    let page1 = store.run_list(&base).await.unwrap();
    assert_eq!(page1.iter().map(|r| r.id).collect::<Vec<_>>(), [elsewhere.0.id, ids[2]]);
    let page2 = store.run_list(&atlas_store::run::RunFilter { before: Some(ids[2]), ..base.clone() }).await.unwrap();
    assert_eq!(page2.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[1], ids[0]]);
    let scoped = atlas_store::run::RunFilter { tenant_scope: Some(vec![s.tenant]), limit: 10, ..base.clone() };
    assert_eq!(store.run_list(&scoped).await.unwrap().len(), 3, "only the viewer's tenants");
    let typed = atlas_store::run::RunFilter { op_type: Some(OperationType::PoliciesSync), limit: 10, ..base };
    assert_eq!(store.run_list(&typed).await.unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), [ids[1]]);
}

conformance!(
    run_round_trip,
    dedupe_index_refuses_a_second_active_run,
    a_start_is_decided_and_queued_in_one_transaction,
    transition_and_audit_event_are_atomic,
    illegal_transition_changes_nothing,
    claim_starts_and_finish_is_fenced,
    notification_is_sent_once_per_run,
    list_is_newest_first_with_keyset_and_scope,
);
