//! What a person reads in the console: the audit log in words with its
//! filters and keyset pages, error pages inside the frame and 405 answers in
//! kind, the start page of a role without Monitoring, the search box,
//! connection health and schedules in words.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use atlas_core::capability::Capability;
use atlas_core::tenant::TenantScope;
use atlas_core::OperationType;
use atlas_store::admin::RoleRef;
use axum::http::{header, Method, StatusCode};
use serde_json::json;

use crate::support::{cli, get, send, Auth, Payload, World};

both_stores!(
    audit_log_reads_in_words_and_pages_by_key,
    error_pages_keep_the_frame_and_405_answers_in_kind,
    a_role_without_monitoring_starts_where_it_may_look,
    search_finds_runs_tenants_and_objects,
    health_and_schedules_read_in_words,
);

/// The `data-seq` of every line of an audit page, in page order.
fn seqs(html: &str) -> Vec<i64> {
    html.split("data-seq=\"").skip(1).filter_map(|s| s.split('"').next()?.parse().ok()).collect()
}

/// The `href` of the page's "Older →" link, unescaped.
fn older(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\"")?;
    let start = html[..at].rfind("href=\"")? + 6;
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&"))
}

async fn audit_log_reads_in_words_and_pages_by_key(store: atlas_store::Store) {
    let w = World::new(store).await;
    // Enough events for more than one page of 100.
    for i in 0..110 {
        w.store.tenant_set_write_gate(w.tenant_a.id, i % 2 == 1, &cli()).await.unwrap();
    }
    let run = w.start(&w.manager.user, &w.tenant_b, OperationType::ComplianceSnapshot, json!({})).await;

    let first = get(&w.app, "/admin/audit", Auth::Cookie(&w.owner)).await;
    assert_eq!(first.status, StatusCode::OK);
    let html = first.text();
    assert!(html.contains("An administrator (CLI) closed the write gate of"), "in words: {html}");
    assert!(html.contains("Manager Person queued"), "the actor by name: {html}");
    assert!(html.contains("<details class=\"data\"><summary>Data"), "the data behind a disclosure");
    let page_one = seqs(&html);
    assert_eq!(page_one.len(), 100, "a page holds 100 events");
    assert!(page_one.windows(2).all(|p| p[0] > p[1]), "newest first: {page_one:?}");

    // "Older →" continues below the last line shown, with no overlap.
    let href = older(&html).expect("an Older → link");
    assert!(href.contains(&format!("before={}", page_one[99])), "{href}");
    let second = seqs(&get(&w.app, &href, Auth::Cookie(&w.owner)).await.text());
    assert!(!second.is_empty() && second.iter().all(|s| *s < page_one[99]), "{second:?}");

    // Filters: action, actor, run, time; a bad cursor is a clear 422.
    let gate = get(&w.app, "/admin/audit?action=tenant.write_gate_changed", Auth::Cookie(&w.owner)).await.text();
    assert!(gate.matches("data-action=\"tenant.write_gate_changed\"").count() == 100, "{gate}");
    assert!(!gate.contains("data-action=\"operation.queued\""));
    let by_manager =
        get(&w.app, &format!("/admin/audit?actor={}", w.manager.user.id), Auth::Cookie(&w.owner)).await.text();
    assert_eq!(seqs(&by_manager).len(), 1, "the manager queued one run: {by_manager}");
    let of_run = get(&w.app, &format!("/admin/audit?run={}", run.id), Auth::Cookie(&w.owner)).await.text();
    assert!(of_run.contains("data-action=\"operation.queued\"") && seqs(&of_run).len() == 1, "{of_run}");
    let future = get(&w.app, "/admin/audit?from=2999-01-01", Auth::Cookie(&w.owner)).await.text();
    assert!(seqs(&future).is_empty() && future.contains("No events."));
    let bad = get(&w.app, "/admin/audit?before=soon", Auth::Cookie(&w.owner)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("is not a valid cursor"), "{}", bad.text());

    // The run viewer's audit section renders the same lines.
    let viewer = get(&w.app, &format!("/admin/operations/{}", run.id), Auth::Cookie(&w.owner)).await.text();
    assert!(viewer.contains("<ol class=\"audit\">") && viewer.contains("Manager Person queued"), "{viewer}");
}

