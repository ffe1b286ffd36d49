//! The gate against an independent re-statement of SPEC §3.2 and §10.2, plus
//! one unit test per reason code.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::approval::{Approval, ApprovalState, ApproverFact};
use crate::capability::BuiltinRole;
use CheckName as C;
use OperationType as Op;
use ReasonCode as R;

const WS: Uuid = Uuid::from_u128(0x10);
const TENANT: Uuid = Uuid::from_u128(0x20);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x21);
const USER: Uuid = Uuid::from_u128(0x30);
const APPROVER: Uuid = Uuid::from_u128(0x31);
const SCHEDULE: Uuid = Uuid::from_u128(0x40);
const SET: Uuid = Uuid::from_u128(0x50);
const AT: Timestamp = Timestamp(1_795_000_000_000_000);

// ---------------------------------------------------------------------------
// The oracle: SPEC §2 and §3.2 written out again, without the registry.

fn spec_capability(op: Op) -> Capability {
    match op {
        Op::ProviderConnectionCheck => Capability::ProviderConnectionsVerify,
        Op::InventorySync => Capability::TenantInventorySync,
        // SPEC §10.1: a drift check needs what a policy sync needs.
        Op::PoliciesSync | Op::DriftCheck => Capability::TenantPoliciesSync,
        Op::ComplianceSnapshot => Capability::TenantComplianceSnapshot,
        Op::BackupRun => Capability::TenantBackupRun,
        Op::RestoreExecute | Op::RestoreAssignments => Capability::TenantRestoreExecute,
        Op::BulkOperation => Capability::BulkExecute,
        #[cfg(feature = "testkit")]
        Op::TestkitNoop => Capability::TenantInventorySync,
    }
}

/// The SPEC §2 role table: each built-in tier adds to the one below.
#[rustfmt::skip]
fn spec_role_grants(role: &Role, cap: Capability) -> bool {
    use Capability::*;
    const READ: &[Capability] = &[WorkspaceView, OperationsView, TenantView];
    const OPERATE: &[Capability] = &[ProviderConnectionsVerify, TenantInventorySync,
        TenantPoliciesSync, TenantComplianceSnapshot, TenantBackupRun];
    const MANAGE: &[Capability] = &[ProviderConnectionsManage, TenantManage,
        TenantBackupSchedulesManage, TenantRestoreExecute, BulkExecute, OperationsCancel, AuditView];
    let tiers: &[&[Capability]] = match role {
        Role::Builtin(BuiltinRole::Readonly) => &[READ],
        Role::Builtin(BuiltinRole::Operator) => &[READ, OPERATE],
        Role::Builtin(BuiltinRole::Manager) => &[READ, OPERATE, MANAGE],
        Role::Builtin(BuiltinRole::Owner) => &[READ, OPERATE, MANAGE, &[MembersManage]],
        Role::Custom { capabilities, .. } => return capabilities.contains(&cap),
    };
    tiers.iter().any(|t| t.contains(&cap))
}

fn spec_writes(op: Op, params: &Value) -> bool {
    let item = params.get("operation").and_then(Value::as_str);
    match op {
        Op::RestoreExecute => params.get("dry_run") != Some(&json!(true)),
        Op::RestoreAssignments => true,
        Op::BulkOperation => matches!(item, Some("restore.execute" | "restore.assignments")),
        _ => false,
    }
}

/// The non-writing types, the only ones a schedule may run.
fn spec_system_allowed(op: Op) -> bool {
    #[cfg(feature = "testkit")]
    if op == Op::TestkitNoop {
        return true;
    }
    let reads = [Op::ProviderConnectionCheck, Op::InventorySync, Op::PoliciesSync];
    // SPEC §10.1: drift.check is a read type, actor or system authority.
    reads.contains(&op) || [Op::ComplianceSnapshot, Op::BackupRun, Op::DriftCheck].contains(&op)
}

fn spec_tenant_reason(op: Op, status: TenantStatus) -> Option<ReasonCode> {
    match (status, op) {
        (TenantStatus::Active, _) => None,
        (TenantStatus::Onboarding, Op::ProviderConnectionCheck) => None,
        (TenantStatus::Onboarding, _) => Some(R::TenantOnboarding),
        (TenantStatus::Suspended, _) => Some(R::TenantSuspended),
        (TenantStatus::Archived, _) => Some(R::TenantArchived),
    }
}

