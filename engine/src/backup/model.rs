//! What a repository holds, as plain data: the config, trees (one per folder: its entries,
//! files as lists of chunk ids), snapshots, index files and pack headers. Owns these types and
//! their JSON form (docs/REPOSITORY.md is the contract); must not do I/O or crypto.

use serde::{Deserialize, Serialize};

/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// `config` (plain JSON: nothing secret in it, and a newer format can be named before any
/// password is asked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub version: u32,
    /// Random, hex.
    pub id: String,
    pub chunker: ChunkerParams,
    /// A pack is written once its blobs reach this many bytes (absent in older configs: 16 MiB).
    #[serde(default = "default_pack_size")]
    pub pack_size: u32,
}

/// 16 MiB: restic's size; a pack is held in memory while it fills.
pub const DEFAULT_PACK_SIZE: u32 = 16 << 20;

fn default_pack_size() -> u32 {
    DEFAULT_PACK_SIZE
}

/// FastCDC sizes, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
}

/// 512 KiB / 1 MiB / 8 MiB, restic's sizes: chunks big enough that a pack of 16 MiB holds a
/// handful and an index stays small, small enough that an edit in a large file re-uploads ~1 MiB.
pub const CHUNKER: ChunkerParams = ChunkerParams {
    min: 512 * 1024,
    avg: 1024 * 1024,
    max: 8 * 1024 * 1024,
};

/// What a blob in a pack is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobKind {
    Data,
    Tree,
}

/// Where one blob is: in pack `pack`, `length` sealed bytes at `offset`, `raw_length` bytes once
/// opened and decompressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobEntry {
    pub id: String,
    pub kind: BlobKind,
    pub offset: u64,
    pub length: u64,
    pub raw_length: u64,
}

/// A pack's blobs (the pack header, and the unit of an index file).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    pub id: String,
    pub blobs: Vec<BlobEntry>,
}

/// `index/ID`: the blobs of some packs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    pub packs: Vec<PackEntry>,
}

/// An entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub mode: u32,
    /// Nanoseconds since the epoch.
    pub mtime: i128,
    pub ctime: i128,
    pub inode: u64,
    pub size: u64,
    /// Files: chunk ids in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<String>,
    /// Folders: the tree blob of their entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<String>,
    /// Symlinks: the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A tree blob: one folder's entries, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeBlob {
    pub nodes: Vec<Node>,
}

/// What a backup did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    pub files_failed: u64,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub blobs_added: u64,
    pub packs_added: u64,
}

/// `snapshots/ID`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Seconds since the epoch, and the nanoseconds within it (orders snapshots of one second).
    pub time: u64,
    #[serde(default)]
    pub nanos: u32,
    pub hostname: String,
    /// The folders backed up, absolute; the root tree holds one entry per path, by its name.
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub tree: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default)]
    pub summary: Summary,
}
