//! The object-type registry (the Graph contract registry, SPEC §10.1): the one
//! table that knows, per kind of Intune object, where Graph keeps it, how a
//! whole object is read, how its assignments are read and written, which
//! members the service owns, how a backed-up object is matched on restore,
//! whether it can be restored and what must be restored before it.
//!
//! The table itself is pure data ([`registry`]); this file holds its types
//! and the rules derived from them. Families, the sandbox, the Graph provider
//! and the diff read it; nothing else lists object types.

mod registry;

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

pub use self::registry::OBJECT_TYPES;

/// Members every Graph object carries that the service sets itself: never
/// content, never written back. A type adds its own in
/// [`ObjectType::extra_server_managed`].
pub const SERVER_MANAGED: &[&str] =
    &["@odata.context", "@odata.etag", "id", "createdDateTime", "lastModifiedDateTime", "version"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ApiVersion {
    #[serde(rename = "v1.0")]
    V1,
    #[serde(rename = "beta")]
    Beta,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// Where objects of a type live in Graph.
#[derive(Debug, Serialize)]
pub struct Collection {
    pub version: ApiVersion,
    /// Relative to the version root, e.g. `deviceManagement/deviceConfigurations`.
    pub path: &'static str,
    /// The `@odata.type` of the items of a typed collection. Graph leaves it
    /// out of them (minimal metadata), but a restore needs it to know which
    /// collection to create an object in, so readers add it.
    pub item_type: Option<&'static str>,
}

/// Which items of a collection belong to the type, by `@odata.type`: two types
/// can share one polymorphic collection (Windows Update rings are device
/// configurations of one `@odata.type`).
#[derive(Debug, Serialize)]
#[serde(tag = "rule", content = "odata_types", rename_all = "snake_case")]
pub enum TypeFilter {
    All,
    /// Only these types; readers may ask Graph for them with `isof`.
    Only(&'static [&'static str]),
    /// Every type but these (they belong to another registered type).
    Except(&'static [&'static str]),
}

/// How a listed item becomes a whole object.
#[derive(Debug, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Members {
    /// The listed item is the whole object.
    Inline,
    /// A navigation member read with `$expand` on the list and the get.
    Expand { member: &'static str, query: &'static str },
    /// The list leaves `members` out (or null): every object is read with a GET.
    SingleGet { members: &'static [&'static str] },
    /// A sub-collection `{object}/{member}` read per object (paged) and kept
    /// under `member`; `query` is added to its URL (empty for none).
    SubCollection { member: &'static str, query: &'static str },
    /// Group policy: `definitionValues?$expand=definition`, and for each value
    /// `presentationValues?$expand=presentation`, kept under `definitionValues`
    /// with each value's `presentationValues`.
    DefinitionValues,
}

/// How assignments are read and written (SPEC's assignment mode).
#[derive(Debug, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Assignments {
    None,
    /// Read from `{object}/assignments`; written with `POST {object}/assign`
    /// `{body_key: [...]}`, which replaces the whole set.
    AssignAction {
        body_key: &'static str,
        item_type: &'static str,
    },
    /// A plain collection: read from `{object}/assignments`, written one by one
    /// (`POST {object}/assignments`, `DELETE {object}/assignments/{id}`).
    #[serde(rename = "assignments")]
    Collection {
        item_type: &'static str,
    },
}

/// How an object is created and updated, if it can be.
#[derive(Debug, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Write {
    /// Backed up for the record and compared, never written.
    ReadOnly { reason: &'static str },
    /// `POST` the collection; `PATCH` the object with the members that differ
    /// and explicit nulls for members the backup lacks.
    Patch,
    /// As `Patch`, but `member` is a navigation property a PATCH refuses: it is
    /// written with `POST {object}/{action}` `{body_key: value}`, and on create
    /// either in the body (`in_create`) or with the same action after it.
    PatchAndAction { member: &'static str, action: &'static str, body_key: &'static str, in_create: bool },
    /// As `Patch`; `member` is a contained collection written item by item
    /// (`POST`/`PATCH`/`DELETE {object}/{member}[/{id}]`), matched on `key`.
    PatchAndItems { member: &'static str, key: &'static str },
    /// `POST` the collection with `member` inline; `PUT` the object whole.
    Put { member: &'static str },
    /// Endpoint security intents: created with
    /// `POST templates/{templateId}/createInstance` (settings as `settingsDelta`),
    /// updated with `PATCH` plus `POST {object}/updateSettings`.
    TemplateInstance { member: &'static str },
    /// Group policy: `POST`/`PATCH` the configuration, its `definitionValues`
    /// replaced through `POST {object}/updateDefinitionValues`.
    DefinitionValues,
}

/// An array whose items have a stable key: the diff addresses its items by
/// that key (a JSON pointer into the item), not by position. Applies to an
/// array member of this name at any depth of the object.
#[derive(Debug, Serialize)]
pub struct KeyedArray {
    pub member: &'static str,
    pub key: &'static str,
}

/// One registered object type. See [`OBJECT_TYPES`] for the table.
#[derive(Debug)]
pub struct ObjectType {
    /// Stored in databases (backup items, inventory, versions): never renamed.
    pub key: &'static str,
    pub label: &'static str,
    /// Usually one; app protection has one typed collection per platform.
    pub collections: &'static [Collection],
    /// One object per tenant at the collection's path (no list, no create).
    pub singleton: bool,
    pub type_filter: TypeFilter,
    /// The member the object is known by (`displayName`, or `name`, …).
    pub name_member: &'static str,
    pub members: Members,
    pub assignments: Assignments,
    pub write: Write,
    /// Service-owned members of this type beyond [`SERVER_MANAGED`].
    pub extra_server_managed: &'static [&'static str],
    /// The secondary match on restore when the id is gone: these members
    /// together identify the object (an empty list: by id only).
    pub match_on: &'static [&'static str],
    pub keyed_arrays: &'static [KeyedArray],
    /// Types whose objects this type's objects refer to: restored first.
    pub depends_on: &'static [&'static str],
    /// The Graph application permission reading and writing it needs.
    pub permission: &'static str,
}

