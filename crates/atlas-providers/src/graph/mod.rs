//! The Microsoft Graph provider (SPEC §5): Intune objects of one tenant,
//! reached with an app-only token (OAuth 2.0 client credentials).
//!
//! Layers: [`client`] sends requests (retries, throttling, error mapping),
//! [`token`] keeps the access token, [`paging`] follows `@odata.nextLink`,
//! [`objects`] reads each registered type whole, [`writes`] creates and
//! updates per the type's write mode, [`assignments`] reads and writes
//! assignments per its assignment mode; this file wires them to the
//! `Provider` trait and holds the health check and compliance summaries.
//! Where each type lives is the registry's business (`atlas_core::object_type`).
//!
//! The write fence is not Graph's business: the engine re-checks its lease
//! between writes, so a Graph write only logs the run it belongs to.

mod assignments;
mod client;
mod clock;
mod objects;
mod paging;
pub mod secret;
mod token;
mod writes;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

pub use self::client::REQUIRED_PERMISSIONS;
use self::client::{segment, GraphClient};
pub use self::clock::{Clock, SystemClock};
use self::secret::SecretString;
use crate::{ComplianceSummary, Health, Kind, Provider, ProviderError, RemoteObject, UpdateOutcome, WriteFence};

/// Where a Graph connection goes and as whom. The secret is a
/// [`SecretString`], so `Debug` of the config never shows it.
#[derive(Clone, Debug)]
pub struct GraphConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// The customer's Entra tenant id (`tid`).
    pub external_tenant_id: String,
    /// Without a trailing slash, e.g. `https://graph.microsoft.com`.
    pub graph_url: String,
    /// Without a trailing slash, e.g. `https://login.microsoftonline.com`.
    pub login_url: String,
    /// Retries after the first attempt for 429, 5xx and timeouts.
    pub max_retries: u32,
    /// Per HTTP request (connect, send and read the answer).
    pub request_timeout: Duration,
}

impl GraphConfig {
    pub const DEFAULT_GRAPH_URL: &'static str = "https://graph.microsoft.com";
    pub const DEFAULT_LOGIN_URL: &'static str = "https://login.microsoftonline.com";
    pub const DEFAULT_MAX_RETRIES: u32 = 4;
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// A connection to the public cloud with default retries and timeout.
    pub fn new(
        external_tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> GraphConfig {
        GraphConfig {
            client_id: client_id.into(),
            client_secret,
            external_tenant_id: external_tenant_id.into(),
            graph_url: Self::DEFAULT_GRAPH_URL.to_owned(),
            login_url: Self::DEFAULT_LOGIN_URL.to_owned(),
            max_retries: Self::DEFAULT_MAX_RETRIES,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// [`GraphConfig::new`], reaching Graph at `endpoints`.
    pub fn at(
        endpoints: &GraphEndpoints,
        external_tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> GraphConfig {
        Self::new(external_tenant_id, client_id, client_secret).with_urls(&endpoints.login_url, &endpoints.graph_url)
    }

    /// Sets both base URLs (a trailing slash is dropped).
    #[must_use]
    pub fn with_urls(mut self, login_url: &str, graph_url: &str) -> GraphConfig {
        self.login_url = login_url.trim().trim_end_matches('/').to_owned();
        self.graph_url = graph_url.trim().trim_end_matches('/').to_owned();
        self
    }
}

/// Where Graph and its token endpoint are: Microsoft's public cloud unless
/// configured otherwise (tests point both at a fake).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphEndpoints {
    /// e.g. `https://login.microsoftonline.com`.
    pub login_url: String,
    /// e.g. `https://graph.microsoft.com`.
    pub graph_url: String,
}

impl Default for GraphEndpoints {
    fn default() -> GraphEndpoints {
        GraphEndpoints {
            login_url: GraphConfig::DEFAULT_LOGIN_URL.to_owned(),
            graph_url: GraphConfig::DEFAULT_GRAPH_URL.to_owned(),
        }
    }
}

/// One tenant's Intune through Microsoft Graph.
pub struct GraphProvider {
    client: GraphClient,
}

impl GraphProvider {
    pub fn new(config: GraphConfig) -> Result<GraphProvider, ProviderError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// With an injected clock: tests observe every wait the provider asks for.
    pub fn with_clock(config: GraphConfig, clock: Arc<dyn Clock>) -> Result<GraphProvider, ProviderError> {
        Ok(GraphProvider { client: GraphClient::new(config, clock)? })
    }

    pub fn config(&self) -> &GraphConfig {
        &self.client.config
    }
}

impl fmt::Debug for GraphProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphProvider").field("config", &self.client.config).finish_non_exhaustive()
    }
}

fn log_write(fence: WriteFence, action: &str, kind: Kind, id: &str) {
    tracing::info!(run_id = %fence.run_id, action, kind = kind.key, object_id = id, "Graph write");
}

fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

#[async_trait]
impl Provider for GraphProvider {
    /// Acquires a new token (never the cached one: consent may have changed
    /// since) and compares the application roles granted in it with
    /// [`REQUIRED_PERMISSIONS`]. A refused token request (wrong secret, no
    /// consent) is an unhealthy connection, not an error; an unreachable
    /// service is an error (retryable).
    async fn check_health(&self) -> Result<Health, ProviderError> {
        let config = &self.client.config;
        let mut details = json!({
            "provider": "microsoft_graph",
            "external_tenant_id": config.external_tenant_id,
            "client_id": config.client_id,
            "required_permissions": REQUIRED_PERMISSIONS,
        });
        let token = match self.client.fresh_token().await {
            Ok(token) => token,
            Err(ProviderError::Unauthorized(why)) => {
                return Ok(Health {
                    ok: false,
                    message: format!("Could not sign in to the tenant: {why}."),
                    missing_permissions: Vec::new(),
                    details,
                })
            }
            Err(e) => return Err(e),
        };
        let Some(claims) = token::claims(token.expose()) else {
            return Ok(Health {
                ok: false,
                message: "Signed in, but the access token's granted roles could not be read.".into(),
                missing_permissions: REQUIRED_PERMISSIONS.iter().map(|p| (*p).to_owned()).collect(),
                details,
            });
        };
        let granted = token::roles(&claims);
        let missing: Vec<String> =
            REQUIRED_PERMISSIONS.iter().filter(|p| !granted.iter().any(|g| g == *p)).map(|p| (*p).to_owned()).collect();
        if let Value::Object(d) = &mut details {
            d.insert("granted_roles".into(), json!(granted));
            d.insert("token_tenant_id".into(), claims.get("tid").cloned().unwrap_or(Value::Null));
            d.insert("app_id".into(), claims.get("appid").cloned().unwrap_or(Value::Null));
            d.insert("app_display_name".into(), claims.get("app_displayname").cloned().unwrap_or(Value::Null));
        }
        let message = if missing.is_empty() {
            format!("Connected to tenant {}; all required permissions are granted.", config.external_tenant_id)
        } else {
            format!(
                "Missing application permissions: {}. Grant them to the app and give admin consent.",
                missing.join(", ")
            )
        };
        Ok(Health { ok: missing.is_empty(), message, missing_permissions: missing, details })
    }

