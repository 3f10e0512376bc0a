//! `serve webdav` and `serve nfs`: serve REMOTE:PATH's Vfs — the same cache, journal, Pacer
//! and uploads a mount of it has — until Ctrl-C or SIGTERM, which stop the server and then
//! drain pending uploads (as unmounting does). Owns the commands' checks (WebDAV off loopback
//! needs a user) and the servers' lifetime; the protocols are ourclone-serve's.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ourclone_serve::nfs::NfsServer;
use ourclone_serve::webdav::Credentials;
use ourclone_vfs::{Files, Owner, Vfs};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{io_reason, CliError};
use crate::vfs_open::CacheArgs;
use crate::vfs_open::{self, OpenedVfs, VfsSpec};

/// How long requests in flight may take to finish once stopping.
const REQUESTS_GRACE: Duration = Duration::from_secs(10);

#[derive(clap::Subcommand)]
pub enum ServeProtocol {
    /// Serve REMOTE:PATH over WebDAV, for Finder (Connect to Server), Windows (`net use`) or
    /// davfs2. A completed PUT is durable, as after fsync.
    Webdav(WebdavArgs),
    /// Serve REMOTE:PATH over NFSv3 (NFS and MOUNT on one port, no rpcbind), for macOS's
    /// mount_nfs, Linux's kernel client or libnfs. Every write is durable before it is
    /// answered.
    Nfs(NfsArgs),
}

#[derive(clap::Args)]
pub struct NfsArgs {
    /// What to serve: REMOTE: or REMOTE:path/inside
    source: String,
    /// Address and port to listen on (port 0: any free one). NFSv3 has no passwords: anything
    /// but loopback lets the network in.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(clap::Args)]
pub struct WebdavArgs {
    /// What to serve: REMOTE: or REMOTE:path/inside
    source: String,
    /// Address and port to listen on (port 0: any free one). Anything but loopback needs
    /// --user.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Let in only this user (HTTP Basic); the password comes from --password-stdin or
    /// OURCLONE_SERVE_PASSWORD.
    #[arg(long)]
    user: Option<String>,
    /// Read the password for --user from stdin.
    #[arg(long, requires = "user")]
    password_stdin: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(protocol: ServeProtocol, config_path: &Path, cache_dir: &Path) -> Result<(), CliError> {
    match protocol {
        ServeProtocol::Webdav(args) => webdav(args, config_path, cache_dir),
        ServeProtocol::Nfs(args) => nfs(args, config_path, cache_dir),
    }
}

/// Resolves when the server is asked to stop.
type Stopped = Pin<Box<dyn Future<Output = ()> + Send>>;
type Running = JoinHandle<std::io::Result<()>>;

fn nfs(args: NfsArgs, config_path: &Path, cache_dir: &Path) -> Result<(), CliError> {
    let spec = args.cache.spec(&args.source, config_path, cache_dir)?;
    let label = spec.label();
    let addr = args.addr;
    serve(spec, cache_dir, async move |vfs, owner, stopped| {
        let server = NfsServer::bind(vfs, owner, addr)
            .await
            .map_err(|e| CliError::Usage(format!("cannot listen on {addr}: {}", io_reason(&e))))?;
        let (ip, port) = (addr.ip(), server.port());
        let mount = if cfg!(target_os = "macos") {
            format!("mount_nfs -o vers=3,tcp,port={port},mountport={port},nolocks {ip}:/ DIR")
        } else {
            format!("mount -t nfs -o vers=3,tcp,port={port},mountport={port},nolock {ip}:/ DIR")
        };
        say(&format!(
            "Serving {label} over NFSv3 at {ip}:{port}\nMount with: {mount}"
        ));
        Ok(tokio::spawn(server.serve(stopped)))
    })
}

fn webdav(args: WebdavArgs, config_path: &Path, cache_dir: &Path) -> Result<(), CliError> {
    let credentials = credentials(&args)?;
    if credentials.is_none() && !args.addr.ip().is_loopback() {
        return Err(CliError::Usage(format!(
            "serving on {} reaches beyond this machine: add --user NAME (and the password on \
             --password-stdin)",
            args.addr
        )));
    }
    let spec = args.cache.spec(&args.source, config_path, cache_dir)?;
    let label = spec.label();
    let addr = args.addr;
    serve(spec, cache_dir, async move |vfs, owner, stopped| {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::Usage(format!("cannot listen on {addr}: {}", io_reason(&e))))?;
        let bound = listener.local_addr().unwrap_or(addr);
        let files = Files::new(vfs, owner);
        let server = ourclone_serve::webdav::serve(files, listener, credentials, stopped);
        say(&format!("Serving {label} over WebDAV at http://{bound}/"));
        if cfg!(windows) {
            say(&format!(
                "Map it to a drive with: net use X: http://{bound}/"
            ));
        }
        Ok(tokio::spawn(server))
    })
}

/// Opens the Vfs, starts the server `start` binds, and serves until Ctrl-C or SIGTERM; then
/// stops the server, drains pending uploads and makes the cache durable.
fn serve(
    spec: VfsSpec,
    cache_dir: &Path,
    start: impl AsyncFnOnce(Arc<Vfs>, Owner, Stopped) -> Result<Running, CliError>,
) -> Result<(), CliError> {
    crate::vfs_open::private_dir(cache_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("ourclone-worker")
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let OpenedVfs { vfs, .. } = vfs_open::open_vfs(&spec).await?;
        let background = vfs.start_background();
        let owner = Owner::current();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stopped: Stopped = Box::pin(async {
            let _ = stop_rx.await;
        });
        let server = start(vfs.clone(), owner, stopped).await?;
        crate::notify::notify("READY=1\nSTATUS=serving");
        crate::stop::stop_requested(&mut crate::stop::Signal::terminate()).await;
        crate::notify::notify("STOPPING=1");
        let _ = stop_tx.send(());
        match tokio::time::timeout(REQUESTS_GRACE, server).await {
            Ok(Ok(Err(e))) => tracing::warn!("server: {e}"),
            Err(_) => tracing::warn!("stopped waiting for requests in flight"),
            _ => {}
        }
        vfs_open::drain_before_stop(&vfs, vfs_open::STOP_DRAIN).await;
        for task in background {
            task.abort();
        }
        vfs.sync_all()
            .map_err(|e| anyhow::anyhow!("cannot flush the cache: {e}"))?;
        let (files, bytes) = vfs_open::pending(&vfs);
        if files > 0 {
            eprintln!("{files} file(s), {bytes} bytes, left to upload at the next mount or serve");
        }
        Ok(())
    })
}

/// Prints `text` on stdout at once; a reader that went away (a closed pipe) is not an error
/// worth stopping a server for.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

fn credentials(args: &WebdavArgs) -> Result<Option<Credentials>, CliError> {
    let Some(user) = &args.user else {
        return Ok(None);
    };
    let password = if args.password_stdin {
        crate::remote_cmd::stdin_text("password")?
            .trim_end_matches(['\r', '\n'])
            .to_string()
    } else {
        std::env::var("OURCLONE_SERVE_PASSWORD").unwrap_or_default()
    };
    if password.is_empty() {
        return Err(CliError::Usage(
            "--user needs a password: pipe it to --password-stdin or set OURCLONE_SERVE_PASSWORD"
                .into(),
        ));
    }
    Ok(Some(Credentials::new(user.clone(), password)))
}
