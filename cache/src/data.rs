//! `DataStore`: the local files that hold file content — staged writes not yet uploaded, and
//! whole files fetched for editing. One file per inode under one folder. Owns their paths and
//! durability (fsync); must not decide when to upload or evict.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::node::Ino;

pub struct DataStore {
    dir: PathBuf,
}

impl DataStore {
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, ino: Ino) -> PathBuf {
        self.dir.join(format!("{ino:016x}"))
    }

    /// Opens the data file of `ino` for reading and writing, creating it empty if absent.
    pub fn open_rw(&self, ino: Ino) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.path(ino))
    }

    /// Replaces the data file of `ino` with `tmp` atomically (for whole-file fetches).
    pub fn install(&self, ino: Ino, tmp: &Path) -> io::Result<()> {
        fs::rename(tmp, self.path(ino))
    }

    /// A scratch path beside the data files, on the same file system.
    pub fn scratch(&self, ino: Ino) -> PathBuf {
        self.dir.join(format!("{ino:016x}.part"))
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
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}
