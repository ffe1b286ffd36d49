//! `atlas runs|worker|schedules|sandbox` as real processes (SPEC §3.2, §4, §6.1,
//! §7): starting with its JSON and dedupe, bad input and gate denials with their
//! exit codes (nothing stored), the worker draining the queue, list filters,
//! cancel, retry, watch, schedules that fire once per slot and are refused
//! once disabled, and sandbox faults. Each case runs on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::world::{MANAGER, OPERATOR, OUTSIDER, OWNER, READONLY};
use crate::support::Atlas;
use serde_json::{json, Value};
use uuid::Uuid;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap()
}

fn notifications(atlas: &Atlas, run: &str) -> usize {
    let run = uuid(run);
    atlas.with_store(|s| async move { s.notifications_for_run(run).await.unwrap().len() })
}

fn audit_actions(atlas: &Atlas, run: &str) -> Vec<String> {
    let subject = format!("run:{run}");
    atlas.with_store(|s| async move {
        let filter = atlas_store::audit::AuditFilter { subject: Some(subject), limit: 1000, ..Default::default() };
        let mut events = s.audit_events(filter).await.unwrap();
        events.sort_by_key(|e| e.seq);
        events.into_iter().map(|e| e.action).collect()
    })
}

fn start_queues_a_run_and_dedupes(atlas: Atlas) {
    let north = atlas.world();
    let run = atlas.start(MANAGER, &north, "inventory.sync", None);
    let run_id = id(&run);
    assert_eq!(run["type"], "inventory.sync");
    assert_eq!((run["status"].clone(), run["outcome"].clone()), (json!("queued"), json!("pending")));
    assert_eq!(run["deduplicated"], false);
    assert_eq!(run["tenant_id"], json!(north));
    assert_eq!(run["authority_mode"], "actor_bound");
    assert_eq!(run["attempt"], 0);
    assert_eq!(run["started_at"], Value::Null);
    assert_eq!(run["retry_of_run_id"], Value::Null);
    assert_eq!(run["actions"], json!({"cancel": true, "retry": false}), "the initiator may cancel");
    assert!(run["url"].as_str().unwrap().ends_with(&format!("/admin/operations/{run_id}")), "{run}");
    for key in
        ["workspace_id", "initiator_user_id", "params", "max_attempts", "created_at", "summary_counts", "failures"]
    {
        assert!(run.get(key).is_some(), "{key} missing from {run}");
    }

    // Another member starting the same operation gets the active run back.
    let again = atlas.start(OPERATOR, &north, "inventory.sync", None);
    assert_eq!((again["deduplicated"].clone(), id(&again)), (json!(true), run_id.clone()));
    assert_eq!(again["actions"], json!({"cancel": false, "retry": false}), "an operator may not cancel it");
    let human = atlas.ok_human(&["runs", "start", "--as", MANAGER, "--tenant", &north, "--type", "inventory.sync"]);
    assert!(human.contains(&format!("already active: run {run_id}")), "{human}");
    // By tenant name within --workspace, too.
    let named = atlas.ok(&[
        "runs",
        "start",
        "--as",
        MANAGER,
        "--workspace",
        "acme",
        "--tenant",
        "Contoso North",
        "--type",
        "inventory.sync",
    ]);
    assert_eq!(id(&named), run_id);
    assert_eq!(atlas.run_ids(), [run_id.as_str()]);
    assert_eq!(audit_actions(&atlas, &run_id), ["operation.queued"]);

    // A different operation on the same tenant is a different run.
    let check = atlas.start(MANAGER, &north, "provider.connection.check", None);
    assert_ne!(id(&check), run_id);
    assert_eq!(check["deduplicated"], false);
    let human = atlas.ok_human(&["runs", "start", "--as", MANAGER, "--tenant", &north, "--type", "policies.sync"]);
    assert!(human.contains("queued: run "), "{human}");
    assert_eq!(atlas.run_ids().len(), 3);
}

