//! The preview against a small model of the store: a world of users,
//! memberships, roles, tenants, connections, schedules and runs, from which
//! each run's facts are read the way the store reads them. For random worlds
//! and changes, `AdminChange::apply` on a run's facts equals reading the facts
//! from the changed world, and the preview lists exactly the candidates the
//! gate allowed before the change and denies after it, with the gate's reason.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::approval::{ApprovalFacts, ApprovalState, ApproverFact};
use crate::capability::{BuiltinRole, Capability};
use crate::gate::{ConnectionFact, InitiatorFact, ScheduleFact, TenantFact};

const WS: Uuid = Uuid::from_u128(0x10);
const OTHER_WS: Uuid = Uuid::from_u128(0x11);
const T0: Uuid = Uuid::from_u128(0x20);
const T1: Uuid = Uuid::from_u128(0x21);
const JANE: Uuid = Uuid::from_u128(0x30);
const BOB: Uuid = Uuid::from_u128(0x31);
const CAROL: Uuid = Uuid::from_u128(0x32);
const S0: Uuid = Uuid::from_u128(0x40);
const S1: Uuid = Uuid::from_u128(0x41);
const SET: Uuid = Uuid::from_u128(0x50);
const AT: Timestamp = Timestamp(1_795_000_000_000_000);
const USERS: [Uuid; 3] = [JANE, BOB, CAROL];
const TENANTS: [Uuid; 2] = [T0, T1];
const SCHEDULES: [(Uuid, Uuid); 2] = [(S0, T0), (S1, T1)];
const CUSTOM: [&str; 2] = ["restorer", "auditor"];

// ---------------------------------------------------------------------------
// The model.

#[derive(Clone, Debug, PartialEq, Eq)]
enum RoleRef {
    Builtin(BuiltinRole),
    Custom(&'static str),
}

#[derive(Clone, Debug)]
struct TenantRow {
    status: TenantStatus,
    writes_enabled: bool,
    approval_required: bool,
}

#[derive(Clone, Debug)]
struct RunRow {
    id: Uuid,
    run: Run,
    approval: Option<Approval>,
    /// A bulk run's items, each gated with its own context.
    items: Vec<ExecutionContext>,
}

#[derive(Clone, Debug)]
struct World {
    users: BTreeMap<Uuid, bool>,
    memberships: BTreeMap<(Uuid, Uuid), (RoleRef, TenantScope)>,
    custom_roles: BTreeMap<&'static str, CapabilitySet>,
    tenants: BTreeMap<Uuid, TenantRow>,
    connections: BTreeMap<Uuid, ConnectionStatus>,
    schedules: BTreeMap<Uuid, bool>,
    runs: Vec<RunRow>,
    slots: Vec<(Uuid, Timestamp)>,
}

fn name(user: Uuid) -> String {
    match user {
        JANE => "Jane Doe".into(),
        BOB => "Bob Smith".into(),
        _ => "Carol Jones".into(),
    }
}

impl World {
    fn role(&self, r: &RoleRef) -> Role {
        match r {
            RoleRef::Builtin(b) => Role::Builtin(*b),
            RoleRef::Custom(n) => {
                let capabilities = self.custom_roles.get(n).cloned().unwrap_or_default();
                Role::Custom { name: (*n).to_owned(), capabilities }
            }
        }
    }

    fn membership(&self, ws: Uuid, user: Uuid) -> Option<MembershipFact> {
        let (role, scope) = self.memberships.get(&(ws, user))?;
        Some(MembershipFact { role: self.role(role), scope: scope.clone() })
    }

