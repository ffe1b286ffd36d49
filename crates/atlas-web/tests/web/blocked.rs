//! A blocked run reads as a policy refusal everywhere a person looks: the
//! list, the viewer, the notification — never as a failure. A blocked system
//! run shows "System" and notifies nobody. Both stores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_core::badge::outcome_badge;
use atlas_core::run::Run;
use atlas_core::{OperationType, RunOutcome};
use atlas_store::schedule::Fired;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{cli, get, Auth, World};

both_stores!(blocked_restore_is_a_policy_refusal_everywhere, blocked_system_run_shows_system_and_notifies_nobody);

/// A backup set row for tests (the backup family may not exist in this build).
pub async fn backup_set(w: &World) -> Uuid {
    let id = Uuid::now_v7();
    w.store
        .execute_raw(&format!(
            "INSERT INTO backup_sets (id, workspace_id, tenant_id, run_id, item_count, created_at) \
             VALUES ('{id}', '{}', '{}', NULL, 0, {})",
            w.ws.id,
            w.tenant_a.id,
            atlas_store::now().micros()
        ))
        .await
        .unwrap();
    id
}

/// The `<tr>` of one run in a list page.
pub fn row(page: &str, run: Uuid) -> String {
    let start = page.find(&format!("data-run=\"{run}\"")).expect("the run is listed");
    let end = page[start..].find("</tr>").map_or(page.len(), |e| start + e);
    page[start..end].to_owned()
}

/// The manager queues a restore; then the write gate closes; the worker blocks it.
async fn blocked_restore(w: &World) -> Run {
    let set = backup_set(w).await;
    let run = w
        .start(
            &w.manager.user,
            &w.tenant_a,
            OperationType::RestoreExecute,
            json!({"backup_set_id": set, "dry_run": false}),
        )
        .await;
    w.store.tenant_set_write_gate(w.tenant_a.id, false, &cli()).await.unwrap();
    w.worker().tick().await.unwrap();
    let run = w.store.run_get(run.id).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Blocked);
    run
}

