//! The thin adapter from fuser's callbacks to the [`Vfs`]. Each callback runs its work on the
//! request's own thread until the work would wait (on the network, a lock, a blocking task),
//! then hands it to the tokio runtime, which replies ([`FuseAdapter::run`]): no kernel thread
//! ever waits on the network, and work that never waits costs no thread hand-over. Owns the kernel capabilities asked for and the decoding of
//! requests; session setup is in `session.rs`, reply conversions in `reply.rs`. Must hold no
//! filesystem logic of its own (folder handles and statfs numbers are the Vfs's too).

mod reply;
mod session;

use std::ffi::OsStr;
use std::future::Future;
use std::os::fd::AsFd;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use fuser::{
    AccessFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use ourclone_cache::Kind;
use tokio::runtime::Handle;

use crate::backing::Backings;
use crate::vfs::{OpenMode, Opened, RenameFlags, SetAttr, Vfs, NAME_MAX};
use crate::VfsError;
use reply::{file_attr, file_type, Answer};
pub use session::{forward_invalidations, mount_config, serve, FuseMount, FS_TYPE};

/// How long the kernel may trust an attribute or name answer without asking again. We are the
/// only writer of our tree between listings, so a longer TTL is safe and saves round trips on
/// `ls -lR`; remote changes show up at the next listing refresh anyway.
const TTL: Duration = Duration::from_secs(10);

/// The xattr that tells whether a file is safely in the cloud.
pub const STATE_XATTR: &str = "user.ourclone.state";

pub struct FuseAdapter {
    vfs: Arc<Vfs>,
    rt: Handle,
    /// The kernel agreed to FUSE passthrough (Linux 6.9+).
    passthrough: bool,
    backings: Arc<Backings>,
}

impl FuseAdapter {
    pub fn new(vfs: Arc<Vfs>, rt: Handle) -> Self {
        Self {
            vfs,
            rt,
            passthrough: false,
            backings: Arc::new(Backings::default()),
        }
    }

    /// Runs `work` with a clone of the Vfs: polled once here, on the request's thread, and
    /// handed to the runtime only if it has to wait. Most operations on cached folders finish
    /// in that first poll, and waking a worker (then the caller, from there) costs more than
    /// they do. A panic drops the work, as a panicking runtime task would (its reply answers
    /// EIO when dropped).
    fn run<F, Fut>(&self, work: F)
    where
        F: FnOnce(Arc<Vfs>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut task = Box::pin(work(Arc::clone(&self.vfs)));
        let pending = {
            let _rt = self.rt.enter();
            let mut cx = Context::from_waker(Waker::noop());
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                task.as_mut().poll(&mut cx).is_pending()
            }))
        };
        // A well-behaved future registers its waker again at every poll, so the runtime's
        // first poll takes over from the no-op waker used here.
        if pending.unwrap_or(false) {
            self.rt.spawn(task);
        }
    }

    /// Runs `work` (see [`FuseAdapter::run`]) and answers the kernel with its result (or its
    /// errno).
    fn answer<T, R, F, Fut>(&self, op: &'static str, req: &Request, reply: R, work: F)
    where
        T: Send + 'static,
        R: Answer<T>,
        F: FnOnce(Arc<Vfs>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, VfsError>> + Send + 'static,
    {
        let request = req.unique().0;
        self.run(move |vfs| async move { reply.answer(op, request, work(vfs).await) });
    }

    /// Like [`FuseAdapter::answer`], but on this request's own thread: for operations that
    /// never wait on the remote (flush, release), where handing over to a worker and waking
    /// it costs more than the work itself.
    fn answer_here<T, R, F, Fut>(&self, op: &'static str, req: &Request, reply: R, work: F)
    where
        T: Send + 'static,
        R: Answer<T>,
        F: FnOnce(Arc<Vfs>) -> Fut,
        Fut: Future<Output = Result<T, VfsError>>,
    {
        let request = req.unique().0;
        let done = self.rt.block_on(work(Arc::clone(&self.vfs)));
        reply.answer(op, request, done);
    }
}

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

    fn lookup(&self, req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEntry) {
        let n = name_or_reply!(n, reply);
        // A cached listing answers on this thread: handing over to a worker would cost more
        // than the lookup itself (a shell creating files asks for every new name).
        let cached = {
            let _rt = self.rt.enter();
            self.vfs.lookup_cached(parent.0, &n)
        };
        match cached {
            Some(done) => reply.answer("lookup", req.unique().0, done),
            None => self.answer("lookup", req, reply, move |vfs| async move {
                vfs.lookup(parent.0, &n).await
            }),
        }
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        // Never waits on the remote: answered on this thread.
        self.answer_here("getattr", req, reply, move |vfs| async move {
            vfs.getattr(ino.0).await
        });
    }

    fn setattr(
        &self,
        req: &Request,
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
        self.answer("setattr", req, reply, move |vfs| async move {
            vfs.setattr(ino.0, set, fh.map(|f| f.0)).await
        });
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        self.answer("readlink", req, reply, move |vfs| async move {
            vfs.readlink(ino.0).await
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
        self.answer("mkdir", req, reply, move |vfs| async move {
            vfs.mkdir(parent.0, &n, mode & !umask, uid, gid).await
        });
    }

    /// Regular files, and FIFOs, sockets and device nodes, which are kept on this machine only
    /// (they have no form on a cloud drive).
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
        let (uid, gid, mode) = (req.uid(), req.gid(), mode & !umask);
        self.answer("mknod", req, reply, move |vfs| async move {
            match special {
                Some(kind) => vfs.mknod(parent.0, &n, kind, mode, rdev, uid, gid).await,
                None => {
                    let (a, fh) = vfs.create(parent.0, &n, mode, uid, gid).await?;
                    vfs.release(fh).await.map(|()| a)
                }
            }
        });
    }

    /// Hard links: for FIFOs, sockets and devices (local-only nodes); files and folders get
    /// EPERM, the errno link(2) documents for a filesystem that cannot hold them.
    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        new_parent: INodeNo,
        new_name: &OsStr,
        reply: ReplyEntry,
    ) {
        let new_name = name_or_reply!(new_name, reply);
        self.answer("link", req, reply, move |vfs| async move {
            vfs.link(ino.0, new_parent.0, &new_name).await
        });
    }

    fn unlink(&self, req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEmpty) {
        let n = name_or_reply!(n, reply);
        self.answer("unlink", req, reply, move |vfs| async move {
            vfs.unlink(parent.0, &n).await
        });
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEmpty) {
        let n = name_or_reply!(n, reply);
        self.answer("rmdir", req, reply, move |vfs| async move {
            vfs.rmdir(parent.0, &n).await
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
        self.answer("symlink", req, reply, move |vfs| async move {
            vfs.symlink(parent.0, &link, &target, uid, gid).await
        });
    }

    fn rename(
        &self,
        req: &Request,
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
        self.answer("rename", req, reply, move |vfs| async move {
            vfs.rename(parent.0, &n, new_parent.0, &new_name, flags)
                .await
        });
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let truncate = flags.0 & libc::O_TRUNC != 0;
        let request = req.unique().0;
        let (direct, backings) = (self.passthrough, self.backings.clone());
        self.run(move |vfs| async move {
            let opened = match direct {
                true => vfs.open_direct(ino.0, open_mode(flags), truncate).await,
                false => vfs
                    .open(ino.0, open_mode(flags), truncate)
                    .await
                    .map(|fh| Opened { fh, direct: None }),
            };
            let opened = match opened {
                Ok(o) => o,
                Err(e) => return failed(reply, "open", request, &e),
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
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.answer("read", req, reply, move |vfs| async move {
            vfs.read(fh.0, offset, size).await
        });
    }

    fn write(
        &self,
        req: &Request,
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
        self.answer("write", req, reply, move |vfs| async move {
            vfs.write(fh.0, offset, &data).await
        });
    }

    fn flush(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.answer_here("flush", req, reply, move |vfs| async move {
            vfs.flush(fh.0).await
        });
    }

    fn release(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.backings.release(fh.0);
        self.answer_here("release", req, reply, move |vfs| async move {
            vfs.release(fh.0).await
        });
    }

    fn fsync(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.answer("fsync", req, reply, move |vfs| async move {
            vfs.fsync(fh.0).await
        });
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let request = req.unique().0;
        self.run(move |vfs| async move {
            match vfs.opendir(ino.0).await {
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                Err(e) => failed(reply, "opendir", request, &e),
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
        let Some(list) = self.vfs.dir_listing(fh.0) else {
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
        let Some(list) = self.vfs.dir_listing(fh.0) else {
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
        self.vfs.releasedir(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.answer("fsyncdir", req, reply, move |vfs| async move {
            vfs.fsyncdir().await
        });
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.run(move |vfs| async move {
            let s = vfs.fs_stats().await;
            reply.statfs(
                s.blocks,
                s.blocks_free,
                s.blocks_available,
                s.files,
                s.files_free,
                s.block_size,
                s.name_max,
                s.block_size,
            );
        });
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, n: &OsStr, size: u32, reply: ReplyXattr) {
        if n != STATE_XATTR {
            // Only `user.` names are ours to answer "none"; the namespaces we never keep
            // (security., system., trusted.) are unsupported, which `ls -l` remembers per
            // filesystem instead of asking for a SELinux context and an ACL of every file.
            let errno = match n.as_encoded_bytes().starts_with(b"user.") {
                true => libc::ENODATA,
                false => libc::EOPNOTSUPP,
            };
            return reply.error(Errno::from_i32(errno));
        }
        let request = req.unique().0;
        self.run(move |vfs| async move {
            match vfs.sync_state(ino.0) {
                Ok(s) => reply_xattr(reply, size, s.as_str().as_bytes()),
                Err(e) => failed(reply, "getxattr", request, &e),
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
        let (uid, gid, request) = (req.uid(), req.gid(), req.unique().0);
        let (direct, backings) = (self.passthrough, self.backings.clone());
        self.run(move |vfs| async move {
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
                Err(e) => return failed(reply, "create", request, &e),
            };
            let (fh, attr) = (opened.fh, file_attr(&attr));
            let backing = opened
                .direct
                .map(|file| backings.hold(attr.ino.0, fh, || reply.open_backing(file.as_fd())));
            match backing {
                // No FLUSH at close(2): the kernel writes this handle's data straight into the
                // data file, and the file's journal record exists from `create` on, so a crash
                // before the RELEASE that follows loses nothing (recovery takes the data file's
                // length, see `recovery.rs`). Saves two round trips per new file (shells close
                // a redirected descriptor twice).
                Some(Ok(id)) => reply.created_passthrough(
                    &TTL,
                    &attr,
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::FOPEN_NOFLUSH,
                    &id,
                ),
                _ => reply.created(&TTL, &attr, Generation(0), FileHandle(fh), OPEN_FLAGS),
            }
        });
    }
}

/// Replies with `e`'s errno to a reply that carries more than one kind of answer (open,
/// create, opendir, getxattr), logging it as [`Answer::answer`] does.
fn failed(reply: impl ErrorReply, op: &'static str, request: u64, e: &VfsError) {
    let errno = e.errno();
    tracing::debug!(op, errno, request, "{e}");
    reply.fail(Errno::from_i32(errno));
}

/// The error half of a reply, for [`failed`].
trait ErrorReply {
    fn fail(self, e: Errno);
}

impl ErrorReply for ReplyOpen {
    fn fail(self, e: Errno) {
        self.error(e);
    }
}

impl ErrorReply for ReplyCreate {
    fn fail(self, e: Errno) {
        self.error(e);
    }
}

impl ErrorReply for ReplyXattr {
    fn fail(self, e: Errno) {
        self.error(e);
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
