//! The write journal: one durable record per node whose content or existence has not reached
//! the remote yet. Records live in the MetaStore's database so a change to a node and its
//! record commit together. Owns the record format and its table; must not call the remote.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::meta::{alloc_ino, MetaStore};
use super::node::{now_nanos, Ino, Kind, Nanos, Node, RemoteState};
use super::notes::Note;
use super::tables::{decode, forget_in, read_node, write_node, NODES, PENDING, PUSHED};
use crate::error::{CacheError, Result};

/// Unconfirmed uploads remembered per node; older ones are dropped past this.
const PUSHED_KEEP: usize = 8;

/// One upload that was started: what the remote holds if it landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    pub size: u64,
    pub mtime: Nanos,
}

/// A change waiting for the Uploader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecord {
    /// The node version this record was written for.
    pub version: u64,
    /// When the change was last touched; the upload waits for the write-back delay after it.
    pub since: Nanos,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Checksum of the fields above, so a torn or altered record is detected.
    pub check: u32,
}

impl PendingRecord {
    pub(super) fn new(version: u64) -> Self {
        let mut r = Self {
            version,
            since: now_nanos(),
            attempts: 0,
            last_error: None,
            check: 0,
        };
        r.check = r.checksum();
        r
    }

    fn checksum(&self) -> u32 {
        // FNV-1a over the record's fields: cheap, and enough to catch torn or edited bytes.
        let mut h: u32 = 0x811c_9dc5;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                h ^= *b as u32;
                h = h.wrapping_mul(0x0100_0193);
            }
        };
        feed(&self.version.to_le_bytes());
        feed(&self.since.to_le_bytes());
        feed(&self.attempts.to_le_bytes());
        feed(self.last_error.as_deref().unwrap_or("").as_bytes());
        h
    }

    fn seal(mut self) -> Self {
        self.check = self.checksum();
        self
    }

    pub fn is_intact(&self) -> bool {
        self.check == self.checksum()
    }
}

pub(super) fn put(tx: &WriteTransaction, ino: Ino, rec: &PendingRecord) -> Result<()> {
    let mut t = tx.open_table(PENDING)?;
    t.insert(ino, postcard::to_allocvec(rec)?.as_slice())?;
    Ok(())
}

/// What reading the journal found.
#[derive(Debug, Default)]
pub struct JournalScan {
    pub pending: Vec<(Ino, PendingRecord)>,
    /// Records that failed to decode or verify: (inode, raw bytes, reason).
    pub damaged: Vec<(Ino, Vec<u8>, String)>,
}

impl MetaStore {
    /// Changes a node and records that it must reach the remote, in one transaction.
    pub fn change(&self, ino: Ino, f: impl FnOnce(&mut Node)) -> Result<Node> {
        let tx = self.write()?;
        let node = {
            let mut nodes = tx.open_table(NODES)?;
            let mut node = read_node(&nodes, ino)?;
            f(&mut node);
            node.version += 1;
            write_node(&mut nodes, ino, &node)?;
            node
        };
        put(&tx, ino, &PendingRecord::new(node.version))?;
        tx.commit()?;
        Ok(node)
    }

