//! The append-only audit log and its hash chains.
//!
//! Transactions only append (`append`): no lock that a run transition waits
//! on, and an event row is never written again. The sealer
//! (`Store::audit_seal`, in `seal.rs`) links events, with a row each in
//! `audit_seals`, into one chain per workspace plus `global`, in (transaction id,
//! sequence) order, sealing on PostgreSQL only below the oldest transaction
//! still in flight so that no later commit can land before a sealed event. A
//! head row per chain, written only by the sealer, catches a deleted tail.
//! `verify.rs` walks the chains; `export.rs` reads the log back.
//!
//! An event's hash is the SHA-256 (lower-case hex) of the compact JSON array
//! `["atlas-audit-v1", chain, chain_index, seq, id, workspace_id, tenant_id,
//! actor, action, subject, data, created_at, prev_hash]`, every value exactly as
//! stored (ids and `data` as their stored text, `null` for a missing workspace
//! or tenant, integers for the numbers); the first event of a chain has
//! `prev_hash` = 64 zeros. JSON's string escaping makes the encoding
//! unambiguous, and hashing the stored text means any byte changed is caught.

mod export;
mod seal;
mod unsealed;
mod verify;

use std::time::Duration;

use atlas_core::audit::{Actor, AuditDraft};
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::multirow::{execute, int, opt_text, text, Kind, Rows};
use crate::row::{json, opt_uuid, uuid};
use crate::{now, on_db, Store, StoreResult, Tx};

pub use export::AuditFilter;
pub use seal::SealReport;
pub use unsealed::{StaleEvent, UnsealedReport};
pub use verify::{BreakReason, BrokenEvent, VerifyReport};

pub const GLOBAL_CHAIN: &str = "global";

/// The `prev_hash` of a chain's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Versions the canonical encoding, so that a future change cannot collide with it.
const HASH_DOMAIN: &str = "atlas-audit-v1";

/// The chain an event belongs to.
pub(crate) fn chain_of(workspace_id: Option<Uuid>) -> String {
    workspace_id.map_or_else(|| GLOBAL_CHAIN.to_owned(), |w| w.to_string())
}

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
    append_many(tx, [(draft, at)]).await
}

const AUDIT_COLS: &[(&str, Kind)] = &[
    ("id", Kind::Text),
    ("chain", Kind::Text),
    ("workspace_id", Kind::Text),
    ("tenant_id", Kind::Text),
    ("actor", Kind::Text),
    ("action", Kind::Text),
    ("subject", Kind::Text),
    ("data", Kind::Text),
    ("created_at", Kind::Int),
];

/// Appends events inside the caller's transaction, in one statement: the
/// one way events are written (a single event is a batch of one).
pub(crate) async fn append_many<'a>(
    tx: &mut Tx,
    drafts: impl IntoIterator<Item = (&'a AuditDraft, Timestamp)>,
) -> StoreResult<()> {
    let mut rows = Rows::new(AUDIT_COLS);
    for (d, at) in drafts {
        rows.push([
            text(Uuid::now_v7().to_string()),
            text(chain_of(d.workspace_id)),
            opt_text(d.workspace_id.map(|w| w.to_string())),
            opt_text(d.tenant_id.map(|t| t.to_string())),
            text(d.actor.to_db()),
            text(d.action.as_str()),
            text(d.subject.as_str()),
            text(serde_json::to_string(&d.data).unwrap_or_else(|_| "{}".into())),
            int(at.0),
        ]);
    }
    if rows.is_empty() {
        return Ok(());
    }
    let body =
        "INSERT INTO audit_events (id, chain, workspace_id, tenant_id, actor, action, subject, data, created_at) \
                SELECT id, chain, workspace_id, tenant_id, actor, action, subject, data, created_at FROM v";
    execute(tx, rows, body).await?;
    Ok(())
}

/// The stored columns of an event with its seal, as text: hashing reads them
/// untouched. Read from `audit_log` (events beside their seals).
const EVENT_COLUMNS: &str = "seq, id, chain, workspace_id, tenant_id, actor, action, subject, data, \
     created_at, chain_index, prev_hash, hash";

/// `EVENT_COLUMNS` of `audit_events` alone, for events not sealed yet.
const UNSEALED_COLUMNS: &str = "seq, id, chain, workspace_id, tenant_id, actor, action, subject, data, \
     created_at, CAST(NULL AS BIGINT) AS chain_index, CAST(NULL AS TEXT) AS prev_hash, CAST(NULL AS TEXT) AS hash";

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    /// Read by the sealer only (it moves the mark to its last event).
    #[sqlx(default)]
    xact: i64,
    seq: i64,
    id: String,
    chain: String,
    workspace_id: Option<String>,
    tenant_id: Option<String>,
    actor: String,
    action: String,
    subject: String,
    data: String,
    created_at: i64,
    chain_index: Option<i64>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

