//! Operation runs: insert (deduplicated by the active-run unique index), read,
//! list, and the application of core transitions. Every status/outcome write
//! goes through `apply`, which takes the new row from `atlas_core::run::transition`
//! and writes it, its audit event and (on completion) the initiator's
//! notification in the caller's transaction.

use atlas_core::approval::{Approval, ApprovalState};
use atlas_core::audit::{Actor, AuditDraft};
use atlas_core::operation::{AuthorityKind, OperationType};
use atlas_core::run::{Failure, Lease, Run, RunEvent, RunOutcome, RunStatus};
use atlas_core::summary::SummaryCounts;
use atlas_core::Timestamp;
use uuid::Uuid;

use crate::audit::append;
use crate::complete::{insert_runs, write_transitions, Transition};
use crate::row::{json, opt_uuid, parse, typed, uuid};
use crate::{exec, on_db, on_tx, Store, StoreError, StoreResult, Tx};

pub(crate) const RUN_COLUMNS: &str = "id, workspace_id, tenant_id, type, status, outcome, initiator_user_id, \
     authority_mode, source, params, context, dedupe_key, attempt, max_attempts, run_after, lease_owner, \
     lease_token, lease_expires_at, created_at, started_at, completed_at, decision, failures, retry_of_run_id, \
     summary_counts, result, approval_state, approval_by, approval_at, approval_reason";

#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    id: String,
    workspace_id: String,
    tenant_id: Option<String>,
    #[sqlx(rename = "type")]
    op_type: String,
    status: String,
    outcome: String,
    initiator_user_id: Option<String>,
    authority_mode: String,
    source: Option<String>,
    params: String,
    context: String,
    dedupe_key: String,
    attempt: i64,
    max_attempts: i64,
    run_after: i64,
    lease_owner: Option<String>,
    lease_token: Option<String>,
    lease_expires_at: Option<i64>,
    created_at: i64,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    decision: Option<String>,
    failures: String,
    retry_of_run_id: Option<String>,
    summary_counts: String,
    result: String,
    approval_state: Option<String>,
    approval_by: Option<String>,
    approval_at: Option<i64>,
    approval_reason: Option<String>,
}

impl RunRow {
    pub(crate) fn into_domain(self) -> StoreResult<Run> {
        let lease = match (self.lease_owner, self.lease_token, self.lease_expires_at) {
            (Some(owner), Some(token), Some(expires)) => {
                Some(Lease { owner, token: uuid(&token)?, expires_at: Timestamp(expires) })
            }
            _ => None,
        };
        // A context that is not even JSON is kept as a string: the gate refuses it.
        let context = json(&self.context).unwrap_or(serde_json::Value::String(self.context));
        let approval = match self.approval_state.as_deref() {
            None => None,
            Some(state) => Some(Approval {
                state: parse(state, "approval state", ApprovalState::parse)?,
                by: opt_uuid(self.approval_by.as_deref())?,
                at: self.approval_at.map(Timestamp),
                reason: self.approval_reason,
            }),
        };
        Ok(Run {
            id: uuid(&self.id)?,
            op_type: parse(&self.op_type, "operation type", OperationType::parse)?,
            workspace_id: uuid(&self.workspace_id)?,
            tenant_id: opt_uuid(self.tenant_id.as_deref())?,
            status: parse(&self.status, "run status", RunStatus::parse)?,
            outcome: parse(&self.outcome, "run outcome", RunOutcome::parse)?,
            initiator_user_id: opt_uuid(self.initiator_user_id.as_deref())?,
            authority_mode: parse(&self.authority_mode, "authority mode", AuthorityKind::parse)?,
            source: self.source.as_deref().map(json).transpose()?,
            params: json(&self.params)?,
            context,
            dedupe_key: self.dedupe_key,
            attempt: u32::try_from(self.attempt).unwrap_or(0),
            max_attempts: u32::try_from(self.max_attempts).unwrap_or(1),
            run_after: Timestamp(self.run_after),
            lease,
            created_at: Timestamp(self.created_at),
            started_at: self.started_at.map(Timestamp),
            completed_at: self.completed_at.map(Timestamp),
            decision: self.decision.as_deref().map(typed).transpose()?,
            failures: typed::<Vec<Failure>>(&self.failures)?,
            retry_of_run_id: opt_uuid(self.retry_of_run_id.as_deref())?,
            summary_counts: SummaryCounts::normalize(&json(&self.summary_counts)?),
            result: json(&self.result)?,
            approval,
        })
    }
}

/// The answer to a start: the new run, or the active run it duplicates.
#[derive(Clone, Debug, PartialEq)]
pub struct Inserted {
    pub run: Run,
    pub deduplicated: bool,
}

