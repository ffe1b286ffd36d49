//! `atlas users add|disable|list`.

use atlas_store::admin::User;
use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user (prints the user)
    Add {
        #[arg(long)]
        email: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// Password for the console; without one the user signs in with API tokens only
        #[arg(long)]
        password: Option<String>,
    },
    /// Disable a user: their queued runs are refused and their tokens stop working
    Disable {
        #[arg(long)]
        email: String,
    },
    /// List users
    List,
}

pub async fn run(ctx: &Context, cmd: UsersCommand) -> Result<(), CliError> {
    match cmd {
        UsersCommand::Add { email, name, password } => {
            let user = ctx.store.user_create(&email, &name, password.as_deref(), &ctx.by()).await?;
            ctx.out.print(&user, || describe(&user))
        }
        UsersCommand::Disable { email } => {
            let user = ctx.store.user_disable(&email, &ctx.by()).await?;
            ctx.out.print(&user, || describe(&user))
        }
        UsersCommand::List => {
            let users = ctx.store.user_list().await?;
            ctx.out.print_list(&users, "no users", describe)
        }
    }
}

pub fn describe(u: &User) -> String {
    let state = if u.disabled_at.is_some() { ", disabled" } else { "" };
    format!("user {} <{}> (id {}){state}", u.display_name, u.email, u.id)
}
