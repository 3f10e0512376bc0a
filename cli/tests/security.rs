//! End-to-end checks of issue 8's security items, through real FUSE mounts:
//! - item 10: the cache, state, log and runtime folders are the user's only (0700 folders,
//!   0600 files) whatever the umask, and logs never hold an API key or a download-token URL;
//! - item 11: the control-socket folder is refused when it is not a private folder of ours,
//!   and `unmount` finds the daemon whatever the caller's XDG_RUNTIME_DIR, never silently
//!   skipping pending uploads;
//! - item 13: `allow_other` only with `--allow-other`.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::emulator::{self, KEY};
use common::{bin, sh, stderr, stdout, wait_for, Env};

/// Every folder under `root` (and `root`) that is not 0700 and every file that is not 0600.
fn loose_modes(root: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue; // removed while we walked (a block evicted, a temp file renamed)
        };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            if mode != 0o700 {
                bad.push(format!("folder {} is {mode:o}", p.display()));
            }
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if mode != 0o600 {
            bad.push(format!("file {} is {mode:o}", p.display()));
        }
    }
    bad
}

/// `ourclone-fs ARGS` run by bash after `umask UMASK`, with the env's config and cache.
fn run_with_umask(env: &Env, umask: &str, args: &str, extra_env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!("umask {umask}; exec '{}' {args}", bin()))
        .env("OURCLONE_FS_CONFIG", &env.config)
        .env("OURCLONE_FS_CACHE_DIR", &env.cache)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("OURCLONE_FS_RUNTIME_DIR");
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().expect("run bash")
}

fn wait_uploaded(env: &Env, timeout: Duration) {
    assert!(
        wait_for(timeout, || env.status()["pending_files"].as_u64()
            == Some(0)),
        "uploads did not finish: {}",
        env.status()
    );
}

#[test]
fn item10_cache_and_logs_are_owner_only() {
    let env = Env::new();
    let run_dir = env.dir.path().join("run");
    let out = run_with_umask(
        &env,
        "000",
        &format!("mount demo: '{}' --write-back 0s", env.mnt.display()),
        &[("OURCLONE_FS_RUNTIME_DIR", &run_dir)],
    );
    assert!(out.status.success(), "mount failed: {}", stderr(&out));
    let guard = env.adopt_mount();
    let m = env.mnt.display();
    sh(&format!(
        "mkdir -p {m}/d/e && echo hello > {m}/d/e/f && head -c 3000000 /dev/urandom > {m}/big && mkfifo {m}/fifo && ln -s big {m}/link"
    ));
    wait_uploaded(&env, Duration::from_secs(30));
    // Read content back through the block cache too.
    sh(&format!("cat {m}/big {m}/d/e/f > /dev/null"));
    std::fs::write(env.cloud.join("remote-made"), b"from the cloud").unwrap();
    let _ = env.run(&["status", &m.to_string()]);
    let bad = loose_modes(&env.cache);
    assert!(
        bad.is_empty(),
        "cache entries readable by others:\n{}",
        bad.join("\n")
    );
    let logs = env.cache.join("logs");
    assert!(logs.is_dir(), "no log folder {}", logs.display());
    let run_mode = std::fs::symlink_metadata(&run_dir)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0);
    assert_eq!(run_mode, 0o700, "runtime folder {}", run_dir.display());
    for entry in std::fs::read_dir(&run_dir).unwrap().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "{} is open to others ({mode:o})",
            entry.path().display()
        );
    }
    guard.unmount();
}

