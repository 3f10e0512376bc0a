//! The account store: folders and files held in memory, every change mirrored to disk through
//! [`Disk`]. Knows nothing about HTTP; the API layer maps [`StoreError`] to KO answers.

use serde::{Deserialize, Serialize};
use std::{
    collections::{HashMap, HashSet},
    io,
    path::{Path, PathBuf},
};

use crate::{clock, ids, names, persist::Disk};

/// Id of the root folder.
pub const ROOT: u64 = 0;

/// One stored file, as persisted in `files/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileMeta {
    pub id: String,
    pub filename: String,
    pub size: u64,
    pub date: String,
    pub checksum: String,
    pub content_type: String,
    pub folder_id: u64,
    /// Upload order; listings are sorted by it.
    pub seq: u64,
}

/// One folder (never the root), as persisted in `folders/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FolderMeta {
    pub id: u64,
    pub name: String,
    pub parent: u64,
    pub create_date: String,
}

/// A finished upload waiting to join the account.
#[derive(Debug)]
pub struct NewFile {
    pub temp: PathBuf,
    pub filename: String,
    pub size: u64,
    pub checksum: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such file or folder")]
    NotFound,
    #[error("name has forbidden characters")]
    InvalidName,
    #[error("a folder of that name exists")]
    FolderExists,
    #[error("folder not empty")]
    NotEmpty,
    #[error("the root folder cannot be changed")]
    RootFolder,
    #[error("cannot move a folder into itself")]
    IntoItself,
    #[error("storage: {0}")]
    Io(#[from] io::Error),
}

type Result<T> = std::result::Result<T, StoreError>;

/// The single customer account the emulator serves.
#[derive(Debug)]
pub struct Account {
    disk: Disk,
    files: HashMap<String, FileMeta>,
    folders: HashMap<u64, FolderMeta>,
    files_in: HashMap<u64, HashSet<String>>,
    folders_in: HashMap<u64, HashSet<u64>>,
    next_folder_id: u64,
    next_seq: u64,
    used_bytes: u64,
    /// Seconds this server's clock is ahead (`--clock-skew`).
    skew: i64,
}

impl Account {
    /// Opens (or creates) the account stored in `dir`.
    pub fn open(dir: &Path, skew: i64) -> io::Result<Account> {
        let (disk, loaded) = Disk::open(dir)?;
        let mut account = Account {
            disk,
            files: HashMap::new(),
            folders: HashMap::new(),
            files_in: HashMap::new(),
            folders_in: HashMap::new(),
            next_folder_id: loaded.next_folder_id.max(1),
            next_seq: 1,
            used_bytes: 0,
            skew,
        };
        for folder in loaded.folders {
            account.next_folder_id = account.next_folder_id.max(folder.id + 1);
            account.index_folder(folder);
        }
        for file in loaded.files {
            account.next_seq = account.next_seq.max(file.seq + 1);
            account.index_file(file);
        }
        Ok(account)
    }

    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    pub fn file(&self, id: &str) -> Result<&FileMeta> {
        self.files.get(id).ok_or(StoreError::NotFound)
    }

    pub fn folder_exists(&self, id: u64) -> bool {
        id == ROOT || self.folders.contains_key(&id)
    }

    /// Name of a folder ("Root" for the root).
    pub fn folder_name(&self, id: u64) -> Result<&str> {
        match id {
            ROOT => Ok("Root"),
            _ => self
                .folders
                .get(&id)
                .map(|f| f.name.as_str())
                .ok_or(StoreError::NotFound),
        }
    }

