//! Content hashes we computed ourselves (a `check --checksum` of a provider that reports none),
//! remembered per node with a fingerprint of the node's content state, so an unchanged file is
//! never hashed — or downloaded — twice. A cache within the cache: losing it costs a re-hash,
//! so it is written without a durable commit. Must not compute hashes.

use ourclone_remote::{Hash, HashAlgo};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::meta::MetaStore;
use super::node::{Ino, Node};
use crate::error::Result;

/// `ino` → the hashes computed of it, each with the content state it was computed at.
pub(crate) const HASHES: TableDefinition<u64, &[u8]> = TableDefinition::new("hashes");

/// What identifies a node's content: any change of content bumps the version or changes the
/// size, mtime or remote object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Fingerprint {
    version: u64,
    size: u64,
    mtime: i128,
    remote: Option<String>,
}

impl Fingerprint {
    fn of(node: &Node) -> Self {
        Self {
            version: node.version,
            size: node.size,
            mtime: node.mtime as i128,
            remote: node.remote.as_ref().map(|r| {
                format!(
                    "{:?}:{}:{:?}",
                    r.id,
                    r.size,
                    r.hash.as_ref().map(|h| h.to_string())
                )
            }),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Remembered(Vec<(Fingerprint, String)>);

impl MetaStore {
    /// The `algo` hash of `node` (inode `ino`) computed earlier, if its content is unchanged.
    pub fn remembered_hash(&self, ino: Ino, node: &Node, algo: HashAlgo) -> Result<Option<Hash>> {
        let tx = self.begin_read()?;
        let t = match tx.open_table(HASHES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(raw) = t.get(ino)? else {
            return Ok(None);
        };
        let Remembered(list) = postcard::from_bytes(raw.value()).unwrap_or_default();
        let now = Fingerprint::of(node);
        Ok(list
            .into_iter()
            .filter(|(f, _)| *f == now)
            .filter_map(|(_, h)| h.parse::<Hash>().ok())
            .find(|h| h.algo == algo))
    }

    /// Remembers `hash` of `node` as it is now (replacing hashes of older content).
    pub fn remember_hash(&self, ino: Ino, node: &Node, hash: &Hash) -> Result<()> {
        let now = Fingerprint::of(node);
        let tx = self.write()?;
        {
            let mut t = tx.open_table(HASHES)?;
            let mut list = match t.get(ino)? {
                Some(raw) => {
                    postcard::from_bytes::<Remembered>(raw.value())
                        .unwrap_or_default()
                        .0
                }
                None => Vec::new(),
            };
            list.retain(|(f, h)| *f == now && !h.starts_with(hash.algo.as_str()));
            list.push((now, hash.to_string()));
            t.insert(ino, postcard::to_allocvec(&Remembered(list))?.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::meta::Defaults;
    use crate::state::node::{Kind, ROOT_INO};

    #[test]
    fn a_hash_is_remembered_until_the_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = Defaults {
            uid: 0,
            gid: 0,
            file_mode: 0o644,
            dir_mode: 0o755,
        };
        let meta = MetaStore::open(&dir.path().join("meta.redb"), d).unwrap();
        let ino = meta
            .create(Node::new_local(ROOT_INO, "f", Kind::File, 0o644, 0, 0))
            .unwrap();
        let node = meta.get(ino).unwrap();
        let h = Hash::new(HashAlgo::Blake3, "ab".repeat(32));
        assert_eq!(
            meta.remembered_hash(ino, &node, HashAlgo::Blake3).unwrap(),
            None
        );
        meta.remember_hash(ino, &node, &h).unwrap();
        assert_eq!(
            meta.remembered_hash(ino, &node, HashAlgo::Blake3).unwrap(),
            Some(h)
        );
        assert_eq!(
            meta.remembered_hash(ino, &node, HashAlgo::Whirlpool)
                .unwrap(),
            None
        );
        let changed = meta.update(ino, |n| n.version += 1).unwrap();
        assert_eq!(
            meta.remembered_hash(ino, &changed, HashAlgo::Blake3)
                .unwrap(),
            None
        );
    }
}
