//! Change-impact preview (SPEC §10.2) behind `--preview`, `?preview=true`
//! and the console's confirmation step: the administrative change resolved
//! and refused exactly as applying it would be, the runs and the next 24
//! hours of schedule slots it could affect, and the pure judgement of
//! `atlas_core::impact::preview` on them. Nothing is written.

use atlas_core::capability::{BuiltinRole, Role};
use atlas_core::impact::{self, AdminChange, Candidate, Preview};
use atlas_core::Timestamp;
use atlas_store::admin::RoleRef;
use atlas_store::Store;
use uuid::Uuid;

use crate::schedule::{CronSpec, CronSyntax};
use crate::service::ServiceError;

/// How far ahead schedule slots are previewed.
pub const SLOT_HORIZON_MS: i64 = 24 * 3_600_000;
/// At most this many slots per schedule (a cron that fires every minute).
const MAX_SLOTS: usize = 1_440;

/// The preview of `change` now.
pub async fn preview(store: &Store, change: &AdminChange, cron: CronSyntax) -> Result<Preview, ServiceError> {
    let at = atlas_store::now();
    let candidates = candidates(store, change, at, cron).await?;
    Ok(impact::preview(change, &candidates, at))
}

/// The workspace whose runs a change can reach (`None`: a user's, all of them).
async fn workspace_of(store: &Store, change: &AdminChange) -> Result<Option<Uuid>, ServiceError> {
    Ok(match change {
        AdminChange::MemberSetRole { workspace_id, .. }
        | AdminChange::MemberSetScope { workspace_id, .. }
        | AdminChange::MemberRevoke { workspace_id, .. }
        | AdminChange::RoleSet { workspace_id, .. } => Some(*workspace_id),
        AdminChange::UserDisable { .. } => None,
        AdminChange::TenantSetStatus { tenant_id, .. }
        | AdminChange::TenantWriteGate { tenant_id, .. }
        | AdminChange::TenantApproval { tenant_id, .. }
        | AdminChange::ConnectionDisable { tenant_id } => Some(store.tenant_get(*tenant_id).await?.workspace_id),
        AdminChange::ScheduleDisable { schedule_id } => Some(store.schedule_get(*schedule_id).await?.workspace_id),
    })
}

/// The runs the gate will judge again, then each enabled schedule's slots of
/// the next 24 hours as the system runs they would start.
async fn candidates(
    store: &Store,
    change: &AdminChange,
    at: Timestamp,
    cron: CronSyntax,
) -> Result<Vec<Candidate>, ServiceError> {
    let workspace = workspace_of(store, change).await?;
    let mut out = store.impact_run_candidates(workspace).await?;
    let schedules: Vec<_> = store.schedule_list(workspace).await?.into_iter().filter(|s| s.enabled).collect();
    let mut slots: Vec<(Uuid, Uuid, Uuid, Vec<Timestamp>)> = Vec::new();
    for s in &schedules {
        // A schedule whose expression no longer parses fires nothing.
        let Ok(spec) = CronSpec::parse(&s.cron, &s.timezone, cron) else { continue };
        let end = at.plus_millis(SLOT_HORIZON_MS);
        let mut next = Vec::new();
        // Slots are whole seconds; croner keeps the sub-second part of its start.
        let mut t = Timestamp::from_micros(at.micros().div_euclid(1_000_000) * 1_000_000);
        while let Some(slot) = spec.next_slot_after(t).filter(|slot| *slot <= end && next.len() < MAX_SLOTS) {
            next.push(slot);
            t = slot;
        }
        slots.push((s.id, s.workspace_id, s.tenant_id, next));
    }
    // One set of facts per schedule: its slots differ only in their time.
    let contexts: Vec<_> = slots
        .iter()
        .map(|(id, ws, tenant, _)| Candidate::slot(*id, *ws, *tenant, at, Default::default()).ctx)
        .collect();
    let facts = store.impact_facts(&contexts).await?;
    for ((id, ws, tenant, times), facts) in slots.into_iter().zip(facts) {
        let Some(facts) = facts else { continue };
        out.extend(times.into_iter().map(|slot| Candidate::slot(id, ws, tenant, slot, facts.clone())));
    }
    Ok(out)
}

/// `members set-role`, resolved and refused as `member_set_role` refuses it.
pub async fn member_set_role(
    store: &Store,
    workspace_id: Uuid,
    user_id: Uuid,
    role: &RoleRef,
) -> Result<AdminChange, ServiceError> {
    let role = match role {
        RoleRef::Builtin(b) => Role::Builtin(*b),
        RoleRef::Custom(name) => {
            let r = store.role_get(workspace_id, name).await?;
            Role::Custom { name: r.name, capabilities: r.capabilities }
        }
    };
    keep_an_owner(store, workspace_id, user_id, role == Role::Builtin(BuiltinRole::Owner)).await?;
    Ok(AdminChange::MemberSetRole { workspace_id, user_id, role })
}

/// `members revoke`, refused for the workspace's last owner.
pub async fn member_revoke(store: &Store, workspace_id: Uuid, user_id: Uuid) -> Result<AdminChange, ServiceError> {
    keep_an_owner(store, workspace_id, user_id, false).await?;
    Ok(AdminChange::MemberRevoke { workspace_id, user_id })
}

/// The member must exist; the last owner may not stop being one (the store's rule).
async fn keep_an_owner(
    store: &Store,
    workspace_id: Uuid,
    user_id: Uuid,
    stays_owner: bool,
) -> Result<(), ServiceError> {
    Ok(store.member_change_allowed(workspace_id, user_id, stays_owner).await?)
}

/// `roles set`: the role must exist.
pub async fn role_set(
    store: &Store,
    workspace_id: Uuid,
    name: &str,
    capabilities: atlas_core::capability::CapabilitySet,
) -> Result<AdminChange, ServiceError> {
    let role = store.role_get(workspace_id, name).await?;
    Ok(AdminChange::RoleSet { workspace_id, name: role.name, capabilities })
}

/// `connections disable`: the tenant must have a connection.
pub async fn connection_disable(store: &Store, tenant_id: Uuid) -> Result<AdminChange, ServiceError> {
    if store.connection_get(tenant_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("provider connection of tenant {tenant_id}")));
    }
    Ok(AdminChange::ConnectionDisable { tenant_id })
}
