//! Batched run writes (ARCHITECTURE.md, "Batch the queue's database work"):
//! many runs' transitions, audit events and notifications written with a few
//! multi-row statements in one transaction, instead of one transaction each.
//!
//! Batching never merges runs: each run's new row still comes from its own
//! core `transition`, each row update is still guarded by the run's status,
//! attempt and lease token (a run whose guard fails writes nothing, not even
//! its audit event), and each run gets its own audit event and notification.
//!
//! The statements are `multirow` ones: their rows come from a CTE `v`.

use std::collections::{HashMap, HashSet};

use atlas_core::approval::Approval;
use atlas_core::audit::AuditDraft;
use atlas_core::run::{transition, Run, RunEvent, RunStatus};
use atlas_core::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::audit::append_many;
use crate::multirow::{fetch, int, opt_text, text, Kind, Rows, Val};
use crate::notification::notify_many;
use crate::run::{RunRow, RUN_COLUMNS};
use crate::{Db, Store, StoreError, StoreResult, Tx};

/// The most runs one batched transaction carries: keeps SQLite's bind count
/// (at most 32,766) in range and its single writer lock short.
pub const MAX_BATCH: usize = 512;

/// Several runs' rows by id, as they are now, without locking them.
pub(crate) async fn read_runs(store: &Store, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Run>> {
    const COLS: &[(&str, Kind)] = &[("id", Kind::Text)];
    let mut rows = Rows::new(COLS);
    for id in ids.iter().collect::<HashSet<_>>() {
        rows.push([text(id.to_string())]);
    }
    let body = format!("SELECT {RUN_COLUMNS} FROM operation_runs WHERE id IN (SELECT id FROM v)");
    // A deferred transaction: on SQLite a plain read, not the writer lock.
    let mut tx = match store.db() {
        Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
        Db::Postgres(p) => Tx::Postgres(p.begin().await?),
    };
    let found: Vec<RunRow> = fetch(&mut tx, rows, &body).await?;
    tx.commit().await?;
    found.into_iter().map(|r| r.into_domain().map(|run| (run.id, run))).collect()
}

/// One run's transition, computed by the core, to be written in a batch.
pub(crate) struct Transition {
    /// The status and attempt the row must still have (the guard); of the
    /// row before, nothing else is needed.
    pub(crate) before: (RunStatus, u32),
    pub(crate) after: Run,
    pub(crate) audit: AuditDraft,
    /// The lease the row must still hold (finishing writes); `None` at claim.
    pub(crate) fence: Option<Uuid>,
    /// The columns of `RUN_SET` this transition needs written: those it
    /// changes and the `Always` ones (bit i: `RUN_SET[i]`).
    changed: u32,
}

impl Transition {
    pub(crate) fn new(before: &Run, event: RunEvent, at: Timestamp, fence: Option<Uuid>) -> StoreResult<Transition> {
        let (after, audit) = transition(before, event, at)?;
        Ok(Transition::from_parts(before, after, audit, fence))
    }

    /// An approval decision on a queued run (`queue::approval`): the record
    /// alone (an approval), or the record and the run's block (a rejection,
    /// `event`), as one guarded write with the decision's audit event first.
    pub(crate) fn approval(
        before: &Run,
        approval: Approval,
        event: Option<RunEvent>,
        at: Timestamp,
    ) -> StoreResult<(Transition, AuditDraft)> {
        let decided = Run { approval: Some(approval.clone()), ..before.clone() };
        let decision_audit = atlas_core::approval::audit(before, &approval);
        let (after, audit) = match event {
            Some(event) => transition(&decided, event, at)?,
            None => (decided, decision_audit.clone()),
        };
        Ok((Transition::from_parts(before, after, audit, None), decision_audit))
    }

    fn from_parts(before: &Run, after: Run, audit: AuditDraft, fence: Option<Uuid>) -> Transition {
        let changed = (RUN_SET.iter().enumerate())
            .filter(|(_, c)| match c.written {
                Written::Always => true,
                Written::IfChanged(differs) => differs(before, &after),
            })
            .fold(0, |mask, (i, _)| mask | 1 << i);
        Transition { before: (before.status, before.attempt), after, audit, fence, changed }
    }
}

/// A run column a transition may write.
struct SetColumn {
    name: &'static str,
    kind: Kind,
    written: Written,
    value: fn(&Run) -> Val,
}

/// When a batch writes a column.
enum Written {
    /// Whatever the transitions: a column that others than the run service
    /// write between transitions (the lease holder's progress counts and
    /// heartbeats), which a row read before the write may not show.
    Always,
    /// When some transition of the batch changes it (before, after).
    IfChanged(fn(&Run, &Run) -> bool),
}

/// Every column a transition may write. A batch writes those that some of
/// its transitions change, and the `Always` ones: every other column only a
/// transition writes, and the guard (status, attempt, lease token) makes
/// sure no other transition came between the row's read and its write, so
/// those columns still hold the values the transition started from. Fewer
/// columns are fewer values to encode and send (a finish no longer sends
/// the decision of its claim back).
const RUN_SET: &[SetColumn] = &[
    SetColumn {
        name: "status",
        kind: Kind::Text,
        written: Written::IfChanged(|b, a| b.status != a.status),
        value: |a| text(a.status.as_str()),
    },
    SetColumn {
        name: "outcome",
        kind: Kind::Text,
        written: Written::IfChanged(|b, a| b.outcome != a.outcome),
        value: |a| text(a.outcome.as_str()),
    },
    SetColumn {
        name: "attempt",
        kind: Kind::Int,
        written: Written::IfChanged(|b, a| b.attempt != a.attempt),
        value: |a| int(a.attempt),
    },
    SetColumn {
        name: "run_after",
        kind: Kind::Int,
        written: Written::IfChanged(|b, a| b.run_after != a.run_after),
        value: |a| int(a.run_after.0),
    },
    SetColumn {
        name: "lease_owner",
        kind: Kind::Text,
        written: Written::Always,
        value: |a| opt_text(a.lease.as_ref().map(|l| l.owner.clone())),
    },
    SetColumn {
        name: "lease_token",
        kind: Kind::Text,
        written: Written::Always,
        value: |a| opt_text(a.lease.as_ref().map(|l| l.token.to_string())),
    },
    SetColumn {
        name: "lease_expires_at",
        kind: Kind::Int,
        written: Written::Always,
        value: |a| Val::Int(a.lease.as_ref().map(|l| l.expires_at.0)),
    },
    SetColumn {
        name: "started_at",
        kind: Kind::Int,
        written: Written::IfChanged(|b, a| b.started_at != a.started_at),
        value: |a| Val::Int(a.started_at.map(|t| t.0)),
    },
    SetColumn {
        name: "completed_at",
        kind: Kind::Int,
        written: Written::IfChanged(|b, a| b.completed_at != a.completed_at),
        value: |a| Val::Int(a.completed_at.map(|t| t.0)),
    },
    SetColumn {
        name: "decision",
        kind: Kind::Text,
        written: Written::IfChanged(|b, a| b.decision != a.decision),
        value: |a| opt_text(a.decision.as_ref().map(to_text)),
    },
    SetColumn {
        name: "failures",
        kind: Kind::Text,
        written: Written::IfChanged(|b, a| b.failures != a.failures),
        value: |a| text(to_text(&a.failures)),
    },
    SetColumn {
        name: "summary_counts",
        kind: Kind::Text,
        written: Written::Always,
        value: |a| text(to_text(&a.summary_counts)),
    },
    SetColumn {
        name: "result",
        kind: Kind::Text,
        written: Written::IfChanged(|b, a| b.result != a.result),
        value: |a| text(to_text(&a.result)),
    },
    SetColumn {
        name: "approval_state",
        kind: Kind::Text,
        written: Written::IfChanged(|b, a| b.approval != a.approval),
        value: |a| opt_text(a.approval.as_ref().map(|x| x.state.as_str())),
    },
    SetColumn {
        name: "approval_by",
        kind: Kind::Text,
        written: Written::IfChanged(|b, a| b.approval != a.approval),
        value: |a| opt_text(a.approval.as_ref().and_then(|x| x.by).map(|u| u.to_string())),
    },
    SetColumn {
        name: "approval_at",
        kind: Kind::Int,
        written: Written::IfChanged(|b, a| b.approval != a.approval),
        value: |a| Val::Int(a.approval.as_ref().and_then(|x| x.at).map(|t| t.0)),
    },
    SetColumn {
        name: "approval_reason",
        kind: Kind::Text,
        written: Written::IfChanged(|b, a| b.approval != a.approval),
        value: |a| opt_text(a.approval.as_ref().and_then(|x| x.reason.clone())),
    },
];

/// The guarded update of the columns in `set`. The guard is `run::apply`'s: a
/// run changed underneath, or whose lease was lost, matches no row. Each `v`
/// value is compared on PostgreSQL plainly (a nested loop over the primary
/// key); SQLite through an expression (`|| ''`, `+ 0`) so that no index can
/// be built on it: from about 250 rows on, SQLite 3.46 would otherwise scan
/// the whole run table and probe an automatic index on `v`, instead of
/// looking each run up by id. The same expressions would make PostgreSQL
/// hash-join the whole run table.
fn run_update_sql(sqlite: bool, set: &[&SetColumn]) -> String {
    let (t, i) = if sqlite { (" || ''", " + 0") } else { ("", "") };
    let assignments: Vec<String> = set.iter().map(|c| format!("{0} = v.{0}", c.name)).collect();
    format!(
        "UPDATE operation_runs SET {} \
         FROM v WHERE operation_runs.id = v.id{t} AND operation_runs.status = v.b_status{t} \
         AND operation_runs.attempt = v.b_attempt{i} AND COALESCE(operation_runs.lease_token, '') = v.b_token{t} \
         RETURNING operation_runs.id",
        assignments.join(", ")
    )
}

/// Writes each transition's row (guarded), then the audit events and
/// notifications of the rows that were written. Returns the ids written;
/// a run missing from it wrote nothing (its guard failed: `Fenced`).
/// Every run must appear at most once.
pub(crate) async fn write_transitions<'a>(
    tx: &mut Tx,
    items: impl IntoIterator<Item = &'a Transition>,
    at: Timestamp,
) -> StoreResult<HashSet<Uuid>> {
    let items: Vec<&Transition> = items.into_iter().collect();
    if items.is_empty() {
        return Ok(HashSet::new());
    }
    let changed = items.iter().fold(0, |mask, t| mask | t.changed);
    let set: Vec<&SetColumn> =
        RUN_SET.iter().enumerate().filter(|(i, _)| changed & 1 << i != 0).map(|(_, c)| c).collect();
    let mut cols = vec![("id", Kind::Text)];
    cols.extend(set.iter().map(|c| (c.name, c.kind)));
    cols.extend([("b_status", Kind::Text), ("b_attempt", Kind::Int), ("b_token", Kind::Text)]);
    let mut rows = Rows::new(cols);
    for t in &items {
        let a = &t.after;
        let row = std::iter::once(text(a.id.to_string())).chain(set.iter().map(|c| (c.value)(a))).chain([
            text(t.before.0.as_str()),
            int(t.before.1),
            text(t.fence.map(|f| f.to_string()).unwrap_or_default()),
        ]);
        rows.push(row);
    }
    let sql = run_update_sql(matches!(tx, Tx::Sqlite(_)), &set);
    let written: Vec<(String,)> = fetch(tx, rows, &sql).await?;
    let written: HashSet<Uuid> = written.iter().filter_map(|(id,)| Uuid::parse_str(id).ok()).collect();
    let done: Vec<&Transition> = items.iter().copied().filter(|t| written.contains(&t.after.id)).collect();
    #[cfg(any(test, feature = "testkit"))]
    for t in &done {
        crate::testkit::fail_point_after_row(t.after.id)?;
    }
    append_many(tx, done.iter().map(|t| (&t.audit, at))).await?;
    let completed: Vec<&Run> = done.iter().map(|t| &t.after).filter(|r| r.status == RunStatus::Completed).collect();
    notify_many(tx, &completed, at).await?;
    Ok(written)
}

