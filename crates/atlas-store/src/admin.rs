//! Administration of the world the gate reads: workspaces, users, custom roles,
//! memberships, tenants, provider connections and API tokens. Every change
//! that can affect legitimacy writes its audit event in the same transaction.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use atlas_core::audit::{Actor, AuditDraft};
use atlas_core::capability::{BuiltinRole, CapabilitySet, Role};
use atlas_core::tenant::{ConnectionKind, ConnectionStatus, TenantScope, TenantStatus};
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::append;
use crate::row::{json as parse_json, parse, uuid};
use crate::{exec, now, on_db, Store, StoreError, StoreResult};

/// Who makes an administrative change: a user, or the system (`via: "cli"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeBy {
    pub actor: Actor,
    pub via: Option<&'static str>,
}

impl ChangeBy {
    pub fn cli() -> ChangeBy {
        ChangeBy { actor: Actor::System, via: Some("cli") }
    }

    pub fn user(user_id: Uuid) -> ChangeBy {
        ChangeBy { actor: Actor::User { user_id }, via: None }
    }

    fn draft(&self, action: &str, workspace_id: Option<Uuid>, tenant_id: Option<Uuid>, subject: String, mut data: Value) -> AuditDraft {
        if let (Some(via), Value::Object(m)) = (self.via, &mut data) {
            m.insert("via".into(), json!(via));
        }
        AuditDraft { action: action.into(), actor: self.actor.clone(), workspace_id, tenant_id, subject, data }
    }

    fn actor_text(&self) -> String {
        self.actor.to_db()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomRole {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub capabilities: CapabilitySet,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub tenant_scope: TenantScope,
}

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
    pub created_at: Timestamp,
}

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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: String,
    slug: String,
    name: String,
    created_at: i64,
}

impl WorkspaceRow {
    fn into_domain(self) -> StoreResult<Workspace> {
        Ok(Workspace { id: uuid(&self.id)?, slug: self.slug, name: self.name, created_at: Timestamp(self.created_at) })
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    display_name: String,
    disabled_at: Option<i64>,
    created_at: i64,
}

impl UserRow {
    fn into_domain(self) -> StoreResult<User> {
        Ok(User {
            id: uuid(&self.id)?,
            email: self.email,
            display_name: self.display_name,
            disabled_at: self.disabled_at.map(Timestamp),
            created_at: Timestamp(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: String,
    workspace_id: String,
    user_id: String,
    builtin_role: Option<String>,
    custom_role_name: Option<String>,
    custom_role_capabilities: Option<String>,
    tenant_scope: String,
}

impl MembershipRow {
    fn into_domain(self) -> StoreResult<Membership> {
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
        })
    }
}

pub(crate) fn parse_caps(s: &str) -> StoreResult<CapabilitySet> {
    atlas_core::capability::parse_capability_list(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn caps_to_db(caps: &CapabilitySet) -> String {
    caps.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
}

pub(crate) const MEMBERSHIP_SELECT: &str = "SELECT m.id, m.workspace_id, m.user_id, m.builtin_role, \
     r.name AS custom_role_name, r.capabilities AS custom_role_capabilities, m.tenant_scope \
     FROM memberships m LEFT JOIN custom_roles r ON r.id = m.custom_role_id";

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
            created_at: Timestamp(self.created_at),
        })
    }
}

pub(crate) const TENANT_SELECT: &str = "SELECT id, workspace_id, name, external_tenant_id, status, writes_enabled, \
     writes_changed_by, writes_changed_at, created_at FROM tenants";

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
        })
    }
}

const CONNECTION_SELECT: &str = "SELECT id, tenant_id, kind, status, config, \
     CASE WHEN secret_ciphertext IS NULL THEN 0 ELSE 1 END AS has_secret, health, checked_at \
     FROM provider_connections";

/// Emails are compared case-insensitively; stored lower-case.
pub fn normalize_email(email: &str) -> Result<String, StoreError> {
    let e = email.trim().to_lowercase();
    let valid = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(|c| c.is_whitespace() || c == ',')
                && e.matches('@').count() == 1
        }
        None => false,
    };
    if valid {
        Ok(e)
    } else {
        Err(StoreError::Invalid(format!("`{email}` is not a valid email address")))
    }
}

fn hash_password(password: &str) -> StoreResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash password: {e}")))
}

/// A token's stored form: tokens are random, so a plain SHA-256 is enough.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn non_empty<'a>(what: &str, value: &'a str) -> StoreResult<&'a str> {
    let v = value.trim();
    if v.is_empty() {
        Err(StoreError::Invalid(format!("{what} must not be empty")))
    } else {
        Ok(v)
    }
}

impl Store {
    // ---- workspaces ----

