//! `atlas sandbox fault|objects|edit`: makes a sandbox tenant slow, throttle
//! or fail for its next N provider calls (demos and tests of retries and
//! rescues); lists the simulated tenant's objects; changes or deletes one as
//! an administrator in the Intune portal would (no run, no journal), so that
//! drift can be shown and tested.

use atlas_core::diff::{apply, Change};
use atlas_core::object_type::{self, by_key};
use atlas_store::admin::Tenant;
use atlas_store::sandbox::{SandboxFaultKind, SandboxObject};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::commands::ObjectArgs;
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
    /// The simulated tenant's objects, by type
    Objects {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        workspace: Option<String>,
        /// Only this registered type (see `atlas object-types list`)
        #[arg(long = "type")]
        kind: Option<String>,
    },
    /// Change or delete one object, as an administrator in the Intune portal would
    Edit {
        #[command(flatten)]
        of: ObjectArgs,
        /// PATH=JSON: set the member at a JSON pointer (e.g. /passwordMinimumLength=12); repeatable
        #[arg(long = "set", required_unless_present = "delete", conflicts_with = "delete")]
        set: Vec<String>,
        /// Delete the object
        #[arg(long)]
        delete: bool,
    },
}

/// `PATH=JSON` as a change; a path without its leading `/` gets one.
fn parse_set(s: &str) -> Result<Change, CliError> {
    let (path, value) =
        s.split_once('=').ok_or_else(|| CliError::invalid(format!("`--set {s}`: expected PATH=JSON")))?;
    let value: Value = serde_json::from_str(value).map_err(|e| {
        CliError::invalid(format!("`--set {s}`: the value is not JSON ({e}); quote strings: '\"text\"'"))
    })?;
    let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    if path == "/id" {
        return Err(CliError::invalid("an object's id cannot be changed"));
    }
    Ok(Change { path, old: None, new: Some(value) })
}

async fn sandbox_tenant(ctx: &Context, workspace: Option<&str>, tenant: &str) -> Result<Tenant, CliError> {
    let t = ctx.tenant(workspace, tenant).await?;
    let conn = ctx.store.connection_get(t.id).await?;
    if conn.map(|c| c.kind) != Some(atlas_core::tenant::ConnectionKind::Sandbox) {
        return Err(CliError::invalid(format!("tenant `{}` has no sandbox connection", t.name)));
    }
    Ok(t)
}

/// The object of any registered type with this id.
async fn find(ctx: &Context, t: &Tenant, id: &str) -> Result<SandboxObject, CliError> {
    for kind in object_type::all() {
        if let Some(o) = ctx.store.sandbox_object(t.id, kind.key, id).await? {
            return Ok(o);
        }
    }
    Err(CliError::invalid(format!("tenant `{}` has no object `{id}` (see `atlas sandbox objects`)", t.name)))
}

fn object_json(o: &SandboxObject) -> Value {
    json!({"object_type": o.kind, "object_id": o.object_id, "name": o.display_name, "version": o.version,
           "updated_at": o.updated_at, "assignments": o.assignments.len(), "payload": o.payload})
}

fn parse_kind(s: &str) -> Result<SandboxFaultKind, String> {
    SandboxFaultKind::parse(s).ok_or_else(|| "unknown fault kind (expected latency, throttle or error)".to_owned())
}

pub async fn run(ctx: &Context, cmd: SandboxCommand) -> Result<(), CliError> {
    match cmd {
        SandboxCommand::Fault { tenant, workspace, kind, calls, ms } => {
            let t = sandbox_tenant(ctx, workspace.as_deref(), &tenant).await?;
            ctx.store.sandbox_fault_set(t.id, kind, calls, ms).await?;
            let doc = json!({"tenant_id": t.id, "kind": kind, "calls": calls, "ms": ms});
            ctx.out.print(&doc, || format!("sandbox {}: next {calls} call(s) {} ({ms} ms)", t.name, kind.as_str()))
        }
        SandboxCommand::Objects { tenant, workspace, kind } => {
            let t = sandbox_tenant(ctx, workspace.as_deref(), &tenant).await?;
            let kinds = match kind.as_deref().map(str::trim) {
                None => object_type::all().iter().collect::<Vec<_>>(),
                Some(k) => vec![by_key(k).ok_or_else(|| {
                    CliError::invalid(format!("unknown object type `{k}` (one of: {})", object_type::keys()))
                })?],
            };
            let mut objects = Vec::new();
            for k in kinds {
                objects.extend(ctx.store.sandbox_objects(t.id, k.key).await?);
            }
            let docs: Vec<Value> = objects.iter().map(object_json).collect();
            ctx.out.print(&docs, || {
                if objects.is_empty() {
                    return "no objects".to_owned();
                }
                objects
                    .iter()
                    .map(|o| format!("{:<38} {:<38} {}", o.kind, o.object_id, o.display_name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        SandboxCommand::Edit { of: ObjectArgs { tenant, workspace, object }, set, delete } => {
            let t = sandbox_tenant(ctx, workspace.as_deref(), &tenant).await?;
            let changes = set.iter().map(|s| parse_set(s)).collect::<Result<Vec<_>, _>>()?;
            let o = find(ctx, &t, object.trim()).await?;
            if delete {
                ctx.store.sandbox_out_of_band_delete(t.id, &o.kind, &o.object_id).await?;
                let doc =
                    json!({"deleted": true, "object_type": o.kind, "object_id": o.object_id, "name": o.display_name});
                return ctx.out.print(&doc, || format!("deleted {} {} ({})", o.kind, o.display_name, o.object_id));
            }
            let keyed = object_type::rules_for(&o.kind).keyed_arrays;
            let mut payload = apply(&o.payload, &changes, keyed).map_err(|e| CliError::invalid(e.to_string()))?;
            // The service stamps every change.
            if let Value::Object(m) = &mut payload {
                m.insert("lastModifiedDateTime".into(), json!(atlas_store::now().to_rfc3339()));
            }
            ctx.store.sandbox_out_of_band_update(t.id, &o.kind, &o.object_id, &payload).await?;
            let edited = find(ctx, &t, &o.object_id).await?;
            ctx.out.print(&object_json(&edited), || {
                let mut out = vec![format!("edited {} {} ({})", edited.kind, edited.display_name, edited.object_id)];
                out.extend(changes.iter().map(|c| format!("  {} = {}", c.path, c.new.clone().unwrap_or_default())));
                out.join("\n")
            })
        }
    }
}
