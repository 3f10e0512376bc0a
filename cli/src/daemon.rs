//! The mount daemon: opens the remote and the cache, recovers the journal, mounts the Vfs,
//! runs the Uploader, and serves the control socket until it is told to unmount (or gets
//! SIGINT/SIGTERM, which drain pending uploads for up to [`STOP_DRAIN`] first, or the mount is
//! taken away). SIGHUP marks every cached listing stale. Under systemd it reports READY=1 once
//! the mount answers, STATUS= lines while draining, and STOPPING=1. Owns a mount's lifetime;
//! must not hold filesystem logic.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ourclone_remote::Counted;
use ourclone_vfs::Vfs;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::control::{send, Envelope, Reply, Request, Status, PROTOCOL_VERSION};
use crate::error::CliError;
use crate::job_table::JobTable;
use crate::mountpoint;
use crate::notify::notify;
use crate::stop::{stop_requested, Signal};
use crate::vfs_open::{drain_before_stop, open_vfs, pending, OpenedVfs, VfsSpec, STOP_DRAIN};

/// Everything a mount needs to start.
pub struct MountSpec {
    pub vfs: VfsSpec,
    pub mountpoint: PathBuf,
    /// Let other users reach the mount (FUSE allow_other).
    pub allow_other: bool,
}

/// The running pieces a control request may look at.
struct Daemon {
    spec_label: String,
    mountpoint: PathBuf,
    vfs: Arc<Vfs>,
    counted: Arc<Counted>,
    quarantined: u64,
    jobs: JobTable,
}

enum Stop {
    Signal,
    Unmount {
        done: oneshot::Sender<Reply>,
        written: oneshot::Receiver<()>,
    },
    External,
}

/// Mounts and serves until stopped. `ready` is called once the mount is usable.
pub fn run(spec: MountSpec, ready: impl FnOnce()) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("ourclone-worker")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(spec, ready))
}

async fn serve(spec: MountSpec, ready: impl FnOnce()) -> Result<(), CliError> {
    let OpenedVfs {
        vfs,
        counted,
        quarantined,
    } = open_vfs(&spec.vfs).await?;
    let label = spec.vfs.label();
    let session = ourclone_vfs::fuse::serve(
        vfs.clone(),
        tokio::runtime::Handle::current(),
        &spec.mountpoint,
        &label,
        spec.allow_other,
    )
    .map_err(|e| CliError::Fuse(format!("cannot mount {}: {e}", spec.mountpoint.display())))?;
    ourclone_vfs::fuse::forward_invalidations(&vfs, &session);
    let background = vfs.start_background();
    let daemon = Arc::new(Daemon {
        spec_label: label,
        mountpoint: spec.mountpoint.clone(),
        vfs: vfs.clone(),
        counted,
        quarantined,
        jobs: JobTable::logged(crate::job_cmd::task_dir(&spec.vfs.cache_dir)),
    });
    let socket = mountpoint::control_socket(&spec.mountpoint);
    let (stop_tx, mut stop_rx) = mpsc::channel(4);
    let listener = bind_control(&socket)?;
    let socket_id = file_id(&socket);
    let record = mountpoint::socket_record(&spec.vfs.cache_dir, &spec.mountpoint);
    if let Err(e) = record_socket(&record, &socket) {
        // `unmount` still finds the socket in the usual places.
        tracing::warn!(
            "cannot record the control socket in {}: {e}",
            record.display()
        );
    }
    tokio::spawn(accept_loop(listener, daemon.clone(), stop_tx));
    tracing::info!(mountpoint = %spec.mountpoint.display(), "mounted {}", daemon.spec_label);
    ready();
    notify("READY=1\nSTATUS=mounted");
    let stop = wait_for_stop(&mut stop_rx, &session, &vfs).await;
    notify("STOPPING=1");
    daemon.jobs.cancel_all();
    if matches!(stop, Stop::Signal) {
        drain_before_stop(&vfs, STOP_DRAIN).await;
    }
    for task in background {
        task.abort();
    }
    let unmounted = if matches!(stop, Stop::External) {
        Ok(())
    } else {
        tokio::task::spawn_blocking(move || session.unmount())
            .await
            .map_err(|e| anyhow::anyhow!("unmount task failed: {e}"))?
    };
    // After an external unmount a new daemon may already serve this mount point, with a
    // socket of its own at the same path: leave that one (and the record naming it) alone.
    if socket_id.is_some() && file_id(&socket) == socket_id {
        let _ = fs::remove_file(&socket);
        let _ = fs::remove_file(&record);
    }
    vfs.sync_all()
        .map_err(|e| anyhow::anyhow!("cannot flush the cache: {e}"))?;
    let (files, bytes) = pending(&vfs);
    if files > 0 {
        tracing::info!(files, bytes, "kept pending uploads for the next mount");
    }
    let reply = match &unmounted {
        Ok(()) => Reply::Unmounted {
            pending_files: files,
            pending_bytes: bytes,
            pid: std::process::id(),
        },
        Err(e) => Reply::Error {
            message: format!("unmount failed: {e}"),
        },
    };
    if let Stop::Unmount { done, written } = stop {
        // Let the control connection deliver the answer before the process exits.
        if done.send(reply).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), written).await;
        }
    }
    unmounted.map_err(|e| {
        CliError::MountPoint(format!("cannot unmount {}: {e}", spec.mountpoint.display()))
    })
}

