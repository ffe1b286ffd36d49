//! `--preview` on the administrative changes that can affect legitimacy
//! (SPEC §10.2): the change resolved and refused as applying it would be,
//! then every run and schedule slot it would block, printed as
//! `{"preview": true, "affected": [...], "changed": false}`. Nothing changes.

use atlas_core::impact::{summary, AdminChange, Preview};
use atlas_engine::service::ServiceError;

use crate::commands::runs::service_error;
use crate::context::Context;
use crate::error::CliError;

/// Prints the preview of a change (`change`: resolved, or why it is refused).
pub async fn print(ctx: &Context, change: Result<AdminChange, ServiceError>) -> Result<(), CliError> {
    let change = change.map_err(service_error)?;
    let preview = atlas_engine::impact::preview(&ctx.store, &change, ctx.env.cron()).await.map_err(service_error)?;
    ctx.out.print(&preview, || human(&preview))
}

/// The console's sentence, then one line per affected run or slot.
fn human(p: &Preview) -> String {
    let mut out = vec![format!("{} Nothing was changed (preview).", summary(p))];
    for a in &p.affected {
        let what = match (a.run_id, a.schedule_id, a.slot) {
            (Some(run), _, _) => format!("run {run}"),
            (None, Some(s), Some(slot)) => format!("schedule {s} at {slot}"),
            _ => "?".to_owned(),
        };
        let state = serde_json::to_value(a.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        out.push(format!("  {state:<18} {what}  [{}] {}", a.reason_code.as_str(), a.message));
    }
    out.join("\n")
}
