//! The legitimacy contract matrix (SPEC §3): for every reason code that can
//! arise for the families of this build, queue a run, change the world, run
//! the worker → `completed/blocked` with that reason, never started, nothing
//! written to the tenant, `operation.blocked` and no `operation.started` in the
//! audit, and exactly one notification for the initiator (none for system runs).
//! The still-legitimate path of each family ends `succeeded` with its effects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{cli, World};
use atlas_core::capability::{BuiltinRole, Capability};
use atlas_core::gate::{Authority, ReasonCode};
use atlas_core::run::{NewRun, Run, RunOutcome, RunStatus};
use atlas_core::tenant::{ConnectionStatus, TenantScope, TenantStatus};
use atlas_core::OperationType;
use atlas_store::admin::RoleRef;
use serde_json::json;
use uuid::Uuid;

/// The observable semantics of a run blocked before it started.
async fn assert_blocked(w: &World, run_id: Uuid, reason: ReasonCode, notified: Option<Uuid>) {
    let run = w.run(run_id).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::Blocked), "{run:?}");
    let decision = run.decision.as_ref().expect("decision stored");
    assert_eq!(decision.reason_code, Some(reason), "{decision:?}");
    assert!(!decision.allowed);
    assert_eq!(run.started_at, None);
    assert_eq!(run.summary_counts.processed, 0);
    assert!(run.attempt >= 1);
    let actions = w.run_actions(run_id).await;
    assert!(actions.contains(&"operation.blocked".to_string()), "{actions:?}");
    assert!(!actions.contains(&"operation.started".to_string()), "{actions:?}");
    assert!(w.store.sandbox_journal(w.tenant.id).await.unwrap().is_empty(), "no tenant write");
    assert!(w.store.inventory_list(w.tenant.id).await.unwrap().is_empty(), "no inventory written");
    let notes = w.store.notifications_for_run(run_id).await.unwrap();
    match notified {
        Some(user) => {
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert_eq!(notes[0].user_id, user);
            assert_eq!(notes[0].outcome, RunOutcome::Blocked);
            assert_eq!(notes[0].body, decision.message);
        }
        None => assert!(notes.is_empty(), "system runs notify nobody: {notes:?}"),
    }
}

/// Queue an inventory sync as the initiator, apply `change`, drain, and check.
async fn blocked_after(store: atlas_store::Store, reason: ReasonCode, change: impl AsyncFnOnce(&World)) {
    let w = World::new(store).await;
    blocked_in(&w, OperationType::InventorySync, json!({}), reason, change).await;
}

/// The same for any family in an existing world.
async fn blocked_in(
    w: &World,
    op: OperationType,
    params: serde_json::Value,
    reason: ReasonCode,
    change: impl AsyncFnOnce(&World),
) {
    let run = w.start(op, params).await;
    change(w).await;
    w.drain().await;
    assert_blocked(w, run.id, reason, Some(w.initiator.id)).await;
}

/// A world with one backup set, for the restore cases.
async fn world_with_backup(store: atlas_store::Store) -> (World, Uuid) {
    let w = World::new(store).await;
    let backup = w.start(OperationType::BackupRun, json!({})).await;
    w.drain().await;
    let backup = w.run(backup.id).await;
    assert_eq!(backup.outcome, RunOutcome::Succeeded, "{backup:?}");
    let set = backup.result.get("backup_set_id").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok());
    (w, set.expect("result.backup_set_id"))
}

/// The matrix over the read, backup and restore families: each refusal that a
/// change of the world can cause, through the same observable checks.
async fn every_family_is_blocked_by_each_drift(store: atlas_store::Store) {
    let url_store = store;
    let (seed, set) = world_with_backup(url_store.clone()).await;
    let restore = |dry: bool| json!({"backup_set_id": set.to_string(), "dry_run": dry});
    let families = [
        (OperationType::PoliciesSync, json!({})),
        (OperationType::ComplianceSnapshot, json!({})),
        (OperationType::BackupRun, json!({})),
        (OperationType::DriftCheck, json!({})),
        (OperationType::RestoreExecute, restore(false)),
        (OperationType::RestoreExecute, restore(true)),
    ];
    let readonly = RoleRef::Builtin(BuiltinRole::Readonly);
    for (op, params) in families {
        // Each case in a fresh tenant of the same store, so journals start empty.
        for reason in
            [ReasonCode::CapabilityRevoked, ReasonCode::TenantArchived, ReasonCode::ProviderConnectionDisabled]
        {
            let (w, set) = world_with_backup(url_store.clone()).await;
            let params = if op == OperationType::RestoreExecute {
                json!({"backup_set_id": set.to_string(), "dry_run": params["dry_run"]})
            } else {
                params.clone()
            };
            let readonly = readonly.clone();
            blocked_in(&w, op, params, reason, async move |w| match reason {
                ReasonCode::CapabilityRevoked => {
                    w.store.member_set_role(w.workspace.id, w.initiator.id, &readonly, &cli()).await.unwrap();
                }
                ReasonCode::TenantArchived => {
                    w.store.tenant_set_status(w.tenant.id, TenantStatus::Archived, &cli()).await.unwrap();
                }
                _ => {
                    w.store.connection_set_status(w.tenant.id, false, &cli()).await.unwrap();
                }
            })
            .await;
        }
    }
    drop(seed);
}

