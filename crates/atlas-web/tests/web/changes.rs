//! Change visibility over the API (SPEC §10.1): the object-type registry, an
//! object's versions and their setting-level diff, a backup set by type, and
//! the diff of two backup sets — with the 404 rule for what a viewer may not
//! see and 422 for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_core::OperationType;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use axum::http::Method;

use crate::support::{get, send, Auth, Payload, World};

both_stores!(
    versions_and_backup_diffs_are_served_with_the_access_rules,
    drift_is_started_as_an_operation_and_kept,
    restore_preview_and_restore_show_each_items_action,
    the_console_shows_the_fleet_drift_backups_and_diffs
);

const DEVICE_RESTRICTIONS: &str = "8d4d2cd6-1c9c-4db1-937d-d03b94b09201";

async fn backup(w: &World, tenant: &atlas_store::admin::Tenant) -> Uuid {
    let run = w.start(&w.owner.user, tenant, OperationType::BackupRun, json!({})).await;
    w.drain().await;
    let run = w.store.run_get(run.id).await.unwrap();
    Uuid::parse_str(run.result["backup_set_id"].as_str().unwrap()).unwrap()
}

async fn sync(w: &World, tenant: &atlas_store::admin::Tenant) {
    w.start(&w.owner.user, tenant, OperationType::PoliciesSync, json!({})).await;
    w.drain().await;
}

