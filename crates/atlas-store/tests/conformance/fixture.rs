//! Builders for the conformance cases, going through the Store API (never raw SQL).

use atlas_store::admin::{ChangeBy, Workspace};
use atlas_store::Store;
use uuid::Uuid;

pub async fn workspace(store: &Store) -> Workspace {
    let slug = format!("ws-{}", &Uuid::new_v4().simple().to_string()[..8]);
    store.workspace_create(&slug, "Test workspace", &ChangeBy::cli()).await.expect("workspace")
}

/// A run of `op` on `tenant`, started by a new owner of its workspace and
/// claimed: the run as running, and its lease token.
pub async fn claimed(
    store: &Store,
    tenant: &atlas_store::admin::Tenant,
    op: atlas_core::OperationType,
    params: serde_json::Value,
) -> (atlas_core::Run, Uuid) {
    use atlas_core::capability::BuiltinRole;
    use atlas_core::gate::Authority;
    use atlas_core::run::{NewRun, Run};
    use atlas_core::tenant::TenantScope;
    use atlas_store::admin::RoleRef;
    use atlas_store::claim::{ClaimParams, Claimed};

    let by = ChangeBy::cli();
    let email = format!("owner-{}@example.com", &Uuid::new_v4().simple().to_string()[..8]);
    let user = store.user_create(&email, "Olivia Owner", None, &by).await.expect("user");
    let owner = RoleRef::Builtin(BuiltinRole::Owner);
    store.member_grant(tenant.workspace_id, user.id, &owner, &TenantScope::All, &by).await.expect("member");
    let new = NewRun {
        op_type: op,
        workspace_id: tenant.workspace_id,
        tenant_id: Some(tenant.id),
        authority: Authority::Actor { user_id: user.id },
        params,
        retry_of_run_id: None,
        max_attempts: 3,
    };
    let (run, audit) = Run::queued(new, Uuid::now_v7(), atlas_store::now());
    store.run_insert(&run, &audit).await.expect("insert");
    let params = ClaimParams { worker: "fixture".into(), lease_ms: 30_000, batch: 1, backoff_base_ms: 10 };
    let claimed = store.run_claim_and_authorize(&params).await.expect("claim");
    let [Claimed::Started(started)] = claimed.as_slice() else { panic!("the run starts: {claimed:?}") };
    let token = started.lease.as_ref().expect("a lease").token;
    (started.clone(), token)
}
