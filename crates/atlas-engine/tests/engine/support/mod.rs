//! A small world for engine tests, built through the public APIs: a workspace
//! with an owner, an initiator, an active sandbox tenant with writes open.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use atlas_core::capability::BuiltinRole;
use atlas_core::run::Run;
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::OperationType;
use atlas_engine::worker::WorkerStats;
use atlas_engine::{families, service, EngineConfig, ProviderConfig, StartRequest, Worker};
use atlas_store::admin::{ChangeBy, RoleRef, Tenant, User, Workspace};
use atlas_store::audit::AuditFilter;
use atlas_store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

pub struct World {
    pub store: Store,
    pub workspace: Workspace,
    pub owner: User,
    pub initiator: User,
    pub tenant: Tenant,
    /// What this world's workers build providers with (tests change the
    /// write budget, or point Graph at a fake).
    pub providers: ProviderConfig,
}

pub fn cli() -> ChangeBy {
    ChangeBy::cli()
}

impl World {
    pub async fn new(store: Store) -> World {
        let tag = &Uuid::new_v4().simple().to_string()[..8];
        let workspace = store.workspace_create(&format!("ws-{tag}"), "Contoso MSP", &cli()).await.unwrap();
        let owner = store.user_create(&format!("owner-{tag}@example.com"), "Olivia Owner", None, &cli()).await.unwrap();
        let initiator = store.user_create(&format!("jane-{tag}@example.com"), "Jane Doe", None, &cli()).await.unwrap();
        store
            .member_grant(workspace.id, owner.id, &RoleRef::Builtin(BuiltinRole::Owner), &TenantScope::All, &cli())
            .await
            .unwrap();
        store
            .member_grant(
                workspace.id,
                initiator.id,
                &RoleRef::Builtin(BuiltinRole::Manager),
                &TenantScope::All,
                &cli(),
            )
            .await
            .unwrap();
        let tenant =
            store.tenant_create(workspace.id, "Contoso North", TenantStatus::Active, true, None, &cli()).await.unwrap();
        store.connection_add(tenant.id, ConnectionKind::Sandbox, json!({}), None, &cli()).await.unwrap();
        atlas_providers::sandbox::seed(&store, tenant.id).await.unwrap();
        World { store, workspace, owner, initiator, tenant, providers: ProviderConfig::default() }
    }

    pub async fn other_tenant(&self, name: &str) -> Tenant {
        let t =
            self.store.tenant_create(self.workspace.id, name, TenantStatus::Active, true, None, &cli()).await.unwrap();
        self.store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &cli()).await.unwrap();
        atlas_providers::sandbox::seed(&self.store, t.id).await.unwrap();
        t
    }

    /// Starts an operation as the initiator; panics if the start is refused.
    pub async fn start(&self, op_type: OperationType, params: Value) -> Run {
        self.start_as(self.initiator.id, op_type, params).await.expect("start allowed")
    }

    pub async fn start_as(
        &self,
        user: Uuid,
        op_type: OperationType,
        params: Value,
    ) -> Result<Run, service::ServiceError> {
        let req = StartRequest {
            user_id: user,
            workspace_id: self.workspace.id,
            tenant_id: Some(self.tenant.id),
            op_type,
            params,
            retry_of_run_id: None,
            max_attempts: 3,
        };
        service::start(&self.store, req).await.map(|i| i.run)
    }

    pub fn worker(&self) -> Worker {
        Worker::new(self.store.clone(), fast_config(), families::registry()).with_providers(self.providers.clone())
    }

    /// Runs a worker until nothing is queued or running.
    pub async fn drain(&self) -> WorkerStats {
        let stats =
            tokio::time::timeout(Duration::from_secs(60), self.worker().run(true, std::future::pending::<()>()))
                .await
                .expect("worker drains within a minute")
                .expect("worker runs");
        stats
    }

    pub async fn run(&self, id: Uuid) -> Run {
        self.store.run_get(id).await.unwrap()
    }

    /// The audit actions recorded for a run, oldest first.
    pub async fn run_actions(&self, id: Uuid) -> Vec<String> {
        let mut events = self
            .store
            .audit_events(AuditFilter { subject: Some(format!("run:{id}")), limit: 1000, ..Default::default() })
            .await
            .unwrap();
        events.sort_by_key(|e| e.seq);
        events.into_iter().map(|e| e.action).collect()
    }
}

pub fn fast_config() -> EngineConfig {
    EngineConfig {
        lease: Duration::from_millis(2_000),
        retry_backoff: Duration::from_millis(10),
        poll_interval: Duration::from_millis(20),
        concurrency: 4,
        claim_batch: 8,
        reevaluate_interval: Duration::from_millis(50),
        max_attempts: 3,
    }
}
