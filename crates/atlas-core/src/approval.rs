//! Multi-admin approval of writing runs (SPEC §10.2): the approval record a
//! run carries, the one rule for who may approve or reject it (also the
//! approvers a request is announced to), and the gate's `approval` check.
//!
//! A writing run on a tenant with `approval_required` is started with a
//! `pending` record and is not claimed until another member approves it. At
//! every execution-time evaluation (claim, retry, bulk item, between items) the
//! gate checks the approval again: the approver must still stand where the
//! approval rule would let them approve now, and the approval must be younger
//! than its validity when the run first starts.
//!
//! Once a run carries a record, the check applies to it whatever the tenant's
//! setting is now: turning the requirement off neither approves a pending run
//! nor revives a rejected one, and an approved run stays bound to its approver.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::access::{self, Access, Viewer};
use crate::audit::{Actor, AuditDraft};
use crate::capability::{Capability, Role};
use crate::gate::{CheckedContext, MembershipFact, Purpose, ReasonCode};
use crate::operation::OperationType;
use crate::params::OperationParams;
use crate::run::{Run, RunStatus};
use crate::tenant::TenantScope;
use crate::timestamp::Timestamp;

/// `ATLAS_APPROVAL_VALIDITY_MS` when unset: 24 hours.
pub const DEFAULT_VALIDITY_MS: i64 = 86_400_000;
/// The longest rejection reason, in characters.
pub const MAX_REASON_CHARS: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
}

impl ApprovalState {
    pub const ALL: &'static [ApprovalState] =
        &[ApprovalState::Pending, ApprovalState::Approved, ApprovalState::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalState> {
        ApprovalState::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

/// The run's `approval`: `{"state", "by", "at", "reason"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub state: ApprovalState,
    #[serde(default)]
    pub by: Option<Uuid>,
    #[serde(default)]
    pub at: Option<Timestamp>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl Approval {
    /// The record a run is started with when its tenant requires approval.
    pub fn pending() -> Approval {
        Approval { state: ApprovalState::Pending, by: None, at: None, reason: None }
    }

    pub fn is_pending(&self) -> bool {
        self.state == ApprovalState::Pending
    }
}

/// A queued run waiting for its approval: not claimable, shown as "Awaiting approval".
pub fn is_awaiting(status: RunStatus, approval: Option<&Approval>) -> bool {
    status == RunStatus::Queued && approval.is_some_and(Approval::is_pending)
}

/// What the gate needs to judge a run's approval, loaded with the other facts.
/// The default requires no approval: today's behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalFacts {
    /// The run's tenants whose `approval_required` is set now: its tenant, or
    /// for a bulk run over several tenants those of its `tenant_ids`.
    pub required_by: BTreeSet<Uuid>,
    /// The run's approval record as stored (`None`: it carries none).
    pub record: Option<Approval>,
    /// The user named by `record.by`, as they stand now (`None`: no such user,
    /// or the record names nobody).
    pub approver: Option<ApproverFact>,
    /// `ATLAS_APPROVAL_VALIDITY_MS`.
    pub validity_ms: i64,
    /// When the run first started (`None`: it has not). The approval's age is
    /// judged then: an approval valid at the start carries a long run to its
    /// end, while the approver's standing is still checked between items.
    pub run_started_at: Option<Timestamp>,
}

impl Default for ApprovalFacts {
    fn default() -> ApprovalFacts {
        ApprovalFacts {
            required_by: BTreeSet::new(),
            record: None,
            approver: None,
            validity_ms: DEFAULT_VALIDITY_MS,
            run_started_at: None,
        }
    }
}

impl ApprovalFacts {
    pub fn required(&self) -> bool {
        !self.required_by.is_empty()
    }
}

/// The approver as they stand now.
#[derive(Clone, Debug, PartialEq)]
pub struct ApproverFact {
    pub display_name: String,
    pub disabled: bool,
    /// Their membership of the run's workspace (`None`: not a member).
    pub membership: Option<MembershipFact>,
}

/// Whether the `approval` check applies: a writing, actor-bound run whose
/// tenant requires approval, or that already carries an approval record.
pub fn applies(checked: &CheckedContext, facts: &ApprovalFacts) -> bool {
    checked.writes && (facts.required() || facts.record.is_some())
}

/// Whether a run being started needs a `pending` approval record
/// ([`Approval::pending`]) and an `operation.approval_requested` event.
pub fn needs_request(checked: &CheckedContext, facts: &ApprovalFacts) -> bool {
    checked.writes && facts.required()
}

/// The capabilities an approver must hold: the type's, and for a bulk run also
/// its items' (each item is gated again with its own capability).
pub fn approver_capabilities(op_type: OperationType, params: &serde_json::Value) -> Vec<Capability> {
    let mut caps = vec![op_type.spec().capability];
    let params = OperationParams::parse(op_type, params);
    if let Some(bulk) = params.as_ref().ok().and_then(OperationParams::bulk) {
        caps.push(bulk.operation.spec().capability);
    }
    caps.dedup();
    caps
}

/// Why someone may not approve (or no longer stands behind an approval).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Standing {
    Disabled,
    NotMember,
    NotEntitled,
    Lacks(Capability),
}

/// The one standing rule: not disabled, a member of the workspace, entitled to
/// every tenant of the run, and a role that grants every capability.
fn standing(
    disabled: bool,
    member: Option<(&Role, &TenantScope)>,
    tenants: &[Uuid],
    caps: &[Capability],
) -> Result<(), Standing> {
    if disabled {
        return Err(Standing::Disabled);
    }
    let Some((role, scope)) = member else { return Err(Standing::NotMember) };
    if !tenants.iter().all(|t| scope.includes(*t)) {
        return Err(Standing::NotEntitled);
    }
    match caps.iter().find(|c| !role.grants(**c)) {
        Some(c) => Err(Standing::Lacks(*c)),
        None => Ok(()),
    }
}

/// A workspace member as the approval rule sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub viewer: Viewer,
    pub disabled: bool,
}

