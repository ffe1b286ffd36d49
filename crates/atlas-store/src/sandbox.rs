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

mod fault;
mod write;

use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::row::{json, typed};
use crate::{exec, now, on_db, Store, StoreError, StoreResult, Tx};

pub use fault::{SandboxFault, SandboxFaultKind};
pub use write::{JournalOp, SandboxFence, SandboxJournalEntry};

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

const OBJECT_SELECT: &str = "SELECT kind, object_id, display_name, payload, assignments, version, updated_at \
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

/// The name an object is shown by: Graph's `displayName`, or `name` for
/// settings-catalog policies, else its id.
pub fn sandbox_display_name(payload: &Value, object_id: &str) -> String {
    ["displayName", "name"].iter().find_map(|k| payload.get(*k).and_then(Value::as_str)).unwrap_or(object_id).to_owned()
}

fn text(v: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("cannot serialize JSON: {e}")))
}

async fn insert_seed(tx: &mut Tx, tenant_id: Uuid, seed: &SandboxSeed, at: Timestamp) -> StoreResult<()> {
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
        for table in ["sandbox_objects", "sandbox_groups", "sandbox_compliance", "sandbox_faults", "sandbox_tenants"] {
            let sql = format!("DELETE FROM {table} WHERE tenant_id = $1");
            exec!(&mut tx, sqlx::query(&sql).bind(&tid))?;
        }
        exec!(
            &mut tx,
            sqlx::query("INSERT INTO sandbox_tenants (tenant_id, seeded_at) VALUES ($1, $2)").bind(&tid).bind(at.0)
        )?;
        insert_seed(&mut tx, tenant_id, seed, at).await?;
        tx.commit().await
    }

    /// A tenant's objects of one kind, by display name.
    pub async fn sandbox_objects(&self, tenant_id: Uuid, kind: &str) -> StoreResult<Vec<SandboxObject>> {
        let sql = format!("{OBJECT_SELECT} WHERE tenant_id = $1 AND kind = $2 ORDER BY display_name, object_id");
        let rows: Vec<ObjectRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(tenant_id.to_string()).bind(kind).fetch_all(p).await)?;
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
                "SELECT kind, COUNT(*) FROM sandbox_objects WHERE tenant_id = $1 GROUP BY kind ORDER BY kind",
            )
            .bind(tenant_id.to_string())
            .fetch_all(p)
            .await
        })?)
    }

    pub async fn sandbox_groups(&self, tenant_id: Uuid) -> StoreResult<Vec<SandboxGroup>> {
        Ok(on_db!(self.db(), |p| {
            sqlx::query_as(
                "SELECT group_id, display_name FROM sandbox_groups WHERE tenant_id = $1 ORDER BY display_name",
            )
            .bind(tenant_id.to_string())
            .fetch_all(p)
            .await
        })?)
    }

    pub async fn sandbox_group_exists(&self, tenant_id: Uuid, group_id: &str) -> StoreResult<bool> {
        let row: Option<(i64,)> = on_db!(self.db(), |p| {
            sqlx::query_as(
                // Cast: PostgreSQL would type a bare 1 as INT4.
                "SELECT CAST(1 AS BIGINT) FROM sandbox_groups WHERE tenant_id = $1 AND group_id = $2",
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
    pub async fn sandbox_out_of_band_delete(&self, tenant_id: Uuid, kind: &str, object_id: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = exec!(
            &mut tx,
            sqlx::query("DELETE FROM sandbox_objects WHERE tenant_id = $1 AND kind = $2 AND object_id = $3")
                .bind(tenant_id.to_string())
                .bind(kind)
                .bind(object_id)
        )?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Deletes a group out of band: assignments to it then dangle, as in a real
    /// tenant. `false` when missing.
    pub async fn sandbox_out_of_band_group_delete(&self, tenant_id: Uuid, group_id: &str) -> StoreResult<bool> {
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
