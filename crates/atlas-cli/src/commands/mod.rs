//! One module per command group; `run` dispatches a parsed command to it.

pub mod audit;
pub mod connections;
pub mod members;
pub mod migrate;
pub mod roles;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod workspaces;

use crate::cli::Command;
use crate::context::Context;
use crate::error::CliError;

pub async fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Migrate => migrate::run(ctx),
        Command::Users(c) => users::run(ctx, c).await,
        Command::Workspaces(c) => workspaces::run(ctx, c).await,
        Command::Roles(c) => roles::run(ctx, c).await,
        Command::Members(c) => members::run(ctx, c).await,
        Command::Tenants(c) => tenants::run(ctx, c).await,
        Command::Connections(c) => connections::run(ctx, c).await,
        Command::Tokens(c) => tokens::run(ctx, c).await,
        Command::Audit(c) => audit::run(ctx, c).await,
    }
}
