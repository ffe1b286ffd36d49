//! The claim-and-authorize step (ARCHITECTURE.md, "The one path every run
//! takes"): in ONE transaction, pick runnable queued runs (PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`; SQLite: the `BEGIN IMMEDIATE` writer lock), load
//! the facts they need while holding them (one query per fact table for the
//! whole batch), evaluate the gate for each run on its own, and write the
//! results — started with a lease, blocked, or scheduled for retry — with
//! multi-row statements. A denied run is never `running`, not even inside the
//! transaction.

use std::collections::HashMap;

use atlas_core::gate::{evaluate, Decision};
use atlas_core::run::{claim_event, failure_event, Failure, Lease, Run, RunStatus};
use atlas_core::tenant::ConnectionKind;
use atlas_core::Timestamp;
use uuid::Uuid;

use crate::run::{apply, RunRow, RUN_COLUMNS};
use crate::{db_now_sql, facts, on_tx, Store, StoreError, StoreResult, Tx};

// Batched writes live next door; declared here so that this module exposes
// the whole queue API (claim, finish) under `atlas_store::claim`.
#[path = "complete.rs"]
pub(crate) mod complete;
pub use complete::{Finish, MAX_BATCH};

/// How a worker claims.
#[derive(Clone, Debug)]
pub struct ClaimParams {
    /// Names the worker in the lease (`host:pid:n`).
    pub worker: String,
    pub lease_ms: i64,
    pub batch: u32,
    /// The first retry waits this long; each further attempt doubles it.
    pub backoff_base_ms: i64,
}

/// Exponential backoff for the attempt that just ended, capped at an hour.
pub fn backoff_ms(base_ms: i64, attempt: u32) -> i64 {
    let factor = 1_i64 << attempt.saturating_sub(1).min(20);
    base_ms.saturating_mul(factor).min(3_600_000)
}

/// What the claim did with one run.
#[derive(Clone, Debug, PartialEq)]
pub enum Claimed {
    /// Allowed and now `running` under `run.lease`: execute it.
    Started(Run),
    /// Denied for good: `completed/blocked`.
    Blocked(Run),
    /// A retryable denial: back in the queue with a backoff.
    Retrying(Run),
}

impl Claimed {
    pub fn run(&self) -> &Run {
        match self {
            Claimed::Started(r) | Claimed::Blocked(r) | Claimed::Retrying(r) => r,
        }
    }
}

pub(crate) async fn db_now(tx: &mut Tx) -> StoreResult<Timestamp> {
    let dialect = match tx {
        Tx::Sqlite(_) => crate::Dialect::Sqlite,
        Tx::Postgres(_) => crate::Dialect::Postgres,
    };
    let sql = format!("SELECT {}", db_now_sql(dialect));
    let (now,): (i64,) = on_tx!(tx, |c| sqlx::query_as(&sql).fetch_one(c).await)?;
    Ok(Timestamp(now))
}

async fn pick(tx: &mut Tx, now: Timestamp, batch: u32) -> StoreResult<Vec<Run>> {
    let lock = match tx {
        Tx::Sqlite(_) => "",
        Tx::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    // Ordered by `run_after` alone, the order of the runnable index, so that
    // the scan stops after `batch` rows; a tie-break on `id` would sort every
    // queued run on each claim.
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM operation_runs WHERE status = 'queued' AND run_after <= $1 \
         ORDER BY run_after LIMIT $2{lock}"
    );
    let rows: Vec<RunRow> =
        on_tx!(tx, |c| sqlx::query_as(&sql).bind(now.0).bind(i64::from(batch.max(1))).fetch_all(c).await)?;
    rows.into_iter().map(RunRow::into_domain).collect()
}

/// The gate's decision for a run against the facts in `tx` now.
pub(crate) async fn decide(tx: &mut Tx, run: &Run, now: Timestamp, attempt: u32, lock: bool) -> StoreResult<Decision> {
    let ctx = run.execution_context();
    let facts = match ctx.check() {
        Ok(checked) => facts::load(tx, &checked, lock).await?,
        // The gate refuses it on the context check; there is nothing to load.
        Err(_) => Default::default(),
    };
    Ok(evaluate(&ctx, &facts, now, attempt))
}

