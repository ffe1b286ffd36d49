//! `serve --demo`: a demo workspace of sandbox tenants, a user of every
//! built-in role plus a custom role without `operations.view`, a daily backup
//! schedule, a drift check that found a portal edit, and a history of runs
//! with every outcome — made by really running operations through the gate
//! and a worker, not by writing rows. Starting the
//! demo again keeps its data and prints fresh passwords.

use std::time::Duration;

use atlas_core::capability::{BuiltinRole, Capability};
use atlas_core::run::Run;
use atlas_core::tenant::{ConnectionKind, TenantScope, TenantStatus};
use atlas_core::OperationType;
use atlas_engine::{families, service, EngineConfig, ProviderConfig, StartRequest, Worker};
use atlas_store::admin::{ChangeBy, RoleRef, Tenant, User};
use atlas_store::sandbox::SandboxFaultKind;
use atlas_store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::commands::runs::service_error;
use crate::commands::serve::one_time_password;
use crate::context::Context;
use crate::error::CliError;

const SLUG: &str = "demo";

/// The demo people: email, name, role.
const PEOPLE: &[(&str, &str, &str)] = &[
    ("owner@demo.test", "Olivia Owner", "owner"),
    ("manager@demo.test", "Mark Manager", "manager"),
    ("operator@demo.test", "Oscar Operator", "operator"),
    ("readonly@demo.test", "Rita Readonly", "readonly"),
    ("auditor@demo.test", "Aude Auditor", "auditor"),
];

/// Seeds (once) and returns the lines to print: the logins.
pub async fn seed(ctx: &Context) -> Result<Vec<String>, CliError> {
    let store = &ctx.store;
    let by = ChangeBy::cli();
    let fresh = store.workspace_by_slug(SLUG).await.is_err();
    if fresh {
        build(store, &ctx.env.providers()?, &by).await?;
    }
    let mut lines = vec![if fresh {
        "Demo workspace `demo` seeded: 3 sandbox tenants, a daily backup schedule and a history of runs.".to_owned()
    } else {
        "Demo workspace `demo` already exists; new passwords:".to_owned()
    }];
    for (email, _, role) in PEOPLE {
        let password = one_time_password();
        store.user_set_password(email, &password, &by).await?;
        lines.push(format!("  {role:<9} {email:<22} {password}"));
    }
    Ok(lines)
}

fn fast() -> EngineConfig {
    EngineConfig {
        retry_backoff: Duration::from_millis(20),
        poll_interval: Duration::from_millis(20),
        ..EngineConfig::default()
    }
}

async fn drain(store: &Store, providers: &ProviderConfig) -> Result<(), CliError> {
    Worker::new(store.clone(), fast(), families::registry())
        .with_providers(providers.clone())
        .run(true, std::future::pending::<()>())
        .await?;
    Ok(())
}

struct Demo<'a> {
    store: &'a Store,
    workspace_id: Uuid,
    users: Vec<User>,
}

impl Demo<'_> {
    fn user(&self, email: &str) -> Uuid {
        self.users.iter().find(|u| u.email == email).map_or_else(Uuid::nil, |u| u.id)
    }

    async fn start(
        &self,
        who: &str,
        tenant: Option<&Tenant>,
        op: OperationType,
        params: Value,
    ) -> Result<Run, CliError> {
        let req = StartRequest {
            user_id: self.user(who),
            workspace_id: self.workspace_id,
            tenant_id: tenant.map(|t| t.id),
            op_type: op,
            params,
            retry_of_run_id: None,
            max_attempts: 3,
        };
        Ok(service::start(self.store, req).await.map_err(service_error)?.run)
    }
}

