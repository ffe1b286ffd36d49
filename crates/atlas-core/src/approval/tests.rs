//! The `approval` check of the gate (one test per reason code and per way of
//! losing standing), the approve/reject rule, and their agreement: an approval
//! the rule grants is one the gate accepts, for every member and run.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::capability::{BuiltinRole, CapabilitySet};
use crate::gate::{
    evaluate, evaluate_start, Authority, CheckName, CheckResultKind, ConnectionFact, DenialClass, ExecutionContext,
    Facts, InitiatorFact, ScheduleFact, TenantFact,
};
use crate::run::NewRun;
use crate::tenant::{ConnectionStatus, TenantStatus};
use ReasonCode as R;

const WS: Uuid = Uuid::from_u128(0x10);
const TENANT: Uuid = Uuid::from_u128(0x20);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x21);
const JANE: Uuid = Uuid::from_u128(0x30);
const BOB: Uuid = Uuid::from_u128(0x31);
const SCHEDULE: Uuid = Uuid::from_u128(0x40);
const SET: Uuid = Uuid::from_u128(0x50);
const RUN_ID: Uuid = Uuid::from_u128(0x70);
const AT: Timestamp = Timestamp(1_795_000_000_000_000);
const HOUR_MS: i64 = 3_600_000;

fn hours_before(at: Timestamp, hours: i64) -> Timestamp {
    at.plus_millis(-hours * HOUR_MS)
}

fn role(b: BuiltinRole) -> Role {
    Role::Builtin(b)
}

fn membership(role: Role, scope: TenantScope) -> Option<MembershipFact> {
    Some(MembershipFact { role, scope })
}

fn approved_by(by: Uuid, at: Timestamp) -> Approval {
    Approval { state: ApprovalState::Approved, by: Some(by), at: Some(at), reason: None }
}

fn bob(disabled: bool, membership: Option<MembershipFact>) -> Option<ApproverFact> {
    Some(ApproverFact { display_name: "Bob Smith".into(), disabled, membership })
}

fn manager_bob() -> Option<ApproverFact> {
    bob(false, membership(role(BuiltinRole::Manager), TenantScope::All))
}

/// Contoso requires approval; Bob (a manager) approved Jane's run an hour ago.
fn world() -> Facts {
    Facts {
        initiator: Some(InitiatorFact { display_name: "Jane Doe".into(), disabled: false }),
        membership: membership(role(BuiltinRole::Owner), TenantScope::All),
        tenant: Some(TenantFact {
            id: TENANT,
            name: "Contoso".into(),
            status: TenantStatus::Active,
            writes_enabled: true,
        }),
        connection: Some(ConnectionFact { status: ConnectionStatus::Enabled }),
        schedule: Some(ScheduleFact { enabled: true }),
        backup_set_exists: true,
        approval: ApprovalFacts {
            required_by: BTreeSet::from([TENANT]),
            record: Some(approved_by(BOB, hours_before(AT, 1))),
            approver: manager_bob(),
            ..ApprovalFacts::default()
        },
    }
}

fn with(change: impl FnOnce(&mut ApprovalFacts)) -> Facts {
    let mut f = world();
    change(&mut f.approval);
    f
}

fn restore(dry_run: bool) -> ExecutionContext {
    let params = json!({"backup_set_id": SET, "dry_run": dry_run});
    ExecutionContext::capture(
        OperationType::RestoreExecute,
        &Authority::Actor { user_id: JANE },
        WS,
        Some(TENANT),
        &params,
    )
}

#[track_caller]
fn assert_denied(facts: &Facts, reason: ReasonCode, message: &str) {
    let d = evaluate(&restore(false), facts, AT, 1);
    assert_eq!(d.reason_code, Some(reason), "{d:?}");
    assert_eq!(d.denial_class, Some(DenialClass::ApprovalInvalid));
    assert!(!d.allowed && !d.retryable);
    assert_eq!(d.message, message);
    let last = d.checks.last().map(|c| (c.check, c.result));
    assert_eq!(last, Some((CheckName::Approval, CheckResultKind::Fail)));
}

