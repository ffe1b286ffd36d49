//! The worker: claim-and-authorize (in the store, one transaction per batch
//! of runs), then each started run's handler in its own task under a lease
//! heartbeat, then a fenced finish through the worker's `Completer`, which
//! groups the finishing writes of runs that end together into one
//! transaction. Beside the claim loop run the worker's maintenance services:
//! a `Rescuer` (runs whose lease expired by the database clock go back to the
//! queue) and an `AuditSealer`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_core::run::{failure_event, items_end_event, Failure, Run, RunEvent};
use atlas_core::tenant::ConnectionKind;
use atlas_providers::{Provider, WriteFence};
use atlas_store::claim::{backoff_ms, ClaimBatch, ClaimParams, Claimed, Finish};
use atlas_store::{Store, StoreError};
use tokio::task::JoinSet;
use tracing::{info_span, warn, Instrument};

use crate::completer::Completer;
use crate::config::EngineConfig;
use crate::handler::{HandlerContext, HandlerError, HandlerOutput, Registry, Stop};
use crate::outage::Outage;
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
    /// In-flight runs given back to the queue when the worker was stopped.
    pub handed_back: u64,
}

/// The node name in worker ids when none is given.
pub const DEFAULT_NODE: &str = "atlas";

/// How long a stopping worker lets its in-flight runs finish before it hands
/// them back: shorter than the 30 s a supervisor usually waits before SIGKILL.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
    shutdown_grace: Duration,
    /// Runs executing now, with their lease tokens: what a stop hands back.
    in_flight: Arc<Mutex<HashMap<uuid::Uuid, uuid::Uuid>>>,
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
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            in_flight: Arc::default(),
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

    /// How long, once stopped, in-flight runs may take to finish before they
    /// are handed back to the queue.
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Worker {
        self.shutdown_grace = grace;
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
        let mut outage = Outage::new("claim");
        let mut stopped = false;
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
                        outage.succeeded();
                        claimed_any = !claimed.claimed.is_empty();
                        self.spawn_started(claimed, &mut tasks, &mut stats);
                    }
                    Err(e) => outage.failed(&e, self.config.poll_interval),
                }
            }
            if claimed_any {
                continue;
            }
            if until_idle && tasks.is_empty() && !outage.is_out() {
                match self.store.runs_active_counts().await {
                    Ok((0, 0)) => break,
                    Ok(_) => {}
                    Err(e) => outage.failed(&e, self.config.poll_interval),
                }
            }
            tokio::select! {
                () = &mut stop => {
                    stopped = true;
                    break;
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => record(&mut stats, done),
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        if stopped {
            self.stop_in_flight(&mut tasks, &mut stats).await;
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

    /// A stop: no more claims; in-flight runs get the grace period to finish,
    /// then the rest are cancelled and handed back to the queue at once
    /// (fenced by their lease, so a run that finished meanwhile is left alone).
    async fn stop_in_flight(&self, tasks: &mut JoinSet<Outcome>, stats: &mut WorkerStats) {
        if tasks.is_empty() {
            return;
        }
        tracing::info!(
            runs = tasks.len(),
            "stopping: no more claims; waiting up to {} ms for in-flight runs",
            self.shutdown_grace.as_millis()
        );
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        while !tasks.is_empty() {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(done)) => record(stats, done),
                Ok(None) | Err(_) => break,
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let left: Vec<(uuid::Uuid, uuid::Uuid)> = match self.in_flight.lock() {
            Ok(mut m) => m.drain().collect(),
            Err(poisoned) => poisoned.into_inner().drain().collect(),
        };
        for (run_id, token) in left {
            let failure = Failure {
                code: "worker_stopped".into(),
                message: format!(
                    "The worker {} was stopped before this attempt finished; the run went back to the queue.",
                    self.id
                ),
            };
            match self.store.run_finish(run_id, token, RunEvent::HandBack { failure }).await {
                Ok(_) => {
                    stats.handed_back += 1;
                    warn!(run_id = %run_id, "run {run_id} handed back to the queue: the worker is stopping");
                }
                Err(StoreError::Fenced) => {}
                Err(e) => warn!(
                    run_id = %run_id,
                    error = %e,
                    "run {run_id} could not be handed back; it returns to the queue when its lease expires"
                ),
            }
        }
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

    fn track(&self, run_id: uuid::Uuid, token: Option<uuid::Uuid>) {
        let mut map = match self.in_flight.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        match token {
            Some(t) => map.insert(run_id, t),
            None => map.remove(&run_id),
        };
    }

    /// Executes one started run — handler under a heartbeat, then a fenced
    /// finish — knowing the kind of the tenant's connection as the claim read it.
    async fn execute(&self, run: Run, kind: Option<ConnectionKind>) -> Outcome {
        let Some(token) = run.lease.as_ref().map(|l| l.token) else { return Outcome::Fenced };
        let run_id = run.id;
        // Listed while it executes; not a drop guard, because a run cancelled
        // by a stop must stay listed for the hand-back.
        self.track(run_id, Some(token));
        let outcome = self.execute_held(run, kind, token).await;
        self.track(run_id, None);
        outcome
    }

    async fn execute_held(&self, run: Run, kind: Option<ConnectionKind>, token: uuid::Uuid) -> Outcome {
        let span =
            info_span!("run", run_id = %run.id, r#type = %run.op_type, tenant = ?run.tenant_id, attempt = run.attempt);
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
        let run_id = run.id;
        let finish = Finish { run_id, lease_token: token, event, claimed: Some(Box::new(run)) };
        match self.completer.finish(finish).await {
            Some(Ok(_)) => Outcome::Finished,
            Some(Err(StoreError::Fenced)) => {
                span.in_scope(|| warn!(run_id = %run_id, "run {run_id}: finish refused, the lease was lost"));
                Outcome::Fenced
            }
            Some(Err(e)) => {
                span.in_scope(|| {
                    warn!(
                        run_id = %run_id,
                        error = %e,
                        "run {run_id}: finish failed; it returns to the queue when its lease expires"
                    )
                });
                Outcome::Fenced
            }
            None => {
                span.in_scope(|| warn!(run_id = %run_id, "run {run_id}: finish lost, the completer stopped"));
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
        // Its own task, so that a panic becomes a recorded failure; cancelled
        // with this future (a stopping worker cancels in-flight runs).
        let mut task = tokio::spawn(async move { handler.execute(&ctx).await });
        let _cancel = AbortOnDrop(task.abort_handle());
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
                        Err(e) => warn!(run_id = %run.id, error = %e, "run {}: heartbeat failed; will retry", run.id),
                    }
                }
            }
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
