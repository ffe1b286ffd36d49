//! Builders for the conformance cases, going through the Store API (never raw SQL).

use atlas_store::admin::{ChangeBy, Workspace};
use atlas_store::Store;
use uuid::Uuid;

pub async fn workspace(store: &Store) -> Workspace {
    let slug = format!("ws-{}", &Uuid::new_v4().simple().to_string()[..8]);
    store.workspace_create(&slug, "Test workspace", &ChangeBy::cli()).await.expect("workspace")
}