fn approval_check(facts: &Facts) -> Option<(CheckResultKind, Option<String>)> {
    let d = evaluate(&restore(false), facts, AT, 1);
    d.checks.iter().find(|c| c.check == CheckName::Approval).map(|c| (c.result, c.detail.clone()))
}

#[test]
fn a_valid_approval_passes_after_capability_and_before_the_tenant() {
    let d = evaluate(&restore(false), &world(), AT, 1);
    assert!(d.allowed, "{d:?}");
    let names: Vec<_> = d.checks.iter().map(|c| c.check).collect();
    let at = names.iter().position(|c| *c == CheckName::Approval);
    assert_eq!(at.map(|i| names[i - 1]), Some(CheckName::Capability));
    assert_eq!(at.map(|i| names[i + 1]), Some(CheckName::Tenant));
    assert_eq!(approval_check(&world()), Some((CheckResultKind::Pass, Some("approved".into()))));
}

#[test]
fn the_check_applies_only_to_writes_that_need_or_carry_an_approval() {
    // A dry run writes nothing: no approval check at all.
    let d = evaluate(&restore(true), &with(|a| a.record = None), AT, 1);
    assert!(d.allowed && d.checks.iter().all(|c| c.check != CheckName::Approval), "{d:?}");
    // A schedule's backup on a tenant that requires approval.
    let backup = ExecutionContext::capture(
        OperationType::BackupRun,
        &Authority::schedule(SCHEDULE, AT),
        WS,
        Some(TENANT),
        &json!({}),
    );
    let d = evaluate(&backup, &with(|a| a.record = None), AT, 1);
    assert!(d.allowed && d.checks.iter().all(|c| c.check != CheckName::Approval), "{d:?}");
    // Neither required nor carried: today's behaviour.
    let none = with(|a| *a = ApprovalFacts::default());
    assert_eq!(approval_check(&none), None);
    assert!(evaluate(&restore(false), &none, AT, 1).allowed);
    // Turning the requirement off does not release a run from its record.
    let off = |record: Approval| {
        with(|a| {
            a.required_by.clear();
            a.record = Some(record);
        })
    };
    assert_eq!(approval_check(&off(approved_by(BOB, hours_before(AT, 1)))).map(|c| c.0), Some(CheckResultKind::Pass));
    let rejected = Approval { state: ApprovalState::Rejected, ..approved_by(BOB, AT) };
    assert_denied(&off(rejected), R::ApprovalRejected, "Bob Smith rejected this run.");
    assert_denied(&off(Approval::pending()), R::ApprovalMissing, "This run is still awaiting approval.");
}

#[test]
fn approval_missing_at_execution_but_requested_at_the_start() {
    let none = with(|a| a.record = None);
    assert_denied(&none, R::ApprovalMissing, "Contoso requires an approval for this run, and it has none.");
    let pending = with(|a| a.record = Some(Approval::pending()));
    assert_denied(&pending, R::ApprovalMissing, "This run is still awaiting approval.");
    for (facts, detail) in [(none, "requested"), (pending, "pending")] {
        let d = evaluate_start(&restore(false), &facts, AT);
        assert!(d.allowed, "{d:?}");
        let check = d.checks.iter().find(|c| c.check == CheckName::Approval);
        assert_eq!(check.map(|c| (c.result, c.detail.as_deref())), Some((CheckResultKind::Pass, Some(detail))));
    }
    let incomplete = with(|a| a.record = Some(Approval { at: None, ..approved_by(BOB, AT) }));
    assert_denied(&incomplete, R::ApprovalMissing, "The run's approval names no approver or no time.");
}

#[test]
fn the_initiator_never_counts_as_the_approver() {
    let own = with(|a| a.record = Some(approved_by(JANE, hours_before(AT, 1))));
    let message = "The run was approved by its own initiator; an approval must come from another member.";
    assert_denied(&own, R::ApprovalMissing, message);
}

#[test]
fn a_rejection_blocks_with_its_reason_and_the_rejecter_named() {
    let reason = Some("Not during the change freeze.".to_owned());
    let rejected =
        with(|a| a.record = Some(Approval { state: ApprovalState::Rejected, reason, ..approved_by(BOB, AT) }));
    assert_denied(&rejected, R::ApprovalRejected, "Bob Smith rejected this run: Not during the change freeze.");
}

