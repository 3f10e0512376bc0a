//! The tree and the write journal, and what keeps them whole: the MetaStore, the journal's
//! records, their shared tables, recovery after a crash, and per-inode locks.

mod hashes;
mod intent_log;
pub(crate) mod journal;
mod listing;
pub(crate) mod locks;
pub(crate) mod meta;
pub(crate) mod moves;
pub(crate) mod node;
pub(crate) mod notes;
pub(crate) mod recovery;
mod tables;
