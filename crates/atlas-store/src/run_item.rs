//! Run items: one row per target of an item-processing run (restore objects,
//! bulk tenants), idempotent by item key so that after a rescue only
//! unfinished items run again. Item writes are fenced by the run's lease.

use atlas_core::item::{ItemOutcome, ItemStatus};
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::results::Fence;
use crate::row::{json, parse, uuid};
use crate::{exec, on_db, Store, StoreResult};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunItem {
    pub id: Uuid,
    pub run_id: Uuid,
    pub item_key: String,
    pub target: Value,
    pub status: ItemStatus,
    pub outcome: ItemOutcome,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub reason_code: Option<String>,
    pub detail: Value,
    pub updated_at: Timestamp,
}

/// How an item ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemResult {
    pub outcome: ItemOutcome,
    pub reason_code: Option<String>,
    pub error: Option<String>,
    pub detail: Value,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: String,
    run_id: String,
    item_key: String,
    target: String,
    status: String,
    outcome: String,
    attempts: i64,
    last_error: Option<String>,
    reason_code: Option<String>,
    detail: String,
    updated_at: i64,
}

impl ItemRow {
    fn into_domain(self) -> StoreResult<RunItem> {
        Ok(RunItem {
            id: uuid(&self.id)?,
            run_id: uuid(&self.run_id)?,
            item_key: self.item_key,
            target: json(&self.target)?,
            status: parse(&self.status, "item status", ItemStatus::parse)?,
            outcome: parse(&self.outcome, "item outcome", ItemOutcome::parse)?,
            attempts: self.attempts,
            last_error: self.last_error,
            reason_code: self.reason_code,
            detail: json(&self.detail)?,
            updated_at: Timestamp(self.updated_at),
        })
    }
}

impl Store {
    /// Creates the run's items that do not exist yet (by key) and returns all of them.
    pub(crate) async fn run_items_ensure(&self, fence: Fence, items: &[(String, Value)]) -> StoreResult<Vec<RunItem>> {
        let at = crate::now();
        let run_id = fence.run_id;
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        for (key, target) in items {
            exec!(
                &mut tx,
                sqlx::query(
                    "INSERT INTO run_items (id, run_id, item_key, target, status, outcome, updated_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 'pending', $5) ON CONFLICT (run_id, item_key) DO NOTHING"
                )
                .bind(Uuid::now_v7().to_string())
                .bind(run_id.to_string())
                .bind(key)
                .bind(target.to_string())
                .bind(at.0)
            )?;
        }
        tx.commit().await?;
        self.run_items(run_id).await
    }

    /// Completes one item, fenced by the run's lease. An item completes once.
    pub(crate) async fn run_item_finish(&self, fence: Fence, key: &str, result: &ItemResult) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        exec!(
            &mut tx,
            sqlx::query(
                "UPDATE run_items SET status = 'completed', outcome = $1, attempts = attempts + 1, last_error = $2, \
             reason_code = $3, detail = $4, updated_at = $5 WHERE run_id = $6 AND item_key = $7 AND status = 'pending'"
            )
            .bind(result.outcome.as_str())
            .bind(result.error.as_deref())
            .bind(result.reason_code.as_deref())
            .bind(result.detail.to_string())
            .bind(crate::now().0)
            .bind(fence.run_id.to_string())
            .bind(key)
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks every still-pending item with `outcome` (blocked or cancelled when a run stops between items).
    pub(crate) async fn run_items_close_pending(
        &self,
        fence: Fence,
        outcome: ItemOutcome,
        reason_code: Option<&str>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        let n = exec!(
            &mut tx,
            sqlx::query(
                "UPDATE run_items SET status = 'completed', outcome = $1, reason_code = $2, updated_at = $3 \
             WHERE run_id = $4 AND status = 'pending'"
            )
            .bind(outcome.as_str())
            .bind(reason_code)
            .bind(crate::now().0)
            .bind(fence.run_id.to_string())
        )?;
        tx.commit().await?;
        Ok(n)
    }

    /// Puts items an earlier attempt completed as failed back to `pending`, so
    /// that this attempt runs them again (their attempts and last error stay).
    pub(crate) async fn run_items_reopen(&self, fence: Fence, keys: &[String]) -> StoreResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let at = crate::now();
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        let mut reopened = 0;
        for key in keys {
            reopened += exec!(
                &mut tx,
                sqlx::query(
                    "UPDATE run_items SET status = 'pending', outcome = 'pending', updated_at = $1 \
                     WHERE run_id = $2 AND item_key = $3 AND status = 'completed' AND outcome = 'failed'"
                )
                .bind(at.0)
                .bind(fence.run_id.to_string())
                .bind(key)
            )?;
        }
        tx.commit().await?;
        Ok(reopened)
    }

    /// A run's items in creation order.
    pub async fn run_items(&self, run_id: Uuid) -> StoreResult<Vec<RunItem>> {
        let rows: Vec<ItemRow> = on_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT id, run_id, item_key, target, status, outcome, attempts, last_error, reason_code, detail, updated_at \
             FROM run_items WHERE run_id = $1 ORDER BY id"
        )
        .bind(run_id.to_string())
        .fetch_all(p)
        .await
        })?;
        rows.into_iter().map(ItemRow::into_domain).collect()
    }
}