/// Writes the control socket's path where `unmount` and `status` look it up whatever their
/// environment (see `mountpoint::find_control_socket`).
fn record_socket(record: &Path, socket: &Path) -> Result<(), CliError> {
    if let Some(dir) = record.parent() {
        crate::vfs_open::private_dir(dir)?;
    }
    let tmp = record.with_extension("tmp");
    let text = format!("{}\n", socket.display());
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, record))
        .with_context(|| format!("cannot write {}", record.display()))?;
    Ok(())
}

/// What tells our control socket from a later daemon's at the same path.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn bind_control(socket: &Path) -> Result<UnixListener, CliError> {
    // The runtime folder must be a private folder of ours (created 0700 if missing).
    mountpoint::ensure_runtime_dir()?;
    let _ = fs::remove_file(socket);
    let l = UnixListener::bind(socket)
        .with_context(|| format!("cannot create control socket {}", socket.display()))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(socket, fs::Permissions::from_mode(0o600));
    Ok(l)
}

async fn wait_for_stop(
    rx: &mut mpsc::Receiver<Stop>,
    session: &ourclone_vfs::fuse::FuseMount,
    vfs: &Vfs,
) -> Stop {
    let (mut term, mut hup) = (Signal::terminate(), Signal::hangup());
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = stop_requested(&mut term) => return Stop::Signal,
            () = hup.recv() => match vfs.meta().expire_listings() {
                Ok(n) => tracing::info!(folders = n, "SIGHUP: cached listings marked stale"),
                Err(e) => tracing::warn!("SIGHUP: cannot mark listings stale: {e}"),
            },
            Some(s) = rx.recv() => return s,
            _ = tick.tick() => if session.is_finished() { return Stop::External },
        }
    }
}

async fn accept_loop(listener: UnixListener, daemon: Arc<Daemon>, stop: mpsc::Sender<Stop>) {
    while let Ok((stream, _)) = listener.accept().await {
        let (daemon, stop) = (daemon.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = handle(stream, daemon, stop).await {
                tracing::debug!("control connection: {e}");
            }
        });
    }
}

