//! What the console's live channel reads each tick: a small picture of a
//! workspace's moving runs, read along the partial indexes of Monitoring
//! (migrations 0012, 0014) in one statement, whatever the table's size.
//!
//! A tick reads the workspace's running runs, its newest queued runs and its
//! newest completed run. Comparing two such pictures shows every change a
//! console page can show: a run queued (new among the queued), claimed (new
//! among the running), progressing (its counts changed), and finished (gone
//! from the active ones, then read by id, or the newest completed id moved
//! for a run that came and went between two ticks). Workers may be other
//! processes on the same database, so nothing here relies on events of this
//! process.

use atlas_core::params::OperationParams;
use atlas_core::run::{RunOutcome, RunStatus};
use atlas_core::{OperationType, SummaryCounts};
use uuid::Uuid;

use crate::monitoring::{life_conditions, newest_sql};
use crate::row::{json, opt_uuid, parse, uuid};
use crate::run::Binds;
use crate::{on_db, Store, StoreResult};

/// The running runs a tick reads (more than any worker fleet runs at once).
pub const RUNNING_WINDOW: i64 = 500;
/// The newest queued runs a tick reads: the queued runs a page can show.
pub const QUEUED_WINDOW: i64 = 200;

/// One run as the live channel reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunPulse {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub op_type: OperationType,
    pub tenant_id: Option<Uuid>,
    /// The tenants it touches (a bulk run's `tenant_ids`), for the access rule.
    pub tenants: Vec<Uuid>,
    pub status: RunStatus,
    pub outcome: RunOutcome,
    pub attempt: u32,
    pub summary_counts: SummaryCounts,
}

/// A workspace's moving runs at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSnapshot {
    /// Running runs, then the newest queued ones.
    pub active: Vec<RunPulse>,
    pub newest_completed: Option<RunPulse>,
}

const PULSE_COLUMNS: &str = "id, type, tenant_id, status, outcome, attempt, summary_counts, params";

type PulseRow = (String, String, Option<String>, String, String, i64, String, String);

fn pulse((id, op, tenant, status, outcome, attempt, counts, params): PulseRow) -> StoreResult<RunPulse> {
    let tenant_id = opt_uuid(tenant.as_deref())?;
    let op_type = parse(&op, "operation type", OperationType::parse)?;
    let tenants = match tenant_id {
        Some(t) => vec![t],
        None => OperationParams::parse(op_type, &json(&params)?)
            .ok()
            .and_then(|p| p.bulk().map(|b| b.tenant_ids.clone()))
            .unwrap_or_default(),
    };
    Ok(RunPulse {
        id: uuid(&id)?,
        op_type,
        tenant_id,
        tenants,
        status: parse(&status, "run status", RunStatus::parse)?,
        outcome: parse(&outcome, "run outcome", RunOutcome::parse)?,
        attempt: u32::try_from(attempt).unwrap_or(0),
        summary_counts: SummaryCounts::normalize(&json(&counts)?),
    })
}

impl Store {
    /// The workspace's running runs, newest queued runs and newest completed
    /// run, in one statement along partial indexes.
    pub async fn live_snapshot(&self, workspace_id: Uuid) -> StoreResult<LiveSnapshot> {
        let mut b = Binds::new();
        let ws = vec![format!("workspace_id = {}", b.text(workspace_id.to_string()))];
        let branch = |status: RunStatus, limit: i64| {
            newest_sql(PULSE_COLUMNS, &ws, &[life_conditions(Some(status), None)], &limit.to_string())
        };
        let sql = format!(
            "SELECT * FROM ({}) AS running UNION ALL SELECT * FROM ({}) AS queued \
             UNION ALL SELECT * FROM ({}) AS done",
            branch(RunStatus::Running, RUNNING_WINDOW),
            branch(RunStatus::Queued, QUEUED_WINDOW),
            branch(RunStatus::Completed, 1),
        );
        let rows: Vec<PulseRow> =
            on_db!(self.db(), |p| crate::run::bind_all!(sqlx::query_as(&sql), b).fetch_all(p).await)?;
        let mut snapshot = LiveSnapshot::default();
        for row in rows {
            let p = pulse(row)?;
            if p.status == RunStatus::Completed {
                snapshot.newest_completed = Some(p);
            } else {
                snapshot.active.push(p);
            }
        }
        Ok(snapshot)
    }

    /// Runs by id (those that left the active ones since the last tick).
    pub async fn live_pulses(&self, ids: &[Uuid]) -> StoreResult<Vec<RunPulse>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut b = Binds::new();
        let list = b.list(ids.iter().map(Uuid::to_string));
        let sql = format!("SELECT {PULSE_COLUMNS} FROM operation_runs WHERE id IN ({list})");
        let rows: Vec<PulseRow> =
            on_db!(self.db(), |p| crate::run::bind_all!(sqlx::query_as(&sql), b).fetch_all(p).await)?;
        rows.into_iter().map(pulse).collect()
    }
}

impl Store {
    /// Runs by id, for a page that names many (the audit log's subjects);
    /// ids of missing runs are left out.
    pub async fn run_get_many(&self, ids: &[Uuid]) -> StoreResult<Vec<atlas_core::run::Run>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut b = Binds::new();
        let list = b.list(ids.iter().map(Uuid::to_string));
        let sql = format!("SELECT {} FROM operation_runs WHERE id IN ({list})", crate::run::RUN_COLUMNS);
        let rows: Vec<crate::run::RunRow> =
            on_db!(self.db(), |p| crate::run::bind_all!(sqlx::query_as(&sql), b).fetch_all(p).await)?;
        rows.into_iter().map(crate::run::RunRow::into_domain).collect()
    }
}