impl PartialEq for ObjectType {
    fn eq(&self, other: &ObjectType) -> bool {
        self.key == other.key
    }
}

impl Eq for ObjectType {}

impl Hash for ObjectType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key)
    }
}

/// Every registered type, in the table's order.
pub fn all() -> &'static [ObjectType] {
    OBJECT_TYPES
}

pub fn by_key(key: &str) -> Option<&'static ObjectType> {
    OBJECT_TYPES.iter().find(|t| t.key == key)
}

/// The type's rules, or the common rules for a key the registry does not know.
pub fn rules_for(key: &str) -> &'static ObjectType {
    by_key(key).unwrap_or(&registry::UNREGISTERED)
}

/// The registry's keys, comma-separated (for "unknown type" messages).
pub fn keys() -> String {
    OBJECT_TYPES.iter().map(|t| t.key).collect::<Vec<_>>().join(", ")
}

/// Every type, each after the types it depends on (ties in table order):
/// the order restore writes objects in.
pub fn restore_order() -> Vec<&'static ObjectType> {
    let mut placed: Vec<&'static ObjectType> = Vec::with_capacity(OBJECT_TYPES.len());
    // The table is checked acyclic by a test; the bound guards a bad edit.
    for _ in 0..OBJECT_TYPES.len() {
        for t in OBJECT_TYPES {
            let ready = t.depends_on.iter().all(|d| placed.iter().any(|p| p.key == *d));
            if ready && !placed.contains(&t) {
                placed.push(t);
            }
        }
    }
    placed
}

/// A type's position in [`restore_order`]; unknown keys go last.
pub fn restore_rank(key: &str) -> usize {
    restore_order().iter().position(|t| t.key == key).unwrap_or(usize::MAX)
}

impl ObjectType {
    pub fn api_version(&self) -> ApiVersion {
        self.collections.first().map_or(ApiVersion::Beta, |c| c.version)
    }

    pub fn restorable(&self) -> bool {
        !matches!(self.write, Write::ReadOnly { .. })
    }

    pub fn assignable(&self) -> bool {
        !matches!(self.assignments, Assignments::None)
    }

