//! Administration: every entity round-trips, duplicates and bad input are
//! refused without writing anything, and each legitimacy-affecting change
//! writes exactly one audit event with the right action and actor (SPEC §6.4).

use atlas_core::audit::Actor;
use atlas_core::capability::{BuiltinRole, Capability, CapabilitySet, Role};
use atlas_core::tenant::{ConnectionKind, ConnectionStatus, TenantScope, TenantStatus};
use atlas_core::OperationType;
use atlas_store::admin::{ChangeBy, RoleRef};
use atlas_store::audit::{AuditEvent, AuditFilter};
use atlas_store::{Store, StoreError};
use serde_json::json;

use crate::fixture;

conformance!(
    admin_round_trip,
    admin_duplicates_conflict_and_write_nothing,
    admin_bad_input_is_refused_and_writes_nothing,
    admin_changes_write_one_event_each,
    admin_custom_role_edit_reaches_holders,
    admin_connection_health_and_status,
    admin_token_authentication,
);

fn caps(list: &[Capability]) -> CapabilitySet {
    list.iter().copied().collect()
}

async fn events(store: &Store, action: &str) -> Vec<AuditEvent> {
    let filter =
        AuditFilter { action: Some(action.to_owned()), limit: AuditFilter::MAX_LIMIT, ..AuditFilter::default() };
    store.audit_events(filter).await.unwrap()
}

async fn event_count(store: &Store) -> usize {
    let filter = AuditFilter { limit: AuditFilter::MAX_LIMIT, ..AuditFilter::default() };
    store.audit_events(filter).await.unwrap().len()
}

/// The one event with `action`, checked to come from the CLI.
async fn one_cli_event(store: &Store, action: &str) -> AuditEvent {
    let mut found = events(store, action).await;
    assert_eq!(found.len(), 1, "exactly one `{action}` event");
    let event = found.remove(0);
    assert_eq!(event.actor, Actor::System, "{action}");
    assert_eq!(event.data["via"], json!("cli"), "{action}");
    event
}

async fn admin_round_trip(store: Store) {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(&store).await;
    assert_eq!(store.workspace_get(ws.id).await.unwrap(), ws);
    assert_eq!(store.workspace_by_slug(&ws.slug).await.unwrap(), ws);

    let user = store.user_create("Jane@Example.com", "Jane Doe", Some("pw-long-enough"), &by).await.unwrap();
    assert_eq!(user.email, "jane@example.com");
    assert_eq!(store.user_get(user.id).await.unwrap(), user);
    assert_eq!(store.user_by_email("JANE@example.com").await.unwrap(), user);
    assert_eq!(store.user_list().await.unwrap(), vec![user.clone()]);

    let auditor = store.role_create(ws.id, "auditor", &caps(&[Capability::AuditView]), &by).await.unwrap();
    assert_eq!(store.role_get(ws.id, "auditor").await.unwrap(), auditor);
    assert_eq!(store.role_list(ws.id).await.unwrap(), vec![auditor.clone()]);

    let north = store
        .tenant_create(
            ws.id,
            "Contoso North",
            TenantStatus::Active,
            false,
            Some("6f3c0f0e-8d5b-4c4b-9c8a-2b1e0f3d4a5b"),
            &by,
        )
        .await
        .unwrap();
    let south = store.tenant_create(ws.id, "Contoso South", TenantStatus::Onboarding, true, None, &by).await.unwrap();
    assert!(!north.writes_enabled && north.writes_changed_by.is_none());
    assert_eq!(south.writes_changed_by.as_deref(), Some("system"));
    assert_eq!(store.tenant_get(north.id).await.unwrap(), north);
    assert_eq!(store.tenant_list(ws.id).await.unwrap(), vec![north.clone(), south.clone()]);
    assert_eq!(store.tenant_resolve(Some(ws.id), "Contoso South").await.unwrap(), south);
    assert_eq!(store.tenant_resolve(None, &north.id.to_string()).await.unwrap(), north);

    let scope = TenantScope::Tenants([north.id].into_iter().collect());
    let m = store.member_grant(ws.id, user.id, &RoleRef::parse("auditor"), &scope, &by).await.unwrap();
    assert_eq!(m.role, Role::Custom { name: "auditor".into(), capabilities: caps(&[Capability::AuditView]) });
    assert_eq!(store.membership_get(ws.id, user.id).await.unwrap(), Some(m.clone()));
    assert_eq!(store.membership_list(ws.id).await.unwrap(), vec![m.clone()]);
    assert_eq!(store.memberships_of_user(user.id).await.unwrap(), vec![m.clone()]);
    let other = store.user_create("op@example.com", "Op", None, &by).await.unwrap();
    let op = store.member_grant(ws.id, other.id, &RoleRef::parse("operator"), &TenantScope::All, &by).await.unwrap();
    assert_eq!(op.role, Role::Builtin(BuiltinRole::Operator));
    assert_eq!(store.membership_get(ws.id, other.id).await.unwrap(), Some(op));

    let conn = store.connection_add(north.id, ConnectionKind::Sandbox, json!({"seed": 1}), None, &by).await.unwrap();
    assert_eq!(conn.status, ConnectionStatus::Enabled);
    assert_eq!(store.connection_get(north.id).await.unwrap(), Some(conn));
    let graph = store
        .connection_add(south.id, ConnectionKind::MicrosoftGraph, json!({"client_id": "c"}), Some("sealed".into()), &by)
        .await
        .unwrap();
    assert_eq!(graph.status, ConnectionStatus::PendingConsent);
    assert!(graph.has_secret);
    assert_eq!(store.connection_get(south.id).await.unwrap(), Some(graph));

    let (token, plaintext) = store.token_create(user.id, "laptop", &by).await.unwrap();
    assert!(plaintext.starts_with("atl_") && plaintext.len() == 4 + 64);
    assert_eq!(store.token_list(user.id).await.unwrap(), vec![token]);
    assert_eq!(store.token_authenticate(&plaintext).await.unwrap(), Some(user));
}

