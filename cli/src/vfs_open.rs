//! Opening a Vfs over one remote folder, for a mount, a server or a job run in this process:
//! the remote (its folder must exist), the cache and the journal's recovery; and draining it
//! before a stop. Owns what every long-running command shares; must not mount or serve.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ourclone_cache::Defaults;
use ourclone_remote::{Counted, Remote, RemotePath};
use ourclone_vfs::{Vfs, VfsConfig};

use crate::config::{Config, RemoteConfig};
use crate::error::CliError;
use crate::notify::notify;
use crate::stop::{stop_requested, Signal};

/// How long SIGTERM or SIGINT waits for pending uploads before unmounting (what stays pending
/// uploads at the next mount). Below systemd's default stop timeout of 90 s.
pub const STOP_DRAIN: Duration = Duration::from_secs(60);

/// Everything a Vfs over one remote folder needs to open (a mount's or a server's).
pub struct VfsSpec {
    pub remote_name: String,
    pub remote: RemoteConfig,
    pub remote_path: RemotePath,
    pub state_dir: PathBuf,
    /// The cache folder (holds the record of where the control socket is).
    pub cache_dir: PathBuf,
    pub write_back: Duration,
    pub dir_cache_time: Duration,
    /// How long writers wait for room before ENOSPC (see `VfsConfig::room_wait`).
    pub dirty_wait: Duration,
    pub cache_max_size: u64,
    /// See `VfsConfig::commit_interval` and `VfsConfig::sync_close`.
    pub commit_interval: Duration,
    pub sync_close: bool,
}

impl VfsSpec {
    /// `remote:path`, as logs and `status` show it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.remote_name, self.remote_path.as_str())
    }
}

/// A Vfs opened over its remote, with the counter of its remote calls.
pub(crate) struct OpenedVfs {
    pub vfs: Arc<Vfs>,
    pub counted: Arc<Counted>,
    /// Journal entries recovery set aside.
    pub quarantined: u64,
}

/// Owner and modes of what the remote does not say.
pub(crate) fn defaults() -> Defaults {
    let owner = ourclone_vfs::Owner::current();
    Defaults {
        uid: owner.uid,
        gid: owner.gid,
        file_mode: 0o644,
        dir_mode: 0o755,
    }
}

/// Opens the remote (checking that the folder exists) and the cache, recovering the journal.
pub(crate) async fn open_vfs(spec: &VfsSpec) -> Result<OpenedVfs, CliError> {
    private_dir(&spec.cache_dir.join("mounts"))?;
    private_dir(&spec.state_dir)?;
    let provider = crate::remotes::open(&spec.remote_name, &spec.remote).await?;
    check_root(spec, provider.as_ref()).await?;
    let counted = Arc::new(Counted::new(provider));
    let cfg = VfsConfig {
        defaults: defaults(),
        dir_cache_time: spec.dir_cache_time,
        write_back: spec.write_back,
        upload_parallel: 4,
        cache_max_size: spec.cache_max_size,
        room_wait: spec.dirty_wait,
        commit_interval: spec.commit_interval,
        sync_close: spec.sync_close,
    };
    let (vfs, report) = Vfs::open_cache(
        counted.clone(),
        spec.remote_path.clone(),
        &spec.state_dir,
        cfg,
    )
    .map_err(|e| {
        CliError::MountPoint(format!(
            "cannot open the cache in {}: {e}",
            spec.state_dir.display()
        ))
    })?;
    Ok(OpenedVfs {
        vfs,
        counted,
        quarantined: report.quarantined,
    })
}

async fn check_root(spec: &VfsSpec, remote: &dyn Remote) -> Result<(), CliError> {
    if spec.remote_path.is_root() {
        return Ok(());
    }
    match remote.stat(&spec.remote_path).await {
        Ok(e) if e.kind == ourclone_remote::EntryKind::Dir => Ok(()),
        Ok(_) => Err(CliError::Usage(format!(
            "{}:{} is a file, not a folder",
            spec.remote_name,
            spec.remote_path.as_str()
        ))),
        Err(ourclone_remote::RemoteError::NotFound(_)) => Err(CliError::Usage(format!(
            "{}:{} does not exist on the remote",
            spec.remote_name,
            spec.remote_path.as_str()
        ))),
        Err(e) => Err(crate::remotes::remote_error_of(
            &spec.remote_name,
            remote.kind(),
            e,
        )),
    }
}

/// Pending files and bytes in the journal.
pub(crate) fn pending(vfs: &Vfs) -> (u64, u64) {
    vfs.meta().pending_files().unwrap_or((0, 0))
}

/// Uploads what is pending for up to `limit` (a second Ctrl-C or SIGTERM stops waiting),
/// telling systemd how many files are left; says in the log what stays for the next mount.
pub(crate) async fn drain_before_stop(vfs: &Vfs, limit: Duration) {
    let mut term = Signal::terminate();
    let drain = tokio::time::timeout(
        limit,
        vfs.drain(|left| {
            notify(&format!(
                "STATUS=uploading before unmount: {left} file(s) left"
            ))
        }),
    );
    tokio::select! {
        drained = drain => match drained {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("drain before stopping failed: {e}"),
            Err(_) => tracing::warn!("stopped waiting for uploads after {limit:?}"),
        },
        () = stop_requested(&mut term) => tracing::warn!("asked again to stop: not waiting for uploads"),
    }
    let (files, bytes) = pending(vfs);
    if files > 0 {
        tracing::warn!(files, bytes, "left pending for the next mount");
    }
}

