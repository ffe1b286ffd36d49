//! The worker: claim-and-authorize (in the store, one transaction per batch
//! of runs), then each started run's handler in its own task under a lease
//! heartbeat, then a fenced finish through the worker's completer, which
//! groups the finishing writes of runs that end together into one
//! transaction. A rescuer returns runs whose lease expired by the database clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_core::run::{failure_event, Run, RunEvent};
use atlas_core::tenant::ConnectionKind;
use atlas_providers::sandbox::SandboxProvider;
use atlas_providers::{Provider, WriteFence};
use atlas_store::claim::{backoff_ms, ClaimBatch, ClaimParams, Claimed, Finish, MAX_BATCH};
use atlas_store::{Store, StoreError};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{info_span, warn, Instrument};

use crate::config::EngineConfig;
use crate::families::provider_for;
use crate::handler::{HandlerContext, HandlerError, HandlerOutput, Registry, Stop};
use crate::pacing::{budget_from_env, Paced};

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

/// While it has runs in hand, a worker looks for expired leases at most this
/// often (an idle worker looks at every poll).
const RESCUE_EVERY: Duration = Duration::from_millis(250);

/// How often a busy worker seals the audit log. Often enough that what is
/// left unsealed when the queue empties is sealed in a few rounds.
const SEAL_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Worker {
    store: Store,
    config: EngineConfig,
    registry: Registry,
    id: String,
    completer: Arc<Completer>,
}

