//! `RepoStore`: where a repository's objects live, keyed by (kind, name) — over a transfer
//! side (a local folder, a folder on a mount, or a folder of a remote's Vfs) or in memory for
//! tests. Owns the object layout on disk (`config`, `keys/`, `index/`, `snapshots/`,
//! `data/XY/`); must not know what objects hold.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::transfer::{ItemKind, Landed, Tree};

/// The kinds of objects in a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Config,
    Key,
    Index,
    Snapshot,
    Pack,
    Lock,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Config => "",
            Kind::Key => "keys",
            Kind::Index => "index",
            Kind::Snapshot => "snapshots",
            Kind::Pack => "data",
            Kind::Lock => "locks",
        }
    }

    /// Where object `name` of this kind lives, relative to the repository's folder. Packs
    /// spread over 256 folders by the first two digits of their name.
    pub fn path(self, name: &str) -> String {
        match self {
            Kind::Config => "config".into(),
            Kind::Pack => format!("data/{}/{name}", name.get(..2).unwrap_or("00")),
            k => format!("{}/{name}", k.dir()),
        }
    }
}

/// A repository's storage.
#[async_trait::async_trait]
pub trait RepoStore: Send + Sync {
    async fn put(&self, kind: Kind, name: &str, bytes: Vec<u8>) -> io::Result<()>;
    /// Stores an object given as parts to write one after the other (a pack's blobs, never
    /// gathered into one buffer).
    async fn put_parts(&self, kind: Kind, name: &str, parts: Vec<Vec<u8>>) -> io::Result<()> {
        self.put(kind, name, parts.concat()).await
    }
    async fn get(&self, kind: Kind, name: &str) -> io::Result<Vec<u8>>;
    /// Up to `len` bytes of an object from `offset` (fewer only at its end).
    async fn get_range(&self, kind: Kind, name: &str, offset: u64, len: u64)
        -> io::Result<Vec<u8>>;
    /// Names of the objects of `kind`.
    async fn list(&self, kind: Kind) -> io::Result<Vec<String>>;
    async fn remove(&self, kind: Kind, name: &str) -> io::Result<()>;
}

/// A repository in a folder of a transfer side. On a Vfs, packs are uploaded in the
/// background, several at once; every other object is put only once the packs before it are
/// on the remote, and returns once it is there itself — so the remote never holds an index or
/// a snapshot whose packs are missing, whatever happens to the local cache.
pub struct TreeStore {
    tree: Tree,
    /// Packs written but not yet confirmed on the remote.
    pending: tokio::sync::Mutex<Vec<Landed>>,
}

impl TreeStore {
    pub fn new(tree: Tree) -> Self {
        Self {
            tree,
            pending: Default::default(),
        }
    }
}

#[async_trait::async_trait]
impl RepoStore for TreeStore {
    async fn put(&self, kind: Kind, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        self.put_parts(kind, name, vec![bytes]).await
    }

    async fn put_parts(&self, kind: Kind, name: &str, parts: Vec<Vec<u8>>) -> io::Result<()> {
        let path = kind.path(name);
        if let Some((dir, _)) = path.rsplit_once('/') {
            self.tree.mkdir_all(dir).await?;
        } else {
            self.tree.mkdir_all("").await?;
        }
        let size = parts.iter().map(|p| p.len() as u64).sum();
        let chunks = parts
            .into_iter()
            .map(|p| Ok::<_, io::Error>(bytes::Bytes::from(p)));
        let mut reader: crate::transfer::Reader = Box::pin(tokio_util::io::StreamReader::new(
            futures_util::stream::iter(chunks),
        ));
        let (landed, n) = self
            .tree
            .write(
                &path,
                &mut reader,
                (size, SystemTime::now(), 0o600),
                &|_| {},
            )
            .await?;
        if n != size {
            return Err(io::Error::other("short write"));
        }
        let mut pending = self.pending.lock().await;
        if kind == Kind::Pack {
            pending.push(landed);
            return Ok(());
        }
        for pack in pending.drain(..) {
            self.tree.confirm(pack).await?;
        }
        self.tree.confirm(landed).await
    }

    async fn get(&self, kind: Kind, name: &str) -> io::Result<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let mut r = self.tree.open(&kind.path(name)).await?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).await?;
        Ok(out)
    }

    async fn get_range(
        &self,
        kind: Kind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> io::Result<Vec<u8>> {
        self.tree.read_range(&kind.path(name), offset, len).await
    }

    async fn list(&self, kind: Kind) -> io::Result<Vec<String>> {
        if kind == Kind::Config {
            return Ok(match self.tree.stat("config").await? {
                Some(_) => vec!["config".into()],
                None => Vec::new(),
            });
        }
        let sub = match &self.tree {
            Tree::Vfs { files, root } => Tree::Vfs {
                files: files.clone(),
                root: join(root, kind.dir()),
            },
            Tree::Local { root } => Tree::Local {
                root: root.join(kind.dir()),
            },
        };
        let items = sub.list(false).await?;
        Ok(items
            .into_iter()
            .filter(|(_, i)| i.kind == ItemKind::File)
            .map(|(rel, _)| rel.rsplit('/').next().unwrap_or(&rel).to_string())
            .collect())
    }

    async fn remove(&self, kind: Kind, name: &str) -> io::Result<()> {
        self.tree.remove(&kind.path(name), ItemKind::File).await
    }
}

fn join(root: &str, dir: &str) -> String {
    match root {
        "" => dir.to_string(),
        r => format!("{r}/{dir}"),
    }
}

/// A repository in memory, for tests.
#[derive(Default)]
pub struct MemStore(Mutex<BTreeMap<(Kind, String), Vec<u8>>>);

impl MemStore {
    /// Changes one byte of an object (tests of damage).
    pub fn flip(&self, kind: Kind, name: &str, at: usize) {
        if let Some(b) = ourclone_remote::sync::lock(&self.0).get_mut(&(kind, name.to_string())) {
            if let Some(x) = b.get_mut(at) {
                *x ^= 0x40;
            }
        }
    }
}

#[async_trait::async_trait]
impl RepoStore for MemStore {
    async fn put(&self, kind: Kind, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        ourclone_remote::sync::lock(&self.0).insert((kind, name.to_string()), bytes);
        Ok(())
    }

    async fn get(&self, kind: Kind, name: &str) -> io::Result<Vec<u8>> {
        ourclone_remote::sync::lock(&self.0)
            .get(&(kind, name.to_string()))
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    async fn get_range(
        &self,
        kind: Kind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> io::Result<Vec<u8>> {
        let all = self.get(kind, name).await?;
        let start = (offset as usize).min(all.len());
        let end = start.saturating_add(len as usize).min(all.len());
        Ok(all[start..end].to_vec())
    }

    async fn list(&self, kind: Kind) -> io::Result<Vec<String>> {
        Ok(ourclone_remote::sync::lock(&self.0)
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n.clone())
            .collect())
    }

    async fn remove(&self, kind: Kind, name: &str) -> io::Result<()> {
        ourclone_remote::sync::lock(&self.0).remove(&(kind, name.to_string()));
        Ok(())
    }
}
