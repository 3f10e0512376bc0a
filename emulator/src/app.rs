//! The shared server state and the router that ties every endpoint to its handler.

use axum::{extract::DefaultBodyLimit, middleware, routing::get, routing::post, Router};
use std::{
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::{
    admin, api, auth::Auth, config::Config, download, gate, limits::Limits, state::Account,
    stats::Stats, upload,
};

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub cfg: Config,
    pub auth: Auth,
    pub limits: Limits,
    pub stats: Stats,
    pub reports: upload::Reports,
    pub tokens: download::Tokens,
    /// `host[:port]` clients are sent to for uploads and downloads.
    pub public_host: String,
    account: Mutex<Account>,
}

pub type App = Arc<AppState>;

impl AppState {
    /// Opens the account in `cfg.state`; `bound` is the address actually listened on.
    pub fn new(cfg: Config, bound: SocketAddr) -> io::Result<App> {
        let account = Account::open(&cfg.state, cfg.clock_skew)?;
        let public_host = cfg.public_host.clone().unwrap_or_else(|| reachable(bound));
        Ok(Arc::new(AppState {
            auth: Auth::new(&cfg.api_keys, &cfg.non_customer_keys),
            limits: Limits::new(&cfg),
            stats: Stats::default(),
            reports: upload::Reports::new(cfg.report_ttl),
            tokens: download::Tokens::new(cfg.token_ttl),
            public_host,
            account: Mutex::new(account),
            cfg,
        }))
    }

    /// The account, locked. Store operations are short (small metadata writes), so a plain
    /// mutex is enough.
    pub fn account(&self) -> MutexGuard<'_, Account> {
        self.account
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Base URL of the download host, e.g. `http://127.0.0.1:8741`.
    pub fn public_base(&self) -> String {
        format!("{}://{}", self.cfg.public_scheme.as_str(), self.public_host)
    }
}

/// An address clients can connect to: a wildcard listen address becomes loopback.
fn reachable(bound: SocketAddr) -> String {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr.to_string()
}

/// All routes: the gated service (API, upload node, download host) plus the /_emulator controls.
pub fn router(app: App) -> Router {
    Router::new()
        .merge(api::routes())
        .route("/upload.cgi", post(upload::upload))
        .route("/end.pl", get(upload::end))
        .route("/{token}", get(download::download))
        .layer(middleware::from_fn_with_state(app.clone(), gate::gate))
        .merge(admin::routes())
        .layer(DefaultBodyLimit::disable())
        .with_state(app)
}
