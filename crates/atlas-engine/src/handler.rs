//! The handler contract every family implements, and the registry that maps
//! operation types to handlers (duplicates refused at startup).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use atlas_core::audit::Actor;
use atlas_core::gate::Decision;
use atlas_core::run::{Failure, ItemFailures, Run, RunOutcome};
use atlas_core::{OperationType, SummaryCounts};
use atlas_providers::{Provider, ProviderError, WriteFence};
use atlas_store::results::RunResults;
use serde_json::Value;

use crate::provider::Providers;

/// What a handler gets: the run (as claimed), its tenant's provider, the
/// fence its provider writes must carry, and the results handle for the
/// family's own rows — fenced by the same lease. Not the store: a family
/// cannot reach authorization, run state or notifications.
pub struct HandlerContext {
    pub run: Run,
    pub provider: Arc<dyn Provider>,
    pub fence: WriteFence,
    pub results: RunResults,
    /// Providers for other tenants' runs (a bulk run's items).
    pub providers: Providers,
    /// How often item-processing handlers re-ask the gate (SPEC §3.6).
    pub reevaluate_interval: std::time::Duration,
}

/// Why an item-processing run stopped before its last item.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// The gate denied between items.
    Blocked(Decision),
    /// Someone cancelled the running run.
    Cancelled(Actor),
}

/// The between-items checkpoint of a long run: the cancel flag before every
/// item, the gate at least every `reevaluate_interval` — or, for items that
/// write, before every item.
pub struct Checkpoint {
    last_gate: Option<tokio::time::Instant>,
    every_item: bool,
}

impl Checkpoint {
    /// For items that only read: the gate at least every interval.
    pub fn new() -> Checkpoint {
        Checkpoint { last_gate: None, every_item: false }
    }

    /// For items that write to the tenant: the gate before every item (a
    /// fact read, not a claim), so that no write follows a committed
    /// revocation or a closed write gate by more than the item's own reads.
    pub fn before_every_write() -> Checkpoint {
        Checkpoint { last_gate: None, every_item: true }
    }

    /// Asks the gate now, whatever the interval: after a write was refused.
    pub async fn force(&mut self, ctx: &HandlerContext) -> Result<Option<Stop>, HandlerError> {
        self.last_gate = None;
        self.check(ctx).await
    }

    /// `Some(stop)` when the run must not process another item.
    pub async fn check(&mut self, ctx: &HandlerContext) -> Result<Option<Stop>, HandlerError> {
        if let Some(by) = ctx.results.cancel_requested().await? {
            return Ok(Some(Stop::Cancelled(by)));
        }
        let due = self.every_item || self.last_gate.is_none_or(|t| t.elapsed() >= ctx.reevaluate_interval);
        if due {
            self.last_gate = Some(tokio::time::Instant::now());
            let decision = ctx.results.decide_now(&ctx.run).await?;
            if !decision.allowed && !decision.retryable {
                return Ok(Some(Stop::Blocked(decision)));
            }
        }
        Ok(None)
    }
}

impl Default for Checkpoint {
    fn default() -> Checkpoint {
        Checkpoint::new()
    }
}

impl HandlerContext {
    /// Publishes progress counts while running (fenced by the lease). A bulk
    /// item's handler runs under its bulk run's lease and reports nothing itself.
    pub async fn progress(&self, counts: &SummaryCounts) -> Result<(), HandlerError> {
        self.results.progress(counts).await.map_err(|e| HandlerError::from_store(&e))
    }
}

/// A finished handler's report; the executor turns it into the transition.
#[derive(Clone, Debug, PartialEq)]
pub struct HandlerOutput {
    pub outcome: RunOutcome,
    pub counts: SummaryCounts,
    pub result: Value,
    pub failures: Vec<Failure>,
    /// Set when the run stopped between items; the rest are counted in `counts.blocked`.
    pub stopped: Option<Stop>,
    /// The run's failed items, and how many of them failed retryably.
    pub item_failures: ItemFailures,
}

impl HandlerOutput {
    pub fn succeeded(counts: SummaryCounts, result: Value) -> HandlerOutput {
        HandlerOutput {
            outcome: RunOutcome::Succeeded,
            counts,
            result,
            failures: Vec::new(),
            stopped: None,
            item_failures: ItemFailures::default(),
        }
    }

    /// The outcome of an item-processing run from its counts (SPEC §4's table).
    pub fn from_items(counts: SummaryCounts, result: Value, failures: Vec<Failure>) -> HandlerOutput {
        let outcome = atlas_core::summary::item_outcome(&counts, false);
        HandlerOutput { outcome, counts, result, failures, stopped: None, item_failures: ItemFailures::default() }
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{failure_code}: {message}")]
pub struct HandlerError {
    pub failure_code: String,
    pub message: String,
    pub retryable: bool,
    /// The provider's Retry-After, honored over the backoff when longer.
    pub retry_after_ms: Option<u64>,
}

impl HandlerError {
    pub fn failure(&self) -> Failure {
        Failure { code: self.failure_code.clone(), message: self.message.clone() }
    }

    pub fn from_store(e: &atlas_store::StoreError) -> HandlerError {
        match e {
            atlas_store::StoreError::Fenced => HandlerError {
                failure_code: "lease_lost".into(),
                message: e.to_string(),
                retryable: false,
                retry_after_ms: None,
            },
            _ => HandlerError {
                failure_code: "store_error".into(),
                message: e.to_string(),
                retryable: true,
                retry_after_ms: None,
            },
        }
    }
}

impl From<atlas_store::StoreError> for HandlerError {
    fn from(e: atlas_store::StoreError) -> HandlerError {
        HandlerError::from_store(&e)
    }
}

impl From<ProviderError> for HandlerError {
    fn from(e: ProviderError) -> HandlerError {
        let retry_after_ms = match e {
            ProviderError::Throttled { retry_after_ms } => Some(retry_after_ms),
            _ => None,
        };
        HandlerError { failure_code: e.code().into(), message: e.to_string(), retryable: e.retryable(), retry_after_ms }
    }
}

#[async_trait]
pub trait Handler: Send + Sync {
    async fn execute(&self, ctx: &HandlerContext) -> Result<HandlerOutput, HandlerError>;
}

/// Operation type → handler. Built once at startup.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<OperationType, Arc<dyn Handler>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a handler; a second handler for the same type is a startup error.
    pub fn register(&mut self, op_type: OperationType, handler: Arc<dyn Handler>) -> Result<(), String> {
        if self.handlers.insert(op_type, handler).is_some() {
            return Err(format!("two handlers registered for {op_type}"));
        }
        Ok(())
    }

    pub fn get(&self, op_type: OperationType) -> Option<Arc<dyn Handler>> {
        self.handlers.get(&op_type).cloned()
    }
}
