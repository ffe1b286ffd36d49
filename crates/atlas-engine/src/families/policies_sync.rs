//! `policies.sync`: fetches every policy object with its full content, stores a
//! new version only when the content changed, and reports drift.

use async_trait::async_trait;
use atlas_core::SummaryCounts;
use atlas_store::policy::PolicyObservation;
use serde_json::json;

use super::{content_hash_of, list_all, tenant_of};
use crate::handler::{Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct PoliciesSync;

#[async_trait]
impl Handler for PoliciesSync {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        tenant_of(&ctx.run)?;
        let seen: Vec<PolicyObservation> = list_all(ctx.provider.as_ref())
            .await?
            .into_iter()
            .map(|o| PolicyObservation {
                kind: o.kind.key.into(),
                content_hash: content_hash_of(&o),
                object_id: o.id,
                display_name: o.display_name,
                payload: o.payload,
            })
            .collect();
        let drift = ctx.results.policy_sync_record(&seen).await?;
        let n = seen.len() as u64;
        let counts = SummaryCounts {
            total: n,
            succeeded: n,
            created: drift.added.len() as u64,
            updated: drift.changed.len() as u64,
            ..Default::default()
        }
        .recount();
        Ok(HandlerOutput::succeeded(
            counts,
            json!({
                "objects": n,
                "new_versions": drift.new_versions,
                "drift": {
                    "added": drift.added,
                    "changed": drift.changed,
                    "removed": drift.removed,
                    "unchanged": drift.unchanged,
                },
            }),
        ))
    }
}
