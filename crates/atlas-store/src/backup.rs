//! Backup sets: a point-in-time copy of a tenant's objects with their
//! assignments. Payloads are content-addressed, so an item identical to an
//! earlier set's is stored once.

use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::results::Fence;
use crate::row::{json, opt_uuid, uuid};
use crate::{exec, on_db, on_tx, Store, StoreError, StoreResult};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupSet {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub tenant_id: Uuid,
    pub run_id: Option<Uuid>,
    pub item_count: i64,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackupItem {
    pub id: Uuid,
    pub backup_set_id: Uuid,
    pub kind: String,
    pub object_id: String,
    pub display_name: String,
    pub content_hash: String,
    pub payload: Value,
    pub assignments: Value,
}

/// An item to back up; `content_hash` covers payload and assignments.
#[derive(Clone, Debug, PartialEq)]
pub struct NewBackupItem {
    pub kind: String,
    pub object_id: String,
    pub display_name: String,
    pub content_hash: String,
    pub payload: Value,
    pub assignments: Value,
}

#[derive(sqlx::FromRow)]
struct SetRow {
    id: String,
    workspace_id: String,
    tenant_id: String,
    run_id: Option<String>,
    item_count: i64,
    created_at: i64,
}

impl SetRow {
    fn into_domain(self) -> StoreResult<BackupSet> {
        Ok(BackupSet {
            id: uuid(&self.id)?,
            workspace_id: uuid(&self.workspace_id)?,
            tenant_id: uuid(&self.tenant_id)?,
            run_id: opt_uuid(self.run_id.as_deref())?,
            item_count: self.item_count,
            created_at: Timestamp(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: String,
    backup_set_id: String,
    kind: String,
    object_id: String,
    display_name: String,
    content_hash: String,
    payload: String,
    assignments: String,
}

const SET_SELECT: &str = "SELECT id, workspace_id, tenant_id, run_id, item_count, created_at FROM backup_sets";

/// The outcome of writing a set: the set and how many payloads were already stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupWritten {
    pub set: BackupSet,
    pub new_blobs: u64,
    pub reused_blobs: u64,
}

impl Store {
    /// Writes a backup set for a running run (fenced by its lease), in one
    /// transaction — once per run and tenant, however many attempts it takes.
    pub(crate) async fn backup_create(
        &self,
        fence: Fence,
        workspace_id: Uuid,
        tenant_id: Uuid,
        items: &[NewBackupItem],
    ) -> StoreResult<BackupWritten> {
        let at = crate::now();
        let run_id = fence.run_id;
        let set = BackupSet {
            id: Uuid::now_v7(),
            workspace_id,
            tenant_id,
            run_id: Some(run_id),
            item_count: i64::try_from(items.len()).unwrap_or(i64::MAX),
            created_at: at,
        };
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        // Written by an earlier attempt of this run that lost its lease before
        // recording it: that set stands, and no second one is written.
        let sql = format!("{SET_SELECT} WHERE run_id = $1 AND tenant_id = $2");
        let earlier: Option<SetRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
            .bind(run_id.to_string())
            .bind(tenant_id.to_string())
            .fetch_optional(c)
            .await)?;
        if let Some(row) = earlier {
            let set = row.into_domain()?;
            let reused_blobs = u64::try_from(set.item_count).unwrap_or(0);
            return Ok(BackupWritten { set, new_blobs: 0, reused_blobs });
        }
        exec!(&mut tx, sqlx::query(
            "INSERT INTO backup_sets (id, workspace_id, tenant_id, run_id, item_count, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(set.id.to_string())
        .bind(workspace_id.to_string())
        .bind(tenant_id.to_string())
        .bind(run_id.to_string())
        .bind(set.item_count)
        .bind(at.0))?;
        let (mut new_blobs, mut reused_blobs) = (0, 0);
        for item in items {
            let stored = exec!(
                &mut tx,
                sqlx::query(
                    "INSERT INTO backup_blobs (content_hash, payload, assignments) VALUES ($1, $2, $3) \
                 ON CONFLICT (content_hash) DO NOTHING"
                )
                .bind(&item.content_hash)
                .bind(item.payload.to_string())
                .bind(item.assignments.to_string())
            )?;
            if stored == 1 {
                new_blobs += 1;
            } else {
                reused_blobs += 1;
            }
            exec!(
                &mut tx,
                sqlx::query(
                    "INSERT INTO backup_items (id, backup_set_id, kind, object_id, display_name, content_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
                )
                .bind(Uuid::now_v7().to_string())
                .bind(set.id.to_string())
                .bind(&item.kind)
                .bind(&item.object_id)
                .bind(&item.display_name)
                .bind(&item.content_hash)
            )?;
        }
        tx.commit().await?;
        Ok(BackupWritten { set, new_blobs, reused_blobs })
    }

    pub async fn backup_set_get(&self, id: Uuid) -> StoreResult<BackupSet> {
        let sql = format!("{SET_SELECT} WHERE id = $1");
        let row: Option<SetRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("backup set {id}")))?.into_domain()
    }

    /// A tenant's backup sets, newest first.
    pub async fn backup_sets_for_tenant(&self, tenant_id: Uuid, limit: u32) -> StoreResult<Vec<BackupSet>> {
        let sql = format!("{SET_SELECT} WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2");
        let rows: Vec<SetRow> = on_db!(self.db(), |p| sqlx::query_as(&sql)
            .bind(tenant_id.to_string())
            .bind(i64::from(limit.clamp(1, 500)))
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(SetRow::into_domain).collect()
    }

    /// A set's items with their payloads, in a stable order.
    pub async fn backup_items(&self, backup_set_id: Uuid) -> StoreResult<Vec<BackupItem>> {
        let rows: Vec<ItemRow> = on_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT i.id, i.backup_set_id, i.kind, i.object_id, i.display_name, i.content_hash, b.payload, b.assignments \
             FROM backup_items i JOIN backup_blobs b ON b.content_hash = i.content_hash \
             WHERE i.backup_set_id = $1 ORDER BY i.kind, i.display_name, i.object_id"
        )
        .bind(backup_set_id.to_string())
        .fetch_all(p)
        .await
        })?;
        rows.into_iter()
            .map(|r| {
                Ok(BackupItem {
                    id: uuid(&r.id)?,
                    backup_set_id: uuid(&r.backup_set_id)?,
                    kind: r.kind,
                    object_id: r.object_id,
                    display_name: r.display_name,
                    content_hash: r.content_hash,
                    payload: json(&r.payload)?,
                    assignments: json(&r.assignments)?,
                })
            })
            .collect()
    }

    /// The object a restore created in place of a backed-up one that was gone.
    pub async fn restore_map_get(
        &self,
        tenant_id: Uuid,
        kind: &str,
        source_object_id: &str,
    ) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = on_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT target_object_id FROM restore_object_map WHERE tenant_id = $1 AND kind = $2 AND source_object_id = $3"
        )
        .bind(tenant_id.to_string())
        .bind(kind)
        .bind(source_object_id)
        .fetch_optional(p)
        .await
        })?;
        Ok(row.map(|(t,)| t))
    }

    pub(crate) async fn restore_map_put(
        &self,
        fence: Fence,
        tenant_id: Uuid,
        kind: &str,
        source_object_id: &str,
        target_object_id: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO restore_object_map (tenant_id, kind, source_object_id, target_object_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, kind, source_object_id) \
             DO UPDATE SET target_object_id = excluded.target_object_id"
            )
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(source_object_id)
            .bind(target_object_id)
            .bind(crate::now().0)
        )?;
        // The create it records, if one was announced, has landed.
        exec!(
            &mut tx,
            sqlx::query(
                "DELETE FROM restore_create_intents WHERE tenant_id = $1 AND kind = $2 AND source_object_id = $3"
            )
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(source_object_id)
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// Announces, before it is sent, a restore's create of the backed-up
    /// `source_object_id` (`restore_map_put` retires the announcement).
    pub(crate) async fn restore_intent_put(
        &self,
        fence: Fence,
        tenant_id: Uuid,
        kind: &str,
        source_object_id: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO restore_create_intents (tenant_id, kind, source_object_id, run_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, kind, source_object_id) \
             DO UPDATE SET run_id = excluded.run_id, created_at = excluded.created_at"
            )
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(source_object_id)
            .bind(fence.run_id.to_string())
            .bind(crate::now().0)
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether a create of `source_object_id` was announced and never recorded
    /// (it may have landed before its attempt ended).
    pub async fn restore_intent_pending(
        &self,
        tenant_id: Uuid,
        kind: &str,
        source_object_id: &str,
    ) -> StoreResult<bool> {
        let row: Option<(String,)> = on_db!(self.db(), |p| {
            sqlx::query_as(
                "SELECT run_id FROM restore_create_intents WHERE tenant_id = $1 AND kind = $2 AND source_object_id = $3",
            )
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(source_object_id)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.is_some())
    }

    /// The live objects of `kind` a restore already stands for (the targets of
    /// its map): an object adopted after a lost create is never one of these.
    pub async fn restore_map_targets(&self, tenant_id: Uuid, kind: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = on_db!(self.db(), |p| {
            sqlx::query_as("SELECT target_object_id FROM restore_object_map WHERE tenant_id = $1 AND kind = $2")
                .bind(tenant_id.to_string())
                .bind(kind)
                .fetch_all(p)
                .await
        })?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }
}
