//! Every text field of every administrative endpoint, and the text query
//! parameters of the lists, refuse control characters (NUL above all, which
//! PostgreSQL cannot store) with 422 — never a 500 — and change nothing, on
//! both stores. A property test: for any such endpoint and field, any valid
//! value with any forbidden character put anywhere in it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::support::{send, Auth, Payload, World};

both_stores!(control_characters_are_refused_everywhere);

/// Characters no single-line value may hold (`atlas_core::value`).
fn forbidden() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('\u{0}'),
        (0x01u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
        Just('\u{7f}'),
        (0x80u32..0xa0).prop_map(|c| char::from_u32(c).unwrap()),
        Just('\u{2028}'),
        Just('\u{202e}'),
        Just('\u{2066}'),
    ]
}

/// One request of an endpoint with one text field spoiled.
#[derive(Clone, Debug)]
struct Case {
    method: Method,
    path: String,
    /// A valid body, and the field to spoil; `None`: a query parameter.
    body: Option<(Value, &'static str)>,
    /// The valid value of the field (or parameter) to spoil.
    value: String,
}

fn spoil(value: &str, at: usize, c: char) -> String {
    let chars: Vec<char> = value.chars().collect();
    let at = at % (chars.len() + 1);
    chars[..at].iter().chain(std::iter::once(&c)).chain(chars[at..].iter()).collect()
}

fn cases(w: &World) -> Vec<Case> {
    let ws = &w.ws.slug;
    let t = w.tenant_a.id;
    let manager = w.manager.user.id;
    let body = |method: Method, path: String, base: Value, field: &'static str| {
        let value = base[field].as_str().unwrap().to_owned();
        Case { method, path, body: Some((base, field)), value }
    };
    let query = |path: &str, param: &str, value: &str| Case {
        method: Method::GET,
        path: format!("{path}?workspace={ws}&{param}="),
        body: None,
        value: value.to_owned(),
    };
    let new_tenant = json!({"name": "Spoiled", "external_tenant_id": "6f3c0f0e-8d5b-4c4b-9c8a-2b1e0f3d4a5b"});
    let graph = json!({"kind": "microsoft_graph", "external_tenant_id": "6f3c0f0e-8d5b-4c4b-9c8a-2b1e0f3d4a5b",
                       "client_id": "11111111-2222-3333-4444-555555555555", "client_secret": "s3cret"});
    let grant = json!({"email": w.newbie.email, "role": "operator"});
    let role = json!({"name": "auditor", "capabilities": ["audit.view"]});
    let schedule = json!({"cron": "0 2 * * *", "timezone": "Europe/Berlin"});
    let token = json!({"name": "ci", "expires_in": "30d"});
    let post = || Method::POST;
    vec![
        body(post(), format!("/api/v1/workspaces/{ws}/tenants"), new_tenant.clone(), "name"),
        body(post(), format!("/api/v1/workspaces/{ws}/tenants"), new_tenant, "external_tenant_id"),
        body(post(), format!("/api/v1/workspaces/{ws}/roles"), role, "name"),
        body(post(), format!("/api/v1/workspaces/{ws}/members"), grant.clone(), "email"),
        body(post(), format!("/api/v1/workspaces/{ws}/members"), grant, "role"),
        body(post(), format!("/api/v1/workspaces/{ws}/members/{manager}/role"), json!({"role": "viewer"}), "role"),
        body(post(), format!("/api/v1/tenants/{t}/status"), json!({"status": "suspended"}), "status"),
        body(post(), format!("/api/v1/tenants/{t}/schedules"), schedule.clone(), "cron"),
        body(post(), format!("/api/v1/tenants/{t}/schedules"), schedule, "timezone"),
        body(post(), format!("/api/v1/tenants/{}/connection", w.tenant_b.id), graph.clone(), "kind"),
        body(post(), format!("/api/v1/tenants/{}/connection", w.tenant_b.id), graph.clone(), "external_tenant_id"),
        body(post(), format!("/api/v1/tenants/{}/connection", w.tenant_b.id), graph.clone(), "client_id"),
        body(post(), "/api/v1/me/tokens".into(), token.clone(), "name"),
        body(post(), "/api/v1/me/tokens".into(), token, "expires_in"),
        body(post(), format!("/api/v1/tenants/{t}/operations"), json!({"type": "inventory.sync"}), "type"),
        query("/api/v1/operations", "type", "inventory.sync"),
        query("/api/v1/operations", "status", "queued"),
        query("/api/v1/operations", "initiator", "system"),
        query("/api/v1/operations", "cursor", "0190d5a2-7b7e-7000-8000-000000000000"),
        query("/api/v1/audit", "action", "tenant.created"),
        query("/api/v1/audit", "actor", "system"),
        query("/api/v1/audit", "run", "0190d5a2-7b7e-7000-8000-000000000000"),
        query("/api/v1/audit", "from", "2025-01-01"),
        Case { method: Method::GET, path: "/api/v1/operations?workspace=".into(), body: None, value: ws.clone() },
    ]
}