impl Member {
    /// Whether this member may decide on `run` (ignoring its approval state).
    fn standing(&self, run: &Run) -> Result<(), Standing> {
        let caps = approver_capabilities(run.op_type, &run.params);
        let v = &self.viewer;
        standing(self.disabled, Some((&v.role, &v.scope)), &access::run_tenants(run), &caps)
    }
}

/// The members an `approval_requested` notification goes to: everyone who
/// could approve the run now, never its initiator.
pub fn eligible_approvers<'a>(run: &Run, members: impl IntoIterator<Item = &'a Member>) -> Vec<Uuid> {
    members
        .into_iter()
        .filter(|m| run.initiator_user_id != Some(m.viewer.user_id) && m.standing(run).is_ok())
        .map(|m| m.viewer.user_id)
        .collect()
}

/// What a member decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject { reason: Option<String> },
}

/// Why an approval or rejection is refused; nothing changes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// Not a member, or the run is outside their scope: 404 like any hidden run.
    #[error("run not found")]
    NotFound,
    /// The initiator: 403 / exit 4.
    #[error("you cannot approve or reject your own run; another member must")]
    OwnRun,
    /// In scope but not allowed (disabled, or lacking a capability): 403 / exit 4.
    #[error("{0}")]
    Forbidden(String),
    /// Not queued and awaiting approval (never needed one, already decided,
    /// completed): 409 / exit 5.
    #[error("{0}")]
    NotPending(String),
    /// A rejection reason over [`MAX_REASON_CHARS`]: 422 / exit 2.
    #[error("the reason is {0} characters long; at most 1000 are allowed")]
    ReasonTooLong(usize),
}

