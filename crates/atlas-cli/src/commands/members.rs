//! `atlas members grant|set-role|set-scope|revoke|list`: who may do what in a
//! workspace, and on which of its tenants.

use atlas_core::impact::AdminChange;
use atlas_engine::impact;
use atlas_store::admin::{Membership, RoleRef, User, Workspace};
use clap::Subcommand;

use crate::commands::preview;
use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Make a user a member (prints the membership)
    Grant {
        /// Workspace slug
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        /// owner, manager, operator, readonly, or a custom role of the workspace
        #[arg(long)]
        role: String,
        /// `all`, or comma-separated tenant ids or names
        #[arg(long, default_value = "all")]
        tenants: String,
    },
    /// Change a member's role
    SetRole {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
    },
    /// Change a member's tenant entitlements
    SetScope {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        /// `all`, or comma-separated tenant ids or names
        #[arg(long)]
        tenants: String,
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
    },
    /// Remove a member from the workspace (prints the removed membership)
    Revoke {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
    },
    /// List a workspace's members
    List {
        #[arg(long)]
        workspace: String,
    },
}

pub async fn run(ctx: &Context, cmd: MembersCommand) -> Result<(), CliError> {
    let by = ctx.by();
    let mut revoked = false;
    let (ws, user, m) = match cmd {
        MembersCommand::Grant { workspace, email, role, tenants } => {
            let (ws, user) = (ctx.workspace(&workspace).await?, ctx.user(&email).await?);
            let scope = ctx.scope(&ws, &tenants).await?;
            let m = ctx.store.member_grant(ws.id, user.id, &RoleRef::parse(&role), &scope, &by).await?;
            (ws, user, m)
        }
        MembersCommand::SetRole { workspace, email, role, preview: true } => {
            let (ws, user) = member(ctx, &workspace, &email).await?;
            let change = impact::member_set_role(&ctx.store, ws.id, user.id, &RoleRef::parse(&role)).await;
            return preview::print(ctx, change).await;
        }
        MembersCommand::SetScope { workspace, email, tenants, preview: true } => {
            let (ws, user) = member(ctx, &workspace, &email).await?;
            let scope = ctx.scope(&ws, &tenants).await?;
            let change = AdminChange::MemberSetScope { workspace_id: ws.id, user_id: user.id, scope };
            return preview::print(ctx, Ok(change)).await;
        }
        MembersCommand::Revoke { workspace, email, preview: true } => {
            let (ws, user) = member(ctx, &workspace, &email).await?;
            return preview::print(ctx, impact::member_revoke(&ctx.store, ws.id, user.id).await).await;
        }
        MembersCommand::SetRole { workspace, email, role, preview: false } => {
            let (ws, user) = member(ctx, &workspace, &email).await?;
            let m = ctx.store.member_set_role(ws.id, user.id, &RoleRef::parse(&role), &by).await?;
            (ws, user, m)
        }
        MembersCommand::SetScope { workspace, email, tenants, preview: false } => {
            let (ws, user) = member(ctx, &workspace, &email).await?;
            let scope = ctx.scope(&ws, &tenants).await?;
            let m = ctx.store.member_set_scope(ws.id, user.id, &scope, &by).await?;
            (ws, user, m)
        }
        MembersCommand::Revoke { workspace, email, preview: false } => {
            let (ws, user) = member(ctx, &workspace, &email).await?;
            let m = ctx.store.member_revoke(ws.id, user.id, &by).await?;
            revoked = true;
            (ws, user, m)
        }
        MembersCommand::List { workspace } => return list(ctx, &workspace).await,
    };
    let scope = ctx.scope_names(ws.id, &m.tenant_scope).await?;
    let line = describe(&ws, &user.email, &m, &scope);
    ctx.out.print(&m, || if revoked { format!("revoked {line}") } else { line })
}

/// The workspace and user of an existing membership, refused with names the
/// caller typed rather than ids.
async fn member(ctx: &Context, workspace: &str, email: &str) -> Result<(Workspace, User), CliError> {
    let (ws, user) = (ctx.workspace(workspace).await?, ctx.user(email).await?);
    if ctx.store.membership_get(ws.id, user.id).await?.is_none() {
        return Err(CliError::from(atlas_store::StoreError::NotFound(format!(
            "membership of `{}` in workspace `{}`",
            user.email, ws.slug
        ))));
    }
    Ok((ws, user))
}

async fn list(ctx: &Context, workspace: &str) -> Result<(), CliError> {
    let ws = ctx.workspace(workspace).await?;
    let members = ctx.store.membership_list(ws.id).await?;
    let users = ctx.store.user_list().await?;
    let mut lines = Vec::with_capacity(members.len());
    for m in &members {
        let email = users.iter().find(|u| u.id == m.user_id).map_or_else(|| m.user_id.to_string(), |u| u.email.clone());
        lines.push(describe(&ws, &email, m, &ctx.scope_names(ws.id, &m.tenant_scope).await?));
    }
    ctx.out.print(&members, || if lines.is_empty() { "no members".into() } else { lines.join("\n") })
}

fn describe(ws: &Workspace, email: &str, m: &Membership, scope: &str) -> String {
    format!("member {email} of {}: role {}, tenants {scope}", ws.slug, m.role.name())
}
