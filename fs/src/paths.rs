//! `Files`: the Vfs by path, for jobs (transfers, backup, `du`) that run inside a mount's
//! daemon or over a Vfs of their own. Paths are `/`-separated and relative to the Vfs root;
//! owners come from the caller, not from a kernel request; every remote call a method causes is
//! made at the `Files`' Pacer priority. Owns path resolution and the reader/writer handles;
//! must not hold filesystem logic (that is the Vfs's) or know about the kernel.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use ourclone_cache::{CacheError, Ino, Kind, NotConfirmed, ROOT_INO};
use ourclone_remote::pacer::{with_priority, Priority};
use ourclone_remote::{Hash, HashAlgo};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

use crate::error::{Result, VfsError};
use crate::vfs::{Attr, OpenMode, RenameFlags, SetAttr, Vfs};

/// Who a job acts as: the owner of what it creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    /// The user running this process.
    pub fn current() -> Self {
        let (uid, gid) = ourclone_remote::os::user_ids();
        Self { uid, gid }
    }
}

/// One entry as a job sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Path from the Vfs root (no leading `/`; empty for the root itself).
    pub path: String,
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub mtime: SystemTime,
    pub mode: u32,
    /// The remote's content hash, when the remote holds exactly what the file holds.
    pub hash: Option<Hash>,
}

/// A file written through [`FileWriter::finish`]: the version to wait for on the remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    pub ino: Ino,
    pub version: u64,
}

/// The Vfs addressed by path. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    vfs: Arc<Vfs>,
    owner: Owner,
    priority: Priority,
}

/// Names of files being written, unique within the process.
static PART: AtomicU64 = AtomicU64::new(0);

/// The components of `path`, refusing `.`, `..` and empty names inside it.
fn components(path: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if parts
        .iter()
        .any(|c| *c == "." || *c == ".." || c.contains('\0'))
    {
        return Err(VfsError::invalid("a path may not hold '.', '..' or NUL"));
    }
    Ok(parts)
}

