//! Monitoring behaviour: tabs with bounded counts, filters and keyset
//! pagination, the live-refresh fragment, partial scope, the start answers,
//! and the operations endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_core::OperationType;
use atlas_web::{routes, Surface};
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{form, get, send, Auth, Payload, World};

both_stores!(list_filters_paginate_and_scope, operations_endpoints_answer);

async fn list_filters_paginate_and_scope(store: atlas_store::Store) {
    let w = World::new(store).await;
    // Five queued runs in A (distinct types dedupe apart), one in B.
    let types = [
        OperationType::ProviderConnectionCheck,
        OperationType::InventorySync,
        OperationType::PoliciesSync,
        OperationType::ComplianceSnapshot,
        OperationType::BackupRun,
    ];
    let mut ids = Vec::new();
    for t in types {
        ids.push(w.start(&w.owner.user, &w.tenant_a, t, json!({})).await.id);
    }
    let in_b = w.start(&w.owner.user, &w.tenant_b, OperationType::InventorySync, json!({})).await;

    let page = get(&w.app, "/api/v1/operations?limit=2", Auth::Bearer(&w.owner)).await.json();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["id"], json!(in_b.id), "newest first");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let next = get(&w.app, &format!("/api/v1/operations?limit=2&cursor={cursor}"), Auth::Bearer(&w.owner)).await.json();
    assert_eq!(next["data"][0]["id"], json!(ids[3]));
    let last =
        get(&w.app, &format!("/api/v1/operations?limit=10&cursor={cursor}"), Auth::Bearer(&w.owner)).await.json();
    assert_eq!(last["next_cursor"], json!(null));

    let by_tenant =
        get(&w.app, &format!("/api/v1/operations?tenant_id={}", w.tenant_b.id), Auth::Bearer(&w.owner)).await;
    assert_eq!(by_tenant.json()["data"].as_array().unwrap().len(), 1);
    let by_type = get(&w.app, "/api/v1/operations?type=backup.run", Auth::Bearer(&w.owner)).await.json();
    assert_eq!(by_type["data"].as_array().unwrap().len(), 1);
    let by_initiator = get(&w.app, "/api/v1/operations?initiator=system", Auth::Bearer(&w.owner)).await.json();
    assert_eq!(by_initiator["data"].as_array().unwrap().len(), 0);

    // Partial scope: only tenant B's run; a filter on A is not found.
    let scoped = get(&w.app, "/api/v1/operations", Auth::Bearer(&w.scoped)).await.json();
    assert_eq!(scoped["data"].as_array().unwrap().len(), 1);
    assert_eq!(scoped["data"][0]["tenant_id"], json!(w.tenant_b.id));
    let hidden = get(&w.app, &format!("/api/v1/operations?tenant_id={}", w.tenant_a.id), Auth::Bearer(&w.scoped)).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.text(), r#"{"error":{"code":"not_found","message":"Not found"}}"#);
    let scoped_page = get(&w.app, "/admin/operations", Auth::Cookie(&w.scoped)).await.text();
    assert!(!scoped_page.contains(&ids[0].to_string()) && scoped_page.contains(&in_b.id.to_string()));

    // Tabs with counts; the table body refreshes itself while runs are active.
    let html = get(&w.app, "/admin/operations", Auth::Cookie(&w.owner)).await.text();
    assert!(html.contains("data-tab=\"Queued\">Queued<span class=\"n\">6</span>"), "{html}");
    assert!(html.contains("data-active=\"true\"") && html.contains("data-live-src=\"/admin/operations/rows?"));
    let rows = get(&w.app, "/admin/operations/rows?status=queued", Auth::Cookie(&w.owner)).await;
    assert_eq!(rows.headers.get("x-atlas-active").unwrap(), "true");
    assert!(rows.text().starts_with("<tr"));
    let done = get(&w.app, "/admin/operations/rows?status=completed", Auth::Cookie(&w.owner)).await;
    assert_eq!(done.headers.get("x-atlas-active").unwrap(), "false");
    let older = get(&w.app, "/admin/operations?limit=2", Auth::Cookie(&w.owner)).await.text();
    assert!(older.contains("Older →") && older.contains("rel=\"next\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_from_the_tenant_page_answers_with_view_run_or_the_refusal() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    let path = format!("/admin/tenants/{}/operations", w.tenant_a.id);
    let a = send(&w.app, Method::POST, &path, Auth::Cookie(&w.operator), form(&[("type", "inventory.sync")])).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), format!("/admin/tenants/{}", w.tenant_a.id));
    let page = get(&w.app, &a.location(), Auth::Cookie(&w.operator)).await.text();
    assert!(page.contains("Operation queued.") && page.contains("View run →"), "{page}");
    let again = get(&w.app, &a.location(), Auth::Cookie(&w.operator)).await.text();
    assert!(!again.contains("Operation queued."), "the flash shows once");
    // A duplicate shows the active run.
    send(&w.app, Method::POST, &path, Auth::Cookie(&w.operator), form(&[("type", "inventory.sync")])).await;
    let dup = get(&w.app, &a.location(), Auth::Cookie(&w.operator)).await.text();
    assert!(dup.contains("already queued or running") && dup.contains("View the active run →"));
    // The operator sees read and protect buttons, not restore.
    assert!(page.contains("data-op=\"inventory.sync\"") && !page.contains("data-op=\"restore.execute\""));

    // The manager's restore with the gate closed: a refusal line, nothing stored.
    w.store.tenant_set_write_gate(w.tenant_a.id, false, &crate::support::cli()).await.unwrap();
    let set = crate::blocked::backup_set(&w).await;
    let before = w.store.world_counts_for_tests().await.unwrap();
    let r = send(
        &w.app,
        Method::POST,
        &path,
        Auth::Cookie(&w.manager),
        form(&[("type", "restore.execute"), ("backup_set_id", &set.to_string())]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let after = w.store.world_counts_for_tests().await.unwrap();
    assert_eq!(before.runs, after.runs);
    let page = get(&w.app, &r.location(), Auth::Cookie(&w.manager)).await.text();
    assert!(
        page.contains("You can&#39;t start a restore on Contoso North: the write gate of Contoso North is closed.")
            || page.contains("You can't start a restore on Contoso North: the write gate of Contoso North is closed."),
        "{page}"
    );
    // The write controls show why; a dry run is still possible for restore.
    assert!(page.contains("Only a dry run is possible."), "{page}");
    assert!(page.contains("data-write-gate=\"closed\""));

    // API: 202 new, 200 deduplicated, 409 write gate.
    let api = format!("/api/v1/tenants/{}/operations", w.tenant_b.id);
    let first =
        send(&w.app, Method::POST, &api, Auth::Bearer(&w.operator), Payload::Json(json!({"type": "policies.sync"})))
            .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.json()["deduplicated"], false);
    assert!(first.json()["url"].as_str().unwrap().starts_with("/admin/operations/"));
    let second =
        send(&w.app, Method::POST, &api, Auth::Bearer(&w.operator), Payload::Json(json!({"type": "policies.sync"})))
            .await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.json()["id"], first.json()["id"]);
    let gate = send(
        &w.app,
        Method::POST,
        &format!("/api/v1/tenants/{}/operations", w.tenant_a.id),
        Auth::Bearer(&w.manager),
        Payload::Json(json!({"type": "restore.execute", "params": {"backup_set_id": set}})),
    )
    .await;
    assert_eq!(gate.status, StatusCode::CONFLICT);
    assert_eq!(gate.json()["error"]["reason_code"], "write_gate_closed");
    assert_eq!(gate.json()["error"]["denial_class"], "write_gate_closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_from_the_viewer() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    let run = w.start(&w.operator.user, &w.tenant_a, OperationType::InventorySync, json!({})).await;
    // The operator lacks operations.cancel but started it: they may cancel.
    let viewer = get(&w.app, &format!("/admin/operations/{}", run.id), Auth::Cookie(&w.operator)).await.text();
    assert!(viewer.contains(&format!("/admin/operations/{}/cancel", run.id)));
    let c = send(
        &w.app,
        Method::POST,
        &format!("/admin/operations/{}/cancel", run.id),
        Auth::Cookie(&w.operator),
        form(&[]),
    )
    .await;
    assert_eq!(c.status, StatusCode::SEE_OTHER);
    assert_eq!(w.store.run_get(run.id).await.unwrap().outcome, atlas_core::RunOutcome::Cancelled);
    // Cancelling twice is a conflict; retry makes a new run with retry_of_run_id.
    let again = send(
        &w.app,
        Method::POST,
        &format!("/api/v1/operations/{}/cancel", run.id),
        Auth::Bearer(&w.operator),
        Payload::Empty,
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let r = send(
        &w.app,
        Method::POST,
        &format!("/api/v1/operations/{}/retry", run.id),
        Auth::Bearer(&w.operator),
        Payload::Empty,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(r.json()["retry_of_run_id"], json!(run.id));
    assert_eq!(r.json()["initiator_user_id"], json!(w.operator.user.id));
}

async fn operations_endpoints_answer(store: atlas_store::Store) {
    let config = atlas_web::WebConfig { metrics_token: Some("metrics-secret".into()), ..Default::default() };
    let w = World::with_config(store, config).await;
    w.blocked_run().await;
    assert_eq!(get(&w.app, "/healthz", Auth::None).await.status, StatusCode::OK);
    assert_eq!(get(&w.app, "/readyz", Auth::None).await.text(), "ready\n");
    let m = crate::support::send_with(
        &w.app,
        Method::GET,
        "/metrics",
        Auth::None,
        Payload::Empty,
        &[("authorization", "Bearer metrics-secret")],
    )
    .await
    .text();
    assert!(
        m.contains("atlas_runs{type=\"provider.connection.check\",status=\"completed\",outcome=\"blocked\"} 1"),
        "{m}"
    );
    assert!(m.contains("atlas_gate_denials{reason_code=\"provider_connection_disabled\"} 1"), "{m}");
    assert!(m.contains("atlas_queue_depth 0") && m.contains("atlas_claim_latency_seconds_count"));
    let doc = get(&w.app, "/api/v1/openapi.json", Auth::None).await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for r in routes().iter().filter(|r| r.surface == Surface::Api && r.path.starts_with("/api/v1/")) {
        let method = r.method.as_str().to_lowercase();
        assert!(doc["paths"][r.path][&method].is_object(), "{r:?} is missing from the OpenAPI document");
    }
    // Bodies state what the handlers check: closed objects, lengths, formats, enums, 201s.
    let tenants = &doc["paths"]["/api/v1/workspaces/{workspace}/tenants"]["post"];
    let body = &tenants["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["additionalProperties"], false, "{body}");
    assert_eq!(body["properties"]["name"]["maxLength"], atlas_core::value::NAME_MAX, "{body}");
    assert_eq!(body["properties"]["external_tenant_id"]["format"], "uuid", "{body}");
    assert!(tenants["responses"]["201"].is_object(), "{tenants}");
    let schedules = &doc["paths"]["/api/v1/tenants/{tenant}/schedules"]["post"];
    assert!(schedules["responses"]["201"].is_object());
    let cron = &schedules["requestBody"]["content"]["application/json"]["schema"]["properties"]["cron"];
    assert_eq!(cron["maxLength"], atlas_core::value::CronExpr::MAX_LEN, "{cron}");
    let enabled = &doc["paths"]["/api/v1/tenants/{tenant}/schedules/{schedule}/enabled"]["post"]["requestBody"];
    assert_eq!(enabled["content"]["application/json"]["schema"]["required"], json!(["enabled"]), "{enabled}");
    let start = &doc["components"]["schemas"]["StartOperation"]["properties"]["type"]["enum"];
    assert!(start.as_array().is_some_and(|t| t.iter().any(|v| v == "inventory.sync")), "{start}");
    let css = get(&w.app, "/static/app.css", Auth::None).await;
    assert!(css.text().contains("prefers-reduced-motion"));
}
