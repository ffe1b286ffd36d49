//! `?preview=true` on the administrative endpoints that can affect
//! legitimacy (SPEC §10.2): the change is resolved and refused as applying it
//! would be, and the answer lists what it would block; nothing changes.

use atlas_core::impact::AdminChange;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::query::parse_query;
use crate::state::AppState;

/// Other query parameters are the route's (`workspace`, say) and left alone.
#[derive(Default, Deserialize)]
struct PreviewQuery {
    #[serde(default)]
    preview: Option<String>,
}

/// Whether the request asks for a preview (`?preview=true`; `false` or none: apply).
pub fn wanted(raw: Option<&str>) -> ApiResult<bool> {
    let q: PreviewQuery = parse_query(raw)?;
    match q.preview.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::Invalid(format!("preview must be true or false, not `{other}`"))),
    }
}

/// The preview of a resolved change: `{"preview": true, "affected": [...], "changed": false}`.
pub async fn answer(state: &AppState, change: AdminChange) -> ApiResult<Json<Value>> {
    let p = atlas_engine::impact::preview(&state.store, &change, state.config.cron).await?;
    Ok(Json(json!(p)))
}
