//! One trust contract across the item-processing families (SPEC §3.5, §3.6):
//! bulk items gated one by one, assignment restore, a revocation in the middle
//! of a long restore, and cancel between items.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{cli, AfterWrite, World};
use atlas_core::gate::ReasonCode;
use atlas_core::item::ItemOutcome;
use atlas_core::run::{RunOutcome, RunStatus};
use atlas_core::tenant::{TenantScope, TenantStatus};
use atlas_core::OperationType;
use atlas_engine::{service, ServiceError, StartRequest};
use atlas_store::run::RunFilter;
use atlas_store::sandbox::SandboxFaultKind;
use serde_json::json;
use uuid::Uuid;

async fn bulk_blocks_only_the_revoked_tenant(store: atlas_store::Store) {
    let w = World::new(store).await;
    let mut tenants = vec![w.tenant.clone()];
    for name in ["Contoso South", "Contoso East", "Contoso West", "Contoso Central"] {
        tenants.push(w.other_tenant(name).await);
    }
    let ids: Vec<String> = tenants.iter().map(|t| t.id.to_string()).collect();
    let req = StartRequest {
        user_id: w.initiator.id,
        workspace_id: w.workspace.id,
        tenant_id: None,
        op_type: OperationType::BulkOperation,
        params: json!({"operation": "inventory.sync", "tenant_ids": ids}),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let run = service::start(&w.store, req).await.unwrap().run;
    // The initiator loses one tenant before the worker gets to the run.
    let four: std::collections::BTreeSet<Uuid> = tenants[1..].iter().map(|t| t.id).collect();
    w.store
        .member_set_scope(w.workspace.id, w.initiator.id, &TenantScope::Tenants(four.clone()), &cli())
        .await
        .unwrap();
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::PartiallySucceeded), "{run:?}");
    let c = run.summary_counts;
    assert_eq!((c.total, c.succeeded, c.blocked, c.failed, c.processed), (5, 4, 1, 0, 4));
    let items = w.store.run_items(run.id).await.unwrap();
    let blocked: Vec<_> = items.iter().filter(|i| i.outcome == ItemOutcome::Blocked).collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].item_key, w.tenant.id.to_string());
    assert_eq!(blocked[0].reason_code.as_deref(), Some("tenant_entitlement_revoked"));
    assert!(w.store.inventory_list(w.tenant.id).await.unwrap().is_empty(), "the revoked tenant was not touched");
    for t in &tenants[1..] {
        assert!(!w.store.inventory_list(t.id).await.unwrap().is_empty());
    }
    // A member entitled to four of the five tenants cannot see the run.
    let err = service::run_for(&w.store, run.id, w.initiator.id).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound(_)), "{err:?}");
    assert!(service::run_for(&w.store, run.id, w.owner.id).await.is_ok());
    assert_eq!(w.store.notifications_for_run(run.id).await.unwrap().len(), 1);
}

async fn bulk_start_validates_its_targets(store: atlas_store::Store) {
    let w = World::new(store).await;
    let start = |params: serde_json::Value| {
        let req = StartRequest {
            user_id: w.initiator.id,
            workspace_id: w.workspace.id,
            tenant_id: None,
            op_type: OperationType::BulkOperation,
            params,
            retry_of_run_id: None,
            max_attempts: 3,
        };
        service::start(&w.store, req)
    };
    for params in [
        json!({"operation": "inventory.sync", "tenant_ids": []}),
        json!({"operation": "restore.execute", "tenant_ids": [w.tenant.id.to_string()]}),
        json!({"operation": "bulk.operation", "tenant_ids": [w.tenant.id.to_string()]}),
    ] {
        let err = start(params.clone()).await.unwrap_err();
        assert!(matches!(err, ServiceError::Invalid(_)), "{params}: {err:?}");
    }
    // A tenant the starter cannot see is not found, as the API and console
    // answer (404) — whether it does not exist or is another workspace's.
    let elsewhere = w.store.workspace_create(&format!("else-{}", Uuid::now_v7().simple()), "Elsewhere", &cli()).await;
    let elsewhere = w
        .store
        .tenant_create(elsewhere.unwrap().id, "Elsewhere", TenantStatus::Active, true, None, &cli())
        .await
        .unwrap();
    for tenant in [Uuid::now_v7(), elsewhere.id] {
        let params = json!({"operation": "inventory.sync", "tenant_ids": [tenant.to_string()]});
        let err = start(params.clone()).await.unwrap_err();
        assert!(matches!(err, ServiceError::NotFound(_)), "{params}: {err:?}");
    }
    let runs = RunFilter { workspace_id: Some(w.workspace.id), limit: 10, ..RunFilter::default() };
    assert!(w.store.run_list(&runs).await.unwrap().is_empty(), "nothing started");
}