async fn admin_duplicates_conflict_and_write_nothing(store: Store) {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(&store).await;
    let user = store.user_create("a@example.com", "A", None, &by).await.unwrap();
    store.role_create(ws.id, "auditor", &CapabilitySet::new(), &by).await.unwrap();
    let t = store.tenant_create(ws.id, "T", TenantStatus::Active, false, None, &by).await.unwrap();
    store.member_grant(ws.id, user.id, &RoleRef::parse("readonly"), &TenantScope::All, &by).await.unwrap();
    store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
    let before = event_count(&store).await;

    let conflicts = [
        store.workspace_create(&ws.slug, "again", &by).await.err(),
        store.user_create("A@example.com", "again", None, &by).await.err(),
        store.role_create(ws.id, "auditor", &CapabilitySet::new(), &by).await.err(),
        store.tenant_create(ws.id, "T", TenantStatus::Active, false, None, &by).await.err(),
        store.member_grant(ws.id, user.id, &RoleRef::parse("owner"), &TenantScope::All, &by).await.err(),
        store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &by).await.err(),
    ];
    for (i, err) in conflicts.into_iter().enumerate() {
        assert!(matches!(err, Some(StoreError::Conflict(_))), "case {i}: {err:?}");
    }
    assert_eq!(event_count(&store).await, before);
    assert_eq!(store.tenant_list(ws.id).await.unwrap().len(), 1);
    assert_eq!(store.role_list(ws.id).await.unwrap().len(), 1);
    assert_eq!(store.user_list().await.unwrap().len(), 1);
    // The same tenant name in another workspace is fine: nothing crosses workspaces.
    let ws2 = fixture::workspace(&store).await;
    store.tenant_create(ws2.id, "T", TenantStatus::Active, false, None, &by).await.unwrap();
}

