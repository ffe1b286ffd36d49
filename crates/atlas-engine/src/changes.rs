//! What changed, for people: an object's version history and the
//! setting-level diff between two of its versions, and the diff of two
//! backup sets (SPEC §10.1). One place that the CLI (`atlas policies
//! history|diff`, `atlas backups show|diff`) and the API answer from; the
//! diff itself is `atlas_core::diff`.

use atlas_core::diff::{diff_objects, diff_sets, with_assignments, Change, SetDiff, Snapshot};
use atlas_core::object_type::{self, rules_for};
use atlas_store::backup::{BackupItem, BackupSet};
use atlas_store::policy::ObjectVersion;
use atlas_store::Store;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::ServiceError;

/// One version in a history listing (the payload left out).
#[derive(Clone, Debug, Serialize)]
pub struct VersionSummary {
    pub object_type: String,
    pub object_id: String,
    pub version: i64,
    pub name: String,
    pub content_hash: String,
    pub run_id: Option<Uuid>,
    pub created_at: atlas_core::Timestamp,
}

/// An object's stored versions, oldest first.
#[derive(Clone, Debug, Serialize)]
pub struct History {
    pub object_type: String,
    pub object_id: String,
    pub name: String,
    pub versions: Vec<VersionSummary>,
}

/// The changes from one version of an object to another.
#[derive(Clone, Debug, Serialize)]
pub struct VersionDiff {
    pub object_type: String,
    pub object_id: String,
    pub name: String,
    pub from: i64,
    pub to: i64,
    pub changes: Vec<Change>,
}

async fn versions_of(store: &Store, tenant_id: Uuid, object_id: &str) -> Result<Vec<ObjectVersion>, ServiceError> {
    let versions = store.object_versions(tenant_id, object_id).await?;
    if versions.is_empty() {
        return Err(ServiceError::NotFound(format!(
            "object `{object_id}` (no version of it is stored: run policies.sync first)"
        )));
    }
    Ok(versions)
}

/// The history of one object of a tenant.
pub async fn history(store: &Store, tenant_id: Uuid, object_id: &str) -> Result<History, ServiceError> {
    let versions = versions_of(store, tenant_id, object_id).await?;
    let last = &versions[versions.len() - 1];
    Ok(History {
        object_type: last.kind.clone(),
        object_id: last.object_id.clone(),
        name: last.display_name.clone(),
        versions: versions
            .iter()
            .map(|v| VersionSummary {
                object_type: v.kind.clone(),
                object_id: v.object_id.clone(),
                version: v.version,
                name: v.display_name.clone(),
                content_hash: v.content_hash.clone(),
                run_id: v.run_id,
                created_at: v.created_at,
            })
            .collect(),
    })
}

