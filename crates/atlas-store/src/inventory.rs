//! The inventory written by `inventory.sync`: one row per tenant object, with
//! a content hash so that a sync can tell created, updated and unchanged apart.

use serde::Serialize;
use uuid::Uuid;

use crate::results::Fence;
use crate::{exec, on_db, on_tx, Store, StoreResult};

/// One object as a sync saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InventoryEntry {
    pub kind: String,
    pub object_id: String,
    pub display_name: String,
    pub content_hash: String,
}

/// What a sync changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InventoryDelta {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
}

impl Store {
    /// Replaces a tenant's inventory with what a sync saw, in one transaction.
    pub(crate) async fn inventory_replace(
        &self,
        fence: Fence,
        tenant_id: Uuid,
        run_id: Uuid,
        seen: &[InventoryEntry],
    ) -> StoreResult<InventoryDelta> {
        let at = crate::now();
        let tid = tenant_id.to_string();
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        let existing: Vec<(String, String, String)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT kind, object_id, content_hash FROM inventory_items WHERE tenant_id = $1"
        )
        .bind(&tid)
        .fetch_all(c)
        .await)?;
        let known: std::collections::HashMap<(String, String), String> =
            existing.into_iter().map(|(k, o, h)| ((k, o), h)).collect();
        let mut delta = InventoryDelta::default();
        let mut still_there = std::collections::HashSet::new();
        for e in seen {
            let key = (e.kind.clone(), e.object_id.clone());
            match known.get(&key) {
                None => {
                    delta.created += 1;
                    exec!(
                        &mut tx,
                        sqlx::query(
                            "INSERT INTO inventory_items (tenant_id, kind, object_id, display_name, content_hash, \
                         first_seen_at, last_seen_at, last_run_id) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)"
                        )
                        .bind(&tid)
                        .bind(&e.kind)
                        .bind(&e.object_id)
                        .bind(&e.display_name)
                        .bind(&e.content_hash)
                        .bind(at.0)
                        .bind(run_id.to_string())
                    )?;
                }
                Some(hash) => {
                    if *hash == e.content_hash {
                        delta.unchanged += 1;
                    } else {
                        delta.updated += 1;
                    }
                    exec!(
                        &mut tx,
                        sqlx::query(
                            "UPDATE inventory_items SET display_name = $1, content_hash = $2, last_seen_at = $3, \
                         last_run_id = $4 WHERE tenant_id = $5 AND kind = $6 AND object_id = $7"
                        )
                        .bind(&e.display_name)
                        .bind(&e.content_hash)
                        .bind(at.0)
                        .bind(run_id.to_string())
                        .bind(&tid)
                        .bind(&e.kind)
                        .bind(&e.object_id)
                    )?;
                }
            }
            still_there.insert(key);
        }
        for (kind, object_id) in known.keys().filter(|k| !still_there.contains(*k)) {
            delta.removed += 1;
            exec!(
                &mut tx,
                sqlx::query("DELETE FROM inventory_items WHERE tenant_id = $1 AND kind = $2 AND object_id = $3")
                    .bind(&tid)
                    .bind(kind)
                    .bind(object_id)
            )?;
        }
        tx.commit().await?;
        Ok(delta)
    }

    pub async fn inventory_list(&self, tenant_id: Uuid) -> StoreResult<Vec<InventoryEntry>> {
        let rows: Vec<(String, String, String, String)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT kind, object_id, display_name, content_hash FROM inventory_items WHERE tenant_id = $1 \
             ORDER BY kind, display_name, object_id"
        )
        .bind(tenant_id.to_string())
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(kind, object_id, display_name, content_hash)| InventoryEntry {
                kind,
                object_id,
                display_name,
                content_hash,
            })
            .collect())
    }

    /// Objects whose name contains `text` (any case), in these tenants, at most `limit`.
    pub async fn inventory_search(
        &self,
        tenant_ids: &[Uuid],
        text: &str,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, InventoryEntry)>> {
        if tenant_ids.is_empty() || text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let escaped = text.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let mut b = crate::run::Binds::new();
        let pattern = b.text(format!("%{escaped}%"));
        let tenants = b.list(tenant_ids.iter().map(Uuid::to_string));
        let limit = b.int(i64::from(limit.clamp(1, 200)));
        let sql = format!(
            "SELECT tenant_id, kind, object_id, display_name, content_hash FROM inventory_items \
             WHERE tenant_id IN ({tenants}) AND LOWER(display_name) LIKE {pattern} ESCAPE '\\' \
             ORDER BY display_name, kind LIMIT {limit}"
        );
        let rows: Vec<(String, String, String, String, String)> =
            on_db!(self.db(), |p| crate::run::bind_all!(sqlx::query_as(&sql), b).fetch_all(p).await)?;
        rows.into_iter()
            .map(|(t, kind, object_id, display_name, content_hash)| {
                Ok((crate::row::uuid(&t)?, InventoryEntry { kind, object_id, display_name, content_hash }))
            })
            .collect()
    }
}
