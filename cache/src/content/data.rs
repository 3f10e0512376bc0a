//! `DataStore`: the local files that hold file content — staged writes not yet uploaded, and
//! whole files fetched for editing. One file per inode under one folder. Owns their paths and
//! durability (fsync); must not decide when to upload or evict.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::content::spares::Spares;

use crate::state::node::Ino;

pub struct DataStore {
    dir: PathBuf,
    /// A data file was created or renamed since the folder was last fsynced.
    dir_dirty: AtomicBool,
    /// Empty files made ahead, in `spare/` inside `dir` (none where it cannot be made).
    spares: Option<Arc<Spares>>,
}

/// Fsyncs a folder, so the names created or renamed in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    ourclone_remote::os::sync_dir(dir)
}

impl DataStore {
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let spares = Spares::open(&dir.join("spare")).ok();
        Ok(Self {
            dir: dir.to_path_buf(),
            dir_dirty: AtomicBool::new(false),
            spares,
        })
    }

    pub fn path(&self, ino: Ino) -> PathBuf {
        self.dir.join(format!("{ino:016x}"))
    }

    /// Opens the data file of `ino` for reading and writing, creating it empty if absent.
    pub fn open_rw(&self, ino: Ino) -> io::Result<File> {
        let path = self.path(ino);
        let existing = OpenOptions::new().read(true).write(true).open(&path);
        match existing {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        // A spare becomes the file where one is left; otherwise (or if linking fails) it is
        // created here. Either way an existing file is opened as it is, never replaced.
        if let Some(spares) = &self.spares {
            if let Err(e) = spares.place(&path) {
                tracing::debug!("spare data file not used: {e}");
            }
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        self.dir_dirty.store(true, Ordering::Release);
        Ok(f)
    }

    /// Replaces the data file of `ino` with `tmp` atomically (for whole-file fetches).
    pub fn install(&self, ino: Ino, tmp: &Path) -> io::Result<()> {
        fs::rename(tmp, self.path(ino))?;
        self.dir_dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// True when a data file was created or installed since the last [`DataStore::sync_names`].
    pub fn names_pending(&self) -> bool {
        self.dir_dirty.load(Ordering::Acquire)
    }

    /// Makes the names of data files created or installed so far durable (one folder fsync,
    /// shared by everyone who asks before the next change). Called before a journal record
    /// that needs those files is committed durably.
    pub fn sync_names(&self) -> io::Result<()> {
        if self.dir_dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = sync_dir(&self.dir) {
                self.dir_dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }

    /// A scratch path beside the data files, on the same file system.
    pub fn scratch(&self, ino: Ino) -> PathBuf {
        self.dir.join(format!("{ino:016x}.part"))
    }

    /// Length of the data file of `ino`, or `None` when it has none. Callers compare it with
    /// the node's size before trusting the file (the cache is only a cache).
    pub fn len(&self, ino: Ino) -> io::Result<Option<u64>> {
        match fs::metadata(self.path(ino)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Bytes free for an unprivileged writer on the data files' disk.
    pub fn free_space(&self) -> io::Result<u64> {
        ourclone_remote::os::space(&self.dir).map(|s| s.available)
    }

    pub fn exists(&self, ino: Ino) -> bool {
        self.path(ino).exists()
    }

    pub fn remove(&self, ino: Ino) -> io::Result<()> {
        match fs::remove_file(self.path(ino)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Inodes that have a data file.
    pub fn list(&self) -> io::Result<Vec<Ino>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let name = e?.file_name();
            if let Some(ino) = name.to_str().and_then(|n| u64::from_str_radix(n, 16).ok()) {
                out.push(ino);
            }
        }
        Ok(out)
    }

    /// Bytes used by all data files.
    pub fn usage(&self) -> u64 {
        fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}
