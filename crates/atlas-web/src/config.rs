//! Console settings, typed, with named defaults. `atlas-cli` builds one from
//! its flags and `ATLAS_…` variables and passes it in.

use std::net::SocketAddr;
use std::time::Duration;

use atlas_engine::schedule::CronSyntax;
use atlas_engine::secrets::Secrets;
use atlas_store::throttle::ThrottlePolicy;

#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Where to listen; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// Marks cookies `Secure` and sends HSTS (behind TLS: `with_public_url`
    /// sets it for an `https://` address).
    pub secure_cookies: bool,
    /// A session ends this long after it was last used.
    pub session_idle: Duration,
    /// The largest request body accepted (413 above it; a larger declared
    /// `Content-Length` is refused before the body is read).
    pub body_limit: usize,
    /// How long a client may take to send a request's headers before the
    /// connection is closed.
    pub header_read_timeout: Duration,
    /// Failed sign-ins: per (account, address) delays and a per-address limit.
    pub throttle: ThrottlePolicy,
    /// `/metrics` answers only with `Authorization: Bearer <this>`; without
    /// it, `/metrics` is not served on the console's address at all (a
    /// separate metrics address may still serve it, see `metrics_bind`).
    pub metrics_token: Option<String>,
    /// A second address that serves only `/metrics` (and `/healthz`), without
    /// a token: for a scraper on a private network.
    pub metrics_bind: Option<SocketAddr>,
    /// The key that seals provider secrets entered in the console or the API.
    pub secrets: Secrets,
    /// Which cron expressions schedules may use.
    pub cron: CronSyntax,
    /// How often the live channel reads a watched workspace's runs.
    pub live_tick: Duration,
    /// The console's public address (`ATLAS_PUBLIC_URL`), for links the
    /// server gives out without a request to take the host from.
    pub public_url: Option<String>,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            secure_cookies: false,
            session_idle: Duration::from_secs(12 * 3600),
            body_limit: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            throttle: ThrottlePolicy::default(),
            metrics_token: None,
            metrics_bind: None,
            secrets: Secrets::default(),
            cron: CronSyntax::default(),
            live_tick: Duration::from_secs(1),
            public_url: None,
        }
    }
}

impl WebConfig {
    /// The defaults, listening on `bind`.
    pub fn new(bind: SocketAddr) -> WebConfig {
        WebConfig { bind, ..WebConfig::default() }
    }

    /// The address people reach the console at (`ATLAS_PUBLIC_URL`): an
    /// `https://` one means TLS in front, so cookies are `Secure` and HSTS is sent.
    pub fn with_public_url(mut self, url: &str) -> Result<WebConfig, String> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") {
            self.secure_cookies = true;
        } else if !lower.starts_with("http://") {
            return Err(format!("ATLAS_PUBLIC_URL `{url}` must start with http:// or https://"));
        }
        self.public_url = Some(url.trim_end_matches('/').to_owned());
        Ok(self)
    }
}
