//! The sandbox provider's persistence (SPEC §5): simulated tenants kept in the
//! product's own database — objects with their assignments, groups, compliance
//! summaries, injected faults, and a journal of every write.
//!
//! Writes are fenced like the run itself: in ONE transaction the run must be
//! `running` under the writer's lease token (PostgreSQL reads the run row
//! `FOR SHARE`, so a concurrent finish or rescue, which takes `FOR UPDATE`,
//! is ordered after the write; SQLite's `BEGIN IMMEDIATE` serializes anyway),
//! then the object is written and the journal row appended. A refused write
//! is `StoreError::Fenced` and leaves no trace. Lock order: run → sandbox rows.
//!
//! Kinds are plain strings here (`device_configuration`, …): the store does
//! not know the provider's `ObjectKind`.

use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::row::{json, parse, typed, uuid};
use crate::{exec, now, on_db, on_tx, Store, StoreError, StoreResult, Tx};

/// One object of a simulated tenant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SandboxObject {
    pub kind: String,
    pub object_id: String,
    pub display_name: String,
    pub payload: Value,
    pub assignments: Vec<Value>,
    /// 1 when created, +1 on every update or assignment change.
    pub version: i64,
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ObjectRow {
    kind: String,
    object_id: String,
    display_name: String,
    payload: String,
    assignments: String,
    version: i64,
    updated_at: i64,
}

impl ObjectRow {
    fn into_domain(self) -> StoreResult<SandboxObject> {
        Ok(SandboxObject {
            kind: self.kind,
            object_id: self.object_id,
            display_name: self.display_name,
            payload: json(&self.payload)?,
            assignments: typed(&self.assignments)?,
            version: self.version,
            updated_at: Timestamp(self.updated_at),
        })
    }
}

const OBJECT_SELECT: &str =
    "SELECT kind, object_id, display_name, payload, assignments, version, updated_at \
     FROM sandbox_objects";

/// A directory group, the target of assignments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SandboxGroup {
    pub group_id: String,
    pub display_name: String,
}

/// A compliance policy's device state counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SandboxCompliance {
    pub policy_id: String,
    pub display_name: String,
    pub compliant: i64,
    pub non_compliant: i64,
    pub error: i64,
    pub not_applicable: i64,
}

/// An object to seed.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxSeedObject {
    pub kind: String,
    pub object_id: String,
    pub payload: Value,
    pub assignments: Vec<Value>,
}

/// The initial content of a simulated tenant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SandboxSeed {
    pub objects: Vec<SandboxSeedObject>,
    pub groups: Vec<SandboxGroup>,
    pub compliance: Vec<SandboxCompliance>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxFaultKind {
    /// Slow down each call by `ms`, then answer.
    Latency,
    /// Answer 429 with `Retry-After: ms`.
    Throttle,
    /// Answer a retryable 503.
    Error,
}

impl SandboxFaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxFaultKind::Latency => "latency",
            SandboxFaultKind::Throttle => "throttle",
            SandboxFaultKind::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<SandboxFaultKind> {
        match s {
            "latency" => Some(SandboxFaultKind::Latency),
            "throttle" => Some(SandboxFaultKind::Throttle),
            "error" => Some(SandboxFaultKind::Error),
            _ => None,
        }
    }
}

/// One fault taken for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxFault {
    pub kind: SandboxFaultKind,
    pub ms: u64,
    /// Calls still to be faulted after this one.
    pub remaining: u32,
}

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

/// The name an object is shown by: Graph's `displayName`, or `name` for
/// settings-catalog policies, else its id.
pub fn sandbox_display_name(payload: &Value, object_id: &str) -> String {
    ["displayName", "name"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str))
        .unwrap_or(object_id)
        .to_owned()
}

fn text(v: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("cannot serialize JSON: {e}")))
}

