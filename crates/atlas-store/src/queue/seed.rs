//! Seeding for the console benchmark (`scripts/bench-console`, docs/BENCHMARKS.md
//! "Console latency at one million runs"): many completed runs in one workspace.
//!
//! Every row is copied from a template that went through the real state
//! machine and gate (`Run::queued`, `evaluate`, `claim_event`, `transition`),
//! so its JSON columns (params, context, decision with its checks, failures,
//! summary counts) are exactly what the engine writes. Templates vary the
//! type, the authority (a person or a tenant's schedule), the outcome
//! (succeeded, partially succeeded, failed, blocked for four different
//! reasons, cancelled) and the tenant; a few are bulk runs over several
//! tenants. Times in the templates are placeholders replaced per row.
//!
//! Ids are UUIDv7-shaped and made from the row's creation time (milliseconds,
//! then the microseconds in the version-7 random field), so they sort by time
//! as the engine's ids do and still parse as UUIDs. Runs are spread over
//! `n × 30 s` ending a minute ago. One run in `AUDITED_EVERY` also gets its
//! audit events (queued, started, the ending; unsealed, as appends leave them)
//! and, when a person started it, its notification — read, except for the
//! newest few — so the run viewer, the timeline and the bell see real rows.
//!
//! PostgreSQL inserts set-based (`INSERT … SELECT … FROM generate_series`),
//! `CHUNK` runs per transaction, then analyzes the tables. SQLite takes a plain
//! batched loop computing the same rows. Since the runs are back-dated, the
//! `/metrics` run counts are reset to be counted again on the next scrape.

use std::collections::HashMap;

use atlas_core::audit::Actor;
use atlas_core::capability::{BuiltinRole, Role};
use atlas_core::gate::{
    evaluate, Authority, ConnectionFact, Facts, InitiatorFact, MembershipFact, ScheduleFact, TenantFact,
};
use atlas_core::operation::validate_params;
use atlas_core::run::{claim_event, transition, Failure, Lease, NewRun, Run, RunEvent, RunOutcome, RunStatus};
use atlas_core::tenant::{ConnectionStatus, TenantScope, TenantStatus};
use atlas_core::{OperationType, SummaryCounts, Timestamp};
use serde::Serialize;
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

use crate::notification::RUN_COMPLETED;
use crate::{exec, Db, Store, StoreError, StoreResult};

/// One run in this many gets its audit events and notification.
pub const AUDITED_EVERY: u64 = 10;
/// Audited runs at the newest end whose notification is left unread.
const UNREAD_AUDITED: u64 = 20;
/// Mean spacing of the runs' creation times.
const STEP_MICROS: i64 = 30_000_000;
/// Runs per transaction on PostgreSQL.
const CHUNK: u64 = 50_000;
/// Runs per transaction on SQLite.
const SQLITE_CHUNK: u64 = 2_000;

/// Placeholders in the templates' JSON, replaced by each row's times.
const P_CREATED: Timestamp = Timestamp(978_310_861_000_001); // 2001-01-01T01:01:01.000001Z
const P_DECIDED: Timestamp = Timestamp(1_009_846_862_000_002); // 2002-01-01T01:01:02.000002Z

/// What a seed wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    pub runs: u64,
    pub audit_events: u64,
    pub notifications: u64,
    pub templates: u64,
    pub first_created_at: Timestamp,
    pub last_created_at: Timestamp,
}

#[derive(Clone, Copy, Debug)]
enum Denial {
    WriteGateClosed,
    CapabilityRevoked,
    TenantSuspended,
    ScheduleDisabled,
}

#[derive(Clone, Copy, Debug)]
enum Ending {
    Succeeded,
    Partial,
    Failed(&'static str, &'static str),
    Blocked(Denial),
    Cancelled,
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    op: OperationType,
    system: bool,
    dry_run: bool,
    ending: Ending,
    /// Relative frequency.
    weight: u32,
    /// Typical duration once started.
    millis: i64,
}

