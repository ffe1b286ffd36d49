//! `backup.run`: copies every object of every registered type, with its
//! assignments, into a backup set,
//! content-hashed so that an unchanged object is stored once across sets.

use async_trait::async_trait;
use atlas_core::SummaryCounts;
use atlas_store::backup::NewBackupItem;
use serde_json::json;

use super::{content_hash, read_tenant, tenant_of};
use crate::handler::{Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct BackupRun;

#[async_trait]
impl Handler for BackupRun {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        tenant_of(&ctx.run)?;
        let items: Vec<NewBackupItem> = read_tenant(ctx.provider.as_ref())
            .await?
            .into_iter()
            .map(|(o, assignments)| NewBackupItem {
                kind: o.kind.key.into(),
                content_hash: content_hash(&json!({"payload": o.payload, "assignments": assignments})),
                object_id: o.id,
                display_name: o.display_name,
                payload: o.payload,
                assignments,
            })
            .collect();
        let written = ctx.results.backup_create(&items).await?;
        let n = items.len() as u64;
        let counts =
            SummaryCounts { total: n, succeeded: n, created: written.new_blobs, ..Default::default() }.recount();
        Ok(HandlerOutput::succeeded(
            counts,
            json!({
                "backup_set_id": written.set.id,
                "items": n,
                "new_payloads": written.new_blobs,
                "reused_payloads": written.reused_blobs,
            }),
        ))
    }
}
