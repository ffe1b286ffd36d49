//! A world built through the CLI (a workspace, users of every role, a sandbox
//! tenant with its write gate open), the same against PostgreSQL, and child
//! processes that never outlive a failing test.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Atlas, Outcome};

pub const OWNER: &str = "olivia@example.com";
pub const MANAGER: &str = "jane@example.com";
pub const OPERATOR: &str = "omar@example.com";
pub const READONLY: &str = "rita@example.com";
/// A user with no membership in the workspace.
pub const OUTSIDER: &str = "oscar@example.com";

/// Worker settings that keep tests short: quick polls and backoffs.
pub const FAST: &[(&str, &str)] =
    &[("ATLAS_POLL_INTERVAL_MS", "25"), ("ATLAS_RETRY_BACKOFF_MS", "50"), ("ATLAS_LEASE_MS", "5000")];

/// Runs a future to completion on a private runtime (for sync tests).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

/// The store in-process, on a runtime of its own, for sync tests that poll it
/// while child processes work.
pub struct Db {
    rt: tokio::runtime::Runtime,
    pub store: atlas_store::Store,
}

impl Db {
    /// Runs one store call (or any future) to completion.
    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.rt.block_on(self.store.close());
    }
}

impl Atlas {
    /// A connection to this database for the duration of a test.
    pub fn db(&self) -> Db {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let store = rt.block_on(atlas_store::Store::connect(&self.url)).expect("connect");
        rt.block_on(store.migrate()).expect("migrate");
        Db { rt, store }
    }

    /// A fresh PostgreSQL schema, or `None` when PostgreSQL is absent and not required.
    pub fn postgres() -> Option<Atlas> {
        block_on(atlas_store::testkit::postgres_url()).map(|url| Atlas { url })
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// Starts `atlas ARGS` with extra environment; the child is killed if the
    /// returned guard is dropped before it exits.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_atlas"));
        cmd.args(args)
            .env("ATLAS_DATABASE_URL", &self.url)
            .env("ATLAS_SECRET_KEY", super::TEST_SECRET_KEY)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn atlas");
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        Proc { child: Some(child), what: format!("atlas {}", args.join(" ")), stdout, stderr }
    }

    /// `atlas ARGS` with extra environment, killed (and the test failed) after `limit`.
    pub fn run_bounded(&self, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Outcome {
        self.spawn(args, env).wait(limit)
    }

    /// `atlas worker --until-idle --json` with fast settings; returns its report.
    pub fn drain(&self) -> Value {
        self.drain_with(&[])
    }

    pub fn drain_with(&self, env: &[(&str, &str)]) -> Value {
        let env: Vec<(&str, &str)> = FAST.iter().chain(env).copied().collect();
        let out = self.run_bounded(&["worker", "--until-idle", "--json"], &env, Duration::from_secs(90));
        assert_eq!(out.code, 0, "worker failed: {out:?}");
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("bad worker report: {e}: {out:?}"))
    }

    /// `runs show RUN --json`.
    pub fn show(&self, run: &str) -> Value {
        self.ok(&["runs", "show", run])
    }

    /// The ids of every run, newest first.
    pub fn run_ids(&self) -> Vec<String> {
        let runs = self.ok(&["runs", "list", "--limit", "500"]);
        runs["data"].as_array().expect("a list").iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect()
    }

    /// Works on the store in-process (what the CLI does not show: journals,
    /// notifications, out-of-band edits of the sandbox).
    pub fn with_store<T, F, Fut>(&self, f: F) -> T
    where
        F: FnOnce(atlas_store::Store) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        block_on(async {
            let store = atlas_store::Store::connect(&self.url).await.expect("connect");
            let out = f(store.clone()).await;
            store.close().await;
            out
        })
    }

    /// A workspace `acme` with an owner, a manager, an operator, a readonly
    /// member and an outsider, and an active sandbox tenant `Contoso North`
    /// with its write gate open. Returns the tenant's id.
    pub fn world(&self) -> String {
        self.ok(&["workspaces", "add", "--slug", "acme", "--name", "Acme"]);
        for (email, name, role) in [
            (OWNER, "Olivia Owner", Some("owner")),
            (MANAGER, "Jane Doe", Some("manager")),
            (OPERATOR, "Omar Operator", Some("operator")),
            (READONLY, "Rita Reader", Some("readonly")),
            (OUTSIDER, "Oscar Outsider", None),
        ] {
            self.ok(&["users", "add", "--email", email, "--name", name]);
            if let Some(role) = role {
                self.ok(&["members", "grant", "--workspace", "acme", "--email", email, "--role", role]);
            }
        }
        self.tenant("Contoso North")
    }

    /// Another active sandbox tenant of `acme`, writes open; returns its id.
    pub fn tenant(&self, name: &str) -> String {
        let t = self.ok(&["tenants", "add", "--workspace", "acme", "--name", name, "--writes", "open"]);
        let id = t["id"].as_str().expect("tenant id").to_owned();
        let c = self.ok(&["connections", "add", "--tenant", &id, "--kind", "sandbox"]);
        assert_eq!(c["status"], "enabled", "{c}");
        id
    }

    /// `runs start` as a user on a tenant; the raw outcome (run with `--json`).
    pub fn start_raw(&self, as_user: &str, tenant: &str, op_type: &str, params: Option<&str>) -> Outcome {
        let mut args = vec!["runs", "start", "--as", as_user, "--tenant", tenant, "--type", op_type, "--json"];
        if let Some(p) = params {
            args.extend(["--params", p]);
        }
        self.run(&args)
    }

    /// `runs start` that must succeed; returns the printed run.
    pub fn start(&self, as_user: &str, tenant: &str, op_type: &str, params: Option<&str>) -> Value {
        let out = self.start_raw(as_user, tenant, op_type, params);
        assert_eq!(out.code, 0, "start {op_type} as {as_user} failed: {out:?}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("bad JSON: {e}: {out:?}"))
    }

    /// Expects a `--json` error with this exit code; returns the error object.
    pub fn refused(&self, args: &[&str], exit: i32) -> Value {
        let out = self.run(&[args, &["--json"]].concat());
        assert_eq!(out.code, exit, "atlas {args:?} should exit {exit}: {out:?}");
        let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("bad JSON error: {e}: {out:?}"));
        assert!(doc["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{doc}");
        doc["error"].clone()
    }
}

/// Reads a child's pipe to the end on its own thread, so that it never blocks.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Option<JoinHandle<String>> {
    pipe.map(|mut p| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    })
}

/// A running `atlas` process: killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    child: Option<Child>,
    what: String,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether it has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        self.child.as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Kills it with SIGKILL (`Child::kill` on Unix) and reaps it.
    pub fn kill(&mut self) -> Outcome {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
        }
        self.collect()
    }

    /// Waits for it to exit; kills it and fails the test after `limit`.
    pub fn wait(mut self, limit: Duration) -> Outcome {
        let deadline = Instant::now() + limit;
        while !self.exited() {
            if Instant::now() >= deadline {
                let out = self.kill();
                panic!("{} did not finish within {limit:?}; killed: {out:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.collect()
    }

    fn collect(&mut self) -> Outcome {
        let code = self.child.take().and_then(|mut c| c.wait().ok()).and_then(|s| s.code()).unwrap_or(-1);
        let text = |h: Option<JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        Outcome { code, stdout: text(self.stdout.take()), stderr: text(self.stderr.take()) }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
