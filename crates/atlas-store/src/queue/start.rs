//! Starting a run. The gate's decision and the insert share one transaction,
//! so a run is queued under the very facts it was judged by; a refused start
//! writes nothing. Pages that only need to know whether a start would be
//! allowed, and the between-items check, ask [`Store::run_decide`], which
//! reads without taking the writer.

use atlas_core::audit::AuditDraft;
use atlas_core::gate::Decision;
use atlas_core::run::Run;

use crate::claim::{db_now, decide};
use crate::run::{insert_in_tx, Inserted};
use crate::{Store, StoreError, StoreResult, Tx};

/// What a start came to: `T` (the queued run, or what the start returns), or
/// the gate's refusal with nothing written.
#[derive(Clone, Debug, PartialEq)]
pub enum Started<T> {
    Queued(T),
    Refused(Box<Decision>),
}

impl Store {
    /// Starts `run`: decides it against the facts now and, when allowed,
    /// inserts it with its `operation.queued` event — or, when an active run
    /// with the same dedupe key exists, returns that run — in one transaction.
    pub async fn run_start(&self, run: &Run, audit: &AuditDraft) -> StoreResult<Started<Inserted>> {
        // A conflicting run can complete between our insert and our read; try again then.
        for _ in 0..3 {
            let mut tx = self.begin().await?;
            if let Some(refused) = refusal(&mut tx, run, self.approval_validity_ms()).await? {
                return Ok(Started::Refused(refused));
            }
            let inserted = insert_in_tx(&mut tx, run, audit).await?;
            tx.commit().await?;
            if let Some(inserted) = inserted {
                return Ok(Started::Queued(inserted));
            }
        }
        Err(StoreError::Conflict("the run's target is changing too fast; try again".into()))
    }

    /// The gate's decision for `run` at `attempt` against the facts now,
    /// read-only: whether a start would be allowed (attempt 0), and the
    /// between-items check of a running run. It grants nothing; only
    /// [`Store::run_start`] queues and only the claim starts a run.
    pub async fn run_decide(&self, run: &Run, attempt: u32) -> StoreResult<Decision> {
        let mut tx = self.begin_read().await?;
        let now = db_now(&mut tx).await?;
        let decision = decide(&mut tx, run, now, attempt, self.approval_validity_ms(), false).await?;
        tx.commit().await?;
        Ok(decision)
    }
}

/// The gate's refusal of starting `run` inside `tx`, if it refuses.
pub(crate) async fn refusal(tx: &mut Tx, run: &Run, validity_ms: i64) -> StoreResult<Option<Box<Decision>>> {
    let now = db_now(tx).await?;
    let decision = decide(tx, run, now, 0, validity_ms, false).await?;
    Ok((!decision.allowed).then(|| Box::new(decision)))
}