/// Filters of the Monitoring list; `tenant_scope` limits a partially-scoped viewer.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub workspace_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    /// Only runs of these tenants (a viewer's entitlements); bulk runs over
    /// several tenants are left out, since the viewer is not entitled to all.
    pub tenant_scope: Option<Vec<Uuid>>,
    pub op_type: Option<OperationType>,
    pub status: Option<RunStatus>,
    pub outcome: Option<RunOutcome>,
    /// Only queued runs awaiting approval (SPEC §10.2).
    pub awaiting_approval: bool,
    /// A user id, or `System` for system-authority runs.
    pub initiator: Option<Initiator>,
    /// Keyset cursor: runs older than this id.
    pub before: Option<Uuid>,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Initiator {
    User(Uuid),
    System,
}

/// Builds `$n` placeholders and their bound values for dynamic filters.
pub(crate) struct Binds {
    pub(crate) values: Vec<BindValue>,
}

pub(crate) enum BindValue {
    Text(String),
    Int(i64),
}

impl Binds {
    pub(crate) fn new() -> Binds {
        Binds { values: Vec::new() }
    }

    pub(crate) fn text(&mut self, v: impl Into<String>) -> String {
        self.values.push(BindValue::Text(v.into()));
        format!("${}", self.values.len())
    }

    pub(crate) fn int(&mut self, v: i64) -> String {
        self.values.push(BindValue::Int(v));
        format!("${}", self.values.len())
    }

    pub(crate) fn list(&mut self, vs: impl IntoIterator<Item = String>) -> String {
        let ps: Vec<String> = vs.into_iter().map(|v| self.text(v)).collect();
        if ps.is_empty() {
            "NULL".into()
        } else {
            ps.join(", ")
        }
    }
}

/// Binds a `Binds` list onto a query of either dialect.
macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for v in &$binds.values {
            q = match v {
                $crate::run::BindValue::Text(s) => q.bind(s.clone()),
                $crate::run::BindValue::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}
pub(crate) use bind_all;

impl Store {
    /// Inserts a queued run and its `operation.queued` event, or — when an active
    /// run with the same dedupe key exists — returns that run, writing nothing.
    /// Without the gate's decision: tests build worlds with it (runs the start
    /// would refuse, to see the claim refuse them). Everything else starts a
    /// run with `run_start`.
    #[cfg(any(test, feature = "testkit"))]
    pub async fn run_insert(&self, run: &Run, audit: &AuditDraft) -> StoreResult<Inserted> {
        // A conflicting run can complete between our insert and our read; try again then.
        for _ in 0..3 {
            let mut tx = self.begin().await?;
            let inserted = insert_in_tx(&mut tx, run, audit).await?;
            tx.commit().await?;
            if let Some(inserted) = inserted {
                return Ok(inserted);
            }
        }
        Err(StoreError::Conflict("the run's target is changing too fast; try again".into()))
    }

    pub async fn run_get(&self, id: Uuid) -> StoreResult<Run> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM operation_runs WHERE id = $1");
        let row: Option<RunRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("run {id}")))?.into_domain()
    }

    /// Runs newest first, keyset-paginated by id (UUIDv7 ids sort by creation).
    pub async fn run_list(&self, f: &RunFilter) -> StoreResult<Vec<Run>> {
        let mut b = Binds::new();
        let mut conds: Vec<String> = Vec::new();
        if let Some(w) = f.workspace_id {
            conds.push(format!("workspace_id = {}", b.text(w.to_string())));
        }
        if let Some(t) = f.tenant_id {
            conds.push(format!("tenant_id = {}", b.text(t.to_string())));
        }
        if let Some(scope) = &f.tenant_scope {
            conds.push(format!("tenant_id IN ({})", b.list(scope.iter().map(Uuid::to_string))));
        }
        if let Some(t) = f.op_type {
            conds.push(format!("type = {}", b.text(t.as_str())));
        }
        match &f.initiator {
            Some(Initiator::User(u)) => conds.push(format!("initiator_user_id = {}", b.text(u.to_string()))),
            Some(Initiator::System) => conds.push("authority_mode = 'system_authority'".into()),
            None => {}
        }
        if let Some(before) = f.before {
            conds.push(format!("id < {}", b.text(before.to_string())));
        }
        if f.awaiting_approval {
            conds.push("approval_state = 'pending'".into());
        }
        let status = if f.awaiting_approval { Some(RunStatus::Queued) } else { f.status };
        let scoped = f.workspace_id.is_some() || f.tenant_id.is_some() || f.tenant_scope.is_some();
        let parts = crate::monitoring::life_parts(scoped, status, f.outcome);
        let limit = b.int(i64::from(f.limit.clamp(1, 500)));
        let sql = crate::monitoring::newest_sql(RUN_COLUMNS, &conds, &parts, &limit);
        let rows: Vec<RunRow> = on_db!(self.db(), |p| bind_all!(sqlx::query_as(&sql), b).fetch_all(p).await)?;
        rows.into_iter().map(RunRow::into_domain).collect()
    }

    /// Cancels a queued run at once; a running one is asked to stop at its next
    /// item (the engine honors it). Returns the run as it is after the request.
    pub async fn run_cancel(&self, id: Uuid, by: Actor) -> StoreResult<Run> {
        let mut tx = self.begin().await?;
        let run = lock_run(&mut tx, id).await?;
        let out = match run.status {
            RunStatus::Queued => {
                apply(&mut tx, &run, RunEvent::Cancel { by, counts: None }, crate::now(), None).await?
            }
            RunStatus::Running => {
                exec!(
                    &mut tx,
                    sqlx::query(
                        "UPDATE operation_runs SET cancel_requested_by = $1 WHERE id = $2 AND status = 'running'"
                    )
                    .bind(by.to_db())
                    .bind(id.to_string())
                )?;
                run
            }
            RunStatus::Completed => {
                return Err(StoreError::Conflict(format!("run {id} has already completed")));
            }
        };
        tx.commit().await?;
        Ok(out)
    }

    /// Who asked a running run to stop, if anyone.
    pub async fn run_cancel_requested(&self, id: Uuid) -> StoreResult<Option<Actor>> {
        let row: Option<(Option<String>,)> =
            on_db!(self.db(), |p| sqlx::query_as("SELECT cancel_requested_by FROM operation_runs WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(p)
                .await)?;
        Ok(row.and_then(|(by,)| by).map(|s| Actor::from_db(&s)))
    }

    /// Applies a fenced transition to a running run held under `lease_token`
    /// (completion, retry, between-item block or cancel). A lost lease is `Fenced`.
    pub async fn run_finish(&self, id: Uuid, lease_token: Uuid, event: RunEvent) -> StoreResult<Run> {
        let mut tx = self.begin().await?;
        let run = lock_run(&mut tx, id).await?;
        let held = run.status == RunStatus::Running && run.lease.as_ref().is_some_and(|l| l.token == lease_token);
        if !held {
            return Err(StoreError::Fenced);
        }
        let out = apply(&mut tx, &run, event, crate::now(), Some(lease_token)).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Extends a held lease by `lease_ms` from the database clock; `Fenced` when lost.
    pub async fn run_heartbeat(&self, id: Uuid, lease_token: Uuid, lease_ms: i64) -> StoreResult<()> {
        let now_sql = crate::db_now_sql(self.dialect());
        let sql = format!(
            "UPDATE operation_runs SET lease_expires_at = {now_sql} + $1 \
             WHERE id = $2 AND status = 'running' AND lease_token = $3"
        );
        let mut tx = self.begin().await?;
        let n =
            exec!(&mut tx, sqlx::query(&sql).bind(lease_ms * 1000).bind(id.to_string()).bind(lease_token.to_string()))?;
        tx.commit().await?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Fenced)
        }
    }
}