#[test]
fn item10_logs_hold_no_secrets() {
    let emu = emulator::start(&["--fault-rate", "0.3"]);
    let env = Env::new();
    let endpoint = emu.endpoint();
    let base = endpoint.trim_end_matches("/v1").to_string();
    std::fs::write(
        &env.config,
        format!(
            "[remotes.fic]\ntype = \"1fichier\"\napi_key = \"{KEY}\"\nendpoint = \"{endpoint}\"\nrate = 200.0\n"
        ),
    )
    .unwrap();
    let src = env.dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..6 {
        sh(&format!(
            "head -c {} /dev/urandom > {}/f{i}",
            300_000 * (i + 1),
            src.display()
        ));
    }
    let m = env.mnt.display();
    let mount = env.mount_source("fic:", &["-vv", "--write-back", "0s"]);
    sh(&format!("cp -r {}/. {m}/", src.display()));
    wait_uploaded(&env, Duration::from_secs(120));
    mount.unmount();
    // Forget the cached content (keep the logs) so the next mount downloads everything.
    std::fs::remove_dir_all(env.cache.join("mounts")).unwrap();
    let mount = env.mount_source("fic:", &["-vv"]);
    sh(&format!("diff -r {} {m}", src.display()));
    mount.unmount_lazy();
    let faults = emu.stats()["faults"].as_u64().unwrap_or(0);
    assert!(faults > 0, "no faults injected: {}", emu.stats());
    let mut logs = String::new();
    for e in std::fs::read_dir(env.cache.join("logs")).unwrap().flatten() {
        logs.push_str(&String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()));
    }
    assert!(
        logs.contains("retrying"),
        "the retries of the faulted calls were not logged; the check below would prove nothing"
    );
    assert!(!logs.contains(KEY), "a log holds the API key");
    assert!(!logs.contains("/dl/"), "a log holds a download URL");
    let token_prefix = format!("{base}/p");
    let leak = logs.lines().find(|l| l.contains(&token_prefix));
    assert!(leak.is_none(), "a log holds a download-token URL: {leak:?}");
}

/// Asserts that the mount was refused with exit code `code` and a message containing `want`;
/// unmounts if the old behaviour mounted anyway.
fn refused(env: &Env, out: &Output, code: i32, want: &str) {
    if out.status.success() {
        let _guard = env.adopt_mount();
        panic!("mount succeeded; expected a refusal: {}", stdout(out));
    }
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(want), "stderr lacks {want:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!env.mounted(), "mounted anyway");
}

fn mount_with_runtime_dir(env: &Env, dir: &Path) -> Output {
    env.cmd()
        .env("OURCLONE_FS_RUNTIME_DIR", dir)
        .args(["mount", "demo:", env.mnt.to_str().unwrap()])
        .output()
        .unwrap()
}

#[test]
fn item11_runtime_dir_must_be_private() {
    let env = Env::new();
    let root = env.dir.path();
    // A symlink to a private folder of ours: never followed.
    let target = root.join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = root.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = mount_with_runtime_dir(&env, &link);
    refused(&env, &out, 1, "symbolic link");
    // A folder anybody may write to.
    let open = root.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = mount_with_runtime_dir(&env, &open);
    refused(&env, &out, 1, "others may write");
    assert_eq!(
        std::fs::metadata(&open).unwrap().permissions().mode() & 0o777,
        0o777,
        "the refused folder was changed"
    );
    // A file.
    let file = root.join("file");
    std::fs::write(&file, b"").unwrap();
    let out = mount_with_runtime_dir(&env, &file);
    refused(&env, &out, 1, "not a folder");
    // A folder that does not exist yet is created private, and used.
    let fresh = root.join("fresh");
    let out = mount_with_runtime_dir(&env, &fresh);
    assert!(out.status.success(), "mount failed: {}", stderr(&out));
    let guard = env.adopt_mount();
    assert_eq!(
        std::fs::symlink_metadata(&fresh)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o700
    );
    let socks: Vec<PathBuf> = std::fs::read_dir(&fresh)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    assert_eq!(socks.len(), 1, "control socket not in {}", fresh.display());
    assert_eq!(
        std::fs::metadata(&socks[0]).unwrap().uid(),
        nix::unistd::geteuid().as_raw()
    );
    guard.unmount();
}

