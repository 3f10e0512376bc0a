//! The thin adapter from fuser's callbacks to the [`Vfs`]. Each callback hands its work to the
//! tokio runtime and replies from there, so no kernel thread ever waits on disk or network.
//! Owns the kernel options and the conversion of attributes and errors; must hold no
//! filesystem logic of its own.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use ourclone_cache::Kind;
use ourclone_remote::sync::lock;
use tokio::runtime::Handle;

use crate::backing::Backings;
use crate::vfs::{Attr, DirEntry, OpenMode, Opened, RenameFlags, SetAttr, Vfs};
use crate::VfsError;

/// How long the kernel may trust an attribute or name answer without asking again. We are the
/// only writer of our tree between listings, so a longer TTL is safe and saves round trips on
/// `ls -lR`; remote changes show up at the next listing refresh anyway.
const TTL: Duration = Duration::from_secs(10);

/// The xattr that tells whether a file is safely in the cloud.
pub const STATE_XATTR: &str = "user.ourclone.state";

pub struct FuseAdapter {
    vfs: Arc<Vfs>,
    rt: Handle,
    dirs: Arc<Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>>,
    next_dir: AtomicU64,
    /// The kernel agreed to FUSE passthrough (Linux 6.9+).
    passthrough: bool,
    backings: Arc<Backings>,
}

impl FuseAdapter {
    pub fn new(vfs: Arc<Vfs>, rt: Handle) -> Self {
        Self {
            vfs,
            rt,
            dirs: Arc::new(Mutex::new(HashMap::new())),
            next_dir: AtomicU64::new(1),
            passthrough: false,
            backings: Arc::new(Backings::default()),
        }
    }

    /// Runs `work` on the runtime with a clone of the Vfs.
    fn spawn<F, Fut>(&self, work: F)
    where
        F: FnOnce(Arc<Vfs>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let vfs = Arc::clone(&self.vfs);
        self.rt.spawn(async move { work(vfs).await });
    }
}

/// Mount options for a remote named `source`. `allow_other` lets users other than the one
/// who mounted reach the mount (off by default, as in rclone and mountpoint-s3).
pub fn mount_config(source: &str, allow_other: bool) -> fuser::Config {
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName(source.to_string()),
        fuser::MountOption::Subtype("ourclone-fs".into()),
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoAtime,
    ];
    // Several kernel reader threads, so a slow remote read never stalls `ls` in another window.
    cfg.n_threads = Some(4);
    cfg.clone_fd = true;
    // Only on request (`--allow-other`): with default_permissions the kernel then checks each
    // caller against our modes and owners. Non-root users also need user_allow_other in
    // /etc/fuse.conf.
    if allow_other {
        cfg.acl = fuser::SessionACL::All;
    }
    cfg
}

/// Forwards the Vfs's notices of names changed behind the kernel's back to the kernel.
pub fn forward_invalidations(vfs: &Vfs, session: &fuser::BackgroundSession) {
    let notifier = session.notifier();
    vfs.on_entry_change(move |parent, name| {
        if let Err(e) = notifier.inval_entry(INodeNo(parent), OsStr::new(name)) {
            tracing::debug!(parent, name, "entry invalidation failed: {e}");
        }
    });
}

/// Mounts `vfs` at `mountpoint` and serves it until unmounted (from another thread or process).
pub fn serve(
    vfs: Arc<Vfs>,
    rt: Handle,
    mountpoint: &Path,
    source: &str,
    allow_other: bool,
) -> std::io::Result<fuser::BackgroundSession> {
    fuser::spawn_mount(
        FuseAdapter::new(vfs, rt),
        mountpoint,
        &mount_config(source, allow_other),
    )
}

fn errno(e: &VfsError) -> Errno {
    Errno::from_i32(e.errno())
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.ctime,
        kind: file_type(a.kind),
        perm: a.mode as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        blksize: 1 << 20,
        flags: 0,
    }
}

fn file_type(k: Kind) -> FileType {
    match k {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
        Kind::Fifo => FileType::NamedPipe,
        Kind::Socket => FileType::Socket,
        Kind::CharDevice => FileType::CharDevice,
        Kind::BlockDevice => FileType::BlockDevice,
    }
}

