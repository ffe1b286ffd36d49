//! One module per command group; `run` dispatches a parsed command to it.

pub mod audit;
pub mod backups;
#[cfg(feature = "testkit")]
pub mod bench_seed;
pub mod connections;
pub mod demo;
pub mod members;
pub mod migrate;
pub mod notifications;
pub mod object_types;
pub mod policies;
pub mod preview;
pub mod roles;
pub mod runs;
pub mod sandbox;
pub mod schedules;
pub mod serve;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod worker;
pub mod workspaces;

use crate::cli::Command;
use crate::context::Context;
use crate::error::CliError;

pub async fn run(ctx: &Context, command: Command, public_url: Option<String>) -> Result<(), CliError> {
    match command {
        Command::Migrate => migrate::run(ctx),
        Command::Users(c) => users::run(ctx, c).await,
        Command::Workspaces(c) => workspaces::run(ctx, c).await,
        Command::Roles(c) => roles::run(ctx, c).await,
        Command::Members(c) => members::run(ctx, c).await,
        Command::Tenants(c) => tenants::run(ctx, c).await,
        Command::Connections(c) => connections::run(ctx, c).await,
        Command::Tokens(c) => tokens::run(ctx, c).await,
        Command::Notifications(c) => notifications::run(ctx, c).await,
        Command::Audit(c) => audit::run(ctx, c).await,
        Command::Runs(c) => runs::run(ctx, c).await,
        Command::Serve(a) => serve::run(ctx, a, public_url).await,
        Command::Worker(a) => worker::run(ctx, a).await,
        Command::Schedules(c) => schedules::run(ctx, c).await,
        Command::Sandbox(c) => sandbox::run(ctx, c).await,
        Command::ObjectTypes(c) => object_types::run(ctx, c).await,
        Command::Policies(c) => policies::run(ctx, c).await,
        Command::Backups(c) => backups::run(ctx, c).await,
        #[cfg(feature = "testkit")]
        Command::BenchSeed(a) => bench_seed::run(ctx, a).await,
    }
}

/// One object of a tenant, as `--tenant T [--workspace W] --object ID` name it.
#[derive(Debug, clap::Args)]
pub struct ObjectArgs {
    /// Tenant id, or name with --workspace
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub workspace: Option<String>,
    /// The object's id in the tenant
    #[arg(long)]
    pub object: String,
}
