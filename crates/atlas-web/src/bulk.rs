//! Bulk runs (SPEC §3.5), as both surfaces start them: which item operations
//! a bulk run may apply, and the start request for a set of tenants of the
//! workspace. The console's multi-select and
//! `POST /api/v1/workspaces/{workspace}/operations` both come through here.

use atlas_core::access::{self, Access};
use atlas_core::operation::validate_params;
use atlas_core::run::Run;
use atlas_core::{Capability, OperationType};
use atlas_engine::StartRequest;
use serde_json::Value;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The operation types a bulk run may apply: those that need no parameters
/// of their own (and not bulk itself).
pub fn item_types() -> impl Iterator<Item = OperationType> {
    OperationType::all().filter(|t| *t != OperationType::BulkOperation && validate_params(*t, &Value::Null).is_ok())
}

/// The item operation of a bulk run, if it is one.
pub fn item_type(run: &Run) -> Option<OperationType> {
    if run.op_type != OperationType::BulkOperation {
        return None;
    }
    run.params.get("operation").and_then(Value::as_str).and_then(OperationType::parse)
}

/// The request that starts `op` on `tenant_ids` as this viewer. Every tenant
/// must be a tenant of the workspace in the viewer's scope — otherwise not
/// found, like any object the viewer cannot see. The gate decides the rest.
pub async fn request(state: &AppState, ctx: &Ctx, params: &Value) -> ApiResult<StartRequest> {
    let ws = ctx.workspace()?;
    let params = validate_params(OperationType::BulkOperation, params).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let op = params.get("operation").and_then(Value::as_str).and_then(OperationType::parse);
    if !op.is_some_and(|op| item_types().any(|t| t == op)) {
        let names: Vec<&str> = item_types().map(OperationType::as_str).collect();
        return Err(ApiError::Invalid(format!("a bulk run applies one of: {}", names.join(", "))));
    }
    let ids: Vec<Uuid> = params
        .get("tenant_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok())).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::Invalid("tenant_ids must name at least one tenant".into()));
    }
    for id in &ids {
        let t = state.store.tenant_get(*id).await?;
        if t.workspace_id != ws.id {
            return Err(ApiError::NotFound);
        }
    }
    if access::check(ctx.viewer.as_ref(), &ids, Capability::BulkExecute) == Access::NotFound {
        return Err(ApiError::NotFound);
    }
    if !state.bulk_supported {
        return Err(ApiError::Invalid("bulk operations are not supported by this build".into()));
    }
    Ok(StartRequest {
        user_id: ctx.user.id,
        workspace_id: ws.id,
        tenant_id: None,
        op_type: OperationType::BulkOperation,
        params,
        retry_of_run_id: None,
        max_attempts: state.engine.max_attempts,
    })
}