    /// A run's facts as the store reads them.
    fn facts(&self, ctx: &ExecutionContext, approval: Option<&Approval>, started: Option<Timestamp>) -> Facts {
        let Ok(c) = ctx.check() else { return Facts::default() };
        let mut f = Facts { backup_set_exists: true, ..Facts::default() };
        match c.authority {
            Authority::Actor { user_id } => {
                f.initiator =
                    self.users.get(&user_id).map(|d| InitiatorFact { display_name: name(user_id), disabled: *d });
                f.membership = self.membership(c.workspace_id, user_id);
            }
            Authority::System { schedule_id, .. } => {
                f.schedule = self.schedules.get(&schedule_id).map(|e| ScheduleFact { enabled: *e });
            }
        }
        if let Some(t) = c.tenant_id {
            f.tenant = self.tenants.get(&t).map(|row| TenantFact {
                id: t,
                name: format!("Tenant {}", t.as_u128()),
                status: row.status,
                writes_enabled: row.writes_enabled,
            });
            f.connection = self.connections.get(&t).map(|s| ConnectionFact { status: *s });
        }
        let covered: Vec<Uuid> = TENANTS.into_iter().filter(|t| covers(&c, *t)).collect();
        let required_by = covered.into_iter().filter(|t| self.tenants.get(t).is_some_and(|r| r.approval_required));
        let by = approval.and_then(|a| a.by);
        f.approval = ApprovalFacts {
            required_by: required_by.collect(),
            record: approval.cloned(),
            approver: by.and_then(|u| {
                let disabled = *self.users.get(&u)?;
                Some(ApproverFact { display_name: name(u), disabled, membership: self.membership(c.workspace_id, u) })
            }),
            run_started_at: started,
            ..ApprovalFacts::default()
        };
        f
    }

    /// The change as the store would make it.
    fn apply(&self, change: &AdminChange) -> World {
        let mut w = self.clone();
        match change {
            AdminChange::MemberSetRole { workspace_id, user_id, role } => {
                if let Some(m) = w.memberships.get_mut(&(*workspace_id, *user_id)) {
                    m.0 = match role {
                        Role::Builtin(b) => RoleRef::Builtin(*b),
                        Role::Custom { name, .. } => RoleRef::Custom(custom_name(name)),
                    };
                }
            }
            AdminChange::MemberSetScope { workspace_id, user_id, scope } => {
                if let Some(m) = w.memberships.get_mut(&(*workspace_id, *user_id)) {
                    m.1 = scope.clone();
                }
            }
            AdminChange::MemberRevoke { workspace_id, user_id } => {
                w.memberships.remove(&(*workspace_id, *user_id));
            }
            AdminChange::RoleSet { workspace_id, name, capabilities } if *workspace_id == WS => {
                if let Some(caps) = w.custom_roles.get_mut(custom_name(name)) {
                    caps.clone_from(capabilities);
                }
            }
            AdminChange::RoleSet { .. } => {}
            AdminChange::UserDisable { user_id } => {
                if let Some(d) = w.users.get_mut(user_id) {
                    *d = true;
                }
            }
            AdminChange::TenantSetStatus { tenant_id, status } => {
                w.tenants.get_mut(tenant_id).into_iter().for_each(|t| t.status = *status);
            }
            AdminChange::TenantWriteGate { tenant_id, open } => {
                w.tenants.get_mut(tenant_id).into_iter().for_each(|t| t.writes_enabled = *open);
            }
            AdminChange::TenantApproval { tenant_id, required } => {
                w.tenants.get_mut(tenant_id).into_iter().for_each(|t| t.approval_required = *required);
            }
            AdminChange::ConnectionDisable { tenant_id } => {
                w.connections.get_mut(tenant_id).into_iter().for_each(|c| *c = ConnectionStatus::Disabled);
            }
            AdminChange::ScheduleDisable { schedule_id } => {
                w.schedules.get_mut(schedule_id).into_iter().for_each(|e| *e = false);
            }
        }
        w
    }

    /// Every candidate, in the order the store would list them.
    fn candidates(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        for r in &self.runs {
            let facts = self.facts(&r.run.execution_context(), r.approval.as_ref(), r.run.started_at);
            let Some(c) = Candidate::run(&r.run, r.approval.as_ref(), facts) else { continue };
            let state = c.state;
            out.push(c);
            for item in &r.items {
                let facts = self.facts(item, r.approval.as_ref(), r.run.started_at);
                out.push(Candidate { subject: Subject::Run { run_id: r.id }, state, ctx: item.clone(), facts });
            }
        }
        for (schedule_id, slot) in &self.slots {
            let tenant = SCHEDULES.iter().find(|(s, _)| s == schedule_id).map_or(T0, |(_, t)| *t);
            let ctx = Candidate::slot(*schedule_id, WS, tenant, *slot, Facts::default()).ctx;
            out.push(Candidate::slot(*schedule_id, WS, tenant, *slot, self.facts(&ctx, None, None)));
        }
        out
    }
}

fn custom_name(name: &str) -> &'static str {
    CUSTOM.into_iter().find(|n| *n == name).unwrap_or("missing")
}

