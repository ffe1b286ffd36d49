//! The sealer: links appended events into their chains' hash sequences.
//!
//! Appending transactions never touch the chain, so sealing is the only place
//! that orders events. One sealer at a time: on PostgreSQL a transaction-level
//! advisory lock that only sealers take (an `INSERT` into `audit_events`
//! never waits on it, nor on the row locks of the events being sealed); on
//! SQLite `BEGIN IMMEDIATE`, the single writer lock every write takes anyway.
//!
//! Order is (xact, seq). On PostgreSQL only events whose transaction id is
//! below the oldest transaction still in flight are sealed: every such
//! transaction has ended, so all its events are visible and no commit still
//! to come can sort before them. Later transactions get larger ids, so each
//! chain only ever grows at its tail. On SQLite, with one writer at a time and
//! `seq` assigned in commit order, everything committed is sealable by `seq`.
//!
//! Work goes in rounds of `BATCH` events, each round its own short transaction
//! (so SQLite writers wait at most one round), up to a bound fixed in the first
//! round (so a busy system cannot keep one call sealing forever).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::json;

use super::{EventRow, EVENT_COLUMNS, GENESIS_HASH};
use crate::claim::complete::{execute, text, Kind, Rows, Val};
use crate::{now, Store, StoreError, StoreResult, Tx};

/// Events sealed per round (one select, one update, one head upsert).
const BATCH: i64 = 1000;

/// The PostgreSQL advisory lock that serializes sealers: ("seal", the
/// `audit_events` table's oid), so each schema's log has its own sealer.
const SEAL_LOCK: &str = "(x'7365616c'::int, 'audit_events'::regclass::oid::int)";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SealReport {
    /// Events linked into their chains by this call.
    pub sealed: u64,
    /// Chains that grew.
    pub chains: u64,
    /// Another sealer held the lock (PostgreSQL), so this call stopped early;
    /// that sealer does the work.
    pub skipped: bool,
}

/// A chain's sealed tail, as `audit_chain_heads` records it.
struct Head {
    index: i64,
    seq: i64,
    hash: String,
}

/// One event's seal: (seq, chain_index, prev_hash, hash).
type Link = (i64, i64, String, String);

impl Store {
    /// Seals what can be sealed now; returns at once if another sealer is at it.
    pub async fn audit_seal(&self) -> StoreResult<SealReport> {
        self.seal(false).await
    }

    /// Seals; `wait` waits for a running sealer instead of leaving it the work
    /// (verify and export want the log sealed up to now).
    pub(super) async fn seal(&self, wait: bool) -> StoreResult<SealReport> {
        let mut report = SealReport::default();
        let mut chains = HashSet::new();
        let mut bound = None;
        loop {
            let mut tx = self.begin().await?;
            if !lock(&mut tx, wait).await? {
                tx.commit().await?;
                report.skipped = true;
                break;
            }
            let limit = match bound {
                Some(b) => b,
                None => *bound.insert(horizon(&mut tx).await?),
            };
            let batch = unsealed(&mut tx, limit).await?;
            let Some(last) = batch.last() else {
                tx.commit().await?;
                break;
            };
            let full = i64::try_from(batch.len()).is_ok_and(|n| n >= BATCH);
            tracing::debug!(events = batch.len(), last_seq = last.seq, "sealing audit events");
            let links = link(&mut tx, &batch).await?;
            tx.commit().await?;
            report.sealed += links.len() as u64;
            chains.extend(batch.into_iter().map(|e| e.chain));
            if !full {
                break;
            }
        }
        report.chains = chains.len() as u64;
        Ok(report)
    }
}

/// Takes the sealer lock for this transaction; false if `wait` is off and it is taken.
async fn lock(tx: &mut Tx, wait: bool) -> StoreResult<bool> {
    match tx {
        // BEGIN IMMEDIATE already made this transaction the only writer.
        Tx::Sqlite(_) => Ok(true),
        Tx::Postgres(t) if wait => {
            let sql = format!("SELECT pg_advisory_xact_lock{SEAL_LOCK}");
            sqlx::query(&sql).execute(&mut **t).await?;
            Ok(true)
        }
        Tx::Postgres(t) => {
            let sql = format!("SELECT pg_try_advisory_xact_lock{SEAL_LOCK}");
            let got: bool = sqlx::query_scalar(&sql).fetch_one(&mut **t).await?;
            Ok(got)
        }
    }
}

