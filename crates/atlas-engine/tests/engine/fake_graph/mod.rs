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
//!   `$skiptoken`), `$select` projects. Every registered type's collections
//!   are served (`atlas_core::object_type`), each as the registry says Graph
//!   serves it: expansions only under `$expand` (compliance actions), members
//!   a list leaves null (script content), sub-collections apart
//!   (settings-catalog `/settings`, intent settings), group policy values at
//!   `/definitionValues` and `/presentationValues`; typed collections (MAM)
//!   leave `@odata.type` out of their items, beta-only collections answer 400
//!   under v1.0, singletons answer at the collection's path.
//! * Writes: POST creates (server-assigned id and dates; a polymorphic
//!   collection needs `@odata.type`; a compliance policy needs a block action),
//!   PATCH merges (navigation properties refused), PUT replaces a type
//!   written whole, the registry's actions (`scheduleActionsForRules`,
//!   `targetApps`, `updateSettings`, `updateDefinitionValues` with bound
//!   definitions, `templates/{id}/createInstance`) and contained items
//!   (notification messages) work, `POST …/assign` replaces the assignment
//!   set and answers it, an `assignments` collection takes POST and DELETE,
//!   DELETE removes; read-only types refuse writes. Unknown ids are 404
//!   (Intune envelope), unknown groups 404 (directory envelope).
//!
//! Every request stays recorded by wiremock, so tests can count what a run
//! sent (and prove a blocked run sent nothing).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use atlas_providers::object_type::{self, ApiVersion, Assignments, Members, Write};
use atlas_providers::Kind;
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

/// One collection of the fake tenant; every registered type's collections
/// are served (two types share some, told apart by `@odata.type`).
struct Spec {
    path: &'static str,
    kinds: Vec<Kind>,
    versions: &'static [&'static str],
    permission: &'static str,
    /// The type of every item of a typed collection (left out of its items).
    item_type: Option<&'static str>,
    singleton: bool,
}

const BOTH: &[&str] = &["v1.0", "beta"];
const BETA: &[&str] = &["beta"];

fn specs() -> &'static [Spec] {
    static SPECS: OnceLock<Vec<Spec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let mut out: Vec<Spec> = Vec::new();
        for t in object_type::all() {
            for c in t.collections {
                if let Some(s) = out.iter_mut().find(|s| s.path == c.path) {
                    s.kinds.push(t);
                    continue;
                }
                out.push(Spec {
                    path: c.path,
                    kinds: vec![t],
                    versions: if c.version == ApiVersion::V1 { BOTH } else { BETA },
                    permission: t.permission,
                    item_type: c.item_type,
                    singleton: t.singleton,
                });
            }
        }
        out
    })
}

fn spec(path: &str) -> &'static Spec {
    specs().iter().find(|s| s.path == path).unwrap_or_else(|| panic!("no collection {path}"))
}

impl Spec {
    /// The registered type of an item of this collection with this `@odata.type`.
    fn kind_for(&self, odata_type: Option<&str>) -> Kind {
        let t = odata_type.or(self.item_type);
        self.kinds.iter().copied().find(|k| k.includes(t)).unwrap_or(self.kinds[0])
    }

    fn kind_of(&self, item: &Value) -> Kind {
        self.kind_for(item.get("@odata.type").and_then(Value::as_str))
    }
}

/// The collections holding objects of `kind`.
pub fn paths_of(kind: Kind) -> Vec<&'static str> {
    kind.collections.iter().map(|c| c.path).collect()
}

/// Members of nested items the service sets (new ones on every write).
const ITEM_READ_ONLY: &[&str] = &["id", "createdDateTime", "lastModifiedDateTime"];

/// Whether `$expand` names `member`.
fn expanded(req: &Request, member: &str) -> bool {
    req.url.query_pairs().any(|(k, v)| k == "$expand" && v.contains(member))
}

/// The navigation members a create may carry inline.
fn inline_on_create(kind: Kind, member: &str) -> bool {
    match kind.write {
        Write::Put { member: m } => m == member,
        Write::PatchAndAction { member: m, in_create, .. } => in_create && m == member,
        _ => false,
    }
}

