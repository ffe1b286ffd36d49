//! Change-impact preview (SPEC §10.2): which runs an administrative change
//! would block, computed by the same gate against the facts as they would be
//! after the change, so the preview and the outcome cannot disagree.
//!
//! The caller (the store) gathers the candidates — queued runs, runs awaiting
//! approval, running item-processing runs, each with its context and current
//! facts, and the schedule slots of the next 24 hours expanded into the
//! contexts their system runs would have — and [`preview`] lists those the
//! change newly blocks: allowed by the gate before the change, denied after it.
//! A run that the gate already refuses is not affected by the change (the
//! worker blocks it either way), so it is not listed.
//!
//! Each candidate is judged as the worker will judge it next: a queued run as
//! at its claim, a running one as at its next between-items check, a run
//! awaiting approval as if it were approved (its approval is not yet due), a
//! schedule slot as at the start of its run.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::approval::{self, Approval};
use crate::capability::{CapabilitySet, Role};
use crate::gate::{
    evaluate_for, Authority, CheckedContext, ExecutionContext, Facts, MembershipFact, Purpose, ReasonCode,
};
use crate::operation::OperationType;
use crate::run::{Run, RunStatus};
use crate::tenant::{ConnectionStatus, TenantScope, TenantStatus};
use crate::timestamp::Timestamp;

/// Every administrative change that can affect legitimacy, with the values it
/// would set. The caller resolves names (a role name to its `Role`, an email
/// to a user id) exactly as applying the change does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminChange {
    /// `members set-role`.
    MemberSetRole { workspace_id: Uuid, user_id: Uuid, role: Role },
    /// `members set-scope`.
    MemberSetScope { workspace_id: Uuid, user_id: Uuid, scope: TenantScope },
    /// `members revoke`.
    MemberRevoke { workspace_id: Uuid, user_id: Uuid },
    /// `roles set`: a custom role's capabilities, for every member holding it.
    RoleSet { workspace_id: Uuid, name: String, capabilities: CapabilitySet },
    /// `users disable`.
    UserDisable { user_id: Uuid },
    /// `tenants set-status`.
    TenantSetStatus { tenant_id: Uuid, status: TenantStatus },
    /// `tenants write-gate`.
    TenantWriteGate { tenant_id: Uuid, open: bool },
    /// `tenants approval`: required or off.
    TenantApproval { tenant_id: Uuid, required: bool },
    /// `connections disable`.
    ConnectionDisable { tenant_id: Uuid },
    /// `schedules disable`.
    ScheduleDisable { schedule_id: Uuid },
}

