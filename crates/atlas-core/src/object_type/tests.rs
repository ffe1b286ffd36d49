#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use serde_json::json;

use super::*;

/// The keys the first seven types were stored under before the registry.
const STORED_KEYS: [&str; 7] = [
    "device_configuration",
    "compliance_policy",
    "configuration_policy",
    "app_protection_policy",
    "device_management_script",
    "assignment_filter",
    "role_scope_tag",
];

#[test]
fn the_table_is_large_keys_are_unique_and_the_stored_keys_remain() {
    assert!(all().len() >= 30, "{} types", all().len());
    let keys: HashSet<&str> = all().iter().map(|t| t.key).collect();
    assert_eq!(keys.len(), all().len(), "keys repeat");
    for key in STORED_KEYS {
        assert!(by_key(key).is_some(), "{key} is gone");
    }
    assert!(by_key("no_such_type").is_none());
    for t in all() {
        assert!(t.key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", t.key);
        assert!(!t.label.is_empty() && !t.collections.is_empty(), "{}", t.key);
        for c in t.collections {
            assert!(!c.path.starts_with('/') && !c.path.ends_with('/'), "{}: {}", t.key, c.path);
        }
    }
}

#[test]
fn dependencies_name_known_types_and_restore_puts_them_first() {
    let order = restore_order();
    assert_eq!(order.len(), all().len(), "every type is ordered (no cycle)");
    for t in all() {
        for d in t.depends_on {
            assert!(by_key(d).is_some(), "{} depends on unknown {d}", t.key);
            assert!(restore_rank(d) < restore_rank(t.key), "{d} must be restored before {}", t.key);
        }
    }
    assert!(restore_rank("role_scope_tag") < restore_rank("assignment_filter"));
    assert!(restore_rank("assignment_filter") < restore_rank("device_configuration"));
    assert!(restore_rank("notification_message_template") < restore_rank("compliance_policy"));
    assert_eq!(restore_rank("no_such_type"), usize::MAX);
}

#[test]
fn shared_collections_are_split_by_odata_type_without_overlap() {
    let ring = json!("#microsoft.graph.windowsUpdateForBusinessConfiguration");
    let general = json!("#microsoft.graph.windows10GeneralConfiguration");
    let configs = by_key("device_configuration").unwrap();
    let rings = by_key("windows_update_ring").unwrap();
    assert!(configs.includes(general.as_str()) && !configs.includes(ring.as_str()));
    assert!(rings.includes(ring.as_str()) && !rings.includes(general.as_str()) && !rings.includes(None));
    // Two types over one path never both claim an item.
    for a in all() {
        for b in all().iter().filter(|b| b.key != a.key) {
            let shared = a.collections.iter().any(|c| b.collections.iter().any(|d| c.path == d.path));
            if shared {
                let ((TypeFilter::Only(only), TypeFilter::Except(except))
                | (TypeFilter::Except(except), TypeFilter::Only(only))) = (&a.type_filter, &b.type_filter)
                else {
                    panic!("{} and {} share a collection without splitting it", a.key, b.key);
                };
                assert_eq!(only, except, "{} / {}", a.key, b.key);
            }
        }
    }
}

#[test]
fn comparable_drops_service_members_and_top_level_nulls_only() {
    let t = by_key("configuration_policy").unwrap();
    let payload = json!({
        "id": "9cb2", "@odata.context": "x", "createdDateTime": "t", "lastModifiedDateTime": "t",
        "settingCount": 3, "isAssigned": true, "creationSource": null,
        "name": "BitLocker", "settings": [{"id": "0", "settingInstance": {"x": null}}]
    });
    assert_eq!(
        t.comparable(&payload),
        json!({"name": "BitLocker", "settings": [{"settingInstance": {"x": null}}]}),
        "a contained item's id is the service's too; nested nulls are content"
    );
    // Another type keeps `settingCount`: the list is per type.
    assert_eq!(by_key("device_category").unwrap().comparable(&json!({"settingCount": 1})), json!({"settingCount": 1}));
}

#[test]
fn an_update_body_sends_what_differs_and_clears_what_the_backup_lacks() {
    let t = by_key("device_configuration").unwrap();
    let backup = json!({"id": "a", "@odata.type": "#t", "displayName": "A", "passwordMinimumLength": 8, "x": null});
    let live = json!({"id": "a", "@odata.type": "#t", "displayName": "A", "passwordMinimumLength": 4,
                      "addedInPortal": true, "version": 7});
    assert_eq!(
        t.update_body(&backup, &live),
        json!({"@odata.type": "#t", "passwordMinimumLength": 8, "addedInPortal": null})
    );
    // A PUT type gets the whole object.
    let p = by_key("configuration_policy").unwrap();
    let backup = json!({"name": "A", "settings": []});
    let live = json!({"name": "A", "settings": [], "description": "d"});
    assert_eq!(p.update_body(&backup, &live), json!({"name": "A", "settings": [], "description": null}));
}

#[test]
fn secondary_keys_need_every_member() {
    let t = by_key("device_configuration").unwrap();
    assert_eq!(
        t.secondary_key(&json!({"displayName": "A", "@odata.type": "#t"})),
        t.secondary_key(&json!({"displayName": "A", "@odata.type": "#t", "id": "other"}))
    );
    assert!(t.secondary_key(&json!({"displayName": "A"})).is_none());
    assert_ne!(
        t.secondary_key(&json!({"displayName": "A", "@odata.type": "#t"})),
        t.secondary_key(&json!({"displayName": "A", "@odata.type": "#u"}))
    );
    assert!(by_key("apple_push_notification_certificate")
        .unwrap()
        .secondary_key(&json!({"appleIdentifier": "a"}))
        .is_none());
}

#[test]
fn modes_and_names() {
    let t = by_key("windows_autopilot_deployment_profile").unwrap();
    assert_eq!((t.assignment_mode(), t.restorable(), t.assignable()), ("assignments", true, true));
    let t = by_key("device_configuration").unwrap();
    assert_eq!(t.assignment_mode(), "assign_action");
    let t = by_key("apple_vpp_token").unwrap();
    assert_eq!((t.assignment_mode(), t.restorable()), ("none", false));
    assert!(t.read_only_reason().is_some());
    let p = by_key("configuration_policy").unwrap();
    assert_eq!(p.display_name(&json!({"name": "BitLocker"}), "id"), "BitLocker");
    assert_eq!(p.display_name(&json!({}), "id"), "id");
    assert_eq!(by_key("compliance_policy").unwrap().navigation_members(), ["scheduledActionsForRule"]);
    let json = serde_json::to_value(by_key("compliance_policy").unwrap()).unwrap();
    assert_eq!(json["assignment_mode"], "assign_action");
    assert_eq!(json["match"], json!({"first": "id", "then": ["displayName", "@odata.type"]}));
    assert_eq!(json["api_version"], "v1.0");
    assert!(json["server_managed"].as_array().unwrap().contains(&json!("@odata.etag")));
}
