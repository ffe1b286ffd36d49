//! The audit sealer: links appended audit events into their chains' hash
//! sequences (`Store::audit_seal`, ARCHITECTURE.md). Every worker runs one
//! beside its claim loop — a round takes milliseconds per thousand events,
//! during which the worker would otherwise claim nothing — and seals once
//! more when it stops, so that what its runs wrote is sealed by then.

use std::time::Duration;

use crate::outage::Outage;
use atlas_store::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealerConfig {
    /// How often a round starts (a round in flight is never overlapped).
    pub interval: Duration,
}

impl SealerConfig {
    /// Often enough that what is left unsealed when the queue empties is
    /// sealed in a few rounds.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);
    pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
}

impl Default for SealerConfig {
    fn default() -> SealerConfig {
        SealerConfig { interval: SealerConfig::DEFAULT_INTERVAL }
    }
}

#[derive(Clone)]
pub struct AuditSealer {
    store: Store,
    config: SealerConfig,
}

impl AuditSealer {
    pub fn new(store: Store, config: SealerConfig) -> AuditSealer {
        let config = SealerConfig { interval: config.interval.max(SealerConfig::MIN_INTERVAL) };
        AuditSealer { store, config }
    }

    /// One round; a failure is logged once per outage (the next round seals what it left).
    async fn seal(&self, outage: &mut Outage) {
        match self.store.audit_seal().await {
            Ok(_) => outage.succeeded(),
            Err(e) => outage.failed(&e, self.config.interval),
        }
    }

    /// A round every `interval` until `stop` resolves, then — after the round
    /// in flight, if any — a last one.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let start = tokio::time::Instant::now() + self.config.interval;
        let mut rounds = tokio::time::interval_at(start, self.config.interval);
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut outage = Outage::new("audit seal");
        loop {
            tokio::select! {
                biased;
                () = &mut stop => break,
                _ = rounds.tick() => self.seal(&mut outage).await,
            }
        }
        self.seal(&mut outage).await;
    }
}
