//! The claim-and-authorize step (ARCHITECTURE.md, "The one path every run
//! takes"): in ONE transaction, pick runnable queued runs (PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`; SQLite: the `BEGIN IMMEDIATE` writer lock), load
//! the facts they need while holding them (one query per fact table for the
//! whole batch), evaluate the gate for each run on its own, and write the
//! results — started with a lease, blocked, or scheduled for retry — with
//! multi-row statements. A denied run is never `running`, not even inside the
//! transaction.

use std::collections::HashMap;

use atlas_core::gate::{evaluate, evaluate_for, Decision, Purpose};
use atlas_core::run::{claim_event, failure_event, Failure, Lease, Run, RunEvent, RunStatus};
use atlas_core::tenant::ConnectionKind;
use atlas_core::Timestamp;
use uuid::Uuid;

use crate::run::{apply, RunRow, RUN_COLUMNS};
use crate::{db_now_sql, facts, on_tx, Store, StoreError, StoreResult, Tx};

use crate::complete;
// The whole queue API (claim, and the batched finish next door) under `atlas_store::claim`.
pub use crate::complete::{Finish, MAX_BATCH};

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
         AND COALESCE(approval_state, '') <> 'pending' ORDER BY run_after LIMIT $2{lock}"
    );
    // A batch is written with multi-row statements: at most `MAX_BATCH` runs.
    let limit = i64::from(batch.max(1)).min(MAX_BATCH as i64);
    let rows: Vec<RunRow> = on_tx!(tx, |c| sqlx::query_as(&sql).bind(now.0).bind(limit).fetch_all(c).await)?;
    rows.into_iter().map(RunRow::into_domain).collect()
}

