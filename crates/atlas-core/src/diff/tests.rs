#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;
use crate::object_type::{by_key, KeyedArray};

const RULES: &[KeyedArray] =
    &[KeyedArray { member: "settings", key: "/k" }, KeyedArray { member: "children", key: "/id/v" }];

#[test]
fn members_and_positions() {
    let a = json!({"name": "A", "tags": ["0", "1"], "nested": {"x": 1, "y/z": [1, 2]}, "gone": true});
    let b = json!({"name": "B", "tags": ["0", "2"], "nested": {"x": 1, "y/z": [1, 2, 3]}, "new": null});
    let changes = diff_values(&a, &b, &[]);
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/gone", "/name", "/nested/y~1z", "/new", "/tags/1"]);
    assert_eq!(changes[0], Change { path: "/gone".into(), old: Some(json!(true)), new: None });
    assert_eq!(changes[3], Change { path: "/new".into(), old: None, new: Some(Value::Null) });
    assert_eq!(changes[2].new, Some(json!([1, 2, 3])), "arrays of another length change whole");
    assert_eq!(apply(&a, &changes, &[]).unwrap(), b);
    assert!(diff_values(&a, &a, &[]).is_empty());
}

#[test]
fn a_change_serializes_without_the_side_that_did_not_exist() {
    let added = Change { path: "/x".into(), old: None, new: Some(Value::Null) };
    let text = serde_json::to_value(&added).unwrap();
    assert_eq!(text, json!({"path": "/x", "new": null}));
    assert_eq!(serde_json::from_value::<Change>(text).unwrap(), added, "an explicit null survives");
}

fn setting(id: &str, value: Value) -> Value {
    json!({"id": "0", "settingInstance": {
        "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
        "settingDefinitionId": id,
        "choiceSettingValue": {"value": value, "children": []}
    }})
}

#[test]
fn settings_catalog_settings_are_addressed_by_definition_id() {
    let t = by_key("configuration_policy").unwrap();
    let a = json!({"name": "BitLocker", "settingCount": 2, "settings": [
        setting("device_vendor_msft_bitlocker_requiredeviceencryption", json!("on")),
        setting("device_vendor_msft_bitlocker_allowwarningforotherdiskencryption", json!("off")),
    ]});
    // Reordered, one value changed, one setting removed and one added.
    let b = json!({"name": "BitLocker", "settingCount": 3, "settings": [
        setting("device_vendor_msft_bitlocker_encryptionmethodbydrivetype", json!("xts")),
        setting("device_vendor_msft_bitlocker_requiredeviceencryption", json!("off")),
    ]});
    let changes = diff_objects(t, &a, &b);
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/settings/device_vendor_msft_bitlocker_requiredeviceencryption/settingInstance/choiceSettingValue/value",
            "/settings/device_vendor_msft_bitlocker_allowwarningforotherdiskencryption",
            "/settings/device_vendor_msft_bitlocker_encryptionmethodbydrivetype",
        ]
    );
    assert_eq!((changes[0].old.clone(), changes[0].new.clone()), (Some(json!("on")), Some(json!("off"))));
    assert!(changes[1].new.is_none() && changes[2].old.is_none());
    let applied = apply(&t.comparable(&a), &changes, t.keyed_arrays).unwrap();
    assert_eq!(normalized(&applied, t.keyed_arrays), normalized(&t.comparable(&b), t.keyed_arrays));
    // Order alone is no change.
    let mut c = a.clone();
    c["settings"].as_array_mut().unwrap().reverse();
    assert!(diff_objects(t, &a, &c).is_empty());
}

#[test]
fn keyed_arrays_whose_keys_do_not_hold_change_whole() {
    let a = json!({"settings": [{"k": "1"}, {"k": "1"}]});
    let b = json!({"settings": [{"k": "1"}, {"k": "2"}]});
    let changes = diff_values(&a, &b, RULES);
    assert_eq!(
        changes,
        [Change { path: "/settings".into(), old: Some(a["settings"].clone()), new: Some(b["settings"].clone()) }]
    );
    assert_eq!(apply(&a, &changes, RULES).unwrap(), b);
}