    /// Path of a folder from the root, e.g. `a/b` ("" for the root).
    pub fn path_of(&self, mut id: u64) -> String {
        let mut parts = Vec::new();
        while let Some(folder) = self.folders.get(&id) {
            parts.push(folder.name.as_str());
            id = folder.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// Sub-folders of a folder, oldest first.
    pub fn subfolders(&self, id: u64) -> Result<Vec<&FolderMeta>> {
        self.require_folder(id)?;
        let mut out: Vec<&FolderMeta> = self
            .folders_in
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|child| self.folders.get(child))
            .collect();
        out.sort_by_key(|f| f.id);
        Ok(out)
    }

    /// Files of a folder in upload order; `None` lists the whole account.
    pub fn files_of(&self, folder: Option<u64>) -> Result<Vec<&FileMeta>> {
        let mut out: Vec<&FileMeta> = match folder {
            None => self.files.values().collect(),
            Some(id) => {
                self.require_folder(id)?;
                let ids = self.files_in.get(&id).into_iter().flatten();
                ids.filter_map(|f| self.files.get(f)).collect()
            }
        };
        out.sort_by_key(|f| f.seq);
        Ok(out)
    }

    pub fn mkdir(&mut self, parent: u64, name: &str) -> Result<FolderMeta> {
        self.require_folder(parent)?;
        require_name(name)?;
        if self.child_folder_named(parent, name).is_some() {
            return Err(StoreError::FolderExists);
        }
        let folder = FolderMeta {
            id: self.next_folder_id,
            name: name.to_string(),
            parent,
            create_date: clock::now(self.skew),
        };
        self.next_folder_id += 1;
        self.disk.save_next_folder_id(self.next_folder_id)?;
        self.disk.save_folder(&folder)?;
        self.index_folder(folder.clone());
        Ok(folder)
    }

    pub fn rmdir(&mut self, id: u64) -> Result<()> {
        let folder = self.folders.get(&id).ok_or(match id {
            ROOT => StoreError::RootFolder,
            _ => StoreError::NotFound,
        })?;
        let has_files = self.files_in.get(&id).is_some_and(|s| !s.is_empty());
        let has_folders = self.folders_in.get(&id).is_some_and(|s| !s.is_empty());
        if has_files || has_folders {
            return Err(StoreError::NotEmpty);
        }
        let parent = folder.parent;
        self.disk.delete_folder(id)?;
        self.folders.remove(&id);
        remove_from(&mut self.folders_in, parent, &id);
        Ok(())
    }

    /// Moves and/or renames a folder; returns (old name, new name).
    pub fn move_folder(
        &mut self,
        id: u64,
        dest: u64,
        rename: Option<&str>,
    ) -> Result<(String, String)> {
        let mut folder = self.folders.get(&id).cloned().ok_or(match id {
            ROOT => StoreError::RootFolder,
            _ => StoreError::NotFound,
        })?;
        self.require_folder(dest)?;
        if self.is_within(dest, id) {
            return Err(StoreError::IntoItself);
        }
        let new_name = rename.unwrap_or(&folder.name).to_string();
        require_name(&new_name)?;
        if self
            .child_folder_named(dest, &new_name)
            .is_some_and(|other| other != id)
        {
            return Err(StoreError::FolderExists);
        }
        let old_name = std::mem::replace(&mut folder.name, new_name.clone());
        let old_parent = std::mem::replace(&mut folder.parent, dest);
        self.disk.save_folder(&folder)?;
        remove_from(&mut self.folders_in, old_parent, &id);
        self.index_folder(folder);
        Ok((old_name, new_name))
    }

    /// Adds uploaded files to `folder` (the root when that folder does not exist).
    pub fn add_files(&mut self, folder: u64, uploads: Vec<NewFile>) -> Result<Vec<FileMeta>> {
        let folder = if self.folder_exists(folder) {
            folder
        } else {
            ROOT
        };
        let mut added = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let meta = FileMeta {
                id: self.unused_file_id(),
                content_type: names::content_type(&upload.filename).to_string(),
                filename: upload.filename,
                size: upload.size,
                date: clock::now(self.skew),
                checksum: upload.checksum,
                folder_id: folder,
                seq: self.take_seq(),
            };
            self.disk.adopt_blob(&upload.temp, &meta.id)?;
            self.disk.save_file(&meta)?;
            self.index_file(meta.clone());
            added.push(meta);
        }
        Ok(added)
    }