/// A generated run context: how it was built, and its (maybe tampered) document.
#[derive(Clone, Debug)]
struct Case {
    op: Op,
    system: bool,
    tenant: Option<Uuid>,
    params: Value,
    /// `false` when the document was corrupted so that it must fail closed.
    context_valid: bool,
    ctx: ExecutionContext,
}

/// SPEC §10.2's approval, re-stated: `None` when the check does not apply.
fn spec_approval(case: &Case, facts: &Facts, purpose: Purpose, at: Timestamp) -> Option<Option<ReasonCode>> {
    let a = &facts.approval;
    if !spec_writes(case.op, &case.params) || (a.required_by.is_empty() && a.record.is_none()) {
        return None;
    }
    let due = purpose == Purpose::Execute;
    let Some(record) = &a.record else { return Some(due.then_some(R::ApprovalMissing)) };
    Some(match (record.state, record.by, record.at) {
        (ApprovalState::Pending, _, _) => due.then_some(R::ApprovalMissing),
        (ApprovalState::Rejected, _, _) => Some(R::ApprovalRejected),
        (ApprovalState::Approved, Some(by), Some(approved_at)) => {
            let standing = a.approver.as_ref().is_some_and(|p| {
                let m = p.membership.as_ref();
                let entitled = case.tenant.is_none_or(|t| m.is_some_and(|m| m.scope.includes(t)));
                !p.disabled && entitled && m.is_some_and(|m| spec_role_grants(&m.role, spec_capability(case.op)))
            });
            let judged = a.run_started_at.map_or(at.0, |s| s.0.min(at.0));
            let age_ms = (judged - approved_at.0).div_euclid(1000);
            if by == USER {
                Some(R::ApprovalMissing)
            } else if !standing {
                Some(R::ApprovalRevoked)
            } else if judged >= approved_at.0 && age_ms >= a.validity_ms {
                Some(R::ApprovalExpired)
            } else {
                None
            }
        }
        (ApprovalState::Approved, _, _) => Some(R::ApprovalMissing),
    })
}

/// Expected check names (all passed but the last when denied) and the reason.
/// Every applicable check is listed with its verdict; the first failure ends it.
fn oracle(case: &Case, facts: &Facts, purpose: Purpose, at: Timestamp) -> (Vec<CheckName>, Option<ReasonCode>) {
    let fail = |failed: bool, reason: ReasonCode| failed.then_some(reason);
    let op = case.op;
    let member = facts.membership.as_ref();
    let tenant = facts.tenant.as_ref().filter(|t| Some(t.id) == case.tenant);
    let context = fail(!case.context_valid, R::ExecutionContextInvalid);
    let mut steps = vec![(C::Context, context)];
    if case.system {
        let allowlist = fail(!spec_system_allowed(op), R::SystemAuthorityNotAllowlisted);
        let schedule = match &facts.schedule {
            None => Some(R::ScheduleNotFound),
            Some(s) => fail(!s.enabled, R::ScheduleDisabled),
        };
        steps.push((C::SystemAllowlist, allowlist));
        steps.push((C::Schedule, schedule));
    } else {
        let initiator = match &facts.initiator {
            None => Some(R::InitiatorNotFound),
            Some(i) => fail(i.disabled, R::InitiatorDisabled),
        };
        let membership = fail(member.is_none(), R::WorkspaceMembershipRevoked);
        steps.push((C::Initiator, initiator));
        steps.push((C::Membership, membership));
        if let Some(t) = case.tenant {
            let entitled = member.is_some_and(|m| match &m.scope {
                TenantScope::All => true,
                TenantScope::Tenants(ids) => ids.contains(&t),
            });
            let entitlement = fail(!entitled, R::TenantEntitlementRevoked);
            steps.push((C::TenantEntitlement, entitlement));
        }
        let granted = member.is_some_and(|m| spec_role_grants(&m.role, spec_capability(op)));
        steps.push((C::Capability, fail(!granted, R::CapabilityRevoked)));
        if let Some(approval) = spec_approval(case, facts, purpose, at) {
            steps.push((C::Approval, approval));
        }
    }
    if case.tenant.is_some() {
        let status = tenant.map(|t| spec_tenant_reason(op, t.status));
        steps.push((C::Tenant, status.unwrap_or(Some(R::TenantNotFound))));
        if spec_writes(op, &case.params) {
            let open = tenant.is_some_and(|t| t.writes_enabled);
            steps.push((C::WriteGate, fail(!open, R::WriteGateClosed)));
        }
        let connection = match facts.connection.as_ref().map(|c| c.status) {
            None => Some(R::ProviderConnectionMissing),
            Some(ConnectionStatus::Enabled) => None,
            Some(ConnectionStatus::PendingConsent) if op == Op::ProviderConnectionCheck => None,
            Some(_) => Some(R::ProviderConnectionDisabled),
        };
        steps.push((C::ProviderConnection, connection));
    }
    if [Op::RestoreExecute, Op::RestoreAssignments].contains(&op) {
        let set = fail(!facts.backup_set_exists, R::BackupSetMissing);
        steps.push((C::BackupSet, set));
    }
    let end = steps.iter().position(|(_, r)| r.is_some());
    steps.truncate(end.map_or(steps.len(), |i| i + 1));
    let reason = steps.last().and_then(|(_, r)| *r);
    (steps.into_iter().map(|(c, _)| c).collect(), reason)
}

