//! A stateful fake Microsoft Graph (and Entra token endpoint) on wiremock,
//! for the engine's Graph contract tests.
//!
//! Unlike the provider's own tests, which mount one canned answer per
//! request, this fake keeps a tenant: it is seeded from the Graph-shaped
//! fixtures in `tests/fixtures/graph/` and answers from that state, so that a
//! create, update or `/assign` changes what later GETs return. It behaves as
//! the fixtures' README describes Graph:
//!
//! * `POST /{tid}/oauth2/v2.0/token` checks the client-credentials form (tenant,
//!   client id, secret, `scope={graph}/.default`) and issues an unsigned JWT
//!   whose `roles` are the roles granted at that moment ([`FakeGraph::grant`]).
//! * Graph calls need a bearer token the fake issued (else 401). Each area
//!   needs its application permission, from the token's roles (else 403 in
//!   the Intune or directory envelope): `deviceManagement/*` needs
//!   DeviceManagementConfiguration.ReadWrite.All, `deviceAppManagement/*`
//!   DeviceManagementApps.ReadWrite.All, `groups/*` Group.Read.All.
//!   [`FakeGraph::deny`] refuses a permission whatever the token says.
//! * Collections are paged (`@odata.nextLink`, an absolute URL with an opaque
//!   `$skiptoken`), `$select` projects, compliance policies carry
//!   `scheduledActionsForRule` only under `$expand`, scripts have
//!   `scriptContent: null` in lists, settings-catalog policies keep their
//!   settings behind `/settings`, typed collections (MAM) leave `@odata.type`
//!   out of their items, and beta-only collections answer 400 under v1.0.
//! * Writes: POST creates (server-assigned id and dates; a polymorphic
//!   collection needs `@odata.type`; a compliance policy needs a block action),
//!   PATCH merges (navigation properties refused), PUT replaces a
//!   settings-catalog policy with its settings, `POST …/assign` replaces the
//!   assignment set and answers it, DELETE removes. Unknown ids are 404
//!   (Intune envelope), unknown groups 404 (directory envelope).
//!
//! Every request stays recorded by wiremock, so tests can count what a run
//! sent (and prove a blocked run sent nothing).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use atlas_providers::ObjectKind;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The customer's Entra tenant (`tid`) of the fixtures.
pub const TENANT: &str = "1e250c70-dff6-4e52-8690-a9c144e7cf0f";
/// The app registration (`appid`) of the fixtures.
pub const CLIENT_ID: &str = "8db8df93-edd5-4cd5-86b3-bc355166765c";

pub const CONFIGURATION: &str = "DeviceManagementConfiguration.ReadWrite.All";
pub const APPS: &str = "DeviceManagementApps.ReadWrite.All";
pub const SERVICE_CONFIG: &str = "DeviceManagementServiceConfig.ReadWrite.All";
pub const GROUPS: &str = "Group.Read.All";
/// The four application permissions of token.json.
pub const ALL_ROLES: [&str; 4] = [CONFIGURATION, APPS, SERVICE_CONFIG, GROUPS];

pub const CONFIGS: &str = "deviceManagement/deviceConfigurations";
pub const COMPLIANCE: &str = "deviceManagement/deviceCompliancePolicies";
pub const SETTINGS_CATALOG: &str = "deviceManagement/configurationPolicies";
pub const IOS_MAM: &str = "deviceAppManagement/iosManagedAppProtections";
pub const ANDROID_MAM: &str = "deviceAppManagement/androidManagedAppProtections";
pub const SCRIPTS: &str = "deviceManagement/deviceManagementScripts";
pub const FILTERS: &str = "deviceManagement/assignmentFilters";
pub const SCOPE_TAGS: &str = "deviceManagement/roleScopeTags";

/// "[Baseline] Windows - Device Restrictions", the object with assignments.
pub const BASELINE: &str = "8d4d2cd6-1c9c-4db1-937d-d03b94b09201";
/// The id Intune uses for "All devices" in assignment ids.
const ALL_DEVICES: &str = "adadadad-808e-44e2-905a-0b7873a8a531";
const ALL_USERS: &str = "acacacac-9df4-4c7d-9d50-4ef0226f57a9";

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<serde_json::Value>(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/graph/",
            $name
        )))
        .expect($name)
    };
}
pub(crate) use fixture;