fn join(dir: &str, name: &str) -> String {
    match dir {
        "" => name.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

impl Files {
    /// Jobs run at [`Priority::Bulk`] unless told otherwise ([`Files::at_priority`]).
    pub fn new(vfs: Arc<Vfs>, owner: Owner) -> Self {
        Self {
            vfs,
            owner,
            priority: Priority::Bulk,
        }
    }

    pub fn at_priority(self, priority: Priority) -> Self {
        Self { priority, ..self }
    }

    pub fn vfs(&self) -> &Arc<Vfs> {
        &self.vfs
    }

    async fn paced<T>(&self, fut: impl Future<Output = T>) -> T {
        with_priority(self.priority, fut).await
    }

    /// The node at `path`.
    pub async fn resolve(&self, path: &str) -> Result<Attr> {
        let parts = components(path)?;
        self.paced(async {
            let mut attr = self.vfs.getattr(ROOT_INO).await?;
            for name in parts {
                attr = self.vfs.lookup(attr.ino, name).await?;
            }
            Ok(attr)
        })
        .await
    }

    /// The folder holding `path`, and the last component's name.
    pub async fn resolve_parent<'p>(&self, path: &'p str) -> Result<(Ino, &'p str)> {
        let mut parts = components(path)?;
        let name = parts
            .pop()
            .ok_or(VfsError::invalid("the root has no parent"))?;
        let parent = self.resolve(&parts.join("/")).await?;
        if parent.kind != Kind::Dir {
            return Err(CacheError::NotADirectory.into());
        }
        Ok((parent.ino, name))
    }

    fn info(&self, path: String, attr: &Attr) -> FileInfo {
        FileInfo {
            path,
            ino: attr.ino,
            kind: attr.kind,
            size: attr.size,
            mtime: attr.mtime,
            mode: attr.mode,
            hash: self.vfs.known_hash(attr.ino),
        }
    }

    pub async fn stat(&self, path: &str) -> Result<FileInfo> {
        let attr = self.resolve(path).await?;
        Ok(self.info(components(path)?.join("/"), &attr))
    }

    /// The entries of folder `path`, sorted by name.
    pub async fn read_dir(&self, path: &str) -> Result<ReadDir> {
        let dir = components(path)?.join("/");
        let attr = self.resolve(&dir).await?;
        if attr.kind != Kind::Dir {
            return Err(CacheError::NotADirectory.into());
        }
        let entries = self.paced(self.vfs.readdir(attr.ino)).await?;
        Ok(ReadDir {
            entries: entries
                .iter()
                .map(|e| self.info(join(&dir, &e.name), &e.attr))
                .collect(),
        })
    }

    /// Every entry below `path` (not `path` itself), depth first, each folder's entries in
    /// name order, a folder before what it holds.
    pub async fn walk(&self, path: &str) -> Result<Walk> {
        let first = self.read_dir(path).await?;
        Ok(Walk {
            files: self.clone(),
            stack: vec![first.entries],
        })
    }

    pub async fn open_read(&self, path: &str) -> Result<FileReader> {
        let attr = self.resolve(path).await?;
        if attr.kind == Kind::Dir {
            return Err(CacheError::IsADirectory.into());
        }
        let fh = self
            .paced(self.vfs.open(attr.ino, OpenMode::Read, false))
            .await?;
        Ok(FileReader {
            files: self.clone(),
            fh,
            pos: 0,
            size: attr.size,
            reading: None,
        })
    }

    /// Creates an empty file at `path` and returns it open for writing (a Vfs handle the
    /// caller must release).
    pub async fn create_open(&self, path: &str) -> Result<(Attr, u64)> {
        let (parent, name) = self.resolve_parent(path).await?;
        let (uid, gid) = (self.owner.uid, self.owner.gid);
        self.paced(self.vfs.create(parent, name, 0o644, uid, gid))
            .await
    }

    /// A writer for a new file at `path`; finishing it fails if `path` exists by then.
    pub async fn create(&self, path: &str) -> Result<FileWriter> {
        self.writer(path, false).await
    }

    /// A writer whose content replaces whatever is at `path` when it is finished.
    pub async fn replace(&self, path: &str) -> Result<FileWriter> {
        self.writer(path, true).await
    }

    async fn writer(&self, path: &str, replace: bool) -> Result<FileWriter> {
        let (parent, name) = self.resolve_parent(path).await?;
        let part = format!(
            ".ourclone-part.{}.{}",
            std::process::id(),
            PART.fetch_add(1, Ordering::Relaxed)
        );
        let (attr, fh) = self
            .paced(
                self.vfs
                    .create(parent, &part, 0o644, self.owner.uid, self.owner.gid),
            )
            .await?;
        Ok(FileWriter {
            files: self.clone(),
            fh: Some(fh),
            ino: attr.ino,
            parent,
            part,
            name: name.to_string(),
            replace,
            pos: 0,
            writing: None,
            mtime: None,
        })
    }

    /// Copies file `from` to `to` (which must not exist) on the remote itself, without moving
    /// its bytes, when the provider can and the remote holds exactly what `from` holds; `None`
    /// when it cannot (copy the bytes instead).
    pub async fn copy_on_remote(&self, from: &str, to: &str) -> Result<Option<FileInfo>> {
        let src = self.resolve(from).await?;
        let (parent, name) = self.resolve_parent(to).await?;
        let copied = self
            .paced(self.vfs.copy_on_remote(src.ino, parent, name))
            .await?;
        Ok(copied.map(|attr| self.info(to.to_string(), &attr)))
    }

    /// The `algo` hash of `path` computed earlier (and given to [`Files::remember_hash`]), if
    /// its content has not changed since.
    pub async fn remembered_hash(&self, path: &str, algo: HashAlgo) -> Result<Option<Hash>> {
        let attr = self.resolve(path).await?;
        let node = self.vfs.meta().get(attr.ino)?;
        Ok(self.vfs.meta().remembered_hash(attr.ino, &node, algo)?)
    }

    /// Remembers a hash computed of `path`'s content as it is now.
    pub async fn remember_hash(&self, path: &str, hash: &Hash) -> Result<()> {
        let attr = self.resolve(path).await?;
        let node = self.vfs.meta().get(attr.ino)?;
        Ok(self.vfs.meta().remember_hash(attr.ino, &node, hash)?)
    }

    /// The target of symlink `path`.
    pub async fn read_link(&self, path: &str) -> Result<String> {
        let attr = self.resolve(path).await?;
        self.paced(self.vfs.readlink(attr.ino)).await
    }

    /// Makes a symlink at `path` pointing to `target`, replacing a symlink or file there.
    pub async fn symlink(&self, path: &str, target: &str) -> Result<()> {
        let (parent, name) = self.resolve_parent(path).await?;
        let (uid, gid) = (self.owner.uid, self.owner.gid);
        match self.paced(self.vfs.lookup(parent, name)).await {
            Ok(a) if a.kind == Kind::Dir => return Err(CacheError::AlreadyExists.into()),
            Ok(_) => self.paced(self.vfs.unlink(parent, name)).await?,
            Err(e) if e.errno() == libc::ENOENT => {}
            Err(e) => return Err(e),
        }
        self.paced(self.vfs.symlink(parent, name, target, uid, gid))
            .await?;
        Ok(())
    }

    /// Creates folder `path` and any missing parents; an existing folder is fine.
    pub async fn mkdir_all(&self, path: &str) -> Result<FileInfo> {
        let parts = components(path)?;
        self.paced(async {
            let mut attr = self.vfs.getattr(ROOT_INO).await?;
            for name in &parts {
                attr = match self.vfs.lookup(attr.ino, name).await {
                    Ok(a) => a,
                    Err(e) if e.errno() == libc::ENOENT => {
                        let (uid, gid) = (self.owner.uid, self.owner.gid);
                        self.vfs.mkdir(attr.ino, name, 0o755, uid, gid).await?
                    }
                    Err(e) => return Err(e),
                };
                if attr.kind != Kind::Dir {
                    return Err(CacheError::NotADirectory.into());
                }
            }
            Ok(attr)
        })
        .await
        .map(|attr| self.info(parts.join("/"), &attr))
    }

    /// Creates folder `path`, whose parent must exist.
    pub async fn mkdir(&self, path: &str) -> Result<FileInfo> {
        let (parent, name) = self.resolve_parent(path).await?;
        let (uid, gid) = (self.owner.uid, self.owner.gid);
        let attr = self
            .paced(self.vfs.mkdir(parent, name, 0o755, uid, gid))
            .await?;
        Ok(self.info(components(path)?.join("/"), &attr))
    }

    /// Moves `from` to `to`, replacing a file there.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (p1, n1) = self.resolve_parent(from).await?;
        let (p2, n2) = self.resolve_parent(to).await?;
        let flags = RenameFlags::default();
        self.paced(self.vfs.rename(p1, n1, p2, n2, flags)).await
    }

    /// Removes a file, or an empty folder.
    pub async fn remove(&self, path: &str) -> Result<()> {
        let (parent, name) = self.resolve_parent(path).await?;
        let attr = self.paced(self.vfs.lookup(parent, name)).await?;
        match attr.kind {
            Kind::Dir => self.paced(self.vfs.rmdir(parent, name)).await,
            _ => self.paced(self.vfs.unlink(parent, name)).await,
        }
    }

    pub async fn set_times(&self, path: &str, mtime: SystemTime) -> Result<()> {
        let set = SetAttr {
            mtime: Some(mtime),
            ..SetAttr::default()
        };
        self.set(path, set).await
    }

    pub async fn set_mode(&self, path: &str, mode: u32) -> Result<()> {
        let set = SetAttr {
            mode: Some(mode),
            ..SetAttr::default()
        };
        self.set(path, set).await
    }

    async fn set(&self, path: &str, set: SetAttr) -> Result<()> {
        let attr = self.resolve(path).await?;
        self.paced(self.vfs.setattr(attr.ino, set, None)).await?;
        Ok(())
    }

    /// Lists folder `path` on the remote now, whatever the age of its cached listing, and with
    /// `recursive` every folder below it too. Returns how many folders were listed.
    pub async fn refresh(&self, path: &str, recursive: bool) -> Result<u64> {
        let top = self.resolve(path).await?;
        if top.kind != Kind::Dir {
            return Err(CacheError::NotADirectory.into());
        }
        let mut todo = vec![top.ino];
        let mut listed = 0;
        while let Some(dir) = todo.pop() {
            self.paced(self.vfs.refresh(dir)).await?;
            listed += 1;
            if recursive {
                let entries = self.paced(self.vfs.readdir(dir)).await?;
                todo.extend(
                    entries
                        .iter()
                        .filter(|e| e.attr.kind == Kind::Dir)
                        .map(|e| e.attr.ino),
                );
            }
        }
        Ok(listed)
    }

    /// Waits until each file is on the remote in (at least) the version written, uploading
    /// them without the write-back delay.
    pub async fn wait_uploaded(&self, files: &[Written]) -> Result<()> {
        for w in files {
            let uploaded = self.vfs.uploader().wait_confirmed(w.ino, w.version);
            match uploaded.await? {
                Ok(()) => {}
                Err(NotConfirmed::Gone) => {
                    return Err(VfsError::Errno(libc::ENOENT, "removed before its upload"))
                }
                Err(NotConfirmed::Failing(why)) => {
                    return Err(
                        CacheError::Remote(ourclone_remote::RemoteError::Transient(why)).into(),
                    )
                }
            }
        }
        Ok(())
    }
}

