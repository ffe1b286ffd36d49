//! Tenants: a customer tenant of the workspace, its status and its write gate.

use atlas_core::tenant::TenantStatus;
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use atlas_core::value::{Guid, TenantName};

use super::{valid, ChangeBy};
use crate::audit::append;
use crate::row::{parse, uuid};
use crate::{exec, now, on_db, on_tx, Store, StoreError, StoreResult, Tx};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub external_tenant_id: Option<String>,
    pub status: TenantStatus,
    pub writes_enabled: bool,
    pub writes_changed_by: Option<String>,
    pub writes_changed_at: Option<Timestamp>,
    /// Writing runs wait for another member's approval (SPEC §10.2).
    pub approval_required: bool,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: String,
    workspace_id: String,
    name: String,
    external_tenant_id: Option<String>,
    status: String,
    writes_enabled: i64,
    writes_changed_by: Option<String>,
    writes_changed_at: Option<i64>,
    approval_required: i64,
    created_at: i64,
}

impl TenantRow {
    pub(crate) fn into_domain(self) -> StoreResult<Tenant> {
        Ok(Tenant {
            id: uuid(&self.id)?,
            workspace_id: uuid(&self.workspace_id)?,
            name: self.name,
            external_tenant_id: self.external_tenant_id,
            status: parse(&self.status, "tenant status", TenantStatus::parse)?,
            writes_enabled: self.writes_enabled != 0,
            writes_changed_by: self.writes_changed_by,
            writes_changed_at: self.writes_changed_at.map(Timestamp),
            approval_required: self.approval_required != 0,
            created_at: Timestamp(self.created_at),
        })
    }
}

pub(crate) const TENANT_SELECT: &str = "SELECT id, workspace_id, name, external_tenant_id, status, writes_enabled, \
     writes_changed_by, writes_changed_at, approval_required, created_at FROM tenants";

