//! The sandbox provider (SPEC §5): a simulated Intune tenant kept in the
//! product's own database (`atlas_store::sandbox`), so a demo or a test needs
//! nothing else.
//!
//! Every call first takes one injected fault, if any (`atlas sandbox fault`):
//! latency sleeps and then answers, throttle answers 429 with Retry-After,
//! error a retryable 503. Writes carry the run's `WriteFence`; the store checks
//! it in the write's own transaction and journals every accepted write, so a
//! refused (stale, blocked, finished) run provably wrote nothing.
//!
//! Graph semantics kept: updates are PATCHes (members not sent stay, a null
//! clears a member, so a restore settles on its backup); the service owns
//! each type's server-managed members (the registry's list: it stamps `id`,
//! `createdDateTime` and `lastModifiedDateTime`, and ignores what a body
//! says of them); types the registry marks read-only refuse writes;
//! `set_assignments` replaces the whole set, giving each assignment Intune's
//! `{objectId}_{groupId}` id. Seeding is explicit (`seed`): whoever adds a
//! sandbox connection seeds its tenant.

mod seed;

use std::time::Duration;

use async_trait::async_trait;
use atlas_store::sandbox::{SandboxFaultKind, SandboxFence, SandboxObject};
use atlas_store::{Store, StoreError};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::{ComplianceSummary, Health, Kind, Provider, ProviderError, RemoteObject, UpdateOutcome, WriteFence};

pub use seed::seed_data;

/// The id Intune uses for "All devices" in assignment ids.
const ALL_DEVICES_ID: &str = "adadadad-808e-44e2-905a-0b7873a8a531";
/// The id Intune uses for "All users" in assignment ids.
const ALL_USERS_ID: &str = "acacacac-9df4-4c7d-9d50-4ef0226f57a9";
/// Retry-After of a throttle fault set without `--ms`.
const DEFAULT_RETRY_AFTER_MS: u64 = 1000;

/// Seeds the tenant's sandbox once; `false` when it was seeded before.
pub async fn seed(store: &Store, tenant_id: Uuid) -> Result<bool, ProviderError> {
    store.sandbox_seed(tenant_id, &seed_data()?).await.map_err(store_error)
}

/// Puts the tenant's sandbox back to the seed (its journal is kept).
pub async fn reset(store: &Store, tenant_id: Uuid) -> Result<(), ProviderError> {
    store.sandbox_reset(tenant_id, &seed_data()?).await.map_err(store_error)
}

/// The sandbox tenant of one product tenant.
#[derive(Clone, Debug)]
pub struct SandboxProvider {
    store: Store,
    tenant_id: Uuid,
}

impl SandboxProvider {
    pub fn new(store: Store, tenant_id: Uuid) -> SandboxProvider {
        SandboxProvider { store, tenant_id }
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// Applies the next injected fault, if any, to this call.
    async fn fault(&self) -> Result<(), ProviderError> {
        let Some(fault) = self.store.sandbox_fault_take(self.tenant_id).await.map_err(store_error)? else {
            return Ok(());
        };
        match fault.kind {
            SandboxFaultKind::Latency => {
                tokio::time::sleep(Duration::from_millis(fault.ms)).await;
                Ok(())
            }
            SandboxFaultKind::Throttle => Err(ProviderError::Throttled {
                retry_after_ms: if fault.ms == 0 { DEFAULT_RETRY_AFTER_MS } else { fault.ms },
            }),
            SandboxFaultKind::Error => Err(ProviderError::Transient("503 Service Unavailable (sandbox fault)".into())),
        }
    }
}

/// Maps the store's answer once: a lost lease is `Fenced`; a database that
/// does not answer is, to a caller, a provider that does not answer.
fn store_error(e: StoreError) -> ProviderError {
    match e {
        StoreError::Fenced => ProviderError::Fenced,
        StoreError::Denied(d) => ProviderError::Refused(d.message),
        StoreError::NotFound(what) => ProviderError::NotFound(what),
        StoreError::Database(source) => ProviderError::Transient(format!("sandbox database: {source}")),
        other => ProviderError::Other(other.to_string()),
    }
}

fn sandbox_fence(f: WriteFence) -> SandboxFence {
    SandboxFence { run_id: f.run_id, lease_token: f.lease_token }
}

fn remote(kind: Kind, o: SandboxObject) -> RemoteObject {
    RemoteObject { kind, id: o.object_id, display_name: o.display_name, payload: o.payload }
}

fn members(payload: &Value) -> Result<Map<String, Value>, ProviderError> {
    match payload {
        Value::Object(m) => Ok(m.clone()),
        _ => Err(ProviderError::Other("400 Bad Request: the body must be a JSON object".into())),
    }
}

/// A write body: the payload less the members the service owns.
fn writable(kind: Kind, payload: &Value) -> Result<Map<String, Value>, ProviderError> {
    if let Some(reason) = kind.read_only_reason() {
        return Err(ProviderError::Other(format!("400 Bad Request: {} cannot be written: {reason}", kind.label)));
    }
    let mut body = members(payload)?;
    body.retain(|k, _| !kind.is_server_managed(k));
    Ok(body)
}

fn now_text() -> String {
    atlas_store::now().to_rfc3339()
}

/// The id Intune gives an assignment: `{objectId}_{groupId}`, or the fixed ids
/// of All devices / All users; else by position.
fn assignment_id(object_id: &str, target: &Value, index: usize) -> String {
    let odata_type = target.get("@odata.type").and_then(Value::as_str).unwrap_or_default();
    let key = match target.get("groupId").and_then(Value::as_str) {
        Some(group) => group.to_owned(),
        None if odata_type.ends_with("allDevicesAssignmentTarget") => ALL_DEVICES_ID.to_owned(),
        None if odata_type.ends_with("allLicensedUsersAssignmentTarget") => ALL_USERS_ID.to_owned(),
        None => index.to_string(),
    };
    format!("{object_id}_{key}")
}

#[async_trait]
impl Provider for SandboxProvider {
    /// A sandbox needs no consent or permissions: healthy, with its contents.
    async fn check_health(&self) -> Result<Health, ProviderError> {
        self.fault().await?;
        let counts = self.store.sandbox_counts(self.tenant_id).await.map_err(store_error)?;
        let groups = self.store.sandbox_groups(self.tenant_id).await.map_err(store_error)?;
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        let objects: Map<String, Value> = counts.into_iter().map(|(kind, n)| (kind, json!(n))).collect();
        let message = if total == 0 {
            "Sandbox tenant reachable; it holds no objects (not seeded).".to_owned()
        } else {
            format!("Sandbox tenant reachable: {total} objects, {} groups.", groups.len())
        };
        Ok(Health {
            ok: true,
            message,
            missing_permissions: Vec::new(),
            details: json!({
                "provider": "sandbox",
                "tenant_id": self.tenant_id,
                "objects": objects,
                "groups": groups.len(),
            }),
        })
    }