/// One collection of the fake tenant.
struct Spec {
    path: &'static str,
    kind: ObjectKind,
    versions: &'static [&'static str],
    permission: &'static str,
    /// The type of every item of a typed collection (left out of its items).
    item_type: Option<&'static str>,
    /// Items carry `@odata.type` and a create must name it.
    polymorphic: bool,
}

const BOTH: &[&str] = &["v1.0", "beta"];
const BETA: &[&str] = &["beta"];

const SPECS: &[Spec] = &[
    Spec {
        path: CONFIGS,
        kind: ObjectKind::DeviceConfiguration,
        versions: BOTH,
        permission: CONFIGURATION,
        item_type: None,
        polymorphic: true,
    },
    Spec {
        path: COMPLIANCE,
        kind: ObjectKind::CompliancePolicy,
        versions: BOTH,
        permission: CONFIGURATION,
        item_type: None,
        polymorphic: true,
    },
    Spec {
        path: SETTINGS_CATALOG,
        kind: ObjectKind::ConfigurationPolicy,
        versions: BETA,
        permission: CONFIGURATION,
        item_type: None,
        polymorphic: false,
    },
    Spec {
        path: IOS_MAM,
        kind: ObjectKind::AppProtectionPolicy,
        versions: BOTH,
        permission: APPS,
        item_type: Some("#microsoft.graph.iosManagedAppProtection"),
        polymorphic: false,
    },
    Spec {
        path: ANDROID_MAM,
        kind: ObjectKind::AppProtectionPolicy,
        versions: BOTH,
        permission: APPS,
        item_type: Some("#microsoft.graph.androidManagedAppProtection"),
        polymorphic: false,
    },
    Spec {
        path: SCRIPTS,
        kind: ObjectKind::DeviceManagementScript,
        versions: BETA,
        permission: CONFIGURATION,
        item_type: None,
        polymorphic: false,
    },
    Spec {
        path: FILTERS,
        kind: ObjectKind::AssignmentFilter,
        versions: BETA,
        permission: CONFIGURATION,
        item_type: None,
        polymorphic: false,
    },
    Spec {
        path: SCOPE_TAGS,
        kind: ObjectKind::RoleScopeTag,
        versions: BETA,
        permission: CONFIGURATION,
        item_type: None,
        polymorphic: false,
    },
];

fn spec(path: &str) -> &'static Spec {
    SPECS.iter().find(|s| s.path == path).unwrap_or_else(|| panic!("no collection {path}"))
}

/// The collections holding objects of `kind`.
pub fn paths_of(kind: ObjectKind) -> Vec<&'static str> {
    SPECS.iter().filter(|s| s.kind == kind).map(|s| s.path).collect()
}

/// Members a PATCH may not carry: navigation properties.
const NAVIGATION: &[&str] = &["scheduledActionsForRule", "assignments", "settings", "deviceStatusOverview"];
/// Members the service sets; ignored in write bodies.
const READ_ONLY: &[&str] = &["id", "createdDateTime", "lastModifiedDateTime", "version", "@odata.context"];

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn is_token(&self) -> bool {
        self.path.ends_with("/oauth2/v2.0/token")
    }

    pub fn is_write(&self) -> bool {
        !self.is_token() && self.method != "GET"
    }

    /// `METHOD /path`, the way tests compare requests.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

struct State {
    base: String,
    secret: String,
    roles: Vec<String>,
    denied: HashSet<String>,
    /// Access token → the roles it was issued with.
    tokens: HashMap<String, Vec<String>>,
    objects: BTreeMap<&'static str, Vec<Value>>,
    /// Settings-catalog policy id → its settings.
    settings: HashMap<String, Vec<Value>>,
    /// (collection, object id) → assignments as Graph lists them.
    assignments: HashMap<(&'static str, String), Vec<Value>>,
    groups: Vec<Value>,
    overviews: HashMap<String, Value>,
    page_size: usize,
    seq: u64,
}

pub struct FakeGraph {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeGraph {
    /// A fake tenant seeded from the fixtures, accepting `secret` as the app's
    /// client secret and granting the four required roles.
    pub async fn start(secret: &str) -> FakeGraph {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::seeded(server.uri(), secret)));
        Mock::given(any()).respond_with(Router(state.clone())).mount(&server).await;
        FakeGraph { server, state }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The roles tokens issued from now on carry.
    pub fn grant(&self, roles: &[&str]) {
        self.state().roles = roles.iter().map(|r| (*r).to_owned()).collect();
    }

