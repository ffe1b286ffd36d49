//! Where each kind lives in Graph, and what a complete object is.
//!
//! | kind | collection |
//! | --- | --- |
//! | device_configuration | v1.0 `deviceManagement/deviceConfigurations` |
//! | compliance_policy | v1.0 `deviceManagement/deviceCompliancePolicies` (with `scheduledActionsForRule` expanded) |
//! | configuration_policy | beta `deviceManagement/configurationPolicies` (+ `/settings`) |
//! | app_protection_policy | v1.0 `deviceAppManagement/iosManagedAppProtections` and `androidManagedAppProtections` |
//! | device_management_script | beta `deviceManagement/deviceManagementScripts` (content from the single GET) |
//! | assignment_filter | beta `deviceManagement/assignmentFilters` |
//! | role_scope_tag | beta `deviceManagement/roleScopeTags` |
//!
//! Assignments are read and written through beta for every kind: only beta
//! carries the assignment-filter members of a target and `source`/`intent`,
//! so v1.0 would silently drop filters on a restore.

use reqwest::Method;
use serde_json::{Map, Value};

use super::client::{segment, GraphClient, Repeat};
use crate::{ObjectKind, ProviderError, RemoteObject, UpdateOutcome, SERVER_MANAGED_MEMBERS};

const ASSIGNMENTS_VERSION: &str = "beta";
/// Members of a listed assignment that Graph sets itself; the `/assign`
/// body carries only the assignment's type and target.
const ASSIGNMENT_READ_ONLY: &[&str] = &["id", "source", "sourceId", "intent"];
/// Compliance policies are listed and read with their scheduled actions,
/// which a create needs (Graph requires a block action) and a backup keeps.
const COMPLIANCE_EXPAND: &str = "$expand=scheduledActionsForRule($expand=scheduledActionConfigurations)";

pub(crate) struct Collection {
    /// The `@odata.type` of the items of a typed collection, which Graph
    /// leaves out of them (minimal metadata) but a restore needs to know
    /// which collection to create an object in.
    pub(crate) item_type: Option<&'static str>,
    pub(crate) path: &'static str,
    pub(crate) version: &'static str,
}

const fn collection(version: &'static str, path: &'static str) -> Collection {
    Collection { item_type: None, path, version }
}

const DEVICE_CONFIGURATIONS: [Collection; 1] = [collection("v1.0", "deviceManagement/deviceConfigurations")];
const COMPLIANCE_POLICIES: [Collection; 1] = [collection("v1.0", "deviceManagement/deviceCompliancePolicies")];
const CONFIGURATION_POLICIES: [Collection; 1] = [collection("beta", "deviceManagement/configurationPolicies")];
const APP_PROTECTION_POLICIES: [Collection; 2] = [
    Collection {
        item_type: Some("#microsoft.graph.iosManagedAppProtection"),
        path: "deviceAppManagement/iosManagedAppProtections",
        version: "v1.0",
    },
    Collection {
        item_type: Some("#microsoft.graph.androidManagedAppProtection"),
        path: "deviceAppManagement/androidManagedAppProtections",
        version: "v1.0",
    },
];
const SCRIPTS: [Collection; 1] = [collection("beta", "deviceManagement/deviceManagementScripts")];
const ASSIGNMENT_FILTERS: [Collection; 1] = [collection("beta", "deviceManagement/assignmentFilters")];
const ROLE_SCOPE_TAGS: [Collection; 1] = [collection("beta", "deviceManagement/roleScopeTags")];

pub(crate) fn collections(kind: ObjectKind) -> &'static [Collection] {
    match kind {
        ObjectKind::DeviceConfiguration => &DEVICE_CONFIGURATIONS,
        ObjectKind::CompliancePolicy => &COMPLIANCE_POLICIES,
        ObjectKind::ConfigurationPolicy => &CONFIGURATION_POLICIES,
        ObjectKind::AppProtectionPolicy => &APP_PROTECTION_POLICIES,
        ObjectKind::DeviceManagementScript => &SCRIPTS,
        ObjectKind::AssignmentFilter => &ASSIGNMENT_FILTERS,
        ObjectKind::RoleScopeTag => &ROLE_SCOPE_TAGS,
    }
}

