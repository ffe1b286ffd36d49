//! Kept drift checks (SPEC §10.1): what a `drift.check` run found between
//! the live tenant and its newest backup set. Written through the results
//! handle (fenced by the run's lease), read by the tenant page, the fleet
//! overview, `atlas tenants drift` and `GET /api/v1/tenants/{t}/drift`.

use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::results::Fence;
use crate::row::{json, uuid};
use crate::{exec, on_db, Store, StoreResult};

/// One drift check's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftResult {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub tenant_id: Uuid,
    pub run_id: Uuid,
    /// The backup set the live tenant was compared with, and when it was taken.
    pub backup_set_id: Uuid,
    pub backup_created_at: Timestamp,
    pub added: i64,
    pub removed: i64,
    pub changed: i64,
    pub unchanged: i64,
    /// The diff, `{"added", "removed", "changed", "unchanged"}` (SPEC §10.1).
    pub diff: Value,
    pub created_at: Timestamp,
}

impl DriftResult {
    /// Added, removed and changed objects together.
    pub fn change_count(&self) -> i64 {
        self.added + self.removed + self.changed
    }
}

#[derive(sqlx::FromRow)]
struct DriftRow {
    id: String,
    workspace_id: String,
    tenant_id: String,
    run_id: String,
    backup_set_id: String,
    backup_created_at: i64,
    added: i64,
    removed: i64,
    changed: i64,
    unchanged: i64,
    diff: String,
    created_at: i64,
}

impl DriftRow {
    fn into_domain(self) -> StoreResult<DriftResult> {
        Ok(DriftResult {
            id: uuid(&self.id)?,
            workspace_id: uuid(&self.workspace_id)?,
            tenant_id: uuid(&self.tenant_id)?,
            run_id: uuid(&self.run_id)?,
            backup_set_id: uuid(&self.backup_set_id)?,
            backup_created_at: Timestamp(self.backup_created_at),
            added: self.added,
            removed: self.removed,
            changed: self.changed,
            unchanged: self.unchanged,
            diff: json(&self.diff)?,
            created_at: Timestamp(self.created_at),
        })
    }
}

const SELECT: &str = "SELECT id, workspace_id, tenant_id, run_id, backup_set_id, backup_created_at, \
     added, removed, changed, unchanged, diff, created_at FROM drift_results";

/// The length of one of the diff's lists (or its `unchanged` count).
fn count(diff: &Value, key: &str) -> i64 {
    match diff.get(key) {
        Some(Value::Array(a)) => i64::try_from(a.len()).unwrap_or(i64::MAX),
        Some(v) => v.as_i64().unwrap_or(0),
        None => 0,
    }
}

impl Store {
    /// Keeps a drift check's result, fenced by its run's lease (`run_id`
    /// differs from the fence's run for a bulk item).
    pub(crate) async fn drift_record(
        &self,
        fence: Fence,
        workspace_id: Uuid,
        tenant_id: Uuid,
        run_id: Uuid,
        backup_set: &crate::backup::BackupSet,
        diff: &Value,
    ) -> StoreResult<DriftResult> {
        let result = DriftResult {
            id: Uuid::now_v7(),
            workspace_id,
            tenant_id,
            run_id,
            backup_set_id: backup_set.id,
            backup_created_at: backup_set.created_at,
            added: count(diff, "added"),
            removed: count(diff, "removed"),
            changed: count(diff, "changed"),
            unchanged: count(diff, "unchanged"),
            diff: diff.clone(),
            created_at: crate::now(),
        };
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO drift_results (id, workspace_id, tenant_id, run_id, backup_set_id, backup_created_at, \
             added, removed, changed, unchanged, diff, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            )
            .bind(result.id.to_string())
            .bind(workspace_id.to_string())
            .bind(tenant_id.to_string())
            .bind(result.run_id.to_string())
            .bind(result.backup_set_id.to_string())
            .bind(result.backup_created_at.0)
            .bind(result.added)
            .bind(result.removed)
            .bind(result.changed)
            .bind(result.unchanged)
            .bind(diff.to_string())
            .bind(result.created_at.0)
        )?;
        tx.commit().await?;
        Ok(result)
    }

    /// A tenant's newest drift result, if it was ever checked.
    pub async fn drift_latest(&self, tenant_id: Uuid) -> StoreResult<Option<DriftResult>> {
        let sql = format!("{SELECT} WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1");
        let row: Option<DriftRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(tenant_id.to_string()).fetch_optional(p).await)?;
        row.map(DriftRow::into_domain).transpose()
    }

    /// The newest drift result of each checked tenant of a workspace (the
    /// fleet overview), without their diffs.
    pub async fn drift_latest_per_tenant(&self, workspace_id: Uuid) -> StoreResult<Vec<DriftResult>> {
        let rows: Vec<DriftRow> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT d.id, d.workspace_id, d.tenant_id, d.run_id, d.backup_set_id, d.backup_created_at, \
             d.added, d.removed, d.changed, d.unchanged, '{}' AS diff, d.created_at FROM drift_results d \
             WHERE d.workspace_id = $1 AND d.id = \
               (SELECT MAX(n.id) FROM drift_results n WHERE n.workspace_id = $1 AND n.tenant_id = d.tenant_id) \
             ORDER BY d.tenant_id"
        )
        .bind(workspace_id.to_string())
        .fetch_all(p)
        .await)?;
        rows.into_iter().map(DriftRow::into_domain).collect()
    }
}