async fn admin_bad_input_is_refused_and_writes_nothing(store: Store) {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(&store).await;
    let ws2 = fixture::workspace(&store).await;
    let user = store.user_create("b@example.com", "B", None, &by).await.unwrap();
    let foreign = store.tenant_create(ws2.id, "Elsewhere", TenantStatus::Active, false, None, &by).await.unwrap();
    let graph_tenant = store.tenant_create(ws.id, "G", TenantStatus::Onboarding, false, None, &by).await.unwrap();
    store.connection_add(graph_tenant.id, ConnectionKind::MicrosoftGraph, json!({}), None, &by).await.unwrap();
    let before = event_count(&store).await;
    let foreign_scope = TenantScope::Tenants([foreign.id].into_iter().collect());

    let invalid = [
        store.user_create("not-an-email", "X", None, &by).await.err(),
        store.workspace_create("Bad Slug", "X", &by).await.err(),
        store.role_create(ws.id, "owner", &CapabilitySet::new(), &by).await.err(),
        store.role_create(ws.id, "Manager", &CapabilitySet::new(), &by).await.err(),
        store.tenant_create(ws.id, "  ", TenantStatus::Active, false, None, &by).await.err(),
        store.member_grant(ws.id, user.id, &RoleRef::parse("readonly"), &foreign_scope, &by).await.err(),
        store.tenant_resolve(None, "G").await.err(),
        store.connection_add(graph_tenant.id, ConnectionKind::Sandbox, json!([1]), None, &by).await.err(),
        store.connection_set_status(graph_tenant.id, true, &by).await.err(),
        store.token_create(user.id, "", &by).await.err(),
    ];
    for (i, err) in invalid.into_iter().enumerate() {
        assert!(matches!(err, Some(StoreError::Invalid(_))), "case {i}: {err:?}");
    }
    let unknown = uuid::Uuid::now_v7();
    let not_found = [
        store.member_grant(ws.id, user.id, &RoleRef::parse("ghost"), &TenantScope::All, &by).await.err(),
        store.member_grant(ws.id, unknown, &RoleRef::parse("readonly"), &TenantScope::All, &by).await.err(),
        store.member_set_role(ws.id, user.id, &RoleRef::parse("owner"), &by).await.err(),
        store.member_revoke(ws.id, user.id, &by).await.err(),
        store.role_set(ws.id, "ghost", &CapabilitySet::new(), &by).await.err(),
        store.tenant_set_status(unknown, TenantStatus::Archived, &by).await.err(),
        store.tenant_resolve(Some(ws.id), "Elsewhere").await.err(),
        store.tenant_resolve(Some(ws.id), &foreign.id.to_string()).await.err(),
        store.tenant_create(unknown, "T", TenantStatus::Active, false, None, &by).await.err(),
        store.connection_add(unknown, ConnectionKind::Sandbox, json!({}), None, &by).await.err(),
        store.token_create(unknown, "t", &by).await.err(),
    ];
    for (i, err) in not_found.into_iter().enumerate() {
        assert!(matches!(err, Some(StoreError::NotFound(_))), "case {i}: {err:?}");
    }
    assert_eq!(event_count(&store).await, before);
    assert_eq!(store.membership_list(ws.id).await.unwrap(), vec![]);
    assert!(store.role_list(ws.id).await.unwrap().is_empty());

    // A disabled user gets no token.
    store.user_disable("b@example.com", &by).await.unwrap();
    let err = store.token_create(user.id, "t", &by).await.err();
    assert!(matches!(err, Some(StoreError::Invalid(_))), "{err:?}");
}

