//! The 1Fichier provider: implements [`Remote`] with the real API v1. Owns turning paths into
//! folder ids and file URLs (using the caller's id hints first, then remembered ids, then
//! `folder/ls` walks from the root), and composing the calls of each operation. It must not
//! count calls (`Counted` does), cache file contents, or log the API key.
//!
//! Conventions the user can see:
//! - **Names** are encoded for the characters 1Fichier rejects (see [`names`]); every name sent
//!   or received goes through that encoding.
//! - **Empty files**: 1Fichier cannot store 0-byte files, so an empty file is stored as a
//!   one-byte placeholder (a single NUL byte) named `<name>␀empty` (the user's name followed
//!   by NUL and `empty`, encoded; no real name can contain NUL). Listings show it as `<name>`,
//!   size 0, with the empty string's Whirlpool; reads return nothing. Its id is the file URL
//!   plus [`names::EMPTY_ID_SUFFIX`]. Renames keep the marker.
//! - **Duplicate names** (1Fichier allows several files of one name in a folder) are all
//!   shown: one keeps the name, the others become `name (dup-<url id>).ext`
//!   ([`names::disambiguate`]).
//! - **Listing interval**: a folder is listed at most once per `list_interval`; within it the
//!   last answer (patched with our own changes) is served.

pub mod names;

mod api;
mod checksum;
mod client;
mod download;
mod folders;
mod upload;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::json;
use tokio::time::Instant;

use self::api::{
    Ack, CopiedFiles, FileItem, FileListing, FolderListing, MadeFolder, MovedFiles, UserInfo,
};
use self::client::ApiClient;
pub use self::client::ApiKey;
use self::download::Downloads;
use self::folders::{FolderCache, ROOT_ID};
use self::upload::{batches, upload_group, OutgoingFile};
use crate::pacer::{self, Pacer, PacerConfig, Priority};
use crate::sync::lock;
use crate::{
    Dest, Entry, EntryKind, Features, ObjectRef, Remote, RemoteError, RemotePath, Result, Upload,
    Usage,
};

/// The public API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.1fichier.com/v1";

/// How long an `about` answer is reused (user/info is limited to about one call per 5 min).
const ABOUT_REUSE: Duration = Duration::from_secs(300);

/// Files per `file/rm` request.
const REMOVE_BATCH: usize = 100;

/// Settings of one 1Fichier remote.
#[derive(Clone)]
pub struct OneFichierConfig {
    /// API base URL, `https://api.1fichier.com/v1` by default; upload nodes are reached with
    /// the same scheme (so `http` for a local emulator).
    pub endpoint: String,
    pub api_key: String,
    /// The account's Pacer. `None`: the process-wide one for this key
    /// ([`Pacer::for_account`] with [`PacerConfig::onefichier`] and `flood_backoff`).
    pub pacer: Option<Arc<Pacer>>,
    /// Pause after "Flood detected" when the Pacer is created here.
    pub flood_backoff: Duration,
    /// Sustained API calls per second when the Pacer is created here.
    pub calls_per_second: f64,
    /// A folder is listed at most once per this interval.
    pub list_interval: Duration,
    /// How long a download token is reused (tokens live about 5 minutes).
    pub token_reuse: Duration,
    /// Most files in one upload request.
    pub max_batch_files: usize,
    /// About the most bytes in one upload request (a larger single file still goes alone).
    pub max_batch_bytes: u64,
    /// Longest wait for any read on a connection.
    pub read_timeout: Duration,
}

impl OneFichierConfig {
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            api_key: api_key.into(),
            pacer: None,
            flood_backoff: Duration::from_secs(30),
            calls_per_second: PacerConfig::onefichier().calls_per_second,
            list_interval: Duration::from_secs(30),
            token_reuse: Duration::from_secs(240),
            max_batch_files: 100,
            max_batch_bytes: 1 << 30,
            read_timeout: Duration::from_secs(120),
        }
    }
}

impl fmt::Debug for OneFichierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneFichierConfig")
            .field("endpoint", &self.endpoint)
            .field("api_key", &"<redacted>")
            .field("flood_backoff", &self.flood_backoff)
            .field("list_interval", &self.list_interval)
            .field("token_reuse", &self.token_reuse)
            .field("max_batch_files", &self.max_batch_files)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .finish_non_exhaustive()
    }
}