    /// Refuses `permission` (403) whatever the token says, as after a revoked consent.
    pub fn deny(&self, permission: &str) {
        self.state().denied.insert(permission.to_owned());
    }

    /// Every access token the fake issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().tokens.keys().cloned().collect()
    }

    /// Every request received, in order.
    pub async fn requests(&self) -> Vec<Seen> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| Seen {
                method: r.method.as_str().to_owned(),
                path: r.url.path().to_owned(),
                query: r.url.query().unwrap_or_default().to_owned(),
                body: r.body,
            })
            .collect()
    }

    pub async fn request_count(&self) -> usize {
        self.requests().await.len()
    }

    /// The requests received after the first `n`.
    pub async fn requests_since(&self, n: usize) -> Vec<Seen> {
        self.requests().await.into_iter().skip(n).collect()
    }

    /// The stored items of a collection (as a full GET would show them).
    pub fn objects(&self, path: &str) -> Vec<Value> {
        self.state().objects.get(spec(path).path).cloned().unwrap_or_default()
    }

    /// How many objects of `kind` the tenant holds.
    pub fn count(&self, kind: ObjectKind) -> usize {
        paths_of(kind).iter().map(|p| self.objects(p).len()).sum()
    }

    /// An object of `kind` as the provider reads it whole: with a
    /// settings-catalog policy's settings and a typed collection's item type.
    pub fn view(&self, kind: ObjectKind, id: &str) -> Option<Value> {
        let s = self.state();
        for path in paths_of(kind) {
            let spec = spec(path);
            if let Some(item) = s.find(spec.path, id) {
                let mut item = item.clone();
                if kind == ObjectKind::ConfigurationPolicy {
                    item["settings"] = Value::Array(s.settings.get(id).cloned().unwrap_or_default());
                }
                if let Some(t) = spec.item_type {
                    item["@odata.type"] = json!(t);
                }
                return Some(item);
            }
        }
        None
    }

    /// The whole tenant, for before/after comparisons.
    pub fn snapshot(&self) -> Value {
        let s = self.state();
        let mut assignments: Vec<(String, Value)> =
            s.assignments.iter().map(|((p, id), a)| (format!("{p}/{id}"), Value::Array(a.clone()))).collect();
        assignments.sort_by(|a, b| a.0.cmp(&b.0));
        let mut settings: Vec<(String, Value)> =
            s.settings.iter().map(|(id, v)| (id.clone(), Value::Array(v.clone()))).collect();
        settings.sort_by(|a, b| a.0.cmp(&b.0));
        json!({
            "objects": s.objects,
            "settings": settings,
            "assignments": assignments,
            "groups": s.groups,
        })
    }

    /// Changes an object in place, as an administrator in the Intune portal would.
    pub fn edit(&self, path: &str, id: &str, change: impl FnOnce(&mut Value)) {
        let mut s = self.state();
        let stamp = s.stamp();
        let item = s.find_mut(spec(path).path, id).unwrap_or_else(|| panic!("no {path}/{id}"));
        change(item);
        item["lastModifiedDateTime"] = json!(stamp);
    }

    /// Changes a settings-catalog policy's settings.
    pub fn edit_settings(&self, id: &str, change: impl FnOnce(&mut Vec<Value>)) {
        let mut s = self.state();
        assert!(s.find(SETTINGS_CATALOG, id).is_some(), "no settings-catalog policy {id}");
        change(s.settings.entry(id.to_owned()).or_default());
    }

    /// Deletes an object (and its settings and assignments).
    pub fn delete(&self, path: &str, id: &str) {
        let mut s = self.state();
        assert!(s.remove(spec(path).path, id), "no {path}/{id}");
    }

    pub fn assignments(&self, path: &str, id: &str) -> Vec<Value> {
        self.state().assignments.get(&(spec(path).path, id.to_owned())).cloned().unwrap_or_default()
    }

    /// Applies an `/assign` body directly (as another admin tool would) and
    /// returns the assignments Graph would answer.
    pub fn assign(&self, path: &str, id: &str, body: &Value) -> Vec<Value> {
        let spec = spec(path);
        let mut s = self.state();
        match s.assign(spec, id, body) {
            Ok(list) => list,
            Err((status, why)) => panic!("assign refused ({status}): {why}"),
        }
    }

    /// Deletes a group from the directory.
    pub fn delete_group(&self, id: &str) {
        self.state().groups.retain(|g| g["id"] != id);
    }
}

