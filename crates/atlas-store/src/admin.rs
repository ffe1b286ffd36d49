//! Administration of the world the gate reads: workspaces, users, custom roles,
//! memberships, tenants, provider connections and API tokens.
//!
//! Every change that can affect legitimacy writes its audit event in the same
//! transaction as the row (SPEC §6.4), with `before`/`after` values in its
//! data. Input is validated before the transaction begins, so a refused change
//! writes nothing; duplicates surface as `Conflict` through the unique
//! constraints (error.rs), unknown records as `NotFound`. A change that would
//! not change anything returns the current state without an event.

mod connection;
pub(crate) mod member;
mod role;
mod tenant;
mod token;
mod user;
mod workspace;

use atlas_core::audit::{Actor, AuditDraft};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{Dialect, Store, StoreError, StoreResult};

pub use connection::ProviderConnection;
pub use member::Membership;
pub(crate) use role::parse_caps;
pub use role::{CustomRole, RoleRef};
pub use tenant::Tenant;
pub use token::{hash_token, ApiToken};
pub use user::{generate_password, normalize_email, PasswordKind, User};
pub use workspace::Workspace;

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

    pub(crate) fn draft(
        &self,
        action: &str,
        workspace_id: Option<Uuid>,
        tenant_id: Option<Uuid>,
        subject: String,
        mut data: Value,
    ) -> AuditDraft {
        if let (Some(via), Value::Object(m)) = (self.via, &mut data) {
            m.insert("via".into(), json!(via));
        }
        AuditDraft { action: action.into(), actor: self.actor.clone(), workspace_id, tenant_id, subject, data }
    }

    /// The stored form of the actor (`writes_changed_by`).
    fn actor_text(&self) -> String {
        self.actor.to_db()
    }
}

/// Text from outside becomes a typed value of `atlas_core::value` before it
/// is stored or looked up (that module says the rules); a refusal is
/// `Invalid` with the value's message.
pub(crate) fn valid<T>(parsed: Result<T, atlas_core::value::ValueError>) -> StoreResult<T> {
    parsed.map_err(|e| StoreError::Invalid(e.message))
}

impl Store {
    /// The row lock of a read-then-write. PostgreSQL needs `FOR UPDATE` so that
    /// the audit event's `before` is the value actually replaced; SQLite's
    /// `BEGIN IMMEDIATE` already holds the database's write lock.
    fn row_lock(&self, clause: &'static str) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => clause,
        }
    }
}