/// A 1Fichier account as a [`Remote`].
pub struct OneFichierRemote {
    client: ApiClient,
    folders: FolderCache,
    downloads: Downloads,
    list_interval: Duration,
    max_batch_files: usize,
    max_batch_bytes: u64,
    about: Mutex<Option<(Usage, Instant)>>,
}

impl fmt::Debug for OneFichierRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneFichierRemote")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl OneFichierRemote {
    pub fn new(config: OneFichierConfig) -> Result<Self> {
        let key = ApiKey::new(config.api_key);
        let pacer = config.pacer.unwrap_or_else(|| {
            let pacer_config = PacerConfig {
                flood_backoff: config.flood_backoff,
                calls_per_second: config.calls_per_second,
                ..PacerConfig::onefichier()
            };
            Pacer::for_account(&key.fingerprint(), pacer_config)
        });
        Ok(Self {
            client: ApiClient::new(&config.endpoint, key, pacer, config.read_timeout)?,
            folders: FolderCache::default(),
            downloads: Downloads::new(config.token_reuse),
            list_interval: config.list_interval,
            max_batch_files: config.max_batch_files.max(1),
            max_batch_bytes: config.max_batch_bytes,
            about: Mutex::new(None),
        })
    }

    /// The Pacer this remote goes through (share it with other users of the account).
    pub fn pacer(&self) -> Arc<Pacer> {
        self.client.pacer.clone()
    }

    /// One cheap call (`user/info`) that proves the key works for the API. A refused key or
    /// a non-customer account gives [`RemoteError::Auth`].
    pub async fn check_key(&self) -> Result<()> {
        let usage = self.fetch_usage().await?;
        *lock(&self.about) = Some((usage, Instant::now()));
        Ok(())
    }

    /// Removes many files with as few `file/rm` calls as possible.
    pub async fn remove_files(&self, files: &[ObjectRef]) -> Result<()> {
        let mut ids = Vec::with_capacity(files.len());
        for file in files {
            ids.push(self.file_id(file).await?);
        }
        self.remove_file_ids(&ids).await
    }

    async fn remove_file_ids(&self, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(REMOVE_BATCH) {
            let files: Vec<_> = chunk
                .iter()
                .map(|id| json!({ "url": names::split_file_id(id).0 }))
                .collect();
            let _: Ack = self
                .client
                .post("file/rm.cgi", &json!({ "files": files }))
                .await?;
            for id in chunk {
                self.folders.remove_id(id);
                self.downloads.forget(names::split_file_id(id).0);
            }
        }
        Ok(())
    }

    // ----- resolving paths and ids -----

    /// The folder id of `path`, from the hint, memory, or a walk from the root.
    async fn folder_id(&self, path: &RemotePath, hint: Option<&str>) -> Result<u64> {
        if let Some(hint) = hint {
            return folder_hint(hint, path);
        }
        if let Some(id) = self.folders.folder_id(path) {
            return Ok(id);
        }
        let (parent, _) = path
            .split_last()
            .ok_or_else(|| RemoteError::NotFound(path.to_string()))?;
        let parent_id = Box::pin(self.folder_id(&parent, None)).await?;
        let entry = self.find_in(parent_id, &parent, path).await?;
        match entry.kind {
            EntryKind::Dir => folder_hint(entry.id.as_deref().unwrap_or_default(), path),
            EntryKind::File => Err(RemoteError::NotADirectory(path.to_string())),
        }
    }

    /// The folder a new object goes into, and its name there.
    async fn destination<'a>(&self, dest: &'a Dest) -> Result<(u64, RemotePath, &'a str)> {
        let (parent, name) = dest
            .path
            .split_last()
            .ok_or_else(|| RemoteError::PermissionDenied("the root cannot be replaced".into()))?;
        let id = self.folder_id(&parent, dest.parent_id.as_deref()).await?;
        Ok((id, parent, name))
    }

    /// The entry named by `path` (duplicates told apart), from its parent's listing.
    async fn find(&self, path: &RemotePath) -> Result<Entry> {
        let (parent, _) = path
            .split_last()
            .ok_or_else(|| RemoteError::NotFound(path.to_string()))?;
        let parent_id = self.folder_id(&parent, None).await?;
        self.find_in(parent_id, &parent, path).await
    }

    async fn find_in(
        &self,
        parent_id: u64,
        parent: &RemotePath,
        path: &RemotePath,
    ) -> Result<Entry> {
        let entries = names::disambiguate(self.listing(parent_id, parent).await?);
        entries
            .into_iter()
            .find(|e| e.name == path.name())
            .ok_or_else(|| RemoteError::NotFound(path.to_string()))
    }

    /// A file's id ([`names::file_id`]) from the hint or its parent's listing.
    async fn file_id(&self, file: &ObjectRef) -> Result<String> {
        if let Some(id) = file.id.as_deref() {
            if names::is_file_id(id) {
                return Ok(id.to_string());
            }
            return Err(RemoteError::IsADirectory(file.path.to_string()));
        }
        let entry = self.find(&file.path).await?;
        match (entry.kind, entry.id) {
            (EntryKind::File, Some(id)) => Ok(id),
            _ => Err(RemoteError::IsADirectory(file.path.to_string())),
        }
    }

    /// Kind and id of an existing object, without a call when the id is given.
    async fn kind_and_id(&self, obj: &ObjectRef) -> Result<(EntryKind, String)> {
        if let Some(id) = obj.id.as_deref() {
            let kind = if names::is_file_id(id) {
                EntryKind::File
            } else {
                EntryKind::Dir
            };
            return Ok((kind, id.to_string()));
        }
        if obj.path.is_root() {
            return Ok((EntryKind::Dir, ROOT_ID.to_string()));
        }
        let entry = self.find(&obj.path).await?;
        let id = entry
            .id
            .ok_or_else(|| RemoteError::NotFound(obj.path.to_string()))?;
        Ok((entry.kind, id))
    }

    // ----- listings -----

    /// The raw entries of a folder, listed at most once per interval.
    async fn listing(&self, folder_id: u64, path: &RemotePath) -> Result<Vec<Entry>> {
        if let Some(entries) = self.folders.fresh_listing(folder_id, self.list_interval) {
            return Ok(entries);
        }
        let lock = self.folders.list_lock(folder_id);
        let _one_lister = lock.lock().await;
        if let Some(entries) = self.folders.fresh_listing(folder_id, self.list_interval) {
            return Ok(entries);
        }
        let entries = self.fetch_listing(folder_id).await?;
        self.folders.store_listing(folder_id, path, entries.clone());
        Ok(entries)
    }

    /// `folder/ls` with `files: 1`; `file/ls` only if the answer did not carry the files.
    async fn fetch_listing(&self, folder_id: u64) -> Result<Vec<Entry>> {
        let body = json!({ "folder_id": folder_id, "files": 1 });
        let answer: FolderListing = self.client.post("folder/ls.cgi", &body).await?;
        let mut entries: Vec<Entry> = answer
            .sub_folders
            .unwrap_or_default()
            .into_iter()
            .map(api::SubFolder::into_entry)
            .collect();
        let items = match (answer.items, answer.files) {
            (Some(items), _) => items,
            (None, Some(0)) => Vec::new(),
            (None, _) => {
                let body = json!({ "folder_id": folder_id });
                let files: FileListing = self.client.post("file/ls.cgi", &body).await?;
                files.items.unwrap_or_default()
            }
        };
        entries.extend(items.into_iter().map(FileItem::into_entry));
        Ok(entries)
    }

    /// What we know of a file: from a remembered listing, else `file/info`.
    async fn describe_file(&self, id: &str, url: &str) -> Result<Entry> {
        if let Some(entry) = self.folders.entry_by_id(id) {
            return Ok(entry);
        }
        let info: FileItem = self
            .client
            .post("file/info.cgi", &json!({ "url": url }))
            .await?;
        Ok(info.into_entry())
    }

    // ----- moves -----

    async fn move_file(&self, id: &str, from: &ObjectRef, to: &Dest) -> Result<Entry> {
        let (url, empty) = names::split_file_id(id);
        let from_parent = from.path.split_last().map(|(p, _)| p).unwrap_or_default();
        let (to_parent, to_name) = to
            .path
            .split_last()
            .ok_or_else(|| RemoteError::PermissionDenied("the root cannot be replaced".into()))?;
        let renamed = from.path.name() != to_name;
        let stored = names::encode_file_name(to_name, empty);
        let mut new_url = url.to_string();
        // Same folder: rename.cgi (mv.cgi into the same folder does not rename, rclone #5421).
        let dest_id = if from_parent == to_parent {
            if renamed {
                self.rename_in_place(url, &stored).await?;
            }
            match to.parent_id.as_deref() {
                Some(hint) => folder_hint(hint, &to_parent).ok(),
                None => self.folders.folder_id(&to_parent),
            }
        } else {
            let dest_id = self.folder_id(&to_parent, to.parent_id.as_deref()).await?;
            let mut body = json!({ "urls": [url], "destination_folder_id": dest_id });
            if renamed {
                body["rename"] = json!(stored);
            }
            let moved: MovedFiles = self.client.post("file/mv.cgi", &body).await?;
            if let Some(u) = moved.urls.into_iter().next() {
                new_url = u;
            }
            Some(dest_id)
        };
        let mut entry = self.describe_file(id, &new_url).await?;
        entry.name = to_name.to_string();
        entry.id = Some(names::file_id(&new_url, empty));
        self.folders.remove_id(id);
        if let Some(dest_id) = dest_id {
            self.folders.add_entry(dest_id, entry.clone());
        }
        Ok(entry)
    }

    /// `file/rename.cgi`; "No file has been renamed #312" means it already had that name.
    async fn rename_in_place(&self, url: &str, stored: &str) -> Result<()> {
        let body = json!({ "urls": [{ "url": url, "filename": stored }], "pretty": 0 });
        match self.client.post::<Ack>("file/rename.cgi", &body).await {
            Err(RemoteError::Permanent(m)) if client::message_code(&m) == Some(312) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn move_dir(&self, folder_id: u64, from: &ObjectRef, to: &Dest) -> Result<Entry> {
        if folder_id == ROOT_ID {
            return Err(RemoteError::PermissionDenied(
                "the root cannot be moved".into(),
            ));
        }
        let (dest_id, _, to_name) = self.destination(to).await?;
        let mut body = json!({
            "folder_id": folder_id,
            "rename": names::encode(to_name),
            "destination_user": "",
        });
        if dest_id != ROOT_ID {
            body["destination_folder_id"] = json!(dest_id);
        }
        let _: Ack = self.client.post("folder/mv.cgi", &body).await?;
        let id = folder_id.to_string();
        let mut entry = self
            .folders
            .entry_by_id(&id)
            .unwrap_or_else(|| dir_entry(to_name, folder_id));
        entry.name = to_name.to_string();
        self.folders.remove_id(&id);
        self.folders.move_tree(&from.path, &to.path);
        self.folders.learn(&to.path, folder_id);
        self.folders.add_entry(dest_id, entry.clone());
        Ok(entry)
    }

    // ----- uploads -----

    /// Sends the items (already grouped by folder) and fills `results`.
    async fn upload_into(
        &self,
        folder_id: u64,
        items: &[(usize, &Upload)],
        results: &mut [Option<Result<Entry>>],
    ) {
        let files: Vec<OutgoingFile> = items
            .iter()
            .map(|(_, u)| OutgoingFile {
                name: u.dest.path.name().to_string(),
                source: u.source.clone(),
                size: u.size,
            })
            .collect();
        let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        for range in batches(&sizes, self.max_batch_files, self.max_batch_bytes) {
            let outcomes = upload_group(&self.client, folder_id, &files[range.clone()]).await;
            for ((index, item), outcome) in items[range].iter().zip(outcomes) {
                let entry = outcome.map(|stored| Entry {
                    name: item.dest.path.name().to_string(),
                    kind: EntryKind::File,
                    size: item.size,
                    mtime: Some(now_in_seconds()),
                    id: Some(stored.id),
                    hash: Some(crate::Hash::whirlpool(stored.hash)),
                });
                if let Ok(entry) = &entry {
                    self.folders.add_entry(folder_id, entry.clone());
                }
                results[*index] = Some(entry);
            }
        }
    }

    /// The ids of the objects the uploads replace, looked up before the new copies exist.
    async fn replaced_ids(&self, items: &[Upload]) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let id = match &item.replace {
                Some(old) => self.file_id(old).await.ok(),
                None => None,
            };
            out.push(id);
        }
        out
    }

    /// Uploads grouped by destination folder, then removes what they replace.
    async fn upload_all(&self, items: &[Upload]) -> Vec<Result<Entry>> {
        let mut results: Vec<Option<Result<Entry>>> = (0..items.len()).map(|_| None).collect();
        let replaced = self.replaced_ids(items).await;
        let mut by_folder: BTreeMap<u64, Vec<(usize, &Upload)>> = BTreeMap::new();
        for (index, item) in items.iter().enumerate() {
            match self.destination(&item.dest).await {
                Ok((folder_id, _, _)) => {
                    by_folder.entry(folder_id).or_default().push((index, item))
                }
                Err(err) => results[index] = Some(Err(err)),
            }
        }
        for (folder_id, group) in &by_folder {
            self.upload_into(*folder_id, group, &mut results).await;
        }
        let old: Vec<String> = replaced
            .into_iter()
            .zip(&results)
            .filter_map(|(old, result)| old.filter(|_| matches!(result, Some(Ok(_)))))
            .collect();
        if !old.is_empty() {
            if let Err(err) = self.remove_file_ids(&old).await {
                tracing::warn!(files = old.len(), error = %err, "uploaded, but the replaced copies could not be removed");
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(RemoteError::Transient("upload not attempted".into())))
            })
            .collect()
    }

    async fn fetch_usage(&self) -> Result<Usage> {
        let info: UserInfo = self.client.post("user/info.cgi", &json!({})).await?;
        let used = info.cold_storage;
        let total = info.available_cold_storage;
        let free = match (total, used) {
            (Some(t), Some(u)) => Some(t.saturating_sub(u)),
            _ => None,
        };
        Ok(Usage { total, used, free })
    }
}

