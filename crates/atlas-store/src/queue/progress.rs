//! A running run's progress counts, written as it goes (fenced by its lease).

use uuid::Uuid;

use crate::{exec, Store, StoreResult};

impl Store {
    /// Updates a run's progress counts while it runs, fenced by its lease. Not a
    /// transition: status and outcome stay with the run service.
    pub async fn run_progress(
        &self,
        run_id: Uuid,
        lease_token: Uuid,
        counts: &atlas_core::SummaryCounts,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = exec!(&mut tx, sqlx::query(
            "UPDATE operation_runs SET summary_counts = $1 WHERE id = $2 AND status = 'running' AND lease_token = $3"
        )
        .bind(serde_json::to_string(&counts.recount()).unwrap_or_else(|_| "{}".into()))
        .bind(run_id.to_string())
        .bind(lease_token.to_string()))?;
        tx.commit().await?;
        if n == 1 {
            Ok(())
        } else {
            Err(crate::StoreError::Fenced)
        }
    }
}
