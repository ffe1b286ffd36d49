//! Test support: fresh, migrated stores for each dialect, used by this crate's
//! conformance suite and by the other crates' integration tests.
//!
//! PostgreSQL tests each get their own schema on `ATLAS_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When `ATLAS_TEST_PG=require`
//! (as `.ci/run` sets it) an unreachable server fails the test; otherwise the
//! PostgreSQL half is skipped with a loud message.
//!
//! Each test's schema or file is named by a UUIDv7, so its age can be read
//! back: once per test process, what earlier runs left behind (tests do not
//! clean up, so that a failed test's database can be looked at) is removed
//! when it is older than `STALE_AFTER`. Without that the suite filled the
//! disk after a few hundred runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::{on_db, Db, Store, StoreResult};

/// `dialect_tests!(case_a, case_b, …)`: one `#[tokio::test]` per case per
/// dialect, each case an `async fn(Store)` beside the macro call. The
/// PostgreSQL half is skipped (loudly) when no server answers, unless
/// `ATLAS_TEST_PG=require`.
#[macro_export]
macro_rules! dialect_tests {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::testkit::sqlite().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = $crate::testkit::postgres().await else { return };
                    super::$case(store).await;
                }
            )+
        }
    };
}

pub const DEFAULT_TEST_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A new SQLite database in a fresh file under the system temp folder.
pub async fn sqlite() -> Store {
    let url = sqlite_url();
    match Store::connect(&url).await {
        Ok(store) => migrated(store).await,
        Err(e) => panic!("cannot open test SQLite database {url}: {e}"),
    }
}

/// A URL for a fresh SQLite file (for tests that start the binary themselves).
pub fn sqlite_url() -> String {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::Relaxed) {
        sweep_sqlite_files();
    }
    let path = std::env::temp_dir().join(format!("atlas-test-{}.db", Uuid::now_v7()));
    format!("sqlite://{}", path.display())
}

/// Leftovers of earlier test runs younger than this are kept (another test
/// process may still be using them, or someone looking at a failure).
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Whether a name made from a UUIDv7 (hyphenated or simple) is older than
/// `STALE_AFTER`; names from before they carried a time (UUIDv4) count as stale.
fn stale(id: &str) -> bool {
    let Ok(uuid) = Uuid::parse_str(id) else { return false };
    let Some(ts) = uuid.get_timestamp() else { return true };
    let (secs, _) = ts.to_unix();
    let made = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    SystemTime::now().duration_since(made).is_ok_and(|age| age > STALE_AFTER)
}

/// Removes stale `atlas-test-*.db` files (and their `-wal`/`-shm`) from the temp folder.
fn sweep_sqlite_files() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("atlas-test-") else { continue };
        let id = rest.split(".db").next().unwrap_or_default();
        if stale(id) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Drops stale `t_*` test schemas on the test database.
