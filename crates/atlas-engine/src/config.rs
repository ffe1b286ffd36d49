//! Engine settings with named defaults. `atlas-cli` reads its `ATLAS_…`
//! variables into one and passes it in; tests make leases and backoffs short.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How long a claim holds a run before the rescuer may take it back.
    pub lease: Duration,
    /// The first retry's wait; each further attempt doubles it.
    pub retry_backoff: Duration,
    /// How long an idle worker waits before looking for work again.
    pub poll_interval: Duration,
    /// Runs executed at once by one worker process.
    pub concurrency: usize,
    /// Runs claimed per claim transaction.
    pub claim_batch: u32,
    /// How often long runs re-ask the gate between items (SPEC §3.6).
    pub reevaluate_interval: Duration,
    pub max_attempts: u32,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            lease: Duration::from_secs(30),
            retry_backoff: Duration::from_secs(5),
            poll_interval: Duration::from_millis(500),
            concurrency: 4,
            claim_batch: 16,
            reevaluate_interval: Duration::from_secs(30),
            max_attempts: atlas_core::run::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl EngineConfig {
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn backoff_ms(&self) -> i64 {
        i64::try_from(self.retry_backoff.as_millis()).unwrap_or(i64::MAX)
    }
}
