//! `atlas tenants|connections`: happy paths with their JSON shapes, and bad
//! input that exits 2 and changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::Atlas;
use serde_json::{json, Value};

fn north(atlas: &Atlas) -> Value {
    atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "Contoso North"])
}

#[test]
fn tenants_add_with_defaults_and_options() {
    let atlas = Atlas::new().with_basics();
    let t = north(&atlas);
    assert_eq!(t["name"], "Contoso North");
    assert_eq!(t["status"], "active");
    assert_eq!(t["writes_enabled"], false);
    assert_eq!(t["external_tenant_id"], json!(null));
    let ws = atlas.ok(&["workspaces", "list"])[0].clone();
    assert_eq!(t["workspace_id"], ws["id"]);

    let t2 = atlas.ok(&[
        "tenants",
        "add",
        "--workspace",
        "acme",
        "--name",
        "Fabrikam",
        "--status",
        "onboarding",
        "--writes",
        "open",
        "--external-tenant-id",
        "11111111-2222-3333-4444-555555555555",
    ]);
    assert_eq!((t2["status"].clone(), t2["writes_enabled"].clone()), (json!("onboarding"), json!(true)));
    assert_eq!(t2["writes_changed_by"], "system");
    assert_eq!(atlas.ok(&["tenants", "list", "--workspace", "acme"]), json!([t, t2]));

    let human = atlas.ok_human(&["tenants", "add", "--workspace", "acme", "--name", "Litware"]);
    assert!(human.starts_with("tenant Litware (id "), "{human}");
    assert!(human.trim_end().ends_with(") active, writes closed"), "{human}");
}

#[test]
fn tenants_add_refuses_duplicates_unknown_status_and_unknown_workspace() {
    let atlas = Atlas::new().with_basics();
    north(&atlas);
    let events = atlas.audit_len();
    let message = atlas.bad(&["tenants", "add", "--workspace", "acme", "--name", "Contoso North"], "conflict");
    assert!(message.contains("already exists"), "{message}");
    let message = atlas.bad(&["tenants", "add", "--workspace", "acme", "--name", "X", "--status", "paused"], "invalid");
    assert!(message.contains("paused") && message.contains("onboarding"), "{message}");
    atlas.bad(&["tenants", "add", "--workspace", "acme", "--name", "X", "--writes", "ajar"], "invalid");
    atlas.bad(&["tenants", "add", "--workspace", "nope", "--name", "X"], "not_found");
    atlas.bad(&["tenants", "add", "--workspace", "acme", "--name", "  "], "invalid");
    assert_eq!(atlas.count(&["tenants", "list", "--workspace", "acme"]), 1);
    assert_eq!(atlas.audit_len(), events);
}

#[test]
fn tenants_set_status_and_write_gate() {
    let atlas = Atlas::new().with_basics();
    let t = north(&atlas);
    let id = t["id"].as_str().unwrap();

    // By name with --workspace, or by id alone.
    let s = atlas.ok(&[
        "tenants",
        "set-status",
        "--tenant",
        "Contoso North",
        "--workspace",
        "acme",
        "--status",
        "suspended",
    ]);
    assert_eq!((s["id"].clone(), s["status"].clone()), (t["id"].clone(), json!("suspended")));
    let s = atlas.ok(&["tenants", "set-status", "--tenant", id, "--status", "archived"]);
    assert_eq!(s["status"], "archived");

    let g = atlas.ok(&["tenants", "write-gate", "--tenant", id, "open"]);
    assert_eq!(g["writes_enabled"], true);
    assert_eq!(g["writes_changed_by"], "system");
    assert!(g["writes_changed_at"].is_string());
    let g = atlas.ok(&["tenants", "write-gate", "--tenant", "Contoso North", "closed", "--workspace", "acme"]);
    assert_eq!(g["writes_enabled"], false);
    assert_eq!(atlas.ok(&["tenants", "show", "--tenant", id]), g);
}

