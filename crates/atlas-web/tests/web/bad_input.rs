//! Malformed requests, each with its 4xx, and the database unchanged after
//! all of them: API bodies and parameters, forms, and CSRF missing or wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{header, Method, StatusCode};
use serde_json::json;

use crate::support::{form, send, Auth, Payload, World};

both_stores!(malformed_requests_get_their_4xx_and_change_nothing);

async fn malformed_requests_get_their_4xx_and_change_nothing(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.blocked_run().await;
    let a = w.tenant_a.id;
    let start = format!("/api/v1/tenants/{a}/operations");
    let page_start = format!("/admin/tenants/{a}/operations");
    let owner = &w.owner;
    let huge = format!("{{\"type\": \"inventory.sync\", \"params\": {{\"x\": \"{}\"}}}}", "a".repeat(200_000));
    let before = w.store.world_counts_for_tests().await.unwrap();

    let cases: Vec<(&str, Method, String, Auth<'_>, Payload, StatusCode)> = vec![
        (
            "not JSON",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Raw("{\"type\": ".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "empty body",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Raw(String::new()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "too large",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Raw(huge),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "JSON array",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!([1, 2])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing type",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"params": {}})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"type": "inventory.sync", "force": true})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown type",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"type": "tenant.nuke"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "type not a string",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"type": 7})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown param",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"type": "inventory.sync", "params": {"x": 1}})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "params not an object",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"type": "inventory.sync", "params": [1]})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "restore without a set",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"type": "restore.execute"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "restore with a bad set id",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"type": "restore.execute", "params": {"backup_set_id": "nope"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "dry_run not a boolean",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(json!({"type": "restore.execute", "params": {"backup_set_id": a, "dry_run": "yes"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bulk on a tenant",
            Method::POST,
            start.clone(),
            Auth::Bearer(owner),
            Payload::Json(
                json!({"type": "bulk.operation", "params": {"operation": "inventory.sync", "tenant_ids": [a]}}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bulk of a bulk",
            Method::POST,
            format!("/api/v1/workspaces/{}/operations", w.ws.slug),
            Auth::Bearer(owner),
            Payload::Json(
                json!({"type": "bulk.operation", "params": {"operation": "bulk.operation", "tenant_ids": [a]}}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad status filter",
            Method::GET,
            "/api/v1/operations?status=exploded".into(),
            Auth::Bearer(owner),
            Payload::Empty,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad cursor",
            Method::GET,
            "/api/v1/operations?cursor=12".into(),
            Auth::Bearer(owner),
            Payload::Empty,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad tenant filter",
            Method::GET,
            "/api/v1/operations?tenant_id=abc".into(),
            Auth::Bearer(owner),
            Payload::Empty,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad limit",
            Method::GET,
            "/api/v1/operations?limit=100000".into(),
            Auth::Bearer(owner),
            Payload::Empty,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad write gate value",
            Method::POST,
            format!("/api/v1/tenants/{a}/write-gate"),
            Auth::Bearer(owner),
            Payload::Json(json!({"open": "sure"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad tenant status",
            Method::POST,
            format!("/api/v1/tenants/{a}/status"),
            Auth::Bearer(owner),
            Payload::Json(json!({"status": "on fire"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad cron",
            Method::POST,
            format!("/api/v1/tenants/{a}/schedules"),
            Auth::Bearer(owner),
            Payload::Json(json!({"cron": "every day"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad scope",
            Method::POST,
            format!("/api/v1/workspaces/{}/members/{}/scope", w.ws.slug, w.readonly.user.id),
            Auth::Bearer(owner),
            Payload::Json(json!({"tenants": "some"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown capability",
            Method::POST,
            format!("/api/v1/workspaces/{}/roles", w.ws.slug),
            Auth::Bearer(owner),
            Payload::Json(json!({"name": "x", "capabilities": ["tenant.nuke"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "grant to nobody",
            Method::POST,
            format!("/api/v1/workspaces/{}/members", w.ws.slug),
            Auth::Bearer(owner),
            Payload::Json(json!({"email": "ghost@example.com", "role": "readonly"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "cancel of a completed run",
            Method::POST,
            format!("/api/v1/operations/{}/cancel", run.id),
            Auth::Bearer(owner),
            Payload::Empty,
            StatusCode::CONFLICT,
        ),
        (
            "run id that is not an id",
            Method::GET,
            "/api/v1/operations/not-a-run".into(),
            Auth::Bearer(owner),
            Payload::Empty,
            StatusCode::NOT_FOUND,
        ),
        (
            "bad bearer token",
            Method::GET,
            "/api/v1/operations".into(),
            Auth::None,
            Payload::Empty,
            StatusCode::UNAUTHORIZED,
        ),
        // Forms.
        (
            "form without CSRF",
            Method::POST,
            page_start.clone(),
            Auth::Cookie(owner),
            Payload::RawForm("type=inventory.sync".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            "form with a wrong CSRF",
            Method::POST,
            page_start.clone(),
            Auth::Cookie(owner),
            Payload::RawForm("type=inventory.sync&csrf=0000".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            "CSRF-less write gate",
            Method::POST,
            format!("/admin/tenants/{a}/write-gate"),
            Auth::Cookie(owner),
            Payload::RawForm("open=false".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            "CSRF-less revoke",
            Method::POST,
            format!("/admin/members/{}/revoke?workspace={}", w.readonly.user.id, w.ws.slug),
            Auth::Cookie(owner),
            Payload::RawForm(String::new()),
            StatusCode::FORBIDDEN,
        ),
        (
            "CSRF-less logout",
            Method::POST,
            "/logout".into(),
            Auth::Cookie(owner),
            Payload::RawForm(String::new()),
            StatusCode::FORBIDDEN,
        ),
        (
            "cookie JSON write without the header",
            Method::POST,
            start.clone(),
            Auth::Cookie(owner),
            Payload::Json(json!({"type": "inventory.sync"})),
            StatusCode::FORBIDDEN,
        ),
        (
            "form with an unknown type",
            Method::POST,
            page_start.clone(),
            Auth::Cookie(owner),
            form(&[("type", "tenant.nuke")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "form without a type",
            Method::POST,
            page_start.clone(),
            Auth::Cookie(owner),
            form(&[("dry_run", "true")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "form restore with a bad set id",
            Method::POST,
            page_start.clone(),
            Auth::Cookie(owner),
            form(&[("type", "restore.execute"), ("backup_set_id", "x")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "form with a bad status",
            Method::POST,
            format!("/admin/tenants/{a}/status"),
            Auth::Cookie(owner),
            form(&[("status", "gone")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "form with a bad gate value",
            Method::POST,
            format!("/admin/tenants/{a}/write-gate"),
            Auth::Cookie(owner),
            form(&[("open", "maybe")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "form with a bad scope",
            Method::POST,
            format!("/admin/members/{}/scope?workspace={}", w.readonly.user.id, w.ws.slug),
            Auth::Cookie(owner),
            form(&[("scope", "tenants"), ("tenant", "nope")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "form with an unknown capability",
            Method::POST,
            format!("/admin/roles?workspace={}", w.ws.slug),
            Auth::Cookie(owner),
            form(&[("name", "x"), ("capability", "tenant.nuke")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "page with a bad filter",
            Method::GET,
            "/admin/operations?outcome=meh".into(),
            Auth::Cookie(owner),
            Payload::Empty,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (name, method, path, auth, body, expected) in cases {
        let auth = match (name, auth) {
            ("bad bearer token", _) => Auth::None,
            (_, a) => a,
        };
        let a = if name == "bad bearer token" {
            let req = axum::http::Request::builder()
                .method(method)
                .uri(&path)
                .header(header::AUTHORIZATION, "Bearer atl_0000")
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = tower::ServiceExt::oneshot(w.app.clone(), req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec();
            crate::support::Answer { status, headers: Default::default(), body }
        } else {
            send(&w.app, method, &path, auth, body).await
        };
        assert_eq!(a.status, expected, "{name}: {}", a.text());
        if path.starts_with("/api/") {
            let code = a.json()["error"]["code"].as_str().map(str::to_owned);
            assert!(code.is_some(), "{name}: an API error is JSON: {}", a.text());
        } else {
            assert!(!a.text().contains("panicked"), "{name}");
        }
    }
    let after = w.store.world_counts_for_tests().await.unwrap();
    assert_eq!(before, after, "a refused request changed the database");
}
