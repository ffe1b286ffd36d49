//! Runs the real `atlas` binary against a fresh SQLite database per test.

#![allow(dead_code)] // each test binary uses a different part of this

use std::process::Command;

use serde_json::Value;

pub mod world;

pub struct Atlas {
    url: String,
}

/// What one invocation did.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A fixed key so that tests never write a key file into the source tree.
pub const TEST_SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

impl Atlas {
    pub fn new() -> Atlas {
        Atlas { url: atlas_store::testkit::sqlite_url() }
    }

    /// The same binary against another database URL.
    pub fn at(url: &str) -> Atlas {
        Atlas { url: url.to_owned() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        let out = Command::new(env!("CARGO_BIN_EXE_atlas"))
            .args(args)
            .env("ATLAS_DATABASE_URL", &self.url)
            .env("ATLAS_SECRET_KEY", TEST_SECRET_KEY)
            .env_remove("RUST_LOG")
            .output()
            .expect("run atlas");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs with `--json`, expects success, and parses the one document printed.
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(&[args, &["--json"]].concat());
        assert_eq!(out.code, 0, "atlas {args:?} failed: {out:?}");
        assert_eq!(out.stdout.lines().count(), 1, "one JSON document: {out:?}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("bad JSON from atlas {args:?}: {e}: {out:?}"))
    }

    /// Runs without `--json`, expects success, returns stdout.
    pub fn ok_human(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.code, 0, "atlas {args:?} failed: {out:?}");
        out.stdout
    }

    /// Expects bad input: exit 2, one `error: …` line on stderr, nothing on
    /// stdout; then the same with `--json`: the error object on stdout with
    /// `code`. Returns the message.
    pub fn bad(&self, args: &[&str], code: &str) -> String {
        let out = self.run(args);
        assert_eq!(out.code, 2, "atlas {args:?} should be bad input: {out:?}");
        assert!(out.stdout.is_empty(), "nothing on stdout: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
        assert!(out.stderr.starts_with("error: "), "{out:?}");

        let out = self.run(&[args, &["--json"]].concat());
        assert_eq!(out.code, 2, "atlas {args:?} --json should be bad input: {out:?}");
        assert!(out.stderr.is_empty(), "nothing on stderr with --json: {out:?}");
        let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("bad JSON error: {e}: {out:?}"));
        assert_eq!(doc["error"]["code"], code, "{doc}");
        let message = doc["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty() && !message.contains('\n'), "{doc}");
        message
    }

    /// The length of a `--json` listing.
    pub fn count(&self, args: &[&str]) -> usize {
        self.ok(args).as_array().map_or(0, Vec::len)
    }

    /// The number of audit events, through `audit export`.
    pub fn audit_len(&self) -> usize {
        let out = self.run(&["audit", "export"]);
        assert_eq!(out.code, 0, "{out:?}");
        out.stdout.lines().count()
    }

    /// A workspace `acme` and a user `jane@example.com`.
    pub fn with_basics(self) -> Atlas {
        self.ok(&["workspaces", "add", "--slug", "acme", "--name", "Acme"]);
        self.ok(&["users", "add", "--email", "jane@example.com", "--name", "Jane Doe"]);
        self
    }
}

impl Drop for Atlas {
    fn drop(&mut self) {
        if let Some(path) = self.url.strip_prefix("sqlite://") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
}