/// Longest name of one directory entry, in bytes (NAME_MAX; statfs reports the same).
const NAME_MAX: usize = 255;

/// A name from the kernel, which must be UTF-8 to reach any remote, and at most NAME_MAX
/// bytes (ENAMETOOLONG, as on local filesystems: the kernel leaves that check to us).
fn name(n: &OsStr) -> Result<String, Errno> {
    if n.len() > NAME_MAX {
        return Err(Errno::from_i32(libc::ENAMETOOLONG));
    }
    target(n)
}

/// A symlink target: any UTF-8 text (the kernel already caps it at PATH_MAX).
fn target(n: &OsStr) -> Result<String, Errno> {
    n.to_str()
        .map(str::to_string)
        .ok_or(Errno::from_i32(libc::EILSEQ))
}

macro_rules! name_or_reply {
    ($n:expr, $reply:expr) => {
        match name($n) {
            Ok(n) => n,
            Err(e) => return $reply.error(e),
        }
    };
}

fn time(t: Option<TimeOrNow>) -> Option<std::time::SystemTime> {
    t.map(|t| match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => std::time::SystemTime::now(),
    })
}

fn open_mode(flags: OpenFlags) -> OpenMode {
    match flags.acc_mode() {
        OpenAccMode::O_RDONLY => OpenMode::Read,
        _ => OpenMode::Write,
    }
}

/// Page-cache policy for opened files: keep cached pages across opens (the kernel drops them
/// itself when size or mtime change, thanks to FUSE_AUTO_INVAL_DATA).
const OPEN_FLAGS: FopenFlags = FopenFlags::FOPEN_KEEP_CACHE;

