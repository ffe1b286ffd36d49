//! `atlas`: the TenantAtlas command line. Parsing lives in `cli`, one module
//! per command group in `commands`, and every error becomes an exit code in
//! `error` — this file only wires them.

mod cli;
mod commands;
mod config;
mod context;
mod error;
mod output;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

use crate::cli::Cli;
use crate::config::Env;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// mimalloc for Rust and (through its `override`) for SQLite's C code: glibc's
/// malloc spent a fifth of the queue's CPU consolidating free lists
/// (docs/BENCHMARKS.md, "Run throughput").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    init_tracing(cli.command.is_service());
    let out = Output::new(cli.json);
    match run(cli, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.quiet {
                out.error(&e);
            }
            ExitCode::from(e.exit)
        }
    }
}

async fn run(cli: Cli, out: Output) -> Result<(), CliError> {
    let env = Env::capture();
    let console = context::console_url(cli.public_url.as_deref(), &env);
    let public_url = cli.public_url.clone();
    let ctx = Context::open(&cli.database_url, env, out, console).await?;
    let result = commands::run(&ctx, cli.command, public_url).await;
    // What this command appended is sealed before it exits, so no event waits
    // unsealed (and editable unnoticed) for a worker that may never run.
    if let Err(e) = ctx.store.audit_seal().await {
        tracing::warn!(error = %e, "audit sealer failed");
    }
    ctx.store.close().await;
    result
}

/// Help and version print as clap does; usage errors exit 2 with one line
/// (as JSON when `--json` was asked for, even though parsing failed).
fn usage_error(e: &clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(error::EXIT_BAD_INPUT));
    }
    let json = std::env::args_os().take_while(|a| a != "--").any(|a| a == "--json");
    let err = error::from_usage(e);
    Output::new(json).error(&err);
    ExitCode::from(err.exit)
}

/// Logs go to stderr (`RUST_LOG`): quiet for one-shot commands so output stays
/// parseable; services (`serve`, `worker`) also say what they do (rescues,
/// outages, shutdown). Colour only on a terminal, so log files stay plain.
fn init_tracing(service: bool) {
    use std::io::IsTerminal;
    let default = if service { "info,sqlx=error,tower_http=warn" } else { "warn,sqlx=error" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
