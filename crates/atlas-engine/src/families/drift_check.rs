//! `drift.check`: reads the live tenant through its provider — every
//! registered type, with assignments, as a backup reads it — and diffs it
//! with the tenant's newest backup set (SPEC §10.1): objects added,
//! removed and changed since that backup, with their setting-level changes.
//! The result is kept (the tenant page, the fleet overview, `GET
//! /api/v1/tenants/{t}/drift`) and summed up in the run's result. It
//! writes nothing to the tenant.

use async_trait::async_trait;
use atlas_core::SummaryCounts;
use serde_json::json;

use super::{read_tenant, tenant_of};
use crate::changes::{diff_contents, Content};
use crate::handler::{Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct DriftCheck;

/// The failure code of a tenant that has never been backed up.
pub const NO_BACKUP_SET: &str = "no_backup_set";

#[async_trait]
impl Handler for DriftCheck {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        tenant_of(&ctx.run)?;
        // Checked at start too; a set cannot vanish, but a run is not trusted to know.
        let Some(set) = ctx.results.backup_newest().await? else {
            return Err(HandlerError::permanent(
                NO_BACKUP_SET,
                "the tenant has no backup set to compare with: run backup.run first".into(),
            ));
        };
        let backup: Vec<Content> = ctx.results.backup_items(set.id).await?.iter().map(Content::of_backup).collect();
        let live: Vec<Content> =
            read_tenant(ctx.provider.as_ref()).await?.iter().map(|(o, a)| Content::of_live(o, a)).collect();
        let diff = diff_contents(&backup, &live);
        let doc = serde_json::to_value(&diff)
            .map_err(|e| HandlerError::permanent("internal", format!("the diff did not serialize: {e}")))?;
        let kept = ctx.results.drift_record(&set, &doc).await?;
        let n = live.len() as u64;
        let counts = SummaryCounts { total: n, succeeded: n, ..Default::default() }.recount();
        Ok(HandlerOutput::succeeded(
            counts,
            json!({
                "drift_id": kept.id,
                "backup_set_id": set.id,
                "backup_created_at": set.created_at,
                "changes": kept.change_count(),
                "added": kept.added,
                "removed": kept.removed,
                "changed": kept.changed,
                "unchanged": kept.unchanged,
            }),
        ))
    }
}
