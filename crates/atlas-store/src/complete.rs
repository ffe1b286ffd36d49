//! Batched run writes (ARCHITECTURE.md, "Batch the queue's database work"):
//! many runs' transitions, audit events and notifications written with a few
//! multi-row statements in one transaction, instead of one transaction each.
//!
//! Batching never merges runs: each run's new row still comes from its own
//! core `transition`, each row update is still guarded by the run's status,
//! attempt and lease token (a run whose guard fails writes nothing, not even
//! its audit event), and each run gets its own audit event and notification.
//!
//! Multi-row statements read their rows from a CTE `v`: on PostgreSQL one array
//! per column through `UNNEST` (one statement text whatever the batch size, so
//! it is prepared once), on SQLite a `VALUES` list.

use std::collections::{HashMap, HashSet};

use atlas_core::audit::AuditDraft;
use atlas_core::badge::outcome_badge;
use atlas_core::run::{transition, Run, RunEvent, RunOutcome, RunStatus};
use atlas_core::Timestamp;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::audit::chain_of;
use crate::notification::RUN_COMPLETED;
use crate::run::{RunRow, RUN_COLUMNS};
use crate::{Store, StoreError, StoreResult, Tx};

/// The most runs one batched transaction carries: keeps SQLite's bind count
/// (at most 32,766) in range and its single writer lock short.
pub const MAX_BATCH: usize = 512;

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Text,
    Int,
}

pub(crate) enum Val {
    Text(Option<String>),
    Int(Option<i64>),
}

pub(crate) fn text(s: impl Into<String>) -> Val {
    Val::Text(Some(s.into()))
}

/// Rows for one multi-row statement, seen by its SQL as the CTE `v`.
pub(crate) struct Rows {
    cols: &'static [(&'static str, Kind)],
    /// Row-major.
    vals: Vec<Val>,
}

impl Rows {
    pub(crate) fn new(cols: &'static [(&'static str, Kind)]) -> Rows {
        Rows { cols, vals: Vec::new() }
    }

    /// Appends a row: one value per column, in column order.
    pub(crate) fn push(&mut self, row: impl IntoIterator<Item = Val>) {
        let before = self.vals.len();
        self.vals.extend(row);
        debug_assert_eq!(self.vals.len() - before, self.cols.len(), "one value per column");
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    fn len(&self) -> usize {
        self.vals.len() / self.cols.len().max(1)
    }

    fn sql(&self, postgres: bool, body: &str) -> String {
        let names: Vec<&str> = self.cols.iter().map(|(n, _)| *n).collect();
        let source = if postgres {
            let arrays: Vec<String> = self
                .cols
                .iter()
                .enumerate()
                .map(|(i, (_, k))| format!("${}::{}[]", i + 1, if matches!(k, Kind::Int) { "bigint" } else { "text" }))
                .collect();
            format!("SELECT * FROM UNNEST({})", arrays.join(", "))
        } else {
            let row = format!("({})", vec!["?"; self.cols.len()].join(", "));
            format!("VALUES {}", vec![row.as_str(); self.len()].join(", "))
        };
        format!("WITH v({}) AS ({source}) {body}", names.join(", "))
    }

    /// Column `c` as a PostgreSQL array value.
    fn column(&mut self, c: usize) -> Val {
        let n = self.cols.len();
        let cells = self.vals.iter_mut().skip(c).step_by(n);
        match self.cols[c].1 {
            Kind::Text => Val::Text(None).array_text(cells),
            Kind::Int => Val::Int(None).array_int(cells),
        }
    }
}

/// Column arrays for PostgreSQL (taken out of the rows, not copied).
enum Array {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
}

impl Val {
    fn array_text<'a>(self, cells: impl Iterator<Item = &'a mut Val>) -> Val {
        let _ = self;
        Val::Text(None).with_array(Array::Text(cells.map(|v| if let Val::Text(s) = v { s.take() } else { None }).collect()))
    }

    fn array_int<'a>(self, cells: impl Iterator<Item = &'a mut Val>) -> Val {
        let _ = self;
        Val::Int(None).with_array(Array::Int(cells.map(|v| if let Val::Int(i) = v { *i } else { None }).collect()))
    }

    fn with_array(self, _a: Array) -> Val {
        self
    }
}
