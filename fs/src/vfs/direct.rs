//! Direct I/O for files whose whole content is on local disk: the adapter may hand the data
//! file to the kernel (FUSE passthrough, Linux 6.9+) so reads and writes run at local-disk
//! speed without a round trip through us. We then learn about writes by looking at the data
//! file (size and mtime) when a handle is flushed, synced or closed, and when attributes are
//! asked. The kernel forbids mixing passthrough and cached opens of one inode, so the first
//! open of an inode chooses its mode and later opens follow it until the last one closes.
//! Must not decide anything about uploads.

use std::fs::File;
use std::sync::Arc;

use ourclone_cache::{from_nanos, to_nanos, Ino};

use super::file::{OpenFile, OpenMode};
use super::{lock, Attr, Vfs};
use crate::error::Result;

/// The mtime data files of direct handles are parked at (one second after the epoch).
const WRITE_MARKER: ourclone_cache::Nanos = 1_000_000_000;

/// An open handle, and the data file the kernel may use directly for it.
pub struct Opened {
    pub fh: u64,
    pub direct: Option<Arc<File>>,
}

impl Vfs {
    /// Like [`Vfs::open`], and also returns the data file when the handle may use direct I/O.
    pub async fn open_direct(&self, ino: Ino, mode: OpenMode, truncate: bool) -> Result<Opened> {
        let fh = self.open(ino, mode, truncate).await?;
        self.offer_direct(ino, fh, mode).await
    }

    /// Like [`Vfs::create`], and also returns the data file for direct I/O.
    pub async fn create_direct(
        &self,
        parent: Ino,
        name: &str,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<(Attr, Opened)> {
        let (attr, fh) = self.create(parent, name, mode, uid, gid).await?;
        Ok((
            attr,
            self.offer_direct(attr.ino, fh, OpenMode::Write).await?,
        ))
    }

    async fn offer_direct(&self, ino: Ino, fh: u64, mode: OpenMode) -> Result<Opened> {
        let (_, _, of) = self.handle(fh)?;
        let local = lock(&of.data).clone();
        let direct = *lock(&of.direct).get_or_insert(local.is_some());
        if !direct {
            return Ok(Opened { fh, direct: None });
        }
        let file = match local {
            Some(f) => f,
            None => self.ensure_local(ino, &of, false).await?,
        };
        if mode == OpenMode::Write {
            // From here on, a change of the data file's mtime means the kernel wrote to it.
            // Parked already: other write handles are open, pick up what they wrote.
            let parked = file.metadata()?.modified().map(to_nanos).ok() == Some(WRITE_MARKER);
            if parked {
                self.sense_direct_writes(ino, &of);
            } else {
                let _live = lock(&of.live);
                file.set_modified(from_nanos(WRITE_MARKER))?;
            }
        }
        Ok(Opened {
            fh,
            direct: Some(file),
        })
    }

    /// Picks up what the kernel wrote through direct handles of `ino` into the live size and
    /// mtime, and marks the file dirty if anything changed. The data file's own mtime is only a
    /// change detector (the file's mtime is the live one): it is parked at [`WRITE_MARKER`], a
    /// time no kernel write can stamp, so even a same-size overwrite within one timestamp tick
    /// of the last one is seen.
    pub(crate) fn sense_direct_writes(&self, ino: Ino, of: &OpenFile) {
        if *lock(&of.direct) != Some(true) || !self.tree.locks.has_writers(ino) {
            return;
        }
        let Some(file) = lock(&of.data).clone() else {
            return;
        };
        // Under the live lock: setattr changes the data file's mtime and the live one together.
        let mut live = lock(&of.live);
        let Ok(meta) = file.metadata() else { return };
        let (size, mtime) = (meta.len(), meta.modified().map(to_nanos).unwrap_or(0));
        if mtime != WRITE_MARKER {
            live.mtime = mtime;
            live.size = size;
            live.dirty = true;
            if let Err(e) = file.set_modified(from_nanos(WRITE_MARKER)) {
                tracing::warn!(ino, "cannot reset the write detector of a data file: {e}");
            }
        } else if size != live.size {
            live.size = size;
            live.dirty = true;
        }
    }
}