async fn handle(
    stream: tokio::net::UnixStream,
    daemon: Arc<Daemon>,
    stop: mpsc::Sender<Stop>,
) -> std::io::Result<()> {
    let caller = stream.peer_cred()?;
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await?;
    let req = match serde_json::from_str::<Envelope>(&line) {
        Ok(e) if e.v <= PROTOCOL_VERSION => e.req,
        Ok(e) => {
            let message = format!(
                "this mount's daemon speaks control protocol {PROTOCOL_VERSION}, the command {}: \
                 remount with the newer ourclone-fs",
                e.v
            );
            return send(&mut w, &Reply::Error { message }).await;
        }
        Err(e) => {
            return send(
                &mut w,
                &Reply::Error {
                    message: format!("bad request: {e}"),
                },
            )
            .await
        }
    };
    let owner = ourclone_vfs::Owner {
        uid: caller.uid(),
        gid: caller.gid(),
    };
    match req {
        Request::JobStart { kind, args, follow } => {
            if names_local_paths(&args) && !may_use_local_paths(caller.uid()) {
                let message =
                    "only the mount's owner may run jobs on local folders through its daemon"
                        .into();
                return send(&mut w, &Reply::Error { message }).await;
            }
            let spec = ourclone_engine::JobSpec { kind, args };
            let files = ourclone_vfs::Files::new(daemon.vfs.clone(), owner);
            crate::job_cmd::host(&daemon.jobs, spec, files, follow, &mut w).await
        }
        Request::JobStatus { id } => {
            let reply = match daemon.jobs.info(id) {
                Some(info) => Reply::Job(Box::new(info)),
                None => Reply::Error {
                    message: format!("no job {id}"),
                },
            };
            send(&mut w, &reply).await
        }
        Request::JobCancel { id } => {
            let reply = match daemon.jobs.cancel(id) {
                true => Reply::Ok,
                false => Reply::Error {
                    message: format!("no job {id}"),
                },
            };
            send(&mut w, &reply).await
        }
        Request::JobList => {
            let jobs = daemon.jobs.list();
            send(&mut w, &Reply::Jobs { jobs }).await
        }
        Request::Status => send(&mut w, &Reply::Status(Box::new(daemon.status()))).await,
        Request::Refresh { path, recursive } => {
            let files = ourclone_vfs::Files::new(daemon.vfs.clone(), owner)
                .at_priority(ourclone_remote::pacer::Priority::Interactive);
            let reply = match files.refresh(&path, recursive).await {
                Ok(folders) => Reply::Refreshed { folders },
                Err(e) => Reply::Error {
                    message: format!("{}: {e}", if path.is_empty() { "/" } else { &path }),
                },
            };
            send(&mut w, &reply).await
        }
        Request::Unmount { lazy, drain_for } => {
            let limit = drain_for.map(Duration::from_secs);
            if !lazy {
                let (ptx, mut prx) = mpsc::unbounded_channel();
                let drain = daemon.vfs.drain(move |left| {
                    let _ = ptx.send(left);
                });
                tokio::pin!(drain);
                let deadline = tokio::time::sleep(limit.unwrap_or(Duration::MAX / 4));
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        r = &mut drain => { if let Err(e) = r { send(&mut w, &Reply::Error { message: format!("drain failed: {e}") }).await?; return Ok(()); } break; }
                        Some(left) = prx.recv() => {
                            notify(&format!("STATUS=uploading before unmount: {left} file(s) left"));
                            send(&mut w, &Reply::Progress { pending_files: left }).await?
                        }
                        () = &mut deadline => {
                            tracing::warn!("unmount: stopped waiting for uploads after {limit:?}");
                            break;
                        }
                    }
                }
            }
            let (done_tx, done_rx) = oneshot::channel();
            let (written_tx, written_rx) = oneshot::channel();
            let _ = stop
                .send(Stop::Unmount {
                    done: done_tx,
                    written: written_rx,
                })
                .await;
            if let Ok(reply) = done_rx.await {
                send(&mut w, &reply).await?;
                w.flush().await?;
            }
            let _ = written_tx.send(());
            Ok(())
        }
    }
}

impl Daemon {
    fn status(&self) -> Status {
        let (files, bytes) = pending(&self.vfs);
        let failing = self
            .vfs
            .meta()
            .journal()
            .map(|s| {
                s.pending
                    .iter()
                    .filter(|(_, r)| r.last_error.is_some())
                    .count() as u64
            })
            .unwrap_or(0);
        let reach = self.vfs.reachability();
        Status {
            mountpoint: self.mountpoint.display().to_string(),
            remote: self.spec_label.clone(),
            pid: std::process::id(),
            pending_files: files,
            pending_bytes: bytes,
            failing_files: failing,
            uploads: self.vfs.upload_stats(),
            remote_calls: self.counted.counts(),
            cache_bytes: self.vfs.cache_bytes(),
            cache: self.vfs.cache_stats(),
            nodes: self.vfs.meta().node_count().unwrap_or(0),
            quarantined: self.quarantined,
            writes_refused: self.vfs.write_refusal(),
            state: reach.state,
            offline_since: reach
                .failing_since
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            remote_error: reach.last_error,
        }
    }
}

/// Writes the readiness line the parent of a background mount waits for.
pub fn notify_parent(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Whether a job's arguments name folders of the local filesystem (sides with no Vfs).
fn names_local_paths(args: &serde_json::Value) -> bool {
    ["src", "dst", "backup_dir"]
        .iter()
        .any(|k| args[*k].is_object() && args[*k].get("vfs").is_none())
}

/// The daemon reads and writes local folders as itself: only for its own user (or root).
fn may_use_local_paths(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}
