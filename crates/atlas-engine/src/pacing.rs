//! Provider write pacing (SPEC §5): every write to a tenant first reserves a
//! slot in the tenant's sliding-window budget, shared through the database by
//! all workers; reads pass through. The budget is the node's
//! `ProviderConfig::write_budget` (Graph's limit by default).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use atlas_providers::{
    ComplianceSummary, Health, Kind, Provider, ProviderError, RemoteObject, UpdateOutcome, WriteFence,
};
use atlas_store::pacing::WriteBudget;
use atlas_store::Store;
use serde_json::Value;
use uuid::Uuid;

/// Slack added to the window the database enforces, so that a write's own
/// timestamp (taken a moment after its reservation, later under load) also
/// stays inside the budget. It must be in the window itself, not only in a
/// waiter's sleep: a writer that did not wait may take a slot the moment the
/// plain window frees it.
const SLACK_MS: i64 = 100;

pub struct Paced {
    inner: Arc<dyn Provider>,
    store: Store,
    tenant_id: Uuid,
    budget: WriteBudget,
}

impl Paced {
    pub fn new(inner: Arc<dyn Provider>, store: Store, tenant_id: Uuid, budget: WriteBudget) -> Paced {
        Paced { inner, store, tenant_id, budget }
    }

    async fn reserve(&self) -> Result<(), ProviderError> {
        let guarded = WriteBudget { window_ms: self.budget.window_ms.saturating_add(SLACK_MS), ..self.budget };
        loop {
            match self.store.write_budget_reserve(self.tenant_id, guarded).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(wait_ms)) => {
                    let wait = u64::try_from(wait_ms).unwrap_or(1).max(1);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Err(e) => return Err(ProviderError::Transient(format!("write budget unavailable: {e}"))),
            }
        }
    }
}

#[async_trait]
impl Provider for Paced {
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
        self.reserve().await?;
        self.inner.create_object(fence, kind, payload).await
    }

    async fn update_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError> {
        self.reserve().await?;
        self.inner.update_object(fence, kind, id, payload).await
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
        self.reserve().await?;
        self.inner.set_assignments(fence, kind, id, assignments).await
    }

    async fn group_exists(&self, group_id: &str) -> Result<bool, ProviderError> {
        self.inner.group_exists(group_id).await
    }

    async fn compliance_summaries(&self) -> Result<Vec<ComplianceSummary>, ProviderError> {
        self.inner.compliance_summaries().await
    }
}
