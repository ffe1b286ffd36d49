//! `--preview` on the changes that can affect legitimacy (SPEC §10.2): the
//! runs and schedule slots a change would block, printed without changing
//! anything (not even the audit log); then the same change applied, and the
//! worker blocks exactly what was previewed. A change that would be refused
//! is refused as a preview too. Each case runs on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use crate::support::world::{MANAGER, OPERATOR, OWNER};
use crate::support::Atlas;
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// Previews `args` with `--preview`: the document, after checking that it
/// changed nothing (audit log, run states).
fn preview(atlas: &Atlas, args: &[&str]) -> Value {
    let (audit, runs) = (atlas.audit_len(), atlas.ok(&["runs", "list", "--limit", "500"]));
    let doc = atlas.ok(&[args, &["--preview"]].concat());
    assert_eq!((doc["preview"].clone(), doc["changed"].clone()), (json!(true), json!(false)), "{doc}");
    assert_eq!(atlas.audit_len(), audit, "a preview audits nothing");
    assert_eq!(atlas.ok(&["runs", "list", "--limit", "500"]), runs, "a preview changes no run");
    doc
}

fn affected_runs(doc: &Value) -> BTreeSet<(String, String)> {
    doc["affected"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| Some((a["run_id"].as_str()?.to_owned(), a["reason_code"].as_str()?.to_owned())))
        .collect()
}

fn blocked_runs(atlas: &Atlas) -> BTreeSet<(String, String)> {
    let runs = atlas.ok(&["runs", "list", "--outcome", "blocked", "--limit", "500"]);
    runs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (id(r), r["decision"]["reason_code"].as_str().unwrap().to_owned()))
        .collect()
}

fn a_preview_lists_what_the_change_blocks_and_the_worker_agrees(atlas: Atlas) {
    let north = atlas.world();
    let south = atlas.tenant("Contoso South");
    let sync = atlas.start(MANAGER, &north, "inventory.sync", None);
    let other = atlas.start(OPERATOR, &south, "inventory.sync", None);
    let nightly = atlas.ok(&["schedules", "add", "--tenant", &north, "--cron", "0 2 * * *"]);

    // Suspending North blocks its queued run and its next nightly backup, not South's run.
    let doc = preview(&atlas, &["tenants", "set-status", "--tenant", &north, "--status", "suspended"]);
    let affected = doc["affected"].as_array().unwrap();
    assert_eq!(affected.len(), 2, "{doc}");
    assert_eq!(affected[0]["run_id"], json!(id(&sync)), "{doc}");
    assert_eq!(
        (affected[0]["state"].clone(), affected[0]["reason_code"].clone()),
        (json!("queued"), json!("tenant_suspended"))
    );
    assert!(affected[0]["message"].as_str().unwrap().contains("Contoso North"), "{doc}");
    assert_eq!(affected[1]["schedule_id"], json!(id(&nightly)), "{doc}");
    assert_eq!(affected[1]["state"], "scheduled");
    assert!(affected[1]["slot"].as_str().unwrap().ends_with("T02:00:00Z"), "{doc}");
    let human = atlas.ok_human(&["tenants", "set-status", "--tenant", &north, "--status", "suspended", "--preview"]);
    assert!(human.contains("This change will block 1 queued run and the next scheduled backup."), "{human}");
    assert_eq!(atlas.ok(&["tenants", "show", "--tenant", &north])["status"], "active");

    // Downgrading the manager: her run only.
    let doc =
        preview(&atlas, &["members", "set-role", "--workspace", "acme", "--email", MANAGER, "--role", "readonly"]);
    let want: BTreeSet<_> = [(id(&sync), "capability_revoked".to_owned())].into();
    assert_eq!(affected_runs(&doc), want, "{doc}");
    // Applied, the worker blocks exactly that.
    atlas.ok(&["members", "set-role", "--workspace", "acme", "--email", MANAGER, "--role", "readonly"]);
    atlas.drain();
    assert_eq!(blocked_runs(&atlas), want);
    assert_eq!(atlas.show(&id(&other))["outcome"], "succeeded");

    // Nothing left to block.
    let doc = preview(&atlas, &["users", "disable", "--email", OPERATOR]);
    assert_eq!(doc["affected"], json!([]), "{doc}");
    let doc = preview(&atlas, &["schedules", "disable", &id(&nightly)]);
    assert_eq!(doc["affected"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["affected"][0]["reason_code"], "schedule_disabled");
    preview(&atlas, &["connections", "disable", "--tenant", &north]);
    preview(&atlas, &["tenants", "write-gate", "--tenant", &north, "closed"]);
    preview(&atlas, &["members", "set-scope", "--workspace", "acme", "--email", OPERATOR, "--tenants", &north]);
    preview(&atlas, &["members", "revoke", "--workspace", "acme", "--email", OPERATOR]);
}

fn a_preview_of_a_refused_change_is_refused(atlas: Atlas) {
    atlas.world();
    let audit = atlas.audit_len();
    // The last owner may not be demoted or removed; a preview says so too.
    let refused = atlas.refused(
        &["members", "set-role", "--workspace", "acme", "--email", OWNER, "--role", "manager", "--preview"],
        2,
    );
    assert!(refused["message"].as_str().unwrap().contains("last owner"), "{refused}");
    atlas.refused(&["members", "revoke", "--workspace", "acme", "--email", OWNER, "--preview"], 2);
    atlas.bad(
        &["roles", "set", "--workspace", "acme", "--name", "nosuch", "--capabilities", "audit.view", "--preview"],
        "not_found",
    );
    atlas.bad(&["users", "disable", "--email", "nobody@example.com", "--preview"], "not_found");
    assert_eq!(atlas.audit_len(), audit);
}

cli_both_stores!(
    a_preview_lists_what_the_change_blocks_and_the_worker_agrees,
    a_preview_of_a_refused_change_is_refused
);
