//! `atlas sandbox fault`: makes a sandbox tenant slow, throttle or fail for
//! its next N provider calls (demos and tests of retries and rescues).

use atlas_store::sandbox::SandboxFaultKind;
use clap::Subcommand;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Inject a fault into the tenant's next provider calls
    Fault {
        /// Tenant id, or name with --workspace
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        workspace: Option<String>,
        /// latency, throttle or error
        #[arg(long, value_parser = parse_kind)]
        kind: SandboxFaultKind,
        /// How many calls (0 clears the fault)
        #[arg(long, default_value_t = 1)]
        calls: u32,
        /// Delay (latency) or Retry-After (throttle), in milliseconds
        #[arg(long, default_value_t = 1000)]
        ms: u64,
    },
}

fn parse_kind(s: &str) -> Result<SandboxFaultKind, String> {
    SandboxFaultKind::parse(s).ok_or_else(|| "unknown fault kind (expected latency, throttle or error)".to_owned())
}

pub async fn run(ctx: &Context, cmd: SandboxCommand) -> Result<(), CliError> {
    let SandboxCommand::Fault { tenant, workspace, kind, calls, ms } = cmd;
    let t = ctx.tenant(workspace.as_deref(), &tenant).await?;
    let conn = ctx.store.connection_get(t.id).await?;
    if conn.map(|c| c.kind) != Some(atlas_core::tenant::ConnectionKind::Sandbox) {
        return Err(CliError::invalid(format!("tenant `{}` has no sandbox connection", t.name)));
    }
    ctx.store.sandbox_fault_set(t.id, kind, calls, ms).await?;
    let doc = json!({"tenant_id": t.id, "kind": kind, "calls": calls, "ms": ms});
    ctx.out.print(&doc, || format!("sandbox {}: next {calls} call(s) {} ({ms} ms)", t.name, kind.as_str()))
}
