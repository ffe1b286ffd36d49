//! What every command needs: the store (migrated, so that a fresh machine just
//! works), the environment's configuration, the output mode, and the lookups
//! that turn command-line names into records with errors that name the flag.

use atlas_core::tenant::TenantScope;
use atlas_store::admin::{ChangeBy, Tenant, User, Workspace};
use atlas_store::Store;
use uuid::Uuid;

use crate::config::Env;
use crate::error::CliError;
use crate::output::Output;

pub struct Context {
    pub store: Store,
    pub env: Env,
    pub out: Output,
}

impl Context {
    /// Connects and applies pending migrations (idempotent).
    pub async fn open(database_url: &str, env: Env, out: Output) -> Result<Context, CliError> {
        let store = Store::connect(database_url).await?;
        store.migrate().await?;
        Ok(Context { store, env, out })
    }

    /// The link to a run's page in the console.
    pub fn run_url(&self, id: Uuid) -> String {
        format!("{}/admin/operations/{id}", self.env.public_url())
    }

    /// Administrative changes from the CLI are the system's, `via: "cli"` (SPEC §6.4).
    pub fn by(&self) -> ChangeBy {
        ChangeBy::cli()
    }

    /// A workspace by slug (or id).
    pub async fn workspace(&self, slug_or_id: &str) -> Result<Workspace, CliError> {
        let key = slug_or_id.trim();
        if let Ok(id) = Uuid::parse_str(key) {
            return Ok(self.store.workspace_get(id).await?);
        }
        Ok(self.store.workspace_by_slug(key).await?)
    }

    pub async fn user(&self, email: &str) -> Result<User, CliError> {
        Ok(self.store.user_by_email(email).await?)
    }

    /// A tenant by id, or by exact name within `--workspace`.
    pub async fn tenant(&self, workspace: Option<&str>, tenant: &str) -> Result<Tenant, CliError> {
        match workspace {
            Some(w) => {
                let ws = self.workspace(w).await?;
                Ok(self.store.tenant_resolve(Some(ws.id), tenant).await?)
            }
            None if Uuid::parse_str(tenant.trim()).is_ok() => Ok(self.store.tenant_resolve(None, tenant).await?),
            None => Err(CliError::invalid(format!(
                "tenant `{tenant}` is a name: pass --workspace to look it up, or give the tenant id"
            ))),
        }
    }

    /// `--tenants all` or a comma-separated list of tenant ids or names of the workspace.
    pub async fn scope(&self, workspace: &Workspace, tenants: &str) -> Result<TenantScope, CliError> {
        if tenants.trim() == "all" {
            return Ok(TenantScope::All);
        }
        let mut ids = std::collections::BTreeSet::new();
        for key in tenants.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            ids.insert(self.store.tenant_resolve(Some(workspace.id), key).await?.id);
        }
        if ids.is_empty() {
            return Err(CliError::invalid("--tenants needs `all` or at least one tenant id or name"));
        }
        Ok(TenantScope::Tenants(ids))
    }

    /// Tenant names for readable output of a scope (ids of vanished tenants stay ids).
    pub async fn scope_names(&self, workspace_id: Uuid, scope: &TenantScope) -> Result<String, CliError> {
        let TenantScope::Tenants(ids) = scope else {
            return Ok("all".into());
        };
        if ids.is_empty() {
            return Ok("none".into());
        }
        let tenants = self.store.tenant_list(workspace_id).await?;
        let names: Vec<String> = ids
            .iter()
            .map(|id| tenants.iter().find(|t| t.id == *id).map_or_else(|| id.to_string(), |t| t.name.clone()))
            .collect();
        Ok(names.join(", "))
    }
}
