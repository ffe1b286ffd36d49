//! `inventory.sync`: lists every registered object type and refreshes the tenant's
//! inventory, reporting created / updated / unchanged / removed.

use async_trait::async_trait;
use atlas_core::SummaryCounts;
use atlas_store::inventory::InventoryEntry;
use serde_json::{json, Map, Value};

use super::{content_hash_of, list_all};
use crate::handler::{Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct InventorySync;

#[async_trait]
impl Handler for InventorySync {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        if ctx.run.tenant_id.is_none() {
            return Err(HandlerError::permanent("no_tenant", "an inventory sync needs a tenant".into()));
        }
        let mut by_kind = Map::new();
        for kind in atlas_core::object_type::all() {
            by_kind.insert(kind.key.into(), Value::from(0));
        }
        let mut seen = Vec::new();
        for o in list_all(ctx.provider.as_ref()).await? {
            if let Some(n) = by_kind.get_mut(o.kind.key) {
                *n = Value::from(n.as_u64().unwrap_or(0) + 1);
            }
            seen.push(InventoryEntry {
                kind: o.kind.key.into(),
                content_hash: content_hash_of(&o),
                object_id: o.id,
                display_name: o.display_name,
            });
        }
        let delta = ctx.results.inventory_replace(&seen).await?;
        let n = seen.len() as u64;
        let counts = SummaryCounts {
            total: n,
            succeeded: n,
            created: delta.created,
            updated: delta.updated,
            ..Default::default()
        }
        .recount();
        Ok(HandlerOutput::succeeded(
            counts,
            json!({
                "objects": n,
                "by_kind": by_kind,
                "created": delta.created,
                "updated": delta.updated,
                "unchanged": delta.unchanged,
                "removed": delta.removed,
            }),
        ))
    }
}
