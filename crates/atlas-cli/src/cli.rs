//! The command tree (SPEC §7). Each group's subcommands live beside their
//! code in `commands/<group>.rs`; this file only names the groups.

use clap::{Parser, Subcommand};

use crate::commands::{
    audit, backups, connections, members, notifications, object_types, policies, roles, runs, sandbox, schedules,
    serve, tenants, tokens, users, worker, workspaces,
};

#[derive(Debug, Parser)]
#[command(
    name = "atlas",
    version,
    about = "TenantAtlas: operations on many tenants, authorized when started and again when executed."
)]
pub struct Cli {
    /// Print machine-readable JSON (the same shapes as the API)
    #[arg(long, global = true)]
    pub json: bool,

    /// The database: sqlite://PATH or postgres://…
    #[arg(
        long,
        global = true,
        env = "ATLAS_DATABASE_URL",
        default_value = atlas_store::DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,

    /// The console's public address, for the links the CLI prints (else the bind address)
    #[arg(long, global = true, env = "ATLAS_PUBLIC_URL")]
    pub public_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The console, the JSON API, and (unless --no-workers) workers and the scheduler
    Serve(serve::ServeArgs),
    /// Create or upgrade the schema (other commands do it first when it is behind)
    Migrate,
    /// Users: add, disable, list
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Workspaces: add, list
    #[command(subcommand)]
    Workspaces(workspaces::WorkspacesCommand),
    /// Custom roles of a workspace: add, set, list
    #[command(subcommand)]
    Roles(roles::RolesCommand),
    /// Memberships: grant, set-role, set-scope, revoke, list
    #[command(subcommand)]
    Members(members::MembersCommand),
    /// Tenants: add, set-status, write-gate, show, list
    #[command(subcommand)]
    Tenants(tenants::TenantsCommand),
    /// A tenant's provider connection: add, enable, disable, show
    #[command(subcommand)]
    Connections(connections::ConnectionsCommand),
    /// API tokens: create, list, revoke
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// A person's notifications: list, read
    #[command(subcommand)]
    Notifications(notifications::NotificationsCommand),
    /// The audit log: verify, export
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Operation runs: start, list, show, watch, cancel, retry
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Execute queued runs
    Worker(worker::WorkerArgs),
    /// Backup schedules: add, enable, disable, list, fire
    #[command(subcommand)]
    Schedules(schedules::SchedulesCommand),
    /// The sandbox provider: inject faults, list and edit the simulated tenant's objects
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCommand),
    /// The object-type registry: list
    #[command(subcommand)]
    ObjectTypes(object_types::ObjectTypesCommand),
    /// Object versions: history, diff
    #[command(subcommand)]
    Policies(policies::PoliciesCommand),
    /// Backup sets: list, show, diff
    #[command(subcommand)]
    Backups(backups::BackupsCommand),
    /// Benchmarks only: add completed runs to a workspace (scripts/bench-console)
    #[cfg(feature = "testkit")]
    #[command(hide = true)]
    BenchSeed(crate::commands::bench_seed::BenchSeedArgs),
}

impl Command {
    /// Long-running commands, whose logs say what they do.
    pub fn is_service(&self) -> bool {
        matches!(self, Command::Serve(_) | Command::Worker(_))
    }
}
