//! Read helpers behind the Monitoring console and `/metrics`: bounded tab
//! counts (never a `COUNT(*)` over all runs on a page load) and a metrics
//! snapshot.
//!
//! # Run counts
//!
//! `/metrics` reports every run by type, status and outcome, and blocked runs
//! by reason code, without scanning all runs per scrape. A completed run never
//! changes its type, status, outcome or decision again, so runs below a
//! watermark id (`run_count_watermark`), all completed, are counted once into
//! `run_count_rollup`; a scrape adds the runs at or above the watermark (the
//! last minutes, plus any still active) by a primary-key range scan. The
//! watermark never passes the oldest active run, nor `WATERMARK_LAG` before
//! the database clock, so that ids made by a node whose clock runs a little
//! behind still land above it. The cost of a scrape is the runs created since
//! the oldest active one (or the lag), whatever the table's size; the first
//! scrape of a database folds its history once.

use std::collections::BTreeMap;

use atlas_core::run::{RunOutcome, RunStatus};
use atlas_core::Timestamp;
use uuid::Uuid;

use crate::run::{bind_all, Binds, Initiator, RunFilter};
use crate::{exec, on_db, on_tx, Db, Dialect, Store, StoreResult, Tx};

/// How far behind the database clock the count watermark stays.
const WATERMARK_LAG_MICROS: i64 = 5 * 60 * 1_000_000;

const WATERMARK_SELECT: &str = "SELECT below FROM run_count_watermark WHERE id = 1";

/// (type, status, outcome, reason code or '', runs).
type CountRow = (String, String, String, String, i64);

/// The reason code of a blocked run with a decision ('unknown' when the
/// decision has none), '' for every other run.
fn reason_sql(dialect: Dialect) -> String {
    let reason = match dialect {
        Dialect::Sqlite => "json_extract(decision, '$.reason_code')",
        Dialect::Postgres => "(decision::json ->> 'reason_code')",
    };
    format!("CASE WHEN outcome = 'blocked' AND decision IS NOT NULL THEN COALESCE({reason}, 'unknown') ELSE '' END")
}

/// The smallest run id (UUIDv7 text) made at `micros` or later.
fn id_floor(micros: i64) -> String {
    let ms = micros.max(0) / 1000;
    format!("{:08x}-{:04x}-0000-0000-000000000000", ms >> 16, ms & 0xffff)
}

/// The predicate of the status indexes (migration 0012): queued and running runs.
pub(crate) const ACTIVE: &str = "status <> 'completed'";
/// The predicate of the outcome indexes (migration 0012): completed runs.
pub(crate) const DONE: &str = "status = 'completed'";

/// The conditions for a status and an outcome filter, with the literal values
/// (from the enums) and the partial index predicate each implies, written out
/// word for word: a bound value, or a predicate the query only implies, would
/// keep SQLite (and PostgreSQL, for a bound value) from using the index.
pub(crate) fn life_conditions(status: Option<RunStatus>, outcome: Option<RunOutcome>) -> Vec<String> {
    let mut conds = Vec::new();
    let mut part = |c: &str| {
        if !conds.iter().any(|have| have == c) {
            conds.push(c.to_owned());
        }
    };
    if let Some(s) = status {
        part(&format!("status = '{}'", s.as_str()));
        part(if s == RunStatus::Completed { DONE } else { ACTIVE });
    }
    if let Some(o) = outcome {
        part(&format!("outcome = '{}'", o.as_str()));
        part(if o == RunOutcome::Pending { ACTIVE } else { DONE });
    }
    conds
}

/// The parts of a run's life a list of the newest runs reads one by one: with
/// a workspace or tenant (`scoped`) and no status or outcome, queued, running
/// and completed runs, each along its own partial index (migration 0014 keeps
/// no index of all of a workspace's runs, which every run's transitions would
/// write twice); otherwise the one part the filters name.
pub(crate) fn life_parts(scoped: bool, status: Option<RunStatus>, outcome: Option<RunOutcome>) -> Vec<Vec<String>> {
    if scoped && status.is_none() && outcome.is_none() {
        RunStatus::ALL.iter().map(|s| life_conditions(Some(*s), None)).collect()
    } else {
        vec![life_conditions(status, outcome)]
    }
}