/// A folder's entries (see [`Files::read_dir`]); also a `Stream`.
pub struct ReadDir {
    entries: VecDeque<FileInfo>,
}

impl ReadDir {
    pub async fn next_entry(&mut self) -> Option<FileInfo> {
        self.entries.pop_front()
    }
}

impl futures_util::Stream for ReadDir {
    type Item = FileInfo;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<FileInfo>> {
        Poll::Ready(self.entries.pop_front())
    }
}

/// A walk below a folder (see [`Files::walk`]).
pub struct Walk {
    files: Files,
    stack: Vec<VecDeque<FileInfo>>,
}

impl Walk {
    /// The next entry; a folder's listing is read when the folder is yielded.
    pub async fn next(&mut self) -> Option<Result<FileInfo>> {
        loop {
            let top = self.stack.last_mut()?;
            let Some(entry) = top.pop_front() else {
                self.stack.pop();
                continue;
            };
            if entry.kind == Kind::Dir {
                match self.files.read_dir(&entry.path).await {
                    Ok(inner) => self.stack.push(inner.entries),
                    Err(e) => return Some(Err(e)),
                }
            }
            return Some(Ok(entry));
        }
    }
}

type Pending<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

fn to_io(e: VfsError) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

/// Reads one file: `AsyncRead + AsyncSeek`. The handle is released on drop.
pub struct FileReader {
    files: Files,
    fh: u64,
    pos: u64,
    size: u64,
    reading: Option<Pending<Bytes>>,
}