#[test]
fn item11_unmount_finds_daemon_whatever_the_runtime_dir() {
    let env = Env::new();
    let xdg = env.dir.path().join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mnt = env.mnt.to_str().unwrap();
    let mount = |extra: &[&str]| {
        let out = env
            .cmd()
            .env("XDG_RUNTIME_DIR", &xdg)
            .args(["mount", "demo:", mnt])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount failed: {}", stderr(&out));
        env.adopt_mount()
    };
    // 1. Mounted with XDG_RUNTIME_DIR, unmounted without: the pending upload is drained.
    let guard = mount(&["--write-back", "1h"]);
    std::fs::write(env.mnt.join("pending.txt"), b"must reach the cloud").unwrap();
    let out = env.run(&["unmount", mnt]);
    drop(guard);
    assert!(out.status.success(), "unmount failed: {}", stderr(&out));
    assert!(!env.mounted(), "still mounted");
    assert!(
        !stdout(&out).contains("daemon was gone"),
        "unmount did not reach the daemon: {}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read(env.cloud.join("pending.txt")).ok().as_deref(),
        Some(&b"must reach the cloud"[..]),
        "the pending upload was skipped"
    );
    // 2. A daemon that cannot be reached: plain unmount refuses, --force detaches.
    let guard = mount(&[]);
    let st = env
        .cmd()
        .env("XDG_RUNTIME_DIR", &xdg)
        .args(["status", mnt, "--json"])
        .output()
        .unwrap();
    assert!(st.status.success(), "status failed: {}", stderr(&st));
    let pid = serde_json::from_slice::<serde_json::Value>(&st.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Gone, or a zombie whose threads have all exited (a leader shows Z while its other
    // threads, and the sockets they share, are still being torn down).
    assert!(wait_for(Duration::from_secs(10), || !Path::new(&format!(
        "/proc/{pid}/status"
    ))
    .exists()
        || (std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split(' ').nth(2) == Some("Z"))
            && std::fs::read_dir(format!("/proc/{pid}/task"))
                .map_or(0, |d| d.count())
                <= 1)));
    let out = env.run(&["unmount", mnt]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout {} stderr {err}",
        stdout(&out)
    );
    assert!(err.contains("--force"), "no hint at --force: {err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(env.mounted(), "unmounted without reaching the daemon");
    let out = env.run(&["unmount", "--force", mnt]);
    assert!(
        out.status.success(),
        "unmount --force failed: {}",
        stderr(&out)
    );
    assert!(!env.mounted(), "still mounted after --force");
    drop(guard);
}

/// The super options of the mount at `mnt` in /proc/self/mountinfo.
fn super_options(mnt: &Path) -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = mnt.to_string_lossy();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(&*want))
        .expect("mount in mountinfo");
    line.rsplit(' ').next().unwrap_or_default().to_string()
}

#[test]
fn item13_allow_other_is_opt_in() {
    let env = Env::new();
    let guard = env.mount(&[]);
    let opts = super_options(&env.mnt);
    assert!(
        !opts.split(',').any(|o| o == "allow_other"),
        "allow_other without --allow-other: {opts}"
    );
    guard.unmount();
    let guard = env.mount(&["--allow-other"]);
    let opts = super_options(&env.mnt);
    assert!(
        opts.split(',').any(|o| o == "allow_other"),
        "no allow_other with --allow-other: {opts}"
    );
    guard.unmount();
}

/// Item 10: the daemon's own umask keeps its cache private, but what it writes into a local
/// remote's folder (the user's own files) follows the user's umask, as a copy by hand would.
#[test]
fn item10_local_remote_files_follow_the_users_umask() {
    let env = Env::new();
    let run_dir = env.dir.path().join("run");
    let out = run_with_umask(
        &env,
        "022",
        &format!("mount demo: '{}' --write-back 0s", env.mnt.display()),
        &[("OURCLONE_FS_RUNTIME_DIR", &run_dir)],
    );
    assert!(out.status.success(), "mount failed: {}", stderr(&out));
    let guard = env.adopt_mount();
    sh(&format!(
        "mkdir {0}/docs && echo hi > {0}/docs/note.txt",
        env.mnt.display()
    ));
    wait_uploaded(&env, Duration::from_secs(30));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&env.cloud.join("docs")),
        0o755,
        "folder in the user's folder"
    );
    assert_eq!(
        mode(&env.cloud.join("docs/note.txt")),
        0o644,
        "file in the user's folder"
    );
    guard.unmount();
}
