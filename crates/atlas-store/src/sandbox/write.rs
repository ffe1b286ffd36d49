//! Fenced writes and their journal (see the parent module on the fence).

use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{sandbox_display_name, text, ObjectRow, SandboxObject, OBJECT_SELECT};
use crate::row::{json, parse, uuid};
use crate::{exec, now, on_db, on_tx, Store, StoreError, StoreResult, Tx};

/// Whose write this is: the run and the lease token it must still hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxFence {
    pub run_id: Uuid,
    pub lease_token: Uuid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOp {
    Create,
    Update,
    SetAssignments,
}

impl JournalOp {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalOp::Create => "create",
            JournalOp::Update => "update",
            JournalOp::SetAssignments => "set_assignments",
        }
    }

    pub fn parse(s: &str) -> Option<JournalOp> {
        match s {
            "create" => Some(JournalOp::Create),
            "update" => Some(JournalOp::Update),
            "set_assignments" => Some(JournalOp::SetAssignments),
            _ => None,
        }
    }
}

/// One fenced write, as it was sent (the create body, the update patch, the
/// assignment set).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SandboxJournalEntry {
    pub seq: i64,
    pub tenant_id: Uuid,
    pub run_id: Uuid,
    pub lease_token: Uuid,
    pub op: JournalOp,
    pub kind: String,
    pub object_id: String,
    pub payload: Value,
    pub at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct JournalRow {
    seq: i64,
    tenant_id: String,
    run_id: String,
    lease_token: String,
    op: String,
    kind: String,
    object_id: String,
    payload: String,
    at: i64,
}

impl JournalRow {
    fn into_domain(self) -> StoreResult<SandboxJournalEntry> {
        Ok(SandboxJournalEntry {
            seq: self.seq,
            tenant_id: uuid(&self.tenant_id)?,
            run_id: uuid(&self.run_id)?,
            lease_token: uuid(&self.lease_token)?,
            op: parse(&self.op, "journal op", JournalOp::parse)?,
            kind: self.kind,
            object_id: self.object_id,
            payload: json(&self.payload)?,
            at: Timestamp(self.at),
        })
    }
}

fn lock_clause(tx: &Tx, clause: &'static str) -> &'static str {
    match tx {
        Tx::Sqlite(_) => "",
        Tx::Postgres(_) => clause,
    }
}

/// The write fence: the run is running under this lease token, and is a run of
/// this tenant (or a bulk run over several, which names no tenant).
async fn check_fence(tx: &mut Tx, tenant_id: Uuid, fence: SandboxFence, validity_ms: i64) -> StoreResult<()> {
    let sql = format!(
        "SELECT tenant_id FROM operation_runs WHERE id = $1 AND status = 'running' AND lease_token = $2{}",
        lock_clause(tx, " FOR SHARE")
    );
    let row: Option<(Option<String>,)> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(fence.run_id.to_string())
        .bind(fence.lease_token.to_string())
        .fetch_optional(c)
        .await)?;
    match row {
        Some((None,)) => {}
        Some((Some(t),)) if t == tenant_id.to_string() => {}
        _ => return Err(StoreError::Fenced),
    }
    // The gate again, inside the writing transaction and holding the facts it
    // reads: a revocation commits either before this write (and refuses it) or
    // after it — never a write after a revocation's commit.
    let run = crate::run::lock_run(tx, fence.run_id).await?;
    let now = crate::claim::db_now(tx).await?;
    let decision = crate::claim::decide(tx, &run, now, run.attempt.max(1), validity_ms, true).await?;
    if decision.allowed {
        Ok(())
    } else {
        Err(StoreError::Denied(Box::new(decision)))
    }
}

/// The object a write is about.
#[derive(Clone, Copy)]
struct Target<'a> {
    tenant_id: Uuid,
    kind: &'a str,
    object_id: &'a str,
}

async fn journal(
    tx: &mut Tx,
    t: Target<'_>,
    fence: SandboxFence,
    op: JournalOp,
    payload: &str,
    at: Timestamp,
) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query(
            "INSERT INTO sandbox_journal (tenant_id, run_id, lease_token, op, kind, object_id, payload, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(t.tenant_id.to_string())
        .bind(fence.run_id.to_string())
        .bind(fence.lease_token.to_string())
        .bind(op.as_str())
        .bind(t.kind)
        .bind(t.object_id)
        .bind(payload)
        .bind(at.0)
    )?;
    Ok(())
}

async fn object_in_tx(tx: &mut Tx, t: Target<'_>) -> StoreResult<Option<SandboxObject>> {
    let sql = format!(
        "{OBJECT_SELECT} WHERE tenant_id = $1 AND kind = $2 AND object_id = $3{}",
        lock_clause(tx, " FOR UPDATE")
    );
    let row: Option<ObjectRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(t.tenant_id.to_string())
        .bind(t.kind)
        .bind(t.object_id)
        .fetch_optional(c)
        .await)?;
    row.map(ObjectRow::into_domain).transpose()
}

