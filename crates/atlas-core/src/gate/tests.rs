//! The gate against an independent re-statement of SPEC §3.2, plus one unit test
//! per reason code.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::capability::BuiltinRole;
use ReasonCode as R;

const WS: Uuid = Uuid::from_u128(0x10);
const TENANT: Uuid = Uuid::from_u128(0x20);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x21);
const USER: Uuid = Uuid::from_u128(0x30);
const SCHEDULE: Uuid = Uuid::from_u128(0x40);
const SET: Uuid = Uuid::from_u128(0x50);
const AT: Timestamp = Timestamp(1_795_000_000_000_000);

// ---------------------------------------------------------------------------
// The oracle: SPEC §2 and §3.2 written out again, without the registry.

fn spec_capability(op: OperationType) -> Capability {
    use OperationType::*;
    match op {
        ProviderConnectionCheck => Capability::ProviderConnectionsVerify,
        InventorySync => Capability::TenantInventorySync,
        PoliciesSync => Capability::TenantPoliciesSync,
        ComplianceSnapshot => Capability::TenantComplianceSnapshot,
        BackupRun => Capability::TenantBackupRun,
        RestoreExecute | RestoreAssignments => Capability::TenantRestoreExecute,
        BulkOperation => Capability::BulkExecute,
        #[cfg(feature = "testkit")]
        TestkitNoop => Capability::TenantInventorySync,
    }
}

/// The SPEC §2 role table, one row per capability.
fn spec_role_grants(role: &Role, cap: Capability) -> bool {
    use Capability::*;
    let tier = match cap {
        WorkspaceView | OperationsView | TenantView => 0,
        ProviderConnectionsVerify
        | TenantInventorySync
        | TenantPoliciesSync
        | TenantComplianceSnapshot
        | TenantBackupRun => 1,
        ProviderConnectionsManage
        | TenantManage
        | TenantBackupSchedulesManage
        | TenantRestoreExecute
        | BulkExecute
        | OperationsCancel
        | AuditView => 2,
        MembersManage => 3,
    };
    match role {
        Role::Builtin(BuiltinRole::Readonly) => tier == 0,
        Role::Builtin(BuiltinRole::Operator) => tier <= 1,
        Role::Builtin(BuiltinRole::Manager) => tier <= 2,
        Role::Builtin(BuiltinRole::Owner) => true,
        Role::Custom { capabilities, .. } => capabilities.contains(&cap),
    }
}

fn spec_writes(op: OperationType, params: &Value) -> bool {
    match op {
        OperationType::RestoreExecute => params.get("dry_run") != Some(&json!(true)),
        OperationType::RestoreAssignments => true,
        OperationType::BulkOperation => {
            matches!(
                params.get("operation").and_then(Value::as_str),
                Some("restore.execute" | "restore.assignments")
            )
        }
        _ => false,
    }
}

fn spec_system_allowed(op: OperationType) -> bool {
    use OperationType::*;
    match op {
        ProviderConnectionCheck | InventorySync | PoliciesSync | ComplianceSnapshot | BackupRun => {
            true
        }
        RestoreExecute | RestoreAssignments | BulkOperation => false,
        #[cfg(feature = "testkit")]
        TestkitNoop => true,
    }
}

fn spec_tenant_reason(op: OperationType, status: TenantStatus) -> Option<ReasonCode> {
    match (status, op) {
        (TenantStatus::Active, _) => None,
        (TenantStatus::Onboarding, OperationType::ProviderConnectionCheck) => None,
        (TenantStatus::Onboarding, _) => Some(ReasonCode::TenantOnboarding),
        (TenantStatus::Suspended, _) => Some(ReasonCode::TenantSuspended),
        (TenantStatus::Archived, _) => Some(ReasonCode::TenantArchived),
    }
}

/// A generated run context: the facts of how it was built, and its document.
#[derive(Clone, Debug)]
struct Case {
    op: OperationType,
    system: bool,
    tenant: Option<Uuid>,
    params: Value,
    /// `false` when the document was corrupted so that it must fail closed.
    context_valid: bool,
    ctx: ExecutionContext,
}