    async fn list_objects(&self, kind: Kind) -> Result<Vec<RemoteObject>, ProviderError> {
        self.client.list_objects(kind).await
    }

    async fn get_object(&self, kind: Kind, id: &str) -> Result<Option<RemoteObject>, ProviderError> {
        self.client.get_object(kind, id).await
    }

    async fn create_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        payload: &Value,
    ) -> Result<RemoteObject, ProviderError> {
        log_write(fence, "create", kind, "");
        self.client.create_object(kind, payload).await
    }

    async fn update_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError> {
        log_write(fence, "update", kind, id);
        self.client.update_object(kind, id, payload).await
    }

    async fn list_assignments(&self, kind: Kind, id: &str) -> Result<Vec<Value>, ProviderError> {
        self.client.list_assignments(kind, id).await
    }

    async fn set_assignments(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        assignments: &[Value],
    ) -> Result<(), ProviderError> {
        log_write(fence, "assign", kind, id);
        self.client.set_assignments(kind, id, assignments).await
    }

    async fn group_exists(&self, group_id: &str) -> Result<bool, ProviderError> {
        let url = self.client.url("v1.0", &format!("groups/{}?$select=id", segment(group_id)));
        match self.client.get(&url).await {
            Ok(_) => Ok(true),
            Err(ProviderError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One summary per compliance policy, from its `deviceStatusOverview`;
    /// a policy without one (no device has reported) counts all zero.
    async fn compliance_summaries(&self) -> Result<Vec<ComplianceSummary>, ProviderError> {
        let list = self.client.url("v1.0", "deviceManagement/deviceCompliancePolicies?$select=id,displayName");
        let mut summaries = Vec::new();
        for policy in self.client.collect(&list).await? {
            let Some(policy_id) = policy.get("id").and_then(Value::as_str) else { continue };
            let display_name = policy.get("displayName").and_then(Value::as_str).unwrap_or(policy_id).to_owned();
            let url = self.client.url(
                "v1.0",
                &format!("deviceManagement/deviceCompliancePolicies/{}/deviceStatusOverview", segment(policy_id)),
            );
            let overview = match self.client.get(&url).await {
                Ok(overview) => overview,
                Err(ProviderError::NotFound(_)) => Value::Null,
                Err(e) => return Err(e),
            };
            summaries.push(ComplianceSummary {
                policy_id: policy_id.to_owned(),
                display_name,
                compliant: count(&overview, "successCount"),
                non_compliant: count(&overview, "failedCount"),
                error: count(&overview, "errorCount"),
                not_applicable: count(&overview, "notApplicableCount"),
            });
        }
        Ok(summaries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_default_to_microsoft_and_drop_a_trailing_slash() {
        let secret = || SecretString::new("s3cret");
        let public = GraphConfig::at(&GraphEndpoints::default(), "tid", "app", secret());
        assert_eq!(public.login_url, "https://login.microsoftonline.com");
        assert_eq!(public.graph_url, "https://graph.microsoft.com");
        let fake = GraphEndpoints { login_url: "http://127.0.0.1:9/".into(), graph_url: " http://127.0.0.1:8".into() };
        let local = GraphConfig::at(&fake, "tid", "app", secret());
        assert_eq!(local.login_url, "http://127.0.0.1:9");
        assert_eq!(local.graph_url, "http://127.0.0.1:8");
    }
}
