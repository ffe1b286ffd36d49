//! Multi-admin approval (SPEC §10.2) in the store: a writing run on a tenant
//! that requires approval waits `pending` and is not claimed; another member
//! approves or rejects it; the claim re-validates the approval (every
//! `approval_*` reason code); refused decisions change nothing.

use atlas_core::approval::{ApprovalError, ApprovalState};
use atlas_core::capability::BuiltinRole;
use atlas_core::gate::{Authority, CheckName, CheckResultKind, ReasonCode};
use atlas_core::run::{NewRun, Run, RunEvent, RunOutcome, RunStatus};
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::{OperationType, SummaryCounts};
use atlas_store::admin::{ChangeBy, RoleRef};
use atlas_store::audit::AuditFilter;
use atlas_store::backup::NewBackupItem;
use atlas_store::claim::{ClaimParams, Claimed};
use atlas_store::{Store, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::fixture;

struct World {
    workspace: Uuid,
    /// Requires approval; its write gate is open.
    tenant: Uuid,
    other_tenant: Uuid,
    backup_set: Uuid,
    /// The initiator (manager).
    jane: Uuid,
    /// Another manager: an eligible approver.
    ann: Uuid,
    ann_email: String,
    /// A readonly member: may see, may not approve.
    rob: Uuid,
    /// Not a member.
    stranger: Uuid,
}

async fn user(store: &Store, name: &str) -> (Uuid, String) {
    let email = format!("{name}-{}@example.com", &Uuid::new_v4().simple().to_string()[..8]);
    let u = store.user_create(&email, name, None, &ChangeBy::cli()).await.unwrap();
    (u.id, email)
}

async fn world(store: &Store) -> World {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(store).await;
    let tenant = store.tenant_create(ws.id, "Contoso", TenantStatus::Active, true, None, &by).await.unwrap();
    store.connection_add(tenant.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
    let other = store.tenant_create(ws.id, "Fabrikam", TenantStatus::Active, true, None, &by).await.unwrap();
    // A backup set to restore, made by a finished backup run.
    let (backup, token) = fixture::claimed(store, &tenant, OperationType::BackupRun, json!({})).await;
    let item = NewBackupItem {
        kind: "device_configuration".into(),
        object_id: "a".into(),
        display_name: "Alpha".into(),
        content_hash: "hash-a".into(),
        payload: json!({"displayName": "Alpha"}),
        assignments: json!([]),
    };
    let set = store.run_results(&backup, token).backup_create(&[item]).await.unwrap().set.id;
    let counts = SummaryCounts { total: 1, succeeded: 1, ..Default::default() }.recount();
    let done = RunEvent::Complete { outcome: RunOutcome::Succeeded, counts, result: json!({}), failures: vec![] };
    store.run_finish(backup.id, token, done).await.unwrap();
    let mut ids = Vec::new();
    for (name, role) in [("Jane", BuiltinRole::Manager), ("Ann", BuiltinRole::Manager), ("Rob", BuiltinRole::Readonly)]
    {
        let (id, email) = user(store, name).await;
        store.member_grant(ws.id, id, &RoleRef::Builtin(role), &TenantScope::All, &by).await.unwrap();
        ids.push((id, email));
    }
    let (stranger, _) = user(store, "Stan").await;
    let t = store.tenant_set_approval(tenant.id, true, &by).await.unwrap();
    assert!(t.approval_required);
    World {
        workspace: ws.id,
        tenant: tenant.id,
        other_tenant: other.id,
        backup_set: set,
        jane: ids[0].0,
        ann: ids[1].0,
        ann_email: ids[1].1.clone(),
        rob: ids[2].0,
        stranger,
    }
}

/// A restore of the backup set started by Jane, as the start path inserts it.
async fn restore(store: &Store, w: &World) -> Run {
    let new = NewRun {
        op_type: OperationType::RestoreExecute,
        workspace_id: w.workspace,
        tenant_id: Some(w.tenant),
        authority: Authority::Actor { user_id: w.jane },
        params: json!({"backup_set_id": w.backup_set, "dry_run": false}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let (run, audit) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
    store.run_insert(&run, &audit).await.unwrap().run
}

fn params() -> ClaimParams {
    ClaimParams { worker: "test".into(), lease_ms: 30_000, batch: 10, backoff_base_ms: 10 }
}

async fn claim(store: &Store) -> Vec<Claimed> {
    store.run_claim_and_authorize(&params()).await.unwrap()
}

async fn actions(store: &Store, run: Uuid) -> Vec<String> {
    let filter = AuditFilter { subject: Some(format!("run:{run}")), limit: 100, ..Default::default() };
    let mut events = store.audit_events(filter).await.unwrap();
    events.sort_by_key(|e| e.seq);
    events.into_iter().map(|e| e.action).collect()
}

fn reason(run: &Run) -> Option<ReasonCode> {
    run.decision.as_ref().and_then(|d| d.reason_code)
}

async fn a_pending_run_waits_until_another_member_approves_it(store: Store) {
    let w = world(&store).await;
    let run = restore(&store, &w).await;
    let pending = run.approval.clone().unwrap();
    assert_eq!((pending.state, pending.by, pending.at), (ApprovalState::Pending, None, None));
    assert_eq!(store.run_get(run.id).await.unwrap(), run);
    assert_eq!(actions(&store, run.id).await, ["operation.queued", "operation.approval_requested"]);
    // One request to each eligible approver: Ann (and the fixture's owner), never
    // Jane (the initiator) or Rob (readonly).
    let notes = store.notifications_for_run(run.id).await.unwrap();
    let to: Vec<Uuid> = notes.iter().map(|n| n.user_id).collect();
    assert!(notes.iter().all(|n| n.kind == "approval_requested"), "{notes:?}");
    assert!(to.contains(&w.ann) && !to.contains(&w.jane) && !to.contains(&w.rob), "{notes:?}");
    assert_eq!(to.len(), 2, "one each: {notes:?}");
    // Not claimable while pending.
    assert!(claim(&store).await.is_empty());
    assert_eq!(store.run_get(run.id).await.unwrap().status, RunStatus::Queued);

    let approved = store.run_approve(run.id, w.ann).await.unwrap();
    let record = approved.approval.clone().unwrap();
    assert_eq!((record.state, record.by), (ApprovalState::Approved, Some(w.ann)));
    assert!(record.at.is_some());
    assert_eq!(store.run_get(run.id).await.unwrap(), approved);
    let claimed = claim(&store).await;
    let [Claimed::Started(started)] = claimed.as_slice() else { panic!("{claimed:?}") };
    let checks = &started.decision.as_ref().unwrap().checks;
    let approval = checks.iter().find(|c| c.check == CheckName::Approval).unwrap();
    assert_eq!((approval.result, approval.detail.as_deref()), (CheckResultKind::Pass, Some("approved")));
    assert_eq!(
        actions(&store, run.id).await,
        ["operation.queued", "operation.approval_requested", "operation.approved", "operation.started"]
    );
}

async fn a_run_on_a_tenant_without_the_requirement_needs_no_approval(store: Store) {
    let w = world(&store).await;
    store.tenant_set_approval(w.tenant, false, &ChangeBy::cli()).await.unwrap();
    let run = restore(&store, &w).await;
    assert_eq!(run.approval, None);
    assert_eq!(actions(&store, run.id).await, ["operation.queued"]);
    // A read never needs one either.
    store.tenant_set_approval(w.tenant, true, &ChangeBy::cli()).await.unwrap();
    let dry = NewRun {
        op_type: OperationType::RestoreExecute,
        workspace_id: w.workspace,
        tenant_id: Some(w.tenant),
        authority: Authority::Actor { user_id: w.jane },
        params: json!({"backup_set_id": w.backup_set, "dry_run": true}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let (dry, audit) = Run::queued(dry, Uuid::now_v7(), atlas_store::now());
    assert_eq!(store.run_insert(&dry, &audit).await.unwrap().run.approval, None);
}

async fn a_rejection_completes_the_run_blocked(store: Store) {
    let w = world(&store).await;
    let run = restore(&store, &w).await;
    let reason_text = "Not during the freeze.";
    let rejected = store.run_reject(run.id, w.ann, Some(reason_text.into())).await.unwrap();
    assert_eq!((rejected.status, rejected.outcome), (RunStatus::Completed, RunOutcome::Blocked));
    assert_eq!(reason(&rejected), Some(ReasonCode::ApprovalRejected));
    let record = rejected.approval.clone().unwrap();
    assert_eq!(
        (record.state, record.by, record.reason.as_deref()),
        (ApprovalState::Rejected, Some(w.ann), Some(reason_text))
    );
    assert!(rejected.decision.as_ref().unwrap().message.contains(reason_text));
    assert_eq!(store.run_get(run.id).await.unwrap(), rejected);
    assert_eq!(
        actions(&store, run.id).await,
        ["operation.queued", "operation.approval_requested", "operation.rejected", "operation.blocked"]
    );
    // The initiator hears of it as of any run's end.
    let notes = store.notifications_for_run(run.id).await.unwrap();
    assert!(notes.iter().any(|n| n.user_id == w.jane && n.kind == "operation_run_completed"));
    assert!(claim(&store).await.is_empty());
}

async fn refused_decisions_change_nothing(store: Store) {
    let w = world(&store).await;
    let run = restore(&store, &w).await;
    let before = (store.run_get(run.id).await.unwrap(), actions(&store, run.id).await);
    let own = store.run_approve(run.id, w.jane).await;
    assert!(matches!(own, Err(StoreError::Approval(ApprovalError::OwnRun))), "{own:?}");
    let readonly = store.run_approve(run.id, w.rob).await;
    assert!(matches!(readonly, Err(StoreError::Approval(ApprovalError::Forbidden(_)))), "{readonly:?}");
    let stranger = store.run_reject(run.id, w.stranger, None).await;
    assert!(matches!(stranger, Err(StoreError::Approval(ApprovalError::NotFound))), "{stranger:?}");
    let long = store.run_reject(run.id, w.ann, Some("x".repeat(1_001))).await;
    assert!(matches!(long, Err(StoreError::Approval(ApprovalError::ReasonTooLong(1_001)))), "{long:?}");
    let missing = store.run_approve(Uuid::now_v7(), w.ann).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    assert_eq!((store.run_get(run.id).await.unwrap(), actions(&store, run.id).await), before);

    // Twice: the second meets a run that is no longer pending.
    store.run_approve(run.id, w.ann).await.unwrap();
    let after_first = actions(&store, run.id).await;
    let twice = store.run_approve(run.id, w.ann).await;
    assert!(matches!(twice, Err(StoreError::Approval(ApprovalError::NotPending(_)))), "{twice:?}");
    let reject_approved = store.run_reject(run.id, w.ann, None).await;
    assert!(matches!(reject_approved, Err(StoreError::Approval(ApprovalError::NotPending(_)))));
    assert_eq!(actions(&store, run.id).await, after_first);

    // A run that never needed one.
    store.tenant_set_approval(w.tenant, false, &ChangeBy::cli()).await.unwrap();
    let plain = NewRun {
        op_type: OperationType::InventorySync,
        workspace_id: w.workspace,
        tenant_id: Some(w.tenant),
        authority: Authority::Actor { user_id: w.jane },
        params: json!({}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let (plain, audit) = Run::queued(plain, Uuid::now_v7(), atlas_store::now());
    store.run_insert(&plain, &audit).await.unwrap();
    let not_pending = store.run_approve(plain.id, w.ann).await;
    assert!(matches!(not_pending, Err(StoreError::Approval(ApprovalError::NotPending(_)))), "{not_pending:?}");
}

/// `change` applied to an approved run's approver, then the claim: the run as blocked.
async fn revalidated(store: &Store, change: impl std::future::Future<Output = ()>) -> Run {
    change.await;
    let claimed = claim(store).await;
    let [Claimed::Blocked(blocked)] = claimed.as_slice() else { panic!("{claimed:?}") };
    blocked.clone()
}

fn approval_failure(run: &Run) -> (Option<ReasonCode>, Option<String>) {
    let d = run.decision.as_ref().unwrap();
    let check = d.checks.last().unwrap();
    assert_eq!((check.check, check.result), (CheckName::Approval, CheckResultKind::Fail));
    (d.reason_code, check.detail.clone())
}

async fn the_claim_revokes_an_approval_whose_approver_no_longer_stands(store: Store) {
    let by = ChangeBy::cli();
    // Downgraded.
    let w = world(&store).await;
    let run = restore(&store, &w).await;
    store.run_approve(run.id, w.ann).await.unwrap();
    let readonly = RoleRef::Builtin(BuiltinRole::Readonly);
    let blocked = revalidated(&store, async {
        store.member_set_role(w.workspace, w.ann, &readonly, &by).await.map(drop).unwrap()
    })
    .await;
    assert_eq!(approval_failure(&blocked), (Some(ReasonCode::ApprovalRevoked), Some("tenant.restore.execute".into())));
    assert_eq!(blocked.outcome, RunOutcome::Blocked);

    // Disabled.
    let w = world(&store).await;
    let run = restore(&store, &w).await;
    store.run_approve(run.id, w.ann).await.unwrap();
    let blocked = revalidated(&store, async { store.user_disable(&w.ann_email, &by).await.map(drop).unwrap() }).await;
    assert_eq!(approval_failure(&blocked), (Some(ReasonCode::ApprovalRevoked), Some("disabled".into())));

    // Removed from the workspace.
    let w = world(&store).await;
    let run = restore(&store, &w).await;
    store.run_approve(run.id, w.ann).await.unwrap();
    let blocked =
        revalidated(&store, async { store.member_revoke(w.workspace, w.ann, &by).await.map(drop).unwrap() }).await;
    assert_eq!(approval_failure(&blocked), (Some(ReasonCode::ApprovalRevoked), Some("membership".into())));

    // Out of scope: no longer entitled to the run's tenant.
    let w = world(&store).await;
    let run = restore(&store, &w).await;
    store.run_approve(run.id, w.ann).await.unwrap();
    let scope = TenantScope::Tenants([w.other_tenant].into_iter().collect());
    let blocked =
        revalidated(&store, async { store.member_set_scope(w.workspace, w.ann, &scope, &by).await.map(drop).unwrap() })
            .await;
    assert_eq!(approval_failure(&blocked), (Some(ReasonCode::ApprovalRevoked), Some("tenant_entitlement".into())));
    assert_eq!(
        actions(&store, run.id).await,
        ["operation.queued", "operation.approval_requested", "operation.approved", "operation.blocked"]
    );
}

async fn the_claim_refuses_an_expired_approval(store: Store) {
    let w = world(&store).await;
    let run = restore(&store, &w).await;
    store.run_approve(run.id, w.ann).await.unwrap();
    // An hour-long validity, and an approval given two hours ago.
    let store = store.with_approval_validity_ms(3_600_000);
    let two_hours_us = 2 * 3_600_000_000_i64;
    let sql = format!("UPDATE operation_runs SET approval_at = approval_at - {two_hours_us} WHERE id = '{}'", run.id);
    store.execute_raw(&sql).await.unwrap();
    let claimed = claim(&store).await;
    let [Claimed::Blocked(blocked)] = claimed.as_slice() else { panic!("{claimed:?}") };
    assert_eq!(approval_failure(blocked).0, Some(ReasonCode::ApprovalExpired));
    assert!(blocked.decision.as_ref().unwrap().message.contains("valid for 1 hour"), "{:?}", blocked.decision);
}

conformance!(
    a_pending_run_waits_until_another_member_approves_it,
    a_run_on_a_tenant_without_the_requirement_needs_no_approval,
    a_rejection_completes_the_run_blocked,
    refused_decisions_change_nothing,
    the_claim_revokes_an_approval_whose_approver_no_longer_stands,
    the_claim_refuses_an_expired_approval,
);
