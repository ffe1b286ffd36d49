//! Creating and updating objects, per the registry's write mode: a PATCH
//! with the navigation members taken out and written their own way (an
//! action, item by item), a PUT for types replaced whole, an intent's
//! template instance, a group policy's definition values.

use atlas_core::object_type::{Collection, Write};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::client::{segment, GraphClient, Repeat};
use super::objects::{insert_missing, remote};
use crate::{Kind, ProviderError, RemoteObject, UpdateOutcome};

/// Members of an item of a contained collection that the service sets.
const ITEM_READ_ONLY: &[&str] = &["id", "createdDateTime", "lastModifiedDateTime", "@odata.context"];

/// A request body: the payload's members less those the service manages.
fn writable(kind: Kind, payload: &Value) -> Result<Map<String, Value>, ProviderError> {
    if let Some(reason) = kind.read_only_reason() {
        return Err(ProviderError::Other(format!("{} cannot be written: {reason}", kind.label)));
    }
    let Value::Object(members) = payload else {
        return Err(ProviderError::Other("the payload must be a JSON object".into()));
    };
    let mut body = members.clone();
    body.retain(|k, _| !kind.is_server_managed(k));
    Ok(body)
}

fn item_body(item: &Value) -> Value {
    match item {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !ITEM_READ_ONLY.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn items_of(value: Option<Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// A group policy value as `updateDefinitionValues` takes it: the definition
/// and each presentation bound by reference, not inlined.
fn bound_definition_value(graph_url: &str, value: &Value) -> Value {
    let definitions = format!("{graph_url}/beta/deviceManagement/groupPolicyDefinitions");
    let definition_id = value.pointer("/definition/id").and_then(Value::as_str).unwrap_or_default();
    let presentations: Vec<Value> = value
        .get("presentationValues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let mut body = match item_body(p) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let presentation_id = p.pointer("/presentation/id").and_then(Value::as_str).unwrap_or_default();
            body.remove("presentation");
            body.insert(
                "presentation@odata.bind".into(),
                json!(format!("{definitions}('{definition_id}')/presentations('{presentation_id}')")),
            );
            Value::Object(body)
        })
        .collect();
    let mut body = match item_body(value) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    body.remove("definition");
    body.insert("definition@odata.bind".into(), json!(format!("{definitions}('{definition_id}')")));
    body.insert("presentationValues".into(), Value::Array(presentations));
    Value::Object(body)
}

impl GraphClient {
    /// The collections an object could be in: by its `@odata.type` where the
    /// type has one typed collection per platform, else all of them.
    fn candidates(kind: Kind, body: &Map<String, Value>) -> Vec<&'static Collection> {
        let typed = body.get("@odata.type").and_then(Value::as_str);
        match typed.and_then(|t| kind.collections.iter().find(|c| c.item_type == Some(t))) {
            Some(c) => vec![c],
            None => kind.collections.iter().collect(),
        }
    }

    async fn post_action(&self, url: &str, body: Value) -> Result<(), ProviderError> {
        self.request(Method::POST, url, Some(&body)).await.map(|_| ())
    }

    pub(crate) async fn create_object(&self, kind: Kind, payload: &Value) -> Result<RemoteObject, ProviderError> {
        let mut body = writable(kind, payload)?;
        if kind.singleton {
            return Err(ProviderError::Other(format!("{} is a singleton: it is never created", kind.label)));
        }
        let candidates = Self::candidates(kind, &body);
        let [c] = candidates.as_slice() else {
            return Err(ProviderError::Other(format!(
                "a new {} needs an @odata.type naming its platform collection",
                kind.key
            )));
        };
        // Members written after the object exists.
        let mut later: Option<(&'static str, Value)> = None;
        let mut created = match kind.write {
            Write::TemplateInstance { member } => {
                let template = body.get("templateId").and_then(Value::as_str).unwrap_or_default().to_owned();
                if template.is_empty() {
                    return Err(ProviderError::Other(format!("a new {} needs its templateId", kind.key)));
                }
                let settings: Vec<Value> = items_of(body.get(member).cloned()).iter().map(item_body).collect();
                let instance = json!({
                    "displayName": body.get("displayName"),
                    "description": body.get("description"),
                    "settingsDelta": settings,
                    "roleScopeTagIds": body.get("roleScopeTagIds").cloned().unwrap_or(json!([])),
                });
                let url = self.url(
                    c.version.as_str(),
                    &format!("deviceManagement/templates/{}/createInstance", segment(&template)),
                );
                self.send(Method::POST, &url, Some(&instance), Repeat::OnlyIfUnapplied).await?
            }
            _ => {
                match kind.write {
                    Write::PatchAndAction { member, in_create: false, .. } | Write::PatchAndItems { member, .. } => {
                        later = body.remove(member).map(|v| (member, v));
                    }
                    Write::DefinitionValues => later = body.remove("definitionValues").map(|v| ("definitionValues", v)),
                    _ => {}
                }
                let sent = Value::Object(body.clone());
                self.send(Method::POST, &self.collection_url(c), Some(&sent), Repeat::OnlyIfUnapplied).await?
            }
        };
        if !created.is_object() {
            return Err(ProviderError::Other(format!("creating a {} returned no object", kind.key)));
        }
        let id = created.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let url = self.object_url(kind, c, &id);
        if let Some((member, value)) = later {
            match kind.write {
                Write::PatchAndAction { action, body_key, .. } => {
                    self.post_action(&format!("{url}/{action}"), json!({ body_key: value })).await?;
                }
                Write::PatchAndItems { .. } => {
                    for item in items_of(Some(value.clone())) {
                        self.send(
                            Method::POST,
                            &format!("{url}/{member}"),
                            Some(&item_body(&item)),
                            Repeat::OnlyIfUnapplied,
                        )
                        .await?;
                    }
                }
                Write::DefinitionValues => {
                    let added: Vec<Value> = items_of(Some(value.clone()))
                        .iter()
                        .map(|v| bound_definition_value(&self.config.graph_url, v))
                        .collect();
                    let update = json!({"added": added, "updated": [], "deletedIds": []});
                    self.post_action(&format!("{url}/updateDefinitionValues"), update).await?;
                }
                _ => {}
            }
            insert_missing(&mut created, member, || value);
        }
        // Graph's answer to a create leaves navigation members out; the object has them.
        for member in kind.navigation_members() {
            if let Some(v) = body.get(member) {
                insert_missing(&mut created, member, || v.clone());
            }
        }
        if let Some(item_type) = c.item_type {
            insert_missing(&mut created, "@odata.type", || Value::String(item_type.into()));
        }
        remote(kind, created)
    }

    /// Applies the body as a PATCH (see `Provider::update_object`); a 404
    /// from every candidate collection means the object is gone.
    pub(crate) async fn update_object(
        &self,
        kind: Kind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError> {
        let content = writable(kind, payload)?;
        for c in Self::candidates(kind, &content) {
            match self.update_in(kind, c, id, content.clone()).await {
                Ok(()) => {
                    let mut updated = content.clone();
                    updated.insert("id".into(), Value::String(id.to_owned()));
                    updated.retain(|_, v| !v.is_null());
                    let mut updated = Value::Object(updated);
                    if let Some(item_type) = c.item_type {
                        insert_missing(&mut updated, "@odata.type", || Value::String(item_type.into()));
                    }
                    return remote(kind, updated).map(UpdateOutcome::Updated);
                }
                Err(ProviderError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(UpdateOutcome::Gone)
    }

    async fn update_in(
        &self,
        kind: Kind,
        c: &Collection,
        id: &str,
        mut body: Map<String, Value>,
    ) -> Result<(), ProviderError> {
        let url = self.object_url(kind, c, id);
        let object = url.as_str();
        let patch = |body: Map<String, Value>| async move {
            // `@odata.type` alone is no change: skip the request.
            if body.keys().any(|k| k != "@odata.type") {
                self.request(Method::PATCH, object, Some(&Value::Object(body))).await?;
            } else {
                // Still prove the object exists, so that a gone one is `Gone`.
                self.get(object).await?;
            }
            Ok::<(), ProviderError>(())
        };
        match kind.write {
            Write::ReadOnly { .. } => Err(ProviderError::Other(format!("{} cannot be written", kind.label))),
            Write::Patch => patch(body).await,
            Write::Put { .. } => self.request(Method::PUT, &url, Some(&Value::Object(body))).await.map(|_| ()),
            Write::PatchAndAction { member, action, body_key, .. } => {
                let value = body.remove(member);
                patch(body).await?;
                match value {
                    Some(v) if !v.is_null() => {
                        self.post_action(&format!("{url}/{action}"), json!({ body_key: v })).await
                    }
                    _ => Ok(()),
                }
            }
            Write::PatchAndItems { member, key } => {
                let value = body.remove(member);
                patch(body).await?;
                match value {
                    Some(v) if !v.is_null() => {
                        self.replace_items(&format!("{url}/{member}"), key, &items_of(Some(v))).await
                    }
                    _ => Ok(()),
                }
            }
            Write::TemplateInstance { member } => {
                let settings = body.remove(member);
                // The template of an intent never changes.
                body.remove("templateId");
                patch(body).await?;
                match settings {
                    Some(Value::Array(settings)) => {
                        let settings: Vec<Value> = settings.iter().map(item_body).collect();
                        self.post_action(&format!("{url}/updateSettings"), json!({ "settings": settings })).await
                    }
                    _ => Ok(()),
                }
            }
            Write::DefinitionValues => {
                let values = body.remove("definitionValues");
                patch(body).await?;
                let Some(Value::Array(values)) = values else { return Ok(()) };
                // Settles on the backup: every live value goes, the backup's come in.
                let live = self.collect(&format!("{url}/definitionValues")).await?;
                let deleted: Vec<Value> = live.iter().filter_map(|v| v.get("id").cloned()).collect();
                let added: Vec<Value> =
                    values.iter().map(|v| bound_definition_value(&self.config.graph_url, v)).collect();
                let update = json!({"added": added, "updated": [], "deletedIds": deleted});
                self.post_action(&format!("{url}/updateDefinitionValues"), update).await
            }
        }
    }

    /// Makes a contained collection hold `desired`, matching items on `key`:
    /// changed ones are patched, new ones posted, extra ones deleted.
    async fn replace_items(&self, url: &str, key: &str, desired: &[Value]) -> Result<(), ProviderError> {
        let live = self.collect(url).await?;
        let key_of = |v: &Value| v.get(key).and_then(Value::as_str).map(str::to_owned);
        for want in desired {
            let found = live.iter().find(|l| key_of(l).is_some() && key_of(l) == key_of(want));
            match found {
                Some(have) if item_body(have) == item_body(want) => {}
                Some(have) => {
                    let item_id = have.get("id").and_then(Value::as_str).unwrap_or_default();
                    self.request(Method::PATCH, &format!("{url}/{}", segment(item_id)), Some(&item_body(want))).await?;
                }
                None => {
                    self.send(Method::POST, url, Some(&item_body(want)), Repeat::OnlyIfUnapplied).await?;
                }
            }
        }
        for have in &live {
            if !desired.iter().any(|w| key_of(w).is_some() && key_of(w) == key_of(have)) {
                let item_id = have.get("id").and_then(Value::as_str).unwrap_or_default();
                self.request(Method::DELETE, &format!("{url}/{}", segment(item_id)), None).await?;
            }
        }
        Ok(())
    }
}