async fn blocked_restore_is_a_policy_refusal_everywhere(store: atlas_store::Store) {
    let w = World::new(store).await;
    let run = blocked_restore(&w).await;
    let message = "The write gate of Contoso North is closed.";
    assert_ne!(outcome_badge(RunOutcome::Blocked).color, outcome_badge(RunOutcome::Failed).color);

    let list = get(&w.app, "/admin/operations", Auth::Cookie(&w.manager)).await;
    assert_eq!(list.status, StatusCode::OK);
    let tr = row(&list.text(), run.id);
    assert!(tr.contains("data-outcome=\"blocked\""), "{tr}");
    assert!(tr.contains(">Blocked<") || tr.contains("</svg>Blocked"), "{tr}");
    assert!(tr.contains("badge-indigo") && !tr.contains("badge-red"), "{tr}");
    assert!(tr.contains(message) && tr.contains("write_gate_closed"), "{tr}");
    assert!(!tr.contains("Failed"), "{tr}");

    let blocked_only =
        get(&w.app, "/admin/operations?status=completed&outcome=blocked", Auth::Cookie(&w.manager)).await;
    assert!(blocked_only.text().contains(&format!("data-run=\"{}\"", run.id)));
    let failed_only = get(&w.app, "/admin/operations?outcome=failed", Auth::Cookie(&w.manager)).await;
    assert!(!failed_only.text().contains(&format!("data-run=\"{}\"", run.id)));

    let unread_before = w.store.notifications_unread_count(w.manager.user.id).await.unwrap();
    assert_eq!(unread_before, 1);
    let note = get(&w.app, "/admin/notifications", Auth::Cookie(&w.manager)).await.text();
    assert!(note.contains("data-outcome=\"blocked\""), "{note}");
    assert!(
        note.contains("Restore on Contoso North was blocked: the write gate of Contoso North is closed."),
        "{note}"
    );
    let api = get(&w.app, "/api/v1/notifications", Auth::Bearer(&w.manager)).await.json();
    assert_eq!(api["data"][0]["outcome"], "blocked");
    assert_eq!(api["data"][0]["run_id"], json!(run.id));

    let viewer = get(&w.app, &format!("/admin/operations/{}", run.id), Auth::Cookie(&w.manager)).await;
    assert_eq!(viewer.status, StatusCode::OK);
    let page = viewer.text();
    assert!(page.contains("Blocked — policy refusal"), "{page}");
    assert!(page.contains(message));
    assert!(page.contains("<code class=\"reason-code\">write_gate_closed</code>"), "{page}");
    assert!(page.contains("data-check=\"write_gate\""), "{page}");
    assert!(page.contains("Open the write gate in tenant settings, then Retry."));
    assert!(page.contains("data-outcome=\"blocked\"") && page.contains("badge-indigo"));
    assert!(!page.contains("Failed") && !page.contains("panel-failure"), "a blocked run must not look failed");
    // Opening the run marked the notification read.
    assert_eq!(w.store.notifications_unread_count(w.manager.user.id).await.unwrap(), 0);
    // The manager's role may retry it, but the gate would refuse it the same
    // way now: Retry is disabled, with the reason and the setting that fixes it.
    assert!(!page.contains("/retry\"") && !page.contains("/cancel\""), "{page}");
    assert!(page.contains("data-retry=\"disabled\""), "{page}");
    let why = "Retrying now would be refused the same way: The write gate of Contoso North is closed.";
    assert!(page.contains(why), "{page}");
    assert!(page.contains(&format!("href=\"/admin/tenants/{}/settings\"", w.tenant_a.id)), "{page}");
    // With the gate open again, Retry is a button.
    w.store.tenant_set_write_gate(w.tenant_a.id, true, &cli()).await.unwrap();
    let page = viewer_page(&w, run.id).await;
    assert!(
        page.contains(&format!("/admin/operations/{}/retry\"", run.id)) && !page.contains("data-retry=\"disabled\"")
    );

    let json = get(&w.app, &format!("/api/v1/operations/{}", run.id), Auth::Bearer(&w.manager)).await.json();
    assert_eq!(json["outcome"], "blocked");
    assert_eq!(json["decision"]["reason_code"], "write_gate_closed");
    assert_eq!(json["actions"], json!({"cancel": false, "retry": true}));
    let readonly = get(&w.app, &format!("/api/v1/operations/{}", run.id), Auth::Bearer(&w.readonly)).await.json();
    assert_eq!(readonly["actions"], json!({"cancel": false, "retry": false}));
}

async fn blocked_system_run_shows_system_and_notifies_nobody(store: atlas_store::Store) {
    let w = World::new(store).await;
    let slot = atlas_store::now();
    let fired = atlas_engine::schedule::fire(&w.store, &w.schedule, slot, 3).await.unwrap();
    let Fired::Run(ins) = fired else { panic!("the slot fires") };
    w.store.schedule_set_enabled(w.schedule.id, false, &cli()).await.unwrap();
    w.worker().tick().await.unwrap();
    let run = w.store.run_get(ins.run.id).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Blocked);
    assert!(w.store.notifications_for_run(run.id).await.unwrap().is_empty(), "a system run notifies nobody");

    let list = get(&w.app, "/admin/operations?initiator=system", Auth::Cookie(&w.owner)).await.text();
    let tr = row(&list, run.id);
    assert!(tr.contains("System · schedule") && tr.contains("data-outcome=\"blocked\""), "{tr}");
    assert!(tr.contains("schedule_disabled"));
    let viewer = get(&w.app, &format!("/admin/operations/{}", run.id), Auth::Cookie(&w.owner)).await.text();
    assert!(viewer.contains("System · schedule") && viewer.contains("Blocked — policy refusal"));
    assert!(viewer.contains("Enable the schedule, then Run now."));
    assert!(viewer.contains("Queued by a schedule"));
}

async fn viewer_page(w: &World, run: Uuid) -> String {
    get(&w.app, &format!("/admin/operations/{run}"), Auth::Cookie(&w.manager)).await.text()
}
