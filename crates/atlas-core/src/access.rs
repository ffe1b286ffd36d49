//! Who may see and act on what (SPEC §6.2): the one rule behind every page,
//! endpoint and CLI verb that acts as a user. Not a member, or a member outside
//! the object's tenants → not found (the same answer as for a missing object);
//! in scope but without the capability → forbidden.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::capability::{Capability, Role};
use crate::run::{Run, RunOutcome, RunStatus};
use crate::tenant::TenantScope;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Allowed,
    Forbidden,
    NotFound,
}

/// A member as the access rule sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Uuid,
    pub role: Role,
    pub scope: TenantScope,
}

/// Access to an object that belongs to `tenants` (empty: workspace-level).
pub fn check(viewer: Option<&Viewer>, tenants: &[Uuid], capability: Capability) -> Access {
    let Some(v) = viewer else { return Access::NotFound };
    if !tenants.iter().all(|t| v.scope.includes(*t)) {
        return Access::NotFound;
    }
    if !v.role.grants(capability) {
        return Access::Forbidden;
    }
    Access::Allowed
}

/// The tenants a run touches: its tenant, or a bulk run's `tenant_ids`. A bulk
/// run is visible only to members entitled to all of them.
pub fn run_tenants(run: &Run) -> Vec<Uuid> {
    if let Some(t) = run.tenant_id {
        return vec![t];
    }
    run.params
        .get("tenant_ids")
        .and_then(|v| v.as_array())
        .map(|ids| ids.iter().filter_map(|i| i.as_str().and_then(|s| Uuid::parse_str(s).ok())).collect())
        .unwrap_or_default()
}

/// The tenants an audit event is about: its own tenant; for an event of a
/// run without one (a bulk run over several tenants), the run's tenants, so
/// that its events are visible exactly to those who may see the run (SPEC
/// §6.2); a workspace-level event, none.
pub fn audit_event_tenants(event_tenant: Option<Uuid>, run: Option<&Run>) -> Vec<Uuid> {
    match (event_tenant, run) {
        (Some(t), _) => vec![t],
        (None, Some(run)) => run_tenants(run),
        (None, None) => Vec::new(),
    }
}

/// Access to view a run (Monitoring).
pub fn view_run(viewer: Option<&Viewer>, run: &Run) -> Access {
    check(viewer, &run_tenants(run), Capability::OperationsView)
}

/// What this viewer may do with the run now (`actions` in the run JSON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actions {
    pub cancel: bool,
    pub retry: bool,
}

/// Cancel: an active run, by someone with `operations.cancel` or its initiator.
/// Retry: a completed run that did not fully succeed, by someone whose role
/// grants the type's capability (the gate still authorizes the new run).
pub fn run_actions(viewer: Option<&Viewer>, run: &Run) -> Actions {
    let Some(v) = viewer else { return Actions::default() };
    if view_run(Some(v), run) == Access::NotFound {
        return Actions::default();
    }
    let cancel = run.status != RunStatus::Completed
        && (v.role.grants(Capability::OperationsCancel) || run.initiator_user_id == Some(v.user_id));
    let retry = run.status == RunStatus::Completed
        && matches!(
            run.outcome,
            RunOutcome::Failed | RunOutcome::Blocked | RunOutcome::Cancelled | RunOutcome::PartiallySucceeded
        )
        && v.role.grants(run.op_type.spec().capability);
    Actions { cancel, retry }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::BuiltinRole;

    fn viewer(role: BuiltinRole, scope: TenantScope) -> Viewer {
        Viewer { user_id: Uuid::now_v7(), role: Role::Builtin(role), scope }
    }

    #[test]
    fn not_member_and_out_of_scope_are_not_found_missing_capability_is_forbidden() {
        let t = Uuid::now_v7();
        let other = Uuid::now_v7();
        assert_eq!(check(None, &[t], Capability::OperationsView), Access::NotFound);
        let scoped = viewer(BuiltinRole::Manager, TenantScope::Tenants([other].into_iter().collect()));
        assert_eq!(check(Some(&scoped), &[t], Capability::OperationsView), Access::NotFound);
        let auditor = Viewer {
            user_id: Uuid::now_v7(),
            role: Role::Custom { name: "auditor".into(), capabilities: [Capability::AuditView].into_iter().collect() },
            scope: TenantScope::All,
        };
        assert_eq!(check(Some(&auditor), &[t], Capability::OperationsView), Access::Forbidden);
        let reader = viewer(BuiltinRole::Readonly, TenantScope::All);
        assert_eq!(check(Some(&reader), &[t], Capability::OperationsView), Access::Allowed);
        assert_eq!(check(Some(&reader), &[t, other], Capability::OperationsView), Access::Allowed);
        let partial = viewer(BuiltinRole::Owner, TenantScope::Tenants([t].into_iter().collect()));
        assert_eq!(check(Some(&partial), &[t, other], Capability::OperationsView), Access::NotFound);
    }
}