async fn build(store: &Store, providers: &ProviderConfig, by: &ChangeBy) -> Result<(), CliError> {
    let ws = store.workspace_create(SLUG, "Northwind IT Services", by).await?;
    let auditor = [Capability::WorkspaceView, Capability::TenantView, Capability::AuditView];
    store.role_create(ws.id, "auditor", &auditor.into_iter().collect(), by).await?;
    let mut users = Vec::new();
    for (email, name, role) in PEOPLE {
        let u = store.user_create(email, name, None, by).await?;
        let role = BuiltinRole::parse(role).map_or_else(|| RoleRef::Custom((*role).into()), RoleRef::Builtin);
        store.member_grant(ws.id, u.id, &role, &TenantScope::All, by).await?;
        users.push(u);
    }
    let tenant = async |name: &str, status, writes| -> Result<Tenant, CliError> {
        let t = store.tenant_create(ws.id, name, status, writes, None, by).await?;
        store.connection_add(t.id, ConnectionKind::Sandbox, json!({}), None, by).await?;
        atlas_providers::sandbox::seed(store, t.id).await.map_err(|e| CliError::internal(e.to_string()))?;
        Ok(t)
    };
    let fabrikam = tenant("Fabrikam Dental Group", TenantStatus::Active, true).await?;
    let contoso = tenant("Contoso North", TenantStatus::Active, false).await?;
    let litware = tenant("Litware (onboarding)", TenantStatus::Onboarding, false).await?;
    store.schedule_add(fabrikam.id, "0 2 * * *", "UTC", by).await?;
    let d = Demo { store, workspace_id: ws.id, users };

    // Succeeded: the read and backup families.
    d.start("operator@demo.test", Some(&fabrikam), OperationType::ProviderConnectionCheck, json!({})).await?;
    d.start("operator@demo.test", Some(&fabrikam), OperationType::InventorySync, json!({})).await?;
    d.start("operator@demo.test", Some(&fabrikam), OperationType::PoliciesSync, json!({})).await?;
    d.start("manager@demo.test", Some(&contoso), OperationType::ComplianceSnapshot, json!({})).await?;
    let backup = d.start("manager@demo.test", Some(&fabrikam), OperationType::BackupRun, json!({})).await?;
    let contoso_backup = d.start("manager@demo.test", Some(&contoso), OperationType::BackupRun, json!({})).await?;
    drain(store, providers).await?;
    let set_of = async |run: &Run| -> Result<String, CliError> {
        let run = store.run_get(run.id).await?;
        Ok(run.result.get("backup_set_id").and_then(Value::as_str).unwrap_or_default().to_owned())
    };
    let fabrikam_set = set_of(&backup).await?;
    let contoso_set = set_of(&contoso_backup).await?;

    // A dry run is allowed with the write gate closed.
    d.start(
        "manager@demo.test",
        Some(&contoso),
        OperationType::RestoreExecute,
        json!({"backup_set_id": contoso_set, "dry_run": true}),
    )
    .await?;
    // Blocked: a restore queued while the gate was open, then the gate closed.
    d.start(
        "manager@demo.test",
        Some(&fabrikam),
        OperationType::RestoreExecute,
        json!({"backup_set_id": fabrikam_set}),
    )
    .await?;
    store.tenant_set_write_gate(fabrikam.id, false, by).await?;
    drain(store, providers).await?;
    store.tenant_set_write_gate(fabrikam.id, true, by).await?;

    // Failed: the sandbox answers 503 until the attempts are used up.
    store.sandbox_fault_set(contoso.id, SandboxFaultKind::Error, 3, 0).await?;
    d.start("operator@demo.test", Some(&contoso), OperationType::InventorySync, json!({})).await?;
    drain(store, providers).await?;

    // Partially succeeded: a bulk sync where the onboarding tenant's item is blocked.
    let ids: Vec<String> = [&fabrikam, &contoso, &litware].iter().map(|t| t.id.to_string()).collect();
    d.start(
        "manager@demo.test",
        None,
        OperationType::BulkOperation,
        json!({"operation": "inventory.sync", "tenant_ids": ids}),
    )
    .await?;
    drain(store, providers).await?;

    // Cancelled before it started.
    let queued = d.start("operator@demo.test", Some(&fabrikam), OperationType::ComplianceSnapshot, json!({})).await?;
    service::cancel(store, queued.id, d.user("manager@demo.test")).await.map_err(service_error)?;

    // Succeeded again, and a restore that really wrote (the gate is open again).
    d.start(
        "manager@demo.test",
        Some(&fabrikam),
        OperationType::RestoreExecute,
        json!({"backup_set_id": fabrikam_set}),
    )
    .await?;
    drain(store, providers).await?;

    // Drift: someone lengthens Fabrikam's minimum password in the portal; a
    // drift check against its backup finds it (the fleet overview says so).
    let policy = "8d4d2cd6-1c9c-4db1-937d-d03b94b09201";
    if let Some(mut o) = store.sandbox_object(fabrikam.id, "device_configuration", policy).await? {
        o.payload["passwordMinimumLength"] = json!(14);
        store.sandbox_out_of_band_update(fabrikam.id, "device_configuration", policy, &o.payload).await?;
    }
    d.start("operator@demo.test", Some(&fabrikam), OperationType::DriftCheck, json!({})).await?;
    drain(store, providers).await?;
    Ok(())
}
