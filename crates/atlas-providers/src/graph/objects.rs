//! Reading objects: every registered type (`atlas_core::object_type`) from
//! its collections, paged, made whole as the registry says (`$expand`,
//! a GET per object, sub-collections, group policy definition values).
//!
//! Assignments are read and written through beta for every type: only beta
//! carries the assignment-filter members of a target and `source`/`intent`,
//! so v1.0 would silently drop filters on a restore.

use atlas_core::object_type::{Collection, Members, TypeFilter};
use serde_json::{Map, Value};

use super::client::{segment, GraphClient};
use crate::{Kind, ProviderError, RemoteObject};

pub(crate) const ASSIGNMENTS_VERSION: &str = "beta";

pub(crate) fn with_query(url: String, query: &str) -> String {
    match (query.is_empty(), url.contains('?')) {
        (true, _) => url,
        (false, false) => format!("{url}?{query}"),
        (false, true) => format!("{url}&{query}"),
    }
}

/// The query of a read of one object: its `$expand`, if any.
fn expand(kind: Kind) -> &'static str {
    match kind.members {
        Members::Expand { query, .. } => query,
        _ => "",
    }
}

/// The query of a list: the expansion, and `isof` when the type is a few
/// `@odata.type`s of a shared collection (filtered again on receipt).
fn list_query(kind: Kind) -> String {
    let mut parts = Vec::new();
    if !expand(kind).is_empty() {
        parts.push(expand(kind).to_owned());
    }
    if let TypeFilter::Only(types) = kind.type_filter {
        let isof: Vec<String> = types.iter().map(|t| format!("isof('{}')", t.trim_start_matches('#'))).collect();
        parts.push(format!("$filter={}", isof.join(" or ")));
    }
    parts.join("&")
}

/// The object as the product sees it, named as the registry says.
pub(crate) fn remote(kind: Kind, mut payload: Value) -> Result<RemoteObject, ProviderError> {
    if let Value::Object(m) = &mut payload {
        m.remove("@odata.context");
    }
    let id = payload
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Other(format!("Graph returned a {} without an id", kind.key)))?
        .to_owned();
    let display_name = kind.display_name(&payload, &id);
    Ok(RemoteObject { kind, id, display_name, payload })
}

pub(crate) fn insert_missing(payload: &mut Value, key: &str, value: impl FnOnce() -> Value) {
    if let Value::Object(m) = payload {
        if m.get(key).is_none_or(Value::is_null) {
            m.insert(key.to_owned(), value());
        }
    }
}

fn odata_type(item: &Value) -> Option<&str> {
    item.get("@odata.type").and_then(Value::as_str)
}

impl GraphClient {
    pub(crate) fn collection_url(&self, c: &Collection) -> String {
        self.url(c.version.as_str(), c.path)
    }

    /// An object's URL; a singleton is its collection's path itself.
    pub(crate) fn object_url(&self, kind: Kind, c: &Collection, id: &str) -> String {
        if kind.singleton {
            self.collection_url(c)
        } else {
            format!("{}/{}", self.collection_url(c), segment(id))
        }
    }

    pub(crate) fn assignments_url(&self, c: &Collection, id: &str, tail: &str) -> String {
        self.url(ASSIGNMENTS_VERSION, &format!("{}/{}/{tail}", c.path, segment(id)))
    }

    pub(crate) async fn list_objects(&self, kind: Kind) -> Result<Vec<RemoteObject>, ProviderError> {
        let mut objects = Vec::new();
        for c in kind.collections {
            let items = if kind.singleton {
                match self.get(&with_query(self.collection_url(c), expand(kind))).await {
                    Ok(item) => vec![item],
                    // Not set up in this tenant (no push certificate, no binding).
                    Err(ProviderError::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e),
                }
            } else {
                self.collect(&with_query(self.collection_url(c), &list_query(kind))).await?
            };
            for item in items {
                if !kind.includes(odata_type(&item).or(c.item_type)) {
                    continue;
                }
                // An object deleted between the list and its detail read is
                // simply not there any more.
                match self.complete(kind, c, item, false).await {
                    Ok(object) => objects.push(object),
                    Err(ProviderError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(objects)
    }

    pub(crate) async fn get_object(&self, kind: Kind, id: &str) -> Result<Option<RemoteObject>, ProviderError> {
        for c in kind.collections {
            match self.get(&with_query(self.object_url(kind, c, id), expand(kind))).await {
                Ok(item) => {
                    let same = !kind.singleton || item.get("id").and_then(Value::as_str) == Some(id);
                    if !same || !kind.includes(odata_type(&item).or(c.item_type)) {
                        return Ok(None);
                    }
                    return match self.complete(kind, c, item, true).await {
                        Ok(object) => Ok(Some(object)),
                        Err(ProviderError::NotFound(_)) => Ok(None),
                        Err(e) => Err(e),
                    };
                }
                Err(ProviderError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Adds what the listed item lacks, as the registry says.
    async fn complete(
        &self,
        kind: Kind,
        c: &Collection,
        mut item: Value,
        single_get: bool,
    ) -> Result<RemoteObject, ProviderError> {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let url = self.object_url(kind, c, &id);
        match kind.members {
            Members::Inline | Members::Expand { .. } => {}
            Members::SingleGet { .. } if !single_get => item = self.get(&url).await?,
            Members::SingleGet { .. } => {}
            Members::SubCollection { member, query } => {
                let list = self.collect(&with_query(format!("{url}/{member}"), query)).await?;
                insert(&mut item, member, Value::Array(list));
            }
            Members::DefinitionValues => {
                let values = self.definition_values(&url).await?;
                insert(&mut item, "definitionValues", Value::Array(values));
            }
        }
        if let Some(item_type) = c.item_type {
            insert_missing(&mut item, "@odata.type", || Value::String(item_type.into()));
        }
        remote(kind, item)
    }

    /// A group policy configuration's values, each with its definition and
    /// its presentation values (each with its presentation).
    pub(crate) async fn definition_values(&self, object_url: &str) -> Result<Vec<Value>, ProviderError> {
        let mut values = self.collect(&format!("{object_url}/definitionValues?$expand=definition")).await?;
        for value in &mut values {
            let Some(vid) = value.get("id").and_then(Value::as_str).map(str::to_owned) else { continue };
            let url =
                format!("{object_url}/definitionValues/{}/presentationValues?$expand=presentation", segment(&vid));
            let presentations = self.collect(&url).await?;
            insert(value, "presentationValues", Value::Array(presentations));
        }
        Ok(values)
    }
}

fn insert(item: &mut Value, key: &str, value: Value) {
    if let Value::Object(m) = item {
        m.insert(key.to_owned(), value);
    } else {
        let mut m = Map::new();
        m.insert(key.to_owned(), value);
        *item = Value::Object(m);
    }
}
