//! What the Vfs tests share: the mount configuration they start from.
#![allow(dead_code)]

use std::time::Duration;

use ourclone_cache::Defaults;
use ourclone_vfs::VfsConfig;

/// Root-owned defaults, no write-back delay, a 64 MiB cache; tests change what they need.
pub fn config() -> VfsConfig {
    VfsConfig {
        defaults: Defaults {
            uid: 0,
            gid: 0,
            file_mode: 0o644,
            dir_mode: 0o755,
        },
        dir_cache_time: Duration::from_secs(300),
        write_back: Duration::ZERO,
        upload_parallel: 2,
        cache_max_size: 64 << 20,
        room_wait: Duration::from_secs(120),
    }
}
