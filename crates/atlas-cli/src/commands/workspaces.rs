//! `atlas workspaces add|list`.

use atlas_store::admin::Workspace;
use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum WorkspacesCommand {
    /// Create a workspace (prints the workspace)
    Add {
        /// Short name used by `--workspace` (lower-case letters, digits, dashes)
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List workspaces
    List,
}

pub async fn run(ctx: &Context, cmd: WorkspacesCommand) -> Result<(), CliError> {
    match cmd {
        WorkspacesCommand::Add { slug, name } => {
            let ws = ctx.store.workspace_create(&slug, &name, &ctx.by()).await?;
            ctx.out.print(&ws, || describe(&ws))
        }
        WorkspacesCommand::List => {
            let all = ctx.store.workspace_list().await?;
            ctx.out.print_list(&all, "no workspaces", describe)
        }
    }
}

fn describe(w: &Workspace) -> String {
    format!("workspace {} `{}` (id {})", w.name, w.slug, w.id)
}
