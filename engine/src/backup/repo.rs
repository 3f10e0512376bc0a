//! An open repository: its store, config and master key, and the index of every blob in it.
//! Owns opening (password, format version), sealed JSON objects and blob lookup; must not walk
//! files or decide what a snapshot holds.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::crypto::{CryptoError, KdfParams, KeyFile, MasterKey};
use super::model::{BlobEntry, BlobKind, Config, IndexFile, Snapshot, CHUNKER, VERSION};
use super::pack;
use super::store::{Kind, RepoStore};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("wrong password (no key of this repository opens with it)")]
    WrongPassword,
    #[error("no repository here (no config file); create one with `ourclone-fs repo init`")]
    NotARepo,
    #[error("a repository already exists here")]
    Exists,
    #[error("this repository has format version {0}; this ourclone-fs reads version {VERSION}: upgrade ourclone-fs")]
    NewerFormat(u32),
    #[error("damaged: {0}")]
    Damaged(String),
    #[error("the repository is locked: {0}; try again later")]
    Locked(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<CryptoError> for RepoError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::WrongPassword => RepoError::WrongPassword,
            other => RepoError::Damaged(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, RepoError>;

/// The error of a backup or restore stopped on request.
pub(crate) fn cancelled() -> RepoError {
    RepoError::Io(io::Error::new(io::ErrorKind::Interrupted, "cancelled"))
}

/// An unlocked repository.
pub struct Repo {
    pub store: Arc<dyn RepoStore>,
    pub key: MasterKey,
    pub config: Config,
    /// Blob id → its pack and place.
    pub index: HashMap<String, (String, BlobEntry)>,
    /// Index files that could not be read (named by `repo check`).
    pub damaged_index: Vec<String>,
    /// The key file the password opened.
    pub key_id: String,
    /// Packs of tree blobs read so far, whole: a walk reads many trees from few small packs.
    tree_packs: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

/// Bytes of tree packs kept by [`Repo::read_blob`]; past this the cache starts over.
const TREE_PACKS_MAX: usize = 64 << 20;

fn random_hex() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The name of a stored object: BLAKE3 of its bytes, so `repo check` can tell a damaged copy.
pub fn object_id(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

impl Repo {
    /// Creates a repository in `store` protected by `password`.
    /// Makes a new repository in `store`: a key file for `password`, then the config.
    pub async fn init(
        store: Arc<dyn RepoStore>,
        password: &[u8],
        kdf: KdfParams,
        pack_size: u32,
    ) -> Result<Self> {
        if !store.list(Kind::Config).await?.is_empty() {
            return Err(RepoError::Exists);
        }
        let key = MasterKey::generate();
        let mut kf = KeyFile::wrap(&key, password, kdf)?;
        kf.host = hostname();
        kf.created = now();
        let kf_bytes = serde_json::to_vec_pretty(&kf).map_err(io::Error::other)?;
        let key_id = object_id(&kf_bytes);
        store.put(Kind::Key, &key_id, kf_bytes).await?;
        let config = Config {
            version: VERSION,
            id: random_hex(),
            chunker: CHUNKER,
            pack_size,
        };
        let bytes = serde_json::to_vec_pretty(&config).map_err(io::Error::other)?;
        // The config last: a repository exists once it has one.
        store.put(Kind::Config, "config", bytes).await?;
        Ok(Self::unlocked(store, key, config, key_id))
    }

    /// A repository opened with `key` (from key file `key_id`), its index not read yet.
    fn unlocked(store: Arc<dyn RepoStore>, key: MasterKey, config: Config, key_id: String) -> Self {
        Self {
            store,
            key,
            config,
            index: HashMap::new(),
            damaged_index: Vec::new(),
            tree_packs: Mutex::default(),
            key_id,
        }
    }

    /// Opens the repository in `store` with `password`, and reads its index.
    pub async fn open(store: Arc<dyn RepoStore>, password: &[u8]) -> Result<Self> {
        let config = match store.get(Kind::Config, "config").await {
            Ok(b) => serde_json::from_slice::<Config>(&b)
                .map_err(|e| RepoError::Damaged(format!("config: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(RepoError::NotARepo),
            Err(e) => return Err(e.into()),
        };
        if config.version > VERSION {
            return Err(RepoError::NewerFormat(config.version));
        }
        let mut key = None;
        for name in store.list(Kind::Key).await? {
            let bytes = store.get(Kind::Key, &name).await?;
            let Ok(kf) = serde_json::from_slice::<KeyFile>(&bytes) else {
                continue;
            };
            if let Ok(k) = kf.unwrap(password) {
                key = Some((k, name));
                break;
            }
        }
        let (key, key_id) = key.ok_or(RepoError::WrongPassword)?;
        let mut repo = Self::unlocked(store, key, config, key_id);
        repo.load_index().await?;
        Ok(repo)
    }

    async fn load_index(&mut self) -> Result<()> {
        for name in self.store.list(Kind::Index).await? {
            match self.read_json::<IndexFile>(Kind::Index, &name).await {
                Ok(idx) => self.add_index(&idx),
                Err(RepoError::Damaged(_)) => self.damaged_index.push(name),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Adds a key file for `password` (the same master key); returns its id.
    pub async fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<String> {
        let mut kf = KeyFile::wrap(&self.key, password, kdf)?;
        kf.host = hostname();
        kf.created = now();
        let bytes = serde_json::to_vec_pretty(&kf).map_err(io::Error::other)?;
        let id = object_id(&bytes);
        self.store.put(Kind::Key, &id, bytes).await?;
        Ok(id)
    }

    /// The key files: id, host and creation time.
    pub async fn keys(&self) -> Result<Vec<(String, KeyFile)>> {
        let mut out = Vec::new();
        for name in self.store.list(Kind::Key).await? {
            let bytes = self.store.get(Kind::Key, &name).await?;
            if let Ok(kf) = serde_json::from_slice::<KeyFile>(&bytes) {
                out.push((name, kf));
            }
        }
        Ok(out)
    }

    pub fn add_index(&mut self, idx: &IndexFile) {
        for p in &idx.packs {
            for b in &p.blobs {
                self.index.insert(b.id.clone(), (p.id.clone(), b.clone()));
            }
        }
    }

    /// Seals `value` as compressed JSON and stores it under its id; returns the id.
    pub async fn write_json<T: Serialize>(&self, kind: Kind, value: &T) -> Result<String> {
        let plain = serde_json::to_vec(value).map_err(io::Error::other)?;
        let sealed = pack::seal_json(&self.key, &plain)?;
        let id = object_id(&sealed);
        self.store.put(kind, &id, sealed).await?;
        Ok(id)
    }

    /// Reads, checks and opens a sealed JSON object.
    pub async fn read_json<T: DeserializeOwned>(&self, kind: Kind, name: &str) -> Result<T> {
        let sealed = self.store.get(kind, name).await?;
        if object_id(&sealed) != name {
            return Err(RepoError::Damaged(format!(
                "{} {name}: content does not match its name",
                kind_name(kind)
            )));
        }
        let plain = pack::open_json(&self.key, &sealed).map_err(|_| {
            RepoError::Damaged(format!("{} {name}: fails authentication", kind_name(kind)))
        })?;
        serde_json::from_slice(&plain)
            .map_err(|e| RepoError::Damaged(format!("{} {name}: {e}", kind_name(kind))))
    }

    /// Every snapshot, oldest first, with its id; damaged ones are skipped (and named by check).
    pub async fn snapshots(&self) -> Result<Vec<(String, Snapshot)>> {
        let mut out = Vec::new();
        for name in self.store.list(Kind::Snapshot).await? {
            if let Ok(s) = self.read_json::<Snapshot>(Kind::Snapshot, &name).await {
                out.push((name, s));
            }
        }
        out.sort_by_key(|(id, s)| (s.time, s.nanos, id.clone()));
        Ok(out)
    }

    /// The snapshot `which` names: `latest`, or a unique prefix of an id.
    pub async fn find_snapshot(&self, which: &str) -> Result<(String, Snapshot)> {
        let all = self.snapshots().await?;
        if which == "latest" {
            return all
                .into_iter()
                .last()
                .ok_or_else(|| RepoError::Damaged("the repository has no snapshot yet".into()));
        }
        let mut hits: Vec<_> = all
            .into_iter()
            .filter(|(id, _)| id.starts_with(which))
            .collect();
        match hits.len() {
            1 => Ok(hits.remove(0)),
            0 => Err(RepoError::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no snapshot '{which}'"),
            ))),
            _ => Err(RepoError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{which}' names several snapshots: give more of the id"),
            ))),
        }
    }

    /// One blob, read with its whole pack (tree packs are small; restore reads data packs
    /// whole on its own).
    pub async fn read_blob(&self, id: &str) -> Result<Vec<u8>> {
        let (pack_id, e) = self
            .index
            .get(id)
            .ok_or_else(|| RepoError::Damaged(format!("blob {id} is in no index")))?;
        let sealed = match e.kind {
            BlobKind::Tree => {
                let whole = self.tree_pack(pack_id).await?;
                pack::blob(&whole, e)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default()
            }
            BlobKind::Data => {
                self.store
                    .get_range(Kind::Pack, pack_id, e.offset, e.length)
                    .await?
            }
        };
        if sealed.len() as u64 != e.length {
            return Err(RepoError::Damaged(format!("pack {pack_id} is truncated")));
        }
        let plain = pack::open_blob(&self.key, &sealed, e.raw_length).map_err(|_| {
            RepoError::Damaged(format!("pack {pack_id}: blob {id} fails authentication"))
        })?;
        if hex::encode(self.key.id_of(&plain)) != *id {
            return Err(RepoError::Damaged(format!(
                "blob {id} does not match its id"
            )));
        }
        Ok(plain)
    }
}

impl Repo {
    /// Tree pack `id`, whole, read once.
    async fn tree_pack(&self, id: &str) -> Result<Arc<Vec<u8>>> {
        if let Some(p) = ourclone_remote::sync::lock(&self.tree_packs).get(id) {
            return Ok(p.clone());
        }
        let bytes = Arc::new(self.store.get(Kind::Pack, id).await?);
        let mut cache = ourclone_remote::sync::lock(&self.tree_packs);
        if cache.values().map(|p| p.len()).sum::<usize>() + bytes.len() > TREE_PACKS_MAX {
            cache.clear();
        }
        cache.insert(id.to_string(), bytes.clone());
        Ok(bytes)
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Config => "config",
        Kind::Key => "key",
        Kind::Index => "index",
        Kind::Snapshot => "snapshot",
        Kind::Pack => "pack",
        Kind::Lock => "lock",
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
