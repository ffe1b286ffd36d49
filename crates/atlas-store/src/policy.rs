//! Policy versions and drift: `policies.sync` stores a new version of an object
//! only when its content hash changed, and reports what was added, changed and
//! removed since the last sync.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::results::Fence;
use crate::{exec, on_db, on_tx, Store, StoreResult};

/// One object as a sync saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyObservation {
    pub kind: String,
    pub object_id: String,
    pub display_name: String,
    pub content_hash: String,
    pub payload: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriftEntry {
    pub kind: String,
    pub object_id: String,
    pub display_name: String,
}

/// What changed since the previous sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PolicyDrift {
    pub added: Vec<DriftEntry>,
    pub changed: Vec<DriftEntry>,
    pub removed: Vec<DriftEntry>,
    pub unchanged: u64,
    pub new_versions: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyVersion {
    pub kind: String,
    pub object_id: String,
    pub version: i64,
    pub display_name: String,
    pub content_hash: String,
    pub payload: Value,
}

/// One stored version of one object, with when and by which run it was seen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObjectVersion {
    pub kind: String,
    pub object_id: String,
    pub version: i64,
    pub display_name: String,
    pub content_hash: String,
    pub run_id: Option<Uuid>,
    pub created_at: atlas_core::Timestamp,
    pub payload: Value,
}

impl Store {
    /// Records a sync's observations in one transaction and returns the drift.
    pub(crate) async fn policy_sync_record(
        &self,
        fence: Fence,
        tenant_id: Uuid,
        run_id: Uuid,
        seen: &[PolicyObservation],
    ) -> StoreResult<PolicyDrift> {
        let at = crate::now();
        let tid = tenant_id.to_string();
        let mut tx = self.begin().await?;
        fence.check(&mut tx).await?;
        let heads: Vec<(String, String, i64, String, Option<i64>)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT kind, object_id, version, content_hash, removed_at FROM policy_heads WHERE tenant_id = $1"
        )
        .bind(&tid)
        .fetch_all(c)
        .await)?;
        let heads: HashMap<(String, String), (i64, String, bool)> =
            heads.into_iter().map(|(k, o, v, h, removed)| ((k, o), (v, h, removed.is_some()))).collect();
        let names: Vec<(String, String, String)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT v.kind, v.object_id, v.display_name FROM policy_versions v JOIN policy_heads h \
             ON h.tenant_id = v.tenant_id AND h.kind = v.kind AND h.object_id = v.object_id AND h.version = v.version \
             WHERE v.tenant_id = $1"
        )
        .bind(&tid)
        .fetch_all(c)
        .await)?;
        let names: HashMap<(String, String), String> = names.into_iter().map(|(k, o, n)| ((k, o), n)).collect();
        let mut drift = PolicyDrift::default();
        let mut present = HashSet::new();
        for obs in seen {
            let key = (obs.kind.clone(), obs.object_id.clone());
            present.insert(key.clone());
            let entry = DriftEntry {
                kind: obs.kind.clone(),
                object_id: obs.object_id.clone(),
                display_name: obs.display_name.clone(),
            };
            let version = match heads.get(&key) {
                Some((_, hash, removed)) if *hash == obs.content_hash => {
                    if *removed {
                        drift.added.push(entry);
                        exec!(&mut tx, sqlx::query("UPDATE policy_heads SET removed_at = NULL WHERE tenant_id = $1 AND kind = $2 AND object_id = $3")
                            .bind(&tid)
                            .bind(&obs.kind)
                            .bind(&obs.object_id))?;
                    } else {
                        drift.unchanged += 1;
                    }
                    continue;
                }
                Some((v, _, removed)) => {
                    if *removed {
                        drift.added.push(entry);
                    } else {
                        drift.changed.push(entry);
                    }
                    v + 1
                }
                None => {
                    drift.added.push(entry);
                    1
                }
            };
            drift.new_versions += 1;
            exec!(&mut tx, sqlx::query(
                "INSERT INTO policy_versions (id, tenant_id, kind, object_id, version, display_name, content_hash, payload, run_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            )
            .bind(Uuid::now_v7().to_string())
            .bind(&tid)
            .bind(&obs.kind)
            .bind(&obs.object_id)
            .bind(version)
            .bind(&obs.display_name)
            .bind(&obs.content_hash)
            .bind(obs.payload.to_string())
            .bind(run_id.to_string())
            .bind(at.0))?;
            exec!(&mut tx, sqlx::query(
                "INSERT INTO policy_heads (tenant_id, kind, object_id, version, content_hash, removed_at) VALUES ($1, $2, $3, $4, $5, NULL) \
                 ON CONFLICT (tenant_id, kind, object_id) DO UPDATE SET version = excluded.version, \
                 content_hash = excluded.content_hash, removed_at = NULL"
            )
            .bind(&tid)
            .bind(&obs.kind)
            .bind(&obs.object_id)
            .bind(version)
            .bind(&obs.content_hash))?;
        }
        for (key, (_, _, removed)) in &heads {
            if *removed || present.contains(key) {
                continue;
            }
            drift.removed.push(DriftEntry {
                kind: key.0.clone(),
                object_id: key.1.clone(),
                display_name: names.get(key).cloned().unwrap_or_default(),
            });
            exec!(
                &mut tx,
                sqlx::query(
                    "UPDATE policy_heads SET removed_at = $1 WHERE tenant_id = $2 AND kind = $3 AND object_id = $4"
                )
                .bind(at.0)
                .bind(&tid)
                .bind(&key.0)
                .bind(&key.1)
            )?;
        }
        tx.commit().await?;
        drift.removed.sort_by(|a, b| (&a.kind, &a.object_id).cmp(&(&b.kind, &b.object_id)));
        Ok(drift)
    }

    /// Every stored version of a tenant's objects, oldest first per object.
    pub async fn policy_versions(&self, tenant_id: Uuid) -> StoreResult<Vec<PolicyVersion>> {
        let rows: Vec<(String, String, i64, String, String, String)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT kind, object_id, version, display_name, content_hash, payload FROM policy_versions \
             WHERE tenant_id = $1 ORDER BY kind, object_id, version"
        )
        .bind(tenant_id.to_string())
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|(kind, object_id, version, display_name, content_hash, payload)| {
                Ok(PolicyVersion {
                    kind,
                    object_id,
                    version,
                    display_name,
                    content_hash,
                    payload: crate::row::json(&payload)?,
                })
            })
            .collect()
    }

    /// The stored versions of one object of a tenant, oldest first (every
    /// kind with that id: ids are unique per type, and all but a few types
    /// use GUIDs).
    pub async fn object_versions(&self, tenant_id: Uuid, object_id: &str) -> StoreResult<Vec<ObjectVersion>> {
        type Row = (String, String, i64, String, String, Option<String>, i64, String);
        let rows: Vec<Row> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT kind, object_id, version, display_name, content_hash, run_id, created_at, payload \
             FROM policy_versions WHERE tenant_id = $1 AND object_id = $2 ORDER BY kind, version"
        )
        .bind(tenant_id.to_string())
        .bind(object_id)
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|(kind, object_id, version, display_name, content_hash, run_id, created_at, payload)| {
                Ok(ObjectVersion {
                    kind,
                    object_id,
                    version,
                    display_name,
                    content_hash,
                    run_id: run_id.and_then(|r| Uuid::parse_str(&r).ok()),
                    created_at: atlas_core::Timestamp(created_at),
                    payload: crate::row::json(&payload)?,
                })
            })
            .collect()
    }
}
