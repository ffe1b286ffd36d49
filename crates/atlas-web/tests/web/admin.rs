//! The administration endpoints that mirror the CLI (SPEC §7): tenants add,
//! connections add (sandbox, or Microsoft Graph with its secret in the body,
//! never answered back), roles set, members grant — their happy paths, and
//! bad input answered 422 (or 409 for a conflict) with nothing changed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_core::RunOutcome;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{get, send, Answer, Auth, Payload, World};

both_stores!(
    tenants_and_connections_are_added_over_the_api,
    graph_secrets_are_never_answered_back,
    a_request_that_writes_seals_what_it_wrote
);

/// The client secret of the Graph connection in these tests.
const SECRET: &str = "Zq8~kP2.vN7xR4mW9tY3-hJ6bL1cF5gD";
const ENTRA_TENANT: &str = "6f9a1c3e-2b7d-4e8f-9a0b-1c2d3e4f5a6b";

async fn post(w: &World, path: &str, body: Value) -> Answer {
    send(&w.app, Method::POST, path, Auth::Bearer(&w.owner), Payload::Json(body)).await
}

async fn tenants_and_connections_are_added_over_the_api(store: atlas_store::Store) {
    let w = World::new(store).await;
    let add = format!("/api/v1/workspaces/{}/tenants", w.ws.slug);

    // Bad input first: each refused, nothing changed.
    let before = w.store.world_counts_for_tests().await.unwrap();
    for (body, status) in [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": ""}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "   "}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": 7}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "Woodgrove", "status": "paused"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "Woodgrove", "writes_enabled": "yes"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "Woodgrove", "color": "teal"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "Contoso North"}), StatusCode::CONFLICT),
    ] {
        let r = post(&w, &add, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.json()["error"]["message"].is_string(), "{}", r.text());
    }
    let not_json = send(&w.app, Method::POST, &add, Auth::Bearer(&w.owner), Payload::Raw("{\"name\":".into())).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    // A member without tenant.manage may not; a non-member is not told the workspace exists.
    let operator =
        send(&w.app, Method::POST, &add, Auth::Bearer(&w.operator), Payload::Json(json!({"name": "X"}))).await;
    assert_eq!(operator.status, StatusCode::FORBIDDEN);
    let outsider =
        send(&w.app, Method::POST, &add, Auth::Bearer(&w.outsider), Payload::Json(json!({"name": "X"}))).await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    assert_eq!(before, w.store.world_counts_for_tests().await.unwrap(), "refused requests changed something");

    // Added: 201 with the tenant; active with writes closed unless told otherwise.
    let created = post(&w, &add, json!({"name": "Woodgrove Bank"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let t = created.json();
    assert_eq!((t["name"].as_str(), t["status"].as_str()), (Some("Woodgrove Bank"), Some("active")));
    assert_eq!(t["writes_enabled"], false);
    assert_eq!(t["connection"], Value::Null);
    let tenant = Uuid::parse_str(t["id"].as_str().unwrap()).unwrap();
    let onboarding =
        post(&w, &add, json!({"name": "Tailspin", "status": "onboarding", "external_tenant_id": ENTRA_TENANT})).await;
    assert_eq!(onboarding.status, StatusCode::CREATED);
    assert_eq!(onboarding.json()["status"], "onboarding");
    assert_eq!(onboarding.json()["external_tenant_id"], ENTRA_TENANT);
    let listed = get(&w.app, &format!("/api/v1/tenants?workspace={}", w.ws.slug), Auth::Bearer(&w.owner)).await;
    assert!(listed.text().contains("Woodgrove Bank") && listed.text().contains("Tailspin"));

    // Its connection: bad bodies first.
    let conn = format!("/api/v1/tenants/{tenant}/connection");
    let before = w.store.world_counts_for_tests().await.unwrap();
    for body in [
        json!({}),
        json!({"kind": "carrier_pigeon"}),
        json!({"kind": 3}),
        json!({"kind": "sandbox", "client_id": "abc"}),
        json!({"kind": "sandbox", "enabled": true}),
        json!({"kind": "sandbox", "color": "teal"}),
        json!({"enabled": "yes"}),
        json!({"enabled": true, "client_id": "abc"}),
    ] {
        let r = post(&w, &conn, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text());
    }
    assert_eq!(before, w.store.world_counts_for_tests().await.unwrap(), "refused requests changed something");
    assert_eq!(get(&w.app, &conn, Auth::Bearer(&w.owner)).await.status, StatusCode::NOT_FOUND);

    // A sandbox: enabled at once, and seeded, so operations have objects to work on.
    let sandbox = post(&w, &conn, json!({"kind": "sandbox"})).await;
    assert_eq!(sandbox.status, StatusCode::CREATED, "{}", sandbox.text());
    assert_eq!(
        (sandbox.json()["kind"].as_str(), sandbox.json()["status"].as_str()),
        (Some("sandbox"), Some("enabled"))
    );
    let shown = get(&w.app, &conn, Auth::Bearer(&w.owner)).await;
    assert_eq!(shown.json()["id"], sandbox.json()["id"]);
    let again = post(&w, &conn, json!({"kind": "sandbox"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    let run = send(
        &w.app,
        Method::POST,
        &format!("/api/v1/tenants/{tenant}/operations"),
        Auth::Bearer(&w.owner),
        Payload::Json(json!({"type": "inventory.sync"})),
    )
    .await;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.text());
    w.drain().await;
    let id = Uuid::parse_str(run.json()["id"].as_str().unwrap()).unwrap();
    assert_eq!(w.store.run_get(id).await.unwrap().outcome, RunOutcome::Succeeded);
    assert!(!w.store.inventory_list(tenant).await.unwrap().is_empty(), "the sandbox was seeded");

    // Disable and enable, as before.
    let off = post(&w, &conn, json!({"enabled": false})).await;
    assert_eq!((off.status, off.json()["status"].as_str()), (StatusCode::OK, Some("disabled")));
    let on = post(&w, &conn, json!({"enabled": true})).await;
    assert_eq!((on.status, on.json()["status"].as_str()), (StatusCode::OK, Some("enabled")));

    // Custom roles: `roles set` by name or id.
    let caps = format!("/api/v1/workspaces/{}/roles/viewer/capabilities", w.ws.slug);
    assert_eq!(get(&w.app, "/api/v1/audit", Auth::Bearer(&w.lacking)).await.status, StatusCode::FORBIDDEN);
    let before = w.store.world_counts_for_tests().await.unwrap();
    for (path, body, status) in [
        (caps.clone(), json!({"capabilities": ["workspace.view", "audit.wizardry"]}), StatusCode::UNPROCESSABLE_ENTITY),
        (caps.clone(), json!({"capabilities": "audit.view"}), StatusCode::UNPROCESSABLE_ENTITY),
        (caps.clone(), json!({"capabilities": [], "name": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            format!("/api/v1/workspaces/{}/roles/nobody/capabilities", w.ws.slug),
            json!({"capabilities": []}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/workspaces/{}/members", w.ws.slug),
            json!({"email": w.newbie.email, "role": "wizard"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v1/workspaces/{}/members", w.ws.slug),
            json!({"email": "nobody@example.com", "role": "readonly"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v1/workspaces/{}/members", w.ws.slug),
            json!({"email": w.newbie.email, "role": "readonly", "tenants": [Uuid::now_v7()]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v1/workspaces/{}/members/{}/role", w.ws.slug, w.readonly.user.id),
            json!({"role": "wizard"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = post(&w, &path, body.clone()).await;
        assert_eq!(r.status, status, "{path} {body}: {}", r.text());
    }
    assert_eq!(before, w.store.world_counts_for_tests().await.unwrap(), "refused requests changed something");
    let set = post(&w, &caps, json!({"capabilities": ["workspace.view", "audit.view"]})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    let set_json = set.json();
    let granted: Vec<&str> = set_json["capabilities"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        granted.contains(&"audit.view") && granted.contains(&"workspace.view") && granted.len() == 2,
        "{granted:?}"
    );
    assert_eq!(get(&w.app, "/api/v1/audit", Auth::Bearer(&w.lacking)).await.status, StatusCode::OK);
    let by_id = format!("/api/v1/workspaces/{}/roles/{}/capabilities", w.ws.slug, w.viewer_role.id);
    assert_eq!(post(&w, &by_id, json!({"capabilities": ["workspace.view"]})).await.status, StatusCode::OK);
    assert_eq!(get(&w.app, "/api/v1/audit", Auth::Bearer(&w.lacking)).await.status, StatusCode::FORBIDDEN);

    // Members: grant a person in one tenant; they see that tenant only.
    let grant = post(
        &w,
        &format!("/api/v1/workspaces/{}/members", w.ws.slug),
        json!({"email": w.newbie.email, "role": "readonly", "tenants": [tenant]}),
    )
    .await;
    assert_eq!(grant.status, StatusCode::CREATED, "{}", grant.text());
    assert_eq!(grant.json()["tenant_scope"], json!({"kind": "tenants", "tenant_ids": [tenant]}), "{}", grant.text());
}

async fn graph_secrets_are_never_answered_back(store: atlas_store::Store) {
    let w = World::new(store).await;
    let created = post(&w, &format!("/api/v1/workspaces/{}/tenants", w.ws.slug), json!({"name": "Graph Tenant"})).await;
    let tenant = created.json()["id"].as_str().unwrap().to_owned();
    let conn = format!("/api/v1/tenants/{tenant}/connection");
    let mut answers: Vec<Answer> = Vec::new();

    // Bad Graph settings, each with the secret in the body: 422, nothing stored.
    let before = w.store.world_counts_for_tests().await.unwrap();
    for body in [
        json!({"kind": "microsoft_graph", "client_id": "app", "client_secret": SECRET}),
        json!({"kind": "microsoft_graph", "external_tenant_id": "contoso.onmicrosoft.com", "client_id": "app", "client_secret": SECRET}),
        json!({"kind": "microsoft_graph", "external_tenant_id": ENTRA_TENANT, "client_id": " ", "client_secret": SECRET}),
        json!({"kind": "microsoft_graph", "external_tenant_id": ENTRA_TENANT, "client_id": "app", "client_secret": "  "}),
        json!({"kind": "microsoft_graph", "external_tenant_id": ENTRA_TENANT, "client_id": "app"}),
        json!({"kind": "sandbox", "client_secret": SECRET}),
        json!({"enabled": true, "client_secret": SECRET}),
        json!({"kind": "microsoft_graph", "external_tenant_id": ENTRA_TENANT, "client_id": "app", "client_secret": SECRET, "scope": SECRET}),
    ] {
        let r = post(&w, &conn, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text());
        answers.push(r);
    }
    assert_eq!(before, w.store.world_counts_for_tests().await.unwrap(), "refused requests changed something");
    assert!(w.store.connection_get(Uuid::parse_str(&tenant).unwrap()).await.unwrap().is_none());

    let added = post(
        &w,
        &conn,
        json!({"kind": "microsoft_graph", "external_tenant_id": ENTRA_TENANT, "client_id": "11111111-2222-3333-4444-555555555555", "client_secret": SECRET}),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    let c = added.json();
    assert_eq!((c["kind"].as_str(), c["status"].as_str()), (Some("microsoft_graph"), Some("pending_consent")));
    assert_eq!(c["has_secret"], true);
    assert_eq!(
        c["config"],
        json!({"external_tenant_id": ENTRA_TENANT, "client_id": "11111111-2222-3333-4444-555555555555"})
    );
    // Sealed at rest: stored, but not as given.
    let sealed = w.store.connection_sealed_secret(Uuid::parse_str(&tenant).unwrap()).await.unwrap().unwrap();
    assert!(!sealed.contains(SECRET));
    answers.push(added);

    // Everywhere a person or script can look afterwards.
    let again = post(
        &w,
        &conn,
        json!({"kind": "microsoft_graph", "external_tenant_id": ENTRA_TENANT, "client_id": "app", "client_secret": SECRET}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    answers.push(again);
    for path in [
        conn.clone(),
        format!("/api/v1/tenants/{tenant}"),
        format!("/api/v1/tenants?workspace={}", w.ws.slug),
        format!("/api/v1/audit?workspace={}", w.ws.slug),
    ] {
        let r = get(&w.app, &path, Auth::Bearer(&w.owner)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        answers.push(r);
    }
    for path in [
        format!("/admin/tenants/{tenant}/connection"),
        format!("/admin/tenants/{tenant}"),
        format!("/admin/tenants?workspace={}", w.ws.slug),
        format!("/admin/audit?workspace={}", w.ws.slug),
    ] {
        let r = get(&w.app, &path, Auth::Cookie(&w.owner)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        answers.push(r);
    }
    let audit = get(&w.app, &format!("/api/v1/audit?workspace={}", w.ws.slug), Auth::Bearer(&w.owner)).await.text();
    assert!(audit.contains("connection.created"), "{audit}");
    for a in &answers {
        assert!(!a.text().contains(SECRET), "the secret came back: {}", a.text());
    }
}

/// The server seals after every request that may write, with or without
/// workers in its process: the event of an added tenant is in its chain when
/// the answer arrives. (PostgreSQL seals only below the cluster's oldest
/// transaction in flight, which concurrent tests may hold, so there the
/// request's event may still wait; SQLite has no such horizon.)
async fn a_request_that_writes_seals_what_it_wrote(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.store.audit_seal().await.unwrap();
    let add = format!("/api/v1/workspaces/{}/tenants", w.ws.slug);
    let created = post(&w, &add, json!({"name": "Sealed Tenant"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let waiting = w.store.audit_unsealed(None, 60).await.unwrap();
    if w.store.dialect() == atlas_store::Dialect::Sqlite {
        assert_eq!(waiting.unsealed, 0, "{waiting:?}");
    } else {
        // Only events younger than the bound can be held back by the horizon.
        assert_eq!(waiting.stale, 0, "{waiting:?}");
    }
}