/// The sealable bound: PostgreSQL, the oldest transaction id still in flight
/// (seal `xact < bound`); SQLite, the newest committed `seq` (seal `seq <= bound`).
async fn horizon(tx: &mut Tx) -> StoreResult<i64> {
    Ok(match tx {
        Tx::Sqlite(t) => {
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_events").fetch_one(&mut **t).await?
        }
        Tx::Postgres(t) => {
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                .fetch_one(&mut **t)
                .await?
        }
    })
}

/// The next unsealed events below the bound, in sealing order (a prefix of
/// every chain's unsealed events, so chains can be linked independently).
async fn unsealed(tx: &mut Tx, bound: i64) -> StoreResult<Vec<EventRow>> {
    let rows = match tx {
        Tx::Sqlite(t) => {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE hash IS NULL AND seq <= $1 ORDER BY xact, seq LIMIT $2"
            );
            sqlx::query_as(&sql).bind(bound).bind(BATCH).fetch_all(&mut **t).await?
        }
        Tx::Postgres(t) => {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE hash IS NULL AND xact < $1 ORDER BY xact, seq LIMIT $2"
            );
            sqlx::query_as(&sql).bind(bound).bind(BATCH).fetch_all(&mut **t).await?
        }
    };
    Ok(rows)
}

/// Links `batch` onto its chains' heads and writes events and heads.
async fn link(tx: &mut Tx, batch: &[EventRow]) -> StoreResult<Vec<Link>> {
    let mut names: Vec<String> = batch.iter().map(|e| e.chain.clone()).collect();
    names.sort_unstable();
    names.dedup();
    let mut heads = load_heads(tx, &names).await?;
    let mut links = Vec::with_capacity(batch.len());
    for event in batch {
        let head = heads.entry(event.chain.clone()).or_insert_with(|| Head {
            index: 0,
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        });
        let index = head.index + 1;
        let hash = event.chain_hash(index, &head.hash);
        links.push((event.seq, index, std::mem::replace(&mut head.hash, hash.clone()), hash));
        head.index = index;
        head.seq = event.seq;
    }
    let updated = write_links(tx, &links).await?;
    if updated != links.len() as u64 {
        // Only possible if the one-sealer rule was broken; the round rolls back.
        return Err(StoreError::Conflict(format!("audit sealing raced: {updated} of {} events updated", links.len())));
    }
    // Only the batch's chains were loaded or added, so every head here moved.
    let moved: Vec<(String, Head)> = heads.into_iter().collect();
    write_heads(tx, &moved).await?;
    Ok(links)
}

async fn load_heads(tx: &mut Tx, names: &[String]) -> StoreResult<HashMap<String, Head>> {
    const COLS: &str = "SELECT chain, last_index, last_seq, last_hash FROM audit_chain_heads";
    let rows: Vec<(String, i64, i64, String)> = match tx {
        Tx::Sqlite(t) => {
            let sql = format!("{COLS} WHERE chain IN (SELECT value FROM json_each($1))");
            sqlx::query_as(&sql).bind(json!(names).to_string()).fetch_all(&mut **t).await?
        }
        Tx::Postgres(t) => {
            let sql = format!("{COLS} WHERE chain = ANY($1)");
            sqlx::query_as(&sql).bind(names).fetch_all(&mut **t).await?
        }
    };
    Ok(rows.into_iter().map(|(chain, index, seq, hash)| (chain, Head { index, seq, hash })).collect())
}

/// Seals the events in one statement; `hash IS NULL` makes sealing twice impossible.
async fn write_links(tx: &mut Tx, links: &[Link]) -> StoreResult<u64> {
    const COLS: &[(&str, Kind)] = &[("seq", Kind::Int), ("ci", Kind::Int), ("ph", Kind::Text), ("h", Kind::Text)];
    let mut rows = Rows::new(COLS);
    for (seq, index, prev, hash) in links {
        rows.push([Val::Int(Some(*seq)), Val::Int(Some(*index)), text(prev.as_str()), text(hash.as_str())]);
    }
    let body = link_update(matches!(tx, Tx::Sqlite(_)));
    execute(tx, rows, &body).await
}

