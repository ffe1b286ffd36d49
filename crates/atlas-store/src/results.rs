//! A running run's results handle: everything an operation family may read
//! and write while its run holds the lease, and nothing else — no run state,
//! no authorization, no notifications, no other tenant.
//!
//! Every write carries the run's lease token and checks it in the writing
//! transaction itself (`lease::ensure_held`: the run still `running` under
//! that token, share-locked on PostgreSQL until the write commits). A worker
//! whose lease was lost — the run rescued, cancelled or finished — is refused
//! with `StoreError::Fenced` and writes nothing.

use atlas_core::audit::Actor;
use atlas_core::gate::Decision;
use atlas_core::item::ItemOutcome;
use atlas_core::run::Run;
use atlas_core::tenant::ConnectionStatus;
use atlas_core::SummaryCounts;
use serde_json::Value;
use uuid::Uuid;

use crate::admin::ProviderConnection;
use crate::backup::{BackupItem, BackupSet, BackupWritten, NewBackupItem};
use crate::compliance::ComplianceSnapshot;
use crate::drift::DriftResult;
use crate::inventory::{InventoryDelta, InventoryEntry};
use crate::lease::ensure_held;
use crate::policy::{PolicyDrift, PolicyObservation};
use crate::run_item::{ItemResult, RunItem};
use crate::{Store, StoreError, StoreResult, Tx};

/// The run whose lease fences a write, and the token it must still hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fence {
    pub run_id: Uuid,
    pub lease_token: Uuid,
}

impl Fence {
    /// Fails with `Fenced` unless the lease is still held, inside `tx`.
    pub(crate) async fn check(&self, tx: &mut Tx) -> StoreResult<()> {
        ensure_held(tx, self.run_id, self.lease_token).await
    }
}

/// The results handle of one running run (or of one item of a bulk run,
/// fenced by the bulk run's lease).
#[derive(Clone, Debug)]
pub struct RunResults {
    store: Store,
    fence: Fence,
    /// The run the results belong to: the fenced run, or a bulk item's own run.
    run_id: Uuid,
    workspace_id: Uuid,
    tenant_id: Option<Uuid>,
}

impl Store {
    /// The results handle of `run`, claimed under `lease_token`.
    pub fn run_results(&self, run: &Run, lease_token: Uuid) -> RunResults {
        RunResults {
            store: self.clone(),
            fence: Fence { run_id: run.id, lease_token },
            run_id: run.id,
            workspace_id: run.workspace_id,
            tenant_id: run.tenant_id,
        }
    }
}

impl RunResults {
    /// The handle of a bulk item's run: its own tenant, under this run's lease.
    pub fn for_item(&self, item: &Run) -> StoreResult<RunResults> {
        if item.workspace_id != self.workspace_id {
            return Err(StoreError::Invalid("a bulk item belongs to its bulk run's workspace".into()));
        }
        Ok(RunResults { run_id: item.id, tenant_id: item.tenant_id, ..self.clone() })
    }

    fn tenant(&self) -> StoreResult<Uuid> {
        self.tenant_id.ok_or_else(|| StoreError::Invalid("this run has no tenant of its own".into()))
    }

    /// Whether the handle is a bulk item's (its results are the item's, its
    /// progress the bulk run's).
    fn is_item(&self) -> bool {
        self.run_id != self.fence.run_id
    }

    // Run items ----------------------------------------------------------

    /// Creates the run's items that do not exist yet (by key) and returns all of them.
    pub async fn items_ensure(&self, items: &[(String, Value)]) -> StoreResult<Vec<RunItem>> {
        self.store.run_items_ensure(self.fence, items).await
    }

    /// Completes one item. An item completes once.
    pub async fn item_finish(&self, key: &str, result: &ItemResult) -> StoreResult<()> {
        self.store.run_item_finish(self.fence, key, result).await
    }

    /// Puts failed items back to `pending` for this attempt to run again.
    pub async fn items_reopen(&self, keys: &[String]) -> StoreResult<u64> {
        self.store.run_items_reopen(self.fence, keys).await
    }

    /// The run's items as they stand.
    pub async fn items(&self) -> StoreResult<Vec<RunItem>> {
        self.store.run_items(self.fence.run_id).await
    }

    /// Ends every still-pending item with `outcome` (a run stopping between
    /// items: blocked or cancelled); returns how many.
    pub async fn items_close_pending(&self, outcome: ItemOutcome, reason_code: Option<&str>) -> StoreResult<u64> {
        self.store.run_items_close_pending(self.fence, outcome, reason_code).await
    }

    // The tenant's results -----------------------------------------------