impl AdminChange {
    /// The facts of the run with this context as they would be after the
    /// change; facts the change does not touch are returned as they are.
    pub fn apply(&self, ctx: &CheckedContext, facts: &Facts) -> Facts {
        let mut after = facts.clone();
        let initiator = match ctx.authority {
            Authority::Actor { user_id } => Some(user_id),
            Authority::System { .. } => None,
        };
        let approver = facts.approval.record.as_ref().and_then(|r| r.by);
        let is_initiator = |u: Uuid| initiator == Some(u);
        let is_approver = |u: Uuid| approver == Some(u);
        let in_workspace = |ws: Uuid| ws == ctx.workspace_id;
        match self {
            AdminChange::MemberSetRole { workspace_id, user_id, role } if in_workspace(*workspace_id) => {
                edit_memberships(&mut after, is_initiator(*user_id), is_approver(*user_id), |m| m.role = role.clone());
            }
            AdminChange::MemberSetScope { workspace_id, user_id, scope } if in_workspace(*workspace_id) => {
                edit_memberships(&mut after, is_initiator(*user_id), is_approver(*user_id), |m| {
                    m.scope = scope.clone();
                });
            }
            AdminChange::MemberRevoke { workspace_id, user_id } if in_workspace(*workspace_id) => {
                if is_initiator(*user_id) {
                    after.membership = None;
                }
                if let Some(a) = after.approval.approver.as_mut().filter(|_| is_approver(*user_id)) {
                    a.membership = None;
                }
            }
            AdminChange::RoleSet { workspace_id, name, capabilities } if in_workspace(*workspace_id) => {
                let holds = |m: &MembershipFact| matches!(&m.role, Role::Custom { name: n, .. } if n == name);
                let approver = after.approval.approver.as_mut().and_then(|a| a.membership.as_mut());
                for m in after.membership.iter_mut().chain(approver).filter(|m| holds(m)) {
                    m.role = Role::Custom { name: name.clone(), capabilities: capabilities.clone() };
                }
            }
            AdminChange::UserDisable { user_id } => {
                if let Some(i) = after.initiator.as_mut().filter(|_| is_initiator(*user_id)) {
                    i.disabled = true;
                }
                if let Some(a) = after.approval.approver.as_mut().filter(|_| is_approver(*user_id)) {
                    a.disabled = true;
                }
            }
            AdminChange::TenantSetStatus { tenant_id, status } => {
                if let Some(t) = after.tenant.as_mut().filter(|t| t.id == *tenant_id) {
                    t.status = *status;
                }
            }
            AdminChange::TenantWriteGate { tenant_id, open } => {
                if let Some(t) = after.tenant.as_mut().filter(|t| t.id == *tenant_id) {
                    t.writes_enabled = *open;
                }
            }
            AdminChange::TenantApproval { tenant_id, required } if covers(ctx, *tenant_id) => {
                if *required {
                    after.approval.required_by.insert(*tenant_id);
                } else {
                    after.approval.required_by.remove(tenant_id);
                }
            }
            AdminChange::ConnectionDisable { tenant_id } if ctx.tenant_id == Some(*tenant_id) => {
                if let Some(c) = after.connection.as_mut() {
                    c.status = ConnectionStatus::Disabled;
                }
            }
            AdminChange::ScheduleDisable { schedule_id } => {
                let started_by = matches!(ctx.authority, Authority::System { schedule_id: s, .. } if s == *schedule_id);
                if let Some(s) = after.schedule.as_mut().filter(|_| started_by) {
                    s.enabled = false;
                }
            }
            // A change in another workspace, or of a tenant the run does not cover.
            _ => {}
        }
        after
    }
}

fn edit_memberships(facts: &mut Facts, initiator: bool, approver: bool, edit: impl Fn(&mut MembershipFact)) {
    if let Some(m) = facts.membership.as_mut().filter(|_| initiator) {
        edit(m);
    }
    if let Some(m) = facts.approval.approver.as_mut().and_then(|a| a.membership.as_mut()).filter(|_| approver) {
        edit(m);
    }
}

/// The run's tenant, or one of a multi-tenant bulk run's `tenant_ids`.
fn covers(ctx: &CheckedContext, tenant_id: Uuid) -> bool {
    match ctx.tenant_id {
        Some(t) => t == tenant_id,
        None => ctx.params.bulk().is_some_and(|b| b.tenant_ids.contains(&tenant_id)),
    }
}

/// Where an affected run stands (the preview's `state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AffectedState {
    Queued,
    AwaitingApproval,
    Running,
    Scheduled,
}

impl AffectedState {
    /// The state a run is previewed in; `None` when nothing will evaluate it
    /// again (completed, or running without items to check between).
    pub fn of_run(status: RunStatus, approval: Option<&Approval>, op_type: OperationType) -> Option<AffectedState> {
        match status {
            _ if approval::is_awaiting(status, approval) => Some(AffectedState::AwaitingApproval),
            RunStatus::Queued => Some(AffectedState::Queued),
            RunStatus::Running if op_type.spec().item_processing => Some(AffectedState::Running),
            RunStatus::Running | RunStatus::Completed => None,
        }
    }

    /// The question the worker will ask of it next.
    fn purpose(self) -> Purpose {
        match self {
            AffectedState::Queued | AffectedState::Running => Purpose::Execute,
            AffectedState::AwaitingApproval | AffectedState::Scheduled => Purpose::Start,
        }
    }
}

/// What a candidate is: a run, or a schedule's future slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Run { run_id: Uuid },
    Slot { schedule_id: Uuid, slot: Timestamp },
}

/// Something the change might block, with its context and its facts now.
/// A bulk run may be given once for itself and once per unfinished item (same
/// `run_id`, the item's context and facts): it is listed once, for the first
/// of them the change blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub subject: Subject,
    pub state: AffectedState,
    pub ctx: ExecutionContext,
    pub facts: Facts,
}

