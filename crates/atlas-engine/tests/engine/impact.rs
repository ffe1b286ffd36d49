//! The change-impact preview agrees with the outcome (SPEC §10.2), for
//! random small worlds and changes: the runs and schedule slots previewed are
//! exactly those the worker blocks once the change is applied through the
//! real admin path — queued runs at their claim, running bulk runs at their
//! next between-items check, slots when they fire. SQLite, a modest number of
//! cases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use atlas_core::capability::BuiltinRole;
use atlas_core::impact::AdminChange;
use atlas_core::run::RunStatus;
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::{Capability, CapabilitySet, OperationType};
use atlas_engine::schedule::{fire_as, CronSyntax};
use atlas_engine::{impact, service, ServiceError, StartRequest};
use atlas_store::admin::RoleRef;
use atlas_store::claim::{ClaimParams, Claimed};
use atlas_store::Store;
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use crate::support::cli;

/// A member's role: a built-in one, or the workspace's custom role `ops`.
#[derive(Clone, Copy, Debug)]
enum R {
    Manager,
    Operator,
    Readonly,
    Ops,
}

impl R {
    fn role_ref(self) -> RoleRef {
        match self {
            R::Manager => RoleRef::Builtin(BuiltinRole::Manager),
            R::Operator => RoleRef::Builtin(BuiltinRole::Operator),
            R::Readonly => RoleRef::Builtin(BuiltinRole::Readonly),
            R::Ops => RoleRef::Custom("ops".into()),
        }
    }
}

fn role() -> impl Strategy<Value = R> {
    prop_oneof![Just(R::Manager), Just(R::Operator), Just(R::Readonly), Just(R::Ops)]
}

/// `all`, tenant 0 only or tenant 1 only.
fn scope() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![Just(None), Just(Some(0)), Just(Some(1))]
}

const OPS: [OperationType; 3] =
    [OperationType::InventorySync, OperationType::PoliciesSync, OperationType::ComplianceSnapshot];
const CAPS: [Capability; 4] = [
    Capability::TenantInventorySync,
    Capability::TenantPoliciesSync,
    Capability::TenantComplianceSnapshot,
    Capability::BulkExecute,
];

#[derive(Clone, Debug)]
enum Change {
    SetRole(usize, R),
    SetScope(usize, Option<usize>),
    Revoke(usize),
    RoleSet(Vec<bool>),
    Disable(usize),
    Status(usize, TenantStatus),
    ConnectionOff(usize),
    ScheduleOff,
}

fn change() -> impl Strategy<Value = Change> {
    let status = prop_oneof![
        Just(TenantStatus::Active),
        Just(TenantStatus::Onboarding),
        Just(TenantStatus::Suspended),
        Just(TenantStatus::Archived)
    ];
    prop_oneof![
        (0..3usize, role()).prop_map(|(u, r)| Change::SetRole(u, r)),
        (0..3usize, scope()).prop_map(|(u, s)| Change::SetScope(u, s)),
        (0..3usize).prop_map(Change::Revoke),
        proptest::collection::vec(any::<bool>(), 4).prop_map(Change::RoleSet),
        (0..3usize).prop_map(Change::Disable),
        (0..2usize, status).prop_map(|(t, s)| Change::Status(t, s)),
        (0..2usize).prop_map(Change::ConnectionOff),
        Just(Change::ScheduleOff),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    members: Vec<(R, Option<usize>)>,
    ops_caps: Vec<bool>,
    /// (member, tenant, operation) of each queued run.
    queued: Vec<(usize, usize, usize)>,
    /// The member who starts a bulk inventory sync over both tenants, claimed (running).
    running: Option<usize>,
    change: Change,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec((role(), scope()), 3),
        proptest::collection::vec(any::<bool>(), 4),
        proptest::collection::vec((0..3usize, 0..2usize, 0..3usize), 0..6),
        proptest::option::of(0..3usize),
        change(),
    )
        .prop_map(|(members, ops_caps, queued, running, change)| Case {
            members,
            ops_caps,
            queued,
            running,
            change,
        })
}

