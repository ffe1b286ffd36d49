//! What every command needs: the store (migrated when behind, so that a fresh
//! machine just works), the environment's configuration, the output mode, and the lookups
//! that turn command-line names into records with errors that name the flag.

use atlas_core::tenant::TenantScope;
use atlas_store::admin::{ChangeBy, Tenant, User, Workspace};
use atlas_store::Store;
use uuid::Uuid;

use crate::config::{Env, DEFAULT_BIND};
use crate::error::CliError;
use crate::output::Output;

pub struct Context {
    pub store: Store,
    pub env: Env,
    pub out: Output,
    /// Where the console answers: `ATLAS_PUBLIC_URL`, else the bind address.
    pub console: String,
    /// The database this command opened (`ATLAS_DATABASE_URL`).
    pub database_url: String,
}

/// The console's address for printed links: `--public-url`/`ATLAS_PUBLIC_URL`
/// when set, else `http://` and the configured bind address (`ATLAS_BIND`).
pub fn console_url(public_url: Option<&str>, env: &Env) -> String {
    match public_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", env.bind().unwrap_or(DEFAULT_BIND)),
    }
}

impl Context {
    /// Connects and applies pending migrations, if there are any.
    pub async fn open(database_url: &str, env: Env, out: Output, console: String) -> Result<Context, CliError> {
        let store = Store::connect(database_url).await?.with_approval_validity_ms(env.approval_validity_ms()?);
        store.migrate_if_behind().await?;
        Ok(Context { store, env, out, console, database_url: database_url.to_owned() })
    }

    /// The console address of a run.
    pub fn run_url(&self, id: Uuid) -> String {
        format!("{}/admin/operations/{id}", self.console)
    }

    /// The workspace named, else the only one there is.
    pub async fn workspace_or_only(&self, named: Option<&str>) -> Result<Workspace, CliError> {
        if let Some(w) = named {
            return self.workspace(w).await;
        }
        let all = self.store.workspace_list().await?;
        match all.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(CliError::invalid("there is no workspace yet: add one with `atlas workspaces add`")),
            many => {
                let slugs: Vec<&str> = many.iter().map(|w| w.slug.as_str()).collect();
                Err(CliError::invalid(format!("pass --workspace (one of: {})", slugs.join(", "))))
            }
        }
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
                match self.store.tenant_resolve(Some(ws.id), tenant).await {
                    Err(atlas_store::StoreError::NotFound(what)) => {
                        let names: Vec<String> =
                            self.store.tenant_list(ws.id).await?.into_iter().map(|t| t.name).collect();
                        let mut e = CliError::from(atlas_store::StoreError::NotFound(what));
                        e.message = format!(
                            "no tenant `{}` in workspace {}{}",
                            tenant.trim(),
                            ws.slug,
                            suggest(tenant, &names)
                        );
                        Err(e)
                    }
                    other => Ok(other?),
                }
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

/// "; did you mean `Contoso North`?" for the names closest to `typed`.
pub fn suggest(typed: &str, names: &[String]) -> String {
    let typed = typed.trim().to_lowercase();
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .map(|n| (strsim::jaro_winkler(&typed, &n.to_lowercase()), n))
        .filter(|(score, _)| *score >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let best: Vec<String> = scored.iter().take(3).map(|(_, n)| format!("`{n}`")).collect();
    match best.as_slice() {
        [] if names.is_empty() => "; the workspace has no tenants yet".to_owned(),
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        many => format!("; did you mean one of {}?", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn a_misspelt_name_suggests_the_closest() {
        let names = vec!["Contoso North".to_owned(), "Contoso South".to_owned(), "Fabrikam".to_owned()];
        assert_eq!(suggest("contso north", &names), "; did you mean one of `Contoso North`, `Contoso South`?");
        assert_eq!(suggest("Fabrikan", &names), "; did you mean `Fabrikam`?");
        assert_eq!(suggest("zzz", &names), "");
    }
}
