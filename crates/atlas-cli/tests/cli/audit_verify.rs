//! `atlas audit verify|export` on the real binary: an intact log exits 0;
//! each kind of tampering (done with raw SQL on the same database) exits
//! non-zero and names the first broken event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{Atlas, Outcome};
use serde_json::Value;

/// `acme` (workspace.created, tenant.created, role.created, tenant.created)
/// and `beta`, plus users on the global chain; verified (so sealed) once.
/// (`users add` without a password also records its one-time password: `user.password_set`.)
fn sealed_log() -> Atlas {
    let atlas = Atlas::new().with_basics();
    atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "North"]);
    atlas.ok(&["roles", "add", "--workspace", "acme", "--name", "auditor", "--capabilities", "audit.view"]);
    atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "South"]);
    atlas.ok(&["workspaces", "add", "--slug", "beta", "--name", "Beta"]);
    atlas.ok(&["users", "add", "--email", "op@example.com", "--name", "Op"]);
    let report = atlas.ok(&["audit", "verify"]);
    assert_eq!(report["broken"], Value::Null, "{report}");
    atlas
}

/// `acme`'s chain, in order, from `audit export`.
fn acme_chain(atlas: &Atlas) -> Vec<Value> {
    let acme = atlas.ok(&["workspaces", "list"]).as_array().unwrap().iter().find(|w| w["slug"] == "acme").unwrap()
        ["id"]
        .clone();
    let out = atlas.run(&["audit", "export"]);
    assert_eq!(out.code, 0, "{out:?}");
    let mut chain: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["workspace_id"] == acme)
        .collect();
    chain.sort_by_key(|e| e["chain_index"].as_i64());
    assert_eq!(chain.len(), 4);
    chain
}

fn tamper(atlas: &Atlas, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = atlas_store::Store::connect(atlas.url()).await.unwrap();
        store.execute_raw(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        store.close().await;
    });
}

/// `audit verify` must fail, in both output modes, with a message holding
/// every one of `needles`. Returns the human message.
fn broken(atlas: &Atlas, needles: &[&str]) -> String {
    let out: Outcome = atlas.run(&["audit", "verify"]);
    assert_ne!(out.code, 0, "tampering not detected: {out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    for needle in needles {
        assert!(out.stderr.contains(needle), "`{needle}` not named: {out:?}");
    }
    let json = atlas.run(&["audit", "verify", "--json"]);
    assert_eq!(json.code, out.code, "{json:?}");
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "audit_chain_broken", "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(needles.iter().all(|n| message.contains(n)), "{doc}");
    // Another workspace's chain is still provably intact.
    assert_eq!(atlas.ok(&["audit", "verify", "--workspace", "beta"])["broken"], Value::Null);
    out.stderr
}

fn id(event: &Value) -> &str {
    event["id"].as_str().unwrap()
}

#[test]
fn intact_log_verifies_and_exports() {
    let atlas = sealed_log();
    let human = atlas.ok_human(&["audit", "verify"]);
    assert!(human.starts_with("audit chains intact: 3 chain(s), 9 event(s) checked"), "{human}");
    let scoped = atlas.ok(&["audit", "verify", "--workspace", "acme"]);
    assert_eq!((scoped["chains_checked"].as_u64(), scoped["events_checked"].as_u64()), (Some(1), Some(4)));
    let chain = acme_chain(&atlas);
    assert!(chain.windows(2).all(|w| w[1]["prev_hash"] == w[0]["hash"]), "linked");
    assert_eq!(atlas.audit_len(), 9);
}

#[test]
fn edited_event_is_named() {
    let atlas = sealed_log();
    let victim = &acme_chain(&atlas)[1];
    tamper(&atlas, &format!(r#"UPDATE audit_events SET data = '{{"via": "cli"}}' WHERE id = '{}'"#, id(victim)));
    let message = broken(&atlas, &[id(victim), "event #2", "edited"]);
    assert!(message.starts_with("error: audit chain broken"), "{message}");
}

#[test]
fn deleted_middle_event_is_named() {
    let atlas = sealed_log();
    let chain = acme_chain(&atlas);
    tamper(&atlas, &format!("DELETE FROM audit_events WHERE id = '{}'", id(&chain[1])));
    // The break shows at the event after the hole, which names the missing #2.
    broken(&atlas, &[id(&chain[2]), "event #3", "event #2 is missing"]);
}

#[test]
fn deleted_newest_event_is_named() {
    let atlas = sealed_log();
    let newest = &acme_chain(&atlas)[3];
    tamper(&atlas, &format!("DELETE FROM audit_events WHERE id = '{}'", id(newest)));
    let seq = format!("seq {}", newest["seq"]);
    broken(&atlas, &["event #4", &seq, "head records events up to #4"]);
}

#[test]
fn reordered_events_are_named() {
    let atlas = sealed_log();
    let chain = acme_chain(&atlas);
    tamper(
        &atlas,
        &format!(
            "UPDATE audit_seals SET chain_index = CASE chain_index WHEN 2 THEN 3 ELSE 2 END WHERE seq IN ({}, {})",
            chain[1]["seq"], chain[2]["seq"]
        ),
    );
    // The event now at #2 is the one that does not belong there.
    broken(&atlas, &[id(&chain[2]), "event #2"]);

    let atlas = sealed_log();
    let chain = acme_chain(&atlas);
    tamper(
        &atlas,
        &format!(
            "UPDATE audit_events SET seq = -1 WHERE seq = {a}; UPDATE audit_events SET seq = {a} WHERE seq = {b}; \
             UPDATE audit_events SET seq = {b} WHERE seq = -1;",
            a = chain[1]["seq"],
            b = chain[2]["seq"]
        ),
    );
    // The seal at #2 stays with its seq, which now names the other event.
    broken(&atlas, &[id(&chain[2]), "event #2", "edited"]);
}

#[test]
fn export_is_json_lines_in_seq_order() {
    let atlas = sealed_log();
    let out = atlas.run(&["audit", "export"]);
    assert_eq!(out.code, 0, "{out:?}");
    let events: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 9);
    assert!(events.windows(2).all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    assert!(events.iter().all(|e| e["hash"].is_string() && e["chain_index"].is_i64()));
}

/// An event left unsealed past the bound (here: written straight into the
/// database, as no command leaves one) is named, whatever its chain says;
/// commands seal what they wrote before they exit.
#[test]
fn event_left_unsealed_too_long_is_named() {
    let atlas = sealed_log();
    atlas.ok(&["tenants", "add", "--workspace", "acme", "--name", "West"]);
    let fresh = atlas.ok(&["audit", "verify"]);
    assert_eq!(fresh["unsealed_before"]["unsealed"], 0, "the command sealed its own event: {fresh}");
    let id = "0190b6a4-0000-7000-8000-00000000beef";
    tamper(
        &atlas,
        &format!(
            "INSERT INTO audit_events (id, chain, workspace_id, tenant_id, actor, action, subject, data, created_at) \
             VALUES ('{id}', 'global', NULL, NULL, 'system', 'test.planted', 'test:1', '{{}}', 1)"
        ),
    );
    let out = atlas.run(&["audit", "verify", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "audit_unsealed_too_long", "{doc}");
    assert!(doc["error"]["message"].as_str().unwrap().contains("test.planted"), "{doc}");
    // A generous bound accepts it; verify sealed it meanwhile.
    let lenient = atlas.ok(&["audit", "verify", "--max-unsealed-age", "31536000"]);
    assert_eq!(lenient["broken"], Value::Null, "{lenient}");
    let bad = atlas.run(&["audit", "verify", "--max-unsealed-age", "-1"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}