impl EventRow {
    /// The hash this event has at `chain_index` after `prev_hash` (module doc).
    fn chain_hash(&self, chain_index: i64, prev_hash: &str) -> String {
        // A tuple is written as a JSON array: the module doc's encoding,
        // without copying each value into a `serde_json::Value` first.
        let canonical = (
            HASH_DOMAIN,
            &self.chain,
            chain_index,
            self.seq,
            &self.id,
            &self.workspace_id,
            &self.tenant_id,
            &self.actor,
            &self.action,
            &self.subject,
            &self.data,
            self.created_at,
            prev_hash,
        );
        let mut hasher = Sha256::new();
        // Writing into a hasher cannot fail, nor can serializing strings and integers.
        let _ = serde_json::to_writer(HashWriter(&mut hasher), &canonical);
        hex::encode(hasher.finalize())
    }

    fn into_domain(self) -> StoreResult<AuditEvent> {
        Ok(AuditEvent {
            seq: self.seq,
            id: uuid(&self.id)?,
            chain: self.chain,
            workspace_id: opt_uuid(self.workspace_id.as_deref())?,
            tenant_id: opt_uuid(self.tenant_id.as_deref())?,
            actor: Actor::from_db(&self.actor),
            action: self.action,
            subject: self.subject,
            data: json(&self.data)?,
            created_at: Timestamp(self.created_at),
            chain_index: self.chain_index,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Feeds what is written to it to a SHA-256, so the canonical encoding is
/// hashed as it is produced.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A snapshot-consistent read transaction: verify and export page through
/// many statements and must not see a sealer's round half-applied.
async fn begin_read(store: &Store) -> StoreResult<Tx> {
    Ok(match store.db() {
        crate::Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
        crate::Db::Postgres(p) => Tx::Postgres(p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?),
    })
}

impl Store {
    /// Appends `drafts` in one transaction held open for `hold` before it
    /// commits, so tests can make commit order differ from transaction order.
    #[doc(hidden)]
    pub async fn audit_append_for_tests(&self, drafts: &[AuditDraft], hold: Duration) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for draft in drafts {
            append(&mut tx, draft, now()).await?;
        }
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        tx.commit().await
    }

    /// Every sealed event as (chain, chain_index, xact, seq), in chain order:
    /// lets tests check that chains follow (xact, seq) order.
    #[doc(hidden)]
    pub async fn audit_seal_order_for_tests(&self) -> StoreResult<Vec<(String, i64, i64, i64)>> {
        Ok(on_db!(self.db(), |p| sqlx::query_as(
            "SELECT s.chain, s.chain_index, e.xact, e.seq FROM audit_seals s JOIN audit_events e ON e.seq = s.seq \
             ORDER BY s.chain, s.chain_index"
        )
        .fetch_all(p)
        .await)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The hash is the module doc's encoding, byte for byte: seals written
    /// before must still verify. `data` with quotes, a backslash and
    /// non-ASCII text exercises the escaping.
    #[test]
    fn chain_hash_hashes_the_documented_json_array() {
        let row = EventRow {
            xact: 7,
            seq: 42,
            id: "01930000-0000-7000-8000-000000000001".into(),
            chain: "global".into(),
            workspace_id: None,
            tenant_id: Some("01930000-0000-7000-8000-000000000002".into()),
            actor: "user:01930000-0000-7000-8000-000000000003".into(),
            action: "operation.blocked".into(),
            subject: "run:01930000-0000-7000-8000-000000000004".into(),
            data: r#"{"decision":{"reason":"a \"quoted\" \\ straße ✓"}}"#.into(),
            created_at: 1_700_000_000_000_000,
            chain_index: None,
            prev_hash: None,
            hash: None,
        };
        let documented = serde_json::json!([
            "atlas-audit-v1",
            row.chain,
            3,
            row.seq,
            row.id,
            row.workspace_id,
            row.tenant_id,
            row.actor,
            row.action,
            row.subject,
            row.data,
            row.created_at,
            GENESIS_HASH,
        ]);
        let want = hex::encode(Sha256::digest(documented.to_string().as_bytes()));
        assert_eq!(row.chain_hash(3, GENESIS_HASH), want);
        assert_ne!(row.chain_hash(4, GENESIS_HASH), want);
    }
}
