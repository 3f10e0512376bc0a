//! Serving a Vfs to clients that mount it over the network: WebDAV for now (what macOS Finder,
//! Windows' WebClient and davfs2 mount), on loopback unless told otherwise. Each protocol is an
//! adapter over [`ourclone_vfs::Files`], as `fuse` is over the Vfs: it owns the protocol's
//! mapping (paths, handles, errors, durability points) and must not hold filesystem logic.

pub mod webdav;
