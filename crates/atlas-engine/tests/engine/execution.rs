//! The execution chain's guarantees: a denied run's handler never runs, every
//! retry is re-authorized, leases fence stale workers, and on PostgreSQL a
//! revocation racing a claim is ordered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{cli, World};
use atlas_core::capability::BuiltinRole;
use atlas_core::gate::ReasonCode;
use atlas_core::run::{RunEvent, RunOutcome, RunStatus};
use atlas_core::{OperationType, SummaryCounts};
use atlas_providers::{Provider, ProviderError, WriteFence};
use atlas_store::admin::RoleRef;
use atlas_store::claim::{ClaimParams, Claimed};
use atlas_store::sandbox::SandboxFaultKind as FaultKind;
use atlas_store::StoreError;
use serde_json::json;

/// A registered object type by key.
fn ty(key: &str) -> atlas_providers::Kind {
    atlas_providers::object_type::by_key(key).unwrap()
}

async fn retry_is_reauthorized(store: atlas_store::Store) {
    let w = World::new(store).await;
    // More failing calls than the provider-call policy absorbs: attempt 1 fails.
    let calls = atlas_engine::patience::RETRIES + 1;
    w.store.sandbox_fault_set(w.tenant.id, FaultKind::Error, calls, 0).await.unwrap();
    let run = w.start(OperationType::InventorySync, json!({})).await;
    let first = w.worker().tick().await.unwrap();
    assert_eq!(first.started, 1);
    let after_first = w.run(run.id).await;
    assert_eq!((after_first.status, after_first.attempt), (RunStatus::Queued, 1), "{after_first:?}");
    assert_eq!(after_first.failures[0].code, "provider_unavailable");
    // The world changes between attempts.
    let readonly = RoleRef::Builtin(BuiltinRole::Readonly);
    w.store.member_set_role(w.workspace.id, w.initiator.id, &readonly, &cli()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::Blocked));
    let decision = run.decision.unwrap();
    assert_eq!(decision.reason_code, Some(ReasonCode::CapabilityRevoked));
    assert_eq!((decision.attempt, run.attempt), (2, 2));
    assert!(w.store.inventory_list(w.tenant.id).await.unwrap().is_empty(), "attempt 2 never ran");
    let actions = w.run_actions(run.id).await;
    assert_eq!(actions, ["operation.queued", "operation.started", "operation.retry_scheduled", "operation.blocked"]);
    assert_eq!(w.store.notifications_for_run(run.id).await.unwrap().len(), 1);
}

async fn expired_lease_is_rescued_and_the_stale_worker_is_fenced(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(OperationType::InventorySync, json!({})).await;
    // A worker claims the run and dies before doing anything.
    let dead = ClaimParams { worker: "dead".into(), lease_ms: 200, batch: 1, backoff_base_ms: 10 };
    let claimed = w.store.run_claim_and_authorize(&dead).await.unwrap();
    let [Claimed::Started(stale)] = claimed.as_slice() else { panic!("{claimed:?}") };
    let stale_token = stale.lease.as_ref().unwrap().token;
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.drain().await;
    let done = w.run(run.id).await;
    assert_eq!(done.outcome, RunOutcome::Succeeded, "{done:?}");
    assert_eq!(done.attempt, 2);
    assert_eq!(done.failures[0].code, "lease_expired");
    // The dead worker's late writes are refused.
    let late = RunEvent::Complete {
        outcome: RunOutcome::Failed,
        counts: SummaryCounts::default(),
        result: json!({}),
        failures: vec![],
    };
    assert!(matches!(w.store.run_finish(run.id, stale_token, late).await, Err(StoreError::Fenced)));
    let provider = atlas_providers::sandbox::SandboxProvider::new(w.store.clone(), w.tenant.id);
    let fence = WriteFence { run_id: run.id, lease_token: stale_token };
    let write = provider.create_object(fence, ty("device_configuration"), &json!({"displayName": "late"})).await;
    assert_eq!(write.err(), Some(ProviderError::Fenced));
    assert!(w.store.sandbox_journal(w.tenant.id).await.unwrap().is_empty());
    assert_eq!(w.run(run.id).await.outcome, RunOutcome::Succeeded, "completed runs never change");
}

