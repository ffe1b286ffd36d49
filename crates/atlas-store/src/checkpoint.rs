//! SQLite's WAL checkpoints, off the writer's path.
//!
//! By default the connection whose commit pushes the WAL past 1,000 pages
//! copies it back into the database file before its commit returns — inside
//! the queue's one-writer turn, where it cost a drain about 15 % of its rate
//! (docs/BENCHMARKS.md, "Run throughput"). This task runs a PASSIVE
//! checkpoint (it neither waits for nor blocks readers and writers) once a
//! second on a connection of its own, on the other core, and connections
//! checkpoint by themselves only past `AUTOCHECKPOINT_PAGES`: under writes
//! without a pause the WAL cannot start over, and that bounds it. The task
//! stops when the last clone of its `Store` is dropped or the pool is closed;
//! on close SQLite checkpoints what is left.

use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::task::AbortHandle;

const EVERY: Duration = Duration::from_secs(1);

/// `wal_autocheckpoint` while the task runs (SQLite's default is 1,000 pages).
pub(crate) const AUTOCHECKPOINT_PAGES: &str = "10000";

/// Aborts the checkpoint task when dropped (with the last `Store` clone).
#[derive(Debug)]
pub(crate) struct Checkpointer(AbortHandle);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the checkpoint task for `pool` on `runtime`.
pub(crate) fn start(pool: &SqlitePool, runtime: &tokio::runtime::Handle) -> Arc<Checkpointer> {
    let pool = pool.clone();
    let task = runtime.spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        while !pool.is_closed() {
            tick.tick().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "WAL checkpoint failed; trying again in a second");
            }
        }
    });
    Arc::new(Checkpointer(task.abort_handle()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{testkit, Db};

    fn file_len(pool: &SqlitePool) -> u64 {
        std::fs::metadata(pool.connect_options().get_filename()).map(|m| m.len()).unwrap_or(0)
    }

    /// Writes reach the database file without any commit checkpointing them,
    /// and the task ends with the last clone of its store.
    #[tokio::test]
    async fn the_task_checkpoints_and_stops_with_its_store() {
        let store = testkit::sqlite().await;
        let Db::Sqlite(pool) = store.db().clone() else { unreachable!() };
        // Far below the automatic threshold: only the task moves them out of the WAL.
        store.execute_raw("CREATE TABLE filler (b TEXT)").await.unwrap();
        let before = file_len(&pool);
        store
            .execute_raw(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
                 INSERT INTO filler SELECT hex(randomblob(1000)) FROM n",
            )
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while file_len(&pool) <= before {
            assert!(tokio::time::Instant::now() < deadline, "no checkpoint within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let handle = store._checkpointer.as_ref().map(|c| c.0.clone()).unwrap();
        let copy = store.clone();
        drop(store);
        assert!(!handle.is_finished(), "a clone still holds it");
        drop(copy);
        tokio::task::yield_now().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !handle.is_finished() {
            assert!(tokio::time::Instant::now() < deadline, "the task outlived its store");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
