//! The worker: claim-and-authorize (in the store, one transaction per batch
//! of runs), then each started run's handler in its own task under a lease
//! heartbeat, then a fenced finish through the worker's `Completer`, which
//! groups the finishing writes of runs that end together into one
//! transaction. Beside the claim loop run the worker's maintenance services:
//! a `Rescuer` (runs whose lease expired by the database clock go back to the
//! queue) and an `AuditSealer`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use atlas_core::run::{failure_event, items_end_event, Run, RunEvent};
use atlas_core::tenant::ConnectionKind;
use atlas_providers::{Provider, WriteFence};
use atlas_store::claim::{backoff_ms, ClaimBatch, ClaimParams, Claimed, Finish};
use atlas_store::{Store, StoreError};
use tokio::task::JoinSet;
use tracing::{info_span, warn, Instrument};

use crate::completer::Completer;
use crate::config::EngineConfig;
use crate::handler::{HandlerContext, HandlerError, HandlerOutput, Registry, Stop};
use crate::provider::{ProviderConfig, Providers};
use crate::rescuer::{Rescuer, RescuerConfig};
use crate::sealer::{AuditSealer, SealerConfig};

static WORKER_SEQ: AtomicU64 = AtomicU64::new(0);

/// What a worker did, for `--until-idle` reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub started: u64,
    pub blocked: u64,
    pub retried_at_claim: u64,
    pub finished: u64,
    pub fenced: u64,
    pub rescued: u64,
}

/// The node name in worker ids when none is given.
pub const DEFAULT_NODE: &str = "atlas";

#[derive(Clone)]
pub struct Worker {
    store: Store,
    config: EngineConfig,
    registry: Registry,
    providers: Providers,
    rescuer: Rescuer,
    sealer: AuditSealer,
    /// This worker's number in its process.
    seq: u64,
    id: String,
    completer: Arc<Completer>,
}

impl Worker {
    /// A worker with default providers and maintenance, on node `atlas`.
    pub fn new(store: Store, config: EngineConfig, registry: Registry) -> Worker {
        let seq = WORKER_SEQ.fetch_add(1, Ordering::Relaxed);
        Worker {
            providers: Providers::new(store.clone(), ProviderConfig::default()),
            rescuer: Rescuer::new(store.clone(), RescuerConfig::for_engine(&config)),
            sealer: AuditSealer::new(store.clone(), SealerConfig::default()),
            completer: Arc::new(Completer::new(store.clone())),
            id: worker_id(DEFAULT_NODE, seq),
            seq,
            store,
            config,
            registry,
        }
    }

    /// Names the node in the worker's id (`node:pid:n`), e.g. its host name.
    #[must_use]
    pub fn on_node(mut self, node: &str) -> Worker {
        let node = node.trim();
        self.id = worker_id(if node.is_empty() { DEFAULT_NODE } else { node }, self.seq);
        self
    }

