//! The `Remote` trait: the small, explicit set of calls every storage provider answers, and
//! the providers behind it. This crate owns talking to storage; it must not know about
//! inodes, caches or the kernel.
//!
//! Objects are named by path; providers that address objects by their own ids (1Fichier's
//! file URLs and folder numbers) receive those ids as hints in [`ObjectRef`] and [`Dest`], so a
//! caller that remembers them spares the provider a lookup.

mod counted;
pub mod dal;
mod error;
mod hash;
pub mod health;
pub mod local;
pub mod onefichier;
pub mod os;
pub mod pacer;
mod path;
pub mod sync;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

pub use counted::{CallCounts, Counted};
pub use error::{RemoteError, Result};
pub use hash::{BadHash, Hash, HashAlgo};
pub use health::{Reach, Reachability};
pub use path::{is_component, RemotePath};

/// What kind of object an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EntryKind {
    File,
    Dir,
}

/// One object as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name inside its folder, decoded to what the user sees.
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Modification time where the provider keeps one; upload time otherwise.
    pub mtime: Option<SystemTime>,
    /// The provider's own id (1Fichier: file URL or folder number); `None` where paths are ids.
    pub id: Option<String>,
    /// The provider's content hash (1Fichier: Whirlpool), when known.
    pub hash: Option<Hash>,
}

/// An existing object: where it is and, when known, the provider's id for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectRef {
    pub path: RemotePath,
    pub id: Option<String>,
}

impl ObjectRef {
    pub fn new(path: RemotePath, id: Option<String>) -> Self {
        Self { path, id }
    }
}

/// Where a new or moved object goes: its full path and, when known, its parent folder's id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dest {
    pub path: RemotePath,
    pub parent_id: Option<String>,
}

/// One whole-object upload from a local file.
#[derive(Clone, Debug)]
pub struct Upload {
    pub dest: Dest,
    /// A local file holding exactly the bytes to upload; the provider only reads it.
    pub source: PathBuf,
    pub size: u64,
    pub mtime: Option<SystemTime>,
    /// An object the upload replaces (same path); the provider removes it once the new one is in.
    pub replace: Option<ObjectRef>,
}

/// Space on the remote, where the provider reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub free: Option<u64>,
}

/// What a provider can and cannot do; callers adapt instead of probing.
#[derive(Clone, Debug)]
pub struct Features {
    /// The provider stores modification times we set.
    pub keeps_mtime: bool,
    /// Two entries of one folder may share a name.
    pub duplicate_names: bool,
    /// Zero-byte files can be uploaded.
    pub empty_files: bool,
    /// Server-side copy is available.
    pub server_copy: bool,
    /// How many files one `upload_batch` call may carry.
    pub max_batch: usize,
    /// The shortest interval at which one folder may be listed again.
    pub min_list_interval: Duration,
    /// The content hashes the provider reports on its entries.
    pub hashes: Vec<HashAlgo>,
}

/// A storage provider. Every method is one logical operation; providers may use several HTTP
/// calls for it but never more than needed, and go through their Pacer when rate-limited.
#[async_trait]
pub trait Remote: Send + Sync + 'static {
    /// Short provider name for logs ("local", "1fichier").
    fn kind(&self) -> &'static str;

    fn features(&self) -> Features;

    /// Lists the entries of a folder.
    async fn list(&self, dir: &ObjectRef) -> Result<Vec<Entry>>;

    /// Looks up one object by path.
    async fn stat(&self, path: &RemotePath) -> Result<Entry>;

    /// Reads up to `len` bytes at `offset`; fewer only at the end of the object.
    async fn read(&self, file: &ObjectRef, offset: u64, len: u64) -> Result<Bytes>;

    /// Uploads one whole object from a local file, replacing `replace` if given.
    async fn upload(&self, item: &Upload) -> Result<Entry>;

    /// Uploads several objects; providers that can carry many files in one request override
    /// this. Results come back in the order of `items`.
    async fn upload_batch(&self, items: &[Upload]) -> Vec<Result<Entry>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.upload(item).await);
        }
        out
    }

    /// Creates a folder; its parent must exist.
    async fn mkdir(&self, dest: &Dest) -> Result<Entry>;

    /// Moves or renames an object (file or folder). If `replace` names an object already at
    /// the destination, it is removed as part of the move.
    async fn rename(
        &self,
        from: &ObjectRef,
        to: &Dest,
        replace: Option<&ObjectRef>,
    ) -> Result<Entry>;

    /// Removes a file.
    async fn remove_file(&self, file: &ObjectRef) -> Result<()>;

    /// Removes an empty folder.
    async fn remove_dir(&self, dir: &ObjectRef) -> Result<()>;

    /// Copies a file on the server side, where the provider offers it. The new object holds
    /// `from`'s content; a provider that cannot tell its size and hash without another call
    /// answers 0 and `None` for them (the caller knows them from `from`).
    async fn copy(&self, _from: &ObjectRef, _to: &Dest) -> Result<Entry> {
        Err(RemoteError::Unsupported("server-side copy"))
    }

    /// Space used and free.
    async fn about(&self) -> Result<Usage>;

    /// Whether the provider is answering (providers without a network are always online).
    fn reachability(&self) -> Reachability {
        Reachability::default()
    }
}
