//! The authorization matrix, generated from `atlas_web::routes()`: every
//! page and endpoint, for the actors of SPEC §6.2. A route added to the table
//! is checked here without anyone remembering to; a POST route without a
//! sample body below fails the test until one is added.
//!
//! | actor | object routes | lists |
//! | --- | --- | --- |
//! | not a member | 404 | 404 |
//! | member outside the tenant's scope | 404 | 200, filtered |
//! | in scope, lacking the capability | 403 | 403 |
//! | allowed | 2xx (pages: 200, forms: 303) | 200 |
//!
//! Every refused request leaves the database as it was; a missing id gets
//! byte-for-byte the 404 of a hidden one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_core::OperationType;
use atlas_web::{routes, Need, RouteSpec, Scope, Surface};
use axum::http::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::support::{form, send, Answer, Auth, Login, Payload, World};

/// Ids a route's path names, for one world.
struct Fixture {
    queued_run: Uuid,
    blocked_run: Uuid,
    /// A manager's restore on tenant A awaiting approval (the approve and reject routes).
    pending_run: Uuid,
    /// An object of tenant A with a stored version (the versions routes).
    object_id: String,
}

async fn fixture(w: &World) -> Fixture {
    let blocked = w.blocked_run().await;
    // A policies sync of the seeded sandbox stores versions (the versions routes).
    atlas_providers::sandbox::seed(&w.store, w.tenant_a.id).await.unwrap();
    w.start(&w.owner.user, &w.tenant_a, OperationType::PoliciesSync, json!({})).await;
    w.drain().await;
    // A backup and a drift check of it (the drift route).
    w.start(&w.owner.user, &w.tenant_a, OperationType::BackupRun, json!({})).await;
    w.drain().await;
    w.start(&w.owner.user, &w.tenant_a, OperationType::DriftCheck, json!({})).await;
    w.drain().await;
    let queued = w.start(&w.owner.user, &w.tenant_a, OperationType::PoliciesSync, json!({})).await;
    let versions = w.store.policy_versions(w.tenant_a.id).await.unwrap();
    let object_id = versions.first().expect("the sync stored versions").object_id.clone();
    w.store.tenant_set_approval(w.tenant_a.id, true, &crate::support::cli()).await.unwrap();
    let set = crate::blocked::backup_set(w).await;
    let params = json!({"backup_set_id": set, "dry_run": false});
    let pending = w.start(&w.manager.user, &w.tenant_a, OperationType::RestoreExecute, params).await;
    assert!(pending.approval.is_some(), "the restore awaits approval");
    // Other routes start runs on tenant A that should not wait.
    w.store.tenant_set_approval(w.tenant_a.id, false, &crate::support::cli()).await.unwrap();
    Fixture { queued_run: queued.id, blocked_run: blocked.id, pending_run: pending.id, object_id }
}

fn substitute(spec: &RouteSpec, w: &World, f: &Fixture, missing: bool) -> String {
    let run = match spec.path {
        p if p.ends_with("/retry") => f.blocked_run,
        p if p.ends_with("/approve") || p.ends_with("/reject") => f.pending_run,
        _ => f.queued_run,
    };
    let pick = |real: Uuid| if missing { Uuid::now_v7().to_string() } else { real.to_string() };
    let mut path = spec
        .path
        .replace("{tenant}", &pick(w.tenant_a.id))
        .replace("{run}", &pick(run))
        .replace("{workspace}", &w.ws.slug)
        .replace("{schedule}", &w.schedule.id.to_string())
        .replace("{user}", &w.readonly.user.id.to_string())
        .replace("{role}", &w.viewer_role.id.to_string())
        .replace("/objects/{id}", &format!("/objects/{}", f.object_id))
        .replace("{id}", &Uuid::now_v7().to_string())
        .replace("{a}", &Uuid::now_v7().to_string())
        .replace("{b}", &Uuid::now_v7().to_string());
    if matches!(spec.scope, Scope::Workspace(_) | Scope::List(_)) {
        path.push_str(&format!("?workspace={}", w.ws.slug));
    }
    assert!(!path.contains('{'), "no fixture for a parameter of {}", spec.path);
    path
}

