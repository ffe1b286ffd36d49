//! Bulk runs in the console and the API (SPEC §3.5, §6.2): the tenants list's
//! multi-select and `POST /api/v1/workspaces/{workspace}/operations` start one
//! run over several tenants; each tenant is gated again when its item runs, so
//! an entitlement lost meanwhile blocks that item alone; the viewer shows each
//! item with its tenant, outcome and reason; and a member entitled to only
//! some of the tenants cannot see the run at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_core::tenant::TenantScope;
use atlas_core::Capability;
use atlas_store::admin::RoleRef;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::blocked::row;
use crate::support::{cli, form, get, send, send_with, Answer, Auth, Payload, World};

both_stores!(
    audit_events_of_a_bulk_run_follow_the_runs_visibility,
    bulk_from_console_and_api_blocks_only_the_revoked_tenant
);

fn bulk_path(w: &World) -> String {
    format!("/admin/operations/bulk?workspace={}", w.ws.slug)
}

fn bulk_form(op: &str, tenants: &[Uuid]) -> Payload {
    let mut pairs = vec![("operation".to_owned(), op.to_owned())];
    pairs.extend(tenants.iter().map(|t| ("tenant_id".to_owned(), t.to_string())));
    Payload::Form(pairs)
}

/// The run id of the flash's "View run →" link.
fn flash_run(page: &str) -> Uuid {
    let at = page.find("class=\"flash flash-success\"").expect("a success flash");
    let link = &page[at..];
    let start = link.find("href=\"/admin/operations/").expect("a View run link") + "href=\"/admin/operations/".len();
    Uuid::parse_str(&link[start..start + 36]).unwrap()
}

/// The `<tr>` of one item in the run viewer.
fn item_row(page: &str, key: Uuid) -> String {
    let start = page.find(&format!("data-item=\"{key}\"")).expect("the item is listed");
    let end = page[start..].find("</tr>").map_or(page.len(), |e| start + e);
    page[start..end].to_owned()
}

