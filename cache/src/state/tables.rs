//! The MetaStore's tables and the node codec, shared by the tree (`meta.rs`) and the journal
//! (`journal.rs`) so that neither needs the other's internals. Owns table names and the
//! on-disk form of a node; must not hold operations on the tree.

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use super::node::{Ino, Node};
use crate::error::{CacheError, Result};

pub(crate) const NODES: TableDefinition<u64, &[u8]> = TableDefinition::new("nodes");
pub(crate) const CHILDREN: TableDefinition<(u64, &str), u64> = TableDefinition::new("children");
/// One journal record per node with changes not yet on the remote (see `journal.rs`).
pub(crate) const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("pending");
/// Uploads started for a pending node and not yet confirmed: (size, mtime) of each. After a
/// crash between an upload landing and its confirmation, the remote holds one of these, and
/// that is our own write, not someone else's change.
pub(crate) const PUSHED: TableDefinition<u64, &[u8]> = TableDefinition::new("pushed");
/// Renames on the remote under way: the node and where it is going (see `moves.rs`). One left
/// by a crash says the remote may already hold the node under its new name.
pub(crate) const MOVES: TableDefinition<u64, &[u8]> = TableDefinition::new("moves");

pub(crate) fn encode(node: &Node) -> Result<Vec<u8>> {
    Ok(postcard::to_allocvec(node)?)
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Node> {
    Ok(postcard::from_bytes(bytes)?)
}

pub(crate) fn read_node(t: &Table<u64, &[u8]>, ino: Ino) -> Result<Node> {
    match t.get(ino)? {
        Some(v) => decode(v.value()),
        None => Err(CacheError::NotFound),
    }
}

pub(crate) fn write_node(t: &mut Table<u64, &[u8]>, ino: Ino, node: &Node) -> Result<()> {
    t.insert(ino, encode(node)?.as_slice())?;
    Ok(())
}

/// Retires `ino`'s journal record (and what it noted of unconfirmed uploads).
pub(crate) fn forget_in(tx: &WriteTransaction, ino: Ino) -> Result<()> {
    tx.open_table(PENDING)?.remove(ino)?;
    tx.open_table(PUSHED)?.remove(ino)?;
    Ok(())
}