/// What one claim transaction did, with what the worker needs next.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClaimBatch {
    pub claimed: Vec<Claimed>,
    /// The provider connection kind of the batch's tenants, as the claim read
    /// (and on PostgreSQL share-locked) them: the worker builds each started
    /// run's provider from it without another read.
    pub connection_kinds: HashMap<Uuid, ConnectionKind>,
}

impl Store {
    /// Claims and authorizes up to `batch` runnable runs in one transaction.
    /// When the facts cannot be read, every picked run gets a retryable
    /// `evaluation_unavailable` denial instead (in a fresh transaction).
    pub async fn run_claim_and_authorize(&self, p: &ClaimParams) -> StoreResult<Vec<Claimed>> {
        Ok(self.run_claim_batch(p).await?.claimed)
    }

    /// `run_claim_and_authorize`, also returning the connection kinds it read.
    pub async fn run_claim_batch(&self, p: &ClaimParams) -> StoreResult<ClaimBatch> {
        let turn = complete::write_turn(self).await;
        let mut tx = self.begin().await?;
        let now = db_now(&mut tx).await?;
        // `run_after` is written from the application clock (backoffs), so it is compared with it;
        // leases use the database clock.
        let runs = pick(&mut tx, crate::now().max(now), p.batch).await?;
        if runs.is_empty() {
            tx.commit().await?;
            return Ok(ClaimBatch::default());
        }
        match authorize_batch(&mut tx, &runs, now, p).await {
            Ok(batch) => {
                tx.commit().await?;
                Ok(batch)
            }
            Err(e @ (StoreError::Database(_) | StoreError::Corrupt(_))) => {
                drop(tx);
                drop(turn);
                let detail = "facts could not be read";
                tracing::warn!(error = %e_text(&e), "claim: {detail}; scheduling retries");
                let ids: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
                let claimed = self.deny_unavailable(&ids, detail, p).await?;
                Ok(ClaimBatch { claimed, connection_kinds: HashMap::new() })
            }
            Err(e) => Err(e),
        }
    }