#[test]
fn bad_paths_are_refused() {
    let a = json!({"x": [1]});
    let bad = |path: &str| Change { path: path.into(), old: None, new: Some(json!(1)) };
    assert_eq!(apply(&a, &[bad("x")], &[]), Err(ApplyError::BadPath("x".into())));
    assert_eq!(apply(&a, &[bad("/y/z")], &[]), Err(ApplyError::Missing("/y/z".into())));
    assert_eq!(apply(&a, &[bad("/x/5")], &[]), Err(ApplyError::Missing("/x/5".into())));
    assert_eq!(apply(&a, &[bad("/x/1")], &[]).unwrap(), json!({"x": [1, 1]}));
}

#[test]
fn sets_match_by_id_then_by_secondary_key() {
    let p = |name: &str, len: i64| json!({"displayName": name, "@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "passwordMinimumLength": len});
    let (a1, a2, a3, b2, b3, b4) = (p("A", 8), p("B", 8), p("C", 8), p("B", 12), p("C", 8), p("D", 8));
    let before = [
        Snapshot { object_type: "device_configuration", object_id: "1", name: "A", payload: &a1 },
        Snapshot { object_type: "device_configuration", object_id: "2", name: "B", payload: &a2 },
        Snapshot { object_type: "device_configuration", object_id: "3", name: "C", payload: &a3 },
    ];
    // B changed in place; C deleted and re-created (new id); A removed; D added.
    let after = [
        Snapshot { object_type: "device_configuration", object_id: "2", name: "B", payload: &b2 },
        Snapshot { object_type: "device_configuration", object_id: "9", name: "C", payload: &b3 },
        Snapshot { object_type: "device_configuration", object_id: "4", name: "D", payload: &b4 },
    ];
    let d = diff_sets(&before, &after);
    assert_eq!(d.unchanged, 1, "C matched by name and type, unchanged");
    assert_eq!(d.removed.iter().map(|o| o.object_id.as_str()).collect::<Vec<_>>(), ["1"]);
    assert_eq!(d.added.iter().map(|o| o.object_id.as_str()).collect::<Vec<_>>(), ["4"]);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(
        d.changed[0].changes,
        [Change { path: "/passwordMinimumLength".into(), old: Some(json!(8)), new: Some(json!(12)) }]
    );
    let text = serde_json::to_value(&d).unwrap();
    assert_eq!(text["changed"][0]["object_type"], "device_configuration");
    assert_eq!(text["added"][0], json!({"object_type": "device_configuration", "object_id": "4", "name": "D"}));
    assert_eq!(d.change_count(), 3);
}

#[test]
fn assignment_changes_are_setting_level_changes_without_ids_or_order() {
    let p = json!({"displayName": "A", "@odata.type": "#t"});
    let group = |g: &str, id: &str| json!({"id": id, "target": {"@odata.type": "#g", "groupId": g}});
    let a = with_assignments(&p, &json!([group("g1", "x1"), group("g2", "x2")]));
    // Re-created assignments (new ids, other order) are the same content.
    let same = with_assignments(&p, &json!([group("g2", "y2"), group("g1", "y1")]));
    let moved = with_assignments(&p, &json!([group("g1", "x1"), group("g3", "x3")]));
    assert_eq!(with_assignments(&p, &json!([])), p, "no assignments add nothing");
    let snap = |v| Snapshot { object_type: "device_configuration", object_id: "1", name: "A", payload: v };
    assert_eq!(diff_sets(&[snap(&a)], &[snap(&same)]).unchanged, 1);
    let d = diff_sets(&[snap(&a)], &[snap(&moved)]);
    assert_eq!(
        d.changed[0].changes,
        [Change { path: "/assignments/1/target/groupId".into(), old: Some(json!("g2")), new: Some(json!("g3")) }]
    );
    let gone = diff_sets(&[snap(&a)], &[snap(&p)]);
    assert_eq!(gone.changed[0].changes[0].path, "/assignments");
    assert_eq!(gone.changed[0].changes[0].new, None);
}

#[test]
fn ambiguous_secondary_keys_do_not_match() {
    let x = json!({"displayName": "Same", "@odata.type": "#t"});
    let before = [Snapshot { object_type: "device_configuration", object_id: "1", name: "Same", payload: &x }];
    let after = [
        Snapshot { object_type: "device_configuration", object_id: "2", name: "Same", payload: &x },
        Snapshot { object_type: "device_configuration", object_id: "3", name: "Same", payload: &x },
    ];
    let d = diff_sets(&before, &after);
    assert_eq!((d.removed.len(), d.added.len(), d.unchanged), (1, 2, 0));
}

/// Keyed arrays sorted by key, where the diff treats them as keyed.
fn normalized(v: &Value, keyed: &[KeyedArray]) -> Value {
    fn go(v: &Value, member: Option<&str>, keyed: &[KeyedArray]) -> Value {
        match v {
            Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), go(v, Some(k), keyed))).collect()),
            Value::Array(items) => {
                let mut items: Vec<Value> = items.iter().map(|i| go(i, None, keyed)).collect();
                if let Some(key) = key_rule(member, keyed) {
                    if let Some(keys) = item_keys(&items, key) {
                        let mut pairs: Vec<(String, Value)> = keys.into_iter().zip(items).collect();
                        pairs.sort_by(|a, b| a.0.cmp(&b.0));
                        items = pairs.into_iter().map(|(_, v)| v).collect();
                    }
                }
                Value::Array(items)
            }
            other => other.clone(),
        }
    }
    go(v, None, keyed)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..4).prop_map(Value::from),
        prop::sample::select(vec!["", "a", "b", "~", "/"]).prop_map(Value::from),
    ]
}