/// The `@odata.type` of one item of an `/assign` body, and the body's key.
fn assign_shape(kind: ObjectKind) -> (&'static str, &'static str) {
    match kind {
        ObjectKind::CompliancePolicy => ("#microsoft.graph.deviceCompliancePolicyAssignment", "assignments"),
        ObjectKind::ConfigurationPolicy => {
            ("#microsoft.graph.deviceManagementConfigurationPolicyAssignment", "assignments")
        }
        ObjectKind::AppProtectionPolicy => ("#microsoft.graph.targetedManagedAppPolicyAssignment", "assignments"),
        ObjectKind::DeviceManagementScript => {
            ("#microsoft.graph.deviceManagementScriptAssignment", "deviceManagementScriptAssignments")
        }
        _ => ("#microsoft.graph.deviceConfigurationAssignment", "assignments"),
    }
}

fn query(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::CompliancePolicy => COMPLIANCE_EXPAND,
        _ => "",
    }
}

fn with_query(url: String, query: &str) -> String {
    if query.is_empty() {
        url
    } else {
        format!("{url}?{query}")
    }
}

/// A request body: the payload's members less those the service manages.
fn writable(payload: &Value) -> Result<Map<String, Value>, ProviderError> {
    let Value::Object(members) = payload else {
        return Err(ProviderError::Other("the payload must be a JSON object".into()));
    };
    let mut body = members.clone();
    for m in SERVER_MANAGED_MEMBERS {
        body.remove(*m);
    }
    Ok(body)
}

/// The object as the product sees it: `displayName` (or a settings-catalog
/// policy's `name`), else its id.
fn remote(kind: ObjectKind, mut payload: Value) -> Result<RemoteObject, ProviderError> {
    if let Value::Object(m) = &mut payload {
        m.remove("@odata.context");
    }
    let id = payload
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Other(format!("Graph returned a {} without an id", kind.as_str())))?
        .to_owned();
    let display_name =
        ["displayName", "name"].iter().find_map(|k| payload.get(*k).and_then(Value::as_str)).unwrap_or(&id).to_owned();
    Ok(RemoteObject { kind, id, display_name, payload })
}

fn insert_missing(payload: &mut Value, key: &str, value: impl FnOnce() -> Value) {
    if let Value::Object(m) = payload {
        if m.get(key).is_none_or(Value::is_null) {
            m.insert(key.to_owned(), value());
        }
    }
}

impl GraphClient {
    fn object_url(&self, c: &Collection, id: &str) -> String {
        self.url(c.version, &format!("{}/{}", c.path, segment(id)))
    }

    fn assignments_url(&self, c: &Collection, id: &str, action: &str) -> String {
        self.url(ASSIGNMENTS_VERSION, &format!("{}/{}/{action}", c.path, segment(id)))
    }

