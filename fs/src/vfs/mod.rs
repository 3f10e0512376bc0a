//! `Vfs`: the filesystem as plain async methods — lookup, attributes, listings, file I/O and
//! namespace changes — over the MetaStore, the DataStore and the remote. Tested without the
//! kernel; `fuse.rs` is only an adapter. Must not block on the network while holding a lock
//! that other operations on unrelated files need.

mod closes;
mod direct;
mod dirs;
mod file;
mod housekeeping;
mod namespace;
mod prefetch;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

use ourclone_cache::{
    from_nanos, now_nanos, BlockCache, CacheError, CacheStats, DataStore, Ino, InodeLocks, Kind,
    MetaStore, Node, RecoveryReport, RemoteTree, UploadStats, Uploader, UploaderConfig,
};
use ourclone_remote::{Remote, RemotePath, Usage};

use crate::error::{Result, VfsError};
pub use direct::Opened;
pub use dirs::{FsStats, NAME_MAX};
use file::{Handle, OpenFile};
pub use file::{OpenMode, SetAttr};
pub use namespace::RenameFlags;

/// How a mount behaves.
#[derive(Clone, Debug)]
pub struct VfsConfig {
    /// Owner and permissions given to objects first seen on the remote.
    pub defaults: ourclone_cache::Defaults,
    /// How long a folder listing stays fresh before it is refreshed in the background.
    pub dir_cache_time: Duration,
    /// How long after a file's last change its upload starts.
    pub write_back: Duration,
    /// Upload requests in flight at once.
    pub upload_parallel: usize,
    /// Bytes of clean cached content kept on local disk; dirty data beyond it slows writers.
    pub cache_max_size: u64,
    /// How long a writer waits for uploads to make room, without any progress, before its
    /// write fails with ENOSPC.
    pub room_wait: Duration,
    /// Everything journalled becomes durable against power loss at least this often.
    pub commit_interval: Duration,
    /// Every close is a durability point, like fsync (slower; for applications that never
    /// fsync yet must not lose a closed file to a power cut).
    pub sync_close: bool,
}

/// Attributes of one node, as the kernel sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub atime: SystemTime,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub rdev: u32,
}

/// One entry of a folder listing.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: String,
    pub attr: Attr,
}

/// Upload state of one node, as the `user.ourclone.state` xattr reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncState {
    Pending,
    Uploading,
    Synced,
    Error,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Pending => "pending",
            SyncState::Uploading => "uploading",
            SyncState::Synced => "synced",
            SyncState::Error => "error",
        }
    }
}

pub struct Vfs {
    pub(crate) tree: Arc<RemoteTree>,
    pub(crate) data: Arc<DataStore>,
    pub(crate) uploader: Arc<Uploader>,
    cfg: VfsConfig,
    pub(crate) handles: Mutex<HashMap<u64, Handle>>,
    /// Open folder handles and the listing each holds (see `dirs.rs`).
    dirs: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
    pub(crate) open: Mutex<HashMap<Ino, Arc<OpenFile>>>,
    pub(crate) next_fh: AtomicU64,
    pub(crate) blocks: Arc<BlockCache>,
    /// Data files of nodes that left the tree, deleted at the next durable commit.
    doomed: Mutex<Vec<Ino>>,
    /// Files whose last close could not journal its writes, to be set right as soon as the
    /// MetaStore answers again (see `Vfs::undo_unjournaled`), each with whether its journal
    /// record is only the one its write open added.
    pub(crate) unjournaled: Mutex<Vec<(Ino, bool)>>,
    /// Last closes whose journalling waits for the next batch (see `closes.rs`).
    closing: Mutex<closes::Closing>,
    /// Read from reading a node to looking for its open file (`attr_of`); written by a batch
    /// of closes from its commit to dropping its open files. Without it a node read before the
    /// commit would meet the open-file table after it, and show the size from before the close.
    close_fence: RwLock<()>,
    /// One block fetch per file at a time.
    pub(crate) fetch_locks: InodeLocks,
    /// A handle on ourselves for background work.
    pub(crate) me: Weak<Vfs>,
    refreshing: Arc<Mutex<HashSet<Ino>>>,
    usage: Mutex<Option<(std::time::Instant, Usage)>>,
    /// Why writes are refused for want of room (for `status`), and the dirty bytes then.
    refusal: Mutex<Option<(String, u64)>>,
}

/// How long a read that needs the remote waits before failing with EIO while it is offline.
pub const OFFLINE_READ_WAIT: Duration = Duration::from_secs(2);

/// Longest symlink target read from a remote (PATH_MAX): a link object is small, whatever a
/// server claims.
const PATH_MAX: u64 = 4096;

