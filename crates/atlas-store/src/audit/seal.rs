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
//! Sealing never rewrites an event: it appends one row per event to
//! `audit_seals` and moves `audit_seal_mark`, the (xact, seq) up to which
//! everything is sealed, so each round reads on from there.
//!
//! Work goes in rounds of `BATCH` events, each round its own short transaction
//! (so SQLite writers wait at most one round), up to a bound fixed in the first
//! round (so a busy system cannot keep one call sealing forever).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::json;

use super::{EventRow, GENESIS_HASH, UNSEALED_COLUMNS};
use crate::multirow::{execute, text, Kind, Rows, Val};
use crate::{now, Store, StoreError, StoreResult, Tx};

/// Events sealed per round (one select, one insert of seals, one head upsert, the mark).
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
        // Most calls (the end of every command) find nothing to seal: a plain
        // read says so without a write transaction, which a read-only
        // database could not even begin.
        if !self.any_unsealed().await? {
            return Ok(report);
        }
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

impl Store {
    async fn any_unsealed(&self) -> StoreResult<bool> {
        const MARK: &str = "SELECT xact, seq FROM audit_seal_mark WHERE id = 1";
        let (xact, seq): (i64, i64) = crate::on_db!(self.db(), |p| sqlx::query_as(MARK).fetch_one(p).await)?;
        // The order `unsealed` reads in, so that each dialect's index answers
        // (an OR over the two columns would scan the whole log every round).
        let any: Option<(i64,)> = match self.db() {
            crate::Db::Sqlite(p) => {
                sqlx::query_as("SELECT CAST(1 AS BIGINT) FROM audit_events WHERE seq > $1 LIMIT 1")
                    .bind(seq)
                    .fetch_optional(p)
                    .await?
            }
            crate::Db::Postgres(p) => {
                sqlx::query_as("SELECT CAST(1 AS BIGINT) FROM audit_events WHERE (xact, seq) > ($1, $2) LIMIT 1")
                    .bind(xact)
                    .bind(seq)
                    .fetch_optional(p)
                    .await?
            }
        };
        Ok(any.is_some())
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
/// every chain's unsealed events, so chains can be linked independently):
/// those after the mark.
async fn unsealed(tx: &mut Tx, bound: i64) -> StoreResult<Vec<EventRow>> {
    const MARK: &str = "SELECT xact, seq FROM audit_seal_mark WHERE id = 1";
    let (xact, seq): (i64, i64) = crate::on_tx!(&mut *tx, |c| sqlx::query_as(MARK).fetch_one(c).await)?;
    let rows = match tx {
        // `xact` is always 0 on SQLite, where `seq` alone is the order.
        Tx::Sqlite(t) => {
            let sql = format!(
                "SELECT xact, {UNSEALED_COLUMNS} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
            );
            sqlx::query_as(&sql).bind(seq).bind(bound).bind(BATCH).fetch_all(&mut **t).await?
        }
        Tx::Postgres(t) => {
            let sql = format!(
                "SELECT xact, {UNSEALED_COLUMNS} FROM audit_events WHERE (xact, seq) > ($1, $2) AND xact < $3 \
                 ORDER BY xact, seq LIMIT $4"
            );
            sqlx::query_as(&sql).bind(xact).bind(seq).bind(bound).bind(BATCH).fetch_all(&mut **t).await?
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
    let written = write_seals(tx, batch, &links).await?;
    if written != links.len() as u64 {
        // Only possible if the one-sealer rule was broken (or the mark was
        // moved back by hand); the round rolls back.
        return Err(StoreError::Conflict(format!("audit sealing raced: {written} of {} events sealed", links.len())));
    }
    if let Some(last) = batch.last() {
        let sql = "UPDATE audit_seal_mark SET xact = $1, seq = $2 WHERE id = 1";
        crate::exec!(tx, sqlx::query(sql).bind(last.xact).bind(last.seq))?;
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

/// Appends the events' seals in one statement; an event sealed already keeps
/// its seal (and is not counted).
async fn write_seals(tx: &mut Tx, batch: &[EventRow], links: &[Link]) -> StoreResult<u64> {
    const COLS: &[(&str, Kind)] =
        &[("seq", Kind::Int), ("chain", Kind::Text), ("ci", Kind::Int), ("ph", Kind::Text), ("h", Kind::Text)];
    let mut rows = Rows::new(COLS);
    for (event, (seq, index, prev, hash)) in batch.iter().zip(links) {
        rows.push([
            Val::Int(Some(*seq)),
            text(event.chain.as_str()),
            Val::Int(Some(*index)),
            text(prev.as_str()),
            text(hash.as_str()),
        ]);
    }
    // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
    let body = "INSERT INTO audit_seals (seq, chain, chain_index, prev_hash, hash) \
                SELECT seq, chain, ci, ph, h FROM v WHERE true ON CONFLICT (seq) DO NOTHING";
    execute(tx, rows, body).await
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