#[test]
fn approval_revoked_when_the_approver_loses_standing() {
    let gone = with(|a| a.approver = None);
    assert_denied(&gone, R::ApprovalRevoked, "The user who approved this run no longer exists.");
    let disabled = with(|a| a.approver = bob(true, membership(role(BuiltinRole::Manager), TenantScope::All)));
    assert_denied(&disabled, R::ApprovalRevoked, "Bob Smith, who approved this run, has been disabled.");
    let removed = with(|a| a.approver = bob(false, None));
    let message = "Bob Smith, who approved this run, is no longer a member of this workspace.";
    assert_denied(&removed, R::ApprovalRevoked, message);
    let elsewhere = TenantScope::Tenants(BTreeSet::from([OTHER_TENANT]));
    let out_of_scope = with(|a| a.approver = bob(false, membership(role(BuiltinRole::Manager), elsewhere)));
    assert_denied(
        &out_of_scope,
        R::ApprovalRevoked,
        "Bob Smith, who approved this run, is no longer entitled to Contoso.",
    );
    let downgraded = with(|a| a.approver = bob(false, membership(role(BuiltinRole::Operator), TenantScope::All)));
    let message = "Bob Smith, who approved this run, no longer has the capability tenant.restore.execute.";
    assert_denied(&downgraded, R::ApprovalRevoked, message);
    let d = evaluate(&restore(false), &downgraded, AT, 1);
    assert_eq!(d.checks.last().and_then(|c| c.detail.as_deref()), Some("tenant.restore.execute"));
}

#[test]
fn approval_expired_once_as_old_as_its_validity_judged_at_the_first_start() {
    let aged = |hours: i64, started: Option<Timestamp>| {
        with(|a| {
            a.record = Some(approved_by(BOB, hours_before(AT, hours)));
            a.run_started_at = started;
        })
    };
    let message = "The approval by Bob Smith expired at 2026-11-18T11:06:40Z; approvals are valid for 24 hours.";
    assert_denied(&aged(24, None), R::ApprovalExpired, message);
    assert!(evaluate(&restore(false), &aged(23, None), AT, 1).allowed);
    // One microsecond short of the validity is still valid.
    let just = with(|a| a.record = Some(approved_by(BOB, Timestamp(hours_before(AT, 24).0 + 1))));
    assert!(evaluate(&restore(false), &just, AT, 1).allowed);
    // A run that started while its approval was valid is not stopped between items by its age...
    assert!(evaluate(&restore(false), &aged(30, Some(hours_before(AT, 10))), AT, 1).allowed);
    // ...but a run that first started too late is.
    assert_eq!(
        evaluate(&restore(false), &aged(30, Some(hours_before(AT, 2))), AT, 1).reason_code,
        Some(R::ApprovalExpired)
    );
    // A configured validity.
    let short = with(|a| {
        a.validity_ms = 90 * 60_000;
        a.record = Some(approved_by(BOB, hours_before(AT, 2)));
    });
    let message = "The approval by Bob Smith expired at 2026-11-18T10:36:40Z; approvals are valid for 90 minutes.";
    assert_denied(&short, R::ApprovalExpired, message);
}

#[test]
fn standing_is_checked_before_age() {
    let both = with(|a| {
        a.record = Some(approved_by(BOB, hours_before(AT, 48)));
        a.approver = bob(true, None);
    });
    assert_eq!(evaluate(&restore(false), &both, AT, 1).reason_code, Some(R::ApprovalRevoked));
}

#[test]
fn every_approval_code_is_final_with_a_remedy() {
    for r in [R::ApprovalMissing, R::ApprovalRejected, R::ApprovalRevoked, R::ApprovalExpired] {
        assert!(ReasonCode::ALL.contains(&r));
        assert_eq!(r.class(), DenialClass::ApprovalInvalid);
        assert!(!r.retryable() && !r.remedy().is_empty());
        assert_eq!(serde_json::to_value(r).ok(), Some(json!(r.as_str())));
    }
    assert_eq!(DenialClass::ApprovalInvalid.as_str(), "approval_invalid");
    assert_eq!(serde_json::to_value(CheckName::Approval).ok(), Some(json!("approval")));
}