fn lock_clause(tx: &Tx, clause: &'static str) -> &'static str {
    match tx {
        Tx::Sqlite(_) => "",
        Tx::Postgres(_) => clause,
    }
}

/// The write fence: the run is running under this lease token, and is a run of
/// this tenant (or a bulk run over several, which names no tenant).
async fn check_fence(tx: &mut Tx, tenant_id: Uuid, fence: SandboxFence) -> StoreResult<()> {
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
        Some((None,)) => Ok(()),
        Some((Some(t),)) if t == tenant_id.to_string() => Ok(()),
        _ => Err(StoreError::Fenced),
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

async fn insert_seed(
    tx: &mut Tx,
    tenant_id: Uuid,
    seed: &SandboxSeed,
    at: Timestamp,
) -> StoreResult<()> {
    let tid = tenant_id.to_string();
    for o in &seed.objects {
        exec!(
            tx,
            sqlx::query(
                "INSERT INTO sandbox_objects (tenant_id, kind, object_id, display_name, payload, assignments, \
                 version, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7)"
            )
            .bind(&tid)
            .bind(&o.kind)
            .bind(&o.object_id)
            .bind(sandbox_display_name(&o.payload, &o.object_id))
            .bind(text(&o.payload)?)
            .bind(text(&o.assignments)?)
            .bind(at.0)
        )?;
    }
    for g in &seed.groups {
        exec!(
            tx,
            sqlx::query("INSERT INTO sandbox_groups (tenant_id, group_id, display_name) VALUES ($1, $2, $3)")
                .bind(&tid)
                .bind(&g.group_id)
                .bind(&g.display_name)
        )?;
    }
    for c in &seed.compliance {
        exec!(
            tx,
            sqlx::query(
                "INSERT INTO sandbox_compliance (tenant_id, policy_id, display_name, compliant, non_compliant, \
                 error, not_applicable) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            )
            .bind(&tid)
            .bind(&c.policy_id)
            .bind(&c.display_name)
            .bind(c.compliant)
            .bind(c.non_compliant)
            .bind(c.error)
            .bind(c.not_applicable)
        )?;
    }
    Ok(())
}

impl Store {
    /// Seeds a tenant once: returns `false` (writing nothing) when it was
    /// seeded before, whatever happened to its objects since.
    pub async fn sandbox_seed(&self, tenant_id: Uuid, seed: &SandboxSeed) -> StoreResult<bool> {
        let at = now();
        let mut tx = self.begin().await?;
        // The marker row decides, so two concurrent seeds cannot both insert.
        let fresh = exec!(
            &mut tx,
            sqlx::query("INSERT INTO sandbox_tenants (tenant_id, seeded_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(tenant_id.to_string())
                .bind(at.0)
        )?;
        if fresh == 1 {
            insert_seed(&mut tx, tenant_id, seed, at).await?;
        }
        tx.commit().await?;
        Ok(fresh == 1)
    }

    /// Replaces a tenant's objects, groups, compliance and faults with `seed`.
    /// The journal is kept: it is the record of what runs wrote.
    pub async fn sandbox_reset(&self, tenant_id: Uuid, seed: &SandboxSeed) -> StoreResult<()> {
        let at = now();
        let tid = tenant_id.to_string();
        let mut tx = self.begin().await?;
        for table in [
            "sandbox_objects",
            "sandbox_groups",
            "sandbox_compliance",
            "sandbox_faults",
            "sandbox_tenants",
        ] {
            let sql = format!("DELETE FROM {table} WHERE tenant_id = $1");
            exec!(&mut tx, sqlx::query(&sql).bind(&tid))?;
        }
        exec!(
            &mut tx,
            sqlx::query("INSERT INTO sandbox_tenants (tenant_id, seeded_at) VALUES ($1, $2)")
                .bind(&tid)
                .bind(at.0)
        )?;
        insert_seed(&mut tx, tenant_id, seed, at).await?;
        tx.commit().await
    }

    /// A tenant's objects of one kind, by display name.
    pub async fn sandbox_objects(
        &self,
        tenant_id: Uuid,
        kind: &str,
    ) -> StoreResult<Vec<SandboxObject>> {
        let sql = format!(
            "{OBJECT_SELECT} WHERE tenant_id = $1 AND kind = $2 ORDER BY display_name, object_id"
        );
        let rows: Vec<ObjectRow> = on_db!(self.db(), |p| sqlx::query_as(&sql)
            .bind(tenant_id.to_string())
            .bind(kind)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(ObjectRow::into_domain).collect()
    }

    pub async fn sandbox_object(
        &self,
        tenant_id: Uuid,
        kind: &str,
        object_id: &str,
    ) -> StoreResult<Option<SandboxObject>> {
        let sql = format!("{OBJECT_SELECT} WHERE tenant_id = $1 AND kind = $2 AND object_id = $3");
        let row: Option<ObjectRow> = on_db!(self.db(), |p| sqlx::query_as(&sql)
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(object_id)
            .fetch_optional(p)
            .await)?;
        row.map(ObjectRow::into_domain).transpose()
    }

    /// How many objects the tenant has per kind (kinds with none are absent).
    pub async fn sandbox_counts(&self, tenant_id: Uuid) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT kind, COUNT(*) FROM sandbox_objects WHERE tenant_id = $1 GROUP BY kind ORDER BY kind"
        )
        .bind(tenant_id.to_string())
        .fetch_all(p)
        .await
        })?)
    }

    pub async fn sandbox_groups(&self, tenant_id: Uuid) -> StoreResult<Vec<SandboxGroup>> {
        Ok(on_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT group_id, display_name FROM sandbox_groups WHERE tenant_id = $1 ORDER BY display_name"
        )
        .bind(tenant_id.to_string())
        .fetch_all(p)
        .await
        })?)
    }

    pub async fn sandbox_group_exists(&self, tenant_id: Uuid, group_id: &str) -> StoreResult<bool> {
        let row: Option<(i64,)> =
            on_db!(self.db(), |p| {
                sqlx::query_as(
            // Cast: PostgreSQL would type a bare 1 as INT4.
            "SELECT CAST(1 AS BIGINT) FROM sandbox_groups WHERE tenant_id = $1 AND group_id = $2"
        )
        .bind(tenant_id.to_string())
        .bind(group_id)
        .fetch_optional(p)
        .await
            })?;
        Ok(row.is_some())
    }

    pub async fn sandbox_compliance(&self, tenant_id: Uuid) -> StoreResult<Vec<SandboxCompliance>> {
        Ok(on_db!(self.db(), |p| sqlx::query_as(
            "SELECT policy_id, display_name, compliant, non_compliant, error, not_applicable \
             FROM sandbox_compliance WHERE tenant_id = $1 ORDER BY display_name, policy_id"
        )
        .bind(tenant_id.to_string())
        .fetch_all(p)
        .await)?)
    }

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
        let target = Target {
            tenant_id,
            kind,
            object_id,
        };
        let mut tx = self.begin().await?;
        check_fence(&mut tx, tenant_id, fence).await?;
        if object_in_tx(&mut tx, target).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "sandbox object {kind} {object_id} already exists"
            )));
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
    /// top-level members replace the object's; others stay; `id` never
    /// changes) and journals the patch. `None` when the object is gone.
    pub async fn sandbox_write_update(
        &self,
        tenant_id: Uuid,
        fence: SandboxFence,
        kind: &str,
        object_id: &str,
        patch: &Value,
    ) -> StoreResult<Option<SandboxObject>> {
        let Value::Object(members) = patch else {
            return Err(StoreError::Invalid(
                "an update must be a JSON object".into(),
            ));
        };
        let at = now();
        let target = Target {
            tenant_id,
            kind,
            object_id,
        };
        let mut tx = self.begin().await?;
        check_fence(&mut tx, tenant_id, fence).await?;
        let Some(mut object) = object_in_tx(&mut tx, target).await? else {
            return Ok(None);
        };
        if let Value::Object(current) = &mut object.payload {
            for (k, v) in members.iter().filter(|(k, _)| k.as_str() != "id") {
                current.insert(k.clone(), v.clone());
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
        let target = Target {
            tenant_id,
            kind,
            object_id,
        };
        let mut tx = self.begin().await?;
        check_fence(&mut tx, tenant_id, fence).await?;
        let Some(mut object) = object_in_tx(&mut tx, target).await? else {
            return Err(StoreError::NotFound(format!(
                "sandbox object {kind} {object_id}"
            )));
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

    /// Makes the tenant's next `calls` provider calls slow, throttled or failing
    /// (replacing any earlier fault; `calls = 0` clears it).
    pub async fn sandbox_fault_set(
        &self,
        tenant_id: Uuid,
        kind: SandboxFaultKind,
        calls: u32,
        ms: u64,
    ) -> StoreResult<()> {
        let ms =
            i64::try_from(ms).map_err(|_| StoreError::Invalid(format!("{ms} ms is too long")))?;
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO sandbox_faults (tenant_id, kind, remaining, ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id) DO UPDATE SET kind = excluded.kind, remaining = excluded.remaining, \
                 ms = excluded.ms"
            )
            .bind(tenant_id.to_string())
            .bind(kind.as_str())
            .bind(i64::from(calls))
            .bind(ms)
        )?;
        tx.commit().await
    }

    /// Takes one call's fault, if any is left: exactly `calls` callers get one,
    /// however many race.
    pub async fn sandbox_fault_take(&self, tenant_id: Uuid) -> StoreResult<Option<SandboxFault>> {
        let tid = tenant_id.to_string();
        // Every provider call asks, and almost always there is no fault: a plain
        // read keeps that path off SQLite's writer lock.
        let pending: Option<(i64,)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT remaining FROM sandbox_faults WHERE tenant_id = $1 AND remaining > 0"
        )
        .bind(&tid)
        .fetch_optional(p)
        .await)?;
        if pending.is_none() {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        // The guard `remaining > 0` makes the decrement the arbiter between racers.
        let row: Option<(String, i64, i64)> = on_tx!(&mut tx, |c| {
            sqlx::query_as(
            "UPDATE sandbox_faults SET remaining = remaining - 1 WHERE tenant_id = $1 AND remaining > 0 \
             RETURNING kind, ms, remaining"
        )
        .bind(&tid)
        .fetch_optional(c)
        .await
        })?;
        tx.commit().await?;
        row.map(|(kind, ms, remaining)| {
            Ok(SandboxFault {
                kind: parse(&kind, "sandbox fault kind", SandboxFaultKind::parse)?,
                ms: u64::try_from(ms).unwrap_or(0),
                remaining: u32::try_from(remaining).unwrap_or(0),
            })
        })
        .transpose()
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

    /// Replaces an object's payload as an administrator editing the tenant in
    /// its own portal would: no run, no fence, no journal. `false` when missing.
    pub async fn sandbox_out_of_band_update(
        &self,
        tenant_id: Uuid,
        kind: &str,
        object_id: &str,
        payload: &Value,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = exec!(
            &mut tx,
            sqlx::query(
                "UPDATE sandbox_objects SET display_name = $1, payload = $2, version = version + 1, updated_at = $3 \
                 WHERE tenant_id = $4 AND kind = $5 AND object_id = $6"
            )
            .bind(sandbox_display_name(payload, object_id))
            .bind(text(payload)?)
            .bind(now().0)
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(object_id)
        )?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Deletes an object out of band (see `sandbox_out_of_band_update`).
    pub async fn sandbox_out_of_band_delete(
        &self,
        tenant_id: Uuid,
        kind: &str,
        object_id: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = exec!(
            &mut tx,
            sqlx::query(
                "DELETE FROM sandbox_objects WHERE tenant_id = $1 AND kind = $2 AND object_id = $3"
            )
            .bind(tenant_id.to_string())
            .bind(kind)
            .bind(object_id)
        )?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Deletes a group out of band: assignments to it then dangle, as in a real
    /// tenant. `false` when missing.
    pub async fn sandbox_out_of_band_group_delete(
        &self,
        tenant_id: Uuid,
        group_id: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = exec!(
            &mut tx,
            sqlx::query("DELETE FROM sandbox_groups WHERE tenant_id = $1 AND group_id = $2")
                .bind(tenant_id.to_string())
                .bind(group_id)
        )?;
        tx.commit().await?;
        Ok(n == 1)
    }
}
