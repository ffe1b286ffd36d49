//! Notifications: exactly one `operation_run_completed` per (user, run, kind),
//! written in the transaction that completes the run — for blocked runs too.
//! System runs have no initiator and notify nobody.

use std::collections::{HashMap, HashSet};

use atlas_core::run::{Run, RunOutcome};
use atlas_core::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::multirow::{execute, fetch, int, text, Kind, Rows};
use crate::row::{parse, uuid};
use crate::{exec, on_db, Store, StoreResult, Tx};

pub const RUN_COMPLETED: &str = "operation_run_completed";
/// To each eligible approver of a run awaiting approval (SPEC §10.2).
pub const APPROVAL_REQUESTED: &str = "approval_requested";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub run_id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub outcome: RunOutcome,
    pub read: bool,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    user_id: String,
    workspace_id: String,
    run_id: String,
    kind: String,
    title: String,
    body: String,
    outcome: String,
    read_at: Option<i64>,
    created_at: i64,
}

impl NotificationRow {
    fn into_domain(self) -> StoreResult<Notification> {
        Ok(Notification {
            id: uuid(&self.id)?,
            user_id: uuid(&self.user_id)?,
            workspace_id: uuid(&self.workspace_id)?,
            run_id: uuid(&self.run_id)?,
            kind: self.kind,
            title: self.title,
            body: self.body,
            outcome: parse(&self.outcome, "outcome", RunOutcome::parse)?,
            read: self.read_at.is_some(),
            created_at: Timestamp(self.created_at),
        })
    }
}

const NOTIFICATION_COLUMNS: &str = "id, user_id, workspace_id, run_id, kind, title, body, outcome, read_at, created_at";

/// "Restore on Contoso North was blocked" and the one sentence that says why
/// (worded once, in `atlas_core::announce`).
pub(crate) fn message(run: &Run, tenant_name: Option<&str>) -> (String, String) {
    atlas_core::announce::completion(run, tenant_name)
}

const NOTIFICATION_COLS: &[(&str, Kind)] = &[
    ("id", Kind::Text),
    ("user_id", Kind::Text),
    ("workspace_id", Kind::Text),
    ("run_id", Kind::Text),
    ("kind", Kind::Text),
    ("title", Kind::Text),
    ("body", Kind::Text),
    ("outcome", Kind::Text),
    ("created_at", Kind::Int),
];

/// Who is told what about a run.
pub(crate) enum Notice<'a> {
    /// The initiator, of the run's completion.
    Completed(&'a Run),
    /// These approvers, that the run awaits their approval.
    ApprovalRequested(&'a Run, &'a [Uuid]),
}

impl Notice<'_> {
    fn run(&self) -> &Run {
        match self {
            Notice::Completed(r) | Notice::ApprovalRequested(r, _) => r,
        }
    }
}

/// The initiators' notifications of completed runs (one run is a batch of
/// one): one read of their tenants' names, one insert (at most one per user,
/// run and kind).
pub(crate) async fn notify_many(tx: &mut Tx, runs: &[&Run], at: Timestamp) -> StoreResult<()> {
    let notices: Vec<Notice> = runs.iter().map(|r| Notice::Completed(r)).collect();
    notify(tx, &notices, at).await
}