    async fn deny_unavailable(&self, ids: &[Uuid], detail: &str, p: &ClaimParams) -> StoreResult<Vec<Claimed>> {
        let _turn = complete::write_turn(self).await;
        let mut tx = self.begin().await?;
        let now = db_now(&mut tx).await?;
        let mut out = Vec::new();
        for id in ids {
            let run = crate::run::lock_run(&mut tx, *id).await?;
            if run.status != RunStatus::Queued {
                continue;
            }
            let attempt = run.attempt + 1;
            let decision = Decision::unavailable(&run.execution_context(), detail, now, attempt);
            let retry_at = now.plus_millis(backoff_ms(p.backoff_base_ms, attempt));
            let lease = Lease { owner: p.worker.clone(), token: Uuid::now_v7(), expires_at: now };
            let event = claim_event(&run, decision, lease, retry_at);
            let after = apply(&mut tx, &run, event, now, None).await?;
            out.push(classify(after));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Returns runs whose lease expired by the database clock to the queue as a
    /// new attempt (or fails them when attempts are used up). Returns how many.
    pub async fn run_rescue_expired(&self, backoff_base_ms: i64, batch: u32) -> StoreResult<u64> {
        // Almost always there is nothing to rescue: find that out with a plain
        // read rather than a write transaction (SQLite's one writer lock).
        let sql = format!(
            "SELECT CAST(1 AS BIGINT) FROM operation_runs WHERE status = 'running' AND lease_expires_at < {} LIMIT 1",
            db_now_sql(self.dialect())
        );
        let any: Option<(i64,)> = crate::on_db!(self.db(), |p| sqlx::query_as(&sql).fetch_optional(p).await)?;
        if any.is_none() {
            return Ok(0);
        }
        let _turn = complete::write_turn(self).await;
        let mut tx = self.begin().await?;
        let now = db_now(&mut tx).await?;
        let lock = match tx {
            Tx::Sqlite(_) => "",
            Tx::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM operation_runs WHERE status = 'running' AND lease_expires_at < $1 \
             ORDER BY lease_expires_at LIMIT $2{lock}"
        );
        let rows: Vec<RunRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(&sql).bind(now.0).bind(i64::from(batch.max(1))).fetch_all(c).await)?;
        let mut n = 0;
        for row in rows {
            let run = row.into_domain()?;
            let token = run.lease.as_ref().map(|l| l.token);
            let failure = Failure {
                code: "lease_expired".into(),
                message: "The worker running this attempt stopped answering; its lease expired.".into(),
            };
            let retry_at = now.plus_millis(backoff_ms(backoff_base_ms, run.attempt));
            let event = failure_event(&run, failure, true, run.summary_counts, retry_at);
            apply(&mut tx, &run, event, now, token).await?;
            n += 1;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// The gate's decision for a run against the facts now, without locks:
    /// the start path (nothing is stored when it denies) and between items.
    pub async fn run_decide_now(&self, run: &Run, attempt: u32) -> StoreResult<Decision> {
        let mut tx = self.begin().await?;
        let now = db_now(&mut tx).await?;
        let decision = decide(&mut tx, run, now, attempt, false).await?;
        tx.commit().await?;
        Ok(decision)
    }

    /// Queue state for `worker --until-idle`: (runnable or waiting queued, running).
    pub async fn runs_active_counts(&self) -> StoreResult<(i64, i64)> {
        let (queued, running): (i64, i64) = crate::on_db!(self.db(), |p| sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) \
             FROM operation_runs WHERE status IN ('queued', 'running')"
        )
        .fetch_one(p)
        .await)?;
        Ok((queued, running))
    }
}

fn e_text(e: &impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

fn classify(run: Run) -> Claimed {
    match run.status {
        RunStatus::Running => Claimed::Started(run),
        RunStatus::Completed => Claimed::Blocked(run),
        RunStatus::Queued => Claimed::Retrying(run),
    }
}

/// Authorizes every picked run: the batch's facts in one query per fact
/// table, then each run's own decision and transition, written together.
async fn authorize_batch(tx: &mut Tx, runs: &[Run], now: Timestamp, p: &ClaimParams) -> StoreResult<ClaimBatch> {
    let contexts: Vec<_> = runs.iter().map(|r| r.execution_context()).collect();
    let checked: Vec<_> = contexts.iter().map(|c| c.check().ok()).collect();
    let facts = facts::load_many(tx, &checked.iter().flatten().collect::<Vec<_>>(), true).await?;
    let mut writes = Vec::with_capacity(runs.len());
    for ((run, ctx), checked) in runs.iter().zip(&contexts).zip(&checked) {
        let attempt = run.attempt + 1;
        let decision = match checked.as_ref().map(|c| facts.facts(c)) {
            Some(Ok(f)) => evaluate(ctx, &f, now, attempt),
            Some(Err(e)) => {
                tracing::warn!(run_id = %run.id, error = %e, "claim: a fact row could not be read");
                Decision::unavailable(ctx, "facts could not be read", now, attempt)
            }
            // The gate refuses it on the context check; there is nothing to load.
            None => evaluate(ctx, &Default::default(), now, attempt),
        };
        let lease = Lease { owner: p.worker.clone(), token: Uuid::now_v7(), expires_at: now.plus_millis(p.lease_ms) };
        let retry_at = now.plus_millis(backoff_ms(p.backoff_base_ms, attempt));
        let event = claim_event(run, decision, lease, retry_at);
        writes.push(complete::Transition::new(run, event, now, None)?);
    }
    let written = complete::write_transitions(tx, &writes, now).await?;
    if written.len() != writes.len() {
        // The picked rows are locked (or the writer lock is held): only a
        // broken invariant gets here, and the whole claim rolls back.
        return Err(StoreError::Fenced);
    }
    let claimed = writes.into_iter().map(|t| classify(t.after)).collect();
    Ok(ClaimBatch { claimed, connection_kinds: facts.connection_kinds() })
}
