//! The operation-type registry: per type, the capability it needs, whether it
//! writes to the tenant, which authority modes may run it, which tenant statuses
//! it accepts, and its parameters. SPEC §2.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::capability::Capability;
use crate::params::OperationParams;
use crate::tenant::TenantStatus;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OperationType {
    #[serde(rename = "provider.connection.check")]
    ProviderConnectionCheck,
    #[serde(rename = "inventory.sync")]
    InventorySync,
    #[serde(rename = "policies.sync")]
    PoliciesSync,
    #[serde(rename = "compliance.snapshot")]
    ComplianceSnapshot,
    #[serde(rename = "backup.run")]
    BackupRun,
    /// Compares the live tenant with its newest backup set (SPEC §10.1).
    #[serde(rename = "drift.check")]
    DriftCheck,
    #[serde(rename = "restore.execute")]
    RestoreExecute,
    #[serde(rename = "restore.assignments")]
    RestoreAssignments,
    #[serde(rename = "bulk.operation")]
    BulkOperation,
    /// Does nothing; for the throughput harness and engine tests only.
    #[cfg(feature = "testkit")]
    #[serde(rename = "testkit.noop")]
    TestkitNoop,
}

/// Who a run executes on behalf of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityKind {
    ActorBound,
    SystemAuthority,
}

impl AuthorityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityKind::ActorBound => "actor_bound",
            AuthorityKind::SystemAuthority => "system_authority",
        }
    }

    pub fn parse(s: &str) -> Option<AuthorityKind> {
        match s {
            "actor_bound" => Some(AuthorityKind::ActorBound),
            "system_authority" => Some(AuthorityKind::SystemAuthority),
            _ => None,
        }
    }
}

/// Whether a type writes to the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    Never,
    Always,
    /// Writes unless the `dry_run` parameter is true (restore).
    UnlessDryRun,
    /// As its items do (bulk).
    AsItems,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Uuid,
    Bool,
    UuidList,
    /// A non-bulk operation type name.
    OperationType,
}

#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct OperationSpec {
    pub op_type: OperationType,
    pub capability: Capability,
    pub writes: Writes,
    pub authority: &'static [AuthorityKind],
    pub tenant_statuses: &'static [TenantStatus],
    pub params: &'static [ParamSpec],
    /// A human label for the console ("Inventory sync").
    pub label: &'static str,
    /// Processes run items (restore, bulk): re-authorized between items.
    pub item_processing: bool,
}

const BOTH: &[AuthorityKind] = &[AuthorityKind::ActorBound, AuthorityKind::SystemAuthority];
const ACTOR: &[AuthorityKind] = &[AuthorityKind::ActorBound];
const ACTIVE: &[TenantStatus] = &[TenantStatus::Active];
const CONNECTABLE: &[TenantStatus] = &[TenantStatus::Onboarding, TenantStatus::Active];

const RESTORE_PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "backup_set_id", kind: ParamKind::Uuid, required: true },
    ParamSpec { name: "dry_run", kind: ParamKind::Bool, required: false },
    ParamSpec { name: "item_ids", kind: ParamKind::UuidList, required: false },
];
const RESTORE_ASSIGNMENTS_PARAMS: &[ParamSpec] =
    &[ParamSpec { name: "backup_set_id", kind: ParamKind::Uuid, required: true }];
const BULK_PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "operation", kind: ParamKind::OperationType, required: true },
    ParamSpec { name: "tenant_ids", kind: ParamKind::UuidList, required: true },
];

const fn read_only(
    op_type: OperationType,
    capability: Capability,
    tenant_statuses: &'static [TenantStatus],
    label: &'static str,
) -> OperationSpec {
    OperationSpec {
        op_type,
        capability,
        writes: Writes::Never,
        authority: BOTH,
        tenant_statuses,
        params: &[],
        label,
        item_processing: false,
    }
}

