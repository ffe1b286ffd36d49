//! `atlas-bench`, the throughput harness (docs/BENCHMARKS.md).
//!
//! Builds a world of W workspaces, each with T active sandbox tenants and U
//! members (built-in and custom roles, full and partial tenant scopes), queues
//! N `testkit.noop` runs spread over them (batched inserts, each run with its
//! own `operation.queued` event), drains them with K in-process workers
//! sharing one store, and reports runs/s for the full cycle: claim, gate,
//! transitions, audit, notification. It then checks what the drain wrote
//! (every run completed once, its events and its one notification, the audit
//! chains intact) and times the gate alone.
//!
//! ```text
//! cargo run --release -p atlas-bench --features testkit -- --store postgres --runs 20000 --workers 2
//! ```

use std::collections::BTreeSet;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use atlas_core::capability::{BuiltinRole, Capability, Role};
use atlas_core::gate::{
    evaluate, Authority, ConnectionFact, ExecutionContext, Facts, InitiatorFact, MembershipFact, TenantFact,
};
use atlas_core::run::{NewRun, Run};
use atlas_core::tenant::{ConnectionKind, ConnectionStatus, TenantScope, TenantStatus};
use atlas_core::OperationType;
use atlas_engine::worker::WorkerStats;
use atlas_engine::{families, EngineConfig, Worker};
use atlas_store::admin::{ChangeBy, RoleRef};
use atlas_store::claim::MAX_BATCH;
use atlas_store::Store;
use serde_json::json;
use uuid::Uuid;

/// The allocator of the `atlas` binary, so that the harness measures what it runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Res<T> = Result<T, String>;

const USAGE: &str = "usage: atlas-bench [--store sqlite|postgres] [--url URL] [--runs N] [--workers K]
                   [--concurrency C] [--batch B] [--workspaces W] [--tenants T] [--users U]
                   [--blocked-pct P] [--gate-iters I] [--no-analyze] [--keep]

  --store        sqlite (a fresh file in the temp folder) or postgres (a fresh schema on
                 --url, else $ATLAS_TEST_PG_URL, else postgres://postgres@127.0.0.1:5432/test)
  --runs         runs to queue and drain (20000)
  --workers      in-process workers sharing one store (2)
  --concurrency  runs each worker executes at once (512)
  --batch        runs per claim transaction (256; at most 512 per batched write)
  --workspaces   workspaces (4); --tenants and --users are per workspace (8 and 8)
  --blocked-pct  percent of runs queued by a read-only member, blocked at claim (0)
  --gate-iters   iterations of the gate's tight loop (1000000)
  --no-analyze   drain without planner statistics (by default ANALYZE runs after the enqueue)
  --keep         keep the database (file or schema) afterwards

  BENCH_EXTRA_SQL  PostgreSQL: statements (separated by `;`) run on the fresh schema after the
                   migrations, to measure what a schema change would do (e.g. an index dropped)
  RUST_LOG         e.g. sqlx=debug: every statement with its time";

struct Args {
    store: String,
    url: Option<String>,
    runs: usize,
    workers: usize,
    concurrency: usize,
    batch: u32,
    workspaces: usize,
    tenants: usize,
    users: usize,
    blocked_pct: usize,
    gate_iters: u64,
    no_analyze: bool,
    keep: bool,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        store: "sqlite".into(),
        url: None,
        runs: 20_000,
        workers: 2,
        concurrency: 512,
        batch: 256,
        workspaces: 4,
        tenants: 8,
        users: 8,
        blocked_pct: 0,
        gate_iters: 1_000_000,
        no_analyze: false,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep" || flag == "--no-analyze" {
            if flag == "--keep" {
                a.keep = true;
            } else {
                a.no_analyze = true;
            }
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|_| format!("{flag} takes a whole number, not `{v}`"));
        match flag.as_str() {
            "--store" => a.store = value,
            "--url" => a.url = Some(value),
            "--runs" => a.runs = num(&value)?,
            "--workers" => a.workers = num(&value)?.max(1),
            "--concurrency" => a.concurrency = num(&value)?.max(1),
            "--batch" => a.batch = u32::try_from(num(&value)?.clamp(1, MAX_BATCH)).unwrap_or(256),
            "--workspaces" => a.workspaces = num(&value)?.max(1),
            "--tenants" => a.tenants = num(&value)?.max(1),
            "--users" => a.users = num(&value)?.max(1),
            "--blocked-pct" => a.blocked_pct = num(&value)?.min(100),
            "--gate-iters" => a.gate_iters = num(&value)?.max(1) as u64,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if a.store != "sqlite" && a.store != "postgres" {
        return Err(format!("--store is sqlite or postgres, not `{}`", a.store));
    }
    Ok(a)
}

/// A fresh database, and how to remove it afterwards.
async fn open(a: &Args) -> Res<(Store, Cleanup)> {
    let err = |e: atlas_store::StoreError| e.to_string();
    if a.store == "sqlite" {
        let url = match &a.url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}",
                std::env::temp_dir().join(format!("atlas-bench-{}.db", Uuid::now_v7())).display()
            ),
        };
        let store = Store::connect(&url).await.map_err(err)?;
        store.migrate().await.map_err(err)?;
        let path = url.trim_start_matches("sqlite://").to_owned();
        return Ok((store, Cleanup::File(path)));
    }
    let base = a.url.clone().or_else(|| std::env::var("ATLAS_TEST_PG_URL").ok());
    let base = base.unwrap_or_else(|| atlas_store::testkit::DEFAULT_TEST_PG_URL.to_owned());
    let admin = Store::connect(&base).await.map_err(|e| format!("PostgreSQL at {base}: {e}"))?;
    let schema = format!("bench_{}", Uuid::new_v4().simple());
    admin.execute_raw(&format!("CREATE SCHEMA {schema}")).await.map_err(err)?;
    let sep = if base.contains('?') { '&' } else { '?' };
    let store = Store::connect(&format!("{base}{sep}options=-c%20search_path%3D{schema}")).await.map_err(err)?;
    store.migrate().await.map_err(err)?;
    if let Ok(extra) = std::env::var("BENCH_EXTRA_SQL") {
        for stmt in extra.split(';').filter(|s| !s.trim().is_empty()) {
            store.execute_raw(stmt).await.map_err(err)?;
        }
    }
    Ok((store, Cleanup::Schema(admin, schema)))
}

