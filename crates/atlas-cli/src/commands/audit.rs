//! `atlas audit verify|export`: prove the hash chains unbroken, or dump the
//! log as JSON lines.

use std::io::{BufWriter, Write};

use atlas_store::StoreError;
use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;
use crate::output::PipeWriter;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Seal pending events, then check every chain (exits 1 naming the first broken event)
    Verify {
        /// Only this workspace's chain
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Write every event as one JSON line to stdout, oldest first
    Export,
}

pub async fn run(ctx: &Context, cmd: AuditCommand) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Verify { workspace } => {
            let ws = match workspace {
                Some(w) => Some(ctx.workspace(&w).await?.id),
                None => None,
            };
            let report = ctx.store.audit_verify(ws).await?;
            if let Some(broken) = &report.broken {
                return Err(CliError {
                    code: "audit_chain_broken",
                    ..CliError::internal(format!("audit chain broken at {broken}"))
                });
            }
            ctx.out.print(&report, || {
                format!(
                    "audit chains intact: {} chain(s), {} event(s) checked ({} sealed now, {} still in flight)",
                    report.chains_checked, report.events_checked, report.sealed, report.unsealed
                )
            })
        }
        AuditCommand::Export => {
            let mut out = BufWriter::new(PipeWriter::new(std::io::stdout().lock()));
            let exported = ctx.store.audit_export(&mut out).await;
            let flushed = out.flush();
            // `audit export | head`: the reader has what it wanted; end quietly.
            if out.get_ref().closed {
                return Ok(());
            }
            exported.map_err(|e| match e {
                // The store reports a failed write to our stdout as Invalid; it is not bad input.
                StoreError::Invalid(m) => CliError::internal(m),
                other => CliError::from(other),
            })?;
            flushed.map_err(|e| CliError::internal(format!("cannot write output: {e}")))
        }
    }
}