/// How a Vfs caches and writes back: options shared by `mount` and `serve`.
#[derive(clap::Args)]
pub struct CacheArgs {
    /// How long after a file's last close its upload starts.
    #[arg(long, default_value = "5s", value_parser = crate::parse_duration)]
    write_back: Duration,
    /// How long a folder listing is trusted before it is refreshed in the background.
    #[arg(long, default_value = "5m", value_parser = crate::parse_duration)]
    dir_cache_time: Duration,
    /// Local disk for cached content, e.g. 10G or 500M (default: a tenth of the free space of
    /// the cache folder's disk, at least 1 GiB). Dirty data beyond it slows writers.
    #[arg(long, value_parser = crate::parse_size)]
    cache_max_size: Option<u64>,
    /// How long a writer waits, while data not yet uploaded exceeds the cache cap and uploads
    /// make no progress (offline, a refused key), before its writes fail with ENOSPC.
    #[arg(long, default_value = "2m", value_parser = crate::parse_duration)]
    dirty_wait: Duration,
    /// A closed file survives a power cut once this much time has passed (a crash of the
    /// daemon never loses it); fsync makes it survive at once.
    #[arg(long, default_value = "1s", value_parser = crate::parse_duration)]
    commit_interval: Duration,
    /// Make every close survive a power cut before it returns, as fsync does (slower).
    #[arg(long)]
    sync_close: bool,
}

impl CacheArgs {
    /// The Vfs of `source` (REMOTE:PATH) with these options.
    pub(crate) fn spec(
        &self,
        source: &str,
        config_path: &Path,
        cache_dir: &Path,
    ) -> Result<VfsSpec, CliError> {
        let (name, path) = parse_source(source)?;
        let config = Config::load(config_path)?;
        let remote = config.remote(&name)?.clone();
        Ok(VfsSpec {
            state_dir: state_dir(cache_dir, &name, &path),
            cache_dir: cache_dir.to_path_buf(),
            remote_name: name,
            remote,
            remote_path: path,
            write_back: self.write_back,
            dir_cache_time: self.dir_cache_time,
            dirty_wait: self.dirty_wait,
            cache_max_size: self
                .cache_max_size
                .unwrap_or_else(|| default_cache_size(cache_dir)),
            commit_interval: self.commit_interval,
            sync_close: self.sync_close,
        })
    }

    /// These options as arguments, for a daemon started in the background.
    pub(crate) fn push_args(&self, cmd: &mut std::process::Command) {
        cmd.arg("--write-back")
            .arg(format!("{}ms", self.write_back.as_millis()))
            .arg("--dir-cache-time")
            .arg(format!("{}ms", self.dir_cache_time.as_millis()))
            .arg("--dirty-wait")
            .arg(format!("{}ms", self.dirty_wait.as_millis()))
            .arg("--commit-interval")
            .arg(format!("{}ms", self.commit_interval.as_millis()));
        if self.sync_close {
            cmd.arg("--sync-close");
        }
        if let Some(size) = self.cache_max_size {
            cmd.arg("--cache-max-size").arg(size.to_string());
        }
    }
}

fn parse_source(source: &str) -> Result<(String, RemotePath), CliError> {
    let (name, path) = source.split_once(':').ok_or_else(|| {
        CliError::Usage(format!(
            "'{source}' is not REMOTE:PATH (for the whole remote, write '{source}:')"
        ))
    })?;
    if name.is_empty() {
        return Err(CliError::Usage(format!(
            "'{source}' names no remote before ':'"
        )));
    }
    let path = RemotePath::parse(path)
        .ok_or_else(|| CliError::Usage(format!("'{path}' must not contain '..'")))?;
    Ok((name.to_string(), path))
}

/// A tenth of the free space where the cache lives, at least 1 GiB.
fn default_cache_size(cache_dir: &Path) -> u64 {
    let probe = cache_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let free = ourclone_remote::os::space(probe).map_or(0, |s| s.available);
    (free / 10).max(1 << 30)
}

/// The cache folder of one remote folder.
pub(crate) fn state_dir(cache_dir: &Path, name: &str, path: &RemotePath) -> PathBuf {
    cache_dir
        .join("mounts")
        .join(format!("{name}-{}", short_hash(path.as_str())))
}

/// Creates `dir` (and its parents) if missing and makes it the user's only (0700), also when an
/// older version left it open.
pub fn private_dir(dir: &Path) -> Result<(), CliError> {
    let fail = |e: std::io::Error| {
        CliError::Other(anyhow::anyhow!(
            "cannot create the private folder {}: {}",
            dir.display(),
            crate::error::io_reason(&e)
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    ourclone_remote::os::set_path_mode(dir, 0o700).map_err(fail)
}

/// A short stable hash of a string (FNV-1a), for file names.
pub fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