fn caps(bits: &[bool]) -> CapabilitySet {
    let mut set: CapabilitySet = CAPS.iter().zip(bits).filter(|(_, on)| **on).map(|(c, _)| *c).collect();
    set.insert(Capability::WorkspaceView);
    set
}

fn claim() -> ClaimParams {
    ClaimParams { worker: "impact".into(), lease_ms: 60_000, batch: 100, backoff_base_ms: 10 }
}

/// Builds the world, previews the change, applies it, lets the worker judge:
/// (previewed, blocked) as sets of (run or schedule slot, reason code).
async fn previewed_and_blocked(store: Store, c: Case) -> (BTreeSet<(String, String)>, BTreeSet<(String, String)>) {
    let by = cli();
    let ws = store.workspace_create("impact", "Impact", &by).await.unwrap();
    let mut tenants = Vec::new();
    for name in ["North", "South"] {
        let t = store.tenant_create(ws.id, name, TenantStatus::Active, true, None, &by).await.unwrap();
        store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
        tenants.push(t.id);
    }
    store.role_create(ws.id, "ops", &caps(&c.ops_caps), &by).await.unwrap();
    // An owner who is never changed keeps the workspace owned.
    let owner = store.user_create("owner@x.test", "Owner", None, &by).await.unwrap();
    store.member_grant(ws.id, owner.id, &RoleRef::Builtin(BuiltinRole::Owner), &TenantScope::All, &by).await.unwrap();
    let to_scope = |s: Option<usize>| s.map_or(TenantScope::All, |i| TenantScope::Tenants([tenants[i]].into()));
    let mut users = Vec::new();
    for (i, (r, s)) in c.members.iter().enumerate() {
        let email = format!("u{i}@x.test");
        let u = store.user_create(&email, &format!("User {i}"), None, &by).await.unwrap();
        store.member_grant(ws.id, u.id, &r.role_ref(), &to_scope(*s), &by).await.unwrap();
        users.push((u.id, email));
    }
    let schedule = store.schedule_add(tenants[0], "0 2 * * *", "UTC", &by).await.unwrap();
    let start = |user: Uuid, tenant: Option<Uuid>, op: OperationType, params| StartRequest {
        user_id: user,
        workspace_id: ws.id,
        tenant_id: tenant,
        op_type: op,
        params,
        retry_of_run_id: None,
        max_attempts: 1,
    };
    let mut running = None;
    if let Some(u) = c.running {
        let ids: Vec<String> = tenants.iter().map(Uuid::to_string).collect();
        let params = json!({"operation": "inventory.sync", "tenant_ids": ids});
        if let Ok(ins) = service::start(&store, start(users[u].0, None, OperationType::BulkOperation, params)).await {
            let claimed = store.run_claim_and_authorize(&claim()).await.unwrap();
            running = claimed.into_iter().find_map(|c| match c {
                Claimed::Started(r) if r.id == ins.run.id => Some(r),
                _ => None,
            });
        }
    }
    for (u, t, op) in &c.queued {
        // A start the gate refuses stores nothing; it is not a candidate.
        let _ = service::start(&store, start(users[*u].0, Some(tenants[*t]), OPS[*op], json!({}))).await;
    }

    let change = match &c.change {
        Change::SetRole(u, r) => impact::member_set_role(&store, ws.id, users[*u].0, &r.role_ref()).await.unwrap(),
        Change::SetScope(u, s) => {
            AdminChange::MemberSetScope { workspace_id: ws.id, user_id: users[*u].0, scope: to_scope(*s) }
        }
        Change::Revoke(u) => impact::member_revoke(&store, ws.id, users[*u].0).await.unwrap(),
        Change::RoleSet(bits) => impact::role_set(&store, ws.id, "ops", caps(bits)).await.unwrap(),
        Change::Disable(u) => AdminChange::UserDisable { user_id: users[*u].0 },
        Change::Status(t, s) => AdminChange::TenantSetStatus { tenant_id: tenants[*t], status: *s },
        Change::ConnectionOff(t) => impact::connection_disable(&store, tenants[*t]).await.unwrap(),
        Change::ScheduleOff => AdminChange::ScheduleDisable { schedule_id: schedule.id },
    };
    let preview = impact::preview(&store, &change, CronSyntax::Standard).await.unwrap();
    let previewed: BTreeSet<(String, String)> = preview
        .affected
        .iter()
        .map(|a| {
            let subject = match (a.run_id, a.slot) {
                (Some(run), _) => run.to_string(),
                (None, slot) => format!("slot {}", slot.unwrap().to_rfc3339()),
            };
            (subject, a.reason_code.as_str().to_owned())
        })
        .collect();

    // The change, through the real admin path.
    match &c.change {
        Change::SetRole(u, r) => drop(store.member_set_role(ws.id, users[*u].0, &r.role_ref(), &by).await.unwrap()),
        Change::SetScope(u, s) => drop(store.member_set_scope(ws.id, users[*u].0, &to_scope(*s), &by).await.unwrap()),
        Change::Revoke(u) => drop(store.member_revoke(ws.id, users[*u].0, &by).await.unwrap()),
        Change::RoleSet(bits) => drop(store.role_set(ws.id, "ops", &caps(bits), &by).await.unwrap()),
        Change::Disable(u) => drop(store.user_disable(&users[*u].1, &by).await.unwrap()),
        Change::Status(t, s) => drop(store.tenant_set_status(tenants[*t], *s, &by).await.unwrap()),
        Change::ConnectionOff(t) => drop(store.connection_set_status(tenants[*t], false, &by).await.unwrap()),
        Change::ScheduleOff => drop(store.schedule_set_enabled(schedule.id, false, &by).await.unwrap()),
    }

    // The worker: the claim of every queued run, the between-items check of the running one.
    let mut blocked = BTreeSet::new();
    for claimed in store.run_claim_and_authorize(&claim()).await.unwrap() {
        if let Claimed::Blocked(r) = claimed {
            let reason = r.decision.as_ref().and_then(|d| d.reason_code).unwrap();
            blocked.insert((r.id.to_string(), reason.as_str().to_owned()));
        }
    }
    if let Some(r) = running {
        let now = store.run_get(r.id).await.unwrap();
        assert_eq!(now.status, RunStatus::Running);
        let d = store.run_decide(&now, now.attempt).await.unwrap();
        if let Some(reason) = d.reason_code.filter(|_| !d.allowed) {
            blocked.insert((r.id.to_string(), reason.as_str().to_owned()));
        }
    }
    // The schedule's slots of the next 24 hours, fired.
    let schedule = store.schedule_get(schedule.id).await.unwrap();
    let spec =
        atlas_engine::schedule::CronSpec::parse(&schedule.cron, &schedule.timezone, CronSyntax::Standard).unwrap();
    let at = atlas_core::Timestamp::from_micros(atlas_store::now().micros().div_euclid(1_000_000) * 1_000_000);
    let end = at.plus_millis(impact::SLOT_HORIZON_MS);
    let mut t = at;
    while let Some(slot) = spec.next_slot_after(t).filter(|s| *s <= end) {
        match fire_as(&store, &schedule, slot, OperationType::BackupRun, 1).await {
            Err(ServiceError::Denied(d)) => {
                let reason = d.reason_code.unwrap().as_str().to_owned();
                blocked.insert((format!("slot {}", slot.to_rfc3339()), reason));
            }
            other => drop(other.unwrap()),
        }
        t = slot;
    }
    (previewed, blocked)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_preview_is_what_the_worker_blocks(c in case()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (previewed, blocked) = rt.block_on(async {
            let store = atlas_store::testkit::sqlite().await;
            let out = previewed_and_blocked(store.clone(), c.clone()).await;
            store.close().await;
            out
        });
        prop_assert_eq!(previewed, blocked, "{:?}", c);
    }
}