/// The mix of runs: mostly scheduled and manual reads and backups, some
/// restores, a few percent failed, blocked (four reasons) and cancelled.
fn variants() -> Vec<Variant> {
    use Ending::*;
    use OperationType::*;
    let v = |op, system, ending, weight, millis| Variant { op, system, dry_run: false, ending, weight, millis };
    let mut all = vec![
        v(InventorySync, false, Succeeded, 12, 4_000),
        v(InventorySync, true, Succeeded, 12, 4_000),
        v(
            InventorySync,
            false,
            Failed("provider_unavailable", "The provider did not answer after 3 attempts."),
            2,
            9_000,
        ),
        v(InventorySync, false, Blocked(Denial::TenantSuspended), 1, 0),
        v(PoliciesSync, false, Succeeded, 6, 6_000),
        v(PoliciesSync, true, Succeeded, 8, 6_000),
        v(PoliciesSync, true, Partial, 2, 7_000),
        v(ComplianceSnapshot, true, Succeeded, 8, 3_000),
        v(ComplianceSnapshot, false, Succeeded, 3, 3_000),
        v(BackupRun, true, Succeeded, 14, 12_000),
        v(BackupRun, false, Succeeded, 4, 12_000),
        v(BackupRun, true, Failed("provider_throttled", "The provider kept throttling requests (429)."), 2, 30_000),
        v(BackupRun, true, Blocked(Denial::ScheduleDisabled), 1, 0),
        v(BackupRun, false, Cancelled, 2, 0),
        v(ProviderConnectionCheck, false, Succeeded, 4, 800),
        v(ProviderConnectionCheck, false, Failed("consent_missing", "Admin consent has not been granted."), 1, 900),
        v(RestoreExecute, false, Succeeded, 2, 20_000),
        v(RestoreExecute, false, Partial, 2, 25_000),
        v(RestoreExecute, false, Blocked(Denial::WriteGateClosed), 3, 0),
        v(RestoreAssignments, false, Succeeded, 1, 8_000),
        v(RestoreAssignments, false, Blocked(Denial::CapabilityRevoked), 1, 0),
        v(BulkOperation, false, Succeeded, 1, 15_000),
        v(BulkOperation, false, Partial, 1, 15_000),
    ];
    all.push(Variant { dry_run: true, ..v(RestoreExecute, false, Succeeded, 3, 10_000) });
    all
}

/// When an event happened: at creation, at the claim's decision, or at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Created = 0,
    Decided = 1,
    Done = 2,
}

/// A run's columns with placeholder times, and its events.
#[derive(Clone, Debug)]
struct Template {
    tenant_id: Option<String>,
    op_type: String,
    outcome: String,
    initiator_user_id: Option<String>,
    authority_mode: String,
    source: Option<String>,
    params: String,
    context: String,
    dedupe_key: String,
    attempt: i64,
    max_attempts: i64,
    started: bool,
    decision: Option<String>,
    failures: String,
    summary_counts: String,
    result: String,
    duration_us: i64,
    /// The initiator's notification (title, body); none for system runs.
    notification: Option<(String, String)>,
    /// (action, actor, data, when).
    events: Vec<(String, String, String, At)>,
}

struct World {
    workspace_id: Uuid,
    initiator: Uuid,
    initiator_name: String,
    tenants: Vec<(Uuid, String)>,
    schedules: HashMap<Uuid, Uuid>,
}

fn to_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn invalid(what: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("bench seed: {what}"))
}

/// The item counts a finished run of this type reports.
fn counts(op: OperationType, ending: Ending) -> SummaryCounts {
    let total: u64 = match op {
        OperationType::InventorySync => 240,
        OperationType::PoliciesSync | OperationType::BackupRun => 60,
        OperationType::ComplianceSnapshot => 35,
        OperationType::RestoreExecute => 25,
        OperationType::RestoreAssignments => 12,
        OperationType::BulkOperation => 5,
        _ => 1,
    };
    match ending {
        Ending::Succeeded => SummaryCounts { total, succeeded: total, updated: total / 10, ..SummaryCounts::default() },
        Ending::Partial => SummaryCounts { total, succeeded: total - 3, failed: 3, ..SummaryCounts::default() },
        _ => SummaryCounts::default(),
    }
    .recount()
}