/// Bytes asked of the Vfs per read call.
const READ_CHUNK: usize = 1 << 20;

impl FileReader {
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl AsyncRead for FileReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = &mut *self;
        if me.reading.is_none() {
            let (vfs, fh, pos) = (me.files.vfs.clone(), me.fh, me.pos);
            let len = buf.remaining().min(READ_CHUNK) as u32;
            let priority = me.files.priority;
            me.reading = Some(Box::pin(with_priority(priority, async move {
                vfs.read(fh, pos, len).await
            })));
        }
        let Some(reading) = me.reading.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let bytes = match reading.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        me.reading = None;
        let bytes = bytes.map_err(to_io)?;
        // A read asked for at most what `buf` had room for when it started.
        let n = bytes.len().min(buf.remaining());
        buf.put_slice(&bytes[..n]);
        me.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for FileReader {
    fn start_seek(mut self: Pin<&mut Self>, to: io::SeekFrom) -> io::Result<()> {
        let base = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => self.size.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let pos = base.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.reading = None;
        self.pos = pos;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}

impl Drop for FileReader {
    fn drop(&mut self) {
        let (vfs, fh) = (self.files.vfs.clone(), self.fh);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { vfs.release(fh).await });
        }
    }
}

/// Writes one file under a temporary name: `AsyncWrite`. [`FileWriter::finish`] gives it its
/// final name; dropped unfinished, the partial file is removed.
pub struct FileWriter {
    files: Files,
    fh: Option<u64>,
    ino: Ino,
    parent: Ino,
    part: String,
    name: String,
    replace: bool,
    pos: u64,
    /// The write in flight and the bytes it carries.
    writing: Option<(Pending<u32>, usize)>,
    mtime: Option<SystemTime>,
}

