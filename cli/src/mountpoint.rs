//! Mount points: the checks made before mounting (exists, empty, not mounted, /dev/fuse
//! usable), finding whether a path is mounted, the per-mount runtime paths (the control
//! socket, its private runtime folder, and finding it again from any environment), and
//! unmounting a mount whose daemon is gone. Must not know about the Vfs.

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

/// The mount of ours that holds `path` (canonical): its control socket and the path inside it.
pub fn mount_containing(path: &Path, cache_dir: &Path) -> Option<(PathBuf, String)> {
    for dir in path.ancestors() {
        let ours = mounted_fstype(dir).is_some_and(|t| t.starts_with("fuse"));
        if let Some(socket) = ours.then(|| find_control_socket(dir, cache_dir)).flatten() {
            let inside = path
                .strip_prefix(dir)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Some((socket, inside));
        }
    }
    None
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

/// Folder for per-mount runtime files (control sockets): `OURCLONE_FS_RUNTIME_DIR`, else
/// `$XDG_RUNTIME_DIR/ourclone-fs`, else `/tmp/ourclone-fs-UID`.
pub fn runtime_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OURCLONE_FS_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("ourclone-fs");
    }
    fallback_runtime_dir()
}

fn fallback_runtime_dir() -> PathBuf {
    let uid = nix::unistd::geteuid();
    std::env::temp_dir().join(format!("ourclone-fs-{uid}"))
}

/// Why `dir` may not hold our control sockets, if it may not. A folder of ours that others
/// may read but not write (left by an older version) is tightened to 0700; a symbolic link,
/// a non-folder, a folder of another user or one others may write to is refused, untouched.
fn unsafe_runtime_dir(dir: &Path) -> Option<String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let hint = "remove it, or set OURCLONE_FS_RUNTIME_DIR to a private folder";
    let shown = dir.display();
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return Some(format!("runtime folder {shown}: {}", io_reason(&e))),
    };
    if meta.file_type().is_symlink() {
        return Some(format!(
            "runtime folder {shown} is a symbolic link; refusing to follow it ({hint})"
        ));
    }
    if !meta.is_dir() {
        return Some(format!("runtime folder {shown} is not a folder ({hint})"));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Some(format!(
            "runtime folder {shown} belongs to user {}, not to us ({hint})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Some(format!(
            "runtime folder {shown} has mode {mode:o}: others may write to it ({hint})"
        ));
    }
    if mode != 0o700 {
        // Open without following a link swapped in since the check, then fchmod.
        let fixed = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(dir)
            .and_then(|f| f.set_permissions(fs::Permissions::from_mode(0o700)));
        if let Err(e) = fixed {
            return Some(format!(
                "runtime folder {shown} has mode {mode:o} and cannot be made private: {}",
                io_reason(&e)
            ));
        }
    }
    None
}

/// Creates the runtime folder (0700) if missing and checks it is a private folder of ours.
pub fn ensure_runtime_dir() -> Result<PathBuf, CliError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = runtime_dir();
    if matches!(fs::symlink_metadata(&dir), Err(e) if e.kind() == io::ErrorKind::NotFound) {
        if let Err(e) = fs::DirBuilder::new().mode(0o700).create(&dir) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(CliError::Other(anyhow::anyhow!(
                    "cannot create runtime folder {}: {}",
                    dir.display(),
                    io_reason(&e)
                )));
            }
        }
    }
    match unsafe_runtime_dir(&dir) {
        Some(why) => Err(CliError::Other(anyhow::anyhow!(why))),
        None => Ok(dir),
    }
}

/// The control socket's file name of the mount at `mountpoint` (canonical).
fn socket_name(mountpoint: &Path) -> String {
    format!(
        "{}.sock",
        crate::vfs_open::short_hash(&mountpoint.to_string_lossy())
    )
}

/// The control socket of the mount at `mountpoint` (canonical), in this process's runtime
/// folder.
pub fn control_socket(mountpoint: &Path) -> PathBuf {
    runtime_dir().join(socket_name(mountpoint))
}

/// Where a daemon records its control socket's path for `unmount` and `status` callers whose
/// runtime folder differs (another XDG_RUNTIME_DIR, or none).
pub fn socket_record(cache_dir: &Path, mountpoint: &Path) -> PathBuf {
    cache_dir
        .join("sockets")
        .join(crate::vfs_open::short_hash(&mountpoint.to_string_lossy()))
}

/// The control socket of the running mount at `mountpoint` (canonical), wherever its daemon
/// put it: the path it recorded in the cache folder, else this process's runtime folder,
/// else the usual places. Only sockets of ours in private folders count.
pub fn find_control_socket(mountpoint: &Path, cache_dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let name = socket_name(mountpoint);
    let mut candidates = Vec::new();
    if let Ok(recorded) = fs::read_to_string(socket_record(cache_dir, mountpoint)) {
        candidates.push(PathBuf::from(recorded.trim_end_matches('\n')));
    }
    candidates.push(runtime_dir().join(&name));
    let uid = nix::unistd::geteuid();
    candidates.push(PathBuf::from(format!("/run/user/{uid}/ourclone-fs")).join(&name));
    candidates.push(fallback_runtime_dir().join(&name));
    let me = uid.as_raw();
    candidates.into_iter().find(|sock| {
        let ours =
            fs::symlink_metadata(sock).is_ok_and(|m| m.file_type().is_socket() && m.uid() == me);
        ours && sock
            .parent()
            .is_some_and(|dir| unsafe_runtime_dir(dir).is_none())
    })
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