/// Runs one variant for one tenant through the gate and the state machine.
fn template(w: &World, tenant: (Uuid, &str), v: &Variant) -> StoreResult<Template> {
    let bulk = v.op == OperationType::BulkOperation;
    let tenant_id = (!bulk).then_some(tenant.0);
    let set_id = Uuid::from_u128(tenant.0.as_u128() ^ 0x5e7);
    let raw = match v.op {
        OperationType::RestoreExecute => json!({"backup_set_id": set_id.to_string(), "dry_run": v.dry_run}),
        OperationType::RestoreAssignments => json!({"backup_set_id": set_id.to_string()}),
        OperationType::BulkOperation => json!({
            "operation": "inventory.sync",
            "tenant_ids": w.tenants.iter().take(5).map(|t| t.0.to_string()).collect::<Vec<_>>(),
        }),
        _ => json!({}),
    };
    let params = validate_params(v.op, &raw).map_err(invalid)?;
    let authority = if v.system {
        let schedule =
            w.schedules.get(&tenant.0).copied().unwrap_or_else(|| Uuid::from_u128(tenant.0.as_u128() ^ 0x5c4));
        Authority::schedule(schedule, P_CREATED)
    } else {
        Authority::Actor { user_id: w.initiator }
    };
    let new = NewRun {
        op_type: v.op,
        workspace_id: w.workspace_id,
        tenant_id,
        authority,
        params,
        retry_of_run_id: None,
        max_attempts: atlas_core::run::DEFAULT_MAX_ATTEMPTS,
    };
    let (mut run, queued) = Run::queued(new, Uuid::nil(), P_CREATED);
    let mut events = vec![(queued, At::Created)];
    let mut facts = Facts {
        initiator: Some(InitiatorFact { display_name: w.initiator_name.clone(), disabled: false }),
        membership: Some(MembershipFact { role: Role::Builtin(BuiltinRole::Owner), scope: TenantScope::All }),
        tenant: Some(TenantFact {
            id: tenant.0,
            name: tenant.1.to_owned(),
            status: TenantStatus::Active,
            writes_enabled: true,
        }),
        connection: Some(ConnectionFact { status: ConnectionStatus::Enabled }),
        schedule: Some(ScheduleFact { enabled: true }),
        backup_set_exists: true,
        // The bench's tenants require no approval.
        approval: Default::default(),
    };
    if let Ending::Blocked(denial) = v.ending {
        match denial {
            Denial::WriteGateClosed => facts.tenant.iter_mut().for_each(|t| t.writes_enabled = false),
            Denial::TenantSuspended => facts.tenant.iter_mut().for_each(|t| t.status = TenantStatus::Suspended),
            Denial::CapabilityRevoked => {
                facts.membership =
                    Some(MembershipFact { role: Role::Builtin(BuiltinRole::Readonly), scope: TenantScope::All });
            }
            Denial::ScheduleDisabled => facts.schedule = Some(ScheduleFact { enabled: false }),
        }
    }
    if let Ending::Cancelled = v.ending {
        let (next, audit) =
            transition(&run, RunEvent::Cancel { by: Actor::User { user_id: w.initiator }, counts: None }, P_DECIDED)?;
        run = next;
        events.push((audit, At::Decided));
    } else {
        let decision = evaluate(&run.execution_context(), &facts, P_DECIDED, run.attempt + 1);
        let lease = Lease { owner: "bench".into(), token: Uuid::nil(), expires_at: P_DECIDED };
        let (next, audit) = transition(&run, claim_event(&run, decision, lease, P_DECIDED), P_DECIDED)?;
        run = next;
        events.push((audit, At::Decided));
        if run.status == RunStatus::Running {
            let (outcome, failures) = match v.ending {
                Ending::Succeeded => (RunOutcome::Succeeded, Vec::new()),
                Ending::Partial => (RunOutcome::PartiallySucceeded, Vec::new()),
                Ending::Failed(code, message) => {
                    (RunOutcome::Failed, vec![Failure { code: code.into(), message: message.into() }])
                }
                Ending::Blocked(_) | Ending::Cancelled => {
                    return Err(invalid(format!("{:?} of {} was allowed by the gate", v.ending, v.op)))
                }
            };
            let event = RunEvent::Complete { outcome, counts: counts(v.op, v.ending), result: json!({}), failures };
            let (next, audit) = transition(&run, event, P_DECIDED)?;
            run = next;
            events.push((audit, At::Done));
        }
    }
    let expected = match v.ending {
        Ending::Succeeded => RunOutcome::Succeeded,
        Ending::Partial => RunOutcome::PartiallySucceeded,
        Ending::Failed(..) => RunOutcome::Failed,
        Ending::Blocked(_) => RunOutcome::Blocked,
        Ending::Cancelled => RunOutcome::Cancelled,
    };
    if run.status != RunStatus::Completed || run.outcome != expected {
        let why = run.decision.as_ref().map_or_else(String::new, |d| d.message.clone());
        return Err(invalid(format!("{} ended {} instead of {} {why}", v.op, run.outcome.as_str(), expected.as_str())));
    }
    let notification = run.initiator_user_id.map(|_| crate::notification::message(&run, tenant_id.map(|_| tenant.1)));
    Ok(Template {
        tenant_id: run.tenant_id.map(|t| t.to_string()),
        op_type: run.op_type.as_str().to_owned(),
        outcome: run.outcome.as_str().to_owned(),
        initiator_user_id: run.initiator_user_id.map(|u| u.to_string()),
        authority_mode: run.authority_mode.as_str().to_owned(),
        source: run.source.as_ref().map(to_text),
        params: to_text(&run.params),
        context: to_text(&run.context),
        dedupe_key: run.dedupe_key.clone(),
        attempt: i64::from(run.attempt),
        max_attempts: i64::from(run.max_attempts),
        started: run.started_at.is_some(),
        decision: run.decision.as_ref().map(to_text),
        failures: to_text(&run.failures),
        summary_counts: to_text(&run.summary_counts),
        result: to_text(&run.result),
        duration_us: v.millis * 1000,
        notification,
        events: events.into_iter().map(|(a, at)| (a.action, a.actor.to_db(), to_text(&a.data), at)).collect(),
    })
}

/// The templates, variant-major: template `variant * tenants + tenant`; and
/// the weight slots, each naming a variant.
fn templates(w: &World) -> StoreResult<(Vec<Template>, Vec<i64>)> {
    let mut out = Vec::new();
    let mut slots = Vec::new();
    for (i, v) in variants().iter().enumerate() {
        for (id, name) in &w.tenants {
            out.push(template(w, (*id, name), v)?);
        }
        slots.extend(std::iter::repeat_n(i as i64, v.weight as usize));
    }
    Ok((out, slots))
}

