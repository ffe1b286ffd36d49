//! `audit verify`: walks each chain's seals in `chain_index` order and
//! recomputes each event's hash.
//!
//! Verify seals first (waiting for a running sealer), so everything committed
//! below the horizon is in a chain; events still unsealed belong to
//! transactions that were in flight and are counted, not judged. Deleting a
//! seal does not hide its event: its position becomes a gap, and an event at
//! or below the seal mark without a seal is reported as in no chain. The walk
//! runs in one snapshot, so a concurrent sealer's round (seals, heads and mark)
//! is seen whole or not at all.
//!
//! Per event: its index follows the previous one (a gap is a deleted event or
//! seal, a repeat a moved one), its `prev_hash` is the previous event's hash,
//! its hash matches its stored columns (an edit, or values swapped between
//! events) and, on SQLite where chains follow `seq`, its `seq` grows. Per
//! chain: the head row matches the last event (a deleted tail, or an edited head).

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

use super::{begin_read, EventRow, GENESIS_HASH};
use crate::{on_tx, Dialect, Store, StoreResult, Tx};

/// Events read per statement while walking a chain.
const PAGE: i64 = 1000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub chains_checked: u64,
    /// Sealed events whose links and hashes were recomputed.
    pub events_checked: u64,
    /// Events this verification sealed before walking.
    pub sealed: u64,
    /// Events of still-running (or just committed) transactions: not yet in a chain.
    pub unsealed: u64,
    /// The first broken event, if any.
    pub broken: Option<BrokenEvent>,
}

impl VerifyReport {
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Where a chain breaks: its position, and the event found there (none when
/// the events at and after that position are gone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokenEvent {
    pub chain: String,
    pub chain_index: i64,
    pub seq: Option<i64>,
    pub event_id: Option<Uuid>,
    pub reason: BreakReason,
}

impl fmt::Display for BrokenEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chain {} event", self.chain)?;
        // An event in no chain has no position.
        if self.chain_index > 0 {
            write!(f, " #{}", self.chain_index)?;
        }
        match (self.seq, self.event_id) {
            (Some(seq), Some(id)) => write!(f, " (seq {seq}, id {id})")?,
            (Some(seq), None) => write!(f, " (seq {seq})")?,
            (None, Some(id)) => write!(f, " (id {id})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.reason)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakReason {
    /// The event's stored columns no longer produce its hash.
    HashMismatch,
    /// The event does not link to the hash of the event before it.
    LinkMismatch,
    /// Positions before this event are empty: events were deleted.
    Gap { expected_index: i64 },
    /// Two events claim one position.
    DuplicateIndex,
    /// Sealed out of sequence order (SQLite seals strictly by `seq`).
    OutOfOrder,
    /// The head records events up to `head_index` that are no longer there.
    TailMissing { head_index: i64 },
    /// The head row disagrees with the chain's last event.
    HeadMismatch,
    /// Sealed events without a head row.
    HeadMissing,
    /// An event inside the sealed part of the log that is in no chain.
    Unsealed,
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::HashMismatch => f.write_str("contents do not match the sealed hash (edited)"),
            BreakReason::LinkMismatch => f.write_str("does not link to the previous event's hash"),
            BreakReason::Gap { expected_index } => {
                write!(f, "preceded by a gap: event #{expected_index} is missing (deleted)")
            }
            BreakReason::DuplicateIndex => f.write_str("another event already holds this position"),
            BreakReason::OutOfOrder => f.write_str("sealed out of sequence order"),
            BreakReason::TailMissing { head_index } => {
                write!(f, "missing: the chain head records events up to #{head_index} (deleted)")
            }
            BreakReason::HeadMismatch => f.write_str("the chain head row disagrees with this event"),
            BreakReason::HeadMissing => f.write_str("the chain has no head row"),
            BreakReason::Unsealed => f.write_str("inside the sealed log but in no chain (its seal is missing)"),
        }
    }
}

/// A walked event, as much as the head comparison needs.
struct Seen {
    index: i64,
    seq: i64,
    id: String,
    hash: Option<String>,
}

impl Seen {
    fn broken(&self, chain: &str, reason: BreakReason) -> BrokenEvent {
        BrokenEvent {
            chain: chain.to_owned(),
            chain_index: self.index,
            seq: Some(self.seq),
            event_id: Uuid::parse_str(&self.id).ok(),
            reason,
        }
    }
}

impl Store {
    /// Seals, then proves every chain (or only `workspace`'s) unbroken.
    /// Reports the first broken event; `Err` only when the database fails.
    pub async fn audit_verify(&self, workspace: Option<Uuid>) -> StoreResult<VerifyReport> {
        let sealed = self.seal(true).await?.sealed;
        let mut report = VerifyReport { sealed, ..VerifyReport::default() };
        let ordered_by_seq = self.dialect() == Dialect::Sqlite;
        let mut tx = begin_read(self).await?;
        let chains = match workspace {
            Some(w) => vec![w.to_string()],
            None => on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT chain FROM audit_chain_heads UNION SELECT chain FROM audit_seals ORDER BY 1"
            )
            .fetch_all(c)
            .await)?,
        };
        for chain in &chains {
            let walked = walk(&mut tx, chain, ordered_by_seq, &mut report).await?;
            if report.broken.is_some() {
                break;
            }
            report.chains_checked += u64::from(walked);
        }
        if report.broken.is_none() {
            report.broken = skipped(&mut tx, workspace).await?;
        }
        let chain = workspace.map(|w| w.to_string());
        report.unsealed = on_tx!(&mut tx, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_events e WHERE ($1 IS NULL OR e.chain = $1) \
             AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.seq = e.seq)"
        )
        .bind(chain.as_deref())
        .fetch_one(c)
        .await)?
        .try_into()
        .unwrap_or(0);
        tx.commit().await?;
        Ok(report)
    }
}

