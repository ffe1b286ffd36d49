//! Store errors: sqlx errors are converted here, once, and named constraints
//! become `Conflict`.

use atlas_core::run::IllegalTransition;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// A tenant write refused because the run is no longer legitimate (the gate,
    /// evaluated in the writing transaction, denied it).
    #[error("{}", .0.message)]
    Denied(Box<atlas_core::gate::Decision>),
    /// A finishing write whose lease was lost: another worker owns the run now.
    #[error("the run's lease is no longer held by this worker")]
    Fenced,
    /// An approval or rejection refused by `atlas_core::approval::decide`.
    #[error(transparent)]
    Approval(#[from] atlas_core::approval::ApprovalError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database could not be reached when connecting; the message names
    /// the target (never its password).
    #[error("{0}")]
    Unavailable(String),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                let what = match db.constraint() {
                    Some(c) => describe_constraint(c),
                    None => unique_from_message(db.message()),
                };
                return StoreError::Conflict(what);
            }
        }
        if let sqlx::Error::RowNotFound = e {
            return StoreError::NotFound("record".into());
        }
        StoreError::Database(e)
    }
}

fn describe_constraint(name: &str) -> String {
    match name {
        "workspaces_slug_key" => "a workspace with that slug already exists".into(),
        "users_email_key" => "a user with that email already exists".into(),
        "custom_roles_name_key" => "a role with that name already exists in the workspace".into(),
        "memberships_user_key" => "that user is already a member of the workspace".into(),
        "tenants_name_key" => "a tenant with that name already exists in the workspace".into(),
        "provider_connections_tenant_key" => "the tenant already has a provider connection".into(),
        "operation_runs_active_dedupe_key" => "an active run with the same target exists".into(),
        "notifications_once_key" => "notification already sent".into(),
        "schedule_fires_pkey" => "that schedule slot has already fired".into(),
        other => format!("duplicate ({other})"),
    }
}

/// SQLite reports no constraint name, only `UNIQUE constraint failed: table.col, …`.
fn unique_from_message(message: &str) -> String {
    let cols = message.rsplit(':').next().unwrap_or("").trim();
    let name = match cols {
        "workspaces.slug" => "workspaces_slug_key",
        "users.email" => "users_email_key",
        "custom_roles.workspace_id, custom_roles.name" => "custom_roles_name_key",
        "memberships.workspace_id, memberships.user_id" => "memberships_user_key",
        "tenants.workspace_id, tenants.name" => "tenants_name_key",
        "provider_connections.tenant_id" => "provider_connections_tenant_key",
        "operation_runs.dedupe_key" => "operation_runs_active_dedupe_key",
        "notifications.user_id, notifications.run_id, notifications.kind" => "notifications_once_key",
        "schedule_fires.schedule_id, schedule_fires.slot" => "schedule_fires_pkey",
        other => return format!("duplicate ({other})"),
    };
    describe_constraint(name)
}
