//! `atlas backups list|show|diff`: a tenant's backup sets, one set's items by
//! type and name, and the setting-level diff of two sets of one tenant.

use atlas_engine::changes;
use atlas_store::backup::BackupSet;
use clap::Subcommand;
use uuid::Uuid;

use crate::commands::runs::service_error;
use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum BackupsCommand {
    /// A tenant's backup sets, newest first
    List {
        /// Tenant id, or name with --workspace
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One backup set with its items, by type and name
    Show {
        id: String,
        /// Only items whose name or object id contains this
        #[arg(long)]
        search: Option<String>,
    },
    /// What changed from backup set A to backup set B (two sets of one tenant)
    Diff { a: String, b: String },
}

fn line(s: &BackupSet) -> String {
    format!(
        "{}  {} items  {}  run {}",
        s.id,
        s.item_count,
        s.created_at,
        s.run_id.map_or_else(|| "—".into(), |r| r.to_string())
    )
}

fn set_id(s: &str) -> Result<Uuid, CliError> {
    Uuid::parse_str(s.trim()).map_err(|_| CliError::invalid(format!("`{s}` is not a backup set id")))
}

pub async fn run(ctx: &Context, cmd: BackupsCommand) -> Result<(), CliError> {
    match cmd {
        BackupsCommand::List { tenant, workspace, limit } => {
            let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
            let sets = ctx.store.backup_sets_for_tenant(t.id, limit).await?;
            ctx.out.print_list(&sets, "no backup sets", line)
        }
        BackupsCommand::Show { id, search } => {
            let c =
                changes::backup_contents(&ctx.store, set_id(&id)?, search.as_deref()).await.map_err(service_error)?;
            ctx.out.print(&c, || {
                let mut out = vec![format!("backup set {}", line(&c.backup_set))];
                for g in &c.types {
                    out.push(format!("{} ({}) — {}", g.label, g.object_type, g.items.len()));
                    for i in &g.items {
                        out.push(format!("  {:<50} {}  ({} assignments)", i.name, i.object_id, i.assignments));
                    }
                }
                out.join("\n")
            })
        }
        BackupsCommand::Diff { a, b } => {
            let d =
                changes::backup_diff(&ctx.store, set_id(&a)?, set_id(&b)?, |_| true).await.map_err(service_error)?;
            ctx.out.print(&d, || changes::diff_lines(&d).join("\n"))
        }
    }
}
