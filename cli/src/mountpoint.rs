//! Mount points: the checks made before mounting (exists, empty, not mounted, /dev/fuse
//! usable), finding whether a path is mounted, the per-mount runtime paths (control socket),
//! and unmounting a mount whose daemon is gone. Must not know about the Vfs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{io_reason, CliError};

/// Canonical form of a mount point path, for comparisons and socket names.
pub fn canonical(path: &Path) -> Result<PathBuf, CliError> {
    fs::canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            CliError::MountPoint(format!("mount point {} does not exist", path.display()))
        }
        _ => CliError::MountPoint(format!("mount point {}: {}", path.display(), io_reason(&e))),
    })
}

/// Unescapes the octal escapes of /proc/self/mountinfo (\040 for space and so on).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file-system type of whatever is mounted exactly at `path`, if anything.
pub fn mounted_fstype(path: &Path) -> Option<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = path.to_string_lossy();
    info.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let mnt = unescape(fields.get(4)?);
        if mnt != want {
            return None;
        }
        let sep = fields.iter().position(|f| *f == "-")?;
        fields.get(sep + 1).map(|s| s.to_string())
    })
}

/// Checks that `path` can take a new mount.
pub fn check_free(path: &Path) -> Result<PathBuf, CliError> {
    let canon = canonical(path)?;
    if let Some(fstype) = mounted_fstype(&canon) {
        return Err(CliError::MountPoint(format!(
            "{} is already mounted ({fstype}); unmount it first with `ourclone-fs unmount {}`",
            canon.display(),
            canon.display()
        )));
    }
    let mut entries = fs::read_dir(&canon).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTDIR) => CliError::MountPoint(format!(
            "mount point {} is not a directory",
            canon.display()
        )),
        _ => CliError::MountPoint(format!(
            "mount point {}: {}",
            canon.display(),
            io_reason(&e)
        )),
    })?;
    if entries.next().is_some() {
        return Err(CliError::MountPoint(format!(
            "mount point {} is not empty; mount on an empty directory",
            canon.display()
        )));
    }
    Ok(canon)
}

/// Checks that /dev/fuse exists and that we may open it.
pub fn check_fuse() -> Result<(), CliError> {
    let dev = std::env::var_os("OURCLONE_FS_FUSE_DEVICE")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/dev/fuse".into());
    match fs::OpenOptions::new().read(true).write(true).open(&dev) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CliError::Fuse(format!(
            "{} is missing: install FUSE (`apt install fuse3`) and load its module (`modprobe fuse`)",
            dev.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(CliError::Fuse(format!(
            "no permission to open {}: run as root, or add your user to the group that owns it",
            dev.display()
        ))),
        Err(e) => Err(CliError::Fuse(format!("cannot open {}: {}", dev.display(), io_reason(&e)))),
    }
}

/// Folder for per-mount runtime files (control sockets).
pub fn runtime_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(d).join("ourclone-fs");
    }
    let uid = nix::unistd::getuid();
    std::env::temp_dir().join(format!("ourclone-fs-{uid}"))
}

/// A short stable hash of a string (FNV-1a), for file names.
pub fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The control socket of the mount at `mountpoint` (canonical).
pub fn control_socket(mountpoint: &Path) -> PathBuf {
    runtime_dir().join(format!(
        "{}.sock",
        short_hash(&mountpoint.to_string_lossy())
    ))
}

/// Detaches a FUSE mount whose daemon is gone (the kernel then answers ENOTCONN).
pub fn force_unmount(path: &Path) -> Result<(), CliError> {
    let ok = Command::new("fusermount3")
        .arg("-uz")
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        || nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH).is_ok();
    if ok {
        Ok(())
    } else {
        Err(CliError::MountPoint(format!(
            "could not unmount {}",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
