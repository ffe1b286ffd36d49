//! `atlas runs start|list|show|watch|cancel|retry|approve|reject`: operations from the
//! terminal, authorized as if the named user pressed the button.

use std::collections::{BTreeSet, HashMap};
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
use crate::output::{local_time, local_time_or_dash};

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
        /// Continue after this run id (`next_cursor` of the previous page)
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one run with its decision, items, plan and what may be done with it
    Show {
        run: String,
        /// Whose view: what this user may do with the run (default: the host administrator's)
        #[arg(long = "as")]
        as_user: Option<String>,
    },
    /// Follow a run until it completes; exits with its outcome (0 succeeded,
    /// 3–6 blocked as the gate's refusal, 1 otherwise)
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
    /// Approve a run awaiting approval as another member than its initiator
    Approve {
        run: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Reject a run awaiting approval: it completes blocked (approval_rejected)
    Reject {
        run: String,
        #[arg(long = "as")]
        as_user: String,
        /// Why (at most 1,000 characters)
        #[arg(long)]
        reason: Option<String>,
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

/// `runs approve|reject`: a run that is not awaiting approval is exit 5 (409).
fn decision_error(e: ServiceError) -> CliError {
    match e {
        ServiceError::Conflict(m) => CliError::not_pending(m),
        other => service_error(other),
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

pub fn max_attempts(ctx: &Context) -> Result<u32, CliError> {
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
        RunsCommand::Approve { run, as_user } => {
            let user = ctx.user(&as_user).await?;
            let run = service::approve(&ctx.store, parse_run_id(&run)?, user.id).await.map_err(decision_error)?;
            print_decided(ctx, &run, user.id, "approved").await
        }
        RunsCommand::Reject { run, as_user, reason } => {
            let user = ctx.user(&as_user).await?;
            let run =
                service::reject(&ctx.store, parse_run_id(&run)?, user.id, reason).await.map_err(decision_error)?;
            print_decided(ctx, &run, user.id, "rejected (blocked: approval_rejected)").await
        }
        RunsCommand::List { workspace, tenant, status, outcome, op_type, initiator, limit, cursor } => {
            let mut filter = RunFilter { limit: limit.clamp(1, 500) + 1, ..Default::default() };
            if let Some(c) = &cursor {
                filter.before = Some(parse_run_id(c)?);
            }
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
            let mut runs = ctx.store.run_list(&filter).await?;
            let page = limit.clamp(1, 500) as usize;
            let next = if runs.len() > page {
                runs.truncate(page);
                runs.last().map(|r| r.id)
            } else {
                None
            };
            let names = Names::load(ctx, &runs).await?;
            let doc = serde_json::json!({"data": runs, "next_cursor": next});
            ctx.out.print(&doc, || table(&runs, &names, next))
        }
        RunsCommand::Show { run, as_user } => {
            let id = parse_run_id(&run)?;
            let (run, actions) = match as_user {
                Some(email) => {
                    let user = ctx.user(&email).await?;
                    let (run, viewer) = service::run_for(&ctx.store, id, user.id).await.map_err(service_error)?;
                    let actions = run_actions(viewer.as_ref(), &run);
                    (run, actions)
                }
                None => {
                    let run = ctx.store.run_get(id).await?;
                    let actions = host_actions(&run);
                    (run, actions)
                }
            };
            let items = ctx.store.run_items(run.id).await?;
            let names = Names::load(ctx, std::slice::from_ref(&run)).await?;
            ctx.out.print(&run_doc(&run, &items, Some(actions)), || describe(&run, &items, &names, Some(actions)))
        }
        RunsCommand::Watch { run } => watch(ctx, parse_run_id(&run)?).await,
    }
}

async fn print_decided(ctx: &Context, run: &Run, user_id: Uuid, what: &str) -> Result<(), CliError> {
    let viewer = service::viewer(&ctx.store, run.workspace_id, user_id).await.map_err(service_error)?;
    let view = RunView { run, actions: run_actions(viewer.as_ref(), run), deduplicated: None, url: None };
    ctx.out.print(&view, || format!("run {} {what}", run.id))
}

pub async fn print_started(ctx: &Context, run: &Run, deduplicated: bool, user_id: Uuid) -> Result<(), CliError> {
    let viewer = service::viewer(&ctx.store, run.workspace_id, user_id).await.map_err(service_error)?;
    let view = RunView {
        run,
        actions: run_actions(viewer.as_ref(), run),
        deduplicated: Some(deduplicated),
        url: Some(ctx.run_url(run.id)),
    };
    ctx.out.print(&view, || {
        let what = match () {
            () if deduplicated => "already active",
            () if atlas_core::approval::is_awaiting(run.status, run.approval.as_ref()) => "awaiting approval",
            () => "queued",
        };
        format!(
            "{} {what}: run {} ({})",
            atlas_core::announce::label(run.op_type, &run.params),
            run.id,
            ctx.run_url(run.id)
        )
    })
}

/// What the host administrator may do with a run (`runs show` without `--as`):
/// everything the run's state allows.
fn host_actions(run: &Run) -> Actions {
    Actions { cancel: run.status != RunStatus::Completed, retry: run.is_retryable() }
}

/// The names of the tenants and people the printed runs mention.
pub struct Names {
    tenants: HashMap<Uuid, String>,
    users: HashMap<Uuid, String>,
}

impl Names {
    pub async fn load(ctx: &Context, runs: &[Run]) -> Result<Names, CliError> {
        let mut tenants = HashMap::new();
        let mut users = HashMap::new();
        let workspaces: BTreeSet<Uuid> = runs.iter().map(|r| r.workspace_id).collect();
        for ws in workspaces {
            for t in ctx.store.tenant_list(ws).await? {
                tenants.insert(t.id, t.name);
            }
        }
        for id in runs.iter().filter_map(|r| r.initiator_user_id).collect::<BTreeSet<_>>() {
            let name = match ctx.store.user_get(id).await {
                Ok(u) => u.display_name,
                Err(atlas_store::StoreError::NotFound(_)) => "a deleted user".to_owned(),
                Err(e) => return Err(e.into()),
            };
            users.insert(id, name);
        }
        Ok(Names { tenants, users })
    }

    fn tenant(&self, run: &Run) -> String {
        match run.tenant_id {
            Some(t) => self.tenants.get(&t).cloned().unwrap_or_else(|| t.to_string()),
            None => match atlas_core::access::run_tenants(run).len() {
                1 => "1 tenant".into(),
                n => format!("{n} tenants"),
            },
        }
    }

    fn initiator(&self, run: &Run) -> String {
        match run.initiator_user_id {
            Some(u) => self.users.get(&u).cloned().unwrap_or_else(|| u.to_string()),
            None => {
                let kind = run.source.as_ref().and_then(|s| s.get("kind")).and_then(Value::as_str).unwrap_or("system");
                format!("System · {kind}")
            }
        }
    }
}

/// `runs show|watch --json`: the run object itself (SPEC §7), with its items
/// and, for `show`, what the viewer may do with it.
pub fn run_doc(run: &Run, items: &[atlas_store::run_item::RunItem], actions: Option<Actions>) -> Value {
    let mut doc = serde_json::to_value(run).unwrap_or_else(|_| Value::Object(Default::default()));
    if let Value::Object(m) = &mut doc {
        m.insert("items".into(), serde_json::json!(items));
        if let Some(a) = actions {
            m.insert("actions".into(), serde_json::json!(a));
        }
    }
    doc
}

/// Display width of a cell (labels and names may hold non-ASCII letters).
fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

/// `runs list` as aligned columns with a header.
fn table(runs: &[Run], names: &Names, next: Option<Uuid>) -> String {
    if runs.is_empty() {
        return "no runs".into();
    }
    let header = ["RUN", "OPERATION", "TENANT", "INITIATOR", "STATUS", "OUTCOME", "ATTEMPT", "QUEUED"];
    let rows: Vec<[String; 8]> = runs
        .iter()
        .map(|r| {
            let reason = r.decision.as_ref().filter(|d| !d.allowed).and_then(|d| d.reason_code);
            let outcome = match reason {
                Some(c) if r.outcome == RunOutcome::Blocked => format!("blocked [{}]", c.as_str()),
                _ => r.outcome.as_str().to_owned(),
            };
            [
                r.id.to_string(),
                atlas_core::announce::label(r.op_type, &r.params),
                names.tenant(r),
                names.initiator(r),
                r.status.as_str().to_owned(),
                outcome,
                format!("{}/{}", r.attempt, r.max_attempts),
                local_time(r.created_at),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { (*c).to_owned() } else { pad(c, widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = vec![line(header.to_vec())];
    for row in &rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    if let Some(n) = next {
        out.push(format!("(more: --cursor {n})"));
    }
    out.join("\n")
}

fn counts_line(c: &SummaryCounts) -> String {
    format!(
        "total {} · processed {} · succeeded {} · failed {} · skipped {} · blocked {} · created {} · updated {}",
        c.total, c.processed, c.succeeded, c.failed, c.skipped, c.blocked, c.created, c.updated
    )
}

fn describe(r: &Run, items: &[atlas_store::run_item::RunItem], names: &Names, actions: Option<Actions>) -> String {
    let label = atlas_core::announce::label(r.op_type, &r.params);
    let mut out = vec![
        format!("run {}", r.id),
        format!("  operation   {label} ({})", r.op_type.as_str()),
        format!("  tenant      {}", names.tenant(r)),
        format!("  initiator   {}", names.initiator(r)),
        format!("  status      {} / {}", r.status.as_str(), r.outcome.as_str()),
        format!("  attempt     {} of {}", r.attempt, r.max_attempts),
        format!("  queued      {}", local_time(r.created_at)),
        format!("  started     {}", local_time_or_dash(r.started_at)),
        format!("  completed   {}", local_time_or_dash(r.completed_at)),
    ];
    match atlas_core::announce::plan_counts(r) {
        Some(plan) => out.push(format!("  preview     {} Nothing was written.", plan.sentence())),
        // A run that counted nothing (no items) shows no row of zeros.
        None if r.summary_counts == SummaryCounts::default() && r.status == RunStatus::Completed => {}
        None => out.push(format!("  counts      {}", counts_line(&r.summary_counts))),
    }
    if let Some(a) = actions {
        let yes = |b: bool| if b { "yes" } else { "no" };
        out.push(format!("  actions     cancel: {} · retry: {}", yes(a.cancel), yes(a.retry)));
    }
    if let Some(set) = r.result.get("backup_set_id").and_then(Value::as_str) {
        out.push(format!("  backup set  {set}"));
    }
    if let Some(d) = &r.decision {
        if !d.allowed {
            out.push(format!("  BLOCKED     {} [{}]", d.message, d.reason_code.map_or("", |c| c.as_str())));
            out.push("  checks (in gate order):".into());
            for c in &d.checks {
                out.push(format!(
                    "    {:<20} {}{}",
                    c.check.as_str(),
                    c.result.as_str(),
                    c.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
                ));
            }
            if let Some(reason) = d.reason_code {
                out.push(format!("  What to do next: {}", reason.remedy()));
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
            out.extend(item_detail_lines(p));
        }
    } else if r.result.as_object().is_some_and(|m| !m.is_empty()) && r.result.get("backup_set_id").is_none() {
        out.push(format!("  result      {}", r.result));
    }
    if !items.is_empty() {
        out.push(format!("  items ({}):", items.len()));
        for i in items {
            let name = i.target.get("display_name").and_then(Value::as_str).unwrap_or(&i.item_key);
            let why = i.reason_code.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
            out.push(format!("    {:<10} {name}{why}", i.outcome.as_str()));
            // A preview's items repeat its plan, shown above.
            if r.result.get("plan").is_none() {
                out.extend(item_detail_lines(&i.detail));
            }
        }
    }
    out.join("\n")
}

/// Under a restore item (planned or done): the setting-level changes of an
/// update, why it was skipped, and its assignments skipped for a missing group.
fn item_detail_lines(detail: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(reason) = detail.get("reason").and_then(Value::as_str) {
        out.push(format!("                 {reason}"));
    }
    let changes: Vec<atlas_core::diff::Change> =
        detail.get("changes").and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default();
    out.extend(changes.iter().map(|c| format!("                 {}", atlas_engine::changes::change_line(c))));
    for a in detail.get("assignments").and_then(Value::as_array).into_iter().flatten() {
        out.push(format!(
            "                 assignment skipped: {}",
            a.get("reason").and_then(Value::as_str).unwrap_or("")
        ));
    }
    out
}

/// The exit code a watched run ends with: 0 succeeded, the gate's code for a
/// blocked run (3–6, SPEC §3.2), 1 for failed, partial or cancelled.
pub fn watch_exit(run: &Run) -> Result<(), CliError> {
    match run.outcome {
        RunOutcome::Succeeded => Ok(()),
        RunOutcome::Blocked => {
            let d = run.decision.as_ref();
            let class = d.and_then(|d| d.denial_class).unwrap_or(atlas_core::gate::DenialClass::AuthorityInvalid);
            let reason = d.and_then(|d| d.reason_code).map_or("denied", |r| r.as_str());
            let message = d.map_or_else(|| "the run was blocked".to_owned(), |d| d.message.clone());
            Err(CliError { quiet: true, ..CliError::denied(class, reason, message) })
        }
        other => Err(CliError {
            quiet: true,
            code: "run_not_succeeded",
            ..CliError::internal(format!("the run {}", atlas_core::announce::outcome_verb(other)))
        }),
    }
}

/// "[#########---------]  9/28  running · attempt 1 of 3"
fn progress_line(run: &Run) -> String {
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
    let figures = if c.total > 0 { format!("{}/{}", done.min(c.total), c.total) } else { "…".to_owned() };
    format!("{bar} {figures}  {} · attempt {} of {}", run.status.as_str(), run.attempt, run.max_attempts)
}

/// Follows the run, redrawing one progress line in place on a terminal (a
/// line per change otherwise), then prints the result in words (or the run
/// with `--json`) and exits with the outcome.
async fn watch(ctx: &Context, id: Uuid) -> Result<(), CliError> {
    let tty = std::io::stderr().is_terminal();
    let mut last = String::new();
    loop {
        let run = ctx.store.run_get(id).await?;
        let line = progress_line(&run);
        if line != last {
            if tty {
                // Carriage return and erase the line: the bar redraws in place.
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            last = line;
        }
        if run.status == RunStatus::Completed {
            if tty {
                eprintln!();
            }
            let items = ctx.store.run_items(run.id).await?;
            let names = Names::load(ctx, std::slice::from_ref(&run)).await?;
            ctx.out.print(&run_doc(&run, &items, None), || result_words(&run, &names))?;
            return watch_exit(&run);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until the run completes (a worker — `atlas worker` or `atlas serve`
/// — executes it) and returns it, without drawing progress.
pub async fn wait_completed(ctx: &Context, id: Uuid) -> Result<Run, CliError> {
    loop {
        let run = ctx.store.run_get(id).await?;
        if run.status == RunStatus::Completed {
            return Ok(run);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// "Restore on Contoso North was blocked: the write gate of Contoso North is closed."
pub fn result_words(run: &Run, names: &Names) -> String {
    let tenant = run.tenant_id.map(|_| names.tenant(run));
    let (title, body) = atlas_core::announce::completion(run, tenant.as_deref());
    let mut out = if body.is_empty() { format!("{title}.") } else { format!("{title}: {body}") };
    if run.outcome == RunOutcome::Blocked {
        if let Some(r) = run.decision.as_ref().and_then(|d| d.reason_code) {
            out.push_str(&format!("\nWhat to do next: {}", r.remedy()));
        }
    }
    out
}
