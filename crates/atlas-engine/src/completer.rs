//! The completer: a worker's finishing writes, grouped. River's completers
//! (`internal/jobcompleter`) do the same: many finished jobs, one statement.

use std::sync::{Arc, Mutex};

use atlas_core::run::Run;
use atlas_store::claim::{Finish, MAX_BATCH};
use atlas_store::{Store, StoreError};
use tokio::sync::oneshot;

/// Groups finishing writes (ARCHITECTURE.md, "Batch the queue's database
/// work"). A finishing run queues its fenced write and waits for the answer;
/// one flusher task at a time takes everything queued and writes it with
/// `Store::run_finish_many` — one transaction, each write still fenced by its
/// run, attempt and lease token, each with its own audit event and
/// notification — while the next batch gathers. Alone, a run is written at
/// once; under load a batch is whatever finished during the previous write.
pub(crate) struct Completer {
    store: Store,
    pending: Mutex<Pending>,
}

type Reply = oneshot::Sender<Result<Run, StoreError>>;

#[derive(Default)]
struct Pending {
    items: Vec<(Finish, Reply)>,
    /// A flusher task is running and will take what is queued.
    flushing: bool,
}

impl Completer {
    pub(crate) fn new(store: Store) -> Completer {
        Completer { store, pending: Mutex::new(Pending::default()) }
    }

    /// The run's finishing write, as `Store::run_finish` would answer it;
    /// `None` if the flusher stopped before answering (the lease then expires
    /// and the rescuer takes the run back).
    pub(crate) async fn finish(self: &Arc<Completer>, f: Finish) -> Option<Result<Run, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let start = match self.enqueue(f, reply) {
            Ok(start) => start,
            Err(f) => return Some(self.store.run_finish(f.run_id, f.lease_token, f.event).await),
        };
        if start {
            let flusher = FlushGuard { completer: Arc::clone(self), armed: true };
            tokio::spawn(flusher.run());
        }
        answer.await.ok()
    }

    /// Queues a write; `Ok(true)` when no flusher runs and the caller must
    /// start one, `Err` (giving the write back) if the queue is unusable.
    fn enqueue(&self, f: Finish, reply: Reply) -> Result<bool, Box<Finish>> {
        let Ok(mut p) = self.pending.lock() else { return Err(Box::new(f)) };
        p.items.push((f, reply));
        Ok(!std::mem::replace(&mut p.flushing, true))
    }
}

/// The flusher; if it dies (a panic), it lets the next finish start another.
struct FlushGuard {
    completer: Arc<Completer>,
    armed: bool,
}

impl FlushGuard {
    async fn run(mut self) {
        // Let the runs finishing at this moment join the first batch.
        tokio::task::yield_now().await;
        loop {
            let batch: Vec<(Finish, Reply)> = match self.completer.pending.lock() {
                Ok(mut p) if p.items.is_empty() => {
                    p.flushing = false;
                    self.armed = false;
                    return;
                }
                Ok(mut p) => {
                    let n = p.items.len().min(MAX_BATCH);
                    p.items.drain(..n).collect()
                }
                Err(_) => return,
            };
            let (items, replies): (Vec<Finish>, Vec<Reply>) = batch.into_iter().unzip();
            let results = self.completer.store.run_finish_many(items).await;
            for (result, reply) in results.into_iter().zip(replies) {
                // The waiting run may have been cancelled; nothing to tell then.
                let _ = reply.send(result);
            }
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(mut p) = self.completer.pending.lock() {
                p.flushing = false;
            }
        }
    }
}
