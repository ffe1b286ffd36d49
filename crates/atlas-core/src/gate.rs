//! The legitimacy gate: the only place that decides whether a run may execute.
//!
//! `evaluate` is a pure function of the run's stored execution context and the
//! facts as they are now. Checks run in SPEC §3.2 order and the first denial
//! wins; checks that do not apply to a run (initiator checks for a system run,
//! the write gate for a read) are left out of `checks` rather than passed.
//!
//! The gate answers two questions with the same checks (`Purpose`): may this
//! run be started, and may it execute now. They differ only in the `approval`
//! check, where a requested approval is not yet due at the start.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::approval::{self, ApprovalFacts};
use crate::capability::{Capability, Role};
use crate::operation::{is_system_allowlisted, AuthorityKind, OperationType, Writes};
use crate::params::OperationParams;
use crate::tenant::{ConnectionStatus, TenantScope, TenantStatus};
use crate::timestamp::Timestamp;

/// Who a run acts for, as captured at enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authority {
    Actor {
        user_id: Uuid,
    },
    /// `source` names the origin, e.g. `{"kind": "schedule", "schedule_id": …, "slot": …}`.
    System {
        schedule_id: Uuid,
        source: Value,
    },
}

impl Authority {
    pub fn kind(&self) -> AuthorityKind {
        match self {
            Authority::Actor { .. } => AuthorityKind::ActorBound,
            Authority::System { .. } => AuthorityKind::SystemAuthority,
        }
    }

    /// The source document of a schedule slot.
    pub fn schedule(schedule_id: Uuid, slot: Timestamp) -> Authority {
        Authority::System { schedule_id, source: json!({"kind": "schedule", "schedule_id": schedule_id, "slot": slot}) }
    }
}

/// A run's execution context: the type (from the run row) and the schema-free
/// document stored on the run at enqueue. The gate trusts neither blindly.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionContext {
    pub op_type: OperationType,
    pub doc: Value,
}

/// The context document's readable parts, after the integrity check.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedContext {
    pub authority: Authority,
    pub required_capability: Capability,
    pub workspace_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub params: OperationParams,
    /// Derived from the type and `dry_run`, never read from the document.
    pub writes: bool,
}

impl ExecutionContext {
    /// Captures the context of a run being created (SPEC §3.1).
    pub fn capture(
        op_type: OperationType,
        authority: &Authority,
        workspace_id: Uuid,
        tenant_id: Option<Uuid>,
        params: &Value,
    ) -> ExecutionContext {
        // Params are validated before a run is made; unparsable ones are
        // refused by `check`, and until then count as writing if the type can.
        let typed = OperationParams::parse(op_type, params).ok();
        let writes = typed.as_ref().map_or(op_type.spec().writes != Writes::Never, OperationParams::writes);
        let mut doc = json!({
            "authority_mode": authority.kind().as_str(),
            "required_capability": op_type.spec().capability.as_str(),
            "writes": writes,
            "workspace_id": workspace_id,
            "tenant_id": tenant_id,
            "params": params,
        });
        if let Value::Object(m) = &mut doc {
            match authority {
                Authority::Actor { user_id } => {
                    m.insert("initiator_user_id".into(), json!(user_id));
                }
                Authority::System { source, .. } => {
                    m.insert("source".into(), source.clone());
                }
            }
            if let Some(set) = typed.as_ref().and_then(OperationParams::backup_set_id) {
                m.insert("backup_set_id".into(), json!(set));
            }
            if let Some(items) = typed.as_ref().and_then(OperationParams::item_ids) {
                m.insert("items".into(), json!(items));
            }
        }
        ExecutionContext { op_type, doc }
    }

