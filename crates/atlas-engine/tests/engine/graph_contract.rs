//! The legitimacy contract against Microsoft Graph (SPEC §3, §5): every family
//! runs through the engine — start, worker, gate, handler — on a tenant whose
//! connection is `microsoft_graph`, against a stateful fake Graph
//! (`fake_graph`) the workers' provider settings point at.
//!
//! For each family: the allowed path does its work against Graph; blocked
//! paths end `completed/blocked` with the contract's observable checks and
//! send the fake NO request at all (not even for a token) and change nothing
//! in the tenant — the provider changes nothing about legitimacy. Restores
//! are checked request by request. The client secret is scanned for in the
//! audit, runs, notifications and captured logs.
//!
//! They run one at a time (`SERIAL`), each with its own fake: the captured
//! logs are process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};

use crate::fake_graph::*;
use crate::support::{cli, World};
use atlas_core::audit::Actor;
use atlas_core::capability::BuiltinRole;
use atlas_core::gate::ReasonCode;
use atlas_core::run::{Run, RunOutcome, RunStatus};
use atlas_core::tenant::{ConnectionKind, ConnectionStatus, TenantStatus};
use atlas_core::OperationType;
use atlas_engine::secrets::Secrets;
use atlas_engine::ProviderConfig;
use atlas_providers::graph::secret::SecretString;
use atlas_providers::graph::GraphEndpoints;
use atlas_store::admin::{ProviderConnection, RoleRef};
use atlas_store::audit::AuditFilter;
use atlas_store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

/// The client secret of the test connections.
const SECRET: &str = "s3cr3t-9fK2xQ7vLm4Tz8Rw";
/// The installation key sealing it (64 hex characters).
const SECRET_KEY: &str = "5f0c2b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c";
/// Objects in the seeded fake tenant: 8 device configurations, 4 compliance
/// policies, 4 settings-catalog policies, 4 app protection policies,
/// 2 scripts, 3 assignment filters, 3 scope tags, and 35 objects of the
/// other 26 registered types (every type has at least one).
const OBJECTS: u64 = 63;
const PILOT_RING: &str = "fdae9d6b-7d4d-4d37-8c08-2f8c452f28aa";

/// One test at a time: the log capture is process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes the test slot and starts this test's fake Graph.
async fn setup() -> (tokio::sync::MutexGuard<'static, ()>, FakeGraph) {
    let serial = SERIAL.lock().await;
    logs::install();
    let fake = FakeGraph::start(SECRET).await;
    (serial, fake)
}

/// Provider settings that reach `fake` and open secrets with the test key.
fn providers(fake: &FakeGraph) -> ProviderConfig {
    ProviderConfig {
        graph: GraphEndpoints { login_url: fake.uri(), graph_url: fake.uri() },
        // A configured key writes nothing into the data directory.
        secrets: Secrets {
            key: Some(SecretString::new(SECRET_KEY)),
            data_dir: std::env::temp_dir().join("atlas-graph-contract"),
        },
        ..ProviderConfig::default()
    }
}

/// The usual test world, with its tenant swapped for one connected to Graph
/// (a Graph connection starts `pending_consent`).
async fn graph_world(store: Store, fake: &FakeGraph) -> World {
    graph_world_with(store, fake, "Fabrikam Dental Group", SECRET).await
}

async fn graph_world_with(store: Store, fake: &FakeGraph, name: &str, secret: &str) -> World {
    let mut w = World::new(store).await;
    w.providers = providers(fake);
    let tenant =
        w.store.tenant_create(w.workspace.id, name, TenantStatus::Active, true, Some(TENANT), &cli()).await.unwrap();
    let sealed = w.providers.secrets.seal(secret).unwrap();
    assert!(!sealed.contains(secret));
    let config = json!({"external_tenant_id": TENANT, "client_id": CLIENT_ID});
    let conn =
        w.store.connection_add(tenant.id, ConnectionKind::MicrosoftGraph, config, Some(sealed), &cli()).await.unwrap();
    assert_eq!(conn.status, ConnectionStatus::PendingConsent);
    w.tenant = tenant;
    w
}

async fn connection(w: &World) -> ProviderConnection {
    w.store.connection_get(w.tenant.id).await.unwrap().expect("the tenant has a connection")
}

/// Starts `op` as the initiator, drains, and expects it to have succeeded.
async fn succeeded(w: &World, op: OperationType, params: Value) -> Run {
    let run = w.start(op, params).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::Succeeded), "{op}: {run:?}");
    assert!(run.started_at.is_some());
    let actions = w.run_actions(run.id).await;
    assert!(actions.contains(&"operation.started".to_owned()), "{actions:?}");
    assert!(!actions.contains(&"operation.blocked".to_owned()), "{actions:?}");
    let notes = w.store.notifications_for_run(run.id).await.unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].outcome, RunOutcome::Succeeded);
    run
}

/// A passing connection check: `pending_consent` → `enabled`.
async fn connect(w: &World) -> Run {
    let run = succeeded(w, OperationType::ProviderConnectionCheck, json!({})).await;
    assert_eq!(connection(w).await.status, ConnectionStatus::Enabled);
    run
}