    /// [`MetaStore::change`] of several nodes in one commit (closes journalled together).
    /// A node that is gone, or unlinked and only kept for its open handles, is skipped: its
    /// place in the answer is `None`.
    pub fn change_each(
        &self,
        inos: &[Ino],
        mut f: impl FnMut(Ino, &mut Node),
    ) -> Result<Vec<Option<Node>>> {
        let tx = self.write()?;
        let mut changed = Vec::with_capacity(inos.len());
        {
            let mut nodes = tx.open_table(NODES)?;
            for &ino in inos {
                let mut node = match read_node(&nodes, ino) {
                    Ok(node) if !node.orphan => node,
                    Ok(_) | Err(CacheError::NotFound) => {
                        changed.push(None);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                f(ino, &mut node);
                node.version += 1;
                write_node(&mut nodes, ino, &node)?;
                changed.push(Some(node));
            }
        }
        for (&ino, node) in inos.iter().zip(&changed) {
            if let Some(node) = node {
                put(&tx, ino, &PendingRecord::new(node.version))?;
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Creates a node made here, in one transaction with its folder's new mtime and ctime and,
    /// when `journal`, its journal record. Returns the inode and the node as stored.
    pub fn create_local(&self, mut node: Node, journal: bool) -> Result<(Ino, Node)> {
        self.reserve_inos(1)?;
        let tx = self.write_noted()?;
        if journal {
            node.version += 1;
        }
        let ino = alloc_ino(&tx, &self.reserved, &self.next)?;
        let note = Note::Create {
            ino,
            record: journal.then(|| PendingRecord::new(node.version)),
            node: Box::new(node),
            now: now_nanos(),
        };
        Ok((ino, self.noted(tx, &note)?))
    }

    /// Records that `ino` (already changed) must reach the remote.
    pub fn mark_pending(&self, ino: Ino) -> Result<()> {
        self.change(ino, |_| {}).map(|_| ())
    }

    /// Every journal record, sorted into readable and damaged ones.
    pub fn journal(&self) -> Result<JournalScan> {
        let tx = self.begin_read()?;
        let t = tx.open_table(PENDING)?;
        let mut scan = JournalScan::default();
        for item in t.iter()? {
            let (k, v) = item?;
            let (ino, raw) = (k.value(), v.value());
            match postcard::from_bytes::<PendingRecord>(raw) {
                Ok(rec) if rec.is_intact() => scan.pending.push((ino, rec)),
                Ok(_) => scan
                    .damaged
                    .push((ino, raw.to_vec(), "checksum mismatch".into())),
                Err(e) => scan.damaged.push((ino, raw.to_vec(), e.to_string())),
            }
        }
        Ok(scan)
    }

    /// The journal record of `ino`, if any (a damaged one reads as pending with an error).
    pub fn record(&self, ino: Ino) -> Result<Option<PendingRecord>> {
        let tx = self.begin_read()?;
        let t = tx.open_table(PENDING)?;
        let Some(raw) = t.get(ino)? else {
            return Ok(None);
        };
        Ok(Some(
            match postcard::from_bytes::<PendingRecord>(raw.value()) {
                Ok(rec) if rec.is_intact() => rec,
                _ => PendingRecord {
                    last_error: Some("damaged journal record".into()),
                    ..PendingRecord::new(0)
                },
            },
        ))
    }

    /// Pending records, and the bytes of the files among them, read in one transaction
    /// without decoding the records (the cache's dirty-byte count asks every second).
    pub fn pending_files(&self) -> Result<(u64, u64)> {
        let tx = self.begin_read()?;
        let (pending, nodes) = (tx.open_table(PENDING)?, tx.open_table(NODES)?);
        let (mut count, mut bytes) = (0, 0);
        for item in pending.iter()? {
            count += 1;
            if let Some(raw) = nodes.get(item?.0.value())? {
                let node = decode(raw.value())?;
                if node.kind == Kind::File {
                    bytes += node.size;
                }
            }
        }
        Ok((count, bytes))
    }

    /// Number of pending records.
    pub fn pending_count(&self) -> Result<u64> {
        let tx = self.begin_read()?;
        Ok(tx.open_table(PENDING)?.len()?)
    }

    /// Drops a damaged record (its bytes were saved to quarantine by the caller).
    pub fn drop_record(&self, ino: Ino) -> Result<()> {
        let tx = self.write()?;
        forget_in(&tx, ino)?;
        tx.commit()?;
        Ok(())
    }

    /// The remote confirmed version `version` of `ino` as `remote`: store it, and retire the
    /// journal record unless the node changed again meanwhile. Returns the node.
    pub fn settle(&self, ino: Ino, version: u64, remote: RemoteState) -> Result<Node> {
        let mut nodes = self.settle_all(vec![(ino, version, remote)])?;
        nodes
            .pop()
            .flatten()
            .ok_or(crate::error::CacheError::NotFound)
    }

    /// [`MetaStore::settle`] for a batch of uploads, in one commit; the nodes in order (`None`
    /// for one that no longer exists).
    pub fn settle_all(&self, landed: Vec<(Ino, u64, RemoteState)>) -> Result<Vec<Option<Node>>> {
        if landed.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.write()?;
        let mut out = Vec::with_capacity(landed.len());
        {
            let mut nodes = tx.open_table(NODES)?;
            for (ino, version, remote) in landed {
                let mut node = match read_node(&nodes, ino) {
                    Err(crate::error::CacheError::NotFound) => {
                        out.push(None);
                        continue;
                    }
                    other => other?,
                };
                node.remote = Some(remote);
                write_node(&mut nodes, ino, &node)?;
                if node.version == version {
                    forget_in(&tx, ino)?;
                }
                out.push(Some(node));
            }
        }
        // Not synced: if power loss undoes this, the upload runs again and is recognised as
        // ours (`note_pushing`), which costs a call rather than a sync per upload.
        tx.commit()?;
        Ok(out)
    }

    /// Notes a failed attempt on `ino`'s record.
    pub fn record_failure(&self, ino: Ino, error: &str) -> Result<()> {
        let tx = self.write()?;
        {
            let mut t = tx.open_table(PENDING)?;
            let Some(raw) = t.get(ino)?.map(|v| v.value().to_vec()) else {
                return Ok(());
            };
            let rec: PendingRecord = postcard::from_bytes(&raw)?;
            let rec = PendingRecord {
                attempts: rec.attempts + 1,
                last_error: Some(error.to_string()),
                ..rec
            }
            .seal();
            t.insert(ino, postcard::to_allocvec(&rec)?.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Remembers that uploads of these versions start; the caller makes it durable (with
    /// [`MetaStore::sync`]) before the bytes leave.
    pub fn note_pushing(&self, items: &[(Ino, Pushed)]) -> Result<()> {
        let tx = self.begin_write()?;
        {
            let mut t = tx.open_table(PUSHED)?;
            for (ino, p) in items {
                let mut list: Vec<Pushed> = match t.get(*ino)? {
                    Some(raw) => postcard::from_bytes(raw.value()).unwrap_or_default(),
                    None => Vec::new(),
                };
                list.retain(|q| q != p);
                list.push(*p);
                let drop = list.len().saturating_sub(PUSHED_KEEP);
                list.drain(..drop);
                t.insert(*ino, postcard::to_allocvec(&list)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The uploads of `ino` started and not yet confirmed.
    pub fn pushed(&self, ino: Ino) -> Result<Vec<Pushed>> {
        let tx = self.begin_read()?;
        let t = match tx.open_table(PUSHED) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(match t.get(ino)? {
            Some(raw) => postcard::from_bytes(raw.value()).unwrap_or_default(),
            None => Vec::new(),
        })
    }

    /// Writes raw bytes as `ino`'s record. Only for tests that damage the journal on purpose.
    #[doc(hidden)]
    pub fn overwrite_record_raw(&self, ino: Ino, raw: &[u8]) -> Result<()> {
        let tx = self.begin_write()?;
        tx.open_table(PENDING)?.insert(ino, raw)?;
        tx.commit()?;
        self.sync()
    }
}