/// The registry itself.
pub const REGISTRY: &[OperationSpec] = &[
    read_only(
        OperationType::ProviderConnectionCheck,
        Capability::ProviderConnectionsVerify,
        CONNECTABLE,
        "Connection check",
    ),
    read_only(OperationType::InventorySync, Capability::TenantInventorySync, ACTIVE, "Inventory sync"),
    read_only(OperationType::PoliciesSync, Capability::TenantPoliciesSync, ACTIVE, "Policy sync"),
    read_only(OperationType::ComplianceSnapshot, Capability::TenantComplianceSnapshot, ACTIVE, "Compliance snapshot"),
    read_only(OperationType::BackupRun, Capability::TenantBackupRun, ACTIVE, "Backup"),
    read_only(OperationType::DriftCheck, Capability::TenantPoliciesSync, ACTIVE, "Drift check"),
    OperationSpec {
        op_type: OperationType::RestoreExecute,
        capability: Capability::TenantRestoreExecute,
        writes: Writes::UnlessDryRun,
        authority: ACTOR,
        tenant_statuses: ACTIVE,
        params: RESTORE_PARAMS,
        label: "Restore",
        item_processing: true,
    },
    OperationSpec {
        op_type: OperationType::RestoreAssignments,
        capability: Capability::TenantRestoreExecute,
        writes: Writes::Always,
        authority: ACTOR,
        tenant_statuses: ACTIVE,
        params: RESTORE_ASSIGNMENTS_PARAMS,
        label: "Assignment restore",
        item_processing: true,
    },
    OperationSpec {
        op_type: OperationType::BulkOperation,
        capability: Capability::BulkExecute,
        writes: Writes::AsItems,
        authority: ACTOR,
        tenant_statuses: ACTIVE,
        params: BULK_PARAMS,
        label: "Bulk operation",
        item_processing: true,
    },
    #[cfg(feature = "testkit")]
    OperationSpec {
        op_type: OperationType::TestkitNoop,
        capability: Capability::TenantInventorySync,
        writes: Writes::Never,
        authority: BOTH,
        tenant_statuses: ACTIVE,
        params: &[],
        label: "No-op",
        item_processing: false,
    },
];

/// The one canonical list of types a schedule (system authority) may run.
/// Derived from the registry so that it can never contain a writing type.
pub fn system_authority_allowlist() -> impl Iterator<Item = OperationType> {
    REGISTRY
        .iter()
        .filter(|s| s.authority.contains(&AuthorityKind::SystemAuthority) && s.writes == Writes::Never)
        .map(|s| s.op_type)
}

pub fn is_system_allowlisted(op_type: OperationType) -> bool {
    system_authority_allowlist().any(|t| t == op_type)
}

impl OperationType {
    pub fn spec(self) -> &'static OperationSpec {
        // The registry has one entry per variant (checked by a test); the
        // fallback keeps this total without a panic.
        REGISTRY.iter().find(|s| s.op_type == self).unwrap_or(&REGISTRY[0])
    }

    pub fn all() -> impl Iterator<Item = OperationType> {
        REGISTRY.iter().map(|s| s.op_type)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OperationType::ProviderConnectionCheck => "provider.connection.check",
            OperationType::InventorySync => "inventory.sync",
            OperationType::PoliciesSync => "policies.sync",
            OperationType::ComplianceSnapshot => "compliance.snapshot",
            OperationType::BackupRun => "backup.run",
            OperationType::DriftCheck => "drift.check",
            OperationType::RestoreExecute => "restore.execute",
            OperationType::RestoreAssignments => "restore.assignments",
            OperationType::BulkOperation => "bulk.operation",
            #[cfg(feature = "testkit")]
            OperationType::TestkitNoop => "testkit.noop",
        }
    }

    pub fn parse(s: &str) -> Option<OperationType> {
        OperationType::all().find(|t| t.as_str() == s)
    }

    /// Whether a bulk run may apply this type to its tenants: a non-bulk type
    /// that needs no parameters of its own (SPEC §3.5).
    pub fn runs_in_bulk(self) -> bool {
        self != OperationType::BulkOperation && !self.spec().params.iter().any(|p| p.required)
    }
}