/// The one notification writer: every notice's recipients, worded by
/// `atlas_core::announce`, in one insert (at most one per user, run and kind).
pub(crate) async fn notify(tx: &mut Tx, notices: &[Notice<'_>], at: Timestamp) -> StoreResult<()> {
    let notices: Vec<&Notice> = notices
        .iter()
        .filter(|n| match n {
            Notice::Completed(r) => r.initiator_user_id.is_some(),
            Notice::ApprovalRequested(_, users) => !users.is_empty(),
        })
        .collect();
    if notices.is_empty() {
        return Ok(());
    }
    let runs: Vec<&Run> = notices.iter().map(|n| n.run()).collect();
    let mut keys = Rows::new(&[("id", Kind::Text)]);
    for t in runs.iter().filter_map(|r| r.tenant_id).collect::<HashSet<_>>() {
        keys.push([text(t.to_string())]);
    }
    let names: HashMap<String, String> = if keys.is_empty() {
        HashMap::new()
    } else {
        let found: Vec<(String, String)> =
            fetch(tx, keys, "SELECT id, name FROM tenants WHERE id IN (SELECT id FROM v)").await?;
        found.into_iter().collect()
    };
    let mut rows = Rows::new(NOTIFICATION_COLS);
    for notice in notices {
        let run = notice.run();
        let tenant_name = run.tenant_id.and_then(|t| names.get(&t.to_string())).map(String::as_str);
        let (kind, users, (title, body)): (&str, Vec<Uuid>, _) = match notice {
            Notice::Completed(run) => {
                (RUN_COMPLETED, run.initiator_user_id.into_iter().collect(), message(run, tenant_name))
            }
            Notice::ApprovalRequested(run, users) => {
                (APPROVAL_REQUESTED, users.to_vec(), atlas_core::announce::approval_requested(run, tenant_name))
            }
        };
        for user_id in users {
            rows.push([
                text(Uuid::now_v7().to_string()),
                text(user_id.to_string()),
                text(run.workspace_id.to_string()),
                text(run.id.to_string()),
                text(kind),
                text(title.clone()),
                text(body.clone()),
                text(run.outcome.as_str()),
                int(at.0),
            ]);
        }
    }
    let body = "INSERT INTO notifications (id, user_id, workspace_id, run_id, kind, title, body, outcome, created_at) \
                SELECT id, user_id, workspace_id, run_id, kind, title, body, outcome, created_at FROM v WHERE true \
                ON CONFLICT (user_id, run_id, kind) DO NOTHING";
    execute(tx, rows, body).await?;
    Ok(())
}

impl Store {
    /// A user's notifications, newest first.
    pub async fn notifications_for(&self, user_id: Uuid, limit: u32) -> StoreResult<Vec<Notification>> {
        self.notifications_list(user_id, false, limit).await
    }

    /// A user's notifications, newest first; only the unread ones when `unread_only`.
    pub async fn notifications_list(
        &self,
        user_id: Uuid,
        unread_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        let unread = if unread_only { " AND read_at IS NULL" } else { "" };
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1{unread} ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<NotificationRow> = on_db!(self.db(), |p| sqlx::query_as(&sql)
            .bind(user_id.to_string())
            .bind(i64::from(limit.clamp(1, 500)))
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(NotificationRow::into_domain).collect()
    }

    pub async fn notifications_for_run(&self, run_id: Uuid) -> StoreResult<Vec<Notification>> {
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE run_id = $1 ORDER BY id");
        let rows: Vec<NotificationRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(run_id.to_string()).fetch_all(p).await)?;
        rows.into_iter().map(NotificationRow::into_domain).collect()
    }

    pub async fn notifications_unread_count(&self, user_id: Uuid) -> StoreResult<i64> {
        let (n,): (i64,) = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL"
        )
        .bind(user_id.to_string())
        .fetch_one(p)
        .await)?;
        Ok(n)
    }

    /// Marks one of the user's notifications read; `false` when it is not theirs.
    pub async fn notification_mark_read(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = exec!(
            &mut tx,
            sqlx::query("UPDATE notifications SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND user_id = $3")
                .bind(crate::now().0)
                .bind(id.to_string())
                .bind(user_id.to_string())
        )?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Marks the user's notification about a run read (opening the run does this).
    pub async fn notification_mark_run_read(&self, user_id: Uuid, run_id: Uuid) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query("UPDATE notifications SET read_at = $1 WHERE run_id = $2 AND user_id = $3 AND read_at IS NULL")
                .bind(crate::now().0)
                .bind(run_id.to_string())
                .bind(user_id.to_string())
        )?;
        tx.commit().await?;
        Ok(())
    }
}