async fn bulk_from_console_and_api_blocks_only_the_revoked_tenant(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.seed_sandboxes().await;
    let c = w.sandbox_tenant("Northwind").await;
    let three = [w.tenant_a.id, w.tenant_b.id, c.id];

    // The manager starts one bulk run from the console and one from the API.
    let a =
        send(&w.app, Method::POST, &bulk_path(&w), Auth::Cookie(&w.manager), bulk_form("inventory.sync", &three)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    assert_eq!(a.location(), format!("/admin/tenants?workspace={}", w.ws.slug));
    let page = get(&w.app, &a.location(), Auth::Cookie(&w.manager)).await.text();
    assert!(page.contains("Operation queued.") && page.contains("View run →"), "{page}");
    let console_run = flash_run(&page);

    let ids: Vec<String> = three.iter().map(Uuid::to_string).collect();
    let api = send(
        &w.app,
        Method::POST,
        &format!("/api/v1/workspaces/{}/operations", w.ws.slug),
        Auth::Bearer(&w.manager),
        Payload::Json(json!({"type": "bulk.operation", "params": {"operation": "policies.sync", "tenant_ids": ids}})),
    )
    .await;
    assert_eq!(api.status, StatusCode::ACCEPTED, "{}", api.text());
    let api_json = api.json();
    assert_eq!(api_json["type"], "bulk.operation");
    assert_eq!(api_json["tenant_id"], Value::Null);
    assert_eq!(api_json["deduplicated"], false);
    let api_run = Uuid::parse_str(api_json["id"].as_str().unwrap()).unwrap();
    assert_eq!(api_json["url"], format!("/admin/operations/{api_run}"));

    // The same start again is the active run, deduplicated.
    let again =
        send(&w.app, Method::POST, &bulk_path(&w), Auth::Cookie(&w.manager), bulk_form("inventory.sync", &three)).await;
    let page = get(&w.app, &again.location(), Auth::Cookie(&w.manager)).await.text();
    assert!(page.contains("View the active run →") && page.contains(&console_run.to_string()), "{page}");

    // Before the worker gets there, the owner takes Northwind out of the manager's scope.
    let scope = send(
        &w.app,
        Method::POST,
        &format!("/api/v1/workspaces/{}/members/{}/scope", w.ws.slug, w.manager.user.id),
        Auth::Bearer(&w.owner),
        Payload::Json(json!({"tenants": [w.tenant_a.id, w.tenant_b.id]})),
    )
    .await;
    assert_eq!(scope.status, StatusCode::OK, "{}", scope.text());
    w.drain().await;

    for (run, label) in [(console_run, "Bulk inventory sync"), (api_run, "Bulk policy sync")] {
        let stored = w.store.run_get(run).await.unwrap();
        assert_eq!(stored.outcome, atlas_core::RunOutcome::PartiallySucceeded, "{stored:?}");
        let counts = stored.summary_counts;
        assert_eq!((counts.total, counts.succeeded, counts.blocked, counts.failed), (3, 2, 1, 0));

        // The owner's viewer: each tenant with its outcome and reason.
        let viewer = get(&w.app, &format!("/admin/operations/{run}"), Auth::Cookie(&w.owner)).await;
        assert_eq!(viewer.status, StatusCode::OK);
        let page = viewer.text();
        assert!(page.contains(&format!("{label} · 3 tenants")), "{page}");
        assert!(page.contains("data-outcome=\"partially_succeeded\"") && page.contains("Partially succeeded"));
        for t in [&w.tenant_a, &w.tenant_b] {
            let tr = item_row(&page, t.id);
            assert!(tr.contains(&t.name) && tr.contains("data-outcome=\"succeeded\""), "{tr}");
        }
        let tr = item_row(&page, c.id);
        assert!(tr.contains("Northwind") && tr.contains("data-outcome=\"blocked\""), "{tr}");
        assert!(tr.contains("tenant_entitlement_revoked") && tr.contains("badge-indigo"), "{tr}");
        assert!(!tr.contains("Failed"), "{tr}");
        assert_eq!(page.matches("data-item=").count(), 3);

        let json = get(&w.app, &format!("/api/v1/operations/{run}"), Auth::Bearer(&w.owner)).await.json();
        assert_eq!(json["outcome"], "partially_succeeded");
        assert_eq!(json["summary_counts"]["blocked"], 1);
        assert_eq!(json["actions"], json!({"cancel": false, "retry": true}));

        // The manager, entitled to two of the three tenants now, cannot see it.
        let hidden = get(&w.app, &format!("/admin/operations/{run}"), Auth::Cookie(&w.manager)).await;
        let missing = get(&w.app, &format!("/admin/operations/{}", Uuid::now_v7()), Auth::Cookie(&w.manager)).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
        assert_eq!(hidden.body, missing.body, "a hidden run answers like a missing one");
        let hidden_api = get(&w.app, &format!("/api/v1/operations/{run}"), Auth::Bearer(&w.manager)).await;
        assert_eq!(hidden_api.status, StatusCode::NOT_FOUND);
        assert_eq!(hidden_api.text(), r#"{"error":{"code":"not_found","message":"Not found"}}"#);
    }

    // The owner's list: the bulk runs read "3 tenants", by the manager.
    let list = get(&w.app, "/admin/operations", Auth::Cookie(&w.owner)).await.text();
    let tr = row(&list, console_run);
    assert!(tr.contains("Bulk inventory sync") && tr.contains(">3 tenants<"), "{tr}");
    assert!(tr.contains("title=\"Contoso North, Fabrikam, Northwind\""), "{tr}");
    assert!(tr.contains("Manager Person") && tr.contains("data-outcome=\"partially_succeeded\""), "{tr}");

    // The manager's lists leave both runs out.
    let theirs = get(&w.app, "/admin/operations", Auth::Cookie(&w.manager)).await.text();
    let theirs_api = get(&w.app, "/api/v1/operations", Auth::Bearer(&w.manager)).await.text();
    for run in [console_run, api_run] {
        assert!(!theirs.contains(&run.to_string()), "the manager's list shows {run}");
        assert!(!theirs_api.contains(&run.to_string()), "the manager's API list shows {run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_select_follows_the_access_rule() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    let list = format!("/admin/tenants?workspace={}", w.ws.slug);
    let has_select = |a: &Answer| a.text().contains("Start on selected tenants");

    let owner = get(&w.app, &list, Auth::Cookie(&w.owner)).await;
    assert!(has_select(&owner), "{}", owner.text());
    let page = owner.text();
    assert!(page.contains(&format!("name=\"tenant_id\" value=\"{}\" form=\"bulk-start\"", w.tenant_a.id)), "{page}");
    assert!(page.contains(&format!("action=\"/admin/operations/bulk?workspace={}\"", w.ws.slug)));
    // Item operations need no parameters of their own: no restore, no bulk.
    assert!(page.contains("<option value=\"inventory.sync\">Inventory sync</option>"), "{page}");
    assert!(!page.contains("<option value=\"restore.execute\"") && !page.contains("<option value=\"bulk.operation\""));

    // Without bulk.execute: no checkboxes, no button.
    for who in [&w.operator, &w.readonly] {
        let a = get(&w.app, &list, Auth::Cookie(who)).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(!has_select(&a) && !a.text().contains("name=\"tenant_id\""), "{}", a.text());
    }

    // The capability decides, not a role name: a custom role with bulk.execute
    // and inventory sync gets the multi-select, offering inventory sync only.
    let caps =
        [Capability::WorkspaceView, Capability::TenantView, Capability::BulkExecute, Capability::TenantInventorySync];
    w.store.role_create(w.ws.id, "bulk-syncer", &caps.into_iter().collect(), &cli()).await.unwrap();
    let user = w.store.user_create("bulk-syncer@example.com", "Bulk Syncer", None, &cli()).await.unwrap();
    let role = RoleRef::Custom("bulk-syncer".into());
    w.store.member_grant(w.ws.id, user.id, &role, &TenantScope::All, &cli()).await.unwrap();
    let (cookie, session) = w.store.session_create(user.id, std::time::Duration::from_secs(600)).await.unwrap();
    let custom = crate::support::Login { user, cookie, csrf: session.csrf_token, token: String::new() };
    let a = get(&w.app, &list, Auth::Cookie(&custom)).await.text();
    assert!(a.contains("Start on selected tenants"), "{a}");
    assert!(a.contains("value=\"inventory.sync\"") && !a.contains("value=\"policies.sync\""), "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bulk_starts_change_nothing() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    let other = w
        .store
        .tenant_create(w.other_ws.id, "Elsewhere", atlas_core::tenant::TenantStatus::Active, true, None, &cli())
        .await
        .unwrap();
    let (a, b) = (w.tenant_a.id, w.tenant_b.id);
    let before = w.store.world_counts_for_tests().await.unwrap();

    // Nothing selected: a refusal line, back to the list.
    let none =
        send(&w.app, Method::POST, &bulk_path(&w), Auth::Cookie(&w.owner), bulk_form("inventory.sync", &[])).await;
    assert_eq!(none.status, StatusCode::SEE_OTHER);
    let page = get(&w.app, &none.location(), Auth::Cookie(&w.owner)).await.text();
    assert!(page.contains("Select at least one tenant to start a bulk operation."), "{page}");

    let cases: Vec<(&str, Auth<'_>, Payload, StatusCode)> = vec![
        ("unknown operation", Auth::Cookie(&w.owner), bulk_form("tenant.nuke", &[a]), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "operation with params",
            Auth::Cookie(&w.owner),
            bulk_form("restore.execute", &[a]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("bulk of bulk", Auth::Cookie(&w.owner), bulk_form("bulk.operation", &[a]), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "no operation",
            Auth::Cookie(&w.owner),
            form(&[("tenant_id", &a.to_string())]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not a tenant id",
            Auth::Cookie(&w.owner),
            form(&[("operation", "inventory.sync"), ("tenant_id", "nope")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "another workspace's tenant",
            Auth::Cookie(&w.owner),
            bulk_form("inventory.sync", &[a, other.id]),
            StatusCode::NOT_FOUND,
        ),
        (
            "a missing tenant",
            Auth::Cookie(&w.owner),
            bulk_form("inventory.sync", &[Uuid::now_v7()]),
            StatusCode::NOT_FOUND,
        ),
        ("a tenant out of scope", Auth::Cookie(&w.scoped), bulk_form("inventory.sync", &[a, b]), StatusCode::NOT_FOUND),
        ("without bulk.execute", Auth::Cookie(&w.operator), bulk_form("inventory.sync", &[a]), StatusCode::FORBIDDEN),
        (
            "without CSRF",
            Auth::Cookie(&w.owner),
            Payload::RawForm(format!("operation=inventory.sync&tenant_id={a}")),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (what, auth, body, status) in cases {
        let r = send(&w.app, Method::POST, &bulk_path(&w), auth, body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
    }

    let api = format!("/api/v1/workspaces/{}/operations", w.ws.slug);
    let api_cases = vec![
        json!({"type": "inventory.sync", "params": {"tenant_ids": [a]}}),
        json!({"type": "bulk.operation", "params": {"operation": "inventory.sync", "tenant_ids": []}}),
        json!({"type": "bulk.operation", "params": {"operation": "restore.execute", "tenant_ids": [a]}}),
        json!({"type": "bulk.operation", "params": {"operation": "inventory.sync", "tenant_ids": "all"}}),
        json!({"type": "bulk.operation", "params": {"operation": "inventory.sync"}}),
        json!({"type": "bulk.operation", "params": {"operation": "inventory.sync", "tenant_ids": [a], "x": 1}}),
    ];
    for body in api_cases {
        let r = send(&w.app, Method::POST, &api, Auth::Bearer(&w.owner), Payload::Json(body.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text());
    }
    let after = w.store.world_counts_for_tests().await.unwrap();
    assert_eq!(before, after, "a refused bulk start changed something");
}

/// A start's `url` is absolute when the request names its host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_urls_are_absolute_with_a_host() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    let start = |t: Uuid, op: &str| (format!("/api/v1/tenants/{t}/operations"), Payload::Json(json!({"type": op})));
    let (path, body) = start(w.tenant_a.id, "inventory.sync");
    let r = send_with(&w.app, Method::POST, &path, Auth::Bearer(&w.operator), body, &[("host", "atlas.example:8443")])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["url"], format!("http://atlas.example:8443/admin/operations/{id}"));

    let bulk = send_with(
        &w.app,
        Method::POST,
        &format!("/api/v1/workspaces/{}/operations", w.ws.slug),
        Auth::Bearer(&w.owner),
        Payload::Json(json!({"type": "bulk.operation", "params": {"operation": "compliance.snapshot", "tenant_ids": [w.tenant_a.id, w.tenant_b.id]}})),
        &[("host", "console.internal")],
    )
    .await;
    assert_eq!(bulk.status, StatusCode::ACCEPTED, "{}", bulk.text());
    let id = bulk.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(bulk.json()["url"], format!("http://console.internal/admin/operations/{id}"));

    // No host, or one that is not a host: the path.
    let (path, body) = start(w.tenant_b.id, "policies.sync");
    let r =
        send_with(&w.app, Method::POST, &path, Auth::Bearer(&w.operator), body, &[("host", "evil.example/x?y")]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.json()["url"].as_str().unwrap().starts_with("/admin/operations/"), "{}", r.text());
}

/// A bulk run over two tenants is hidden from a member entitled to one, and
/// so are its audit events — over the API and in the console's audit log.
async fn audit_events_of_a_bulk_run_follow_the_runs_visibility(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.seed_sandboxes().await;
    let ids = [w.tenant_a.id, w.tenant_b.id];
    let started = send(
        &w.app,
        Method::POST,
        &format!("/api/v1/workspaces/{}/operations", w.ws.slug),
        Auth::Bearer(&w.owner),
        Payload::Json(json!({"type": "bulk.operation", "params": {"operation": "inventory.sync", "tenant_ids": ids}})),
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text());
    let run = started.json()["id"].as_str().unwrap().to_owned();
    w.drain().await;
    let subject = format!("run:{run}");
    let audit = |login| {
        let path = format!("/api/v1/audit?workspace={}", w.ws.slug);
        let app = w.app.clone();
        async move { get(&app, &path, Auth::Bearer(login)).await.json() }
    };
    let of_run =
        |doc: &Value| doc["data"].as_array().unwrap().iter().filter(|e| e["subject"] == subject.as_str()).count();
    let owner = audit(&w.owner).await;
    assert!(of_run(&owner) >= 2, "the owner sees the run's events: {owner}");
    // `scoped` is an owner limited to tenant_b: the run and its events are hidden.
    assert_eq!(
        get(&w.app, &format!("/api/v1/operations/{run}"), Auth::Bearer(&w.scoped)).await.status,
        StatusCode::NOT_FOUND
    );
    let scoped = audit(&w.scoped).await;
    assert_eq!(of_run(&scoped), 0, "no event of the hidden run: {scoped}");
    assert!(!scoped.to_string().contains(&w.tenant_a.id.to_string()), "nor the other tenant's id: {scoped}");
    let page = get(&w.app, &format!("/admin/audit?workspace={}", w.ws.slug), Auth::Cookie(&w.scoped)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text().contains(&run), "the console's audit log hides it too");
    let page = get(&w.app, &format!("/admin/audit?workspace={}", w.ws.slug), Auth::Cookie(&w.owner)).await;
    assert!(page.text().contains(&run), "the owner's page shows it (so the scoped page's silence means something)");
}