impl Candidate {
    /// A stored run; `None` when nothing will evaluate it again.
    pub fn run(run: &Run, approval: Option<&Approval>, facts: Facts) -> Option<Candidate> {
        let state = AffectedState::of_run(run.status, approval, run.op_type)?;
        Some(Candidate { subject: Subject::Run { run_id: run.id }, state, ctx: run.execution_context(), facts })
    }

    /// A schedule's slot: the backup run it would start, with system authority.
    pub fn slot(schedule_id: Uuid, workspace_id: Uuid, tenant_id: Uuid, slot: Timestamp, facts: Facts) -> Candidate {
        let authority = Authority::schedule(schedule_id, slot);
        let ctx =
            ExecutionContext::capture(OperationType::BackupRun, &authority, workspace_id, Some(tenant_id), &json!({}));
        Candidate { subject: Subject::Slot { schedule_id, slot }, state: AffectedState::Scheduled, ctx, facts }
    }
}

/// One entry of `affected`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Timestamp>,
    pub state: AffectedState,
    pub reason_code: ReasonCode,
    pub message: String,
}

/// `{"preview": true, "affected": [...], "changed": false}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub preview: bool,
    pub affected: Vec<Affected>,
    pub changed: bool,
}

/// The candidates `change` newly blocks, in the order given, each with the
/// reason code and message the gate gives against the facts after it.
pub fn preview(change: &AdminChange, candidates: &[Candidate], at: Timestamp) -> Preview {
    let mut affected: Vec<Affected> = Vec::new();
    for c in candidates {
        let run_id = match c.subject {
            Subject::Run { run_id } => Some(run_id),
            Subject::Slot { .. } => None,
        };
        if run_id.is_some() && affected.iter().any(|a| a.run_id == run_id) {
            continue;
        }
        // A context that fails its integrity check is refused before and after.
        let Ok(checked) = c.ctx.check() else { continue };
        let purpose = c.state.purpose();
        // Everything previewed is judged later than its start (at a claim,
        // between items, after approval, at a slot's fire): never attempt 0,
        // so the gate words the refusal as a change ("no longer").
        let attempt = 1;
        if !evaluate_for(purpose, &c.ctx, &c.facts, at, attempt).allowed {
            continue;
        }
        let after = evaluate_for(purpose, &c.ctx, &change.apply(&checked, &c.facts), at, attempt);
        let Some(reason_code) = after.reason_code.filter(|_| !after.allowed) else { continue };
        let (schedule_id, slot) = match c.subject {
            Subject::Slot { schedule_id, slot } => (Some(schedule_id), Some(slot)),
            Subject::Run { .. } => (None, None),
        };
        affected.push(Affected { run_id, schedule_id, slot, state: c.state, reason_code, message: after.message });
    }
    Preview { preview: true, affected, changed: false }
}

/// One line for the console's confirmation step: "This change will block 3
/// queued runs and the next 2 scheduled backups."
pub fn summary(preview: &Preview) -> String {
    let count = |state| preview.affected.iter().filter(|a| a.state == state).count();
    let runs = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut blocked = Vec::new();
    match count(AffectedState::Queued) {
        0 => {}
        n => blocked.push(runs(n, "queued run")),
    }
    match count(AffectedState::AwaitingApproval) {
        0 => {}
        1 => blocked.push("1 run awaiting approval".to_owned()),
        n => blocked.push(format!("{n} runs awaiting approval")),
    }
    match count(AffectedState::Scheduled) {
        0 => {}
        1 => blocked.push("the next scheduled backup".to_owned()),
        n => blocked.push(format!("the next {n} scheduled backups")),
    }
    let stopped = match count(AffectedState::Running) {
        0 => None,
        n => Some(format!("stop {}", runs(n, "running run"))),
    };
    match (join_and(&blocked), stopped) {
        (None, None) => "This change will not block any run or scheduled backup.".to_owned(),
        (Some(b), None) => format!("This change will block {b}."),
        (None, Some(s)) => format!("This change will {s}."),
        (Some(b), Some(s)) if blocked.len() > 1 => format!("This change will block {b}, and {s}."),
        (Some(b), Some(s)) => format!("This change will block {b} and {s}."),
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(parts: &[String]) -> Option<String> {
    let (last, rest) = parts.split_last()?;
    Some(if rest.is_empty() { last.clone() } else { format!("{} and {last}", rest.join(", ")) })
}

#[cfg(test)]
mod tests;
