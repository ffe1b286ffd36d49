//! Time, injectable: the provider asks a [`Clock`] what time it is (token
//! expiry) and to wait (throttling and retry backoff), so tests can observe
//! every requested wait and move time on without sleeping.

use std::time::{Duration, Instant};

use async_trait::async_trait;

#[async_trait]
pub trait Clock: Send + Sync {
    /// Now, on a monotonic clock.
    fn now(&self) -> Instant;
    /// Waits `duration`; a test clock records it (and may just advance).
    async fn sleep(&self, duration: Duration);
}

/// The real clock, through tokio's time (so paused tokio time applies too).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
