//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the
//! database answers) and `/metrics` (Prometheus text format). On the
//! console's address `/metrics` needs `Authorization: Bearer` with the
//! configured metrics token and is not served without one; a separate
//! metrics address (`metrics_bind`) serves it without a token. Denial reason
//! codes of the `scope_denied` class never appear in it (they say who lost
//! access to what), as they never reach an HTTP client elsewhere.

use std::fmt::Write;

use atlas_core::gate::{DenialClass, ReasonCode};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::Unavailable.into_response()
        }
    }
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn quantile(sorted: &[i64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let last = sorted.len() - 1;
    let idx = ((last as f64) * q).round() as usize;
    sorted[idx.min(last)] as f64 / 1000.0
}

/// `/metrics` on the console's address: only with the configured token.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return Err(ApiError::NotFound);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    if !given.is_some_and(|g| crate::auth::csrf::same(g, expected)) {
        let mut resp = ApiError::Unauthenticated.into_response();
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return Ok(resp);
    }
    metrics_text(&state).await
}

/// `/metrics` on the separate metrics address: no token.
pub async fn metrics_open(State(state): State<AppState>) -> Result<Response, ApiError> {
    metrics_text(&state).await
}

fn scope_denied(reason: &str) -> bool {
    ReasonCode::ALL.iter().any(|r| r.as_str() == reason && r.class() == DenialClass::ScopeDenied)
}

async fn metrics_text(state: &AppState) -> Result<Response, ApiError> {
    let m = state.store.metrics_snapshot().await?;
    let mut out = String::new();
    let _ = writeln!(out, "# HELP atlas_runs Operation runs by type, status and outcome.");
    let _ = writeln!(out, "# TYPE atlas_runs gauge");
    for (t, s, o, n) in &m.runs {
        let _ =
            writeln!(out, "atlas_runs{{type=\"{}\",status=\"{}\",outcome=\"{}\"}} {n}", label(t), label(s), label(o));
    }
    let _ = writeln!(out, "# HELP atlas_gate_denials Blocked runs by the reason code of their gate decision.");
    let _ = writeln!(out, "# TYPE atlas_gate_denials gauge");
    for (r, n) in m.blocked_by_reason.iter().filter(|(r, _)| !scope_denied(r)) {
        let _ = writeln!(out, "atlas_gate_denials{{reason_code=\"{}\"}} {n}", label(r));
    }
    let _ = writeln!(out, "# HELP atlas_queue_depth Runs waiting in the queue.");
    let _ = writeln!(out, "# TYPE atlas_queue_depth gauge");
    let _ = writeln!(out, "atlas_queue_depth {}", m.queue_depth);
    let age = m.oldest_queued_at.map_or(0.0, |t| ((atlas_store::now().micros() - t.micros()).max(0) as f64) / 1e6);
    let _ = writeln!(out, "# HELP atlas_queue_oldest_age_seconds Age of the oldest queued run.");
    let _ = writeln!(out, "# TYPE atlas_queue_oldest_age_seconds gauge");
    let _ = writeln!(out, "atlas_queue_oldest_age_seconds {age:.3}");
    let mut lat = m.recent_claim_latencies_ms.clone();
    lat.sort_unstable();
    let _ = writeln!(out, "# HELP atlas_claim_latency_seconds Queued-to-started latency of the most recent runs.");
    let _ = writeln!(out, "# TYPE atlas_claim_latency_seconds summary");
    for q in [0.5, 0.9, 0.99] {
        let _ = writeln!(out, "atlas_claim_latency_seconds{{quantile=\"{q}\"}} {:.3}", quantile(&lat, q));
    }
    let sum: i64 = lat.iter().sum();
    let _ = writeln!(out, "atlas_claim_latency_seconds_sum {:.3}", sum as f64 / 1000.0);
    let _ = writeln!(out, "atlas_claim_latency_seconds_count {}", lat.len());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_denied_reason_codes_are_left_out() {
        let mut hidden = 0;
        for r in ReasonCode::ALL {
            assert_eq!(scope_denied(r.as_str()), r.class() == DenialClass::ScopeDenied, "{}", r.as_str());
            hidden += usize::from(r.class() == DenialClass::ScopeDenied);
        }
        assert!(hidden > 0, "the registry has scope_denied codes to hide");
        assert!(scope_denied("tenant_entitlement_revoked"));
        assert!(!scope_denied("provider_connection_disabled"));
    }
}
