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

/// What an [`AfterWrite`] provider does once a write has landed: given the
/// number of the write (1 for the first), it may close a gate, expire a
/// lease…, before the write's answer reaches the family.
pub type WriteHook = Box<dyn Fn(u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// A provider that hands every call to `inner` and runs `hook` after each
/// write (create, update, assignment set) the tenant accepted, counting the
/// writes attempted.
pub struct AfterWrite {
    pub inner: std::sync::Arc<dyn atlas_providers::Provider>,
    pub hook: WriteHook,
    pub attempted: std::sync::atomic::AtomicU32,
}

impl AfterWrite {
    pub fn new(inner: std::sync::Arc<dyn atlas_providers::Provider>, hook: WriteHook) -> AfterWrite {
        AfterWrite { inner, hook, attempted: std::sync::atomic::AtomicU32::new(0) }
    }

    pub fn attempted(&self) -> u32 {
        self.attempted.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn after<T>(&self, answer: Result<T, ProviderError>) -> Result<T, ProviderError> {
        let n = self.attempted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if answer.is_ok() {
            (self.hook)(n).await;
        }
        answer
    }
}

use atlas_providers::{ComplianceSummary, Health, Kind, ProviderError, RemoteObject, UpdateOutcome, WriteFence};

#[async_trait::async_trait]
impl atlas_providers::Provider for AfterWrite {
    async fn check_health(&self) -> Result<Health, ProviderError> {
        self.inner.check_health().await
    }
    async fn list_objects(&self, kind: Kind) -> Result<Vec<RemoteObject>, ProviderError> {
        self.inner.list_objects(kind).await
    }
    async fn get_object(&self, kind: Kind, id: &str) -> Result<Option<RemoteObject>, ProviderError> {
        self.inner.get_object(kind, id).await
    }
    async fn create_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        payload: &Value,
    ) -> Result<RemoteObject, ProviderError> {
        self.after(self.inner.create_object(fence, kind, payload).await).await
    }
    async fn update_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError> {
        self.after(self.inner.update_object(fence, kind, id, payload).await).await
    }
    async fn list_assignments(&self, kind: Kind, id: &str) -> Result<Vec<Value>, ProviderError> {
        self.inner.list_assignments(kind, id).await
    }
    async fn set_assignments(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        assignments: &[Value],
    ) -> Result<(), ProviderError> {
        self.after(self.inner.set_assignments(fence, kind, id, assignments).await).await
    }
    async fn group_exists(&self, group_id: &str) -> Result<bool, ProviderError> {
        self.inner.group_exists(group_id).await
    }
    async fn compliance_summaries(&self) -> Result<Vec<ComplianceSummary>, ProviderError> {
        self.inner.compliance_summaries().await
    }
}

impl World {
    /// Claims the next queued run with a lease of `lease_ms` and executes its
    /// handler with `provider` — a worker that never records what the handler
    /// returns, as one killed after it would be.
    pub async fn execute_claimed(
        &self,
        lease_ms: i64,
        provider: std::sync::Arc<dyn atlas_providers::Provider>,
        reevaluate_interval: Duration,
    ) -> Result<atlas_engine::handler::HandlerOutput, atlas_engine::handler::HandlerError> {
        use atlas_store::claim::{ClaimParams, Claimed};
        let params = ClaimParams { worker: "doomed".into(), lease_ms, batch: 1, backoff_base_ms: 10 };
        // A rescued run waits out its backoff first.
        let mut claimed = Vec::new();
        for _ in 0..50 {
            claimed = self.store.run_claim_and_authorize(&params).await.unwrap();
            if !claimed.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let [Claimed::Started(running)] = claimed.as_slice() else { panic!("{claimed:?}") };
        let token = running.lease.as_ref().unwrap().token;
        let ctx = atlas_engine::handler::HandlerContext {
            run: running.clone(),
            provider,
            fence: WriteFence { run_id: running.id, lease_token: token },
            results: self.store.run_results(running, token),
            providers: self.sandbox_providers(),
            reevaluate_interval,
        };
        let handler = families::registry().get(running.op_type).unwrap();
        handler.execute(&ctx).await
    }

    pub fn sandbox_providers(&self) -> atlas_engine::provider::Providers {
        atlas_engine::provider::Providers::new(self.store.clone(), self.providers.clone())
    }

    /// Lets the leases of the runs claimed with `lease_ms` run out, and rescues them.
    pub async fn expire_and_rescue(&self, lease_ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(lease_ms + 100)).await;
        self.store.run_rescue_expired(10, 100).await.unwrap().len() as u64
    }
}