impl Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // 1 MiB requests: fewer round trips through the kernel for sequential I/O.
        let _ = config.set_max_write(1 << 20);
        let _ = config.set_max_readahead(1 << 20);
        // More requests in flight at once (readahead, parallel lookups).
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        let wanted = [
            // Concurrent lookups and readdirs in one folder (rsync, parallel find).
            InitFlags::FUSE_PARALLEL_DIROPS,
            // Attributes come with the listing, so `ls -l` needs no lookup per name.
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            // open(O_TRUNC) arrives as one request instead of open + setattr.
            InitFlags::FUSE_ATOMIC_O_TRUNC,
            // Drop cached pages when a file's size or mtime changes (remote update, truncate).
            InitFlags::FUSE_AUTO_INVAL_DATA,
            // Symlink targets never change in place; let the kernel cache them.
            InitFlags::FUSE_CACHE_SYMLINKS,
        ];
        // Not requested: FUSE_WRITEBACK_CACHE. It would let the kernel merge small writes, but
        // it also makes the kernel the owner of mtime and size, and issues reads on write-only
        // handles; we keep write-through to our staging file, which is already local disk.
        for flag in wanted {
            if let Err(missing) = config.add_capabilities(flag) {
                tracing::debug!("kernel lacks FUSE capability {missing:?}");
            }
        }
        // Files whose whole content is on local disk are read and written by the kernel
        // directly (see vfs/direct.rs): local-disk speed, no round trip through us. Needs a
        // stacking depth of 1 (our data files live on an ordinary file system).
        self.passthrough = config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
            && config.set_max_stack_depth(1).is_ok();
        tracing::info!(passthrough = self.passthrough, "FUSE session initialised");
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEntry) {
        let n = name_or_reply!(n, reply);
        self.spawn(move |vfs| async move {
            match vfs.lookup(parent.0, &n).await {
                Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.spawn(move |vfs| async move {
            match vfs.getattr(ino.0).await {
                Ok(a) => reply.attr(&TTL, &file_attr(&a)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime: time(atime),
            mtime: time(mtime),
        };
        self.spawn(move |vfs| async move {
            match vfs.setattr(ino.0, set, fh.map(|f| f.0)).await {
                Ok(a) => reply.attr(&TTL, &file_attr(&a)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.spawn(move |vfs| async move {
            match vfs.readlink(ino.0).await {
                Ok(t) => reply.data(t.as_bytes()),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        n: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let n = name_or_reply!(n, reply);
        let (uid, gid) = (req.uid(), req.gid());
        self.spawn(move |vfs| async move {
            match vfs.mkdir(parent.0, &n, mode & !umask, uid, gid).await {
                Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    /// Regular files only (what `mknod(path, S_IFREG)` asks); FIFOs, sockets and device nodes
    /// have no form on a cloud drive: EPERM, as Linux answers for a filesystem without them.
    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        n: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let n = name_or_reply!(n, reply);
        let special = match mode & libc::S_IFMT {
            libc::S_IFREG => None,
            libc::S_IFIFO => Some(Kind::Fifo),
            libc::S_IFSOCK => Some(Kind::Socket),
            libc::S_IFCHR => Some(Kind::CharDevice),
            libc::S_IFBLK => Some(Kind::BlockDevice),
            _ => return reply.error(Errno::from_i32(libc::EINVAL)),
        };
        let (uid, gid) = (req.uid(), req.gid());
        if let Some(kind) = special {
            return self.spawn(move |vfs| async move {
                match vfs
                    .mknod(parent.0, &n, kind, mode & !umask, rdev, uid, gid)
                    .await
                {
                    Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        self.spawn(move |vfs| async move {
            match vfs.create(parent.0, &n, mode & !umask, uid, gid).await {
                Ok((a, fh)) => match vfs.release(fh).await {
                    Ok(()) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
                    Err(e) => reply.error(errno(&e)),
                },
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    /// Hard links: for FIFOs, sockets and devices (local-only nodes); files and folders get
    /// EPERM, the errno link(2) documents for a filesystem that cannot hold them.
    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        new_parent: INodeNo,
        new_name: &OsStr,
        reply: ReplyEntry,
    ) {
        let new_name = name_or_reply!(new_name, reply);
        self.spawn(move |vfs| async move {
            match vfs.link(ino.0, new_parent.0, &new_name).await {
                Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEmpty) {
        let n = name_or_reply!(n, reply);
        self.spawn(move |vfs| async move {
            match vfs.unlink(parent.0, &n).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEmpty) {
        let n = name_or_reply!(n, reply);
        self.spawn(move |vfs| async move {
            match vfs.rmdir(parent.0, &n).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let link = name_or_reply!(link, reply);
        let target = match self::target(target.as_os_str()) {
            Ok(t) => t,
            Err(e) => return reply.error(e),
        };
        let (uid, gid) = (req.uid(), req.gid());
        self.spawn(move |vfs| async move {
            match vfs.symlink(parent.0, &link, &target, uid, gid).await {
                Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        n: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        let n = name_or_reply!(n, reply);
        let new_name = name_or_reply!(new_name, reply);
        let flags = RenameFlags {
            no_replace: flags.contains(fuser::RenameFlags::RENAME_NOREPLACE),
            exchange: flags.contains(fuser::RenameFlags::RENAME_EXCHANGE),
        };
        self.spawn(move |vfs| async move {
            match vfs
                .rename(parent.0, &n, new_parent.0, &new_name, flags)
                .await
            {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let truncate = flags.0 & libc::O_TRUNC != 0;
        if !self.passthrough {
            return self.spawn(move |vfs| async move {
                match vfs.open(ino.0, open_mode(flags), truncate).await {
                    Ok(fh) => reply.opened(FileHandle(fh), OPEN_FLAGS),
                    Err(e) => reply.error(errno(&e)),
                }
            });
        }
        let backings = self.backings.clone();
        self.spawn(move |vfs| async move {
            let opened = match vfs.open_direct(ino.0, open_mode(flags), truncate).await {
                Ok(o) => o,
                Err(e) => return reply.error(errno(&e)),
            };
            let fh = opened.fh;
            let backing = opened
                .direct
                .map(|file| backings.hold(ino.0, fh, || reply.open_backing(file.as_fd())));
            match backing {
                Some(Ok(id)) => reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), &id),
                Some(Err(e)) => {
                    tracing::debug!(
                        ino = ino.0,
                        "passthrough refused, serving reads ourselves: {e}"
                    );
                    reply.opened(FileHandle(fh), OPEN_FLAGS)
                }
                None => reply.opened(FileHandle(fh), OPEN_FLAGS),
            }
        });
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.spawn(move |vfs| async move {
            match vfs.read(fh.0, offset, size).await {
                Ok(b) => reply.data(&b),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _wflags: WriteFlags,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.spawn(move |vfs| async move {
            match vfs.write(fh.0, offset, &data).await {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.spawn(move |vfs| async move {
            match vfs.flush(fh.0).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.backings.release(fh.0);
        self.spawn(move |vfs| async move {
            match vfs.release(fh.0).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(move |vfs| async move {
            match vfs.fsync(fh.0).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let dirs = Arc::clone(&self.dirs);
        let fh = self.next_dir.fetch_add(1, Ordering::Relaxed);
        self.spawn(move |vfs| async move {
            match vfs.readdir_with_dots(ino.0).await {
                Ok(list) => {
                    lock(&dirs).insert(fh, Arc::new(list));
                    reply.opened(FileHandle(fh), FopenFlags::empty());
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(list) = self.listing(fh) else {
            return reply.error(Errno::from_i32(libc::EBADF));
        };
        for (i, e) in list.iter().enumerate().skip(offset as usize) {
            if reply.add(
                INodeNo(e.attr.ino),
                i as u64 + 1,
                file_type(e.attr.kind),
                &e.name,
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let Some(list) = self.listing(fh) else {
            return reply.error(Errno::from_i32(libc::EBADF));
        };
        // Same sequence and offsets as `readdir` ("." and ".." first): with READDIRPLUS_AUTO
        // the kernel mixes both calls on one handle.
        for (i, e) in list.iter().enumerate().skip(offset as usize) {
            if reply.add(
                INodeNo(e.attr.ino),
                i as u64 + 1,
                &e.name,
                &TTL,
                &file_attr(&e.attr),
                Generation(0),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        lock(&self.dirs).remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(move |vfs| async move {
            match vfs.fsyncdir().await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.spawn(move |vfs| async move {
            const BSIZE: u64 = 4096;
            let u = vfs.statfs().await.unwrap_or_default();
            let total = u.total.unwrap_or(1 << 50) / BSIZE;
            let free = u.free.unwrap_or(total * BSIZE) / BSIZE;
            reply.statfs(
                total,
                free,
                free,
                1 << 32,
                1 << 31,
                BSIZE as u32,
                NAME_MAX as u32,
                BSIZE as u32,
            );
        });
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, n: &OsStr, size: u32, reply: ReplyXattr) {
        if n != STATE_XATTR {
            return reply.error(Errno::from_i32(libc::ENODATA));
        }
        self.spawn(move |vfs| async move {
            match vfs.sync_state(ino.0) {
                Ok(s) => reply_xattr(reply, size, s.as_str().as_bytes()),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, size, format!("{STATE_XATTR}\0").as_bytes());
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // default_permissions makes the kernel check modes itself.
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        n: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let n = name_or_reply!(n, reply);
        let (uid, gid) = (req.uid(), req.gid());
        let (direct, backings) = (self.passthrough, self.backings.clone());
        self.spawn(move |vfs| async move {
            let made = match direct {
                true => {
                    vfs.create_direct(parent.0, &n, mode & !umask, uid, gid)
                        .await
                }
                false => vfs
                    .create(parent.0, &n, mode & !umask, uid, gid)
                    .await
                    .map(|(a, fh)| (a, Opened { fh, direct: None })),
            };
            let (attr, opened) = match made {
                Ok(m) => m,
                Err(e) => return reply.error(errno(&e)),
            };
            let (fh, attr) = (opened.fh, file_attr(&attr));
            let backing = opened
                .direct
                .map(|file| backings.hold(attr.ino.0, fh, || reply.open_backing(file.as_fd())));
            match backing {
                Some(Ok(id)) => reply.created_passthrough(
                    &TTL,
                    &attr,
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::empty(),
                    &id,
                ),
                _ => reply.created(&TTL, &attr, Generation(0), FileHandle(fh), OPEN_FLAGS),
            }
        });
    }
}

impl FuseAdapter {
    fn listing(&self, fh: FileHandle) -> Option<Arc<Vec<DirEntry>>> {
        lock(&self.dirs).get(&fh.0).cloned()
    }
}

fn reply_xattr(reply: ReplyXattr, size: u32, value: &[u8]) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if (size as usize) < value.len() {
        reply.error(Errno::from_i32(libc::ERANGE));
    } else {
        reply.data(value);
    }
}
