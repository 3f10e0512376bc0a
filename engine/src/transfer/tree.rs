//! One side of a transfer: a folder of a Vfs (a mount, or a remote opened by the command) or a
//! plain local folder, with the few operations a transfer needs — list everything below the
//! root, read, write a file under a temporary name and rename it into place, make folders,
//! links, remove, move aside. Owns the differences between the two kinds of side; must not
//! decide what to transfer (the plan does).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::SystemTime;

use ourclone_cache::Kind;
use ourclone_remote::{Hash, HashAlgo};
use ourclone_vfs::{Files, VfsError, Written};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeek, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

/// What kind of thing an entry is, as a transfer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    File,
    Dir,
    Link,
}

/// One entry below a side's root.
#[derive(Clone, Debug)]
pub struct Item {
    pub kind: ItemKind,
    pub size: u64,
    pub mtime: SystemTime,
    pub mode: u32,
    /// The provider's hash, where the side knows it without reading the file.
    pub hash: Option<Hash>,
}

/// Names our own writers use for files not finished yet; never listed, never transferred.
pub const PART_PREFIX: &str = ".ourclone-part.";

/// A side of a transfer.
#[derive(Clone)]
pub enum Tree {
    /// A folder of a Vfs: `root` is its path from the Vfs root.
    Vfs { files: Files, root: String },
    /// A folder of the local filesystem.
    Local { root: PathBuf },
}

pub type Reader = Pin<Box<dyn AsyncRead + Send>>;

/// A file written to a side: on a Vfs, the version to wait for on the remote.
#[derive(Clone, Copy, Debug)]
pub enum Landed {
    Local,
    Vfs(Written),
}

fn join(root: &str, rel: &str) -> String {
    match (root, rel) {
        ("", r) => r.to_string(),
        (r, "") => r.to_string(),
        (a, b) => format!("{a}/{b}"),
    }
}

fn vfs_io(e: VfsError) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

fn kind_of(k: Kind) -> Option<ItemKind> {
    match k {
        Kind::File => Some(ItemKind::File),
        Kind::Dir => Some(ItemKind::Dir),
        Kind::Symlink => Some(ItemKind::Link),
        _ => None,
    }
}

impl Tree {
    /// Describes the side for messages.
    pub fn label(&self) -> String {
        match self {
            Tree::Vfs { root, .. } => format!("/{root}"),
            Tree::Local { root } => root.display().to_string(),
        }
    }

    /// Whether both sides are folders of the same Vfs (a server-side copy may be possible).
    pub fn same_vfs(&self, other: &Tree) -> bool {
        match (self, other) {
            (Tree::Vfs { files: a, .. }, Tree::Vfs { files: b, .. }) => {
                std::sync::Arc::ptr_eq(a.vfs(), b.vfs())
            }
            _ => false,
        }
    }

