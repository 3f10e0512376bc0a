//! fichier-emulator as a library: the server ([`serve`]) the binary runs, and
//! [`testing::Emulator`], the one harness every crate's tests start it with (in-process, on a
//! free loopback port, stopped on drop). Owns nothing else; the API lives in the modules.

mod admin;
mod api;
mod app;
mod auth;
mod clock;
mod config;
mod download;
mod errors;
mod gate;
mod html;
mod ids;
mod limits;
mod names;
mod persist;
mod state;
mod stats;
pub mod testing;
mod upload;

pub use config::Config;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Serves the 1Fichier API on `listener` until `shutdown` completes. `on_ready` hears the
/// bound address once the account is loaded.
pub async fn serve(
    cfg: Config,
    listener: TcpListener,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let state_dir = cfg.state.display().to_string();
    let app = app::AppState::new(cfg, bound)
        .map_err(|e| format!("cannot open state {state_dir}: {e}"))?;
    tracing::info!("account loaded: {} files", app.account().file_count());
    on_ready(bound);
    let service = app::router(app).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("server error: {e}"))
}