    pub(crate) async fn list_objects(&self, kind: ObjectKind) -> Result<Vec<RemoteObject>, ProviderError> {
        let mut objects = Vec::new();
        for c in collections(kind) {
            for item in self.collect(&with_query(self.url(c.version, c.path), query(kind))).await? {
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

    pub(crate) async fn get_object(&self, kind: ObjectKind, id: &str) -> Result<Option<RemoteObject>, ProviderError> {
        for c in collections(kind) {
            match self.get(&with_query(self.object_url(c, id), query(kind))).await {
                Ok(item) => {
                    return match self.complete(kind, c, item, true).await {
                        Ok(object) => Ok(Some(object)),
                        Err(ProviderError::NotFound(_)) => Ok(None),
                        Err(e) => Err(e),
                    }
                }
                Err(ProviderError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Adds what the item alone lacks: a settings-catalog policy's settings,
    /// a script's content (`null` in lists), a typed collection's item type.
    async fn complete(
        &self,
        kind: ObjectKind,
        c: &Collection,
        mut item: Value,
        single_get: bool,
    ) -> Result<RemoteObject, ProviderError> {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        match kind {
            ObjectKind::ConfigurationPolicy => {
                let settings = self.collect(&format!("{}/settings", self.object_url(c, &id))).await?;
                if let Value::Object(m) = &mut item {
                    m.insert("settings".into(), Value::Array(settings));
                }
            }
            ObjectKind::DeviceManagementScript if !single_get => item = self.get(&self.object_url(c, &id)).await?,
            _ => {}
        }
        if let Some(item_type) = c.item_type {
            insert_missing(&mut item, "@odata.type", || Value::String(item_type.into()));
        }
        remote(kind, item)
    }

    /// The collections an object could be in: app protection policies by
    /// their `@odata.type` when the payload says, else both platforms.
    fn candidates(kind: ObjectKind, payload: Option<&Map<String, Value>>) -> Vec<&'static Collection> {
        let all = collections(kind);
        let typed = payload.and_then(|p| p.get("@odata.type")).and_then(Value::as_str);
        match typed.and_then(|t| all.iter().find(|c| c.item_type == Some(t))) {
            Some(c) => vec![c],
            None => all.iter().collect(),
        }
    }

    pub(crate) async fn create_object(&self, kind: ObjectKind, payload: &Value) -> Result<RemoteObject, ProviderError> {
        let body = writable(payload)?;
        let candidates = Self::candidates(kind, Some(&body));
        let [c] = candidates.as_slice() else {
            return Err(ProviderError::Other(format!(
                "a new {} needs an @odata.type naming its platform collection",
                kind.as_str()
            )));
        };
        let url = self.url(c.version, c.path);
        let sent = Value::Object(body.clone());
        let mut created = self.send(Method::POST, &url, Some(&sent), Repeat::OnlyIfUnapplied).await?;
        if !created.is_object() {
            return Err(ProviderError::Other(format!("creating a {} returned no object", kind.as_str())));
        }
        // Graph's answer to a settings-catalog create leaves the settings out.
        if kind == ObjectKind::ConfigurationPolicy {
            insert_missing(&mut created, "settings", || {
                body.get("settings").cloned().unwrap_or(Value::Array(Vec::new()))
            });
        }
        if let Some(item_type) = c.item_type {
            insert_missing(&mut created, "@odata.type", || Value::String(item_type.into()));
        }
        remote(kind, created)
    }

    /// PATCH, except for settings-catalog policies: Graph refuses a PATCH
    /// that touches their `settings` (a navigation property), so those are
    /// replaced whole with PUT. A 404 from every candidate collection means
    /// the object is gone.
    pub(crate) async fn update_object(
        &self,
        kind: ObjectKind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError> {
        let content = writable(payload)?;
        let mut body = content.clone();
        let method = if kind == ObjectKind::ConfigurationPolicy { Method::PUT } else { Method::PATCH };
        if kind == ObjectKind::CompliancePolicy {
            // An expanded navigation property; PATCH rejects it, and the
            // scheduled actions are kept by the service as they are.
            body.remove("scheduledActionsForRule");
        }
        let body = Value::Object(body);
        for c in Self::candidates(kind, Some(&content)) {
            match self.request(method.clone(), &self.object_url(c, id), Some(&body)).await {
                Ok(answer) => {
                    // Intune usually answers 204; then the object is what we sent.
                    let mut updated = match answer {
                        Value::Object(m) if m.contains_key("id") => Value::Object(m),
                        _ => {
                            let mut sent = content.clone();
                            sent.insert("id".into(), Value::String(id.to_owned()));
                            Value::Object(sent)
                        }
                    };
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

    pub(crate) async fn list_assignments(&self, kind: ObjectKind, id: &str) -> Result<Vec<Value>, ProviderError> {
        if !kind.assignable() {
            return Ok(Vec::new());
        }
        let mut last = None;
        for c in collections(kind) {
            match self.collect(&self.assignments_url(c, id, "assignments")).await {
                Err(ProviderError::NotFound(why)) => last = Some(why),
                other => return other,
            }
        }
        Err(ProviderError::NotFound(last.unwrap_or_else(|| format!("{} {id}", kind.as_str()))))
    }

    /// Replaces the object's assignments with `assignments` (Graph's `/assign`
    /// takes the whole desired set). Each item is sent as its type and
    /// target only, the shape `/assign` documents.
    pub(crate) async fn set_assignments(
        &self,
        kind: ObjectKind,
        id: &str,
        assignments: &[Value],
    ) -> Result<(), ProviderError> {
        if !kind.assignable() {
            return Err(ProviderError::Other(format!("{} objects have no assignments", kind.as_str())));
        }
        let (item_type, key) = assign_shape(kind);
        let items = assignments
            .iter()
            .map(|a| {
                let mut a = match a {
                    Value::Object(m) if m.get("target").is_some_and(Value::is_object) => m.clone(),
                    _ => return Err(ProviderError::Other("an assignment must be an object with a target".into())),
                };
                for m in ASSIGNMENT_READ_ONLY {
                    a.remove(*m);
                }
                a.entry("@odata.type").or_insert_with(|| Value::String(item_type.into()));
                Ok(Value::Object(a))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut body = Map::new();
        body.insert(key.into(), Value::Array(items));
        let body = Value::Object(body);
        let mut last = None;
        for c in collections(kind) {
            match self.request(Method::POST, &self.assignments_url(c, id, "assign"), Some(&body)).await {
                Ok(_) => return Ok(()),
                Err(ProviderError::NotFound(why)) => last = Some(why),
                Err(e) => return Err(e),
            }
        }
        Err(ProviderError::NotFound(last.unwrap_or_else(|| format!("{} {id}", kind.as_str()))))
    }
}