async fn versions_and_backup_diffs_are_served_with_the_access_rules(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.seed_sandboxes().await;
    let (a, b) = (&w.tenant_a, &w.tenant_b);
    let types = get(&w.app, "/api/v1/object-types", Auth::Bearer(&w.owner)).await;
    assert_eq!(types.status, StatusCode::OK);
    assert_eq!(types.json()["data"].as_array().unwrap().len(), atlas_core::object_type::all().len());

    sync(&w, a).await;
    let first = backup(&w, a).await;
    let mut edited = w.store.sandbox_object(a.id, "device_configuration", DEVICE_RESTRICTIONS).await.unwrap().unwrap();
    edited.payload["passwordMinimumLength"] = json!(15);
    assert!(w
        .store
        .sandbox_out_of_band_update(a.id, "device_configuration", DEVICE_RESTRICTIONS, &edited.payload)
        .await
        .unwrap());
    sync(&w, a).await;
    let second = backup(&w, a).await;
    let other = backup(&w, b).await;

    let versions = format!("/api/v1/tenants/{}/objects/{DEVICE_RESTRICTIONS}/versions", a.id);
    let r = get(&w.app, &versions, Auth::Bearer(&w.readonly)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["versions"].as_array().unwrap().len(), 2);
    let diff = format!("/api/v1/tenants/{}/objects/{DEVICE_RESTRICTIONS}/diff", a.id);
    let r = get(&w.app, &format!("{diff}?from=1&to=2"), Auth::Bearer(&w.readonly)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["path"] == "/passwordMinimumLength" && c["new"] == 15));
    for (path, status) in [
        (format!("{diff}?from=9"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("{diff}?from=one"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("{diff}?colour=teal"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("/api/v1/tenants/{}/objects/no-such-object/versions", a.id), StatusCode::NOT_FOUND),
    ] {
        let r = get(&w.app, &path, Auth::Bearer(&w.owner)).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
    }
    // Outside the viewer's scope or workspace: the same 404 as for nothing.
    assert_eq!(get(&w.app, &versions, Auth::Bearer(&w.scoped)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&w.app, &versions, Auth::Bearer(&w.outsider)).await.status, StatusCode::NOT_FOUND);

    let r = get(&w.app, &format!("/api/v1/backups/{first}/diff/{second}"), Auth::Bearer(&w.readonly)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d = r.json();
    assert_eq!((d["added"].clone(), d["removed"].clone()), (json!([]), json!([])));
    assert_eq!(d["changed"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d["changed"][0]["object_id"], DEVICE_RESTRICTIONS);
    let shown = get(&w.app, &format!("/api/v1/backups/{first}"), Auth::Bearer(&w.readonly)).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json()["types"].as_array().unwrap().len(), atlas_core::object_type::all().len());
    for (path, who, status) in [
        (format!("/api/v1/backups/{first}/diff/{other}"), &w.owner, StatusCode::UNPROCESSABLE_ENTITY),
        (format!("/api/v1/backups/{first}/diff/{second}"), &w.scoped, StatusCode::NOT_FOUND),
        (format!("/api/v1/backups/{first}/diff/{second}"), &w.outsider, StatusCode::NOT_FOUND),
        (format!("/api/v1/backups/{first}"), &w.outsider, StatusCode::NOT_FOUND),
        (format!("/api/v1/backups/{first}/diff/{}", Uuid::now_v7()), &w.owner, StatusCode::NOT_FOUND),
        (format!("/api/v1/backups/{first}/diff/not-a-set"), &w.owner, StatusCode::NOT_FOUND),
    ] {
        let r = get(&w.app, &path, Auth::Bearer(who)).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
    }
}

/// `drift.check` starts through the operations endpoint like any run (422
/// with words when there is nothing to compare), and
/// `GET /api/v1/tenants/{t}/drift` serves its kept result under the 404 rule.
async fn drift_is_started_as_an_operation_and_kept(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.seed_sandboxes().await;
    let a = &w.tenant_a;
    let start = format!("/api/v1/tenants/{}/operations", a.id);
    let body = || Payload::Json(json!({"type": "drift.check"}));
    let drift = format!("/api/v1/tenants/{}/drift", a.id);
    assert_eq!(get(&w.app, &drift, Auth::Bearer(&w.readonly)).await.status, StatusCode::NOT_FOUND, "never checked");
    let r = send(&w.app, Method::POST, &start, Auth::Bearer(&w.operator), body()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("no backup set"), "{}", r.text());
    let bare = w
        .store
        .tenant_create(w.ws.id, "Bare", atlas_core::tenant::TenantStatus::Active, false, None, &crate::support::cli())
        .await
        .unwrap();
    let r = send(
        &w.app,
        Method::POST,
        &format!("/api/v1/tenants/{}/operations", bare.id),
        Auth::Bearer(&w.operator),
        body(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("no provider connection"), "{}", r.text());
    // Outside the scope: the gate's 404, not the prerequisite's words.
    let r =
        send(&w.app, Method::POST, &format!("/api/v1/tenants/{}/operations", bare.id), Auth::Bearer(&w.scoped), body())
            .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(w.store.run_list(&Default::default()).await.unwrap().is_empty(), "refused starts store nothing");

    let set = backup(&w, a).await;
    let mut edited = w.store.sandbox_object(a.id, "device_configuration", DEVICE_RESTRICTIONS).await.unwrap().unwrap();
    edited.payload["passwordMinimumLength"] = json!(15);
    w.store
        .sandbox_out_of_band_update(a.id, "device_configuration", DEVICE_RESTRICTIONS, &edited.payload)
        .await
        .unwrap();
    let r = send(&w.app, Method::POST, &start, Auth::Bearer(&w.operator), body()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let run = r.json()["id"].as_str().unwrap().to_owned();
    w.drain().await;
    let r = get(&w.app, &drift, Auth::Bearer(&w.readonly)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d = r.json();
    assert_eq!(
        (d["run_id"].clone(), d["backup_set_id"].clone(), d["changes"].clone()),
        (json!(run), json!(set), json!(1)),
        "{d}"
    );
    assert_eq!(d["changed"][0]["object_id"], DEVICE_RESTRICTIONS);
    assert!(
        d["changed"][0]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "/passwordMinimumLength" && c["new"] == 15),
        "{d}"
    );
    assert!(d["summary"].as_str().unwrap().starts_with("1 change since the backup of "), "{d}");
    for who in [&w.scoped, &w.outsider] {
        assert_eq!(get(&w.app, &drift, Auth::Bearer(who)).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(get(&w.app, &drift, Auth::Bearer(&w.lacking)).await.status, StatusCode::FORBIDDEN);
}

/// The run JSON of a restore preview carries its plan (per item `action`, an
/// update's `changes`), and that of the real restore the same per item.
async fn restore_preview_and_restore_show_each_items_action(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.seed_sandboxes().await;
    let a = &w.tenant_a;
    let set = backup(&w, a).await;
    let mut edited = w.store.sandbox_object(a.id, "device_configuration", DEVICE_RESTRICTIONS).await.unwrap().unwrap();
    let was = edited.payload["passwordMinimumLength"].clone();
    edited.payload["passwordMinimumLength"] = json!(15);
    w.store
        .sandbox_out_of_band_update(a.id, "device_configuration", DEVICE_RESTRICTIONS, &edited.payload)
        .await
        .unwrap();
    let start = format!("/api/v1/tenants/{}/operations", a.id);
    let mut shown = Vec::new();
    for dry_run in [true, false] {
        let body =
            Payload::Json(json!({"type": "restore.execute", "params": {"backup_set_id": set, "dry_run": dry_run}}));
        let r = send(&w.app, Method::POST, &start, Auth::Bearer(&w.manager), body).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        let id = r.json()["id"].as_str().unwrap().to_owned();
        w.drain().await;
        let r = get(&w.app, &format!("/api/v1/operations/{id}"), Auth::Bearer(&w.manager)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        shown.push(r.json());
    }
    let plan = shown[0]["result"]["plan"].as_array().unwrap();
    let row = plan.iter().find(|p| p["object_id"] == DEVICE_RESTRICTIONS).unwrap();
    assert_eq!(row["action"], json!("update"));
    let expected = json!([{"path": "/passwordMinimumLength", "old": 15, "new": was}]);
    assert_eq!(row["changes"], expected, "{row}");
    let items = shown[1]["items"].as_array().unwrap();
    let item = items.iter().find(|i| i["target"]["object_id"] == DEVICE_RESTRICTIONS).unwrap();
    assert_eq!(
        (item["detail"]["action"].clone(), item["detail"]["changes"].clone()),
        (json!("update"), expected),
        "{item}"
    );
    assert_eq!(item["outcome"], json!("succeeded"));
}

/// The console's pages of what changed: the fleet overview (the workspace's
/// home) with the drift sentence, the drift page, a backup set by type with
/// search, the backup and version diffs with the changed settings marked, and
/// the restore offered only with its preview's plan.
async fn the_console_shows_the_fleet_drift_backups_and_diffs(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.seed_sandboxes().await;
    let a = &w.tenant_a;
    let ws = &w.ws.slug;
    sync(&w, a).await;
    let first = backup(&w, a).await;
    let fleet = get(&w.app, &format!("/admin/fleet?workspace={ws}"), Auth::Cookie(&w.readonly)).await;
    assert_eq!(fleet.status, StatusCode::OK);
    let text = fleet.text();
    assert!(text.contains("Not checked") && text.contains("Never backed up"), "B is neither: {text}");
    assert!(text.contains("Sandbox, enabled"), "connection health in words: {text}");
    assert!(!text.contains("{&quot;") && !text.contains("\"ok\""), "never raw JSON");

    let mut edited = w.store.sandbox_object(a.id, "device_configuration", DEVICE_RESTRICTIONS).await.unwrap().unwrap();
    edited.payload["passwordMinimumLength"] = json!(15);
    w.store
        .sandbox_out_of_band_update(a.id, "device_configuration", DEVICE_RESTRICTIONS, &edited.payload)
        .await
        .unwrap();
    w.start(&w.owner.user, a, OperationType::DriftCheck, json!({})).await;
    w.drain().await;
    let fleet = get(&w.app, &format!("/admin/fleet?workspace={ws}"), Auth::Cookie(&w.readonly)).await.text();
    assert!(fleet.contains("1 change since the backup of "), "{fleet}");
    assert!(fleet.contains(&format!("href=\"/admin/tenants/{}/drift\"", a.id)), "{fleet}");
    assert!(fleet.contains("data-outcome=\"succeeded\""), "the last run's outcome: {fleet}");
    // Scoped to tenant B only: A is not on their overview.
    let scoped = get(&w.app, &format!("/admin/fleet?workspace={ws}"), Auth::Cookie(&w.scoped)).await.text();
    assert!(!scoped.contains(&a.id.to_string()) && scoped.contains(&w.tenant_b.id.to_string()));

    let drift = get(&w.app, &format!("/admin/tenants/{}/drift", a.id), Auth::Cookie(&w.readonly)).await;
    assert_eq!(drift.status, StatusCode::OK);
    let page = drift.text();
    assert!(page.contains("data-change=\"changed\"") && page.contains("/passwordMinimumLength"), "{page}");
    assert!(page.contains("<td class=\"ins\"><code>15</code></td>"), "the new value, highlighted: {page}");
    let unified =
        get(&w.app, &format!("/admin/tenants/{}/drift?view=unified", a.id), Auth::Cookie(&w.readonly)).await.text();
    assert!(unified.contains("class=\"unified\"") && unified.contains("<div class=\"ins\">"), "{unified}");
    assert_eq!(
        get(&w.app, &format!("/admin/tenants/{}/drift?view=x&y=1", a.id), Auth::Cookie(&w.readonly)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        get(&w.app, &format!("/admin/tenants/{}/drift", a.id), Auth::Cookie(&w.scoped)).await.status,
        StatusCode::NOT_FOUND
    );

    sync(&w, a).await;
    let second = backup(&w, a).await;
    let shown = get(&w.app, &format!("/admin/backups/{first}"), Auth::Cookie(&w.readonly)).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.text().contains("data-object-type=\"device_configuration\""));
    let found =
        get(&w.app, &format!("/admin/backups/{first}?search=BitLocker"), Auth::Cookie(&w.readonly)).await.text();
    assert!(found.contains("items match") && !found.contains(DEVICE_RESTRICTIONS), "{found}");
    for (path, who) in [
        (format!("/admin/backups/{first}"), &w.scoped),
        (format!("/admin/backups/{first}/diff/{second}"), &w.outsider),
        (format!("/admin/backups/{}", Uuid::now_v7()), &w.owner),
    ] {
        assert_eq!(get(&w.app, &path, Auth::Cookie(who)).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let diff = get(&w.app, &format!("/admin/backups/{first}/diff/{second}"), Auth::Cookie(&w.readonly)).await;
    assert_eq!(diff.status, StatusCode::OK);
    let page = diff.text();
    assert!(
        page.contains(&format!("data-object-id=\"{DEVICE_RESTRICTIONS}\"")) && page.contains("/passwordMinimumLength"),
        "{page}"
    );
    let tenant_page = get(&w.app, &format!("/admin/tenants/{}", a.id), Auth::Cookie(&w.readonly)).await.text();
    assert!(
        tenant_page.contains(&format!("/admin/backups/{first}/diff/{second}")),
        "compare with previous: {tenant_page}"
    );
    assert!(tenant_page.contains("1 change since the backup of "), "{tenant_page}");

    let versions =
        get(&w.app, &format!("/admin/tenants/{}/objects/{DEVICE_RESTRICTIONS}/diff", a.id), Auth::Cookie(&w.readonly))
            .await;
    assert_eq!(versions.status, StatusCode::OK);
    assert!(
        versions.text().contains("version 1 → 2") && versions.text().contains("<td class=\"ins\"><code>15</code></td>"),
        "{}",
        versions.text()
    );

    // The restore form: a preview first; the real restore only with its plan.
    let page = get(&w.app, &format!("/admin/tenants/{}", a.id), Auth::Cookie(&w.manager)).await.text();
    assert!(page.contains("Preview restore…") && !page.contains("data-step=\"restore\""), "{page}");
    w.start(&w.manager.user, a, OperationType::RestoreExecute, json!({"backup_set_id": first, "dry_run": true})).await;
    w.drain().await;
    let page = get(&w.app, &format!("/admin/tenants/{}", a.id), Auth::Cookie(&w.manager)).await.text();
    assert!(page.contains("data-step=\"restore\"") && page.contains("Restore this backup set"), "{page}");
    assert!(page.contains("Would create 0, update 1 and leave"), "the preview's plan: {page}");
    assert!(page.contains(&format!("name=\"backup_set_id\" value=\"{first}\"")), "the previewed set: {page}");
}
