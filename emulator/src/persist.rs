//! On-disk layout of the account: one small JSON file per file/folder (written atomically via a
//! temp file + rename), one blob per file, and a counter file. Each change touches O(1) files,
//! so an account of many thousands of files costs no more per upload than an empty one.
//!
//! ```text
//! DIR/files/<id>.json   file metadata        DIR/blobs/<id>   file content (immutable)
//! DIR/folders/<n>.json  folder metadata      DIR/tmp/         uploads in progress, temp writes
//! DIR/counters.json     next folder id
//! ```

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::state::{FileMeta, FolderMeta};

/// Handle on the state folder. Cheap to clone; holds only paths.
#[derive(Debug, Clone)]
pub struct Disk {
    root: PathBuf,
}

/// Everything read back from the state folder at startup.
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Vec<FileMeta>,
    pub folders: Vec<FolderMeta>,
    pub next_folder_id: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Counters {
    next_folder_id: u64,
}

impl Disk {
    /// Creates the layout if needed, clears leftovers of interrupted uploads, loads the metadata.
    pub fn open(root: &Path) -> io::Result<(Disk, Loaded)> {
        let disk = Disk {
            root: root.to_path_buf(),
        };
        for sub in ["files", "folders", "blobs", "tmp"] {
            fs::create_dir_all(root.join(sub))?;
        }
        fs::remove_dir_all(root.join("tmp"))?;
        fs::create_dir_all(root.join("tmp"))?;
        let loaded = Loaded {
            files: read_all(&root.join("files"))?,
            folders: read_all(&root.join("folders"))?,
            next_folder_id: disk.read_counters()?.next_folder_id,
        };
        Ok((disk, loaded))
    }

    pub fn blob_path(&self, id: &str) -> PathBuf {
        self.root.join("blobs").join(id)
    }

    /// A fresh path in the temp folder (same filesystem as the blobs, so renames are atomic).
    pub fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(crate::ids::upload_id())
    }

    pub fn save_file(&self, meta: &FileMeta) -> io::Result<()> {
        self.write_json(&self.file_meta_path(&meta.id), meta)
    }

    pub fn delete_file(&self, id: &str) -> io::Result<()> {
        remove_if_present(&self.file_meta_path(id))?;
        remove_if_present(&self.blob_path(id))
    }

    pub fn save_folder(&self, meta: &FolderMeta) -> io::Result<()> {
        self.write_json(&self.folder_meta_path(meta.id), meta)
    }

    pub fn delete_folder(&self, id: u64) -> io::Result<()> {
        remove_if_present(&self.folder_meta_path(id))
    }

    pub fn save_next_folder_id(&self, next_folder_id: u64) -> io::Result<()> {
        self.write_json(
            &self.root.join("counters.json"),
            &Counters { next_folder_id },
        )
    }

    /// Moves a finished upload into the blob store under its file id.
    pub fn adopt_blob(&self, temp: &Path, id: &str) -> io::Result<()> {
        fs::rename(temp, self.blob_path(id))
    }

    /// Gives `to` the same content as `from` (blobs never change, so a hard link suffices).
    pub fn copy_blob(&self, from: &str, to: &str) -> io::Result<()> {
        let (src, dst) = (self.blob_path(from), self.blob_path(to));
        fs::hard_link(&src, &dst).or_else(|_| fs::copy(&src, &dst).map(|_| ()))
    }

    fn read_counters(&self) -> io::Result<Counters> {
        match fs::read(self.root.join("counters.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Counters::default()),
            Err(e) => Err(e),
        }
    }

    fn file_meta_path(&self, id: &str) -> PathBuf {
        self.root.join("files").join(format!("{id}.json"))
    }

    fn folder_meta_path(&self, id: u64) -> PathBuf {
        self.root.join("folders").join(format!("{id}.json"))
    }

    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        let temp = self.temp_path();
        fs::write(&temp, bytes)?;
        fs::rename(&temp, path)
    }
}

fn read_all<T: DeserializeOwned>(dir: &Path) -> io::Result<Vec<T>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let bytes = fs::read(&path)?;
            let value = serde_json::from_slice(&bytes)
                .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
            out.push(value);
        }
    }
    Ok(out)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