impl State {
    fn seeded(base: String, secret: &str) -> State {
        let list = |v: Value| -> Vec<Value> {
            v["value"].as_array().cloned().unwrap_or_default().into_iter().map(strip_context).collect()
        };
        let mut objects = BTreeMap::new();
        let mut configs = list(fixture!("v1.0_deviceManagement_deviceConfigurations_page1.json"));
        configs.extend(list(fixture!("v1.0_deviceManagement_deviceConfigurations_page2.json")));
        objects.insert(CONFIGS, configs);
        objects.insert(COMPLIANCE, list(fixture!("v1.0_deviceManagement_deviceCompliancePolicies.json")));
        objects.insert(SETTINGS_CATALOG, list(fixture!("beta_deviceManagement_configurationPolicies.json")));
        objects.insert(IOS_MAM, list(fixture!("v1.0_deviceAppManagement_iosManagedAppProtections.json")));
        objects.insert(ANDROID_MAM, list(fixture!("v1.0_deviceAppManagement_androidManagedAppProtections.json")));
        // The list leaves scriptContent null; the single GET fixture has it.
        // The second script has no fixture of its own: its content is made up here.
        let full_script = strip_context(fixture!(
            "beta_deviceManagement_deviceManagementScripts_c98d5944-9f97-4362-8e97-b27d3cd9d890.json"
        ));
        let mut scripts = list(fixture!("beta_deviceManagement_deviceManagementScripts.json"));
        for script in &mut scripts {
            script["scriptContent"] = if script["id"] == full_script["id"] {
                full_script["scriptContent"].clone()
            } else {
                json!(base64::engine::general_purpose::STANDARD
                    .encode("New-PSDrive -Name P -PSProvider FileSystem -Root \\\\fab-fs01\\practice -Persist\r\n"))
            };
        }
        objects.insert(SCRIPTS, scripts);
        objects.insert(FILTERS, list(fixture!("beta_deviceManagement_assignmentFilters.json")));
        objects.insert(SCOPE_TAGS, list(fixture!("beta_deviceManagement_roleScopeTags.json")));

        let mut settings = HashMap::new();
        settings.insert(
            "9cb2b211-8b18-442f-a535-ce8771a3bb5a".to_owned(),
            list(fixture!(
                "beta_deviceManagement_configurationPolicies_9cb2b211-8b18-442f-a535-ce8771a3bb5a_settings.json"
            )),
        );
        settings.insert(
            "78a8ddaa-f74d-4e01-ba2c-55a884b9eb71".to_owned(),
            list(fixture!(
                "beta_deviceManagement_configurationPolicies_78a8ddaa-f74d-4e01-ba2c-55a884b9eb71_settings.json"
            )),
        );
        let mut assignments = HashMap::new();
        assignments.insert(
            (CONFIGS, BASELINE.to_owned()),
            list(fixture!(
                "beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assignments.json"
            )),
        );
        let overview = strip_context(fixture!(
            "v1.0_deviceManagement_deviceCompliancePolicies_fbabfd63-cc3a-4bd6-85b7-4005ca855dc8_deviceStatusOverview.json"
        ));
        let mut overviews = HashMap::new();
        overviews.insert(overview["id"].as_str().unwrap().to_owned(), overview);
        State {
            base,
            secret: secret.to_owned(),
            roles: ALL_ROLES.iter().map(|r| (*r).to_owned()).collect(),
            denied: HashSet::new(),
            tokens: HashMap::new(),
            objects,
            settings,
            assignments,
            groups: list(fixture!("v1.0_groups_select_id_displayName.json")),
            overviews,
            page_size: 5,
            seq: 0,
        }
    }

    fn stamp(&mut self) -> String {
        self.seq += 1;
        format!("2026-01-01T00:{:02}:{:02}.0000000Z", (self.seq / 60) % 60, self.seq % 60)
    }

