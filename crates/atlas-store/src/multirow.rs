//! Multi-row statements: many rows of values sent with one statement, which
//! reads them as the CTE `v` — on PostgreSQL one array per column through
//! `UNNEST` (one statement text whatever the number of rows, so it is
//! prepared once), on SQLite a `VALUES` list of binds. The queue's batched
//! writes, the claim's fact reads and the audit sealer use them.

use std::borrow::Cow;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::{StoreResult, Tx};

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

pub(crate) fn opt_text(s: Option<impl Into<String>>) -> Val {
    Val::Text(s.map(Into::into))
}

pub(crate) fn int(i: impl Into<i64>) -> Val {
    Val::Int(Some(i.into()))
}

/// Rows for one multi-row statement, seen by its SQL as the CTE `v`.
pub(crate) struct Rows {
    cols: Cow<'static, [(&'static str, Kind)]>,
    /// Row-major.
    vals: Vec<Val>,
}

impl Rows {
    /// Rows of `cols`: a constant list, or one built for the statement.
    pub(crate) fn new(cols: impl Into<Cow<'static, [(&'static str, Kind)]>>) -> Rows {
        Rows { cols: cols.into(), vals: Vec::new() }
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

    fn sql(&self, postgres: bool, body: &str) -> String {
        let names: Vec<&str> = self.cols.iter().map(|(n, _)| *n).collect();
        let source = if postgres {
            let arrays: Vec<String> = (self.cols.iter().enumerate())
                .map(|(i, (_, k))| format!("${}::{}[]", i + 1, if matches!(k, Kind::Int) { "bigint" } else { "text" }))
                .collect();
            format!("SELECT * FROM UNNEST({})", arrays.join(", "))
        } else {
            let row = format!("({})", vec!["?"; self.cols.len()].join(", "));
            let n = self.vals.len() / self.cols.len().max(1);
            format!("VALUES {}", vec![row.as_str(); n].join(", "))
        };
        format!("WITH v({}) AS ({source}) {body}", names.join(", "))
    }

    /// The rows as one array per column (PostgreSQL's binds).
    fn into_columns(self) -> Vec<Column> {
        let n = self.cols.len();
        let mut cols: Vec<Column> = (self.cols.iter())
            .map(|(_, k)| match k {
                Kind::Text => Column::Text(Vec::new()),
                Kind::Int => Column::Int(Vec::new()),
            })
            .collect();
        for (i, v) in self.vals.into_iter().enumerate() {
            // A value of the other kind is a caller's slip, kept aligned.
            match (&mut cols[i % n], v) {
                (Column::Text(c), Val::Text(s)) => c.push(s),
                (Column::Int(c), Val::Int(x)) => c.push(x),
                (Column::Text(c), Val::Int(x)) => c.push(x.map(|x| x.to_string())),
                (Column::Int(c), Val::Text(_)) => c.push(None),
            }
        }
        cols
    }
}

/// One column's values as a PostgreSQL array.
enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
}

/// Runs `body` (SQL after `WITH v(…) AS (…)`) over `rows`, returning its rows.
pub(crate) async fn fetch<R>(tx: &mut Tx, rows: Rows, body: &str) -> StoreResult<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
{
    match tx {
        Tx::Postgres(t) => {
            let sql = rows.sql(true, body);
            let mut q = sqlx::query_as::<_, R>(&sql);
            for col in rows.into_columns() {
                q = match col {
                    Column::Text(c) => q.bind(c),
                    Column::Int(c) => q.bind(c),
                };
            }
            Ok(q.fetch_all(&mut **t).await?)
        }
        Tx::Sqlite(t) => {
            let sql = rows.sql(false, body);
            let mut q = sqlx::query_as::<_, R>(&sql);
            for v in rows.vals {
                q = match v {
                    Val::Text(s) => q.bind(s),
                    Val::Int(i) => q.bind(i),
                };
            }
            Ok(q.fetch_all(&mut **t).await?)
        }
    }
}

/// Like `fetch` for a statement without result rows; returns rows affected.
pub(crate) async fn execute(tx: &mut Tx, rows: Rows, body: &str) -> StoreResult<u64> {
    let done = match tx {
        Tx::Postgres(t) => {
            let sql = rows.sql(true, body);
            let mut q = sqlx::query(&sql);
            for col in rows.into_columns() {
                q = match col {
                    Column::Text(c) => q.bind(c),
                    Column::Int(c) => q.bind(c),
                };
            }
            q.execute(&mut **t).await?.rows_affected()
        }
        Tx::Sqlite(t) => {
            let sql = rows.sql(false, body);
            let mut q = sqlx::query(&sql);
            for v in rows.vals {
                q = match v {
                    Val::Text(s) => q.bind(s),
                    Val::Int(i) => q.bind(i),
                };
            }
            q.execute(&mut **t).await?.rows_affected()
        }
    };
    Ok(done)
}