// ---------------------------------------------------------------------------
// Generators.

fn arb_caps() -> impl Strategy<Value = CapabilitySet> {
    prop::sample::subsequence(Capability::ALL.to_vec(), 0..=Capability::ALL.len()).prop_map(|c| c.into_iter().collect())
}

/// Biased towards roles that may run everything, so that changes have something to block.
fn arb_role_ref() -> impl Strategy<Value = RoleRef> {
    prop_oneof![
        3 => Just(RoleRef::Builtin(BuiltinRole::Owner)),
        2 => Just(RoleRef::Builtin(BuiltinRole::Manager)),
        2 => prop::sample::select(BuiltinRole::ALL.to_vec()).prop_map(RoleRef::Builtin),
        1 => prop::sample::select(CUSTOM.to_vec()).prop_map(RoleRef::Custom),
    ]
}

fn arb_scope() -> impl Strategy<Value = TenantScope> {
    prop_oneof![
        3 => Just(TenantScope::All),
        1 => Just(TenantScope::Tenants(BTreeSet::from([T0]))),
        1 => Just(TenantScope::Tenants(BTreeSet::from([T1]))),
    ]
}

fn arb_status() -> impl Strategy<Value = TenantStatus> {
    prop_oneof![5 => Just(TenantStatus::Active), 1 => prop::sample::select(TenantStatus::ALL.to_vec())]
}

fn arb_approval() -> impl Strategy<Value = Option<Approval>> {
    let by = prop_oneof![3 => Just(BOB), 2 => Just(CAROL), 1 => Just(JANE)];
    let hours = 0i64..30;
    let state = prop_oneof![
        4 => Just(ApprovalState::Approved),
        1 => Just(ApprovalState::Pending),
        1 => Just(ApprovalState::Rejected),
    ];
    let record = (state, by, hours).prop_map(|(state, by, h)| match state {
        ApprovalState::Pending => Approval::pending(),
        state => Approval { state, by: Some(by), at: Some(AT.plus_millis(-h * 3_600_000)), reason: None },
    });
    proptest::option::weighted(0.6, record)
}

/// (op, params, system?, user or schedule index, tenant index, running?, approval).
fn arb_run() -> impl Strategy<Value = (usize, bool, usize, usize, bool, Option<Approval>)> {
    (0usize..6, prop::bool::weighted(0.2), 0usize..3, 0usize..2, prop::bool::weighted(0.3), arb_approval())
}