    /// The integrity check: the document names an authority mode and a required
    /// capability that agree with the registry, and its parts are well-formed.
    pub fn check(&self) -> Result<CheckedContext, String> {
        let doc = self.doc.as_object().ok_or("the context is not a JSON object")?;
        let get_uuid = |key: &str| doc.get(key).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
        let spec = self.op_type.spec();
        let mode = doc
            .get("authority_mode")
            .and_then(Value::as_str)
            .and_then(AuthorityKind::parse)
            .ok_or("the context names no valid authority mode")?;
        let required = doc
            .get("required_capability")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Capability>().ok())
            .ok_or("the context names no valid required capability")?;
        if required != spec.capability {
            return Err(format!("the context requires {required}, but {} requires {}", self.op_type, spec.capability));
        }
        let workspace_id = get_uuid("workspace_id").ok_or("the context names no workspace")?;
        let tenant_id = match doc.get("tenant_id") {
            None | Some(Value::Null) => None,
            Some(_) => Some(get_uuid("tenant_id").ok_or("the context's tenant is malformed")?),
        };
        let params = OperationParams::parse(self.op_type, doc.get("params").unwrap_or(&Value::Null))
            .map_err(|e| format!("the context's parameters are invalid: {e}"))?;
        let authority = match mode {
            AuthorityKind::ActorBound => {
                Authority::Actor { user_id: get_uuid("initiator_user_id").ok_or("the context names no initiator")? }
            }
            AuthorityKind::SystemAuthority => {
                let source = doc.get("source").cloned().unwrap_or(Value::Null);
                let schedule_id = source
                    .get("schedule_id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .filter(|_| source.get("kind").and_then(Value::as_str) == Some("schedule"))
                    .ok_or("the context names no originating schedule")?;
                Authority::System { schedule_id, source }
            }
        };
        let writes = params.writes();
        Ok(CheckedContext { authority, required_capability: required, workspace_id, tenant_id, params, writes })
    }
}

/// The world as the gate needs to see it, loaded by the store at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub initiator: Option<InitiatorFact>,
    pub membership: Option<MembershipFact>,
    pub tenant: Option<TenantFact>,
    pub connection: Option<ConnectionFact>,
    pub schedule: Option<ScheduleFact>,
    pub backup_set_exists: bool,
    /// Multi-admin approval (SPEC §10.2); the default requires none.
    pub approval: ApprovalFacts,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InitiatorFact {
    pub display_name: String,
    pub disabled: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MembershipFact {
    pub role: Role,
    pub scope: TenantScope,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TenantFact {
    pub id: Uuid,
    pub name: String,
    pub status: TenantStatus,
    pub writes_enabled: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionFact {
    pub status: ConnectionStatus,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleFact {
    pub enabled: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    Context,
    Initiator,
    Membership,
    TenantEntitlement,
    Capability,
    Approval,
    SystemAllowlist,
    Schedule,
    Tenant,
    WriteGate,
    ProviderConnection,
    BackupSet,
}

impl CheckName {
    /// The name as the contract spells it in `checks` (`tenant_entitlement`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Context => "context",
            CheckName::Initiator => "initiator",
            CheckName::Membership => "membership",
            CheckName::TenantEntitlement => "tenant_entitlement",
            CheckName::Capability => "capability",
            CheckName::Approval => "approval",
            CheckName::SystemAllowlist => "system_allowlist",
            CheckName::Schedule => "schedule",
            CheckName::Tenant => "tenant",
            CheckName::WriteGate => "write_gate",
            CheckName::ProviderConnection => "provider_connection",
            CheckName::BackupSet => "backup_set",
        }
    }

    /// SPEC §3.2 order.
    pub const ORDER: &'static [CheckName] = &[
        CheckName::Context,
        CheckName::Initiator,
        CheckName::Membership,
        CheckName::TenantEntitlement,
        CheckName::Capability,
        CheckName::Approval,
        CheckName::SystemAllowlist,
        CheckName::Schedule,
        CheckName::Tenant,
        CheckName::WriteGate,
        CheckName::ProviderConnection,
        CheckName::BackupSet,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResultKind {
    Pass,
    Fail,
}

impl CheckResultKind {
    /// `pass` or `fail`, as in `checks`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckResultKind::Pass => "pass",
            CheckResultKind::Fail => "fail",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: CheckName,
    pub result: CheckResultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialClass {
    ScopeDenied,
    CapabilityDenied,
    InitiatorInvalid,
    AuthorityInvalid,
    TenantNotOperable,
    WriteGateClosed,
    PrerequisiteMissing,
    ApprovalInvalid,
    EvaluationUnavailable,
}

impl DenialClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DenialClass::ScopeDenied => "scope_denied",
            DenialClass::CapabilityDenied => "capability_denied",
            DenialClass::InitiatorInvalid => "initiator_invalid",
            DenialClass::AuthorityInvalid => "authority_invalid",
            DenialClass::TenantNotOperable => "tenant_not_operable",
            DenialClass::WriteGateClosed => "write_gate_closed",
            DenialClass::PrerequisiteMissing => "prerequisite_missing",
            DenialClass::ApprovalInvalid => "approval_invalid",
            DenialClass::EvaluationUnavailable => "evaluation_unavailable",
        }
    }
}

/// Every reason code of SPEC §3.2 and §10.2, each in exactly one denial class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    WorkspaceMembershipRevoked,
    TenantEntitlementRevoked,
    TenantNotFound,
    CapabilityRevoked,
    InitiatorNotFound,
    InitiatorDisabled,
    ExecutionContextInvalid,
    SystemAuthorityNotAllowlisted,
    ScheduleDisabled,
    ScheduleNotFound,
    TenantOnboarding,
    TenantSuspended,
    TenantArchived,
    WriteGateClosed,
    ProviderConnectionMissing,
    ProviderConnectionDisabled,
    BackupSetMissing,
    ApprovalMissing,
    ApprovalRejected,
    ApprovalRevoked,
    ApprovalExpired,
    EvaluationUnavailable,
}