async fn restore_blocked_when_the_write_gate_closes(store: atlas_store::Store) {
    let (w, set) = world_with_backup(store).await;
    blocked_in(
        &w,
        OperationType::RestoreExecute,
        json!({"backup_set_id": set.to_string()}),
        ReasonCode::WriteGateClosed,
        async |w| {
            w.store.tenant_set_write_gate(w.tenant.id, false, &cli()).await.unwrap();
        },
    )
    .await;
}

async fn restore_blocked_when_the_backup_set_is_gone(store: atlas_store::Store) {
    let (w, set) = world_with_backup(store).await;
    blocked_in(
        &w,
        OperationType::RestoreExecute,
        json!({"backup_set_id": set.to_string()}),
        ReasonCode::BackupSetMissing,
        async |w| {
            // Retention purged the set between start and execution.
            w.store.execute_raw(&format!("DELETE FROM backup_items WHERE backup_set_id = '{set}'")).await.unwrap();
            w.store.execute_raw(&format!("DELETE FROM backup_sets WHERE id = '{set}'")).await.unwrap();
        },
    )
    .await;
}

async fn initiator_disabled(store: atlas_store::Store) {
    blocked_after(store, ReasonCode::InitiatorDisabled, async |w| {
        w.store.user_disable(&w.initiator.email, &cli()).await.unwrap();
    })
    .await;
}

async fn membership_revoked(store: atlas_store::Store) {
    blocked_after(store, ReasonCode::WorkspaceMembershipRevoked, async |w| {
        w.store.member_revoke(w.workspace.id, w.initiator.id, &cli()).await.unwrap();
    })
    .await;
}

async fn entitlement_revoked(store: atlas_store::Store) {
    blocked_after(store, ReasonCode::TenantEntitlementRevoked, async |w| {
        let other = w.other_tenant("Contoso South").await;
        let scope = TenantScope::Tenants([other.id].into_iter().collect());
        w.store.member_set_scope(w.workspace.id, w.initiator.id, &scope, &cli()).await.unwrap();
    })
    .await;
}

async fn capability_revoked_by_role_change(store: atlas_store::Store) {
    blocked_after(store, ReasonCode::CapabilityRevoked, async |w| {
        let readonly = RoleRef::Builtin(BuiltinRole::Readonly);
        w.store.member_set_role(w.workspace.id, w.initiator.id, &readonly, &cli()).await.unwrap();
    })
    .await;
}

async fn capability_revoked_by_custom_role_edit(store: atlas_store::Store) {
    let w = World::new(store).await;
    let caps = [Capability::WorkspaceView, Capability::OperationsView, Capability::TenantInventorySync];
    w.store.role_create(w.workspace.id, "syncer", &caps.into_iter().collect(), &cli()).await.unwrap();
    let syncer = RoleRef::Custom("syncer".into());
    w.store.member_set_role(w.workspace.id, w.initiator.id, &syncer, &cli()).await.unwrap();
    let run = w.start(OperationType::InventorySync, json!({})).await;
    let fewer = [Capability::WorkspaceView, Capability::OperationsView];
    w.store.role_set(w.workspace.id, "syncer", &fewer.into_iter().collect(), &cli()).await.unwrap();
    w.drain().await;
    assert_blocked(&w, run.id, ReasonCode::CapabilityRevoked, Some(w.initiator.id)).await;
    let decision = w.run(run.id).await.decision.unwrap();
    assert_eq!(decision.message, "Jane Doe no longer has the capability tenant.inventory.sync.");
}

async fn tenant_suspended(store: atlas_store::Store) {
    blocked_after(store, ReasonCode::TenantSuspended, async |w| {
        w.store.tenant_set_status(w.tenant.id, TenantStatus::Suspended, &cli()).await.unwrap();
    })
    .await;
}

async fn tenant_archived(store: atlas_store::Store) {
    blocked_after(store, ReasonCode::TenantArchived, async |w| {
        w.store.tenant_set_status(w.tenant.id, TenantStatus::Archived, &cli()).await.unwrap();
    })
    .await;
}

async fn connection_disabled(store: atlas_store::Store) {
    blocked_after(store, ReasonCode::ProviderConnectionDisabled, async |w| {
        w.store.connection_set_status(w.tenant.id, false, &cli()).await.unwrap();
    })
    .await;
}

async fn connection_check_blocked_when_disabled(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(OperationType::ProviderConnectionCheck, json!({})).await;
    w.store.connection_set_status(w.tenant.id, false, &cli()).await.unwrap();
    w.drain().await;
    assert_blocked(&w, run.id, ReasonCode::ProviderConnectionDisabled, Some(w.initiator.id)).await;
    let conn = w.store.connection_get(w.tenant.id).await.unwrap().unwrap();
    assert_eq!(conn.health, None, "a blocked check records no health");
}

