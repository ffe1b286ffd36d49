//! Diffs of two sets of objects (two backups, a backup and the live tenant):
//! objects are matched by the registry's rule (type and id, then the type's
//! secondary key when it is unique on both sides), then diffed one by one.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{diff_objects, Change};
use crate::object_type;

/// An object as a set holds it.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'a> {
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub name: &'a str,
    pub payload: &'a Value,
}

/// An object added or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSummary {
    pub object_type: String,
    pub object_id: String,
    pub name: String,
}

/// An object in both sets whose content differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectChanges {
    pub object_type: String,
    /// The id in the second set.
    pub object_id: String,
    /// The id in the first set, when the object was matched by its secondary
    /// key (it was deleted and re-created under a new id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_object_id: Option<String>,
    pub name: String,
    pub changes: Vec<Change>,
}

/// SPEC §10.1's diff: `{"added", "removed", "changed", "unchanged"}`, each
/// list sorted by type, name and id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SetDiff {
    pub added: Vec<ObjectSummary>,
    pub removed: Vec<ObjectSummary>,
    pub changed: Vec<ObjectChanges>,
    pub unchanged: u64,
}

impl SetDiff {
    /// Added, removed and changed objects together.
    pub fn change_count(&self) -> usize {
        self.added.len() + self.removed.len() + self.changed.len()
    }
}

fn summary(s: &Snapshot<'_>) -> ObjectSummary {
    ObjectSummary { object_type: s.object_type.to_owned(), object_id: s.object_id.to_owned(), name: s.name.to_owned() }
}

/// The secondary key of each object not matched yet, where it is unique among them.
fn unique_secondary<'a>(objects: &[Snapshot<'a>], taken: &[bool]) -> HashMap<(&'a str, String), usize> {
    let mut seen: HashMap<(&'a str, String), Option<usize>> = HashMap::new();
    for (i, o) in objects.iter().enumerate().filter(|(i, _)| !taken[*i]) {
        let Some(key) = object_type::rules_for(o.object_type).secondary_key(o.payload) else { continue };
        seen.entry((o.object_type, key)).and_modify(|slot| *slot = None).or_insert(Some(i));
    }
    seen.into_iter().filter_map(|(k, v)| v.map(|i| (k, i))).collect()
}

/// The member of an object's compared content that holds its assignments
/// (SPEC §10.1: a diff includes assignment changes). No registered type
/// has a payload member of this name: Graph keeps assignments apart.
pub const ASSIGNMENTS: &str = "assignments";

/// An object's content with its assignments, as a set diff compares it: the
/// assignments under [`ASSIGNMENTS`] without their service-assigned ids (a
/// restored assignment gets a new one), in a canonical order (Graph keeps
/// none). No assignments add nothing, so an object without any compares
/// as its payload alone.
pub fn with_assignments(payload: &Value, assignments: &Value) -> Value {
    let mut items: Vec<Value> = assignments
        .as_array()
        .map(|a| {
            a.iter()
                .map(|item| match item {
                    Value::Object(m) => Value::Object(
                        m.iter().filter(|(k, _)| *k != "id").map(|(k, v)| (k.clone(), v.clone())).collect(),
                    ),
                    other => other.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = payload.clone();
    if items.is_empty() {
        return out;
    }
    items.sort_by_cached_key(Value::to_string);
    if let Value::Object(m) = &mut out {
        m.insert(ASSIGNMENTS.to_owned(), Value::Array(items));
    }
    out
}

/// What changed from `before` to `after`.
pub fn diff_sets(before: &[Snapshot<'_>], after: &[Snapshot<'_>]) -> SetDiff {
    let by_id: HashMap<(&str, &str), usize> =
        after.iter().enumerate().map(|(i, o)| ((o.object_type, o.object_id), i)).collect();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut before_taken = vec![false; before.len()];
    let mut after_taken = vec![false; after.len()];
    for (i, o) in before.iter().enumerate() {
        if let Some(&j) = by_id.get(&(o.object_type, o.object_id)) {
            if !after_taken[j] {
                pairs.push((i, j));
                before_taken[i] = true;
                after_taken[j] = true;
            }
        }
    }
    let left = unique_secondary(before, &before_taken);
    let right = unique_secondary(after, &after_taken);
    for (key, &i) in &left {
        if let Some(&j) = right.get(key) {
            pairs.push((i, j));
            before_taken[i] = true;
            after_taken[j] = true;
        }
    }

    let mut diff = SetDiff::default();
    for (i, j) in pairs {
        let (a, b) = (&before[i], &after[j]);
        let changes = diff_objects(object_type::rules_for(b.object_type), a.payload, b.payload);
        if changes.is_empty() {
            diff.unchanged += 1;
        } else {
            diff.changed.push(ObjectChanges {
                object_type: b.object_type.to_owned(),
                object_id: b.object_id.to_owned(),
                previous_object_id: (a.object_id != b.object_id).then(|| a.object_id.to_owned()),
                name: b.name.to_owned(),
                changes,
            });
        }
    }
    diff.removed = before.iter().zip(&before_taken).filter(|(_, t)| !**t).map(|(o, _)| summary(o)).collect();
    diff.added = after.iter().zip(&after_taken).filter(|(_, t)| !**t).map(|(o, _)| summary(o)).collect();
    let order = |o: &ObjectSummary| (o.object_type.clone(), o.name.clone(), o.object_id.clone());
    diff.added.sort_by_cached_key(order);
    diff.removed.sort_by_cached_key(order);
    diff.changed.sort_by(|a, b| (&a.object_type, &a.name, &a.object_id).cmp(&(&b.object_type, &b.name, &b.object_id)));
    diff
}