impl ReasonCode {
    pub const ALL: &'static [ReasonCode] = &[
        ReasonCode::WorkspaceMembershipRevoked,
        ReasonCode::TenantEntitlementRevoked,
        ReasonCode::TenantNotFound,
        ReasonCode::CapabilityRevoked,
        ReasonCode::InitiatorNotFound,
        ReasonCode::InitiatorDisabled,
        ReasonCode::ExecutionContextInvalid,
        ReasonCode::SystemAuthorityNotAllowlisted,
        ReasonCode::ScheduleDisabled,
        ReasonCode::ScheduleNotFound,
        ReasonCode::TenantOnboarding,
        ReasonCode::TenantSuspended,
        ReasonCode::TenantArchived,
        ReasonCode::WriteGateClosed,
        ReasonCode::ProviderConnectionMissing,
        ReasonCode::ProviderConnectionDisabled,
        ReasonCode::BackupSetMissing,
        ReasonCode::ApprovalMissing,
        ReasonCode::ApprovalRejected,
        ReasonCode::ApprovalRevoked,
        ReasonCode::ApprovalExpired,
        ReasonCode::EvaluationUnavailable,
    ];

    pub fn class(self) -> DenialClass {
        use ReasonCode::*;
        match self {
            WorkspaceMembershipRevoked | TenantEntitlementRevoked | TenantNotFound => DenialClass::ScopeDenied,
            CapabilityRevoked => DenialClass::CapabilityDenied,
            InitiatorNotFound | InitiatorDisabled => DenialClass::InitiatorInvalid,
            ExecutionContextInvalid | SystemAuthorityNotAllowlisted | ScheduleDisabled | ScheduleNotFound => {
                DenialClass::AuthorityInvalid
            }
            TenantOnboarding | TenantSuspended | TenantArchived => DenialClass::TenantNotOperable,
            WriteGateClosed => DenialClass::WriteGateClosed,
            ProviderConnectionMissing | ProviderConnectionDisabled | BackupSetMissing => {
                DenialClass::PrerequisiteMissing
            }
            ApprovalMissing | ApprovalRejected | ApprovalRevoked | ApprovalExpired => DenialClass::ApprovalInvalid,
            EvaluationUnavailable => DenialClass::EvaluationUnavailable,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ReasonCode::*;
        match self {
            WorkspaceMembershipRevoked => "workspace_membership_revoked",
            TenantEntitlementRevoked => "tenant_entitlement_revoked",
            TenantNotFound => "tenant_not_found",
            CapabilityRevoked => "capability_revoked",
            InitiatorNotFound => "initiator_not_found",
            InitiatorDisabled => "initiator_disabled",
            ExecutionContextInvalid => "execution_context_invalid",
            SystemAuthorityNotAllowlisted => "system_authority_not_allowlisted",
            ScheduleDisabled => "schedule_disabled",
            ScheduleNotFound => "schedule_not_found",
            TenantOnboarding => "tenant_onboarding",
            TenantSuspended => "tenant_suspended",
            TenantArchived => "tenant_archived",
            WriteGateClosed => "write_gate_closed",
            ProviderConnectionMissing => "provider_connection_missing",
            ProviderConnectionDisabled => "provider_connection_disabled",
            BackupSetMissing => "backup_set_missing",
            ApprovalMissing => "approval_missing",
            ApprovalRejected => "approval_rejected",
            ApprovalRevoked => "approval_revoked",
            ApprovalExpired => "approval_expired",
            EvaluationUnavailable => "evaluation_unavailable",
        }
    }

    /// Only an unreadable world is worth asking again about.
    pub fn retryable(self) -> bool {
        self == ReasonCode::EvaluationUnavailable
    }

    /// One line on what a person can do about it (the console's refusal panel).
    pub fn remedy(self) -> &'static str {
        use ReasonCode::*;
        match self {
            WorkspaceMembershipRevoked => "Ask an owner to restore the initiator's membership, then Retry.",
            TenantEntitlementRevoked => "Ask an owner to add this tenant to the initiator's scope, then Retry.",
            TenantNotFound => "The tenant no longer exists; nothing to retry.",
            CapabilityRevoked => "Ask an owner to grant the capability, then Retry.",
            InitiatorNotFound | InitiatorDisabled => "Start the operation again as an active user.",
            ExecutionContextInvalid => "The stored run is not trustworthy; start the operation again.",
            SystemAuthorityNotAllowlisted => "Schedules may only start read and backup operations.",
            ScheduleDisabled => "Enable the schedule, then Run now.",
            ScheduleNotFound => "The schedule was deleted; create a new one.",
            TenantOnboarding => "Finish onboarding the tenant (set it active), then Retry.",
            TenantSuspended => "Reactivate the tenant in tenant settings, then Retry.",
            TenantArchived => "The tenant is archived; restore it to active first.",
            WriteGateClosed => "Open the write gate in tenant settings, then Retry.",
            ProviderConnectionMissing => "Add a provider connection for the tenant, then Retry.",
            ProviderConnectionDisabled => "Enable the tenant's provider connection, then Retry.",
            BackupSetMissing => "Pick an existing backup set and start the restore again.",
            ApprovalMissing => "Retry the run and have another member approve it.",
            ApprovalRejected => "The run was rejected; start it again only if the reason is resolved.",
            ApprovalRevoked => "The approver may no longer approve it; Retry and have another member approve it.",
            ApprovalExpired => "The approval is too old; Retry and have the new run approved.",
            EvaluationUnavailable => "The database could not be read; the run will be tried again.",
        }
    }
}