/// A valid body for every POST route (the allowed actor must succeed with it).
fn sample(spec: &RouteSpec, w: &World) -> Payload {
    if spec.method != Method::POST {
        return Payload::Empty;
    }
    let a = w.tenant_a.id.to_string();
    let newbie = w.newbie.email.clone();
    match (spec.surface, spec.path) {
        (Surface::Page, p)
            if p.ends_with("/cancel")
                || p.ends_with("/retry")
                || p.ends_with("/revoke")
                || p.ends_with("/run")
                || p.ends_with("/approve")
                || p.ends_with("/reject") =>
        {
            form(&[])
        }
        (Surface::Page, "/admin/tenants/{tenant}/operations") => form(&[("type", "inventory.sync")]),
        (Surface::Page, "/admin/operations/bulk") => form(&[("operation", "inventory.sync"), ("tenant_id", &a)]),
        // Confirmed: the confirmation step (SPEC §10.2) is the browser test's.
        (Surface::Page, "/admin/tenants/{tenant}/status") => form(&[("status", "suspended"), ("confirm", "1")]),
        (Surface::Page, "/admin/tenants/{tenant}/write-gate") => form(&[("open", "false"), ("confirm", "1")]),
        (Surface::Page, "/admin/tenants/{tenant}/connection") => form(&[("enabled", "false"), ("confirm", "1")]),
        (Surface::Page, "/admin/tenants/{tenant}/approval") => form(&[("required", "true")]),
        (Surface::Page, "/admin/tenants/{tenant}/schedules") => form(&[("cron", "0 3 * * *"), ("timezone", "UTC")]),
        (Surface::Page, "/admin/tenants/{tenant}/schedules/{schedule}/enabled") => {
            form(&[("enabled", "false"), ("confirm", "1")])
        }
        (Surface::Page, "/admin/members") => form(&[("email", &newbie), ("role", "readonly"), ("scope", "all")]),
        (Surface::Page, "/admin/members/{user}/role") => form(&[("role", "operator")]),
        (Surface::Page, "/admin/members/{user}/scope") => form(&[("scope", "tenants"), ("tenant", &a)]),
        (Surface::Page, "/admin/roles") => form(&[("name", "auditor2"), ("capability", "audit.view")]),
        (Surface::Page, "/admin/roles/{role}/capabilities") => form(&[("capability", "audit.view")]),
        (Surface::Api, p)
            if p.ends_with("/cancel")
                || p.ends_with("/retry")
                || p.ends_with("/revoke")
                || p.ends_with("/fire")
                || p.ends_with("/approve")
                || p.ends_with("/reject") =>
        {
            Payload::Empty
        }
        (Surface::Api, "/api/v1/tenants/{tenant}/approval") => Payload::Json(json!({"required": true})),
        (Surface::Api, "/api/v1/tenants/{tenant}/operations") => Payload::Json(json!({"type": "inventory.sync"})),
        (Surface::Api, "/api/v1/workspaces/{workspace}/operations") => Payload::Json(
            json!({"type": "bulk.operation", "params": {"operation": "inventory.sync", "tenant_ids": [a]}}),
        ),
        (Surface::Api, "/api/v1/tenants/{tenant}/status") => Payload::Json(json!({"status": "suspended"})),
        (Surface::Api, "/api/v1/tenants/{tenant}/write-gate") => Payload::Json(json!({"open": false})),
        (Surface::Api, "/api/v1/tenants/{tenant}/connection") => Payload::Json(json!({"enabled": false})),
        (Surface::Api, "/api/v1/workspaces/{workspace}/tenants") => Payload::Json(json!({"name": "Woodgrove"})),
        (Surface::Api, "/api/v1/workspaces/{workspace}/roles/{role}/capabilities") => {
            Payload::Json(json!({"capabilities": ["workspace.view", "audit.view"]}))
        }
        (Surface::Api, "/api/v1/tenants/{tenant}/schedules") => Payload::Json(json!({"cron": "0 3 * * *"})),
        (Surface::Api, "/api/v1/tenants/{tenant}/schedules/{schedule}/enabled") => {
            Payload::Json(json!({"enabled": false}))
        }
        (Surface::Api, "/api/v1/workspaces/{workspace}/members") => {
            Payload::Json(json!({"email": newbie, "role": "readonly"}))
        }
        (Surface::Api, "/api/v1/workspaces/{workspace}/members/{user}/role") => {
            Payload::Json(json!({"role": "operator"}))
        }
        (Surface::Api, "/api/v1/workspaces/{workspace}/members/{user}/scope") => Payload::Json(json!({"tenants": [a]})),
        (Surface::Api, "/api/v1/workspaces/{workspace}/roles") => {
            Payload::Json(json!({"name": "auditor2", "capabilities": ["audit.view"]}))
        }
        _ => panic!("no sample body for {spec:?}: add one to the authorization matrix"),
    }
}

