//! Typed operation parameters: a run's `params` JSON parsed once, by the
//! registry's parameter table (`validate_params`), into one variant per
//! operation type. Web, engine and store read parameters through this type,
//! never by key.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::operation::{validate_params, OperationType, ParamError};

/// `restore.execute`'s parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreParams {
    pub backup_set_id: Uuid,
    /// Plan only: record what would be done, write nothing.
    pub dry_run: bool,
    /// Restore only these backup items (sorted, no duplicates); all when `None`.
    pub item_ids: Option<Vec<Uuid>>,
}

/// `restore.assignments`'s parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentRestoreParams {
    pub backup_set_id: Uuid,
}

/// `bulk.operation`'s parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkParams {
    /// The item operation (never bulk itself).
    pub operation: OperationType,
    /// The targets, sorted, no duplicates.
    pub tenant_ids: Vec<Uuid>,
}

/// A run's parameters, one variant per operation type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationParams {
    ProviderConnectionCheck,
    InventorySync,
    PoliciesSync,
    ComplianceSnapshot,
    BackupRun,
    DriftCheck,
    RestoreExecute(RestoreParams),
    RestoreAssignments(AssignmentRestoreParams),
    BulkOperation(BulkParams),
    #[cfg(feature = "testkit")]
    TestkitNoop,
}

