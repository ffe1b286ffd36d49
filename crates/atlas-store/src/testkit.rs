//! Test support: fresh, migrated stores for each dialect, used by this crate's
//! conformance suite and by the other crates' integration tests.
//!
//! PostgreSQL tests each get their own schema on `ATLAS_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When `ATLAS_TEST_PG=require`
//! (as `.ci/run` sets it) an unreachable server fails the test; otherwise the
//! PostgreSQL half is skipped with a loud message.

use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use crate::Store;

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
    let path = std::env::temp_dir().join(format!("atlas-test-{}.db", Uuid::now_v7()));
    format!("sqlite://{}", path.display())
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
    let schema = format!("t_{}", Uuid::new_v4().simple());
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