/// Walks one chain; sets `report.broken` at the first break. Returns whether
/// the chain exists (has a head or sealed events).
async fn walk(tx: &mut Tx, chain: &str, ordered_by_seq: bool, report: &mut VerifyReport) -> StoreResult<bool> {
    let head: Option<(i64, i64, String)> = on_tx!(&mut *tx, |c| sqlx::query_as(
        "SELECT last_index, last_seq, last_hash FROM audit_chain_heads WHERE chain = $1"
    )
    .bind(chain)
    .fetch_optional(c)
    .await)?;
    let head_index = head.as_ref().map_or(0, |h| h.0);
    // The seals in chain order, each with its event (a seal whose event was
    // deleted is skipped, leaving the gap that reports it).
    let sql = "SELECT e.seq, e.id, e.chain, e.workspace_id, e.tenant_id, e.actor, e.action, e.subject, e.data, \
               e.created_at, s.chain_index, s.prev_hash, s.hash \
               FROM audit_seals s JOIN audit_events e ON e.seq = s.seq WHERE s.chain = $1 AND s.chain_index >= $2 \
               AND (s.chain_index > $2 OR s.seq > $3) ORDER BY s.chain_index, s.seq LIMIT $4";
    // Keyset on (chain_index, seq), so that repeated indexes are not skipped at
    // a page boundary; `chain_index >= $2` keeps it an index range scan.
    let mut last: Option<Seen> = None;
    // The first event past the head's index: sealed, yet the head does not know it.
    let mut past_head: Option<Seen> = None;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let (mut after_index, mut after_seq) = (0_i64, 0_i64);
    loop {
        let page: Vec<EventRow> = on_tx!(&mut *tx, |c| sqlx::query_as(sql)
            .bind(chain)
            .bind(after_index)
            .bind(after_seq)
            .bind(PAGE)
            .fetch_all(c)
            .await)?;
        let full = i64::try_from(page.len()).is_ok_and(|n| n >= PAGE);
        for row in page {
            report.events_checked += 1;
            let index = row.chain_index.unwrap_or_default();
            let expected = last.as_ref().map_or(1, |l| l.index + 1);
            let seen = Seen { index, seq: row.seq, id: row.id.clone(), hash: row.hash.clone() };
            let reason = if index < expected {
                Some(BreakReason::DuplicateIndex)
            } else if index > expected {
                Some(BreakReason::Gap { expected_index: expected })
            } else if row.prev_hash.as_deref() != Some(prev_hash.as_str()) {
                Some(BreakReason::LinkMismatch)
            } else if row.hash.as_deref() != Some(row.chain_hash(index, &prev_hash).as_str()) {
                Some(BreakReason::HashMismatch)
            } else if ordered_by_seq && last.as_ref().is_some_and(|l| l.seq >= row.seq) {
                Some(BreakReason::OutOfOrder)
            } else {
                None
            };
            if let Some(reason) = reason {
                report.broken = Some(seen.broken(chain, reason));
                return Ok(true);
            }
            (after_index, after_seq) = (index, row.seq);
            prev_hash = row.hash.unwrap_or_default();
            if index == head_index + 1 {
                past_head = Some(Seen { index, seq: row.seq, id: row.id, hash: None });
            }
            last = Some(seen);
        }
        if !full {
            break;
        }
    }
    report.broken = check_head(chain, head, last.as_ref(), past_head.as_ref());
    Ok(head_index > 0 || last.is_some())
}

/// An event the sealer passed over without sealing (the mark was moved past
/// it, or its seal deleted where no later seal shows the hole): the first
/// such event at or below the mark, if any.
async fn skipped(tx: &mut Tx, workspace: Option<Uuid>) -> StoreResult<Option<BrokenEvent>> {
    let chain = workspace.map(|w| w.to_string());
    let sql = "SELECT e.chain, e.seq, e.id FROM audit_events e \
               WHERE ($1 IS NULL OR e.chain = $1) \
               AND (e.xact, e.seq) <= (SELECT xact, seq FROM audit_seal_mark WHERE id = 1) \
               AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.seq = e.seq) ORDER BY e.xact, e.seq LIMIT 1";
    let found: Option<(String, i64, String)> =
        on_tx!(&mut *tx, |c| sqlx::query_as(sql).bind(chain.as_deref()).fetch_optional(c).await)?;
    Ok(found.map(|(chain, seq, id)| BrokenEvent {
        chain,
        chain_index: 0,
        seq: Some(seq),
        event_id: Uuid::parse_str(&id).ok(),
        reason: BreakReason::Unsealed,
    }))
}

/// The head row must record exactly the last event: more is a deleted tail,
/// less or different an edited head.
fn check_head(
    chain: &str,
    head: Option<(i64, i64, String)>,
    last: Option<&Seen>,
    past_head: Option<&Seen>,
) -> Option<BrokenEvent> {
    let Some((index, seq, hash)) = head else {
        return last.map(|l| l.broken(chain, BreakReason::HeadMissing));
    };
    let last_index = last.map_or(0, |l| l.index);
    if index > last_index {
        return Some(BrokenEvent {
            chain: chain.to_owned(),
            chain_index: last_index + 1,
            // The head remembers the seq of its own event only.
            seq: (index == last_index + 1).then_some(seq),
            event_id: None,
            reason: BreakReason::TailMissing { head_index: index },
        });
    }
    if let Some(beyond) = past_head {
        return Some(beyond.broken(chain, BreakReason::HeadMismatch));
    }
    last.filter(|l| l.seq != seq || l.hash.as_deref() != Some(hash.as_str()))
        .map(|l| l.broken(chain, BreakReason::HeadMismatch))
}
