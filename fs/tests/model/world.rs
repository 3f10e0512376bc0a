//! The Vfs side: a Vfs over a LocalRemote in a temporary folder, its cache on a small tmpfs
//! (so that a disk-full write can be staged), operations applied to it, the tree read back,
//! remounts and simulated crashes.

use super::*;

/// Longest a single operation may take before the test calls it a hang. A drain that keeps
/// failing takes about 16 s before it gives up.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`timed`] answers for an operation that hangs, in place of an errno.
pub(crate) const HANG: i32 = -1;

pub(crate) async fn timed<T>(f: impl std::future::Future<Output = T>) -> Result<T, i32> {
    tokio::time::timeout(OP_TIMEOUT, f).await.map_err(|_| HANG)
}

/// `?` for Vfs results: the errno, or [`HANG`]. (The name documents the call.)
macro_rules! e {
    ($what:literal, $f:expr) => {
        timed($f).await?.map_err(|e| e.errno())?
    };
}

/// `?` for Vfs results while reading the tree: a description.
macro_rules! t {
    ($what:expr, $f:expr) => {
        match timed($f).await {
            Err(_) => return Err(format!("{}: hang", $what)),
            Ok(Err(e)) => return Err(format!("{}: {e}", $what)),
            Ok(Ok(v)) => v,
        }
    };
}

pub(crate) struct World {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) cloud: PathBuf,
    pub(crate) state: PathBuf,
    pub(crate) generation: u32,
    pub(crate) vfs: Option<Arc<Vfs>>,
    /// What the last `Read` returned.
    pub(crate) last_read: Vec<u8>,
    /// The tmpfs holding the cache (`state`); last, so the Vfs is dropped before it goes.
    pub(crate) disk: common::SmallDisk,
}

