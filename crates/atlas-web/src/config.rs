//! Console settings, typed, with named defaults. `atlas-cli` builds one from
//! its flags and `ATLAS_…` variables and passes it in.

use std::net::SocketAddr;
use std::time::Duration;

use atlas_engine::schedule::CronSyntax;
use atlas_engine::secrets::Secrets;

#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Where to listen; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// Marks cookies `Secure` (behind TLS).
    pub secure_cookies: bool,
    /// A session ends this long after it was last used.
    pub session_idle: Duration,
    /// The largest request body accepted (413 above it).
    pub body_limit: usize,
    /// Failed sign-ins allowed per email and address within `login_window`.
    pub login_max_failures: i64,
    /// Failed sign-ins allowed per email from all addresses within `login_window`.
    pub login_max_failures_per_email: i64,
    pub login_window: Duration,
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
            login_max_failures: 5,
            login_max_failures_per_email: 20,
            login_window: Duration::from_secs(15 * 60),
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
}