fn to_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A fenced finishing write, as `Store::run_finish` takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finish {
    pub run_id: Uuid,
    pub lease_token: Uuid,
    pub event: RunEvent,
    /// The run as its lease holder claimed it, to finish from without reading
    /// the row again — used only for a `Complete` event, which sets every
    /// column that anyone but the claim may have written since (the counts,
    /// the lease). The guarded update still fences it.
    pub claimed: Option<Box<Run>>,
}

impl Finish {
    pub fn new(run_id: Uuid, lease_token: Uuid, event: RunEvent) -> Finish {
        Finish { run_id, lease_token, event, claimed: None }
    }

    /// The run as claimed, when it can stand in for the row (see `claimed`).
    pub(crate) fn known_before(&self) -> Option<&Run> {
        let usable = matches!(self.event, RunEvent::Complete { .. });
        self.claimed.as_deref().filter(|r| usable && r.id == self.run_id && r.status == RunStatus::Running)
    }
}

const RUN_INSERT_COLS: &[(&str, Kind)] = &[
    ("id", Kind::Text),
    ("workspace_id", Kind::Text),
    ("tenant_id", Kind::Text),
    ("type", Kind::Text),
    ("status", Kind::Text),
    ("outcome", Kind::Text),
    ("initiator_user_id", Kind::Text),
    ("authority_mode", Kind::Text),
    ("source", Kind::Text),
    ("params", Kind::Text),
    ("context", Kind::Text),
    ("dedupe_key", Kind::Text),
    ("attempt", Kind::Int),
    ("max_attempts", Kind::Int),
    ("run_after", Kind::Int),
    ("created_at", Kind::Int),
    ("failures", Kind::Text),
    ("retry_of_run_id", Kind::Text),
    ("summary_counts", Kind::Text),
    ("result", Kind::Text),
    ("approval_state", Kind::Text),
];

