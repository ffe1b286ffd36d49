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
    #[arg(long, env = "ATLAS_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
}

/// A password people can type from a terminal.
pub fn one_time_password() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
}

pub async fn run(ctx: &Context, args: ServeArgs) -> Result<(), CliError> {
    let engine = engine_config(ctx, None)?;
    let scheduling = ctx.env.scheduler(&engine)?;
    let worker = node_worker(ctx, engine.clone())?;
    let logins = if args.demo { demo::seed(ctx).await? } else { first_owner(ctx).await? };
    let web = WebConfig { secrets: ctx.env.secrets(), cron: ctx.env.cron(), ..WebConfig::new(args.bind) };
    let app = Application::build(web, ctx.store.clone(), engine.clone())
        .await
        .map_err(|e| CliError::internal(format!("cannot listen on {}: {e}", args.bind)))?;
    let url = format!("http://{}/", app.address());
    println!("TenantAtlas is serving at {url}");
    for line in logins {
        println!("{line}");
    }
    if args.no_workers {
        println!("(no workers in this process: run `atlas worker`)");
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
