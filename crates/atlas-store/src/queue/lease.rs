//! The write fence for a family's own results: a run's rows are written only
//! while its lease is held, checked in the writing transaction.

use uuid::Uuid;

use crate::{on_tx, StoreError, StoreResult, Tx};

/// Fails with `Fenced` unless `run_id` is running under `lease_token`. On
/// PostgreSQL the run row is share-locked until the caller commits.
pub(crate) async fn ensure_held(tx: &mut Tx, run_id: Uuid, lease_token: Uuid) -> StoreResult<()> {
    let lock = match tx {
        Tx::Sqlite(_) => "",
        Tx::Postgres(_) => " FOR SHARE",
    };
    let sql = format!(
        "SELECT CAST(1 AS BIGINT) FROM operation_runs WHERE id = $1 AND status = 'running' AND lease_token = $2{lock}"
    );
    let held: Option<(i64,)> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(run_id.to_string())
        .bind(lease_token.to_string())
        .fetch_optional(c)
        .await)?;
    held.map(|_| ()).ok_or(StoreError::Fenced)
}
