//! What a change-impact preview (SPEC §10.2) is judged on: every active run
//! that the gate will evaluate again — queued, awaiting approval, running
//! with items — and the facts of schedule slots' contexts, all read as they
//! are now (one query per fact table, no locks, nothing written). Which of
//! them a change blocks is `atlas_core::impact::preview`'s to say.

use atlas_core::gate::{ExecutionContext, Facts};
use atlas_core::impact::Candidate;
use uuid::Uuid;

use crate::run::{RunRow, RUN_COLUMNS};
use crate::{facts, on_tx, Db, Store, StoreResult, Tx};

impl Store {
    /// The active runs of a workspace (`None`: of every workspace, for a
    /// change to a user), oldest first, each with its facts now. A run whose
    /// context or facts cannot be read is left out: the gate refuses it (or
    /// retries it) whatever the change.
    pub async fn impact_run_candidates(&self, workspace_id: Option<Uuid>) -> StoreResult<Vec<Candidate>> {
        let mut tx = self.read_tx().await?;
        let filter = if workspace_id.is_some() { " AND workspace_id = $1" } else { "" };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM operation_runs WHERE status IN ('queued', 'running'){filter} ORDER BY id"
        );
        let ws = workspace_id.map(|w| w.to_string()).unwrap_or_default();
        let rows: Vec<RunRow> = on_tx!(&mut tx, |c| {
            let q = sqlx::query_as(&sql);
            let q = if workspace_id.is_some() { q.bind(ws.clone()) } else { q };
            q.fetch_all(c).await
        })?;
        let runs = rows.into_iter().map(RunRow::into_domain).collect::<StoreResult<Vec<_>>>()?;
        let checked: Vec<_> = runs.iter().map(|r| r.execution_context().check().ok()).collect();
        let set =
            facts::load_many(&mut tx, &checked.iter().flatten().collect::<Vec<_>>(), &facts::approvers(&runs), false)
                .await?;
        tx.commit().await?;
        let validity = self.approval_validity_ms();
        Ok(runs
            .iter()
            .zip(&checked)
            .filter_map(|(run, c)| {
                let facts = set.facts(c.as_ref()?, Some(run), validity).ok()?;
                Candidate::run(run, run.approval.as_ref(), facts)
            })
            .collect())
    }

    /// The facts now of contexts that have no run yet (a schedule slot's):
    /// `None` for one whose context or facts cannot be read.
    pub async fn impact_facts(&self, ctxs: &[ExecutionContext]) -> StoreResult<Vec<Option<Facts>>> {
        let checked: Vec<_> = ctxs.iter().map(|c| c.check().ok()).collect();
        let mut tx = self.read_tx().await?;
        let set = facts::load_many(&mut tx, &checked.iter().flatten().collect::<Vec<_>>(), &[], false).await?;
        tx.commit().await?;
        let validity = self.approval_validity_ms();
        Ok(checked.iter().map(|c| set.facts(c.as_ref()?, None, validity).ok()).collect())
    }

    /// A deferred transaction: on SQLite a plain read, not the writer lock.
    async fn read_tx(&self) -> StoreResult<Tx> {
        Ok(match self.db() {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }
}
