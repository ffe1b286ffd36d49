//! `atlas users|workspaces|roles|members|tokens`: happy paths with their JSON
//! shapes, and bad input that exits 2 and changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::Atlas;
use serde_json::json;

#[test]
fn users_add_list_and_disable() {
    let atlas = Atlas::new();
    let user = atlas.ok(&[
        "users",
        "add",
        "--email",
        "Jane@Example.com",
        "--name",
        "Jane Doe",
        "--password",
        "pw-long-enough",
    ]);
    assert_eq!(user["email"], "jane@example.com");
    assert_eq!(user["display_name"], "Jane Doe");
    assert_eq!(user["disabled_at"], json!(null));
    assert!(user["id"].is_string() && user["created_at"].is_string());
    assert!(user.get("password_hash").is_none(), "no password hash in output");
    assert_eq!(atlas.ok(&["users", "list"]), json!([user.clone()]));

    let disabled = atlas.ok(&["users", "disable", "--email", "jane@example.com"]);
    assert_eq!(disabled["id"], user["id"]);
    assert!(disabled["disabled_at"].is_string());

    let human = atlas.ok_human(&["users", "add", "--email", "op@example.com", "--name", "Op"]);
    assert!(human.starts_with("user Op <op@example.com> (id "), "{human}");
}

#[test]
fn users_add_refuses_malformed_email_and_duplicates() {
    let atlas = Atlas::new().with_basics();
    let events = atlas.audit_len();
    let message = atlas.bad(&["users", "add", "--email", "not-an-email", "--name", "X"], "invalid");
    assert!(message.contains("not-an-email"), "{message}");
    let message = atlas.bad(&["users", "add", "--email", "JANE@example.com", "--name", "Again"], "conflict");
    assert!(message.contains("already exists"), "{message}");
    atlas.bad(&["users", "disable", "--email", "nobody@example.com"], "not_found");
    assert_eq!(atlas.count(&["users", "list"]), 1);
    assert_eq!(atlas.audit_len(), events);
}

#[test]
fn workspaces_add_and_list() {
    let atlas = Atlas::new();
    let ws = atlas.ok(&["workspaces", "add", "--slug", "acme", "--name", "Acme Corp"]);
    assert_eq!((ws["slug"].clone(), ws["name"].clone()), (json!("acme"), json!("Acme Corp")));
    assert_eq!(atlas.ok(&["workspaces", "list"]), json!([ws]));
    atlas.bad(&["workspaces", "add", "--slug", "Not A Slug", "--name", "X"], "invalid");
    atlas.bad(&["workspaces", "add", "--slug", "acme", "--name", "X"], "conflict");
    assert_eq!(atlas.count(&["workspaces", "list"]), 1);
}

#[test]
fn roles_add_set_and_list() {
    let atlas = Atlas::new().with_basics();
    let role = atlas.ok(&["roles", "add", "--workspace", "acme", "--name", "auditor", "--capabilities", "audit.view"]);
    assert_eq!(role["name"], "auditor");
    assert_eq!(role["capabilities"], json!(["audit.view"]));
    let set = atlas.ok(&[
        "roles",
        "set",
        "--workspace",
        "acme",
        "--name",
        "auditor",
        "--capabilities",
        "audit.view,operations.view",
    ]);
    assert_eq!(set["id"], role["id"]);
    assert_eq!(set["capabilities"], json!(["operations.view", "audit.view"]));
    assert_eq!(atlas.ok(&["roles", "list", "--workspace", "acme"]), json!([set]));
}

#[test]
fn roles_refuse_unknown_capability_builtin_names_and_unknown_workspace() {
    let atlas = Atlas::new().with_basics();
    let events = atlas.audit_len();
    let message = atlas.bad(
        &["roles", "add", "--workspace", "acme", "--name", "auditor", "--capabilities", "audit.view,tenant.nuke"],
        "invalid",
    );
    assert!(message.contains("unknown capability `tenant.nuke`"), "{message}");
    atlas.bad(&["roles", "add", "--workspace", "acme", "--name", "owner", "--capabilities", "audit.view"], "invalid");
    atlas.bad(&["roles", "add", "--workspace", "nope", "--name", "x", "--capabilities", "audit.view"], "not_found");
    atlas.bad(&["roles", "set", "--workspace", "acme", "--name", "ghost", "--capabilities", "audit.view"], "not_found");
    assert_eq!(atlas.count(&["roles", "list", "--workspace", "acme"]), 0);
    assert_eq!(atlas.audit_len(), events);
}

