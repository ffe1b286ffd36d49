//! `atlas serve [--demo] [--no-workers] [--bind ADDR]`: the console and API,
//! with workers and the scheduler in the same process unless `--no-workers`.
//! On an empty database it creates a first workspace and owner with a
//! one-time password, printed once; `--demo` seeds a demo workspace instead.

use std::net::SocketAddr;

use atlas_core::capability::BuiltinRole;
use atlas_core::tenant::TenantScope;
use atlas_engine::scheduler::Scheduler;
use atlas_store::admin::RoleRef;
use atlas_web::{Application, WebConfig};
use clap::Args;
use rand::distributions::{Alphanumeric, DistString};

use crate::commands::demo;
use crate::commands::worker::{engine_config, node_worker};
use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Seed a demo workspace of sandbox tenants, users of every role and a schedule
    #[arg(long)]
    demo: bool,
    /// Serve the console only; run `atlas worker` elsewhere
    #[arg(long)]
    no_workers: bool,
    /// Where to listen
    #[arg(long, env = "ATLAS_BIND", default_value = crate::config::DEFAULT_BIND)]
    bind: SocketAddr,
    /// Behind TLS: `Secure` cookies and HSTS (implied by an https:// ATLAS_PUBLIC_URL)
    #[arg(long, env = "ATLAS_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Serve /metrics on the console's address to `Authorization: Bearer <token>` only
    #[arg(long, env = "ATLAS_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Serve /metrics without a token on this separate address (a private network)
    #[arg(long, env = "ATLAS_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
}

/// A password people can type from a terminal.
pub fn one_time_password() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
}

pub async fn run(ctx: &Context, args: ServeArgs, public_url: Option<String>) -> Result<(), CliError> {
    let engine = engine_config(ctx, None)?;
    let scheduling = ctx.env.scheduler(&engine)?;
    let worker = node_worker(ctx, engine.clone())?;
    let logins = if args.demo { demo::seed(ctx).await? } else { first_owner(ctx).await? };
    let mut config = WebConfig { secrets: ctx.env.secrets(), cron: ctx.env.cron(), ..WebConfig::new(args.bind) };
    if let Some(url) = public_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        config = config.with_public_url(url).map_err(CliError::invalid)?;
    }
    config.secure_cookies |= args.secure_cookies;
    config.metrics_token = args.metrics_token.clone().filter(|t| !t.is_empty());
    config.metrics_bind = args.metrics_bind;
    let app = Application::build(config, ctx.store.clone(), engine.clone())
        .await
        .map_err(|e| CliError::internal(format!("cannot listen on {}: {e}", args.bind)))?;
    let url =
        public_url.map_or_else(|| format!("http://{}/", app.address()), |u| format!("{}/", u.trim_end_matches('/')));
    println!("TenantAtlas is serving at {url}");
    for line in logins {
        println!("{line}");
    }
    for line in about(ctx, &args, app.address()) {
        println!("{line}");
    }
    match app.metrics_address() {
        Some(m) => println!("Metrics: http://{m}/metrics (no token: keep this address private)"),
        None if args.metrics_token.is_some() => {
            println!("Metrics: /metrics with the bearer token from ATLAS_METRICS_TOKEN")
        }
        None => println!("Metrics: off (set ATLAS_METRICS_TOKEN or --metrics-bind to serve /metrics)"),
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut background = Vec::new();
    if !args.no_workers {
        let mut rx = stop_rx.clone();
        background.push(tokio::spawn(async move {
            if let Err(e) = worker
                .run(false, async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
            {
                tracing::error!(error = %e, "worker stopped");
            }
        }));
        let scheduler = Scheduler::new(ctx.store.clone(), scheduling);
        let mut rx = stop_rx.clone();
        background.push(tokio::spawn(async move {
            scheduler
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        }));
    }
    let served = app.run_until_stopped().await;
    let _ = stop_tx.send(true);
    for task in background {
        let _ = task.await;
    }
    served.map_err(|e| CliError::internal(format!("the console stopped: {e}")))
}

/// Where the data is, what runs in this process, and how to reach the same
/// data from the CLI.
fn about(ctx: &Context, args: &ServeArgs, address: SocketAddr) -> Vec<String> {
    let shown = redact(&ctx.database_url);
    let mut lines = vec![format!("Database: {shown}")];
    if let Some(path) = ctx.database_url.strip_prefix("sqlite://") {
        let full = std::fs::canonicalize(path).map_or_else(|_| path.to_owned(), |p| p.display().to_string());
        lines[0] = format!("Database: SQLite file {full}");
    }
    lines.push(if args.no_workers {
        "Workers: none in this process (--no-workers): run `atlas worker` beside it.".to_owned()
    } else {
        "Workers and the scheduler run inside this process: queued runs start by themselves.".to_owned()
    });
    lines.push("Point the CLI at the same data from another terminal:".to_owned());
    lines.push(format!("  export ATLAS_DATABASE_URL='{shown}' ATLAS_PUBLIC_URL='http://{address}'"));
    lines.push("  atlas runs list".to_owned());
    lines
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// On an empty database: a first workspace and its owner, with a one-time password.
async fn first_owner(ctx: &Context) -> Result<Vec<String>, CliError> {
    if !ctx.store.workspace_list().await?.is_empty() {
        return Ok(Vec::new());
    }
    let by = ctx.by();
    let ws = ctx.store.workspace_create("default", "My workspace", &by).await?;
    let password = one_time_password();
    let owner = ctx.store.user_create("admin@localhost.localdomain", "Administrator", Some(&password), &by).await?;
    ctx.store.member_grant(ws.id, owner.id, &RoleRef::Builtin(BuiltinRole::Owner), &TenantScope::All, &by).await?;
    Ok(vec![
        "First start: created workspace `default` and its owner.".into(),
        format!("  sign in as {} with the one-time password {password}", owner.email),
        "  (it is shown only now; add people with `atlas users add` and `atlas members grant`)".into(),
    ])
}
