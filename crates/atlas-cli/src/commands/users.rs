//! `atlas users add|set-password|disable|list`. A user added without
//! `--password` gets a generated one-time password, printed once; so does
//! `set-password` without one (a reset). Both are audited (`user.password_set`,
//! never with the password).

use atlas_store::admin::{generate_password, PasswordKind, User};
use clap::Subcommand;
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user (prints the user, and a one-time password when none is given)
    Add {
        #[arg(long)]
        email: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// Password for the console; without one a one-time password is generated and printed once
        #[arg(long)]
        password: Option<String>,
    },
    /// Set a user's password; without --password, generate a one-time one and print it once (a reset)
    SetPassword {
        #[arg(long)]
        email: String,
        /// The new password (at least 8 characters)
        #[arg(long)]
        password: Option<String>,
    },
    /// Disable a user: their queued runs are refused and their tokens stop working
    Disable {
        #[arg(long)]
        email: String,
        /// List the runs and schedule slots this change would block, and change nothing
        #[arg(long)]
        preview: bool,
    },
    /// List users
    List,
}

/// A user and, when one was generated, the one-time password, which exists only in this output.
#[derive(Serialize)]
struct WithPassword<'a> {
    #[serde(flatten)]
    user: &'a User,
    #[serde(skip_serializing_if = "Option::is_none")]
    one_time_password: Option<&'a str>,
}

fn print_with_password(ctx: &Context, user: &User, generated: Option<&str>) -> Result<(), CliError> {
    let shown = WithPassword { user, one_time_password: generated };
    ctx.out.print(&shown, || match generated {
        Some(p) => format!(
            "{}\none-time password: {p}\n(shown only this once; sign in at {}/login and choose a new one)",
            describe(user),
            ctx.console
        ),
        None => describe(user),
    })
}

pub async fn run(ctx: &Context, cmd: UsersCommand) -> Result<(), CliError> {
    let by = ctx.by();
    match cmd {
        UsersCommand::Add { email, name, password: Some(password) } => {
            let user = ctx.store.user_create(&email, &name, Some(&password), &by).await?;
            print_with_password(ctx, &user, None)
        }
        UsersCommand::Add { email, name, password: None } => {
            let user = ctx.store.user_create(&email, &name, None, &by).await?;
            let generated = generate_password();
            ctx.store.user_write_password(&user.email, &generated, PasswordKind::OneTime, &by).await?;
            print_with_password(ctx, &user, Some(&generated))
        }
        UsersCommand::SetPassword { email, password: Some(password) } => {
            let user = ctx.store.user_write_password(&email, &password, PasswordKind::Chosen, &by).await?;
            print_with_password(ctx, &user, None)
        }
        UsersCommand::SetPassword { email, password: None } => {
            let generated = generate_password();
            let user = ctx.store.user_write_password(&email, &generated, PasswordKind::OneTime, &by).await?;
            print_with_password(ctx, &user, Some(&generated))
        }
        UsersCommand::Disable { email, preview: true } => {
            let user = ctx.user(&email).await?;
            let change = atlas_core::impact::AdminChange::UserDisable { user_id: user.id };
            crate::commands::preview::print(ctx, Ok(change)).await
        }
        UsersCommand::Disable { email, preview: false } => {
            let user = ctx.store.user_disable(&email, &by).await?;
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
