//! What the operation families need from a tenant, behind one trait
//! (SPEC §5): health, listing and reading objects by type, creating and
//! updating them, assignments, and compliance summaries. Every write carries
//! the run's `WriteFence`, so a stale worker's write is refused.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub mod graph;
pub mod sandbox;

/// The kinds of tenant objects the product reads, backs up and restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    DeviceConfiguration,
    CompliancePolicy,
    ConfigurationPolicy,
    AppProtectionPolicy,
    DeviceManagementScript,
    AssignmentFilter,
    RoleScopeTag,
}

impl ObjectKind {
    pub const ALL: &'static [ObjectKind] = &[
        ObjectKind::DeviceConfiguration,
        ObjectKind::CompliancePolicy,
        ObjectKind::ConfigurationPolicy,
        ObjectKind::AppProtectionPolicy,
        ObjectKind::DeviceManagementScript,
        ObjectKind::AssignmentFilter,
        ObjectKind::RoleScopeTag,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::DeviceConfiguration => "device_configuration",
            ObjectKind::CompliancePolicy => "compliance_policy",
            ObjectKind::ConfigurationPolicy => "configuration_policy",
            ObjectKind::AppProtectionPolicy => "app_protection_policy",
            ObjectKind::DeviceManagementScript => "device_management_script",
            ObjectKind::AssignmentFilter => "assignment_filter",
            ObjectKind::RoleScopeTag => "role_scope_tag",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Whether objects of this kind carry assignments.
    pub fn assignable(self) -> bool {
        !matches!(self, ObjectKind::AssignmentFilter | ObjectKind::RoleScopeTag)
    }
}

/// Members of an object's payload that the service sets itself: read-only,
/// ignored in create and update bodies, and not content (leave them out when
/// comparing or hashing payloads).
pub const SERVER_MANAGED_MEMBERS: &[&str] =
    &["@odata.context", "id", "createdDateTime", "lastModifiedDateTime", "version"];

/// One object as the provider returns it; `payload` is the full content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteObject {
    pub kind: ObjectKind,
    pub id: String,
    pub display_name: String,
    pub payload: Value,
}

/// A compliance policy's device state counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceSummary {
    pub policy_id: String,
    pub display_name: String,
    pub compliant: u64,
    pub non_compliant: u64,
    pub error: u64,
    pub not_applicable: u64,
}

/// The result of a health check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub message: String,
    /// Permissions the connection needs but was not granted, by name.
    pub missing_permissions: Vec<String>,
    pub details: Value,
}

/// Who is writing: the run and the lease it holds. A write whose lease is no
/// longer held is refused (`ProviderError::Fenced`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteFence {
    pub run_id: Uuid,
    pub lease_token: Uuid,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// 429: come back after this long.
    #[error("throttled by the provider; retry after {retry_after_ms} ms")]
    Throttled { retry_after_ms: u64 },
    /// 5xx, timeouts: worth another attempt.
    #[error("the provider is temporarily unavailable: {0}")]
    Transient(String),
    /// 401/403: the connection lacks consent or a permission.
    #[error("the provider refused access: {0}")]
    Unauthorized(String),
    #[error("not found at the provider: {0}")]
    NotFound(String),
    /// The write's lease is no longer held.
    #[error("write refused: the run's lease is no longer held")]
    Fenced,
    /// The write was refused because the run is no longer legitimate.
    #[error("write refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

impl ProviderError {
    pub fn retryable(&self) -> bool {
        matches!(self, ProviderError::Throttled { .. } | ProviderError::Transient(_))
    }

    /// A stable code for the run's `failures`.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Throttled { .. } => "provider_throttled",
            ProviderError::Transient(_) => "provider_unavailable",
            ProviderError::Unauthorized(_) => "provider_unauthorized",
            ProviderError::NotFound(_) => "provider_not_found",
            ProviderError::Fenced => "lease_lost",
            ProviderError::Refused(_) => "write_refused",
            ProviderError::Other(_) => "provider_error",
        }
    }
}

/// Whether an update found its object.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateOutcome {
    Updated(RemoteObject),
    /// The object no longer exists (a 404 on update): restore creates it instead.
    Gone,
}

#[async_trait]
pub trait Provider: Send + Sync {
    async fn check_health(&self) -> Result<Health, ProviderError>;
    async fn list_objects(&self, kind: ObjectKind) -> Result<Vec<RemoteObject>, ProviderError>;
    async fn get_object(&self, kind: ObjectKind, id: &str) -> Result<Option<RemoteObject>, ProviderError>;
    async fn create_object(
        &self,
        fence: WriteFence,
        kind: ObjectKind,
        payload: &Value,
    ) -> Result<RemoteObject, ProviderError>;
    async fn update_object(
        &self,
        fence: WriteFence,
        kind: ObjectKind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError>;
    async fn list_assignments(&self, kind: ObjectKind, id: &str) -> Result<Vec<Value>, ProviderError>;
    /// Replaces the object's assignment set (Graph's `/assign` semantics).
    async fn set_assignments(
        &self,
        fence: WriteFence,
        kind: ObjectKind,
        id: &str,
        assignments: &[Value],
    ) -> Result<(), ProviderError>;
    async fn group_exists(&self, group_id: &str) -> Result<bool, ProviderError>;
    async fn compliance_summaries(&self) -> Result<Vec<ComplianceSummary>, ProviderError>;
}