#[test]
fn tenants_refuse_names_without_workspace_and_unknown_tenants() {
    let atlas = Atlas::new().with_basics();
    let t = north(&atlas);
    let events = atlas.audit_len();
    let message =
        atlas.bad(&["tenants", "set-status", "--tenant", "Contoso North", "--status", "suspended"], "invalid");
    assert!(message.contains("--workspace"), "{message}");
    atlas.bad(&["tenants", "write-gate", "--tenant", "Contoso North", "open"], "invalid");
    atlas.bad(
        &["tenants", "set-status", "--tenant", "Nowhere", "--workspace", "acme", "--status", "active"],
        "not_found",
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    atlas.bad(&["tenants", "set-status", "--tenant", &unknown, "--status", "active"], "not_found");
    atlas.bad(
        &["tenants", "set-status", "--tenant", "Contoso North", "--workspace", "acme", "--status", "gone"],
        "invalid",
    );
    atlas.bad(&["tenants", "write-gate", "--tenant", "Contoso North", "--workspace", "acme", "ajar"], "invalid");
    assert_eq!(atlas.audit_len(), events);
    assert_eq!(atlas.ok(&["tenants", "list", "--workspace", "acme"]), json!([t]));
}

#[test]
fn connections_add_disable_enable_show() {
    let atlas = Atlas::new().with_basics();
    let t = north(&atlas);
    let c = atlas.ok(&["connections", "add", "--tenant", "Contoso North", "--workspace", "acme", "--kind", "sandbox"]);
    assert_eq!(c["tenant_id"], t["id"]);
    assert_eq!((c["kind"].clone(), c["status"].clone()), (json!("sandbox"), json!("enabled")));
    assert_eq!(c["has_secret"], false);
    let id = t["id"].as_str().unwrap();
    let d = atlas.ok(&["connections", "disable", "--tenant", id]);
    assert_eq!((d["id"].clone(), d["status"].clone()), (c["id"].clone(), json!("disabled")));
    let e = atlas.ok(&["connections", "enable", "--tenant", id]);
    assert_eq!(e["status"], "enabled");
    assert_eq!(atlas.ok(&["connections", "show", "--tenant", id]), e);
    let human = atlas.ok_human(&["connections", "show", "--tenant", "Contoso North", "--workspace", "acme"]);
    assert!(human.starts_with("connection sandbox of tenant Contoso North"), "{human}");
}

#[test]
fn connections_refuse_graph_duplicates_and_missing_connections() {
    let atlas = Atlas::new().with_basics();
    let t = north(&atlas);
    let id = t["id"].as_str().unwrap();
    let events = atlas.audit_len();
    atlas.bad(&["connections", "show", "--tenant", id], "not_found");
    atlas.bad(&["connections", "enable", "--tenant", id], "not_found");
    let message = atlas.bad(&["connections", "add", "--tenant", id, "--kind", "microsoft_graph"], "invalid");
    assert!(message.contains("--client-secret-file"), "{message}");
    atlas.bad(&["connections", "add", "--tenant", id, "--kind", "carrier_pigeon"], "invalid");
    atlas.bad(&["connections", "add", "--tenant", "Contoso North", "--kind", "sandbox"], "invalid");
    assert_eq!(atlas.audit_len(), events);

    atlas.ok(&["connections", "add", "--tenant", id, "--kind", "sandbox"]);
    atlas.bad(&["connections", "add", "--tenant", id, "--kind", "sandbox"], "conflict");
}

#[test]
fn graph_connection_secret_is_sealed_and_never_shown() {
    let atlas = Atlas::new().with_basics();
    let t = north(&atlas);
    let id = t["id"].as_str().unwrap();
    let secret = "s3cr3t-Value~that-must-never-leak";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.txt");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let file = file.to_str().unwrap();
    let tenant_guid = "1e250c70-dff6-4e52-8690-a9c144e7cf0f";
    atlas.bad(
        &[
            "connections",
            "add",
            "--tenant",
            id,
            "--kind",
            "microsoft_graph",
            "--external-tenant-id",
            "not-a-guid",
            "--client-id",
            "app",
            "--client-secret-file",
            file,
        ],
        "invalid",
    );
    let args = [
        "connections",
        "add",
        "--tenant",
        id,
        "--kind",
        "microsoft_graph",
        "--external-tenant-id",
        tenant_guid,
        "--client-id",
        "8db8df93-edd5-4cd5-86b3-bc355166765c",
        "--client-secret-file",
        file,
    ];
    let added = atlas.run(&[&args[..], &["--json"]].concat());
    assert_eq!(added.code, 0, "{added:?}");
    let conn: Value = serde_json::from_str(added.stdout.trim()).unwrap();
    assert_eq!(conn["status"], "pending_consent");
    assert_eq!(conn["has_secret"], true);
    assert_eq!(conn["config"]["external_tenant_id"], tenant_guid);
    let shown = atlas.run(&["connections", "show", "--tenant", id, "--json"]);
    let human = atlas.run(&["connections", "show", "--tenant", id]);
    let export = atlas.run(&["audit", "export"]);
    for out in [&added, &shown, &human, &export] {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret), "the secret leaked: {out:?}");
    }
    // The database holds it sealed, not in clear.
    let sealed = crate::support::world::block_on(async {
        let store = atlas_store::Store::connect(atlas.url()).await.unwrap();
        store.connection_sealed_secret(uuid::Uuid::parse_str(id).unwrap()).await.unwrap().unwrap()
    });
    assert!(!sealed.contains(secret));
}
