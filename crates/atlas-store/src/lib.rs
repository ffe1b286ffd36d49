//! Persistence for TenantAtlas: one `Store` over SQLite (the embedded default)
//! and PostgreSQL (the shared store).
//!
//! Queries are written once where the dialects agree (integer-microsecond
//! timestamps, UUIDs and JSON as text, `$n` placeholders) and compiled against
//! both pools by the `on_db!`/`on_tx!` macros; the few dialect-specific
//! statements (claiming, locking, sealing) say so where they live. Every write
//! transaction on SQLite is `BEGIN IMMEDIATE`, so a read-then-write never fails
//! on a stale snapshot.

mod checkpoint;
mod error;
mod facts;
mod multirow;
mod row;

pub mod compliance;
pub mod impact;
pub mod inventory;
pub mod live;
pub mod monitoring;

pub mod admin;
pub mod audit;
pub mod backup;
pub mod drift;
pub mod notification;
pub mod pacing;
pub mod policy;
pub mod queue;
pub mod results;
pub mod run_item;
pub mod sandbox;
pub mod schedule;
pub mod session;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod throttle;

// The lifecycle's modules keep their paths (`atlas_store::run::…`).
pub use queue::{claim, run, start};
use queue::{complete, lease};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use error::{StoreError, StoreResult};

/// Runs `$body` with `$p` bound to the concrete pool of either dialect.
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite($p) => $body,
            $crate::Db::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the connection of an open transaction.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// Executes a statement in a transaction; evaluates to the rows affected.
macro_rules! exec {
    ($tx:expr, $query:expr) => {
        $crate::on_tx!($tx, |c| $query.execute(c).await.map(|r| r.rows_affected()))
    };
}

pub(crate) use {exec, on_db, on_tx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open write transaction.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// The default database: a SQLite file under `./atlas-data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://atlas-data/atlas.db";

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// SQLite: the one connection that write transactions (`begin`) use.
    /// SQLite allows one writer anyway: waiting for this connection, each
    /// write transaction starts the moment the one before ends, instead of
    /// polling SQLite's busy handler (which sleeps 1, 2, 5, 10… ms between
    /// tries); and always the same connection keeps its page cache, which
    /// SQLite empties whenever another connection wrote. Single statements
    /// outside `begin` still meet at SQLite's own lock.
    sqlite_writer: Option<SqlitePool>,
    /// SQLite: the WAL checkpoint task, stopped with the last clone.
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
    /// How long an approval stays valid (`ATLAS_APPROVAL_VALIDITY_MS`, read by the binary).
    approval_validity_ms: i64,
}