    /// Deletes files; all must exist, or nothing is deleted.
    pub fn remove_files(&mut self, ids: &[String]) -> Result<usize> {
        self.require_files(ids)?;
        let mut removed = 0;
        for id in ids {
            if let Some(meta) = self.files.get(id) {
                self.disk.delete_file(id)?;
                let folder = meta.folder_id;
                self.used_bytes -= meta.size;
                self.files.remove(id);
                remove_from(&mut self.files_in, folder, id);
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Moves files to `dest`, optionally renaming them; URLs stay the same.
    pub fn move_files(&mut self, ids: &[String], dest: u64, rename: Option<&str>) -> Result<usize> {
        self.require_files(ids)?;
        self.require_folder(dest)?;
        rename.map(require_name).transpose()?;
        for id in ids {
            let mut meta = self.file(id)?.clone();
            remove_from(&mut self.files_in, meta.folder_id, id);
            meta.folder_id = dest;
            if let Some(name) = rename {
                meta.filename = name.to_string();
            }
            self.disk.save_file(&meta)?;
            self.index_file_replacing(meta);
        }
        Ok(ids.len())
    }

    /// Copies files into `dest` under new ids; returns (source id, copy id) pairs.
    pub fn copy_files(
        &mut self,
        ids: &[String],
        dest: u64,
        rename: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        self.require_files(ids)?;
        self.require_folder(dest)?;
        rename.map(require_name).transpose()?;
        let mut pairs = Vec::with_capacity(ids.len());
        for id in ids {
            let mut copy = self.file(id)?.clone();
            copy.id = self.unused_file_id();
            copy.folder_id = dest;
            copy.date = clock::now(self.skew);
            copy.seq = self.take_seq();
            if let Some(name) = rename {
                copy.filename = name.to_string();
            }
            self.disk.copy_blob(id, &copy.id)?;
            self.disk.save_file(&copy)?;
            pairs.push((id.clone(), copy.id.clone()));
            self.index_file(copy);
        }
        Ok(pairs)
    }

    /// Renames files in place; returns (id, old name, new name) for those whose name changed.
    pub fn rename_files(
        &mut self,
        renames: &[(String, String)],
    ) -> Result<Vec<(String, String, String)>> {
        for (id, name) in renames {
            self.file(id)?;
            require_name(name)?;
        }
        let mut done = Vec::new();
        for (id, name) in renames {
            let mut meta = self.file(id)?.clone();
            if meta.filename == *name {
                continue;
            }
            let old = std::mem::replace(&mut meta.filename, name.clone());
            self.disk.save_file(&meta)?;
            self.index_file_replacing(meta);
            done.push((id.clone(), old, name.clone()));
        }
        Ok(done)
    }

    fn require_folder(&self, id: u64) -> Result<()> {
        self.folder_exists(id)
            .then_some(())
            .ok_or(StoreError::NotFound)
    }

    fn require_files(&self, ids: &[String]) -> Result<()> {
        ids.iter().try_for_each(|id| self.file(id).map(|_| ()))
    }

    fn child_folder_named(&self, parent: u64, name: &str) -> Option<u64> {
        let children = self.folders_in.get(&parent)?;
        children
            .iter()
            .copied()
            .find(|c| self.folders.get(c).is_some_and(|f| f.name == name))
    }

    /// Whether `id` is `ancestor` or lies below it.
    fn is_within(&self, mut id: u64, ancestor: u64) -> bool {
        loop {
            if id == ancestor {
                return true;
            }
            match self.folders.get(&id) {
                Some(folder) => id = folder.parent,
                None => return false,
            }
        }
    }

    fn unused_file_id(&self) -> String {
        loop {
            let id = ids::file_id();
            if !self.files.contains_key(&id) {
                return id;
            }
        }
    }

    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    fn index_folder(&mut self, folder: FolderMeta) {
        self.folders_in
            .entry(folder.parent)
            .or_default()
            .insert(folder.id);
        self.folders.insert(folder.id, folder);
    }

    fn index_file(&mut self, file: FileMeta) {
        self.used_bytes += file.size;
        self.files_in
            .entry(file.folder_id)
            .or_default()
            .insert(file.id.clone());
        self.files.insert(file.id.clone(), file);
    }

    /// Re-indexes a changed file whose size is unchanged.
    fn index_file_replacing(&mut self, file: FileMeta) {
        self.files_in
            .entry(file.folder_id)
            .or_default()
            .insert(file.id.clone());
        self.files.insert(file.id.clone(), file);
    }
}

fn require_name(name: &str) -> Result<()> {
    names::is_acceptable(name)
        .then_some(())
        .ok_or(StoreError::InvalidName)
}

fn remove_from<K: std::hash::Hash + Eq, V: std::hash::Hash + Eq>(
    index: &mut HashMap<K, HashSet<V>>,
    key: K,
    value: &V,
) {
    if let Some(set) = index.get_mut(&key) {
        set.remove(value);
    }
}
