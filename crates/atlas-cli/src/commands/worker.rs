//! `atlas worker [--until-idle] [--concurrency N]`: executes runs until
//! Ctrl-C or SIGTERM, then hands back what it could not finish and exits 0.

use atlas_engine::scheduler::Scheduler;
use atlas_engine::{families, EngineConfig, Worker};
use clap::Args;
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Exit once no run is queued or running (waits out backoffs and live leases)
    #[arg(long)]
    until_idle: bool,
    /// Runs executed at once (default ATLAS_WORKER_CONCURRENCY or 4)
    #[arg(long)]
    concurrency: Option<usize>,
}

#[derive(Serialize)]
struct Report {
    started: u64,
    blocked: u64,
    retried_at_claim: u64,
    finished: u64,
    lost_leases: u64,
    rescued: u64,
    handed_back: u64,
}

/// Engine settings from the environment, `--concurrency` over
/// `ATLAS_WORKER_CONCURRENCY`; a malformed value is bad input.
pub fn engine_config(ctx: &Context, concurrency: Option<usize>) -> Result<EngineConfig, CliError> {
    let mut config = ctx.env.engine()?;
    if let Some(n) = concurrency {
        if n == 0 {
            return Err(CliError::invalid("--concurrency must be at least 1"));
        }
        config.concurrency = n;
    }
    Ok(config)
}

/// A worker of this node: its host name in the id, its provider settings.
pub fn node_worker(ctx: &Context, config: EngineConfig) -> Result<Worker, CliError> {
    let providers = ctx.env.providers()?;
    Ok(Worker::new(ctx.store.clone(), config, families::registry())
        .on_node(ctx.env.node())
        .with_providers(providers)
        .with_shutdown_grace(ctx.env.shutdown_grace()?))
}

pub async fn run(ctx: &Context, args: WorkerArgs) -> Result<(), CliError> {
    let config = engine_config(ctx, args.concurrency)?;
    let scheduler = Scheduler::new(ctx.store.clone(), ctx.env.scheduler(&config)?);
    let worker = node_worker(ctx, config)?;
    tracing::info!(worker = worker.id(), "worker started");
    // The scheduler runs beside the worker on every node and stops with it.
    let (stopped_tx, stopped_rx) = tokio::sync::watch::channel(false);
    let scheduling = tokio::spawn(async move {
        let mut rx = stopped_rx;
        scheduler
            .run(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
    });
    let result = worker.run(args.until_idle, atlas_web::startup::shutdown_signal()).await;
    let _ = stopped_tx.send(true);
    let _ = scheduling.await;
    let s = result?;
    let report = Report {
        started: s.started,
        blocked: s.blocked,
        retried_at_claim: s.retried_at_claim,
        finished: s.finished,
        lost_leases: s.fenced,
        rescued: s.rescued,
        handed_back: s.handed_back,
    };
    ctx.out.print(&report, || {
        format!(
            "worker done: {} started, {} blocked, {} retried at claim, {} finished, {} leases lost, {} rescued, \
             {} handed back",
            s.started, s.blocked, s.retried_at_claim, s.finished, s.fenced, s.rescued, s.handed_back
        )
    })
}
