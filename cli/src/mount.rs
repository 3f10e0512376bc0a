//! `mount`, `unmount` and `status`: checks the request, starts the daemon (in the background
//! by default, waiting until the mount is ready), and talks to running mounts through their
//! control sockets. Must not serve the filesystem itself (daemon.rs does).

use std::io::{BufRead, BufReader, IsTerminal};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::control::{self, Reply, Request};
use crate::daemon::{self, MountSpec};
use crate::error::CliError;
use crate::mountpoint;
use crate::vfs_open::{private_dir, CacheArgs};

#[derive(clap::Args)]
pub struct MountArgs {
    /// What to mount: REMOTE: or REMOTE:path/inside
    source: String,
    /// An existing, empty directory.
    mountpoint: PathBuf,
    /// Stay in the foreground (Ctrl-C or SIGTERM unmounts).
    #[arg(long)]
    foreground: bool,
    #[command(flatten)]
    cache: CacheArgs,
    /// Let users other than the one mounting use the mount (non-root users need
    /// user_allow_other in /etc/fuse.conf). Off by default.
    #[arg(long)]
    allow_other: bool,
    /// Internal: report readiness on stdout to the parent `mount` process.
    #[arg(long, hide = true)]
    notify_ready: bool,
}

impl MountArgs {
    /// This process will serve the mount (rather than start a daemon and return).
    pub fn is_daemon(&self) -> bool {
        self.foreground
    }
}

pub fn run(
    args: MountArgs,
    config_path: &Path,
    cache_dir: &Path,
    verbose: u8,
) -> Result<(), CliError> {
    let result = prepare_and_mount(&args, config_path, cache_dir, verbose);
    if args.notify_ready {
        if let Err(e) = &result {
            daemon::notify_parent(&format!("ERROR {} {e}", e.exit_code()));
        }
    }
    result
}

fn prepare_and_mount(
    args: &MountArgs,
    config_path: &Path,
    cache_dir: &Path,
    verbose: u8,
) -> Result<(), CliError> {
    let vfs = args.cache.spec(&args.source, config_path, cache_dir)?;
    let mountpoint = mountpoint::check_free(&args.mountpoint)?;
    mountpoint::check_fuse()?;
    mountpoint::ensure_runtime_dir()?;
    private_dir(cache_dir)?;
    if !args.foreground {
        return spawn_background(args, &mountpoint, config_path, cache_dir, verbose);
    }
    let spec = MountSpec {
        vfs,
        allow_other: args.allow_other,
        mountpoint,
    };
    let notify = args.notify_ready;
    daemon::run(spec, move || {
        if notify {
            daemon::notify_parent("READY");
            detach_stdout();
        }
    })
}

/// After readiness, the parent stops reading: send our stdout to /dev/null.
fn detach_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto our own stdout descriptor; both fds are valid here.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}

