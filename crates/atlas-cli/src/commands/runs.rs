//! `atlas runs start|list|show|watch|cancel|retry`: operations from the
//! terminal, authorized as if the named user pressed the button.

use std::io::IsTerminal;
use std::time::Duration;

use atlas_core::access::{run_actions, Actions};
use atlas_core::run::{Run, RunOutcome, RunStatus};
use atlas_core::{OperationType, SummaryCounts};
use atlas_engine::service::{self, ServiceError};
use atlas_engine::StartRequest;
use atlas_store::run::{Initiator, RunFilter};
use clap::Subcommand;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Start an operation as a user (prints the run)
    Start {
        /// The user starting it (email)
        #[arg(long = "as")]
        as_user: String,
        /// Workspace slug (for a bulk run, or a tenant given by name)
        #[arg(long)]
        workspace: Option<String>,
        /// Tenant id, or name with --workspace (not for bulk runs)
        #[arg(long)]
        tenant: Option<String>,
        /// The operation type, e.g. inventory.sync
        #[arg(long = "type")]
        op_type: String,
        /// Parameters as a JSON object
        #[arg(long)]
        params: Option<String>,
    },
    /// List runs, newest first
    List {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long = "type")]
        op_type: Option<String>,
        /// A user's email, or `system`
        #[arg(long)]
        initiator: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one run with its decision, items and plan
    Show { run: String },
    /// Follow a run until it completes
    Watch { run: String },
    /// Cancel a run as a user
    Cancel {
        run: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Retry a completed run as a user (a new run, authorized afresh)
    Retry {
        run: String,
        #[arg(long = "as")]
        as_user: String,
    },
}

/// The run JSON of SPEC §7: the run, what the viewer may do, and on start
/// whether it was deduplicated and where to watch it.
#[derive(Serialize)]
pub struct RunView<'a> {
    #[serde(flatten)]
    pub run: &'a Run,
    pub actions: Actions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplicated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The one mapping of service errors to CLI errors.
pub fn service_error(e: ServiceError) -> CliError {
    match e {
        ServiceError::Invalid(m) => CliError::invalid(m),
        ServiceError::Denied(d) => {
            let class = d.denial_class.unwrap_or(atlas_core::gate::DenialClass::AuthorityInvalid);
            let reason = d.reason_code.map_or("denied", |r| r.as_str());
            CliError::denied(class, reason, d.message.clone())
        }
        ServiceError::NotFound(what) => CliError::from(atlas_store::StoreError::NotFound(what)),
        ServiceError::Forbidden(m) => CliError::forbidden(m),
        ServiceError::Conflict(m) => CliError::from(atlas_store::StoreError::Conflict(m)),
        ServiceError::Store(e) => CliError::from(e),
        other => CliError::internal(other.to_string()),
    }
}

fn parse_run_id(s: &str) -> Result<Uuid, CliError> {
    Uuid::parse_str(s.trim()).map_err(|_| CliError::invalid(format!("`{s}` is not a run id")))
}

fn parse_type(s: &str) -> Result<OperationType, CliError> {
    OperationType::parse(s.trim()).ok_or_else(|| {
        let known: Vec<&str> = OperationType::all().map(OperationType::as_str).collect();
        CliError::invalid(format!("unknown operation type `{s}` (one of: {})", known.join(", ")))
    })
}

fn max_attempts(ctx: &Context) -> Result<u32, CliError> {
    Ok(ctx.env.engine()?.max_attempts)
}