// ---------------------------------------------------------------------------
// Generators.

#[derive(Clone, Copy, Debug)]
enum Tamper {
    None,
    /// Stores the opposite `writes`: harmless, because `writes` is derived.
    FlipWrites,
    DropAuthorityMode,
    /// Relabels an actor context as a system one and vice versa.
    SwapAuthorityMode,
    WrongCapability(usize),
    NotAnObject,
    UnknownParam,
    WrongParamType,
}

fn params_for(op: Op) -> BoxedStrategy<Value> {
    let set = json!({"backup_set_id": SET});
    match op {
        Op::RestoreExecute => (proptest::option::of(any::<bool>()), any::<bool>())
            .prop_map(move |(dry_run, items)| {
                let mut p = set.clone();
                if let Some(d) = dry_run {
                    p["dry_run"] = json!(d);
                }
                if items {
                    p["item_ids"] = json!([OTHER_TENANT, SET]); // any uuids, unsorted
                }
                p
            })
            .boxed(),
        Op::RestoreAssignments => Just(set).boxed(),
        Op::BulkOperation => {
            let items: Vec<Op> = Op::all().filter(|t| *t != op).collect();
            let tenants = json!([OTHER_TENANT, TENANT]);
            prop::sample::select(items).prop_map(move |t| json!({"operation": t, "tenant_ids": tenants})).boxed()
        }
        _ => prop_oneof![Just(json!({})), Just(Value::Null)].boxed(),
    }
}

fn tamper(doc: &mut Value, op: Op, t: Tamper) {
    let Value::Object(m) = doc else { return };
    match t {
        Tamper::None => {}
        Tamper::FlipWrites => {
            let w = m.get("writes").and_then(Value::as_bool).unwrap_or(false);
            m.insert("writes".into(), json!(!w));
        }
        Tamper::DropAuthorityMode => {
            m.remove("authority_mode");
        }
        Tamper::SwapAuthorityMode => {
            let actor = m.get("authority_mode") == Some(&json!("actor_bound"));
            let swapped = if actor { "system_authority" } else { "actor_bound" };
            m.insert("authority_mode".into(), json!(swapped));
        }
        Tamper::WrongCapability(i) => {
            let all = Capability::ALL;
            let mut wrong = all[i % all.len()];
            if wrong == op.spec().capability {
                wrong = all[(i + 1) % all.len()];
            }
            m.insert("required_capability".into(), json!(wrong));
        }
        Tamper::NotAnObject => *doc = json!(["not", "an", "object"]),
        Tamper::UnknownParam | Tamper::WrongParamType => {
            let given = m.get("params").cloned().filter(Value::is_object);
            let mut p = given.unwrap_or_else(|| json!({}));
            match (t, op) {
                (Tamper::UnknownParam, _) => p["bogus"] = json!(true),
                (_, Op::RestoreExecute | Op::RestoreAssignments) => p["backup_set_id"] = json!(42),
                (_, Op::BulkOperation) => p["tenant_ids"] = json!("everything"),
                _ => p["dry_run"] = json!("yes"),
            }
            m.insert("params".into(), p);
        }
    }
}

