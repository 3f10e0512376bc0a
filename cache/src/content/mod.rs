//! File content on local disk: whole files (`data`, with `spares` made ahead for new ones)
//! and blocks read from the remote (`block_cache`).

pub(crate) mod block_cache;
pub(crate) mod data;
pub(crate) mod spares;
