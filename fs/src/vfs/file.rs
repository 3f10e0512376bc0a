//! File handles and file I/O: open, read, write, flush, fsync, release, and attribute changes
//! (truncate, chmod, chown, utimens). Content being written lives in the DataStore; `flush` and
//! `fsync` make it durable and journal it before they return. Must not upload; the Uploader does.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ourclone_cache::{now_nanos, to_nanos, AttrChange, CacheError, Ino, Kind, Nanos, Node};
use ourclone_remote::os;

use super::prefetch::ReadAhead;
use super::{lock, Attr, RenameFlags, Vfs};
use crate::error::{Result, VfsError};

/// How a handle was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    Read,
    Write,
}

pub(crate) struct Handle {
    pub ino: Ino,
    pub mode: OpenMode,
}

/// Size and mtime of an open file as writes change them, ahead of the MetaStore.
#[derive(Clone, Copy)]
pub(crate) struct Live {
    pub size: u64,
    pub mtime: Nanos,
    /// Written since the last flush.
    pub dirty: bool,
    /// Written at all since the file was opened.
    pub wrote: bool,
    pub guard: Guard,
}

/// How a journal record covers the writers of an open file (see [`Vfs::guard_writes`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Guard {
    /// No write handle yet.
    #[default]
    None,
    /// A record existed before the first write handle (or the file was created here).
    Earlier,
    /// The first write handle added the record: it goes again if nothing is written.
    Added,
}

/// A file with at least one open handle.
pub(crate) struct OpenFile {
    /// The local data file, when the content is local (being written, or fetched whole).
    pub data: Mutex<Option<Arc<File>>>,
    pub live: Mutex<Live>,
    pub handles: Mutex<u32>,
    pub ra: Mutex<ReadAhead>,
    /// Whether the kernel does this inode's I/O directly (see `direct.rs`); `None` until a
    /// handle asks.
    pub direct: Mutex<Option<bool>>,
    /// The node as it was when the file was opened. Reads of remote content follow this
    /// version (at the node's current place) until the last handle closes: a listing refresh that finds the file changed or
    /// deleted elsewhere does not change what an open handle reads (cached blocks of that
    /// version keep being served).
    pub opened: Node,
}

impl OpenFile {
    /// Whether there are writes to journal; taken, not read: a write that lands from here on
    /// marks the file dirty again.
    pub(crate) fn take_dirty(&self) -> bool {
        let mut live = lock(&self.live);
        live.wrote |= live.dirty;
        std::mem::replace(&mut live.dirty, false)
    }

    /// Gives the node the file's live size and mtime (inside the transaction that journals
    /// them).
    pub(crate) fn journal_into(&self, n: &mut Node) {
        let live = lock(&self.live);
        n.size = live.size;
        n.mtime = live.mtime;
        // The change happened at the last write or truncate, not at this close.
        n.ctime = n.ctime.max(live.mtime);
        n.local_full = true;
    }
}

/// Changes `setattr` may carry.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<std::time::SystemTime>,
    pub mtime: Option<std::time::SystemTime>,
}

/// Bytes asked of the read path at a time when fetching a whole file.
const FETCH_CHUNK: u64 = 8 << 20;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(VfsError::Errno(libc::EIO, "local I/O task failed")),
    }
}

