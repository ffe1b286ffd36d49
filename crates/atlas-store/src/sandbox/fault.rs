//! Injected faults: the next N provider calls of a tenant are slowed,
//! throttled or failed (`atlas sandbox fault`).

use serde::Serialize;
use uuid::Uuid;

use crate::row::parse;
use crate::{exec, on_db, on_tx, Store, StoreError, StoreResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxFaultKind {
    /// Slow down each call by `ms`, then answer.
    Latency,
    /// Answer 429 with `Retry-After: ms`.
    Throttle,
    /// Answer a retryable 503.
    Error,
}

impl SandboxFaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxFaultKind::Latency => "latency",
            SandboxFaultKind::Throttle => "throttle",
            SandboxFaultKind::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<SandboxFaultKind> {
        match s {
            "latency" => Some(SandboxFaultKind::Latency),
            "throttle" => Some(SandboxFaultKind::Throttle),
            "error" => Some(SandboxFaultKind::Error),
            _ => None,
        }
    }
}

/// One fault taken for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxFault {
    pub kind: SandboxFaultKind,
    pub ms: u64,
    /// Calls still to be faulted after this one.
    pub remaining: u32,
}

impl Store {
    /// Makes the tenant's next `calls` provider calls slow, throttled or failing
    /// (replacing any earlier fault; `calls = 0` clears it).
    pub async fn sandbox_fault_set(
        &self,
        tenant_id: Uuid,
        kind: SandboxFaultKind,
        calls: u32,
        ms: u64,
    ) -> StoreResult<()> {
        let ms = i64::try_from(ms).map_err(|_| StoreError::Invalid(format!("{ms} ms is too long")))?;
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO sandbox_faults (tenant_id, kind, remaining, ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id) DO UPDATE SET kind = excluded.kind, remaining = excluded.remaining, \
                 ms = excluded.ms"
            )
            .bind(tenant_id.to_string())
            .bind(kind.as_str())
            .bind(i64::from(calls))
            .bind(ms)
        )?;
        tx.commit().await
    }

    /// Takes one call's fault, if any is left: exactly `calls` callers get one,
    /// however many race.
    pub async fn sandbox_fault_take(&self, tenant_id: Uuid) -> StoreResult<Option<SandboxFault>> {
        let tid = tenant_id.to_string();
        // Every provider call asks, and almost always there is no fault: a plain
        // read keeps that path off SQLite's writer lock.
        let pending: Option<(i64,)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT remaining FROM sandbox_faults WHERE tenant_id = $1 AND remaining > 0"
        )
        .bind(&tid)
        .fetch_optional(p)
        .await)?;
        if pending.is_none() {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        // The guard `remaining > 0` makes the decrement the arbiter between racers.
        let row: Option<(String, i64, i64)> = on_tx!(&mut tx, |c| {
            sqlx::query_as(
                "UPDATE sandbox_faults SET remaining = remaining - 1 WHERE tenant_id = $1 AND remaining > 0 \
             RETURNING kind, ms, remaining",
            )
            .bind(&tid)
            .fetch_optional(c)
            .await
        })?;
        tx.commit().await?;
        row.map(|(kind, ms, remaining)| {
            Ok(SandboxFault {
                kind: parse(&kind, "sandbox fault kind", SandboxFaultKind::parse)?,
                ms: u64::try_from(ms).unwrap_or(0),
                remaining: u32::try_from(remaining).unwrap_or(0),
            })
        })
        .transpose()
    }
}
