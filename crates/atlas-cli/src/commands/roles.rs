//! `atlas roles add|set|list`: custom roles, each a set of capabilities from
//! the registry.

use atlas_core::capability::{parse_capability_list, Capability, CapabilitySet};
use atlas_store::admin::CustomRole;
use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Create a custom role (prints the role)
    Add {
        /// Workspace slug
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        name: String,
        /// Comma-separated capabilities, e.g. audit.view,workspace.view
        #[arg(long)]
        capabilities: String,
    },
    /// Replace a custom role's capabilities (takes effect for every holder)
    Set {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        capabilities: String,
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
    },
    /// List a workspace's custom roles
    List {
        #[arg(long)]
        workspace: String,
    },
}

pub async fn run(ctx: &Context, cmd: RolesCommand) -> Result<(), CliError> {
    match cmd {
        RolesCommand::Add { workspace, name, capabilities } => {
            let caps = parse_caps(&capabilities)?;
            let ws = ctx.workspace(&workspace).await?;
            let role = ctx.store.role_create(ws.id, &name, &caps, &ctx.by()).await?;
            ctx.out.print(&role, || describe(&role))
        }
        RolesCommand::Set { workspace, name, capabilities, preview } => {
            let caps = parse_caps(&capabilities)?;
            let ws = ctx.workspace(&workspace).await?;
            if preview {
                let change = atlas_engine::impact::role_set(&ctx.store, ws.id, &name, caps).await;
                return crate::commands::preview::print(ctx, change).await;
            }
            let role = ctx.store.role_set(ws.id, &name, &caps, &ctx.by()).await?;
            ctx.out.print(&role, || describe(&role))
        }
        RolesCommand::List { workspace } => {
            let ws = ctx.workspace(&workspace).await?;
            let roles = ctx.store.role_list(ws.id).await?;
            ctx.out.print_list(&roles, "no custom roles", describe)
        }
    }
}

fn parse_caps(list: &str) -> Result<CapabilitySet, CliError> {
    parse_capability_list(list).map_err(|e| {
        let known: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        CliError::invalid(format!("{e} (known: {})", known.join(", ")))
    })
}

fn describe(r: &CustomRole) -> String {
    let caps: Vec<&str> = r.capabilities.iter().map(|c| c.as_str()).collect();
    let caps = if caps.is_empty() { "no capabilities".to_owned() } else { caps.join(", ") };
    format!("role {} (id {}): {caps}", r.name, r.id)
}
