//! `Node`: what we know of one file, folder or symlink — its place in the tree, its POSIX
//! attributes (including those the provider cannot store) and its state on the remote.
//! Plain data; owns no I/O.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Inode number. Stable across remounts: it is the MetaStore's key.
pub type Ino = u64;

/// The root folder's inode number (the kernel expects 1).
pub const ROOT_INO: Ino = 1;

/// Nanoseconds since the Unix epoch (negative before it).
pub type Nanos = i64;

/// Suffix of the small remote object that stands for a symbolic link (providers have no
/// links); its content is the link target. A convention of this cache, not of any provider.
pub const LINK_SUFFIX: &str = ".ourclone-link";

pub fn to_nanos(t: SystemTime) -> Nanos {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_nanos().min(i64::MAX as u128) as i64),
    }
}

pub fn from_nanos(n: Nanos) -> SystemTime {
    if n >= 0 {
        UNIX_EPOCH + Duration::from_nanos(n as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(n.unsigned_abs())
    }
}

pub fn now_nanos() -> Nanos {
    to_nanos(SystemTime::now())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// FIFOs, sockets and device nodes have no form on a cloud drive: they live in the
    /// MetaStore only, on this machine, and are never uploaded.
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl Kind {
    /// Kept on this machine only (see the special kinds above).
    pub fn is_local_only(self) -> bool {
        matches!(
            self,
            Kind::Fifo | Kind::Socket | Kind::CharDevice | Kind::BlockDevice
        )
    }
}

/// Where a node's object is on the remote, as of the last time we touched or listed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteState {
    /// The provider's id for the object, where it has ids.
    pub id: Option<String>,
    /// Size of the remote object.
    pub size: u64,
    /// The provider's modification or upload time, as last seen.
    pub mtime: Option<Nanos>,
    /// The provider's content hash, as last seen (stored in its text form, `algo:hex`).
    pub hash: Option<ourclone_remote::Hash>,
}

impl RemoteState {
    /// The state of the object a provider reported as `e`.
    pub fn of(e: &ourclone_remote::Entry) -> Self {
        Self {
            id: e.id.clone(),
            size: e.size,
            mtime: e.mtime.map(to_nanos),
            hash: e.hash.clone(),
        }
    }
}

/// One file, folder or symlink.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub parent: Ino,
    pub name: String,
    pub kind: Kind,
    pub size: u64,
    pub mtime: Nanos,
    pub ctime: Nanos,
    pub atime: Nanos,
    /// Permission bits (07777), without the file type.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Symlink target, once known.
    pub target: Option<String>,
    /// The object on the remote; `None` until it was first uploaded or created there.
    pub remote: Option<RemoteState>,
    /// Folders: when the remote listing was last merged in (`None`: never).
    pub listed_at: Option<Nanos>,
    /// The local data file holds the whole content (dirty, or clean and cached).
    pub local_full: bool,
    /// Bumped on every change to content or existence that must reach the remote.
    pub version: u64,
    /// Set once `unlink`/`rmdir` took the node out of the tree while handles stayed open.
    pub orphan: bool,
    /// Device number of a device node.
    pub rdev: u32,
    /// Names this node has beyond its first: hard links, which only local-only nodes may have
    /// (a remote holds one object per name). `parent`/`name` are one of its names.
    pub extra_links: u32,
}

impl Node {
    /// A new node made locally, not yet on the remote.
    pub fn new_local(parent: Ino, name: &str, kind: Kind, mode: u32, uid: u32, gid: u32) -> Self {
        let now = now_nanos();
        Self {
            parent,
            name: name.to_string(),
            kind,
            size: 0,
            mtime: now,
            ctime: now,
            atime: now,
            mode: mode & 0o7777,
            uid,
            gid,
            target: None,
            remote: None,
            listed_at: (kind == Kind::Dir).then_some(now),
            local_full: matches!(kind, Kind::File | Kind::Symlink),
            version: 1,
            orphan: false,
            rdev: 0,
            extra_links: 0,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}