pub async fn run(ctx: &Context, cmd: RunsCommand) -> Result<(), CliError> {
    match cmd {
        RunsCommand::Start { as_user, workspace, tenant, op_type, params } => {
            let user = ctx.user(&as_user).await?;
            let op_type = parse_type(&op_type)?;
            let params: Value = match params.as_deref() {
                None => Value::Object(Default::default()),
                Some(text) => serde_json::from_str(text)
                    .map_err(|e| CliError::invalid(format!("--params is not valid JSON: {e}")))?,
            };
            let (workspace_id, tenant_id) = match (&tenant, &workspace) {
                (Some(t), w) => {
                    let t = ctx.tenant(w.as_deref(), t).await?;
                    (t.workspace_id, Some(t.id))
                }
                (None, Some(w)) => (ctx.workspace(w).await?.id, None),
                (None, None) => return Err(CliError::invalid("name a --tenant (or --workspace for a bulk run)")),
            };
            let req = StartRequest {
                user_id: user.id,
                workspace_id,
                tenant_id,
                op_type,
                params,
                retry_of_run_id: None,
                max_attempts: max_attempts(ctx)?,
            };
            let inserted = service::start(&ctx.store, req).await.map_err(service_error)?;
            print_started(ctx, &inserted.run, inserted.deduplicated, user.id).await
        }
        RunsCommand::Retry { run, as_user } => {
            let user = ctx.user(&as_user).await?;
            let inserted = service::retry(&ctx.store, parse_run_id(&run)?, user.id, max_attempts(ctx)?)
                .await
                .map_err(service_error)?;
            print_started(ctx, &inserted.run, inserted.deduplicated, user.id).await
        }
        RunsCommand::Cancel { run, as_user } => {
            let user = ctx.user(&as_user).await?;
            let run = service::cancel(&ctx.store, parse_run_id(&run)?, user.id).await.map_err(service_error)?;
            let viewer = service::viewer(&ctx.store, run.workspace_id, user.id).await.map_err(service_error)?;
            let view =
                RunView { run: &run, actions: run_actions(viewer.as_ref(), &run), deduplicated: None, url: None };
            ctx.out.print(&view, || match run.status {
                RunStatus::Completed => format!("run {} cancelled", run.id),
                _ => format!("run {} will stop before its next item", run.id),
            })
        }
        RunsCommand::List { workspace, tenant, status, outcome, op_type, initiator, limit } => {
            let mut filter = RunFilter { limit, ..Default::default() };
            if let Some(w) = &workspace {
                filter.workspace_id = Some(ctx.workspace(w).await?.id);
            }
            if let Some(t) = &tenant {
                filter.tenant_id = Some(ctx.tenant(workspace.as_deref(), t).await?.id);
            }
            if let Some(s) = status {
                filter.status =
                    Some(RunStatus::parse(&s).ok_or_else(|| CliError::invalid(format!("unknown status `{s}`")))?);
            }
            if let Some(o) = outcome {
                filter.outcome =
                    Some(RunOutcome::parse(&o).ok_or_else(|| CliError::invalid(format!("unknown outcome `{o}`")))?);
            }
            if let Some(t) = op_type {
                filter.op_type = Some(parse_type(&t)?);
            }
            filter.initiator = match initiator.as_deref() {
                None => None,
                Some("system") => Some(Initiator::System),
                Some(email) => Some(Initiator::User(ctx.user(email).await?.id)),
            };
            let runs = ctx.store.run_list(&filter).await?;
            ctx.out.print_list(&runs, "no runs", line)
        }
        RunsCommand::Show { run } => {
            let run = ctx.store.run_get(parse_run_id(&run)?).await?;
            let items = ctx.store.run_items(run.id).await?;
            ctx.out.print(&run_doc(&run, &items), || describe(&run, &items))
        }
        RunsCommand::Watch { run } => watch(ctx, parse_run_id(&run)?).await,
    }
}

async fn print_started(ctx: &Context, run: &Run, deduplicated: bool, user_id: Uuid) -> Result<(), CliError> {
    let viewer = service::viewer(&ctx.store, run.workspace_id, user_id).await.map_err(service_error)?;
    let view = RunView {
        run,
        actions: run_actions(viewer.as_ref(), run),
        deduplicated: Some(deduplicated),
        url: Some(ctx.run_url(run.id)),
    };
    ctx.out.print(&view, || {
        let what = if deduplicated { "already active" } else { "queued" };
        format!("{} {what}: run {} ({})", run.op_type.spec().label, run.id, ctx.run_url(run.id))
    })
}

/// `runs show|watch --json`: the run object itself (SPEC §7), with its items.
fn run_doc(run: &Run, items: &[atlas_store::run_item::RunItem]) -> Value {
    let mut doc = serde_json::to_value(run).unwrap_or_else(|_| Value::Object(Default::default()));
    if let Value::Object(m) = &mut doc {
        m.insert("items".into(), serde_json::json!(items));
    }
    doc
}