    fn find(&self, path: &str, id: &str) -> Option<&Value> {
        self.objects.get(path)?.iter().find(|o| o["id"] == id)
    }

    fn find_mut(&mut self, path: &str, id: &str) -> Option<&mut Value> {
        self.objects.get_mut(path)?.iter_mut().find(|o| o["id"] == id)
    }

    fn remove(&mut self, path: &'static str, id: &str) -> bool {
        let Some(items) = self.objects.get_mut(path) else { return false };
        let before = items.len();
        items.retain(|o| o["id"] != id);
        self.settings.remove(id);
        self.assignments.remove(&(path, id.to_owned()));
        items.len() != before
    }

    fn handle(&mut self, req: &Request) -> ResponseTemplate {
        let path = req.url.path().to_owned();
        if path.ends_with("/oauth2/v2.0/token") {
            return self.token(req, &path);
        }
        let Some((version, rest)) = path.trim_start_matches('/').split_once('/') else {
            return bad_request("no version segment");
        };
        if !matches!(version, "v1.0" | "beta") {
            return bad_request(&format!("unknown version `{version}`"));
        }
        let bearer =
            req.headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
        let Some(roles) = bearer.and_then(|t| self.tokens.get(t)).cloned() else {
            return json_response(401, &fixture!("error_401_InvalidAuthenticationToken.json"));
        };
        let granted = |permission: &str| roles.iter().any(|r| r == permission) && !self.denied.contains(permission);
        let method = req.method.as_str().to_owned();

        if let Some(group) = rest.strip_prefix("groups/") {
            if !granted(GROUPS) {
                return json_response(403, &fixture!("error_403_Authorization_RequestDenied.json"));
            }
            if method != "GET" {
                return bad_request("groups are read-only here");
            }
            return match self.groups.iter().find(|g| g["id"] == group) {
                Some(g) => {
                    let context = format!("{}/{version}/$metadata#groups/$entity", self.base);
                    json_response(200, &select(req, with_context(g.clone(), context)))
                }
                None => json_response(404, &fixture!("error_404_Request_ResourceNotFound_directory.json")),
            };
        }
        let Some(spec) = SPECS.iter().find(|s| rest == s.path || rest.starts_with(&format!("{}/", s.path))) else {
            return bad_request(&format!("Resource not found for the segment '{rest}'."));
        };
        if !spec.versions.contains(&version) {
            let segment = spec.path.rsplit('/').next().unwrap_or_default();
            return bad_request(&format!("Resource not found for the segment '{segment}'."));
        }
        if !granted(spec.permission) {
            return forbidden(spec.permission);
        }
        let tail: Vec<&str> = rest[spec.path.len()..].split('/').filter(|s| !s.is_empty()).collect();
        let base = self.base.clone();
        let context = |what: &str| format!("{base}/{version}/$metadata#{what}");
        match (method.as_str(), tail.as_slice()) {
            ("GET", []) => {
                let items: Vec<Value> =
                    self.objects[spec.path].iter().map(|o| present(spec, o.clone(), req, true)).collect();
                self.page(req, context(spec.path), items)
            }
            ("POST", []) => self.create(spec, req, context(&format!("{}/$entity", spec.path))),
            ("GET", [id]) => match self.find(spec.path, id) {
                Some(o) => {
                    let o = present(spec, o.clone(), req, false);
                    json_response(200, &with_context(o, context(&format!("{}/$entity", spec.path))))
                }
                None => not_found(),
            },
            ("PATCH", [id]) => self.patch(spec, id, req),
            ("PUT", [id]) if spec.kind == ObjectKind::ConfigurationPolicy => self.put(spec, id, req),
            ("DELETE", [id]) => {
                if self.remove(spec.path, id) {
                    ResponseTemplate::new(204)
                } else {
                    not_found()
                }
            }
            ("GET", [id, "settings"]) if spec.kind == ObjectKind::ConfigurationPolicy => {
                if self.find(spec.path, id).is_none() {
                    return not_found();
                }
                let settings = self.settings.get(*id).cloned().unwrap_or_default();
                self.page(req, context(&format!("{}('{id}')/settings", spec.path)), settings)
            }
            ("GET", [id, "assignments"]) if spec.kind.assignable() => {
                if self.find(spec.path, id).is_none() {
                    return not_found();
                }
                let list = self.assignments.get(&(spec.path, (*id).to_owned())).cloned().unwrap_or_default();
                self.page(req, context(&format!("{}('{id}')/assignments", spec.path)), list)
            }
            ("POST", [id, "assign"]) if spec.kind.assignable() => {
                let body = match req.body_json::<Value>() {
                    Ok(b) => b,
                    Err(e) => return bad_request(&format!("the body is not JSON: {e}")),
                };
                match self.assign(spec, id, &body) {
                    Ok(list) => {
                        let context = context("Collection(microsoft.graph.deviceConfigurationAssignment)");
                        json_response(200, &json!({"@odata.context": context, "value": list}))
                    }
                    Err((404, _)) => not_found(),
                    Err((_, why)) => bad_request(&why),
                }
            }
            ("GET", [id, "deviceStatusOverview"]) if spec.kind == ObjectKind::CompliancePolicy => {
                if self.find(spec.path, id).is_none() {
                    return not_found();
                }
                let overview = self.overviews.get(*id).cloned().unwrap_or_else(|| {
                    json!({"id": id, "configurationVersion": 1, "pendingCount": 0, "notApplicableCount": 0,
                           "successCount": 0, "errorCount": 0, "failedCount": 0,
                           "lastUpdateDateTime": "0001-01-01T00:00:00Z"})
                });
                let context = context(&format!("{}('{id}')/deviceStatusOverview/$entity", spec.path));
                json_response(200, &with_context(overview, context))
            }
            _ => bad_request(&format!("No HTTP resource was found that matches {method} {path}.")),
        }
    }

