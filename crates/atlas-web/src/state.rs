//! The state every handler shares.

use std::sync::Arc;

use atlas_core::OperationType;
use atlas_engine::EngineConfig;
use atlas_store::Store;

use crate::config::WebConfig;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engine: Arc<EngineConfig>,
    pub config: Arc<WebConfig>,
    /// Whether this build can execute bulk runs (a registered handler).
    pub bulk_supported: bool,
}

impl AppState {
    pub fn new(store: Store, engine: EngineConfig, config: WebConfig) -> AppState {
        let bulk_supported = atlas_engine::families::registry().get(OperationType::BulkOperation).is_some();
        AppState { store, engine: Arc::new(engine), config: Arc::new(config), bulk_supported }
    }
}
