//! Who may see and act on what (SPEC §6.2): the one rule behind every page,
//! endpoint and CLI verb that acts as a user. Not a member, or a member outside
//! the object's tenants → not found (the same answer as for a missing object);
//! in scope but without the capability → forbidden.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::capability::{Capability, Role};
use crate::run::{Run, RunStatus};
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
    run.operation_params().ok().and_then(|p| p.bulk().map(|b| b.tenant_ids.clone())).unwrap_or_default()
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

/// Cancelling the run: by its initiator, or by someone with
/// `operations.cancel` for its tenants. Whether it is still active is the
/// caller's to check (a completed run is a conflict, not a refusal).
pub fn can_cancel(viewer: Option<&Viewer>, run: &Run) -> Access {
    let initiator = viewer.is_some_and(|v| run.initiator_user_id == Some(v.user_id));
    match check(viewer, &run_tenants(run), Capability::OperationsCancel) {
        Access::Forbidden if initiator => Access::Allowed,
        other => other,
    }
}

/// Retrying the run: by someone whose role grants its type's capability for
/// its tenants (the gate still authorizes the new run). Whether its outcome
/// may be retried is `Run::is_retryable`.
pub fn can_retry(viewer: Option<&Viewer>, run: &Run) -> Access {
    check(viewer, &run_tenants(run), run.op_type.spec().capability)
}

/// Cancel: an active run that `can_cancel`. Retry: a retryable run that
/// `can_retry`. Nothing for a viewer who cannot see the run.
pub fn run_actions(viewer: Option<&Viewer>, run: &Run) -> Actions {
    if view_run(viewer, run) == Access::NotFound {
        return Actions::default();
    }
    let cancel = run.status != RunStatus::Completed && can_cancel(viewer, run) == Access::Allowed;
    let retry = run.is_retryable() && can_retry(viewer, run) == Access::Allowed;
    Actions { cancel, retry }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::BuiltinRole;
    use crate::gate::Authority;
    use crate::operation::OperationType;
    use crate::run::{NewRun, RunOutcome};

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

    fn run_by(initiator: Uuid, tenant: Uuid, status: RunStatus, outcome: RunOutcome) -> Run {
        let new = NewRun {
            op_type: OperationType::RestoreAssignments,
            workspace_id: Uuid::now_v7(),
            tenant_id: Some(tenant),
            authority: Authority::Actor { user_id: initiator },
            params: serde_json::json!({"backup_set_id": Uuid::now_v7().to_string()}),
            retry_of_run_id: None,
            max_attempts: 3,
        };
        let (mut run, _) = Run::queued(new, Uuid::now_v7(), crate::Timestamp(0));
        (run.status, run.outcome) = (status, outcome);
        run
    }

    /// The one rule behind the console's buttons, the API's guard and the
    /// CLI's verbs: cancel by the initiator or with `operations.cancel`, retry
    /// with the type's capability, both only in scope.
    #[test]
    fn cancel_and_retry_follow_capability_initiator_and_scope() {
        let t = Uuid::now_v7();
        let operator = viewer(BuiltinRole::Operator, TenantScope::All);
        let manager = viewer(BuiltinRole::Manager, TenantScope::All);
        let outside = viewer(BuiltinRole::Owner, TenantScope::Tenants([Uuid::now_v7()].into_iter().collect()));
        let someone = Uuid::now_v7();
        let queued = run_by(someone, t, RunStatus::Queued, RunOutcome::Pending);
        assert_eq!(can_cancel(Some(&operator), &queued), Access::Forbidden);
        assert_eq!(can_cancel(Some(&manager), &queued), Access::Allowed);
        assert_eq!(can_cancel(Some(&outside), &queued), Access::NotFound);
        assert_eq!(can_cancel(None, &queued), Access::NotFound);
        let own = run_by(operator.user_id, t, RunStatus::Queued, RunOutcome::Pending);
        assert_eq!(can_cancel(Some(&operator), &own), Access::Allowed, "the initiator may cancel");
        // Restoring assignments needs tenant.restore.execute: a manager's, not an operator's.
        assert_eq!(can_retry(Some(&operator), &own), Access::Forbidden);
        assert_eq!(can_retry(Some(&manager), &own), Access::Allowed);
        assert_eq!(can_retry(Some(&outside), &own), Access::NotFound);

        assert_eq!(run_actions(Some(&operator), &own), Actions { cancel: true, retry: false });
        for outcome in RunOutcome::ALL {
            let done = run_by(someone, t, RunStatus::Completed, *outcome);
            let actions = run_actions(Some(&manager), &done);
            assert_eq!(actions, Actions { cancel: false, retry: outcome.is_retryable() }, "{outcome:?}");
            assert_eq!(done.is_retryable(), RunOutcome::RETRYABLE.contains(outcome));
        }
        assert_eq!(run_actions(Some(&outside), &queued), Actions::default());
    }
}