#[test]
fn the_record_serializes_as_the_spec_names_it() {
    let record = Approval {
        state: ApprovalState::Rejected,
        by: Some(BOB),
        at: Timestamp::parse_rfc3339("2026-11-26T10:15:02Z"),
        reason: Some("no".into()),
    };
    let expected = json!({"state": "rejected", "by": BOB, "at": "2026-11-26T10:15:02Z", "reason": "no"});
    assert_eq!(serde_json::to_value(&record).ok(), Some(expected.clone()));
    assert_eq!(serde_json::from_value::<Approval>(expected).ok(), Some(record));
    let pending = json!({"state": "pending", "by": null, "at": null, "reason": null});
    assert_eq!(serde_json::to_value(Approval::pending()).ok(), Some(pending));
    assert_eq!(serde_json::from_value::<Approval>(json!({"state": "pending"})).ok(), Some(Approval::pending()));
    for s in ApprovalState::ALL {
        assert_eq!(ApprovalState::parse(s.as_str()), Some(*s));
    }
}

// ---------------------------------------------------------------------------
// Who may approve or reject.

fn run(op: OperationType, tenant: Option<Uuid>, params: Value) -> Run {
    let new = NewRun {
        op_type: op,
        workspace_id: WS,
        tenant_id: tenant,
        authority: Authority::Actor { user_id: JANE },
        params,
        retry_of_run_id: None,
        max_attempts: 3,
    };
    Run::queued(new, RUN_ID, AT).0
}

fn restore_run() -> Run {
    run(OperationType::RestoreExecute, Some(TENANT), json!({"backup_set_id": SET, "dry_run": false}))
}

fn member(user_id: Uuid, role: Role, scope: TenantScope) -> Member {
    Member { viewer: Viewer { user_id, role, scope }, disabled: false }
}

fn manager(user_id: Uuid) -> Member {
    member(user_id, role(BuiltinRole::Manager), TenantScope::All)
}

fn reject(reason: &str) -> Verdict {
    Verdict::Reject { reason: Some(reason.to_owned()) }
}

#[test]
fn another_entitled_member_with_the_capability_approves_a_pending_run() {
    let pending = Approval::pending();
    let approved = decide(Some(&manager(BOB)), &restore_run(), Some(&pending), &Verdict::Approve, AT);
    assert_eq!(approved, Ok(approved_by(BOB, AT)));
    let rejected = decide(Some(&manager(BOB)), &restore_run(), Some(&pending), &reject("  Not now.  "), AT);
    let expected = Approval { state: ApprovalState::Rejected, reason: Some("Not now.".into()), ..approved_by(BOB, AT) };
    assert_eq!(rejected, Ok(expected));
    // A blank reason is no reason.
    let blank = decide(Some(&manager(BOB)), &restore_run(), Some(&pending), &reject("   "), AT);
    assert_eq!(blank.map(|a| a.reason), Ok(None));
    assert!(can_decide(Some(&manager(BOB)), &restore_run(), Some(&pending), AT));
    assert!(!can_decide(Some(&manager(JANE)), &restore_run(), Some(&pending), AT));
}

