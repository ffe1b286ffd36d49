//! `atlas tenants add|set-status|write-gate|approval|show|list|drift`.

use atlas_core::diff::SetDiff;
use atlas_core::impact::AdminChange;
use atlas_core::run::RunOutcome;
use atlas_core::tenant::TenantStatus;
use atlas_core::OperationType;
use atlas_engine::{changes, service, StartRequest};
use atlas_store::admin::Tenant;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use crate::commands::runs;
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
    /// Compare the live tenant with its newest backup set: starts a
    /// drift.check run as a user, waits for it, and prints what was added,
    /// removed and changed, with the setting-level changes
    Drift {
        /// Tenant id, or name with --workspace
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        workspace: Option<String>,
        /// The user starting the check (email)
        #[arg(long = "as")]
        as_user: Option<String>,
        /// Print the queued run instead of waiting for its result
        #[arg(long)]
        no_wait: bool,
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
        TenantsCommand::Drift { tenant, workspace, as_user, no_wait } => {
            return drift(ctx, &tenant, workspace.as_deref(), as_user.as_deref(), no_wait).await;
        }
    };
    ctx.out.print(&tenant, || describe(&tenant))
}

/// `atlas tenants drift`: the run is started as the named user, authorized
/// like the console's button, and executed by a worker like any other.
async fn drift(
    ctx: &Context,
    tenant: &str,
    workspace: Option<&str>,
    as_user: Option<&str>,
    no_wait: bool,
) -> Result<(), CliError> {
    let Some(email) = as_user else {
        return Err(CliError::invalid(
            "name the person starting the check with --as EMAIL: a drift check from the terminal runs as them",
        ));
    };
    let user = ctx.user(email).await?;
    let t = ctx.tenant(workspace, tenant).await?;
    let req = StartRequest {
        user_id: user.id,
        workspace_id: t.workspace_id,
        tenant_id: Some(t.id),
        op_type: OperationType::DriftCheck,
        params: json!({}),
        retry_of_run_id: None,
        max_attempts: runs::max_attempts(ctx)?,
    };
    let inserted = service::start(&ctx.store, req).await.map_err(runs::service_error)?;
    if no_wait {
        return runs::print_started(ctx, &inserted.run, inserted.deduplicated, user.id).await;
    }
    eprintln!("Drift check of {} queued as run {}; waiting for a worker…", t.name, inserted.run.id);
    let run = runs::wait_completed(ctx, inserted.run.id).await?;
    if run.outcome != RunOutcome::Succeeded {
        let items = ctx.store.run_items(run.id).await?;
        let names = runs::Names::load(ctx, std::slice::from_ref(&run)).await?;
        ctx.out.print(&runs::run_doc(&run, &items, None), || runs::result_words(&run, &names))?;
        return runs::watch_exit(&run);
    }
    let kept = ctx
        .store
        .drift_latest(t.id)
        .await?
        .ok_or_else(|| CliError::internal(format!("run {} kept no drift result", run.id)))?;
    let view = changes::drift_view(&kept);
    let diff: SetDiff = serde_json::from_value(kept.diff.clone()).unwrap_or_default();
    ctx.out.print(&view, || {
        let summary = view.get("summary").and_then(|s| s.as_str()).unwrap_or_default();
        let mut out = vec![format!("{}: {summary} (backup set {}, run {})", t.name, kept.backup_set_id, kept.run_id)];
        out.extend(changes::diff_lines(&diff));
        out.join("\n")
    })
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
