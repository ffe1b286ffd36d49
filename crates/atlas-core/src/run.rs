//! Operation runs and their lifecycle (SPEC §4).
//!
//! `transition` is the whole state machine: it takes a run and an event and
//! returns the new run with its audit event, or `IllegalTransition`. The store
//! writes both in one transaction; nothing else sets `status` or `outcome`.
//!
//! ```text
//!            ┌──────────── ScheduleRetry (retryable denial) ─┐
//!            ▼                                               │
//!   ──▶ queued/pending ── Start ──▶ running/pending ── Complete ──▶ completed/{succeeded,partially_succeeded,failed}
//!            │   ▲                     │  │
//!            │   └── ScheduleRetry ────┘  ├── Block (between items) ──▶ completed/{blocked,partially_succeeded,failed}
//!            ├── Block ──▶ completed/blocked
//!            └── Cancel ─▶ completed/cancelled        └── Cancel ──▶ completed/{cancelled,partially_succeeded}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::approval::Approval;
use crate::audit::{Actor, AuditDraft};
use crate::gate::{Authority, Decision, ExecutionContext};
use crate::operation::{dedupe_key, AuthorityKind, OperationType, ParamError};
use crate::params::OperationParams;
use crate::summary::{item_outcome, SummaryCounts};
use crate::timestamp::Timestamp;

pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Completed,
}

impl RunStatus {
    pub const ALL: &'static [RunStatus] = &[RunStatus::Queued, RunStatus::Running, RunStatus::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Pending,
    Succeeded,
    PartiallySucceeded,
    Failed,
    Blocked,
    Cancelled,
}

impl RunOutcome {
    pub const ALL: &'static [RunOutcome] = &[
        RunOutcome::Pending,
        RunOutcome::Succeeded,
        RunOutcome::PartiallySucceeded,
        RunOutcome::Failed,
        RunOutcome::Blocked,
        RunOutcome::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Pending => "pending",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::PartiallySucceeded => "partially_succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::Blocked => "blocked",
            RunOutcome::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunOutcome> {
        RunOutcome::ALL.iter().copied().find(|v| v.as_str() == s)
    }

    /// The outcomes a user may retry: a completed run that did not fully succeed.
    pub const RETRYABLE: &'static [RunOutcome] =
        &[RunOutcome::Failed, RunOutcome::Blocked, RunOutcome::Cancelled, RunOutcome::PartiallySucceeded];

    pub fn is_retryable(self) -> bool {
        RunOutcome::RETRYABLE.contains(&self)
    }
}

/// A worker's claim on a running run; every finishing write is fenced by it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: String,
    pub token: Uuid,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub op_type: OperationType,
    pub workspace_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub status: RunStatus,
    pub outcome: RunOutcome,
    pub initiator_user_id: Option<Uuid>,
    pub authority_mode: AuthorityKind,
    pub source: Option<Value>,
    pub params: Value,
    /// The execution context captured at enqueue (SPEC §3.1), checked by the gate.
    #[serde(skip)]
    pub context: Value,
    #[serde(skip)]
    pub dedupe_key: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub run_after: Timestamp,
    #[serde(skip)]
    pub lease: Option<Lease>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub decision: Option<Decision>,
    pub failures: Vec<Failure>,
    pub retry_of_run_id: Option<Uuid>,
    pub summary_counts: SummaryCounts,
    pub result: Value,
    /// Multi-admin approval (SPEC §10.2): `None` for a run that needs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// What a new run is made of; params must already be validated.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub op_type: OperationType,
    pub workspace_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub authority: Authority,
    pub params: Value,
    pub retry_of_run_id: Option<Uuid>,
    pub max_attempts: u32,
}

impl Run {
    /// Its parameters, typed (`Err` only for a row whose params were never validated).
    pub fn operation_params(&self) -> Result<OperationParams, ParamError> {
        OperationParams::parse(self.op_type, &self.params)
    }

    /// Whether a user may retry it: completed with a retryable outcome.
    pub fn is_retryable(&self) -> bool {
        self.status == RunStatus::Completed && self.outcome.is_retryable()
    }

    /// A freshly started run, queued, with its `operation.queued` event.
    pub fn queued(new: NewRun, id: Uuid, at: Timestamp) -> (Run, AuditDraft) {
        let ctx = ExecutionContext::capture(new.op_type, &new.authority, new.workspace_id, new.tenant_id, &new.params);
        let (initiator, source) = match &new.authority {
            Authority::Actor { user_id } => (Some(*user_id), None),
            Authority::System { source, .. } => (None, Some(source.clone())),
        };
        let run = Run {
            id,
            op_type: new.op_type,
            workspace_id: new.workspace_id,
            tenant_id: new.tenant_id,
            status: RunStatus::Queued,
            outcome: RunOutcome::Pending,
            initiator_user_id: initiator,
            authority_mode: new.authority.kind(),
            source,
            dedupe_key: dedupe_key(new.op_type, new.workspace_id, new.tenant_id, &new.params),
            params: new.params,
            context: ctx.doc,
            attempt: 0,
            max_attempts: new.max_attempts.max(1),
            run_after: at,
            lease: None,
            created_at: at,
            started_at: None,
            completed_at: None,
            decision: None,
            failures: Vec::new(),
            retry_of_run_id: new.retry_of_run_id,
            summary_counts: SummaryCounts::default(),
            result: json!({}),
            approval: None,
        };
        let actor = initiator.map_or(Actor::System, |user_id| Actor::User { user_id });
        let data = json!({
            "type": run.op_type.as_str(),
            "initiator_user_id": run.initiator_user_id,
            "authority_mode": run.authority_mode.as_str(),
            "source": run.source,
            "params": run.params,
            "retry_of_run_id": run.retry_of_run_id,
        });
        let audit = run.audit("operation.queued", actor, data);
        (run, audit)
    }

