//! `atlas notifications list|read --as E`: a person's notifications, as the
//! console's bell shows them; another person's are not found.

use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

use crate::context::Context;
use crate::error::CliError;
use crate::output::local_time;

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// A person's notifications, newest first
    List {
        /// Whose (email)
        #[arg(long = "as")]
        as_user: String,
        /// Only those not yet read
        #[arg(long)]
        unread: bool,
        /// At most this many (1–500)
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Mark one of a person's notifications read
    Read {
        /// The notification's id
        id: String,
        /// Whose (email)
        #[arg(long = "as")]
        as_user: String,
    },
}

pub async fn run(ctx: &Context, cmd: NotificationsCommand) -> Result<(), CliError> {
    match cmd {
        NotificationsCommand::List { as_user, unread, limit } => {
            if !(1..=500).contains(&limit) {
                return Err(CliError::invalid(format!("--limit {limit} is not between 1 and 500")));
            }
            let user = ctx.user(&as_user).await?;
            let list = ctx.store.notifications_list(user.id, unread, limit).await?;
            let empty = if unread { "no unread notifications" } else { "no notifications" };
            ctx.out.print_list(&list, empty, |n| {
                let state = if n.read { "read  " } else { "unread" };
                format!("{}  {state}  {}  {} — {}  (run {})", n.id, local_time(n.created_at), n.title, n.body, n.run_id)
            })
        }
        NotificationsCommand::Read { id, as_user } => {
            let user = ctx.user(&as_user).await?;
            let parsed = Uuid::parse_str(id.trim()).map_err(|_| {
                CliError::invalid(format!("{} is not a notification id", atlas_core::value::quoted(&id)))
            })?;
            if !ctx.store.notification_mark_read(user.id, parsed).await? {
                return Err(
                    atlas_store::StoreError::NotFound(format!("notification {parsed} of {}", user.email)).into()
                );
            }
            ctx.out.print(&json!({"id": parsed, "read": true}), || format!("notification {parsed} marked read"))
        }
    }
}
