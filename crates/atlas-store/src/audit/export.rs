//! Reading the log back: the JSON-lines export and the filtered, newest-first
//! reader behind the console and the run viewer.

use std::io::Write;

use uuid::Uuid;

use super::{begin_read, AuditEvent, EventRow, EVENT_COLUMNS};
use crate::{on_db, on_tx, Store, StoreError, StoreResult};

/// Events read per statement while exporting.
const PAGE: i64 = 1000;

/// Which events `Store::audit_events` returns, newest first. Every set field
/// must match; `before_seq` continues a previous page (pass the last `seq`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub workspace_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    /// A user id, or `system`.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// `kind:id`, e.g. `run:…`.
    pub subject: Option<String>,
    pub before_seq: Option<i64>,
    /// Only events at or after this time.
    pub since: Option<atlas_core::Timestamp>,
    /// Only events before this time.
    pub until: Option<atlas_core::Timestamp>,
    /// At most `MAX_LIMIT`; 0 means `DEFAULT_LIMIT`.
    pub limit: u32,
}

impl AuditFilter {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 1000;
}

enum Bind {
    Int(i64),
    Text(String),
}

impl Store {
    /// Seals, then writes every event as one JSON line (`AuditEvent`), in
    /// `seq` order, from one snapshot. Returns the number written.
    pub async fn audit_export(&self, out: &mut impl Write) -> StoreResult<u64> {
        self.seal(true).await?;
        let io = |e: std::io::Error| StoreError::Invalid(format!("cannot write the audit export: {e}"));
        let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let mut tx = begin_read(self).await?;
        let (mut after, mut written) = (i64::MIN, 0_u64);
        loop {
            let page: Vec<EventRow> =
                on_tx!(&mut tx, |c| sqlx::query_as(&sql).bind(after).bind(PAGE).fetch_all(c).await)?;
            let full = i64::try_from(page.len()).is_ok_and(|n| n >= PAGE);
            for row in page {
                after = row.seq;
                let event = row.into_domain()?;
                serde_json::to_writer(&mut *out, &event).map_err(|e| io(e.into()))?;
                out.write_all(b"\n").map_err(io)?;
                written += 1;
            }
            if !full {
                break;
            }
        }
        out.flush().map_err(io)?;
        tx.commit().await?;
        Ok(written)
    }

    /// Events matching `filter`, newest first (keyset pagination by `seq`),
    /// sealed or not.
    pub async fn audit_events(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEvent>> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        let mut cond = |column: &str, op: &str, value: Bind| {
            binds.push(value);
            conds.push(format!("{column} {op} ${}", binds.len()));
        };
        if let Some(w) = filter.workspace_id {
            cond("workspace_id", "=", Bind::Text(w.to_string()));
        }
        if let Some(t) = filter.tenant_id {
            cond("tenant_id", "=", Bind::Text(t.to_string()));
        }
        if let Some(a) = filter.actor {
            cond("actor", "=", Bind::Text(a));
        }
        if let Some(a) = filter.action {
            cond("action", "=", Bind::Text(a));
        }
        if let Some(s) = filter.subject {
            cond("subject", "=", Bind::Text(s));
        }
        if let Some(before) = filter.before_seq {
            cond("seq", "<", Bind::Int(before));
        }
        if let Some(since) = filter.since {
            cond("created_at", ">=", Bind::Int(since.0));
        }
        if let Some(until) = filter.until {
            cond("created_at", "<", Bind::Int(until.0));
        }
        let limit = match filter.limit {
            0 => AuditFilter::DEFAULT_LIMIT,
            n => n.min(AuditFilter::MAX_LIMIT),
        };
        binds.push(Bind::Int(i64::from(limit)));
        let filter_sql = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
        let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_log{filter_sql} ORDER BY seq DESC LIMIT ${}", binds.len());
        let rows: Vec<EventRow> = on_db!(self.db(), |p| {
            let mut query = sqlx::query_as(&sql);
            for bind in &binds {
                query = match bind {
                    Bind::Int(i) => query.bind(*i),
                    Bind::Text(s) => query.bind(s.as_str()),
                };
            }
            query.fetch_all(p).await
        })?;
        rows.into_iter().map(EventRow::into_domain).collect()
    }
}