/// The id in a `…('id')` binding's last segment.
fn bound_id(bind: Option<&Value>) -> Option<String> {
    let s = bind?.as_str()?;
    let start = s.rfind("('")? + 2;
    let end = s[start..].find("')")? + start;
    Some(s[start..end].to_owned())
}

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
    /// Collection → its objects, whole (members Graph serves apart inline).
    objects: BTreeMap<&'static str, Vec<Value>>,
    /// (collection, object id) → assignments as Graph lists them.
    assignments: HashMap<(&'static str, String), Vec<Value>>,
    groups: Vec<Value>,
    overviews: HashMap<String, Value>,
    /// Collections whose items carry `@odata.type` (a create must name it).
    polymorphic: HashSet<&'static str>,
    /// Group policy definitions and presentations by id: what binds resolve to.
    definitions: HashMap<String, Value>,
    presentations: HashMap<String, Value>,
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

    /// The stored items of a collection, whole.
    pub fn objects(&self, path: &str) -> Vec<Value> {
        self.state().objects.get(spec(path).path).cloned().unwrap_or_default()
    }

    /// The stored objects of `kind` (of its `@odata.type`s in a shared collection).
    pub fn objects_of(&self, kind: Kind) -> Vec<Value> {
        paths_of(kind)
            .into_iter()
            .flat_map(|p| {
                let spec = spec(p);
                self.objects(p).into_iter().filter(move |o| spec.kind_of(o) == kind)
            })
            .collect()
    }

    /// How many objects of `kind` the tenant holds.
    pub fn count(&self, kind: Kind) -> usize {
        self.objects_of(kind).len()
    }

    /// An object of `kind` as the provider reads it whole (a typed
    /// collection's item type added).
    pub fn view(&self, kind: Kind, id: &str) -> Option<Value> {
        let s = self.state();
        for path in paths_of(kind) {
            let spec = spec(path);
            if let Some(item) = s.find(spec.path, id).filter(|o| spec.kind_of(o) == kind) {
                let mut item = item.clone();
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
        json!({"objects": s.objects, "assignments": assignments, "groups": s.groups})
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
        self.edit(SETTINGS_CATALOG, id, |item| {
            let mut settings = item["settings"].as_array().cloned().unwrap_or_default();
            change(&mut settings);
            item["settings"] = Value::Array(settings);
        });
    }

    /// Deletes an object (and its assignments).
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

/// A collection response's items (or a singleton's entity), without context.
fn items_of(v: Value) -> Vec<Value> {
    match v {
        Value::Object(mut m) => match m.remove("value") {
            Some(Value::Array(items)) => items.into_iter().map(strip_context).collect(),
            _ => {
                m.remove("@odata.context");
                vec![Value::Object(m)]
            }
        },
        _ => Vec::new(),
    }
}

impl State {
    fn seeded(base: String, secret: &str) -> State {
        let list = items_of;
        let mut objects: BTreeMap<&'static str, Vec<Value>> = specs().iter().map(|s| (s.path, Vec::new())).collect();
        let mut add = |path: &'static str, items: Vec<Value>| objects.get_mut(spec(path).path).unwrap().extend(items);
        add(CONFIGS, list(fixture!("v1.0_deviceManagement_deviceConfigurations_page1.json")));
        add(CONFIGS, list(fixture!("v1.0_deviceManagement_deviceConfigurations_page2.json")));
        add(COMPLIANCE, list(fixture!("v1.0_deviceManagement_deviceCompliancePolicies.json")));
        // Settings-catalog policies hold their settings (served at `/settings`).
        let mut policies = list(fixture!("beta_deviceManagement_configurationPolicies.json"));
        for p in &mut policies {
            p["settings"] = match p["id"].as_str() {
                Some("9cb2b211-8b18-442f-a535-ce8771a3bb5a") => Value::Array(list(fixture!(
                    "beta_deviceManagement_configurationPolicies_9cb2b211-8b18-442f-a535-ce8771a3bb5a_settings.json"
                ))),
                Some("78a8ddaa-f74d-4e01-ba2c-55a884b9eb71") => Value::Array(list(fixture!(
                    "beta_deviceManagement_configurationPolicies_78a8ddaa-f74d-4e01-ba2c-55a884b9eb71_settings.json"
                ))),
                _ => json!([]),
            };
        }
        add(SETTINGS_CATALOG, policies);
        add(IOS_MAM, list(fixture!("v1.0_deviceAppManagement_iosManagedAppProtections.json")));
        add(ANDROID_MAM, list(fixture!("v1.0_deviceAppManagement_androidManagedAppProtections.json")));
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
        add(SCRIPTS, scripts);
        add(FILTERS, list(fixture!("beta_deviceManagement_assignmentFilters.json")));
        add(SCOPE_TAGS, list(fixture!("beta_deviceManagement_roleScopeTags.json")));
        // The other registered types: one file each, objects whole.
        add(
            CONFIGS,
            list(fixture!("beta_deviceManagement_deviceConfigurations_windowsUpdateForBusinessConfiguration.json")),
        );
        add("deviceManagement/intents", list(fixture!("beta_deviceManagement_intents.json")));
        add(
            "deviceManagement/groupPolicyConfigurations",
            list(fixture!("beta_deviceManagement_groupPolicyConfigurations.json")),
        );
        add(
            "deviceManagement/deviceComplianceScripts",
            list(fixture!("beta_deviceManagement_deviceComplianceScripts.json")),
        );
        add(
            "deviceManagement/notificationMessageTemplates",
            list(fixture!("beta_deviceManagement_notificationMessageTemplates.json")),
        );
        add(
            "deviceManagement/windowsFeatureUpdateProfiles",
            list(fixture!("beta_deviceManagement_windowsFeatureUpdateProfiles.json")),
        );
        add(
            "deviceManagement/windowsQualityUpdateProfiles",
            list(fixture!("beta_deviceManagement_windowsQualityUpdateProfiles.json")),
        );
        add(
            "deviceManagement/windowsDriverUpdateProfiles",
            list(fixture!("beta_deviceManagement_windowsDriverUpdateProfiles.json")),
        );
        add("deviceManagement/deviceHealthScripts", list(fixture!("beta_deviceManagement_deviceHealthScripts.json")));
        add("deviceManagement/deviceShellScripts", list(fixture!("beta_deviceManagement_deviceShellScripts.json")));
        add(
            "deviceManagement/deviceCustomAttributeShellScripts",
            list(fixture!("beta_deviceManagement_deviceCustomAttributeShellScripts.json")),
        );
        add(
            "deviceAppManagement/windowsManagedAppProtections",
            list(fixture!("beta_deviceAppManagement_windowsManagedAppProtections.json")),
        );
        add(
            "deviceAppManagement/mobileAppConfigurations",
            list(fixture!("v1.0_deviceAppManagement_mobileAppConfigurations.json")),
        );
        add(
            "deviceAppManagement/targetedManagedAppConfigurations",
            list(fixture!("v1.0_deviceAppManagement_targetedManagedAppConfigurations.json")),
        );
        add(
            "deviceManagement/windowsAutopilotDeploymentProfiles",
            list(fixture!("beta_deviceManagement_windowsAutopilotDeploymentProfiles.json")),
        );
        add(
            "deviceManagement/deviceEnrollmentConfigurations",
            list(fixture!("beta_deviceManagement_deviceEnrollmentConfigurations.json")),
        );
        add("deviceManagement/deviceCategories", list(fixture!("beta_deviceManagement_deviceCategories.json")));
        add("deviceManagement/termsAndConditions", list(fixture!("v1.0_deviceManagement_termsAndConditions.json")));
        add(
            "deviceManagement/deviceManagementPartners",
            list(fixture!("beta_deviceManagement_deviceManagementPartners.json")),
        );
        add(
            "deviceManagement/complianceManagementPartners",
            list(fixture!("beta_deviceManagement_complianceManagementPartners.json")),
        );
        add(
            "deviceManagement/remoteAssistancePartners",
            list(fixture!("beta_deviceManagement_remoteAssistancePartners.json")),
        );
        add(
            "deviceManagement/applePushNotificationCertificate",
            list(fixture!("beta_deviceManagement_applePushNotificationCertificate.json")),
        );
        add(
            "deviceManagement/depOnboardingSettings",
            list(fixture!("beta_deviceManagement_depOnboardingSettings.json")),
        );
        add("deviceAppManagement/vppTokens", list(fixture!("beta_deviceAppManagement_vppTokens.json")));
        add(
            "deviceManagement/androidManagedStoreAccountEnterpriseSettings",
            list(fixture!("beta_deviceManagement_androidManagedStoreAccountEnterpriseSettings.json")),
        );

        let polymorphic = objects
            .iter()
            .filter(|(p, items)| spec(p).item_type.is_none() && items.iter().any(|o| o.get("@odata.type").is_some()))
            .map(|(p, _)| *p)
            .collect();
        let (mut definitions, mut presentations) = (HashMap::new(), HashMap::new());
        for gp in &objects["deviceManagement/groupPolicyConfigurations"] {
            for v in gp["definitionValues"].as_array().into_iter().flatten() {
                if let Some(id) = v.pointer("/definition/id").and_then(Value::as_str) {
                    definitions.insert(id.to_owned(), v["definition"].clone());
                }
                for p in v["presentationValues"].as_array().into_iter().flatten() {
                    if let Some(id) = p.pointer("/presentation/id").and_then(Value::as_str) {
                        presentations.insert(id.to_owned(), p["presentation"].clone());
                    }
                }
            }
        }
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
            assignments,
            groups: list(fixture!("v1.0_groups_select_id_displayName.json")),
            overviews,
            polymorphic,
            definitions,
            presentations,
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
        self.assignments.remove(&(path, id.to_owned()));
        items.len() != before
    }

    /// A new nested item: the body with fresh service-set members.
    fn nested(&mut self, mut item: Value) -> Value {
        let stamp = self.stamp();
        if let Value::Object(m) = &mut item {
            m.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("createdDateTime".into(), json!(stamp));
            m.insert("lastModifiedDateTime".into(), json!(stamp));
        }
        item
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
        if let Some(template) = rest.strip_prefix("deviceManagement/templates/") {
            if !granted(CONFIGURATION) {
                return forbidden(CONFIGURATION);
            }
            return match (method.as_str(), template.split_once('/')) {
                ("POST", Some((template_id, "createInstance"))) => self.create_instance(template_id, req),
                _ => bad_request(&format!("No HTTP resource was found that matches {method} {path}.")),
            };
        }
        let Some(spec) = specs().iter().find(|s| rest == s.path || rest.starts_with(&format!("{}/", s.path))) else {
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
        if spec.singleton {
            return match (method.as_str(), tail.as_slice()) {
                ("GET", []) => match self.objects[spec.path].first() {
                    Some(o) => {
                        let o = present(spec.kind_of(o), o.clone(), req, false);
                        json_response(200, &with_context(o, context(spec.path)))
                    }
                    None => not_found(),
                },
                _ => bad_request(&format!("{} is read-only here", spec.path)),
            };
        }
        if let [id, ..] = tail.as_slice() {
            if self.find(spec.path, id).is_none() {
                return not_found();
            }
        }
        let kind = match tail.first() {
            Some(id) => self.find(spec.path, id).map_or(spec.kinds[0], |o| spec.kind_of(o)),
            None => spec.kinds[0],
        };
        match (method.as_str(), tail.as_slice()) {
            ("GET", []) => {
                let items: Vec<Value> =
                    self.objects[spec.path].iter().map(|o| present(spec.kind_of(o), o.clone(), req, true)).collect();
                self.page(req, context(spec.path), items)
            }
            ("POST", []) => self.create(spec, req, context(&format!("{}/$entity", spec.path))),
            ("GET", [id]) => {
                let o = present(kind, self.find(spec.path, id).cloned().unwrap_or_default(), req, false);
                json_response(200, &with_context(o, context(&format!("{}/$entity", spec.path))))
            }
            ("PATCH", [id]) => self.patch(spec, kind, id, req),
            ("PUT", [id]) if matches!(kind.write, Write::Put { .. }) => self.put(spec, id, req),
            ("DELETE", [id]) => {
                self.remove(spec.path, id);
                ResponseTemplate::new(204)
            }
            ("GET", [id, "assignments"]) if kind.assignable() => {
                let list = self.assignments.get(&(spec.path, (*id).to_owned())).cloned().unwrap_or_default();
                self.page(req, context(&format!("{}('{id}')/assignments", spec.path)), list)
            }
            ("POST", [id, "assignments"]) if matches!(kind.assignments, Assignments::Collection { .. }) => {
                let Ok(a) = req.body_json::<Value>() else { return bad_request("the body is not JSON") };
                let Some(target) = a.get("target").filter(|t| t.is_object()).cloned() else {
                    return bad_request("an assignment needs a target");
                };
                let stored = json!({"id": assignment_id(id, &target), "target": target});
                self.assignments.entry((spec.path, (*id).to_owned())).or_default().push(stored.clone());
                json_response(201, &stored)
            }
            ("DELETE", [id, "assignments", aid]) if matches!(kind.assignments, Assignments::Collection { .. }) => {
                let list = self.assignments.entry((spec.path, (*id).to_owned())).or_default();
                let before = list.len();
                list.retain(|a| a["id"] != *aid);
                if list.len() == before {
                    return not_found();
                }
                ResponseTemplate::new(204)
            }
            ("POST", [id, "assign"]) if matches!(kind.assignments, Assignments::AssignAction { .. }) => {
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
            ("GET", [id, "deviceStatusOverview"]) if kind.key == "compliance_policy" => {
                let overview = self.overviews.get(*id).cloned().unwrap_or_else(|| {
                    json!({"id": id, "configurationVersion": 1, "pendingCount": 0, "notApplicableCount": 0,
                           "successCount": 0, "errorCount": 0, "failedCount": 0,
                           "lastUpdateDateTime": "0001-01-01T00:00:00Z"})
                });
                let context = context(&format!("{}('{id}')/deviceStatusOverview/$entity", spec.path));
                json_response(200, &with_context(overview, context))
            }
            ("GET", [id, "definitionValues"]) if matches!(kind.members, Members::DefinitionValues) => {
                let values: Vec<Value> = self
                    .member(spec, id, "definitionValues")
                    .into_iter()
                    .map(|mut v| {
                        if let Value::Object(m) = &mut v {
                            m.remove("presentationValues");
                            if !expanded(req, "definition") {
                                m.remove("definition");
                            }
                        }
                        v
                    })
                    .collect();
                self.page(req, context(&format!("{}('{id}')/definitionValues", spec.path)), values)
            }
            ("GET", [id, "definitionValues", vid, "presentationValues"])
                if matches!(kind.members, Members::DefinitionValues) =>
            {
                let Some(value) = self.member(spec, id, "definitionValues").into_iter().find(|v| v["id"] == *vid)
                else {
                    return not_found();
                };
                let list: Vec<Value> = value["presentationValues"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut p| {
                        if !expanded(req, "presentation") {
                            if let Value::Object(m) = &mut p {
                                m.remove("presentation");
                            }
                        }
                        p
                    })
                    .collect();
                self.page(req, context("presentationValues"), list)
            }
            ("POST", [id, "updateDefinitionValues"]) if matches!(kind.write, Write::DefinitionValues) => {
                self.update_definition_values(spec, id, req)
            }
            ("POST", [id, "updateSettings"]) if matches!(kind.write, Write::TemplateInstance { .. }) => {
                self.update_settings(spec, id, req)
            }
            ("POST", [id, action]) if matches!(kind.write, Write::PatchAndAction { action: a, .. } if a == *action) => {
                let Write::PatchAndAction { member, body_key, .. } = kind.write else { unreachable!() };
                let Ok(body) = req.body_json::<Value>() else { return bad_request("the body is not JSON") };
                let Some(value) = body.get(body_key).filter(|v| v.is_array()).cloned() else {
                    return bad_request(&format!("the body must carry `{body_key}`"));
                };
                self.find_mut(spec.path, id).unwrap()[member] = value;
                ResponseTemplate::new(204)
            }
            ("POST", [id, member]) if matches!(kind.write, Write::PatchAndItems { member: m, .. } if m == *member) => {
                let Ok(item) = req.body_json::<Value>() else { return bad_request("the body is not JSON") };
                let item = self.nested(item);
                let o = self.find_mut(spec.path, id).unwrap();
                let mut list = o[*member].as_array().cloned().unwrap_or_default();
                list.push(item.clone());
                o[*member] = Value::Array(list);
                json_response(201, &item)
            }
            (verb @ ("PATCH" | "DELETE"), [id, member, iid]) if matches!(kind.write, Write::PatchAndItems { member: m, .. } if m == *member) =>
            {
                let body = req.body_json::<Value>().unwrap_or(Value::Null);
                let stamp = self.stamp();
                let o = self.find_mut(spec.path, id).unwrap();
                let mut list = o[*member].as_array().cloned().unwrap_or_default();
                let Some(at) = list.iter().position(|i| i["id"] == *iid) else { return not_found() };
                if verb == "DELETE" {
                    list.remove(at);
                } else if let Value::Object(m) = body {
                    for (k, v) in m.into_iter().filter(|(k, _)| !ITEM_READ_ONLY.contains(&k.as_str())) {
                        list[at][k.as_str()] = v;
                    }
                    list[at]["lastModifiedDateTime"] = json!(stamp);
                }
                o[*member] = Value::Array(list);
                ResponseTemplate::new(204)
            }
            ("GET", [id, member]) if kind.navigation_members().contains(member) => {
                let list = self.member(spec, id, member);
                self.page(req, context(&format!("{}('{id}')/{member}", spec.path)), list)
            }
            _ => bad_request(&format!("No HTTP resource was found that matches {method} {path}.")),
        }
    }

    /// An array member of a stored object.
    fn member(&self, spec: &Spec, id: &str, member: &str) -> Vec<Value> {
        self.find(spec.path, id).and_then(|o| o[member].as_array().cloned()).unwrap_or_default()
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
        if self.polymorphic.contains(spec.path) && odata_type.is_none() {
            return bad_request("A type named '' could not be resolved by the model: @odata.type is required.");
        }
        if let (Some(expected), Some(given)) = (spec.item_type, odata_type.as_deref()) {
            if expected != given {
                return bad_request(&format!("{given} does not belong in {}", spec.path));
            }
        }
        let kind = spec.kind_for(odata_type.as_deref());
        if let Some(reason) = kind.read_only_reason() {
            return bad_request(&format!("{} cannot be created through Graph: {reason}", kind.label));
        }
        if kind.key == "compliance_policy" {
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
        body.retain(|k, _| !kind.is_server_managed(k));
        if let Some(nav) =
            kind.navigation_members().into_iter().find(|m| body.contains_key(*m) && !inline_on_create(kind, m))
        {
            return bad_request(&format!("{nav} is not a property of this type"));
        }
        if spec.item_type.is_some() {
            body.remove("@odata.type");
        }
        let id = match kind.key {
            "app_protection_policy" | "windows_app_protection_policy" => format!("T_{}", uuid::Uuid::new_v4()),
            "role_scope_tag" => {
                let next = self.objects[spec.path].iter().filter_map(|o| o["id"].as_str()?.parse::<u64>().ok()).max();
                next.map_or(0, |n| n + 1).to_string()
            }
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let stamp = self.stamp();
        body.insert("id".into(), json!(id));
        body.insert("createdDateTime".into(), json!(stamp));
        body.insert("lastModifiedDateTime".into(), json!(stamp));
        if matches!(kind.key, "device_configuration" | "compliance_policy") {
            body.insert("version".into(), json!(1));
        }
        let item = Value::Object(body);
        self.objects.get_mut(spec.path).unwrap().push(item.clone());
        // The answer is the entity without its navigation properties.
        let mut answer = item;
        if let Value::Object(m) = &mut answer {
            for nav in kind.navigation_members() {
                m.remove(nav);
            }
        }
        json_response(201, &with_context(answer, context))
    }

    /// `templates/{id}/createInstance`: a new intent with the template's id and the given settings.
    fn create_instance(&mut self, template_id: &str, req: &Request) -> ResponseTemplate {
        let Ok(Value::Object(body)) = req.body_json::<Value>() else {
            return bad_request("the body must be a JSON object");
        };
        let mut settings = Vec::new();
        for s in body.get("settingsDelta").and_then(Value::as_array).cloned().unwrap_or_default() {
            let mut s = s;
            s["id"] = json!(uuid::Uuid::new_v4().to_string());
            settings.push(s);
        }
        let stamp = self.stamp();
        let id = uuid::Uuid::new_v4().to_string();
        let item = json!({
            "id": id, "displayName": body.get("displayName"), "description": body.get("description"),
            "isAssigned": false, "isMigratingToConfigurationPolicy": false, "lastModifiedDateTime": stamp,
            "templateId": template_id, "roleScopeTagIds": body.get("roleScopeTagIds").cloned().unwrap_or(json!(["0"])),
            "settings": settings,
        });
        self.objects.get_mut("deviceManagement/intents").unwrap().push(item.clone());
        let mut answer = item;
        answer.as_object_mut().unwrap().remove("settings");
        json_response(201, &answer)
    }

    /// An intent's `updateSettings`: each setting replaces the one of its definition, or is added.
    fn update_settings(&mut self, spec: &Spec, id: &str, req: &Request) -> ResponseTemplate {
        let Ok(body) = req.body_json::<Value>() else { return bad_request("the body is not JSON") };
        let Some(given) = body.get("settings").and_then(Value::as_array).cloned() else {
            return bad_request("the body must carry `settings`");
        };
        let o = self.find_mut(spec.path, id).unwrap();
        let mut settings = o["settings"].as_array().cloned().unwrap_or_default();
        for s in given {
            match settings.iter_mut().find(|l| l["definitionId"] == s["definitionId"]) {
                Some(l) => {
                    let keep = l["id"].clone();
                    *l = s;
                    l["id"] = keep;
                }
                None => {
                    let mut s = s;
                    s["id"] = json!(uuid::Uuid::new_v4().to_string());
                    settings.push(s);
                }
            }
        }
        o["settings"] = Value::Array(settings);
        ResponseTemplate::new(204)
    }

    /// Group policy `updateDefinitionValues`: deletes, then adds values whose
    /// definition and presentations are bound by reference.
    fn update_definition_values(&mut self, spec: &Spec, id: &str, req: &Request) -> ResponseTemplate {
        let Ok(body) = req.body_json::<Value>() else { return bad_request("the body is not JSON") };
        let deleted: Vec<Value> = body["deletedIds"].as_array().cloned().unwrap_or_default();
        let mut added = Vec::new();
        for v in body["added"].as_array().cloned().unwrap_or_default() {
            let Value::Object(mut m) = v else { return bad_request("a definition value must be an object") };
            let Some(definition) =
                bound_id(m.remove("definition@odata.bind").as_ref()).and_then(|d| self.definitions.get(&d).cloned())
            else {
                return bad_request("definition@odata.bind names no definition");
            };
            let mut presentations = Vec::new();
            for p in m.remove("presentationValues").and_then(|p| p.as_array().cloned()).unwrap_or_default() {
                let Value::Object(mut pm) = p else { return bad_request("a presentation value must be an object") };
                let Some(presentation) = bound_id(pm.remove("presentation@odata.bind").as_ref())
                    .and_then(|d| self.presentations.get(&d).cloned())
                else {
                    return bad_request("presentation@odata.bind names no presentation");
                };
                pm.insert("presentation".into(), presentation);
                presentations.push(self.nested(Value::Object(pm)));
            }
            m.insert("definition".into(), definition);
            m.insert("presentationValues".into(), Value::Array(presentations));
            added.push(self.nested(Value::Object(m)));
        }
        let o = self.find_mut(spec.path, id).unwrap();
        let mut values = o["definitionValues"].as_array().cloned().unwrap_or_default();
        values.retain(|v| !deleted.contains(&v["id"]));
        values.extend(added);
        o["definitionValues"] = Value::Array(values);
        ResponseTemplate::new(204)
    }

    fn patch(&mut self, spec: &'static Spec, kind: Kind, id: &str, req: &Request) -> ResponseTemplate {
        let Ok(Value::Object(body)) = req.body_json::<Value>() else {
            return bad_request("the body must be a JSON object");
        };
        if let Some(reason) = kind.read_only_reason() {
            return bad_request(&format!("{} cannot be changed through Graph: {reason}", kind.label));
        }
        let navigation = kind.navigation_members();
        if let Some(nav) = body.keys().find(|k| navigation.contains(&k.as_str()) || *k == "assignments") {
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
            if !kind.is_server_managed(&k) && k != "@odata.type" {
                item[k.as_str()] = v;
            }
        }
        item["lastModifiedDateTime"] = json!(stamp);
        if let Some(n) = item.get("version").and_then(Value::as_u64) {
            item["version"] = json!(n + 1);
        }
        ResponseTemplate::new(204)
    }

    /// A type replaced whole (settings catalog), its contained members included.
    fn put(&mut self, spec: &'static Spec, id: &str, req: &Request) -> ResponseTemplate {
        let Ok(Value::Object(mut body)) = req.body_json::<Value>() else {
            return bad_request("the body must be a JSON object");
        };
        let stamp = self.stamp();
        let Some(item) = self.find_mut(spec.path, id) else { return not_found() };
        let kind = spec.kind_of(item);
        let created = item["createdDateTime"].clone();
        body.retain(|k, _| !kind.is_server_managed(k));
        body.insert("id".into(), json!(id));
        body.insert("createdDateTime".into(), created);
        body.insert("lastModifiedDateTime".into(), json!(stamp));
        *item = Value::Object(body);
        ResponseTemplate::new(204)
    }

    /// `/assign`: the body's list replaces the object's assignments.
    fn assign(&mut self, spec: &'static Spec, id: &str, body: &Value) -> Result<Vec<Value>, (u16, String)> {
        let Some(kind) = self.find(spec.path, id).map(|o| spec.kind_of(o)) else {
            return Err((404, format!("{}/{id} does not exist", spec.path)));
        };
        let Assignments::AssignAction { body_key: key, .. } = kind.assignments else {
            return Err((400, format!("{} has no assign action", kind.key)));
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
            stored.push(json!({
                "id": assignment_id(id, target),
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

/// Intune's `{objectId}_{groupId}` assignment id.
fn assignment_id(object_id: &str, target: &Value) -> String {
    let suffix = match target["@odata.type"].as_str() {
        Some("#microsoft.graph.allDevicesAssignmentTarget") => ALL_DEVICES.to_owned(),
        Some("#microsoft.graph.allLicensedUsersAssignmentTarget") => ALL_USERS.to_owned(),
        _ => target["groupId"].as_str().map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
    };
    format!("{object_id}_{suffix}")
}

struct Router(Arc<Mutex<State>>);

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().handle(request)
    }
}

/// An item as a GET answers it, as the registry says Graph serves the type:
/// an expansion only under `$expand`, sub-collections and group policy values
/// apart, members a list leaves out null; `$select` applied.
fn present(kind: Kind, mut item: Value, req: &Request, in_list: bool) -> Value {
    if let Value::Object(m) = &mut item {
        match kind.members {
            Members::Inline => {}
            Members::Expand { member, .. } => {
                if !expanded(req, member) {
                    m.remove(member);
                }
            }
            Members::SubCollection { member, .. } => {
                m.remove(member);
            }
            Members::SingleGet { members } => {
                if in_list {
                    for member in members {
                        m.insert((*member).to_owned(), Value::Null);
                    }
                }
            }
            Members::DefinitionValues => {
                m.remove("definitionValues");
            }
        }
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
