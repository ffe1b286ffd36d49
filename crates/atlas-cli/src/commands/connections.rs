//! `atlas connections add|enable|disable|show`: a tenant's provider connection.
//!
//! A Microsoft Graph connection names the customer's Entra tenant and the
//! app registration; its client secret is read from a file (never from the
//! command line, where it would land in shell history and `ps`), sealed with
//! the product's secret key, and never printed back.

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
        /// Graph: the customer's Entra tenant id (GUID)
        #[arg(long)]
        external_tenant_id: Option<String>,
        /// Graph: the app registration's application (client) id
        #[arg(long)]
        client_id: Option<String>,
        /// Graph: a file holding the client secret
        #[arg(long)]
        client_secret_file: Option<std::path::PathBuf>,
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
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
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
        ConnectionsCommand::Add { target, kind, external_tenant_id, client_id, client_secret_file } => {
            let t = tenant(ctx, &target).await?;
            let conn = match kind {
                ConnectionKind::Sandbox => {
                    if external_tenant_id.is_some() || client_id.is_some() || client_secret_file.is_some() {
                        return Err(CliError::invalid("a sandbox connection takes no Graph settings"));
                    }
                    let conn = ctx.store.connection_add(t.id, kind, json!({}), None, &by).await?;
                    // A sandbox tenant starts with realistic objects to operate on.
                    atlas_providers::sandbox::seed(&ctx.store, t.id)
                        .await
                        .map_err(|e| CliError::internal(format!("cannot seed the sandbox tenant: {e}")))?;
                    conn
                }
                ConnectionKind::MicrosoftGraph => {
                    let (config, sealed) = graph_settings(ctx, external_tenant_id, client_id, client_secret_file)?;
                    ctx.store.connection_add(t.id, kind, config, Some(sealed), &by).await?
                }
            };
            (t, conn)
        }
        ConnectionsCommand::Enable { target } => {
            let t = tenant(ctx, &target).await?;
            let conn = ctx.store.connection_set_status(t.id, true, &by).await?;
            (t, conn)
        }
        ConnectionsCommand::Disable { target, preview } => {
            let t = tenant(ctx, &target).await?;
            if preview {
                let change = atlas_engine::impact::connection_disable(&ctx.store, t.id).await;
                return crate::commands::preview::print(ctx, change).await;
            }
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

/// Validates a Graph connection's settings and seals its secret.
fn graph_settings(
    ctx: &Context,
    external_tenant_id: Option<String>,
    client_id: Option<String>,
    secret_file: Option<std::path::PathBuf>,
) -> Result<(serde_json::Value, String), CliError> {
    let (Some(external), Some(client), Some(file)) = (external_tenant_id, client_id, secret_file) else {
        return Err(CliError::invalid(
            "a microsoft_graph connection needs --external-tenant-id, --client-id and --client-secret-file",
        ));
    };
    let external =
        atlas_core::value::Guid::parse("--external-tenant-id", &external).map_err(|e| CliError::invalid(e.message))?;
    let client = atlas_core::value::ClientId::parse(&client).map_err(|e| CliError::invalid(e.message))?.into_string();
    let secret = std::fs::read_to_string(&file)
        .map_err(|e| CliError::invalid(format!("cannot read --client-secret-file {}: {e}", file.display())))?;
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(CliError::invalid(format!("{} is empty", file.display())));
    }
    let sealed = ctx.env.secrets().seal(secret).map_err(CliError::internal)?;
    Ok((json!({"external_tenant_id": external.to_string(), "client_id": client}), sealed))
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