impl FileWriter {
    /// Gives the file `mtime` when it is finished (journalled with its content, in one commit).
    pub fn set_mtime(&mut self, mtime: SystemTime) {
        self.mtime = Some(mtime);
    }

    /// Makes the content durable and visible under its final name; the journal uploads it
    /// once, under that name.
    pub async fn finish(mut self) -> Result<Written> {
        std::future::poll_fn(|cx| self.poll_in_flight(cx)).await?;
        let Some(fh) = self.fh.take() else {
            return Err(VfsError::Errno(libc::EBADF, "writer already finished"));
        };
        let vfs = self.files.vfs.clone();
        if let Some(t) = self.mtime {
            vfs.stage_mtime(fh, t)?;
        }
        let flags = RenameFlags {
            no_replace: !self.replace,
            exchange: false,
        };
        let done = self
            .files
            .paced(async {
                // Still open for writing: the Uploader cannot pick up the temporary name.
                let names = (
                    self.parent,
                    self.part.as_str(),
                    self.parent,
                    self.name.as_str(),
                );
                vfs.flush_and_rename(fh, names, flags).await
            })
            .await;
        let released = vfs.release(fh).await;
        if let Err(e) = done {
            let _ = vfs.unlink(self.parent, &self.part).await;
            return Err(e);
        }
        released?;
        let version = vfs.meta().get(self.ino)?.version;
        Ok(Written {
            ino: self.ino,
            version,
        })
    }
}

impl FileWriter {
    /// Waits for the write in flight, if any; a short or failed one is this call's error.
    fn poll_in_flight(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((writing, len)) = self.writing.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let len = *len;
        let n = match writing.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        self.writing = None;
        match n.map_err(to_io)? {
            n if n as usize == len => Poll::Ready(Ok(())),
            _ => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
        }
    }
}

/// Like `tokio::fs::File`: a write is taken at once and runs in the background; the next
/// write, a flush or `finish` waits for it and reports its error.
impl AsyncWrite for FileWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        let Some(fh) = me.fh else {
            return Poll::Ready(Err(io::Error::from_raw_os_error(libc::EBADF)));
        };
        match me.poll_in_flight(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|()| 0)),
        }
        let len = buf.len().min(u32::MAX as usize / 2);
        let (vfs, pos, data) = (me.files.vfs.clone(), me.pos, buf[..len].to_vec());
        me.writing = Some((
            Box::pin(async move { vfs.write(fh, pos, &data).await }),
            len,
        ));
        me.pos += len as u64;
        Poll::Ready(Ok(len))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_in_flight(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_in_flight(cx)
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        let Some(fh) = self.fh.take() else { return };
        let (vfs, parent, part) = (self.files.vfs.clone(), self.parent, self.part.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = vfs.release(fh).await;
                let _ = vfs.unlink(parent, &part).await;
            });
        }
    }
}