/// A 63-bit mix of `g` (SQLite's stand-in for PostgreSQL's `hashint8extended`).
fn mix(g: u64, salt: u64) -> i64 {
    let mut z = g.wrapping_add(salt).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) & (i64::MAX as u64)) as i64
}

/// The UUIDv7-shaped id of a row created at `t` (microseconds): the
/// milliseconds, the version, the microseconds within the millisecond, the
/// variant with 14 bits of `a`, and 48 bits of `b`.
fn v7_id(t: i64, a: i64, b: i64) -> String {
    let ms = (t / 1000) as u128 & 0xffff_ffff_ffff;
    let us = (t % 1000) as u128;
    let group = 0x8000 | ((((a >> 12) % 4) as u128) << 12) | ((a % 4096) as u128);
    let low = (b as u128) & 0xffff_ffff_ffff;
    Uuid::from_u128((ms << 80) | (0x7 << 76) | (us << 64) | (group << 48) | low).to_string()
}

/// The same id in PostgreSQL, from SQL expressions for `t`, `a` and `b`.
fn pg_v7_id(t: &str, a: &str, b: &str) -> String {
    let hex_ms = format!("lpad(to_hex(({t}) / 1000), 12, '0')");
    format!(
        "(substr({hex_ms}, 1, 8) || '-' || substr({hex_ms}, 9, 4) || '-7' || lpad(to_hex(({t}) % 1000), 3, '0') \
         || '-' || to_hex(8 + (({a}) >> 12) % 4) || lpad(to_hex(({a}) % 4096), 3, '0') \
         || '-' || lpad(to_hex(({b}) % 281474976710656), 12, '0'))"
    )
}

