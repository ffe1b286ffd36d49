//! `atlas tokens create|list|revoke`: API tokens. A token's plaintext is
//! printed once, at creation; it may expire (`--expires-in 30d`); revoking
//! ends it at once. Creation and revocation are audited.

use atlas_core::value::Lifetime;
use atlas_store::admin::ApiToken;
use clap::Subcommand;
use serde::Serialize;
use uuid::Uuid;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{local_time, local_time_or_dash};

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token for a user (prints `token` once: it is not stored)
    Create {
        #[arg(long)]
        email: String,
        /// What the token is for
        #[arg(long, default_value = "cli")]
        name: String,
        /// How long it lives: 90m, 12h, 30d (at most 366d); without it, until revoked
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// A user's tokens (never their secrets), oldest first
    List {
        #[arg(long)]
        email: String,
    },
    /// Revoke a token: from now on it answers 401
    Revoke {
        /// The token's id (from `tokens list`)
        id: String,
    },
}

/// The token's record plus its plaintext, which exists only in this output.
#[derive(Serialize)]
struct CreatedToken<'a> {
    #[serde(flatten)]
    record: &'a ApiToken,
    token: &'a str,
}

/// One line of `tokens list`: id, name, state, dates.
pub fn describe(t: &ApiToken) -> String {
    let state = match (t.revoked_at, t.expires_at) {
        (Some(at), _) => format!("revoked {}", local_time(at)),
        (None, Some(exp)) if exp <= atlas_store::now() => format!("expired {}", local_time(exp)),
        (None, Some(exp)) => format!("active, expires {}", local_time(exp)),
        (None, None) => "active, never expires".to_owned(),
    };
    format!(
        "{}  `{}`  {state}  created {}  last used {}",
        t.id,
        t.name,
        local_time(t.created_at),
        local_time_or_dash(t.last_used_at)
    )
}

pub async fn run(ctx: &Context, cmd: TokensCommand) -> Result<(), CliError> {
    match cmd {
        TokensCommand::Create { email, name, expires_in } => {
            let lifetime =
                expires_in.as_deref().map(Lifetime::parse).transpose().map_err(|e| CliError::invalid(e.message))?;
            let user = ctx.user(&email).await?;
            let (record, token) =
                ctx.store.token_create_expiring(user.id, &name, lifetime.map(Lifetime::duration), &ctx.by()).await?;
            let created = CreatedToken { record: &record, token: &token };
            let expiry =
                record.expires_at.map_or_else(|| "never expires".to_owned(), |e| format!("expires {}", local_time(e)));
            ctx.out.print(&created, || {
                format!(
                    "token {token}\n(`{}` for {}, id {}, {expiry}: shown only this once, store it now)",
                    record.name, user.email, record.id
                )
            })
        }
        TokensCommand::List { email } => {
            let user = ctx.user(&email).await?;
            let tokens = ctx.store.token_list(user.id).await?;
            ctx.out.print_list(&tokens, &format!("{} has no API tokens", user.email), describe)
        }
        TokensCommand::Revoke { id } => {
            let parsed = Uuid::parse_str(id.trim())
                .map_err(|_| CliError::invalid(format!("{} is not a token id", atlas_core::value::quoted(&id))))?;
            let token = ctx.store.token_revoke(parsed, None, &ctx.by()).await?;
            ctx.out.print(&token, || format!("token {}", describe(&token)))
        }
    }
}