/// The gate's decision for a run against the facts in `tx` now: whether it
/// may start (attempt 0, where a requested approval is not yet due) or
/// execute (a later attempt: between items, a sandbox write).
pub(crate) async fn decide(
    tx: &mut Tx,
    run: &Run,
    now: Timestamp,
    attempt: u32,
    validity_ms: i64,
    lock: bool,
) -> StoreResult<Decision> {
    let ctx = run.execution_context();
    let facts = match ctx.check() {
        Ok(checked) => facts::load(tx, &checked, run, validity_ms, lock).await?,
        // The gate refuses it on the context check; there is nothing to load.
        Err(_) => Default::default(),
    };
    let purpose = if attempt == 0 { Purpose::Start } else { Purpose::Execute };
    Ok(evaluate_for(purpose, &ctx, &facts, now, attempt))
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

/// A run whose lease expired, taken back by the rescuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rescued {
    pub run_id: Uuid,
    /// The attempt that stopped answering.
    pub attempt: u32,
    pub max_attempts: u32,
    /// The worker that held the lease.
    pub owner: String,
    /// Back to the queue; `false` when that was its last attempt and it failed.
    pub requeued: bool,
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
        let mut tx = self.begin().await?;
        let now = db_now(&mut tx).await?;
        // `run_after` is written from the application clock (backoffs), so it is compared with it;
        // leases use the database clock.
        let runs = pick(&mut tx, crate::now().max(now), p.batch).await?;
        if runs.is_empty() {
            tx.commit().await?;
            return Ok(ClaimBatch::default());
        }
        match authorize_batch(&mut tx, &runs, now, p, self.approval_validity_ms()).await {
            Ok(batch) => {
                tx.commit().await?;
                Ok(batch)
            }
            Err(e @ (StoreError::Database(_) | StoreError::Corrupt(_))) => {
                drop(tx);
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
    /// new attempt (or fails them when attempts are used up). Returns the runs taken back.
    pub async fn run_rescue_expired(&self, backoff_base_ms: i64, batch: u32) -> StoreResult<Vec<Rescued>> {
        // Almost always there is nothing to rescue: find that out with a plain
        // read rather than a write transaction (SQLite's one writer lock).
        let sql = format!(
            "SELECT CAST(1 AS BIGINT) FROM operation_runs WHERE status = 'running' AND lease_expires_at < {} LIMIT 1",
            db_now_sql(self.dialect())
        );
        let any: Option<(i64,)> = crate::on_db!(self.db(), |p| sqlx::query_as(&sql).fetch_optional(p).await)?;
        if any.is_none() {
            return Ok(Vec::new());
        }
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
        let mut rescued = Vec::with_capacity(rows.len());
        for row in rows {
            let run = row.into_domain()?;
            let token = run.lease.as_ref().map(|l| l.token);
            let owner = run.lease.as_ref().map(|l| l.owner.clone()).unwrap_or_default();
            let failure = Failure {
                code: "lease_expired".into(),
                message: "The worker running this attempt stopped answering; its lease expired.".into(),
            };
            let retry_at = now.plus_millis(backoff_ms(backoff_base_ms, run.attempt));
            let event = failure_event(&run, failure, true, run.summary_counts, retry_at);
            let requeued = matches!(event, RunEvent::ScheduleRetry { .. });
            apply(&mut tx, &run, event, now, token).await?;
            rescued.push(Rescued {
                run_id: run.id,
                attempt: run.attempt,
                max_attempts: run.max_attempts,
                owner,
                requeued,
            });
        }
        tx.commit().await?;
        Ok(rescued)
    }

    /// Queue state for `worker --until-idle`: (runnable or waiting queued, running).
    /// A run awaiting approval waits for a person, not for the worker: not counted.
    pub async fn runs_active_counts(&self) -> StoreResult<(i64, i64)> {
        let (queued, running): (i64, i64) = crate::on_db!(self.db(), |p| sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN status = 'queued' AND COALESCE(approval_state, '') <> 'pending' \
                    THEN 1 ELSE 0 END), 0), \
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
async fn authorize_batch(
    tx: &mut Tx,
    runs: &[Run],
    now: Timestamp,
    p: &ClaimParams,
    validity_ms: i64,
) -> StoreResult<ClaimBatch> {
    let contexts: Vec<_> = runs.iter().map(|r| r.execution_context()).collect();
    let checked: Vec<_> = contexts.iter().map(|c| c.check().ok()).collect();
    let approvers = facts::approvers(runs);
    let facts = facts::load_many(tx, &checked.iter().flatten().collect::<Vec<_>>(), &approvers, true).await?;
    let mut writes = Vec::with_capacity(runs.len());
    for ((run, ctx), checked) in runs.iter().zip(&contexts).zip(&checked) {
        let attempt = run.attempt + 1;
        let decision = match checked.as_ref().map(|c| facts.facts(c, Some(run), validity_ms)) {
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

#[cfg(test)]
mod tests {
    //! The batched claim and finish against their one-run meaning: each run
    //! decided, fenced and recorded on its own, whatever else is in the batch.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use atlas_core::audit::{Actor, AuditDraft};
    use atlas_core::capability::BuiltinRole;
    use atlas_core::gate::{Authority, ReasonCode};
    use atlas_core::run::{NewRun, RunEvent, RunOutcome};
    use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
    use atlas_core::{OperationType, SummaryCounts};
    use serde_json::json;

    use super::*;
    use crate::admin::{ChangeBy, RoleRef};
    use crate::audit::AuditFilter;

    struct World {
        workspace: Uuid,
        active: Uuid,
        suspended: Uuid,
        operator: Uuid,
        reader: Uuid,
        broken: Uuid,
    }

    async fn world(store: &Store) -> World {
        let by = ChangeBy::cli();
        let ws = store.workspace_create("claims", "Claims", &by).await.unwrap().id;
        let mut tenants = Vec::new();
        for (name, status) in [("Active", TenantStatus::Active), ("Suspended", TenantStatus::Suspended)] {
            let t = store.tenant_create(ws, name, status, false, None, &by).await.unwrap().id;
            store.connection_add(t, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
            tenants.push(t);
        }
        let mut users = Vec::new();
        for (email, role) in [
            ("op@x.test", BuiltinRole::Operator),
            ("ro@x.test", BuiltinRole::Readonly),
            ("br@x.test", BuiltinRole::Operator),
        ] {
            let u = store.user_create(email, email, None, &by).await.unwrap().id;
            store.member_grant(ws, u, &RoleRef::Builtin(role), &TenantScope::All, &by).await.unwrap();
            users.push(u);
        }
        // A membership whose role cannot be read.
        let sql = format!("UPDATE memberships SET builtin_role = 'bogus' WHERE user_id = '{}'", users[2]);
        store.execute_raw(&sql).await.unwrap();
        World {
            workspace: ws,
            active: tenants[0],
            suspended: tenants[1],
            operator: users[0],
            reader: users[1],
            broken: users[2],
        }
    }

    /// Queues `inventory.sync` runs (each with its own dedupe key) by (user, tenant).
    async fn queue(store: &Store, w: &World, who: &[(Uuid, Uuid)]) -> Vec<Run> {
        let runs: Vec<(Run, AuditDraft)> = (who.iter().enumerate())
            .map(|(i, (user, tenant))| {
                let new = NewRun {
                    op_type: OperationType::InventorySync,
                    workspace_id: w.workspace,
                    tenant_id: Some(*tenant),
                    authority: Authority::Actor { user_id: *user },
                    params: json!({}),
                    retry_of_run_id: None,
                    max_attempts: 3,
                };
                let (mut run, audit) = Run::queued(new, Uuid::now_v7(), crate::now());
                run.dedupe_key = format!("{}|{i}|{}", run.dedupe_key, run.id);
                (run, audit)
            })
            .collect();
        let ids = store.run_insert_many(&runs).await.unwrap();
        assert_eq!(ids.len(), runs.len());
        runs.into_iter().map(|(r, _)| r).collect()
    }

    fn params(batch: u32) -> ClaimParams {
        ClaimParams { worker: "test".into(), lease_ms: 60_000, batch, backoff_base_ms: 10 }
    }

    async fn actions(store: &Store, run: Uuid) -> Vec<String> {
        let filter = AuditFilter { subject: Some(format!("run:{run}")), limit: 100, ..Default::default() };
        let mut events = store.audit_events(filter).await.unwrap();
        events.sort_by_key(|e| e.seq);
        events.into_iter().map(|e| e.action).collect()
    }

    async fn claim_batch_decides_each_run_on_its_own(store: Store) {
        let w = world(&store).await;
        let runs = queue(
            &store,
            &w,
            &[(w.operator, w.active), (w.reader, w.active), (w.operator, w.suspended), (w.broken, w.active)],
        )
        .await;
        let corrupt = queue(&store, &w, &[(w.operator, w.active)]).await.remove(0);
        store
            .execute_raw(&format!("UPDATE operation_runs SET context = '{{}}' WHERE id = '{}'", corrupt.id))
            .await
            .unwrap();
        let batch = store.run_claim_batch(&params(10)).await.unwrap();
        assert_eq!(batch.claimed.len(), 5);
        let by_id = |id: Uuid| batch.claimed.iter().find(|c| c.run().id == id).unwrap();
        let reason = |c: &Claimed| c.run().decision.as_ref().and_then(|d| d.reason_code);
        assert!(matches!(by_id(runs[0].id), Claimed::Started(r) if r.lease.is_some()));
        assert!(matches!(by_id(runs[1].id), Claimed::Blocked(_)));
        assert_eq!(reason(by_id(runs[1].id)), Some(ReasonCode::CapabilityRevoked));
        assert_eq!(reason(by_id(runs[2].id)), Some(ReasonCode::TenantSuspended));
        // An unreadable fact makes only the runs that need it wait and retry.
        assert!(matches!(by_id(runs[3].id), Claimed::Retrying(_)));
        assert_eq!(reason(by_id(runs[3].id)), Some(ReasonCode::EvaluationUnavailable));
        assert_eq!(reason(by_id(corrupt.id)), Some(ReasonCode::ExecutionContextInvalid));
        assert_eq!(batch.connection_kinds.get(&w.active), Some(&ConnectionKind::Sandbox));
        for (run, want) in [
            (runs[0].id, vec!["operation.queued", "operation.started"]),
            (runs[1].id, vec!["operation.queued", "operation.blocked"]),
            (runs[3].id, vec!["operation.queued", "operation.retry_scheduled"]),
        ] {
            assert_eq!(actions(&store, run).await, want);
        }
        for (run, notes) in [(runs[0].id, 0), (runs[1].id, 1), (runs[2].id, 1), (runs[3].id, 0), (corrupt.id, 1)] {
            assert_eq!(store.notifications_for_run(run).await.unwrap().len(), notes, "run {run}");
        }
        assert_eq!(store.run_get(runs[0].id).await.unwrap(), *by_id(runs[0].id).run());
    }

    fn complete() -> RunEvent {
        let counts = SummaryCounts { total: 1, succeeded: 1, ..Default::default() }.recount();
        RunEvent::Complete { outcome: RunOutcome::Succeeded, counts, result: json!({}), failures: vec![] }
    }

    async fn finish_many_fences_each_run_on_its_own(store: Store) {
        let w = world(&store).await;
        queue(&store, &w, &[(w.operator, w.active); 4]).await;
        let started: Vec<Run> = (store.run_claim_and_authorize(&params(10)).await.unwrap().into_iter())
            .map(|c| match c {
                Claimed::Started(r) => r,
                other => panic!("{other:?}"),
            })
            .collect();
        let illegal = RunEvent::Complete {
            outcome: RunOutcome::Blocked,
            counts: SummaryCounts::default(),
            result: json!({}),
            failures: vec![],
        };
        let items = vec![
            Finish::new(started[0].id, token(&started[0]), complete()),
            Finish::new(started[1].id, Uuid::now_v7(), complete()),
            Finish::new(started[2].id, token(&started[2]), illegal),
            Finish::new(started[0].id, token(&started[0]), complete()),
            Finish::new(started[3].id, token(&started[3]), complete()),
            Finish::new(Uuid::now_v7(), Uuid::now_v7(), complete()),
        ];
        let results = store.run_finish_many(items).await;
        assert_eq!(results[0].as_ref().unwrap().outcome, RunOutcome::Succeeded);
        assert!(matches!(results[1], Err(StoreError::Fenced)), "{:?}", results[1]);
        assert!(matches!(results[2], Err(StoreError::Illegal(_))), "{:?}", results[2]);
        // The same run twice: the second finish meets a completed run.
        assert!(matches!(results[3], Err(StoreError::Fenced)), "{:?}", results[3]);
        assert_eq!(results[4].as_ref().unwrap().outcome, RunOutcome::Succeeded);
        assert!(matches!(results[5], Err(StoreError::NotFound(_))), "{:?}", results[5]);
        for (run, status, events, notes) in [
            (&started[0], RunStatus::Completed, 3, 1),
            (&started[1], RunStatus::Running, 2, 0),
            (&started[2], RunStatus::Running, 2, 0),
            (&started[3], RunStatus::Completed, 3, 1),
        ] {
            assert_eq!(store.run_get(run.id).await.unwrap().status, status);
            assert_eq!(actions(&store, run.id).await.len(), events);
            assert_eq!(store.notifications_for_run(run.id).await.unwrap().len(), notes);
        }
    }

    /// Two runs of an allowed member, claimed and running.
    async fn two_started(store: &Store) -> (Run, Run) {
        let w = world(store).await;
        queue(store, &w, &[(w.operator, w.active); 2]).await;
        let claimed = store.run_claim_and_authorize(&params(10)).await.unwrap();
        let [Claimed::Started(a), Claimed::Started(b)] = claimed.as_slice() else { panic!("{claimed:?}") };
        (a.clone(), b.clone())
    }

    fn token(r: &Run) -> Uuid {
        r.lease.as_ref().unwrap().token
    }

    /// `run_finish_many` writes what `run_finish` writes: row, event, notification.
    async fn batched_writes_match_single_writes(store: Store) {
        let (a, b) = &two_started(&store).await;
        let one = store.run_finish(a.id, token(a), complete()).await.unwrap();
        // Finished from the run as claimed, without reading the row: the same writes.
        let claimed_b = Finish { claimed: Some(Box::new(b.clone())), ..Finish::new(b.id, token(b), complete()) };
        let many = store.run_finish_many(vec![claimed_b]).await;
        let many = many.into_iter().next().unwrap().unwrap();
        let same = |r: &Run| {
            (r.status, r.outcome, r.attempt, r.summary_counts, r.result.clone(), r.failures.clone(), r.lease.clone())
        };
        assert_eq!(same(&one), same(&many));
        assert_eq!(same(&store.run_get(b.id).await.unwrap()), same(&many));
        assert_eq!(completed_event(&store, a.id).await, completed_event(&store, b.id).await);
        assert_eq!(completed_event(&store, b.id).await.0, Actor::System);
        assert_eq!(note(&store, a.id).await, note(&store, b.id).await);
    }

    /// A batch writes only the columns its transitions change (`RUN_SET`),
    /// yet every row ends exactly as its transition computed it: here one run
    /// completes from its claimed snapshot after its holder wrote progress
    /// counts the snapshot does not show, and one goes back to the queue with
    /// a failure, in the same batch.
    async fn mixed_batches_write_every_row_as_computed(store: Store) {
        let (a, b) = &two_started(&store).await;
        let progress = SummaryCounts { total: 5, succeeded: 2, ..Default::default() };
        store.run_progress(a.id, token(a), &progress).await.unwrap();
        // Completing with the counts the claim saw: they must replace the progress.
        let counts = a.summary_counts;
        let done =
            RunEvent::Complete { outcome: RunOutcome::Succeeded, counts, result: json!({"n": 1}), failures: vec![] };
        let failure = Failure { code: "throttled".into(), message: "Slow down.".into() };
        let retry = failure_event(b, failure, true, b.summary_counts, crate::now().plus_millis(60_000));
        let results = store
            .run_finish_many(vec![
                Finish { claimed: Some(Box::new(a.clone())), ..Finish::new(a.id, token(a), done) },
                Finish::new(b.id, token(b), retry),
            ])
            .await;
        let [Ok(a_after), Ok(b_after)] = results.as_slice() else { panic!("{results:?}") };
        assert_eq!((a_after.status, b_after.status), (RunStatus::Completed, RunStatus::Queued));
        assert_eq!(&store.run_get(a.id).await.unwrap(), a_after);
        assert_eq!(&store.run_get(b.id).await.unwrap(), b_after);
    }

    /// A finish from the claimed run is fenced by the row as it is now, not by the snapshot.
    async fn finish_from_a_stale_claim_is_fenced(store: Store) {
        let (a, b) = &two_started(&store).await;
        // `a` lost its lease to another holder since it was claimed.
        let sql = format!("UPDATE operation_runs SET lease_token = '{}' WHERE id = '{}'", Uuid::now_v7(), a.id);
        store.execute_raw(&sql).await.unwrap();
        let from_claim =
            |r: &Run| Finish { claimed: Some(Box::new(r.clone())), ..Finish::new(r.id, token(r), complete()) };
        let results = store.run_finish_many(vec![from_claim(a), from_claim(b)]).await;
        assert!(matches!(results[0], Err(StoreError::Fenced)), "{:?}", results[0]);
        assert_eq!(results[1].as_ref().unwrap().status, RunStatus::Completed);
        assert_eq!(store.run_get(a.id).await.unwrap().status, RunStatus::Running);
        assert_eq!(actions(&store, a.id).await, ["operation.queued", "operation.started"]);
        assert!(store.notifications_for_run(a.id).await.unwrap().is_empty());
        // A snapshot of another run is not used in place of the row.
        let mismatched = Finish { claimed: Some(Box::new(b.clone())), ..Finish::new(a.id, token(a), complete()) };
        assert!(mismatched.known_before().is_none());
    }

    async fn completed_event(store: &Store, id: Uuid) -> (Actor, Option<Uuid>, Option<Uuid>, serde_json::Value) {
        let subject = Some(format!("run:{id}"));
        let filter = AuditFilter { subject, action: Some("operation.completed".into()), ..Default::default() };
        let e = store.audit_events(filter).await.unwrap().remove(0);
        (e.actor, e.workspace_id, e.tenant_id, e.data)
    }

    async fn note(store: &Store, id: Uuid) -> (Uuid, String, String, String, RunOutcome, bool) {
        let n = store.notifications_for_run(id).await.unwrap().remove(0);
        (n.user_id, n.kind, n.title, n.body, n.outcome, n.read)
    }

    async fn insert_many_skips_active_duplicates(store: Store) {
        let w = world(&store).await;
        let new = |tenant| NewRun {
            op_type: OperationType::InventorySync,
            workspace_id: w.workspace,
            tenant_id: Some(tenant),
            authority: Authority::Actor { user_id: w.operator },
            params: json!({}),
            retry_of_run_id: None,
            max_attempts: 3,
        };
        let runs: Vec<_> =
            [w.active, w.active, w.suspended].map(|t| Run::queued(new(t), Uuid::now_v7(), crate::now())).into();
        let ids = store.run_insert_many(&runs).await.unwrap();
        assert_eq!(ids, vec![runs[0].0.id, runs[2].0.id]);
        assert_eq!(actions(&store, runs[0].0.id).await, ["operation.queued"]);
        assert!(actions(&store, runs[1].0.id).await.is_empty());
        assert!(matches!(store.run_get(runs[1].0.id).await, Err(StoreError::NotFound(_))));
    }

    crate::dialect_tests!(
        claim_batch_decides_each_run_on_its_own,
        finish_many_fences_each_run_on_its_own,
        batched_writes_match_single_writes,
        mixed_batches_write_every_row_as_computed,
        finish_from_a_stale_claim_is_fenced,
        insert_many_skips_active_duplicates,
    );
}
