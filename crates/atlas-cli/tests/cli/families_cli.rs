//! Backup and restore from the terminal (SPEC §5, issue 4): `backups list|show`
//! after a `backup.run`, a dry-run restore's plan in `runs show`, and a restore
//! round trip — all through the `atlas` binary, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use crate::support::world::{Db, MANAGER, OPERATOR, OUTSIDER};
use crate::support::Atlas;
use serde_json::{json, Value};
use uuid::Uuid;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// Backs the tenant up through the CLI; returns the run and its backup set id.
fn backup(atlas: &Atlas, tenant: &str) -> (Value, String) {
    let run = id(&atlas.start(OPERATOR, tenant, "backup.run", None));
    atlas.drain();
    let run = atlas.show(&run);
    assert_eq!((run["status"].clone(), run["outcome"].clone()), (json!("completed"), json!("succeeded")), "{run}");
    let set = run["result"]["backup_set_id"].as_str().unwrap_or_else(|| panic!("no backup set in {run}")).to_owned();
    (run, set)
}

/// The tenant's objects by kind and name (ids change when a deleted object is
/// re-created), with the fields a restore compares; panics on a duplicate.
fn tenant_state(db: &Db, tenant: Uuid) -> BTreeMap<(String, String), Value> {
    let mut state = BTreeMap::new();
    for kind in atlas_providers::object_type::all() {
        for o in db.block(db.store.sandbox_objects(tenant, kind.key)).unwrap() {
            let key = (kind.key.to_owned(), o.display_name.clone());
            let prev = state.insert(key, kind.comparable(&o.payload));
            assert!(prev.is_none(), "duplicate object {} {}", kind.key, o.display_name);
        }
    }
    state
}

/// An object of the sandbox tenant: kind, object id, display name.
type Object = (String, String, String);

/// An administrator edits `edits` objects and deletes one in the tenant's own
/// portal; returns the (kind, object id, name) of the edited ones and the deleted one.
fn drift(db: &Db, tenant: Uuid, edits: usize) -> (Vec<Object>, Object) {
    let configs = db.block(db.store.sandbox_objects(tenant, "device_configuration")).unwrap();
    let mut edited = Vec::new();
    for o in configs.iter().take(edits) {
        let mut payload = o.payload.clone();
        payload["description"] = json!("changed outside TenantAtlas");
        assert!(db
            .block(db.store.sandbox_out_of_band_update(tenant, "device_configuration", &o.object_id, &payload))
            .unwrap());
        edited.push(("device_configuration".to_owned(), o.object_id.clone(), o.display_name.clone()));
    }
    let gone = &db.block(db.store.sandbox_objects(tenant, "compliance_policy")).unwrap()[0];
    assert!(db.block(db.store.sandbox_out_of_band_delete(tenant, "compliance_policy", &gone.object_id)).unwrap());
    (edited, ("compliance_policy".to_owned(), gone.object_id.clone(), gone.display_name.clone()))
}

