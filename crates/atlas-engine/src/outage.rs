//! What an operator reads while the database is away: one line when a loop
//! of the worker first fails to reach it, one when it is back, and nothing in
//! between — a loop that retries every 250 ms would otherwise write four
//! warnings a second for the length of the outage.

use std::time::{Duration, Instant};

use atlas_store::StoreError;
use tracing::{debug, warn};

#[derive(Debug)]
pub struct Outage {
    /// Which loop this is ("claim", "rescue", "audit seal").
    what: &'static str,
    since: Option<Instant>,
}

impl Outage {
    pub fn new(what: &'static str) -> Outage {
        Outage { what, since: None }
    }

    /// A round failed; the loop tries again in `retry_in`.
    pub fn failed(&mut self, error: &StoreError, retry_in: Duration) {
        if self.since.is_some() {
            debug!(error = %error, "{}: database still unavailable", self.what);
            return;
        }
        self.since = Some(Instant::now());
        warn!(
            error = %error,
            "{}: database unavailable, retrying in {}",
            self.what,
            words(retry_in)
        );
    }

    /// A round succeeded: says so once after an outage.
    pub fn succeeded(&mut self) {
        if let Some(since) = self.since.take() {
            warn!("{}: database available again after {}", self.what, words(since.elapsed()));
        }
    }

    pub fn is_out(&self) -> bool {
        self.since.is_some()
    }
}

/// A duration as a person reads it: "250 ms", "3.2 s".
fn words(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_and_its_end_once() {
        let mut o = Outage::new("claim");
        assert!(!o.is_out());
        o.failed(&StoreError::Invalid("down".into()), Duration::from_millis(500));
        o.failed(&StoreError::Invalid("down".into()), Duration::from_millis(500));
        assert!(o.is_out());
        o.succeeded();
        assert!(!o.is_out());
    }

    #[test]
    fn durations_read_in_words() {
        assert_eq!(words(Duration::from_millis(250)), "250 ms");
        assert_eq!(words(Duration::from_millis(3_250)), "3.2 s");
    }
}
