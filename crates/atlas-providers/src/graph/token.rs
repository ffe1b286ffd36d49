//! OAuth 2.0 client credentials against the tenant's token endpoint, and the
//! cache that keeps one token until shortly before it expires.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

use super::client::{segment, GraphClient, Repeat};
use super::secret::SecretString;
use crate::ProviderError;

/// A token is renewed this long before Entra says it expires, so a request
/// never sets out with a token that lapses in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

pub(crate) struct CachedToken {
    access_token: SecretString,
    renew_at: Instant,
}

impl GraphClient {
    /// The cached token, or a new one. The lock is held while fetching, so
    /// concurrent callers wait for one token request instead of each sending
    /// their own.
    pub(crate) async fn access_token(&self) -> Result<SecretString, ProviderError> {
        let mut slot = self.token.lock().await;
        if let Some(cached) = slot.as_ref().filter(|t| self.clock.now() < t.renew_at) {
            return Ok(cached.access_token.clone());
        }
        let fresh = self.fetch_token().await?;
        let token = fresh.access_token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    /// A token fetched now, whatever is cached, which then replaces the cached
    /// one: a connection check must see the roles granted at this moment, and
    /// a consent given since the cached token was issued shows only in a new one.
    pub(crate) async fn fresh_token(&self) -> Result<SecretString, ProviderError> {
        let mut slot = self.token.lock().await;
        let fresh = self.fetch_token().await?;
        let token = fresh.access_token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    /// Drops the cached token if it is still the one Graph refused (another
    /// caller may have replaced it already).
    pub(crate) async fn forget_token(&self, refused: &SecretString) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| &t.access_token == refused) {
            *slot = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, ProviderError> {
        let config = &self.config;
        let url = format!("{}/{}/oauth2/v2.0/token", config.login_url, segment(&config.external_tenant_id));
        let scope = format!("{}/.default", config.graph_url);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.expose()),
            ("scope", scope.as_str()),
        ];
        let started = self.clock.now();
        let what = "POST token endpoint";
        let raw = self.execute(what, Repeat::Safe, || self.http.post(&url).form(&form)).await?;
        if !raw.status.is_success() {
            return Err(token_error(raw.status, &raw.body));
        }
        // Never put this body in an error: it holds the token.
        let body: Value = serde_json::from_slice(&raw.body)
            .map_err(|_| ProviderError::Other(format!("{what}: the answer is not JSON")))?;
        let access_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ProviderError::Other(format!("{what}: the answer has no access_token")))?;
        // `expires_in` is a number in v2.0 answers; older endpoints sent a string.
        let expires_in = match body.get("expires_in") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(0);
        let lifetime = Duration::from_secs(expires_in);
        let keep = lifetime.saturating_sub(EXPIRY_MARGIN).max(lifetime / 2);
        tracing::debug!(expires_in, "acquired a Graph token");
        Ok(CachedToken { access_token: SecretString::new(access_token), renew_at: started + keep })
    }
}

/// Entra's `{"error", "error_description"}`: a refusal of the credentials
/// (400/401: wrong secret, unknown app, no consent) is an authorization
/// problem of the connection. The description names the AADSTS code; it never
/// echoes the secret.
fn token_error(status: StatusCode, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = v.get("error").and_then(Value::as_str).unwrap_or("unknown_error");
    let description =
        v.get("error_description").and_then(Value::as_str).and_then(|d| d.lines().next()).unwrap_or_default();
    let detail = format!("token request refused ({status}): {error}: {description}");
    if matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        ProviderError::Unauthorized(detail)
    } else {
        ProviderError::Other(detail)
    }
}

/// The payload claims of a JWT access token. The signature is NOT checked,
/// on purpose: Graph validates the token on every call; we only read the
/// roles Entra granted our own app, for the health report, and trust nothing
/// else in it.
pub(crate) fn claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The application roles (`roles` claim) granted in a token.
pub(crate) fn roles(claims: &Value) -> Vec<String> {
    claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|roles| roles.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}
