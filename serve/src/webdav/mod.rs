//! `serve webdav`: an HTTP server on a listener, dav-server's WebDAV handler over [`VfsDav`],
//! in-memory locks (Finder and Windows lock before they write) and optional Basic
//! authentication. Owns the HTTP side; the filesystem mapping is in `fs` and `file`.

mod auth;
mod file;
mod fs;
mod props;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use dav_server::memls::MemLs;
use dav_server::DavHandler;
use ourclone_vfs::Files;
use tokio::net::TcpListener;

pub use auth::Credentials;
pub use fs::VfsDav;

/// Bytes read from the Vfs per chunk of a GET answer.
const READ_BUF: usize = 256 * 1024;

#[derive(Clone)]
struct Served {
    dav: DavHandler,
    credentials: Option<Arc<Credentials>>,
}

/// Serves `files` over WebDAV on `listener` until `shutdown` completes, then stops accepting
/// and lets requests in flight finish.
pub async fn serve(
    files: Files,
    listener: TcpListener,
    credentials: Option<Credentials>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let dav = DavHandler::builder()
        .filesystem(Box::new(VfsDav::new(files)))
        .locksystem(MemLs::new())
        .read_buf_size(READ_BUF)
        .build_handler();
    let served = Served {
        dav,
        credentials: credentials.map(Arc::new),
    };
    let app = axum::Router::new().fallback(handle).with_state(served);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn handle(State(served): State<Served>, req: Request) -> Response {
    if let Some(creds) = &served.credentials {
        if !creds.admits(req.headers()) {
            return auth::challenge();
        }
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = served.dav.handle(req).await.into_response();
    tracing::debug!("webdav {method} {path}: {}", resp.status());
    resp
}