/// A backup of the fake tenant; returns the backup set's id.
async fn backup(w: &World) -> Uuid {
    let run = succeeded(w, OperationType::BackupRun, json!({})).await;
    run.result["backup_set_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).expect("result.backup_set_id")
}

/// A change of the world between a run's start and its execution.
#[derive(Clone, Copy, Debug)]
enum Drift {
    /// The initiator's role lowered to one without the capability.
    Role(BuiltinRole),
    TenantArchived,
    ConnectionDisabled,
    WriteGateClosed,
}

impl Drift {
    fn reason(self) -> ReasonCode {
        match self {
            Drift::Role(_) => ReasonCode::CapabilityRevoked,
            Drift::TenantArchived => ReasonCode::TenantArchived,
            Drift::ConnectionDisabled => ReasonCode::ProviderConnectionDisabled,
            Drift::WriteGateClosed => ReasonCode::WriteGateClosed,
        }
    }

    async fn apply(self, w: &World) {
        let (s, ws, t) = (&w.store, w.workspace.id, w.tenant.id);
        match self {
            Drift::Role(role) => {
                s.member_set_role(ws, w.initiator.id, &RoleRef::Builtin(role), &cli()).await.unwrap();
            }
            Drift::TenantArchived => {
                s.tenant_set_status(t, TenantStatus::Archived, &cli()).await.unwrap();
            }
            Drift::ConnectionDisabled => {
                s.connection_set_status(t, false, &cli()).await.unwrap();
            }
            Drift::WriteGateClosed => {
                s.tenant_set_write_gate(t, false, &cli()).await.unwrap();
            }
        }
    }

    async fn revert(self, w: &World) {
        let (s, ws, t) = (&w.store, w.workspace.id, w.tenant.id);
        match self {
            Drift::Role(_) => {
                s.member_set_role(ws, w.initiator.id, &RoleRef::Builtin(BuiltinRole::Manager), &cli()).await.unwrap();
            }
            Drift::TenantArchived => {
                s.tenant_set_status(t, TenantStatus::Active, &cli()).await.unwrap();
            }
            Drift::ConnectionDisabled => {
                s.connection_set_status(t, true, &cli()).await.unwrap();
            }
            Drift::WriteGateClosed => {
                s.tenant_set_write_gate(t, true, &cli()).await.unwrap();
            }
        }
    }
}

/// The observable semantics of a run blocked before it started (as in contract.rs).
async fn assert_blocked(w: &World, run_id: Uuid, reason: ReasonCode) {
    let run = w.run(run_id).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::Blocked), "{run:?}");
    let decision = run.decision.as_ref().expect("decision stored");
    assert_eq!(decision.reason_code, Some(reason), "{decision:?}");
    assert!(!decision.allowed);
    assert_eq!(run.started_at, None);
    assert_eq!(run.summary_counts.processed, 0);
    assert!(run.attempt >= 1);
    assert!(run.failures.is_empty(), "a refusal is not a failure: {:?}", run.failures);
    let actions = w.run_actions(run_id).await;
    assert!(actions.contains(&"operation.blocked".to_owned()), "{actions:?}");
    assert!(!actions.contains(&"operation.started".to_owned()), "{actions:?}");
    let notes = w.store.notifications_for_run(run_id).await.unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].user_id, w.initiator.id);
    assert_eq!(notes[0].outcome, RunOutcome::Blocked);
    assert_eq!(notes[0].body, decision.message);
}

/// Queues `op` while it is legitimate, lets the world drift, drains: the run
/// is blocked, and Graph heard nothing of it — no token request, no read, no
/// write — and the tenant is as it was. Then the drift is undone.
async fn blocked(w: &World, fake: &FakeGraph, op: OperationType, params: Value, drift: Drift) {
    let before = fake.request_count().await;
    let tenant = fake.snapshot();
    let run = w.start(op, params).await;
    drift.apply(w).await;
    w.drain().await;
    assert_blocked(w, run.id, drift.reason()).await;
    let sent = fake.requests_since(before).await;
    assert!(sent.is_empty(), "{op} blocked by {drift:?} still sent {:?}", lines(&sent));
    assert_eq!(fake.snapshot(), tenant, "{op} blocked by {drift:?} changed the tenant");
    drift.revert(w).await;
}

fn lines(requests: &[Seen]) -> Vec<String> {
    requests.iter().map(Seen::line).collect()
}

fn writes(requests: &[Seen]) -> Vec<String> {
    let mut w: Vec<String> = requests.iter().filter(|r| r.is_write()).map(Seen::line).collect();
    w.sort();
    w
}

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