/// Inserts `run` or finds the active run it duplicates, inside `tx`; `None`
/// when the duplicate completed in between (the caller tries again).
pub(crate) async fn insert_in_tx(tx: &mut Tx, run: &Run, audit: &AuditDraft) -> StoreResult<Option<Inserted>> {
    let mut run = run.clone();
    let requested = crate::queue::approval::request(tx, &mut run).await?;
    if insert_runs(tx, &[&run]).await?.contains(&run.id) {
        append(tx, audit, run.created_at).await?;
        if let Some(request) = &requested {
            crate::queue::approval::announce(tx, &run, request).await?;
        }
        return Ok(Some(Inserted { run, deduplicated: false }));
    }
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM operation_runs WHERE dedupe_key = $1 AND status IN ('queued', 'running')");
    let existing: Option<RunRow> = on_tx!(tx, |c| sqlx::query_as(&sql).bind(&run.dedupe_key).fetch_optional(c).await)?;
    existing.map(|row| row.into_domain().map(|run| Inserted { run, deduplicated: true })).transpose()
}

/// Reads a run inside a write transaction, locking it on PostgreSQL (lock order: run → facts).
pub(crate) async fn lock_run(tx: &mut Tx, id: Uuid) -> StoreResult<Run> {
    let lock = match tx {
        Tx::Sqlite(_) => "",
        Tx::Postgres(_) => " FOR UPDATE",
    };
    let sql = format!("SELECT {RUN_COLUMNS} FROM operation_runs WHERE id = $1{lock}");
    let row: Option<RunRow> = on_tx!(tx, |c| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(c).await)?;
    row.ok_or_else(|| StoreError::NotFound(format!("run {id}")))?.into_domain()
}

/// Applies one core transition inside `tx`: the row (guarded so that a run
/// changed underneath, or a lease lost, writes nothing), its audit event, and
/// on completion the initiator's notification — through the one transition
/// writer, as a batch of one.
pub(crate) async fn apply(
    tx: &mut Tx,
    before: &Run,
    event: RunEvent,
    at: Timestamp,
    lease_token: Option<Uuid>,
) -> StoreResult<Run> {
    let t = Transition::new(before, event, at, lease_token)?;
    if !write_transitions(tx, [&t], at).await?.contains(&before.id) {
        return Err(StoreError::Fenced);
    }
    Ok(t.after)
}
