//! The CLI speaks in names (issue 16 items 9 and 13, issue 15.5), as real
//! processes: run links from `ATLAS_PUBLIC_URL` or the bind address, `runs
//! show` with tenant and initiator names, local times with their offset,
//! check names as the contract spells them, "What to do next" and `actions`;
//! `runs list` columns and its API shape; `runs watch` exit codes; the
//! closest tenant names for a typo; "does not have" at start; a closed pipe
//! ends `audit export` quietly; `tenants list` without `--workspace`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::world::{MANAGER, READONLY};
use crate::support::{Atlas, Outcome, TEST_SECRET_KEY};
use serde_json::Value;

/// Runs `atlas` with extra environment (a time zone, a public URL).
fn run_env(atlas: &Atlas, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atlas"));
    cmd.args(args)
        .env("ATLAS_DATABASE_URL", atlas.url())
        .env("ATLAS_SECRET_KEY", TEST_SECRET_KEY)
        .env_remove("RUST_LOG")
        .env_remove("ATLAS_PUBLIC_URL")
        .env_remove("ATLAS_BIND");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run atlas");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

fn start_args<'a>(tenant: &'a str, op: &'a str) -> Vec<&'a str> {
    vec!["runs", "start", "--as", MANAGER, "--tenant", tenant, "--type", op, "--json"]
}

fn links_follow_the_public_url_or_the_bind_address(atlas: Atlas) {
    let north = atlas.world();
    let public =
        run_env(&atlas, &start_args(&north, "inventory.sync"), &[("ATLAS_PUBLIC_URL", "https://atlas.example.test/")]);
    assert_eq!(public.code, 0, "{public:?}");
    let run: Value = serde_json::from_str(&public.stdout).unwrap();
    assert_eq!(run["url"], format!("https://atlas.example.test/admin/operations/{}", id(&run)));
    let bound = run_env(&atlas, &start_args(&north, "inventory.sync"), &[("ATLAS_BIND", "127.0.0.1:9443")]);
    let again: Value = serde_json::from_str(&bound.stdout).unwrap();
    assert_eq!(again["url"], format!("http://127.0.0.1:9443/admin/operations/{}", id(&run)));
}

fn show_names_the_run_and_says_what_to_do_next(atlas: Atlas) {
    let north = atlas.world();
    let run = id(&atlas.start(MANAGER, &north, "inventory.sync", None));
    atlas.ok(&["tenants", "set-status", "--tenant", &north, "--status", "suspended"]);
    atlas.drain();

    let out = run_env(&atlas, &["runs", "show", &run], &[("TZ", "UTC-3")]);
    assert_eq!(out.code, 0, "{out:?}");
    let human = out.stdout;
    assert!(human.contains("tenant      Contoso North"), "{human}");
    assert!(human.contains("initiator   Jane Doe"), "{human}");
    assert!(human.contains("operation   Inventory sync (inventory.sync)"), "{human}");
    let queued = human.lines().find(|l| l.trim_start().starts_with("queued")).unwrap();
    assert!(queued.ends_with("+03:00"), "local time with its offset: {queued}");
    assert!(human.contains("What to do next: Reactivate the tenant in tenant settings, then Retry."), "{human}");
    let check = |name: &str, result: &str| {
        human.lines().any(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some(name) && words.next() == Some(result)
        })
    };
    assert!(check("tenant_entitlement", "pass") && check("tenant", "fail"), "contract names: {human}");
    assert!(!human.contains("TenantEntitlement") && !human.contains("Pass"), "{human}");
    assert!(human.contains("actions     cancel: no · retry: yes"), "the host administrator's view: {human}");
    assert!(!human.contains("counts"), "a blocked run counted nothing: no row of zeros: {human}");

    let admin = atlas.ok(&["runs", "show", &run]);
    assert_eq!(admin["actions"], serde_json::json!({"cancel": false, "retry": true}));
    let reader = atlas.ok(&["runs", "show", &run, "--as", READONLY]);
    assert_eq!(reader["actions"], serde_json::json!({"cancel": false, "retry": false}));
    atlas.bad(&["runs", "show", &run, "--as", "nobody@example.com"], "not_found");
}

