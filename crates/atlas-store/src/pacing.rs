//! Write pacing: a tenant's provider writes stay within a budget of `limit`
//! per `window` — a sliding window kept in the database, so every worker on
//! every node shares it. Reservations for one tenant are serialized by a lock
//! on the tenant's budget row (PostgreSQL) or the single writer (SQLite).

use uuid::Uuid;

use crate::claim::db_now;
use crate::{exec, on_tx, Store, StoreResult, Tx};

/// A write budget: at most `limit` writes in any `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteBudget {
    pub limit: u32,
    pub window_ms: i64,
}

/// Graph allows about 100 writes per 20 s per app and tenant (SPEC §5).
impl Default for WriteBudget {
    fn default() -> WriteBudget {
        WriteBudget { limit: 100, window_ms: 20_000 }
    }
}

impl Store {
    /// Reserves one write for the tenant now, or says how long to wait (ms)
    /// before asking again. A reservation is never taken back.
    pub async fn write_budget_reserve(&self, tenant_id: Uuid, budget: WriteBudget) -> StoreResult<Result<(), i64>> {
        let tid = tenant_id.to_string();
        let mut tx = self.begin().await?;
        exec!(&mut tx, sqlx::query(
            "INSERT INTO write_budget_tenants (tenant_id, updated_at) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING"
        )
        .bind(&tid)
        .bind(crate::now().0))?;
        let lock = match tx {
            Tx::Sqlite(_) => "",
            Tx::Postgres(_) => " FOR UPDATE",
        };
        let sql = format!("SELECT updated_at FROM write_budget_tenants WHERE tenant_id = $1{lock}");
        let _: (i64,) = on_tx!(&mut tx, |c| sqlx::query_as(&sql).bind(&tid).fetch_one(c).await)?;
        // The clock is read only now, holding the tenant's lock (SQLite's
        // writer lock since the insert): read before a wait for it, a
        // reservation would be logged as older than it is and a later one
        // let into the window too early.
        let now = db_now(&mut tx).await?;
        let window_start = now.0 - budget.window_ms * 1000;
        exec!(
            &mut tx,
            sqlx::query("DELETE FROM write_budget_log WHERE tenant_id = $1 AND at <= $2").bind(&tid).bind(window_start)
        )?;
        let recent: Vec<(i64,)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT at FROM write_budget_log WHERE tenant_id = $1 ORDER BY at DESC LIMIT $2"
        )
        .bind(&tid)
        .bind(i64::from(budget.limit.max(1)))
        .fetch_all(c)
        .await)?;
        if recent.len() >= budget.limit.max(1) as usize {
            // Full: the oldest of the last `limit` writes must leave the window first.
            let oldest = recent.last().map_or(now.0, |(at,)| *at);
            let wait_ms = ((oldest - window_start) / 1000).max(1);
            tx.commit().await?;
            return Ok(Err(wait_ms));
        }
        exec!(
            &mut tx,
            sqlx::query("INSERT INTO write_budget_log (id, tenant_id, at) VALUES ($1, $2, $3)")
                .bind(Uuid::now_v7().to_string())
                .bind(&tid)
                .bind(now.0)
        )?;
        exec!(
            &mut tx,
            sqlx::query("UPDATE write_budget_tenants SET updated_at = $1 WHERE tenant_id = $2").bind(now.0).bind(&tid)
        )?;
        tx.commit().await?;
        Ok(Ok(()))
    }
}