/// A query for `columns` (with `id`) of the newest `limit` runs that match
/// `conds` and one of `parts`, newest first: one branch per part, each
/// stopping after `limit` entries of its index, merged.
pub(crate) fn newest_sql(columns: &str, conds: &[String], parts: &[Vec<String>], limit: &str) -> String {
    let branch = |part: &[String]| {
        let all: Vec<String> = conds.iter().chain(part).cloned().collect();
        format!("SELECT {columns} FROM operation_runs{} ORDER BY id DESC LIMIT {limit}", where_sql(&all))
    };
    match parts {
        [] => branch(&[]),
        [one] => branch(one),
        many => {
            let arms: Vec<String> =
                many.iter().enumerate().map(|(i, p)| format!("SELECT * FROM ({}) AS part{i}", branch(p))).collect();
            format!("{} ORDER BY id DESC LIMIT {limit}", arms.join(" UNION ALL "))
        }
    }
}

/// Counts of the Monitoring tabs and outcome chips under the list's filters
/// (status and outcome aside). Each is capped: a value equal to the cap means
/// "at least that many" (shown as "99+").
///
/// Workspace, tenant, status and outcome are index columns (the last two of
/// partial indexes, `life_conditions`), so a count stops after `cap` index
/// entries. A type or initiator filter is not: under one,
/// the counts are taken among the newest `COUNT_WINDOW` runs of the workspace
/// (or tenants), and of its queued and running runs, so that a rare
/// combination never scans a million rows; a count that did not reach the
/// cap in a full window is a lower bound, named in `at_least`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TabCounts {
    pub cap: i64,
    pub all: i64,
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    /// Completed runs per outcome, in `RunOutcome::ALL` order (without pending).
    pub outcomes: Vec<(RunOutcome, i64)>,
    /// The counts ("all", a status or an outcome) that are only lower bounds.
    pub at_least: Vec<String>,
}

impl TabCounts {
    /// Whether the count under `key` ("all", a status or an outcome) is only a lower bound.
    pub fn is_lower_bound(&self, key: &str) -> bool {
        self.at_least.iter().any(|k| k == key)
    }
}

/// How many of the newest runs matching the indexed filters a count with a
/// type or initiator filter looks at.
pub const COUNT_WINDOW: i64 = 2000;

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

/// The filter conditions shared by the tab counts (status and outcome left
/// out): those an index serves (workspace, tenant) and the rest (type,
/// initiator), which are checked row by row.
fn base_conditions(f: &RunFilter, b: &mut Binds) -> (Vec<String>, Vec<String>) {
    let mut indexed = Vec::new();
    let mut checked = Vec::new();
    if let Some(w) = f.workspace_id {
        indexed.push(format!("workspace_id = {}", b.text(w.to_string())));
    }
    if let Some(t) = f.tenant_id {
        indexed.push(format!("tenant_id = {}", b.text(t.to_string())));
    }
    if let Some(scope) = &f.tenant_scope {
        indexed.push(format!("tenant_id IN ({})", b.list(scope.iter().map(Uuid::to_string))));
    }
    if let Some(t) = f.op_type {
        checked.push(format!("type = {}", b.text(t.as_str())));
    }
    match &f.initiator {
        Some(Initiator::User(u)) => checked.push(format!("initiator_user_id = {}", b.text(u.to_string()))),
        Some(Initiator::System) => checked.push("authority_mode = 'system_authority'".into()),
        None => {}
    }
    (indexed, checked)
}

