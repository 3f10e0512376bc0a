//! The cache layer: what makes a slow, rate-limited remote feel local.
//!
//! - [`MetaStore`]: the tree (inodes, names, attributes, remote ids, listing freshness) in redb,
//!   with the write journal's records in the same database.
//! - [`DataStore`]: local files holding content that is staged for upload or fetched whole.
//! - [`RemoteTree`]: maps nodes to remote paths; creates folders and merges listings.
//! - [`Uploader`]: drains the journal to the remote.
//!
//! This crate must not know about FUSE or errno; the filesystem layer above maps its errors.

mod block_cache;
mod conflict;
mod data;
mod error;
mod journal;
mod locks;
mod meta;
mod node;
mod recovery;
mod remote_tree;
mod uploader;

pub use block_cache::{version_tag, BlockCache, CacheStats, BLOCK_SIZE};
pub use data::DataStore;
pub use error::{CacheError, Result};
pub use journal::{JournalScan, PendingRecord, Pushed};
pub use locks::{InodeGuard, InodeLocks};
pub use meta::{Defaults, MetaStore};
pub use node::{from_nanos, now_nanos, to_nanos, Ino, Kind, Nanos, Node, RemoteState, ROOT_INO};
pub use recovery::{recover, RecoveryReport};
pub use remote_tree::{remote_name, state_of, EntryNotices, RemoteTree};
pub use uploader::{NotConfirmed, UploadStats, Uploader, UploaderConfig};
