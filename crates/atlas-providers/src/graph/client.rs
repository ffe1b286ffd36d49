//! The HTTP layer: one retry loop for every request (Graph and the token
//! endpoint), and the one place Graph's answers become `ProviderError`s.
//!
//! Retried here, up to `max_retries` times: 429 (after `Retry-After`, else
//! exponential backoff with jitter), 5xx (after `Retry-After` if the service
//! sent one, else backoff), timeouts and connection failures (backoff). What
//! is still failing after that surfaces as `Throttled` or `Transient`, both
//! retryable, so the run goes back to the queue instead of failing for good.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;

use super::clock::Clock;
use super::token::CachedToken;
use super::GraphConfig;
use crate::ProviderError;

/// First backoff step; doubled per retry up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(32);
/// A `Retry-After` longer than this is not waited out inside one call: the
/// error goes up (retryable) and the run is rescheduled instead of holding a
/// worker for minutes.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(120);

/// The permissions the product needs, by the name Entra shows them.
pub const REQUIRED_PERMISSIONS: [&str; 4] = [
    "DeviceManagementConfiguration.ReadWrite.All",
    "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementServiceConfig.ReadWrite.All",
    "Group.Read.All",
];

pub(crate) struct GraphClient {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: GraphConfig,
    pub(crate) http: reqwest::Client,
    pub(crate) token: Mutex<Option<CachedToken>>,
}

/// A response read whole: status, `Retry-After` and body.
pub(crate) struct Raw {
    pub(crate) body: Vec<u8>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) status: StatusCode,
}

impl GraphClient {
    pub(crate) fn new(config: GraphConfig, clock: Arc<dyn Clock>) -> Result<GraphClient, ProviderError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("TenantAtlas/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| ProviderError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(GraphClient { clock, config, http, token: Mutex::new(None) })
    }

    /// `{graph}/{version}/{path}`.
    pub(crate) fn url(&self, version: &str, path: &str) -> String {
        format!("{}/{version}/{path}", self.config.graph_url)
    }

