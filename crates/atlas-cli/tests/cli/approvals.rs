//! `atlas tenants approval`, `runs approve|reject` (SPEC §10.2) as real
//! processes: a writing run on a tenant that requires approval waits, the
//! worker leaves it alone, another member approves or rejects it; refused
//! decisions exit 4 / 5 / 2 and change nothing. Each case runs on SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::world::{MANAGER, OUTSIDER, OWNER, READONLY};
use crate::support::Atlas;
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// A world whose tenant has a backup set: (tenant id, restore params).
fn world_with_backup(atlas: &Atlas) -> (String, String) {
    let north = atlas.world();
    let backup = atlas.start(MANAGER, &north, "backup.run", None);
    atlas.drain();
    let done = atlas.show(&id(&backup));
    assert_eq!(done["outcome"], "succeeded", "{done}");
    let set = done["result"]["backup_set_id"].as_str().unwrap().to_owned();
    (north, json!({"backup_set_id": set, "dry_run": false}).to_string())
}

fn approve_as(run: &str, who: &str) -> Vec<String> {
    ["runs", "approve", run, "--as", who].map(str::to_owned).to_vec()
}

fn refused(atlas: &Atlas, args: &[String], exit: i32) -> Value {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    atlas.refused(&args, exit)
}

fn a_writing_run_waits_for_another_members_approval(atlas: Atlas) {
    let (north, params) = world_with_backup(&atlas);
    let before = atlas.audit_len();
    let t = atlas.ok(&["tenants", "approval", "--tenant", &north, "required"]);
    assert_eq!(t["approval_required"], true, "{t}");
    assert_eq!(atlas.audit_len(), before + 1, "audited");
    // Again: nothing changes, nothing is audited.
    atlas.ok(&["tenants", "approval", "--tenant", &north, "required"]);
    assert_eq!(atlas.audit_len(), before + 1);

    let run = atlas.start(MANAGER, &north, "restore.execute", Some(&params));
    let run_id = id(&run);
    assert_eq!(run["approval"]["state"], "pending", "{run}");
    assert_eq!((run["status"].clone(), run["outcome"].clone()), (json!("queued"), json!("pending")));
    // The worker leaves it alone.
    atlas.drain();
    assert_eq!(atlas.show(&run_id)["status"], "queued");

    // Refusals change nothing.
    let audit = atlas.audit_len();
    let own = refused(&atlas, &approve_as(&run_id, MANAGER), 4);
    assert_eq!(own["code"], "forbidden", "{own}");
    refused(&atlas, &approve_as(&run_id, READONLY), 4);
    let hidden = refused(&atlas, &approve_as(&run_id, OUTSIDER), 2);
    assert_eq!(hidden["code"], "not_found", "{hidden}");
    let long = "x".repeat(1_001);
    let too_long =
        refused(&atlas, &["runs", "reject", &run_id, "--as", OWNER, "--reason", &long].map(str::to_owned), 2);
    assert!(too_long["message"].as_str().unwrap().contains("1000"), "{too_long}");
    assert_eq!(atlas.audit_len(), audit);
    assert_eq!(atlas.show(&run_id)["approval"]["state"], "pending");

    let approved = atlas.ok(&["runs", "approve", &run_id, "--as", OWNER]);
    assert_eq!(approved["approval"]["state"], "approved", "{approved}");
    assert!(approved["approval"]["at"].is_string(), "{approved}");
    let twice = refused(&atlas, &approve_as(&run_id, OWNER), 5);
    assert_eq!(twice["code"], "conflict", "{twice}");

    atlas.drain();
    let done = atlas.show(&run_id);
    assert_eq!(done["outcome"], "succeeded", "{done}");
    let checks = done["decision"]["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["check"] == "approval" && c["result"] == "pass"), "{done}");
}

fn a_rejected_run_completes_blocked(atlas: Atlas) {
    let (north, params) = world_with_backup(&atlas);
    atlas.ok(&["tenants", "approval", "--tenant", &north, "required"]);
    let run = atlas.start(MANAGER, &north, "restore.execute", Some(&params));
    let run_id = id(&run);
    let rejected = atlas.ok(&["runs", "reject", &run_id, "--as", OWNER, "--reason", "Change freeze"]);
    assert_eq!((rejected["status"].clone(), rejected["outcome"].clone()), (json!("completed"), json!("blocked")));
    assert_eq!(rejected["decision"]["reason_code"], "approval_rejected", "{rejected}");
    assert_eq!(rejected["decision"]["denial_class"], "approval_invalid", "{rejected}");
    assert_eq!(rejected["approval"]["reason"], "Change freeze", "{rejected}");
    // Watching it exits with the gate's code for approval_invalid.
    let out = atlas.run(&["runs", "watch", &run_id]);
    assert_eq!(out.code, 5, "{out:?}");
    // Completed: no longer pending.
    refused(&atlas, &["runs", "reject", &run_id, "--as", OWNER].map(str::to_owned), 5);

    // Off again: a new writing run needs no approval.
    let t = atlas.ok(&["tenants", "approval", "--tenant", &north, "off"]);
    assert_eq!(t["approval_required"], false);
    let plain = atlas.start(MANAGER, &north, "restore.execute", Some(&params));
    assert!(plain.get("approval").is_none(), "{plain}");
}

cli_both_stores!(a_writing_run_waits_for_another_members_approval, a_rejected_run_completes_blocked);
