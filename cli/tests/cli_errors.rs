//! End-to-end: every bad input of `mount` and friends gives one clear line and the documented
//! exit code (see cli/src/error.rs).

mod common;

use common::*;

fn fails(out: &std::process::Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "wrong exit code; stderr: {err}"
    );
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
}

#[test]
fn unknown_remote() {
    let env = Env::new();
    let out = env.run(&["mount", "nope:", env.mnt.to_str().unwrap()]);
    fails(&out, 4, "no remote named 'nope'");
}

#[test]
fn missing_mount_point() {
    let env = Env::new();
    let missing = env.dir.path().join("missing");
    let out = env.run(&["mount", "demo:", missing.to_str().unwrap()]);
    fails(&out, 5, "does not exist");
}

#[test]
fn non_empty_mount_point() {
    let env = Env::new();
    std::fs::write(env.mnt.join("file"), b"x").unwrap();
    let out = env.run(&["mount", "demo:", env.mnt.to_str().unwrap()]);
    fails(&out, 5, "is not empty");
}

#[test]
fn already_mounted() {
    let env = Env::new();
    let m = env.mount(&[]);
    let out = env.run(&["mount", "demo:", env.mnt.to_str().unwrap()]);
    fails(&out, 5, "is already mounted");
    m.unmount();
}

#[test]
fn no_fuse_device() {
    let env = Env::new();
    let out = env
        .cmd()
        .env("OURCLONE_FS_FUSE_DEVICE", "/nonexistent/fuse")
        .args(["mount", "demo:", env.mnt.to_str().unwrap()])
        .output()
        .unwrap();
    fails(&out, 6, "apt install fuse3");
}

#[test]
fn no_permission_on_fuse_device() {
    let env = Env::new();
    let dev = env.dir.path().join("fuse-dev");
    std::fs::write(&dev, b"").unwrap();
    sh(&format!(
        "chmod 600 {d} && chmod 755 {root} && chmod 644 {cfg} && chown -R nobody {mnt}",
        d = dev.display(),
        root = env.dir.path().display(),
        cfg = env.config.display(),
        mnt = env.mnt.display()
    ));
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()])
        .env("OURCLONE_FS_CONFIG", &env.config)
        .env("OURCLONE_FS_CACHE_DIR", env.dir.path().join("nobody-cache"))
        .env("OURCLONE_FS_FUSE_DEVICE", &dev)
        .args(["mount", "demo:", env.mnt.to_str().unwrap()])
        .output()
        .unwrap();
    fails(&out, 6, "no permission to open");
}

#[test]
fn unreadable_config() {
    let env = Env::new();
    let bad = env.dir.path().join("config-dir");
    std::fs::create_dir(&bad).unwrap();
    let out = env
        .cmd()
        .env("OURCLONE_FS_CONFIG", &bad)
        .args(["remote", "list"])
        .output()
        .unwrap();
    fails(&out, 3, "cannot read config file");
    let garbled = env.dir.path().join("garbled.toml");
    std::fs::write(&garbled, b"[remotes.x]\ntype = 12\n").unwrap();
    let out = env
        .cmd()
        .env("OURCLONE_FS_CONFIG", &garbled)
        .args(["mount", "x:", env.mnt.to_str().unwrap()])
        .output()
        .unwrap();
    fails(&out, 3, "is not valid");
}

#[test]
fn unmount_of_something_not_mounted() {
    let env = Env::new();
    let out = env.run(&["unmount", env.mnt.to_str().unwrap()]);
    fails(&out, 5, "is not mounted");
}

#[test]
fn bad_source_syntax() {
    let env = Env::new();
    let out = env.run(&["mount", "demo", env.mnt.to_str().unwrap()]);
    fails(&out, 2, "is not REMOTE:PATH");
}
