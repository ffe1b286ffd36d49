//! `atlas schedules add|enable|disable|list|fire`: backup schedules. They
//! belong to the workspace and run with system authority.

use atlas_core::access::{self, Access};
use atlas_core::{Capability, Timestamp};
use atlas_engine::schedule::{self, CronSpec};
use atlas_store::admin::ChangeBy;
use atlas_store::schedule::{Fired, Schedule};
use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

use crate::commands::runs::service_error;
use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Add a daily/weekly/… backup schedule for a tenant (prints the schedule)
    Add {
        /// Tenant id, or name with --workspace
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        workspace: Option<String>,
        /// Five fields: minute hour day-of-month month day-of-week
        #[arg(long)]
        cron: String,
        /// IANA time zone
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// The person adding it (email; needs tenant.backup_schedules.manage on
        /// the tenant): `created_by` names them, as in the API. Without it the
        /// change is the system's (`via: cli`).
        #[arg(long = "as")]
        as_user: Option<String>,
    },
    /// Enable a schedule
    Enable { id: String },
    /// Disable a schedule: its queued runs are refused
    Disable {
        id: String,
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
    },
    /// List schedules
    List {
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Fire a slot now (once per slot)
    Fire {
        id: String,
        /// The slot (RFC 3339); default now
        #[arg(long)]
        slot: Option<String>,
    },
}

fn parse_id(s: &str) -> Result<Uuid, CliError> {
    Uuid::parse_str(s.trim()).map_err(|_| CliError::invalid(format!("`{s}` is not a schedule id")))
}

/// `--as E`: the change is E's, if E may manage the tenant's schedules (the
/// API's guard, by the same rule); a tenant E may not see is not found.
async fn person_who_may_manage_schedules(
    ctx: &Context,
    email: &str,
    tenant: &atlas_store::admin::Tenant,
) -> Result<ChangeBy, CliError> {
    let user = ctx.user(email).await?;
    let viewer =
        atlas_engine::service::viewer(&ctx.store, tenant.workspace_id, user.id).await.map_err(service_error)?;
    match access::check(viewer.as_ref(), &[tenant.id], Capability::TenantBackupSchedulesManage) {
        Access::Allowed => Ok(ChangeBy::user(user.id)),
        Access::Forbidden => Err(CliError::forbidden(format!(
            "{} may not manage backup schedules of tenant {} ({} is needed)",
            user.email,
            tenant.name,
            Capability::TenantBackupSchedulesManage.as_str()
        ))),
        Access::NotFound => {
            Err(atlas_store::StoreError::NotFound(format!("tenant {} for {}", tenant.id, user.email)).into())
        }
    }
}

fn line(s: &Schedule) -> String {
    let state = if s.enabled { "enabled" } else { "disabled" };
    format!("{}  tenant {}  `{}` {}  {state}", s.id, s.tenant_id, s.cron, s.timezone)
}

pub async fn run(ctx: &Context, cmd: SchedulesCommand) -> Result<(), CliError> {
    let by = ctx.by();
    match cmd {
        SchedulesCommand::Add { tenant, workspace, cron, tz, as_user } => {
            CronSpec::parse(&cron, &tz, ctx.env.cron()).map_err(CliError::invalid)?;
            let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
            let by = match as_user {
                Some(email) => person_who_may_manage_schedules(ctx, &email, &t).await?,
                None => by,
            };
            let s = ctx.store.schedule_add(t.id, &cron, &tz, &by).await?;
            ctx.out.print(&s, || format!("schedule {}", line(&s)))
        }
        SchedulesCommand::Enable { id } => {
            let s = ctx.store.schedule_set_enabled(parse_id(&id)?, true, &by).await?;
            ctx.out.print(&s, || format!("schedule {}", line(&s)))
        }
        SchedulesCommand::Disable { id, preview: true } => {
            let s = ctx.store.schedule_get(parse_id(&id)?).await?;
            let change = atlas_core::impact::AdminChange::ScheduleDisable { schedule_id: s.id };
            crate::commands::preview::print(ctx, Ok(change)).await
        }
        SchedulesCommand::Disable { id, preview: false } => {
            let s = ctx.store.schedule_set_enabled(parse_id(&id)?, false, &by).await?;
            ctx.out.print(&s, || format!("schedule {}", line(&s)))
        }
        SchedulesCommand::List { workspace } => {
            let ws = match &workspace {
                Some(w) => Some(ctx.workspace(w).await?.id),
                None => None,
            };
            let all = ctx.store.schedule_list(ws).await?;
            ctx.out.print_list(&all, "no schedules", line)
        }
        SchedulesCommand::Fire { id, slot } => {
            let s = ctx.store.schedule_get(parse_id(&id)?).await?;
            let slot = match slot.as_deref() {
                None => Timestamp::from_micros(atlas_store::now().micros() / 1_000_000 * 1_000_000),
                Some(text) => Timestamp::parse_rfc3339(text)
                    .ok_or_else(|| CliError::invalid(format!("--slot `{text}` is not an RFC 3339 time")))?,
            };
            let max_attempts = ctx.env.engine()?.max_attempts;
            match schedule::fire(&ctx.store, &s, slot, max_attempts).await.map_err(service_error)? {
                Fired::Run(inserted) => {
                    // The run JSON itself, as for `runs start`, plus the slot it fired.
                    let mut doc = serde_json::to_value(&inserted.run).unwrap_or_default();
                    if let Some(m) = doc.as_object_mut() {
                        m.insert("deduplicated".into(), json!(inserted.deduplicated));
                        m.insert("url".into(), json!(ctx.run_url(inserted.run.id)));
                        m.insert("slot".into(), json!(slot));
                    }
                    ctx.out.print(&doc, || {
                        format!("slot {slot} fired: run {} ({})", inserted.run.id, ctx.run_url(inserted.run.id))
                    })
                }
                Fired::AlreadyFired(run_id) => {
                    let doc = json!({"already_fired": true, "run_id": run_id, "slot": slot});
                    ctx.out.print(&doc, || {
                        format!(
                            "slot {slot} had already fired (run {})",
                            run_id.map_or_else(|| "—".into(), |r| r.to_string())
                        )
                    })
                }
            }
        }
    }
}
