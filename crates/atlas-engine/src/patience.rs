//! The one provider-call retry policy, for every family: a throttled (429)
//! or unavailable (503, a dropped database connection behind the sandbox)
//! call is tried again a few times within the call, honouring Retry-After,
//! before the error reaches the family — which then fails the item or the
//! attempt as retryable, and the run goes back to the queue with backoff.
//! A Retry-After longer than [`MAX_WAIT`] is not waited out here: holding a
//! worker slot that long is worse than rescheduling the run.
//!
//! Writes are retried too: a retryable error means the service refused the
//! call (Graph's client already tells a maybe-applied write apart and does
//! not surface it as retryable), so trying again cannot apply it twice.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use atlas_providers::{
    ComplianceSummary, Health, Kind, Provider, ProviderError, RemoteObject, UpdateOutcome, WriteFence,
};
use serde_json::Value;

/// Tries after the first call.
pub const RETRIES: u32 = 3;
/// The first backoff of an unavailable call without Retry-After, doubled per try.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait inside one call.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// How long to wait before trying `error` again after `tries` retries, or
/// `None` to give up and let the error through.
pub fn next_wait(error: &ProviderError, tries: u32) -> Option<Duration> {
    if !error.retryable() || tries >= RETRIES {
        return None;
    }
    let wait = match error {
        ProviderError::Throttled { retry_after_ms } => Duration::from_millis(*retry_after_ms),
        _ => FIRST_BACKOFF * 2u32.pow(tries),
    };
    (wait <= MAX_WAIT).then_some(wait)
}

/// Calls `call` until it answers, fails for good, or [`next_wait`] gives up.
pub async fn patiently<T, F, Fut>(mut call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(e) => match next_wait(&e, tries) {
                Some(wait) => {
                    tries += 1;
                    tracing::debug!(error = %e, try_ = tries, wait_ms = wait.as_millis() as u64, "provider call retried");
                    tokio::time::sleep(wait).await;
                }
                None => return Err(e),
            },
            ok => return ok,
        }
    }
}

/// A provider whose every call follows the retry policy.
pub struct Patient {
    inner: Arc<dyn Provider>,
}

impl Patient {
    pub fn new(inner: Arc<dyn Provider>) -> Patient {
        Patient { inner }
    }
}

#[async_trait]
impl Provider for Patient {
    async fn check_health(&self) -> Result<Health, ProviderError> {
        patiently(|| self.inner.check_health()).await
    }

    async fn list_objects(&self, kind: Kind) -> Result<Vec<RemoteObject>, ProviderError> {
        patiently(|| self.inner.list_objects(kind)).await
    }

    async fn get_object(&self, kind: Kind, id: &str) -> Result<Option<RemoteObject>, ProviderError> {
        patiently(|| self.inner.get_object(kind, id)).await
    }

    async fn create_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        payload: &Value,
    ) -> Result<RemoteObject, ProviderError> {
        patiently(|| self.inner.create_object(fence, kind, payload)).await
    }

    async fn update_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError> {
        patiently(|| self.inner.update_object(fence, kind, id, payload)).await
    }

    async fn list_assignments(&self, kind: Kind, id: &str) -> Result<Vec<Value>, ProviderError> {
        patiently(|| self.inner.list_assignments(kind, id)).await
    }

    async fn set_assignments(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        assignments: &[Value],
    ) -> Result<(), ProviderError> {
        patiently(|| self.inner.set_assignments(fence, kind, id, assignments)).await
    }

    async fn group_exists(&self, group_id: &str) -> Result<bool, ProviderError> {
        patiently(|| self.inner.group_exists(group_id)).await
    }

    async fn compliance_summaries(&self) -> Result<Vec<ComplianceSummary>, ProviderError> {
        patiently(|| self.inner.compliance_summaries()).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn the_policy_backs_off_honours_retry_after_and_gives_up() {
        let unavailable = ProviderError::Transient("503".into());
        let waits: Vec<_> = (0..=RETRIES).map(|t| next_wait(&unavailable, t)).collect();
        assert_eq!(
            waits,
            [
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(400)),
                None
            ]
        );
        let throttled = ProviderError::Throttled { retry_after_ms: 7_000 };
        assert_eq!(next_wait(&throttled, 0), Some(Duration::from_secs(7)));
        let long = ProviderError::Throttled { retry_after_ms: 120_000 };
        assert_eq!(next_wait(&long, 0), None, "a long Retry-After reschedules the run instead");
        assert_eq!(next_wait(&ProviderError::Unauthorized("no".into()), 0), None, "not retryable");
        assert_eq!(next_wait(&ProviderError::Fenced, 0), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_is_tried_until_it_answers_or_the_tries_run_out() {
        let calls = AtomicU32::new(0);
        let flaky = |fail: u32| {
            let calls = &calls;
            move || async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < fail {
                    Err(ProviderError::Transient("503".into()))
                } else {
                    Ok(n)
                }
            }
        };
        assert_eq!(patiently(flaky(3)).await, Ok(3), "three failures are absorbed");
        calls.store(0, Ordering::SeqCst);
        assert!(matches!(patiently(flaky(4)).await, Err(ProviderError::Transient(_))), "the fourth is not");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
