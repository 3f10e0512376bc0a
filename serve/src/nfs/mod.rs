//! `serve nfs`: nfsserve's NFSv3 server (with its MOUNT protocol on the same port, no
//! portmapper) over [`VfsNfs`], plus the task that closes idle handles. Owns the server's
//! lifetime; the filesystem mapping is in `fs`, the handles in `handles`.

mod fs;
mod handles;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use nfsserve::tcp::{NFSTcp, NFSTcpListener};
use ourclone_vfs::{Owner, Vfs};

pub use fs::VfsNfs;

/// A bound NFS server, not yet serving.
pub struct NfsServer {
    listener: NFSTcpListener<VfsNfs>,
    fs: VfsNfs,
}

impl NfsServer {
    /// Binds `addr` (port 0: any free port) for `vfs`.
    pub async fn bind(vfs: Arc<Vfs>, owner: Owner, addr: SocketAddr) -> std::io::Result<Self> {
        let fs = VfsNfs::new(vfs, owner);
        let listener = NFSTcpListener::bind(&addr.to_string(), fs.clone()).await?;
        Ok(Self { listener, fs })
    }

    /// The port clients connect to, for both NFS and MOUNT.
    pub fn port(&self) -> u16 {
        self.listener.get_listen_port()
    }

    /// Serves until `shutdown` completes, then releases every open handle.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let fs = self.fs.clone();
        let reaper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(handles::IDLE / 2);
            loop {
                tick.tick().await;
                fs.close_idle(false).await;
            }
        });
        let served = tokio::select! {
            r = self.listener.handle_forever() => r,
            () = shutdown => Ok(()),
        };
        reaper.abort();
        self.fs.close_idle(true).await;
        served
    }
}