/// RFC 3339 in PostgreSQL for a microsecond expression.
fn pg_rfc3339(t: &str) -> String {
    format!("to_char(timestamp 'epoch' + ({t}) * interval '1 microsecond', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// Where the runs' times come from: run `g` (1-based) is created at
/// `t0 + g × STEP + jitter`.
#[derive(Clone, Copy)]
struct Clock {
    t0: i64,
    salt: i64,
    unread_from: u64,
    now: i64,
}

/// Times of row `g` with hash `h` (the formulas the PostgreSQL path writes in SQL).
struct RowTimes {
    created: i64,
    started: Option<i64>,
    decided: i64,
    completed: i64,
}

fn row_times(c: &Clock, g: u64, h: i64, t: &Template) -> RowTimes {
    let created = c.t0 + g as i64 * STEP_MICROS + (h >> 20) % (STEP_MICROS / 2);
    let delay = 20_000 + (h >> 8) % 1_980_000;
    let factor = 50 + (h >> 32) % 100;
    let decided = created + delay;
    let run_for = if t.started { t.duration_us * factor / 100 } else { 0 };
    RowTimes { created, started: t.started.then_some(decided), decided, completed: decided + run_for }
}

impl Store {
    /// Seeds `n` completed runs into `workspace_id` over `tenants`, `initiator`
    /// starting the manual ones and each tenant's first schedule (or a
    /// deleted one) the scheduled ones. For benchmarks only (module doc).
    #[doc(hidden)]
    pub async fn bench_seed_runs(
        &self,
        workspace_id: Uuid,
        tenants: &[Uuid],
        initiator: Uuid,
        n: u64,
    ) -> StoreResult<SeedReport> {
        if tenants.is_empty() {
            return Err(invalid("the workspace needs at least one tenant"));
        }
        let mut named = Vec::new();
        for id in tenants {
            let t = self.tenant_get(*id).await?;
            if t.workspace_id != workspace_id {
                return Err(invalid(format!("tenant {id} is not in workspace {workspace_id}")));
            }
            named.push((t.id, t.name));
        }
        let mut schedules = HashMap::new();
        for s in self.schedule_list(Some(workspace_id)).await? {
            schedules.entry(s.tenant_id).or_insert(s.id);
        }
        let world = World {
            workspace_id,
            initiator,
            initiator_name: self.user_get(initiator).await?.display_name,
            tenants: named,
            schedules,
        };
        let (tpl, slots) = templates(&world)?;
        let now = crate::now().0;
        let clock = Clock {
            t0: now - 60_000_000 - (n as i64 + 1) * STEP_MICROS,
            salt: mix(now as u64, 0) % (1 << 46),
            unread_from: n.saturating_sub(UNREAD_AUDITED * AUDITED_EVERY),
            now,
        };
        let mut report = match self.db() {
            Db::Postgres(p) => seed_pg(p, &world, &tpl, &slots, &clock, n).await?,
            Db::Sqlite(p) => seed_sqlite(p, &world, &tpl, &slots, &clock, n).await?,
        };
        report.templates = tpl.len() as u64;
        // The runs are back-dated, below the `/metrics` count watermark: the
        // next scrape counts every run again (monitoring.rs, "Run counts").
        let mut tx = self.begin().await?;
        exec!(&mut tx, sqlx::query("DELETE FROM run_count_rollup"))?;
        exec!(&mut tx, sqlx::query("UPDATE run_count_watermark SET below = '', advanced_at = 0"))?;
        tx.commit().await?;
        Ok(report)
    }
}

fn tpl_index(slots: &[i64], tenants: usize, h: i64) -> usize {
    let variant = slots[(h % slots.len() as i64) as usize] as usize;
    variant * tenants + ((h >> 40) % tenants as i64) as usize
}

async fn seed_pg(
    pool: &sqlx::PgPool,
    w: &World,
    tpl: &[Template],
    slots: &[i64],
    c: &Clock,
    n: u64,
) -> StoreResult<SeedReport> {
    // One connection throughout: the templates live in its temporary tables.
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS pg_temp.bench_tpl, pg_temp.bench_ev, pg_temp.bench_slot, pg_temp.bench_batch; \
         CREATE TEMP TABLE bench_tpl (ord BIGINT PRIMARY KEY, tenant_id TEXT, type TEXT, outcome TEXT, \
           initiator_user_id TEXT, authority_mode TEXT, source TEXT, params TEXT, context TEXT, dedupe_key TEXT, \
           attempt BIGINT, max_attempts BIGINT, started BOOLEAN, decision TEXT, failures TEXT, summary_counts TEXT, \
           result TEXT, duration_us BIGINT, title TEXT, body TEXT); \
         CREATE TEMP TABLE bench_ev (ord BIGINT, k BIGINT, action TEXT, actor TEXT, data TEXT, at BIGINT); \
         CREATE TEMP TABLE bench_slot (slot BIGINT PRIMARY KEY, variant BIGINT); \
         CREATE TEMP TABLE bench_batch (g BIGINT, h BIGINT, ord BIGINT, id TEXT, created BIGINT, started BIGINT, \
           decided BIGINT, completed BIGINT, audited BOOLEAN, unread BOOLEAN);",
    )
    .execute(&mut *conn)
    .await?;

    let col = |f: &dyn Fn(&Template) -> String| tpl.iter().map(f).collect::<Vec<String>>();
    let opt = |f: &dyn Fn(&Template) -> Option<String>| tpl.iter().map(f).collect::<Vec<Option<String>>>();
    let int = |f: &dyn Fn(&Template) -> i64| tpl.iter().map(f).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO bench_tpl SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::int8[], $13::bool[], \
         $14::text[], $15::text[], $16::text[], $17::text[], $18::int8[], $19::text[], $20::text[])",
    )
    .bind((0..tpl.len() as i64).collect::<Vec<i64>>())
    .bind(opt(&|t| t.tenant_id.clone()))
    .bind(col(&|t| t.op_type.clone()))
    .bind(col(&|t| t.outcome.clone()))
    .bind(opt(&|t| t.initiator_user_id.clone()))
    .bind(col(&|t| t.authority_mode.clone()))
    .bind(opt(&|t| t.source.clone()))
    .bind(col(&|t| t.params.clone()))
    .bind(col(&|t| t.context.clone()))
    .bind(col(&|t| t.dedupe_key.clone()))
    .bind(int(&|t| t.attempt))
    .bind(int(&|t| t.max_attempts))
    .bind(tpl.iter().map(|t| t.started).collect::<Vec<bool>>())
    .bind(opt(&|t| t.decision.clone()))
    .bind(col(&|t| t.failures.clone()))
    .bind(col(&|t| t.summary_counts.clone()))
    .bind(col(&|t| t.result.clone()))
    .bind(int(&|t| t.duration_us))
    .bind(opt(&|t| t.notification.as_ref().map(|n| n.0.clone())))
    .bind(opt(&|t| t.notification.as_ref().map(|n| n.1.clone())))
    .execute(&mut *conn)
    .await?;

    // (template, k, action, actor, data, when) of every template's events.
    let ev: Vec<(i64, i64, &str, &str, &str, i64)> = tpl
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.events.iter().enumerate().map(move |(k, (action, actor, data, at))| {
                (i as i64, k as i64, action.as_str(), actor.as_str(), data.as_str(), *at as i64)
            })
        })
        .collect();
    sqlx::query(
        "INSERT INTO bench_ev SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::int8[])",
    )
    .bind(ev.iter().map(|e| e.0).collect::<Vec<i64>>())
    .bind(ev.iter().map(|e| e.1).collect::<Vec<i64>>())
    .bind(ev.iter().map(|e| e.2).collect::<Vec<&str>>())
    .bind(ev.iter().map(|e| e.3).collect::<Vec<&str>>())
    .bind(ev.iter().map(|e| e.4).collect::<Vec<&str>>())
    .bind(ev.iter().map(|e| e.5).collect::<Vec<i64>>())
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO bench_slot SELECT s - 1, v FROM unnest($1::int8[]) WITH ORDINALITY AS u(v, s)")
        .bind(slots.to_vec())
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql("ANALYZE bench_tpl; ANALYZE bench_ev; ANALYZE bench_slot;").execute(&mut *conn).await?;

    // $1 lo, $2 hi, $3 t0, $4 salt, $5 unread_from; the formulas of `row_times`.
    let batch_sql = format!(
        "INSERT INTO bench_batch \
         SELECT g, h, ord, {id}, created, CASE WHEN started THEN created + delay END, created + delay, \
                created + delay + CASE WHEN started THEN duration_us * factor / 100 ELSE 0 END, \
                g % {every} = 0, g > $5 \
         FROM (SELECT x.g, x.h, t.ord, t.started, t.duration_us, \
                      $3 + x.g * {step} + (x.h >> 20) % {half} AS created, \
                      20000 + (x.h >> 8) % 1980000 AS delay, 50 + (x.h >> 32) % 100 AS factor \
               FROM (SELECT g, hashint8extended(g, $4) & 9223372036854775807 AS h \
                     FROM generate_series($1::bigint, $2::bigint) AS g) x \
               JOIN bench_slot s ON s.slot = x.h % {w} \
               JOIN bench_tpl t ON t.ord = s.variant * {tenants} + (x.h >> 40) % {tenants}) y",
        id = pg_v7_id("created", "h", "$4 + g * 4"),
        every = AUDITED_EVERY,
        step = STEP_MICROS,
        half = STEP_MICROS / 2,
        w = slots.len(),
        tenants = w.tenants.len(),
    );
    let runs_sql = format!(
        "INSERT INTO operation_runs (id, workspace_id, tenant_id, type, status, outcome, initiator_user_id, \
         authority_mode, source, params, context, dedupe_key, attempt, max_attempts, run_after, created_at, \
         started_at, completed_at, decision, failures, summary_counts, result) \
         SELECT b.id, $1, t.tenant_id, t.type, 'completed', t.outcome, t.initiator_user_id, t.authority_mode, \
                replace(t.source, $2, {created}), t.params, replace(t.context, $2, {created}), t.dedupe_key, \
                t.attempt, t.max_attempts, b.created, b.created, b.started, b.completed, \
                replace(t.decision, $3, {decided}), t.failures, t.summary_counts, t.result \
         FROM bench_batch b JOIN bench_tpl t ON t.ord = b.ord ORDER BY b.g",
        created = pg_rfc3339("b.created"),
        decided = pg_rfc3339("b.decided"),
    );
    let events_sql = format!(
        "INSERT INTO audit_events (id, chain, workspace_id, tenant_id, actor, action, subject, data, created_at) \
         SELECT {id}, $1, $1, t.tenant_id, e.actor, e.action, 'run:' || b.id, \
                replace(replace(e.data, $2, {created}), $3, {decided}), tm.t \
         FROM bench_batch b JOIN bench_tpl t ON t.ord = b.ord JOIN bench_ev e ON e.ord = b.ord \
         CROSS JOIN LATERAL (SELECT CASE e.at WHEN 0 THEN b.created WHEN 1 THEN b.decided ELSE b.completed END AS t) tm \
         WHERE b.audited ORDER BY b.g, e.k",
        id = pg_v7_id("tm.t", "b.h >> 16", "$4 + b.g * 4 + e.k"),
        created = pg_rfc3339("b.created"),
        decided = pg_rfc3339("b.decided"),
    );
    let notes_sql = format!(
        "INSERT INTO notifications (id, user_id, workspace_id, run_id, kind, title, body, outcome, read_at, created_at) \
         SELECT {id}, t.initiator_user_id, $1, b.id, $2, t.title, t.body, t.outcome, \
                CASE WHEN b.unread THEN NULL ELSE LEAST(b.completed + 3600000000, $3) END, b.completed \
         FROM bench_batch b JOIN bench_tpl t ON t.ord = b.ord \
         WHERE b.audited AND t.initiator_user_id IS NOT NULL ORDER BY b.g",
        id = pg_v7_id("b.completed", "b.h >> 24", "$4 + b.g * 4 + 3"),
    );

    let ws = w.workspace_id.to_string();
    let (p_created, p_decided) = (P_CREATED.to_rfc3339(), P_DECIDED.to_rfc3339());
    let mut report = SeedReport::default();
    let mut lo = 1_u64;
    while lo <= n {
        let hi = (lo + CHUNK - 1).min(n);
        let mut tx = conn.begin().await?;
        sqlx::query("TRUNCATE bench_batch").execute(&mut *tx).await?;
        sqlx::query(&batch_sql)
            .bind(lo as i64)
            .bind(hi as i64)
            .bind(c.t0)
            .bind(c.salt)
            .bind(c.unread_from as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("ANALYZE bench_batch").execute(&mut *tx).await?;
        report.runs +=
            sqlx::query(&runs_sql).bind(&ws).bind(&p_created).bind(&p_decided).execute(&mut *tx).await?.rows_affected();
        report.audit_events += sqlx::query(&events_sql)
            .bind(&ws)
            .bind(&p_created)
            .bind(&p_decided)
            .bind(c.salt)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        report.notifications += sqlx::query(&notes_sql)
            .bind(&ws)
            .bind(RUN_COMPLETED)
            .bind(c.now)
            .bind(c.salt)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if lo == 1 {
            let (first,): (i64,) = sqlx::query_as("SELECT MIN(created) FROM bench_batch").fetch_one(&mut *tx).await?;
            report.first_created_at = Timestamp(first);
        }
        if hi == n {
            let (last,): (i64,) = sqlx::query_as("SELECT MAX(created) FROM bench_batch").fetch_one(&mut *tx).await?;
            report.last_created_at = Timestamp(last);
        }
        tx.commit().await?;
        tracing::info!(runs = hi, of = n, "bench seed");
        lo = hi + 1;
    }
    sqlx::raw_sql(
        "DROP TABLE pg_temp.bench_tpl, pg_temp.bench_ev, pg_temp.bench_slot, pg_temp.bench_batch; \
         ANALYZE operation_runs; ANALYZE audit_events; ANALYZE notifications;",
    )
    .execute(&mut *conn)
    .await?;
    Ok(report)
}

