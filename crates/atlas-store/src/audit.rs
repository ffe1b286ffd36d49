//! The append-only audit log and its hash chains.
//!
//! Transactions only append (`append`), with hash NULL: no lock that a run
//! transition waits on. The sealer (`Store::audit_seal`) links events into one
//! chain per workspace plus `global`, in (transaction id, sequence) order,
//! sealing on PostgreSQL only below the oldest transaction still in flight so
//! that no later commit can land before a sealed event. A head row per chain,
//! written only by the sealer, catches a deleted tail.

use atlas_core::audit::{Actor, AuditDraft};
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::{exec, StoreResult, Tx};

/// The chain an event belongs to.
pub(crate) fn chain_of(workspace_id: Option<Uuid>) -> String {
    workspace_id.map_or_else(|| GLOBAL_CHAIN.to_owned(), |w| w.to_string())
}

pub const GLOBAL_CHAIN: &str = "global";

/// A stored audit event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub id: Uuid,
    pub chain: String,
    pub workspace_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub actor: Actor,
    pub action: String,
    pub subject: String,
    pub data: Value,
    pub created_at: Timestamp,
    pub chain_index: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// Appends an event inside the caller's transaction.
pub(crate) async fn append(tx: &mut Tx, draft: &AuditDraft, at: Timestamp) -> StoreResult<()> {
    let data = serde_json::to_string(&draft.data).unwrap_or_else(|_| "{}".into());
    exec!(tx, sqlx::query(
        "INSERT INTO audit_events (id, chain, workspace_id, tenant_id, actor, action, subject, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(Uuid::now_v7().to_string())
    .bind(chain_of(draft.workspace_id))
    .bind(draft.workspace_id.map(|w| w.to_string()))
    .bind(draft.tenant_id.map(|t| t.to_string()))
    .bind(draft.actor.to_db())
    .bind(&draft.action)
    .bind(&draft.subject)
    .bind(data)
    .bind(at.0))?;
    Ok(())
}