    /// Sends a request built by `build` (again for every attempt) until it
    /// gets an answer that is not worth retrying, and returns that answer.
    pub(crate) async fn execute(
        &self,
        what: &str,
        repeat: Repeat,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Raw, ProviderError> {
        let mut retries = 0u32;
        loop {
            let (wait, failure) = match self.attempt(&build).await {
                Ok(raw) if raw.status == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = raw.retry_after.unwrap_or_else(|| backoff(retries));
                    (wait, Failure::Throttled)
                }
                Ok(raw) if raw.status.is_server_error() => {
                    let wait = raw.retry_after.unwrap_or_else(|| backoff(retries));
                    let why = format!("{}: {}", raw.status, error_text(&raw.body));
                    // A 503 is a refusal to take the request; 500/502/504 may
                    // come after the work was done.
                    let applied = raw.status != StatusCode::SERVICE_UNAVAILABLE;
                    (wait, Failure::Unavailable { why, maybe_applied: applied })
                }
                Ok(raw) => return Ok(raw),
                Err(e) if e.is_builder() => {
                    return Err(ProviderError::Other(format!("{what}: invalid request: {}", e.without_url())))
                }
                Err(e) => {
                    let kind = if e.is_timeout() { "timed out" } else { "connection failed" };
                    let maybe_applied = !e.is_connect();
                    let why = format!("{kind}: {}", e.without_url());
                    (backoff(retries), Failure::Unavailable { why, maybe_applied })
                }
            };
            if let (Repeat::OnlyIfUnapplied, Failure::Unavailable { why, maybe_applied: true }) = (repeat, &failure) {
                return Err(ProviderError::Other(format!(
                    "{what}: {why}; it may have been applied, so it is not repeated (check the tenant for the object)"
                )));
            }
            if retries >= self.config.max_retries || wait > MAX_INLINE_WAIT {
                let attempts = retries + 1;
                return Err(match failure {
                    Failure::Throttled => {
                        ProviderError::Throttled { retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX) }
                    }
                    Failure::Unavailable { why, .. } => {
                        ProviderError::Transient(format!("{what}: {why} (after {attempts} attempts)"))
                    }
                });
            }
            retries += 1;
            tracing::warn!(
                request = what,
                retry = retries,
                wait_ms = wait.as_millis() as u64,
                reason = failure.label(),
                "Graph request will be retried"
            );
            self.clock.sleep(wait).await;
        }
    }

    async fn attempt(&self, build: &impl Fn() -> RequestBuilder) -> Result<Raw, reqwest::Error> {
        let response = build().timeout(self.config.request_timeout).send().await?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await?.to_vec();
        Ok(Raw { body, retry_after, status })
    }

    /// A Graph call that is safe to repeat ([`Repeat::Safe`]).
    pub(crate) async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        self.send(method, url, body, Repeat::Safe).await
    }

    /// A Graph call with the cached token; on a 401 (a refusal: nothing was
    /// done) the token is refreshed once and the call repeated. 2xx answers
    /// give their JSON body (`Null` when empty, as for a 204).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Value, ProviderError> {
        let what = describe(&method, url);
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            let raw = self
                .execute(&what, repeat, || {
                    let request = self.http.request(method.clone(), url).bearer_auth(token.expose());
                    match body {
                        Some(body) => request.json(body),
                        None => request,
                    }
                })
                .await?;
            if raw.status.is_success() {
                return json_body(&what, &raw.body);
            }
            if raw.status == StatusCode::UNAUTHORIZED && !refreshed {
                tracing::info!(request = %what, "Graph refused the token; refreshing it once");
                self.forget_token(&token).await;
                refreshed = true;
                continue;
            }
            return Err(graph_error(&what, url, &raw));
        }
    }

    pub(crate) async fn get(&self, url: &str) -> Result<Value, ProviderError> {
        self.request(Method::GET, url, None).await
    }
}

/// Whether a request may be sent again after a failure that leaves open
/// whether it was carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads, PATCH/PUT, `/assign` (it replaces the set), the token: doing
    /// them twice is the same as once.
    Safe,
    /// Creates: a second POST after a timeout or a 500 could make a
    /// duplicate, which a restore must never do. Repeated only after answers
    /// that say the request was not taken (429, 503, no connection).
    OnlyIfUnapplied,
}

enum Failure {
    Throttled,
    Unavailable { why: String, maybe_applied: bool },
}

impl Failure {
    fn label(&self) -> &'static str {
        match self {
            Failure::Throttled => "throttled",
            Failure::Unavailable { .. } => "unavailable",
        }
    }
}

/// Exponential backoff with jitter: a random wait in the upper half of
/// `BASE_BACKOFF * 2^retry` (capped), so many clients throttled together do
/// not come back together.
fn backoff(retry: u32) -> Duration {
    let ceiling = BASE_BACKOFF.saturating_mul(1u32 << retry.min(16)).min(MAX_BACKOFF);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::thread_rng().gen_range(ceiling_ms / 2..=ceiling_ms))
}

/// `Retry-After` as delta-seconds, fractions allowed (Graph sends both `10`
/// and `2.128`). The HTTP-date form is not used by Graph and falls back to
/// backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

fn json_body(what: &str, body: &[u8]) -> Result<Value, ProviderError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| ProviderError::Other(format!("{what}: the answer is not JSON: {e}")))
}

/// `GET /v1.0/deviceManagement/deviceConfigurations`: method and path, no
/// origin or query (skip tokens are long and say nothing).
pub(crate) fn describe(method: &Method, url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{method} {}", u.path()),
        Err(_) => format!("{method} {url}"),
    }
}