fn auth<'a>(spec: &RouteSpec, who: &'a Login) -> Auth<'a> {
    match spec.surface {
        Surface::Page => Auth::Cookie(who),
        Surface::Api => Auth::Bearer(who),
    }
}

/// Whether the route's object belongs to tenant A (so "out of scope" applies).
/// Bulk starts name tenant A in their sample body, so they count as well.
fn tenant_bound(spec: &RouteSpec) -> bool {
    matches!(spec.scope, Scope::Tenant(_) | Scope::Run(_))
        || spec.path == "/api/v1/workspaces/{workspace}/operations"
        || spec.path == "/admin/operations/bulk"
}

fn assert_success(spec: &RouteSpec, a: &Answer, bulk_supported: bool) {
    let bulk = ["/api/v1/workspaces/{workspace}/operations", "/admin/operations/bulk"];
    if bulk.contains(&spec.path) && !bulk_supported {
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{spec:?}: {}", a.text());
        return;
    }
    match (spec.surface, &spec.method) {
        (Surface::Page, &Method::POST) => {
            assert_eq!(a.status, StatusCode::SEE_OTHER, "{spec:?}: {}", a.text());
            assert!(!a.location().starts_with("/login"), "{spec:?} sent the allowed member to sign in");
        }
        _ => assert!(a.status.is_success(), "{spec:?}: {} {}", a.status, a.text()),
    }
}

async fn call(w: &World, spec: &RouteSpec, f: &Fixture, who: &Login, missing: bool) -> Answer {
    let path = substitute(spec, w, f, missing);
    send(&w.app, spec.method.clone(), &path, auth(spec, who), sample(spec, w)).await
}

/// What an answer says, without the viewer's frame: a page's `<main>`, or the whole JSON body.
fn main_of(a: &Answer) -> String {
    let text = a.text();
    match (text.find("<main"), text.find("</main>")) {
        (Some(start), Some(end)) => text[start..end].to_owned(),
        _ => text,
    }
}

