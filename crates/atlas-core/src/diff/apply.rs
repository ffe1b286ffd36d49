//! Applying a diff: the inverse of [`super::diff_values`].

use serde_json::Value;

use super::{item_keys, key_rule, pointer, Change};
use crate::object_type::KeyedArray;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("`{0}` is not a JSON pointer")]
    BadPath(String),
    #[error("nothing at `{0}` to change")]
    Missing(String),
}

/// `value` with `changes` applied. Keyed arrays (as the diff defines them)
/// are entered by key; a keyed item that is new is appended.
pub fn apply(value: &Value, changes: &[Change], keyed: &[KeyedArray]) -> Result<Value, ApplyError> {
    let mut out = value.clone();
    for change in changes {
        apply_one(&mut out, change, keyed)?;
    }
    Ok(out)
}

/// How to find an item in an array: by key (keyed arrays) or by position.
enum Slot {
    Member(String),
    Keyed { key: &'static str, value: String },
    Index(usize),
}

fn slot(
    container: &Value,
    member: Option<&str>,
    segment: &str,
    keyed: &[KeyedArray],
    path: &str,
) -> Result<Slot, ApplyError> {
    match container {
        Value::Object(_) => Ok(Slot::Member(segment.to_owned())),
        Value::Array(items) => match key_rule(member, keyed) {
            Some(key) if item_keys(items, key).is_some() => Ok(Slot::Keyed { key, value: segment.to_owned() }),
            Some(_) => Err(ApplyError::Missing(path.to_owned())),
            None => segment.parse().map(Slot::Index).map_err(|_| ApplyError::Missing(path.to_owned())),
        },
        _ => Err(ApplyError::Missing(path.to_owned())),
    }
}

fn position(items: &[Value], key: &str, value: &str) -> Option<usize> {
    items.iter().position(|item| match item.pointer(key) {
        Some(Value::String(s)) => s == value,
        Some(Value::Number(n)) => n.to_string() == value,
        _ => false,
    })
}

fn apply_one(root: &mut Value, change: &Change, keyed: &[KeyedArray]) -> Result<(), ApplyError> {
    let segments = pointer::split(&change.path).ok_or_else(|| ApplyError::BadPath(change.path.clone()))?;
    let Some((last, parents)) = segments.split_last() else {
        return match &change.new {
            Some(v) => {
                *root = v.clone();
                Ok(())
            }
            None => Err(ApplyError::Missing(change.path.clone())),
        };
    };
    let missing = || ApplyError::Missing(change.path.clone());
    let mut current = root;
    let mut member: Option<&str> = None;
    for segment in parents {
        let next_member = match current {
            Value::Object(_) => Some(segment.as_str()),
            _ => None,
        };
        current = match slot(current, member, segment, keyed, &change.path)? {
            Slot::Member(m) => current.get_mut(&m).ok_or_else(missing)?,
            Slot::Keyed { key, value } => {
                let items = current.as_array_mut().ok_or_else(missing)?;
                let i = position(items, key, &value).ok_or_else(missing)?;
                &mut items[i]
            }
            Slot::Index(i) => current.get_mut(i).ok_or_else(missing)?,
        };
        member = next_member;
    }
    match (slot(current, member, last, keyed, &change.path)?, current) {
        (Slot::Member(m), Value::Object(map)) => {
            match &change.new {
                Some(v) => map.insert(m, v.clone()),
                None => map.remove(&m),
            };
            Ok(())
        }
        (Slot::Keyed { key, value }, Value::Array(items)) => {
            match (position(items, key, &value), &change.new) {
                (Some(i), Some(v)) => items[i] = v.clone(),
                (None, Some(v)) => items.push(v.clone()),
                (Some(i), None) => {
                    items.remove(i);
                }
                (None, None) => return Err(missing()),
            }
            Ok(())
        }
        (Slot::Index(i), Value::Array(items)) => {
            match &change.new {
                Some(v) if i < items.len() => items[i] = v.clone(),
                Some(v) if i == items.len() => items.push(v.clone()),
                None if i < items.len() => {
                    items.remove(i);
                }
                _ => return Err(missing()),
            }
            Ok(())
        }
        _ => Err(missing()),
    }
}