fn folder_hint(hint: &str, path: &RemotePath) -> Result<u64> {
    if names::is_file_id(hint) {
        return Err(RemoteError::NotADirectory(path.to_string()));
    }
    hint.parse()
        .map_err(|_| RemoteError::Permanent(format!("{path}: not a 1Fichier folder id: {hint:?}")))
}

fn dir_entry(name: &str, id: u64) -> Entry {
    Entry {
        name: name.to_string(),
        kind: EntryKind::Dir,
        size: 0,
        mtime: None,
        id: Some(id.to_string()),
        hash: None,
    }
}

/// Now, to the second (what the server's upload dates carry).
fn now_in_seconds() -> SystemTime {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[async_trait]
impl Remote for OneFichierRemote {
    fn kind(&self) -> &'static str {
        "1fichier"
    }

    fn features(&self) -> Features {
        Features {
            keeps_mtime: false,
            duplicate_names: true,
            empty_files: true,
            server_copy: true,
            max_batch: self.max_batch_files,
            min_list_interval: self.list_interval,
            hashes: vec![crate::HashAlgo::Whirlpool],
        }
    }

    async fn list(&self, dir: &ObjectRef) -> Result<Vec<Entry>> {
        let folder_id = self.folder_id(&dir.path, dir.id.as_deref()).await?;
        Ok(names::disambiguate(
            self.listing(folder_id, &dir.path).await?,
        ))
    }

    async fn stat(&self, path: &RemotePath) -> Result<Entry> {
        if path.is_root() {
            return Ok(dir_entry("", ROOT_ID));
        }
        self.find(path).await
    }

    async fn read(&self, file: &ObjectRef, offset: u64, len: u64) -> Result<Bytes> {
        let id = self.file_id(file).await?;
        let (url, empty) = names::split_file_id(&id);
        if empty {
            return Ok(Bytes::new());
        }
        self.downloads.read(&self.client, url, offset, len).await
    }

    async fn upload(&self, item: &Upload) -> Result<Entry> {
        let mut results = self.upload_batch(std::slice::from_ref(item)).await;
        results
            .pop()
            .unwrap_or_else(|| Err(RemoteError::Transient("upload gave no result".into())))
    }

    /// Runs at [`Priority::Upload`] unless the caller chose a priority.
    async fn upload_batch(&self, items: &[Upload]) -> Vec<Result<Entry>> {
        match pacer::explicit_priority() {
            Some(_) => self.upload_all(items).await,
            None => pacer::with_priority(Priority::Upload, self.upload_all(items)).await,
        }
    }

    async fn mkdir(&self, dest: &Dest) -> Result<Entry> {
        let (parent_id, _, name) = self.destination(dest).await?;
        let known = self
            .folders
            .fresh_listing(parent_id, self.list_interval)
            .unwrap_or_default();
        if known.iter().any(|e| e.name == name) {
            return Err(RemoteError::AlreadyExists(dest.path.to_string()));
        }
        let body = json!({ "name": names::encode(name), "folder_id": parent_id });
        let made: MadeFolder = self.client.post("folder/mkdir.cgi", &body).await?;
        let entry = dir_entry(name, made.folder_id);
        self.folders.learn(&dest.path, made.folder_id);
        self.folders.add_entry(parent_id, entry.clone());
        // A folder we just made is empty: no need to list it.
        self.folders
            .store_listing(made.folder_id, &dest.path, Vec::new());
        Ok(entry)
    }

    async fn rename(
        &self,
        from: &ObjectRef,
        to: &Dest,
        replace: Option<&ObjectRef>,
    ) -> Result<Entry> {
        let (kind, id) = self.kind_and_id(from).await?;
        let target = match replace {
            Some(r) => Some(self.kind_and_id(r).await?).filter(|(_, t)| *t != id),
            None => None,
        };
        match kind {
            EntryKind::Dir => {
                if let Some((EntryKind::Dir, target_id)) = &target {
                    let target_ref = ObjectRef::new(to.path.clone(), Some(target_id.clone()));
                    self.remove_dir(&target_ref).await?;
                }
                let folder_id = folder_hint(&id, &from.path)?;
                self.move_dir(folder_id, from, to).await
            }
            EntryKind::File => {
                let entry = self.move_file(&id, from, to).await?;
                if let Some((EntryKind::File, target_id)) = target {
                    self.remove_file_ids(&[target_id]).await?;
                }
                Ok(entry)
            }
        }
    }

    async fn remove_file(&self, file: &ObjectRef) -> Result<()> {
        let id = self.file_id(file).await?;
        self.remove_file_ids(&[id]).await
    }

    async fn remove_dir(&self, dir: &ObjectRef) -> Result<()> {
        let folder_id = self.folder_id(&dir.path, dir.id.as_deref()).await?;
        if folder_id == ROOT_ID {
            return Err(RemoteError::PermissionDenied(
                "the root cannot be removed".into(),
            ));
        }
        let _: Ack = self
            .client
            .post("folder/rm.cgi", &json!({ "folder_id": folder_id }))
            .await?;
        self.folders.remove_folder(&dir.path, folder_id);
        Ok(())
    }

    async fn copy(&self, from: &ObjectRef, to: &Dest) -> Result<Entry> {
        let id = self.file_id(from).await?;
        let (url, empty) = names::split_file_id(&id);
        let (dest_id, _, to_name) = self.destination(to).await?;
        let body = json!({
            "urls": [url],
            "folder_id": dest_id,
            "rename": names::encode_file_name(to_name, empty),
        });
        let copied: CopiedFiles = self.client.post("file/cp.cgi", &body).await?;
        let to_url = copied
            .urls
            .into_iter()
            .next()
            .map(|u| u.to_url)
            .ok_or_else(|| RemoteError::Transient("file/cp: no new URL in the answer".into()))?;
        let mut entry = match self.folders.entry_by_id(&id) {
            Some(entry) => entry,
            None => {
                self.describe_file(&names::file_id(&to_url, empty), &to_url)
                    .await?
            }
        };
        entry.name = to_name.to_string();
        entry.id = Some(names::file_id(&to_url, empty));
        entry.mtime = Some(now_in_seconds());
        self.folders.add_entry(dest_id, entry.clone());
        Ok(entry)
    }

    async fn about(&self) -> Result<Usage> {
        if let Some((usage, at)) = *lock(&self.about) {
            if at.elapsed() < ABOUT_REUSE {
                return Ok(usage);
            }
        }
        let usage = self.fetch_usage().await?;
        *lock(&self.about) = Some((usage, Instant::now()));
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_of_one_account_share_a_pacer() {
        let a = OneFichierRemote::new(OneFichierConfig::new("shared-key-for-test")).unwrap();
        let b = OneFichierRemote::new(OneFichierConfig::new("shared-key-for-test")).unwrap();
        let c = OneFichierRemote::new(OneFichierConfig::new("other-key-for-test")).unwrap();
        assert!(Arc::ptr_eq(&a.pacer(), &b.pacer()));
        assert!(!Arc::ptr_eq(&a.pacer(), &c.pacer()));
    }

    #[test]
    fn debug_output_hides_the_key() {
        let config = OneFichierConfig::new("very-secret-key");
        assert!(!format!("{config:?}").contains("very-secret"));
        let remote = OneFichierRemote::new(config).unwrap();
        assert!(!format!("{remote:?}").contains("very-secret"));
    }

    #[test]
    fn folder_hints_must_be_numbers() {
        let p = RemotePath::parse("a").unwrap();
        assert_eq!(folder_hint("42", &p).unwrap(), 42);
        assert!(matches!(
            folder_hint("https://1fichier.com/?x", &p),
            Err(RemoteError::NotADirectory(_))
        ));
        assert!(folder_hint("x", &p).is_err());
    }
}