/// The operation types a bulk run may apply, in registry order.
pub fn bulk_item_types() -> impl Iterator<Item = OperationType> {
    OperationType::all().filter(|t| t.runs_in_bulk())
}

impl fmt::Display for OperationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("params must be a JSON object")]
    NotAnObject,
    #[error("unknown parameter `{0}`")]
    Unknown(String),
    #[error("missing required parameter `{0}`")]
    Missing(&'static str),
    #[error("parameter `{name}` must be {expected}")]
    WrongType { name: &'static str, expected: &'static str },
}

/// Validates and canonicalizes a type's parameters: unknown keys and wrong types
/// are refused; defaults are filled in (`dry_run: false`), uuid lists are sorted
/// and deduplicated so equal targets dedupe equally.
pub fn validate_params(op_type: OperationType, params: &Value) -> Result<Value, ParamError> {
    let empty = Map::new();
    let given = match params {
        Value::Null => &empty,
        Value::Object(m) => m,
        _ => return Err(ParamError::NotAnObject),
    };
    let spec = op_type.spec();
    if let Some(unknown) = given.keys().find(|k| !spec.params.iter().any(|p| p.name == k.as_str())) {
        return Err(ParamError::Unknown(unknown.clone()));
    }
    let mut out = Map::new();
    for p in spec.params {
        match given.get(p.name) {
            None | Some(Value::Null) => {
                if p.required {
                    return Err(ParamError::Missing(p.name));
                }
                if p.kind == ParamKind::Bool {
                    out.insert(p.name.to_owned(), Value::Bool(false));
                }
            }
            Some(v) => {
                out.insert(p.name.to_owned(), canonical_param(p, v)?);
            }
        }
    }
    Ok(Value::Object(out))
}