/// Approves or rejects a run: the record it carries afterwards. The run must
/// be queued and awaiting approval; the member must not be its initiator and
/// must stand as an approver (not disabled, entitled to the run's tenants,
/// holding [`approver_capabilities`]). Checked in that order, after visibility,
/// like cancel: hidden → not pending → own run → not allowed → bad reason.
pub fn decide(
    member: Option<&Member>,
    run: &Run,
    approval: Option<&Approval>,
    verdict: &Verdict,
    at: Timestamp,
) -> Result<Approval, ApprovalError> {
    let Some(m) = member else { return Err(ApprovalError::NotFound) };
    if access::check(Some(&m.viewer), &access::run_tenants(run), Capability::WorkspaceView) == Access::NotFound {
        return Err(ApprovalError::NotFound);
    }
    if !is_awaiting(run.status, approval) {
        let why = match approval.map(|a| a.state) {
            _ if run.status == RunStatus::Completed => format!("run {} has already completed", run.id),
            None => format!("run {} does not need an approval", run.id),
            Some(state) => format!("run {} is already {}", run.id, state.as_str()),
        };
        return Err(ApprovalError::NotPending(why));
    }
    if run.initiator_user_id == Some(m.viewer.user_id) {
        return Err(ApprovalError::OwnRun);
    }
    match m.standing(run) {
        Ok(()) => {}
        Err(Standing::Lacks(c)) => return Err(ApprovalError::Forbidden(format!("approving this run needs {c}"))),
        Err(Standing::Disabled) => return Err(ApprovalError::Forbidden("a disabled user cannot approve runs".into())),
        // Visibility above already answered for these.
        Err(Standing::NotMember | Standing::NotEntitled) => return Err(ApprovalError::NotFound),
    }
    let by = Some(m.viewer.user_id);
    match verdict {
        Verdict::Approve => Ok(Approval { state: ApprovalState::Approved, by, at: Some(at), reason: None }),
        Verdict::Reject { reason } => {
            let reason = reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
            if let Some(len) = reason.map(|r| r.chars().count()).filter(|n| *n > MAX_REASON_CHARS) {
                return Err(ApprovalError::ReasonTooLong(len));
            }
            let reason = reason.map(str::to_owned);
            Ok(Approval { state: ApprovalState::Rejected, by, at: Some(at), reason })
        }
    }
}

/// Whether this viewer may approve or reject the run now (the run JSON's
/// `actions.approve` / `actions.reject`).
pub fn can_decide(member: Option<&Member>, run: &Run, approval: Option<&Approval>, at: Timestamp) -> bool {
    decide(member, run, approval, &Verdict::Approve, at).is_ok()
}

/// The audit event of a request (`operation.approval_requested`, by the
/// initiator) or a decision (`operation.approved` / `operation.rejected`, by
/// the approver), written with the change of the record.
pub fn audit(run: &Run, approval: &Approval) -> AuditDraft {
    let (action, actor) = match (approval.state, approval.by) {
        (ApprovalState::Approved, Some(user_id)) => ("operation.approved", Actor::User { user_id }),
        (ApprovalState::Rejected, Some(user_id)) => ("operation.rejected", Actor::User { user_id }),
        (ApprovalState::Approved, None) => ("operation.approved", Actor::System),
        (ApprovalState::Rejected, None) => ("operation.rejected", Actor::System),
        (ApprovalState::Pending, _) => {
            let actor = run.initiator_user_id.map_or(Actor::System, |user_id| Actor::User { user_id });
            ("operation.approval_requested", actor)
        }
    };
    AuditDraft {
        action: action.to_owned(),
        actor,
        workspace_id: Some(run.workspace_id),
        tenant_id: run.tenant_id,
        subject: format!("run:{}", run.id),
        data: json!({"approval": approval, "initiator_user_id": run.initiator_user_id, "type": run.op_type}),
    }
}

/// A failed `approval` check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Denial {
    pub reason: ReasonCode,
    pub detail: Option<String>,
    pub message: String,
}

fn deny(reason: ReasonCode, detail: Option<String>, message: String) -> Denial {
    Denial { reason, detail, message }
}