impl World {
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let cloud = tmp.path().join("cloud");
        std::fs::create_dir(&cloud).unwrap();
        let disk = common::SmallDisk::new("128m");
        let state = disk.path().join("state0");
        let mut w = Self {
            _tmp: tmp,
            cloud,
            state,
            generation: 0,
            vfs: None,
            last_read: Vec::new(),
            disk,
        };
        w.mount();
        w
    }

    pub(crate) fn mount(&mut self) {
        let remote = Arc::new(Counted::new(Arc::new(
            LocalRemote::open(&self.cloud).unwrap(),
        )));
        let cfg = VfsConfig {
            dir_cache_time: Duration::from_secs(3600),
            write_back: Duration::from_secs(3600),
            ..common::config()
        };
        let (vfs, _) = Vfs::open_cache(remote, RemotePath::root(), &self.state, cfg).unwrap();
        self.vfs = Some(vfs);
    }

    pub(crate) fn vfs(&self) -> &Vfs {
        self.vfs.as_ref().unwrap()
    }

    pub(crate) fn remount(&mut self) {
        let vfs = self.vfs.take().unwrap();
        vfs.sync_all().unwrap();
        assert_eq!(Arc::strong_count(&vfs), 1, "someone still holds the Vfs");
        drop(vfs);
        self.mount();
    }

    /// SIGKILL: what is on disk now (as the OS sees it, without the Vfs's cooperation) is what
    /// the next mount finds.
    pub(crate) fn crash(&mut self) {
        self.generation += 1;
        let copy = self.disk.path().join(format!("state{}", self.generation));
        common::copy_dir(&self.state, &copy);
        let old = std::mem::replace(&mut self.state, copy);
        drop(self.vfs.take());
        let _ = std::fs::remove_dir_all(old);
        self.mount();
    }

    /// The folder `path` walks to, and the last name.
    pub(crate) async fn parent<'a>(&self, path: &'a [String]) -> Result<(u64, &'a str), i32> {
        let mut ino = ROOT_INO;
        for name in &path[..path.len() - 1] {
            let attr = e!("lookup", self.vfs().lookup(ino, name));
            // The kernel's path walk refuses to go through anything but a folder.
            if attr.kind != Kind::Dir {
                return Err(libc::ENOTDIR);
            }
            ino = attr.ino;
        }
        Ok((ino, path.last().unwrap()))
    }

    pub(crate) async fn resolve(&self, path: &[String]) -> Result<u64, i32> {
        let (parent, name) = self.parent(path).await?;
        Ok(e!("lookup", self.vfs().lookup(parent, name)).ino)
    }

    pub(crate) async fn apply(&mut self, op: &Op) -> Result<(), i32> {
        match op {
            Create(P(path), Data(data)) => {
                let (parent, name) = self.parent(path).await?;
                let vfs = self.vfs();
                let (_, fh) = e!("create", vfs.create(parent, name, 0o644, 0, 0));
                if !data.is_empty() {
                    e!("write", vfs.write(fh, 0, data));
                }
                e!("flush", vfs.flush(fh));
                e!("release", vfs.release(fh));
            }
            Write(P(path), off, Data(data)) => {
                let ino = self.resolve(path).await?;
                let vfs = self.vfs();
                let fh = e!("open", vfs.open(ino, OpenMode::Write, false));
                e!("write", vfs.write(fh, *off, data));
                e!("flush", vfs.flush(fh));
                e!("release", vfs.release(fh));
            }
            Truncate(P(path), size) => {
                let ino = self.resolve(path).await?;
                let set = SetAttr {
                    size: Some(*size),
                    ..Default::default()
                };
                let attr = e!("setattr", self.vfs().setattr(ino, set, None));
                assert_eq!(attr.size, *size, "setattr's answer");
            }
            Rename(P(from), P(to), no_replace) => {
                let (p1, n1) = self.parent(from).await?;
                let (p2, n2) = self.parent(to).await?;
                let flags = RenameFlags {
                    no_replace: *no_replace,
                    exchange: false,
                };
                e!("rename", self.vfs().rename(p1, n1, p2, n2, flags));
            }
            Unlink(P(path)) => {
                let (parent, name) = self.parent(path).await?;
                e!("unlink", self.vfs().unlink(parent, name));
            }
            Mkdir(P(path)) => {
                let (parent, name) = self.parent(path).await?;
                e!("mkdir", self.vfs().mkdir(parent, name, 0o755, 0, 0));
            }
            Rmdir(P(path)) => {
                let (parent, name) = self.parent(path).await?;
                e!("rmdir", self.vfs().rmdir(parent, name));
            }
            Fsync(P(path)) => {
                let ino = self.resolve(path).await?;
                let vfs = self.vfs();
                if e!("getattr", vfs.getattr(ino)).kind == Kind::Dir {
                    e!("fsyncdir", vfs.fsyncdir());
                } else {
                    let fh = e!("open", vfs.open(ino, OpenMode::Read, false));
                    e!("fsync", vfs.fsync(fh));
                    e!("release", vfs.release(fh));
                }
            }
            Read(P(path), off, len) => {
                let ino = self.resolve(path).await?;
                let vfs = self.vfs();
                let fh = e!("open", vfs.open(ino, OpenMode::Read, false));
                let data = e!("read", vfs.read(fh, *off, *len));
                e!("release", vfs.release(fh));
                self.last_read = data.to_vec();
            }
            Drain => {
                e!("drain", self.vfs().drain(|_| {}));
            }
            Remount => self.remount(),
            Crash => self.crash(),
            LoseCache(P(path), truncate) => {
                let ino = self.resolve(path).await?;
                self.lose_cache(ino, *truncate);
            }
            Full(P(path), off, Data(data)) => {
                let ino = self.resolve(path).await?;
                let ballast = self.disk.fill();
                let written = self.write_all_steps(ino, *off, data).await;
                drop(ballast);
                written?;
            }
        }
        Ok(())
    }

    /// Open, write, flush and release, releasing even when the write or flush failed (an open
    /// handle left behind would hold back uploads); the first errno.
    async fn write_all_steps(&self, ino: u64, off: u64, data: &[u8]) -> Result<(), i32> {
        let vfs = self.vfs();
        let fh = e!("open", vfs.open(ino, OpenMode::Write, false));
        let wrote = match timed(vfs.write(fh, off, data)).await? {
            Ok(n) if n as usize == data.len() => Ok(()),
            Ok(_) => Err(libc::ENOSPC),
            Err(e) => Err(e.errno()),
        };
        let flushed = timed(vfs.flush(fh)).await?.map_err(|e| e.errno());
        let released = timed(vfs.release(fh)).await?.map_err(|e| e.errno());
        wrote.and(flushed).and(released)
    }

    /// Deletes or halves the data file of `ino` if it is a synced file's local copy.
    pub(crate) fn lose_cache(&self, ino: u64, truncate: bool) {
        if self.vfs().sync_state(ino).ok() != Some(ourclone_vfs::SyncState::Synced) {
            return;
        }
        let path = self.state.join("data").join(format!("{ino:016x}"));
        let Ok(meta) = std::fs::metadata(&path) else {
            return;
        };
        if truncate {
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(meta.len() / 2).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }

    pub(crate) async fn read_file(&self, ino: u64) -> Result<Vec<u8>, String> {
        let vfs = self.vfs();
        let fh = t!(
            format!("open inode {ino}"),
            vfs.open(ino, OpenMode::Read, false)
        );
        let mut out = Vec::new();
        loop {
            let off = out.len() as u64;
            let chunk = t!(format!("read inode {ino}"), vfs.read(fh, off, 1 << 20));
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        t!(format!("release inode {ino}"), vfs.release(fh));
        Ok(out)
    }

    /// The whole tree as the Vfs shows it, checking on the way that readdir, lookup, getattr
    /// and the content agree with each other.
    pub(crate) async fn tree(&self) -> Result<Tree, String> {
        let vfs = self.vfs();
        let mut out = Tree::new();
        let mut dirs = vec![(Vec::<String>::new(), ROOT_INO)];
        while let Some((path, ino)) = dirs.pop() {
            let entries = t!(format!("readdir {path:?}"), vfs.readdir(ino));
            for ent in entries {
                let mut cp = path.clone();
                cp.push(ent.name.clone());
                let looked = t!(
                    format!("lookup {cp:?} listed by readdir"),
                    vfs.lookup(ino, &ent.name)
                );
                let got = t!(format!("getattr {cp:?}"), vfs.getattr(ent.attr.ino));
                if looked.ino != ent.attr.ino
                    || (looked.kind, looked.size) != (ent.attr.kind, ent.attr.size)
                    || (got.kind, got.size) != (ent.attr.kind, ent.attr.size)
                {
                    return Err(format!(
                        "{cp:?}: readdir says {:?}, lookup {:?}, getattr {:?}",
                        ent.attr, looked, got
                    ));
                }
                match ent.attr.kind {
                    Kind::Dir => {
                        dirs.push((cp.clone(), ent.attr.ino));
                        out.insert(cp, Obj::Dir);
                    }
                    Kind::File => {
                        let data = self.read_file(ent.attr.ino).await?;
                        if data.len() as u64 != ent.attr.size {
                            return Err(format!(
                                "{cp:?}: size {} but {} bytes read",
                                ent.attr.size,
                                data.len()
                            ));
                        }
                        out.insert(cp, Obj::File(data));
                    }
                    other => return Err(format!("{cp:?}: unexpected {other:?}")),
                }
            }
        }
        Ok(out)
    }

    /// The remote folder's files (and folders), skipping nothing.
    pub(crate) fn remote_files(&self) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
        fn walk(
            root: &Path,
            dir: &Path,
            files: &mut BTreeMap<String, Vec<u8>>,
            dirs: &mut Vec<String>,
        ) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if e.file_type().unwrap().is_dir() {
                    dirs.push(rel);
                    walk(root, &e.path(), files, dirs);
                } else {
                    files.insert(rel, std::fs::read(e.path()).unwrap());
                }
            }
        }
        let (mut files, mut dirs) = (BTreeMap::new(), Vec::new());
        walk(&self.cloud, &self.cloud, &mut files, &mut dirs);
        dirs.sort();
        (files, dirs)
    }
}

pub(crate) fn diff(want: &Tree, got: &Tree) -> String {
    let mut out = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => out.push(format!("  missing {:?}: {v:?}", k.join("/"))),
            Some(g) if g != v => out.push(format!("  {:?}: want {v:?}, got {g:?}", k.join("/"))),
            _ => {}
        }
    }
    for (k, v) in got {
        if !want.contains_key(k) {
            out.push(format!("  unexpected {:?}: {v:?}", k.join("/")));
        }
    }
    out.join("\n")
}