impl OperationParams {
    /// Validates `params` for `op_type` (exactly what `validate_params` accepts)
    /// and types them.
    pub fn parse(op_type: OperationType, params: &Value) -> Result<OperationParams, ParamError> {
        let canonical = validate_params(op_type, params)?;
        let empty = Map::new();
        let m = canonical.as_object().unwrap_or(&empty);
        // Canonical values have the registry's types: these reads cannot miss.
        let uuid = |name: &'static str| {
            m.get(name).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).ok_or(ParamError::Missing(name))
        };
        let uuids = |name: &str| {
            m.get(name).and_then(Value::as_array).map(|ids| {
                ids.iter().filter_map(|i| i.as_str().and_then(|s| Uuid::parse_str(s).ok())).collect::<Vec<_>>()
            })
        };
        Ok(match op_type {
            OperationType::ProviderConnectionCheck => OperationParams::ProviderConnectionCheck,
            OperationType::InventorySync => OperationParams::InventorySync,
            OperationType::PoliciesSync => OperationParams::PoliciesSync,
            OperationType::ComplianceSnapshot => OperationParams::ComplianceSnapshot,
            OperationType::BackupRun => OperationParams::BackupRun,
            OperationType::DriftCheck => OperationParams::DriftCheck,
            OperationType::RestoreExecute => OperationParams::RestoreExecute(RestoreParams {
                backup_set_id: uuid("backup_set_id")?,
                dry_run: m.get("dry_run").and_then(Value::as_bool).unwrap_or(false),
                item_ids: uuids("item_ids"),
            }),
            OperationType::RestoreAssignments => {
                OperationParams::RestoreAssignments(AssignmentRestoreParams { backup_set_id: uuid("backup_set_id")? })
            }
            OperationType::BulkOperation => OperationParams::BulkOperation(BulkParams {
                operation: m
                    .get("operation")
                    .and_then(Value::as_str)
                    .and_then(OperationType::parse)
                    .ok_or(ParamError::Missing("operation"))?,
                tenant_ids: uuids("tenant_ids").ok_or(ParamError::Missing("tenant_ids"))?,
            }),
            #[cfg(feature = "testkit")]
            OperationType::TestkitNoop => OperationParams::TestkitNoop,
        })
    }

    pub fn op_type(&self) -> OperationType {
        match self {
            OperationParams::ProviderConnectionCheck => OperationType::ProviderConnectionCheck,
            OperationParams::InventorySync => OperationType::InventorySync,
            OperationParams::PoliciesSync => OperationType::PoliciesSync,
            OperationParams::ComplianceSnapshot => OperationType::ComplianceSnapshot,
            OperationParams::BackupRun => OperationType::BackupRun,
            OperationParams::DriftCheck => OperationType::DriftCheck,
            OperationParams::RestoreExecute(_) => OperationType::RestoreExecute,
            OperationParams::RestoreAssignments(_) => OperationType::RestoreAssignments,
            OperationParams::BulkOperation(_) => OperationType::BulkOperation,
            #[cfg(feature = "testkit")]
            OperationParams::TestkitNoop => OperationType::TestkitNoop,
        }
    }

    /// The canonical JSON form, as stored on the run (what `validate_params` returns).
    pub fn to_json(&self) -> Value {
        let ids = |ids: &[Uuid]| Value::Array(ids.iter().map(|u| Value::String(u.to_string())).collect());
        let mut m = Map::new();
        match self {
            OperationParams::RestoreExecute(p) => {
                m.insert("backup_set_id".into(), Value::String(p.backup_set_id.to_string()));
                m.insert("dry_run".into(), Value::Bool(p.dry_run));
                if let Some(items) = &p.item_ids {
                    m.insert("item_ids".into(), ids(items));
                }
            }
            OperationParams::RestoreAssignments(p) => {
                m.insert("backup_set_id".into(), Value::String(p.backup_set_id.to_string()));
            }
            OperationParams::BulkOperation(p) => {
                m.insert("operation".into(), Value::String(p.operation.as_str().to_owned()));
                m.insert("tenant_ids".into(), ids(&p.tenant_ids));
            }
            _ => {}
        }
        Value::Object(m)
    }

    /// The backup set a restore reads.
    pub fn backup_set_id(&self) -> Option<Uuid> {
        match self {
            OperationParams::RestoreExecute(p) => Some(p.backup_set_id),
            OperationParams::RestoreAssignments(p) => Some(p.backup_set_id),
            _ => None,
        }
    }

    /// The run's items as its parameters name them: a restore's selected
    /// backup items, or a bulk run's tenants.
    pub fn item_ids(&self) -> Option<&[Uuid]> {
        match self {
            OperationParams::RestoreExecute(p) => p.item_ids.as_deref(),
            OperationParams::BulkOperation(p) => Some(&p.tenant_ids),
            _ => None,
        }
    }

    /// A bulk run's parameters.
    pub fn bulk(&self) -> Option<&BulkParams> {
        match self {
            OperationParams::BulkOperation(p) => Some(p),
            _ => None,
        }
    }

    /// Whether a run with these parameters writes to the tenant (SPEC §2):
    /// a restore unless it is a dry run, a bulk run as its item operation does.
    pub fn writes(&self) -> bool {
        use crate::operation::Writes;
        match self.op_type().spec().writes {
            Writes::Never => false,
            Writes::Always => true,
            Writes::UnlessDryRun => !matches!(self, OperationParams::RestoreExecute(p) if p.dry_run),
            Writes::AsItems => self.bulk().is_some_and(|b| b.operation.spec().writes != Writes::Never),
        }
    }

    /// What identifies a duplicate beside the type and tenant (SPEC §4): the
    /// restore's set and mode, or the bulk's item operation and tenants.
    pub fn dedupe_target(&self) -> String {
        match self {
            OperationParams::RestoreExecute(p) => format!("{}:{}", p.backup_set_id, p.dry_run),
            OperationParams::RestoreAssignments(p) => p.backup_set_id.to_string(),
            OperationParams::BulkOperation(p) => {
                let tenants = serde_json::to_string(&self.to_json()["tenant_ids"]).unwrap_or_default();
                format!("{}:{tenants}", p.operation.as_str())
            }
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Parameter documents near the valid ones: right and wrong keys, values and shapes.
    fn arb_params() -> impl Strategy<Value = Value> {
        let value = prop_oneof![
            Just(json!(Uuid::from_u128(1).to_string())),
            Just(json!("nope")),
            Just(json!(true)),
            Just(json!(7)),
            Just(json!(null)),
            Just(json!([Uuid::from_u128(3).to_string(), Uuid::from_u128(2).to_string()])),
            Just(json!([Uuid::from_u128(2).to_string(), "x"])),
            Just(json!([])),
            Just(json!("inventory.sync")),
            Just(json!("restore.execute")),
            Just(json!("bulk.operation")),
        ];
        let key = prop::sample::select(vec!["backup_set_id", "dry_run", "item_ids", "operation", "tenant_ids", "x"]);
        prop_oneof![
            1 => Just(Value::Null),
            1 => Just(json!([])),
            8 => prop::collection::btree_map(key, value, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    }

    proptest! {
        /// Typed parsing accepts and refuses exactly what `validate_params`
        /// does, and gives back its canonical JSON.
        #[test]
        fn typed_params_agree_with_validation(
            op in prop::sample::select(OperationType::all().collect::<Vec<_>>()),
            raw in arb_params(),
        ) {
            let typed = OperationParams::parse(op, &raw);
            match validate_params(op, &raw) {
                Ok(canonical) => {
                    let typed = typed.expect("valid params type");
                    prop_assert_eq!(typed.op_type(), op);
                    prop_assert_eq!(typed.to_json(), canonical);
                }
                Err(e) => prop_assert_eq!(typed, Err(e)),
            }
        }
    }

    #[test]
    fn typed_params_reject_what_validation_rejects() {
        let set = Uuid::now_v7();
        let refused = [
            (OperationType::RestoreExecute, json!({})),
            (OperationType::RestoreExecute, json!({"backup_set_id": "nope"})),
            (OperationType::RestoreExecute, json!({"backup_set_id": set.to_string(), "dry_run": "yes"})),
            (OperationType::RestoreExecute, json!({"backup_set_id": set.to_string(), "item_ids": ["x"]})),
            (OperationType::RestoreAssignments, json!({"backup_set_id": set.to_string(), "dry_run": true})),
            (OperationType::BulkOperation, json!({"operation": "bulk.operation", "tenant_ids": []})),
            (OperationType::BulkOperation, json!({"operation": "tenant.nuke", "tenant_ids": []})),
            (OperationType::BulkOperation, json!({"operation": "inventory.sync", "tenant_ids": "all"})),
            (OperationType::BulkOperation, json!({"operation": "inventory.sync"})),
            (OperationType::InventorySync, json!({"x": 1})),
            (OperationType::InventorySync, json!([])),
        ];
        for (op, raw) in refused {
            assert!(OperationParams::parse(op, &raw).is_err(), "{op} {raw}");
            assert_eq!(OperationParams::parse(op, &raw).err(), validate_params(op, &raw).err(), "{op} {raw}");
        }
    }

    #[test]
    fn typed_params_read_what_the_families_need() {
        let (set, a, b) = (Uuid::now_v7(), Uuid::from_u128(2), Uuid::from_u128(1));
        let restore = OperationParams::parse(OperationType::RestoreExecute, &json!({"backup_set_id": set.to_string()}));
        let Ok(OperationParams::RestoreExecute(p)) = &restore else { panic!("{restore:?}") };
        assert_eq!((p.backup_set_id, p.dry_run, p.item_ids.as_deref()), (set, false, None));
        let bulk = OperationParams::parse(
            OperationType::BulkOperation,
            &json!({"operation": "compliance.snapshot", "tenant_ids": [a.to_string(), b.to_string(), a.to_string()]}),
        );
        let Ok(bulk) = bulk else { panic!("{bulk:?}") };
        assert_eq!(
            bulk.bulk(),
            Some(&BulkParams { operation: OperationType::ComplianceSnapshot, tenant_ids: vec![b, a] })
        );
        assert_eq!(bulk.item_ids(), Some([b, a].as_slice()));
        assert_eq!(bulk.backup_set_id(), None);
    }

    #[test]
    fn restore_writes_unless_dry_run_and_bulk_as_its_items() {
        let set = Uuid::now_v7();
        let restore =
            |dry_run| OperationParams::RestoreExecute(RestoreParams { backup_set_id: set, dry_run, item_ids: None });
        assert!(restore(false).writes());
        assert!(!restore(true).writes());
        let bulk = |operation| OperationParams::BulkOperation(BulkParams { operation, tenant_ids: vec![set] });
        assert!(bulk(OperationType::RestoreAssignments).writes());
        assert!(!bulk(OperationType::InventorySync).writes());
        assert!(!OperationParams::BackupRun.writes());
    }
}