    /// SPEC's name for the assignment mode: `assignments`, `assign_action`, `none`.
    pub fn assignment_mode(&self) -> &'static str {
        match self.assignments {
            Assignments::None => "none",
            Assignments::AssignAction { .. } => "assign_action",
            Assignments::Collection { .. } => "assignments",
        }
    }

    pub fn is_server_managed(&self, member: &str) -> bool {
        SERVER_MANAGED.contains(&member) || self.extra_server_managed.contains(&member)
    }

    /// Every service-owned member of this type.
    pub fn server_managed(&self) -> Vec<&'static str> {
        SERVER_MANAGED.iter().chain(self.extra_server_managed).copied().collect()
    }

    /// Whether an item of the type's collection with this `@odata.type` is one of this type's.
    pub fn includes(&self, odata_type: Option<&str>) -> bool {
        match (&self.type_filter, odata_type) {
            (TypeFilter::All, _) => true,
            (TypeFilter::Only(types), Some(t)) => types.contains(&t),
            (TypeFilter::Only(_), None) => false,
            (TypeFilter::Except(types), t) => !t.is_some_and(|t| types.contains(&t)),
        }
    }

    /// The object as content: service-owned members removed, and top-level
    /// members that are null removed (Graph answers an unset property as
    /// null, and a PATCH clears a property by sending null, so null and
    /// absent are the same content). What is compared, hashed and written.
    ///
    /// Inside the members read or written apart (settings, group policy
    /// values, notification messages…), the items' own `id` and timestamps
    /// are the service's too: Graph gives a re-created item new ones, so a
    /// restored object would otherwise never equal its backup. References
    /// (`definition`, `presentation`) keep theirs: their id is the key.
    pub fn comparable(&self, payload: &Value) -> Value {
        match payload {
            Value::Object(m) => {
                let navigation = self.navigation_members();
                Value::Object(
                    m.iter()
                        .filter(|(k, v)| !v.is_null() && !self.is_server_managed(k))
                        .map(|(k, v)| {
                            let mut v = v.clone();
                            if navigation.contains(&k.as_str()) {
                                strip_item_members(&mut v);
                            }
                            (k.clone(), v)
                        })
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }

    /// What the object is called: its name member, else its id.
    pub fn display_name(&self, payload: &Value, id: &str) -> String {
        [self.name_member, "displayName", "name"]
            .iter()
            .find_map(|k| payload.get(*k).and_then(Value::as_str))
            .unwrap_or(id)
            .to_owned()
    }

    /// The secondary key of the restore match: the `match_on` members' values,
    /// or `None` when the type has none or the object lacks one of them.
    pub fn secondary_key(&self, payload: &Value) -> Option<String> {
        if self.match_on.is_empty() {
            return None;
        }
        let parts: Option<Vec<String>> = self
            .match_on
            .iter()
            .map(|m| match payload.get(*m) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            })
            .collect();
        parts.map(|p| serde_json::to_string(&p).unwrap_or_default())
    }

    /// The body that makes a live object equal `desired` (a backed-up
    /// payload) by a PATCH: `@odata.type` (Graph needs it to read a PATCH of
    /// a derived type), the members that differ, and an explicit null for
    /// each member the live object has and `desired` lacks. For a type that
    /// is replaced whole (PUT), every member of `desired` plus those nulls.
    pub fn update_body(&self, desired: &Value, live: &Value) -> Value {
        let want = self.comparable(desired);
        let have = self.comparable(live);
        let (Value::Object(want), Value::Object(have)) = (want, have) else {
            return self.comparable(desired);
        };
        let whole = matches!(self.write, Write::Put { .. });
        let mut body = Map::new();
        for (k, v) in &want {
            if whole || k == "@odata.type" || have.get(k) != Some(v) {
                body.insert(k.clone(), v.clone());
            }
        }
        for k in have.keys() {
            if !want.contains_key(k) {
                body.insert(k.clone(), Value::Null);
            }
        }
        Value::Object(body)
    }

    /// Members of the type's payloads that are navigation properties or
    /// sub-collections: read apart, written apart, never in a PATCH.
    pub fn navigation_members(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        match self.members {
            Members::Expand { member, .. } | Members::SubCollection { member, .. } => out.push(member),
            Members::DefinitionValues => out.push("definitionValues"),
            Members::Inline | Members::SingleGet { .. } => {}
        }
        if let Write::PatchAndAction { member, .. } | Write::PatchAndItems { member, .. } = self.write {
            if !out.contains(&member) {
                out.push(member);
            }
        }
        out
    }

    /// Why the type cannot be restored, if it cannot.
    pub fn read_only_reason(&self) -> Option<&'static str> {
        match self.write {
            Write::ReadOnly { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Members of a contained item that the service sets (see `comparable`).
pub const ITEM_SERVER_MANAGED: &[&str] = &["id", "createdDateTime", "lastModifiedDateTime"];

fn strip_item_members(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(strip_item_members),
        Value::Object(m) => {
            m.retain(|k, _| !ITEM_SERVER_MANAGED.contains(&k.as_str()));
            for (k, child) in m.iter_mut() {
                if k != "definition" && k != "presentation" {
                    strip_item_members(child);
                }
            }
        }
        _ => {}
    }
}

impl Serialize for ObjectType {
    /// Every field, as `atlas object-types list --json` prints it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ObjectType", 17)?;
        st.serialize_field("key", self.key)?;
        st.serialize_field("label", self.label)?;
        st.serialize_field("api_version", &self.api_version())?;
        st.serialize_field("collections", self.collections)?;
        st.serialize_field("singleton", &self.singleton)?;
        st.serialize_field("type_filter", &self.type_filter)?;
        st.serialize_field("name_member", self.name_member)?;
        st.serialize_field("members", &self.members)?;
        st.serialize_field("assignment_mode", self.assignment_mode())?;
        st.serialize_field("assignments", &self.assignments)?;
        st.serialize_field("restorable", &self.restorable())?;
        st.serialize_field("write", &self.write)?;
        st.serialize_field("server_managed", &self.server_managed())?;
        let matching: BTreeMap<&str, Value> = [
            ("first", Value::from("id")),
            ("then", Value::from(self.match_on.iter().map(|m| Value::from(*m)).collect::<Vec<_>>())),
        ]
        .into_iter()
        .collect();
        st.serialize_field("match", &matching)?;
        st.serialize_field("keyed_arrays", self.keyed_arrays)?;
        st.serialize_field("depends_on", self.depends_on)?;
        st.serialize_field("permission", self.permission)?;
        st.end()
    }
}

#[cfg(test)]
mod tests;
