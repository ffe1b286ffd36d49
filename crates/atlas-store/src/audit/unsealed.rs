//! Events waiting for their seal, and for how long.
//!
//! An event is protected by the hash chain only once it is sealed; before
//! that an edit in the database is sealed as edited. Sealing runs after every
//! command, request and worker round that writes, so an event left unsealed
//! for long means that window stayed open: `audit verify` names such events
//! instead of sealing them silently as intact.

use serde::Serialize;
use uuid::Uuid;

use super::begin_read;
use crate::{now, on_tx, Dialect, Store, StoreResult};

/// Stale events named per report; the count covers them all.
const NAMED: i64 = 20;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UnsealedReport {
    /// Events not yet in a chain.
    pub unsealed: u64,
    /// How long the oldest of them has waited, in seconds.
    pub oldest_age_secs: Option<i64>,
    /// Events unsealed for longer than the bound.
    pub stale: u64,
    /// The first of them, oldest first.
    pub stale_events: Vec<StaleEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaleEvent {
    pub seq: i64,
    pub id: Option<Uuid>,
    pub action: String,
    pub age_secs: i64,
}

impl Store {
    /// What is unsealed now in every chain (or only `workspace`'s), naming
    /// the events older than `bound_secs`.
    pub async fn audit_unsealed(&self, workspace: Option<Uuid>, bound_secs: i64) -> StoreResult<UnsealedReport> {
        // Everything after the seal mark is unsealed and nothing before it is.
        let after_mark = match self.dialect() {
            Dialect::Sqlite => "e.seq > (SELECT seq FROM audit_seal_mark WHERE id = 1)",
            Dialect::Postgres => "(e.xact, e.seq) > (SELECT xact, seq FROM audit_seal_mark WHERE id = 1)",
        };
        let chain = workspace.map(|w| w.to_string());
        let at = now().0;
        let cutoff = at.saturating_sub(bound_secs.saturating_mul(1_000_000));
        let mut tx = begin_read(self).await?;
        let overview = format!(
            "SELECT COUNT(*), MIN(e.created_at), COALESCE(SUM(CASE WHEN e.created_at < $2 THEN 1 ELSE 0 END), 0) \
             FROM audit_events e WHERE {after_mark} AND ($1 IS NULL OR e.chain = $1)"
        );
        let (unsealed, oldest, stale): (i64, Option<i64>, i64) =
            on_tx!(&mut tx, |c| sqlx::query_as(&overview).bind(chain.as_deref()).bind(cutoff).fetch_one(c).await)?;
        let named = format!(
            "SELECT e.seq, e.id, e.action, e.created_at FROM audit_events e \
             WHERE {after_mark} AND ($1 IS NULL OR e.chain = $1) AND e.created_at < $2 ORDER BY e.seq LIMIT $3"
        );
        let rows: Vec<(i64, String, String, i64)> = if stale > 0 {
            on_tx!(&mut tx, |c| sqlx::query_as(&named)
                .bind(chain.as_deref())
                .bind(cutoff)
                .bind(NAMED)
                .fetch_all(c)
                .await)?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        let age = |created: i64| at.saturating_sub(created) / 1_000_000;
        Ok(UnsealedReport {
            unsealed: u64::try_from(unsealed).unwrap_or(0),
            oldest_age_secs: oldest.map(age),
            stale: u64::try_from(stale).unwrap_or(0),
            stale_events: rows
                .into_iter()
                .map(|(seq, id, action, created)| StaleEvent {
                    seq,
                    id: Uuid::parse_str(&id).ok(),
                    action,
                    age_secs: age(created),
                })
                .collect(),
        })
    }
}
