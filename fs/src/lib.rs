//! The filesystem: [`Vfs`] holds the POSIX operations as plain async methods over the cache and
//! is tested without the kernel; [`fuse`] is a thin adapter from fuser's callbacks to it.
//! The adapter is Linux-only (it mounts through mount(2) and uses FUSE passthrough): on macOS
//! and Windows the same Vfs is reached through `serve nfs` and `serve webdav` (a WinFsp
//! adapter would be GPL-3.0 and MSVC-only; macFUSE needs a kernel extension).

#[cfg(target_os = "linux")]
mod backing;
mod error;
#[cfg(target_os = "linux")]
pub mod fuse;
pub mod paths;
mod vfs;

pub use error::{Result, VfsError};
pub use paths::{FileInfo, FileReader, FileWriter, Files, Owner, ReadDir, Walk, Written};
pub use vfs::{Attr, DirEntry, FsStats, OpenMode, Opened, SyncState, Vfs, VfsConfig, NAME_MAX};
pub use vfs::{RenameFlags, SetAttr};
