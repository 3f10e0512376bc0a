//! Notes: redo records for tree changes whose commits do not flush (redb's `Durability::None`),
//! so that the commonest small changes cost an in-memory commit and one `write(2)` of a few
//! bytes instead of a commit record of whole pages. A note goes into the intent log inside its
//! change's transaction; the next flushing commit holds the change, and until then the note is
//! what survives a crash of the process (recovery applies it again). Owns the notes' format and
//! how one is applied; which changes are noted is decided in `meta.rs`.

use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

use super::journal::{self, PendingRecord};
use super::meta::{dir_changed, move_node, place_new};
use super::node::{Ino, Nanos, Node};
use super::tables::{read_node, write_node, NODES};
use crate::error::{CacheError, Result};

/// Attribute changes of a `setattr` other than the size; `None` leaves one as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrChange {
    /// Permission bits (07777).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<Nanos>,
    pub mtime: Option<Nanos>,
}

/// One noted change. A note is applied again only onto the state it was first made on (the
/// database as the last commit record before it left it, and the notes before it). New kinds
/// go at the end: the encoding numbers them in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Note {
    SetAttr {
        ino: Ino,
        change: AttrChange,
        ctime: Nanos,
    },
    /// A node made here, as inode `ino`, with its journal record when it has one; its folder's
    /// mtime and ctime become `now`. (The inode counter is past `ino` after a replay too: every
    /// open starts numbering past the durable reservation `ino` was taken under.)
    Create {
        ino: Ino,
        node: Box<Node>,
        record: Option<PendingRecord>,
        now: Nanos,
    },
    /// Node `ino` renamed from `from` (parent, name) to where `node` — the node as the rename
    /// leaves it — says, replacing what was there (see `meta::move_node`).
    Rename {
        ino: Ino,
        from: (Ino, String),
        node: Box<Node>,
        record: Option<PendingRecord>,
        now: Nanos,
    },
}

impl Note {
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        Ok(postcard::to_allocvec(self)?)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(postcard::from_bytes(bytes)?)
    }

    /// Makes the change in `tx`; returns the node as it leaves it.
    pub(crate) fn apply(&self, tx: &WriteTransaction) -> Result<Node> {
        match self {
            Note::SetAttr { ino, change, ctime } => {
                let mut nodes = tx.open_table(NODES)?;
                let mut node = read_node(&nodes, *ino)?;
                node.mode = change.mode.map_or(node.mode, |m| m & 0o7777);
                node.uid = change.uid.unwrap_or(node.uid);
                node.gid = change.gid.unwrap_or(node.gid);
                node.atime = change.atime.unwrap_or(node.atime);
                node.mtime = change.mtime.unwrap_or(node.mtime);
                node.ctime = *ctime;
                write_node(&mut nodes, *ino, &node)?;
                Ok(node)
            }
            Note::Create {
                ino,
                node,
                record,
                now,
            } => {
                place_new(tx, *ino, node)?;
                dir_changed(&mut tx.open_table(NODES)?, node.parent, *now)?;
                if let Some(rec) = record {
                    journal::put(tx, *ino, rec)?;
                }
                Ok(Node::clone(node))
            }
            Note::Rename {
                ino,
                from,
                node,
                record,
                now,
            } => move_node(tx, *ino, (from.0, &from.1), node, record.as_ref(), *now),
        }
    }
}

/// Applies the notes the intent log handed back at open, in order, in one flushing commit. A
/// note that no longer fits the tree (it cannot happen while notes are replayed onto the state
/// they were made on) is skipped with a warning rather than keeping the store from opening.
pub(crate) fn apply_all(db: &redb::Database, notes: &[Vec<u8>]) -> Result<()> {
    if notes.is_empty() {
        return Ok(());
    }
    let tx = db.begin_write()?;
    for raw in notes {
        match Note::decode(raw).and_then(|n| n.apply(&tx)) {
            Ok(_) => {}
            Err(
                e @ (CacheError::NotFound
                | CacheError::AlreadyExists
                | CacheError::NotADirectory
                | CacheError::Corrupt(_)),
            ) => tracing::warn!("intent log: a note could not be applied again: {e}"),
            Err(e) => return Err(e),
        }
    }
    tx.commit()?;
    Ok(())
}