    async fn list_objects(&self, kind: Kind) -> Result<Vec<RemoteObject>, ProviderError> {
        self.fault().await?;
        let objects = self.store.sandbox_objects(self.tenant_id, kind.key).await.map_err(store_error)?;
        Ok(objects.into_iter().map(|o| remote(kind, o)).collect())
    }

    async fn get_object(&self, kind: Kind, id: &str) -> Result<Option<RemoteObject>, ProviderError> {
        self.fault().await?;
        let object = self.store.sandbox_object(self.tenant_id, kind.key, id).await.map_err(store_error)?;
        Ok(object.map(|o| remote(kind, o)))
    }

    async fn create_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        payload: &Value,
    ) -> Result<RemoteObject, ProviderError> {
        self.fault().await?;
        let mut body = writable(kind, payload)?;
        if kind.singleton {
            return Err(ProviderError::Other(format!("400 Bad Request: {} is a singleton", kind.label)));
        }
        let id = Uuid::new_v4().to_string();
        let now = now_text();
        body.insert("id".into(), json!(id));
        body.insert("createdDateTime".into(), json!(now));
        body.insert("lastModifiedDateTime".into(), json!(now));
        let created = self
            .store
            .sandbox_write_create(self.tenant_id, sandbox_fence(fence), kind.key, &id, &Value::Object(body))
            .await
            .map_err(store_error)?;
        Ok(remote(kind, created))
    }

    async fn update_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError> {
        self.fault().await?;
        // Read-only members are the service's, whatever the body says.
        let mut patch = writable(kind, payload)?;
        patch.insert("lastModifiedDateTime".into(), json!(now_text()));
        let updated = self
            .store
            .sandbox_write_update(self.tenant_id, sandbox_fence(fence), kind.key, id, &Value::Object(patch))
            .await
            .map_err(store_error)?;
        Ok(match updated {
            Some(o) => UpdateOutcome::Updated(remote(kind, o)),
            None => UpdateOutcome::Gone,
        })
    }

    async fn list_assignments(&self, kind: Kind, id: &str) -> Result<Vec<Value>, ProviderError> {
        self.fault().await?;
        match self.store.sandbox_object(self.tenant_id, kind.key, id).await.map_err(store_error)? {
            Some(o) => Ok(o.assignments),
            None => Err(ProviderError::NotFound(format!("{} {id}", kind.key))),
        }
    }

    async fn set_assignments(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        assignments: &[Value],
    ) -> Result<(), ProviderError> {
        self.fault().await?;
        if !kind.assignable() {
            return Err(ProviderError::Other(format!("400 Bad Request: {} objects have no assignments", kind.key)));
        }
        let stored = assignments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut a = members(a)?;
                let target = a
                    .get("target")
                    .filter(|t| t.is_object())
                    .ok_or_else(|| ProviderError::Other("400 Bad Request: an assignment has no target".into()))?;
                let assignment_id = assignment_id(id, target, i);
                a.insert("id".into(), json!(assignment_id));
                Ok(Value::Object(a))
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        self.store
            .sandbox_write_assignments(self.tenant_id, sandbox_fence(fence), kind.key, id, &stored)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn group_exists(&self, group_id: &str) -> Result<bool, ProviderError> {
        self.fault().await?;
        self.store.sandbox_group_exists(self.tenant_id, group_id).await.map_err(store_error)
    }

    async fn compliance_summaries(&self) -> Result<Vec<ComplianceSummary>, ProviderError> {
        self.fault().await?;
        let rows = self.store.sandbox_compliance(self.tenant_id).await.map_err(store_error)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(|c| ComplianceSummary {
                policy_id: c.policy_id,
                display_name: c.display_name,
                compliant: n(c.compliant),
                non_compliant: n(c.non_compliant),
                error: n(c.error),
                not_applicable: n(c.not_applicable),
            })
            .collect())
    }
}
