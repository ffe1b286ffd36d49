//! `atlas backups list|show`: a tenant's backup sets and their items.

use atlas_store::backup::BackupSet;
use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

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
    /// One backup set with its items
    Show { id: String },
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

pub async fn run(ctx: &Context, cmd: BackupsCommand) -> Result<(), CliError> {
    match cmd {
        BackupsCommand::List { tenant, workspace, limit } => {
            let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
            let sets = ctx.store.backup_sets_for_tenant(t.id, limit).await?;
            ctx.out.print_list(&sets, "no backup sets", line)
        }
        BackupsCommand::Show { id } => {
            let id =
                Uuid::parse_str(id.trim()).map_err(|_| CliError::invalid(format!("`{id}` is not a backup set id")))?;
            let set = ctx.store.backup_set_get(id).await?;
            let items = ctx.store.backup_items(id).await?;
            let doc = json!({"backup_set": set, "items": items});
            ctx.out.print(&doc, || {
                let mut out = vec![format!("backup set {}", line(&set))];
                for i in &items {
                    let n = i.assignments.as_array().map_or(0, Vec::len);
                    out.push(format!("  {}  {:<26} {}  ({n} assignments)", i.id, i.kind, i.display_name));
                }
                out.join("\n")
            })
        }
    }
}