impl Store {
    /// Creates an object under the fence and journals it. An existing id is a
    /// `Conflict`; a stale fence is `Fenced` and writes nothing.
    pub async fn sandbox_write_create(
        &self,
        tenant_id: Uuid,
        fence: SandboxFence,
        kind: &str,
        object_id: &str,
        payload: &Value,
    ) -> StoreResult<SandboxObject> {
        let at = now();
        let body = text(payload)?;
        let target = Target { tenant_id, kind, object_id };
        let mut tx = self.begin().await?;
        check_fence(&mut tx, tenant_id, fence, self.approval_validity_ms()).await?;
        if object_in_tx(&mut tx, target).await?.is_some() {
            return Err(StoreError::Conflict(format!("sandbox object {kind} {object_id} already exists")));
        }
        let object = SandboxObject {
            kind: kind.to_owned(),
            object_id: object_id.to_owned(),
            display_name: sandbox_display_name(payload, object_id),
            payload: payload.clone(),
            assignments: Vec::new(),
            version: 1,
            updated_at: at,
        };
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO sandbox_objects (tenant_id, kind, object_id, display_name, payload, assignments, \
                 version, updated_at) VALUES ($1, $2, $3, $4, $5, '[]', 1, $6)"
            )
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(object_id)
            .bind(&object.display_name)
            .bind(&body)
            .bind(at.0)
        )?;
        journal(&mut tx, target, fence, JournalOp::Create, &body, at).await?;
        tx.commit().await?;
        Ok(object)
    }

    /// Updates an object under the fence with PATCH semantics (the patch's
    /// top-level members replace the object's, a null removes one, others
    /// stay; `id` never changes) and journals the patch. `None` when the
    /// object is gone.
    pub async fn sandbox_write_update(
        &self,
        tenant_id: Uuid,
        fence: SandboxFence,
        kind: &str,
        object_id: &str,
        patch: &Value,
    ) -> StoreResult<Option<SandboxObject>> {
        let Value::Object(members) = patch else {
            return Err(StoreError::Invalid("an update must be a JSON object".into()));
        };
        let at = now();
        let target = Target { tenant_id, kind, object_id };
        let mut tx = self.begin().await?;
        check_fence(&mut tx, tenant_id, fence, self.approval_validity_ms()).await?;
        let Some(mut object) = object_in_tx(&mut tx, target).await? else {
            return Ok(None);
        };
        if let Value::Object(current) = &mut object.payload {
            for (k, v) in members.iter().filter(|(k, _)| k.as_str() != "id") {
                if v.is_null() {
                    current.remove(k);
                } else {
                    current.insert(k.clone(), v.clone());
                }
            }
        } else {
            object.payload = patch.clone();
        }
        object.display_name = sandbox_display_name(&object.payload, object_id);
        object.version += 1;
        object.updated_at = at;
        exec!(
            &mut tx,
            sqlx::query(
                "UPDATE sandbox_objects SET display_name = $1, payload = $2, version = $3, updated_at = $4 \
                 WHERE tenant_id = $5 AND kind = $6 AND object_id = $7"
            )
            .bind(&object.display_name)
            .bind(text(&object.payload)?)
            .bind(object.version)
            .bind(at.0)
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(object_id)
        )?;
        journal(&mut tx, target, fence, JournalOp::Update, &text(patch)?, at).await?;
        tx.commit().await?;
        Ok(Some(object))
    }

    /// Replaces an object's assignment set under the fence and journals it.
    /// `NotFound` when the object is gone.
    pub async fn sandbox_write_assignments(
        &self,
        tenant_id: Uuid,
        fence: SandboxFence,
        kind: &str,
        object_id: &str,
        assignments: &[Value],
    ) -> StoreResult<SandboxObject> {
        let at = now();
        let body = text(&assignments)?;
        let target = Target { tenant_id, kind, object_id };
        let mut tx = self.begin().await?;
        check_fence(&mut tx, tenant_id, fence, self.approval_validity_ms()).await?;
        let Some(mut object) = object_in_tx(&mut tx, target).await? else {
            return Err(StoreError::NotFound(format!("sandbox object {kind} {object_id}")));
        };
        object.assignments = assignments.to_vec();
        object.version += 1;
        object.updated_at = at;
        exec!(
            &mut tx,
            sqlx::query(
                "UPDATE sandbox_objects SET assignments = $1, version = $2, updated_at = $3 \
                 WHERE tenant_id = $4 AND kind = $5 AND object_id = $6"
            )
            .bind(&body)
            .bind(object.version)
            .bind(at.0)
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(object_id)
        )?;
        journal(&mut tx, target, fence, JournalOp::SetAssignments, &body, at).await?;
        tx.commit().await?;
        Ok(object)
    }

    /// The tenant's write journal, oldest first.
    pub async fn sandbox_journal(&self, tenant_id: Uuid) -> StoreResult<Vec<SandboxJournalEntry>> {
        let rows: Vec<JournalRow> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT seq, tenant_id, run_id, lease_token, op, kind, object_id, payload, at \
             FROM sandbox_journal WHERE tenant_id = $1 ORDER BY seq"
        )
        .bind(tenant_id.to_string())
        .fetch_all(p)
        .await)?;
        rows.into_iter().map(JournalRow::into_domain).collect()
    }
}
