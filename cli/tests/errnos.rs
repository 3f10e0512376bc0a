//! The errnos and behaviours docs/SEMANTICS.md promises, checked through a real mount of the
//! local provider with plain system calls (python3's os module, so nothing of ours is in
//! between). When one of these changes, change the document with it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{stderr, stdout, wait_for, Env};

/// Runs each probe in the mount and reports `label<TAB>result`, where result is `OK value` or
/// the errno's name.
const PROBES: &str = r#"
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)

def renameat2(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

def probe(label, f):
    try:
        r = f()
        out = "OK" if r is None else "OK " + str(r)
    except OSError as e:
        out = errno.errorcode.get(e.errno, str(e.errno))
    print(label + "\t" + out)

with open("f", "w") as fh:
    fh.write("x")
os.mkdir("d")
os.mkdir("full")
open("full/x", "w").close()
open("other", "w").close()

probe("link", lambda: os.link("f", "f2"))
probe("mkfifo", lambda: os.mkfifo("fifo"))
probe("mknod_chr", lambda: os.mknod("chr", 0o600 | 0o020000, os.makedev(1, 3)))
probe("mknod_reg", lambda: os.mknod("reg", 0o600 | 0o100000))
probe("bind_unix_socket", lambda: socket.socket(socket.AF_UNIX).bind("sock"))
probe("create_255", lambda: open("b" * 255, "w").close())
probe("create_256", lambda: open("a" * 256, "w"))
probe("mkdir_256", lambda: os.mkdir("a" * 256))
probe("symlink_name_256", lambda: os.symlink("f", "a" * 256))
probe("symlink_name_241", lambda: os.symlink("f", "s" * 241))
probe("symlink_name_242", lambda: os.symlink("f", "s" * 242))
probe("rename_symlink_to_242", lambda: os.rename("s" * 241, "r" * 242))
probe("symlink_target_4000", lambda: os.symlink("t" * 4000, "long"))
probe("readlink_4000", lambda: len(os.readlink("long")))
probe("rename_to_256", lambda: os.rename("f", "a" * 256))
probe("stat_256", lambda: os.stat("a" * 256))
probe("rename_exchange", lambda: renameat2("f", "other", 2))
probe("rename_noreplace_existing", lambda: renameat2("f", "other", 1))
probe("rename_noreplace_new", lambda: renameat2("other", "other2", 1))
probe("rename_over_file", lambda: os.rename("reg", "other2"))
probe("rmdir_not_empty", lambda: os.rmdir("full"))
probe("unlink_dir", lambda: os.unlink("d"))
probe("rmdir_file", lambda: os.rmdir("f"))
probe("rename_dir_into_itself", lambda: os.rename("d", "d/sub"))
probe("rename_dir_over_non_empty_dir", lambda: os.rename("d", "full"))
probe("rename_file_over_dir", lambda: os.rename("f", "d"))
probe("rename_dir_over_file", lambda: os.rename("d", "f"))
probe("rename_root", lambda: os.rename(".", "elsewhere"))
probe("setxattr", lambda: os.setxattr("f", "user.foo", b"1"))
probe("setxattr_state", lambda: os.setxattr("f", "user.ourclone.state", b"synced"))
probe("removexattr", lambda: os.removexattr("f", "user.foo"))
probe("getxattr_other", lambda: os.getxattr("f", "user.foo"))
probe("getxattr_selinux", lambda: os.getxattr("f", "security.selinux"))
probe("getxattr_acl", lambda: os.getxattr("f", "system.posix_acl_access"))
probe("listxattr", lambda: ",".join(os.listxattr("f")))
probe("o_tmpfile", lambda: os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600))
probe("open_dir_for_writing", lambda: os.open("d", os.O_WRONLY))
probe("statvfs_namemax", lambda: os.statvfs(".").f_namemax)
fd = os.open("f", os.O_RDWR)
probe("posix_fallocate", lambda: os.posix_fallocate(fd, 0, 10))
probe("size_after_fallocate", lambda: os.fstat(fd).st_size)
probe("fsync", lambda: os.fsync(fd))
os.close(fd)
probe("truncate", lambda: (os.truncate("f", 100), os.stat("f").st_size)[1])
probe("open_o_trunc", lambda: (os.close(os.open("f", os.O_WRONLY | os.O_TRUNC)), os.stat("f").st_size)[1])
probe("chmod", lambda: (os.chmod("f", 0o640), oct(os.stat("f").st_mode & 0o7777))[1])
probe("chown", lambda: (os.chown("f", 1, 2), (os.stat("f").st_uid, os.stat("f").st_gid))[1])
probe("utime", lambda: (os.utime("f", ns=(1_000_000_000, 2_000_000_007)), os.stat("f").st_mtime_ns)[1])
dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
probe("fsync_dir", lambda: os.fsync(dfd))
os.close(dfd)
"#;