pub(crate) use ourclone_remote::sync::lock;

impl Vfs {
    /// Opens the Vfs of `root` on `remote`, with its cache under `state_dir`: the MetaStore,
    /// the DataStore and the Uploader, after replaying the journal. The Uploader is not
    /// running yet; see [`Vfs::start_background`]. Nothing is mounted: an adapter (`fuse::serve`) or a
    /// job's `Files` uses it.
    pub fn open_cache(
        remote: Arc<dyn Remote>,
        root: RemotePath,
        state_dir: &std::path::Path,
        cfg: VfsConfig,
    ) -> Result<(Arc<Self>, RecoveryReport)> {
        std::fs::create_dir_all(state_dir)?;
        let meta = MetaStore::open(&state_dir.join("meta.redb"), cfg.defaults)?;
        let data = Arc::new(DataStore::open(&state_dir.join("data"))?);
        let report = ourclone_cache::recover(&meta, &data, &state_dir.join("quarantine"))?;
        let blocks = Arc::new(BlockCache::open(
            &state_dir.join("blocks"),
            cfg.cache_max_size,
        )?);
        let tree = Arc::new(RemoteTree {
            meta: Arc::new(meta),
            remote,
            root,
            locks: InodeLocks::default(),
            defaults: cfg.defaults,
            notices: Default::default(),
            paths: Default::default(),
        });
        let uploader = Arc::new(Uploader::new(
            tree.clone(),
            data.clone(),
            blocks.clone(),
            UploaderConfig {
                delay: cfg.write_back,
                parallel: cfg.upload_parallel,
            },
        ));
        let vfs = Arc::new_cyclic(|me| Self {
            tree,
            data,
            uploader,
            cfg,
            handles: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            open: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            blocks,
            doomed: Mutex::new(Vec::new()),
            unjournaled: Mutex::new(Vec::new()),
            closing: Mutex::default(),
            close_fence: RwLock::new(()),
            fetch_locks: InodeLocks::default(),
            me: me.clone(),
            refreshing: Arc::new(Mutex::new(HashSet::new())),
            usage: Mutex::new(None),
            refusal: Mutex::new(None),
        });
        vfs.hold_clean_files()?;
        Ok((vfs, report))
    }