/// The diff from version `from` (default: the one before `to`) to version
/// `to` (default: the newest). Unknown versions are bad input.
pub async fn version_diff(
    store: &Store,
    tenant_id: Uuid,
    object_id: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<VersionDiff, ServiceError> {
    let versions = versions_of(store, tenant_id, object_id).await?;
    let known = || versions.iter().map(|v| v.version.to_string()).collect::<Vec<_>>().join(", ");
    let find = |n: i64| {
        versions.iter().find(|v| v.version == n).ok_or_else(|| {
            ServiceError::Invalid(format!("object `{object_id}` has no version {n} (its versions: {})", known()))
        })
    };
    let newest = versions[versions.len() - 1].version;
    let to = find(to.unwrap_or(newest))?;
    let from = match from {
        Some(n) => find(n)?,
        None => versions.iter().rev().find(|v| v.version < to.version).unwrap_or(to),
    };
    let ty = rules_for(&to.kind);
    Ok(VersionDiff {
        object_type: to.kind.clone(),
        object_id: to.object_id.clone(),
        name: to.display_name.clone(),
        from: from.version,
        to: to.version,
        changes: diff_objects(ty, &from.payload, &to.payload),
    })
}

/// A backup set's items, grouped by registered type (in the registry's
/// order, then any unregistered kind), each group sorted by name.
#[derive(Clone, Debug, Serialize)]
pub struct BackupContents {
    pub backup_set: BackupSet,
    pub types: Vec<TypeGroup>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TypeGroup {
    pub object_type: String,
    pub label: String,
    pub items: Vec<ItemSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemSummary {
    pub item_id: Uuid,
    pub object_id: String,
    pub name: String,
    pub assignments: usize,
    pub content_hash: String,
}

/// The set and its items by type; `search` keeps the items whose name or
/// object id contains it (case-insensitive).
pub async fn backup_contents(
    store: &Store,
    set_id: Uuid,
    search: Option<&str>,
) -> Result<BackupContents, ServiceError> {
    let backup_set = store.backup_set_get(set_id).await?;
    let needle = search.map(str::to_lowercase);
    let mut items: Vec<BackupItem> = store.backup_items(set_id).await?;
    items.retain(|i| {
        needle.as_ref().is_none_or(|n| i.display_name.to_lowercase().contains(n) || i.object_id.contains(n.as_str()))
    });
    let rank = |kind: &str| object_type::all().iter().position(|t| t.key == kind).unwrap_or(usize::MAX);
    items.sort_by(|a, b| (rank(&a.kind), &a.kind, &a.display_name).cmp(&(rank(&b.kind), &b.kind, &b.display_name)));
    let mut types: Vec<TypeGroup> = Vec::new();
    for i in items {
        if types.last().is_none_or(|g| g.object_type != i.kind) {
            let label = object_type::by_key(&i.kind).map_or_else(|| i.kind.clone(), |t| t.label.to_owned());
            types.push(TypeGroup { object_type: i.kind.clone(), label, items: Vec::new() });
        }
        if let Some(group) = types.last_mut() {
            group.items.push(ItemSummary {
                item_id: i.id,
                object_id: i.object_id,
                name: i.display_name,
                assignments: i.assignments.as_array().map_or(0, Vec::len),
                content_hash: i.content_hash,
            });
        }
    }
    Ok(BackupContents { backup_set, types })
}

/// The diff of two backup sets (SPEC §10.1's shape), `a` before `b`.
/// `visible` says whether the caller may see a set's tenant (a set it may
/// not see is "not found", as one that does not exist); sets of two
/// tenants are bad input.
pub async fn backup_diff(
    store: &Store,
    a: Uuid,
    b: Uuid,
    visible: impl Fn(&BackupSet) -> bool,
) -> Result<SetDiff, ServiceError> {
    let mut sets = Vec::new();
    for id in [a, b] {
        let set = store.backup_set_get(id).await?;
        if !visible(&set) {
            return Err(ServiceError::NotFound(format!("backup set {id}")));
        }
        sets.push(set);
    }
    if sets[0].tenant_id != sets[1].tenant_id {
        return Err(ServiceError::Invalid(format!(
            "backup sets {a} and {b} belong to different tenants; only two backups of one tenant can be compared"
        )));
    }
    let (before, after) = (store.backup_items(a).await?, store.backup_items(b).await?);
    Ok(diff_items(&before, &after))
}

/// An object as a set diff compares it: its payload with its assignments
/// (`atlas_core::diff::with_assignments`), so a diff lists assignment changes too.
#[derive(Clone, Debug)]
pub struct Content {
    pub object_type: String,
    pub object_id: String,
    pub name: String,
    pub content: Value,
}

impl Content {
    pub fn of_backup(item: &BackupItem) -> Content {
        Content {
            object_type: item.kind.clone(),
            object_id: item.object_id.clone(),
            name: item.display_name.clone(),
            content: with_assignments(&item.payload, &item.assignments),
        }
    }

    /// A live object with its assignments, as a provider read them.
    pub fn of_live(object: &atlas_providers::RemoteObject, assignments: &Value) -> Content {
        Content {
            object_type: object.kind.key.to_owned(),
            object_id: object.id.clone(),
            name: object.display_name.clone(),
            content: with_assignments(&object.payload, assignments),
        }
    }
}

fn snapshots(items: &[Content]) -> Vec<Snapshot<'_>> {
    items
        .iter()
        .map(|i| Snapshot { object_type: &i.object_type, object_id: &i.object_id, name: &i.name, payload: &i.content })
        .collect()
}

/// The diff of two sets of objects, `before` to `after`.
pub fn diff_contents(before: &[Content], after: &[Content]) -> SetDiff {
    diff_sets(&snapshots(before), &snapshots(after))
}

/// The diff of two sets of backed-up objects, assignments included.
pub fn diff_items(before: &[BackupItem], after: &[BackupItem]) -> SetDiff {
    let content = |items: &[BackupItem]| items.iter().map(Content::of_backup).collect::<Vec<_>>();
    diff_contents(&content(before), &content(after))
}

/// One line per change, for terminals: `path: old → new`.
pub fn change_line(c: &Change) -> String {
    let show = |v: &Option<Value>| v.as_ref().map_or_else(|| "(absent)".to_owned(), Value::to_string);
    format!("{}: {} → {}", c.path, show(&c.old), show(&c.new))
}

/// A kept drift check as `GET /api/v1/tenants/{t}/drift` and `atlas tenants
/// drift --json` show it: the diff of SPEC §10.1 (`added`, `removed`,
/// `changed`, `unchanged`) with what it compared and when, and the sentence
/// the console shows.
pub fn drift_view(d: &atlas_store::drift::DriftResult) -> Value {
    let mut doc = serde_json::json!({
        "id": d.id,
        "tenant_id": d.tenant_id,
        "run_id": d.run_id,
        "backup_set_id": d.backup_set_id,
        "backup_created_at": d.backup_created_at,
        "checked_at": d.created_at,
        "changes": d.change_count(),
        "summary": atlas_core::announce::drift_sentence(d.change_count(), d.backup_created_at, atlas_store::now()),
    });
    if let (Value::Object(m), Value::Object(diff)) = (&mut doc, &d.diff) {
        for key in ["added", "removed", "changed", "unchanged"] {
            m.insert(key.to_owned(), diff.get(key).cloned().unwrap_or(Value::Null));
        }
    }
    doc
}

/// The tenant's newest drift check, or not found (never checked).
pub async fn drift_latest(store: &Store, tenant_id: Uuid) -> Result<Value, ServiceError> {
    match store.drift_latest(tenant_id).await? {
        Some(d) => Ok(drift_view(&d)),
        None => Err(ServiceError::NotFound("drift result (the tenant was never checked: start drift.check)".into())),
    }
}

/// A diff as lines for terminals: `+`, `-` and `~` objects, each change
/// indented under its object, and the counts last.
pub fn diff_lines(d: &SetDiff) -> Vec<String> {
    let mut out = Vec::new();
    for o in &d.added {
        out.push(format!("+ {} {} ({})", o.object_type, o.name, o.object_id));
    }
    for o in &d.removed {
        out.push(format!("- {} {} ({})", o.object_type, o.name, o.object_id));
    }
    for o in &d.changed {
        out.push(format!("~ {} {} ({})", o.object_type, o.name, o.object_id));
        out.extend(o.changes.iter().map(|c| format!("    {}", change_line(c))));
    }
    out.push(format!(
        "{} added, {} removed, {} changed, {} unchanged",
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        d.unchanged
    ));
    out
}
