//! Setting-level diffs of Intune objects (SPEC §10.1), pure.
//!
//! A change is `{"path", "old", "new"}`: `path` is a JSON pointer (RFC 6901)
//! into the object as [`ObjectType::comparable`] gives it (service-owned
//! members and top-level nulls removed); a member that did not exist has no
//! `old`, one that no longer exists no `new` (an explicit null is a value).
//!
//! Arrays:
//! * An array member named in the type's `keyed_arrays` (at any depth), whose
//!   items all carry the key and no key repeats, is addressed by key: the
//!   segment after the array is the item's key, escaped as RFC 6901 says. A
//!   settings-catalog setting is
//!   `/settings/device_vendor_msft_bitlocker_requiredeviceencryption/...`, a
//!   group policy value `/definitionValues/{definition id}/...`. Item order
//!   is not content: two arrays with the same keyed items in another order
//!   are equal. When the keys do not hold on either side, the array changes
//!   as a whole (one change at the array's own path).
//! * Any other array of the same length on both sides is compared item by
//!   item (`/roleScopeTagIds/1`); of different lengths, as a whole.
//!
//! [`apply`] turns a value and a diff of it into the other value (restore
//! previews, and the property test that keeps the two honest).
//!
//! Crates considered: `json-patch` (RFC 6902 diff and patch) and
//! `serde_json_diff`/`treediff` address arrays by position only and, for
//! json-patch, carry no old values; neither can address settings by their
//! definition id, which is the point here, so the walk is our own.

mod apply;
pub mod pointer;
mod set;

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use self::apply::{apply, ApplyError};
pub use self::set::{diff_sets, with_assignments, ObjectChanges, ObjectSummary, SetDiff, Snapshot, ASSIGNMENTS};
use crate::object_type::{KeyedArray, ObjectType};

/// One difference between two values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    /// Absent: the member or item did not exist.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub old: Option<Value>,
    /// Absent: the member or item no longer exists.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub new: Option<Value>,
}

/// A member that is there is `Some`, even when it is null.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The changes that turn `a` into `b`, for one object type's content.
pub fn diff_objects(ty: &ObjectType, a: &Value, b: &Value) -> Vec<Change> {
    diff_values(&ty.comparable(a), &ty.comparable(b), ty.keyed_arrays)
}

/// The changes that turn `a` into `b`, with `keyed` naming the arrays whose
/// items are addressed by key. Paths are sorted within each object.
pub fn diff_values(a: &Value, b: &Value, keyed: &[KeyedArray]) -> Vec<Change> {
    let mut out = Vec::new();
    walk(a, b, &mut String::new(), None, keyed, &mut out);
    out
}

/// The key pointer of an array member named `member`, if it is keyed.
fn key_rule(member: Option<&str>, keyed: &[KeyedArray]) -> Option<&'static str> {
    let member = member?;
    keyed.iter().find(|k| k.member == member).map(|k| k.key)
}

/// The items' keys, in order, if every item has one and none repeats.
fn item_keys(items: &[Value], key: &str) -> Option<Vec<String>> {
    let mut seen = BTreeSet::new();
    items
        .iter()
        .map(|item| {
            let k = match item.pointer(key)? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            seen.insert(k.clone()).then_some(k)
        })
        .collect()
}

fn replace(a: &Value, b: &Value, path: &str, out: &mut Vec<Change>) {
    out.push(Change { path: path.to_owned(), old: Some(a.clone()), new: Some(b.clone()) });
}

fn walk(a: &Value, b: &Value, path: &mut String, member: Option<&str>, keyed: &[KeyedArray], out: &mut Vec<Change>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let names: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for name in names {
                let len = path.len();
                path.push('/');
                path.push_str(&pointer::escape(name));
                match (x.get(name), y.get(name)) {
                    (Some(u), Some(v)) => walk(u, v, path, Some(name), keyed, out),
                    (Some(u), None) => out.push(Change { path: path.clone(), old: Some(u.clone()), new: None }),
                    (None, Some(v)) => out.push(Change { path: path.clone(), old: None, new: Some(v.clone()) }),
                    (None, None) => {}
                }
                path.truncate(len);
            }
        }
        (Value::Array(x), Value::Array(y)) => match key_rule(member, keyed) {
            Some(key) => match (item_keys(x, key), item_keys(y, key)) {
                (Some(kx), Some(ky)) => walk_keyed(x, &kx, y, &ky, path, keyed, out),
                _ => replace(a, b, path, out),
            },
            None if x.len() == y.len() => {
                for (i, (u, v)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&i.to_string());
                    walk(u, v, path, None, keyed, out);
                    path.truncate(len);
                }
            }
            None => replace(a, b, path, out),
        },
        _ => replace(a, b, path, out),
    }
}

fn walk_keyed(
    x: &[Value],
    kx: &[String],
    y: &[Value],
    ky: &[String],
    path: &mut String,
    keyed: &[KeyedArray],
    out: &mut Vec<Change>,
) {
    let in_y: HashMap<&str, usize> = ky.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let in_x: HashMap<&str, usize> = kx.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    for (i, k) in kx.iter().enumerate() {
        let len = path.len();
        path.push('/');
        path.push_str(&pointer::escape(k));
        match in_y.get(k.as_str()) {
            Some(&j) => walk(&x[i], &y[j], path, None, keyed, out),
            None => out.push(Change { path: path.clone(), old: Some(x[i].clone()), new: None }),
        }
        path.truncate(len);
    }
    for (j, k) in ky.iter().enumerate().filter(|(_, k)| !in_x.contains_key(k.as_str())) {
        out.push(Change { path: pointer::push(path, k), old: None, new: Some(y[j].clone()) });
    }
}

#[cfg(test)]
mod tests;
