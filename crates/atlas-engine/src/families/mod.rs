//! The operation families, one module each, and what several of them share.
//! A family sees its run, its tenant's provider and its results handle
//! (`HandlerContext`), never the store.

use std::sync::Arc;

use atlas_core::run::Run;
use atlas_core::OperationType;
use atlas_providers::Provider;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::handler::{HandlerError, Registry};

pub mod backup_run;
pub mod bulk;
pub mod compliance_snapshot;
pub mod connection_check;
pub mod drift_check;
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
    registry.register(OperationType::DriftCheck, Arc::new(drift_check::DriftCheck))?;
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

/// Every object of every registered type the tenant has, each with its
/// assignments (`[]` for a type without): what a backup keeps and what a
/// drift check compares with it.
pub async fn read_tenant(provider: &dyn Provider) -> Result<Vec<(atlas_providers::RemoteObject, Value)>, HandlerError> {
    let mut all = Vec::new();
    for kind in atlas_core::object_type::all() {
        for o in provider.list_objects(kind).await? {
            let assignments = if kind.assignable() {
                Value::Array(provider.list_assignments(kind, &o.id).await?)
            } else {
                Value::Array(Vec::new())
            };
            all.push((o, assignments));
        }
    }
    Ok(all)
}

/// The run's tenant, which every tenant family needs.
pub fn tenant_of(run: &Run) -> Result<uuid::Uuid, HandlerError> {
    run.tenant_id.ok_or_else(|| HandlerError::permanent("no_tenant", "this operation needs a tenant".into()))
}

#[cfg(test)]
mod tests {
    /// `HandlerContext` has no store, so a family cannot reach run state,
    /// authorization or notifications through it; this keeps one from
    /// importing the store itself (issue 13): no family source names it.
    #[test]
    fn no_family_names_the_store() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/families");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // Code only: not comments, nor this test's own strings.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
            for word in ["atlas_store::Store", "Store::", "Store,", "Store}", "ctx.store", ": Store"] {
                assert!(!code.contains(word), "{} names `{word}`", path.display());
            }
            checked += 1;
        }
        assert!(checked >= 9, "only {checked} family files found");
    }
}
