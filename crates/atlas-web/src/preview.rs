//! What the gate would say to a start now, without starting anything: the
//! tenant page's disabled buttons and the run viewer's Retry come through
//! this one function, the store's read-only evaluation (`run_decide`, which
//! neither inserts nor takes the writer).

use atlas_core::gate::{Authority, Decision};
use atlas_core::operation::validate_params;
use atlas_core::run::{NewRun, Run};
use atlas_core::OperationType;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A start the gate is asked about (as `service::start` would make it).
pub struct Ask {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub op_type: OperationType,
    pub params: Value,
}

/// The decision a start of `ask` would get now (attempt 0: start wording).
pub async fn start_decision(state: &AppState, ask: Ask) -> ApiResult<Decision> {
    let params = validate_params(ask.op_type, &ask.params).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let new = NewRun {
        op_type: ask.op_type,
        workspace_id: ask.workspace_id,
        tenant_id: ask.tenant_id,
        authority: Authority::Actor { user_id: ask.user_id },
        params,
        retry_of_run_id: None,
        max_attempts: 1,
    };
    let (run, _) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
    Ok(state.store.run_decide(&run, 0).await?)
}

/// What a Retry of `run` by `user_id` would get now.
pub async fn retry_decision(state: &AppState, run: &Run, user_id: Uuid) -> ApiResult<Decision> {
    let ask = Ask {
        user_id,
        workspace_id: run.workspace_id,
        tenant_id: run.tenant_id,
        op_type: run.op_type,
        params: run.params.clone(),
    };
    start_decision(state, ask).await
}