fn backups_list_and_show(atlas: Atlas) {
    let north = atlas.world();
    let tenant = Uuid::parse_str(&north).unwrap();
    assert_eq!(atlas.ok(&["backups", "list", "--tenant", &north]), json!([]));
    assert_eq!(atlas.ok_human(&["backups", "list", "--tenant", &north]).trim(), "no backup sets");

    let (run, set) = backup(&atlas, &north);
    let db = atlas.db();
    let objects = tenant_state(&db, tenant).len() as u64;
    assert_eq!(run["summary_counts"]["total"], json!(objects), "{run}");

    let sets = atlas.ok(&["backups", "list", "--tenant", &north]);
    let [listed] = sets.as_array().unwrap().as_slice() else { panic!("one backup set: {sets}") };
    assert_eq!(id(listed), set);
    assert_eq!((listed["run_id"].clone(), listed["tenant_id"].clone()), (run["id"].clone(), json!(north)));
    assert_eq!(listed["item_count"], json!(objects));
    assert_eq!(atlas.ok(&["backups", "list", "--tenant", "Contoso North", "--workspace", "acme"]), sets);
    let human = atlas.ok_human(&["backups", "list", "--tenant", &north]);
    assert!(human.starts_with(&format!("{set}  {objects} items")), "{human}");

    let shown = atlas.ok(&["backups", "show", &set]);
    assert_eq!(&shown["backup_set"], listed);
    // Items by type, in the registry's order, each type's sorted by name.
    let groups = shown["types"].as_array().unwrap();
    let registry: Vec<&str> = atlas_providers::object_type::all().iter().map(|t| t.key).collect();
    let order: Vec<&str> = groups.iter().map(|g| g["object_type"].as_str().unwrap()).collect();
    assert_eq!(order, registry, "every registered type is in the sandbox, in the registry's order");
    let items: Vec<&Value> = groups.iter().flat_map(|g| g["items"].as_array().unwrap()).collect();
    assert_eq!(items.len() as u64, objects);
    for g in groups {
        let names: Vec<&str> = g["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
        assert!(g["label"].as_str().is_some_and(|l| !l.is_empty()));
        for item in g["items"].as_array().unwrap() {
            for key in ["item_id", "object_id", "name", "assignments", "content_hash"] {
                assert!(item.get(key).is_some_and(|v| !v.is_null()), "{key} missing from {item}");
            }
        }
    }
    let human = atlas.ok_human(&["backups", "show", &set]);
    assert!(human.starts_with(&format!("backup set {set}")), "{human}");
    assert_eq!(human.lines().count() as u64, objects + 1 + groups.len() as u64, "{human}");
    assert!(human.contains(items[0]["name"].as_str().unwrap()), "{human}");
    // Searchable by name.
    let found = atlas.ok(&["backups", "show", &set, "--search", "bitlocker"]);
    let hits: Vec<&Value> =
        found["types"].as_array().unwrap().iter().flat_map(|g| g["items"].as_array().unwrap()).collect();
    assert!(!hits.is_empty() && hits.len() < items.len(), "{found}");
    assert!(hits.iter().all(|i| i["name"].as_str().unwrap().to_lowercase().contains("bitlocker")));

    // A second backup is listed first.
    let (_, second) = backup(&atlas, &north);
    let sets = atlas.ok(&["backups", "list", "--tenant", &north]);
    let ids: Vec<String> = sets.as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [second, set.clone()]);
    assert_eq!(atlas.ok(&["backups", "list", "--tenant", &north, "--limit", "1"]).as_array().unwrap().len(), 1);

    atlas.bad(&["backups", "show", "not-a-set"], "invalid");
    atlas.bad(&["backups", "show", &Uuid::now_v7().to_string()], "not_found");
    atlas.bad(&["backups", "list", "--tenant", "Contoso North"], "invalid");
    atlas.bad(&["backups", "list", "--tenant", "Nowhere", "--workspace", "acme"], "not_found");
}

