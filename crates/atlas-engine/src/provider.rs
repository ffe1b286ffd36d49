//! The provider behind a run's tenant: the sandbox or Microsoft Graph, as the
//! tenant's connection says, always paced by the tenant's write budget. Built
//! by the worker for each run (and by bulk for each item), under the one
//! provider-call retry policy (`patience`); families only ever see the
//! `Provider` trait.

use std::sync::{Arc, Mutex};

use atlas_core::run::Run;
use atlas_core::tenant::ConnectionKind;
use atlas_providers::graph::{GraphConfig, GraphEndpoints, GraphProvider};
use atlas_providers::sandbox::SandboxProvider;
use atlas_providers::{
    ComplianceSummary, Health, Kind, Provider, ProviderError, RemoteObject, UpdateOutcome, WriteFence,
};
use atlas_store::admin::ProviderConnection;
use atlas_store::pacing::WriteBudget;
use atlas_store::Store;
use serde_json::Value;
use uuid::Uuid;

use crate::families::content_hash;
use crate::handler::HandlerError;
use crate::pacing::Paced;
use crate::patience::Patient;
use crate::secrets::Secrets;

/// What building providers needs to know about this node.
#[derive(Clone, Debug, Default)]
pub struct ProviderConfig {
    /// Provider writes per tenant per sliding window, shared by every worker.
    pub write_budget: WriteBudget,
    /// Where Microsoft Graph is.
    pub graph: GraphEndpoints,
    /// The key that opens stored client secrets.
    pub secrets: Secrets,
}

/// Builds the provider of a run's tenant.
#[derive(Clone)]
pub struct Providers {
    store: Store,
    config: Arc<ProviderConfig>,
}

/// Graph providers are kept per connection so that their token cache lives
/// across runs (and across the workers of a process); a changed connection
/// (new secret, settings or endpoints) gets a new one.
static GRAPH_PROVIDERS: Mutex<Vec<CachedProvider>> = Mutex::new(Vec::new());

/// A tenant, the identity of its connection's settings, and the provider built from them.
type CachedProvider = (Uuid, String, Arc<dyn Provider>);

impl Providers {
    pub fn new(store: Store, config: ProviderConfig) -> Providers {
        Providers { store, config: Arc::new(config) }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The provider behind a run's tenant connection. A run over several
    /// tenants (bulk) has none of its own: its items get theirs.
    pub async fn for_run(&self, run: &Run) -> Result<Arc<dyn Provider>, HandlerError> {
        let Some(tenant_id) = run.tenant_id else {
            return Ok(Arc::new(NoTenant));
        };
        let conn = self.store.connection_get(tenant_id).await?.ok_or_else(|| {
            HandlerError::permanent("provider_connection_missing", "the tenant has no provider connection".into())
        })?;
        let inner: Arc<dyn Provider> = match conn.kind {
            ConnectionKind::Sandbox => Arc::new(SandboxProvider::new(self.store.clone(), tenant_id)),
            ConnectionKind::MicrosoftGraph => {
                let sealed = self.store.connection_sealed_secret(tenant_id).await?;
                self.graph(tenant_id, &conn, sealed)?
            }
        };
        Ok(self.paced(inner, tenant_id))
    }

    /// A sandbox tenant's provider, made from the tenant alone (what
    /// `for_run` builds for it) without reading its connection again.
    pub fn sandbox(&self, tenant_id: Uuid) -> Arc<dyn Provider> {
        self.paced(Arc::new(SandboxProvider::new(self.store.clone(), tenant_id)), tenant_id)
    }

    /// Every call paced by the tenant's write budget and, around that, under
    /// the one retry policy (each retry of a write is paced again).
    fn paced(&self, inner: Arc<dyn Provider>, tenant_id: Uuid) -> Arc<dyn Provider> {
        let paced = Arc::new(Paced::new(inner, self.store.clone(), tenant_id, self.config.write_budget));
        Arc::new(Patient::new(paced))
    }

    fn graph(
        &self,
        tenant_id: Uuid,
        conn: &ProviderConnection,
        sealed: Option<String>,
    ) -> Result<Arc<dyn Provider>, HandlerError> {
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
        let endpoints = &self.config.graph;
        let identity =
            content_hash(&serde_json::json!([external, client, sealed, endpoints.login_url, endpoints.graph_url]));
        if let Ok(cache) = GRAPH_PROVIDERS.lock() {
            if let Some((_, _, p)) = cache.iter().find(|(t, id, _)| *t == tenant_id && *id == identity) {
                return Ok(p.clone());
            }
        }
        let secret =
            self.config.secrets.open(&sealed).map_err(|e| HandlerError::permanent("provider_misconfigured", e))?;
        let provider: Arc<dyn Provider> =
            Arc::new(GraphProvider::new(GraphConfig::at(endpoints, external, client, secret))?);
        if let Ok(mut cache) = GRAPH_PROVIDERS.lock() {
            cache.retain(|(t, _, _)| *t != tenant_id);
            cache.push((tenant_id, identity, provider.clone()));
        }
        Ok(provider)
    }
}

/// The provider of a run without a tenant: every call is an error.
struct NoTenant;

fn no_tenant<T>() -> Result<T, ProviderError> {
    Err(ProviderError::Other("this run has no tenant of its own".into()))
}

#[async_trait::async_trait]
impl Provider for NoTenant {
    async fn check_health(&self) -> Result<Health, ProviderError> {
        no_tenant()
    }
    async fn list_objects(&self, _: Kind) -> Result<Vec<RemoteObject>, ProviderError> {
        no_tenant()
    }
    async fn get_object(&self, _: Kind, _: &str) -> Result<Option<RemoteObject>, ProviderError> {
        no_tenant()
    }
    async fn create_object(&self, _: WriteFence, _: Kind, _: &Value) -> Result<RemoteObject, ProviderError> {
        no_tenant()
    }
    async fn update_object(&self, _: WriteFence, _: Kind, _: &str, _: &Value) -> Result<UpdateOutcome, ProviderError> {
        no_tenant()
    }
    async fn list_assignments(&self, _: Kind, _: &str) -> Result<Vec<Value>, ProviderError> {
        no_tenant()
    }
    async fn set_assignments(&self, _: WriteFence, _: Kind, _: &str, _: &[Value]) -> Result<(), ProviderError> {
        no_tenant()
    }
    async fn group_exists(&self, _: &str) -> Result<bool, ProviderError> {
        no_tenant()
    }
    async fn compliance_summaries(&self) -> Result<Vec<ComplianceSummary>, ProviderError> {
        no_tenant()
    }
}