/// The gate's answer, stored on the run as its last decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub authority_mode: Option<AuthorityKind>,
    #[serde(default)]
    pub denial_class: Option<DenialClass>,
    #[serde(default)]
    pub reason_code: Option<ReasonCode>,
    pub retryable: bool,
    pub message: String,
    pub checks: Vec<CheckResult>,
    pub evaluated_at: Timestamp,
    pub attempt: u32,
}

impl Decision {
    #[allow(clippy::too_many_arguments)]
    fn denied(
        authority_mode: Option<AuthorityKind>,
        mut checks: Vec<CheckResult>,
        check: CheckName,
        reason: ReasonCode,
        detail: Option<String>,
        message: String,
        at: Timestamp,
        attempt: u32,
    ) -> Decision {
        checks.push(CheckResult { check, result: CheckResultKind::Fail, detail });
        Decision {
            allowed: false,
            authority_mode,
            denial_class: Some(reason.class()),
            reason_code: Some(reason),
            retryable: reason.retryable(),
            message,
            checks,
            evaluated_at: at,
            attempt,
        }
    }

    /// The decision when the facts could not be read: retryable, never a guess.
    pub fn unavailable(ctx: &ExecutionContext, detail: &str, at: Timestamp, attempt: u32) -> Decision {
        let mode = ctx.check().ok().map(|c| c.authority.kind());
        Decision::denied(
            mode,
            Vec::new(),
            CheckName::Context,
            ReasonCode::EvaluationUnavailable,
            Some(detail.to_owned()),
            "The facts needed to authorize this run could not be read.".to_owned(),
            at,
            attempt,
        )
    }
}

/// Which question the gate answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// May the run be started (queued)? A requested approval is not yet due.
    /// Also the question a preview asks of a run awaiting approval: would it
    /// be blocked once approved?
    Start,
    /// May the run execute now (claim, retry, bulk item, between items)?
    Execute,
}