fn build_run(i: usize, spec: (usize, bool, usize, usize, bool, Option<Approval>)) -> RunRow {
    let (kind, system, who, t, running, approval) = spec;
    let tenant = TENANTS[t];
    let (op, params) = match kind {
        0 => (OperationType::RestoreExecute, json!({"backup_set_id": SET, "dry_run": false})),
        1 => (OperationType::RestoreExecute, json!({"backup_set_id": SET, "dry_run": true})),
        2 => (OperationType::RestoreAssignments, json!({"backup_set_id": SET})),
        3 => (OperationType::InventorySync, json!({})),
        4 => (OperationType::BackupRun, json!({})),
        _ => (OperationType::BulkOperation, json!({"operation": "inventory.sync", "tenant_ids": [T0, T1]})),
    };
    let system = system && crate::operation::is_system_allowlisted(op);
    let authority = if system {
        Authority::schedule(SCHEDULES[who % 2].0, AT.plus_millis(-60_000))
    } else {
        Authority::Actor { user_id: USERS[who] }
    };
    let tenant_id = (op != OperationType::BulkOperation).then_some(tenant);
    let tenant_id = match &authority {
        Authority::System { schedule_id, .. } => SCHEDULES.iter().find(|(s, _)| s == schedule_id).map(|(_, t)| *t),
        Authority::Actor { .. } => tenant_id,
    };
    let new = crate::run::NewRun {
        op_type: op,
        workspace_id: WS,
        tenant_id,
        authority: authority.clone(),
        params: crate::operation::validate_params(op, &params).unwrap_or_default(),
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let id = Uuid::from_u128(0x1000 + i as u128);
    let (mut run, _) = Run::queued(new, id, AT.plus_millis(-3_600_000));
    if running {
        run.status = RunStatus::Running;
        run.started_at = Some(AT.plus_millis(-600_000));
    }
    let items = match op {
        OperationType::BulkOperation => TENANTS
            .iter()
            .map(|t| ExecutionContext::capture(OperationType::InventorySync, &authority, WS, Some(*t), &json!({})))
            .collect(),
        _ => Vec::new(),
    };
    // Only a queued run can still be waiting for its approval.
    let approval = approval.filter(|a| !(running && a.is_pending()));
    RunRow { id, run, approval, items }
}

fn arb_world() -> impl Strategy<Value = World> {
    let users = prop::collection::vec(proptest::option::weighted(0.95, prop::bool::weighted(0.05)), 3);
    let memberships = prop::collection::vec(proptest::option::weighted(0.85, (arb_role_ref(), arb_scope())), 3);
    let roles = (arb_caps(), arb_caps());
    let tenants = prop::collection::vec(
        proptest::option::weighted(0.95, (arb_status(), prop::bool::weighted(0.85), prop::bool::weighted(0.3))),
        2,
    );
    let connections = prop::collection::vec(
        proptest::option::weighted(
            0.9,
            prop_oneof![6 => Just(ConnectionStatus::Enabled), 1 => Just(ConnectionStatus::Disabled), 1 => Just(ConnectionStatus::PendingConsent)],
        ),
        2,
    );
    let schedules = prop::collection::vec(proptest::option::weighted(0.9, prop::bool::weighted(0.85)), 2);
    let runs = prop::collection::vec(arb_run(), 1..8);
    let slots = prop::collection::vec((0usize..2, 1i64..24), 0..3);
    (users, memberships, roles, tenants, connections, schedules, runs, slots).prop_map(
        |(users, memberships, roles, tenants, connections, schedules, runs, slots)| World {
            users: USERS.into_iter().zip(users).filter_map(|(u, d)| Some((u, d?))).collect(),
            memberships: USERS.into_iter().zip(memberships).filter_map(|(u, m)| Some(((WS, u), m?))).collect(),
            custom_roles: BTreeMap::from([(CUSTOM[0], roles.0), (CUSTOM[1], roles.1)]),
            tenants: TENANTS
                .into_iter()
                .zip(tenants)
                .filter_map(|(t, row)| {
                    let (status, writes_enabled, approval_required) = row?;
                    Some((t, TenantRow { status, writes_enabled, approval_required }))
                })
                .collect(),
            connections: TENANTS.into_iter().zip(connections).filter_map(|(t, c)| Some((t, c?))).collect(),
            schedules: SCHEDULES.iter().map(|(s, _)| *s).zip(schedules).filter_map(|(s, e)| Some((s, e?))).collect(),
            runs: runs.into_iter().enumerate().map(|(i, spec)| build_run(i, spec)).collect(),
            slots: slots.into_iter().map(|(s, h)| (SCHEDULES[s].0, AT.plus_millis(h * 3_600_000))).collect(),
        },
    )
}

/// A change as the console would send it; `None` when it names a role that
/// does not exist (the admin layer refuses that before any preview).
#[derive(Clone, Debug)]
enum ChangeSpec {
    SetRole(Uuid, usize, RoleRef),
    SetScope(Uuid, usize, TenantScope),
    Revoke(Uuid, usize),
    RoleSet(Uuid, usize, CapabilitySet),
    Disable(usize),
    Status(usize, TenantStatus),
    WriteGate(usize, bool),
    Approval(usize, bool),
    Connection(usize),
    Schedule(usize),
}

fn arb_change() -> impl Strategy<Value = ChangeSpec> {
    let ws = prop_oneof![6 => Just(WS), 1 => Just(OTHER_WS)];
    prop_oneof![
        (ws.clone(), 0usize..3, arb_role_ref()).prop_map(|(w, u, r)| ChangeSpec::SetRole(w, u, r)),
        (ws.clone(), 0usize..3, arb_scope()).prop_map(|(w, u, s)| ChangeSpec::SetScope(w, u, s)),
        (ws.clone(), 0usize..3).prop_map(|(w, u)| ChangeSpec::Revoke(w, u)),
        (ws, 0usize..2, arb_caps()).prop_map(|(w, r, c)| ChangeSpec::RoleSet(w, r, c)),
        (0usize..3).prop_map(ChangeSpec::Disable),
        (0usize..2, prop::sample::select(TenantStatus::ALL.to_vec())).prop_map(|(t, s)| ChangeSpec::Status(t, s)),
        (0usize..2, any::<bool>()).prop_map(|(t, o)| ChangeSpec::WriteGate(t, o)),
        (0usize..2, any::<bool>()).prop_map(|(t, r)| ChangeSpec::Approval(t, r)),
        (0usize..2).prop_map(ChangeSpec::Connection),
        (0usize..2).prop_map(ChangeSpec::Schedule),
    ]
}

fn resolve(spec: &ChangeSpec, world: &World) -> AdminChange {
    match spec.clone() {
        ChangeSpec::SetRole(workspace_id, u, r) => {
            AdminChange::MemberSetRole { workspace_id, user_id: USERS[u], role: world.role(&r) }
        }
        ChangeSpec::SetScope(workspace_id, u, scope) => {
            AdminChange::MemberSetScope { workspace_id, user_id: USERS[u], scope }
        }
        ChangeSpec::Revoke(workspace_id, u) => AdminChange::MemberRevoke { workspace_id, user_id: USERS[u] },
        ChangeSpec::RoleSet(workspace_id, r, capabilities) => {
            AdminChange::RoleSet { workspace_id, name: CUSTOM[r].to_owned(), capabilities }
        }
        ChangeSpec::Disable(u) => AdminChange::UserDisable { user_id: USERS[u] },
        ChangeSpec::Status(t, status) => AdminChange::TenantSetStatus { tenant_id: TENANTS[t], status },
        ChangeSpec::WriteGate(t, open) => AdminChange::TenantWriteGate { tenant_id: TENANTS[t], open },
        ChangeSpec::Approval(t, required) => AdminChange::TenantApproval { tenant_id: TENANTS[t], required },
        ChangeSpec::Connection(t) => AdminChange::ConnectionDisable { tenant_id: TENANTS[t] },
        ChangeSpec::Schedule(s) => AdminChange::ScheduleDisable { schedule_id: SCHEDULES[s].0 },
    }
}

/// A change the admin layer refuses before any preview: one naming a tenant
/// that does not exist.
fn refused(change: &AdminChange, world: &World) -> bool {
    match change {
        AdminChange::TenantSetStatus { tenant_id, .. }
        | AdminChange::TenantWriteGate { tenant_id, .. }
        | AdminChange::TenantApproval { tenant_id, .. }
        | AdminChange::ConnectionDisable { tenant_id } => !world.tenants.contains_key(tenant_id),
        _ => false,
    }
}

/// What the worker will do with each candidate after the change, listed as
/// the preview must list it.
fn blocked_after(before: &World, after: &World) -> Vec<Affected> {
    let mut out: Vec<Affected> = Vec::new();
    for (b, a) in before.candidates().into_iter().zip(after.candidates()) {
        let run_id = match b.subject {
            Subject::Run { run_id } => Some(run_id),
            Subject::Slot { .. } => None,
        };
        if run_id.is_some() && out.iter().any(|x| x.run_id == run_id) {
            continue;
        }
        let purpose = match b.state {
            AffectedState::Queued | AffectedState::Running => Purpose::Execute,
            AffectedState::AwaitingApproval | AffectedState::Scheduled => Purpose::Start,
        };
        let was = evaluate_for(purpose, &b.ctx, &b.facts, AT, 1);
        let now = evaluate_for(purpose, &a.ctx, &a.facts, AT, 1);
        if let (true, false, Some(reason_code)) = (was.allowed, now.allowed, now.reason_code) {
            let (schedule_id, slot) = match b.subject {
                Subject::Slot { schedule_id, slot } => (Some(schedule_id), Some(slot)),
                Subject::Run { .. } => (None, None),
            };
            out.push(Affected { run_id, schedule_id, slot, state: b.state, reason_code, message: now.message });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn the_preview_is_what_the_gate_does_after_the_change(world in arb_world(), spec in arb_change()) {
        let change = resolve(&spec, &world);
        prop_assume!(!refused(&change, &world));
        let after = world.apply(&change);
        let candidates = world.candidates();
        for (c, changed) in candidates.iter().zip(after.candidates()) {
            if let Ok(checked) = c.ctx.check() {
                prop_assert_eq!(change.apply(&checked, &c.facts), changed.facts, "{:?}", c.subject);
            }
        }
        let p = preview(&change, &candidates, AT);
        prop_assert!(p.preview && !p.changed);
        prop_assert_eq!(&p.affected, &blocked_after(&world, &after));
        let ids: Vec<_> = p.affected.iter().filter_map(|a| a.run_id).collect();
        prop_assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len(), "a run is listed once");
    }
}

// ---------------------------------------------------------------------------
// One example per change.

/// Jane (owner) and Bob (manager) in WS; both tenants active, writable,
/// connected; both schedules enabled; no runs yet.
fn base() -> World {
    World {
        users: USERS.into_iter().map(|u| (u, false)).collect(),
        memberships: BTreeMap::from([
            ((WS, JANE), (RoleRef::Builtin(BuiltinRole::Owner), TenantScope::All)),
            ((WS, BOB), (RoleRef::Builtin(BuiltinRole::Manager), TenantScope::All)),
            ((WS, CAROL), (RoleRef::Custom("restorer"), TenantScope::All)),
        ]),
        custom_roles: BTreeMap::from([
            ("restorer", [Capability::TenantRestoreExecute, Capability::TenantInventorySync].into()),
            ("auditor", [Capability::AuditView].into()),
        ]),
        tenants: TENANTS
            .into_iter()
            .map(|t| (t, TenantRow { status: TenantStatus::Active, writes_enabled: true, approval_required: false }))
            .collect(),
        connections: TENANTS.into_iter().map(|t| (t, ConnectionStatus::Enabled)).collect(),
        schedules: SCHEDULES.iter().map(|(s, _)| (*s, true)).collect(),
        runs: Vec::new(),
        slots: Vec::new(),
    }
}

const RESTORE: usize = 0;
const DRY_RUN: usize = 1;
const SYNC: usize = 3;
const BULK: usize = 5;

/// Adds a run of `kind` by `who` on T0: queued, or running.
fn with_run(mut w: World, kind: usize, who: usize, running: bool, approval: Option<Approval>) -> World {
    let i = w.runs.len();
    w.runs.push(build_run(i, (kind, false, who, 0, running, approval)));
    w
}

fn run_id(i: usize) -> Uuid {
    Uuid::from_u128(0x1000 + i as u128)
}

fn affected(w: &World, change: &AdminChange) -> Vec<(Option<Uuid>, AffectedState, ReasonCode)> {
    preview(change, &w.candidates(), AT).affected.into_iter().map(|a| (a.run_id, a.state, a.reason_code)).collect()
}

fn bob_approved(hours_ago: i64) -> Option<Approval> {
    Some(Approval {
        state: ApprovalState::Approved,
        by: Some(BOB),
        at: Some(AT.plus_millis(-hours_ago * 3_600_000)),
        reason: None,
    })
}

#[test]
fn member_changes_block_the_initiators_runs_and_the_approvers_approvals() {
    let w = with_run(with_run(base(), RESTORE, 0, false, None), SYNC, 1, false, None);
    let downgrade =
        AdminChange::MemberSetRole { workspace_id: WS, user_id: JANE, role: Role::Builtin(BuiltinRole::Operator) };
    assert_eq!(affected(&w, &downgrade), [(Some(run_id(0)), AffectedState::Queued, ReasonCode::CapabilityRevoked)]);
    let p = preview(&downgrade, &w.candidates(), AT);
    assert_eq!(p.affected[0].message, "Jane Doe no longer has the capability tenant.restore.execute.");

    let narrowed =
        AdminChange::MemberSetScope { workspace_id: WS, user_id: BOB, scope: TenantScope::Tenants([T1].into()) };
    assert_eq!(
        affected(&w, &narrowed),
        [(Some(run_id(1)), AffectedState::Queued, ReasonCode::TenantEntitlementRevoked)]
    );
    let revoked = AdminChange::MemberRevoke { workspace_id: WS, user_id: BOB };
    assert_eq!(
        affected(&w, &revoked),
        [(Some(run_id(1)), AffectedState::Queued, ReasonCode::WorkspaceMembershipRevoked)]
    );
    // Another workspace's membership is not this run's.
    let elsewhere = AdminChange::MemberRevoke { workspace_id: OTHER_WS, user_id: BOB };
    assert_eq!(affected(&w, &elsewhere), []);

    // Bob approved Jane's restore: his downgrade revokes the approval.
    let mut w = with_run(base(), RESTORE, 0, false, bob_approved(1));
    w.tenants.values_mut().for_each(|t| t.approval_required = true);
    let bob_down =
        AdminChange::MemberSetRole { workspace_id: WS, user_id: BOB, role: Role::Builtin(BuiltinRole::Operator) };
    assert_eq!(affected(&w, &bob_down), [(Some(run_id(0)), AffectedState::Queued, ReasonCode::ApprovalRevoked)]);
    let bob_off = AdminChange::UserDisable { user_id: BOB };
    let p = preview(&bob_off, &w.candidates(), AT);
    assert_eq!(p.affected[0].message, "Bob Smith, who approved this run, has been disabled.");
    let jane_off = AdminChange::UserDisable { user_id: JANE };
    assert_eq!(affected(&w, &jane_off), [(Some(run_id(0)), AffectedState::Queued, ReasonCode::InitiatorDisabled)]);
}

#[test]
fn a_custom_role_edit_blocks_every_holder() {
    let w = with_run(with_run(base(), RESTORE, 2, false, None), SYNC, 2, true, None);
    let narrowed = AdminChange::RoleSet {
        workspace_id: WS,
        name: "restorer".into(),
        capabilities: [Capability::TenantInventorySync].into(),
    };
    // The running sync processes no items: nothing checks it again.
    assert_eq!(affected(&w, &narrowed), [(Some(run_id(0)), AffectedState::Queued, ReasonCode::CapabilityRevoked)]);
    let other_role =
        AdminChange::RoleSet { workspace_id: WS, name: "auditor".into(), capabilities: CapabilitySet::new() };
    assert_eq!(affected(&w, &other_role), []);
}

#[test]
fn tenant_changes_block_runs_items_and_slots() {
    let mut w = with_run(with_run(base(), RESTORE, 0, true, None), DRY_RUN, 0, false, None);
    w = with_run(w, BULK, 1, true, None);
    w.slots = vec![(S0, AT.plus_millis(3_600_000)), (S1, AT.plus_millis(3_600_000)), (S0, AT.plus_millis(7_200_000))];
    let closed = AdminChange::TenantWriteGate { tenant_id: T0, open: false };
    // Only the real restore writes; it stops at its next between-items check.
    assert_eq!(affected(&w, &closed), [(Some(run_id(0)), AffectedState::Running, ReasonCode::WriteGateClosed)]);
    let suspended = AdminChange::TenantSetStatus { tenant_id: T0, status: TenantStatus::Suspended };
    let p = preview(&suspended, &w.candidates(), AT);
    let got: Vec<_> = p.affected.iter().map(|a| (a.run_id, a.schedule_id, a.state, a.reason_code)).collect();
    let s = ReasonCode::TenantSuspended;
    assert_eq!(
        got,
        [
            (Some(run_id(0)), None, AffectedState::Running, s),
            (Some(run_id(1)), None, AffectedState::Queued, s),
            // The bulk run over both tenants: its T0 item, listed once.
            (Some(run_id(2)), None, AffectedState::Running, s),
            (None, Some(S0), AffectedState::Scheduled, s),
            (None, Some(S0), AffectedState::Scheduled, s),
        ]
    );
    assert_eq!(p.affected[3].slot, Some(AT.plus_millis(3_600_000)));
    let disabled = AdminChange::ConnectionDisable { tenant_id: T1 };
    let got = affected(&w, &disabled);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|a| a.2 == ReasonCode::ProviderConnectionDisabled));
}

