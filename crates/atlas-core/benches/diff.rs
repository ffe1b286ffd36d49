//! The diff of two 2,000-object backup sets (issue 14: must render in under a
//! second). `cargo bench -p atlas-core`; figures in docs/BENCHMARKS.md.
//!
//! The sets: 1,000 settings-catalog policies of 25 settings each (keyed
//! arrays, nested children) and 1,000 device configurations of 40 members;
//! the second set changes one setting in every tenth policy and one member in
//! every tenth configuration, drops 20 objects and adds 20.

use atlas_core::diff::{diff_sets, with_assignments, Snapshot};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};

fn policy(i: usize, changed: bool) -> Value {
    let settings: Vec<Value> = (0..25)
        .map(|s| {
            let value = if changed && s == 7 { "off" } else { "on" };
            json!({"id": s.to_string(), "settingInstance": {
                "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
                "settingDefinitionId": format!("device_vendor_msft_policy_config_setting_{s}"),
                "settingInstanceTemplateReference": null,
                "choiceSettingValue": {
                    "value": format!("device_vendor_msft_policy_config_setting_{s}_{value}"),
                    "settingValueTemplateReference": null,
                    "children": [{"@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
                                  "settingDefinitionId": format!("device_vendor_msft_policy_config_setting_{s}_child"),
                                  "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue", "value": s}}]
                }
            }})
        })
        .collect();
    json!({"id": format!("p{i}"), "name": format!("Policy {i:04}"), "description": "Generated", "platforms": "windows10",
           "technologies": "mdm", "roleScopeTagIds": ["0", "1"], "settingCount": 25,
           "createdDateTime": "2025-01-01T00:00:00Z", "lastModifiedDateTime": "2025-01-01T00:00:00Z", "settings": settings})
}

fn configuration(i: usize, changed: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(format!("c{i}")));
    m.insert("@odata.type".into(), json!("#microsoft.graph.windows10GeneralConfiguration"));
    m.insert("displayName".into(), json!(format!("Configuration {i:04}")));
    for k in 0..40 {
        m.insert(format!("setting{k:02}"), json!(k));
    }
    if changed {
        m.insert("passwordMinimumLength".into(), json!(12));
    }
    Value::Object(m)
}

/// (type, id, name, payload) of each object of one set.
fn set(second: bool) -> Vec<(&'static str, String, String, Value)> {
    let mut out = Vec::new();
    for i in 0..1000 {
        if second && i < 10 {
            continue;
        }
        out.push(("configuration_policy", format!("p{i}"), format!("Policy {i:04}"), policy(i, second && i % 10 == 3)));
        out.push((
            "device_configuration",
            format!("c{i}"),
            format!("Configuration {i:04}"),
            configuration(i, second && i % 10 == 5),
        ));
    }
    if second {
        for i in 1000..1010 {
            out.push(("configuration_policy", format!("p{i}"), format!("Policy {i:04}"), policy(i, false)));
            out.push((
                "device_configuration",
                format!("c{i}"),
                format!("Configuration {i:04}"),
                configuration(i, false),
            ));
        }
    }
    out
}

fn snapshots<'a>(set: &'a [(&'static str, String, String, Value)]) -> Vec<Snapshot<'a>> {
    set.iter().map(|(t, id, name, p)| Snapshot { object_type: t, object_id: id, name, payload: p }).collect()
}

fn two_thousand_objects(c: &mut Criterion) {
    let (a, b) = (set(false), set(true));
    let (sa, sb) = (snapshots(&a), snapshots(&b));
    assert_eq!((sa.len(), sb.len()), (2000, 2000));
    let d = diff_sets(&sa, &sb);
    assert_eq!((d.added.len(), d.removed.len(), d.changed.len()), (20, 20, 198));
    c.bench_function("diff_sets 2000 x 2000", |bench| bench.iter(|| diff_sets(black_box(&sa), black_box(&sb))));
}

/// Two assignments per object, one group re-pointed in every tenth
/// configuration of the second set.
fn assignments(i: usize, changed: bool) -> Value {
    let group = if changed { format!("g{i}-new") } else { format!("g{i}") };
    json!([
        {"id": format!("a{i}-1"), "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group}},
        {"id": format!("a{i}-2"), "target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}},
    ])
}

/// What `atlas backups diff` and a drift check compare: each object's
/// payload with its assignments (`with_assignments`, built inside the timed
/// loop as the real diff builds it), then the set diff.
fn two_thousand_objects_with_assignments(c: &mut Criterion) {
    let (a, b) = (set(false), set(true));
    let with =
        |set: &[(&'static str, String, String, Value)], second: bool| -> Vec<(&'static str, String, String, Value)> {
            set.iter()
                .enumerate()
                .map(|(n, (t, id, name, p))| {
                    (*t, id.clone(), name.clone(), (p.clone(), assignments(n, second && n % 10 == 1)))
                })
                .map(|(t, id, name, (p, asg))| (t, id, name, with_assignments(&p, &asg)))
                .collect()
        };
    let (wa, wb) = (with(&a, false), with(&b, true));
    let d = diff_sets(&snapshots(&wa), &snapshots(&wb));
    assert!(d.changed.iter().any(|o| o.changes.iter().any(|ch| ch.path.starts_with("/assignments/"))));
    let raw: Vec<(Value, Value)> = a.iter().enumerate().map(|(n, o)| (o.3.clone(), assignments(n, false))).collect();
    let raw_b: Vec<(Value, Value)> =
        b.iter().enumerate().map(|(n, o)| (o.3.clone(), assignments(n, n % 10 == 1))).collect();
    c.bench_function("backup diff with assignments 2000 x 2000", |bench| {
        bench.iter(|| {
            let ca: Vec<Value> = raw.iter().map(|(p, asg)| with_assignments(p, asg)).collect();
            let cb: Vec<Value> = raw_b.iter().map(|(p, asg)| with_assignments(p, asg)).collect();
            let sa: Vec<Snapshot<'_>> = a
                .iter()
                .zip(&ca)
                .map(|(o, p)| Snapshot { object_type: o.0, object_id: &o.1, name: &o.2, payload: p })
                .collect();
            let sb: Vec<Snapshot<'_>> = b
                .iter()
                .zip(&cb)
                .map(|(o, p)| Snapshot { object_type: o.0, object_id: &o.1, name: &o.2, payload: p })
                .collect();
            diff_sets(black_box(&sa), black_box(&sb))
        })
    });
}

criterion_group!(benches, two_thousand_objects, two_thousand_objects_with_assignments);
criterion_main!(benches);