fn where_sql(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

impl Store {
    /// The Monitoring tab counts, each bounded by `cap` index entries, or by
    /// `COUNT_WINDOW` runs with a type or initiator filter (`TabCounts`).
    pub async fn run_tab_counts(&self, f: &RunFilter, cap: u32) -> StoreResult<TabCounts> {
        let cap = i64::from(cap.clamp(1, 10_000));
        let mut b = Binds::new();
        let (indexed, checked) = base_conditions(f, &mut b);
        if !checked.is_empty() {
            return self.run_tab_counts_in_window(b, &indexed, &checked, cap).await;
        }
        let limit = b.int(cap);
        let mut parts: Vec<(String, Vec<String>)> = Vec::new();
        for s in RunStatus::ALL {
            parts.push((s.as_str().into(), life_conditions(Some(*s), None)));
        }
        for o in RunOutcome::ALL.iter().filter(|o| **o != RunOutcome::Pending) {
            parts.push((o.as_str().into(), life_conditions(None, Some(*o))));
        }
        // No `ORDER BY`: any `cap` rows make the count, and without an order
        // Completed may count along an index that holds only completed runs,
        // instead of checking each run's status from the newest down.
        let selects: Vec<String> = parts
            .iter()
            .map(|(key, extra)| {
                let conds: Vec<String> = indexed.iter().chain(extra).cloned().collect();
                let where_sql = where_sql(&conds);
                format!(
                    "SELECT '{key}' AS k, CAST(COUNT(*) AS BIGINT) AS n FROM \
                     (SELECT 1 AS x FROM operation_runs{where_sql} LIMIT {limit}) AS c_{key}"
                )
            })
            .collect();
        let sql = selects.join(" UNION ALL ");
        let rows: Vec<(String, i64)> = on_db!(self.db(), |p| bind_all!(sqlx::query_as(&sql), b).fetch_all(p).await)?;
        let get = |k: &str| rows.iter().find(|(key, _)| key == k).map_or(0, |(_, n)| *n);
        let (queued, running, completed) = (get("queued"), get("running"), get("completed"));
        Ok(TabCounts {
            cap,
            // Every run is in one of the three (counted along their indexes):
            // below the cap their sum is exact, and at it so is the cap.
            all: (queued + running + completed).min(cap),
            queued,
            running,
            completed,
            outcomes: RunOutcome::ALL
                .iter()
                .filter(|o| **o != RunOutcome::Pending)
                .map(|o| (*o, get(o.as_str())))
                .collect(),
            at_least: Vec::new(),
        })
    }

    /// The tab counts under a type or initiator filter: the newest
    /// `COUNT_WINDOW` runs of the workspace (or tenants; `newest_sql`) for
    /// All, Completed and the outcomes, and the newest queued and running runs
    /// each, counting those that match the rest.
    async fn run_tab_counts_in_window(
        &self,
        mut b: Binds,
        indexed: &[String],
        checked: &[String],
        cap: i64,
    ) -> StoreResult<TabCounts> {
        let window = b.int(COUNT_WINDOW);
        let matches = checked.join(" AND ");
        let scan = |source: &str, status: Option<RunStatus>| {
            let parts = life_parts(!indexed.is_empty(), status, None);
            let newest =
                newest_sql("id, status, outcome, type, initiator_user_id, authority_mode", indexed, &parts, &window);
            format!(
                "SELECT '{source}' AS src, status, outcome, \
                 CAST(SUM(CASE WHEN {matches} THEN 1 ELSE 0 END) AS BIGINT) AS n, CAST(COUNT(*) AS BIGINT) AS seen \
                 FROM ({newest}) AS w_{source} GROUP BY status, outcome"
            )
        };
        let sql =
            [scan("all", None), scan("queued", Some(RunStatus::Queued)), scan("running", Some(RunStatus::Running))]
                .join(" UNION ALL ");
        let rows: Vec<(String, String, String, i64, i64)> =
            on_db!(self.db(), |p| bind_all!(sqlx::query_as(&sql), b).fetch_all(p).await)?;
        let full = |src: &str| rows.iter().filter(|r| r.0 == src).map(|r| r.4).sum::<i64>() >= COUNT_WINDOW;
        let mut at_least = Vec::new();
        let mut count = |key: &str, src: &str, keep: &dyn Fn(&str, &str) -> bool| {
            let n: i64 = rows.iter().filter(|r| r.0 == src && keep(&r.1, &r.2)).map(|r| r.3).sum();
            if n < cap && full(src) {
                at_least.push(key.to_owned());
            }
            n.min(cap)
        };
        let all = count("all", "all", &|_, _| true);
        let queued = count("queued", "queued", &|_, _| true);
        let running = count("running", "running", &|_, _| true);
        let completed = count("completed", "all", &|s, _| s == "completed");
        let outcomes = RunOutcome::ALL
            .iter()
            .filter(|o| **o != RunOutcome::Pending)
            .map(|o| (*o, count(o.as_str(), "all", &|s, out| s == "completed" && out == o.as_str())))
            .collect();
        Ok(TabCounts { cap, all, queued, running, completed, outcomes, at_least })
    }

    /// The numbers behind `/metrics`, without a scan of all runs (module doc
    /// "Run counts"): the rolled-up counts below the watermark, the runs at or
    /// above it, and active runs (only a clock-skewed insert can put one below
    /// it), read from one snapshot after advancing the watermark.
    pub async fn metrics_snapshot(&self) -> StoreResult<MetricsSnapshot> {
        self.advance_run_count_watermark().await?;
        let reason = reason_sql(self.dialect());
        let tail = format!(
            "SELECT type, status, outcome, {reason} AS r, CAST(COUNT(*) AS BIGINT) FROM operation_runs \
             WHERE id >= $1 GROUP BY type, status, outcome, r"
        );
        let skewed = "SELECT type, status, outcome, '' AS r, CAST(COUNT(*) AS BIGINT) FROM operation_runs \
             WHERE status = 'queued' AND id < $1 GROUP BY type, status, outcome \
             UNION ALL SELECT type, status, outcome, '' AS r, CAST(COUNT(*) AS BIGINT) FROM operation_runs \
             WHERE status = 'running' AND id < $1 GROUP BY type, status, outcome";
        let mut tx = self.begin_snapshot().await?;
        let (below,): (String,) = on_tx!(&mut tx, |c| sqlx::query_as(WATERMARK_SELECT).fetch_one(c).await)?;
        let mut counts: Vec<CountRow> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT type, status, outcome, reason_code, runs FROM run_count_rollup"
        )
        .fetch_all(c)
        .await)?;
        for sql in [tail.as_str(), skewed] {
            let rows: Vec<CountRow> = on_tx!(&mut tx, |c| sqlx::query_as(sql).bind(&below).fetch_all(c).await)?;
            counts.extend(rows);
        }
        let (queue_depth, oldest): (i64, Option<i64>) = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT), MIN(created_at) FROM operation_runs WHERE status = 'queued'"
        )
        .fetch_one(c)
        .await)?;
        let latencies: Vec<(i64, i64)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT started_at, created_at FROM \
             (SELECT started_at, created_at FROM operation_runs ORDER BY id DESC LIMIT 1000) AS recent \
             WHERE started_at IS NOT NULL"
        )
        .fetch_all(c)
        .await)?;
        tx.commit().await?;

        let mut runs: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
        for (t, s, o, r, n) in counts {
            if !r.is_empty() {
                *reasons.entry(r).or_default() += n;
            }
            *runs.entry((t, s, o)).or_default() += n;
        }
        Ok(MetricsSnapshot {
            runs: runs.into_iter().filter(|(_, n)| *n != 0).map(|((t, s, o), n)| (t, s, o, n)).collect(),
            blocked_by_reason: reasons.into_iter().filter(|(_, n)| *n != 0).collect(),
            queue_depth,
            oldest_queued_at: oldest.map(Timestamp),
            recent_claim_latencies_ms: latencies.into_iter().map(|(s, c)| (s - c).max(0) / 1000).collect(),
        })
    }

    /// Moves the watermark up to the oldest active run, or to `WATERMARK_LAG`
    /// ago by the database clock if that is older, folding the completed runs
    /// it passes into `run_count_rollup`. The first call on a database folds
    /// every run once; later ones only what completed since. Nodes serialize
    /// on the watermark row, so each run is folded exactly once.
    async fn advance_run_count_watermark(&self) -> StoreResult<()> {
        let now_sql = crate::db_now_sql(self.dialect());
        let (floor_at, oldest_active): (i64, Option<String>) = on_db!(self.db(), |p| sqlx::query_as(&format!(
            "SELECT {now_sql}, (SELECT MIN(id) FROM (\
               SELECT MIN(id) AS id FROM operation_runs WHERE status = 'queued' \
               UNION ALL SELECT MIN(id) AS id FROM operation_runs WHERE status = 'running') AS a)"
        ))
        .fetch_one(p)
        .await)?;
        let floor = id_floor(floor_at - WATERMARK_LAG_MICROS);
        let target = match oldest_active {
            Some(a) if a < floor => a,
            _ => floor,
        };
        let (below,): (String,) = on_db!(self.db(), |p| sqlx::query_as(WATERMARK_SELECT).fetch_one(p).await)?;
        if target <= below {
            return Ok(());
        }
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let mut tx = self.begin().await?;
        let (below,): (String,) =
            on_tx!(&mut tx, |c| sqlx::query_as(&format!("{WATERMARK_SELECT}{lock}")).fetch_one(c).await)?;
        if target <= below {
            return Ok(());
        }
        let reason = reason_sql(self.dialect());
        let sql = format!(
            "SELECT type, status, outcome, {reason} AS r, CAST(COUNT(*) AS BIGINT) FROM operation_runs \
             WHERE id >= $1 AND id < $2 AND status = 'completed' GROUP BY type, status, outcome, r"
        );
        let passed: Vec<CountRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(&sql).bind(&below).bind(&target).fetch_all(c).await)?;
        for (t, s, o, r, n) in passed {
            exec!(&mut tx, sqlx::query(
                "INSERT INTO run_count_rollup (type, status, outcome, reason_code, runs) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (type, status, outcome, reason_code) DO UPDATE SET runs = run_count_rollup.runs + excluded.runs"
            )
            .bind(t)
            .bind(s)
            .bind(o)
            .bind(r)
            .bind(n))?;
        }
        exec!(
            &mut tx,
            sqlx::query("UPDATE run_count_watermark SET below = $1, advanced_at = $2 WHERE id = 1")
                .bind(&target)
                .bind(floor_at)
        )?;
        tx.commit().await
    }

    /// A read-only transaction that sees one snapshot throughout.
    async fn begin_snapshot(&self) -> StoreResult<Tx> {
        Ok(match self.db() {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use atlas_core::audit::Actor;
    use atlas_core::capability::BuiltinRole;
    use atlas_core::gate::Authority;
    use atlas_core::run::{NewRun, Run};
    use atlas_core::tenant::{TenantScope, TenantStatus};
    use atlas_core::OperationType;

    use super::*;
    use crate::admin::{ChangeBy, RoleRef};

    /// The counts a full scan gives: what the rollup must always agree with.
    async fn scanned(store: &Store) -> (Vec<(String, String, String, i64)>, Vec<(String, i64)>) {
        let runs = on_db!(store.db(), |p| sqlx::query_as(
            "SELECT type, status, outcome, CAST(COUNT(*) AS BIGINT) FROM operation_runs \
             GROUP BY type, status, outcome ORDER BY type, status, outcome"
        )
        .fetch_all(p)
        .await)
        .unwrap();
        let sql = format!(
            "SELECT r, CAST(COUNT(*) AS BIGINT) FROM (SELECT {} AS r FROM operation_runs) AS x \
             WHERE r <> '' GROUP BY r ORDER BY r",
            reason_sql(store.dialect())
        );
        let reasons = on_db!(store.db(), |p| sqlx::query_as(&sql).fetch_all(p).await).unwrap();
        (runs, reasons)
    }

    async fn agree(store: &Store) {
        let m = store.metrics_snapshot().await.unwrap();
        let (runs, reasons) = scanned(store).await;
        assert_eq!(m.runs, runs);
        assert_eq!(m.blocked_by_reason, reasons);
    }

    /// Queues an inventory sync of `tenant` started by `user`.
    async fn queue_sync(store: &Store, workspace: Uuid, tenant: Uuid, user: Uuid) -> Run {
        let new = NewRun {
            op_type: OperationType::InventorySync,
            workspace_id: workspace,
            tenant_id: Some(tenant),
            authority: Authority::Actor { user_id: user },
            params: serde_json::json!({}),
            retry_of_run_id: None,
            max_attempts: 3,
        };
        let (run, audit) = Run::queued(new, Uuid::now_v7(), crate::now());
        store.run_insert(&run, &audit).await.unwrap();
        run
    }

    async fn counts_stay_exact_across_the_watermark(store: Store) {
        let by = ChangeBy::cli();
        let ws = store.workspace_create("metrics", "Metrics", &by).await.unwrap();
        let user = store.user_create("m@example.test", "M", None, &by).await.unwrap();
        store
            .member_grant(ws.id, user.id, &RoleRef::Builtin(BuiltinRole::Owner), &TenantScope::All, &by)
            .await
            .unwrap();
        let t = store.tenant_create(ws.id, "T", TenantStatus::Active, true, None, &by).await.unwrap();
        agree(&store).await;
        // Runs from 2.5 hours ago to a minute ago: most fall below the watermark.
        store.bench_seed_runs(ws.id, &[t.id], user.id, 300).await.unwrap();
        agree(&store).await;
        let (below,): (String,) = on_db!(store.db(), |p| sqlx::query_as(WATERMARK_SELECT).fetch_one(p).await).unwrap();
        assert!(!below.is_empty());
        let (folded,): (i64,) = on_db!(store.db(), |p| sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(runs), 0) AS BIGINT) FROM run_count_rollup"
        )
        .fetch_one(p)
        .await)
        .unwrap();
        assert!((250..300).contains(&folded), "{folded} runs folded");
        // Scraping again folds nothing twice; a queued run (active, above the
        // watermark) is counted, and again once cancelled.
        agree(&store).await;
        let run = queue_sync(&store, ws.id, t.id, user.id).await;
        agree(&store).await;
        store.run_cancel(run.id, Actor::User { user_id: user.id }).await.unwrap();
        agree(&store).await;
    }

    /// Without a type or initiator filter counts are exact up to the cap; with
    /// one they look at the newest `COUNT_WINDOW` runs and say when that is all
    /// they know.
    async fn tab_counts_stay_bounded(store: Store) {
        let by = ChangeBy::cli();
        let ws = store.workspace_create("tabs", "Tabs", &by).await.unwrap();
        let user = store.user_create("t@example.test", "T", None, &by).await.unwrap();
        let t = store.tenant_create(ws.id, "T", TenantStatus::Active, true, None, &by).await.unwrap();
        let n = u64::try_from(COUNT_WINDOW).unwrap() + 500;
        store.bench_seed_runs(ws.id, &[t.id], user.id, n).await.unwrap();
        let all = RunFilter { workspace_id: Some(ws.id), ..RunFilter::default() };
        let c = store.run_tab_counts(&all, 100).await.unwrap();
        assert_eq!((c.all, c.queued, c.running, c.completed), (100, 0, 0, 100));
        assert!(c.at_least.is_empty());

        let mut newest = Vec::new();
        let mut before = None;
        while newest.len() < usize::try_from(COUNT_WINDOW).unwrap() {
            let page = store.run_list(&RunFilter { before, limit: 500, ..all.clone() }).await.unwrap();
            before = page.last().map(|r| r.id);
            newest.extend(page);
        }
        let rare = OperationType::RestoreAssignments;
        let seen = newest.iter().filter(|r| r.op_type == rare).count();
        let blocked = newest.iter().filter(|r| r.op_type == rare && r.outcome == RunOutcome::Blocked).count();
        assert!(seen > 0 && seen < 100, "{seen} rare runs among the newest");
        let c = store.run_tab_counts(&RunFilter { op_type: Some(rare), ..all.clone() }, 100).await.unwrap();
        assert_eq!(c.all, i64::try_from(seen).unwrap());
        assert!(c.is_lower_bound("all") && c.is_lower_bound("completed"));
        // No queued run at all: that count is exact, window or not.
        assert_eq!(c.queued, 0);
        assert!(!c.is_lower_bound("queued"));
        let (_, b) = c.outcomes.iter().find(|(o, _)| *o == RunOutcome::Blocked).unwrap();
        assert_eq!(*b, i64::try_from(blocked).unwrap());
    }

    /// The plan of a Monitoring list query (`newest_sql`, as `run_list`
    /// builds it), as the database's `EXPLAIN` prints it.
    async fn plan(store: &Store, scope: &str, status: Option<RunStatus>, outcome: Option<RunOutcome>) -> String {
        let sql = newest_sql("id", &[scope.to_owned()], &life_parts(true, status, outcome), "50");
        match store.db() {
            Db::Sqlite(p) => {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(p).await.unwrap();
                rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
            }
            Db::Postgres(p) => {
                let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {sql}")).fetch_all(p).await.unwrap();
                rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
            }
        }
    }

    /// A rare status or outcome is read from its partial index (migration
    /// 0012), not by checking a workspace's or tenant's runs one by one:
    /// `life_conditions` repeats each index predicate in a form the planner
    /// of each database recognizes. Without a status or outcome the newest
    /// runs are read along those and the completed runs' own index (0014).
    /// (The pending outcome, which only an API filter asks for, is Queued and
    /// Running together: no index key serves it.)
    async fn rare_statuses_and_outcomes_read_their_partial_index(store: Store) {
        let by = ChangeBy::cli();
        let ws = store.workspace_create("plans", "Plans", &by).await.unwrap();
        let user = store.user_create("p@example.test", "P", None, &by).await.unwrap();
        let t = store.tenant_create(ws.id, "T", TenantStatus::Active, true, None, &by).await.unwrap();
        store.bench_seed_runs(ws.id, &[t.id], user.id, 3000).await.unwrap();
        for _ in 0..3 {
            queue_sync(&store, ws.id, t.id, user.id).await;
        }
        on_db!(store.db(), |p| sqlx::query("ANALYZE").execute(p).await.map(|_| ())).unwrap();
        // Completed runs are nearly all of them here: PostgreSQL may as well
        // walk the primary key newest first and filter: it stops as early.
        let newest_completed: &[&str] = &["done_newest_idx", "pkey"];
        // A filter, and the indexes its plan reads: each one of some names.
        type Case<'a> = (Option<RunStatus>, Option<RunOutcome>, &'a [&'a [&'a str]]);
        let cases: [Case; 6] = [
            (Some(RunStatus::Queued), None, &[&["active_idx"]]),
            (Some(RunStatus::Running), None, &[&["active_idx"]]),
            (Some(RunStatus::Completed), None, &[newest_completed]),
            (None, Some(RunOutcome::Failed), &[&["done_idx"]]),
            (Some(RunStatus::Completed), Some(RunOutcome::Blocked), &[&["done_idx"]]),
            (None, None, &[&["active_idx"], newest_completed]),
        ];
        for (scope, column, id) in [("workspace", "workspace_id", ws.id), ("tenant", "tenant_id", t.id)] {
            for (status, outcome, wanted) in cases {
                let plan = plan(&store, &format!("{column} = '{id}'"), status, outcome).await;
                for any_of in wanted {
                    let uses = |index: &&str| {
                        let name = if *index == "pkey" {
                            "operation_runs_pkey".into()
                        } else {
                            format!("operation_runs_{scope}_{index}")
                        };
                        plan.contains(&name)
                    };
                    assert!(
                        any_of.iter().any(uses),
                        "{status:?}/{outcome:?} by {scope}: want one of {any_of:?}, got\n{plan}"
                    );
                }
            }
        }
    }

    #[test]
    fn life_conditions_name_each_partial_predicate_once() {
        assert!(life_conditions(None, None).is_empty());
        assert_eq!(life_conditions(Some(RunStatus::Queued), None), ["status = 'queued'", ACTIVE]);
        assert_eq!(life_conditions(Some(RunStatus::Completed), None), [DONE]);
        assert_eq!(life_conditions(None, Some(RunOutcome::Failed)), ["outcome = 'failed'", DONE]);
        assert_eq!(life_conditions(Some(RunStatus::Completed), Some(RunOutcome::Failed)), [DONE, "outcome = 'failed'"]);
        // Contradictory filters stay contradictory: nothing matches both.
        assert_eq!(
            life_conditions(Some(RunStatus::Running), Some(RunOutcome::Blocked)),
            ["status = 'running'", ACTIVE, "outcome = 'blocked'", DONE]
        );
    }

    crate::dialect_tests!(
        tab_counts_stay_bounded,
        counts_stay_exact_across_the_watermark,
        rare_statuses_and_outcomes_read_their_partial_index
    );

    #[test]
    fn id_floor_sorts_below_the_ids_of_its_millisecond() {
        let at = |ms: u64| {
            Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000))
        };
        let ms = 1_700_000_000_123;
        let floor = id_floor(i64::try_from(ms).unwrap() * 1000 + 456);
        assert!(floor <= at(ms).to_string());
        assert!(floor > at(ms - 1).to_string());
        assert!(Uuid::parse_str(&floor).is_ok());
    }
}
