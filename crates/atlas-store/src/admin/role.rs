//! Custom roles: a named capability set of one workspace. Memberships point at
//! the role row, so editing its capabilities affects every holder at once.

use atlas_core::capability::{BuiltinRole, CapabilitySet, Role};
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use atlas_core::value::RoleName;

use super::{valid, ChangeBy};
use crate::audit::append;
use crate::row::uuid;
use crate::{exec, now, on_db, on_tx, Store, StoreError, StoreResult, Tx};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomRole {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub capabilities: CapabilitySet,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A role as named by an administrator: a built-in name, or a custom role to
/// look up in the membership's workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleRef {
    Builtin(BuiltinRole),
    Custom(String),
}

impl RoleRef {
    /// Built-in names win; custom roles can never take one (see `role_create`).
    /// A custom name is checked (`RoleName`) where it is looked up.
    pub fn parse(name: &str) -> RoleRef {
        BuiltinRole::parse(name).map_or_else(|| RoleRef::Custom(name.to_owned()), RoleRef::Builtin)
    }
}

/// A role resolved in a workspace, in the form a membership row stores it.
pub(super) struct ResolvedRole {
    pub(super) builtin: Option<&'static str>,
    pub(super) custom_id: Option<String>,
    pub(super) role: Role,
}

#[derive(sqlx::FromRow)]
struct CustomRoleRow {
    id: String,
    workspace_id: String,
    name: String,
    capabilities: String,
    created_at: i64,
    updated_at: i64,
}

impl CustomRoleRow {
    fn into_domain(self) -> StoreResult<CustomRole> {
        Ok(CustomRole {
            id: uuid(&self.id)?,
            workspace_id: uuid(&self.workspace_id)?,
            name: self.name,
            capabilities: parse_caps(&self.capabilities)?,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

const ROLE_SELECT: &str = "SELECT id, workspace_id, name, capabilities, created_at, updated_at FROM custom_roles";

pub(crate) fn parse_caps(s: &str) -> StoreResult<CapabilitySet> {
    atlas_core::capability::parse_capability_list(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn caps_to_db(caps: &CapabilitySet) -> String {
    caps.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
}

fn role_name(name: &str) -> StoreResult<String> {
    let name = valid(RoleName::parse(name))?.into_string();
    let name = name.as_str();
    if BuiltinRole::parse(&name.to_lowercase()).is_some() {
        return Err(StoreError::Invalid(format!(
            "`{name}` is a built-in role name; choose another name for a custom role"
        )));
    }
    if name.contains(',') {
        return Err(StoreError::Invalid(format!("role name `{name}` must not contain a comma")));
    }
    Ok(name.to_owned())
}

impl Store {
    pub async fn role_create(
        &self,
        workspace_id: Uuid,
        name: &str,
        capabilities: &CapabilitySet,
        by: &ChangeBy,
    ) -> StoreResult<CustomRole> {
        let name = role_name(name)?;
        self.workspace_get(workspace_id).await?;
        let at = now();
        let role = CustomRole {
            id: Uuid::now_v7(),
            workspace_id,
            name,
            capabilities: capabilities.clone(),
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO custom_roles (id, workspace_id, name, capabilities, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)"
            )
            .bind(role.id.to_string())
            .bind(workspace_id.to_string())
            .bind(&role.name)
            .bind(caps_to_db(capabilities))
            .bind(at.0)
        )?;
        let draft = by.draft(
            "role.created",
            Some(workspace_id),
            None,
            format!("role:{}", role.id),
            json!({"name": role.name, "after": {"capabilities": role.capabilities}}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Replaces a custom role's capabilities; takes effect for every holder.
    pub async fn role_set(
        &self,
        workspace_id: Uuid,
        name: &str,
        capabilities: &CapabilitySet,
        by: &ChangeBy,
    ) -> StoreResult<CustomRole> {
        valid(RoleName::parse(name))?;
        let mut tx = self.begin().await?;
        let sql = format!("{ROLE_SELECT} WHERE workspace_id = $1 AND name = $2{}", self.row_lock(" FOR UPDATE"));
        let row: Option<CustomRoleRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
            .bind(workspace_id.to_string())
            .bind(name)
            .fetch_optional(c)
            .await)?;
        let before = row.ok_or_else(|| StoreError::NotFound(format!("custom role `{name}`")))?.into_domain()?;
        if &before.capabilities == capabilities {
            return Ok(before);
        }
        let at = now();
        exec!(
            &mut tx,
            sqlx::query("UPDATE custom_roles SET capabilities = $1, updated_at = $2 WHERE id = $3")
                .bind(caps_to_db(capabilities))
                .bind(at.0)
                .bind(before.id.to_string())
        )?;
        let draft = by.draft(
            "role.updated",
            Some(workspace_id),
            None,
            format!("role:{}", before.id),
            json!({
                "name": before.name,
                "before": {"capabilities": before.capabilities},
                "after": {"capabilities": capabilities},
            }),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(CustomRole { capabilities: capabilities.clone(), updated_at: at, ..before })
    }

    pub async fn role_get(&self, workspace_id: Uuid, name: &str) -> StoreResult<CustomRole> {
        valid(RoleName::parse(name))?;
        let sql = format!("{ROLE_SELECT} WHERE workspace_id = $1 AND name = $2");
        let row: Option<CustomRoleRow> = on_db!(self.db(), |p| sqlx::query_as(&sql)
            .bind(workspace_id.to_string())
            .bind(name)
            .fetch_optional(p)
            .await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("custom role `{name}`")))?.into_domain()
    }

    /// The workspace's custom roles, by name.
    pub async fn role_list(&self, workspace_id: Uuid) -> StoreResult<Vec<CustomRole>> {
        let sql = format!("{ROLE_SELECT} WHERE workspace_id = $1 ORDER BY name");
        let rows: Vec<CustomRoleRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(workspace_id.to_string()).fetch_all(p).await)?;
        rows.into_iter().map(CustomRoleRow::into_domain).collect()
    }
}

/// Resolves a role name in a workspace, inside the membership change's transaction.
pub(super) async fn resolve(tx: &mut Tx, workspace_id: Uuid, role: &RoleRef) -> StoreResult<ResolvedRole> {
    match role {
        RoleRef::Builtin(b) => Ok(ResolvedRole { builtin: Some(b.as_str()), custom_id: None, role: Role::Builtin(*b) }),
        RoleRef::Custom(name) => {
            valid(RoleName::parse(name))?;
            let row: Option<(String, String)> = on_tx!(tx, |c| {
                sqlx::query_as("SELECT id, capabilities FROM custom_roles WHERE workspace_id = $1 AND name = $2")
                    .bind(workspace_id.to_string())
                    .bind(name)
                    .fetch_optional(c)
                    .await
            })?;
            let (id, caps) = row.ok_or_else(|| StoreError::NotFound(format!("role `{name}`")))?;
            Ok(ResolvedRole {
                builtin: None,
                custom_id: Some(id),
                role: Role::Custom { name: name.clone(), capabilities: parse_caps(&caps)? },
            })
        }
    }
}