fn list_has_names_aligned_and_the_api_shape(atlas: Atlas) {
    let north = atlas.world();
    let first = id(&atlas.start(MANAGER, &north, "inventory.sync", None));
    let second = id(&atlas.start(MANAGER, &north, "policies.sync", None));
    let human = atlas.ok_human(&["runs", "list"]);
    let lines: Vec<&str> = human.lines().collect();
    assert!(lines[0].starts_with("RUN") && lines[0].contains("TENANT") && lines[0].contains("INITIATOR"), "{human}");
    let column = |line: &str, word: &str| line.find(word).unwrap();
    let tenant_at = column(lines[0], "TENANT");
    assert!(lines[1..].iter().all(|l| l[tenant_at..].starts_with("Contoso North")), "aligned: {human}");
    assert!(lines[1..].iter().all(|l| l.contains("Jane Doe")), "{human}");

    let page = atlas.ok(&["runs", "list", "--limit", "1"]);
    assert_eq!(page["data"][0]["id"], second.as_str());
    assert_eq!(page["next_cursor"], second.as_str());
    let next = atlas.ok(&["runs", "list", "--limit", "1", "--cursor", &second]);
    assert_eq!(next["data"][0]["id"], first.as_str());
    assert_eq!(next["next_cursor"], Value::Null);
}

fn watch_exits_with_the_outcome(atlas: Atlas) {
    let north = atlas.world();
    let ok = id(&atlas.start(MANAGER, &north, "inventory.sync", None));
    atlas.drain();
    let done = atlas.run_bounded(&["runs", "watch", &ok], &[], Duration::from_secs(30));
    assert_eq!(done.code, 0, "{done:?}");
    assert!(done.stdout.starts_with("Inventory sync on Contoso North succeeded"), "in words: {done:?}");

    let blocked = id(&atlas.start(MANAGER, &north, "policies.sync", None));
    atlas.ok(&["tenants", "write-gate", "--tenant", &north, "closed"]);
    atlas.ok(&["connections", "disable", "--tenant", &north]);
    atlas.drain();
    let out = atlas.run_bounded(&["runs", "watch", &blocked], &[], Duration::from_secs(30));
    assert_eq!(out.code, 5, "a blocked run exits as its refusal (SPEC §3.2): {out:?}");
    assert!(out.stdout.starts_with("Policy sync on Contoso North was blocked: "), "{out:?}");
    assert!(out.stdout.contains("What to do next: Enable the tenant's provider connection, then Retry."), "{out:?}");
    assert!(out.stderr.lines().all(|l| !l.starts_with("error:")), "the result is said once: {out:?}");
}

fn names_suggest_and_start_refusals_say_does_not_have(atlas: Atlas) {
    atlas.world();
    let typo = [
        "runs",
        "start",
        "--as",
        MANAGER,
        "--workspace",
        "acme",
        "--tenant",
        "Contso North",
        "--type",
        "inventory.sync",
    ];
    let message = atlas.bad(&typo, "not_found");
    assert!(message.contains("did you mean `Contoso North`"), "{message}");

    let refused = atlas.refused(
        &[
            "runs",
            "start",
            "--as",
            READONLY,
            "--workspace",
            "acme",
            "--tenant",
            "Contoso North",
            "--type",
            "inventory.sync",
        ],
        4,
    );
    assert_eq!(refused["message"], "Rita Reader does not have the capability tenant.inventory.sync.");

    // One workspace: tenants list needs no --workspace.
    let tenants = atlas.ok(&["tenants", "list"]);
    assert!(tenants.as_array().unwrap().iter().any(|t| t["name"] == "Contoso North"), "{tenants}");
}

fn audit_export_ends_quietly_on_a_closed_pipe(atlas: Atlas) {
    atlas.world();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["audit", "export"])
        .env("ATLAS_DATABASE_URL", atlas.url())
        .env("ATLAS_SECRET_KEY", TEST_SECRET_KEY)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line (`| head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "quiet: {}", String::from_utf8_lossy(&out.stderr));
}

cli_both_stores!(
    links_follow_the_public_url_or_the_bind_address,
    show_names_the_run_and_says_what_to_do_next,
    list_has_names_aligned_and_the_api_shape,
    watch_exits_with_the_outcome,
    names_suggest_and_start_refusals_say_does_not_have,
    audit_export_ends_quietly_on_a_closed_pipe,
);