/// Evaluates whether a run may execute now. Pure and deterministic.
pub fn evaluate(ctx: &ExecutionContext, facts: &Facts, at: Timestamp, attempt: u32) -> Decision {
    evaluate_for(Purpose::Execute, ctx, facts, at, attempt)
}

/// Evaluates whether a run may be started now (`attempt` 0).
pub fn evaluate_start(ctx: &ExecutionContext, facts: &Facts, at: Timestamp) -> Decision {
    evaluate_for(Purpose::Start, ctx, facts, at, 0)
}

/// Evaluates a run's legitimacy against the facts now, for `purpose`.
pub fn evaluate_for(purpose: Purpose, ctx: &ExecutionContext, facts: &Facts, at: Timestamp, attempt: u32) -> Decision {
    let mut checks = Vec::new();
    let pass = |checks: &mut Vec<CheckResult>, check: CheckName, detail: Option<String>| {
        checks.push(CheckResult { check, result: CheckResultKind::Pass, detail });
    };
    let checked = match ctx.check() {
        Ok(c) => c,
        Err(why) => {
            let message = format!("The run's execution context is invalid: {why}.");
            return Decision::denied(
                None,
                checks,
                CheckName::Context,
                ReasonCode::ExecutionContextInvalid,
                Some(why),
                message,
                at,
                attempt,
            );
        }
    };
    let mode = Some(checked.authority.kind());
    let deny = |checks: Vec<CheckResult>, check, reason, detail: Option<String>, message: String| {
        Decision::denied(mode, checks, check, reason, detail, message, at, attempt)
    };
    pass(&mut checks, CheckName::Context, None);
    let capability = checked.required_capability;
    let tenant_name = facts.tenant.as_ref().map_or("the tenant", |t| t.name.as_str()).to_owned();
    // Attempt 0 is the start: the initiator may never have held what is
    // missing, so "no longer" is only said of execution-time refusals.
    let at_start = attempt == 0;

    match &checked.authority {
        Authority::Actor { user_id } => {
            let Some(initiator) = &facts.initiator else {
                return deny(
                    checks,
                    CheckName::Initiator,
                    ReasonCode::InitiatorNotFound,
                    Some(user_id.to_string()),
                    "The user who started this operation no longer exists.".into(),
                );
            };
            let who = initiator.display_name.as_str();
            if initiator.disabled {
                return deny(
                    checks,
                    CheckName::Initiator,
                    ReasonCode::InitiatorDisabled,
                    None,
                    format!("{who} has been disabled."),
                );
            }
            pass(&mut checks, CheckName::Initiator, None);
            let Some(membership) = &facts.membership else {
                return deny(
                    checks,
                    CheckName::Membership,
                    ReasonCode::WorkspaceMembershipRevoked,
                    None,
                    if at_start {
                        format!("{who} is not a member of this workspace.")
                    } else {
                        format!("{who} is no longer a member of this workspace.")
                    },
                );
            };
            pass(&mut checks, CheckName::Membership, None);
            if let Some(tenant_id) = checked.tenant_id {
                if !membership.scope.includes(tenant_id) {
                    return deny(
                        checks,
                        CheckName::TenantEntitlement,
                        ReasonCode::TenantEntitlementRevoked,
                        Some(tenant_id.to_string()),
                        if at_start {
                            format!("{who} is not entitled to {tenant_name}.")
                        } else {
                            format!("{who} is no longer entitled to {tenant_name}.")
                        },
                    );
                }
                pass(&mut checks, CheckName::TenantEntitlement, None);
            }
            if !membership.role.grants(capability) {
                return deny(
                    checks,
                    CheckName::Capability,
                    ReasonCode::CapabilityRevoked,
                    Some(capability.as_str().to_owned()),
                    if at_start {
                        format!("{who} does not have the capability {capability}.")
                    } else {
                        format!("{who} no longer has the capability {capability}.")
                    },
                );
            }
            pass(&mut checks, CheckName::Capability, Some(capability.as_str().to_owned()));
            match approval::check(&checked, *user_id, &tenant_name, &facts.approval, purpose, at) {
                None => {}
                Some(Ok(detail)) => pass(&mut checks, CheckName::Approval, Some(detail.to_owned())),
                Some(Err(d)) => return deny(checks, CheckName::Approval, d.reason, d.detail, d.message),
            }
        }
        Authority::System { schedule_id, .. } => {
            if !is_system_allowlisted(ctx.op_type) {
                return deny(
                    checks,
                    CheckName::SystemAllowlist,
                    ReasonCode::SystemAuthorityNotAllowlisted,
                    Some(ctx.op_type.as_str().to_owned()),
                    format!("{} may not run with system authority.", ctx.op_type.spec().label),
                );
            }
            pass(&mut checks, CheckName::SystemAllowlist, None);
            match &facts.schedule {
                None => {
                    return deny(
                        checks,
                        CheckName::Schedule,
                        ReasonCode::ScheduleNotFound,
                        Some(schedule_id.to_string()),
                        "The schedule that started this run no longer exists.".into(),
                    )
                }
                Some(s) if !s.enabled => {
                    return deny(
                        checks,
                        CheckName::Schedule,
                        ReasonCode::ScheduleDisabled,
                        Some(schedule_id.to_string()),
                        "The schedule that started this run has been disabled.".into(),
                    )
                }
                Some(_) => pass(&mut checks, CheckName::Schedule, None),
            }
        }
    }

    if let Some(tenant_id) = checked.tenant_id {
        let Some(tenant) = facts.tenant.as_ref().filter(|t| t.id == tenant_id) else {
            return deny(
                checks,
                CheckName::Tenant,
                ReasonCode::TenantNotFound,
                Some(tenant_id.to_string()),
                "The tenant no longer exists.".into(),
            );
        };
        let accepted = ctx.op_type.spec().tenant_statuses;
        if !accepted.contains(&tenant.status) {
            let reason = match tenant.status {
                TenantStatus::Onboarding => ReasonCode::TenantOnboarding,
                TenantStatus::Suspended => ReasonCode::TenantSuspended,
                // An active tenant is accepted by every type; archived is the rest.
                TenantStatus::Archived | TenantStatus::Active => ReasonCode::TenantArchived,
            };
            return deny(
                checks,
                CheckName::Tenant,
                reason,
                Some(tenant.status.as_str().to_owned()),
                format!("{} is {}.", tenant.name, tenant.status),
            );
        }
        pass(&mut checks, CheckName::Tenant, Some(tenant.status.as_str().to_owned()));

        if checked.writes {
            if !tenant.writes_enabled {
                return deny(
                    checks,
                    CheckName::WriteGate,
                    ReasonCode::WriteGateClosed,
                    None,
                    format!("The write gate of {} is closed.", tenant.name),
                );
            }
            pass(&mut checks, CheckName::WriteGate, None);
        }

        // A connection check is what takes a connection out of pending consent.
        let usable = |s: ConnectionStatus| match ctx.op_type {
            OperationType::ProviderConnectionCheck => s != ConnectionStatus::Disabled,
            _ => s == ConnectionStatus::Enabled,
        };
        match &facts.connection {
            None => {
                return deny(
                    checks,
                    CheckName::ProviderConnection,
                    ReasonCode::ProviderConnectionMissing,
                    None,
                    format!("{} has no provider connection.", tenant.name),
                )
            }
            Some(c) if !usable(c.status) => {
                return deny(
                    checks,
                    CheckName::ProviderConnection,
                    ReasonCode::ProviderConnectionDisabled,
                    Some(c.status.as_str().to_owned()),
                    format!("The provider connection of {} is {}.", tenant.name, c.status.as_str().replace('_', " ")),
                )
            }
            Some(c) => pass(&mut checks, CheckName::ProviderConnection, Some(c.status.as_str().to_owned())),
        }
    }

    if let Some(set) = checked.params.backup_set_id() {
        if !facts.backup_set_exists {
            return deny(
                checks,
                CheckName::BackupSet,
                ReasonCode::BackupSetMissing,
                Some(set.to_string()),
                "The backup set to restore no longer exists.".into(),
            );
        }
        pass(&mut checks, CheckName::BackupSet, None);
    }

    Decision {
        allowed: true,
        authority_mode: mode,
        denial_class: None,
        reason_code: None,
        retryable: false,
        message: "Allowed.".into(),
        checks,
        evaluated_at: at,
        attempt,
    }
}

#[cfg(test)]
mod tests;
