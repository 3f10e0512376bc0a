//! The filesystem: [`Vfs`] holds the POSIX operations as plain async methods over the cache and
//! is tested without the kernel; [`fuse`] is a thin adapter from fuser's callbacks to it.
//! The Windows adapter over the same Vfs will be a crate of its own (winfsp is GPL-3.0).

mod backing;
mod error;
pub mod fuse;
pub mod paths;
mod vfs;

pub use error::{Result, VfsError};
pub use paths::{FileInfo, FileReader, FileWriter, Files, Owner, ReadDir, Walk, Written};
pub use vfs::{Attr, DirEntry, FsStats, OpenMode, Opened, SyncState, Vfs, VfsConfig, NAME_MAX};
pub use vfs::{RenameFlags, SetAttr};
