//! `compliance.snapshot`: records compliance state counts per policy.

use async_trait::async_trait;
use atlas_core::SummaryCounts;
use serde_json::{json, Value};

use super::tenant_of;
use crate::handler::{Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct ComplianceSnapshot;

#[async_trait]
impl Handler for ComplianceSnapshot {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        tenant_of(&ctx.run)?;
        let summaries = ctx.provider.compliance_summaries().await?;
        let policies: Vec<Value> = summaries
            .iter()
            .map(|s| {
                json!({
                    "policy_id": s.policy_id,
                    "display_name": s.display_name,
                    "compliant": s.compliant,
                    "non_compliant": s.non_compliant,
                    "error": s.error,
                    "not_applicable": s.not_applicable,
                })
            })
            .collect();
        let snap = ctx.results.compliance_snapshot_record(&Value::Array(policies)).await?;
        let n = summaries.len() as u64;
        let counts = SummaryCounts { total: n, succeeded: n, ..Default::default() }.recount();
        Ok(HandlerOutput::succeeded(
            counts,
            json!({
                "snapshot_id": snap.id,
                "policies": n,
                "compliant": snap.compliant,
                "non_compliant": snap.non_compliant,
                "error": snap.error,
                "not_applicable": snap.not_applicable,
            }),
        ))
    }
}