async fn sweep_pg_schemas(admin: &Store) {
    let Db::Postgres(pool) = admin.db() else { return };
    let names: Vec<String> = sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 't\\_%'")
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    for name in names {
        let id = name.trim_start_matches("t_");
        if stale(id) && id.chars().all(|c| c.is_ascii_hexdigit()) {
            let _ = admin.execute_raw(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await;
        }
    }
}

pub fn pg_required() -> bool {
    std::env::var("ATLAS_TEST_PG").is_ok_and(|v| v == "require")
}

/// A URL for a fresh PostgreSQL schema, or `None` (loudly) when no server answers
/// and PostgreSQL is not required.
pub async fn postgres_url() -> Option<String> {
    let base = std::env::var("ATLAS_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_TEST_PG_URL.to_owned());
    let admin = match Store::connect(&base).await {
        Ok(s) => s,
        Err(e) => {
            if pg_required() {
                panic!("ATLAS_TEST_PG=require but PostgreSQL at {base} does not answer: {e}");
            }
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "\n!!! PostgreSQL at {base} does not answer ({e}): SKIPPING the PostgreSQL half of the suite.\n\
                     !!! Set ATLAS_TEST_PG_URL, or run ./scripts/test (CI requires it).\n"
                );
            }
            return None;
        }
    };
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT.get_or_init(|| sweep_pg_schemas(&admin)).await;
    let schema = format!("t_{}", Uuid::now_v7().simple());
    if let Err(e) = admin.execute_raw(&format!("CREATE SCHEMA {schema}")).await {
        panic!("cannot create test schema {schema}: {e}");
    }
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// A migrated store in a fresh PostgreSQL schema, or `None` when skipped.
pub async fn postgres() -> Option<Store> {
    let url = postgres_url().await?;
    match Store::connect(&url).await {
        Ok(store) => Some(migrated(store).await),
        Err(e) => panic!("cannot connect to test schema {url}: {e}"),
    }
}

async fn migrated(store: Store) -> Store {
    if let Err(e) = store.migrate().await {
        panic!("migration failed: {e:?}");
    }
    store
}

impl Store {
    /// Runs raw SQL: only for tests (tampering with the audit log, corrupting a
    /// run's context) and test setup. Production code never builds SQL outside the store.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> crate::StoreResult<u64> {
        Ok(crate::on_db!(self.db(), |p| sqlx::raw_sql(sql).execute(p).await.map(|r| r.rows_affected()))?)
    }
}

/// Row counts of the tables a refused request must not change (tests compare
/// them before and after).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldCounts {
    pub runs: i64,
    pub tenants: i64,
    pub memberships: i64,
    pub custom_roles: i64,
    pub schedules: i64,
    pub connections_enabled: i64,
    pub tenants_writable: i64,
    pub notifications_unread: i64,
    pub audit_events: i64,
}

impl Store {
    /// Row counts for before/after comparisons in tests.
    pub async fn world_counts_for_tests(&self) -> StoreResult<WorldCounts> {
        let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM operation_runs), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM tenants), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM memberships), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM custom_roles), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM backup_schedules), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM provider_connections WHERE status = 'enabled'), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM tenants WHERE writes_enabled = 1), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM notifications WHERE read_at IS NULL), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM audit_events)"
        )
        .fetch_one(p)
        .await)?;
        Ok(WorldCounts {
            runs: row.0,
            tenants: row.1,
            memberships: row.2,
            custom_roles: row.3,
            schedules: row.4,
            connections_enabled: row.5,
            tenants_writable: row.6,
            notifications_unread: row.7,
            audit_events: row.8,
        })
    }
}

/// Run ids whose next transition fails after the row is written and before its
/// audit event: the transaction must then leave neither.
static FAIL_AFTER_ROW: std::sync::Mutex<Vec<Uuid>> = std::sync::Mutex::new(Vec::new());

/// Makes the next transition of `run_id` fail between its row and its audit event.
pub fn fail_next_transition_after_row(run_id: Uuid) {
    if let Ok(mut ids) = FAIL_AFTER_ROW.lock() {
        ids.push(run_id);
    }
}

pub(crate) fn fail_point_after_row(run_id: Uuid) -> crate::StoreResult<()> {
    let hit = FAIL_AFTER_ROW.lock().is_ok_and(|mut ids| {
        let before = ids.len();
        ids.retain(|id| *id != run_id);
        ids.len() != before
    });
    if hit {
        return Err(crate::StoreError::Invalid("injected failure between a run row and its audit event".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_or_untimed_names_are_stale() {
        assert!(!stale(&Uuid::now_v7().simple().to_string()), "made now");
        assert!(!stale(&Uuid::now_v7().to_string()), "hyphenated, made now");
        let hour_and_more = SystemTime::now() - STALE_AFTER - Duration::from_secs(60);
        let since_epoch = hour_and_more.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let old = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, since_epoch.as_secs(), 0));
        assert!(stale(&old.simple().to_string()));
        assert!(stale(&Uuid::new_v4().simple().to_string()), "legacy names carry no time");
        assert!(!stale("not-a-uuid"));
    }
}
