//! `atlas policies history|diff`: an object's stored versions (one per
//! content change `policies.sync` saw) and the setting-level diff between two.

use atlas_engine::changes;
use clap::Subcommand;

use crate::commands::runs::service_error;
use crate::commands::ObjectArgs;
use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// The stored versions of one object, oldest first
    History {
        #[command(flatten)]
        of: ObjectArgs,
    },
    /// The setting-level changes between two versions (default: the last two)
    Diff {
        #[command(flatten)]
        of: ObjectArgs,
        /// The older version (default: the one before --to)
        #[arg(long)]
        from: Option<i64>,
        /// The newer version (default: the newest)
        #[arg(long)]
        to: Option<i64>,
    },
}

pub async fn run(ctx: &Context, cmd: PoliciesCommand) -> Result<(), CliError> {
    match cmd {
        PoliciesCommand::History { of: ObjectArgs { tenant, workspace, object } } => {
            let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
            let h = changes::history(&ctx.store, t.id, object.trim()).await.map_err(service_error)?;
            ctx.out.print(&h, || {
                let mut out = vec![format!("{} {} ({})", h.object_type, h.name, h.object_id)];
                for v in &h.versions {
                    let run = v.run_id.map_or_else(|| "—".into(), |r| r.to_string());
                    out.push(format!(
                        "  v{:<4} {}  {}  run {run}",
                        v.version,
                        v.created_at,
                        &v.content_hash[..12.min(v.content_hash.len())]
                    ));
                }
                out.join("\n")
            })
        }
        PoliciesCommand::Diff { of: ObjectArgs { tenant, workspace, object }, from, to } => {
            let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
            let d = changes::version_diff(&ctx.store, t.id, object.trim(), from, to).await.map_err(service_error)?;
            ctx.out.print(&d, || {
                let mut out = vec![format!("{} {}: v{} → v{}", d.object_type, d.name, d.from, d.to)];
                if d.changes.is_empty() {
                    out.push("  no changes".into());
                }
                out.extend(d.changes.iter().map(|c| format!("  {}", changes::change_line(c))));
                out.join("\n")
            })
        }
    }
}
