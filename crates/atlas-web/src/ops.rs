//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the
//! database answers) and `/metrics` (Prometheus text format).

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, StatusCode};
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

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
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
    for (r, n) in &m.blocked_by_reason {
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