const NAMES: &[&str] = &["a", "b", "x/y", "t~1", "settings", "children", "k", "id", "v"];

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(NAMES.to_vec()), inner.clone(), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            // Keyed items, keys from a small set so they repeat now and then.
            prop::collection::vec((prop::sample::select(vec!["1", "2", "3", "4"]), inner), 0..4).prop_map(|items| {
                let settings = items.into_iter().map(|(k, v)| json!({"k": k, "id": {"v": k}, "value": v})).collect();
                let mut m = Map::new();
                m.insert("settings".into(), Value::Array(settings));
                Value::Object(m)
            }),
        ]
    })
}

fn roll(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (*seed >> 33) % 4
}

/// `b` made from `a` by edits: members dropped, replaced by `other`'s, recursed into.
fn mixed(a: &Value, other: &Value, seed: &mut u64) -> Value {
    match (a, other) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = Map::new();
            for (k, v) in x {
                match roll(seed) {
                    0 => {}
                    1 => {
                        out.insert(k.clone(), y.get(k).cloned().unwrap_or(Value::Null));
                    }
                    _ => {
                        out.insert(k.clone(), mixed(v, y.get(k).unwrap_or(&Value::Null), seed));
                    }
                }
            }
            for (k, v) in y {
                if !x.contains_key(k) && roll(seed) == 0 {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(out)
        }
        (Value::Array(x), _) => {
            let mut items: Vec<Value> = x.iter().map(|v| mixed(v, other, seed)).collect();
            if roll(seed) == 0 {
                items.reverse();
            }
            if roll(seed) == 0 {
                items.pop();
            }
            Value::Array(items)
        }
        (_, o) if roll(seed) == 0 => o.clone(),
        (v, _) => v.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn applying_a_diff_to_a_yields_b(a in json_value(), other in json_value(), seed in any::<u64>()) {
        let b = mixed(&a, &other, &mut seed.clone());
        for (from, to) in [(&a, &b), (&b, &a), (&a, &other)] {
            let changes = diff_values(from, to, RULES);
            let applied = apply(from, &changes, RULES).expect("a diff applies to its own source");
            prop_assert_eq!(normalized(&applied, RULES), normalized(to, RULES));
            prop_assert_eq!(changes.is_empty(), normalized(from, RULES) == normalized(to, RULES));
        }
        prop_assert!(diff_values(&a, &a, RULES).is_empty());
    }
}
