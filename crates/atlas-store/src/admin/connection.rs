//! Provider connections: one per tenant. The gate needs it to exist and be
//! enabled; its secret is stored encrypted by the caller and never read back
//! through this API.

use atlas_core::tenant::{ConnectionKind, ConnectionStatus};
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{ChangeBy, Tenant};
use crate::audit::append;
use crate::results::Fence;
use crate::row::{json as parse_json, parse, uuid};
use crate::{exec, now, on_db, on_tx, Store, StoreError, StoreResult, Tx};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderConnection {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: ConnectionKind,
    pub status: ConnectionStatus,
    /// Non-secret settings (external tenant id, client id). Secrets are never returned.
    pub config: Value,
    pub has_secret: bool,
    pub health: Option<Value>,
    pub checked_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    tenant_id: String,
    kind: String,
    status: String,
    config: String,
    has_secret: i64,
    health: Option<String>,
    checked_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl ConnectionRow {
    fn into_domain(self) -> StoreResult<ProviderConnection> {
        Ok(ProviderConnection {
            id: uuid(&self.id)?,
            tenant_id: uuid(&self.tenant_id)?,
            kind: parse(&self.kind, "connection kind", ConnectionKind::parse)?,
            status: parse(&self.status, "connection status", ConnectionStatus::parse)?,
            config: parse_json(&self.config)?,
            has_secret: self.has_secret != 0,
            health: self.health.as_deref().map(parse_json).transpose()?,
            checked_at: self.checked_at.map(Timestamp),
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

// The CASE is cast so that PostgreSQL yields a BIGINT like every other integer here.
const CONNECTION_SELECT: &str = "SELECT id, tenant_id, kind, status, config, \
     CAST(CASE WHEN secret_ciphertext IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_secret, \
     health, checked_at, created_at, updated_at FROM provider_connections";

/// The audit action of a status change.
fn status_action(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Enabled => "connection.enabled",
        ConnectionStatus::Disabled => "connection.disabled",
        ConnectionStatus::PendingConsent => "connection.status_changed",
    }
}

impl Store {
    /// Adds the tenant's provider connection, in its kind's initial status
    /// (a sandbox is enabled at once, a Graph connection waits for consent).
    /// `secret_ciphertext` is stored as given: encrypting it is the caller's job.
    pub async fn connection_add(
        &self,
        tenant_id: Uuid,
        kind: ConnectionKind,
        config: Value,
        secret_ciphertext: Option<String>,
        by: &ChangeBy,
    ) -> StoreResult<ProviderConnection> {
        if !config.is_object() {
            return Err(StoreError::Invalid("connection config must be a JSON object".into()));
        }
        let tenant = self.tenant_get(tenant_id).await?;
        let at = now();
        let conn = ProviderConnection {
            id: Uuid::now_v7(),
            tenant_id,
            kind,
            status: kind.initial_status(),
            config,
            has_secret: secret_ciphertext.is_some(),
            health: None,
            checked_at: None,
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO provider_connections (id, tenant_id, kind, status, config, secret_ciphertext, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
            )
            .bind(conn.id.to_string())
            .bind(tenant_id.to_string())
            .bind(kind.as_str())
            .bind(conn.status.as_str())
            .bind(conn.config.to_string())
            .bind(secret_ciphertext)
            .bind(at.0)
        )?;
        let draft = by.draft(
            "connection.created",
            Some(tenant.workspace_id),
            Some(tenant_id),
            format!("connection:{}", conn.id),
            json!({"after": {
                "kind": kind,
                "status": conn.status,
                "config": conn.config,
                "has_secret": conn.has_secret,
            }}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(conn)
    }

    /// Enables or disables the tenant's connection. A connection still waiting
    /// for consent cannot be enabled by hand: a passing check enables it.
    pub async fn connection_set_status(
        &self,
        tenant_id: Uuid,
        enabled: bool,
        by: &ChangeBy,
    ) -> StoreResult<ProviderConnection> {
        let tenant = self.tenant_get(tenant_id).await?;
        let mut tx = self.begin().await?;
        let before = self.connection_locked(&mut tx, tenant_id).await?;
        let status = match (enabled, before.status) {
            (true, ConnectionStatus::PendingConsent) => {
                return Err(StoreError::Invalid(format!(
                    "the connection of tenant `{}` is waiting for consent; a passing connection check enables it",
                    tenant.name
                )))
            }
            // Re-enabling a connection that never passed a check (a Graph
            // connection disabled while waiting for consent) waits for consent again.
            (true, ConnectionStatus::Disabled)
                if !before.kind.initial_status().eq(&ConnectionStatus::Enabled) && !passed_check(&before) =>
            {
                ConnectionStatus::PendingConsent
            }
            (true, _) => ConnectionStatus::Enabled,
            (false, _) => ConnectionStatus::Disabled,
        };
        if status == before.status {
            return Ok(before);
        }
        self.connection_write_status(tx, &tenant, &before, status, by, json!({})).await
    }

    /// The sealed secret of a tenant's connection: only the engine reads it,
    /// to open it into a provider. It never leaves the process.
    pub async fn connection_sealed_secret(&self, tenant_id: Uuid) -> StoreResult<Option<String>> {
        let row: Option<(Option<String>,)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT secret_ciphertext FROM provider_connections WHERE tenant_id = $1"
        )
        .bind(tenant_id.to_string())
        .fetch_optional(p)
        .await)?;
        Ok(row.and_then(|(s,)| s))
    }

    /// The tenant's connection, if it has one (without its secret).
    pub async fn connection_get(&self, tenant_id: Uuid) -> StoreResult<Option<ProviderConnection>> {
        let sql = format!("{CONNECTION_SELECT} WHERE tenant_id = $1");
        let row: Option<ConnectionRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(tenant_id.to_string()).fetch_optional(p).await)?;
        row.map(ConnectionRow::into_domain).transpose()
    }

    /// Records a connection check's result, fenced by the checking run's
    /// lease. Health alone is not audited; a status change it brings (a
    /// passing check enabling a Graph connection, say) is, with the system as
    /// its actor.
    pub(crate) async fn connection_record_health(
        &self,
        fence: Fence,
        tenant_id: Uuid,
        health: Value,
        status: Option<ConnectionStatus>,
    ) -> StoreResult<ProviderConnection> {
        let tenant = self.tenant_get(tenant_id).await?;
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        let before = self.connection_locked(&mut tx, tenant_id).await?;
        let at = now();
        exec!(
            &mut tx,
            sqlx::query("UPDATE provider_connections SET health = $1, checked_at = $2, updated_at = $2 WHERE id = $3")
                .bind(health.to_string())
                .bind(at.0)
                .bind(before.id.to_string())
        )?;
        let checked = ProviderConnection { health: Some(health), checked_at: Some(at), updated_at: at, ..before };
        match status {
            Some(s) if s != checked.status => {
                let by = ChangeBy { actor: atlas_core::audit::Actor::System, via: None };
                let extra = json!({"source": "connection_check"});
                self.connection_write_status(tx, &tenant, &checked, s, &by, extra).await
            }
            _ => {
                tx.commit().await?;
                Ok(checked)
            }
        }
    }

    /// Writes a status change and its audit event, and commits.
    async fn connection_write_status(
        &self,
        mut tx: Tx,
        tenant: &Tenant,
        before: &ProviderConnection,
        status: ConnectionStatus,
        by: &ChangeBy,
        mut data: Value,
    ) -> StoreResult<ProviderConnection> {
        let at = now();
        exec!(
            &mut tx,
            sqlx::query("UPDATE provider_connections SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(at.0)
                .bind(before.id.to_string())
        )?;
        if let Value::Object(m) = &mut data {
            m.insert("kind".into(), json!(before.kind));
            m.insert("before".into(), json!({"status": before.status}));
            m.insert("after".into(), json!({"status": status}));
        }
        let draft = by.draft(
            status_action(status),
            Some(tenant.workspace_id),
            Some(tenant.id),
            format!("connection:{}", before.id),
            data,
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(ProviderConnection { status, updated_at: at, ..before.clone() })
    }

    /// Reads the tenant's connection for change, locking its row (PostgreSQL).
    async fn connection_locked(&self, tx: &mut Tx, tenant_id: Uuid) -> StoreResult<ProviderConnection> {
        let sql = format!("{CONNECTION_SELECT} WHERE tenant_id = $1{}", self.row_lock(" FOR UPDATE"));
        let row: Option<ConnectionRow> =
            on_tx!(tx, |c| sqlx::query_as(&sql).bind(tenant_id.to_string()).fetch_optional(c).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("provider connection of tenant {tenant_id}")))?.into_domain()
    }
}

/// Whether the connection's last recorded check passed.
fn passed_check(c: &ProviderConnection) -> bool {
    c.health.as_ref().and_then(|h| h.get("ok")).and_then(serde_json::Value::as_bool).unwrap_or(false)
}