/// Every object of the fake tenant as (kind, id).
fn tenant_objects(fake: &FakeGraph) -> BTreeSet<(String, String)> {
    atlas_providers::object_type::all()
        .iter()
        .flat_map(|k| {
            fake.objects_of(k)
                .into_iter()
                .map(|o| (k.key.to_owned(), o["id"].as_str().unwrap().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// provider.connection.check

async fn connection_check(store: Store) {
    let (_serial, fake) = setup().await;
    let w = graph_world(store, &fake).await;
    // Blocked while the connection still waits for consent: Entra is not even asked for a token.
    for drift in [Drift::Role(BuiltinRole::Readonly), Drift::TenantArchived] {
        blocked(&w, &fake, OperationType::ProviderConnectionCheck, json!({}), drift).await;
        let conn = connection(&w).await;
        assert_eq!(
            (conn.status, conn.health),
            (ConnectionStatus::PendingConsent, None),
            "a blocked check records nothing"
        );
    }
    assert!(fake.requests().await.is_empty());

    let run = connect(&w).await;
    let conn = connection(&w).await;
    let health = conn.health.clone().expect("health recorded");
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["missing_permissions"], json!([]));
    assert_eq!(health["details"]["granted_roles"], json!(ALL_ROLES));
    assert_eq!(health["details"]["token_tenant_id"], TENANT);
    assert_eq!(health["details"]["app_id"], CLIENT_ID);
    assert_eq!(run.result["health"]["ok"], true);
    // The check is one client-credentials token request, nothing else.
    let sent = fake.requests().await;
    assert_eq!(lines(&sent), [format!("POST {}", token_path())]);
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&sent[0].body).unwrap();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["scope"], format!("{}/.default", fake.uri()));
    // The system enabled the connection, and the audit says so.
    let enabled = w
        .store
        .audit_events(AuditFilter {
            tenant_id: Some(w.tenant.id),
            action: Some("connection.enabled".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(enabled.len(), 1, "{enabled:?}");
    assert_eq!(enabled[0].actor, Actor::System);

    // An enabled connection that is then disabled blocks the check as well.
    blocked(&w, &fake, OperationType::ProviderConnectionCheck, json!({}), Drift::ConnectionDisabled).await;
    blocked(&w, &fake, OperationType::ProviderConnectionCheck, json!({}), Drift::Role(BuiltinRole::Readonly)).await;
}

async fn connection_check_without_group_read_all(store: Store) {
    let (_serial, fake) = setup().await;
    fake.grant(&[CONFIGURATION, APPS, SERVICE_CONFIG]);
    let w = graph_world(store, &fake).await;
    let run = w.start(OperationType::ProviderConnectionCheck, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::Failed), "{run:?}");
    assert_eq!(run.attempt, 1, "an unhealthy connection is not retried");
    assert_eq!(run.failures.len(), 1, "{:?}", run.failures);
    assert_eq!(run.failures[0].code, "connection_unhealthy");
    assert!(run.failures[0].message.contains("Group.Read.All"), "{}", run.failures[0].message);
    let conn = connection(&w).await;
    assert_eq!(conn.status, ConnectionStatus::PendingConsent);
    let health = conn.health.expect("health recorded");
    assert_eq!(health["ok"], false);
    assert_eq!(health["missing_permissions"], json!(["Group.Read.All"]));
    assert!(health["message"].as_str().unwrap().contains("Group.Read.All"), "{health}");
    assert_eq!(lines(&fake.requests().await), [format!("POST {}", token_path())]);
    // Nothing but a check can use a connection waiting for consent.
    let refused = w.start_as(w.initiator.id, OperationType::InventorySync, json!({})).await;
    assert!(refused.is_err(), "{refused:?}");

    // The administrator grants the permission and consents: the next check
    // sees the new roles (a fresh token, not the one cached by the last check).
    fake.grant(&ALL_ROLES);
    connect(&w).await;
    let health = connection(&w).await.health.unwrap();
    assert_eq!((health["ok"].clone(), health["missing_permissions"].clone()), (json!(true), json!([])));
}

// ---------------------------------------------------------------------------
// inventory.sync

async fn inventory_sync(store: Store) {
    let (_serial, fake) = setup().await;
    let w = graph_world(store, &fake).await;
    connect(&w).await;
    for drift in [Drift::Role(BuiltinRole::Readonly), Drift::TenantArchived, Drift::ConnectionDisabled] {
        blocked(&w, &fake, OperationType::InventorySync, json!({}), drift).await;
    }
    assert!(w.store.inventory_list(w.tenant.id).await.unwrap().is_empty());

    let before = fake.request_count().await;
    let run = succeeded(&w, OperationType::InventorySync, json!({})).await;
    let inventory = w.store.inventory_list(w.tenant.id).await.unwrap();
    let listed: BTreeSet<(String, String)> = inventory.iter().map(|e| (e.kind.clone(), e.object_id.clone())).collect();
    assert_eq!(listed, tenant_objects(&fake), "every object of the tenant, once");
    assert_eq!(inventory.len() as u64, OBJECTS);
    assert_eq!((run.summary_counts.created, run.summary_counts.processed), (OBJECTS, OBJECTS));
    let by_kind = run.result["by_kind"].as_object().unwrap();
    assert_eq!(by_kind.len(), atlas_providers::object_type::all().len(), "every registered type is counted");
    for kind in atlas_providers::object_type::all() {
        assert_eq!(by_kind[kind.key], fake.count(kind), "{kind}");
        assert!(fake.count(kind) >= 1, "the fake tenant has a {kind}");
    }
    assert_eq!(
        (by_kind["device_configuration"].as_u64(), by_kind["windows_update_ring"].as_u64()),
        (Some(8), Some(2)),
        "a shared collection is split by @odata.type"
    );
    let sent = fake.requests_since(before).await;
    assert!(writes(&sent).is_empty(), "a sync only reads: {:?}", writes(&sent));
    let config_pages = sent.iter().filter(|r| r.line() == "GET /v1.0/deviceManagement/deviceConfigurations").count();
    assert_eq!(config_pages, 2, "the nextLink was followed to the second page");

    let again = succeeded(&w, OperationType::InventorySync, json!({})).await;
    assert_eq!((again.summary_counts.created, again.summary_counts.updated), (0, 0));
    assert_eq!(again.result["unchanged"], OBJECTS);
}

// ---------------------------------------------------------------------------
// policies.sync

async fn policies_sync(store: Store) {
    let (_serial, fake) = setup().await;
    let w = graph_world(store, &fake).await;
    connect(&w).await;
    for drift in [Drift::Role(BuiltinRole::Readonly), Drift::TenantArchived, Drift::ConnectionDisabled] {
        blocked(&w, &fake, OperationType::PoliciesSync, json!({}), drift).await;
    }
    assert!(w.store.policy_versions(w.tenant.id).await.unwrap().is_empty());

    let first = succeeded(&w, OperationType::PoliciesSync, json!({})).await;
    assert_eq!(first.result["new_versions"], OBJECTS);
    assert_eq!(first.result["drift"]["added"].as_array().unwrap().len() as u64, OBJECTS);

    // Someone edits the Cloud PC filter in the portal: the next sync stores one new version.
    let filter = "91d1d12f-bc0b-41ab-bc38-add9e258cb98";
    fake.edit(FILTERS, filter, |f| f["rule"] = json!("(device.model -startsWith \"Cloud PC\")"));
    let second = succeeded(&w, OperationType::PoliciesSync, json!({})).await;
    assert_eq!(second.result["new_versions"], 1);
    assert_eq!(
        second.result["drift"]["changed"],
        json!([{"kind": "assignment_filter", "object_id": filter, "display_name": "Windows - Cloud PCs"}])
    );
    assert_eq!(second.result["drift"]["unchanged"], OBJECTS - 1);
    let versions = w.store.policy_versions(w.tenant.id).await.unwrap();
    let latest = versions.iter().filter(|v| v.object_id == filter).max_by_key(|v| v.version).unwrap();
    assert_eq!((latest.version, latest.payload["rule"].as_str()), (2, Some("(device.model -startsWith \"Cloud PC\")")));
}

// ---------------------------------------------------------------------------
// compliance.snapshot

async fn compliance_snapshot(store: Store) {
    let (_serial, fake) = setup().await;
    let w = graph_world(store, &fake).await;
    connect(&w).await;
    for drift in [Drift::Role(BuiltinRole::Readonly), Drift::TenantArchived, Drift::ConnectionDisabled] {
        blocked(&w, &fake, OperationType::ComplianceSnapshot, json!({}), drift).await;
    }
    assert!(w.store.compliance_snapshots(w.tenant.id, 10).await.unwrap().is_empty());

    let before = fake.request_count().await;
    let run = succeeded(&w, OperationType::ComplianceSnapshot, json!({})).await;
    // The Windows policy's deviceStatusOverview fixture; the others report nothing yet.
    assert_eq!(
        (&run.result["policies"], &run.result["compliant"], &run.result["non_compliant"]),
        (&json!(4), &json!(118), &json!(7))
    );
    assert_eq!((&run.result["error"], &run.result["not_applicable"]), (&json!(1), &json!(3)));
    let snapshots = w.store.compliance_snapshots(w.tenant.id, 10).await.unwrap();
    assert_eq!(snapshots.len(), 1);
    let windows = snapshots[0]
        .policies
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policy_id"] == "fbabfd63-cc3a-4bd6-85b7-4005ca855dc8");
    assert_eq!(windows.unwrap()["display_name"], "[Baseline] Windows - Compliance");
    let sent = fake.requests_since(before).await;
    let overviews = sent.iter().filter(|r| r.path.ends_with("/deviceStatusOverview")).count();
    assert_eq!(overviews, 4);
    assert!(writes(&sent).is_empty());
}

// ---------------------------------------------------------------------------
// backup.run

async fn backup_run(store: Store) {
    let (_serial, fake) = setup().await;
    let w = graph_world(store, &fake).await;
    connect(&w).await;
    for drift in [Drift::Role(BuiltinRole::Readonly), Drift::TenantArchived, Drift::ConnectionDisabled] {
        blocked(&w, &fake, OperationType::BackupRun, json!({}), drift).await;
    }
    assert!(w.store.backup_sets_for_tenant(w.tenant.id, 10).await.unwrap().is_empty());

    let before = fake.request_count().await;
    let set = backup(&w).await;
    assert!(writes(&fake.requests_since(before).await).is_empty(), "a backup only reads");
    let items = w.store.backup_items(set).await.unwrap();
    assert_eq!(items.len() as u64, OBJECTS);
    // Each item is the object whole, as Graph holds it.
    for item in &items {
        let kind = atlas_providers::object_type::by_key(&item.kind).unwrap();
        let live = fake.view(kind, &item.object_id).expect("backed up from the tenant");
        assert_eq!(kind.comparable(&item.payload), kind.comparable(&live), "{}", item.display_name);
    }
    let item = |id: &str| items.iter().find(|i| i.object_id == id).unwrap();
    let baseline = item(BASELINE);
    let assigned =
        fixture!("beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assignments.json");
    assert_eq!(baseline.assignments, assigned["value"], "the baseline's assignments, filters included");
    let script = item("c98d5944-9f97-4362-8e97-b27d3cd9d890");
    assert!(script.payload["scriptContent"].as_str().is_some_and(|c| !c.is_empty()), "a script's content from its GET");
    let bitlocker = item("9cb2b211-8b18-442f-a535-ce8771a3bb5a");
    let settings =
        fixture!("beta_deviceManagement_configurationPolicies_9cb2b211-8b18-442f-a535-ce8771a3bb5a_settings.json");
    assert_eq!(bitlocker.payload["settings"], settings["value"]);
    let windows = item("fbabfd63-cc3a-4bd6-85b7-4005ca855dc8");
    assert!(windows.payload["scheduledActionsForRule"].is_array(), "compliance actions, expanded");
    let mam = item("T_24b27196-ef2a-4158-91a3-3489af716866");
    assert_eq!(mam.payload["@odata.type"], "#microsoft.graph.iosManagedAppProtection");
}

// ---------------------------------------------------------------------------
// restore.execute

/// Changes made in the portal after the backup: seven edits and five
/// deletions, every kind touched. Returns the writes a restore must send, sorted.
fn drift_the_tenant(fake: &FakeGraph) -> Vec<String> {
    fake.edit(CONFIGS, BASELINE, |o| o["passwordMinimumLength"] = json!(4));
    fake.delete(CONFIGS, "b74add46-8835-4923-9e16-8e912e8e30db");
    fake.edit(COMPLIANCE, "531ea343-e56f-47d7-befc-0ae2378db8d2", |o| o["description"] = json!("edited in the portal"));
    fake.delete(COMPLIANCE, "7c10c31a-fbed-4215-8d6f-105ad2a3c48a");
    fake.edit_settings("78a8ddaa-f74d-4e01-ba2c-55a884b9eb71", |s| {
        s.pop();
    });
    fake.delete(SETTINGS_CATALOG, "9cb2b211-8b18-442f-a535-ce8771a3bb5a");
    fake.edit(IOS_MAM, "T_24b27196-ef2a-4158-91a3-3489af716866", |o| o["minimumPinLength"] = json!(4));
    fake.delete(ANDROID_MAM, "T_8e80ab27-7a8a-4051-a297-55cd3573f8d6");
    fake.edit(SCRIPTS, "3f3214a6-26ab-4f3b-bbfd-7e3b0c8db8c1", |o| o["runAs32Bit"] = json!(true));
    fake.delete(SCRIPTS, "c98d5944-9f97-4362-8e97-b27d3cd9d890");
    fake.edit(FILTERS, "91d1d12f-bc0b-41ab-bc38-add9e258cb98", |o| o["rule"] = json!("(device.model -eq \"x\")"));
    fake.edit(SCOPE_TAGS, "2", |o| o["description"] = json!("renamed"));
    let mut expected: Vec<String> = [
        "PATCH /v1.0/deviceManagement/deviceConfigurations/8d4d2cd6-1c9c-4db1-937d-d03b94b09201",
        "POST /v1.0/deviceManagement/deviceConfigurations",
        "PATCH /v1.0/deviceManagement/deviceCompliancePolicies/531ea343-e56f-47d7-befc-0ae2378db8d2",
        "POST /v1.0/deviceManagement/deviceCompliancePolicies",
        "PUT /beta/deviceManagement/configurationPolicies/78a8ddaa-f74d-4e01-ba2c-55a884b9eb71",
        "POST /beta/deviceManagement/configurationPolicies",
        "PATCH /v1.0/deviceAppManagement/iosManagedAppProtections/T_24b27196-ef2a-4158-91a3-3489af716866",
        "POST /v1.0/deviceAppManagement/androidManagedAppProtections",
        "PATCH /beta/deviceManagement/deviceManagementScripts/3f3214a6-26ab-4f3b-bbfd-7e3b0c8db8c1",
        "POST /beta/deviceManagement/deviceManagementScripts",
        "PATCH /beta/deviceManagement/assignmentFilters/91d1d12f-bc0b-41ab-bc38-add9e258cb98",
        "PATCH /beta/deviceManagement/roleScopeTags/2",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    expected.sort();
    expected
}

/// The tenant holds exactly the backup: each item's object (found by its id,
/// or the id a restore re-created it under) has the backed-up content, and
/// there is no object besides them.
async fn assert_tenant_matches_backup(w: &World, fake: &FakeGraph, set: Uuid) {
    let items = w.store.backup_items(set).await.unwrap();
    for item in &items {
        let kind = atlas_providers::object_type::by_key(&item.kind).unwrap();
        let mapped = w.store.restore_map_get(w.tenant.id, &item.kind, &item.object_id).await.unwrap();
        let id = mapped.unwrap_or_else(|| item.object_id.clone());
        let live = fake.view(kind, &id).unwrap_or_else(|| panic!("{} is missing from the tenant", item.display_name));
        assert_eq!(kind.comparable(&live), kind.comparable(&item.payload), "{}", item.display_name);
    }
    for kind in atlas_providers::object_type::all() {
        let backed_up = items.iter().filter(|i| i.kind == kind.key).count();
        assert_eq!(fake.count(kind), backed_up, "no duplicate and nothing extra among the {} objects", kind.key);
    }
}

async fn restore_execute(store: Store) {
    let (_serial, fake) = setup().await;
    let w = graph_world(store, &fake).await;
    connect(&w).await;
    let set = backup(&w).await;
    let expected = drift_the_tenant(&fake);
    let params = json!({"backup_set_id": set.to_string()});
    for drift in
        [Drift::WriteGateClosed, Drift::Role(BuiltinRole::Operator), Drift::TenantArchived, Drift::ConnectionDisabled]
    {
        blocked(&w, &fake, OperationType::RestoreExecute, params.clone(), drift).await;
    }
    let dry_params = json!({"backup_set_id": set.to_string(), "dry_run": true});
    blocked(&w, &fake, OperationType::RestoreExecute, dry_params.clone(), Drift::Role(BuiltinRole::Operator)).await;

    // A dry run reads and plans; it writes nothing.
    let before = fake.request_count().await;
    let dry = succeeded(&w, OperationType::RestoreExecute, dry_params).await;
    assert_eq!(
        dry.result["plan_summary"],
        json!({"create": 5, "update": 7, "unchanged": OBJECTS - 12, "skipped": 0}),
        "{:#}",
        dry.result["plan"]
    );
    assert!(writes(&fake.requests_since(before).await).is_empty(), "a dry run writes nothing");

    let before = fake.request_count().await;
    let run = succeeded(&w, OperationType::RestoreExecute, params.clone()).await;
    let sent = fake.requests_since(before).await;
    assert_eq!(writes(&sent), expected, "exactly one write per changed or deleted object");
    let c = run.summary_counts;
    assert_eq!((c.total, c.created, c.updated, c.skipped, c.failed), (OBJECTS, 5, 7, OBJECTS - 12, 0), "{c:?}");
    // A create never sends the old id or server-managed members; a compliance
    // policy carries its block action; an update never sends navigation properties.
    for r in sent.iter().filter(|r| r.is_write()) {
        let body = r.json();
        for member in ["id", "createdDateTime", "lastModifiedDateTime", "version", "@odata.context"] {
            assert!(body.get(member).is_none(), "{} sent {member}: {body}", r.line());
        }
        if r.method == "PATCH" {
            assert!(body.get("scheduledActionsForRule").is_none() && body.get("settings").is_none(), "{}", r.line());
        }
    }
    assert_tenant_matches_backup(&w, &fake, set).await;

    // Restoring again finds everything in place (re-created objects through
    // the restore map): no write, no duplicate.
    let before = fake.request_count().await;
    let again = succeeded(&w, OperationType::RestoreExecute, params).await;
    assert!(writes(&fake.requests_since(before).await).is_empty(), "nothing left to restore");
    assert_eq!((again.summary_counts.skipped, again.summary_counts.created), (OBJECTS, 0));
    assert_tenant_matches_backup(&w, &fake, set).await;
}

// ---------------------------------------------------------------------------
// restore.assignments

async fn restore_assignments(store: Store) {
    let (_serial, fake) = setup().await;
    let w = graph_world(store, &fake).await;
    connect(&w).await;
    let set = backup(&w).await;
    let assigned =
        fixture!("beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assignments.json");
    // After the backup, someone re-targets the baseline with the fixture's
    // `/assign` request (pilot ring out, broad ring in); the fake answers
    // exactly the fixture's response.
    let request =
        fixture!("beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assign.request.json");
    let answer = fake.assign(CONFIGS, BASELINE, &request);
    let response = fixture!(
        "beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assign.response.json"
    );
    assert_eq!(Value::Array(answer), response["value"]);

    let params = json!({"backup_set_id": set.to_string()});
    for drift in [Drift::WriteGateClosed, Drift::Role(BuiltinRole::Operator), Drift::ConnectionDisabled] {
        blocked(&w, &fake, OperationType::RestoreAssignments, params.clone(), drift).await;
    }
    assert_eq!(Value::Array(fake.assignments(CONFIGS, BASELINE)), response["value"], "blocked runs assigned nothing");

    // The backed-up set goes back in one `/assign`: each item its type and target.
    let before = fake.request_count().await;
    let run = succeeded(&w, OperationType::RestoreAssignments, params.clone()).await;
    let sent = fake.requests_since(before).await;
    let assign = format!("POST /beta/deviceManagement/deviceConfigurations/{BASELINE}/assign");
    assert_eq!(writes(&sent), std::slice::from_ref(&assign));
    let body = sent.iter().find(|r| r.line() == assign).unwrap().json();
    let items: Vec<Value> = assigned["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!({"@odata.type": "#microsoft.graph.deviceConfigurationAssignment", "target": a["target"]}))
        .collect();
    assert_eq!(body, json!({"assignments": items}));
    assert_eq!(
        Value::Array(fake.assignments(CONFIGS, BASELINE)),
        assigned["value"],
        "the backed-up assignments, ids and all"
    );
    // Each group was checked before it was assigned.
    let groups: BTreeSet<String> =
        sent.iter().filter(|r| r.path.starts_with("/v1.0/groups/")).map(|r| r.path.clone()).collect();
    assert_eq!(groups.len(), 3, "{groups:?}");
    // Objects of types without assignments (filters, scope tags, partners…) are not items.
    let assignable: u64 =
        atlas_providers::object_type::all().iter().filter(|k| k.assignable()).map(|k| fake.count(k) as u64).sum();
    assert_eq!((run.summary_counts.total, run.summary_counts.succeeded), (assignable, 1));
    assert_eq!(run.summary_counts.skipped, assignable - 1);

    // Again: unchanged, nothing sent.
    let before = fake.request_count().await;
    succeeded(&w, OperationType::RestoreAssignments, params.clone()).await;
    assert!(writes(&fake.requests_since(before).await).is_empty());

    // A group deleted since the backup is dropped with a reason, never guessed.
    fake.assign(CONFIGS, BASELINE, &request);
    fake.delete_group(PILOT_RING);
    let before = fake.request_count().await;
    let run = succeeded(&w, OperationType::RestoreAssignments, params).await;
    let sent = fake.requests_since(before).await;
    assert_eq!(writes(&sent), std::slice::from_ref(&assign));
    let body = sent.iter().find(|r| r.line() == assign).unwrap().json();
    let targets: Vec<Value> = body["assignments"].as_array().unwrap().iter().map(|a| a["target"].clone()).collect();
    assert_eq!(targets.len(), 3);
    assert!(targets.iter().all(|t| t["groupId"] != PILOT_RING), "{targets:?}");
    let items = w.store.run_items(run.id).await.unwrap();
    let dropped: Vec<&Value> = items.iter().filter_map(|i| i.detail["dropped"].as_array()).flatten().collect();
    assert_eq!(dropped, [&json!({"group_id": PILOT_RING, "reason": "group_not_found"})]);
}

// ---------------------------------------------------------------------------
// Graph refusals

async fn a_permission_refused_mid_run_fails_it_naming_the_permission(store: Store) {
    let (_serial, fake) = setup().await;
    let w = graph_world(store, &fake).await;
    connect(&w).await;
    // Consent for app protection is withdrawn after the check.
    fake.deny(APPS);
    let run = w.start(OperationType::InventorySync, json!({})).await;
    w.drain().await;
    let run = w.run(run.id).await;
    assert_eq!((run.status, run.outcome), (RunStatus::Completed, RunOutcome::Failed), "{run:?}");
    assert_eq!(run.attempt, 1, "a 403 is not retried");
    assert_eq!(run.failures[0].code, "provider_unauthorized");
    assert!(run.failures[0].message.contains(APPS), "{}", run.failures[0].message);
    assert!(w.store.inventory_list(w.tenant.id).await.unwrap().is_empty(), "a failed sync records nothing");
}

// ---------------------------------------------------------------------------
// The secret

async fn the_client_secret_never_leaves_its_sealed_column(store: Store) {
    let (_serial, fake) = setup().await;
    logs::capture();
    let w = graph_world(store.clone(), &fake).await;
    connect(&w).await;
    succeeded(&w, OperationType::InventorySync, json!({})).await;
    succeeded(&w, OperationType::PoliciesSync, json!({})).await;
    succeeded(&w, OperationType::ComplianceSnapshot, json!({})).await;
    let set = backup(&w).await;
    fake.edit(CONFIGS, BASELINE, |o| o["passwordMinimumLength"] = json!(4));
    fake.assign(CONFIGS, BASELINE, &json!({"assignments": []}));
    // A drift check reads Graph as a backup does: the edit and the removed
    // assignments are one changed object with both changes.
    let drift = succeeded(&w, OperationType::DriftCheck, json!({})).await;
    assert_eq!(
        (drift.result["changed"].clone(), drift.result["changes"].clone()),
        (json!(1), json!(1)),
        "{}",
        drift.result
    );
    let kept = w.store.drift_latest(w.tenant.id).await.unwrap().expect("kept");
    let paths: Vec<&str> =
        kept.diff["changed"][0]["changes"].as_array().unwrap().iter().filter_map(|c| c["path"].as_str()).collect();
    assert!(paths.contains(&"/passwordMinimumLength") && paths.contains(&"/assignments"), "{paths:?}");
    succeeded(&w, OperationType::RestoreExecute, json!({"backup_set_id": set.to_string()})).await;
    succeeded(&w, OperationType::RestoreAssignments, json!({"backup_set_id": set.to_string()})).await;
    blocked(&w, &fake, OperationType::BackupRun, json!({}), Drift::ConnectionDisabled).await;

    // A second connection with a mistyped secret: the check fails with Entra's
    // reason, and that secret does not show either.
    let mistyped = "s3cr3t-Mistyped-4b8d1f0e2a";
    let other = graph_world_with(store.clone(), &fake, "Fabrikam Labs", mistyped).await;
    let run = other.start(OperationType::ProviderConnectionCheck, json!({})).await;
    other.drain().await;
    let run = other.run(run.id).await;
    assert_eq!(run.outcome, RunOutcome::Failed, "{run:?}");
    assert!(run.failures[0].message.contains("AADSTS7000215"), "{:?}", run.failures);
    assert_eq!(connection(&other).await.status, ConnectionStatus::PendingConsent);
    let logs = logs::take();

    // The scan is not vacuous: the secrets did reach the token endpoint, and the logs were captured.
    let token_bodies: Vec<String> = fake
        .requests()
        .await
        .iter()
        .filter(|r| r.is_token())
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    for secret in [SECRET, mistyped] {
        assert!(token_bodies.iter().any(|b| b.contains(secret)), "{secret} was sent to the token endpoint");
    }
    assert!(logs.contains("acquired a Graph token") && logs.contains("Graph write"), "logs captured:\n{logs}");

    let mut seen = Vec::new();
    let audit = store.audit_events(AuditFilter { limit: AuditFilter::MAX_LIMIT, ..Default::default() }).await.unwrap();
    assert!(audit.len() > 20 && audit.len() < AuditFilter::MAX_LIMIT as usize, "{} events", audit.len());
    seen.extend(audit.iter().map(|e| ("audit event", serde_json::to_string(e).unwrap())));
    for world in [&w, &other] {
        let filter =
            atlas_store::run::RunFilter { workspace_id: Some(world.workspace.id), limit: 1000, ..Default::default() };
        let runs = store.run_list(&filter).await.unwrap();
        assert!(!runs.is_empty());
        seen.extend(runs.iter().map(|r| ("run", serde_json::to_string(r).unwrap())));
        for run in &runs {
            let items = store.run_items(run.id).await.unwrap();
            seen.extend(items.iter().map(|i| ("run item", serde_json::to_string(i).unwrap())));
        }
        let notes = store.notifications_for(world.initiator.id, 1000).await.unwrap();
        assert!(!notes.is_empty());
        seen.extend(notes.iter().map(|n| ("notification", serde_json::to_string(n).unwrap())));
        seen.push(("connection", serde_json::to_string(&connection(world).await).unwrap()));
        let sealed = store.connection_sealed_secret(world.tenant.id).await.unwrap().expect("sealed secret");
        seen.push(("sealed secret column", sealed));
    }
    seen.push(("captured logs", logs));
    let tokens = fake.issued_tokens();
    assert!(!tokens.is_empty());
    for (what, text) in &seen {
        for secret in [SECRET, mistyped] {
            assert!(!text.contains(secret), "the client secret appears in a {what}: {text}");
        }
        for token in &tokens {
            assert!(!text.contains(token.as_str()), "an access token appears in a {what}");
        }
    }
}

both_stores!(
    connection_check,
    connection_check_without_group_read_all,
    inventory_sync,
    policies_sync,
    compliance_snapshot,
    backup_run,
    restore_execute,
    restore_assignments,
    a_permission_refused_mid_run_fails_it_naming_the_permission,
    the_client_secret_never_leaves_its_sealed_column,
);

/// Log capture for the secret scan: one global subscriber (the worker's tasks
/// run on many threads) at TRACE, `log` records included, writing to a buffer
/// only while a test captures.
mod logs {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, Once};

    use tracing_subscriber::filter::dynamic_filter_fn;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    static CAPTURING: AtomicBool = AtomicBool::new(false);
    static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    struct Sink;

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            BUFFER.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    pub fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            // The fake's own logging (wiremock) is the server side, not ours.
            // Dynamic: asked for every event, never cached per callsite.
            let only_while_capturing = dynamic_filter_fn(|meta, _| {
                CAPTURING.load(Ordering::Relaxed) && !meta.target().starts_with("wiremock")
            });
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(|| Sink)
                .with_filter(tracing_subscriber::filter::LevelFilter::TRACE)
                .with_filter(only_while_capturing);
            let _ = tracing_subscriber::registry().with(layer).try_init();
        });
    }

    pub fn capture() {
        BUFFER.lock().unwrap().clear();
        CAPTURING.store(true, Ordering::Relaxed);
    }

    pub fn take() -> String {
        CAPTURING.store(false, Ordering::Relaxed);
        String::from_utf8_lossy(&std::mem::take(&mut *BUFFER.lock().unwrap())).into_owned()
    }
}

// ---------------------------------------------------------------------------
// The provider per registered type: list, get, create, update, assignments

/// Any member a PUT-like update can drop: content, not the name, the type
/// or a member read apart.
fn droppable(kind: atlas_providers::Kind, payload: &Value) -> Option<String> {
    let nav = kind.navigation_members();
    kind.comparable(payload)
        .as_object()?
        .keys()
        .find(|k| {
            !["@odata.type", kind.name_member, "displayName", "name", "description"].contains(&k.as_str())
                && !nav.contains(&k.as_str())
                && !kind.match_on.contains(&k.as_str())
                && k.as_str() != "templateId"
        })
        .cloned()
}

#[tokio::test]
async fn every_registered_type_is_listed_got_created_updated_and_assigned_through_graph() {
    use atlas_providers::graph::secret::SecretString;
    use atlas_providers::graph::{GraphConfig, GraphProvider};
    use atlas_providers::{Provider, UpdateOutcome, WriteFence};

    let fake = FakeGraph::start(SECRET).await;
    let config = GraphConfig::new(TENANT, CLIENT_ID, SecretString::new(SECRET)).with_urls(&fake.uri(), &fake.uri());
    let provider = GraphProvider::new(config).unwrap();
    let fence = WriteFence { run_id: Uuid::now_v7(), lease_token: Uuid::now_v7() };
    let target = json!({"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": PILOT_RING});
    for kind in atlas_providers::object_type::all() {
        // List and get: every object, whole (expansions, sub-collections, values).
        let listed = provider.list_objects(kind).await.unwrap();
        assert_eq!(listed.len(), fake.count(kind), "{kind}: listed");
        assert!(!listed.is_empty(), "{kind}: the fake tenant has one");
        for o in &listed {
            let whole = kind.comparable(&fake.view(kind, &o.id).unwrap());
            assert_eq!(kind.comparable(&o.payload), whole, "{kind} {}: the list reads it whole", o.id);
            let got = provider.get_object(kind, &o.id).await.unwrap().unwrap();
            assert_eq!(kind.comparable(&got.payload), whole, "{kind} {}: the get reads it whole", o.id);
        }
        let original = &listed[0];
        if !kind.restorable() {
            assert!(provider.create_object(fence, kind, &original.payload).await.is_err(), "{kind} is read-only");
            continue;
        }
        // Create a copy: the tenant holds it whole.
        let mut copy = original.payload.clone();
        copy[kind.name_member] = json!(format!("{} (copy)", original.display_name));
        let created = provider.create_object(fence, kind, &copy).await.unwrap();
        let live = fake.view(kind, &created.id).unwrap();
        assert_eq!(kind.comparable(&live), kind.comparable(&copy), "{kind}: created whole");
        // Update PUT-like: a changed member is written, a dropped one cleared.
        let mut desired = copy.clone();
        desired["description"] = json!("Changed by the contract test");
        if let Some(member) = droppable(kind, &desired) {
            desired.as_object_mut().unwrap().remove(&member);
        }
        let body = kind.update_body(&desired, &live);
        let outcome = provider.update_object(fence, kind, &created.id, &body).await.unwrap();
        assert!(matches!(outcome, UpdateOutcome::Updated(_)), "{kind}: {outcome:?}");
        let live = fake.view(kind, &created.id).unwrap();
        assert_eq!(kind.comparable(&live), kind.comparable(&desired), "{kind}: settles on the desired content");
        // Assignments: set, read back, cleared.
        if kind.assignable() {
            provider.set_assignments(fence, kind, &created.id, &[json!({"target": target})]).await.unwrap();
            let assigned = provider.list_assignments(kind, &created.id).await.unwrap();
            assert_eq!(assigned.len(), 1, "{kind}: {assigned:?}");
            assert_eq!(assigned[0]["target"], target, "{kind}");
            provider.set_assignments(fence, kind, &created.id, &[]).await.unwrap();
            assert!(provider.list_assignments(kind, &created.id).await.unwrap().is_empty(), "{kind}: cleared");
        } else {
            assert!(provider.set_assignments(fence, kind, &created.id, &[json!({"target": target})]).await.is_err());
        }
    }
}
