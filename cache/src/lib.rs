//! The cache layer: what makes a slow, rate-limited remote feel local. Three parts, one
//! folder each:
//!
//! - `state/`: the tree and the write journal — [`MetaStore`] (inodes, names, attributes,
//!   remote ids, listing freshness, in redb), the journal's records in the same database,
//!   recovery after a crash, and per-inode locks.
//! - `content/`: file content on local disk — [`DataStore`] (whole files staged for upload or
//!   fetched whole) and [`BlockCache`] (blocks read from the remote).
//! - `write_back/`: getting changes to the remote — [`RemoteTree`] (nodes to remote paths,
//!   folders, listings), the [`Uploader`] draining the journal, and conflict handling.
//!
//! This crate must not know about FUSE or errno; the filesystem layer above maps its errors.

mod content;
mod error;
mod state;
mod write_back;

pub use content::block_cache::{version_tag, BlockCache, CacheStats, BLOCK_SIZE};
pub use content::data::DataStore;
pub use error::{CacheError, Result};
pub use state::journal::{JournalScan, PendingRecord, Pushed};
pub use state::locks::{InodeGuard, InodeLocks};
pub use state::meta::{Defaults, MetaStore};
pub use state::node::{
    from_nanos, now_nanos, to_nanos, Ino, Kind, Nanos, Node, RemoteState, LINK_SUFFIX, ROOT_INO,
};
pub use state::notes::AttrChange;
pub use state::recovery::{recover, RecoveryReport};
pub use write_back::remote_tree::{remote_name, EntryNotices, RemoteTree};
pub use write_back::uploader::{
    NotConfirmed, UploadStats, Uploader, UploaderConfig, DRAIN_GIVE_UP,
};