#[test]
fn refusals_in_order_hidden_not_pending_own_run_not_allowed_bad_reason() {
    let pending = Approval::pending();
    let go = |m: Option<&Member>, run: &Run, a: Option<&Approval>, v: &Verdict| decide(m, run, a, v, AT);
    let r = restore_run();
    assert_eq!(go(None, &r, Some(&pending), &Verdict::Approve), Err(ApprovalError::NotFound));
    let elsewhere = member(BOB, role(BuiltinRole::Owner), TenantScope::Tenants(BTreeSet::from([OTHER_TENANT])));
    assert_eq!(go(Some(&elsewhere), &r, Some(&pending), &Verdict::Approve), Err(ApprovalError::NotFound));

    let not_pending = |a: Option<&Approval>, run: &Run| {
        matches!(go(Some(&manager(BOB)), run, a, &Verdict::Approve), Err(ApprovalError::NotPending(_)))
    };
    assert!(not_pending(None, &r), "a run that needs no approval");
    assert!(not_pending(Some(&approved_by(BOB, AT)), &r), "approving twice");
    let rejected = Approval { state: ApprovalState::Rejected, ..approved_by(BOB, AT) };
    assert!(not_pending(Some(&rejected), &r));
    let completed = Run { status: RunStatus::Completed, outcome: crate::run::RunOutcome::Cancelled, ..r.clone() };
    assert!(not_pending(Some(&pending), &completed));
    let err = go(Some(&manager(BOB)), &r, Some(&approved_by(BOB, AT)), &Verdict::Approve).err();
    assert_eq!(err.map(|e| e.to_string()), Some(format!("run {RUN_ID} is already approved")));
    // Even the initiator learns first that there is nothing to decide.
    assert!(matches!(go(Some(&manager(JANE)), &r, None, &Verdict::Approve), Err(ApprovalError::NotPending(_))));

    assert_eq!(go(Some(&manager(JANE)), &r, Some(&pending), &Verdict::Approve), Err(ApprovalError::OwnRun));
    assert_eq!(go(Some(&manager(JANE)), &r, Some(&pending), &reject("x")), Err(ApprovalError::OwnRun));

    let operator = member(BOB, role(BuiltinRole::Operator), TenantScope::All);
    let forbidden = go(Some(&operator), &r, Some(&pending), &Verdict::Approve);
    assert_eq!(forbidden, Err(ApprovalError::Forbidden("approving this run needs tenant.restore.execute".into())));
    let disabled = Member { disabled: true, ..manager(BOB) };
    assert!(matches!(go(Some(&disabled), &r, Some(&pending), &Verdict::Approve), Err(ApprovalError::Forbidden(_))));

    let long = "é".repeat(MAX_REASON_CHARS + 1);
    assert_eq!(go(Some(&manager(BOB)), &r, Some(&pending), &reject(&long)), Err(ApprovalError::ReasonTooLong(1001)));
    let longest = "é".repeat(MAX_REASON_CHARS);
    assert!(go(Some(&manager(BOB)), &r, Some(&pending), &reject(&longest)).is_ok(), "characters, not bytes");
}

#[test]
fn a_bulk_write_needs_the_items_capability_too() {
    let params = json!({"operation": "restore.assignments", "tenant_ids": [TENANT, OTHER_TENANT]});
    let bulk = run(OperationType::BulkOperation, None, params.clone());
    assert_eq!(
        approver_capabilities(OperationType::BulkOperation, &params),
        [Capability::BulkExecute, Capability::TenantRestoreExecute]
    );
    let bulk_only: CapabilitySet = [Capability::BulkExecute, Capability::WorkspaceView].into();
    let custom = member(BOB, Role::Custom { name: "bulk".into(), capabilities: bulk_only }, TenantScope::All);
    let pending = Approval::pending();
    let refused = decide(Some(&custom), &bulk, Some(&pending), &Verdict::Approve, AT);
    assert_eq!(refused, Err(ApprovalError::Forbidden("approving this run needs tenant.restore.execute".into())));
    assert!(decide(Some(&manager(BOB)), &bulk, Some(&pending), &Verdict::Approve, AT).is_ok());
    // Entitled to one of its tenants only: the bulk run is hidden.
    let partial = member(BOB, role(BuiltinRole::Owner), TenantScope::Tenants(BTreeSet::from([TENANT])));
    assert_eq!(decide(Some(&partial), &bulk, Some(&pending), &Verdict::Approve, AT), Err(ApprovalError::NotFound));
}

#[test]
fn eligible_approvers_are_the_members_who_could_approve_never_the_initiator() {
    const CAROL: Uuid = Uuid::from_u128(0x32);
    const DAN: Uuid = Uuid::from_u128(0x33);
    const ERIN: Uuid = Uuid::from_u128(0x34);
    const FRANK: Uuid = Uuid::from_u128(0x35);
    let members = [
        member(JANE, role(BuiltinRole::Owner), TenantScope::All),
        manager(BOB),
        member(CAROL, role(BuiltinRole::Operator), TenantScope::All),
        member(DAN, role(BuiltinRole::Owner), TenantScope::Tenants(BTreeSet::from([OTHER_TENANT]))),
        Member { disabled: true, ..manager(ERIN) },
        member(FRANK, role(BuiltinRole::Owner), TenantScope::Tenants(BTreeSet::from([TENANT]))),
    ];
    assert_eq!(eligible_approvers(&restore_run(), &members), [BOB, FRANK]);
}

