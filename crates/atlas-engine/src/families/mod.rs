//! The operation families, one module each, and the provider a run's tenant uses.

use std::sync::Arc;

use atlas_core::run::Run;
use atlas_core::tenant::ConnectionKind;
use atlas_core::OperationType;
use atlas_providers::sandbox::SandboxProvider;
use atlas_providers::Provider;
use atlas_store::Store;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::handler::{HandlerError, Registry};

pub mod backup_run;
pub mod bulk;
pub mod compliance_snapshot;
pub mod connection_check;
pub mod inventory_sync;
pub mod items;
#[cfg(feature = "testkit")]
pub mod noop;
pub mod policies_sync;
pub mod restore_assignments;
pub mod restore_execute;

/// Every family this build has.
pub fn register_all(registry: &mut Registry) -> Result<(), String> {
    registry.register(OperationType::ProviderConnectionCheck, Arc::new(connection_check::ConnectionCheck))?;
    registry.register(OperationType::InventorySync, Arc::new(inventory_sync::InventorySync))?;
    registry.register(OperationType::PoliciesSync, Arc::new(policies_sync::PoliciesSync))?;
    registry.register(OperationType::ComplianceSnapshot, Arc::new(compliance_snapshot::ComplianceSnapshot))?;
    registry.register(OperationType::BackupRun, Arc::new(backup_run::BackupRun))?;
    registry.register(OperationType::RestoreExecute, Arc::new(restore_execute::RestoreExecute))?;
    registry.register(OperationType::RestoreAssignments, Arc::new(restore_assignments::RestoreAssignments))?;
    #[cfg(feature = "testkit")]
    registry.register(OperationType::TestkitNoop, Arc::new(noop::Noop))?;
    let items = registry.clone();
    registry.register(OperationType::BulkOperation, bulk::bulk(&items))?;
    Ok(())
}

/// The registry with every family.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    // Registering each type once cannot collide.
    if let Err(e) = register_all(&mut r) {
        tracing::error!("{e}");
    }
    r
}

/// The provider behind a run's tenant connection. A run over several tenants
/// (bulk) has none of its own: its items get theirs.
pub async fn provider_for(store: &Store, run: &Run) -> Result<Arc<dyn Provider>, HandlerError> {
    let Some(tenant_id) = run.tenant_id else {
        return Ok(Arc::new(NoTenant));
    };
    let conn = store.connection_get(tenant_id).await?.ok_or_else(|| {
        HandlerError::permanent("provider_connection_missing", "the tenant has no provider connection".into())
    })?;
    let inner: Arc<dyn Provider> = match conn.kind {
        ConnectionKind::Sandbox => Arc::new(SandboxProvider::new(store.clone(), tenant_id)),
        ConnectionKind::MicrosoftGraph => {
            let sealed = store.connection_sealed_secret(tenant_id).await?;
            graph_provider(tenant_id, &conn, sealed)?
        }
    };
    Ok(Arc::new(crate::pacing::Paced::new(inner, store.clone(), tenant_id, crate::pacing::budget_from_env())))
}

/// Graph providers are kept per connection so that their token cache lives
/// across runs; a changed connection (new secret, new settings) gets a new one.
static GRAPH_PROVIDERS: std::sync::Mutex<Vec<CachedProvider>> = std::sync::Mutex::new(Vec::new());

/// A tenant, the identity of its connection's settings, and the provider built from them.
type CachedProvider = (Uuid, String, Arc<dyn Provider>);

