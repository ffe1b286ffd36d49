//! The rescuer: runs whose lease expired by the database's clock — their
//! worker died, or stalled past its heartbeats — go back to the queue with a
//! backoff (`lease_expired`), to be claimed and authorized afresh. Every
//! worker runs one beside its claim loop; the rescue is one statement over
//! expired leases, so several rescuers never take a run back twice.

use std::time::Duration;

use atlas_store::{Store, StoreError};
use tracing::warn;

use crate::config::EngineConfig;
use crate::outage::Outage;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RescuerConfig {
    /// How often to look for expired leases.
    pub interval: Duration,
    /// Runs taken back per round at most.
    pub batch: u32,
    /// The backoff base of a rescued run's next attempt (doubling per attempt).
    pub backoff_base: Duration,
}

impl RescuerConfig {
    /// Often enough that a dead worker's runs wait little beyond their
    /// lease, rarely enough to cost a busy worker nothing it would notice.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);
    pub const DEFAULT_BATCH: u32 = 100;
    /// Shorter rounds would only load the database.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

    /// The defaults, with the engine's retry backoff.
    pub fn for_engine(engine: &EngineConfig) -> RescuerConfig {
        RescuerConfig { backoff_base: engine.retry_backoff, ..RescuerConfig::default() }
    }
}

impl Default for RescuerConfig {
    fn default() -> RescuerConfig {
        RescuerConfig {
            interval: RescuerConfig::DEFAULT_INTERVAL,
            batch: RescuerConfig::DEFAULT_BATCH,
            backoff_base: EngineConfig::default().retry_backoff,
        }
    }
}

#[derive(Clone)]
pub struct Rescuer {
    store: Store,
    config: RescuerConfig,
}

impl Rescuer {
    pub fn new(store: Store, config: RescuerConfig) -> Rescuer {
        let config = RescuerConfig {
            interval: config.interval.max(RescuerConfig::MIN_INTERVAL),
            batch: config.batch.max(1),
            ..config
        };
        Rescuer { store, config }
    }

    /// One round: how many runs were taken back, each one logged with its
    /// run id and the worker that stopped answering.
    pub async fn rescue(&self) -> Result<u64, StoreError> {
        let backoff_ms = i64::try_from(self.config.backoff_base.as_millis()).unwrap_or(i64::MAX);
        let rescued = self.store.run_rescue_expired(backoff_ms, self.config.batch).await?;
        for r in &rescued {
            let then = if r.requeued { "back to the queue" } else { "failed: it was the last attempt" };
            warn!(
                run_id = %r.run_id,
                worker = %r.owner,
                "rescued run {}: attempt {} of {} stopped answering (its lease expired); {then}",
                r.run_id,
                r.attempt,
                r.max_attempts
            );
        }
        Ok(u64::try_from(rescued.len()).unwrap_or(u64::MAX))
    }

    /// A round now and then every `interval` until `stop` resolves; a failed
    /// round is logged and the next one tries again. Returns the runs rescued.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) -> u64 {
        tokio::pin!(stop);
        let mut rescued = 0;
        let mut outage = Outage::new("rescue");
        let mut rounds = tokio::time::interval(self.config.interval);
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = &mut stop => return rescued,
                _ = rounds.tick() => match self.rescue().await {
                    Ok(n) => {
                        outage.succeeded();
                        rescued += n;
                    }
                    Err(e) => outage.failed(&e, self.config.interval),
                },
            }
        }
    }
}