#[test]
fn members_grant_change_and_revoke() {
    let atlas = Atlas::new().with_basics();
    let north = atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "Contoso North"]);
    let south = atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "Contoso South"]);
    atlas.ok(&["roles", "add", "--workspace", "acme", "--name", "auditor", "--capabilities", "audit.view"]);

    let m = atlas.ok(&["members", "grant", "--workspace", "acme", "--email", "jane@example.com", "--role", "operator"]);
    assert_eq!(m["role"], "operator");
    assert_eq!(m["tenant_scope"], json!({"kind": "all"}));
    let user = atlas.ok(&["users", "list"])[0].clone();
    assert_eq!(m["user_id"], user["id"]);

    let changed =
        atlas.ok(&["members", "set-role", "--workspace", "acme", "--email", "jane@example.com", "--role", "auditor"]);
    assert_eq!((changed["id"].clone(), changed["role"].clone()), (m["id"].clone(), json!("auditor")));

    // Names and ids mix in one --tenants list.
    let tenants = format!("Contoso North,{}", south["id"].as_str().unwrap());
    let scoped = atlas.ok(&[
        "members",
        "set-scope",
        "--workspace",
        "acme",
        "--email",
        "jane@example.com",
        "--tenants",
        &tenants,
    ]);
    let mut expected = vec![north["id"].clone(), south["id"].clone()];
    expected.sort_by_key(|v| v.as_str().unwrap_or_default().to_owned());
    assert_eq!(scoped["tenant_scope"], json!({"kind": "tenants", "tenant_ids": expected}));
    let human = atlas.ok_human(&["members", "list", "--workspace", "acme"]);
    assert_eq!(human.trim(), "member jane@example.com of acme: role auditor, tenants Contoso North, Contoso South");

    let revoked = atlas.ok(&["members", "revoke", "--workspace", "acme", "--email", "jane@example.com"]);
    assert_eq!(revoked["id"], m["id"]);
    assert_eq!(atlas.count(&["members", "list", "--workspace", "acme"]), 0);
}

#[test]
fn members_grant_refuses_unknown_user_role_and_tenant() {
    let atlas = Atlas::new().with_basics();
    atlas.ok(&["workspaces", "add", "--slug", "other", "--name", "Other"]);
    atlas.ok(&["tenants", "add", "--workspace", "other", "--name", "Elsewhere"]);
    let events = atlas.audit_len();
    let grant = |email: &'static str, role: &'static str, tenants: &'static str| {
        ["members", "grant", "--workspace", "acme", "--email", email, "--role", role, "--tenants", tenants]
    };
    let message = atlas.bad(&grant("nobody@example.com", "operator", "all"), "not_found");
    assert!(message.contains("nobody@example.com"), "{message}");
    let message = atlas.bad(&grant("jane@example.com", "superhero", "all"), "not_found");
    assert!(message.contains("superhero"), "{message}");
    // A tenant of another workspace is not found here: nothing crosses workspaces.
    atlas.bad(&grant("jane@example.com", "operator", "Elsewhere"), "not_found");
    atlas.bad(&grant("jane@example.com", "operator", ","), "invalid");
    atlas.bad(
        &["members", "set-role", "--workspace", "acme", "--email", "jane@example.com", "--role", "owner"],
        "not_found",
    );
    atlas.bad(&["members", "revoke", "--workspace", "acme", "--email", "jane@example.com"], "not_found");
    assert_eq!(atlas.count(&["members", "list", "--workspace", "acme"]), 0);
    assert_eq!(atlas.audit_len(), events);

    atlas.ok(&grant("jane@example.com", "readonly", "all"));
    atlas.bad(&grant("jane@example.com", "owner", "all"), "conflict");
    let members = atlas.ok(&["members", "list", "--workspace", "acme"]);
    assert_eq!(members.as_array().map(Vec::len), Some(1));
    assert_eq!(members[0]["role"], "readonly");
}

#[test]
fn tokens_create_prints_a_working_token_once() {
    let atlas = Atlas::new().with_basics();
    let created = atlas.ok(&["tokens", "create", "--email", "jane@example.com", "--name", "laptop"]);
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("atl_") && token.len() == 68, "{token}");
    assert_eq!(created["name"], "laptop");
    assert!(created["id"].is_string() && created["user_id"].is_string());
    let export = atlas.run(&["audit", "export"]).stdout;
    assert!(!export.contains(&token), "the token never reaches the audit log");

    // The printed token authenticates its user.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let user = rt.block_on(async {
        let store = atlas_store::Store::connect(atlas.url()).await.unwrap();
        store.token_authenticate(&token).await.unwrap()
    });
    assert_eq!(user.map(|u| u.email), Some("jane@example.com".to_owned()));

    let human = atlas.ok_human(&["tokens", "create", "--email", "jane@example.com"]);
    assert!(human.starts_with("token atl_"), "{human}");
    atlas.bad(&["tokens", "create", "--email", "nobody@example.com"], "not_found");
}