fn canonical_param(p: &ParamSpec, v: &Value) -> Result<Value, ParamError> {
    let wrong = |expected| ParamError::WrongType { name: p.name, expected };
    match p.kind {
        ParamKind::Bool => v.as_bool().map(Value::Bool).ok_or_else(|| wrong("a boolean")),
        ParamKind::Uuid => v
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(|u| Value::String(u.to_string()))
            .ok_or_else(|| wrong("a uuid string")),
        ParamKind::UuidList => {
            let items = v.as_array().ok_or_else(|| wrong("a list of uuid strings"))?;
            let mut ids = items
                .iter()
                .map(|i| i.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect::<Option<Vec<Uuid>>>()
                .ok_or_else(|| wrong("a list of uuid strings"))?;
            ids.sort();
            ids.dedup();
            Ok(Value::Array(ids.into_iter().map(|u| Value::String(u.to_string())).collect()))
        }
        ParamKind::OperationType => v
            .as_str()
            .and_then(OperationType::parse)
            .filter(|t| *t != OperationType::BulkOperation)
            .map(|t| Value::String(t.as_str().to_owned()))
            .ok_or_else(|| wrong("a non-bulk operation type")),
    }
}

/// The canonical target that identifies duplicates of an active run (SPEC §4):
/// the type, the tenant, and the restore's set and mode or the bulk's tenants.
/// `params` are validated; parameters that are not have no target of their own.
pub fn dedupe_key(op_type: OperationType, workspace_id: Uuid, tenant_id: Option<Uuid>, params: &Value) -> String {
    let scope = tenant_id.map_or_else(|| format!("ws:{workspace_id}"), |t| t.to_string());
    let target = OperationParams::parse(op_type, params).map(|p| p.dedupe_target()).unwrap_or_default();
    format!("{}|{scope}|{target}", op_type.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registry_has_exactly_one_entry_per_type() {
        for spec in REGISTRY {
            assert_eq!(spec.op_type.spec().op_type, spec.op_type);
            assert_eq!(REGISTRY.iter().filter(|s| s.op_type == spec.op_type).count(), 1);
            assert_eq!(OperationType::parse(spec.op_type.as_str()), Some(spec.op_type));
            let json = serde_json::to_value(spec.op_type).unwrap_or_default();
            assert_eq!(json, json!(spec.op_type.as_str()));
        }
    }

    #[test]
    fn every_type_requires_a_registered_capability() {
        for spec in REGISTRY {
            assert!(Capability::ALL.contains(&spec.capability), "{}", spec.op_type);
        }
    }

    #[test]
    fn no_writing_type_is_allowlisted_for_system_authority() {
        for t in system_authority_allowlist() {
            assert_eq!(t.spec().writes, Writes::Never, "{t}");
            assert!(!OperationParams::parse(t, &json!({})).is_ok_and(|p| p.writes()));
        }
        for t in [OperationType::RestoreExecute, OperationType::RestoreAssignments, OperationType::BulkOperation] {
            assert!(!is_system_allowlisted(t));
        }
        assert!(is_system_allowlisted(OperationType::BackupRun));
    }

    #[test]
    fn bulk_applies_the_types_that_need_no_parameters() {
        let items: Vec<OperationType> = bulk_item_types().collect();
        for t in [OperationType::InventorySync, OperationType::BackupRun, OperationType::ComplianceSnapshot] {
            assert!(items.contains(&t), "{t}");
        }
        for t in [OperationType::RestoreExecute, OperationType::RestoreAssignments, OperationType::BulkOperation] {
            assert!(!items.contains(&t), "{t}");
        }
        assert!(items.iter().all(|t| validate_params(*t, &Value::Null).is_ok()));
    }

    #[test]
    fn params_are_validated_and_canonical() {
        let set = Uuid::now_v7();
        assert_eq!(validate_params(OperationType::InventorySync, &json!({})), Ok(json!({})));
        assert_eq!(validate_params(OperationType::InventorySync, &Value::Null), Ok(json!({})));
        assert_eq!(
            validate_params(OperationType::InventorySync, &json!({"x": 1})),
            Err(ParamError::Unknown("x".into()))
        );
        assert_eq!(
            validate_params(OperationType::RestoreExecute, &json!({})),
            Err(ParamError::Missing("backup_set_id"))
        );
        assert_eq!(
            validate_params(OperationType::RestoreExecute, &json!({"backup_set_id": set.to_string()})),
            Ok(json!({"backup_set_id": set.to_string(), "dry_run": false}))
        );
        assert!(matches!(
            validate_params(OperationType::RestoreExecute, &json!({"backup_set_id": "nope"})),
            Err(ParamError::WrongType { .. })
        ));
        assert!(matches!(
            validate_params(OperationType::BulkOperation, &json!({"operation": "bulk.operation", "tenant_ids": []})),
            Err(ParamError::WrongType { .. })
        ));
        assert_eq!(validate_params(OperationType::InventorySync, &json!([])), Err(ParamError::NotAnObject));
    }

    #[test]
    fn dedupe_key_ignores_tenant_order_and_distinguishes_dry_run() {
        let ws = Uuid::now_v7();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let p1 = validate_params(
            OperationType::BulkOperation,
            &json!({"operation": "inventory.sync", "tenant_ids": [a.to_string(), b.to_string()]}),
        );
        let p2 = validate_params(
            OperationType::BulkOperation,
            &json!({"operation": "inventory.sync", "tenant_ids": [b.to_string(), a.to_string()]}),
        );
        let (Ok(p1), Ok(p2)) = (p1, p2) else { panic!("valid params") };
        assert_eq!(
            dedupe_key(OperationType::BulkOperation, ws, None, &p1),
            dedupe_key(OperationType::BulkOperation, ws, None, &p2)
        );
        let set = Uuid::now_v7().to_string();
        let dry = json!({"backup_set_id": set, "dry_run": true});
        let real = json!({"backup_set_id": set, "dry_run": false});
        assert_ne!(
            dedupe_key(OperationType::RestoreExecute, ws, Some(a), &dry),
            dedupe_key(OperationType::RestoreExecute, ws, Some(a), &real)
        );
    }
}