fn arb_tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        24 => Just(Tamper::None),
        2 => Just(Tamper::FlipWrites),
        1 => Just(Tamper::DropAuthorityMode),
        1 => Just(Tamper::SwapAuthorityMode),
        1 => (0usize..64).prop_map(Tamper::WrongCapability),
        1 => Just(Tamper::NotAnObject),
        1 => Just(Tamper::UnknownParam),
        1 => Just(Tamper::WrongParamType),
    ]
}

/// `many`: a bulk run over several tenants has no tenant of its own.
fn build_case(op: Op, system: bool, many: bool, params: Value, t: Tamper) -> Case {
    let tenant = (op != Op::BulkOperation || !many).then_some(TENANT);
    let authority = if system { system_authority() } else { actor() };
    let mut ctx = ExecutionContext::capture(op, &authority, WS, tenant, &params);
    tamper(&mut ctx.doc, op, t);
    let context_valid = matches!(t, Tamper::None | Tamper::FlipWrites);
    #[rustfmt::skip]
    let case = Case { op, system, tenant, params, context_valid, ctx };
    case
}

fn arb_case() -> impl Strategy<Value = Case> {
    prop::sample::select(Op::all().collect::<Vec<_>>()).prop_flat_map(|op| {
        let system = prop::bool::weighted(0.3);
        (system, any::<bool>(), params_for(op), arb_tamper())
            .prop_map(move |(system, many, params, t)| build_case(op, system, many, params, t))
    })
}

fn arb_role() -> impl Strategy<Value = Role> {
    let all = Capability::ALL.to_vec();
    let custom = prop::sample::subsequence(all, 0..=Capability::ALL.len()).prop_map(|caps| {
        let (name, capabilities) = ("custom".to_owned(), caps.into_iter().collect());
        Role::Custom { name, capabilities }
    });
    prop_oneof![
        3 => prop::sample::select(BuiltinRole::ALL.to_vec()).prop_map(Role::Builtin),
        3 => Just(Role::Builtin(BuiltinRole::Owner)),
        1 => custom,
    ]
}

fn arb_scope() -> impl Strategy<Value = TenantScope> {
    let list = prop::bool::weighted(0.75).prop_map(|includes| {
        let ids = [OTHER_TENANT].into_iter().chain(includes.then_some(TENANT));
        TenantScope::Tenants(ids.collect())
    });
    prop_oneof![
        4 => Just(TenantScope::All),
        2 => list,
        1 => Just(TenantScope::Tenants(BTreeSet::new())),
    ]
}

/// Approval facts with times as ages before the evaluation (see `aged`).
fn arb_approval() -> impl Strategy<Value = ApprovalFacts> {
    let required = prop_oneof![
        2 => Just(BTreeSet::new()),
        2 => Just(BTreeSet::from([TENANT])),
        1 => Just(BTreeSet::from([OTHER_TENANT])),
    ];
    let state = prop::sample::select(ApprovalState::ALL.to_vec());
    let by = prop_oneof![8 => Just(Some(APPROVER)), 1 => Just(Some(USER)), 1 => Just(None)];
    // Quarter hours around the validities below, so that both sides of each boundary come up.
    let quarters = prop_oneof![0i64..12, 90i64..100];
    let age = prop_oneof![8 => quarters.prop_map(|q| Some(q * 900_000_000)), 1 => Just(None)];
    let reason = proptest::option::of(Just("Not during business hours".to_owned()));
    let record = (state, by, age, reason).prop_map(|(state, by, age, reason)| {
        let at = age.map(Timestamp);
        Approval { state, by, at, reason }
    });
    let approver = (prop::bool::weighted(0.1), proptest::option::weighted(0.85, (arb_role(), arb_scope()))).prop_map(
        |(disabled, m)| ApproverFact {
            display_name: "Bob Smith".into(),
            disabled,
            membership: m.and_then(|(role, scope)| member(role, scope)),
        },
    );
    let validity = prop_oneof![Just(approval::DEFAULT_VALIDITY_MS), Just(3_600_000), Just(7_200_000)];
    let started = proptest::option::of(prop_oneof![0i64..12, 90i64..100].prop_map(|q| Timestamp(q * 900_000_000)));
    (required, proptest::option::weighted(0.8, record), proptest::option::weighted(0.9, approver), validity, started)
        .prop_map(|(required_by, record, approver, validity_ms, run_started_at)| ApprovalFacts {
            required_by,
            record,
            approver,
            validity_ms,
            run_started_at,
        })
}