#[test]
fn disabling_a_schedule_blocks_its_slots_and_its_queued_runs() {
    let mut w = base();
    w.runs.push(build_run(0, (4, true, 0, 0, false, None)));
    w.slots = vec![(S0, AT.plus_millis(3_600_000)), (S1, AT.plus_millis(3_600_000))];
    let off = AdminChange::ScheduleDisable { schedule_id: S0 };
    let p = preview(&off, &w.candidates(), AT);
    let got: Vec<_> = p.affected.iter().map(|a| (a.run_id, a.schedule_id, a.reason_code)).collect();
    let d = ReasonCode::ScheduleDisabled;
    assert_eq!(got, [(Some(run_id(0)), None, d), (None, Some(S0), d)]);
    assert_eq!(p.affected[1].message, "The schedule that started this run has been disabled.");
}

#[test]
fn requiring_approval_blocks_unapproved_writes_and_off_blocks_nothing() {
    let mut w = with_run(base(), RESTORE, 0, false, None);
    w = with_run(w, DRY_RUN, 0, false, None);
    w = with_run(w, RESTORE, 0, false, bob_approved(1));
    let required = AdminChange::TenantApproval { tenant_id: T0, required: true };
    assert_eq!(affected(&w, &required), [(Some(run_id(0)), AffectedState::Queued, ReasonCode::ApprovalMissing)]);
    let mut w = with_run(base(), RESTORE, 0, false, Some(Approval::pending()));
    w.tenants.values_mut().for_each(|t| t.approval_required = true);
    let off = AdminChange::TenantApproval { tenant_id: T0, required: false };
    assert_eq!(affected(&w, &off), []);
    // A run awaiting approval is judged as if approved: the write gate still matters.
    let closed = AdminChange::TenantWriteGate { tenant_id: T0, open: false };
    assert_eq!(
        affected(&w, &closed),
        [(Some(run_id(0)), AffectedState::AwaitingApproval, ReasonCode::WriteGateClosed)]
    );
}