fn graph_provider(
    tenant_id: Uuid,
    conn: &atlas_store::admin::ProviderConnection,
    sealed: Option<String>,
) -> Result<Arc<dyn Provider>, HandlerError> {
    use atlas_providers::graph::{GraphConfig, GraphProvider};
    let setting = |key: &str| conn.config.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(external), Some(client)) = (setting("external_tenant_id"), setting("client_id")) else {
        return Err(HandlerError::permanent(
            "provider_misconfigured",
            "the Graph connection lacks its tenant or client id".into(),
        ));
    };
    let sealed = sealed.ok_or_else(|| {
        HandlerError::permanent("provider_misconfigured", "the Graph connection has no client secret".into())
    })?;
    let identity = content_hash(&serde_json::json!([external, client, sealed]));
    if let Ok(cache) = GRAPH_PROVIDERS.lock() {
        if let Some((_, _, p)) = cache.iter().find(|(t, id, _)| *t == tenant_id && *id == identity) {
            return Ok(p.clone());
        }
    }
    let secret = crate::secrets::open(&sealed).map_err(|e| HandlerError::permanent("provider_misconfigured", e))?;
    let provider: Arc<dyn Provider> = Arc::new(GraphProvider::new(GraphConfig::from_env(external, client, secret))?);
    if let Ok(mut cache) = GRAPH_PROVIDERS.lock() {
        cache.retain(|(t, _, _)| *t != tenant_id);
        cache.push((tenant_id, identity, provider.clone()));
    }
    Ok(provider)
}

/// SHA-256 of a JSON value's canonical text (serde_json sorts object keys).
pub fn content_hash(v: &Value) -> String {
    let canonical = serde_json::to_string(v).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The hash two versions of an object are compared on: its content as the
/// registry defines it (`ObjectType::comparable`).
pub fn content_hash_of(object: &atlas_providers::RemoteObject) -> String {
    content_hash(&object.kind.comparable(&object.payload))
}

/// Every object of every registered type the tenant has, type by type.
pub async fn list_all(provider: &dyn Provider) -> Result<Vec<atlas_providers::RemoteObject>, HandlerError> {
    let mut all = Vec::new();
    for kind in atlas_core::object_type::all() {
        all.extend(provider.list_objects(kind).await?);
    }
    Ok(all)
}

/// The run's tenant, which every tenant family needs.
pub fn tenant_of(run: &Run) -> Result<uuid::Uuid, HandlerError> {
    run.tenant_id.ok_or_else(|| HandlerError::permanent("no_tenant", "this operation needs a tenant".into()))
}

/// The provider of a run without a tenant: every call is an error.
struct NoTenant;

fn no_tenant<T>() -> Result<T, atlas_providers::ProviderError> {
    Err(atlas_providers::ProviderError::Other("this run has no tenant of its own".into()))
}

#[async_trait::async_trait]
impl Provider for NoTenant {
    async fn check_health(&self) -> Result<atlas_providers::Health, atlas_providers::ProviderError> {
        no_tenant()
    }
    async fn list_objects(
        &self,
        _: atlas_providers::Kind,
    ) -> Result<Vec<atlas_providers::RemoteObject>, atlas_providers::ProviderError> {
        no_tenant()
    }
    async fn get_object(
        &self,
        _: atlas_providers::Kind,
        _: &str,
    ) -> Result<Option<atlas_providers::RemoteObject>, atlas_providers::ProviderError> {
        no_tenant()
    }
    async fn create_object(
        &self,
        _: atlas_providers::WriteFence,
        _: atlas_providers::Kind,
        _: &Value,
    ) -> Result<atlas_providers::RemoteObject, atlas_providers::ProviderError> {
        no_tenant()
    }
    async fn update_object(
        &self,
        _: atlas_providers::WriteFence,
        _: atlas_providers::Kind,
        _: &str,
        _: &Value,
    ) -> Result<atlas_providers::UpdateOutcome, atlas_providers::ProviderError> {
        no_tenant()
    }
    async fn list_assignments(
        &self,
        _: atlas_providers::Kind,
        _: &str,
    ) -> Result<Vec<Value>, atlas_providers::ProviderError> {
        no_tenant()
    }
    async fn set_assignments(
        &self,
        _: atlas_providers::WriteFence,
        _: atlas_providers::Kind,
        _: &str,
        _: &[Value],
    ) -> Result<(), atlas_providers::ProviderError> {
        no_tenant()
    }
    async fn group_exists(&self, _: &str) -> Result<bool, atlas_providers::ProviderError> {
        no_tenant()
    }
    async fn compliance_summaries(
        &self,
    ) -> Result<Vec<atlas_providers::ComplianceSummary>, atlas_providers::ProviderError> {
        no_tenant()
    }
}
