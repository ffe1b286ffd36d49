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
    restore_preview_and_restore_show_each_items_action
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