async fn admin_changes_write_one_event_each(store: Store) {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(&store).await;
    let user = store.user_create("c@example.com", "C", None, &by).await.unwrap();
    let reader = caps(&[Capability::WorkspaceView]);
    let role = store.role_create(ws.id, "viewer", &reader, &by).await.unwrap();
    let t = store
        .tenant_create(ws.id, "T", TenantStatus::Onboarding, false, Some("00000000-0000-0000-0000-000000000001"), &by)
        .await
        .unwrap();
    store.member_grant(ws.id, user.id, &RoleRef::parse("viewer"), &TenantScope::All, &by).await.unwrap();
    store.role_set(ws.id, "viewer", &caps(&[Capability::AuditView]), &by).await.unwrap();
    store.member_set_role(ws.id, user.id, &RoleRef::parse("operator"), &by).await.unwrap();
    let scope = TenantScope::Tenants([t.id].into_iter().collect());
    store.member_set_scope(ws.id, user.id, &scope, &by).await.unwrap();
    store.tenant_set_status(t.id, TenantStatus::Active, &by).await.unwrap();
    let opened = store.tenant_set_write_gate(t.id, true, &by).await.unwrap();
    store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, &by).await.unwrap();
    store.connection_set_status(t.id, false, &by).await.unwrap();
    store.connection_set_status(t.id, true, &by).await.unwrap();
    store.token_create(user.id, "ci", &by).await.unwrap();
    store.member_revoke(ws.id, user.id, &by).await.unwrap();
    store.user_disable("c@example.com", &by).await.unwrap();

    // No-ops write nothing.
    let before = event_count(&store).await;
    store.role_set(ws.id, "viewer", &caps(&[Capability::AuditView]), &by).await.unwrap();
    store.tenant_set_status(t.id, TenantStatus::Active, &by).await.unwrap();
    store.tenant_set_write_gate(t.id, true, &by).await.unwrap();
    store.connection_set_status(t.id, true, &by).await.unwrap();
    store.user_disable("c@example.com", &by).await.unwrap();
    assert_eq!(event_count(&store).await, before);

    let created = one_cli_event(&store, "role.created").await;
    assert_eq!(created.subject, format!("role:{}", role.id));
    assert_eq!(created.workspace_id, Some(ws.id));
    let updated = one_cli_event(&store, "role.updated").await;
    assert_eq!(updated.data["before"]["capabilities"], json!(["workspace.view"]));
    assert_eq!(updated.data["after"]["capabilities"], json!(["audit.view"]));
    let granted = one_cli_event(&store, "membership.granted").await;
    assert_eq!(granted.data["user_id"], json!(user.id));
    let changed = one_cli_event(&store, "membership.role_changed").await;
    assert_eq!(
        (changed.data["before"]["role"].clone(), changed.data["after"]["role"].clone()),
        (json!("viewer"), json!("operator"))
    );
    let scoped = one_cli_event(&store, "membership.scope_changed").await;
    assert_eq!(scoped.data["after"]["tenant_scope"], json!([t.id]));
    assert_eq!(scoped.data["before"]["tenant_scope"], json!("all"));
    let revoked = one_cli_event(&store, "membership.revoked").await;
    assert_eq!(revoked.workspace_id, Some(ws.id));
    for action in ["tenant.created", "tenant.status_changed", "tenant.write_gate_changed", "connection.created"] {
        let e = one_cli_event(&store, action).await;
        assert_eq!((e.workspace_id, e.tenant_id), (Some(ws.id), Some(t.id)), "{action}");
    }
    let gate = one_cli_event(&store, "tenant.write_gate_changed").await;
    assert_eq!(gate.data["after"]["writes_enabled"], json!(true));
    assert_eq!(opened.writes_changed_by.as_deref(), Some("system"));
    assert!(opened.writes_changed_at.is_some());
    let disabled = one_cli_event(&store, "connection.disabled").await;
    assert_eq!(disabled.data["before"]["status"], json!("enabled"));
    assert_eq!(disabled.data["after"]["status"], json!("disabled"));
    one_cli_event(&store, "connection.enabled").await;
    let token = one_cli_event(&store, "token.created").await;
    assert!(!token.data.to_string().contains("atl_"), "the token never reaches the audit log");
    one_cli_event(&store, "user.disabled").await;

    // A user's own change is theirs, without `via`.
    let admin = store.user_create("owner@example.com", "Owner", None, &by).await.unwrap();
    store.tenant_set_status(t.id, TenantStatus::Suspended, &ChangeBy::user(admin.id)).await.unwrap();
    let by_user = events(&store, "tenant.status_changed").await;
    assert_eq!(by_user.len(), 2);
    assert_eq!(by_user[0].actor, Actor::User { user_id: admin.id });
    assert!(by_user[0].data.get("via").is_none());
}