/// Expected check names (all passed but the last when denied) and the reason.
fn oracle(case: &Case, facts: &Facts) -> (Vec<CheckName>, Option<ReasonCode>) {
    use CheckName as C;
    let fail = |failed: bool, reason: ReasonCode| failed.then_some(reason);
    let mut passed = Vec::new();
    let mut step = |check: CheckName, denial: Option<ReasonCode>| match denial {
        Some(r) => Err((check, r)),
        None => {
            passed.push(check);
            Ok(())
        }
    };
    let outcome = (|| {
        step(
            C::Context,
            fail(!case.context_valid, R::ExecutionContextInvalid),
        )?;
        if case.system {
            let allowlisted = spec_system_allowed(case.op);
            step(
                C::SystemAllowlist,
                fail(!allowlisted, R::SystemAuthorityNotAllowlisted),
            )?;
            let schedule = match &facts.schedule {
                None => Some(R::ScheduleNotFound),
                Some(s) => fail(!s.enabled, R::ScheduleDisabled),
            };
            step(C::Schedule, schedule)?;
        } else {
            let initiator = match &facts.initiator {
                None => Some(R::InitiatorNotFound),
                Some(i) => fail(i.disabled, R::InitiatorDisabled),
            };
            step(C::Initiator, initiator)?;
            let Some(m) = &facts.membership else {
                return Err((C::Membership, R::WorkspaceMembershipRevoked));
            };
            step(C::Membership, None)?;
            if let Some(t) = case.tenant {
                let entitled = match &m.scope {
                    TenantScope::All => true,
                    TenantScope::Tenants(ids) => ids.contains(&t),
                };
                step(
                    C::TenantEntitlement,
                    fail(!entitled, R::TenantEntitlementRevoked),
                )?;
            }
            let granted = spec_role_grants(&m.role, spec_capability(case.op));
            step(C::Capability, fail(!granted, R::CapabilityRevoked))?;
        }
        if let Some(t) = case.tenant {
            let Some(tenant) = facts.tenant.as_ref().filter(|f| f.id == t) else {
                return Err((C::Tenant, R::TenantNotFound));
            };
            step(C::Tenant, spec_tenant_reason(case.op, tenant.status))?;
            if spec_writes(case.op, &case.params) {
                step(
                    C::WriteGate,
                    fail(!tenant.writes_enabled, R::WriteGateClosed),
                )?;
            }
            let connection = match facts.connection.as_ref().map(|c| c.status) {
                None => Some(R::ProviderConnectionMissing),
                Some(ConnectionStatus::Enabled) => None,
                Some(ConnectionStatus::PendingConsent) => fail(
                    case.op != OperationType::ProviderConnectionCheck,
                    R::ProviderConnectionDisabled,
                ),
                Some(ConnectionStatus::Disabled) => Some(R::ProviderConnectionDisabled),
            };
            step(C::ProviderConnection, connection)?;
        }
        let restore = [
            OperationType::RestoreExecute,
            OperationType::RestoreAssignments,
        ];
        if restore.contains(&case.op) {
            step(
                C::BackupSet,
                fail(!facts.backup_set_exists, R::BackupSetMissing),
            )?;
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => (passed, None),
        Err((check, reason)) => {
            passed.push(check);
            (passed, Some(reason))
        }
    }
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

fn params_for(op: OperationType) -> BoxedStrategy<Value> {
    let set = SET.to_string();
    match op {
        OperationType::RestoreExecute => (proptest::option::of(any::<bool>()), any::<bool>())
            .prop_map(move |(dry_run, items)| {
                let mut p = json!({"backup_set_id": set});
                if let Some(d) = dry_run {
                    p["dry_run"] = json!(d);
                }
                if items {
                    p["item_ids"] = json!([
                        Uuid::from_u128(0x61).to_string(),
                        Uuid::from_u128(0x60).to_string()
                    ]);
                }
                p
            })
            .boxed(),
        OperationType::RestoreAssignments => Just(json!({"backup_set_id": set})).boxed(),
        OperationType::BulkOperation => {
            let items: Vec<OperationType> = OperationType::all().filter(|t| *t != op).collect();
            prop::sample::select(items)
                .prop_map(|t| json!({"operation": t.as_str(), "tenant_ids": [TENANT.to_string(), OTHER_TENANT.to_string()]}))
                .boxed()
        }
        _ => prop_oneof![Just(json!({})), Just(Value::Null)].boxed(),
    }
}

fn tamper(doc: &mut Value, op: OperationType, t: Tamper) {
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
            let swapped = match m.get("authority_mode").and_then(Value::as_str) {
                Some("actor_bound") => "system_authority",
                _ => "actor_bound",
            };
            m.insert("authority_mode".into(), json!(swapped));
        }
        Tamper::WrongCapability(i) => {
            let required = op.spec().capability;
            let others: Vec<Capability> = Capability::ALL
                .iter()
                .copied()
                .filter(|c| *c != required)
                .collect();
            m.insert(
                "required_capability".into(),
                json!(others[i % others.len()].as_str()),
            );
        }
        Tamper::NotAnObject => *doc = json!(["not", "an", "object"]),
        Tamper::UnknownParam | Tamper::WrongParamType => {
            let given = m.get("params").cloned().filter(Value::is_object);
            let mut p = given.unwrap_or_else(|| json!({}));
            match (t, op) {
                (Tamper::UnknownParam, _) => p["bogus"] = json!(true),
                (_, OperationType::RestoreExecute | OperationType::RestoreAssignments) => {
                    p["backup_set_id"] = json!(42)
                }
                (_, OperationType::BulkOperation) => p["tenant_ids"] = json!("everything"),
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

fn arb_case() -> impl Strategy<Value = Case> {
    let ops: Vec<OperationType> = OperationType::all().collect();
    prop::sample::select(ops).prop_flat_map(|op| {
        (
            Just(op),
            prop::bool::weighted(0.3),
            any::<bool>(),
            params_for(op),
            arb_tamper(),
        )
            .prop_map(|(op, system, no_tenant, params, t)| {
                let tenant = if op == OperationType::BulkOperation && no_tenant {
                    None
                } else {
                    Some(TENANT)
                };
                let authority = if system {
                    Authority::schedule(SCHEDULE, AT)
                } else {
                    Authority::Actor { user_id: USER }
                };
                let mut ctx = ExecutionContext::capture(op, &authority, WS, tenant, &params);
                tamper(&mut ctx.doc, op, t);
                let context_valid = matches!(t, Tamper::None | Tamper::FlipWrites);
                Case {
                    op,
                    system,
                    tenant,
                    params,
                    context_valid,
                    ctx,
                }
            })
    })
}

fn arb_role() -> impl Strategy<Value = Role> {
    prop_oneof![
        3 => prop::sample::select(BuiltinRole::ALL.to_vec()).prop_map(Role::Builtin),
        3 => Just(Role::Builtin(BuiltinRole::Owner)),
        1 => prop::sample::subsequence(Capability::ALL.to_vec(), 0..=Capability::ALL.len())
            .prop_map(|caps| Role::Custom { name: "custom".into(), capabilities: caps.into_iter().collect() }),
    ]
}

fn arb_scope() -> impl Strategy<Value = TenantScope> {
    prop_oneof![
        4 => Just(TenantScope::All),
        2 => prop::bool::weighted(0.75).prop_map(|includes| {
            let mut ids = BTreeSet::from([OTHER_TENANT]);
            if includes {
                ids.insert(TENANT);
            }
            TenantScope::Tenants(ids)
        }),
        1 => Just(TenantScope::Tenants(BTreeSet::new())),
    ]
}

fn arb_facts() -> impl Strategy<Value = Facts> {
    // Biased towards a working world so that the later checks are reached too.
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
    (
        proptest::option::weighted(0.9, prop::bool::weighted(0.1)),
        proptest::option::weighted(0.9, (arb_role(), arb_scope())),
        proptest::option::weighted(0.95, (prop::bool::weighted(0.95), statuses, likely())),
        proptest::option::weighted(0.9, connections),
        proptest::option::weighted(0.9, likely()),
        likely(),
    )
        .prop_map(
            |(initiator, membership, tenant, connection, schedule, backup_set_exists)| Facts {
                initiator: initiator.map(|disabled| InitiatorFact {
                    display_name: "Jane Doe".into(),
                    disabled,
                }),
                membership: membership.map(|(role, scope)| MembershipFact { role, scope }),
                tenant: tenant.map(|(same_id, status, writes_enabled)| TenantFact {
                    id: if same_id { TENANT } else { OTHER_TENANT },
                    name: "Contoso".into(),
                    status,
                    writes_enabled,
                }),
                connection: connection.map(|status| ConnectionFact { status }),
                schedule: schedule.map(|enabled| ScheduleFact { enabled }),
                backup_set_exists,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn gate_matches_the_spec_oracle(case in arb_case(), facts in arb_facts(), at in 0i64..4_000_000_000_000_000, attempt: u32) {
        let at = Timestamp(at);
        let d = evaluate(&case.ctx, &facts, at, attempt);
        prop_assert_eq!(&d, &evaluate(&case.ctx, &facts, at, attempt), "not deterministic");
        prop_assert_eq!(d.attempt, attempt);
        prop_assert_eq!(d.evaluated_at, at);

        let all_pass = d.checks.iter().all(|c| c.result == CheckResultKind::Pass);
        prop_assert_eq!(d.allowed, all_pass);
        prop_assert!(!d.checks.is_empty());
        if !d.allowed {
            let (last, before) = d.checks.split_last().ok_or_else(|| TestCaseError::fail("no checks"))?;
            prop_assert_eq!(last.result, CheckResultKind::Fail);
            prop_assert!(before.iter().all(|c| c.result == CheckResultKind::Pass));
        }
        let positions: Vec<usize> = d
            .checks
            .iter()
            .map(|c| CheckName::ORDER.iter().position(|o| *o == c.check).unwrap_or(usize::MAX))
            .collect();
        prop_assert!(positions.windows(2).all(|w| w[0] < w[1]), "checks out of order: {:?}", d.checks);

        prop_assert_eq!(d.reason_code.is_some(), !d.allowed);
        prop_assert_eq!(d.denial_class, d.reason_code.map(ReasonCode::class));
        prop_assert_eq!(d.retryable, d.reason_code == Some(ReasonCode::EvaluationUnavailable));
        prop_assert!(!d.retryable, "evaluate never guesses an unreadable world");
        let mode = case.context_valid.then_some(if case.system {
            AuthorityKind::SystemAuthority
        } else {
            AuthorityKind::ActorBound
        });
        prop_assert_eq!(d.authority_mode, mode);

        let (expected_checks, expected_reason) = oracle(&case, &facts);
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

fn system() -> Authority {
    Authority::schedule(SCHEDULE, AT)
}

fn context(op: OperationType, authority: &Authority, params: Value) -> ExecutionContext {
    ExecutionContext::capture(op, authority, WS, Some(TENANT), &params)
}

fn restore(dry_run: bool) -> ExecutionContext {
    let params = json!({"backup_set_id": SET.to_string(), "dry_run": dry_run});
    context(OperationType::RestoreExecute, &actor(), params)
}

fn sync(authority: &Authority) -> ExecutionContext {
    context(OperationType::InventorySync, authority, json!({}))
}

fn jane(disabled: bool) -> Option<InitiatorFact> {
    Some(InitiatorFact {
        display_name: "Jane Doe".into(),
        disabled,
    })
}

fn member(role: Role, scope: TenantScope) -> Option<MembershipFact> {
    Some(MembershipFact { role, scope })
}

fn tenant(status: TenantStatus, writes_enabled: bool) -> Option<TenantFact> {
    let name = "Contoso".into();
    Some(TenantFact {
        id: TENANT,
        name,
        status,
        writes_enabled,
    })
}

/// A world in which everything is allowed.
fn world() -> Facts {
    Facts {
        initiator: jane(false),
        membership: member(Role::Builtin(BuiltinRole::Owner), TenantScope::All),
        tenant: tenant(TenantStatus::Active, true),
        connection: Some(ConnectionFact {
            status: ConnectionStatus::Enabled,
        }),
        schedule: Some(ScheduleFact { enabled: true }),
        backup_set_exists: true,
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
    for op in OperationType::all() {
        let params = match op {
            OperationType::RestoreExecute | OperationType::RestoreAssignments => {
                json!({"backup_set_id": SET.to_string()})
            }
            OperationType::BulkOperation => {
                json!({"operation": "inventory.sync", "tenant_ids": [TENANT.to_string()]})
            }
            _ => json!({}),
        };
        let d = evaluate(&context(op, &actor(), params), &world(), AT, 1);
        assert!(d.allowed, "{op}: {d:?}");
        assert_eq!(d.message, "Allowed.");
    }
    assert!(allows(&sync(&system()), &world()));
}

#[test]
fn initiator_and_scope_denials() {
    let ctx = restore(false);
    assert_denied(
        &ctx,
        &with(|f| f.initiator = jane(true)),
        R::InitiatorDisabled,
    );
    assert_denied(&ctx, &with(|f| f.initiator = None), R::InitiatorNotFound);
    assert_denied(
        &ctx,
        &with(|f| f.membership = None),
        R::WorkspaceMembershipRevoked,
    );
    let other = TenantScope::Tenants(BTreeSet::from([OTHER_TENANT]));
    let unentitled = with(|f| f.membership = member(Role::Builtin(BuiltinRole::Owner), other));
    assert_denied(&ctx, &unentitled, R::TenantEntitlementRevoked);
}

#[test]
fn capability_revoked_for_a_readonly_and_a_custom_role() {
    let ctx = restore(false);
    assert_denied(&ctx, &role(BuiltinRole::Readonly), R::CapabilityRevoked);
    let d = evaluate(&ctx, &role(BuiltinRole::Readonly), AT, 1);
    assert_eq!(
        d.message,
        "Jane Doe no longer has the capability tenant.restore.execute."
    );
    let capabilities = [Capability::AuditView, Capability::TenantBackupRun].into();
    let auditor = Role::Custom {
        name: "auditor".into(),
        capabilities,
    };
    let auditor = with(|f| f.membership = member(auditor, TenantScope::All));
    assert_denied(&ctx, &auditor, R::CapabilityRevoked);
    assert!(allows(
        &context(OperationType::BackupRun, &actor(), json!({})),
        &auditor
    ));
}

#[test]
fn system_authority_denials() {
    for dry_run in [false, true] {
        let params = json!({"backup_set_id": SET.to_string(), "dry_run": dry_run});
        let ctx = context(OperationType::RestoreExecute, &system(), params);
        assert_denied(&ctx, &world(), R::SystemAuthorityNotAllowlisted);
    }
    let ctx = sync(&system());
    let disabled = with(|f| f.schedule = Some(ScheduleFact { enabled: false }));
    assert_denied(&ctx, &disabled, R::ScheduleDisabled);
    assert_denied(&ctx, &with(|f| f.schedule = None), R::ScheduleNotFound);
    // A system run does not depend on any person: the schedule outlives its creator.
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
    let check = context(OperationType::ProviderConnectionCheck, &actor(), json!({}));
    assert!(allows(
        &check,
        &with(|f| f.tenant = tenant(TenantStatus::Onboarding, false))
    ));
}

#[test]
fn write_gate_closes_real_restores_but_not_dry_runs() {
    let closed = with(|f| f.tenant = tenant(TenantStatus::Active, false));
    assert_denied(&restore(false), &closed, R::WriteGateClosed);
    let d = evaluate(&restore(false), &closed, AT, 1);
    assert_eq!(d.checks.last().map(|c| c.check), Some(CheckName::WriteGate));
    let dry = evaluate(&restore(true), &closed, AT, 1);
    assert!(dry.allowed, "{dry:?}");
    assert!(dry.checks.iter().all(|c| c.check != CheckName::WriteGate));
    let params = json!({"backup_set_id": SET.to_string()});
    let assignments = context(OperationType::RestoreAssignments, &actor(), params);
    assert_denied(&assignments, &closed, R::WriteGateClosed);
}

#[test]
fn prerequisite_denials() {
    let ctx = sync(&actor());
    let conn = |status| with(|f| f.connection = Some(ConnectionFact { status }));
    assert_denied(
        &ctx,
        &with(|f| f.connection = None),
        R::ProviderConnectionMissing,
    );
    assert_denied(
        &ctx,
        &conn(ConnectionStatus::Disabled),
        R::ProviderConnectionDisabled,
    );
    let pending = conn(ConnectionStatus::PendingConsent);
    assert_denied(&ctx, &pending, R::ProviderConnectionDisabled);
    let check = context(OperationType::ProviderConnectionCheck, &actor(), json!({}));
    assert!(
        allows(&check, &pending),
        "a check is what ends pending consent"
    );
    assert_denied(
        &check,
        &conn(ConnectionStatus::Disabled),
        R::ProviderConnectionDisabled,
    );
    let no_set = with(|f| f.backup_set_exists = false);
    assert_denied(&restore(true), &no_set, R::BackupSetMissing);
}

#[test]
fn a_tampered_context_fails_closed_and_writes_is_never_trusted() {
    let mut weaker = restore(false);
    weaker.doc["required_capability"] = json!("tenant.backup.run");
    assert_denied(
        &weaker,
        &role(BuiltinRole::Operator),
        R::ExecutionContextInvalid,
    );
    let d = evaluate(&weaker, &role(BuiltinRole::Operator), AT, 1);
    assert_eq!((d.authority_mode, d.checks.len()), (None, 1));

    let mut no_writes = restore(false);
    no_writes.doc["writes"] = json!(false);
    let closed = with(|f| f.tenant = tenant(TenantStatus::Active, false));
    assert_denied(&no_writes, &closed, R::WriteGateClosed);

    let mut system_restore = restore(false);
    system_restore.doc["authority_mode"] = json!("system_authority");
    assert_denied(&system_restore, &world(), R::ExecutionContextInvalid);

    for doc in [
        json!(null),
        json!("restore"),
        json!({"required_capability": "bulk.execute"}),
    ] {
        let ctx = ExecutionContext {
            op_type: OperationType::RestoreExecute,
            doc,
        };
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
        assert_eq!(
            serde_json::to_value(r).unwrap_or_default(),
            json!(r.as_str())
        );
        let class = serde_json::to_value(r.class()).unwrap_or_default();
        assert_eq!(class, json!(r.class().as_str()));
    }
}