/// Writes as much of `data` at `offset` as the disk takes: the bytes written, and the error
/// that stopped it short, if any.
fn write_some_at(file: &File, data: &[u8], offset: u64) -> (usize, Option<std::io::Error>) {
    let mut done = 0;
    while done < data.len() {
        match os::write_at(file, &data[done..], offset + done as u64) {
            Ok(0) => return (done, Some(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

impl Vfs {
    /// The open-file record of `ino`, created on first open.
    fn open_file(&self, ino: Ino, node: &Node) -> Arc<OpenFile> {
        let mut open = lock(&self.open);
        let of = open.entry(ino).or_insert_with(|| {
            Arc::new(OpenFile {
                data: Mutex::new(None),
                live: Mutex::new(Live {
                    size: node.size,
                    mtime: node.mtime,
                    dirty: false,
                    wrote: false,
                    guard: Guard::None,
                }),
                handles: Mutex::new(0),
                ra: Mutex::new(ReadAhead::default()),
                direct: Mutex::new(None),
                opened: node.clone(),
            })
        });
        *lock(&of.handles) += 1;
        Arc::clone(of)
    }

    fn new_handle(&self, ino: Ino, mode: OpenMode) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(fh, Handle { ino, mode });
        if mode == OpenMode::Write {
            self.tree.locks.writer_opened(ino);
        }
        fh
    }

    pub(crate) fn handle(&self, fh: u64) -> Result<(Ino, OpenMode, Arc<OpenFile>)> {
        let (ino, mode) = lock(&self.handles)
            .get(&fh)
            .map(|h| (h.ino, h.mode))
            .ok_or(VfsError::Errno(libc::EBADF, "bad file handle"))?;
        let of = lock(&self.open)
            .get(&ino)
            .cloned()
            .ok_or(VfsError::Errno(libc::EBADF, "file not open"))?;
        Ok((ino, mode, of))
    }

    /// Makes the whole content of `ino` local (fetching it from the remote unless `truncate`)
    /// and returns the data file.
    pub(crate) async fn ensure_local(
        &self,
        ino: Ino,
        of: &OpenFile,
        truncate: bool,
    ) -> Result<Arc<File>> {
        if let Some(f) = lock(&of.data).clone() {
            return Ok(f);
        }
        let _g = self.tree.locks.lock(ino).await;
        if let Some(f) = lock(&of.data).clone() {
            return Ok(f);
        }
        let mut node = self.meta().get(ino)?;
        if node.local_full && !truncate && !self.local_copy_is_whole(ino, &node)? {
            node = self.distrust_local_copy(ino, &node, of)?;
        }
        if !node.local_full && !truncate {
            self.fetch_whole(ino, &node).await?;
            self.meta().update(ino, |n| n.local_full = true)?;
        }
        // About to change: no longer clean cache the LRU may drop.
        self.blocks.release_file(ino);
        let data = Arc::clone(&self.data);
        let size = node.size;
        let file = Arc::new(
            blocking(move || {
                let f = data.open_rw(ino)?;
                // Bytes past the node's size are not the file's (recovery gives a pending
                // file its data file's length): they must not reappear if it is extended.
                if !truncate && f.metadata()?.len() > size {
                    f.set_len(size)?;
                }
                Ok(f)
            })
            .await?,
        );
        *lock(&of.data) = Some(Arc::clone(&file));
        Ok(file)
    }

    /// True when the data file of `ino` holds at least the node's size. A missing or short data
    /// file (a cache accident: a cleaner, a user, a disk error) must never be taken for the
    /// content, or an append would replace the remote file with a few bytes.
    fn local_copy_is_whole(&self, ino: Ino, node: &Node) -> Result<bool> {
        Ok(self.data.len(ino)?.unwrap_or(0) >= node.size)
    }

    /// The local copy of `ino` is damaged: a clean file falls back to the remote copy; a file
    /// with changes not yet uploaded cannot be rebuilt, so it fails with EIO (and the remote
    /// keeps its previous version) instead of being completed with zeros.
    fn distrust_local_copy(&self, ino: Ino, node: &Node, of: &OpenFile) -> Result<Node> {
        let dirty = self.meta().record(ino)?.is_some() || node.remote.is_none();
        if dirty || lock(&of.live).dirty {
            tracing::error!(
                ino,
                name = %node.name,
                "the local copy of a file with changes not yet uploaded is missing or short"
            );
            return Err(VfsError::Errno(
                libc::EIO,
                "local copy of unsaved changes is damaged",
            ));
        }
        tracing::warn!(ino, name = %node.name, "local copy missing or short; fetching the remote copy again");
        self.blocks.release_file(ino);
        Ok(self.meta().update(ino, |n| n.local_full = false)?)
    }

    /// Copies the whole remote content of `ino` into its data file, through the BlockCache.
    /// Refuses with ENOSPC up front when the disk cannot hold it, and never leaves a partial
    /// copy behind.
    async fn fetch_whole(&self, ino: Ino, node: &Node) -> Result<()> {
        if self.data.free_space()? < node.size {
            return Err(VfsError::Errno(
                libc::ENOSPC,
                "no room on the cache disk for a local copy",
            ));
        }
        let tmp = self.data.scratch(ino);
        let fetched = self.fetch_into(ino, node, &tmp).await;
        if fetched.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        fetched
    }

    async fn fetch_into(&self, ino: Ino, node: &Node, tmp: &std::path::Path) -> Result<()> {
        let out = File::create(tmp)?;
        let ra = Mutex::new(ReadAhead::default());
        let mut off = 0;
        while off < node.size {
            let chunk = self
                .read_remote(ino, node, &ra, off, FETCH_CHUNK.min(node.size - off))
                .await?;
            if chunk.is_empty() {
                break;
            }
            os::write_all_at(&out, &chunk, off)?;
            off += chunk.len() as u64;
        }
        out.sync_all()?;
        self.data.install(ino, tmp)?;
        Ok(())
    }

    pub async fn open(&self, ino: Ino, mode: OpenMode, truncate: bool) -> Result<u64> {
        self.settle_unjournaled();
        let node = self.meta().get(ino)?;
        match node.kind {
            Kind::Dir => return Err(CacheError::IsADirectory.into()),
            Kind::Symlink => return Err(VfsError::Errno(libc::ELOOP, "is a symlink")),
            Kind::Fifo | Kind::Socket | Kind::CharDevice | Kind::BlockDevice => {
                return Err(VfsError::Errno(libc::ENXIO, "special file"))
            }
            Kind::File => {}
        }
        let of = self.open_file(ino, &node);
        let fh = self.new_handle(ino, mode);
        let prepared = async {
            if mode == OpenMode::Write || node.local_full {
                let file = self.ensure_local(ino, &of, truncate).await?;
                // After the local copy is known whole (a damaged one of a clean file is
                // fetched again, which a record would forbid), before any change to it.
                if mode == OpenMode::Write {
                    self.guard_writes(ino, &of)?;
                }
                if truncate && mode == OpenMode::Write {
                    self.truncate(ino, &of, &file, 0)?;
                }
            }
            Ok::<_, VfsError>(())
        };
        if let Err(e) = prepared.await {
            self.release(fh).await?;
            return Err(e);
        }
        Ok(fh)
    }

    pub async fn create(
        &self,
        parent: Ino,
        name: &str,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<(Attr, u64)> {
        self.ensure_listed(parent).await?;
        let node = Node::new_local(parent, name, Kind::File, mode, uid, gid);
        // Journalled in the same commit: the kernel may write straight into the data file
        // (passthrough) and a crash before the first close must not lose what it wrote.
        let (ino, node) = self.meta().create_local(node, true)?;
        let of = self.open_file(ino, &node);
        {
            let mut live = lock(&of.live);
            live.dirty = true;
            live.guard = Guard::Earlier;
        }
        let fh = self.new_handle(ino, OpenMode::Write);
        // On this worker, not a blocking thread: creating an empty local file is quicker than
        // the hand-over (and it is on every create of `tar x` and `git clone`).
        let file = self.data.open_rw(ino)?;
        // Inode numbers are never reused, so the data file is new and empty. Truncating it
        // anyway would cost a writeback at its close: ext4 flushes a file truncated to 0 when
        // it is closed (its guard for programs that replace files by truncation).
        if file.metadata()?.len() != 0 {
            file.set_len(0)?;
        }
        *lock(&of.data) = Some(Arc::new(file));
        Ok((self.attr_of(ino, &node), fh))
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes> {
        let (ino, _, of) = self.handle(fh)?;
        let file = lock(&of.data).clone();
        if let Some(file) = file {
            let end = lock(&of.live).size;
            let len = (size as u64).min(end.saturating_sub(offset)) as usize;
            return blocking(move || {
                let mut buf = vec![0u8; len];
                let mut done = 0;
                while done < len {
                    match os::read_at(&file, &mut buf[done..], offset + done as u64)? {
                        // The data file is shorter than the file: never answer short.
                        0 => return Err(std::io::Error::from_raw_os_error(libc::EIO)),
                        n => done += n,
                    }
                }
                Ok(Bytes::from(buf))
            })
            .await;
        }
        // The version this file was opened with, at the node's current place (a rename here
        // moves the object on the remote too); the node as opened if it has left the tree.
        let node = match self.meta().get(ino) {
            Ok(mut now) => {
                now.remote = of.opened.remote.clone();
                now.size = of.opened.size;
                now
            }
            Err(CacheError::NotFound) => of.opened.clone(),
            Err(e) => return Err(e.into()),
        };
        self.read_remote(ino, &node, &of.ra, offset, size as u64)
            .await
    }

    pub async fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Result<u32> {
        let (ino, mode, of) = self.handle(fh)?;
        if mode != OpenMode::Write {
            return Err(VfsError::Errno(libc::EBADF, "not open for writing"));
        }
        if self.blocks.add_dirty_bytes(data.len() as u64) > self.blocks.cap() {
            self.wait_for_room().await?;
        }
        let file = self.ensure_local(ino, &of, false).await?;
        // A full disk may stop the write part-way: what landed is reported as a short write
        // (as write(2) does), so size, data file and journal agree; nothing landed is ENOSPC.
        let (done, failed) = write_some_at(&file, data, offset);
        if done == 0 {
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
        let mut live = lock(&of.live);
        live.size = live.size.max(offset + done as u64);
        live.mtime = now_nanos();
        live.dirty = true;
        Ok(done as u32)
    }

    fn truncate(&self, ino: Ino, of: &OpenFile, file: &File, size: u64) -> Result<()> {
        file.set_len(size)?;
        let mut live = lock(&of.live);
        live.size = size;
        live.mtime = now_nanos();
        live.dirty = true;
        let _ = ino;
        Ok(())
    }

    /// Journals what was written through `ino`'s handles for upload: from here on a crash of
    /// the daemon keeps it (the data file and the intent log are in the page cache). With
    /// `durable` (fsync, or close under `--sync-close`) it also survives power loss before
    /// this returns; otherwise the next background commit makes it so.
    async fn persist(&self, ino: Ino, of: &OpenFile, durable: bool) -> Result<()> {
        self.sense_direct_writes(ino, of);
        if of.take_dirty() {
            // Size and mtime are read inside the transaction, so a concurrent utimens (which
            // sets the live mtime before its own transaction) is never overwritten by an
            // older value.
            let changed = self.meta().change(ino, |n| of.journal_into(n));
            if changed.is_err() {
                lock(&of.live).dirty = true;
            }
            changed?;
        }
        // Even with nothing new from these handles, fsync promises that every change before
        // it survives power loss.
        if durable {
            // Where a group commit cannot sync the whole file system (Windows), the file's
            // own data goes first.
            let data = lock(&of.data).clone();
            if let Some(file) = data.filter(|_| !cfg!(unix)) {
                blocking(move || file.sync_data()).await?;
            }
            self.sync_meta().await?;
        }
        Ok(())
    }

    /// Called on every close(2) of a descriptor: the written data is journalled when it
    /// returns (and survives power loss too under `--sync-close`).
    pub async fn flush(&self, fh: u64) -> Result<()> {
        let (ino, mode, of) = self.handle(fh)?;
        if mode == OpenMode::Write {
            self.persist(ino, &of, self.cfg.sync_close).await?;
        }
        Ok(())
    }

    /// Sets the mtime the next flush of `fh` journals with the file's size: a copy that gives
    /// a file its source's time costs no commit of its own.
    pub fn stage_mtime(&self, fh: u64, mtime: std::time::SystemTime) -> Result<()> {
        let (_, _, of) = self.handle(fh)?;
        let mut live = lock(&of.live);
        live.mtime = to_nanos(mtime);
        live.dirty = true;
        Ok(())
    }

    /// [`Vfs::flush`] of `fh`, then renames its file, in one commit: a copy's last step, after
    /// which the content is journalled under its final name. (Size and mtime are taken just
    /// before the transaction: the caller is the only one writing.)
    pub async fn flush_and_rename(
        &self,
        fh: u64,
        names: (Ino, &str, Ino, &str),
        flags: RenameFlags,
    ) -> Result<()> {
        let (ino, mode, of) = self.handle(fh)?;
        if mode != OpenMode::Write {
            return self.rename_with(names, flags, None).await;
        }
        self.sense_direct_writes(ino, &of);
        let content = {
            let mut live = lock(&of.live);
            live.wrote |= live.dirty;
            std::mem::replace(&mut live.dirty, false).then_some((live.size, live.mtime))
        };
        let renamed = self.rename_with(names, flags, content).await;
        if renamed.is_err() && content.is_some() {
            lock(&of.live).dirty = true;
        }
        renamed?;
        if self.cfg.sync_close {
            self.sync_meta().await?;
        }
        Ok(())
    }

    pub async fn fsync(&self, fh: u64) -> Result<()> {
        let (ino, _, of) = self.handle(fh)?;
        self.persist(ino, &of, true).await
    }

    /// Makes namespace changes durable (fsync on a folder).
    pub async fn fsyncdir(&self) -> Result<()> {
        self.sync_meta().await
    }

    pub async fn release(&self, fh: u64) -> Result<()> {
        let Some(h) = lock(&self.handles).remove(&fh) else {
            return Ok(());
        };
        let of = lock(&self.open).get(&h.ino).cloned();
        let Some(of) = of else {
            if h.mode == OpenMode::Write {
                self.tree.locks.writer_closed(h.ino);
            }
            return Ok(());
        };
        if h.mode == OpenMode::Write && self.defer_close(h.ino, &of) {
            return Ok(());
        }
        let persisted = if h.mode == OpenMode::Write {
            self.persist(h.ino, &of, self.cfg.sync_close).await
        } else {
            Ok(())
        };
        self.close_handle(h.ino, &of, h.mode, persisted.is_ok())?;
        persisted
    }

    /// What a release does once the handle's writes are journalled (`persisted`) or failed
    /// to be: the handle stops counting, and the last one of a file settles its record.
    pub(crate) fn close_handle(
        &self,
        ino: Ino,
        of: &OpenFile,
        mode: OpenMode,
        persisted: bool,
    ) -> Result<()> {
        // Under the map's lock, as `open_file` counts a new handle: an open racing with this
        // release either finds the record still counted or makes a fresh one.
        let last = {
            let mut open = lock(&self.open);
            let mut n = lock(&of.handles);
            *n -= 1;
            if *n == 0 {
                open.remove(&ino);
            }
            *n == 0
        };
        if last && mode == OpenMode::Write {
            let live = *lock(&of.live);
            let guard_only = live.guard == Guard::Added;
            if !persisted && live.dirty {
                lock(&self.unjournaled).push((ino, guard_only));
                self.settle_unjournaled();
            } else if persisted && guard_only && !live.wrote {
                self.drop_guard(ino);
            }
        }
        if mode == OpenMode::Write {
            self.tree.locks.writer_closed(ino);
        }
        if last {
            self.forget_if_gone(ino)?;
        }
        if mode == OpenMode::Write {
            self.uploader.changed();
        }
        Ok(())
    }

    /// Journals `ino` before a handle that may write to it is handed out. The kernel writes
    /// passthrough handles straight into the data file and our own writes are journalled at
    /// close, so without a record a crash before the first close would lose writes that had
    /// returned (recovery gives a pending file its data file's length and uploads it). The
    /// version goes up, so an upload already under way does not retire the record. Once per
    /// open file.
    fn guard_writes(&self, ino: Ino, of: &OpenFile) -> Result<()> {
        if lock(&of.live).guard != Guard::None {
            return Ok(());
        }
        let earlier = self.meta().record(ino)?.is_some();
        self.meta().mark_pending(ino)?;
        lock(&of.live).guard = match earlier {
            true => Guard::Earlier,
            false => Guard::Added,
        };
        Ok(())
    }

    /// The last handle of a file opened for writing closed without writing: the record its
    /// first write open added is not a change, so it goes (no upload of the same bytes). A
    /// failure costs that upload, nothing else.
    fn drop_guard(&self, ino: Ino) {
        let uploaded = self.meta().get(ino).is_ok_and(|n| n.remote.is_some());
        if uploaded {
            if let Err(e) = self.meta().drop_record(ino) {
                tracing::debug!(ino, "dropping an unused write guard failed: {e}");
            }
        }
    }

    /// Sets right the files whose last close could not journal its writes (the commit failed:
    /// a full disk), as soon as the MetaStore answers: before any open, and at each durable
    /// commit. Those still unanswered stay for the next time.
    pub(crate) fn settle_unjournaled(&self) {
        let inos = std::mem::take(&mut *lock(&self.unjournaled));
        for (ino, guard_only) in inos {
            if self.is_open(ino) || self.undo_unjournaled(ino, guard_only).is_err() {
                lock(&self.unjournaled).push((ino, guard_only));
            }
        }
    }

    /// With the last handle gone, nothing will journal what the data file of `ino` holds
    /// beyond the journal's knowledge. The cache must stay the remote's copy plus journalled
    /// changes, so a file with nothing pending drops its local copy (the next read fetches
    /// the remote's, as after any cache accident) and one with pending changes is cut back to
    /// the size the journal knows. The close itself has already failed with the commit's error.
    /// `guard_only`: the file's record is only the one its write open added (no change).
    fn undo_unjournaled(&self, ino: Ino, guard_only: bool) -> Result<()> {
        let node = match self.meta().get(ino) {
            Err(CacheError::NotFound) => return Ok(()),
            other => other?,
        };
        if guard_only && node.remote.is_some() {
            self.meta().drop_record(ino)?;
        }
        let pending = node.remote.is_none() || self.meta().record(ino)?.is_some();
        let undone = if pending {
            // A missing data file stays missing (reads fail loudly, as for any lost copy).
            match self.data.len(ino) {
                Ok(Some(len)) if len > node.size => std::fs::OpenOptions::new()
                    .write(true)
                    .open(self.data.path(ino))
                    .and_then(|f| f.set_len(node.size)),
                other => other.map(|_| ()),
            }
        } else {
            self.data.remove(ino)
        };
        tracing::warn!(ino, name = %node.name, pending, "a close could not be journalled; its writes were undone in the cache");
        if let Err(e) = undone {
            tracing::error!(ino, "undoing unjournalled writes failed: {e}");
        }
        Ok(())
    }

    /// Drops the node and data of `ino` if it was unlinked or replaced while open.
    pub(crate) fn forget_if_gone(&self, ino: Ino) -> Result<()> {
        match self.meta().get(ino) {
            Ok(n) if n.orphan => {
                self.meta().drop_orphan(ino)?;
                self.discard_data(ino);
            }
            Err(CacheError::NotFound) => self.discard_data(ino),
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn is_open(&self, ino: Ino) -> bool {
        lock(&self.open).contains_key(&ino)
    }

    pub async fn setattr(&self, ino: Ino, set: SetAttr, fh: Option<u64>) -> Result<Attr> {
        if let Some(size) = set.size {
            self.set_size(ino, size, fh).await?;
        }
        let open = lock(&self.open).get(&ino).cloned();
        if let (Some(t), Some(of)) = (set.mtime, open) {
            // Writes so far are picked up first (see `persist`); the data file's mtime is only
            // a write detector for direct handles (see `direct.rs`) and stays as it is.
            self.sense_direct_writes(ino, &of);
            lock(&of.live).mtime = to_nanos(t);
        }
        self.fenced(|| self.set_attributes(ino, &set))
    }

    /// The attribute changes of `setattr` other than the size, in one noted commit (see
    /// `MetaStore::set_attributes`).
    fn set_attributes(&self, ino: Ino, set: &SetAttr) -> Result<Attr> {
        let change = AttrChange {
            mode: set.mode,
            uid: set.uid,
            gid: set.gid,
            atime: set.atime.map(to_nanos),
            mtime: set.mtime.map(to_nanos),
        };
        let node = self.meta().set_attributes(ino, &change)?;
        Ok(self.attr_of(ino, &node))
    }

    async fn set_size(&self, ino: Ino, size: u64, fh: Option<u64>) -> Result<()> {
        let node = self.meta().get(ino)?;
        if node.is_dir() {
            return Err(CacheError::IsADirectory.into());
        }
        // A handle keeps the open-file record alive for the duration; without one, open briefly.
        let temp = match fh {
            Some(fh) if self.handle(fh).is_ok() => None,
            _ => Some(self.open(ino, OpenMode::Write, false).await?),
        };
        let fh_used = fh.filter(|_| temp.is_none()).or(temp).unwrap_or_default();
        let result = async {
            let (_, _, of) = self.handle(fh_used)?;
            let file = self.ensure_local(ino, &of, size == 0).await?;
            self.truncate(ino, &of, &file, size)?;
            self.persist(ino, &of, false).await
        }
        .await;
        if let Some(t) = temp {
            self.release(t).await?;
        }
        result
    }
}