fn percent(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn answer(w: &World, case: &Case, at: usize, c: char) -> (StatusCode, String) {
    let spoiled = spoil(&case.value, at, c);
    let a = match &case.body {
        Some((base, field)) => {
            let mut body = base.clone();
            body[*field] = json!(spoiled);
            send(&w.app, case.method.clone(), &case.path, Auth::Bearer(&w.owner), Payload::Json(body)).await
        }
        None => {
            // Query filters ignore surrounding whitespace (as forms send it):
            // spoil them inside, where no trimming reaches.
            let inside = 1 + at % (case.value.chars().count() - 1);
            let spoiled = spoil(&case.value, inside, c);
            let path = format!("{}{}", case.path, percent(&spoiled));
            send(&w.app, case.method.clone(), &path, Auth::Bearer(&w.owner), Payload::Empty).await
        }
    };
    (a.status, a.text())
}

async fn control_characters_are_refused_everywhere(store: atlas_store::Store) {
    let w = World::new(store).await;
    let cases = cases(&w);
    // Each case's valid value is accepted (or at least not refused as invalid
    // input), so that a 422 below is the spoiled character's doing.
    for case in &cases {
        let a = match &case.body {
            Some(_) => None,
            None => Some(
                send(
                    &w.app,
                    Method::GET,
                    &format!("{}{}", case.path, case.value),
                    Auth::Bearer(&w.owner),
                    Payload::Empty,
                )
                .await,
            ),
        };
        if let Some(a) = a {
            assert_eq!(a.status, StatusCode::OK, "{case:?}: {}", a.text());
        }
    }
    let before = w.store.world_counts_for_tests().await.unwrap();
    let newest = |s: atlas_store::Store| async move {
        let filter = atlas_store::audit::AuditFilter { limit: 1, ..Default::default() };
        s.audit_events(filter).await.unwrap().first().map(|e| e.seq)
    };
    let events = newest(w.store.clone()).await;

    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config { cases: 96, failure_persistence: None, ..Config::default() });
    let strategy = (0..cases.len(), any::<usize>(), forbidden());
    let result = runner.run(&strategy, |(i, at, c)| {
        let case = &cases[i];
        let (status, text) = tokio::task::block_in_place(|| handle.block_on(answer(&w, case, at, c)));
        prop_assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{:?} with U+{:04X}: {}", case, c as u32, text);
        let doc: Value = serde_json::from_str(&text).unwrap_or_default();
        prop_assert_eq!(&doc["error"]["code"], "invalid", "{}", text);
        prop_assert!(!text.contains('\u{0}'), "the answer does not echo a NUL: {}", text);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Every field of every case, once with NUL, deterministically.
    for case in &cases {
        let (status, text) = answer(&w, case, 1, '\u{0}').await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case:?} with NUL: {text}");
    }
    assert_eq!(w.store.world_counts_for_tests().await.unwrap(), before, "refused requests change nothing");
    assert_eq!(newest(w.store.clone()).await, events, "no audit event");
}
