//! The console's one live channel (server-sent events, `GET /admin/live`):
//! run changes of the current workspace, pushed to every open page that
//! shows runs — list rows and tab counts, the run viewer, a tenant's recent
//! runs — so nothing on a page goes stale and a run started elsewhere
//! appears on an idle list.
//!
//! Workers may be other processes on the same database, so the server
//! learns of changes from the database: one `Topic` per workspace with
//! subscribers reads `Store::live_snapshot` once a tick (a few index range
//! scans, never a count over all runs) and sends what changed to all of that
//! workspace's subscribers; each stream keeps only the runs its viewer may
//! see. A topic stops when its last subscriber leaves. Streams end on server
//! shutdown and after `STREAM_LIFETIME`, when the browser reconnects and is
//! authorized afresh. The page script falls back to polling fragments only
//! while the channel is down.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_core::access::{self, Access};
use atlas_core::run::RunStatus;
use atlas_core::Capability;
use atlas_store::live::{LiveSnapshot, RunPulse};
use atlas_store::Store;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde_json::json;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::error::PageResult;
use crate::state::AppState;

/// How long one stream lasts before the browser reconnects (and is authorized again).
const STREAM_LIFETIME: Duration = Duration::from_secs(300);

/// One tick's changes in a workspace; `resync` asks pages to reload what they show.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub runs: Vec<RunPulse>,
    pub resync: bool,
}

/// The per-workspace topics, and the signal that ends every stream.
pub struct LiveHub {
    store: Store,
    tick: Duration,
    topics: Arc<Mutex<HashMap<Uuid, broadcast::Sender<Arc<Changes>>>>>,
    stop: watch::Sender<bool>,
}

impl LiveHub {
    pub fn new(store: Store, tick: Duration) -> LiveHub {
        LiveHub { store, tick, topics: Arc::default(), stop: watch::channel(false).0 }
    }

    /// Ends every stream (the server is stopping: open streams would hold it up).
    pub fn shut_down(&self) {
        self.stop.send_replace(true);
    }

    /// A receiver of the workspace's changes, starting its topic if none runs.
    pub fn subscribe(&self, workspace_id: Uuid) -> broadcast::Receiver<Arc<Changes>> {
        let mut topics = self.topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = topics.get(&workspace_id) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(64);
        topics.insert(workspace_id, tx.clone());
        let topics = Arc::clone(&self.topics);
        tokio::spawn(run_topic(self.store.clone(), self.tick, workspace_id, tx, topics, self.stop.subscribe()));
        rx
    }

    fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

/// Reads the workspace's picture once a tick and sends what changed, until
/// nobody listens (or the server stops).
async fn run_topic(
    store: Store,
    tick: Duration,
    workspace_id: Uuid,
    tx: broadcast::Sender<Arc<Changes>>,
    topics: Arc<Mutex<HashMap<Uuid, broadcast::Sender<Arc<Changes>>>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: Option<LiveSnapshot> = None;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        {
            // Under the lock, so that a subscriber arriving now either finds
            // this topic still listed or starts a new one.
            let mut map = topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if tx.receiver_count() == 0 {
                map.remove(&workspace_id);
                return;
            }
        }
        let now = match store.live_snapshot(workspace_id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, %workspace_id, "live channel: reading runs failed");
                continue;
            }
        };
        if let Some(before) = &last {
            match changes(&store, before, &now).await {
                Ok(c) if !c.runs.is_empty() => {
                    let _ = tx.send(Arc::new(c));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, %workspace_id, "live channel: reading finished runs failed"),
            }
        }
        last = Some(now);
    }
    topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&workspace_id);
}

/// The runs that differ between two pictures: new or changed active runs, the
/// runs that left the active ones (read again by id), and a newly completed
/// run that came and went between the two.
async fn changes(store: &Store, before: &LiveSnapshot, now: &LiveSnapshot) -> atlas_store::StoreResult<Changes> {
    let old: HashMap<Uuid, &RunPulse> = before.active.iter().map(|p| (p.id, p)).collect();
    let mut runs: Vec<RunPulse> = now.active.iter().filter(|p| old.get(&p.id) != Some(p)).cloned().collect();
    let current: std::collections::HashSet<Uuid> = now.active.iter().map(|p| p.id).collect();
    let left: Vec<Uuid> = before.active.iter().map(|p| p.id).filter(|id| !current.contains(id)).collect();
    let mut finished = store.live_pulses(&left).await?;
    if let Some(done) = &now.newest_completed {
        let moved = before.newest_completed.as_ref().map(|p| p.id) != Some(done.id);
        if moved && !finished.iter().any(|p| p.id == done.id) {
            finished.push(done.clone());
        }
    }
    runs.extend(finished);
    Ok(Changes { runs, resync: false })
}

/// `GET /admin/live`: the stream of the current workspace's run changes
/// this viewer may see (`event: runs`, data `{"runs": [...], "resync": bool}`).
pub async fn stream(State(state): State<AppState>, ctx: Ctx) -> PageResult<Response> {
    let ws = ctx.workspace()?.id;
    let rx = state.live.subscribe(ws);
    let stop = state.live.stopped();
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let hello = stream::once(async {
        Ok::<Event, Infallible>(Event::default().event("hello").data("{}").retry(Duration::from_secs(2)))
    });
    let updates = stream::unfold((rx, stop, ctx), move |(mut rx, mut stop, ctx)| async move {
        loop {
            let received = tokio::select! {
                r = rx.recv() => r,
                _ = stop.wait_for(|s| *s) => return None,
                () = tokio::time::sleep_until(deadline) => return None,
            };
            let changes = match received {
                Ok(c) => c,
                Err(broadcast::error::RecvError::Lagged(_)) => Arc::new(Changes { runs: Vec::new(), resync: true }),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if let Some(event) = event_for(&ctx, &changes) {
                return Some((Ok::<Event, Infallible>(event), (rx, stop, ctx)));
            }
        }
    });
    let sse = Sse::new(hello.chain(updates)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    Ok(sse.into_response())
}

/// The changes this viewer may see, as one event (`None`: nothing for them).
fn event_for(ctx: &Ctx, changes: &Changes) -> Option<Event> {
    let visible: Vec<serde_json::Value> = changes
        .runs
        .iter()
        .filter(|p| access::check(ctx.viewer.as_ref(), &p.tenants, Capability::OperationsView) == Access::Allowed)
        .map(|p| {
            json!({
                "id": p.id, "type": p.op_type, "tenant_id": p.tenant_id, "tenants": p.tenants,
                "status": p.status, "outcome": p.outcome, "attempt": p.attempt,
                "summary_counts": p.summary_counts, "active": p.status != RunStatus::Completed,
            })
        })
        .collect();
    if visible.is_empty() && !changes.resync {
        return None;
    }
    Some(Event::default().event("runs").data(json!({"runs": visible, "resync": changes.resync}).to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_topic_ends_when_its_last_subscriber_leaves() {
        let store = atlas_store::testkit::sqlite().await;
        let hub = LiveHub::new(store, Duration::from_millis(10));
        let ws = Uuid::now_v7();
        let rx = hub.subscribe(ws);
        let again = hub.subscribe(ws);
        assert_eq!(hub.topics.lock().unwrap().len(), 1, "one topic per workspace");
        drop((rx, again));
        for _ in 0..100 {
            if hub.topics.lock().unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the topic outlived its subscribers");
    }
}