fn spawn_background(
    args: &MountArgs,
    mountpoint: &Path,
    config_path: &Path,
    cache_dir: &Path,
    verbose: u8,
) -> Result<(), CliError> {
    let logs = cache_dir.join("logs");
    private_dir(&logs)?;
    let log_path = logs.join(format!(
        "mount-{}.log",
        crate::vfs_open::short_hash(&mountpoint.to_string_lossy())
    ));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .and_then(|f| {
            // A log left by an older version may be readable by others.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            Ok(f)
        })
        .map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "cannot open log {}: {e}",
                log_path.display()
            ))
        })?;
    let exe = std::env::current_exe().map_err(|e| CliError::Other(e.into()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--config")
        .arg(config_path)
        .arg("--cache-dir")
        .arg(cache_dir);
    for _ in 0..verbose.max(1) {
        cmd.arg("-v");
    }
    cmd.arg("mount")
        .arg(&args.source)
        .arg(mountpoint)
        .arg("--foreground")
        .arg("--notify-ready");
    args.cache.push_args(&mut cmd);
    if args.allow_other {
        cmd.arg("--allow-other");
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
    // SAFETY: umask and setsid are async-signal-safe; setsid detaches the daemon from our terminal and session.
    unsafe {
        let user_umask = crate::USER_UMASK.get().copied().unwrap_or(0o022);
        cmd.pre_exec(move || {
            // The daemon learns the user's umask as we did (it makes its own 0077 at start).
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(user_umask));
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot start the mount daemon: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CliError::Other(anyhow::anyhow!("no daemon pipe")))?;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line == "READY" {
            println!(
                "Mounted {} at {} (daemon pid {}; log {}).",
                args.source,
                mountpoint.display(),
                child.id(),
                log_path.display()
            );
            println!("Unmount with: ourclone-fs unmount {}", mountpoint.display());
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("ERROR ") {
            let (code, msg) = rest.split_once(' ').unwrap_or(("1", rest));
            let _ = child.wait();
            return Err(CliError::Relayed(
                code.parse().unwrap_or(1),
                msg.to_string(),
            ));
        }
    }
    let _ = child.wait();
    Err(CliError::Other(anyhow::anyhow!(
        "the mount daemon exited before the mount was ready; see {}",
        log_path.display()
    )))
}

/// The canonical mount point path (as given when its daemon died: stat answers ENOTCONN).
fn canonical_mounted(mountpoint: &Path) -> Result<PathBuf, CliError> {
    mountpoint::canonical(mountpoint).or_else(|e| {
        if mountpoint.is_absolute() {
            Ok(mountpoint.to_path_buf())
        } else {
            Err(e)
        }
    })
}

/// How `unmount` goes about it.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnmountHow {
    /// Do not wait for pending uploads.
    pub lazy: bool,
    /// Detach even when the daemon cannot be reached.
    pub force: bool,
    /// Longest wait for pending uploads (none: until done or failing).
    pub timeout: Option<Duration>,
}

pub fn unmount(mp: &Path, how: UnmountHow, cache_dir: &Path, json: bool) -> Result<(), CliError> {
    let UnmountHow {
        lazy,
        force,
        timeout,
    } = how;
    let canon = canonical_mounted(mp)?;
    if mountpoint::mounted_fstype(&canon).is_none() {
        return Err(CliError::MountPoint(format!(
            "{} is not mounted",
            canon.display()
        )));
    }
    let socket = mountpoint::find_control_socket(&canon, cache_dir);
    let stream = match &socket {
        Some(s) => std::os::unix::net::UnixStream::connect(s).map_err(|e| e.to_string()),
        None => Err("no control socket found".to_string()),
    };
    let stream = match stream {
        Ok(stream) => stream,
        Err(why) if lazy || force => {
            tracing::info!("daemon unreachable ({why}); detaching the mount");
            mountpoint::force_unmount(&canon)?;
            report_unmounted(&canon, None, json);
            return Ok(());
        }
        Err(why) => return Err(unreachable(&canon, &why)),
    };
    let bar = (!json && std::io::stderr().is_terminal()).then(drain_bar);
    let mut outcome = Err(CliError::Other(anyhow::anyhow!(
        "the daemon closed the connection"
    )));
    let mut daemon_pid = None;
    let mut heard = false;
    let req = Request::Unmount {
        lazy,
        drain_for: timeout.map(|t| t.as_secs().max(1)),
    };
    let exchanged = control::exchange(stream, &req, |reply| {
        heard = true;
        match reply {
            Reply::Progress { pending_files } => {
                if let Some(bar) = &bar {
                    let total = bar.length().unwrap_or(0).max(pending_files);
                    bar.set_length(total);
                    bar.set_position(total - pending_files);
                }
            }
            Reply::Unmounted {
                pending_files,
                pending_bytes,
                pid,
            } => {
                daemon_pid = Some(pid);
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                report_unmounted(&canon, Some((pending_files, pending_bytes)), json);
                outcome = Ok(());
            }
            Reply::Error { message } => outcome = Err(CliError::MountPoint(message)),
            _ => {}
        }
    });
    match exchanged {
        // A daemon dying as we connect: same as one we cannot reach.
        Err(_) if !heard => return Err(unreachable(&canon, "its connection was reset")),
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    if let Some(pid) = daemon_pid {
        wait_for_exit(pid);
    }
    outcome
}

/// The one line for a mount whose daemon cannot be reached.
fn unreachable(mp: &Path, why: &str) -> CliError {
    CliError::Other(anyhow::anyhow!(
        "cannot reach the daemon of {} ({why}), so its pending uploads cannot be drained; \
         `ourclone-fs unmount --force {}` detaches it and leaves them for the next mount",
        mp.display(),
        mp.display()
    ))
}

/// The progress bar of uploads drained before an unmount.
fn drain_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "Uploading before unmount {bar:30} {pos}/{len} file(s)",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// `pending` is `None` when the daemon was gone (its journal waits for the next mount).
fn report_unmounted(mp: &Path, pending: Option<(u64, u64)>, json: bool) {
    let mp = mp.display();
    if json {
        let (files, bytes) = pending.unwrap_or((0, 0));
        let v = serde_json::json!({ "mountpoint": mp.to_string(), "unmounted": true, "daemon_was_gone": pending.is_none(), "pending_files": files, "pending_bytes": bytes });
        println!("{v}");
        return;
    }
    match pending {
        None => println!("Unmounted {mp} (its daemon was gone; pending uploads resume at the next mount)."),
        Some((0, _)) => println!("Unmounted {mp}; everything is uploaded."),
        Some((files, bytes)) => println!("Unmounted {mp}; {files} file(s), {bytes} byte(s) wait in the journal and upload at the next mount."),
    }
}

/// Waits (up to 30 s) until the daemon process has exited and released the cache, so the same
/// remote can be mounted again right away.
fn wait_for_exit(pid: u32) {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    for _ in 0..300 {
        let zombie_or_gone = std::fs::read_to_string(proc_dir.join("stat"))
            .map(|s| s.split(' ').nth(2) == Some("Z"))
            .unwrap_or(true);
        if zombie_or_gone {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ourclone-fs refresh PATH [--recursive]`: the folder at PATH (on a mount) is listed on the
/// remote again now, so changes made elsewhere show at once.
pub fn refresh(path: &Path, recursive: bool, cache_dir: &Path) -> Result<(), CliError> {
    let canon = std::fs::canonicalize(path).map_err(|e| {
        CliError::Usage(format!(
            "{}: {}",
            path.display(),
            crate::error::io_reason(&e)
        ))
    })?;
    let (socket, inside) = mountpoint::mount_containing(&canon, cache_dir).ok_or_else(|| {
        CliError::MountPoint(format!(
            "{} is not on a mount of ourclone-fs",
            canon.display()
        ))
    })?;
    let req = Request::Refresh {
        path: inside,
        recursive,
    };
    let mut result = Err(CliError::Other(anyhow::anyhow!(
        "no answer from the daemon"
    )));
    control::call(&socket, &req, |reply| {
        result = match reply {
            Reply::Refreshed { folders } => Ok(folders),
            Reply::Error { message } => Err(CliError::Other(anyhow::anyhow!("{message}"))),
            _ => Err(CliError::Other(anyhow::anyhow!(
                "unexpected reply from the daemon"
            ))),
        }
    })?;
    let folders = result?;
    println!("listed {folders} folder(s) again");
    Ok(())
}

pub fn status(mp: &Path, cache_dir: &Path, json: bool) -> Result<(), CliError> {
    let canon = canonical_mounted(mp)?;
    let Some(socket) = mountpoint::find_control_socket(&canon, cache_dir) else {
        return Err(CliError::MountPoint(format!(
            "{} is not mounted by ourclone-fs",
            canon.display()
        )));
    };
    let mut result = Err(CliError::Other(anyhow::anyhow!(
        "no status from the daemon"
    )));
    control::call(&socket, &Request::Status, |reply| {
        if let Reply::Status(s) = reply {
            result = Ok(*s);
        }
    })?;
    let s = result?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).map_err(|e| CliError::Other(e.into()))?
        );
        return Ok(());
    }
    println!("{} on {} (pid {})", s.remote, s.mountpoint, s.pid);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match s.state {
        ourclone_remote::Reach::Online => println!("remote: online"),
        state => println!(
            "remote: {} since {} s ago ({}), {} file(s) pending; reconnects by itself",
            if state == ourclone_remote::Reach::Offline {
                "offline"
            } else {
                "degraded"
            },
            now.saturating_sub(s.offline_since.unwrap_or(now)),
            s.remote_error.as_deref().unwrap_or("no answer"),
            s.pending_files
        ),
    }
    println!(
        "pending uploads: {} file(s), {} byte(s); failing: {}",
        s.pending_files, s.pending_bytes, s.failing_files
    );
    println!(
        "uploads in flight: {}; done: {} file(s), {} byte(s); failures: {}",
        s.uploads.in_flight, s.uploads.uploaded_files, s.uploads.uploaded_bytes, s.uploads.failures
    );
    if let Some(e) = &s.uploads.last_error {
        println!("last error: {e}");
    }
    if let Some(why) = &s.writes_refused {
        println!("{why}");
    }
    println!(
        "cache: {} byte(s) on disk, {} node(s); quarantined records: {}",
        s.cache_bytes, s.nodes, s.quarantined
    );
    let hit_rate = match s.cache.hits + s.cache.misses {
        0 => 0.0,
        n => 100.0 * s.cache.hits as f64 / n as f64,
    };
    println!(
        "block cache: {} clean byte(s) of {} cap, {} dirty; hit rate {hit_rate:.1}% ({} hits, {} misses, {} rejected)",
        s.cache.clean_bytes, s.cache.cap_bytes, s.cache.dirty_bytes, s.cache.hits, s.cache.misses, s.cache.rejected
    );
    let c = &s.remote_calls;
    println!(
        "remote calls: list {} stat {} read {} upload {} mkdir {} rename {} remove {}",
        c.list, c.stat, c.read, c.upload, c.mkdir, c.rename, c.remove
    );
    Ok(())
}