async fn admin_custom_role_edit_reaches_holders(store: Store) {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(&store).await;
    let user = store.user_create("d@example.com", "D", None, &by).await.unwrap();
    store.role_create(ws.id, "auditor", &caps(&[Capability::AuditView]), &by).await.unwrap();
    store.member_grant(ws.id, user.id, &RoleRef::parse("auditor"), &TenantScope::All, &by).await.unwrap();
    let wider = caps(&[Capability::AuditView, Capability::OperationsView]);
    store.role_set(ws.id, "auditor", &wider, &by).await.unwrap();
    let m = store.membership_get(ws.id, user.id).await.unwrap().unwrap();
    assert!(m.role.grants(Capability::OperationsView));
    assert_eq!(m.role.capabilities(), wider);
    // A custom role of another workspace is not visible here.
    let ws2 = fixture::workspace(&store).await;
    let err = store.member_grant(ws2.id, user.id, &RoleRef::parse("auditor"), &TenantScope::All, &by).await.err();
    assert!(matches!(err, Some(StoreError::NotFound(_))), "{err:?}");
}

async fn admin_connection_health_and_status(store: Store) {
    let by = ChangeBy::cli();
    let ws = fixture::workspace(&store).await;
    let t = store.tenant_create(ws.id, "G", TenantStatus::Onboarding, false, None, &by).await.unwrap();
    store.connection_add(t.id, ConnectionKind::MicrosoftGraph, json!({}), Some("sealed".into()), &by).await.unwrap();
    // Health is a connection check's result, written through its run's handle.
    let (check, token) = fixture::claimed(&store, &t, OperationType::ProviderConnectionCheck, json!({})).await;
    let results = store.run_results(&check, token);
    let before = event_count(&store).await;

    let failing = results.connection_record_health(json!({"ok": false}), None).await.unwrap();
    assert_eq!(failing.status, ConnectionStatus::PendingConsent);
    assert_eq!(failing.health, Some(json!({"ok": false})));
    assert!(failing.checked_at.is_some());
    assert_eq!(event_count(&store).await, before, "health alone is not audited");

    let passing = results.connection_record_health(json!({"ok": true}), Some(ConnectionStatus::Enabled)).await.unwrap();
    assert_eq!(passing.status, ConnectionStatus::Enabled);
    assert_eq!(store.connection_get(t.id).await.unwrap(), Some(passing.clone()));
    let enabled = events(&store, "connection.enabled").await;
    assert_eq!(enabled.len(), 1);
    assert_eq!(enabled[0].actor, Actor::System);
    assert!(enabled[0].data.get("via").is_none());
    assert_eq!(enabled[0].data["before"]["status"], json!("pending_consent"));

    // A check whose lease was lost records nothing.
    let stale = store.run_results(&check, uuid::Uuid::now_v7());
    let refused = stale.connection_record_health(json!({"ok": false}), Some(ConnectionStatus::Disabled)).await.err();
    assert!(matches!(refused, Some(StoreError::Fenced)), "{refused:?}");
    assert_eq!(store.connection_get(t.id).await.unwrap(), Some(passing));
}

async fn admin_token_authentication(store: Store) {
    let by = ChangeBy::cli();
    let user = store.user_create("e@example.com", "E", None, &by).await.unwrap();
    let (_, plaintext) = store.token_create(user.id, "cli", &by).await.unwrap();
    assert_eq!(store.token_authenticate("atl_nope").await.unwrap(), None);
    assert_eq!(store.token_authenticate("").await.unwrap(), None);
    assert_eq!(store.token_authenticate(&plaintext).await.unwrap(), Some(user.clone()));
    assert!(store.token_list(user.id).await.unwrap()[0].last_used_at.is_some());

    store.user_disable("e@example.com", &by).await.unwrap();
    assert_eq!(store.token_authenticate(&plaintext).await.unwrap(), None);
    assert!(store.token_list(user.id).await.unwrap()[0].revoked_at.is_some());
}