enum Cleanup {
    File(String),
    Schema(Store, String),
}

impl Cleanup {
    async fn run(self, keep: bool) {
        match self {
            Cleanup::File(path) if keep => println!("kept       {path}"),
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
            Cleanup::Schema(_, schema) if keep => println!("kept       schema {schema}"),
            Cleanup::Schema(admin, schema) => {
                if let Err(e) = admin.execute_raw(&format!("DROP SCHEMA {schema} CASCADE")).await {
                    eprintln!("could not drop schema {schema}: {e}");
                }
            }
        }
    }
}

/// Who may queue runs: (workspace, tenants, members allowed, the read-only member).
struct Space {
    workspace: Uuid,
    tenants: Vec<Uuid>,
    members: Vec<Uuid>,
    readonly: Uuid,
}

async fn build_world(store: &Store, a: &Args) -> Res<Vec<Space>> {
    let err = |e: atlas_store::StoreError| e.to_string();
    let by = ChangeBy::cli();
    let tag = Uuid::new_v4().simple().to_string();
    let tag = &tag[..8];
    let mut spaces = Vec::with_capacity(a.workspaces);
    for w in 0..a.workspaces {
        let ws = store.workspace_create(&format!("bench-{tag}-{w}"), &format!("Bench {w}"), &by).await.map_err(err)?;
        let caps = BTreeSet::from([Capability::TenantInventorySync]);
        store.role_create(ws.id, "Syncer", &caps, &by).await.map_err(err)?;
        let mut tenants = Vec::with_capacity(a.tenants);
        for t in 0..a.tenants {
            let tenant = store
                .tenant_create(ws.id, &format!("Tenant {t}"), TenantStatus::Active, false, None, &by)
                .await
                .map_err(err)?;
            store.connection_add(tenant.id, ConnectionKind::Sandbox, json!({}), None, &by).await.map_err(err)?;
            tenants.push(tenant.id);
        }
        let mut members = Vec::with_capacity(a.users);
        for u in 0..a.users {
            let email = format!("u{u}-w{w}-{tag}@bench.example");
            let user = store.user_create(&email, &format!("User {u}"), None, &by).await.map_err(err)?;
            // Half built-in, half custom roles; every fourth scoped to a tenant list.
            let role =
                if u % 2 == 0 { RoleRef::Builtin(BuiltinRole::Operator) } else { RoleRef::Custom("Syncer".into()) };
            let scope =
                if u % 4 == 3 { TenantScope::Tenants(tenants.iter().copied().collect()) } else { TenantScope::All };
            store.member_grant(ws.id, user.id, &role, &scope, &by).await.map_err(err)?;
            members.push(user.id);
        }
        let email = format!("readonly-w{w}-{tag}@bench.example");
        let reader = store.user_create(&email, "Read Only", None, &by).await.map_err(err)?;
        let role = RoleRef::Builtin(BuiltinRole::Readonly);
        store.member_grant(ws.id, reader.id, &role, &TenantScope::All, &by).await.map_err(err)?;
        spaces.push(Space { workspace: ws.id, tenants, members, readonly: reader.id });
    }
    Ok(spaces)
}

