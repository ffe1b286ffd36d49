//! `atlas bench-seed --workspace S --runs N` (hidden): fills a workspace's
//! tenants with completed runs for the console benchmark
//! (`scripts/bench-console`, docs/BENCHMARKS.md). Not for real databases.

use std::time::Instant;

use clap::Args;
use uuid::Uuid;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct BenchSeedArgs {
    /// Workspace slug (or id); the runs go to its tenants
    #[arg(long)]
    workspace: String,
    /// How many runs to add
    #[arg(long)]
    runs: u64,
    /// Email of who starts the manual runs (default: the workspace's first member)
    #[arg(long)]
    initiator: Option<String>,
}

pub async fn run(ctx: &Context, args: BenchSeedArgs) -> Result<(), CliError> {
    let ws = ctx.workspace(&args.workspace).await?;
    let tenants: Vec<Uuid> = ctx.store.tenant_list(ws.id).await?.into_iter().map(|t| t.id).collect();
    if tenants.is_empty() {
        return Err(CliError::invalid(format!("workspace `{}` has no tenants: add some first", ws.slug)));
    }
    let initiator = match &args.initiator {
        Some(email) => ctx.user(email).await?.id,
        None => ctx
            .store
            .membership_list(ws.id)
            .await?
            .first()
            .map(|m| m.user_id)
            .ok_or_else(|| CliError::invalid(format!("workspace `{}` has no members", ws.slug)))?,
    };
    let started = Instant::now();
    let report = ctx.store.bench_seed_runs(ws.id, &tenants, initiator, args.runs).await?;
    let secs = started.elapsed().as_secs_f64();
    ctx.out.print(&report, || {
        format!(
            "seeded {} runs over {} tenants of `{}` in {secs:.1} s ({} audit events, {} notifications, {} templates), \
             created {} … {}",
            report.runs,
            tenants.len(),
            ws.slug,
            report.audit_events,
            report.notifications,
            report.templates,
            report.first_created_at,
            report.last_created_at
        )
    })
}