#[test]
fn requests_and_decisions_are_audited_by_who_made_them() {
    let r = restore_run();
    let requested = audit(&r, &Approval::pending());
    assert_eq!(requested.action, "operation.approval_requested");
    assert_eq!(requested.actor, Actor::User { user_id: JANE });
    assert_eq!((requested.subject.as_str(), requested.tenant_id), (format!("run:{RUN_ID}").as_str(), Some(TENANT)));
    let approved = audit(&r, &approved_by(BOB, AT));
    assert_eq!((approved.action.as_str(), approved.actor), ("operation.approved", Actor::User { user_id: BOB }));
    assert_eq!(approved.data["approval"]["by"], json!(BOB));
    let rejected = audit(&r, &Approval { state: ApprovalState::Rejected, ..approved_by(BOB, AT) });
    assert_eq!(rejected.action, "operation.rejected");
}

#[test]
fn a_request_is_needed_for_writes_on_a_tenant_that_requires_approval() {
    let checked = |ctx: ExecutionContext| ctx.check().ok();
    let required = ApprovalFacts { required_by: BTreeSet::from([TENANT]), ..ApprovalFacts::default() };
    let needs = |ctx, facts: &ApprovalFacts| checked(ctx).is_some_and(|c| needs_request(&c, facts));
    assert!(needs(restore(false), &required));
    assert!(!needs(restore(true), &required));
    assert!(!needs(restore(false), &ApprovalFacts::default()));
}

// ---------------------------------------------------------------------------
// The rule and the gate agree.

fn arb_member() -> impl Strategy<Value = Member> {
    let caps = prop::sample::subsequence(Capability::ALL.to_vec(), 0..=Capability::ALL.len());
    let custom = caps.prop_map(|c| Role::Custom { name: "custom".into(), capabilities: c.into_iter().collect() });
    let role = prop_oneof![prop::sample::select(BuiltinRole::ALL.to_vec()).prop_map(Role::Builtin), custom];
    let scope = prop_oneof![
        Just(TenantScope::All),
        Just(TenantScope::Tenants(BTreeSet::from([TENANT]))),
        Just(TenantScope::Tenants(BTreeSet::from([OTHER_TENANT]))),
    ];
    let user = prop_oneof![4 => Just(BOB), 1 => Just(JANE)];
    (user, role, scope, prop::bool::weighted(0.1))
        .prop_map(|(user_id, role, scope, disabled)| Member { viewer: Viewer { user_id, role, scope }, disabled })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// For a single-tenant write, the rule grants an approval exactly when the
    /// gate, right after, accepts it with that member as the approver.
    #[test]
    fn an_approval_the_rule_grants_is_one_the_gate_accepts(m in arb_member(), assignments: bool) {
        let r = if assignments {
            run(OperationType::RestoreAssignments, Some(TENANT), json!({"backup_set_id": SET}))
        } else {
            restore_run()
        };
        let granted = decide(Some(&m), &r, Some(&Approval::pending()), &Verdict::Approve, AT);
        let record = granted.clone().ok().unwrap_or_else(|| approved_by(m.viewer.user_id, AT));
        let mut facts = world();
        facts.approval.record = Some(record.clone());
        facts.approval.approver = bob(m.disabled, membership(m.viewer.role.clone(), m.viewer.scope.clone()));
        let d = evaluate(&r.execution_context(), &facts, AT, 1);
        let approval = d.checks.iter().find(|c| c.check == CheckName::Approval).map(|c| c.result);
        if granted.is_ok() {
            prop_assert_eq!(record.by, Some(m.viewer.user_id));
            prop_assert_ne!(record.by, r.initiator_user_id, "never the initiator");
            prop_assert_eq!(approval, Some(CheckResultKind::Pass), "{:?}", d);
        } else {
            prop_assert_eq!(approval, Some(CheckResultKind::Fail), "{:?}", d);
        }
    }
}
