//! Compliance snapshots: per-policy device state counts at one moment.

use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::results::Fence;
use crate::row::{json, uuid};
use crate::{exec, on_db, Store, StoreResult};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComplianceSnapshot {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub compliant: i64,
    pub non_compliant: i64,
    pub error: i64,
    pub not_applicable: i64,
    /// Per policy: `{policy_id, display_name, compliant, non_compliant, error, not_applicable}`.
    pub policies: Value,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    id: String,
    tenant_id: String,
    compliant: i64,
    non_compliant: i64,
    error: i64,
    not_applicable: i64,
    policies: String,
    created_at: i64,
}

impl Store {
    /// Records a snapshot; the totals are the sums over `policies`.
    pub(crate) async fn compliance_snapshot_record(
        &self,
        fence: Fence,
        tenant_id: Uuid,
        run_id: Uuid,
        policies: &Value,
    ) -> StoreResult<ComplianceSnapshot> {
        let sum = |key: &str| -> i64 {
            policies
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p.get(key).and_then(Value::as_i64)).sum())
                .unwrap_or(0)
        };
        let snap = ComplianceSnapshot {
            id: Uuid::now_v7(),
            tenant_id,
            compliant: sum("compliant"),
            non_compliant: sum("non_compliant"),
            error: sum("error"),
            not_applicable: sum("not_applicable"),
            policies: policies.clone(),
            created_at: crate::now(),
        };
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        exec!(&mut tx, sqlx::query(
            "INSERT INTO compliance_snapshots (id, tenant_id, run_id, compliant, non_compliant, error, not_applicable, policies, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(snap.id.to_string())
        .bind(tenant_id.to_string())
        .bind(run_id.to_string())
        .bind(snap.compliant)
        .bind(snap.non_compliant)
        .bind(snap.error)
        .bind(snap.not_applicable)
        .bind(policies.to_string())
        .bind(snap.created_at.0))?;
        tx.commit().await?;
        Ok(snap)
    }

    /// A tenant's snapshots, newest first.
    pub async fn compliance_snapshots(&self, tenant_id: Uuid, limit: u32) -> StoreResult<Vec<ComplianceSnapshot>> {
        let rows: Vec<SnapshotRow> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT id, tenant_id, compliant, non_compliant, error, not_applicable, policies, created_at \
             FROM compliance_snapshots WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2"
        )
        .bind(tenant_id.to_string())
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|r| {
                Ok(ComplianceSnapshot {
                    id: uuid(&r.id)?,
                    tenant_id: uuid(&r.tenant_id)?,
                    compliant: r.compliant,
                    non_compliant: r.non_compliant,
                    error: r.error,
                    not_applicable: r.not_applicable,
                    policies: json(&r.policies)?,
                    created_at: Timestamp(r.created_at),
                })
            })
            .collect()
    }
}