async fn cancel_before_start(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(OperationType::InventorySync, json!({})).await;
    let cancelled = atlas_engine::service::cancel(&w.store, run.id, w.initiator.id).await.unwrap();
    assert_eq!((cancelled.status, cancelled.outcome), (RunStatus::Completed, RunOutcome::Cancelled));
    assert_eq!(cancelled.started_at, None);
    w.drain().await;
    assert!(w.store.inventory_list(w.tenant.id).await.unwrap().is_empty());
    let events = w.run_actions(run.id).await;
    assert_eq!(events, ["operation.queued", "operation.cancelled"]);
}

async fn duplicate_start_is_deduplicated(store: atlas_store::Store) {
    let w = World::new(store).await;
    let req = |user| atlas_engine::StartRequest {
        user_id: user,
        workspace_id: w.workspace.id,
        tenant_id: Some(w.tenant.id),
        op_type: OperationType::InventorySync,
        params: json!({}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let first = atlas_engine::service::start(&w.store, req(w.initiator.id)).await.unwrap();
    let second = atlas_engine::service::start(&w.store, req(w.owner.id)).await.unwrap();
    assert!(!first.deduplicated);
    assert!(second.deduplicated);
    assert_eq!(first.run.id, second.run.id);
}

async fn start_denied_stores_nothing(store: atlas_store::Store) {
    let w = World::new(store).await;
    let readonly = RoleRef::Builtin(BuiltinRole::Readonly);
    w.store.member_set_role(w.workspace.id, w.initiator.id, &readonly, &cli()).await.unwrap();
    let err = w.start_as(w.initiator.id, OperationType::InventorySync, json!({})).await.unwrap_err();
    let atlas_engine::ServiceError::Denied(decision) = err else { panic!("{err:?}") };
    assert_eq!(decision.reason_code, Some(ReasonCode::CapabilityRevoked));
    let runs = w
        .store
        .run_list(&atlas_store::run::RunFilter { workspace_id: Some(w.workspace.id), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert!(runs.is_empty());
    let bad = w.start_as(w.owner.id, OperationType::InventorySync, json!({"nope": 1})).await.unwrap_err();
    assert!(matches!(bad, atlas_engine::ServiceError::Invalid(_)), "{bad:?}");
}

/// A worker seals the audit log beside its claims while it runs, and what its
/// runs wrote is sealed by the time it returns.
async fn a_worker_seals_what_its_runs_wrote_before_it_returns(store: atlas_store::Store) {
    let w = World::new(store).await;
    // Slow enough that the worker's sealing rounds run while the run does.
    w.store.sandbox_fault_set(w.tenant.id, FaultKind::Latency, 3, 200).await.unwrap();
    let run = w.start(OperationType::InventorySync, json!({})).await;
    w.drain().await;
    assert_eq!(w.run(run.id).await.outcome, RunOutcome::Succeeded);
    // PostgreSQL seals only below the cluster's oldest open transaction, which
    // any other database's client may hold for a while: there, what the worker
    // could not seal yet must at least be young. SQLite has no such horizon.
    let waiting = w.store.audit_unsealed(None, 60).await.unwrap();
    assert_eq!(waiting.stale, 0, "{waiting:?}");
    let after = w.store.audit_seal().await.unwrap();
    if w.store.dialect() == atlas_store::Dialect::Sqlite {
        assert_eq!(after.sealed, 0, "nothing left unsealed: {after:?}");
    }
    assert!(!after.skipped, "no seal round still running: {after:?}");
}

both_stores!(
    a_worker_seals_what_its_runs_wrote_before_it_returns,
    retry_is_reauthorized,
    expired_lease_is_rescued_and_the_stale_worker_is_fenced,
    cancel_before_start,
    duplicate_start_is_deduplicated,
    start_denied_stores_nothing,
);

#[cfg(feature = "testkit")]
mod ordering {
    use super::*;
    use atlas_engine::families::noop;

    /// A denied run is never `running` and its handler is never called; an
    /// allowed one is called exactly once.
    async fn denied_handler_is_never_called(store: atlas_store::Store) {
        let w = World::new(store).await;
        let denied = w.start(OperationType::TestkitNoop, json!({})).await;
        w.store.tenant_set_status(w.tenant.id, atlas_core::TenantStatus::Suspended, &cli()).await.unwrap();
        w.drain().await;
        assert_eq!(noop::calls_for(denied.id), 0);
        let denied = w.run(denied.id).await;
        assert_eq!(denied.outcome, RunOutcome::Blocked);
        assert!(!w.run_actions(denied.id).await.contains(&"operation.started".to_string()));
        w.store.tenant_set_status(w.tenant.id, atlas_core::TenantStatus::Active, &cli()).await.unwrap();
        let allowed = w.start(OperationType::TestkitNoop, json!({})).await;
        w.drain().await;
        assert_eq!(noop::calls_for(allowed.id), 1);
        assert_eq!(w.run(allowed.id).await.outcome, RunOutcome::Succeeded);
    }

    both_stores!(denied_handler_is_never_called);
}

/// Waits until some backend waits on a lock that `holder`'s backend holds
/// (`pg_blocking_pids`, read over another connection: statistics views are a
/// snapshot per transaction). Deterministic, unlike sleeping a while.
async fn blocked_on(url: &str, holder: &mut sqlx::PgConnection) {
    use sqlx::Connection;
    let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()").fetch_one(&mut *holder).await.unwrap();
    let mut watcher = sqlx::PgConnection::connect(url).await.unwrap();
    for _ in 0..3_000 {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))")
                .bind(pid)
                .fetch_one(&mut watcher)
                .await
                .unwrap();
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing ever waited on backend {pid}'s locks");
}

/// A revocation committed while a claim waits on the facts it locks is seen by
/// that claim: the run is blocked, never started after the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_revocation_racing_a_claim_is_ordered() {
    use sqlx::Connection;
    let Some(url) = atlas_store::testkit::postgres_url().await else { return };
    let store = atlas_store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let w = World::new(store).await;
    let run = w.start(OperationType::InventorySync, json!({})).await;

    // The revoking transaction takes the membership row first and holds it.
    let mut revoker = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut revoker).await.unwrap();
    sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
        .bind(w.workspace.id.to_string())
        .bind(w.initiator.id.to_string())
        .execute(&mut revoker)
        .await
        .unwrap();
    let params = ClaimParams { worker: "racer".into(), lease_ms: 30_000, batch: 1, backoff_base_ms: 10 };
    let claimer = {
        let store = w.store.clone();
        tokio::spawn(async move { store.run_claim_and_authorize(&params).await })
    };
    blocked_on(&url, &mut revoker).await;
    assert!(!claimer.is_finished(), "the claim waits for the revocation's row lock");
    sqlx::query("COMMIT").execute(&mut revoker).await.unwrap();
    let claimed = claimer.await.unwrap().unwrap();
    let [Claimed::Blocked(blocked)] = claimed.as_slice() else { panic!("{claimed:?}") };
    assert_eq!(blocked.id, run.id);
    let reason = blocked.decision.as_ref().and_then(|d| d.reason_code);
    assert_eq!(reason, Some(ReasonCode::WorkspaceMembershipRevoked));
}

/// The other order: a claim holding its facts makes the revocation wait, so the
/// start precedes the revocation's commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claim_holding_facts_makes_the_revocation_wait() {
    use sqlx::Connection;
    let Some(url) = atlas_store::testkit::postgres_url().await else { return };
    let store = atlas_store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let w = World::new(store).await;
    w.start(OperationType::InventorySync, json!({})).await;
    // Take the same FOR SHARE lock a claim holds, and keep it.
    let mut claimer = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut claimer).await.unwrap();
    sqlx::query("SELECT 1 FROM memberships WHERE workspace_id = $1 AND user_id = $2 FOR SHARE")
        .bind(w.workspace.id.to_string())
        .bind(w.initiator.id.to_string())
        .execute(&mut claimer)
        .await
        .unwrap();
    let revoke = {
        let store = w.store.clone();
        let (ws, user) = (w.workspace.id, w.initiator.id);
        tokio::spawn(async move { store.member_revoke(ws, user, &cli()).await })
    };
    blocked_on(&url, &mut claimer).await;
    assert!(!revoke.is_finished(), "a revocation waits for a claim holding the membership");
    sqlx::query("COMMIT").execute(&mut claimer).await.unwrap();
    revoke.await.unwrap().unwrap();
}
