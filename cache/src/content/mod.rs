//! File content on local disk: whole files (`data`) and blocks read from the remote
//! (`block_cache`).

pub(crate) mod block_cache;
pub(crate) mod data;