/// N no-op runs spread round-robin over workspaces, tenants and members.
/// Each carries a unique dedupe key: no-op runs of one tenant would otherwise
/// deduplicate to one active run (SPEC §4).
fn runs(spaces: &[Space], a: &Args) -> (Vec<(Run, atlas_core::audit::AuditDraft)>, usize) {
    let now = atlas_store::now();
    let mut blocked = 0;
    let out = (0..a.runs)
        .map(|i| {
            let s = &spaces[i % spaces.len()];
            let k = i / spaces.len();
            let tenant = s.tenants[k % s.tenants.len()];
            let deny = i % 100 < a.blocked_pct;
            blocked += usize::from(deny);
            let user = if deny { s.readonly } else { s.members[(k / s.tenants.len() + k) % s.members.len()] };
            let new = NewRun {
                op_type: OperationType::TestkitNoop,
                workspace_id: s.workspace,
                tenant_id: Some(tenant),
                authority: Authority::Actor { user_id: user },
                params: json!({}),
                retry_of_run_id: None,
                max_attempts: 3,
            };
            let (mut run, audit) = Run::queued(new, Uuid::now_v7(), now);
            run.dedupe_key = format!("{}|bench:{i}", run.dedupe_key);
            (run, audit)
        })
        .collect();
    (out, blocked)
}

fn add(total: &mut WorkerStats, s: WorkerStats) {
    total.started += s.started;
    total.blocked += s.blocked;
    total.retried_at_claim += s.retried_at_claim;
    total.finished += s.finished;
    total.fenced += s.fenced;
    total.rescued += s.rescued;
}

/// CPU time this process has used (user + system), where Linux's `/proc`
/// tells it: steadier than wall time on a shared machine, and on SQLite it is
/// the whole cycle's CPU (the database runs in the process).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) closed by ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // utime and stime are fields 14 and 15, in USER_HZ (100 on Linux) ticks.
    Some(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// The gate alone: ns per `evaluate` for an allowed and a denied run.
fn gate_ns(iters: u64) -> (f64, f64) {
    let (ws, user, tenant) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let ctx = ExecutionContext::capture(
        OperationType::TestkitNoop,
        &Authority::Actor { user_id: user },
        ws,
        Some(tenant),
        &json!({}),
    );
    let allowed = Facts {
        initiator: Some(InitiatorFact { display_name: "Jane Doe".into(), disabled: false }),
        membership: Some(MembershipFact { role: Role::Builtin(BuiltinRole::Operator), scope: TenantScope::All }),
        tenant: Some(TenantFact {
            id: tenant,
            name: "Contoso".into(),
            status: TenantStatus::Active,
            writes_enabled: false,
        }),
        connection: Some(ConnectionFact { status: ConnectionStatus::Enabled }),
        ..Facts::default()
    };
    let mut denied = allowed.clone();
    denied.membership = Some(MembershipFact { role: Role::Builtin(BuiltinRole::Readonly), scope: TenantScope::All });
    let at = atlas_store::now();
    let time = |facts: &Facts| {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(evaluate(black_box(&ctx), black_box(facts), at, 1));
        }
        start.elapsed().as_nanos() as f64 / iters as f64
    };
    (time(&allowed), time(&denied))
}