    pub async fn workspace_create(&self, slug: &str, name: &str, by: &ChangeBy) -> StoreResult<Workspace> {
        let slug = non_empty("slug", slug)?;
        if !slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(StoreError::Invalid(format!(
                "slug `{slug}` may only contain lower-case letters, digits and dashes"
            )));
        }
        let name = non_empty("name", name)?;
        let ws = Workspace { id: Uuid::now_v7(), slug: slug.into(), name: name.into(), created_at: now() };
        let mut tx = self.begin().await?;
        exec!(&mut tx, sqlx::query("INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(ws.id.to_string())
            .bind(&ws.slug)
            .bind(&ws.name)
            .bind(ws.created_at.0))?;
        let draft = by.draft("workspace.created", Some(ws.id), None, format!("workspace:{}", ws.id), json!({"slug": ws.slug, "name": ws.name}));
        append(&mut tx, &draft, ws.created_at).await?;
        tx.commit().await?;
        Ok(ws)
    }

    pub async fn workspace_by_slug(&self, slug: &str) -> StoreResult<Workspace> {
        let row: Option<WorkspaceRow> = on_db!(self.db(), |p| sqlx::query_as("SELECT id, slug, name, created_at FROM workspaces WHERE slug = $1")
            .bind(slug)
            .fetch_optional(p)
            .await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("workspace `{slug}`")))?.into_domain()
    }

    pub async fn workspace_get(&self, id: Uuid) -> StoreResult<Workspace> {
        let row: Option<WorkspaceRow> = on_db!(self.db(), |p| sqlx::query_as("SELECT id, slug, name, created_at FROM workspaces WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(p)
            .await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("workspace {id}")))?.into_domain()
    }

    pub async fn workspace_list(&self) -> StoreResult<Vec<Workspace>> {
        let rows: Vec<WorkspaceRow> = on_db!(self.db(), |p| sqlx::query_as("SELECT id, slug, name, created_at FROM workspaces ORDER BY slug")
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(WorkspaceRow::into_domain).collect()
    }

    // ---- users ----

    pub async fn user_create(&self, email: &str, display_name: &str, password: Option<&str>, by: &ChangeBy) -> StoreResult<User> {
        let email = normalize_email(email)?;
        let display_name = non_empty("name", display_name)?;
        let hash = password.map(hash_password).transpose()?;
        let user = User { id: Uuid::now_v7(), email, display_name: display_name.into(), disabled_at: None, created_at: now() };
        let mut tx = self.begin().await?;
        exec!(&mut tx, sqlx::query("INSERT INTO users (id, email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(user.id.to_string())
            .bind(&user.email)
            .bind(&user.display_name)
            .bind(hash)
            .bind(user.created_at.0))?;
        let draft = by.draft("user.created", None, None, format!("user:{}", user.id), json!({"email": user.email, "display_name": user.display_name}));
        append(&mut tx, &draft, user.created_at).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user_by_email(&self, email: &str) -> StoreResult<User> {
        let email_norm = email.trim().to_lowercase();
        let row: Option<UserRow> = on_db!(self.db(), |p| sqlx::query_as("SELECT id, email, display_name, disabled_at, created_at FROM users WHERE email = $1")
            .bind(&email_norm)
            .fetch_optional(p)
            .await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("user `{email}`")))?.into_domain()
    }

    pub async fn user_get(&self, id: Uuid) -> StoreResult<User> {
        let row: Option<UserRow> = on_db!(self.db(), |p| sqlx::query_as("SELECT id, email, display_name, disabled_at, created_at FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(p)
            .await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("user {id}")))?.into_domain()
    }

    /// Checks a password; `None` for an unknown, password-less or disabled user
    /// or a wrong password, so callers cannot tell which.
    pub async fn user_verify_password(&self, email: &str, password: &str) -> StoreResult<Option<User>> {
        let email_norm = email.trim().to_lowercase();
        let row: Option<(String, Option<String>)> = on_db!(self.db(), |p| sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL")
            .bind(&email_norm)
            .fetch_optional(p)
            .await)?;
        let Some((id, Some(stored))) = row else { return Ok(None) };
        let Ok(parsed) = PasswordHash::new(&stored) else { return Ok(None) };
        if Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
            return Ok(None);
        }
        Ok(Some(self.user_get(uuid(&id)?).await?))
    }

    /// Disables a user: from now on the gate refuses their queued runs, and their
    /// tokens stop working. Disabling twice is a no-op without a second event.
    pub async fn user_disable(&self, email: &str, by: &ChangeBy) -> StoreResult<User> {
        let user = self.user_by_email(email).await?;
        if user.disabled_at.is_some() {
            return Ok(user);
        }
        let at = now();
        let mut tx = self.begin().await?;
        exec!(&mut tx, sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(at.0)
            .bind(user.id.to_string()))?;
        exec!(&mut tx, sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(at.0)
            .bind(user.id.to_string()))?;
        let draft = by.draft("user.disabled", None, None, format!("user:{}", user.id), json!({"email": user.email}));
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(User { disabled_at: Some(at), ..user })
    }
}
