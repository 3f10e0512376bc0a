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
        commit_interval: Duration::from_secs(1),
        sync_close: false,
    }
}

/// A small tmpfs for disk-full tests, unmounted on drop.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn new(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs needs root");
        Self { dir }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the disk to the last byte with a ballast file, freed when the guard drops.
    pub fn fill(&self) -> Ballast {
        use std::io::Write;
        let path = self.path().join("ballast");
        let mut f = std::fs::File::create(&path).unwrap();
        // Big blocks first, then smaller ones down to a byte, so not even a page is left.
        for size in [64 << 10, 4 << 10, 1] {
            let block = vec![0u8; size];
            while f.write_all(&block).is_ok() {}
        }
        let _ = f.sync_all();
        Ballast { path, file: f }
    }
}

/// The file that fills a [`SmallDisk`]. Dropping it truncates it before unlinking it: a child
/// process another test thread is spawning may hold a copy of our open files until its exec,
/// and an unlinked file's pages are only freed at its last close.
pub struct Ballast {
    path: std::path::PathBuf,
    file: std::fs::File,
}

impl Drop for Ballast {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The whole content of file `ino`, read through a fresh handle.
pub async fn read_all(vfs: &ourclone_vfs::Vfs, ino: u64) -> Vec<u8> {
    let fh = vfs
        .open(ino, ourclone_vfs::OpenMode::Read, false)
        .await
        .unwrap();
    let data = vfs.read(fh, 0, 1 << 20).await.unwrap().to_vec();
    vfs.release(fh).await.unwrap();
    data
}

/// Copies a live folder: a file renamed or deleted by a background task (a cache block
/// landing) between the listing and the copy is simply not in the snapshot, as after a crash.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else if let Err(err) = std::fs::copy(e.path(), &dest) {
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::NotFound,
                "{}: {err}",
                e.path().display()
            );
        }
    }
}
