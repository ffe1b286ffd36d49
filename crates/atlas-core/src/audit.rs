//! Audit events as the domain produces them; the store appends and chains them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Who did it: a user, or the system (a worker, the scheduler, or the CLI with `via: "cli"` in data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    User { user_id: Uuid },
    System,
}

impl Actor {
    /// The stored form: a user id, or `system`.
    pub fn to_db(&self) -> String {
        match self {
            Actor::User { user_id } => user_id.to_string(),
            Actor::System => "system".to_owned(),
        }
    }

    pub fn from_db(s: &str) -> Actor {
        Uuid::parse_str(s).map_or(Actor::System, |user_id| Actor::User { user_id })
    }
}

/// An event before it is appended: no sequence, no hash yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditDraft {
    pub action: String,
    pub actor: Actor,
    pub workspace_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    /// What it is about, as `kind:id` (`run:…`, `membership:…`).
    pub subject: String,
    pub data: Value,
}