fn bad_input_exits_2_and_stores_nothing(atlas: Atlas) {
    let north = atlas.world();
    let events = atlas.audit_len();
    let start = |as_user: &str, tenant: &str, op: &str, params: Option<&str>| {
        let mut args = vec!["runs", "start", "--as", as_user, "--tenant", tenant, "--type", op];
        if let Some(p) = params {
            args.extend(["--params", p]);
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let bad = |args: Vec<String>, code: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        atlas.bad(&args, code)
    };
    let message = bad(start(MANAGER, &north, "inventory.teleport", None), "invalid");
    assert!(message.contains("inventory.teleport") && message.contains("inventory.sync"), "{message}");
    let message = bad(start(MANAGER, &north, "inventory.sync", Some(r#"{"nope": 1}"#)), "invalid");
    assert!(message.contains("nope"), "{message}");
    bad(start(MANAGER, &north, "restore.execute", Some(r#"{"backup_set_id": 7}"#)), "invalid");
    bad(start(MANAGER, &north, "restore.execute", Some(r#"{"dry_run": "yes"}"#)), "invalid");
    let message = bad(start(MANAGER, &north, "inventory.sync", Some("{not json")), "invalid");
    assert!(message.contains("--params"), "{message}");
    bad(start(MANAGER, &north, "inventory.sync", Some("[1, 2]")), "invalid");
    bad(start("nobody@example.com", &north, "inventory.sync", None), "not_found");
    bad(start(MANAGER, &Uuid::now_v7().to_string(), "inventory.sync", None), "not_found");
    bad(start(MANAGER, "Contoso North", "inventory.sync", None), "invalid");
    atlas.bad(&["runs", "start", "--as", MANAGER, "--type", "inventory.sync"], "invalid");
    atlas.bad(&["runs", "show", "not-a-run"], "invalid");
    atlas.bad(&["runs", "show", &Uuid::now_v7().to_string()], "not_found");
    atlas.bad(&["runs", "list", "--status", "sleeping"], "invalid");
    atlas.bad(&["runs", "list", "--outcome", "meh"], "invalid");
    atlas.bad(&["worker", "--until-idle", "--concurrency", "0"], "invalid");
    let limit = Duration::from_secs(30);
    let out = atlas.run_bounded(&["worker", "--until-idle", "--json"], &[("ATLAS_LEASE_MS", "soon")], limit);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("ATLAS_LEASE_MS"), "{out:?}");
    assert_eq!(atlas.ok(&["runs", "list"]), json!({"data": [], "next_cursor": null}));
    assert_eq!(atlas.audit_len(), events, "a refused start records nothing");
}

fn gate_denials_at_start_have_their_exit_codes(atlas: Atlas) {
    let north = atlas.world();
    let south = atlas.tenant("Contoso South");
    // A backup to restore from, while everything is allowed.
    let backup = atlas.start(MANAGER, &north, "backup.run", None);
    atlas.drain();
    let backup = atlas.show(&id(&backup));
    assert_eq!(backup["outcome"], "succeeded", "{backup}");
    let set = backup["result"]["backup_set_id"].as_str().unwrap().to_owned();
    let before = atlas.run_ids();
    let events = atlas.audit_len();

    let start = |as_user: &str, tenant: &str, op: &str, params: Option<&str>, exit: i32| -> Value {
        let mut args = vec!["runs", "start", "--as", as_user, "--tenant", tenant, "--type", op];
        if let Some(p) = params {
            args.extend(["--params", p]);
        }
        let err = atlas.refused(&args, exit);
        assert_eq!(err["code"], "denied", "{err}");
        // Without --json: the same exit code and one line on stderr.
        let out = atlas.run(&args);
        assert_eq!(out.code, exit, "{out:?}");
        assert!(
            out.stdout.is_empty() && out.stderr.starts_with("error: ") && out.stderr.lines().count() == 1,
            "{out:?}"
        );
        err
    };
    let class_reason =
        |e: &Value| (e["denial_class"].as_str().unwrap().to_owned(), e["reason_code"].as_str().unwrap().to_owned());

    let e = start(READONLY, &north, "inventory.sync", None, 4);
    assert_eq!(class_reason(&e), ("capability_denied".into(), "capability_revoked".into()));
    assert!(e["message"].as_str().unwrap().contains("tenant.inventory.sync"), "{e}");
    let e = start(OPERATOR, &north, "restore.execute", Some(&format!(r#"{{"backup_set_id": "{set}"}}"#)), 4);
    assert_eq!(class_reason(&e), ("capability_denied".into(), "capability_revoked".into()));
    // Another tenant's backup set is no backup set of this tenant.
    let e = start(MANAGER, &south, "restore.execute", Some(&format!(r#"{{"backup_set_id": "{set}"}}"#)), 5);
    assert_eq!(class_reason(&e), ("prerequisite_missing".into(), "backup_set_missing".into()));
    let other = format!(r#"{{"backup_set_id": "{set}", "dry_run": true}}"#);
    assert_eq!(start(MANAGER, &south, "restore.execute", Some(&other), 5)["reason_code"], "backup_set_missing");
    let e = start(OUTSIDER, &north, "inventory.sync", None, 3);
    assert_eq!(class_reason(&e), ("scope_denied".into(), "workspace_membership_revoked".into()));
    atlas.ok(&["members", "set-scope", "--workspace", "acme", "--email", OPERATOR, "--tenants", "Contoso South"]);
    let e = start(OPERATOR, &north, "inventory.sync", None, 3);
    assert_eq!(class_reason(&e), ("scope_denied".into(), "tenant_entitlement_revoked".into()));

    atlas.ok(&["tenants", "set-status", "--tenant", &south, "--status", "suspended"]);
    let e = start(MANAGER, &south, "inventory.sync", None, 5);
    assert_eq!(class_reason(&e), ("tenant_not_operable".into(), "tenant_suspended".into()));
    atlas.ok(&["tenants", "set-status", "--tenant", &south, "--status", "archived"]);
    let e = start(MANAGER, &south, "provider.connection.check", None, 5);
    assert_eq!(class_reason(&e), ("tenant_not_operable".into(), "tenant_archived".into()));

    atlas.ok(&["connections", "disable", "--tenant", &north]);
    let e = start(MANAGER, &north, "policies.sync", None, 5);
    assert_eq!(class_reason(&e), ("prerequisite_missing".into(), "provider_connection_disabled".into()));
    atlas.ok(&["connections", "enable", "--tenant", &north]);
    let missing = format!(r#"{{"backup_set_id": "{}"}}"#, Uuid::now_v7());
    let e = start(MANAGER, &north, "restore.execute", Some(&missing), 5);
    assert_eq!(class_reason(&e), ("prerequisite_missing".into(), "backup_set_missing".into()));

    // A real restore needs the write gate open; a dry run does not.
    atlas.ok(&["tenants", "write-gate", "--tenant", &north, "closed"]);
    let real = format!(r#"{{"backup_set_id": "{set}"}}"#);
    let e = start(MANAGER, &north, "restore.execute", Some(&real), 5);
    assert_eq!(class_reason(&e), ("write_gate_closed".into(), "write_gate_closed".into()));
    let e = start(
        MANAGER,
        &north,
        "restore.execute",
        Some(&format!(r#"{{"backup_set_id": "{set}", "dry_run": false}}"#)),
        5,
    );
    assert_eq!(e["reason_code"], "write_gate_closed");

    atlas.ok(&["users", "disable", "--email", MANAGER]);
    let e = start(MANAGER, &north, "inventory.sync", None, 4);
    assert_eq!(class_reason(&e), ("initiator_invalid".into(), "initiator_disabled".into()));

    // Nothing was stored by any refusal: no run, no run event.
    assert_eq!(atlas.run_ids(), before);
    // set-scope, two set-status, connection disable and enable, write-gate, users disable
    let changes = 7;
    assert_eq!(atlas.audit_len(), events + changes, "only the administrative changes were recorded");

    let dry = atlas.start(
        OWNER,
        &north,
        "restore.execute",
        Some(&format!(r#"{{"backup_set_id": "{set}", "dry_run": true}}"#)),
    );
    assert_eq!((dry["status"].clone(), dry["deduplicated"].clone()), (json!("queued"), json!(false)));
    assert_eq!(atlas.run_ids().len(), before.len() + 1);
    atlas.drain();
    let dry = atlas.show(&id(&dry));
    assert_eq!((dry["status"].clone(), dry["outcome"].clone()), (json!("completed"), json!("succeeded")), "{dry}");
    let journal = uuid(&north);
    assert!(atlas.with_store(|s| async move { s.sandbox_journal(journal).await.unwrap() }).is_empty());
}

fn worker_drains_and_list_filters(atlas: Atlas) {
    let north = atlas.world();
    let south = atlas.tenant("Contoso South");
    let sync = id(&atlas.start(MANAGER, &north, "inventory.sync", None));
    let check = id(&atlas.start(OPERATOR, &south, "provider.connection.check", None));
    let queued = atlas.ok(&["runs", "list", "--status", "queued"]);
    assert_eq!(queued["data"].as_array().unwrap().len(), 2);

    let report = atlas.drain();
    assert_eq!((report["started"].clone(), report["finished"].clone()), (json!(2), json!(2)), "{report}");
    assert_eq!((report["blocked"].clone(), report["lost_leases"].clone()), (json!(0), json!(0)), "{report}");
    for run in [&sync, &check] {
        let r = atlas.show(run);
        assert_eq!((r["status"].clone(), r["outcome"].clone()), (json!("completed"), json!("succeeded")), "{r}");
        assert_eq!(r["attempt"], 1);
        assert!(r["started_at"].is_string() && r["completed_at"].is_string(), "{r}");
        assert_eq!(r["decision"]["allowed"], true);
        assert_eq!(r["items"], json!([]));
        assert_eq!(audit_actions(&atlas, run), ["operation.queued", "operation.started", "operation.completed"]);
        assert_eq!(notifications(&atlas, run), 1);
    }
    let r = atlas.show(&sync);
    let total = r["summary_counts"]["total"].as_u64().unwrap();
    assert!(total > 0 && r["summary_counts"]["processed"] == json!(total), "{r}");
    assert_eq!(r["result"]["objects"], json!(total));
    let human = atlas.ok_human(&["runs", "show", &sync]);
    assert!(human.contains("status      completed / succeeded"), "{human}");
    assert!(human.contains("operation   Inventory sync (inventory.sync)"), "{human}");

    // A run refused by the worker: the connection was disabled after it was queued.
    let blocked = id(&atlas.start(OPERATOR, &south, "inventory.sync", None));
    atlas.ok(&["connections", "disable", "--tenant", &south]);
    let report = atlas.drain();
    assert_eq!((report["started"].clone(), report["blocked"].clone()), (json!(0), json!(1)), "{report}");
    let b = atlas.show(&blocked);
    assert_eq!((b["status"].clone(), b["outcome"].clone()), (json!("completed"), json!("blocked")), "{b}");
    assert_eq!(b["decision"]["reason_code"], "provider_connection_disabled");
    assert_eq!(b["decision"]["denial_class"], "prerequisite_missing");
    assert_eq!(b["started_at"], Value::Null);
    assert_eq!(b["summary_counts"]["processed"], 0);
    assert_eq!(audit_actions(&atlas, &blocked), ["operation.queued", "operation.blocked"]);
    assert_eq!(notifications(&atlas, &blocked), 1, "the initiator hears of the refusal once");
    let human = atlas.ok_human(&["runs", "show", &blocked]);
    assert!(human.contains("BLOCKED") && human.contains("[provider_connection_disabled]"), "{human}");

    let ids = |args: &[&str]| -> Vec<String> {
        atlas.ok(&[&["runs", "list"], args].concat())["data"].as_array().unwrap().iter().map(id).collect()
    };
    assert_eq!(ids(&[]), [blocked.clone(), check.clone(), sync.clone()], "newest first");
    assert_eq!(ids(&["--status", "completed"]).len(), 3);
    assert!(ids(&["--status", "queued"]).is_empty());
    assert_eq!(ids(&["--outcome", "succeeded"]), [check.clone(), sync.clone()]);
    assert_eq!(ids(&["--outcome", "blocked"]), [blocked.as_str()]);
    assert_eq!(ids(&["--tenant", &south]), [blocked.clone(), check.clone()]);
    assert_eq!(ids(&["--tenant", "Contoso North", "--workspace", "acme"]), [sync.as_str()]);
    assert_eq!(ids(&["--tenant", &south, "--outcome", "succeeded"]), [check.as_str()]);
    assert_eq!(ids(&["--type", "inventory.sync"]), [blocked.clone(), sync.clone()]);
    assert_eq!(ids(&["--initiator", MANAGER]), [sync.as_str()]);
    assert!(ids(&["--initiator", "system"]).is_empty());
    assert_eq!(ids(&["--workspace", "acme", "--limit", "1"]), [blocked.as_str()]);
    atlas.bad(&["runs", "list", "--tenant", "Contoso North"], "invalid");
    let human = atlas.ok_human(&["runs", "list", "--outcome", "blocked"]);
    assert!(human.contains(&blocked) && human.contains("blocked [provider_connection_disabled]"), "{human}");
    assert_eq!(atlas.ok_human(&["runs", "list", "--status", "running"]).trim(), "no runs");
}

fn cancel_and_retry(atlas: Atlas) {
    let north = atlas.world();
    let run = id(&atlas.start(MANAGER, &north, "inventory.sync", None));
    // Neither an operator who did not start it nor a reader may cancel it.
    for who in [OPERATOR, READONLY] {
        let e = atlas.refused(&["runs", "cancel", &run, "--as", who], 4);
        assert_eq!(e["code"], "forbidden", "{e}");
    }
    assert_eq!(atlas.show(&run)["status"], "queued");
    let c = atlas.ok(&["runs", "cancel", &run, "--as", MANAGER]);
    assert_eq!((c["status"].clone(), c["outcome"].clone()), (json!("completed"), json!("cancelled")), "{c}");
    assert_eq!(c["started_at"], Value::Null);
    assert_eq!(c["actions"], json!({"cancel": false, "retry": true}));
    atlas.bad(&["runs", "cancel", &run, "--as", MANAGER], "conflict");
    // An owner (operations.cancel) may cancel someone else's run.
    let other = id(&atlas.start(OPERATOR, &north, "inventory.sync", None));
    let human = atlas.ok_human(&["runs", "cancel", &other, "--as", OWNER]);
    assert_eq!(human.trim(), format!("run {other} cancelled"));
    let report = atlas.drain();
    assert_eq!(report["started"], 0, "cancelled runs never start: {report}");
    assert_eq!(audit_actions(&atlas, &run), ["operation.queued", "operation.cancelled"]);

    // A blocked run, retried once the world is fixed.
    let blocked = id(&atlas.start(OPERATOR, &north, "inventory.sync", None));
    atlas.ok(&["connections", "disable", "--tenant", &north]);
    atlas.drain();
    assert_eq!(atlas.show(&blocked)["outcome"], "blocked");
    let e = atlas.refused(&["runs", "retry", &blocked, "--as", OPERATOR], 5);
    assert_eq!(e["reason_code"], "provider_connection_disabled", "a retry is authorized afresh");
    atlas.ok(&["connections", "enable", "--tenant", &north]);
    let e = atlas.refused(&["runs", "retry", &blocked, "--as", READONLY], 4);
    assert_eq!(e["reason_code"], "capability_revoked");
    let retry = atlas.ok(&["runs", "retry", &blocked, "--as", OPERATOR]);
    let retry_id = id(&retry);
    assert_ne!(retry_id, blocked);
    assert_eq!(retry["retry_of_run_id"], json!(blocked));
    assert_eq!((retry["status"].clone(), retry["deduplicated"].clone()), (json!("queued"), json!(false)));
    assert_eq!(retry["type"], "inventory.sync");
    atlas.drain();
    let done = atlas.show(&retry_id);
    assert_eq!((done["outcome"].clone(), done["retry_of_run_id"].clone()), (json!("succeeded"), json!(blocked)));
    assert_eq!(atlas.show(&blocked)["outcome"], "blocked", "completed runs never change");
    let e = atlas.refused(&["runs", "retry", &retry_id, "--as", OPERATOR], 2);
    assert_eq!(e["code"], "conflict", "a succeeded run is not retried: {e}");
    // A cancelled run may be retried by someone else, who becomes its initiator.
    let again = atlas.ok(&["runs", "retry", &run, "--as", OWNER]);
    assert_eq!(again["retry_of_run_id"], json!(run));
    let owner_id = atlas.ok(&["users", "list"]).as_array().unwrap().iter().find(|u| u["email"] == OWNER).map(id);
    assert_eq!(again["initiator_user_id"], json!(owner_id.unwrap()));
    atlas.bad(&["runs", "retry", &Uuid::now_v7().to_string(), "--as", OWNER], "not_found");
}

fn watch_follows_a_run_to_its_end(atlas: Atlas) {
    let north = atlas.world();
    let run = id(&atlas.start(MANAGER, &north, "inventory.sync", None));
    // Watching a queued run waits for it.
    let mut watcher = atlas.spawn(&["runs", "watch", &run, "--json"], &[]);
    std::thread::sleep(Duration::from_millis(700));
    assert!(!watcher.exited(), "watch waits while the run is queued");
    atlas.drain();
    let out = watcher.wait(Duration::from_secs(30));
    assert_eq!(out.code, 0, "{out:?}");
    let doc: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!((doc["id"].clone(), doc["status"].clone()), (json!(run), json!("completed")), "{doc}");
    assert!(out.stderr.contains("queued · attempt 0 of 3"), "progress while queued: {out:?}");
    assert!(out.stderr.contains("[##############################]"), "a full bar at the end: {out:?}");

    // A completed run prints at once, its result in words.
    let out = atlas.run_bounded(&["runs", "watch", &run], &[], Duration::from_secs(30));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("Inventory sync on Contoso North succeeded"), "{out:?}");
    assert!(out.stderr.contains("completed · attempt 1 of 3"), "{out:?}");
    atlas.bad(&["runs", "watch", &Uuid::now_v7().to_string()], "not_found");
}

fn schedules_fire_once_per_slot_and_stop_when_disabled(atlas: Atlas) {
    let north = atlas.world();
    let events = atlas.audit_len();
    let add = |cron: &str| ["schedules", "add", "--tenant", &north, "--cron", cron].map(str::to_owned);
    let bad = |args: [String; 6], code: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        atlas.bad(&args, code)
    };
    let message = bad(add("every day"), "invalid");
    assert!(message.contains("every day"), "{message}");
    bad(add("61 3 * * *"), "invalid");
    bad(add("0 3 * *"), "invalid");
    atlas.bad(&["schedules", "add", "--tenant", &north, "--cron", "0 3 * * *", "--tz", "Mars/Olympus"], "invalid");
    atlas.bad(&["schedules", "add", "--tenant", &Uuid::now_v7().to_string(), "--cron", "0 3 * * *"], "not_found");
    assert_eq!(atlas.ok(&["schedules", "list"]), json!([]));
    assert_eq!(atlas.audit_len(), events);

    // Leap days only, so that the worker's own cron loop never fires a slot
    // of its own during the test (its latest slot predates the schedule).
    let cron = "0 0 29 2 *";
    let s = atlas.ok(&["schedules", "add", "--tenant", &north, "--cron", cron]);
    let sid = id(&s);
    assert_eq!(
        (s["enabled"].clone(), s["cron"].clone(), s["timezone"].clone()),
        (json!(true), json!(cron), json!("UTC"))
    );
    assert_eq!(s["tenant_id"], json!(north));

    let slot = "2024-02-29T00:00:00Z";
    let fired = atlas.ok(&["schedules", "fire", &sid, "--slot", slot]);
    let run = fired.clone();
    assert_eq!(fired["slot"], json!(slot), "{fired}");
    let run_id = id(&run);
    assert_eq!(run["type"], "backup.run");
    assert_eq!(
        (run["authority_mode"].clone(), run["initiator_user_id"].clone()),
        (json!("system_authority"), Value::Null)
    );
    assert_eq!(run["source"]["schedule_id"], json!(sid));
    assert_eq!(run["status"], "queued");
    let again = atlas.ok(&["schedules", "fire", &sid, "--slot", slot]);
    assert_eq!((again["already_fired"].clone(), again["run_id"].clone()), (json!(true), json!(run_id)), "{again}");
    let human = atlas.ok_human(&["schedules", "fire", &sid, "--slot", slot]);
    assert!(human.contains("had already fired") && human.contains(&run_id), "{human}");
    assert_eq!(atlas.run_ids(), [run_id.as_str()], "one run per slot");
    atlas.bad(&["schedules", "fire", &sid, "--slot", "tomorrow at three"], "invalid");
    atlas.bad(&["schedules", "fire", &Uuid::now_v7().to_string()], "not_found");
    let system = atlas.ok(&["runs", "list", "--initiator", "system"]);
    assert_eq!(system["data"].as_array().unwrap().len(), 1);

    // Switched off before the worker got to it: refused, and nobody is notified.
    let d = atlas.ok(&["schedules", "disable", &sid]);
    assert_eq!(d["enabled"], false);
    assert!(atlas.ok_human(&["schedules", "list"]).contains("disabled"));
    let e = atlas.refused(&["schedules", "fire", &sid, "--slot", "2020-02-29T00:00:00Z"], 5);
    assert_eq!(
        (e["denial_class"].clone(), e["reason_code"].clone()),
        (json!("authority_invalid"), json!("schedule_disabled"))
    );
    let report = atlas.drain();
    assert_eq!((report["started"].clone(), report["blocked"].clone()), (json!(0), json!(1)), "{report}");
    let r = atlas.show(&run_id);
    assert_eq!((r["status"].clone(), r["outcome"].clone()), (json!("completed"), json!("blocked")), "{r}");
    assert_eq!(r["decision"]["reason_code"], "schedule_disabled");
    assert_eq!(r["decision"]["denial_class"], "authority_invalid");
    assert_eq!(r["started_at"], Value::Null);
    assert_eq!(notifications(&atlas, &run_id), 0, "system runs notify nobody");
    assert_eq!(audit_actions(&atlas, &run_id), ["operation.queued", "operation.blocked"]);

    // Enabled again, the next slot backs the tenant up.
    assert_eq!(atlas.ok(&["schedules", "enable", &sid])["enabled"], true);
    let next = atlas.ok(&["schedules", "fire", &sid, "--slot", "2020-02-29T00:00:00Z"]);
    let next_id = id(&next);
    atlas.drain();
    let r = atlas.show(&next_id);
    assert_eq!(r["outcome"], "succeeded", "{r}");
    assert!(r["result"]["backup_set_id"].is_string(), "{r}");
    assert_eq!(notifications(&atlas, &next_id), 0);
    let listed = atlas.ok(&["schedules", "list", "--workspace", "acme"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

fn sandbox_faults(atlas: Atlas) {
    let north = atlas.world();
    let message = atlas.bad(&["sandbox", "fault", "--tenant", &north, "--kind", "gremlins"], "invalid");
    assert!(message.contains("gremlins") || message.contains("latency"), "{message}");
    atlas.bad(&["sandbox", "fault", "--tenant", &north, "--kind", "error", "--calls", "-1"], "invalid");
    atlas.bad(&["sandbox", "fault", "--tenant", &Uuid::now_v7().to_string(), "--kind", "error"], "not_found");
    let bare = atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "No Connection"]);
    let message = atlas.bad(&["sandbox", "fault", "--tenant", &id(&bare), "--kind", "error"], "invalid");
    assert!(message.contains("no sandbox connection"), "{message}");

    // Four failing calls, one more than a provider call is tried (the first
    // and three retries): the run is retried and succeeds on its second attempt.
    let f = atlas.ok(&["sandbox", "fault", "--tenant", &north, "--kind", "error", "--calls", "4"]);
    assert_eq!(f, json!({"tenant_id": north, "kind": "error", "calls": 4, "ms": 1000}));
    let run = id(&atlas.start(MANAGER, &north, "inventory.sync", None));
    atlas.drain();
    let r = atlas.show(&run);
    assert_eq!((r["outcome"].clone(), r["attempt"].clone()), (json!("succeeded"), json!(2)), "{r}");
    assert_eq!(r["failures"][0]["code"], "provider_unavailable", "{r}");
    assert_eq!(
        audit_actions(&atlas, &run),
        [
            "operation.queued",
            "operation.started",
            "operation.retry_scheduled",
            "operation.started",
            "operation.completed"
        ]
    );
    assert_eq!(notifications(&atlas, &run), 1);
    let human = atlas.ok_human(&[
        "sandbox",
        "fault",
        "--tenant",
        "Contoso North",
        "--workspace",
        "acme",
        "--kind",
        "latency",
        "--calls",
        "0",
    ]);
    assert!(human.contains("latency"), "{human}");
}

cli_both_stores!(
    start_queues_a_run_and_dedupes,
    bad_input_exits_2_and_stores_nothing,
    gate_denials_at_start_have_their_exit_codes,
    worker_drains_and_list_filters,
    cancel_and_retry,
    watch_follows_a_run_to_its_end,
    schedules_fire_once_per_slot_and_stop_when_disabled,
    sandbox_faults,
);