    pub fn execution_context(&self) -> ExecutionContext {
        ExecutionContext { op_type: self.op_type, doc: self.context.clone() }
    }

    pub fn is_active(&self) -> bool {
        self.status != RunStatus::Completed
    }

    fn audit(&self, action: &str, actor: Actor, mut data: Value) -> AuditDraft {
        if let Value::Object(m) = &mut data {
            m.entry("initiator_user_id").or_insert(json!(self.initiator_user_id));
            m.insert("attempt".into(), json!(self.attempt));
        }
        AuditDraft {
            action: action.to_owned(),
            actor,
            workspace_id: Some(self.workspace_id),
            tenant_id: self.tenant_id,
            subject: format!("run:{}", self.id),
            data,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    /// The gate allowed the run at claim.
    Start { decision: Decision, lease: Lease },
    /// The gate denied: at claim (final), or between items with the item counts.
    Block { decision: Decision, counts: Option<SummaryCounts> },
    /// Back to `queued`: a retryable denial at claim, a retryable failure, or a rescued lease.
    ScheduleRetry { decision: Option<Decision>, failure: Option<Failure>, run_after: Timestamp },
    /// Cancelled by a person: before it started, or between items with the counts so far.
    Cancel { by: Actor, counts: Option<SummaryCounts> },
    /// The handler finished.
    Complete { outcome: RunOutcome, counts: SummaryCounts, result: Value, failures: Vec<Failure> },
    /// Back to `queued` at once, its worker stopping (SIGTERM) before the
    /// attempt ended: the interrupted attempt is recorded but does not count.
    HandBack { failure: Failure },
}

impl RunEvent {
    pub fn name(&self) -> &'static str {
        match self {
            RunEvent::Start { .. } => "start",
            RunEvent::Block { .. } => "block",
            RunEvent::ScheduleRetry { .. } => "schedule_retry",
            RunEvent::Cancel { .. } => "cancel",
            RunEvent::Complete { .. } => "complete",
            RunEvent::HandBack { .. } => "hand_back",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal transition: {event} from {status}/{outcome}")]
pub struct IllegalTransition {
    pub status: &'static str,
    pub outcome: &'static str,
    pub event: &'static str,
}

/// The run state machine. Returns the run after the event and its audit event.
pub fn transition(run: &Run, event: RunEvent, at: Timestamp) -> Result<(Run, AuditDraft), IllegalTransition> {
    let illegal =
        || IllegalTransition { status: run.status.as_str(), outcome: run.outcome.as_str(), event: event.name() };
    if run.outcome != RunOutcome::Pending {
        return Err(illegal());
    }
    let mut next = run.clone();
    let audit = match (run.status, &event) {
        (RunStatus::Queued, RunEvent::Start { decision, lease }) if decision.allowed => {
            next.attempt = run.attempt + 1;
            next.status = RunStatus::Running;
            next.lease = Some(lease.clone());
            next.started_at = run.started_at.or(Some(at));
            next.decision = Some(decision.clone());
            next.audit("operation.started", Actor::System, json!({"decision": decision}))
        }
        (RunStatus::Queued, RunEvent::Block { decision, counts: None }) if !decision.allowed => {
            next.attempt = run.attempt + 1;
            next.status = RunStatus::Completed;
            next.outcome = RunOutcome::Blocked;
            next.completed_at = Some(at);
            next.decision = Some(decision.clone());
            next.summary_counts = if run.started_at.is_none() { SummaryCounts::default() } else { run.summary_counts };
            next.audit("operation.blocked", Actor::System, json!({"decision": decision}))
        }
        (RunStatus::Running, RunEvent::Block { decision, counts: Some(counts) })
            if !decision.allowed && counts.blocked > 0 =>
        {
            let counts = counts.recount();
            next.status = RunStatus::Completed;
            next.outcome = item_outcome(&counts, false);
            next.summary_counts = counts;
            next.completed_at = Some(at);
            next.lease = None;
            next.decision = Some(decision.clone());
            next.audit("operation.blocked", Actor::System, json!({"decision": decision, "between_items": true}))
        }
        (RunStatus::Queued, RunEvent::ScheduleRetry { decision: Some(decision), failure: None, run_after })
            if decision.retryable =>
        {
            next.attempt = run.attempt + 1;
            next.run_after = *run_after;
            next.decision = Some(decision.clone());
            next.audit(
                "operation.retry_scheduled",
                Actor::System,
                json!({"decision": decision, "run_after": run_after}),
            )
        }
        (RunStatus::Running, RunEvent::ScheduleRetry { decision: None, failure, run_after }) => {
            next.status = RunStatus::Queued;
            next.run_after = *run_after;
            next.lease = None;
            if let Some(f) = failure {
                next.failures.push(f.clone());
            }
            next.audit("operation.retry_scheduled", Actor::System, json!({"failure": failure, "run_after": run_after}))
        }
        (RunStatus::Running, RunEvent::HandBack { failure }) => {
            next.status = RunStatus::Queued;
            next.attempt = run.attempt.saturating_sub(1);
            next.run_after = at;
            next.lease = None;
            next.failures.push(failure.clone());
            next.audit(
                "operation.retry_scheduled",
                Actor::System,
                json!({"failure": failure, "run_after": at, "handed_back": true}),
            )
        }
        (RunStatus::Queued, RunEvent::Cancel { by, counts: None }) => {
            next.status = RunStatus::Completed;
            next.outcome = RunOutcome::Cancelled;
            next.completed_at = Some(at);
            next.audit("operation.cancelled", by.clone(), json!({}))
        }
        (RunStatus::Running, RunEvent::Cancel { by, counts: Some(counts) }) => {
            let counts = counts.recount();
            next.status = RunStatus::Completed;
            next.outcome = item_outcome(&counts, true);
            next.summary_counts = counts;
            next.completed_at = Some(at);
            next.lease = None;
            next.audit("operation.cancelled", by.clone(), json!({"between_items": true}))
        }
        (RunStatus::Running, RunEvent::Complete { outcome, counts, result, failures })
            if matches!(outcome, RunOutcome::Succeeded | RunOutcome::PartiallySucceeded | RunOutcome::Failed) =>
        {
            next.status = RunStatus::Completed;
            next.outcome = *outcome;
            next.summary_counts = counts.recount();
            next.result = result.clone();
            next.failures.extend(failures.iter().cloned());
            next.completed_at = Some(at);
            next.lease = None;
            next.audit(
                "operation.completed",
                Actor::System,
                json!({"outcome": outcome.as_str(), "summary_counts": next.summary_counts, "failures": failures}),
            )
        }
        _ => return Err(illegal()),
    };
    Ok((next, audit))
}

/// What a claim does with the gate's decision: start, retry later, or block.
/// A retryable denial that has used up `max_attempts` ends the run blocked.
pub fn claim_event(run: &Run, decision: Decision, lease: Lease, retry_at: Timestamp) -> RunEvent {
    if decision.allowed {
        RunEvent::Start { decision, lease }
    } else if decision.retryable && run.attempt + 1 < run.max_attempts {
        RunEvent::ScheduleRetry { decision: Some(decision), failure: None, run_after: retry_at }
    } else {
        RunEvent::Block { decision, counts: None }
    }
}

/// What a handler's failure does: another attempt while attempts are left and
/// the error is retryable, else the run fails.
pub fn failure_event(
    run: &Run,
    failure: Failure,
    retryable: bool,
    counts: SummaryCounts,
    retry_at: Timestamp,
) -> RunEvent {
    if retryable && run.attempt < run.max_attempts {
        RunEvent::ScheduleRetry { decision: None, failure: Some(failure), run_after: retry_at }
    } else {
        RunEvent::Complete { outcome: RunOutcome::Failed, counts, result: json!({}), failures: vec![failure] }
    }
}

/// An item-processing run's items after an attempt: how many failed, and
/// whether every one of them failed retryably.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemFailures {
    pub failed: u64,
    pub retryable: u64,
}

impl ItemFailures {
    /// Some items failed, and another attempt may finish every one of them.
    pub fn only_retryable(self) -> bool {
        self.failed > 0 && self.retryable == self.failed
    }
}

/// What the end of an item-processing attempt does (SPEC §3.5): when items
/// failed and every failure was retryable, the run goes back to the queue
/// while attempts are left — the next attempt passes the whole gate again
/// and runs only those items; otherwise it completes, its failures naming
/// each item's last error.
pub fn items_end_event(
    run: &Run,
    outcome: RunOutcome,
    counts: SummaryCounts,
    result: Value,
    failures: Vec<Failure>,
    items: ItemFailures,
    retry_at: Timestamp,
) -> RunEvent {
    if !items.only_retryable() || run.attempt >= run.max_attempts {
        return RunEvent::Complete { outcome, counts, result, failures };
    }
    let code = failures.first().map_or_else(|| "item_failed".to_owned(), |f| f.code.clone());
    let named: Vec<&str> = failures.iter().take(3).map(|f| f.message.as_str()).collect();
    let more = failures.len().saturating_sub(named.len());
    let mut message = format!(
        "{} of {} items failed with retryable errors; attempt {} tries them again: {}",
        items.failed,
        counts.total,
        run.attempt + 1,
        named.join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    RunEvent::ScheduleRetry { decision: None, failure: Some(Failure { code, message }), run_after: retry_at }
}

#[cfg(test)]
mod tests;
