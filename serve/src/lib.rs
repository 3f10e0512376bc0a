//! Serving a Vfs to clients that mount it over the network: WebDAV (what macOS Finder,
//! Windows' WebClient and davfs2 mount) and NFSv3 (macOS's and Linux's kernel clients,
//! libnfs), on loopback unless told otherwise. Each protocol is an adapter over the Vfs, as
//! `fuse` is: it owns the protocol's mapping (paths or ids, handles, errors, durability points)
//! and must not hold filesystem logic.

pub mod nfs;
pub mod webdav;
