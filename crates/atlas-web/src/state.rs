//! The state every handler shares.

use std::sync::Arc;

use atlas_core::OperationType;
use atlas_engine::EngineConfig;
use atlas_store::Store;

use crate::config::WebConfig;
use crate::live::LiveHub;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engine: Arc<EngineConfig>,
    pub config: Arc<WebConfig>,
    /// Whether this build can execute bulk runs (a registered handler).
    pub bulk_supported: bool,
    /// The live channel's per-workspace topics.
    pub live: Arc<LiveHub>,
}

impl AppState {
    pub fn new(store: Store, engine: EngineConfig, config: WebConfig) -> AppState {
        let bulk_supported = atlas_engine::families::registry().get(OperationType::BulkOperation).is_some();
        let live = Arc::new(LiveHub::new(store.clone(), config.live_tick));
        AppState { store, engine: Arc::new(engine), config: Arc::new(config), bulk_supported, live }
    }
}