async fn assignments_are_restored_and_missing_groups_skipped(store: atlas_store::Store) {
    let w = World::new(store).await;
    let backup = w.start(OperationType::BackupRun, json!({})).await;
    w.drain().await;
    let set = w.run(backup.id).await.result["backup_set_id"].as_str().unwrap().to_owned();
    // Someone clears an object's assignments and deletes one group in the portal.
    let configs = w.store.sandbox_objects(w.tenant.id, "device_configuration").await.unwrap();
    let target = configs.iter().find(|o| o.assignments.len() >= 2).expect("an assigned object");
    let group = target.assignments.iter().find_map(|a| a["target"]["groupId"].as_str().map(str::to_owned));
    w.store
        .execute_raw(&format!(
            "UPDATE sandbox_objects SET assignments = '[]' WHERE tenant_id = '{}' AND object_id = '{}'",
            w.tenant.id, target.object_id
        ))
        .await
        .unwrap();
    if let Some(g) = &group {
        w.store.sandbox_out_of_band_group_delete(w.tenant.id, g).await.unwrap();
    }
    let run = w.start(OperationType::RestoreAssignments, json!({"backup_set_id": set})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    assert!(run.summary_counts.succeeded >= 1);
    let after = w.store.sandbox_object(w.tenant.id, "device_configuration", &target.object_id).await.unwrap().unwrap();
    let restored = &after.assignments;
    let dropped = target.assignments.iter().filter(|a| a["target"]["groupId"].as_str() == group.as_deref()).count();
    assert_eq!(restored.len(), target.assignments.len() - dropped);
    if let Some(g) = &group {
        assert!(restored.iter().all(|a| a["target"]["groupId"].as_str() != Some(g)), "no guessing for a deleted group");
        let items = w.store.run_items(run.id).await.unwrap();
        let item = items.iter().find(|i| i.target["object_id"] == json!(target.object_id)).unwrap();
        assert_eq!(item.detail["dropped"][0]["reason"], json!("group_not_found"));
    }
    // Blocked like every writing family when the gate is closed.
    let again = w.start(OperationType::RestoreAssignments, json!({"backup_set_id": set})).await;
    w.store.tenant_set_write_gate(w.tenant.id, false, &cli()).await.unwrap();
    w.drain().await;
    let again = w.run(again.id).await;
    assert_eq!(again.outcome, RunOutcome::Blocked);
    assert_eq!(again.decision.unwrap().reason_code, Some(ReasonCode::WriteGateClosed));
}

/// Revoked while a long restore runs: items done stay done, the rest are
/// blocked, and no tenant write lands after the revocation commits.
async fn revocation_mid_restore_stops_between_items(store: atlas_store::Store) {
    let w = World::new(store).await;
    let backup = w.start(OperationType::BackupRun, json!({})).await;
    w.drain().await;
    let set = w.run(backup.id).await.result["backup_set_id"].as_str().unwrap().to_owned();
    // Every object is gone, so every item writes.
    for kind in atlas_providers::object_type::all() {
        for o in w.store.sandbox_objects(w.tenant.id, kind.key).await.unwrap() {
            w.store.sandbox_out_of_band_delete(w.tenant.id, kind.key, &o.object_id).await.unwrap();
        }
    }
    w.store.sandbox_fault_set(w.tenant.id, SandboxFaultKind::Latency, 10_000, 30).await.unwrap();
    let run = w.start(OperationType::RestoreExecute, json!({"backup_set_id": set})).await;
    let worker = {
        let w2 = w.worker();
        tokio::spawn(async move { w2.run(true, std::future::pending::<()>()).await })
    };
    // Let a few items land, then revoke.
    for _ in 0..400 {
        if w.store.sandbox_journal(w.tenant.id).await.unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let readonly = atlas_store::admin::RoleRef::Builtin(atlas_core::capability::BuiltinRole::Readonly);
    w.store.member_set_role(w.workspace.id, w.initiator.id, &readonly, &cli()).await.unwrap();
    let writes_at_revocation = w.store.sandbox_journal(w.tenant.id).await.unwrap().len();
    tokio::time::timeout(Duration::from_secs(60), worker).await.unwrap().unwrap().unwrap();
    let run = w.run(run.id).await;
    let journal = w.store.sandbox_journal(w.tenant.id).await.unwrap();
    assert_eq!(journal.len(), writes_at_revocation, "no write after the revocation committed");
    assert_eq!(run.outcome, RunOutcome::PartiallySucceeded, "{run:?}");
    let c = run.summary_counts;
    assert_eq!(c.succeeded as usize, journal.len(), "counts match the journal");
    assert_eq!(c.created as usize, journal.len());
    assert_eq!(c.succeeded + c.blocked, c.total);
    assert!(c.blocked > 0);
    assert_eq!(run.decision.as_ref().and_then(|d| d.reason_code), Some(ReasonCode::CapabilityRevoked));
    let actions = w.run_actions(run.id).await;
    assert_eq!(actions.last().map(String::as_str), Some("operation.blocked"), "{actions:?}");
}

async fn cancel_between_items(store: atlas_store::Store) {
    let w = World::new(store).await;
    let backup = w.start(OperationType::BackupRun, json!({})).await;
    w.drain().await;
    let set = w.run(backup.id).await.result["backup_set_id"].as_str().unwrap().to_owned();
    for o in w.store.sandbox_objects(w.tenant.id, "device_configuration").await.unwrap() {
        w.store.sandbox_out_of_band_delete(w.tenant.id, "device_configuration", &o.object_id).await.unwrap();
    }
    w.store.sandbox_fault_set(w.tenant.id, SandboxFaultKind::Latency, 10_000, 30).await.unwrap();
    let run = w.start(OperationType::RestoreExecute, json!({"backup_set_id": set})).await;
    let worker = {
        let w2 = w.worker();
        tokio::spawn(async move { w2.run(true, std::future::pending::<()>()).await })
    };
    for _ in 0..400 {
        if !w.store.sandbox_journal(w.tenant.id).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    service::cancel(&w.store, run.id, w.owner.id).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), worker).await.unwrap().unwrap().unwrap();
    let run = w.run(run.id).await;
    assert_eq!(run.outcome, RunOutcome::PartiallySucceeded, "{run:?}");
    assert!(run.summary_counts.processed < run.summary_counts.total);
    let events = w
        .store
        .audit_events(atlas_store::audit::AuditFilter {
            subject: Some(format!("run:{}", run.id)),
            action: Some("operation.cancelled".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, atlas_core::audit::Actor::User { user_id: w.owner.id }, "attributed to who cancelled");
    let items = w.store.run_items(run.id).await.unwrap();
    assert!(items.iter().any(|i| i.outcome == ItemOutcome::Cancelled));
}

both_stores!(
    bulk_blocks_only_the_revoked_tenant,
    bulk_start_validates_its_targets,
    assignments_are_restored_and_missing_groups_skipped,
    revocation_mid_restore_stops_between_items,
    cancel_between_items,
    a_closed_write_gate_stops_a_restore_before_its_next_write,
);

/// A writing run asks the gate before every item that writes, whatever the
/// between-items interval (30 s here): once the gate is closed no further
/// write is even attempted — not only refused by the sandbox's own check,
/// which a Graph tenant does not have.
async fn a_closed_write_gate_stops_a_restore_before_its_next_write(store: atlas_store::Store) {
    let w = World::new(store).await;
    let backup = w.start(OperationType::BackupRun, json!({})).await;
    w.drain().await;
    let set = w.run(backup.id).await.result["backup_set_id"].as_str().unwrap().to_owned();
    for o in w.store.sandbox_objects(w.tenant.id, "device_configuration").await.unwrap() {
        w.store.sandbox_out_of_band_delete(w.tenant.id, "device_configuration", &o.object_id).await.unwrap();
    }
    w.start(OperationType::RestoreExecute, json!({"backup_set_id": set})).await;
    let (store, tenant_id) = (w.store.clone(), w.tenant.id);
    let provider = std::sync::Arc::new(AfterWrite::new(
        w.sandbox_providers().sandbox(w.tenant.id),
        Box::new(move |n| {
            let store = store.clone();
            Box::pin(async move {
                if n == 2 {
                    store.tenant_set_write_gate(tenant_id, false, &cli()).await.unwrap();
                }
            })
        }),
    ));
    let output = w.execute_claimed(60_000, provider.clone(), Duration::from_secs(30)).await.unwrap();
    assert_eq!(provider.attempted(), 2, "no write attempted after the close");
    assert_eq!(w.store.sandbox_journal(w.tenant.id).await.unwrap().len(), 2);
    let Some(atlas_engine::handler::Stop::Blocked(decision)) = output.stopped else { panic!("{output:?}") };
    assert_eq!(decision.reason_code, Some(ReasonCode::WriteGateClosed));
    assert!(output.counts.blocked > 0, "{:?}", output.counts);
}