fn guarded(spec: &RouteSpec) -> bool {
    !matches!(spec.scope, Scope::Public | Scope::User)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_guarded_route_answers_404_404_403_2xx() {
    let bulk_supported = atlas_engine::families::registry().get(OperationType::BulkOperation).is_some();
    let mut checked = 0;
    for spec in routes().iter().filter(|s| guarded(s)) {
        let w = World::new(atlas_store::testkit::sqlite().await).await;
        let f = fixture(&w).await;
        let before = w.store.world_counts_for_tests().await.unwrap();

        let outsider = call(&w, spec, &f, &w.outsider, false).await;
        assert_eq!(outsider.status, StatusCode::NOT_FOUND, "non-member on {spec:?}: {}", outsider.text());

        let lacking = call(&w, spec, &f, &w.lacking, false).await;
        assert_eq!(
            lacking.status,
            StatusCode::FORBIDDEN,
            "member lacking the capability on {spec:?}: {}",
            lacking.text()
        );

        let scoped_refused = tenant_bound(spec);
        if scoped_refused {
            let scoped = call(&w, spec, &f, &w.scoped, false).await;
            assert_eq!(scoped.status, StatusCode::NOT_FOUND, "member out of scope on {spec:?}: {}", scoped.text());
            // A missing id answers exactly what a hidden one does.
            if spec.path.contains("{tenant}") || spec.path.contains("{run}") {
                let missing = call(&w, spec, &f, &w.owner, true).await;
                assert_eq!(missing.status, StatusCode::NOT_FOUND, "missing id on {spec:?}");
                // Each page is in its viewer's own frame; what it says is the same.
                assert_eq!(main_of(&missing), main_of(&scoped), "404 bodies differ on {spec:?}");
                assert_eq!(main_of(&missing), main_of(&outsider), "404 bodies differ on {spec:?}");
            }
        }
        let after = w.store.world_counts_for_tests().await.unwrap();
        assert_eq!(before, after, "a refused request changed something on {spec:?}");

        let allowed = call(&w, spec, &f, &w.owner, false).await;
        assert_success(spec, &allowed, bulk_supported);

        if !scoped_refused {
            // A member with partial scope: lists are filtered, workspace-level pages open.
            let w2 = World::new(atlas_store::testkit::sqlite().await).await;
            let f2 = fixture(&w2).await;
            let scoped = call(&w2, spec, &f2, &w2.scoped, false).await;
            assert_success(spec, &scoped, bulk_supported);
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} guarded routes were checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_requests_go_to_sign_in_or_get_401() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    let f = fixture(&w).await;
    for spec in routes().iter().filter(|s| s.scope != Scope::Public) {
        let path = substitute(spec, &w, &f, false);
        let a = send(&w.app, spec.method.clone(), &path, Auth::None, sample_or_empty(spec, &w)).await;
        match spec.surface {
            Surface::Page => {
                assert_eq!(a.status, StatusCode::SEE_OTHER, "{spec:?}");
                assert!(a.location().starts_with("/login"), "{spec:?} → {}", a.location());
            }
            Surface::Api => {
                assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{spec:?}");
                assert_eq!(a.json()["error"]["code"], "unauthorized");
            }
        }
    }
}

fn sample_or_empty(spec: &RouteSpec, w: &World) -> Payload {
    if spec.scope == Scope::User {
        return Payload::Empty;
    }
    sample(spec, w)
}

#[test]
fn only_plumbing_is_public() {
    let public: Vec<&str> = routes().iter().filter(|s| s.scope == Scope::Public).map(|s| s.path).collect();
    let allowed =
        ["/", "/login", "/static/app.css", "/static/app.js", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"];
    for p in &public {
        assert!(allowed.contains(p), "{p} is public: is that intended? (update this list if so)");
    }
    // The cancel route is authorized by the cancel rule, not a plain capability.
    assert!(routes().iter().any(|s| s.scope == Scope::Run(Need::CancelRun)));
}

/// User-scoped routes act on the caller's own records only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_notification_is_not_found() {
    let w = World::new(atlas_store::testkit::sqlite().await).await;
    let run = w.blocked_run().await;
    let n = w.store.notifications_for(w.owner.user.id, 10).await.unwrap();
    let mine = n.iter().find(|n| n.run_id == run.id).expect("the owner was notified");
    let missing = Uuid::now_v7();
    for (surface, template) in
        [(Surface::Api, "/api/v1/notifications/{id}/read"), (Surface::Page, "/admin/notifications/{id}/read")]
    {
        let as_auth = |l| if surface == Surface::Api { Auth::Bearer(l) } else { Auth::Cookie(l) };
        let body = || if surface == Surface::Api { Payload::Empty } else { form(&[]) };
        let other =
            send(&w.app, Method::POST, &template.replace("{id}", &mine.id.to_string()), as_auth(&w.manager), body())
                .await;
        let none =
            send(&w.app, Method::POST, &template.replace("{id}", &missing.to_string()), as_auth(&w.manager), body())
                .await;
        assert_eq!(other.status, StatusCode::NOT_FOUND);
        assert_eq!(other.body, none.body);
        let own =
            send(&w.app, Method::POST, &template.replace("{id}", &mine.id.to_string()), as_auth(&w.owner), body())
                .await;
        assert!(own.status.is_success() || own.status == StatusCode::SEE_OTHER, "{}", own.status);
    }
    let list = send(&w.app, Method::GET, "/api/v1/notifications", Auth::Bearer(&w.manager), Payload::Empty).await;
    assert_eq!(list.json()["data"].as_array().map(Vec::len), Some(0));
}
