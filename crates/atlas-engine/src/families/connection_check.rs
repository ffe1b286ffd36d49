//! `provider.connection.check`: asks the provider for its health and records it
//! on the connection; a passing check takes a connection out of pending consent.

use async_trait::async_trait;
use atlas_core::tenant::ConnectionStatus;
use atlas_core::SummaryCounts;
use serde_json::json;

use crate::handler::{Handler, HandlerContext, HandlerError, HandlerOutput};

pub struct ConnectionCheck;

#[async_trait]
impl Handler for ConnectionCheck {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        if ctx.run.tenant_id.is_none() {
            return Err(HandlerError::permanent("no_tenant", "a connection check needs a tenant".into()));
        }
        let health = ctx.provider.check_health().await?;
        let report = json!({
            "ok": health.ok,
            "message": health.message,
            "missing_permissions": health.missing_permissions,
            "details": health.details,
            "run_id": ctx.run.id,
        });
        let promote = health.ok.then_some(ConnectionStatus::Enabled);
        ctx.results.connection_record_health(report.clone(), promote).await?;
        let counts = SummaryCounts {
            total: 1,
            succeeded: u64::from(health.ok),
            failed: u64::from(!health.ok),
            ..Default::default()
        }
        .recount();
        if health.ok {
            Ok(HandlerOutput::succeeded(counts, json!({ "health": report })))
        } else {
            Ok(HandlerOutput {
                outcome: atlas_core::RunOutcome::Failed,
                counts,
                result: json!({ "health": report }),
                failures: vec![atlas_core::run::Failure {
                    code: "connection_unhealthy".into(),
                    message: health.message,
                }],
                stopped: None,
                item_failures: Default::default(),
            })
        }
    }
}
