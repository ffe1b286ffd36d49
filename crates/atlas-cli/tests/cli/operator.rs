//! Operator commands for a person: `notifications list|read --as`,
//! `schedules add --as`, `users add` without a password and `users
//! set-password` (one-time passwords), `tokens create --expires-in|list|revoke`
//! — each audited where it changes something, bad input exiting 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::world::{MANAGER, OPERATOR, OUTSIDER, OWNER, READONLY};
use crate::support::Atlas;
use serde_json::{json, Value};

cli_both_stores!(
    notifications_of_a_person,
    schedules_added_as_a_person,
    one_time_passwords_and_resets,
    tokens_list_expire_and_revoke
);

fn actions(atlas: &Atlas) -> Vec<Value> {
    let out = atlas.run(&["audit", "export"]);
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn notifications_of_a_person(atlas: Atlas) {
    let north = atlas.world();
    let run = atlas.start(MANAGER, &north, "inventory.sync", None);
    atlas.drain();
    let all = atlas.ok(&["notifications", "list", "--as", MANAGER]);
    let list = all.as_array().unwrap();
    assert_eq!(list.len(), 1, "{all}");
    assert_eq!(list[0]["run_id"], run["id"]);
    assert_eq!(list[0]["read"], false);
    assert_eq!(atlas.count(&["notifications", "list", "--as", MANAGER, "--unread"]), 1);
    assert_eq!(atlas.count(&["notifications", "list", "--as", OPERATOR]), 0, "only the initiator's");

    // Another person's notification is not found, and stays unread.
    let id = list[0]["id"].as_str().unwrap();
    atlas.bad(&["notifications", "read", id, "--as", OPERATOR], "not_found");
    assert_eq!(atlas.count(&["notifications", "list", "--as", MANAGER, "--unread"]), 1);
    let read = atlas.ok(&["notifications", "read", id, "--as", MANAGER]);
    assert_eq!(read, json!({"id": id, "read": true}));
    assert_eq!(atlas.count(&["notifications", "list", "--as", MANAGER, "--unread"]), 0);
    assert_eq!(atlas.count(&["notifications", "list", "--as", MANAGER]), 1);
    let human = atlas.ok_human(&["notifications", "list", "--as", MANAGER, "--unread"]);
    assert_eq!(human.trim(), "no unread notifications");

    atlas.bad(&["notifications", "read", "not-an-id", "--as", MANAGER], "invalid");
    atlas.bad(&["notifications", "list", "--as", "nobody@example.com"], "not_found");
    atlas.bad(&["notifications", "list", "--as", MANAGER, "--limit", "0"], "invalid");
}

fn schedules_added_as_a_person(atlas: Atlas) {
    let north = atlas.world();
    let s = atlas.ok(&["schedules", "add", "--tenant", &north, "--cron", "0 2 * * *", "--as", MANAGER]);
    let manager = atlas.ok(&["users", "list"]).as_array().unwrap().iter().find(|u| u["email"] == MANAGER).cloned();
    let manager_id = manager.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(s["created_by"], manager_id, "{s}");
    let event = actions(&atlas).into_iter().rev().find(|e| e["action"] == "schedule.created").unwrap();
    assert_eq!(event["actor"]["user_id"], manager_id, "{event}");

    // Without --as the change is the system's, from the CLI.
    let sys = atlas.ok(&["schedules", "add", "--tenant", &north, "--cron", "0 3 * * *"]);
    assert_eq!(sys["created_by"], "system", "{sys}");

    // A person who may not manage schedules is refused (exit 4); a stranger does not see the tenant.
    let events = atlas.audit_len();
    let out = atlas.run(&["schedules", "add", "--tenant", &north, "--cron", "0 2 * * *", "--as", READONLY]);
    assert_eq!(out.code, 4, "{out:?}");
    atlas.bad(&["schedules", "add", "--tenant", &north, "--cron", "0 2 * * *", "--as", OUTSIDER], "not_found");
    atlas.bad(&["schedules", "add", "--tenant", &north, "--cron", "0 2 * * *", "--tz", "", "--as", OWNER], "invalid");
    assert_eq!(atlas.audit_len(), events, "refusals change nothing");
}

fn verify(atlas: &Atlas, email: &str, password: &str) -> bool {
    let (email, password) = (email.to_owned(), password.to_owned());
    atlas.with_store(|s| async move { s.user_verify_password(&email, &password).await.unwrap().is_some() })
}

fn one_time_passwords_and_resets(atlas: Atlas) {
    let added = atlas.ok(&["users", "add", "--email", "new@example.com", "--name", "New Person"]);
    let first = added["one_time_password"].as_str().expect("a one-time password").to_owned();
    assert!(first.len() >= 16, "{added}");
    assert!(verify(&atlas, "new@example.com", &first), "the printed password signs in");
    let human = atlas.ok_human(&["users", "add", "--email", "other@example.com", "--name", "Other"]);
    assert!(human.contains("one-time password: "), "{human}");

    // A reset prints a new one-time password; the old one stops working.
    let reset = atlas.ok(&["users", "set-password", "--email", "new@example.com"]);
    let second = reset["one_time_password"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(verify(&atlas, "new@example.com", &second) && !verify(&atlas, "new@example.com", &first));
    let chosen = atlas.ok(&["users", "set-password", "--email", "NEW@example.com", "--password", "a chosen secret"]);
    assert!(chosen.get("one_time_password").is_none(), "{chosen}");
    assert!(verify(&atlas, "new@example.com", "a chosen secret"));

    // Audited, never with the password.
    let sets: Vec<Value> = actions(&atlas).into_iter().filter(|e| e["action"] == "user.password_set").collect();
    assert_eq!(sets.len(), 4, "two adds, one reset, one chosen: {sets:?}");
    assert_eq!(sets.iter().filter(|e| e["data"]["one_time"] == true).count(), 3);
    for e in &sets {
        let text = e.to_string();
        assert!(!text.contains(&first) && !text.contains(&second) && !text.contains("a chosen secret"), "{text}");
    }

    let events = atlas.audit_len();
    atlas.bad(&["users", "set-password", "--email", "new@example.com", "--password", "short"], "invalid");
    atlas.bad(&["users", "set-password", "--email", "nobody@example.com"], "not_found");
    assert_eq!(atlas.audit_len(), events);
}

fn tokens_list_expire_and_revoke(atlas: Atlas) {
    atlas.world();
    let forever = atlas.ok(&["tokens", "create", "--email", MANAGER, "--name", "ci"]);
    let month = atlas.ok(&["tokens", "create", "--email", MANAGER, "--name", "laptop", "--expires-in", "30d"]);
    assert_eq!(forever["expires_at"], json!(null));
    assert!(month["expires_at"].is_string(), "{month}");
    let listed = atlas.ok(&["tokens", "list", "--email", MANAGER]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t.get("token").is_none() && t.get("token_hash").is_none()), "no secrets: {listed:?}");
    assert_eq!(atlas.count(&["tokens", "list", "--email", OPERATOR]), 0);

    let id = month["id"].as_str().unwrap();
    let revoked = atlas.ok(&["tokens", "revoke", id]);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let again = atlas.ok(&["tokens", "revoke", id]);
    assert_eq!(again["revoked_at"], revoked["revoked_at"], "revoking twice changes nothing");
    let plaintext = month["token"].as_str().unwrap().to_owned();
    let alive = atlas.with_store(|s| async move { s.token_authenticate(&plaintext).await.unwrap().is_some() });
    assert!(!alive, "a revoked token no longer authenticates");
    let plaintext = forever["token"].as_str().unwrap().to_owned();
    assert!(atlas.with_store(|s| async move { s.token_authenticate(&plaintext).await.unwrap().is_some() }));
    let human = atlas.ok_human(&["tokens", "list", "--email", MANAGER]);
    assert!(human.contains("active, never expires") && human.contains("revoked "), "{human}");

    let audit = actions(&atlas);
    assert_eq!(audit.iter().filter(|e| e["action"] == "token.created").count(), 2);
    assert_eq!(audit.iter().filter(|e| e["action"] == "token.revoked").count(), 1, "one event for two revokes");

    let events = atlas.audit_len();
    for bad in ["0d", "30", "30y", "367d", "-1d", "1\u{1}d"] {
        atlas.bad(&["tokens", "create", "--email", MANAGER, "--expires-in", bad], "invalid");
    }
    atlas.bad(&["tokens", "revoke", "not-an-id"], "invalid");
    atlas.bad(&["tokens", "revoke", &uuid::Uuid::now_v7().to_string()], "not_found");
    atlas.bad(&["tokens", "create", "--email", MANAGER, "--name", " padded "], "invalid");
    assert_eq!(atlas.audit_len(), events);
}