impl Worker {
    pub fn new(store: Store, config: EngineConfig, registry: Registry) -> Worker {
        let n = WORKER_SEQ.fetch_add(1, Ordering::Relaxed);
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "atlas".into());
        let id = format!("{host}:{}:{n}", std::process::id());
        let completer = Arc::new(Completer { store: store.clone(), pending: Mutex::new(Pending::default()) });
        Worker { store, config, registry, id, completer }
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
        let mut stats = WorkerStats::default();
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let mut last_seal = Instant::now();
        // Sealing runs beside the claim loop: a round takes milliseconds per
        // thousand events, during which this worker would otherwise claim nothing.
        let mut sealing: Option<JoinHandle<()>> = None;
        let mut last_rescue: Option<Instant> = None;
        loop {
            while let Some(done) = tasks.try_join_next() {
                record(&mut stats, done);
            }
            if tasks.is_empty() || last_rescue.is_none_or(|t| t.elapsed() >= RESCUE_EVERY) {
                last_rescue = Some(Instant::now());
                stats.rescued +=
                    self.store.run_rescue_expired(self.config.backoff_ms(), 100).await.unwrap_or_else(|e| {
                        warn!(error = %e, "rescuer failed");
                        0
                    });
            }
            if last_seal.elapsed() >= SEAL_EVERY && sealing.as_ref().is_none_or(JoinHandle::is_finished) {
                last_seal = Instant::now();
                let store = self.store.clone();
                sealing = Some(tokio::spawn(async move {
                    if let Err(e) = store.audit_seal().await {
                        warn!(error = %e, "audit sealer failed");
                    }
                }));
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
        if let Some(round) = sealing {
            // Its failure was logged; the round below seals what it left.
            let _ = round.await;
        }
        if let Err(e) = self.store.audit_seal().await {
            warn!(error = %e, "audit sealer failed");
        }
        Ok(stats)
    }

    /// One deterministic step for tests: rescue, claim one batch, and execute
    /// every started run to its end.
    pub async fn tick(&self) -> Result<WorkerStats, StoreError> {
        let mut stats = WorkerStats {
            rescued: self.store.run_rescue_expired(self.config.backoff_ms(), 100).await?,
            ..WorkerStats::default()
        };
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
                    tasks.spawn(async move { w.execute_with(run, kind).await });
                }
                Claimed::Blocked(_) => stats.blocked += 1,
                Claimed::Retrying(_) => stats.retried_at_claim += 1,
            }
        }
    }

    /// Executes one started run: handler under a heartbeat, then a fenced finish.
    pub async fn execute(&self, run: Run) -> Outcome {
        self.execute_with(run, None).await
    }

    /// `execute`, knowing the kind of the tenant's connection as the claim read it.
    async fn execute_with(&self, run: Run, kind: Option<ConnectionKind>) -> Outcome {
        let Some(lease) = run.lease.clone() else { return Outcome::Fenced };
        let span =
            info_span!("run", run_id = %run.id, r#type = %run.op_type, tenant = ?run.tenant_id, attempt = run.attempt);
        let token = lease.token;
        let result = self.run_handler(&run, token, kind).instrument(span.clone()).await;
        let event = match result {
            HandlerRun::LeaseLost => return Outcome::Fenced,
            HandlerRun::Done(Ok(out)) => {
                let HandlerOutput { outcome, counts, result, failures, stopped } = out;
                match stopped {
                    Some(Stop::Blocked(decision)) if counts.blocked > 0 => {
                        RunEvent::Block { decision, counts: Some(counts) }
                    }
                    Some(Stop::Cancelled(by)) => RunEvent::Cancel { by, counts: Some(counts) },
                    _ => RunEvent::Complete { outcome, counts, result, failures },
                }
            }
            HandlerRun::Done(Err(e)) => {
                let now = atlas_store::now();
                let wait = backoff_ms(self.config.backoff_ms(), run.attempt)
                    .max(i64::try_from(e.retry_after_ms.unwrap_or(0)).unwrap_or(0));
                failure_event(&run, e.failure(), e.retryable, run.summary_counts, now.plus_millis(wait))
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

    /// The run's provider. A sandbox tenant's provider is made from the tenant
    /// alone (what `families::provider_for` builds for it), so when the claim
    /// has just read — and on PostgreSQL share-locked — a sandbox connection,
    /// it is built without reading the connection again: one read per run
    /// less, which at full speed starved the pool. Other kinds, or an unknown
    /// one, go through `provider_for`.
    async fn provider(&self, run: &Run, kind: Option<ConnectionKind>) -> Result<Arc<dyn Provider>, HandlerError> {
        match (run.tenant_id, kind) {
            (Some(tenant_id), Some(ConnectionKind::Sandbox)) => {
                let sandbox = Arc::new(SandboxProvider::new(self.store.clone(), tenant_id));
                Ok(Arc::new(Paced::new(sandbox, self.store.clone(), tenant_id, budget_from_env())))
            }
            _ => provider_for(&self.store, run).await,
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
            store: self.store.clone(),
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

/// Groups finishing writes (ARCHITECTURE.md, "Batch the queue's database
/// work"). A finishing run queues its fenced write and waits for the answer;
/// one flusher task at a time takes everything queued and writes it with
/// `Store::run_finish_many` — one transaction, each write still fenced by its
/// run, attempt and lease token, each with its own audit event and
/// notification — while the next batch gathers. Alone, a run is written at
/// once; under load a batch is whatever finished during the previous write.
struct Completer {
    store: Store,
    pending: Mutex<Pending>,
}

type Reply = oneshot::Sender<Result<Run, StoreError>>;

#[derive(Default)]
struct Pending {
    items: Vec<(Finish, Reply)>,
    /// A flusher task is running and will take what is queued.
    flushing: bool,
}

impl Completer {
    /// The run's finishing write, as `Store::run_finish` would answer it;
    /// `None` if the flusher stopped before answering (the lease then expires
    /// and the rescuer takes the run back).
    async fn finish(self: &Arc<Completer>, f: Finish) -> Option<Result<Run, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let start = match self.enqueue(f, reply) {
            Ok(start) => start,
            Err(f) => return Some(self.store.run_finish(f.run_id, f.lease_token, f.event).await),
        };
        if start {
            let flusher = FlushGuard { completer: Arc::clone(self), armed: true };
            tokio::spawn(flusher.run());
        }
        answer.await.ok()
    }

    /// Queues a write; `Ok(true)` when no flusher runs and the caller must
    /// start one, `Err` (giving the write back) if the queue is unusable.
    fn enqueue(&self, f: Finish, reply: Reply) -> Result<bool, Box<Finish>> {
        let Ok(mut p) = self.pending.lock() else { return Err(Box::new(f)) };
        p.items.push((f, reply));
        Ok(!std::mem::replace(&mut p.flushing, true))
    }
}

/// The flusher; if it dies (a panic), it lets the next finish start another.
struct FlushGuard {
    completer: Arc<Completer>,
    armed: bool,
}

impl FlushGuard {
    async fn run(mut self) {
        // Let the runs finishing at this moment join the first batch.
        tokio::task::yield_now().await;
        loop {
            let batch: Vec<(Finish, Reply)> = match self.completer.pending.lock() {
                Ok(mut p) if p.items.is_empty() => {
                    p.flushing = false;
                    self.armed = false;
                    return;
                }
                Ok(mut p) => {
                    let n = p.items.len().min(MAX_BATCH);
                    p.items.drain(..n).collect()
                }
                Err(_) => return,
            };
            let (items, replies): (Vec<Finish>, Vec<Reply>) = batch.into_iter().unzip();
            let results = self.completer.store.run_finish_many(items).await;
            for (result, reply) in results.into_iter().zip(replies) {
                // The waiting run may have been cancelled; nothing to tell then.
                let _ = reply.send(result);
            }
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(mut p) = self.completer.pending.lock() {
                p.flushing = false;
            }
        }
    }
}

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

impl HandlerError {
    pub fn permanent(code: &str, message: String) -> HandlerError {
        HandlerError { failure_code: code.into(), message, retryable: false, retry_after_ms: None }
    }
}
