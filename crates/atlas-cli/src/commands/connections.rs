//! `atlas connections add|enable|disable|show`: a tenant's provider connection.
//!
//! Only sandbox connections can be added from the CLI for now: a Microsoft
//! Graph connection needs its client secret encrypted at rest, and the
//! secret-key handling (ATLAS_SECRET_KEY) does not exist yet, so
//! `--kind microsoft_graph` is refused as bad input rather than storing a
//! connection that could never authenticate.

use atlas_core::tenant::ConnectionKind;
use atlas_store::admin::{ProviderConnection, Tenant};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;

/// The tenant a connection command is about.
#[derive(Debug, Args)]
pub struct TenantArg {
    /// Tenant id, or name with --workspace
    #[arg(long)]
    tenant: String,
    /// Workspace slug (needed when --tenant is a name)
    #[arg(long)]
    workspace: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Add the tenant's provider connection (prints the connection)
    Add {
        #[command(flatten)]
        target: TenantArg,
        /// sandbox or microsoft_graph
        #[arg(long, value_parser = parse_kind)]
        kind: ConnectionKind,
    },
    /// Enable the tenant's connection
    Enable {
        #[command(flatten)]
        target: TenantArg,
    },
    /// Disable the tenant's connection: runs needing it are refused
    Disable {
        #[command(flatten)]
        target: TenantArg,
    },
    /// Show the tenant's connection (never its secret)
    Show {
        #[command(flatten)]
        target: TenantArg,
    },
}

pub async fn run(ctx: &Context, cmd: ConnectionsCommand) -> Result<(), CliError> {
    let by = ctx.by();
    let (tenant, conn) = match cmd {
        ConnectionsCommand::Add { target, kind } => {
            if kind == ConnectionKind::MicrosoftGraph {
                return Err(CliError::invalid(
                    "microsoft_graph connections are not yet supported by the CLI (client secrets need encryption at rest)",
                ));
            }
            let t = tenant(ctx, &target).await?;
            let conn = ctx.store.connection_add(t.id, kind, json!({}), None, &by).await?;
            // A sandbox tenant starts with realistic objects to operate on.
            atlas_providers::sandbox::seed(&ctx.store, t.id)
                .await
                .map_err(|e| CliError::internal(format!("cannot seed the sandbox tenant: {e}")))?;
            (t, conn)
        }
        ConnectionsCommand::Enable { target } => {
            let t = tenant(ctx, &target).await?;
            let conn = ctx.store.connection_set_status(t.id, true, &by).await?;
            (t, conn)
        }
        ConnectionsCommand::Disable { target } => {
            let t = tenant(ctx, &target).await?;
            let conn = ctx.store.connection_set_status(t.id, false, &by).await?;
            (t, conn)
        }
        ConnectionsCommand::Show { target } => {
            let t = tenant(ctx, &target).await?;
            let conn = ctx.store.connection_get(t.id).await?.ok_or_else(|| {
                CliError::from(atlas_store::StoreError::NotFound(format!("provider connection of tenant `{}`", t.name)))
            })?;
            (t, conn)
        }
    };
    ctx.out.print(&conn, || describe(&tenant, &conn))
}

async fn tenant(ctx: &Context, target: &TenantArg) -> Result<Tenant, CliError> {
    ctx.tenant(target.workspace.as_deref(), &target.tenant).await
}

fn parse_kind(s: &str) -> Result<ConnectionKind, String> {
    ConnectionKind::parse(s).ok_or_else(|| "unknown connection kind (expected sandbox or microsoft_graph)".to_owned())
}

fn describe(t: &Tenant, c: &ProviderConnection) -> String {
    let checked = c.checked_at.map_or_else(|| "never".to_owned(), |at| at.to_string());
    format!(
        "connection {} of tenant {} (id {}): {}, last check {checked}",
        c.kind.as_str(),
        t.name,
        c.id,
        c.status.as_str()
    )
}