/// Graph's error envelope `{"error": {"code", "message"}}`. Intune puts a JSON
/// document inside `message`; its `Message` is the readable part.
pub(crate) fn error_parts(body: &[u8]) -> (String, String) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (String::new(), String::from_utf8_lossy(body).chars().take(300).collect());
    };
    let error = v.get("error").unwrap_or(&Value::Null);
    let code = error.get("code").and_then(Value::as_str).unwrap_or_default().to_owned();
    let message = error.get("message").and_then(Value::as_str).unwrap_or_default();
    let inner = serde_json::from_str::<Value>(message)
        .ok()
        .and_then(|m| m.get("Message").and_then(Value::as_str).map(str::to_owned));
    (code, inner.unwrap_or_else(|| message.to_owned()))
}

fn error_text(body: &[u8]) -> String {
    match error_parts(body) {
        (code, message) if code.is_empty() => message,
        (code, message) => format!("{code}: {message}"),
    }
}

/// Maps a final non-2xx Graph answer to the provider's error.
fn graph_error(what: &str, url: &str, raw: &Raw) -> ProviderError {
    let (code, message) = error_parts(&raw.body);
    let detail = if code.is_empty() { message.clone() } else { format!("{code}: {message}") };
    match raw.status {
        StatusCode::UNAUTHORIZED => ProviderError::Unauthorized(format!(
            "{what}: 401 even with a fresh token ({detail}); check the app registration and admin consent"
        )),
        StatusCode::FORBIDDEN => {
            let permission = missing_permission(&message, url);
            ProviderError::Unauthorized(format!("{what}: missing permission {permission} (403 {detail})"))
        }
        StatusCode::NOT_FOUND => ProviderError::NotFound(format!("{what}: {detail}")),
        status => ProviderError::Other(format!("{what}: {status} {detail}")),
    }
}

/// The permission a 403 is about. Intune names the scopes it accepts ("must
/// have one of the following scopes: A, B - Operation ID …"): the one of
/// those we require, else the list. Directory errors name none, so it is
/// inferred from the resource.
pub(crate) fn missing_permission(message: &str, url: &str) -> String {
    const MARKER: &str = "following scopes:";
    if let Some(start) = message.find(MARKER) {
        let rest = &message[start + MARKER.len()..];
        let list = rest.split(" - ").next().unwrap_or(rest);
        let scopes: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if let Some(needed) = REQUIRED_PERMISSIONS.iter().find(|p| scopes.contains(p)) {
            return (*needed).to_owned();
        }
        if !scopes.is_empty() {
            return scopes.join(" or ");
        }
    }
    let path = reqwest::Url::parse(url).map(|u| u.path().to_owned()).unwrap_or_default();
    let permission = if path.contains("/groups") {
        "Group.Read.All"
    } else if path.contains("/deviceAppManagement/") {
        "DeviceManagementApps.ReadWrite.All"
    } else {
        "DeviceManagementConfiguration.ReadWrite.All"
    };
    permission.to_owned()
}

/// Percent-encodes one path segment (an object id from a backup is data, not
/// a path).
pub(crate) fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_within_its_window() {
        for retry in 0..8 {
            let ceiling = BASE_BACKOFF.saturating_mul(1 << retry).min(MAX_BACKOFF);
            let wait = backoff(retry);
            assert!(wait <= ceiling && wait >= ceiling / 2, "retry {retry}: {wait:?}");
        }
    }

    #[test]
    fn intune_403_names_the_required_scope() {
        let message = "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementConfiguration.Read.All, DeviceManagementConfiguration.ReadWrite.All - Operation ID (for customer support): 0";
        assert_eq!(
            missing_permission(message, "https://graph.microsoft.com/v1.0/deviceManagement/deviceConfigurations"),
            "DeviceManagementConfiguration.ReadWrite.All"
        );
        assert_eq!(
            missing_permission("Insufficient privileges", "https://graph.microsoft.com/v1.0/groups/x"),
            "Group.Read.All"
        );
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("T_24b2-x"), "T_24b2-x");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
    }
}
