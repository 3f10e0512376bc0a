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
//!
//! The operations are split by job: `ids.rs` (paths to ids), `listings.rs`, `moves.rs` and
//! `uploads.rs`, each an `impl OneFichierRemote` block; the wire formats are `api.rs`,
//! `client.rs`, `upload.rs` and `download.rs`. The `Remote` impl below composes them.

pub mod names;

mod api;
mod checksum;
mod client;
mod download;
mod folders;
mod ids;
mod listings;
mod moves;
mod upload;
mod uploads;

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

    fn reachability(&self) -> crate::Reachability {
        self.client.pacer.health().report()
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
        let new_id = names::file_id(&to_url, empty);
        // The copy holds the source's content: the caller knows its size and hash, so no
        // file/info call is spent on it (and an entry we cannot vouch for is not cached).
        let entry = match self.folders.entry_by_id(&id) {
            Some(mut entry) => {
                (entry.name, entry.id) = (to_name.to_string(), Some(new_id));
                entry.mtime = Some(now_in_seconds());
                self.folders.add_entry(dest_id, entry.clone());
                entry
            }
            None => Entry {
                name: to_name.to_string(),
                kind: EntryKind::File,
                size: 0,
                mtime: Some(now_in_seconds()),
                id: Some(new_id),
                hash: None,
            },
        };
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
