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
    /// Seal pending events, then check every chain (exits 1 naming the first broken
    /// event, or the events left unsealed longer than --max-unsealed-age)
    Verify {
        /// Only this workspace's chain
        #[arg(long)]
        workspace: Option<String>,
        /// Seconds an event may wait for its seal before verify names it: an
        /// unsealed event could have been edited unnoticed
        #[arg(long, env = "ATLAS_AUDIT_MAX_UNSEALED_SECS", default_value_t = 60, value_parser = clap::value_parser!(i64).range(0..=31_536_000))]
        max_unsealed_age: i64,
    },
    /// Write every event as one JSON line to stdout, oldest first
    Export,
}

pub async fn run(ctx: &Context, cmd: AuditCommand) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Verify { workspace, max_unsealed_age } => {
            let ws = match workspace {
                Some(w) => Some(ctx.workspace(&w).await?.id),
                None => None,
            };
            // Looked at before verify seals them: afterwards they would read as intact.
            let waiting = ctx.store.audit_unsealed(ws, max_unsealed_age).await?;
            let report = ctx.store.audit_verify(ws).await?;
            if let Some(broken) = &report.broken {
                return Err(CliError {
                    code: "audit_chain_broken",
                    ..CliError::internal(format!("audit chain broken at {broken}"))
                });
            }
            if waiting.stale > 0 {
                let named: Vec<String> = waiting
                    .stale_events
                    .iter()
                    .map(|e| format!("seq {} ({}, {} s)", e.seq, e.action, e.age_secs))
                    .collect();
                let more = waiting.stale.saturating_sub(named.len() as u64);
                let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
                return Err(CliError {
                    code: "audit_unsealed_too_long",
                    ..CliError::internal(format!(
                        "{} audit event(s) waited unsealed longer than {max_unsealed_age} s and may have been \
                         edited before their seal: {}{tail}",
                        waiting.stale,
                        named.join(", ")
                    ))
                });
            }
            // The report's own shape, with what was waiting when verify began beside it.
            let mut shown = serde_json::to_value(&report).map_err(|e| CliError::internal(e.to_string()))?;
            if let Some(fields) = shown.as_object_mut() {
                fields.insert("unsealed_before".into(), serde_json::json!(&waiting));
            }
            ctx.out.print(&shown, || {
                let oldest = waiting.oldest_age_secs.map_or(String::new(), |a| format!(", the oldest {a} s old"));
                format!(
                    "audit chains intact: {} chain(s), {} event(s) checked ({} found unsealed{oldest}; {} sealed now, \
                     {} still in flight)",
                    report.chains_checked, report.events_checked, waiting.unsealed, report.sealed, report.unsealed
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
