//! The CLI's contract across verbs: migrations, usage errors, exit codes and
//! error shapes (SPEC §7), and `audit verify|export`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::Atlas;
use serde_json::{json, Value};

#[test]
fn migrate_is_idempotent() {
    let atlas = Atlas::new();
    assert_eq!(atlas.ok(&["migrate"]), json!({"migrated": true, "dialect": "sqlite"}));
    assert_eq!(atlas.ok(&["migrate"])["migrated"], true);
    assert_eq!(atlas.ok_human(&["migrate"]).trim(), "schema up to date (sqlite)");
}

#[test]
fn a_fresh_database_just_works_without_migrate() {
    let atlas = Atlas::new();
    assert_eq!(atlas.ok(&["users", "list"]), json!([]));
}

/// A command on an up-to-date database writes nothing first: a database
/// opened read-only (`mode=ro`; root ignores file modes) can still be listed.
#[test]
fn read_commands_do_not_migrate() {
    let atlas = Atlas::new().with_basics();
    let ro = Atlas::at(&format!("{}?mode=ro", atlas.url()));
    let listed = ro.ok(&["workspaces", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let out = ro.run(&["workspaces", "add", "--slug", "other", "--name", "Other"]);
    assert_ne!(out.code, 0, "a write on a read-only database fails: {out:?}");
}

/// An unreachable PostgreSQL fails in seconds, naming where it looked and
/// never the password.
#[test]
fn an_unreachable_postgres_fails_fast_and_names_the_target() {
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["users", "list", "--json"])
        .env("ATLAS_DATABASE_URL", "postgres://atlas:s3cret-pw@127.0.0.1:1/fleet")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert_eq!(doc["error"]["code"], "database_unavailable", "{doc}");
    assert!(message.contains("PostgreSQL at 127.0.0.1:1, database `fleet` as user `atlas`"), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("s3cret")
            && !String::from_utf8_lossy(&out.stderr).contains("s3cret")
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let atlas = Atlas::new().with_basics();
    let message = atlas.bad(&["tenants", "add", "--workspace", "acme", "--name", "X", "--frobnicate"], "invalid");
    assert!(message.contains("--frobnicate"), "{message}");
    let message = atlas.bad(&["tenants", "add", "--workspace", "acme"], "invalid");
    assert!(message.contains("--name"), "{message}");
    atlas.bad(&["tenants", "teleport"], "invalid");
    assert_eq!(atlas.count(&["tenants", "list", "--workspace", "acme"]), 0);

    // --json is global: it works before the verb too.
    let out = atlas.run(&["--json", "users", "add", "--email", "x"]);
    assert_eq!(out.code, 2);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "invalid");
}

#[test]
fn help_and_version_exit_0() {
    let atlas = Atlas::new();
    let out = atlas.run(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("tenants"), "{out:?}");
    assert_eq!(atlas.run(&["--version"]).code, 0);
}

#[test]
fn a_broken_database_is_not_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-database.db");
    std::fs::write(&path, "this is not SQLite, just text that is long enough to have a header page").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["users", "list", "--json"])
        .env("ATLAS_DATABASE_URL", format!("sqlite://{}", path.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "internal");
}

#[test]
fn audit_verify_and_export() {
    let atlas = Atlas::new().with_basics();
    atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "Contoso North"]);
    let report = atlas.ok(&["audit", "verify"]);
    assert_eq!(report["broken"], json!(null));
    assert_eq!(report["chains_checked"], 2, "{report}");
    let report = atlas.ok(&["audit", "verify", "--workspace", "acme"]);
    assert_eq!(report["chains_checked"], 1, "{report}");
    atlas.bad(&["audit", "verify", "--workspace", "nope"], "not_found");

    let out = atlas.run(&["audit", "export"]);
    assert_eq!(out.code, 0, "{out:?}");
    let actions: Vec<String> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["action"].as_str().unwrap().to_owned())
        .collect();
    // `users add` without a password sets a one-time one (audited, never shown in the log).
    assert_eq!(actions, ["workspace.created", "user.created", "user.password_set", "tenant.created"]);
}

#[test]
fn audit_verify_names_the_first_broken_event() {
    let atlas = Atlas::new().with_basics();
    atlas.ok(&["audit", "verify"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = atlas_store::Store::connect(atlas.url()).await.unwrap();
        store.execute_raw("UPDATE audit_events SET data = '{}' WHERE action = 'user.created'").await.unwrap();
        store.close().await;
    });
    let out = atlas.run(&["audit", "verify"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("error: audit chain broken at chain global event #1"), "{out:?}");
    let out = atlas.run(&["audit", "verify", "--json"]);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "audit_chain_broken");
}