    /// Builds run providers with `config` (write budget, Graph endpoints, secrets).
    #[must_use]
    pub fn with_providers(mut self, config: ProviderConfig) -> Worker {
        self.providers = Providers::new(self.store.clone(), config);
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn claim_params(&self, batch: u32) -> ClaimParams {
        ClaimParams {
            worker: self.id.clone(),
            lease_ms: self.config.lease_ms(),
            batch,
            backoff_base_ms: self.config.backoff_ms(),
        }
    }

    /// Runs until `stop` resolves, or — with `until_idle` — until no run is
    /// queued or running (waiting out backoffs and live leases).
    pub async fn run(
        &self,
        until_idle: bool,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<WorkerStats, StoreError> {
        tokio::pin!(stop);
        // The maintenance services stop when told, or when this function
        // returns early (the sender dropped).
        let (halt, halted) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|h| *h).await;
        };
        let rescuer = self.rescuer.clone();
        let rescuing = tokio::spawn({
            let stop = stopped(halted.clone());
            async move { rescuer.run(stop).await }
        });
        let sealer = self.sealer.clone();
        let sealing = tokio::spawn({
            let stop = stopped(halted);
            async move { sealer.run(stop).await }
        });
        let mut stats = WorkerStats::default();
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        loop {
            while let Some(done) = tasks.try_join_next() {
                record(&mut stats, done);
            }
            let room = self.config.concurrency.saturating_sub(tasks.len());
            let mut claimed_any = false;
            if room > 0 {
                let batch = u32::try_from(room).unwrap_or(1).min(self.config.claim_batch);
                match self.store.run_claim_batch(&self.claim_params(batch)).await {
                    Ok(claimed) => {
                        claimed_any = !claimed.claimed.is_empty();
                        self.spawn_started(claimed, &mut tasks, &mut stats);
                    }
                    Err(e) => warn!(error = %e, "claim failed"),
                }
            }
            if claimed_any {
                continue;
            }
            if until_idle && tasks.is_empty() {
                let (queued, running) = self.store.runs_active_counts().await?;
                if queued == 0 && running == 0 {
                    break;
                }
            }
            tokio::select! {
                () = &mut stop => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => record(&mut stats, done),
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        while let Some(done) = tasks.join_next().await {
            record(&mut stats, done);
        }
        let _ = halt.send(true);
        stats.rescued += rescuing.await.unwrap_or(0);
        // The sealer's last round seals what this worker's runs wrote.
        let _ = sealing.await;
        Ok(stats)
    }

    /// One deterministic step for tests: rescue, claim one batch, and execute
    /// every started run to its end.
    pub async fn tick(&self) -> Result<WorkerStats, StoreError> {
        let mut stats = WorkerStats { rescued: self.rescuer.rescue().await?, ..WorkerStats::default() };
        let claimed = self.store.run_claim_batch(&self.claim_params(self.config.claim_batch)).await?;
        let mut tasks = JoinSet::new();
        self.spawn_started(claimed, &mut tasks, &mut stats);
        while let Some(done) = tasks.join_next().await {
            record(&mut stats, done);
        }
        Ok(stats)
    }

    /// Counts a claim's results and spawns an execution per started run.
    fn spawn_started(&self, claimed: ClaimBatch, tasks: &mut JoinSet<Outcome>, stats: &mut WorkerStats) {
        for c in claimed.claimed {
            match c {
                Claimed::Started(run) => {
                    stats.started += 1;
                    let kind = run.tenant_id.and_then(|t| claimed.connection_kinds.get(&t).copied());
                    let w = self.clone();
                    tasks.spawn(async move { w.execute(run, kind).await });
                }
                Claimed::Blocked(_) => stats.blocked += 1,
                Claimed::Retrying(_) => stats.retried_at_claim += 1,
            }
        }
    }

    /// Executes one started run — handler under a heartbeat, then a fenced
    /// finish — knowing the kind of the tenant's connection as the claim read it.
    async fn execute(&self, run: Run, kind: Option<ConnectionKind>) -> Outcome {
        let Some(lease) = run.lease.clone() else { return Outcome::Fenced };
        let span =
            info_span!("run", run_id = %run.id, r#type = %run.op_type, tenant = ?run.tenant_id, attempt = run.attempt);
        let token = lease.token;
        let result = self.run_handler(&run, token, kind).instrument(span.clone()).await;
        let event = match result {
            HandlerRun::LeaseLost => return Outcome::Fenced,
            HandlerRun::Done(Ok(out)) => {
                let HandlerOutput { outcome, counts, result, failures, stopped, item_failures } = out;
                match stopped {
                    Some(Stop::Blocked(decision)) if counts.blocked > 0 => {
                        RunEvent::Block { decision, counts: Some(counts) }
                    }
                    Some(Stop::Cancelled(by)) => RunEvent::Cancel { by, counts: Some(counts) },
                    _ => items_end_event(
                        &run,
                        outcome,
                        counts,
                        result,
                        failures,
                        item_failures,
                        self.retry_at(&run, None),
                    ),
                }
            }
            HandlerRun::Done(Err(e)) => {
                let retry_at = self.retry_at(&run, e.retry_after_ms);
                failure_event(&run, e.failure(), e.retryable, run.summary_counts, retry_at)
            }
        };
        let finish = Finish { run_id: run.id, lease_token: token, event, claimed: Some(Box::new(run)) };
        match self.completer.finish(finish).await {
            Some(Ok(_)) => Outcome::Finished,
            Some(Err(StoreError::Fenced)) => {
                span.in_scope(|| warn!("finish refused: the lease was lost"));
                Outcome::Fenced
            }
            Some(Err(e)) => {
                // The lease will expire and the rescuer will try again.
                span.in_scope(|| warn!(error = %e, "finish failed"));
                Outcome::Fenced
            }
            None => {
                span.in_scope(|| warn!("finish lost: the completer stopped"));
                Outcome::Fenced
            }
        }
    }

    /// When a failed attempt's run may be tried again: the backoff for its
    /// attempt, or the provider's Retry-After when that is longer.
    fn retry_at(&self, run: &Run, retry_after_ms: Option<u64>) -> atlas_core::Timestamp {
        let wait = backoff_ms(self.config.backoff_ms(), run.attempt)
            .max(i64::try_from(retry_after_ms.unwrap_or(0)).unwrap_or(0));
        atlas_store::now().plus_millis(wait)
    }

    /// The run's provider. A sandbox tenant's provider is made from the tenant
    /// alone, so when the claim has just read — and on PostgreSQL
    /// share-locked — a sandbox connection, it is built without reading the
    /// connection again: one read per run less, which at full speed starved
    /// the pool. Other kinds, or an unknown one, go through `Providers::for_run`.
    async fn provider(&self, run: &Run, kind: Option<ConnectionKind>) -> Result<Arc<dyn Provider>, HandlerError> {
        match (run.tenant_id, kind) {
            (Some(tenant_id), Some(ConnectionKind::Sandbox)) => Ok(self.providers.sandbox(tenant_id)),
            _ => self.providers.for_run(run).await,
        }
    }

    async fn run_handler(&self, run: &Run, token: uuid::Uuid, kind: Option<ConnectionKind>) -> HandlerRun {
        let Some(handler) = self.registry.get(run.op_type) else {
            return HandlerRun::Done(Err(HandlerError::permanent(
                "no_handler",
                format!("this node has no handler for {}", run.op_type),
            )));
        };
        let provider = match self.provider(run, kind).await {
            Ok(p) => p,
            Err(e) => return HandlerRun::Done(Err(e)),
        };
        let ctx = HandlerContext {
            run: run.clone(),
            provider,
            fence: WriteFence { run_id: run.id, lease_token: token },
            results: self.store.run_results(run, token),
            providers: self.providers.clone(),
            reevaluate_interval: self.config.reevaluate_interval,
        };
        // Its own task, so that a panic becomes a recorded failure.
        let mut task = tokio::spawn(async move { handler.execute(&ctx).await });
        let period = (self.config.lease / 3).max(std::time::Duration::from_millis(10));
        let mut beat = tokio::time::interval(period);
        beat.tick().await;
        loop {
            tokio::select! {
                joined = &mut task => {
                    return HandlerRun::Done(joined.unwrap_or_else(|e| Err(HandlerError::permanent(
                        "handler_panicked",
                        format!("the handler stopped unexpectedly: {e}"),
                    ))));
                }
                _ = beat.tick() => {
                    match self.store.run_heartbeat(run.id, token, self.config.lease_ms()).await {
                        Ok(()) => {}
                        Err(StoreError::Fenced) => {
                            task.abort();
                            warn!(run_id = %run.id, "lease lost; handler cancelled");
                            return HandlerRun::LeaseLost;
                        }
                        Err(e) => warn!(run_id = %run.id, error = %e, "heartbeat failed; will retry"),
                    }
                }
            }
        }
    }
}

// One per attempt, returned once and never stored: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum HandlerRun {
    Done(Result<HandlerOutput, HandlerError>),
    LeaseLost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Fenced,
}

fn record(stats: &mut WorkerStats, done: Result<Outcome, tokio::task::JoinError>) {
    match done {
        Ok(Outcome::Finished) => stats.finished += 1,
        Ok(Outcome::Fenced) | Err(_) => stats.fenced += 1,
    }
}

fn worker_id(node: &str, seq: u64) -> String {
    format!("{node}:{}:{seq}", std::process::id())
}

impl HandlerError {
    pub fn permanent(code: &str, message: String) -> HandlerError {
        HandlerError { failure_code: code.into(), message, retryable: false, retry_after_ms: None }
    }
}