/// Turns the generated ages into instants before `at`.
fn aged(mut facts: Facts, at: Timestamp) -> Facts {
    let before = |age: Timestamp| Timestamp(at.0.saturating_sub(age.0));
    if let Some(r) = facts.approval.record.as_mut() {
        r.at = r.at.map(before);
    }
    facts.approval.run_started_at = facts.approval.run_started_at.map(before);
    facts
}

/// Biased towards a working world so that the later checks are reached too.
fn arb_facts() -> impl Strategy<Value = Facts> {
    let statuses = prop_oneof![
        6 => Just(TenantStatus::Active),
        1 => Just(TenantStatus::Onboarding),
        1 => Just(TenantStatus::Suspended),
        1 => Just(TenantStatus::Archived),
    ];
    let connections = prop_oneof![
        6 => Just(ConnectionStatus::Enabled),
        1 => Just(ConnectionStatus::PendingConsent),
        1 => Just(ConnectionStatus::Disabled),
    ];
    let likely = || prop::bool::weighted(0.85);
    let present = || prop::bool::weighted(0.95);
    let tenant = (present(), present(), statuses, likely()).prop_map(|(some, same, status, w)| {
        let id = if same { TENANT } else { OTHER_TENANT };
        tenant(status, w).filter(|_| some).map(|t| TenantFact { id, ..t })
    });
    let facts = (
        proptest::option::weighted(0.9, prop::bool::weighted(0.1)),
        proptest::option::weighted(0.9, (arb_role(), arb_scope())),
        tenant,
        proptest::option::weighted(0.9, connections),
        proptest::option::weighted(0.9, likely()),
        likely(),
        arb_approval(),
    );
    facts.prop_map(|(initiator, membership, tenant, connection, schedule, set, approval)| Facts {
        initiator: initiator.and_then(jane),
        membership: membership.and_then(|(role, scope)| member(role, scope)),
        tenant,
        connection: connection.map(|status| ConnectionFact { status }),
        schedule: schedule.map(|enabled| ScheduleFact { enabled }),
        backup_set_exists: set,
        approval,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn gate_matches_the_spec_oracle(
        case in arb_case(), facts in arb_facts(), at in 0i64..4_000_000_000_000_000, attempt: u32, start: bool,
    ) {
        let at = Timestamp(at);
        let facts = aged(facts, at);
        let purpose = if start { Purpose::Start } else { Purpose::Execute };
        let d = evaluate_for(purpose, &case.ctx, &facts, at, attempt);
        prop_assert_eq!(&d, &evaluate_for(purpose, &case.ctx, &facts, at, attempt), "not deterministic");
        prop_assert_eq!((d.attempt, d.evaluated_at), (attempt, at));

        prop_assert!(!d.checks.is_empty());
        prop_assert_eq!(d.allowed, d.checks.iter().all(|c| c.result == CheckResultKind::Pass));
        if let Some((last, before)) = d.checks.split_last().filter(|_| !d.allowed) {
            prop_assert_eq!(last.result, CheckResultKind::Fail);
            prop_assert!(before.iter().all(|c| c.result == CheckResultKind::Pass));
        }
        let order: Vec<usize> = d.checks.iter()
            .filter_map(|c| CheckName::ORDER.iter().position(|o| *o == c.check))
            .collect();
        prop_assert_eq!(order.len(), d.checks.len());
        prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", d.checks);

        prop_assert_eq!(d.reason_code.is_some(), !d.allowed);
        prop_assert_eq!(d.denial_class, d.reason_code.map(ReasonCode::class));
        prop_assert_eq!(d.retryable, d.reason_code == Some(R::EvaluationUnavailable));
        prop_assert!(!d.retryable, "evaluate never guesses an unreadable world");
        let kind = if case.system { AuthorityKind::SystemAuthority } else { AuthorityKind::ActorBound };
        prop_assert_eq!(d.authority_mode, case.context_valid.then_some(kind));

        let (expected_checks, expected_reason) = oracle(&case, &facts, purpose, at);
        prop_assert_eq!(d.reason_code, expected_reason, "checks: {:?}", d.checks);
        let names: Vec<CheckName> = d.checks.iter().map(|c| c.check).collect();
        prop_assert_eq!(names, expected_checks);
    }
}

// ---------------------------------------------------------------------------
// Unit tests, one per reason code.

fn actor() -> Authority {
    Authority::Actor { user_id: USER }
}

fn system_authority() -> Authority {
    Authority::schedule(SCHEDULE, AT)
}

fn context(op: Op, authority: &Authority, params: Value) -> ExecutionContext {
    ExecutionContext::capture(op, authority, WS, Some(TENANT), &params)
}

fn restore(dry_run: bool) -> ExecutionContext {
    let params = json!({"backup_set_id": SET, "dry_run": dry_run});
    context(Op::RestoreExecute, &actor(), params)
}

fn sync(authority: &Authority) -> ExecutionContext {
    context(Op::InventorySync, authority, json!({}))
}

fn jane(disabled: bool) -> Option<InitiatorFact> {
    let display_name = "Jane Doe".to_owned();
    Some(InitiatorFact { display_name, disabled })
}

fn member(role: Role, scope: TenantScope) -> Option<MembershipFact> {
    Some(MembershipFact { role, scope })
}

fn tenant(status: TenantStatus, writes_enabled: bool) -> Option<TenantFact> {
    let name = "Contoso".to_owned();
    Some(TenantFact { id: TENANT, name, status, writes_enabled })
}

/// A world in which everything is allowed.
fn world() -> Facts {
    Facts {
        initiator: jane(false),
        membership: member(Role::Builtin(BuiltinRole::Owner), TenantScope::All),
        tenant: tenant(TenantStatus::Active, true),
        connection: Some(ConnectionFact { status: ConnectionStatus::Enabled }),
        schedule: Some(ScheduleFact { enabled: true }),
        backup_set_exists: true,
        approval: ApprovalFacts::default(),
    }
}

fn with(change: impl FnOnce(&mut Facts)) -> Facts {
    let mut f = world();
    change(&mut f);
    f
}

fn role(builtin: BuiltinRole) -> Facts {
    with(|f| f.membership = member(Role::Builtin(builtin), TenantScope::All))
}

#[track_caller]
fn assert_denied(ctx: &ExecutionContext, facts: &Facts, reason: ReasonCode) {
    let d = evaluate(ctx, facts, AT, 1);
    assert_eq!(d.reason_code, Some(reason), "{d:?}");
    assert_eq!(d.denial_class, Some(reason.class()));
    assert!(!d.allowed && !d.retryable);
}

fn allows(ctx: &ExecutionContext, facts: &Facts) -> bool {
    evaluate(ctx, facts, AT, 1).allowed
}

#[test]
fn the_happy_world_allows_every_type() {
    for op in Op::all() {
        let params = match op {
            Op::RestoreExecute | Op::RestoreAssignments => json!({"backup_set_id": SET}),
            Op::BulkOperation => json!({"operation": "inventory.sync", "tenant_ids": [TENANT]}),
            _ => json!({}),
        };
        let d = evaluate(&context(op, &actor(), params), &world(), AT, 1);
        assert!(d.allowed, "{op}: {d:?}");
        assert_eq!(d.message, "Allowed.");
    }
    assert!(allows(&sync(&system_authority()), &world()));
}

#[test]
fn initiator_and_scope_denials() {
    let ctx = restore(false);
    let disabled = with(|f| f.initiator = jane(true));
    assert_denied(&ctx, &disabled, R::InitiatorDisabled);
    assert_denied(&ctx, &with(|f| f.initiator = None), R::InitiatorNotFound);
    let gone = with(|f| f.membership = None);
    assert_denied(&ctx, &gone, R::WorkspaceMembershipRevoked);
    let other = TenantScope::Tenants(BTreeSet::from([OTHER_TENANT]));
    let unentitled = with(|f| f.membership = member(Role::Builtin(BuiltinRole::Owner), other));
    assert_denied(&ctx, &unentitled, R::TenantEntitlementRevoked);
}

#[test]
fn capability_revoked_for_a_readonly_and_a_custom_role() {
    let ctx = restore(false);
    assert_denied(&ctx, &role(BuiltinRole::Readonly), R::CapabilityRevoked);
    let d = evaluate(&ctx, &role(BuiltinRole::Readonly), AT, 1);
    let expected = "Jane Doe no longer has the capability tenant.restore.execute.";
    assert_eq!(d.message, expected);
    let capabilities = [Capability::AuditView, Capability::TenantBackupRun].into();
    let auditor = Role::Custom { name: "auditor".into(), capabilities };
    let auditor = with(|f| f.membership = member(auditor, TenantScope::All));
    assert_denied(&ctx, &auditor, R::CapabilityRevoked);
    let backup = context(Op::BackupRun, &actor(), json!({}));
    assert!(allows(&backup, &auditor));
}

#[test]
fn system_authority_denials() {
    for dry_run in [false, true] {
        let params = json!({"backup_set_id": SET, "dry_run": dry_run});
        let ctx = context(Op::RestoreExecute, &system_authority(), params);
        assert_denied(&ctx, &world(), R::SystemAuthorityNotAllowlisted);
    }
    let ctx = sync(&system_authority());
    let disabled = with(|f| f.schedule = Some(ScheduleFact { enabled: false }));
    assert_denied(&ctx, &disabled, R::ScheduleDisabled);
    assert_denied(&ctx, &with(|f| f.schedule = None), R::ScheduleNotFound);
    // A system run depends on no person: the schedule outlives its creator.
    let nobody = with(|f| {
        f.initiator = None;
        f.membership = None;
    });
    assert!(allows(&ctx, &nobody));
}

#[test]
fn tenant_status_denials() {
    let ctx = sync(&actor());
    for (status, code) in [
        (TenantStatus::Onboarding, R::TenantOnboarding),
        (TenantStatus::Suspended, R::TenantSuspended),
        (TenantStatus::Archived, R::TenantArchived),
    ] {
        assert_denied(&ctx, &with(|f| f.tenant = tenant(status, true)), code);
        assert_eq!(code.class(), DenialClass::TenantNotOperable);
    }
    assert_denied(&ctx, &with(|f| f.tenant = None), R::TenantNotFound);
    let check = context(Op::ProviderConnectionCheck, &actor(), json!({}));
    let onboarding = with(|f| f.tenant = tenant(TenantStatus::Onboarding, false));
    assert!(allows(&check, &onboarding));
}

#[test]
fn write_gate_closes_real_restores_but_not_dry_runs() {
    let closed = with(|f| f.tenant = tenant(TenantStatus::Active, false));
    assert_denied(&restore(false), &closed, R::WriteGateClosed);
    let d = evaluate(&restore(false), &closed, AT, 1);
    assert_eq!(d.checks.last().map(|c| c.check), Some(C::WriteGate));
    let dry = evaluate(&restore(true), &closed, AT, 1);
    assert!(dry.allowed, "{dry:?}");
    assert!(dry.checks.iter().all(|c| c.check != C::WriteGate));
    let params = json!({"backup_set_id": SET});
    let assignments = context(Op::RestoreAssignments, &actor(), params);
    assert_denied(&assignments, &closed, R::WriteGateClosed);
}

#[test]
fn prerequisite_denials() {
    let ctx = sync(&actor());
    let conn = |status| with(|f| f.connection = Some(ConnectionFact { status }));
    let pending = conn(ConnectionStatus::PendingConsent);
    let disabled = conn(ConnectionStatus::Disabled);
    let missing = with(|f| f.connection = None);
    assert_denied(&ctx, &missing, R::ProviderConnectionMissing);
    assert_denied(&ctx, &disabled, R::ProviderConnectionDisabled);
    assert_denied(&ctx, &pending, R::ProviderConnectionDisabled);
    let check = context(Op::ProviderConnectionCheck, &actor(), json!({}));
    assert!(allows(&check, &pending), "a check ends pending consent");
    assert_denied(&check, &disabled, R::ProviderConnectionDisabled);
    let no_set = with(|f| f.backup_set_exists = false);
    assert_denied(&restore(true), &no_set, R::BackupSetMissing);
}

#[test]
fn a_tampered_context_fails_closed_and_writes_is_never_trusted() {
    let mut weaker = restore(false);
    weaker.doc["required_capability"] = json!("tenant.backup.run");
    let operator = role(BuiltinRole::Operator);
    assert_denied(&weaker, &operator, R::ExecutionContextInvalid);
    let d = evaluate(&weaker, &operator, AT, 1);
    assert_eq!((d.authority_mode, d.checks.len()), (None, 1));

    let mut no_writes = restore(false);
    no_writes.doc["writes"] = json!(false);
    let closed = with(|f| f.tenant = tenant(TenantStatus::Active, false));
    assert_denied(&no_writes, &closed, R::WriteGateClosed);

    let mut relabelled = restore(false);
    relabelled.doc["authority_mode"] = json!("system_authority");
    assert_denied(&relabelled, &world(), R::ExecutionContextInvalid);

    for doc in [json!(null), json!("restore"), json!({"writes": true})] {
        let mut ctx = restore(false);
        ctx.doc = doc;
        assert_denied(&ctx, &world(), R::ExecutionContextInvalid);
    }
}

#[test]
fn unavailable_is_retryable_and_serializes_as_the_spec_says() {
    let at = Timestamp::parse_rfc3339("2026-11-26T10:15:02Z").unwrap_or_default();
    let d = Decision::unavailable(&restore(false), "database is locked", at, 2);
    assert!(!d.allowed && d.retryable);
    assert_eq!(d.reason_code, Some(R::EvaluationUnavailable));
    assert_eq!(d.denial_class, Some(DenialClass::EvaluationUnavailable));
    let value = serde_json::to_value(&d).unwrap_or_default();
    let expected = json!({
        "allowed": false, "authority_mode": "actor_bound",
        "denial_class": "evaluation_unavailable", "reason_code": "evaluation_unavailable",
        "retryable": true, "message": "The facts needed to authorize this run could not be read.",
        "checks": [{"check": "context", "result": "fail", "detail": "database is locked"}],
        "evaluated_at": "2026-11-26T10:15:02Z", "attempt": 2
    });
    assert_eq!(value, expected);
    assert_eq!(serde_json::from_value::<Decision>(value).ok(), Some(d));
}

#[test]
fn a_capability_denial_serializes_like_the_spec_example() {
    let at = Timestamp::parse_rfc3339("2026-11-26T10:15:02Z").unwrap_or_default();
    let d = evaluate(&restore(false), &role(BuiltinRole::Readonly), at, 1);
    let expected = json!({
        "allowed": false, "authority_mode": "actor_bound", "denial_class": "capability_denied",
        "reason_code": "capability_revoked", "retryable": false,
        "message": "Jane Doe no longer has the capability tenant.restore.execute.",
        "checks": [
            {"check": "context", "result": "pass"}, {"check": "initiator", "result": "pass"},
            {"check": "membership", "result": "pass"},
            {"check": "tenant_entitlement", "result": "pass"},
            {"check": "capability", "result": "fail", "detail": "tenant.restore.execute"}
        ],
        "evaluated_at": "2026-11-26T10:15:02Z", "attempt": 1
    });
    assert_eq!(serde_json::to_value(&d).unwrap_or_default(), expected);
}

#[test]
fn every_reason_code_has_one_class_and_only_unavailable_retries() {
    for r in ReasonCode::ALL {
        assert_eq!(r.retryable(), *r == R::EvaluationUnavailable);
        let code = serde_json::to_value(r).unwrap_or_default();
        assert_eq!(code, json!(r.as_str()));
        let class = serde_json::to_value(r.class()).unwrap_or_default();
        assert_eq!(class, json!(r.class().as_str()));
    }
}