/// The statement after `WITH v(seq, ci, ph, h)` that seals a round's events.
///
/// SQLite must look each event up by `seq`, whatever its statistics say:
/// `+ 0` keeps `v` from being indexed, and the `COALESCE` form keeps the
/// unsealed partial index out (statistics taken while it was empty make it
/// look free to scan, and each of its entries would then scan `v`).
fn link_update(sqlite: bool) -> String {
    let (plus, unsealed) = match sqlite {
        true => (" + 0", "COALESCE(audit_events.hash, '') = ''"),
        false => ("", "audit_events.hash IS NULL"),
    };
    format!(
        "UPDATE audit_events SET chain_index = v.ci, prev_hash = v.ph, hash = v.h FROM v \
         WHERE audit_events.seq = v.seq{plus} AND {unsealed}"
    )
}

async fn write_heads(tx: &mut Tx, heads: &[(String, Head)]) -> StoreResult<()> {
    const UPSERT: &str = "ON CONFLICT (chain) DO UPDATE SET last_index = excluded.last_index, \
         last_seq = excluded.last_seq, last_hash = excluded.last_hash, sealed_at = excluded.sealed_at";
    let at = now().0;
    match tx {
        Tx::Sqlite(t) => {
            let rows: Vec<_> = heads.iter().map(|(c, h)| json!([c, h.index, h.seq, h.hash])).collect();
            // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
            let sql = format!(
                "INSERT INTO audit_chain_heads (chain, last_index, last_seq, last_hash, sealed_at) \
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
                        json_extract(value, '$[3]'), $2 FROM json_each($1) WHERE true {UPSERT}"
            );
            sqlx::query(&sql).bind(json!(rows).to_string()).bind(at).execute(&mut **t).await?;
        }
        Tx::Postgres(t) => {
            let chains: Vec<&str> = heads.iter().map(|(c, _)| c.as_str()).collect();
            let indexes: Vec<i64> = heads.iter().map(|(_, h)| h.index).collect();
            let seqs: Vec<i64> = heads.iter().map(|(_, h)| h.seq).collect();
            let hashes: Vec<&str> = heads.iter().map(|(_, h)| h.hash.as_str()).collect();
            let sql = format!(
                "INSERT INTO audit_chain_heads (chain, last_index, last_seq, last_hash, sealed_at) \
                 SELECT v.chain, v.last_index, v.last_seq, v.last_hash, $5 \
                 FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[]) AS v(chain, last_index, last_seq, last_hash) \
                 {UPSERT}"
            );
            sqlx::query(&sql).bind(chains).bind(indexes).bind(seqs).bind(hashes).bind(at).execute(&mut **t).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use atlas_core::audit::{Actor, AuditDraft};
    use std::time::Duration;

    use super::*;

    fn draft(n: usize) -> AuditDraft {
        AuditDraft {
            action: "test.event".into(),
            actor: Actor::System,
            workspace_id: None,
            tenant_id: None,
            subject: format!("test:{n}"),
            data: json!({ "n": n }),
        }
    }

    /// With statistics taken while nothing was unsealed (as `ANALYZE` or
    /// `PRAGMA optimize` on a quiet log leaves them), a round's update still
    /// finds each event by `seq`: scanning the log for each row of `v` made a
    /// 1,000-event round take seconds.
    #[tokio::test]
    async fn sqlite_round_looks_events_up_by_seq_after_analyze() {
        let store = crate::testkit::sqlite().await;
        let drafts: Vec<AuditDraft> = (0..50).map(draft).collect();
        store.audit_append_for_tests(&drafts, Duration::ZERO).await.unwrap();
        store.audit_seal().await.unwrap();
        store.execute_raw("ANALYZE").await.unwrap();
        let values: Vec<String> = (1..=1000).map(|i| format!("({i}, {i}, 'p', 'h')")).collect();
        let sql = format!(
            "EXPLAIN QUERY PLAN WITH v(seq, ci, ph, h) AS (VALUES {}) {}",
            values.join(", "),
            link_update(true)
        );
        let crate::Db::Sqlite(pool) = store.db() else { unreachable!("a SQLite store") };
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql).fetch_all(pool).await.unwrap();
        let steps: Vec<&str> = plan.iter().map(|(_, _, _, d)| d.as_str()).collect();
        assert!(steps.iter().any(|d| d.starts_with("SEARCH audit_events USING INTEGER PRIMARY KEY")), "{steps:?}");
        assert!(!steps.iter().any(|d| d.starts_with("SCAN audit_events")), "{steps:?}");
    }
}