impl Store {
    /// `run_finish` for many runs in one transaction. Each item gets exactly
    /// the answer `run_finish` would give it alone: its new row, `Fenced` when
    /// its lease is lost, `Illegal` for an illegal transition, `NotFound`.
    /// Should the batch itself fail (a database error), every item is retried
    /// on its own, so one run's trouble never decides another's.
    pub async fn run_finish_many(&self, items: Vec<Finish>) -> Vec<StoreResult<Run>> {
        let mut out: Vec<Option<StoreResult<Run>>> = items.iter().map(|_| None).collect();
        // A run twice in one batch would have both writes computed from the
        // same row; the repeats go one at a time afterwards, as they would alone.
        let mut seen = HashSet::new();
        let (first, repeats): (Vec<usize>, Vec<usize>) = (0..items.len()).partition(|&i| seen.insert(items[i].run_id));
        for chunk in first.chunks(MAX_BATCH) {
            let batch: Vec<&Finish> = chunk.iter().map(|&i| &items[i]).collect();
            match self.finish_batch(&batch).await {
                Ok(results) => {
                    for (&i, r) in chunk.iter().zip(results) {
                        out[i] = Some(r);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, runs = chunk.len(), "batched finish failed; finishing one at a time");
                    for &i in chunk {
                        let f = &items[i];
                        out[i] = Some(self.run_finish(f.run_id, f.lease_token, f.event.clone()).await);
                    }
                }
            }
        }
        for i in repeats {
            let f = &items[i];
            out[i] = Some(self.run_finish(f.run_id, f.lease_token, f.event.clone()).await);
        }
        out.into_iter().map(|r| r.unwrap_or(Err(StoreError::Fenced))).collect()
    }

