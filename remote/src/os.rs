//! The few operating-system calls the layers need that std does not offer on every platform:
//! positional reads and writes, a file's mode, free space, a whole-filesystem sync, whether a
//! process runs. Unix goes through std's unix extensions and libc; Windows (where only the
//! serve and transfer paths run) through std's windows extensions and windows-sys. Owns no
//! policy: callers decide what a mode or a free-space figure means for them.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

/// Reads at `offset` without moving a shared cursor (`pread`). May return fewer bytes.
pub fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(f, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(f, buf, offset)
    }
}

/// Writes at `offset` without moving a shared cursor (`pwrite`). May write fewer bytes.
pub fn write_at(f: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_at(f, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_write(f, buf, offset)
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub fn read_full_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0usize;
    while done < buf.len() {
        match read_at(f, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Reads exactly `buf.len()` bytes at `offset`; a file that ends first is an `UnexpectedEof`.
pub fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    if read_full_at(f, buf, offset)? < buf.len() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Writes all of `buf` at `offset`.
pub fn write_all_at(f: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match write_at(f, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The permission bits of `m` (`st_mode & 0o7777`). Windows has none: a read-only attribute
/// reads as 0o444 (0o555 for folders), anything else as 0o644 (0o755).
pub fn mode_of(m: &Metadata) -> u32 {
    #[cfg(unix)]
    {
        std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
    }
    #[cfg(windows)]
    {
        match (m.is_dir(), m.permissions().readonly()) {
            (true, true) => 0o555,
            (true, false) => 0o755,
            (false, true) => 0o444,
            (false, false) => 0o644,
        }
    }
}

/// What tells a file changed without reading it: modification and status-change times in
/// nanoseconds since the epoch, and the inode number. Windows offers no change time or inode
/// through std: there the change time is the modification time and the inode 0.
pub fn change_stamp(m: &Metadata) -> (i128, i128, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        (
            ns(m.mtime(), m.mtime_nsec()),
            ns(m.ctime(), m.ctime_nsec()),
            m.ino(),
        )
    }
    #[cfg(windows)]
    {
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        (mtime, mtime, 0)
    }
}

/// Permissions carrying `mode`; on Windows only its owner-write bit counts (read-only or not).
pub fn permissions(base: std::fs::Permissions, mode: u32) -> std::fs::Permissions {
    #[cfg(unix)]
    {
        let _ = base;
        std::os::unix::fs::PermissionsExt::from_mode(mode)
    }
    #[cfg(windows)]
    {
        let mut p = base;
        p.set_readonly(mode & 0o200 == 0);
        p
    }
}

/// Sets `mode` on an open file (see [`permissions`]).
pub fn set_file_mode(f: &File, mode: u32) -> io::Result<()> {
    let p = permissions(f.metadata()?.permissions(), mode);
    f.set_permissions(p)
}

/// Sets `mode` on the file or folder at `path` (see [`permissions`]).
pub fn set_path_mode(path: &Path, mode: u32) -> io::Result<()> {
    let p = permissions(std::fs::metadata(path)?.permissions(), mode);
    std::fs::set_permissions(path, p)
}

/// Makes `o` refuse to open through a symbolic link at the last component (`O_NOFOLLOW`; on
/// Windows the link itself is opened, never its target).
pub fn no_follow(o: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        std::os::unix::fs::OpenOptionsExt::custom_flags(o, libc::O_NOFOLLOW)
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT;
        std::os::windows::fs::OpenOptionsExt::custom_flags(o, FILE_FLAG_OPEN_REPARSE_POINT)
    }
}

/// Makes `o` create files with permission bits `mode` (before the umask). Windows files take
/// their folder's access rules instead.
pub fn create_mode(o: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        std::os::unix::fs::OpenOptionsExt::mode(o, mode)
    }
    #[cfg(windows)]
    {
        let _ = mode;
        o
    }
}

/// Makes a symbolic link at `link` pointing to `target` (on Windows a file link, which needs
/// the privilege or developer mode Windows asks for).
pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, link)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::symlink_file(target, link)
    }
}

/// Space on the file system holding `path`, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    pub total: u64,
    /// Free for an unprivileged writer.
    pub available: u64,
    /// Free in all (root's reserve included).
    pub free: u64,
}

/// How much space the file system holding `path` has.
pub fn space(path: &Path) -> io::Result<Space> {
    #[cfg(unix)]
    {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
        // SAFETY: statvfs writes into a zeroed struct we own; the path is NUL-terminated.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let unit = st.f_frsize as u64;
        Ok(Space {
            total: st.f_blocks as u64 * unit,
            available: st.f_bavail as u64 * unit,
            free: st.f_bfree as u64 * unit,
        })
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        use windows_sys::Win32::Storage::FileSystem::GetDiskFreeSpaceExW;
        let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
        let (mut available, mut total, mut free) = (0u64, 0u64, 0u64);
        // SAFETY: a NUL-terminated wide path and three out-pointers to u64s we own.
        let ok =
            unsafe { GetDiskFreeSpaceExW(wide.as_ptr(), &mut available, &mut total, &mut free) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Space {
            total,
            available,
            free,
        })
    }
}

