//! From Vfs answers to kernel replies: attribute and type conversion, and [`Answer`], the one
//! "reply with the value or with its errno" shape every callback shares (failed replies are
//! logged at debug with the op, the errno and the kernel's request id). Owns those
//! conversions; must not decide anything.

use fuser::{
    Errno, FileAttr, FileType, Generation, INodeNo, ReplyAttr, ReplyData, ReplyEmpty, ReplyEntry,
    ReplyWrite,
};
use ourclone_cache::Kind;

use super::TTL;
use crate::vfs::Attr;
use crate::VfsError;

pub fn file_attr(a: &Attr) -> FileAttr {
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

pub fn file_type(k: Kind) -> FileType {
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

/// A kernel reply that carries a `T` on success.
pub trait Answer<T>: Send + 'static {
    fn value(self, v: T);
    fn errno(self, e: Errno);

    /// Replies with `result`; an error is logged at debug with `op` and the request id.
    fn answer(self, op: &'static str, request: u64, result: Result<T, VfsError>)
    where
        Self: Sized,
    {
        match result {
            Ok(v) => self.value(v),
            Err(e) => {
                let errno = e.errno();
                tracing::debug!(op, errno, request, "{e}");
                self.errno(Errno::from_i32(errno));
            }
        }
    }
}

impl Answer<Attr> for ReplyEntry {
    fn value(self, a: Attr) {
        self.entry(&TTL, &file_attr(&a), Generation(0));
    }
    fn errno(self, e: Errno) {
        self.error(e);
    }
}

impl Answer<Attr> for ReplyAttr {
    fn value(self, a: Attr) {
        self.attr(&TTL, &file_attr(&a));
    }
    fn errno(self, e: Errno) {
        self.error(e);
    }
}

impl Answer<()> for ReplyEmpty {
    fn value(self, (): ()) {
        self.ok();
    }
    fn errno(self, e: Errno) {
        self.error(e);
    }
}

impl<B: AsRef<[u8]>> Answer<B> for ReplyData {
    fn value(self, b: B) {
        self.data(b.as_ref());
    }
    fn errno(self, e: Errno) {
        self.error(e);
    }
}

impl Answer<u32> for ReplyWrite {
    fn value(self, n: u32) {
        self.written(n);
    }
    fn errno(self, e: Errno) {
        self.error(e);
    }
}