/// The gate's `approval` check for an actor-bound run (SPEC §10.2): `None`
/// when it does not apply, else the pass detail or the denial.
///
/// At `Purpose::Start` (a start, or a preview of a run awaiting approval) a
/// missing or pending approval passes: it is requested, not yet due. At
/// execution it is `approval_missing`, final like every denial but
/// `evaluation_unavailable` (the claim skips pending runs; the gate meeting one
/// means the queue broke its rule, and it fails closed).
pub(crate) fn check(
    checked: &CheckedContext,
    initiator: Uuid,
    tenant_name: &str,
    facts: &ApprovalFacts,
    purpose: Purpose,
    at: Timestamp,
) -> Option<Result<&'static str, Denial>> {
    if !applies(checked, facts) {
        return None;
    }
    let Some(record) = &facts.record else {
        return Some(match purpose {
            Purpose::Start => Ok("requested"),
            Purpose::Execute => {
                let who = if checked.tenant_id.is_some() { tenant_name } else { "One of this run's tenants" };
                let message = format!("{who} requires an approval for this run, and it has none.");
                Err(deny(ReasonCode::ApprovalMissing, None, message))
            }
        });
    };
    let name = facts.approver.as_ref().map(|a| a.display_name.as_str());
    Some(match record.state {
        ApprovalState::Pending => match purpose {
            Purpose::Start => Ok("pending"),
            Purpose::Execute => {
                let message = "This run is still awaiting approval.".to_owned();
                Err(deny(ReasonCode::ApprovalMissing, Some("pending".into()), message))
            }
        },
        ApprovalState::Rejected => {
            let who = name.unwrap_or("An approver");
            let message = match record.reason.as_deref() {
                Some(reason) => format!("{who} rejected this run: {reason}"),
                None => format!("{who} rejected this run."),
            };
            Err(deny(ReasonCode::ApprovalRejected, record.by.map(|b| b.to_string()), message))
        }
        ApprovalState::Approved => approved(checked, initiator, tenant_name, facts, record, at),
    })
}

fn approved(
    checked: &CheckedContext,
    initiator: Uuid,
    tenant_name: &str,
    facts: &ApprovalFacts,
    record: &Approval,
    at: Timestamp,
) -> Result<&'static str, Denial> {
    let (Some(by), Some(approved_at)) = (record.by, record.at) else {
        let message = "The run's approval names no approver or no time.".to_owned();
        return Err(deny(ReasonCode::ApprovalMissing, Some("incomplete".into()), message));
    };
    if by == initiator {
        let message = "The run was approved by its own initiator; an approval must come from another member.";
        return Err(deny(ReasonCode::ApprovalMissing, Some("self_approved".into()), message.to_owned()));
    }
    let Some(approver) = &facts.approver else {
        let message = "The user who approved this run no longer exists.".to_owned();
        return Err(deny(ReasonCode::ApprovalRevoked, Some(by.to_string()), message));
    };
    let who = approver.display_name.as_str();
    let member = approver.membership.as_ref().map(|m| (&m.role, &m.scope));
    let tenants: Vec<Uuid> = checked.tenant_id.into_iter().collect();
    let capability = checked.required_capability;
    if let Err(s) = standing(approver.disabled, member, &tenants, &[capability]) {
        let (detail, what) = match s {
            Standing::Disabled => ("disabled".to_owned(), "has been disabled".to_owned()),
            Standing::NotMember => ("membership".to_owned(), "is no longer a member of this workspace".to_owned()),
            Standing::NotEntitled => {
                ("tenant_entitlement".to_owned(), format!("is no longer entitled to {tenant_name}"))
            }
            Standing::Lacks(c) => (c.as_str().to_owned(), format!("no longer has the capability {c}")),
        };
        let message = format!("{who}, who approved this run, {what}.");
        return Err(deny(ReasonCode::ApprovalRevoked, Some(detail), message));
    }
    let judged_at = facts.run_started_at.map_or(at, |started| started.min(at));
    let expires_at = approved_at.plus_millis(facts.validity_ms);
    if judged_at >= expires_at {
        let message = format!(
            "The approval by {who} expired at {expires_at}; approvals are valid for {}.",
            duration_words(facts.validity_ms)
        );
        return Err(deny(ReasonCode::ApprovalExpired, Some(expires_at.to_rfc3339()), message));
    }
    Ok("approved")
}

/// "24 hours", "90 minutes", "1 second", "250 ms".
fn duration_words(ms: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match ms {
        ms if ms > 0 && ms % 3_600_000 == 0 => plural(ms / 3_600_000, "hour"),
        ms if ms > 0 && ms % 60_000 == 0 => plural(ms / 60_000, "minute"),
        ms if ms > 0 && ms % 1_000 == 0 => plural(ms / 1_000, "second"),
        ms => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests;