impl Store {
    /// Creates a tenant. The CLI's defaults are `active` and writes closed.
    pub async fn tenant_create(
        &self,
        workspace_id: Uuid,
        name: &str,
        status: TenantStatus,
        writes_enabled: bool,
        external_tenant_id: Option<&str>,
        by: &ChangeBy,
    ) -> StoreResult<Tenant> {
        let name = valid(TenantName::parse(name))?.into_string();
        let external_tenant_id = external_tenant_id
            .map(|e| valid(Guid::parse("external tenant id", e)).map(|g| g.to_string()))
            .transpose()?;
        self.workspace_get(workspace_id).await?;
        let at = now();
        let tenant = Tenant {
            id: Uuid::now_v7(),
            workspace_id,
            name,
            external_tenant_id,
            status,
            writes_enabled,
            // An open gate at creation is a gate change like any other: say who opened it.
            writes_changed_by: writes_enabled.then(|| by.actor_text()),
            writes_changed_at: writes_enabled.then_some(at),
            approval_required: false,
            created_at: at,
        };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO tenants (id, workspace_id, name, external_tenant_id, status, writes_enabled, \
                 writes_changed_by, writes_changed_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
            )
            .bind(tenant.id.to_string())
            .bind(workspace_id.to_string())
            .bind(&tenant.name)
            .bind(&tenant.external_tenant_id)
            .bind(status.as_str())
            .bind(i64::from(writes_enabled))
            .bind(&tenant.writes_changed_by)
            .bind(tenant.writes_changed_at.map(|t| t.0))
            .bind(at.0)
        )?;
        let draft = by.draft(
            "tenant.created",
            Some(workspace_id),
            Some(tenant.id),
            format!("tenant:{}", tenant.id),
            json!({"after": {
                "name": tenant.name,
                "external_tenant_id": tenant.external_tenant_id,
                "status": status,
                "writes_enabled": writes_enabled,
            }}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(tenant)
    }

    /// Moves a tenant to another status (onboarding, active, suspended, archived).
    pub async fn tenant_set_status(&self, tenant_id: Uuid, status: TenantStatus, by: &ChangeBy) -> StoreResult<Tenant> {
        let mut tx = self.begin().await?;
        let before = self.tenant_locked(&mut tx, tenant_id).await?;
        if before.status == status {
            return Ok(before);
        }
        let at = now();
        exec!(
            &mut tx,
            sqlx::query("UPDATE tenants SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(at.0)
                .bind(tenant_id.to_string())
        )?;
        let draft = by.draft(
            "tenant.status_changed",
            Some(before.workspace_id),
            Some(tenant_id),
            format!("tenant:{tenant_id}"),
            json!({"name": before.name, "before": {"status": before.status}, "after": {"status": status}}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(Tenant { status, ..before })
    }

    /// Opens or closes the tenant's write gate, recording who changed it and when.
    pub async fn tenant_set_write_gate(&self, tenant_id: Uuid, open: bool, by: &ChangeBy) -> StoreResult<Tenant> {
        let mut tx = self.begin().await?;
        let before = self.tenant_locked(&mut tx, tenant_id).await?;
        if before.writes_enabled == open {
            return Ok(before);
        }
        let at = now();
        let changed_by = by.actor_text();
        exec!(
            &mut tx,
            sqlx::query(
                "UPDATE tenants SET writes_enabled = $1, writes_changed_by = $2, writes_changed_at = $3, \
                 updated_at = $3 WHERE id = $4"
            )
            .bind(i64::from(open))
            .bind(&changed_by)
            .bind(at.0)
            .bind(tenant_id.to_string())
        )?;
        let draft = by.draft(
            "tenant.write_gate_changed",
            Some(before.workspace_id),
            Some(tenant_id),
            format!("tenant:{tenant_id}"),
            json!({
                "name": before.name,
                "before": {"writes_enabled": before.writes_enabled},
                "after": {"writes_enabled": open},
            }),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(Tenant { writes_enabled: open, writes_changed_by: Some(changed_by), writes_changed_at: Some(at), ..before })
    }

    /// Requires approval of the tenant's writing runs, or stops requiring it
    /// (`tenants approval`). Runs already carrying a record keep it.
    pub async fn tenant_set_approval(&self, tenant_id: Uuid, required: bool, by: &ChangeBy) -> StoreResult<Tenant> {
        let mut tx = self.begin().await?;
        let before = self.tenant_locked(&mut tx, tenant_id).await?;
        if before.approval_required == required {
            return Ok(before);
        }
        let at = now();
        exec!(
            &mut tx,
            sqlx::query("UPDATE tenants SET approval_required = $1, updated_at = $2 WHERE id = $3")
                .bind(i64::from(required))
                .bind(at.0)
                .bind(tenant_id.to_string())
        )?;
        let draft = by.draft(
            "tenant.approval_changed",
            Some(before.workspace_id),
            Some(tenant_id),
            format!("tenant:{tenant_id}"),
            json!({
                "name": before.name,
                "before": {"approval_required": before.approval_required},
                "after": {"approval_required": required},
            }),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(Tenant { approval_required: required, ..before })
    }

    pub async fn tenant_get(&self, id: Uuid) -> StoreResult<Tenant> {
        let sql = format!("{TENANT_SELECT} WHERE id = $1");
        let row: Option<TenantRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))?.into_domain()
    }

    pub async fn tenant_by_name(&self, workspace_id: Uuid, name: &str) -> StoreResult<Tenant> {
        valid(TenantName::parse(name))?;
        let sql = format!("{TENANT_SELECT} WHERE workspace_id = $1 AND name = $2");
        let row: Option<TenantRow> = on_db!(self.db(), |p| sqlx::query_as(&sql)
            .bind(workspace_id.to_string())
            .bind(name)
            .fetch_optional(p)
            .await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("tenant `{name}`")))?.into_domain()
    }

    /// The workspace's tenants, by name.
    pub async fn tenant_list(&self, workspace_id: Uuid) -> StoreResult<Vec<Tenant>> {
        let sql = format!("{TENANT_SELECT} WHERE workspace_id = $1 ORDER BY name");
        let rows: Vec<TenantRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(workspace_id.to_string()).fetch_all(p).await)?;
        rows.into_iter().map(TenantRow::into_domain).collect()
    }

    /// Finds a tenant by id or exact name. A name needs the workspace; with a
    /// workspace given, a tenant of another workspace is not found (nothing
    /// crosses workspaces).
    pub async fn tenant_resolve(&self, workspace: Option<Uuid>, id_or_name: &str) -> StoreResult<Tenant> {
        let key = id_or_name;
        if let Ok(id) = Uuid::parse_str(key) {
            match (self.tenant_get(id).await, workspace) {
                (Ok(t), Some(w)) if t.workspace_id != w => {}
                (Ok(t), _) => return Ok(t),
                (Err(StoreError::NotFound(_)), Some(_)) => {} // may still be a (uuid-like) name
                (Err(e), _) => return Err(e),
            }
        }
        match workspace {
            Some(w) => self.tenant_by_name(w, key).await,
            None => Err(StoreError::Invalid(format!(
                "tenant `{key}` is a name; a tenant name needs its workspace (or give the tenant id)"
            ))),
        }
    }

    /// Reads a tenant for change, locking its row (PostgreSQL).
    async fn tenant_locked(&self, tx: &mut Tx, tenant_id: Uuid) -> StoreResult<Tenant> {
        let sql = format!("{TENANT_SELECT} WHERE id = $1{}", self.row_lock(" FOR UPDATE"));
        let row: Option<TenantRow> =
            on_tx!(tx, |c| sqlx::query_as(&sql).bind(tenant_id.to_string()).fetch_optional(c).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("tenant {tenant_id}")))?.into_domain()
    }
}