/// What each probe must answer (the table in docs/SEMANTICS.md).
const EXPECTED: &[(&str, &str)] = &[
    ("link", "EPERM"),
    ("mkfifo", "OK"),
    ("mknod_chr", "OK"),
    ("mknod_reg", "OK"),
    ("bind_unix_socket", "OK"),
    ("create_255", "OK"),
    ("create_256", "ENAMETOOLONG"),
    ("mkdir_256", "ENAMETOOLONG"),
    ("symlink_name_256", "ENAMETOOLONG"),
    ("symlink_name_241", "OK"),
    ("symlink_name_242", "ENAMETOOLONG"),
    ("rename_symlink_to_242", "ENAMETOOLONG"),
    ("symlink_target_4000", "OK"),
    ("readlink_4000", "OK 4000"),
    ("rename_to_256", "ENAMETOOLONG"),
    ("stat_256", "ENAMETOOLONG"),
    ("rename_exchange", "EINVAL"),
    ("rename_noreplace_existing", "EEXIST"),
    ("rename_noreplace_new", "OK"),
    ("rename_over_file", "OK"),
    ("rmdir_not_empty", "ENOTEMPTY"),
    ("unlink_dir", "EISDIR"),
    ("rmdir_file", "ENOTDIR"),
    ("rename_dir_into_itself", "EINVAL"),
    ("rename_dir_over_non_empty_dir", "ENOTEMPTY"),
    ("rename_file_over_dir", "EISDIR"),
    ("rename_dir_over_file", "ENOTDIR"),
    ("rename_root", "EBUSY"),
    ("setxattr", "EOPNOTSUPP"),
    ("setxattr_state", "EOPNOTSUPP"),
    ("removexattr", "EOPNOTSUPP"),
    ("getxattr_other", "ENODATA"),
    ("getxattr_selinux", "EOPNOTSUPP"),
    ("getxattr_acl", "EOPNOTSUPP"),
    ("listxattr", "OK user.ourclone.state"),
    ("o_tmpfile", "EOPNOTSUPP"),
    ("open_dir_for_writing", "EISDIR"),
    ("statvfs_namemax", "OK 255"),
    ("posix_fallocate", "OK"),
    ("size_after_fallocate", "OK 10"),
    ("fsync", "OK"),
    ("truncate", "OK 100"),
    ("open_o_trunc", "OK 0"),
    ("chmod", "OK 0o640"),
    ("chown", "OK (1, 2)"),
    ("utime", "OK 2000000007"),
    ("fsync_dir", "OK"),
];

fn python(dir: &std::path::Path, script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("python3 (apt-get install python3)");
    assert!(
        out.status.success(),
        "python3 failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn documented_errnos_through_a_real_mount() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "0s"]);
    let got = python(&env.mnt, PROBES);
    let got: Vec<(&str, &str)> = got.lines().filter_map(|l| l.split_once('\t')).collect();
    let mut wrong = Vec::new();
    for (label, want) in EXPECTED {
        // python names EOPNOTSUPP "ENOTSUP" on Linux, where both are the same number.
        let have = got
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, r)| r.replace("ENOTSUP", "EOPNOTSUPP"));
        if have.as_deref() != Some(*want) {
            wrong.push(format!("{label}: want {want}, got {have:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "errnos differ from docs/SEMANTICS.md:\n{}",
        wrong.join("\n")
    );

    // Everything accepted reaches the cloud: the unmount drains it all (it would hang on a
    // name the provider refuses), under the same names.
    m.unmount();
    for name in [
        "b".repeat(255),
        format!("{}.ourclone-link", "s".repeat(241)),
    ] {
        assert!(env.cloud.join(&name).exists(), "{name} not in the cloud");
    }

    // Attributes we keep in the metadata store survive a remount.
    let _m = env.mount(&[]);
    let attrs = python(
        &env.mnt,
        "import os; s = os.stat('f'); print(oct(s.st_mode & 0o7777), s.st_uid, s.st_gid, s.st_mtime_ns, s.st_size)",
    );
    assert_eq!(attrs.trim(), "0o640 1 2 2000000007 0", "after remount");
    let names = python(&env.mnt, "import os; print(sorted(os.listdir('.')))");
    for kept in ["fifo", "chr", "sock"] {
        assert!(
            names.contains(&format!("'{kept}'")),
            "local-only {kept} lost: {names}"
        );
    }
    for gone in ["f2", "a".repeat(256).as_str()] {
        assert!(
            !names.contains(&format!("'{gone}'")),
            "{gone} exists: {names}"
        );
    }
}

#[test]
fn state_xattr_goes_from_pending_to_synced() {
    let env = Env::new();
    let _m = env.mount(&["--write-back", "2s"]);
    let f = env.mnt.join("new.txt");
    std::fs::write(&f, b"hello").unwrap();
    let state = |p: &std::path::Path| {
        python(
            p.parent().unwrap(),
            &format!(
                "import os; print(os.getxattr({:?}, 'user.ourclone.state').decode())",
                p.file_name().unwrap().to_str().unwrap()
            ),
        )
        .trim()
        .to_string()
    };
    // Closed (durable locally) but inside the write-back delay: not in the cloud yet.
    assert_eq!(state(&f), "pending");
    assert!(!env.cloud.join("new.txt").exists());
    assert!(
        wait_for(Duration::from_secs(30), || state(&f) == "synced"),
        "never synced: {}",
        state(&f)
    );
    assert_eq!(std::fs::read(env.cloud.join("new.txt")).unwrap(), b"hello");
}