    fn token(&mut self, req: &Request, path: &str) -> ResponseTemplate {
        let refuse = |status: u16, error: &str, description: &str| {
            json_response(status, &json!({"error": error, "error_description": description, "error_codes": [0]}))
        };
        if req.method.as_str() != "POST" {
            return refuse(405, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.");
        }
        let tid = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        if tid != TENANT {
            return refuse(400, "invalid_request", &format!("AADSTS90002: Tenant '{tid}' not found."));
        }
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        if field("grant_type") != "client_credentials" {
            return refuse(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
        }
        if field("client_id") != CLIENT_ID {
            return refuse(
                400,
                "unauthorized_client",
                &format!(
                    "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                    field("client_id")
                ),
            );
        }
        if field("client_secret") != self.secret {
            // Like Entra: the secret's id may be named, never its value.
            return refuse(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            );
        }
        if field("scope") != format!("{}/.default", self.base) {
            return refuse(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.");
        }
        self.seq += 1;
        let claims = fixture!("token.claims.json");
        let mut payload = claims["payload"].clone();
        payload["roles"] = json!(self.roles);
        payload["uti"] = json!(format!("fake-{}", self.seq));
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let mut header = claims["header"].clone();
        header["kid"] = json!("fake-graph-key-not-real");
        let token = format!("{}.{}.{}", part(&header), part(&payload), URL_SAFE_NO_PAD.encode("fake-graph-signature"));
        self.tokens.insert(token.clone(), self.roles.clone());
        json_response(
            200,
            &json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
        )
    }

    /// One page of `items`, with a `@odata.nextLink` when more follow.
    fn page(&self, req: &Request, context: String, items: Vec<Value>) -> ResponseTemplate {
        let skip = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "$skiptoken")
            .and_then(|(_, v)| URL_SAFE_NO_PAD.decode(v.as_bytes()).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| s.strip_prefix("skip=").and_then(|n| n.parse::<usize>().ok()))
            .unwrap_or(0);
        let end = (skip + self.page_size).min(items.len());
        let mut body = json!({"@odata.context": context, "value": items.get(skip..end).unwrap_or_default()});
        if end < items.len() {
            let mut url = req.url.clone();
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "$skiptoken")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("$skiptoken", &URL_SAFE_NO_PAD.encode(format!("skip={end}")));
            let link = format!("{}{}?{}", self.base, url.path(), url.query().unwrap_or_default());
            body["@odata.nextLink"] = json!(link);
        }
        json_response(200, &body)
    }

    fn create(&mut self, spec: &'static Spec, req: &Request, context: String) -> ResponseTemplate {
        let Ok(Value::Object(mut body)) = req.body_json::<Value>() else {
            return bad_request("the body must be a JSON object");
        };
        let odata_type = body.get("@odata.type").and_then(Value::as_str).map(str::to_owned);
        if spec.polymorphic && odata_type.is_none() {
            return bad_request("A type named '' could not be resolved by the model: @odata.type is required.");
        }
        if let (Some(expected), Some(given)) = (spec.item_type, odata_type.as_deref()) {
            if expected != given {
                return bad_request(&format!("{given} does not belong in {}", spec.path));
            }
        }
        if spec.kind == ObjectKind::CompliancePolicy {
            let block = body
                .get("scheduledActionsForRule")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|r| r["scheduledActionConfigurations"].as_array().cloned().unwrap_or_default())
                .any(|a| a["actionType"] == "block");
            if !block {
                return bad_request("A compliance policy needs a scheduled action of type block.");
            }
        }
        for m in READ_ONLY {
            body.remove(*m);
        }
        let settings = body.remove("settings");
        if spec.kind != ObjectKind::ConfigurationPolicy && settings.is_some() {
            return bad_request("settings is not a property of this type");
        }
        if spec.item_type.is_some() {
            body.remove("@odata.type");
        }
        let id = match spec.kind {
            ObjectKind::AppProtectionPolicy => format!("T_{}", uuid::Uuid::new_v4()),
            ObjectKind::RoleScopeTag => {
                let next = self.objects[spec.path].iter().filter_map(|o| o["id"].as_str()?.parse::<u64>().ok()).max();
                next.map_or(0, |n| n + 1).to_string()
            }
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let stamp = self.stamp();
        body.insert("id".into(), json!(id));
        body.insert("createdDateTime".into(), json!(stamp));
        body.insert("lastModifiedDateTime".into(), json!(stamp));
        if matches!(spec.kind, ObjectKind::DeviceConfiguration | ObjectKind::CompliancePolicy) {
            body.insert("version".into(), json!(1));
        }
        let item = Value::Object(body);
        if let Some(settings) = settings {
            self.settings.insert(id.clone(), settings.as_array().cloned().unwrap_or_default());
        }
        self.objects.get_mut(spec.path).unwrap().push(item.clone());
        // The answer is the entity without its navigation properties.
        let mut answer = item;
        if let Value::Object(m) = &mut answer {
            for nav in NAVIGATION {
                m.remove(*nav);
            }
        }
        json_response(201, &with_context(answer, context))
    }

    fn patch(&mut self, spec: &'static Spec, id: &str, req: &Request) -> ResponseTemplate {
        let Ok(Value::Object(body)) = req.body_json::<Value>() else {
            return bad_request("the body must be a JSON object");
        };
        if let Some(nav) = NAVIGATION.iter().find(|n| body.contains_key(**n)) {
            return bad_request(&format!("The navigation property '{nav}' cannot be updated with PATCH."));
        }
        let stamp = self.stamp();
        let Some(item) = self.find_mut(spec.path, id) else { return not_found() };
        if let Some(given) = body.get("@odata.type").and_then(Value::as_str) {
            let current = spec.item_type.or(item["@odata.type"].as_str()).unwrap_or_default();
            if given != current {
                return bad_request(&format!("the type of an object cannot change ({current} → {given})"));
            }
        }
        for (k, v) in body {
            if !READ_ONLY.contains(&k.as_str()) && k != "@odata.type" {
                item[k.as_str()] = v;
            }
        }
        item["lastModifiedDateTime"] = json!(stamp);
        if let Some(n) = item.get("version").and_then(Value::as_u64) {
            item["version"] = json!(n + 1);
        }
        ResponseTemplate::new(204)
    }

    /// A settings-catalog policy replaced whole, settings included.
    fn put(&mut self, spec: &'static Spec, id: &str, req: &Request) -> ResponseTemplate {
        let Ok(Value::Object(mut body)) = req.body_json::<Value>() else {
            return bad_request("the body must be a JSON object");
        };
        let stamp = self.stamp();
        let settings = body.remove("settings");
        let Some(item) = self.find_mut(spec.path, id) else { return not_found() };
        let created = item["createdDateTime"].clone();
        for m in READ_ONLY {
            body.remove(*m);
        }
        body.insert("id".into(), json!(id));
        body.insert("createdDateTime".into(), created);
        body.insert("lastModifiedDateTime".into(), json!(stamp));
        *item = Value::Object(body);
        let settings = settings.and_then(|s| s.as_array().cloned()).unwrap_or_default();
        self.settings.insert(id.to_owned(), settings);
        ResponseTemplate::new(204)
    }

    /// `/assign`: the body's list replaces the object's assignments.
    fn assign(&mut self, spec: &'static Spec, id: &str, body: &Value) -> Result<Vec<Value>, (u16, String)> {
        if self.find(spec.path, id).is_none() {
            return Err((404, format!("{}/{id} does not exist", spec.path)));
        }
        let key = if spec.kind == ObjectKind::DeviceManagementScript {
            "deviceManagementScriptAssignments"
        } else {
            "assignments"
        };
        let Value::Object(members) = body else {
            return Err((400, "the body must be a JSON object".into()));
        };
        if members.len() != 1 || !members.contains_key(key) {
            return Err((400, format!("the body must have exactly the member `{key}`")));
        }
        let Some(items) = members[key].as_array() else {
            return Err((400, format!("`{key}` must be an array")));
        };
        let mut stored = Vec::new();
        for a in items {
            let Some(target) = a.get("target").filter(|t| t.is_object()) else {
                return Err((400, "every assignment needs a target".into()));
            };
            let suffix = match target["@odata.type"].as_str() {
                Some("#microsoft.graph.allDevicesAssignmentTarget") => ALL_DEVICES.to_owned(),
                Some("#microsoft.graph.allLicensedUsersAssignmentTarget") => ALL_USERS.to_owned(),
                _ => target["groupId"].as_str().map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
            };
            stored.push(json!({
                "id": format!("{id}_{suffix}"),
                "source": "direct",
                "sourceId": id,
                "intent": "apply",
                "target": target,
            }));
        }
        self.assignments.insert((spec.path, id.to_owned()), stored.clone());
        Ok(stored)
    }
}

struct Router(Arc<Mutex<State>>);

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().handle(request)
    }
}

