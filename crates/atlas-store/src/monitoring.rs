//! Read helpers behind the Monitoring console and `/metrics`: bounded tab
//! counts (never a `COUNT(*)` over all runs on a page load) and a metrics
//! snapshot.

use atlas_core::run::{RunOutcome, RunStatus};
use atlas_core::Timestamp;
use uuid::Uuid;

use crate::run::{bind_all, Binds, Initiator, RunFilter};
use crate::{on_db, Dialect, Store, StoreResult};

/// Counts of the Monitoring tabs and outcome chips under the list's filters
/// (status and outcome aside). Each is capped: a value equal to the cap means
/// "at least that many" (shown as "99+").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TabCounts {
    pub cap: i64,
    pub all: i64,
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    /// Completed runs per outcome, in `RunOutcome::ALL` order (without pending).
    pub outcomes: Vec<(RunOutcome, i64)>,
}

/// What `/metrics` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// (type, status, outcome, runs).
    pub runs: Vec<(String, String, String, i64)>,
    /// Blocked runs by the reason code of their last decision.
    pub blocked_by_reason: Vec<(String, i64)>,
    pub queue_depth: i64,
    pub oldest_queued_at: Option<Timestamp>,
    /// Claim latency (first start minus the time it became runnable) of the
    /// most recently created runs that have started, in milliseconds.
    pub recent_claim_latencies_ms: Vec<i64>,
}

/// Row counts of the tables a refused request must not change (tests compare
/// them before and after).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldCounts {
    pub runs: i64,
    pub tenants: i64,
    pub memberships: i64,
    pub custom_roles: i64,
    pub schedules: i64,
    pub connections_enabled: i64,
    pub tenants_writable: i64,
    pub notifications_unread: i64,
    pub audit_events: i64,
}

/// The filter conditions shared by the tab counts (status and outcome left out).
fn base_conditions(f: &RunFilter, b: &mut Binds) -> Vec<String> {
    let mut conds = Vec::new();
    if let Some(w) = f.workspace_id {
        conds.push(format!("workspace_id = {}", b.text(w.to_string())));
    }
    if let Some(t) = f.tenant_id {
        conds.push(format!("tenant_id = {}", b.text(t.to_string())));
    }
    if let Some(scope) = &f.tenant_scope {
        conds.push(format!("tenant_id IN ({})", b.list(scope.iter().map(Uuid::to_string))));
    }
    if let Some(t) = f.op_type {
        conds.push(format!("type = {}", b.text(t.as_str())));
    }
    match &f.initiator {
        Some(Initiator::User(u)) => conds.push(format!("initiator_user_id = {}", b.text(u.to_string()))),
        Some(Initiator::System) => conds.push("authority_mode = 'system_authority'".into()),
        None => {}
    }
    conds
}

impl Store {
    /// The Monitoring tab counts, each bounded by `cap` rows of an index scan.
    pub async fn run_tab_counts(&self, f: &RunFilter, cap: u32) -> StoreResult<TabCounts> {
        let mut b = Binds::new();
        let conds = base_conditions(f, &mut b);
        let cap = i64::from(cap.clamp(1, 10_000));
        let limit = b.int(cap);
        let mut parts: Vec<(String, String)> = vec![("all".into(), String::new())];
        for s in RunStatus::ALL {
            parts.push((s.as_str().into(), format!("status = '{}'", s.as_str())));
        }
        for o in RunOutcome::ALL.iter().filter(|o| **o != RunOutcome::Pending) {
            parts.push((o.as_str().into(), format!("outcome = '{}'", o.as_str())));
        }
        let selects: Vec<String> = parts
            .iter()
            .map(|(key, extra)| {
                let mut all = conds.clone();
                if !extra.is_empty() {
                    all.push(extra.clone());
                }
                let where_sql = if all.is_empty() { String::new() } else { format!(" WHERE {}", all.join(" AND ")) };
                format!(
                    "SELECT '{key}' AS k, CAST(COUNT(*) AS BIGINT) AS n FROM \
                     (SELECT 1 AS x FROM operation_runs{where_sql} LIMIT {limit}) AS c_{key}"
                )
            })
            .collect();
        let sql = selects.join(" UNION ALL ");
        let rows: Vec<(String, i64)> = on_db!(self.db(), |p| bind_all!(sqlx::query_as(&sql), b).fetch_all(p).await)?;
        let get = |k: &str| rows.iter().find(|(key, _)| key == k).map_or(0, |(_, n)| *n);
        Ok(TabCounts {
            cap,
            all: get("all"),
            queued: get("queued"),
            running: get("running"),
            completed: get("completed"),
            outcomes: RunOutcome::ALL
                .iter()
                .filter(|o| **o != RunOutcome::Pending)
                .map(|o| (*o, get(o.as_str())))
                .collect(),
        })
    }

    /// The numbers behind `/metrics`.
    pub async fn metrics_snapshot(&self) -> StoreResult<MetricsSnapshot> {
        let runs: Vec<(String, String, String, i64)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT type, status, outcome, CAST(COUNT(*) AS BIGINT) FROM operation_runs \
             GROUP BY type, status, outcome ORDER BY type, status, outcome"
        )
        .fetch_all(p)
        .await)?;
        let reason = match self.dialect() {
            Dialect::Sqlite => "json_extract(decision, '$.reason_code')",
            Dialect::Postgres => "(decision::json ->> 'reason_code')",
        };
        let sql = format!(
            "SELECT COALESCE({reason}, 'unknown') AS r, CAST(COUNT(*) AS BIGINT) FROM operation_runs \
             WHERE outcome = 'blocked' AND decision IS NOT NULL GROUP BY r ORDER BY r"
        );
        let blocked_by_reason: Vec<(String, i64)> = on_db!(self.db(), |p| sqlx::query_as(&sql).fetch_all(p).await)?;
        let (queue_depth, oldest): (i64, Option<i64>) = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT), MIN(created_at) FROM operation_runs WHERE status = 'queued'"
        )
        .fetch_one(p)
        .await)?;
        let latencies: Vec<(i64, i64)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT started_at, created_at FROM \
             (SELECT started_at, created_at FROM operation_runs ORDER BY id DESC LIMIT 1000) AS recent \
             WHERE started_at IS NOT NULL"
        )
        .fetch_all(p)
        .await)?;
        Ok(MetricsSnapshot {
            runs,
            blocked_by_reason,
            queue_depth,
            oldest_queued_at: oldest.map(Timestamp),
            recent_claim_latencies_ms: latencies.into_iter().map(|(s, c)| (s - c).max(0) / 1000).collect(),
        })
    }

    /// Row counts for before/after comparisons in tests.
    #[doc(hidden)]
    pub async fn world_counts_for_tests(&self) -> StoreResult<WorldCounts> {
        let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM operation_runs), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM tenants), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM memberships), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM custom_roles), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM backup_schedules), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM provider_connections WHERE status = 'enabled'), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM tenants WHERE writes_enabled = 1), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM notifications WHERE read_at IS NULL), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM audit_events)"
        )
        .fetch_one(p)
        .await)?;
        Ok(WorldCounts {
            runs: row.0,
            tenants: row.1,
            memberships: row.2,
            custom_roles: row.3,
            schedules: row.4,
            connections_enabled: row.5,
            tenants_writable: row.6,
            notifications_unread: row.7,
            audit_events: row.8,
        })
    }
}