    /// The root's own entry, or `None` when it does not exist.
    pub async fn root_kind(&self) -> io::Result<Option<ItemKind>> {
        match self {
            Tree::Vfs { files, root } => match files.stat(root).await {
                Ok(i) => Ok(kind_of(i.kind)),
                Err(e) if e.errno() == libc::ENOENT => Ok(None),
                Err(e) => Err(vfs_io(e)),
            },
            Tree::Local { root } => match tokio::fs::metadata(root).await {
                Ok(m) if m.is_dir() => Ok(Some(ItemKind::Dir)),
                Ok(_) => Ok(Some(ItemKind::File)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Everything below the root, by path relative to it; `follow` lists what symlinks point
    /// to instead of the links. A missing root lists as empty.
    pub async fn list(&self, follow: bool) -> io::Result<BTreeMap<String, Item>> {
        if self.root_kind().await?.is_none() {
            return Ok(BTreeMap::new());
        }
        match self {
            Tree::Vfs { files, root } => list_vfs(files, root, follow).await,
            Tree::Local { root } => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || list_local(&root, follow))
                    .await
                    .map_err(io::Error::other)?
            }
        }
    }

    pub async fn open(&self, rel: &str) -> io::Result<Reader> {
        match self {
            Tree::Vfs { files, root } => {
                let r = files.open_read(&join(root, rel)).await.map_err(vfs_io)?;
                Ok(Box::pin(r))
            }
            Tree::Local { root } => open_local(&root.join(rel)),
        }
    }

    /// Up to `len` bytes of `rel` from `offset` (fewer only at its end).
    pub async fn read_range(&self, rel: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        match self {
            Tree::Vfs { files, root } => {
                let r = files.open_read(&join(root, rel)).await.map_err(vfs_io)?;
                read_at(r, offset, len).await
            }
            Tree::Local { root } => {
                read_at(tokio::fs::File::open(root.join(rel)).await?, offset, len).await
            }
        }
    }

    /// Writes `from` to `rel` under a temporary name and renames it into place (replacing
    /// what is there), with `mtime` and `mode`. A partial file never has the final name.
    pub async fn write(
        &self,
        rel: &str,
        from: &mut Reader,
        (size, mtime, mode): (u64, SystemTime, u32),
        counted: &(dyn Fn(u64) + Sync),
    ) -> io::Result<(Landed, u64)> {
        match self {
            Tree::Vfs { files, root } => {
                let path = join(root, rel);
                let mut w = files.replace(&path).await.map_err(vfs_io)?;
                let n = pump(from, &mut w, size, counted).await?;
                w.set_mtime(mtime);
                let written = w.finish().await.map_err(vfs_io)?;
                if mode & 0o777 != 0o644 {
                    files.set_mode(&path, mode & 0o7777).await.map_err(vfs_io)?;
                }
                let version = files
                    .vfs()
                    .meta()
                    .get(written.ino)
                    .map_or(written.version, |n| n.version);
                Ok((Landed::Vfs(Written { version, ..written }), n))
            }
            Tree::Local { root } => {
                let dest = root.join(rel);
                let part = part_name(&dest);
                let result = write_local(&part, &dest, from, (size, mtime, mode), counted).await;
                if result.is_err() {
                    let _ = tokio::fs::remove_file(&part).await;
                }
                result.map(|n| (Landed::Local, n))
            }
        }
    }

    pub async fn mkdir_all(&self, rel: &str) -> io::Result<()> {
        match self {
            Tree::Vfs { files, root } => {
                files.mkdir_all(&join(root, rel)).await.map_err(vfs_io)?;
                Ok(())
            }
            Tree::Local { root } => tokio::fs::create_dir_all(root.join(rel)).await,
        }
    }

    pub async fn read_link(&self, rel: &str) -> io::Result<String> {
        match self {
            Tree::Vfs { files, root } => files.read_link(&join(root, rel)).await.map_err(vfs_io),
            Tree::Local { root } => Ok(tokio::fs::read_link(root.join(rel))
                .await?
                .to_string_lossy()
                .into_owned()),
        }
    }

    /// Makes `rel` a symlink to `target`, replacing a file or link there.
    pub async fn symlink(&self, rel: &str, target: &str) -> io::Result<()> {
        match self {
            Tree::Vfs { files, root } => files
                .symlink(&join(root, rel), target)
                .await
                .map_err(vfs_io),
            Tree::Local { root } => {
                let dest = root.join(rel);
                let part = part_name(&dest);
                let (to, link) = (PathBuf::from(target), part.clone());
                tokio::task::spawn_blocking(move || ourclone_remote::os::symlink(&to, &link))
                    .await
                    .map_err(io::Error::other)??;
                tokio::fs::rename(&part, &dest).await
            }
        }
    }

    /// Removes a file, a link or an empty folder.
    pub async fn remove(&self, rel: &str, kind: ItemKind) -> io::Result<()> {
        match self {
            Tree::Vfs { files, root } => files.remove(&join(root, rel)).await.map_err(vfs_io),
            Tree::Local { root } if kind == ItemKind::Dir => {
                tokio::fs::remove_dir(root.join(rel)).await
            }
            Tree::Local { root } => tokio::fs::remove_file(root.join(rel)).await,
        }
    }

    /// Moves `rel` to `to` below `other`'s root (a side on the same Vfs or filesystem: the
    /// backup folder), making `to`'s folders there.
    pub async fn move_into(&self, rel: &str, other: &Tree, to: &str) -> io::Result<()> {
        match to.rsplit_once('/') {
            Some((dir, _)) => other.mkdir_all(dir).await?,
            None => other.mkdir_all("").await?,
        }
        match (self, other) {
            (Tree::Vfs { files, root }, Tree::Vfs { root: oroot, .. }) if self.same_vfs(other) => {
                files
                    .rename(&join(root, rel), &join(oroot, to))
                    .await
                    .map_err(vfs_io)
            }
            (Tree::Local { root }, Tree::Local { root: oroot }) => {
                tokio::fs::rename(root.join(rel), oroot.join(to)).await
            }
            _ => Err(io::Error::other(
                "the backup folder must be on the same remote or filesystem as the destination",
            )),
        }
    }

    /// Copies `rel` of this side to `to` of `dst` on the remote itself, when both are the same
    /// Vfs and its provider can; `false` when the bytes must be copied instead.
    pub async fn copy_on_remote(&self, rel: &str, dst: &Tree, to: &str) -> io::Result<bool> {
        let (Tree::Vfs { files, root }, Tree::Vfs { root: droot, .. }) = (self, dst) else {
            return Ok(false);
        };
        if !self.same_vfs(dst) {
            return Ok(false);
        }
        let to = join(droot, to);
        if files.stat(&to).await.is_ok() {
            files.remove(&to).await.map_err(vfs_io)?;
        }
        let copied = files
            .copy_on_remote(&join(root, rel), &to)
            .await
            .map_err(vfs_io)?;
        Ok(copied.is_some())
    }

    /// A hash of `rel` this side computed and kept earlier (Vfs sides keep them in the
    /// MetaStore), if the content is unchanged since.
    pub async fn remembered_hash(&self, rel: &str, algo: HashAlgo) -> Option<Hash> {
        match self {
            Tree::Vfs { files, root } => files
                .remembered_hash(&join(root, rel), algo)
                .await
                .ok()
                .flatten(),
            Tree::Local { .. } => None,
        }
    }

    /// Keeps a hash computed of `rel` (a Vfs side, so it is never computed twice).
    pub async fn remember_hash(&self, rel: &str, hash: &Hash) {
        if let Tree::Vfs { files, root } = self {
            if let Err(e) = files.remember_hash(&join(root, rel), hash).await {
                tracing::debug!("cannot remember the hash of {rel}: {e}");
            }
        }
    }

    /// Copies `rel` from this local side to `dst`, a local side too, in one blocking call:
    /// the kernel copies the bytes (copy_file_range) into a temporary name, renamed when
    /// complete. `None` when either side is not local.
    pub async fn copy_local(
        &self,
        rel: &str,
        dst: &Tree,
        (mtime, mode): (SystemTime, u32),
    ) -> Option<io::Result<u64>> {
        let (Tree::Local { root: from }, Tree::Local { root: to }) = (self, dst) else {
            return None;
        };
        let (from, dest) = (from.join(rel), to.join(rel));
        let copied = tokio::task::spawn_blocking(move || {
            let part = part_name(&dest);
            let result = copy_file(&from, &part, &dest, mtime, mode);
            if result.is_err() {
                let _ = std::fs::remove_file(&part);
            }
            result
        })
        .await;
        Some(copied.map_err(io::Error::other).and_then(|r| r))
    }

    /// Waits until what was written is on the remote (nothing to wait for locally).
    pub async fn confirm(&self, landed: Landed) -> io::Result<()> {
        match (self, landed) {
            (Tree::Vfs { files, .. }, Landed::Vfs(w)) => {
                files.wait_uploaded(&[w]).await.map_err(vfs_io)
            }
            _ => Ok(()),
        }
    }

    /// The entry at `rel` now, if any.
    pub async fn stat(&self, rel: &str) -> io::Result<Option<Item>> {
        match self {
            Tree::Vfs { files, root } => match files.stat(&join(root, rel)).await {
                Ok(i) => Ok(kind_of(i.kind).map(|kind| Item {
                    kind,
                    size: i.size,
                    mtime: i.mtime,
                    mode: i.mode,
                    hash: i.hash,
                })),
                Err(e) if e.errno() == libc::ENOENT => Ok(None),
                Err(e) => Err(vfs_io(e)),
            },
            Tree::Local { root } => match tokio::fs::symlink_metadata(root.join(rel)).await {
                Ok(m) => Ok(Some(local_item(&m))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
}

/// A hidden name beside `dest` for a file being written.
fn part_name(dest: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
    let part = format!(
        "{PART_PREFIX}{}.{n}.{}",
        std::process::id(),
        name.unwrap_or_default()
    );
    // Keep within NAME_MAX whatever the file's own name.
    let part: String = part.chars().take(200).collect();
    dest.with_file_name(part)
}

async fn write_local(
    part: &Path,
    dest: &Path,
    from: &mut Reader,
    (size, mtime, mode): (u64, SystemTime, u32),
    counted: &(dyn Fn(u64) + Sync),
) -> io::Result<u64> {
    let mut f = tokio::fs::File::create(part).await?;
    let n = pump(from, &mut f, size, counted).await?;
    f.flush().await?;
    let f = f.into_std().await;
    let part_owned = part.to_path_buf();
    tokio::task::spawn_blocking(move || -> io::Result<()> {
        f.set_modified(mtime)?;
        ourclone_remote::os::set_file_mode(&f, mode & 0o7777)?;
        drop(f);
        let _ = &part_owned;
        Ok(())
    })
    .await
    .map_err(io::Error::other)??;
    tokio::fs::rename(part, dest).await?;
    Ok(n)
}

fn copy_file(
    from: &Path,
    part: &Path,
    dest: &Path,
    mtime: SystemTime,
    mode: u32,
) -> io::Result<u64> {
    let mut src = std::fs::File::open(from)?;
    let mut out = std::fs::File::create(part)?;
    let n = io::copy(&mut src, &mut out)?;
    out.set_modified(mtime)?;
    ourclone_remote::os::set_file_mode(&out, mode & 0o7777)?;
    drop(out);
    std::fs::rename(part, dest)?;
    Ok(n)
}

/// Bytes copied per buffer: memory stays bounded whatever the file's size.
const BUF: usize = 1 << 20;

/// Copies `from` into `to`, telling `counted` as bytes go.
async fn pump(
    from: &mut Reader,
    to: &mut (impl AsyncWrite + Unpin),
    size_hint: u64,
    counted: &(dyn Fn(u64) + Sync),
) -> io::Result<u64> {
    use tokio::io::AsyncReadExt;
    // Small files get a small buffer: zeroing 1 MiB per file adds up over a tree of them.
    let mut buf = vec![0u8; (size_hint as usize + 1).clamp(4096, BUF)];
    let mut total = 0;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).await?;
        total += n as u64;
        counted(n as u64);
    }
    to.flush().await?;
    Ok(total)
}

/// Files up to this size are read whole when opened, on the calling task: a blocking-thread
/// hand-over per read of a few KiB costs more than the read.
const READ_INLINE: u64 = 256 << 10;

fn open_local(path: &Path) -> io::Result<Reader> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    if f.metadata()?.len() > READ_INLINE {
        return Ok(Box::pin(tokio::fs::File::from_std(f)));
    }
    let mut buf = Vec::new();
    (&f).read_to_end(&mut buf)?;
    Ok(Box::pin(std::io::Cursor::new(buf)))
}

async fn list_vfs(files: &Files, root: &str, follow: bool) -> io::Result<BTreeMap<String, Item>> {
    let mut out = BTreeMap::new();
    let mut walk = files.walk(root).await.map_err(vfs_io)?;
    let strip = |p: &str| -> String {
        match root {
            "" => p.to_string(),
            r => p
                .strip_prefix(r)
                .unwrap_or(p)
                .trim_start_matches('/')
                .to_string(),
        }
    };
    while let Some(entry) = walk.next().await {
        let e = entry.map_err(vfs_io)?;
        let rel = strip(&e.path);
        if rel.is_empty() {
            continue;
        }
        if name_of(&rel).starts_with(PART_PREFIX) {
            if is_stale_part(name_of(&rel)) {
                // Left by a writer killed before its rename: never a file of the user's.
                let _ = files.remove(&e.path).await;
            }
            continue;
        }
        let Some(mut kind) = kind_of(e.kind) else {
            continue;
        };
        let mut item = Item {
            kind,
            size: e.size,
            mtime: e.mtime,
            mode: e.mode,
            hash: e.hash,
        };
        if kind == ItemKind::Link && follow {
            // What the link points to, resolved by the Vfs's own lookup of the target path.
            match files.read_link(&e.path).await {
                Ok(target) if !target.starts_with('/') => {
                    let dir = e.path.rsplit_once('/').map_or("", |(d, _)| d);
                    if let Ok(t) = files.stat(&normalize(dir, &target)).await {
                        if let Some(k) = kind_of(t.kind).filter(|k| *k == ItemKind::File) {
                            kind = k;
                            item = Item {
                                kind,
                                size: t.size,
                                mtime: t.mtime,
                                mode: t.mode,
                                hash: t.hash,
                            };
                        }
                    }
                }
                _ => {}
            }
        }
        out.insert(rel, item);
    }
    Ok(out)
}

/// `dir/target` with `.` and `..` resolved.
fn normalize(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// A temporary name (`.ourclone-part.PID.…`) whose writer's process is gone.
fn is_stale_part(name: &str) -> bool {
    let pid = name
        .strip_prefix(PART_PREFIX)
        .and_then(|rest| rest.split('.').next())
        .and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
        None => false,
    }
}

fn name_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or(rel, |(_, n)| n)
}

fn local_item(m: &std::fs::Metadata) -> Item {
    let kind = if m.is_dir() {
        ItemKind::Dir
    } else if m.file_type().is_symlink() {
        ItemKind::Link
    } else {
        ItemKind::File
    };
    Item {
        kind,
        size: if kind == ItemKind::File { m.len() } else { 0 },
        mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        mode: ourclone_remote::os::mode_of(m),
        hash: None,
    }
}

fn list_local(root: &Path, follow: bool) -> io::Result<BTreeMap<String, Item>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![String::new()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(root.join(&dir))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(PART_PREFIX) {
                if is_stale_part(&name) {
                    let _ = std::fs::remove_file(entry.path());
                }
                continue;
            }
            let rel = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let meta = entry.metadata()?;
            let ft = meta.file_type();
            let meta = if ft.is_symlink() && follow {
                match std::fs::metadata(entry.path()) {
                    Ok(m) => m,
                    Err(_) => meta,
                }
            } else {
                meta
            };
            let ft = meta.file_type();
            if !(ft.is_file() || ft.is_dir() || ft.is_symlink()) {
                continue; // FIFOs, sockets and devices have no place on a cloud drive
            }
            let item = local_item(&meta);
            if item.kind == ItemKind::Dir {
                todo.push(rel.clone());
            }
            out.insert(rel, item);
        }
    }
    Ok(out)
}

async fn read_at(
    mut r: impl AsyncRead + AsyncSeek + Unpin,
    offset: u64,
    len: u64,
) -> io::Result<Vec<u8>> {
    r.seek(io::SeekFrom::Start(offset)).await?;
    let mut out = Vec::with_capacity(len.min(64 << 20) as usize);
    r.take(len).read_to_end(&mut out).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_resolve_against_their_folder() {
        assert_eq!(normalize("a/b", "../c/d"), "a/c/d");
        assert_eq!(normalize("", "./x"), "x");
        assert_eq!(normalize("a", "../../x"), "x");
    }

    #[test]
    fn part_names_stay_short_and_hidden() {
        let long = "x".repeat(250);
        let p = part_name(Path::new(&format!("/tmp/{long}")));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(PART_PREFIX) && name.len() <= 200, "{name}");
    }
}
