//! Engine settings with named defaults, overridable by `ATLAS_…` variables so
//! that tests can make leases and backoffs short.

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
    /// Defaults overridden by `ATLAS_LEASE_MS`, `ATLAS_RETRY_BACKOFF_MS`,
    /// `ATLAS_POLL_INTERVAL_MS`, `ATLAS_WORKER_CONCURRENCY`, `ATLAS_CLAIM_BATCH`,
    /// `ATLAS_REEVALUATE_INTERVAL_MS`, `ATLAS_MAX_ATTEMPTS`. A malformed value is an error.
    pub fn from_env() -> Result<EngineConfig, String> {
        let mut c = EngineConfig::default();
        let ms = |name: &str, slot: &mut Duration| -> Result<(), String> {
            if let Ok(v) = std::env::var(name) {
                let n: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} must be a whole number of milliseconds, not `{v}`"))?;
                *slot = Duration::from_millis(n.max(1));
            }
            Ok(())
        };
        ms("ATLAS_LEASE_MS", &mut c.lease)?;
        ms("ATLAS_RETRY_BACKOFF_MS", &mut c.retry_backoff)?;
        ms("ATLAS_POLL_INTERVAL_MS", &mut c.poll_interval)?;
        ms("ATLAS_REEVALUATE_INTERVAL_MS", &mut c.reevaluate_interval)?;
        let num = |name: &str| -> Result<Option<u64>, String> {
            match std::env::var(name) {
                Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name} must be a whole number, not `{v}`")),
                Err(_) => Ok(None),
            }
        };
        if let Some(n) = num("ATLAS_WORKER_CONCURRENCY")? {
            c.concurrency = usize::try_from(n.max(1)).unwrap_or(1);
        }
        if let Some(n) = num("ATLAS_CLAIM_BATCH")? {
            c.claim_batch = u32::try_from(n.clamp(1, 1000)).unwrap_or(16);
        }
        if let Some(n) = num("ATLAS_MAX_ATTEMPTS")? {
            c.max_attempts = u32::try_from(n.clamp(1, 100)).unwrap_or(3);
        }
        Ok(c)
    }

    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn backoff_ms(&self) -> i64 {
        i64::try_from(self.retry_backoff.as_millis()).unwrap_or(i64::MAX)
    }
}