    /// Starts the background work: draining the journal, and keeping the cache under its cap.
    pub fn start_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(self.uploader.clone().run()),
            tokio::spawn(self.clone().housekeeping()),
            tokio::spawn(self.clone().commit_regularly()),
        ]
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.blocks.stats()
    }

    /// Registers who to tell when a name changes behind the kernel's back.
    pub fn on_entry_change(&self, f: impl Fn(Ino, &str) + Send + Sync + 'static) {
        self.tree.notices.set(f);
    }

    pub fn meta(&self) -> &MetaStore {
        &self.tree.meta
    }

    pub fn remote(&self) -> &Arc<dyn Remote> {
        &self.tree.remote
    }

    /// Bytes of file content held on local disk.
    pub fn cache_bytes(&self) -> u64 {
        self.data.usage()
    }

    pub fn uploader(&self) -> &Uploader {
        &self.uploader
    }

    /// The remote's content hash of `ino`, when the remote holds exactly what the node holds
    /// (nothing pending for it).
    pub fn known_hash(&self, ino: Ino) -> Option<ourclone_remote::Hash> {
        if !matches!(self.meta().record(ino), Ok(None)) || self.is_open(ino) {
            return None;
        }
        self.meta().get(ino).ok()?.remote?.hash
    }

    pub fn upload_stats(&self) -> UploadStats {
        self.uploader.stats()
    }

    pub(crate) fn attr_of(&self, ino: Ino, node: &Node) -> Attr {
        let mut size = node.size;
        let mut mtime = node.mtime;
        if let Some(open) = lock(&self.open).get(&ino) {
            self.sense_direct_writes(ino, open);
            let live = lock(&open.live);
            size = live.size;
            mtime = live.mtime;
        }
        Attr {
            ino,
            kind: node.kind,
            size,
            mtime: from_nanos(mtime),
            ctime: from_nanos(node.ctime.max(mtime)),
            atime: from_nanos(node.atime),
            mode: node.mode,
            uid: node.uid,
            gid: node.gid,
            nlink: match (node.orphan, node.is_dir()) {
                (true, _) => 0,
                (false, true) => 2,
                (false, false) => 1 + node.extra_links,
            },
            rdev: node.rdev,
        }
    }

    /// Makes sure folder `dir` has been listed from the remote at least once; refreshes a
    /// stale listing in the background.
    pub(crate) async fn ensure_listed(&self, dir: Ino) -> Result<Node> {
        if let Some(node) = self.listed(dir)? {
            return Ok(node);
        }
        let _g = self.tree.locks.lock(dir).await;
        if self.meta().get(dir)?.listed_at.is_none() {
            self.tree.refresh(dir).await?;
        }
        Ok(self.meta().get(dir)?)
    }

    /// The folder `dir` if its listing is cached (refreshed in the background once older than
    /// `dir_cache_time`); `None` if it was never listed and the remote must be asked first.
    fn listed(&self, dir: Ino) -> Result<Option<Node>> {
        let node = self.meta().get(dir)?;
        if !node.is_dir() {
            return Err(CacheError::NotADirectory.into());
        }
        let Some(at) = node.listed_at else {
            return Ok(None);
        };
        let age = Duration::from_nanos(now_nanos().saturating_sub(at).max(0) as u64);
        if age > self.cfg.dir_cache_time {
            self.refresh_in_background(dir);
        }
        Ok(Some(node))
    }

    fn refresh_in_background(&self, dir: Ino) {
        if !lock(&self.refreshing).insert(dir) {
            return;
        }
        let tree = Arc::clone(&self.tree);
        let refreshing = Arc::clone(&self.refreshing);
        let background = ourclone_remote::pacer::Priority::Background;
        tokio::spawn(ourclone_remote::pacer::with_priority(
            background,
            async move {
                if let Err(e) = tree.refresh(dir).await {
                    tracing::debug!(dir, "background listing refresh failed: {e}");
                }
                lock(&refreshing).remove(&dir);
            },
        ));
    }

    /// Lists `dir` on the remote now, whatever the cached listing's age (`ourclone-fs refresh`).
    pub async fn refresh(&self, dir: Ino) -> Result<()> {
        let _g = self.tree.locks.lock(dir).await;
        Ok(self.tree.refresh(dir).await?)
    }

    pub async fn lookup(&self, parent: Ino, name: &str) -> Result<Attr> {
        self.ensure_listed(parent).await?;
        self.lookup_listed(parent, name)
    }

    /// The child `name` of a folder whose listing is cached.
    fn lookup_listed(&self, parent: Ino, name: &str) -> Result<Attr> {
        self.fenced(|| match self.meta().lookup(parent, name)? {
            Some((ino, node)) => Ok(self.attr_of(ino, &node)),
            None => Err(CacheError::NotFound.into()),
        })
    }

    /// Runs `f`, which reads nodes and builds their attributes, inside the close fence (see
    /// `Vfs::close_fence`).
    pub(crate) fn fenced<T>(&self, f: impl FnOnce() -> T) -> T {
        let _fence = self.close_fence.read().unwrap_or_else(|e| e.into_inner());
        f()
    }

    /// [`Vfs::lookup`] without waiting: the answer when `parent`'s listing is cached, `None`
    /// when the remote must be asked first. Must run inside the runtime (a stale listing is
    /// refreshed by a background task).
    pub fn lookup_cached(&self, parent: Ino, name: &str) -> Option<Result<Attr>> {
        match self.listed(parent) {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        }
        Some(self.lookup_listed(parent, name))
    }

    pub async fn getattr(&self, ino: Ino) -> Result<Attr> {
        self.fenced(|| Ok(self.attr_of(ino, &self.meta().get(ino)?)))
    }

    pub async fn readdir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        self.ensure_listed(dir).await?;
        self.fenced(|| {
            let children = self.meta().children(dir)?;
            Ok(children
                .into_iter()
                .map(|(ino, node)| DirEntry {
                    attr: self.attr_of(ino, &node),
                    name: node.name,
                })
                .collect())
        })
    }

    /// The listing with "." and ".." first, as readdir(3) returns it.
    pub async fn readdir_with_dots(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        let children = self.readdir(dir).await?;
        let node = self.meta().get(dir)?;
        let me = self.attr_of(dir, &node);
        let parent = match dir {
            ourclone_cache::ROOT_INO => me,
            _ => self.getattr(node.parent).await.unwrap_or(me),
        };
        let mut out = Vec::with_capacity(children.len() + 2);
        out.push(DirEntry {
            name: ".".into(),
            attr: me,
        });
        out.push(DirEntry {
            name: "..".into(),
            attr: parent,
        });
        out.extend(children);
        Ok(out)
    }

    pub async fn readlink(&self, ino: Ino) -> Result<String> {
        let node = self.meta().get(ino)?;
        if node.kind != Kind::Symlink {
            return Err(VfsError::invalid("not a symlink"));
        }
        if let Some(t) = node.target {
            return Ok(t);
        }
        if node.size > PATH_MAX {
            return Err(VfsError::Errno(
                libc::ENAMETOOLONG,
                "symlink target too long",
            ));
        }
        let obj = self.tree.object(ino, &node)?;
        let bytes = self
            .unless_offline(self.remote().read(&obj, 0, PATH_MAX))
            .await?;
        let bytes = &bytes[..bytes.len().min(PATH_MAX as usize)];
        let target = String::from_utf8_lossy(bytes).into_owned();
        self.meta().update(ino, |n| {
            n.target = Some(target.clone());
            n.size = target.len() as u64;
        })?;
        Ok(target)
    }

    /// `fut` (a remote call a reader waits for), unless the remote is offline: then it fails
    /// with EIO once it has waited [`OFFLINE_READ_WAIT`], rather than hang until the remote is
    /// back. Cached content is never behind this.
    pub(crate) async fn unless_offline<T>(
        &self,
        fut: impl std::future::Future<Output = ourclone_remote::Result<T>>,
    ) -> Result<T> {
        tokio::pin!(fut);
        let started = std::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                r = &mut fut => return Ok(r?),
                _ = tick.tick() => {
                    let offline = self.remote().reachability().state == ourclone_remote::Reach::Offline;
                    if offline && started.elapsed() >= OFFLINE_READ_WAIT {
                        return Err(VfsError::Errno(libc::EIO, "the remote is offline"));
                    }
                }
            }
        }
    }

    /// Whether the remote answers (see `ourclone_remote::health`).
    pub fn reachability(&self) -> ourclone_remote::Reachability {
        self.remote().reachability()
    }

    /// Space on the remote, asked at most once a minute.
    pub async fn statfs(&self) -> Result<Usage> {
        if let Some((at, u)) = *lock(&self.usage) {
            if at.elapsed() < Duration::from_secs(60) {
                return Ok(u);
            }
        }
        let u = match self.remote().about().await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("about failed: {e}");
                Usage::default()
            }
        };
        *lock(&self.usage) = Some((std::time::Instant::now(), u));
        Ok(u)
    }

    /// Where `ino` stands with the remote.
    pub fn sync_state(&self, ino: Ino) -> Result<SyncState> {
        self.meta().get(ino)?;
        Ok(match self.meta().record(ino)? {
            None => SyncState::Synced,
            Some(_) if self.uploader.is_uploading(ino) => SyncState::Uploading,
            Some(rec) if rec.last_error.is_some() => SyncState::Error,
            Some(_) => SyncState::Pending,
        })
    }

    /// Uploads everything pending now; `progress` hears how many records are left.
    /// Ends by folding the metadata log into its database, so the next open starts at once.
    /// Only a speed-up: if the fold fails the next open replays the log as after a crash.
    /// Not on Windows, which cannot rename the new log over the open one.
    pub async fn drain(&self, progress: impl Fn(u64)) -> Result<()> {
        self.settle_closes();
        self.uploader.drain(progress).await?;
        // Whatever the drain uploaded or not, everything before it is durable after it.
        self.sync_meta().await?;
        if cfg!(unix) {
            let meta = Arc::clone(&self.tree.meta);
            match tokio::task::spawn_blocking(move || meta.checkpoint()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!("metadata checkpoint failed, replayed at next open: {e}")
                }
                Err(e) => tracing::warn!("metadata checkpoint task failed: {e}"),
            }
        }
        Ok(())
    }

    /// Drops the data file of a node that left the tree once its departure is durable:
    /// deleting it earlier would leave, after a crash, a node whose content is gone.
    pub(crate) fn discard_data(&self, ino: Ino) {
        lock(&self.doomed).push(ino);
    }

    /// Makes every change so far durable, then deletes the data files of departed nodes.
    pub fn sync_all(&self) -> Result<()> {
        self.settle_closes();
        let doomed = std::mem::take(&mut *lock(&self.doomed));
        self.meta().sync()?;
        self.settle_unjournaled();
        for ino in doomed {
            self.data.remove(ino)?;
        }
        Ok(())
    }

    /// [`Vfs::sync_all`] off the async workers.
    pub(crate) async fn sync_meta(&self) -> Result<()> {
        let me = self
            .me
            .upgrade()
            .ok_or(VfsError::Errno(libc::EIO, "shutting down"))?;
        tokio::task::spawn_blocking(move || me.sync_all())
            .await
            .map_err(|_| VfsError::Errno(libc::EIO, "sync task failed"))?
    }

    pub(crate) fn has_doomed(&self) -> bool {
        !lock(&self.doomed).is_empty()
    }
}
