//! Multi-admin approval through the API (SPEC §10.2): the tenant's
//! `approval_required`, the run's `approval`, `POST /operations/{run}/approve`
//! and `/reject` with their refusals (403 / 404 / 409 / 422, nothing
//! changed). Both stores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_core::{OperationType, RunOutcome};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::blocked::backup_set;
use crate::support::{form, get, send, Auth, Payload, World};

both_stores!(
    approval_through_the_api,
    rejection_through_the_api,
    preview_through_the_api,
    approval_and_confirmation_in_the_console
);

async fn post(w: &World, path: &str, auth: Auth<'_>, body: Value) -> (StatusCode, Value) {
    let a = send(&w.app, Method::POST, path, auth, Payload::Json(body)).await;
    (a.status, a.json())
}

async fn pending_restore(w: &World) -> atlas_core::run::Run {
    let (status, t) = post(
        w,
        &format!("/api/v1/tenants/{}/approval", w.tenant_a.id),
        Auth::Bearer(&w.owner),
        json!({"required": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["approval_required"], true, "{t}");
    let set = backup_set(w).await;
    let run = w
        .start(
            &w.manager.user,
            &w.tenant_a,
            OperationType::RestoreExecute,
            json!({"backup_set_id": set, "dry_run": false}),
        )
        .await;
    assert!(run.approval.as_ref().is_some_and(|a| a.is_pending()), "{run:?}");
    run
}

async fn approval_through_the_api(store: atlas_store::Store) {
    let w = World::new(store).await;
    // Only a tenant manager changes the setting.
    let (status, _) = post(
        &w,
        &format!("/api/v1/tenants/{}/approval", w.tenant_a.id),
        Auth::Bearer(&w.readonly),
        json!({"required": true}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(
        &w,
        &format!("/api/v1/tenants/{}/approval", w.tenant_a.id),
        Auth::Bearer(&w.owner),
        json!({"required": "yes"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let run = pending_restore(&w).await;
    let shown = get(&w.app, &format!("/api/v1/operations/{}", run.id), Auth::Bearer(&w.readonly)).await.json();
    assert_eq!(shown["approval"], json!({"state": "pending", "by": null, "at": null, "reason": null}), "{shown}");
    let tenant = get(&w.app, &format!("/api/v1/tenants/{}", w.tenant_a.id), Auth::Bearer(&w.owner)).await.json();
    assert_eq!(tenant["approval_required"], true, "{tenant}");

    let approve = format!("/api/v1/operations/{}/approve", run.id);
    let audit = w.store.audit_events(Default::default()).await.unwrap().len();
    for (who, want) in [
        (&w.manager, StatusCode::FORBIDDEN), // the initiator
        (&w.readonly, StatusCode::FORBIDDEN),
        (&w.scoped, StatusCode::NOT_FOUND), // not entitled to tenant A
        (&w.outsider, StatusCode::NOT_FOUND),
    ] {
        let (status, body) = post(&w, &approve, Auth::Bearer(who), json!({})).await;
        assert_eq!(status, want, "{} {body}", who.user.email);
    }
    let long = json!({"reason": "x".repeat(1_001)});
    let (status, body) = post(&w, &format!("/api/v1/operations/{}/reject", run.id), Auth::Bearer(&w.owner), long).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(w.store.audit_events(Default::default()).await.unwrap().len(), audit, "nothing changed");
    assert_eq!(w.store.run_get(run.id).await.unwrap(), run);

    let (status, body) = post(&w, &approve, Auth::Bearer(&w.owner), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["approval"]["state"], "approved");
    assert_eq!(body["approval"]["by"], json!(w.owner.user.id));
    let (status, body) = post(&w, &approve, Auth::Bearer(&w.owner), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict", "{body}");

    // The document names the new endpoints and the run's approval.
    let doc = get(&w.app, "/api/v1/openapi.json", Auth::Bearer(&w.owner)).await.json();
    for path in
        ["/api/v1/operations/{run}/approve", "/api/v1/operations/{run}/reject", "/api/v1/tenants/{tenant}/approval"]
    {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
    assert!(doc["components"]["schemas"]["Run"]["properties"]["approval"].is_object());
}

async fn rejection_through_the_api(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = pending_restore(&w).await;
    let reject = format!("/api/v1/operations/{}/reject", run.id);
    // An empty body is a rejection without a reason.
    let a = send(&w.app, Method::POST, &reject, Auth::Bearer(&w.owner), Payload::Raw(String::new())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let body = a.json();
    assert_eq!((body["status"].clone(), body["outcome"].clone()), (json!("completed"), json!("blocked")));
    assert_eq!(body["decision"]["reason_code"], "approval_rejected", "{body}");
    assert_eq!(w.store.run_get(run.id).await.unwrap().outcome, RunOutcome::Blocked);
    let (status, _) = post(&w, &reject, Auth::Bearer(&w.owner), json!({"reason": "again"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn preview_through_the_api(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = w.start(&w.manager.user, &w.tenant_a, OperationType::InventorySync, json!({})).await;
    let audit = w.store.audit_events(Default::default()).await.unwrap().len();
    let status = format!("/api/v1/tenants/{}/status", w.tenant_a.id);
    let (code, doc) =
        post(&w, &format!("{status}?preview=true"), Auth::Bearer(&w.owner), json!({"status": "suspended"})).await;
    assert_eq!(code, StatusCode::OK, "{doc}");
    assert_eq!((doc["preview"].clone(), doc["changed"].clone()), (json!(true), json!(false)));
    let affected = doc["affected"].as_array().unwrap();
    assert_eq!(affected[0]["run_id"], json!(run.id), "{doc}");
    assert_eq!(affected[0]["reason_code"], "tenant_suspended");
    assert!(affected.iter().any(|a| a["schedule_id"] == json!(w.schedule.id) && a["state"] == "scheduled"), "{doc}");
    assert_eq!(w.store.tenant_get(w.tenant_a.id).await.unwrap().status, w.tenant_a.status, "nothing changed");
    assert_eq!(w.store.audit_events(Default::default()).await.unwrap().len(), audit);
    let (code, _) =
        post(&w, &format!("{status}?preview=maybe"), Auth::Bearer(&w.owner), json!({"status": "suspended"})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    // Still guarded like the change itself.
    let (code, _) =
        post(&w, &format!("{status}?preview=true"), Auth::Bearer(&w.readonly), json!({"status": "suspended"})).await;
    assert_eq!(code, StatusCode::FORBIDDEN);

    let role = format!("/api/v1/workspaces/{}/members/{}/role?preview=true", w.ws.slug, w.manager.user.id);
    let (code, doc) = post(&w, &role, Auth::Bearer(&w.owner), json!({"role": "readonly"})).await;
    assert_eq!(code, StatusCode::OK, "{doc}");
    assert_eq!(doc["affected"][0]["reason_code"], "capability_revoked", "{doc}");
    assert_eq!(w.store.audit_events(Default::default()).await.unwrap().len(), audit);
}

async fn approval_and_confirmation_in_the_console(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = pending_restore(&w).await;
    // Monitoring's Awaiting approval tab lists it with the badge from the one mapping.
    let list = get(
        &w.app,
        &format!("/admin/operations?workspace={}&status=awaiting_approval", w.ws.slug),
        Auth::Cookie(&w.owner),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    let row = crate::blocked::row(&list.text(), run.id);
    assert!(row.contains("data-status=\"awaiting_approval\"") && row.contains("Awaiting approval"), "{row}");
    // The initiator sees no Approve button; another manager does, with the approval panel.
    let run_page = format!("/admin/operations/{}", run.id);
    let page = |who| get(&w.app, &run_page, Auth::Cookie(who));
    let own = page(&w.manager).await.text();
    assert!(own.contains("data-approval=\"pending\"") && !own.contains(">Approve<"), "the initiator may not approve");
    assert!(page(&w.owner).await.text().contains(">Approve<"));
    let a = send(
        &w.app,
        Method::POST,
        &format!("/admin/operations/{}/approve", run.id),
        Auth::Cookie(&w.manager),
        form(&[]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(w.store.run_get(run.id).await.unwrap().approval.unwrap().is_pending(), "refused: told in the flash");
    let a =
        send(&w.app, Method::POST, &format!("/admin/operations/{}/approve", run.id), Auth::Cookie(&w.owner), form(&[]))
            .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let shown = page(&w.owner).await.text();
    assert!(shown.contains("Approved by") && shown.contains("data-approval=\"approved\""), "who approved is shown");

    // A role change that would block the manager's runs asks for confirmation first.
    let sync = w.start(&w.manager.user, &w.tenant_b, OperationType::InventorySync, json!({})).await;
    let role = format!("/admin/members/{}/role?workspace={}", w.manager.user.id, w.ws.slug);
    let a = send(&w.app, Method::POST, &role, Auth::Cookie(&w.owner), form(&[("role", "readonly")])).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let text = a.text();
    assert!(text.contains("This change will block 2 queued runs."), "{text}");
    assert!(text.contains(&format!("href=\"/admin/operations/{}\"", sync.id)), "a link to each run");
    assert!(text.contains(&format!("href=\"/admin/operations/{}\"", run.id)));
    let m = w.store.membership_get(w.ws.id, w.manager.user.id).await.unwrap().unwrap();
    assert_eq!(m.role.name(), "manager", "nothing changed before the confirmation");
    let a = send(&w.app, Method::POST, &role, Auth::Cookie(&w.owner), form(&[("role", "readonly"), ("confirm", "1")]))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let m = w.store.membership_get(w.ws.id, w.manager.user.id).await.unwrap().unwrap();
    assert_eq!(m.role.name(), "readonly");
}
