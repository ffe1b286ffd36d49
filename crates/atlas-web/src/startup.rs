//! Binding and serving (zero2prod's `Application`): `build` binds (port 0
//! picks a free port), `run_until_stopped` serves until the process is asked
//! to stop (Ctrl-C or SIGTERM) and then drains in-flight requests.
//!
//! Connections are served by hyper's own server (the one `axum::serve` wraps),
//! configured with what `axum::serve` does not expose: a header-read timeout,
//! so that a client sending half its headers cannot hold a connection open.
//! An optional second listener serves `/metrics` alone (`metrics_bind`).

use std::net::SocketAddr;
use std::time::Duration;

use atlas_engine::EngineConfig;
use atlas_store::Store;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::config::WebConfig;
use crate::routes::{metrics_router, router};
use crate::state::AppState;

/// How long in-flight requests may take to finish once stopping.
const DRAIN: Duration = Duration::from_secs(10);

pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    metrics: Option<(TcpListener, SocketAddr)>,
    state: AppState,
}

impl Application {
    /// Binds `config.bind` (and `config.metrics_bind`); the store must already be migrated.
    pub async fn build(config: WebConfig, store: Store, engine: EngineConfig) -> std::io::Result<Application> {
        let listener = TcpListener::bind(config.bind).await?;
        let address = listener.local_addr()?;
        let metrics = match config.metrics_bind {
            Some(bind) => {
                let l = TcpListener::bind(bind).await?;
                let a = l.local_addr()?;
                Some((l, a))
            }
            None => None,
        };
        Ok(Application { listener, address, metrics, state: AppState::new(store, engine, config) })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The metrics listener's address, when one is configured.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, a)| *a)
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
        let store = self.state.store.clone();
        let window = self.state.config.throttle.window;
        let purge = tokio::spawn(purge(store, window));
        let timeout = self.state.config.header_read_timeout;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let metrics = self.metrics.map(|(listener, _)| {
            let app = metrics_router(self.state.clone());
            let rx = stop_rx.clone();
            tokio::spawn(serve(listener, app, timeout, rx))
        });
        let live = self.state.live.clone();
        let app = router(self.state);
        let served = tokio::spawn(serve(self.listener, app, timeout, stop_rx));
        stop.await;
        // Open event streams would keep the graceful shutdown waiting.
        live.shut_down();
        let _ = stop_tx.send(true);
        let result = served.await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Some(m) = metrics {
            let _ = m.await;
        }
        purge.abort();
        result
    }
}

/// Accepts connections until `stop`, each served by hyper with the
/// header-read timeout, then lets in-flight requests finish (up to `DRAIN`).
async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let svc = app.clone().map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("some requests were still running when the server stopped");
    }
    Ok(())
}

/// Resolves once `stop` says so (the guard `wait_for` returns is not `Send`).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Removes expired sessions and stale sign-in failure counts every hour.
async fn purge(store: Store, throttle_window: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(e) = store.sessions_purge_expired().await {
            tracing::warn!(error = %e, "purging expired sessions failed");
        }
        if let Err(e) = store.sign_in_failures_purge(throttle_window).await {
            tracing::warn!(error = %e, "purging sign-in failure counts failed");
        }
    }
}

/// Resolves at Ctrl-C or SIGTERM (what a supervisor sends to stop a service).
pub async fn shutdown_signal() {
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