/// Makes everything written to the file system holding `f` durable (`syncfs` on Linux, `sync`
/// on other unixes). Windows has no unprivileged equivalent: there only `f` itself is flushed,
/// and callers that need more must flush each file they wrote.
pub fn sync_file_system(f: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs only reads the descriptor, which `f` keeps open for the call.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let _ = f;
        // SAFETY: sync takes no arguments and cannot fail.
        unsafe { libc::sync() };
        Ok(())
    }
    #[cfg(windows)]
    {
        f.sync_all()
    }
}

/// Makes the entries of folder `dir` (names created, renamed or removed) durable. On Windows,
/// where NTFS journals its metadata and a folder cannot be opened as a plain file, a no-op.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(windows)]
    {
        let _ = dir;
        Ok(())
    }
}

/// Whether a process with this id runs on this machine (one we may not signal counts).
pub fn process_runs(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::Foundation::CloseHandle;
        use windows_sys::Win32::System::Threading::{
            OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
        };
        // SAFETY: OpenProcess returns a handle we close, or null for no such process.
        let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if h.is_null() {
            return false;
        }
        // SAFETY: `h` is the valid handle just opened.
        unsafe { CloseHandle(h) };
        true
    }
}

/// Sets the process's file-creation mask and returns the one it replaces (0 on Windows, which
/// has none: files take their folder's access rules).
pub fn set_umask(mask: u32) -> u32 {
    #[cfg(unix)]
    {
        // SAFETY: umask only swaps the process's mask; it cannot fail.
        unsafe { libc::umask(mask as libc::mode_t) as u32 }
    }
    #[cfg(windows)]
    {
        let _ = mask;
        0
    }
}

/// The real user and group ids of this process (0 and 0 on Windows, which has neither).
pub fn user_ids() -> (u32, u32) {
    #[cfg(unix)]
    {
        // SAFETY: getuid and getgid cannot fail.
        unsafe { (libc::getuid(), libc::getgid()) }
    }
    #[cfg(windows)]
    {
        (0, 0)
    }
}

/// Text naming this boot of the machine, or none where we cannot tell: Linux's `boot_id`,
/// macOS's `kern.bootsessionuuid`, and on Windows the boot time in milliseconds (the clock
/// minus the uptime; see [`same_boot`]). `OURCLONE_BOOT_ID` stands in for a reboot in tests.
pub fn boot_id() -> Option<String> {
    if let Ok(id) = std::env::var("OURCLONE_BOOT_ID") {
        return Some(id);
    }
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_string())
    }
    #[cfg(target_os = "macos")]
    {
        let mut buf = [0u8; 64];
        let mut len = buf.len();
        // SAFETY: a NUL-terminated name, and an out buffer with its length.
        let r = unsafe {
            libc::sysctlbyname(
                c"kern.bootsessionuuid".as_ptr(),
                buf.as_mut_ptr().cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        let text = buf.get(..len)?.split(|b| *b == 0).next()?;
        (r == 0).then(|| String::from_utf8_lossy(text).into_owned())
    }
    #[cfg(windows)]
    {
        // SAFETY: GetTickCount64 takes nothing and cannot fail.
        let up = unsafe { windows_sys::Win32::System::SystemInformation::GetTickCount64() };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_millis() as u64;
        Some(format!("boot-ms:{}", now.saturating_sub(up)))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        None
    }
}

/// Whether two [`boot_id`] texts name the same boot. Windows' boot times, derived from two
/// clocks, match within two seconds (a reboot takes longer than that).
pub fn same_boot(a: &str, b: &str) -> bool {
    let ms = |s: &str| {
        s.strip_prefix("boot-ms:")
            .and_then(|n| n.parse::<u64>().ok())
    };
    match (ms(a), ms(b)) {
        (Some(x), Some(y)) => x.abs_diff(y) < 2_000,
        _ => !a.is_empty() && a == b,
    }
}

/// Tells the kernel the first `len` bytes of `f` will be read soon (a no-op where there is no
/// such hint).
pub fn will_need(f: &File, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let len = libc::off_t::try_from(len).unwrap_or(0);
        // SAFETY: a hint about an open descriptor's page cache; no memory is touched.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, len, libc::POSIX_FADV_WILLNEED) };
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (f, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_io_round_trips_and_reads_short_at_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("f"))
            .unwrap();
        assert_eq!(write_at(&f, b"hello", 3).unwrap(), 5);
        let mut buf = [9u8; 16];
        assert_eq!(read_full_at(&f, &mut buf, 0).unwrap(), 8);
        assert_eq!(&buf[..8], b"\0\0\0hello");
        set_file_mode(&f, 0o600).unwrap();
        assert_eq!(mode_of(&f.metadata().unwrap()), 0o600);
        let s = space(dir).unwrap();
        assert!(s.total >= s.free && s.free >= s.available && s.total > 0);
        assert!(process_runs(std::process::id()));
    }

    #[test]
    fn boots_match_exactly_or_by_boot_time() {
        assert!(same_boot("8f1e-aa", "8f1e-aa"));
        assert!(!same_boot("8f1e-aa", "8f1e-ab"));
        assert!(!same_boot("", ""));
        assert!(same_boot("boot-ms:1000000", "boot-ms:1001500"));
        assert!(!same_boot("boot-ms:1000000", "boot-ms:1090000"));
        assert!(boot_id().is_some_and(|b| same_boot(&b, &b)));
    }
}
