//! `atlas tenants add|set-status|write-gate|approval|show|list`.

use atlas_core::impact::AdminChange;
use atlas_core::tenant::TenantStatus;
use atlas_store::admin::Tenant;
use clap::{Subcommand, ValueEnum};

use crate::context::Context;
use crate::error::CliError;

/// A write gate position, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Gate {
    Open,
    Closed,
}

/// Whether writing runs need another member's approval, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApprovalSetting {
    Required,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant (prints the tenant)
    Add {
        /// Workspace slug
        #[arg(long)]
        workspace: String,
        /// Unique in the workspace
        #[arg(long)]
        name: String,
        /// onboarding, active, suspended or archived
        #[arg(long, default_value = "active", value_parser = parse_status)]
        status: TenantStatus,
        /// The write gate: writing operations need it open
        #[arg(long, value_enum, default_value = "closed")]
        writes: Gate,
        /// The tenant's id at the provider (the Entra tenant id)
        #[arg(long)]
        external_tenant_id: Option<String>,
    },
    /// Change a tenant's status
    SetStatus {
        /// Tenant id, or name with --workspace
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = parse_status)]
        status: TenantStatus,
        #[arg(long)]
        workspace: Option<String>,
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
    },
    /// Open or close a tenant's write gate
    WriteGate {
        #[arg(long)]
        tenant: String,
        #[arg(value_enum)]
        gate: Gate,
        #[arg(long)]
        workspace: Option<String>,
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
    },
    /// Require another member's approval of writing runs, or stop requiring it
    Approval {
        #[arg(long)]
        tenant: String,
        #[arg(value_enum)]
        setting: ApprovalSetting,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Show one tenant
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// List a workspace's tenants (the only workspace when there is one)
    List {
        #[arg(long)]
        workspace: Option<String>,
    },
}

pub async fn run(ctx: &Context, cmd: TenantsCommand) -> Result<(), CliError> {
    let by = ctx.by();
    let tenant = match cmd {
        TenantsCommand::Add { workspace, name, status, writes, external_tenant_id } => {
            let ws = ctx.workspace(&workspace).await?;
            let open = writes == Gate::Open;
            ctx.store.tenant_create(ws.id, &name, status, open, external_tenant_id.as_deref(), &by).await?
        }
        TenantsCommand::SetStatus { tenant, status, workspace, preview } => {
            let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
            if preview {
                let change = AdminChange::TenantSetStatus { tenant_id: t.id, status };
                return crate::commands::preview::print(ctx, Ok(change)).await;
            }
            ctx.store.tenant_set_status(t.id, status, &by).await?
        }
        TenantsCommand::WriteGate { tenant, gate, workspace, preview } => {
            let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
            if preview {
                let change = AdminChange::TenantWriteGate { tenant_id: t.id, open: gate == Gate::Open };
                return crate::commands::preview::print(ctx, Ok(change)).await;
            }
            ctx.store.tenant_set_write_gate(t.id, gate == Gate::Open, &by).await?
        }
        TenantsCommand::Approval { tenant, setting, workspace } => {
            let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
            ctx.store.tenant_set_approval(t.id, setting == ApprovalSetting::Required, &by).await?
        }
        TenantsCommand::Show { tenant, workspace } => ctx.tenant(workspace.as_deref(), &tenant).await?,
        TenantsCommand::List { workspace } => {
            let ws = ctx.workspace_or_only(workspace.as_deref()).await?;
            let all = ctx.store.tenant_list(ws.id).await?;
            return ctx.out.print_list(&all, "no tenants", describe);
        }
    };
    ctx.out.print(&tenant, || describe(&tenant))
}

fn parse_status(s: &str) -> Result<TenantStatus, String> {
    TenantStatus::parse(s).ok_or_else(|| {
        let known: Vec<&str> = TenantStatus::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown tenant status (expected one of {})", known.join(", "))
    })
}

pub fn describe(t: &Tenant) -> String {
    let gate = if t.writes_enabled { "open" } else { "closed" };
    let approval = if t.approval_required { ", approval required" } else { "" };
    format!("tenant {} (id {}) {}, writes {gate}{approval}", t.name, t.id, t.status)
}
