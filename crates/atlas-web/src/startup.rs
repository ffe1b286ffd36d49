//! Binding and serving (zero2prod's `Application`): `build` binds (port 0
//! picks a free port), `run_until_stopped` serves until the process is asked
//! to stop (Ctrl-C or SIGTERM) and then drains in-flight requests.

use std::net::SocketAddr;

use atlas_engine::EngineConfig;
use atlas_store::Store;
use tokio::net::TcpListener;

use crate::config::WebConfig;
use crate::routes::router;
use crate::state::AppState;

pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
}

impl Application {
    /// Binds `config.bind`; the store must already be migrated.
    pub async fn build(config: WebConfig, store: Store, engine: EngineConfig) -> std::io::Result<Application> {
        let listener = TcpListener::bind(config.bind).await?;
        let address = listener.local_addr()?;
        Ok(Application { listener, address, state: AppState::new(store, engine, config) })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` resolves (tests, and callers with their own signal handling).
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_sessions(self.state.store.clone()));
        let live = self.state.live.clone();
        let stop = async move {
            stop.await;
            // Open event streams would keep the graceful shutdown waiting.
            live.shut_down();
        };
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app).with_graceful_shutdown(stop).await;
        purge.abort();
        served
    }
}

/// Removes expired sessions every hour.
async fn purge_sessions(store: Store) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(e) = store.sessions_purge_expired().await {
            tracing::warn!(error = %e, "purging expired sessions failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
