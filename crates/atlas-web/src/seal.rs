//! Seals the audit log after every request that may have written to it.
//!
//! An appended event is only protected once sealed; this process may run no
//! worker (`serve --no-workers`), so it does not leave that to one.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

pub async fn after_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Reads append nothing (sign-in is a POST).
    let writes = !req.method().is_safe();
    let resp = next.run(req).await;
    if writes {
        if let Err(e) = state.store.audit_seal().await {
            tracing::warn!(error = %e, "audit sealer failed");
        }
    }
    resp
}
