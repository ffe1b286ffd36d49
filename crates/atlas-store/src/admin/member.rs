//! Memberships: a user's role in a workspace and their tenant entitlements.
//! Every change here can revoke a queued run's legitimacy, so each one is
//! audited with the role or scope before and after.

use std::collections::BTreeSet;

use atlas_core::capability::{BuiltinRole, Role};
use atlas_core::tenant::TenantScope;
use atlas_core::Timestamp;
use serde::{Serialize, Serializer};
use serde_json::json;
use uuid::Uuid;

use super::role::{parse_caps, resolve, RoleRef};
use super::ChangeBy;
use crate::audit::append;
use crate::row::{parse, uuid};
use crate::{exec, now, on_db, on_tx, Store, StoreError, StoreResult, Tx};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    /// Serialized as the role's name: custom names never shadow built-in ones.
    #[serde(serialize_with = "serialize_role_name")]
    pub role: Role,
    pub tenant_scope: TenantScope,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn serialize_role_name<S: Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.name())
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    id: String,
    workspace_id: String,
    user_id: String,
    builtin_role: Option<String>,
    custom_role_name: Option<String>,
    custom_role_capabilities: Option<String>,
    tenant_scope: String,
    created_at: i64,
    updated_at: i64,
}

impl MembershipRow {
    pub(crate) fn into_domain(self) -> StoreResult<Membership> {
        let role = match (self.builtin_role, self.custom_role_name, self.custom_role_capabilities) {
            (Some(b), _, _) => Role::Builtin(parse(&b, "role", BuiltinRole::parse)?),
            (None, Some(name), Some(caps)) => Role::Custom { capabilities: parse_caps(&caps)?, name },
            _ => return Err(StoreError::Corrupt("membership without a role".into())),
        };
        Ok(Membership {
            id: uuid(&self.id)?,
            workspace_id: uuid(&self.workspace_id)?,
            user_id: uuid(&self.user_id)?,
            role,
            tenant_scope: TenantScope::from_db(&self.tenant_scope),
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

pub(crate) const MEMBERSHIP_SELECT: &str = "SELECT m.id, m.workspace_id, m.user_id, m.builtin_role, \
     r.name AS custom_role_name, r.capabilities AS custom_role_capabilities, m.tenant_scope, \
     m.created_at, m.updated_at \
     FROM memberships m LEFT JOIN custom_roles r ON r.id = m.custom_role_id";

/// The JSON form of a scope in audit data: `"all"` or the list of tenant ids.
fn scope_json(scope: &TenantScope) -> serde_json::Value {
    match scope {
        TenantScope::All => json!("all"),
        TenantScope::Tenants(ids) => json!(ids),
    }
}

/// Refuses a scope naming tenants outside the workspace: nothing crosses workspaces.
async fn check_scope(tx: &mut Tx, workspace_id: Uuid, scope: &TenantScope) -> StoreResult<()> {
    let TenantScope::Tenants(ids) = scope else {
        return Ok(());
    };
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String,)> = on_tx!(tx, |c| sqlx::query_as("SELECT id FROM tenants WHERE workspace_id = $1")
        .bind(workspace_id.to_string())
        .fetch_all(c)
        .await)?;
    let known: BTreeSet<String> = rows.into_iter().map(|(id,)| id).collect();
    match ids.iter().find(|id| !known.contains(&id.to_string())) {
        Some(foreign) => Err(StoreError::Invalid(format!("tenant {foreign} does not belong to the workspace"))),
        None => Ok(()),
    }
}

/// The owners of a workspace, locked (PostgreSQL) in id order before the
/// membership a change is about, so that two owners demoting each other at
/// once are ordered and the second sees the first's change.
async fn owners_locked(store: &Store, tx: &mut Tx, workspace_id: Uuid) -> StoreResult<Vec<String>> {
    let sql = format!(
        "SELECT id FROM memberships WHERE workspace_id = $1 AND builtin_role = 'owner' ORDER BY id{}",
        store.row_lock(" FOR UPDATE")
    );
    let rows: Vec<(String,)> = on_tx!(tx, |c| sqlx::query_as(&sql).bind(workspace_id.to_string()).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Refuses a change that would leave the workspace without an owner.
fn keep_an_owner(owners: &[String], before: &Membership, stays_owner: bool) -> StoreResult<()> {
    let is_owner = before.role == Role::Builtin(BuiltinRole::Owner);
    if is_owner && !stays_owner && owners.iter().all(|id| *id == before.id.to_string()) {
        return Err(StoreError::Conflict(
            "this is the workspace's last owner: make another member an owner first".into(),
        ));
    }
    Ok(())
}

impl Store {
    /// Makes a user a member of a workspace with a role and a tenant scope.
    pub async fn member_grant(
        &self,
        workspace_id: Uuid,
        user_id: Uuid,
        role: &RoleRef,
        scope: &TenantScope,
        by: &ChangeBy,
    ) -> StoreResult<Membership> {
        self.workspace_get(workspace_id).await?;
        self.user_get(user_id).await?;
        let mut tx = self.begin().await?;
        let resolved = resolve(&mut tx, workspace_id, role).await?;
        check_scope(&mut tx, workspace_id, scope).await?;
        let at = now();
        let m = Membership {
            id: Uuid::now_v7(),
            workspace_id,
            user_id,
            role: resolved.role,
            tenant_scope: scope.clone(),
            created_at: at,
            updated_at: at,
        };
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO memberships (id, workspace_id, user_id, builtin_role, custom_role_id, tenant_scope, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
            )
            .bind(m.id.to_string())
            .bind(workspace_id.to_string())
            .bind(user_id.to_string())
            .bind(resolved.builtin)
            .bind(resolved.custom_id)
            .bind(scope.to_db())
            .bind(at.0)
        )?;
        let draft = by.draft(
            "membership.granted",
            Some(workspace_id),
            None,
            format!("membership:{}", m.id),
            json!({
                "user_id": user_id,
                "after": {"role": m.role.name(), "tenant_scope": scope_json(scope)},
            }),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(m)
    }

    pub async fn member_set_role(
        &self,
        workspace_id: Uuid,
        user_id: Uuid,
        role: &RoleRef,
        by: &ChangeBy,
    ) -> StoreResult<Membership> {
        let mut tx = self.begin().await?;
        let owners = owners_locked(self, &mut tx, workspace_id).await?;
        let before = self.membership_locked(&mut tx, workspace_id, user_id).await?;
        let resolved = resolve(&mut tx, workspace_id, role).await?;
        if resolved.role.name() == before.role.name() {
            return Ok(before);
        }
        keep_an_owner(&owners, &before, resolved.role == Role::Builtin(BuiltinRole::Owner))?;
        let at = now();
        exec!(
            &mut tx,
            sqlx::query("UPDATE memberships SET builtin_role = $1, custom_role_id = $2, updated_at = $3 WHERE id = $4")
                .bind(resolved.builtin)
                .bind(resolved.custom_id)
                .bind(at.0)
                .bind(before.id.to_string())
        )?;
        let draft = by.draft(
            "membership.role_changed",
            Some(workspace_id),
            None,
            format!("membership:{}", before.id),
            json!({
                "user_id": user_id,
                "before": {"role": before.role.name()},
                "after": {"role": resolved.role.name()},
            }),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(Membership { role: resolved.role, updated_at: at, ..before })
    }

    /// Replaces a member's tenant entitlements.
    pub async fn member_set_scope(
        &self,
        workspace_id: Uuid,
        user_id: Uuid,
        scope: &TenantScope,
        by: &ChangeBy,
    ) -> StoreResult<Membership> {
        let mut tx = self.begin().await?;
        let before = self.membership_locked(&mut tx, workspace_id, user_id).await?;
        check_scope(&mut tx, workspace_id, scope).await?;
        if &before.tenant_scope == scope {
            return Ok(before);
        }
        let at = now();
        exec!(
            &mut tx,
            sqlx::query("UPDATE memberships SET tenant_scope = $1, updated_at = $2 WHERE id = $3")
                .bind(scope.to_db())
                .bind(at.0)
                .bind(before.id.to_string())
        )?;
        let draft = by.draft(
            "membership.scope_changed",
            Some(workspace_id),
            None,
            format!("membership:{}", before.id),
            json!({
                "user_id": user_id,
                "before": {"tenant_scope": scope_json(&before.tenant_scope)},
                "after": {"tenant_scope": scope_json(scope)},
            }),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(Membership { tenant_scope: scope.clone(), updated_at: at, ..before })
    }

    /// Removes a membership (the row is deleted); returns what was removed.
    /// The last owner cannot be removed (`Conflict`).
    pub async fn member_revoke(&self, workspace_id: Uuid, user_id: Uuid, by: &ChangeBy) -> StoreResult<Membership> {
        let mut tx = self.begin().await?;
        let owners = owners_locked(self, &mut tx, workspace_id).await?;
        let before = self.membership_locked(&mut tx, workspace_id, user_id).await?;
        keep_an_owner(&owners, &before, false)?;
        exec!(&mut tx, sqlx::query("DELETE FROM memberships WHERE id = $1").bind(before.id.to_string()))?;
        let draft = by.draft(
            "membership.revoked",
            Some(workspace_id),
            None,
            format!("membership:{}", before.id),
            json!({
                "user_id": user_id,
                "before": {"role": before.role.name(), "tenant_scope": scope_json(&before.tenant_scope)},
            }),
        );
        append(&mut tx, &draft, now()).await?;
        tx.commit().await?;
        Ok(before)
    }

    /// Whether a change to this membership would be allowed: it exists, and
    /// the workspace's last owner stays one (`stays_owner`) — what
    /// `member_set_role` and `member_revoke` refuse, checked for a preview
    /// without changing anything.
    pub async fn member_change_allowed(&self, workspace_id: Uuid, user_id: Uuid, stays_owner: bool) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let owners = owners_locked(self, &mut tx, workspace_id).await?;
        let before = self.membership_locked(&mut tx, workspace_id, user_id).await?;
        // Nothing was written: the transaction ends without a commit.
        drop(tx);
        keep_an_owner(&owners, &before, stays_owner)
    }

    /// Whether `member_set_scope` would accept this scope (its tenants are the
    /// workspace's), checked for a preview without changing anything.
    pub async fn member_scope_check(&self, workspace_id: Uuid, scope: &TenantScope) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let checked = check_scope(&mut tx, workspace_id, scope).await;
        drop(tx);
        checked
    }

    pub async fn membership_get(&self, workspace_id: Uuid, user_id: Uuid) -> StoreResult<Option<Membership>> {
        let sql = format!("{MEMBERSHIP_SELECT} WHERE m.workspace_id = $1 AND m.user_id = $2");
        let row: Option<MembershipRow> = on_db!(self.db(), |p| sqlx::query_as(&sql)
            .bind(workspace_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(p)
            .await)?;
        row.map(MembershipRow::into_domain).transpose()
    }

    /// The workspace's memberships, oldest first.
    pub async fn membership_list(&self, workspace_id: Uuid) -> StoreResult<Vec<Membership>> {
        let sql = format!("{MEMBERSHIP_SELECT} WHERE m.workspace_id = $1 ORDER BY m.created_at, m.id");
        let rows: Vec<MembershipRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(workspace_id.to_string()).fetch_all(p).await)?;
        rows.into_iter().map(MembershipRow::into_domain).collect()
    }

    /// Every membership of one user, across workspaces, oldest first.
    pub async fn memberships_of_user(&self, user_id: Uuid) -> StoreResult<Vec<Membership>> {
        let sql = format!("{MEMBERSHIP_SELECT} WHERE m.user_id = $1 ORDER BY m.created_at, m.id");
        let rows: Vec<MembershipRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(user_id.to_string()).fetch_all(p).await)?;
        rows.into_iter().map(MembershipRow::into_domain).collect()
    }

    /// Reads a membership for change, locking its row (PostgreSQL).
    async fn membership_locked(&self, tx: &mut Tx, workspace_id: Uuid, user_id: Uuid) -> StoreResult<Membership> {
        let sql = format!(
            "{MEMBERSHIP_SELECT} WHERE m.workspace_id = $1 AND m.user_id = $2{}",
            self.row_lock(" FOR UPDATE OF m")
        );
        let row: Option<MembershipRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
            .bind(workspace_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(c)
            .await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("membership of user {user_id} in workspace {workspace_id}")))?
            .into_domain()
    }
}
