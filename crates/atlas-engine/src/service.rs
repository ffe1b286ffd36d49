//! The application functions behind every surface (CLI, console, API): start,
//! retry and cancel. Starting is authorized by the same gate the worker uses,
//! against the facts now; a denial stores nothing.

use atlas_core::access::{self, Access, Viewer};
use atlas_core::approval::{ApprovalError, Member};
use atlas_core::audit::Actor;
use atlas_core::gate::{Authority, Decision};
use atlas_core::operation::{bulk_item_types, OperationType};
use atlas_core::params::{BulkParams, OperationParams};
use atlas_core::run::{NewRun, Run, RunStatus};
use atlas_core::Capability;
use atlas_store::run::Inserted;
use atlas_store::start::Started;
use atlas_store::{Store, StoreError};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Parsed but invalid: unknown type or parameter, wrong value (422 / exit 2).
    #[error("{0}")]
    Invalid(String),
    /// The gate refused the start.
    #[error("{}", .0.message)]
    Denied(Box<Decision>),
    /// Missing, or hidden from this user (404 / exit 2 or 3).
    #[error("{0} not found")]
    NotFound(String),
    /// In scope but not allowed (403 / exit 4).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> ServiceError {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::Invalid(m) => ServiceError::Invalid(m),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::Approval(e) => match e {
                ApprovalError::NotFound => ServiceError::NotFound("run".into()),
                ApprovalError::NotPending(m) => ServiceError::Conflict(m),
                ApprovalError::ReasonTooLong(_) => ServiceError::Invalid(e.to_string()),
                // Their own run, disabled, or without the capability (403 / exit 4).
                other => ServiceError::Forbidden(other.to_string()),
            },
            other => ServiceError::Store(other),
        }
    }
}

/// A user's request to start an operation.
#[derive(Clone, Debug)]
pub struct StartRequest {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    /// The tenant; `None` for a bulk run (its tenants are in `params`).
    pub tenant_id: Option<Uuid>,
    pub op_type: OperationType,
    pub params: Value,
    pub retry_of_run_id: Option<Uuid>,
    pub max_attempts: u32,
}

/// Validates, authorizes through the gate, and inserts (or deduplicates) a run.
pub async fn start(store: &Store, req: StartRequest) -> Result<Inserted, ServiceError> {
    let params = OperationParams::parse(req.op_type, &req.params).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    match (&params, req.tenant_id) {
        (OperationParams::BulkOperation(_), Some(_)) => {
            return Err(ServiceError::Invalid("a bulk operation names its tenants in params, not a tenant".into()))
        }
        (OperationParams::BulkOperation(bulk), None) => {
            check_bulk_targets(store, req.workspace_id, req.user_id, bulk).await?;
        }
        (_, None) => return Err(ServiceError::Invalid(format!("{} needs a tenant", req.op_type))),
        (OperationParams::DriftCheck, Some(tenant_id)) => {
            check_drift_prerequisites(store, req.workspace_id, tenant_id, req.user_id).await?;
        }
        (_, Some(_)) => {}
    }
    let new = NewRun {
        op_type: req.op_type,
        workspace_id: req.workspace_id,
        tenant_id: req.tenant_id,
        authority: Authority::Actor { user_id: req.user_id },
        params: params.to_json(),
        retry_of_run_id: req.retry_of_run_id,
        max_attempts: req.max_attempts,
    };
    insert_authorized(store, new).await
}

/// A bulk run's targets (SPEC §3.5), answered the same from the console, the
/// API and the CLI: an item operation that bulk may apply and at least one
/// tenant, or the request is invalid; every tenant one of this workspace's
/// and, for a member, within their scope, or it is not found — like any
/// object the starter cannot see. (A non-member is the gate's to refuse.)
async fn check_bulk_targets(
    store: &Store,
    workspace_id: Uuid,
    user_id: Uuid,
    bulk: &BulkParams,
) -> Result<(), ServiceError> {
    if !bulk.operation.runs_in_bulk() {
        let names: Vec<&str> = bulk_item_types().map(OperationType::as_str).collect();
        return Err(ServiceError::Invalid(format!(
            "{} cannot run in bulk: a bulk run applies one of {}",
            bulk.operation,
            names.join(", ")
        )));
    }
    if bulk.tenant_ids.is_empty() {
        return Err(ServiceError::Invalid("tenant_ids must name at least one tenant".into()));
    }
    for id in &bulk.tenant_ids {
        let tenant = match store.tenant_get(*id).await {
            Ok(t) => t,
            Err(StoreError::NotFound(_)) => return Err(ServiceError::NotFound(format!("tenant {id}"))),
            Err(e) => return Err(e.into()),
        };
        if tenant.workspace_id != workspace_id {
            return Err(ServiceError::NotFound(format!("tenant {id}")));
        }
    }
    if let Some(v) = viewer(store, workspace_id, user_id).await? {
        if access::check(Some(&v), &bulk.tenant_ids, Capability::BulkExecute) == Access::NotFound {
            return Err(ServiceError::NotFound("a tenant of this bulk run".into()));
        }
    }
    Ok(())
}

