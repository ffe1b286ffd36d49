//! `testkit.noop` (testkit builds only): does nothing, and records that it was
//! called, so tests can prove a denied run's handler never ran.

use std::sync::Mutex;

use async_trait::async_trait;
use atlas_core::SummaryCounts;
use serde_json::json;
use uuid::Uuid;

use crate::handler::{Handler, HandlerContext, HandlerError, HandlerOutput};

static CALLS: Mutex<Vec<Uuid>> = Mutex::new(Vec::new());

/// How many times the no-op handler ran for this run.
pub fn calls_for(run_id: Uuid) -> usize {
    CALLS.lock().map(|c| c.iter().filter(|id| **id == run_id).count()).unwrap_or(0)
}

pub struct Noop;

#[async_trait]
impl Handler for Noop {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError> {
        if let Ok(mut c) = CALLS.lock() {
            c.push(ctx.run.id);
        }
        let counts = SummaryCounts { total: 1, succeeded: 1, ..Default::default() }.recount();
        Ok(HandlerOutput::succeeded(counts, json!({})))
    }
}
