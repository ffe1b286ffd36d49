//! `atlas tokens create`: an API token, printed once.

use atlas_store::admin::ApiToken;
use clap::Subcommand;
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token for a user (prints `token` once: it is not stored)
    Create {
        #[arg(long)]
        email: String,
        /// What the token is for
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// The token's record plus its plaintext, which exists only in this output.
#[derive(Serialize)]
struct CreatedToken<'a> {
    #[serde(flatten)]
    record: &'a ApiToken,
    token: &'a str,
}

pub async fn run(ctx: &Context, cmd: TokensCommand) -> Result<(), CliError> {
    match cmd {
        TokensCommand::Create { email, name } => {
            let user = ctx.user(&email).await?;
            let (record, token) = ctx.store.token_create(user.id, &name, &ctx.by()).await?;
            let created = CreatedToken { record: &record, token: &token };
            ctx.out.print(&created, || {
                format!(
                    "token {token}\n(`{}` for {}, id {}: shown only this once, store it now)",
                    record.name, user.email, record.id
                )
            })
        }
    }
}