#[test]
fn a_run_already_refused_is_not_affected_by_the_change() {
    let mut w = with_run(base(), RESTORE, 0, false, None);
    w.tenants.values_mut().for_each(|t| t.writes_enabled = false);
    let downgrade =
        AdminChange::MemberSetRole { workspace_id: WS, user_id: JANE, role: Role::Builtin(BuiltinRole::Readonly) };
    assert_eq!(affected(&w, &downgrade), []);
    // An expired approval expires whatever the change.
    let mut w = with_run(base(), RESTORE, 0, false, bob_approved(30));
    w.tenants.values_mut().for_each(|t| t.approval_required = true);
    assert_eq!(affected(&w, &downgrade), []);
}

#[test]
fn the_preview_serializes_as_the_spec_shows() {
    let mut w = with_run(base(), RESTORE, 0, false, None);
    w.slots = vec![(S0, Timestamp::parse_rfc3339("2026-11-27T02:00:00Z").unwrap_or_default())];
    let p =
        preview(&AdminChange::TenantSetStatus { tenant_id: T0, status: TenantStatus::Archived }, &w.candidates(), AT);
    let expected = json!({
        "preview": true,
        "affected": [
            {"run_id": run_id(0), "state": "queued", "reason_code": "tenant_archived",
             "message": "Tenant 32 is archived."},
            {"schedule_id": S0, "slot": "2026-11-27T02:00:00Z", "state": "scheduled",
             "reason_code": "tenant_archived", "message": "Tenant 32 is archived."}
        ],
        "changed": false
    });
    assert_eq!(serde_json::to_value(&p).ok(), Some(expected));
}

#[test]
fn the_summary_counts_in_plain_words() {
    let entry = |state| Affected {
        run_id: None,
        schedule_id: None,
        slot: None,
        state,
        reason_code: ReasonCode::WriteGateClosed,
        message: String::new(),
    };
    let say = |states: &[AffectedState]| {
        summary(&Preview { preview: true, affected: states.iter().map(|s| entry(*s)).collect(), changed: false })
    };
    use AffectedState::{AwaitingApproval as A, Queued as Q, Running as R, Scheduled as S};
    assert_eq!(say(&[]), "This change will not block any run or scheduled backup.");
    assert_eq!(say(&[Q, Q, Q, S, S]), "This change will block 3 queued runs and the next 2 scheduled backups.");
    assert_eq!(say(&[Q]), "This change will block 1 queued run.");
    assert_eq!(say(&[S]), "This change will block the next scheduled backup.");
    assert_eq!(say(&[R]), "This change will stop 1 running run.");
    assert_eq!(say(&[A, R, R]), "This change will block 1 run awaiting approval and stop 2 running runs.");
    assert_eq!(
        say(&[Q, A, A, S, R]),
        "This change will block 1 queued run, 2 runs awaiting approval and the next scheduled backup, and stop 1 running run."
    );
}
