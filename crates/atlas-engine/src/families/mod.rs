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

use crate::handler::{HandlerError, Registry};

pub mod connection_check;
pub mod inventory_sync;
#[cfg(feature = "testkit")]
pub mod noop;

/// Every family this build has.
pub fn register_all(registry: &mut Registry) -> Result<(), String> {
    registry.register(OperationType::ProviderConnectionCheck, Arc::new(connection_check::ConnectionCheck))?;
    registry.register(OperationType::InventorySync, Arc::new(inventory_sync::InventorySync))?;
    #[cfg(feature = "testkit")]
    registry.register(OperationType::TestkitNoop, Arc::new(noop::Noop))?;
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

/// The provider behind a run's tenant connection.
pub async fn provider_for(store: &Store, run: &Run) -> Result<Arc<dyn Provider>, HandlerError> {
    let Some(tenant_id) = run.tenant_id else {
        return Err(HandlerError::permanent("no_tenant", "this operation needs a tenant".into()));
    };
    let conn = store
        .connection_get(tenant_id)
        .await
        .map_err(|e| HandlerError::from_store(&e))?
        .ok_or_else(|| HandlerError::permanent("provider_connection_missing", "the tenant has no provider connection".into()))?;
    match conn.kind {
        ConnectionKind::Sandbox => Ok(Arc::new(SandboxProvider::new(store.clone(), tenant_id))),
        ConnectionKind::MicrosoftGraph => Err(HandlerError::permanent(
            "provider_unsupported",
            "Microsoft Graph connections are not supported by this build yet".into(),
        )),
    }
}

/// SHA-256 of a JSON value's canonical text (serde_json sorts object keys).
pub fn content_hash(v: &Value) -> String {
    let canonical = serde_json::to_string(v).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}