    async fn finish_batch(&self, items: &[&Finish]) -> StoreResult<Vec<StoreResult<Run>>> {
        // The rows are read before the write transaction and not locked: each
        // update below lands only where the run is still running under the
        // same attempt and lease token, and while it is, no one but the lease
        // holder (finishing here) writes the columns its transition reads.
        // So the write transaction (on SQLite, the one writer lock) holds no
        // read of wide rows, and PostgreSQL writes no row lock before the update.
        let ids: Vec<Uuid> = items.iter().filter(|f| f.known_before().is_none()).map(|f| f.run_id).collect();
        let read = if ids.is_empty() { HashMap::new() } else { read_runs(self, &ids).await? };
        let at = crate::now();
        // Per item: its transition's place in `writes`, or why it has none.
        let mut results: Vec<StoreResult<usize>> = Vec::with_capacity(items.len());
        let mut writes = Vec::with_capacity(items.len());
        for f in items {
            let Some(run) = f.known_before().or_else(|| read.get(&f.run_id)) else {
                results.push(Err(StoreError::NotFound(format!("run {}", f.run_id))));
                continue;
            };
            let held = run.status == RunStatus::Running && run.lease.as_ref().is_some_and(|l| l.token == f.lease_token);
            if !held {
                results.push(Err(StoreError::Fenced));
                continue;
            }
            match Transition::new(run, f.event.clone(), at, Some(f.lease_token)) {
                Ok(t) => {
                    results.push(Ok(writes.len()));
                    writes.push(Some(t));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let mut tx = self.begin().await?;
        let written = write_transitions(&mut tx, writes.iter().flatten(), at).await?;
        tx.commit().await?;
        Ok(results
            .into_iter()
            .map(|r| {
                let t = writes[r?].take().ok_or(StoreError::Fenced)?;
                if written.contains(&t.after.id) {
                    Ok(t.after)
                } else {
                    Err(StoreError::Fenced)
                }
            })
            .collect())
    }

    /// Queues many runs at once without the start's decision (the throughput
    /// harness and tests): each run with its own `operation.queued` event, in
    /// one transaction per `MAX_BATCH` runs. A run whose dedupe key has an
    /// active run is skipped, as `run_insert` would return that run. Returns
    /// the ids inserted.
    #[cfg(any(test, feature = "testkit"))]
    pub async fn run_insert_many(&self, runs: &[(Run, AuditDraft)]) -> StoreResult<Vec<Uuid>> {
        let mut inserted = Vec::with_capacity(runs.len());
        for chunk in runs.chunks(MAX_BATCH) {
            let mut tx = self.begin().await?;
            let ids = insert_runs(&mut tx, &chunk.iter().map(|(r, _)| r).collect::<Vec<_>>()).await?;
            let mine: Vec<&(Run, AuditDraft)> = chunk.iter().filter(|(r, _)| ids.contains(&r.id)).collect();
            append_many(&mut tx, mine.iter().map(|(run, audit)| (audit, run.created_at))).await?;
            tx.commit().await?;
            inserted.extend(mine.iter().map(|(r, _)| r.id));
        }
        Ok(inserted)
    }
}

/// Inserts `runs` inside `tx`, each unless its dedupe key has an active run:
/// the one way runs are inserted (a single start is a batch of one). Returns
/// the ids inserted.
pub(crate) async fn insert_runs(tx: &mut Tx, runs: &[&Run]) -> StoreResult<HashSet<Uuid>> {
    let mut rows = Rows::new(RUN_INSERT_COLS);
    for run in runs {
        rows.push([
            text(run.id.to_string()),
            text(run.workspace_id.to_string()),
            opt_text(run.tenant_id.map(|t| t.to_string())),
            text(run.op_type.as_str()),
            text(run.status.as_str()),
            text(run.outcome.as_str()),
            opt_text(run.initiator_user_id.map(|u| u.to_string())),
            text(run.authority_mode.as_str()),
            opt_text(run.source.as_ref().map(to_text)),
            text(to_text(&run.params)),
            text(to_text(&run.context)),
            text(run.dedupe_key.as_str()),
            int(run.attempt),
            int(run.max_attempts),
            int(run.run_after.0),
            int(run.created_at.0),
            text(to_text(&run.failures)),
            opt_text(run.retry_of_run_id.map(|r| r.to_string())),
            text(to_text(&run.summary_counts)),
            text(to_text(&run.result)),
            // A run is inserted pending or with no approval; a decision comes later.
            opt_text(run.approval.as_ref().map(|a| a.state.as_str())),
        ]);
    }
    let names: Vec<&str> = RUN_INSERT_COLS.iter().map(|(n, _)| *n).collect();
    let body = format!(
        "INSERT INTO operation_runs ({0}) SELECT {0} FROM v WHERE true \
         ON CONFLICT (dedupe_key) WHERE status IN ('queued', 'running') DO NOTHING RETURNING id",
        names.join(", ")
    );
    let ids: Vec<(String,)> = fetch(tx, rows, &body).await?;
    Ok(ids.iter().filter_map(|(id,)| Uuid::parse_str(id).ok()).collect())
}
