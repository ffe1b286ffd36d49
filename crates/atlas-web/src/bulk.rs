//! Bulk runs (SPEC §3.5), as both surfaces start them: which item operations
//! a bulk run may apply, and the start request for a set of tenants of the
//! workspace. The console's multi-select and
//! `POST /api/v1/workspaces/{workspace}/operations` both come through here;
//! their targets are checked by the start itself (`atlas_engine::service`),
//! so the console, the API and the CLI answer alike.

use atlas_core::run::Run;
use atlas_core::OperationType;
use atlas_engine::StartRequest;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The operation types a bulk run may apply: those that need no parameters
/// of their own (and not bulk itself).
pub fn item_types() -> impl Iterator<Item = OperationType> {
    atlas_core::operation::bulk_item_types()
}

/// The item operation of a bulk run, if it is one.
pub fn item_type(run: &Run) -> Option<OperationType> {
    run.operation_params().ok()?.bulk().map(|b| b.operation)
}

/// The request that starts a bulk run with `params` as this viewer. Its
/// tenants must be tenants of the workspace in the viewer's scope — otherwise
/// not found, like any object the viewer cannot see; the gate decides the rest.
pub async fn request(state: &AppState, ctx: &Ctx, params: &Value) -> ApiResult<StartRequest> {
    let ws = ctx.workspace()?;
    if !state.bulk_supported {
        return Err(ApiError::Invalid("bulk operations are not supported by this build".into()));
    }
    Ok(StartRequest {
        user_id: ctx.user.id,
        workspace_id: ws.id,
        tenant_id: None,
        op_type: OperationType::BulkOperation,
        params: params.clone(),
        retry_of_run_id: None,
        max_attempts: state.engine.max_attempts,
    })
}