/// An item as a GET answers it: no compliance actions without `$expand`, no
/// script content in lists, `$select` applied.
fn present(spec: &Spec, mut item: Value, req: &Request, in_list: bool) -> Value {
    if spec.kind == ObjectKind::CompliancePolicy {
        let expanded = req.url.query_pairs().any(|(k, v)| k == "$expand" && v.contains("scheduledActionsForRule"));
        if !expanded {
            if let Value::Object(m) = &mut item {
                m.remove("scheduledActionsForRule");
            }
        }
    }
    if spec.kind == ObjectKind::DeviceManagementScript && in_list {
        item["scriptContent"] = Value::Null;
    }
    select(req, item)
}

/// `$select=a,b`: only those members (and the type annotation).
fn select(req: &Request, item: Value) -> Value {
    let Some((_, wanted)) = req.url.query_pairs().find(|(k, _)| k == "$select") else { return item };
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    match item {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()) || k == "id" || k.starts_with("@odata."))
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

fn strip_context(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("@odata.context");
    }
    v
}

fn with_context(mut v: Value, context: String) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("@odata.context".into(), json!(context));
    }
    v
}

pub fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

fn bad_request(message: &str) -> ResponseTemplate {
    json_response(
        400,
        &json!({"error": {"code": "BadRequest", "message": message,
                "innerError": {"date": "2026-01-01T00:00:00", "request-id": "fake", "client-request-id": "fake"}}}),
    )
}

fn not_found() -> ResponseTemplate {
    json_response(404, &fixture!("error_404_ResourceNotFound_intune.json"))
}

/// Intune's 403, naming the scopes the area accepts.
fn forbidden(permission: &str) -> ResponseTemplate {
    let mut body = fixture!("error_403_Forbidden_intune.json");
    let read = permission.replace(".ReadWrite.", ".Read.");
    let message = body["error"]["message"].as_str().unwrap().replace(
        "DeviceManagementConfiguration.Read.All, DeviceManagementConfiguration.ReadWrite.All",
        &format!("{read}, {permission}"),
    );
    body["error"]["message"] = json!(message);
    json_response(403, &body)
}
