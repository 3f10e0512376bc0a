//! Open folder handles and the file-system numbers (`statfs`), for every adapter alike (FUSE
//! now; NFS and WebDAV servers later). A handle holds the listing taken when the folder was
//! opened, "." and ".." first, served by offset until it is released, so paging through a
//! folder stays consistent while it changes. Must not know any adapter's reply types.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ourclone_cache::Ino;

use super::{lock, DirEntry, Vfs};
use crate::error::Result;

/// Longest name of one folder entry, in bytes; names beyond it fail with ENAMETOOLONG.
pub const NAME_MAX: usize = 255;

/// What `statfs` reports, in blocks of `block_size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsStats {
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub block_size: u32,
    pub name_max: u32,
}

impl Vfs {
    /// Opens folder `ino`: its listing now, kept for [`Vfs::dir_listing`].
    pub async fn opendir(&self, ino: Ino) -> Result<u64> {
        let list = self.readdir_with_dots(ino).await?;
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.dirs).insert(fh, Arc::new(list));
        Ok(fh)
    }

    /// The listing an open folder handle holds.
    pub fn dir_listing(&self, fh: u64) -> Option<Arc<Vec<DirEntry>>> {
        lock(&self.dirs).get(&fh).cloned()
    }

    pub fn releasedir(&self, fh: u64) {
        lock(&self.dirs).remove(&fh);
    }

    /// Space as the remote reports it (a petabyte, all free, when it does not); inodes are
    /// not limited.
    pub async fn fs_stats(&self) -> FsStats {
        const BSIZE: u64 = 4096;
        let u = self.statfs().await.unwrap_or_default();
        let total = u.total.unwrap_or(1 << 50) / BSIZE;
        let free = u.free.unwrap_or(total * BSIZE) / BSIZE;
        FsStats {
            blocks: total,
            blocks_free: free,
            blocks_available: free,
            files: 1 << 32,
            files_free: 1 << 31,
            block_size: BSIZE as u32,
            name_max: NAME_MAX as u32,
        }
    }
}