fn dry_run_plan_shows_in_runs_show(atlas: Atlas) {
    let north = atlas.world();
    let tenant = Uuid::parse_str(&north).unwrap();
    let (_, set) = backup(&atlas, &north);
    let db = atlas.db();
    let (edited, gone) = drift(&db, tenant, 1);
    let drifted = tenant_state(&db, tenant);
    // A dry run needs no open write gate.
    atlas.ok(&["tenants", "write-gate", "--tenant", &north, "closed"]);
    let params = format!(r#"{{"backup_set_id": "{set}", "dry_run": true}}"#);
    let run = id(&atlas.start(MANAGER, &north, "restore.execute", Some(&params)));
    atlas.drain();

    let r = atlas.show(&run);
    assert_eq!((r["status"].clone(), r["outcome"].clone()), (json!("completed"), json!("succeeded")), "{r}");
    assert_eq!((r["result"]["dry_run"].clone(), r["result"]["backup_set_id"].clone()), (json!(true), json!(set)));
    let plan = r["result"]["plan"].as_array().unwrap_or_else(|| panic!("a plan in {r}"));
    let total = r["summary_counts"]["total"].as_u64().unwrap();
    assert_eq!(plan.len() as u64, total);
    assert_eq!(
        r["result"]["plan_summary"],
        json!({"create": 1, "update": 1, "unchanged": total - 2, "skipped": 0}),
        "{r}"
    );
    let action_of = |object_id: &str| {
        let row = plan
            .iter()
            .find(|p| p["object_id"] == json!(object_id))
            .unwrap_or_else(|| panic!("{object_id} in the plan"));
        row["action"].as_str().unwrap().to_owned()
    };
    assert_eq!(action_of(&gone.1), "create");
    assert_eq!(action_of(&edited[0].1), "update");
    for row in plan {
        for key in ["item_id", "kind", "object_id", "display_name", "action"] {
            assert!(row[key].is_string(), "{key} in {row}");
        }
    }
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, total);
    assert!(items.iter().all(|i| i["outcome"] == "skipped" && i["reason_code"] == "dry_run"), "{items:?}");
    assert_eq!(
        (r["summary_counts"]["skipped"].clone(), r["summary_counts"]["processed"].clone()),
        (json!(total), json!(total))
    );

    let human = atlas.ok_human(&["runs", "show", &run]);
    assert!(human.contains("plan (dry run):"), "{human}");
    let line_of =
        |name: &str| human.lines().find(|l| l.contains(name) && l.trim_start().starts_with(['c', 'u'])).map(str::trim);
    let create = line_of(&gone.2).unwrap_or_else(|| panic!("a create line for {}: {human}", gone.2));
    assert!(create.starts_with("create") && create.contains("compliance_policy"), "{create}");
    let update = line_of(&edited[0].2).unwrap_or_else(|| panic!("an update line for {}: {human}", edited[0].2));
    assert!(update.starts_with("update") && update.contains("device_configuration"), "{update}");
    assert_eq!(human.lines().filter(|l| l.trim_start().starts_with("unchanged")).count() as u64, total - 2, "{human}");
    // The update shows the setting-level change it would make, live → backup.
    let update_row = plan.iter().find(|p| p["object_id"] == json!(edited[0].1)).unwrap();
    let change = update_row["changes"].as_array().unwrap().iter().find(|c| c["path"] == "/description").unwrap();
    assert_eq!(change["old"], json!("changed outside TenantAtlas"), "{update_row}");
    assert!(human.contains(r#"/description: "changed outside TenantAtlas" → "#), "{human}");

    // Nothing was written.
    assert!(db.block(db.store.sandbox_journal(tenant)).unwrap().is_empty());
    assert_eq!(tenant_state(&db, tenant), drifted);
}

fn restore_round_trip(atlas: Atlas) {
    let north = atlas.world();
    let tenant = Uuid::parse_str(&north).unwrap();
    let db = atlas.db();
    let original = tenant_state(&db, tenant);
    let (_, set) = backup(&atlas, &north);
    drift(&db, tenant, 2);
    assert_ne!(tenant_state(&db, tenant), original);

    let params = format!(r#"{{"backup_set_id": "{set}"}}"#);
    let started = atlas.start(MANAGER, &north, "restore.execute", Some(&params));
    assert_eq!(started["params"], json!({"backup_set_id": set, "dry_run": false}), "{started}");
    let report = atlas.drain();
    assert_eq!((report["started"].clone(), report["finished"].clone()), (json!(1), json!(1)), "{report}");
    let r = atlas.show(&id(&started));
    assert_eq!((r["status"].clone(), r["outcome"].clone()), (json!("completed"), json!("succeeded")), "{r}");
    let c = &r["summary_counts"];
    let total = original.len() as u64;
    assert_eq!(
        (c["total"].clone(), c["processed"].clone(), c["failed"].clone()),
        (json!(total), json!(total), json!(0)),
        "{r}"
    );
    assert_eq!(
        (c["created"].clone(), c["updated"].clone(), c["succeeded"].clone()),
        (json!(1), json!(2), json!(3)),
        "{r}"
    );
    assert_eq!(c["skipped"], json!(total - 3), "the rest was unchanged: {r}");
    assert_eq!((r["result"]["created"].clone(), r["result"]["updated"].clone()), (json!(1), json!(2)));
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, total, "one run item per object");
    assert!(items.iter().all(|i| i["status"] == "completed"), "{items:?}");
    let human = atlas.ok_human(&["runs", "show", &id(&started)]);
    assert!(human.contains(&format!("items ({total}):")) && human.contains("succeeded"), "{human}");
    assert!(!human.contains("plan (dry run)"), "{human}");

    assert_eq!(tenant_state(&db, tenant), original, "the tenant equals the backup, nothing duplicated");
    let journal = db.block(db.store.sandbox_journal(tenant)).unwrap();
    assert_eq!(journal.len(), 3, "exactly the three writes: {journal:?}");
    assert!(journal.iter().all(|e| e.run_id.to_string() == id(&started)));

    // Restoring again changes nothing.
    let again = id(&atlas.start(MANAGER, &north, "restore.execute", Some(&params)));
    atlas.drain();
    let r = atlas.show(&again);
    assert_eq!(r["outcome"], "succeeded", "{r}");
    let c = &r["summary_counts"];
    assert_eq!(
        (c["skipped"].clone(), c["created"].clone(), c["updated"].clone()),
        (json!(total), json!(0), json!(0)),
        "{r}"
    );
    assert!(r["items"].as_array().unwrap().iter().all(|i| i["reason_code"] == "unchanged"), "{r}");
    assert_eq!(db.block(db.store.sandbox_journal(tenant)).unwrap().len(), 3);

    // Selected items only, named by backup item id.
    let item = atlas.ok(&["backups", "show", &set])["types"][0]["items"][0]["item_id"].as_str().unwrap().to_owned();
    let picked = format!(r#"{{"backup_set_id": "{set}", "item_ids": ["{item}"]}}"#);
    let one = id(&atlas.start(MANAGER, &north, "restore.execute", Some(&picked)));
    atlas.drain();
    let r = atlas.show(&one);
    assert_eq!((r["outcome"].clone(), r["summary_counts"]["total"].clone()), (json!("succeeded"), json!(1)), "{r}");
    assert_eq!(
        atlas.ok(&["backups", "list", "--tenant", &north]).as_array().unwrap().len(),
        1,
        "a restore backs nothing up"
    );
}

/// `runs cancel` of a running restore: it stops before its next item, the
/// items done stay done, and the rest are recorded as cancelled.
fn cancel_stops_a_running_restore_between_items(atlas: Atlas) {
    let north = atlas.world();
    let (_, set) = backup(&atlas, &north);
    atlas.ok(&["sandbox", "fault", "--tenant", &north, "--kind", "latency", "--calls", "20", "--ms", "300"]);
    let run = id(&atlas.start(MANAGER, &north, "restore.execute", Some(&format!(r#"{{"backup_set_id": "{set}"}}"#))));
    let worker = atlas.spawn(&["worker", "--until-idle", "--json"], crate::support::world::FAST);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = atlas.show(&run);
        if r["status"] == "running" && r["summary_counts"]["processed"].as_u64().unwrap() > 0 {
            break;
        }
        assert!(r["status"] != "completed" && std::time::Instant::now() < deadline, "never caught running: {r}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Someone without operations.cancel who did not start it may not.
    assert_eq!(atlas.refused(&["runs", "cancel", &run, "--as", OPERATOR], 4)["code"], "forbidden");
    let human = atlas.ok_human(&["runs", "cancel", &run, "--as", MANAGER]);
    assert_eq!(human.trim(), format!("run {run} will stop before its next item"));
    let out = worker.wait(std::time::Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out:?}");

    let r = atlas.show(&run);
    assert_eq!((r["status"].clone(), r["outcome"].clone()), (json!("completed"), json!("partially_succeeded")), "{r}");
    let c = &r["summary_counts"];
    let (total, processed) = (c["total"].as_u64().unwrap(), c["processed"].as_u64().unwrap());
    assert!(processed > 0 && processed < total, "stopped mid-way: {r}");
    let items = r["items"].as_array().unwrap();
    let cancelled = items.iter().filter(|i| i["outcome"] == "cancelled").count() as u64;
    assert_eq!(cancelled, total - processed, "the rest are cancelled: {items:?}");
    let actions: Vec<String> = {
        let filter =
            atlas_store::audit::AuditFilter { subject: Some(format!("run:{run}")), limit: 100, ..Default::default() };
        let db = atlas.db();
        let mut events = db.block(db.store.audit_events(filter)).unwrap();
        events.sort_by_key(|e| e.seq);
        events.into_iter().map(|e| e.action).collect()
    };
    assert_eq!(actions, ["operation.queued", "operation.started", "operation.cancelled"]);
}

/// "[Baseline] Windows - Device Restrictions" of the sandbox seed.
const DEVICE_RESTRICTIONS: &str = "8d4d2cd6-1c9c-4db1-937d-d03b94b09201";
/// "[Baseline] Windows - BitLocker", a settings-catalog policy.
const BITLOCKER: &str = "9cb2b211-8b18-442f-a535-ce8771a3bb5a";

fn sync(atlas: &Atlas, tenant: &str) -> Value {
    let run = id(&atlas.start(OPERATOR, tenant, "policies.sync", None));
    atlas.drain();
    let run = atlas.show(&run);
    assert_eq!(run["outcome"], json!("succeeded"), "{run}");
    run
}

fn registry_sandbox_edits_history_and_backup_diffs(atlas: Atlas) {
    // The registry, whole.
    let types = atlas.ok(&["object-types", "list"]);
    let types = types.as_array().unwrap();
    assert!(types.len() >= 30, "{} types", types.len());
    assert_eq!(types.len(), atlas_providers::object_type::all().len());
    for t in types {
        for key in [
            "key",
            "label",
            "collections",
            "members",
            "assignment_mode",
            "restorable",
            "server_managed",
            "match",
            "depends_on",
        ] {
            assert!(t.get(key).is_some(), "{key} missing from {t}");
        }
    }
    assert_eq!(atlas.ok_human(&["object-types", "list"]).lines().count(), types.len());

    let north = atlas.world();
    let south = atlas.tenant("Contoso South");
    // The simulated tenant's objects, all or of one type.
    let all = atlas.ok(&["sandbox", "objects", "--tenant", &north]);
    let all = all.as_array().unwrap();
    let seeded: std::collections::BTreeSet<&str> = all.iter().filter_map(|o| o["object_type"].as_str()).collect();
    assert_eq!(seeded.len(), types.len(), "every registered type is seeded");
    let catalog = atlas.ok(&["sandbox", "objects", "--tenant", &north, "--type", "configuration_policy"]);
    assert!(catalog.as_array().unwrap().iter().all(|o| o["object_type"] == "configuration_policy"), "{catalog}");
    atlas.bad(&["sandbox", "objects", "--tenant", &north, "--type", "no_such_type"], "invalid");

    sync(&atlas, &north);
    let (_, before) = backup(&atlas, &north);

    // An admin edits two objects in the portal and deletes a third.
    let edited = atlas.ok(&[
        "sandbox",
        "edit",
        "--tenant",
        &north,
        "--object",
        DEVICE_RESTRICTIONS,
        "--set",
        "/passwordMinimumLength=14",
        "--set",
        r#"description="edited in the portal""#,
    ]);
    assert_eq!(
        (edited["payload"]["passwordMinimumLength"].clone(), edited["payload"]["description"].clone()),
        (json!(14), json!("edited in the portal"))
    );
    let bitlocker = catalog.as_array().unwrap().iter().find(|o| o["object_id"] == BITLOCKER).unwrap();
    let setting = &bitlocker["payload"]["settings"][0]["settingInstance"];
    let definition = setting["settingDefinitionId"].as_str().unwrap();
    let path = format!("/settings/{definition}/settingInstance/settingInstanceTemplateReference");
    atlas.ok(&[
        "sandbox",
        "edit",
        "--tenant",
        &north,
        "--object",
        BITLOCKER,
        "--set",
        &format!(r#"{path}={{"settingInstanceTemplateId": "edited"}}"#),
    ]);
    let gone = all.iter().find(|o| o["object_type"] == "device_category").unwrap();
    let gone_id = gone["object_id"].as_str().unwrap();
    let deleted = atlas.ok(&["sandbox", "edit", "--tenant", &north, "--object", gone_id, "--delete"]);
    assert_eq!(deleted["deleted"], json!(true));
    atlas.bad(&["sandbox", "edit", "--tenant", &north, "--object", gone_id, "--delete"], "invalid");
    atlas.bad(
        &["sandbox", "edit", "--tenant", &north, "--object", DEVICE_RESTRICTIONS, "--set", "/x=not json"],
        "invalid",
    );
    atlas.bad(&["sandbox", "edit", "--tenant", &north, "--object", DEVICE_RESTRICTIONS, "--set", "nothing"], "invalid");

    // Version history: one version per content change.
    sync(&atlas, &north);
    let history = atlas.ok(&["policies", "history", "--tenant", &north, "--object", DEVICE_RESTRICTIONS]);
    let versions: Vec<i64> =
        history["versions"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [1, 2], "{history}");
    let diff = atlas.ok(&["policies", "diff", "--tenant", &north, "--object", DEVICE_RESTRICTIONS]);
    assert_eq!((diff["from"].clone(), diff["to"].clone()), (json!(1), json!(2)));
    let changes = diff["changes"].as_array().unwrap();
    let min = changes.iter().find(|c| c["path"] == "/passwordMinimumLength").unwrap_or_else(|| panic!("{diff}"));
    assert_eq!(min["new"], json!(14));
    assert!(changes.iter().any(|c| c["path"] == "/description" && c["new"] == "edited in the portal"), "{diff}");
    // Settings-catalog settings are addressed by their definition id.
    let diff = atlas.ok(&["policies", "diff", "--tenant", &north, "--object", BITLOCKER, "--from", "1", "--to", "2"]);
    let changes = diff["changes"].as_array().unwrap();
    assert!(
        !changes.is_empty()
            && changes.iter().all(|c| c["path"].as_str().unwrap().starts_with(&format!("/settings/{definition}/"))),
        "{diff}"
    );
    let human = atlas.ok_human(&["policies", "diff", "--tenant", &north, "--object", DEVICE_RESTRICTIONS]);
    assert!(human.contains("/passwordMinimumLength:") && human.contains("→ 14"), "{human}");
    let same = atlas.ok(&[
        "policies",
        "diff",
        "--tenant",
        &north,
        "--object",
        DEVICE_RESTRICTIONS,
        "--from",
        "2",
        "--to",
        "2",
    ]);
    assert_eq!(same["changes"], json!([]));
    atlas.bad(&["policies", "history", "--tenant", &north, "--object", "no-such-object"], "not_found");
    atlas.bad(&["policies", "diff", "--tenant", &north, "--object", DEVICE_RESTRICTIONS, "--from", "9"], "invalid");

    // Two backups compared: added, removed, changed with their settings.
    let (_, after) = backup(&atlas, &north);
    let d = atlas.ok(&["backups", "diff", &before, &after]);
    assert_eq!(d["added"], json!([]), "{d}");
    let removed = d["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(
        (removed[0]["object_type"].clone(), removed[0]["object_id"].clone()),
        (json!("device_category"), json!(gone_id))
    );
    let changed: Vec<&str> =
        d["changed"].as_array().unwrap().iter().map(|c| c["object_id"].as_str().unwrap()).collect();
    assert_eq!(changed.len(), 2, "{d}");
    assert!(changed.contains(&DEVICE_RESTRICTIONS) && changed.contains(&BITLOCKER), "{d}");
    assert_eq!(d["unchanged"], json!(all.len() - 3));
    let reverse = atlas.ok(&["backups", "diff", &after, &before]);
    assert_eq!(reverse["added"].as_array().unwrap().len(), 1);
    let human = atlas.ok_human(&["backups", "diff", &before, &after]);
    assert!(human.contains("0 added, 1 removed, 2 changed"), "{human}");
    let (_, other) = backup(&atlas, &south);
    atlas.bad(&["backups", "diff", &before, &other], "invalid");
    atlas.bad(&["backups", "diff", &before, "not-a-set"], "invalid");
    atlas.bad(&["backups", "diff", &before, &Uuid::now_v7().to_string()], "not_found");
}

/// `atlas tenants drift`: refused without a backup or a connection; after
/// `sandbox edit` changes the live tenant, the check (run by a worker while
/// the verb waits) reports the changed and removed objects with their
/// setting-level changes, and keeps the result.
fn drift_from_the_terminal(atlas: Atlas) {
    let north = atlas.world();
    let no_backup = atlas.bad(&["tenants", "drift", "--tenant", &north, "--as", MANAGER], "invalid");
    assert!(no_backup.contains("no backup set"), "{no_backup}");
    atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "Bare"]);
    let bare = atlas.bad(&["tenants", "drift", "--tenant", "Bare", "--workspace", "acme", "--as", MANAGER], "invalid");
    assert!(bare.contains("no provider connection"), "{bare}");
    atlas.bad(&["tenants", "drift", "--tenant", &north], "invalid");
    atlas.refused(&["tenants", "drift", "--tenant", &north, "--as", OUTSIDER], 3);
    assert_eq!(atlas.run_ids().len(), 0, "a refused check stores nothing");

    let (_, set) = backup(&atlas, &north);
    atlas.ok(&[
        "sandbox",
        "edit",
        "--tenant",
        &north,
        "--object",
        DEVICE_RESTRICTIONS,
        "--set",
        "/passwordMinimumLength=15",
    ]);
    let gone = atlas.ok(&["sandbox", "objects", "--tenant", &north, "--type", "device_category"]);
    let gone_id = gone[0]["object_id"].as_str().unwrap().to_owned();
    atlas.ok(&["sandbox", "edit", "--tenant", &north, "--object", &gone_id, "--delete"]);

    let _worker = atlas.spawn(&["worker"], crate::support::world::FAST);
    let limit = std::time::Duration::from_secs(60);
    let out = atlas.run_bounded(&["tenants", "drift", "--tenant", &north, "--as", MANAGER, "--json"], &[], limit);
    assert_eq!(out.code, 0, "{out:?}");
    let d: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!((d["backup_set_id"].clone(), d["changes"].clone()), (json!(set), json!(2)), "{d}");
    assert!(d["summary"].as_str().unwrap().starts_with("2 changes since the backup of "), "{d}");
    assert_eq!(d["removed"][0]["object_id"], json!(gone_id));
    assert_eq!(d["changed"][0]["object_id"], json!(DEVICE_RESTRICTIONS));
    let change = &d["changed"][0]["changes"][0];
    assert_eq!((change["path"].clone(), change["new"].clone()), (json!("/passwordMinimumLength"), json!(15)), "{d}");
    let run = atlas.show(d["run_id"].as_str().unwrap());
    assert_eq!((run["type"].clone(), run["outcome"].clone()), (json!("drift.check"), json!("succeeded")), "{run}");

    let human = atlas.run_bounded(
        &["tenants", "drift", "--tenant", "Contoso North", "--workspace", "acme", "--as", MANAGER],
        &[],
        limit,
    );
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains("Contoso North: 2 changes since the backup of"), "{human:?}");
    assert!(human.stdout.contains("/passwordMinimumLength: 8 → 15") || human.stdout.contains("→ 15"), "{human:?}");
    assert!(human.stdout.contains("0 added, 1 removed, 1 changed"), "{human:?}");
    let queued = atlas.ok(&["tenants", "drift", "--tenant", &north, "--as", MANAGER, "--no-wait"]);
    assert_eq!(queued["type"], json!("drift.check"), "{queued}");
}

cli_both_stores!(
    drift_from_the_terminal,
    backups_list_and_show,
    registry_sandbox_edits_history_and_backup_diffs,
    dry_run_plan_shows_in_runs_show,
    restore_round_trip,
    cancel_stops_a_running_restore_between_items,
);
