//! What the operation families need from a tenant, behind one trait
//! (SPEC §5): health, listing and reading objects by type, creating and
//! updating them, assignments, and compliance summaries. Every write carries
//! the run's `WriteFence`, so a stale worker's write is refused.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use atlas_core::object_type::{self, ObjectType};

pub mod graph;
pub mod sandbox;

/// A registered object type (`atlas_core::object_type`), as providers take it.
pub type Kind = &'static ObjectType;

/// One object as the provider returns it; `payload` is the full content
/// (members read apart, such as a settings-catalog policy's `settings`, included).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemoteObject {
    #[serde(serialize_with = "type_key")]
    pub kind: Kind,
    pub id: String,
    pub display_name: String,
    pub payload: Value,
}

fn type_key<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.key)
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
    /// Every object of the type, whole (paged lists followed to the end, members
    /// read apart added). A singleton type lists its one object, or none.
    async fn list_objects(&self, kind: Kind) -> Result<Vec<RemoteObject>, ProviderError>;
    async fn get_object(&self, kind: Kind, id: &str) -> Result<Option<RemoteObject>, ProviderError>;
    async fn create_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        payload: &Value,
    ) -> Result<RemoteObject, ProviderError>;
    /// Applies `payload` as a PATCH: members present replace the object's, a
    /// null clears one, absent members stay (`ObjectType::update_body` builds
    /// the body that makes an object equal a backup). Types replaced whole
    /// (settings catalog) are written with their documented PUT.
    async fn update_object(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        payload: &Value,
    ) -> Result<UpdateOutcome, ProviderError>;
    async fn list_assignments(&self, kind: Kind, id: &str) -> Result<Vec<Value>, ProviderError>;
    /// Replaces the object's assignment set (Graph's `/assign` semantics, or
    /// the same end state through the `assignments` collection).
    async fn set_assignments(
        &self,
        fence: WriteFence,
        kind: Kind,
        id: &str,
        assignments: &[Value],
    ) -> Result<(), ProviderError>;
    async fn group_exists(&self, group_id: &str) -> Result<bool, ProviderError>;
    async fn compliance_summaries(&self) -> Result<Vec<ComplianceSummary>, ProviderError>;
}