impl Store {
    /// Connects to `sqlite://PATH` or `postgres://…`. A SQLite file and its
    /// folder are created when missing.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = connect_postgres(opts).await?;
            return Ok(Store {
                db: Db::Postgres(pool),
                sqlite_writer: None,
                _checkpointer: None,
                approval_validity_ms: atlas_core::approval::DEFAULT_VALIDITY_MS,
            });
        }
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Invalid(format!(
                "unsupported database URL `{url}` (expected sqlite://PATH or postgres://…)"
            )));
        }
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // The queue's multi-row statements need statement journals of a few
            // hundred KB; in temporary files they cost the one writer ~10 % of
            // a drain (docs/BENCHMARKS.md, "Run throughput").
            .pragma("temp_store", "memory");
        // Checkpoints by a task of their own (`checkpoint`), not by whichever commit fills the WAL;
        // outside a tokio runtime SQLite's own automatic checkpoints stay as they are.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let opts =
            if runtime.is_some() { opts.pragma("wal_autocheckpoint", checkpoint::AUTOCHECKPOINT_PAGES) } else { opts };
        if let Some(dir) = opts.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        // The writer's cache holds the queue's working set (SQLite's default is 2 MiB).
        let writer_opts = opts.clone().pragma("cache_size", "-65536");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // Handed from one transaction to the next, never idle for long: no ping on each turn.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(writer_opts)
            .await?;
        let checkpointer = runtime.map(|r| checkpoint::start(&pool, &r));
        Ok(Store {
            db: Db::Sqlite(pool),
            sqlite_writer: Some(writer),
            _checkpointer: checkpointer,
            approval_validity_ms: atlas_core::approval::DEFAULT_VALIDITY_MS,
        })
    }

    /// The same store with approvals valid for `ms` (SPEC §10.2; at least 1 ms).
    #[must_use]
    pub fn with_approval_validity_ms(mut self, ms: i64) -> Store {
        self.approval_validity_ms = ms.max(1);
        self
    }

    pub fn approval_validity_ms(&self) -> i64 {
        self.approval_validity_ms
    }

    pub fn dialect(&self) -> Dialect {
        match self.db {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Creates or upgrades the schema (embedded migrations per dialect).
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await?,
            Db::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Whether every embedded migration has been applied. Read-only: a
    /// command on an up-to-date database writes nothing before its own work
    /// (so a read-only SQLite file can still be listed).
    pub async fn schema_is_current(&self) -> bool {
        let migrator = match &self.db {
            Db::Sqlite(_) => sqlx::migrate!("migrations/sqlite"),
            Db::Postgres(_) => sqlx::migrate!("migrations/postgres"),
        };
        let sql = "SELECT version FROM _sqlx_migrations WHERE success";
        let applied: Result<Vec<(i64,)>, sqlx::Error> = on_db!(&self.db, |p| sqlx::query_as(sql).fetch_all(p).await);
        let Ok(applied) = applied else { return false };
        let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(v,)| v).collect();
        migrator.iter().filter(|m| m.migration_type.is_up_migration()).all(|m| applied.contains(&m.version))
    }

    /// Applies pending migrations, if any (see `schema_is_current`).
    pub async fn migrate_if_behind(&self) -> StoreResult<()> {
        if self.schema_is_current().await {
            return Ok(());
        }
        self.migrate().await
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(&self.db, |p| sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.sqlite_writer {
            writer.close().await;
        }
        on_db!(&self.db, |p| p.close().await)
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub(crate) async fn begin(&self) -> StoreResult<Tx> {
        Ok(match &self.db {
            Db::Sqlite(p) => Tx::Sqlite(begin_immediate(self.sqlite_writer.as_ref().unwrap_or(p)).await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A read-only transaction: on SQLite on the readers, never the writer.
    pub(crate) async fn begin_read(&self) -> StoreResult<Tx> {
        Ok(match &self.db {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin_with("BEGIN READ ONLY").await?),
        })
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }
}

/// How long a first connection may take before the command gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool, after one direct connection that fails at once (sqlx's pool
/// would retry a refused connection until its acquire timeout, then say only
/// "pool timed out"), with an error naming the target and not the password.
async fn connect_postgres(opts: PgConnectOptions) -> StoreResult<PgPool> {
    use sqlx::{ConnectOptions, Connection};
    let target = format!(
        "PostgreSQL at {}:{}, database `{}` as user `{}`",
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or(opts.get_username()),
        opts.get_username()
    );
    let first = match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            return Err(StoreError::Unavailable(format!("cannot connect to {target}: {}", connect_cause(&e))))
        }
        Err(_) => {
            return Err(StoreError::Unavailable(format!(
                "cannot connect to {target}: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )))
        }
    };
    let _ = first.close().await;
    // In use, a pool connection waits out short outages; the worker logs them.
    Ok(PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(10)).connect_lazy_with(opts))
}

/// A connection error in words: the server's message, or the I/O error
/// (`Connection refused`) without sqlx's wrapping.
fn connect_cause(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// `BEGIN IMMEDIATE` on the writer. When SQLite rolled a transaction back by
/// itself (a full disk: SQLITE_FULL), sqlx's ROLLBACK on drop fails and the
/// connection counts itself inside a transaction for good, refusing every
/// later begin; that connection is closed — the pool opens a fresh one — and
/// the begin tried once more, so a worker recovers once space is back.
async fn begin_immediate(writer: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    match writer.begin_with("BEGIN IMMEDIATE").await {
        Err(sqlx::Error::InvalidSavePointStatement) => {
            tracing::warn!(
                "the SQLite writer connection was left inside a failed transaction (was the disk full?); \
                 replacing it"
            );
            writer.acquire().await?.close().await?;
            writer.begin_with("BEGIN IMMEDIATE").await
        }
        other => other,
    }
}

/// The wall clock, in the stores' microsecond form.
pub fn now() -> atlas_core::Timestamp {
    atlas_core::Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc())
}

/// The SQL expression for the database's clock in microseconds: leases expire
/// by it, so that nodes with skewed clocks agree.
pub(crate) fn db_now_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
        Dialect::Postgres => "(extract(epoch from clock_timestamp()) * 1000000)::bigint",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    /// Write transactions take turns on the one writer connection (its large
    /// page cache shows which connection it is); reads use the others.
    #[tokio::test]
    async fn sqlite_write_transactions_use_the_one_writer_connection() {
        let store = testkit::sqlite().await;
        let mut first = store.begin().await.unwrap();
        let Tx::Sqlite(t) = &mut first else { unreachable!() };
        let written: i64 = sqlx::query_scalar("PRAGMA cache_size").fetch_one(&mut **t).await.unwrap();
        assert_eq!(written, -65536);
        let Db::Sqlite(readers) = store.db() else { unreachable!() };
        let read: i64 = sqlx::query_scalar("PRAGMA cache_size").fetch_one(readers).await.unwrap();
        assert_eq!(read, -2000, "SQLite's default on the readers");

        // A second write transaction waits for the first to end.
        let other = store.clone();
        let mut second = tokio::spawn(async move { other.begin().await.map(|_| ()) });
        assert!(tokio::time::timeout(Duration::from_millis(200), &mut second).await.is_err());
        first.commit().await.unwrap();
        second.await.unwrap().unwrap();
    }

    /// A full disk (here: the writer's page limit) makes SQLite roll the
    /// transaction back by itself; sqlx's ROLLBACK on drop then fails and its
    /// connection counts itself inside a transaction for good. The writer must
    /// be usable again once space is back (issue 15 item 19).
    #[tokio::test]
    async fn sqlite_writer_recovers_from_a_full_disk() {
        let store = testkit::sqlite().await;
        store.execute_raw("CREATE TABLE filler (b BLOB)").await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let Tx::Sqlite(t) = &mut tx else { unreachable!() };
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut **t).await.unwrap();
        sqlx::query(&format!("PRAGMA max_page_count = {pages}")).execute(&mut **t).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let full = exec!(&mut tx, sqlx::query("INSERT INTO filler (b) VALUES (zeroblob(4000000))")).unwrap_err();
        assert!(full.to_string().contains("database or disk is full"), "{full}");
        drop(tx);

        // Space is back: the limit is lifted on the writer connection, whichever it is now.
        let Some(writer) = &store.sqlite_writer else { unreachable!() };
        let mut conn = writer.acquire().await.unwrap();
        sqlx::query("PRAGMA max_page_count = 1073741823").execute(&mut *conn).await.unwrap();
        drop(conn);

        let by = admin::ChangeBy::cli();
        let ws = store.workspace_create("after-full", "After the full disk", &by).await.unwrap();
        assert_eq!(store.workspace_get(ws.id).await.unwrap().slug, "after-full");
        let mut tx = store.begin().await.unwrap();
        exec!(&mut tx, sqlx::query("INSERT INTO filler (b) VALUES (zeroblob(4000000))")).unwrap();
        tx.commit().await.unwrap();
    }
}