async fn schedule_disabled(store: atlas_store::Store) {
    let w = World::new(store).await;
    let schedule = w.store.schedule_add(w.tenant.id, "0 2 * * *", "UTC", &cli()).await.unwrap();
    let slot = atlas_store::now();
    let fired =
        atlas_engine::schedule::fire_as(&w.store, &schedule, slot, OperationType::InventorySync, 3).await.unwrap();
    let atlas_store::schedule::Fired::Run(inserted) = fired else { panic!("a new slot fires") };
    w.store.schedule_set_enabled(schedule.id, false, &cli()).await.unwrap();
    w.drain().await;
    assert_blocked(&w, inserted.run.id, ReasonCode::ScheduleDisabled, None).await;
    let run = w.run(inserted.run.id).await;
    assert_eq!(run.initiator_user_id, None);
    assert_eq!(run.source.as_ref().and_then(|s| s.get("kind")).and_then(|k| k.as_str()), Some("schedule"));
}

async fn system_run_of_a_writing_type(store: atlas_store::Store) {
    let w = World::new(store).await;
    let schedule = w.store.schedule_add(w.tenant.id, "0 2 * * *", "UTC", &cli()).await.unwrap();
    // Crafted past the start path: the gate at execution must still refuse it.
    let new = NewRun {
        op_type: OperationType::RestoreExecute,
        workspace_id: w.workspace.id,
        tenant_id: Some(w.tenant.id),
        authority: Authority::schedule(schedule.id, atlas_store::now()),
        params: json!({"backup_set_id": Uuid::now_v7().to_string(), "dry_run": false}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let (run, audit) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
    w.store.run_insert(&run, &audit).await.unwrap();
    w.drain().await;
    assert_blocked(&w, run.id, ReasonCode::SystemAuthorityNotAllowlisted, None).await;
}

async fn context_corrupted(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(OperationType::InventorySync, json!({})).await;
    let weaker = format!(
        "UPDATE operation_runs SET context = '{{\"authority_mode\": \"actor_bound\", \"required_capability\": \"workspace.view\"}}' WHERE id = '{}'",
        run.id
    );
    w.store.execute_raw(&weaker).await.unwrap();
    w.drain().await;
    assert_blocked(&w, run.id, ReasonCode::ExecutionContextInvalid, Some(w.initiator.id)).await;
}

async fn inventory_sync_succeeds(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(OperationType::InventorySync, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::Succeeded), "{run:?}");
    assert!(run.started_at.is_some());
    let inventory = w.store.inventory_list(w.tenant.id).await.unwrap();
    assert!(!inventory.is_empty());
    assert_eq!(run.summary_counts.created, inventory.len() as u64);
    assert_eq!(run.summary_counts.processed, inventory.len() as u64);
    let actions = w.run_actions(run.id).await;
    assert_eq!(actions, ["operation.queued", "operation.started", "operation.completed"]);
    let notes = w.store.notifications_for_run(run.id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].outcome, RunOutcome::Succeeded);
    // A second sync finds nothing new.
    let again = w.start(OperationType::InventorySync, json!({})).await;
    w.drain().await;
    let again = w.run(again.id).await;
    assert_eq!(again.summary_counts.created, 0);
    assert_eq!(again.summary_counts.updated, 0);
}

async fn connection_check_succeeds(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(OperationType::ProviderConnectionCheck, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    let conn = w.store.connection_get(w.tenant.id).await.unwrap().unwrap();
    assert_eq!(conn.status, ConnectionStatus::Enabled);
    assert_eq!(conn.health.as_ref().and_then(|h| h.get("ok")), Some(&json!(true)));
}

async fn scheduled_run_succeeds_and_notifies_nobody(store: atlas_store::Store) {
    let w = World::new(store).await;
    let schedule = w.store.schedule_add(w.tenant.id, "0 2 * * *", "UTC", &cli()).await.unwrap();
    let slot = atlas_store::now();
    let fired =
        atlas_engine::schedule::fire_as(&w.store, &schedule, slot, OperationType::InventorySync, 3).await.unwrap();
    let atlas_store::schedule::Fired::Run(inserted) = fired else { panic!("a new slot fires") };
    let again =
        atlas_engine::schedule::fire_as(&w.store, &schedule, slot, OperationType::InventorySync, 3).await.unwrap();
    assert_eq!(again, atlas_store::schedule::Fired::AlreadyFired(Some(inserted.run.id)), "one run per slot");
    w.drain().await;
    let run = w.run(inserted.run.id).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded);
    assert!(w.store.notifications_for_run(run.id).await.unwrap().is_empty());
}

both_stores!(
    every_family_is_blocked_by_each_drift,
    restore_blocked_when_the_write_gate_closes,
    restore_blocked_when_the_backup_set_is_gone,
    initiator_disabled,
    membership_revoked,
    entitlement_revoked,
    capability_revoked_by_role_change,
    capability_revoked_by_custom_role_edit,
    tenant_suspended,
    tenant_archived,
    connection_disabled,
    connection_check_blocked_when_disabled,
    schedule_disabled,
    system_run_of_a_writing_type,
    context_corrupted,
    inventory_sync_succeeds,
    connection_check_succeeds,
    scheduled_run_succeeds_and_notifies_nobody,
);