/// A drift check compares the live tenant (read through its connection) with
/// its newest backup: without either there is nothing to compare, which is
/// bad input (422 / exit 2) said in words, not a run that fails. Asked only
/// for a tenant the starter may see; for any other the gate answers (404).
async fn check_drift_prerequisites(
    store: &Store,
    workspace_id: Uuid,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<(), ServiceError> {
    let tenant = match store.tenant_get(tenant_id).await {
        Ok(t) if t.workspace_id == workspace_id => t,
        Ok(_) | Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let v = viewer(store, workspace_id, user_id).await?;
    if access::check(v.as_ref(), &[tenant_id], Capability::TenantView) != Access::Allowed {
        return Ok(());
    }
    if store.connection_get(tenant_id).await?.is_none() {
        return Err(ServiceError::Invalid(format!(
            "{} has no provider connection: a drift check reads the live tenant through it (add one with `atlas connections add`)",
            tenant.name
        )));
    }
    if store.backup_sets_for_tenant(tenant_id, 1).await?.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "{} has no backup set to compare with: back it up first (backup.run)",
            tenant.name
        )));
    }
    Ok(())
}

async fn insert_authorized(store: &Store, new: NewRun) -> Result<Inserted, ServiceError> {
    let (run, audit) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
    match store.run_start(&run, &audit).await? {
        Started::Queued(inserted) => Ok(inserted),
        Started::Refused(decision) => Err(ServiceError::Denied(decision)),
    }
}

/// Approves a run awaiting approval as a user (SPEC §10.2; the rule is
/// `atlas_core::approval::decide`, applied by the store in the writing transaction).
pub async fn approve(store: &Store, run_id: Uuid, user_id: Uuid) -> Result<Run, ServiceError> {
    Ok(store.run_approve(run_id, user_id).await?)
}

/// Rejects a run awaiting approval as a user: it completes blocked `approval_rejected`.
pub async fn reject(store: &Store, run_id: Uuid, user_id: Uuid, reason: Option<String>) -> Result<Run, ServiceError> {
    Ok(store.run_reject(run_id, user_id, reason).await?)
}

/// A user as the approval rule sees them in a workspace (`None`: not a member).
pub async fn member(store: &Store, workspace_id: Uuid, user_id: Uuid) -> Result<Option<Member>, ServiceError> {
    let Some(viewer) = viewer(store, workspace_id, user_id).await? else { return Ok(None) };
    let disabled = store.user_get(user_id).await?.disabled_at.is_some();
    Ok(Some(Member { viewer, disabled }))
}

/// The viewer a user is in a workspace (`None`: not a member).
pub async fn viewer(store: &Store, workspace_id: Uuid, user_id: Uuid) -> Result<Option<Viewer>, ServiceError> {
    let m = store.membership_get(workspace_id, user_id).await?;
    Ok(m.map(|m| Viewer { user_id, role: m.role, scope: m.tenant_scope }))
}

/// A run as a user may see it: hidden runs are `NotFound`, like missing ones.
pub async fn run_for(store: &Store, run_id: Uuid, user_id: Uuid) -> Result<(Run, Option<Viewer>), ServiceError> {
    let run = store.run_get(run_id).await?;
    let v = viewer(store, run.workspace_id, user_id).await?;
    match access::view_run(v.as_ref(), &run) {
        Access::Allowed => Ok((run, v)),
        Access::Forbidden => Err(ServiceError::Forbidden("you may not view operations in this workspace".into())),
        Access::NotFound => Err(ServiceError::NotFound(format!("run {run_id}"))),
    }
}

/// Cancels a run as a user (`access::can_cancel`): its initiator, or with
/// `operations.cancel`.
pub async fn cancel(store: &Store, run_id: Uuid, user_id: Uuid) -> Result<Run, ServiceError> {
    let run = store.run_get(run_id).await?;
    let v = viewer(store, run.workspace_id, user_id).await?;
    let access = access::can_cancel(v.as_ref(), &run);
    if access == Access::NotFound {
        return Err(ServiceError::NotFound(format!("run {run_id}")));
    }
    if run.status == RunStatus::Completed {
        return Err(ServiceError::Conflict(format!("run {run_id} has already completed")));
    }
    if access == Access::Forbidden {
        return Err(ServiceError::Forbidden("you need operations.cancel or to be the run's initiator".into()));
    }
    Ok(store.run_cancel(run_id, Actor::User { user_id }).await?)
}

/// Retries a completed run that did not fully succeed: a new run of the same
/// type and parameters, started by this user and authorized afresh.
pub async fn retry(store: &Store, run_id: Uuid, user_id: Uuid, max_attempts: u32) -> Result<Inserted, ServiceError> {
    let run = store.run_get(run_id).await?;
    let v = viewer(store, run.workspace_id, user_id).await?;
    // Without the type's capability the gate refuses the new run below, with
    // its reason code (SPEC §3.2).
    if access::can_retry(v.as_ref(), &run) == Access::NotFound {
        return Err(ServiceError::NotFound(format!("run {run_id}")));
    }
    if !run.is_retryable() {
        return Err(ServiceError::Conflict(format!(
            "only a failed, blocked, cancelled or partially succeeded run can be retried (run {run_id} is {}/{})",
            run.status.as_str(),
            run.outcome.as_str()
        )));
    }
    start(
        store,
        StartRequest {
            user_id,
            workspace_id: run.workspace_id,
            tenant_id: run.tenant_id,
            op_type: run.op_type,
            params: run.params.clone(),
            retry_of_run_id: Some(run.id),
            max_attempts,
        },
    )
    .await
}