    /// Replaces the tenant's inventory with what this run saw.
    pub async fn inventory_replace(&self, seen: &[InventoryEntry]) -> StoreResult<InventoryDelta> {
        self.store.inventory_replace(self.fence, self.tenant()?, self.run_id, seen).await
    }

    /// Records this run's policy observations; returns the drift.
    pub async fn policy_sync_record(&self, seen: &[PolicyObservation]) -> StoreResult<PolicyDrift> {
        self.store.policy_sync_record(self.fence, self.tenant()?, self.run_id, seen).await
    }

    /// Records a compliance snapshot of the tenant.
    pub async fn compliance_snapshot_record(&self, policies: &Value) -> StoreResult<ComplianceSnapshot> {
        self.store.compliance_snapshot_record(self.fence, self.tenant()?, self.run_id, policies).await
    }

    /// Writes a backup set of the tenant, made by the fenced run.
    pub async fn backup_create(&self, items: &[NewBackupItem]) -> StoreResult<BackupWritten> {
        self.store.backup_create(self.fence, self.workspace_id, self.tenant()?, items).await
    }

    /// A backup set's items with their payloads (what a restore reads).
    pub async fn backup_items(&self, backup_set_id: Uuid) -> StoreResult<Vec<BackupItem>> {
        self.store.backup_items(backup_set_id).await
    }

    /// The tenant's newest backup set, if it has one (what a drift check compares with).
    pub async fn backup_newest(&self) -> StoreResult<Option<BackupSet>> {
        Ok(self.store.backup_sets_for_tenant(self.tenant()?, 1).await?.into_iter().next())
    }

    /// Keeps a drift check's result: the diff from `backup_set` to the live tenant.
    pub async fn drift_record(&self, backup_set: &BackupSet, diff: &Value) -> StoreResult<DriftResult> {
        if backup_set.tenant_id != self.tenant()? {
            return Err(StoreError::Invalid("a drift check compares its own tenant's backup set".into()));
        }
        self.store.drift_record(self.fence, self.workspace_id, self.tenant()?, self.run_id, backup_set, diff).await
    }

    /// The object a restore re-created in place of a backed-up one that was gone.
    pub async fn restore_map_get(&self, kind: &str, source_object_id: &str) -> StoreResult<Option<String>> {
        self.store.restore_map_get(self.tenant()?, kind, source_object_id).await
    }

    /// Remembers that the backed-up `source_object_id` now lives as `target_object_id`.
    pub async fn restore_map_put(&self, kind: &str, source_object_id: &str, target_object_id: &str) -> StoreResult<()> {
        self.store.restore_map_put(self.fence, self.tenant()?, kind, source_object_id, target_object_id).await
    }

    /// Announces a restore's create of `source_object_id` before it is sent.
    pub async fn restore_intent_put(&self, kind: &str, source_object_id: &str) -> StoreResult<()> {
        self.store.restore_intent_put(self.fence, self.tenant()?, kind, source_object_id).await
    }

    /// Whether an announced create of `source_object_id` was never recorded.
    pub async fn restore_intent_pending(&self, kind: &str, source_object_id: &str) -> StoreResult<bool> {
        self.store.restore_intent_pending(self.tenant()?, kind, source_object_id).await
    }

    /// The objects of `kind` that restores already re-created or matched.
    pub async fn restore_map_targets(&self, kind: &str) -> StoreResult<Vec<String>> {
        self.store.restore_map_targets(self.tenant()?, kind).await
    }

    /// Records a connection check's result on the tenant's connection; a
    /// passing check may promote it (audited as the system's change).
    pub async fn connection_record_health(
        &self,
        health: Value,
        promote: Option<ConnectionStatus>,
    ) -> StoreResult<ProviderConnection> {
        self.store.connection_record_health(self.fence, self.tenant()?, health, promote).await
    }

    // The run's own signals ----------------------------------------------

    /// Publishes progress counts while running. A bulk item reports nothing
    /// itself: its bulk run counts it.
    pub async fn progress(&self, counts: &SummaryCounts) -> StoreResult<()> {
        if self.is_item() {
            return Ok(());
        }
        self.store.run_progress(self.fence.run_id, self.fence.lease_token, counts).await
    }

    /// Who asked the fenced run to stop, if anyone (checked between items).
    pub async fn cancel_requested(&self) -> StoreResult<Option<Actor>> {
        self.store.run_cancel_requested(self.fence.run_id).await
    }

    /// The gate's decision for `run` (this run, or a bulk item's) against the
    /// facts now: the between-items check of SPEC §3.6. Reading a decision
    /// grants nothing; only the claim starts a run.
    pub async fn decide_now(&self, run: &Run) -> StoreResult<Decision> {
        self.store.run_decide(run, run.attempt).await
    }
}