async fn seed_sqlite(
    pool: &sqlx::SqlitePool,
    w: &World,
    tpl: &[Template],
    slots: &[i64],
    c: &Clock,
    n: u64,
) -> StoreResult<SeedReport> {
    let ws = w.workspace_id.to_string();
    let (p_created, p_decided) = (P_CREATED.to_rfc3339(), P_DECIDED.to_rfc3339());
    let mut report = SeedReport::default();
    let mut lo = 1_u64;
    while lo <= n {
        let hi = (lo + SQLITE_CHUNK - 1).min(n);
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for g in lo..=hi {
            let h = mix(g, c.salt as u64);
            let t = &tpl[tpl_index(slots, w.tenants.len(), h)];
            let times = row_times(c, g, h, t);
            let (created, decided) = (Timestamp(times.created).to_rfc3339(), Timestamp(times.decided).to_rfc3339());
            let id = v7_id(times.created, h, c.salt + g as i64 * 4);
            report.runs += sqlx::query(
                "INSERT INTO operation_runs (id, workspace_id, tenant_id, type, status, outcome, initiator_user_id, \
                 authority_mode, source, params, context, dedupe_key, attempt, max_attempts, run_after, created_at, \
                 started_at, completed_at, decision, failures, summary_counts, result) \
                 VALUES ($1, $2, $3, $4, 'completed', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, \
                 $17, $18, $19, $20)",
            )
            .bind(&id)
            .bind(&ws)
            .bind(&t.tenant_id)
            .bind(&t.op_type)
            .bind(&t.outcome)
            .bind(&t.initiator_user_id)
            .bind(&t.authority_mode)
            .bind(t.source.as_ref().map(|s| s.replace(&p_created, &created)))
            .bind(&t.params)
            .bind(t.context.replace(&p_created, &created))
            .bind(&t.dedupe_key)
            .bind(t.attempt)
            .bind(t.max_attempts)
            .bind(times.created)
            .bind(times.started)
            .bind(times.completed)
            .bind(t.decision.as_ref().map(|d| d.replace(&p_decided, &decided)))
            .bind(&t.failures)
            .bind(&t.summary_counts)
            .bind(&t.result)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if g == 1 {
                report.first_created_at = Timestamp(times.created);
            }
            report.last_created_at = Timestamp(times.created);
            if g % AUDITED_EVERY != 0 {
                continue;
            }
            for (k, (action, actor, data, at)) in t.events.iter().enumerate() {
                let when = match at {
                    At::Created => times.created,
                    At::Decided => times.decided,
                    At::Done => times.completed,
                };
                report.audit_events += sqlx::query(
                    "INSERT INTO audit_events (id, chain, workspace_id, tenant_id, actor, action, subject, data, \
                     created_at) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(v7_id(when, h >> 16, c.salt + g as i64 * 4 + k as i64))
                .bind(&ws)
                .bind(&t.tenant_id)
                .bind(actor)
                .bind(action)
                .bind(format!("run:{id}"))
                .bind(data.replace(&p_created, &created).replace(&p_decided, &decided))
                .bind(when)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            if let (Some(user), Some((title, body))) = (&t.initiator_user_id, &t.notification) {
                let read_at = (g <= c.unread_from).then(|| (times.completed + 3_600_000_000).min(c.now));
                report.notifications += sqlx::query(
                    "INSERT INTO notifications (id, user_id, workspace_id, run_id, kind, title, body, outcome, \
                     read_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(v7_id(times.completed, h >> 24, c.salt + g as i64 * 4 + 3))
                .bind(user)
                .bind(&ws)
                .bind(&id)
                .bind(RUN_COMPLETED)
                .bind(title)
                .bind(body)
                .bind(&t.outcome)
                .bind(read_at)
                .bind(times.completed)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }
        tx.commit().await?;
        lo = hi + 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use atlas_core::BuiltinRole;

    use super::*;
    use crate::admin::{ChangeBy, RoleRef};
    use crate::audit::AuditFilter;
    use crate::run::RunFilter;

    #[test]
    fn ids_are_v7_shaped_and_sort_by_time() {
        let a = v7_id(1_700_000_000_123_456, mix(1, 7), 4);
        let b = v7_id(1_700_000_000_123_457, mix(2, 7), 8);
        let c = v7_id(1_700_000_000_124_000, mix(3, 7), 12);
        for id in [&a, &b, &c] {
            let u = Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 7);
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(&u.to_string(), id);
        }
        assert!(a < b && b < c);
        let (secs, _) = Uuid::parse_str(&a).unwrap().get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_700_000_000);
    }

    #[test]
    fn placeholders_do_not_collide() {
        let (c, d) = (P_CREATED.to_rfc3339(), P_DECIDED.to_rfc3339());
        assert_eq!(c, "2001-01-01T01:01:01.000001Z");
        assert_eq!(d, "2002-01-01T01:01:02.000002Z");
    }

    async fn seeded(store: &Store, n: u64) -> (Uuid, Uuid, SeedReport) {
        let by = ChangeBy::cli();
        let slug = format!("bench-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let ws = store.workspace_create(&slug, "Bench", &by).await.unwrap();
        let email = format!("{slug}@example.test");
        let user = store.user_create(&email, "Bench Owner", Some("correct horse battery"), &by).await.unwrap();
        store
            .member_grant(ws.id, user.id, &RoleRef::Builtin(BuiltinRole::Owner), &TenantScope::All, &by)
            .await
            .unwrap();
        let mut tenants = Vec::new();
        for i in 0..3 {
            let t = store
                .tenant_create(ws.id, &format!("Tenant {i}"), TenantStatus::Active, true, None, &by)
                .await
                .unwrap();
            tenants.push(t.id);
        }
        let report = store.bench_seed_runs(ws.id, &tenants, user.id, n).await.unwrap();
        (ws.id, user.id, report)
    }

    async fn seeds_readable_runs(store: Store) {
        let n = 400;
        let (ws, user, report) = seeded(&store, n).await;
        assert_eq!(report.runs, n);
        assert_eq!(report.templates, variants().len() as u64 * 3);
        assert!(report.audit_events >= 2 * n / AUDITED_EVERY);
        assert!(report.notifications > 0 && report.notifications <= n / AUDITED_EVERY);
        assert!(report.last_created_at < crate::now());

        // Every row reads back as a run; newest first by id is newest first by time.
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .run_list(&RunFilter { workspace_id: Some(ws), before, limit: 500, ..RunFilter::default() })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            all.extend(page);
        }
        assert_eq!(all.len() as u64, n);
        assert!(all.windows(2).all(|p| p[0].created_at > p[1].created_at && p[0].id > p[1].id));
        assert!(all.iter().all(|r| r.status == RunStatus::Completed && r.completed_at.is_some()));
        for outcome in [RunOutcome::Succeeded, RunOutcome::Failed, RunOutcome::Blocked, RunOutcome::Cancelled] {
            assert!(all.iter().any(|r| r.outcome == outcome), "no {outcome:?} run");
        }
        let blocked = all.iter().find(|r| r.outcome == RunOutcome::Blocked).unwrap();
        let decision = blocked.decision.as_ref().unwrap();
        assert!(decision.reason_code.is_some() && !decision.allowed);
        assert_eq!(Some(decision.evaluated_at), blocked.completed_at);
        let started = all.iter().find(|r| r.started_at.is_some()).unwrap();
        assert_eq!(started.decision.as_ref().map(|d| d.evaluated_at), started.started_at);

        // An audited run has its timeline, in order, and its initiator's notification.
        let mut found = None;
        for r in all.iter().filter(|r| r.initiator_user_id.is_some() && r.started_at.is_some()) {
            let filter = AuditFilter { subject: Some(format!("run:{}", r.id)), ..AuditFilter::default() };
            let events = store.audit_events(filter).await.unwrap();
            if !events.is_empty() {
                found = Some((r, events));
                break;
            }
        }
        let (audited, events) = found.expect("an audited run started by a person");
        assert!(events.len() >= 2);
        assert_eq!(events.last().unwrap().action, "operation.queued");
        assert_eq!(events.last().unwrap().created_at, audited.created_at);
        assert!(events.windows(2).all(|p| p[0].created_at >= p[1].created_at && p[0].id > p[1].id));
        let notes = store.notifications_for_run(audited.id).await.unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].user_id, user);
        let unread = store.notifications_unread_count(user).await.unwrap();
        assert!(unread > 0 && unread <= i64::try_from(UNREAD_AUDITED).unwrap());
    }

    crate::dialect_tests!(seeds_readable_runs);
}