async fn bench(a: &Args, store: &Store) -> Res<()> {
    let err = |e: atlas_store::StoreError| e.to_string();
    println!(
        "atlas-bench  store={}  runs={}  workers={}  concurrency={}  claim-batch={}  cores={}",
        a.store,
        a.runs,
        a.workers,
        a.concurrency,
        a.batch,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let spaces = build_world(store, a).await?;
    println!("world      {} workspaces x ({} tenants, {} members + 1 read-only)", a.workspaces, a.tenants, a.users);
    let (queued, blocked) = runs(&spaces, a);
    let start = Instant::now();
    let inserted = store.run_insert_many(&queued).await.map_err(err)?;
    let took = start.elapsed();
    if inserted.len() != a.runs {
        return Err(format!("queued {} of {} runs", inserted.len(), a.runs));
    }
    println!("enqueue    {} runs in {:.2} s = {:.0} runs/s", a.runs, took.as_secs_f64(), rate(a.runs, took));
    drop(queued);
    // The queued events belong to the enqueue: sealed before the clock starts.
    store.audit_seal().await.map_err(err)?;
    // Fresh tables have no planner statistics; a live database has them
    // (autovacuum), so the drain is measured with them, as it would run.
    if !a.no_analyze {
        // The drain's tables only: a bare ANALYZE on PostgreSQL reads every schema of the database.
        for table in [
            "operation_runs",
            "audit_events",
            "audit_seals",
            "notifications",
            "users",
            "memberships",
            "custom_roles",
            "tenants",
            "provider_connections",
        ] {
            store.execute_raw(&format!("ANALYZE {table}")).await.map_err(err)?;
        }
    }
    let before = store.world_counts_for_tests().await.map_err(err)?;

    let config = EngineConfig {
        lease: Duration::from_secs(30),
        retry_backoff: Duration::from_secs(1),
        poll_interval: Duration::from_millis(5),
        concurrency: a.concurrency,
        claim_batch: a.batch,
        reevaluate_interval: Duration::from_secs(30),
        max_attempts: 3,
    };
    let registry = families::registry();
    let cpu_before = process_cpu();
    let start = Instant::now();
    let workers: Vec<_> = (0..a.workers)
        .map(|_| {
            let w = Worker::new(store.clone(), config.clone(), registry.clone());
            tokio::spawn(async move { w.run(true, std::future::pending::<()>()).await })
        })
        .collect();
    let mut stats = WorkerStats::default();
    for w in workers {
        add(&mut stats, w.await.map_err(|e| e.to_string())?.map_err(err)?);
    }
    let took = start.elapsed();
    let cpu = cpu_before.zip(process_cpu()).map(|(b, a)| a.saturating_sub(b));
    println!(
        "drain      {} runs in {:.2} s = {:.0} runs/s  (started {}, blocked {}, retried {}, finished {}, fenced {})",
        a.runs,
        took.as_secs_f64(),
        rate(a.runs, took),
        stats.started,
        stats.blocked,
        stats.retried_at_claim,
        stats.finished,
        stats.fenced
    );
    if let Some(cpu) = cpu {
        let per_run = cpu.as_secs_f64() * 1e6 / a.runs.max(1) as f64;
        let whose = if a.store == "sqlite" { "the whole cycle" } else { "PostgreSQL's own not included" };
        println!("cpu        this process: {:.2} s = {per_run:.0} µs per run ({whose})", cpu.as_secs_f64());
    }
    check(store, a, blocked, &before).await?;
    let (ok_ns, denied_ns) = gate_ns(a.gate_iters);
    println!(
        "gate       evaluate: {ok_ns:.0} ns/op allowed, {denied_ns:.0} ns/op denied ({} iterations each)",
        a.gate_iters
    );
    Ok(())
}

/// What the drain must have written: every run completed once (succeeded, or
/// blocked for the read-only member's runs), two events per started run and
/// one per blocked run, one notification per run, chains intact.
async fn check(store: &Store, a: &Args, blocked: usize, before: &atlas_store::testkit::WorldCounts) -> Res<()> {
    let err = |e: atlas_store::StoreError| e.to_string();
    let after = store.world_counts_for_tests().await.map_err(err)?;
    let snapshot = store.metrics_snapshot().await.map_err(err)?;
    let count = |status: &str, outcome: &str| {
        (snapshot.runs.iter())
            .filter(|(t, s, o, _)| t == "testkit.noop" && s == status && o == outcome)
            .map(|r| r.3)
            .sum::<i64>()
    };
    let succeeded = count("completed", "succeeded");
    let blocked_now = count("completed", "blocked");
    let started = a.runs - blocked;
    let events = after.audit_events - before.audit_events;
    let want_events = 2 * started + blocked;
    let notes = after.notifications_unread - before.notifications_unread;
    let start = Instant::now();
    let verify = store.audit_verify(None).await.map_err(err)?;
    println!(
        "check      {succeeded} succeeded, {blocked_now} blocked; +{events} audit events; +{notes} notifications; \
         {} events verified in {:.2} s",
        verify.events_checked,
        start.elapsed().as_secs_f64()
    );
    let as_i = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    if succeeded != as_i(started) || blocked_now != as_i(blocked) {
        return Err(format!("expected {started} succeeded and {blocked} blocked"));
    }
    if events != as_i(want_events) || notes != as_i(a.runs) {
        return Err(format!("expected +{want_events} audit events and +{} notifications", a.runs));
    }
    if let Some(broken) = verify.broken {
        return Err(format!("audit chain broken: {broken:?}"));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // Warnings (a failed claim or seal) by default; RUST_LOG=sqlx=debug shows every statement and its time.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=error"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (store, cleanup) = match open(&a).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open the {} store: {e}", a.store);
            return ExitCode::FAILURE;
        }
    };
    let result = bench(&a, &store).await;
    store.close().await;
    cleanup.run(a.keep).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
