//! Configuration, read once: the process environment is captured at start
//! (`Env::capture`), and each command asks for the typed settings it needs,
//! which it passes inward. No library crate reads the environment.
//!
//! The variables (README, "Configuration"): `ATLAS_DATABASE_URL`, `ATLAS_PUBLIC_URL` and
//! `ATLAS_BIND` are clap `env` fields; the others are read here. A malformed
//! number is bad input (exit 2) naming the variable, reported by the commands
//! that use it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use atlas_engine::provider::ProviderConfig;
use atlas_engine::schedule::CronSyntax;
use atlas_engine::scheduler::SchedulerConfig;
use atlas_engine::secrets::Secrets;
use atlas_engine::EngineConfig;
use atlas_providers::graph::secret::SecretString;
use atlas_providers::graph::GraphEndpoints;
use atlas_store::pacing::WriteBudget;

use crate::error::CliError;

/// Where `atlas serve` listens unless told otherwise (`ATLAS_BIND`).
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The variables this binary reads, as the process had them at start.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// `ATLAS_…` and `HOSTNAME` from the process environment.
    pub fn capture() -> Env {
        Env::from_pairs(std::env::vars().filter(|(k, _)| k.starts_with("ATLAS_") || k == "HOSTNAME"))
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Env {
        Env { vars: pairs.into_iter().collect() }
    }

    /// A variable's value, trimmed; a blank one counts as unset.
    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn number(&self, name: &str, unit: &str) -> Result<Option<u64>, CliError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        v.parse().map(Some).map_err(|_| CliError::invalid(format!("{name} must be a whole number{unit}, not `{v}`")))
    }

    /// Milliseconds, at least 1.
    fn millis(&self, name: &str) -> Result<Option<Duration>, CliError> {
        Ok(self.number(name, " of milliseconds")?.map(|n| Duration::from_millis(n.max(1))))
    }

    /// `EngineConfig`'s defaults overridden by `ATLAS_LEASE_MS`,
    /// `ATLAS_RETRY_BACKOFF_MS`, `ATLAS_POLL_INTERVAL_MS`,
    /// `ATLAS_REEVALUATE_INTERVAL_MS`, `ATLAS_WORKER_CONCURRENCY`,
    /// `ATLAS_CLAIM_BATCH` (1–1000) and `ATLAS_MAX_ATTEMPTS` (1–100).
    pub fn engine(&self) -> Result<EngineConfig, CliError> {
        let mut c = EngineConfig::default();
        for (name, slot) in [
            ("ATLAS_LEASE_MS", &mut c.lease),
            ("ATLAS_RETRY_BACKOFF_MS", &mut c.retry_backoff),
            ("ATLAS_POLL_INTERVAL_MS", &mut c.poll_interval),
            ("ATLAS_REEVALUATE_INTERVAL_MS", &mut c.reevaluate_interval),
        ] {
            if let Some(d) = self.millis(name)? {
                *slot = d;
            }
        }
        if let Some(n) = self.number("ATLAS_WORKER_CONCURRENCY", "")? {
            c.concurrency = usize::try_from(n.max(1)).unwrap_or(1);
        }
        if let Some(n) = self.number("ATLAS_CLAIM_BATCH", "")? {
            c.claim_batch = u32::try_from(n.clamp(1, 1000)).unwrap_or(16);
        }
        if let Some(n) = self.number("ATLAS_MAX_ATTEMPTS", "")? {
            c.max_attempts = u32::try_from(n.clamp(1, 100)).unwrap_or(3);
        }
        Ok(c)
    }

    /// How long a stopping worker waits for in-flight runs before it hands
    /// them back to the queue: `ATLAS_WORKER_SHUTDOWN_GRACE_MS` (default 10 000).
    pub fn shutdown_grace(&self) -> Result<Duration, CliError> {
        Ok(self.millis("ATLAS_WORKER_SHUTDOWN_GRACE_MS")?.unwrap_or(atlas_engine::worker::DEFAULT_SHUTDOWN_GRACE))
    }

    /// Provider settings: `ATLAS_WRITE_BUDGET` writes (default 100) per
    /// `ATLAS_WRITE_WINDOW_MS` (default 20 000), the Graph endpoints
    /// (`ATLAS_GRAPH_LOGIN_URL`, `ATLAS_GRAPH_BASE_URL`) and the secrets.
    pub fn providers(&self) -> Result<ProviderConfig, CliError> {
        let default = WriteBudget::default();
        let limit = self
            .number("ATLAS_WRITE_BUDGET", "")?
            .map_or(default.limit, |n| u32::try_from(n.max(1)).unwrap_or(u32::MAX));
        let window_ms = self
            .millis("ATLAS_WRITE_WINDOW_MS")?
            .map_or(default.window_ms, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let graph = GraphEndpoints::default();
        let graph = GraphEndpoints {
            login_url: self.get("ATLAS_GRAPH_LOGIN_URL").map_or(graph.login_url, str::to_owned),
            graph_url: self.get("ATLAS_GRAPH_BASE_URL").map_or(graph.graph_url, str::to_owned),
        };
        Ok(ProviderConfig { write_budget: WriteBudget { limit, window_ms }, graph, secrets: self.secrets() })
    }

    /// `ATLAS_SECRET_KEY`, else a key generated into `ATLAS_DATA_DIR`
    /// (default `./atlas-data`).
    pub fn secrets(&self) -> Secrets {
        Secrets {
            key: self.get("ATLAS_SECRET_KEY").map(SecretString::new),
            data_dir: self
                .get("ATLAS_DATA_DIR")
                .map_or_else(|| PathBuf::from(Secrets::DEFAULT_DATA_DIR), PathBuf::from),
        }
    }

    /// `ATLAS_SCHEDULER_TICK_MS` (default 10 s), and the engine's attempts.
    pub fn scheduler(&self, engine: &EngineConfig) -> Result<SchedulerConfig, CliError> {
        let tick = self.millis("ATLAS_SCHEDULER_TICK_MS")?.unwrap_or(SchedulerConfig::DEFAULT_TICK);
        Ok(SchedulerConfig { tick, max_attempts: engine.max_attempts, cron: self.cron() })
    }

    /// `ATLAS_CRON_ALLOW_SECONDS=1` (tests only) accepts a leading seconds field.
    pub fn cron(&self) -> CronSyntax {
        if self.get("ATLAS_CRON_ALLOW_SECONDS") == Some("1") {
            CronSyntax::WithSeconds
        } else {
            CronSyntax::Standard
        }
    }

    /// This node's name in worker ids: `HOSTNAME`, else `atlas`.
    pub fn node(&self) -> &str {
        self.get("HOSTNAME").unwrap_or(atlas_engine::worker::DEFAULT_NODE)
    }

    /// `ATLAS_APPROVAL_VALIDITY_MS`: how long an approval stays valid (default 24 h).
    pub fn approval_validity_ms(&self) -> Result<i64, CliError> {
        Ok(self
            .millis("ATLAS_APPROVAL_VALIDITY_MS")?
            .map_or(atlas_core::approval::DEFAULT_VALIDITY_MS, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// `ATLAS_BIND`, the console's address when no public URL is given.
    pub fn bind(&self) -> Option<&str> {
        self.get("ATLAS_BIND")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    #[test]
    fn unset_variables_give_the_documented_defaults() {
        let e = env(&[]);
        let engine = e.engine().unwrap();
        let d = EngineConfig::default();
        assert_eq!((engine.lease, engine.concurrency, engine.claim_batch), (d.lease, d.concurrency, d.claim_batch));
        let p = e.providers().unwrap();
        assert_eq!(p.write_budget, WriteBudget { limit: 100, window_ms: 20_000 });
        assert_eq!(p.graph, GraphEndpoints::default());
        assert!(p.secrets.key.is_none());
        assert_eq!(p.secrets.data_dir, PathBuf::from("atlas-data"));
        let s = e.scheduler(&engine).unwrap();
        assert_eq!((s.tick, s.cron), (Duration::from_secs(10), CronSyntax::Standard));
        assert_eq!((e.node(), e.bind()), ("atlas", None));
        assert_eq!(e.approval_validity_ms().unwrap(), 86_400_000);
    }

    #[test]
    fn variables_override_and_are_clamped() {
        let e = env(&[
            ("ATLAS_LEASE_MS", "0"),
            ("ATLAS_CLAIM_BATCH", "5000"),
            ("ATLAS_MAX_ATTEMPTS", " 7 "),
            ("ATLAS_WORKER_CONCURRENCY", "12"),
            ("ATLAS_WRITE_BUDGET", "6"),
            ("ATLAS_WRITE_WINDOW_MS", "1000"),
            ("ATLAS_GRAPH_LOGIN_URL", "http://127.0.0.1:9"),
            ("ATLAS_GRAPH_BASE_URL", " "),
            ("ATLAS_SECRET_KEY", "00ff"),
            ("ATLAS_DATA_DIR", "/var/lib/atlas"),
            ("ATLAS_SCHEDULER_TICK_MS", "250"),
            ("ATLAS_CRON_ALLOW_SECONDS", "1"),
            ("HOSTNAME", "node-3"),
            ("ATLAS_BIND", " 0.0.0.0:9090 "),
            ("ATLAS_APPROVAL_VALIDITY_MS", "3600000"),
        ]);
        assert_eq!(e.approval_validity_ms().unwrap(), 3_600_000);
        let engine = e.engine().unwrap();
        assert_eq!(engine.lease, Duration::from_millis(1));
        assert_eq!((engine.claim_batch, engine.max_attempts, engine.concurrency), (1000, 7, 12));
        let p = e.providers().unwrap();
        assert_eq!(p.write_budget, WriteBudget { limit: 6, window_ms: 1000 });
        assert_eq!(p.graph.login_url, "http://127.0.0.1:9");
        assert_eq!(p.graph.graph_url, GraphEndpoints::default().graph_url, "blank is unset");
        assert_eq!(p.secrets.key.as_ref().map(SecretString::expose), Some("00ff"));
        assert_eq!(p.secrets.data_dir, PathBuf::from("/var/lib/atlas"));
        let s = e.scheduler(&engine).unwrap();
        assert_eq!((s.tick, s.max_attempts, s.cron), (Duration::from_millis(250), 7, CronSyntax::WithSeconds));
        assert_eq!((e.node(), e.bind()), ("node-3", Some("0.0.0.0:9090")));
    }

    #[test]
    fn a_malformed_number_names_its_variable() {
        let e = env(&[("ATLAS_LEASE_MS", "soon"), ("ATLAS_WRITE_BUDGET", "-1")]);
        let err = e.engine().err().unwrap();
        assert_eq!(err.exit, crate::error::EXIT_BAD_INPUT);
        assert!(err.to_string().contains("ATLAS_LEASE_MS"), "{err}");
        assert!(e.providers().err().unwrap().to_string().contains("ATLAS_WRITE_BUDGET"));
    }
}