fn line(r: &Run) -> String {
    let reason =
        r.decision.as_ref().and_then(|d| d.reason_code).map(|c| format!(" [{}]", c.as_str())).unwrap_or_default();
    format!(
        "{}  {:<24} {:<9} {:<19}{reason}  attempt {}/{}  {}",
        r.id,
        r.op_type.as_str(),
        r.status.as_str(),
        r.outcome.as_str(),
        r.attempt,
        r.max_attempts,
        r.created_at
    )
}

fn counts_line(c: &SummaryCounts) -> String {
    format!(
        "total {} · processed {} · succeeded {} · failed {} · skipped {} · blocked {} · created {} · updated {}",
        c.total, c.processed, c.succeeded, c.failed, c.skipped, c.blocked, c.created, c.updated
    )
}

fn describe(r: &Run, items: &[atlas_store::run_item::RunItem]) -> String {
    let mut out = vec![
        format!("run {}", r.id),
        format!("  type        {} ({})", r.op_type.as_str(), r.op_type.spec().label),
        format!("  tenant      {}", r.tenant_id.map_or_else(|| "—".into(), |t| t.to_string())),
        format!(
            "  initiator   {}",
            r.initiator_user_id
                .map_or_else(|| format!("system ({})", r.source.clone().unwrap_or_default()), |u| u.to_string())
        ),
        format!("  status      {} / {}", r.status.as_str(), r.outcome.as_str()),
        format!("  attempt     {}/{}", r.attempt, r.max_attempts),
        format!("  queued      {}", r.created_at),
        format!("  started     {}", r.started_at.map_or_else(|| "—".into(), |t| t.to_string())),
        format!("  completed   {}", r.completed_at.map_or_else(|| "—".into(), |t| t.to_string())),
        format!("  counts      {}", counts_line(&r.summary_counts)),
    ];
    if let Some(d) = &r.decision {
        if !d.allowed {
            out.push(format!("  BLOCKED     {} [{}]", d.message, d.reason_code.map_or("", |c| c.as_str())));
            for c in &d.checks {
                out.push(format!(
                    "    {:<20} {:?}{}",
                    format!("{:?}", c.check),
                    c.result,
                    c.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
                ));
            }
        }
    }
    for f in &r.failures {
        out.push(format!("  failure     {}: {}", f.code, f.message));
    }
    if let Some(plan) = r.result.get("plan").and_then(Value::as_array) {
        out.push("  plan (dry run):".into());
        for p in plan {
            out.push(format!(
                "    {:<10} {:<26} {}",
                p.get("action").and_then(Value::as_str).unwrap_or(""),
                p.get("kind").and_then(Value::as_str).unwrap_or(""),
                p.get("display_name").and_then(Value::as_str).unwrap_or("")
            ));
        }
    } else if r.result.as_object().is_some_and(|m| !m.is_empty()) {
        out.push(format!("  result      {}", r.result));
    }
    if !items.is_empty() {
        out.push(format!("  items ({}):", items.len()));
        for i in items {
            let name = i.target.get("display_name").and_then(Value::as_str).unwrap_or(&i.item_key);
            let why = i.reason_code.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
            out.push(format!("    {:<10} {name}{why}", i.outcome.as_str()));
        }
    }
    out.join("\n")
}

/// Polls the run and draws a progress bar until it completes.
async fn watch(ctx: &Context, id: Uuid) -> Result<(), CliError> {
    let tty = std::io::stderr().is_terminal();
    let mut last = String::new();
    loop {
        let run = ctx.store.run_get(id).await?;
        let c = run.summary_counts;
        let done = c.processed + c.blocked;
        let width = 30usize;
        let filled = if c.total == 0 {
            if run.status == RunStatus::Completed {
                width
            } else {
                0
            }
        } else {
            (done.min(c.total) as usize * width) / c.total as usize
        };
        let bar = format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled));
        let status = format!(
            "{bar} {}/{} {} {} attempt {}",
            done,
            c.total,
            run.status.as_str(),
            run.outcome.as_str(),
            run.attempt
        );
        if status != last {
            if tty {
                eprint!("\r{status}   ");
            } else {
                eprintln!("{status}");
            }
            last = status;
        }
        if run.status == RunStatus::Completed {
            if tty {
                eprintln!();
            }
            let items = ctx.store.run_items(run.id).await?;
            return ctx.out.print(&run_doc(&run, &items), || describe(&run, &items));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