async fn error_pages_keep_the_frame_and_405_answers_in_kind(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.blocked_run().await;

    // A POST-only console path answers GET with a page in the console's frame.
    let page = get(&w.app, &format!("/admin/operations/{}/retry", run.id), Auth::Cookie(&w.owner)).await;
    assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(page.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let text = page.text();
    assert!(text.contains("This address does not accept GET requests"), "{text}");
    assert!(text.contains("header class=\"topbar\"") && text.contains("Log out"), "in the frame: {text}");

    // Over the API, the JSON error shape (issue 15 item 9).
    let api = send(
        &w.app,
        Method::DELETE,
        &format!("/api/v1/tenants/{}", w.tenant_a.id),
        Auth::Bearer(&w.owner),
        Payload::Empty,
    )
    .await;
    assert_eq!(api.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(api.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(api.json()["error"]["code"], "method_not_allowed");
    assert_eq!(api.json()["error"]["message"], "This address does not accept DELETE requests");

    // 404 and 403 pages keep the top bar too.
    for (path, who, status) in [
        ("/admin/no-such-page".to_owned(), &w.owner, StatusCode::NOT_FOUND),
        (format!("/admin/operations/{}", uuid::Uuid::now_v7()), &w.owner, StatusCode::NOT_FOUND),
        ("/admin/members".to_owned(), &w.operator, StatusCode::FORBIDDEN),
    ] {
        let a = get(&w.app, &path, Auth::Cookie(who)).await;
        assert_eq!(a.status, status, "{path}");
        assert!(a.text().contains("Log out"), "{path} keeps the frame: {}", a.text());
    }
}

async fn a_role_without_monitoring_starts_where_it_may_look(store: atlas_store::Store) {
    let w = World::new(store).await;
    let caps: BTreeSet<Capability> = [Capability::WorkspaceView, Capability::AuditView].into_iter().collect();
    w.store.role_create(w.ws.id, "auditor", &caps, &cli()).await.unwrap();
    w.store
        .member_grant(w.ws.id, w.newbie.id, &RoleRef::Custom("auditor".into()), &TenantScope::All, &cli())
        .await
        .unwrap();
    let (cookie, session) = w.store.session_create(w.newbie.id, Duration::from_secs(600)).await.unwrap();
    let auditor =
        crate::support::Login { user: w.newbie.clone(), cookie, csrf: session.csrf_token, token: String::new() };
    let run = w.start(&w.owner.user, &w.tenant_a, OperationType::InventorySync, json!({})).await;

    let home = get(&w.app, "/", Auth::Cookie(&auditor)).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), format!("/admin/audit?workspace={}", w.ws.slug));
    let audit = get(&w.app, &home.location(), Auth::Cookie(&auditor)).await.text();
    assert!(!audit.contains("href=\"/admin/operations\""), "no Operations in the navigation");
    // The run is named, but not linked: the auditor may not open it.
    assert!(audit.contains("Owner Person queued Inventory sync on"), "{audit}");
    assert!(!audit.contains(&format!("href=\"/admin/operations/{}\"", run.id)), "{audit}");
    let owner = get(&w.app, "/admin/audit", Auth::Cookie(&w.owner)).await.text();
    assert!(owner.contains(&format!("href=\"/admin/operations/{}\"", run.id)), "the owner may open it");

    // A role with nothing to monitor lands on its notifications, not on a 403.
    let lacking = get(&w.app, "/", Auth::Cookie(&w.lacking)).await;
    assert_eq!(lacking.location(), "/admin/notifications");
    assert_eq!(get(&w.app, "/admin/notifications", Auth::Cookie(&w.lacking)).await.status, StatusCode::OK);
}

async fn search_finds_runs_tenants_and_objects(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.seed_sandboxes().await;
    let run = w.start(&w.operator.user, &w.tenant_a, OperationType::InventorySync, json!({})).await;
    w.drain().await;
    let object = w.store.inventory_list(w.tenant_a.id).await.unwrap().into_iter().next().expect("an object");

    let by_id = get(&w.app, &format!("/admin/search?q={}", run.id), Auth::Cookie(&w.owner)).await;
    assert_eq!(by_id.status, StatusCode::SEE_OTHER);
    assert_eq!(by_id.location(), format!("/admin/operations/{}", run.id));
    // Someone who may not see the run is not sent to it.
    let hidden = get(&w.app, &format!("/admin/search?q={}", run.id), Auth::Cookie(&w.scoped)).await;
    assert_eq!(hidden.status, StatusCode::OK);
    assert!(hidden.text().contains("No run with this id that you may see."));

    let tenants = get(&w.app, "/admin/search?q=fabri", Auth::Cookie(&w.owner)).await.text();
    assert!(tenants.contains(&format!("href=\"/admin/tenants/{}\">Fabrikam</a>", w.tenant_b.id)), "{tenants}");
    let needle: String = object.display_name.chars().take(6).collect();
    let objects = get(&w.app, &format!("/admin/search?q={}", urlencode(&needle)), Auth::Cookie(&w.owner)).await.text();
    assert!(
        objects.contains(&format!("<strong>{}</strong>", maud::html! { (object.display_name) }.into_string())),
        "{objects}"
    );
    // Objects of tenants outside the viewer's scope are not found.
    let scoped = get(&w.app, &format!("/admin/search?q={}", urlencode(&needle)), Auth::Cookie(&w.scoped)).await.text();
    assert!(scoped.contains("No object in the inventory matches"), "{scoped}");
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap().trim_start_matches('=').to_owned()
}

async fn health_and_schedules_read_in_words(store: atlas_store::Store) {
    let w = World::new(store).await;
    w.seed_sandboxes().await;
    w.start(&w.operator.user, &w.tenant_a, OperationType::ProviderConnectionCheck, json!({})).await;
    w.drain().await;

    let page = get(&w.app, &format!("/admin/tenants/{}", w.tenant_a.id), Auth::Cookie(&w.owner)).await.text();
    assert!(page.contains("data-connection-health=\"healthy\""), "{page}");
    assert!(
        page.contains("sandbox connection, <strong>enabled</strong>.") && page.contains("Last check passed"),
        "{page}"
    );
    assert!(!page.contains("{&quot;"), "no raw JSON: {page}");

    let schedules =
        get(&w.app, &format!("/admin/tenants/{}/schedules", w.tenant_a.id), Auth::Cookie(&w.owner)).await.text();
    assert!(schedules.contains("At 02:00 AM"), "the cron in words: {schedules}");
    assert!(schedules.contains("02:00 UTC in UTC"), "the next fire in the schedule's zone: {schedules}");
    assert!(schedules.contains("Never ran"), "{schedules}");
}
