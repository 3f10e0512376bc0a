//! Test harness for end-to-end tests: a private config, cache, "cloud" folder and mount point
//! per test, the real `ourclone-fs` binary, and a guard that always unmounts, even on panic.
#![allow(dead_code)]

pub mod emulator;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub cache: PathBuf,
    pub cloud: PathBuf,
    pub mnt: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ourclone-fs")
}

impl Env {
    /// A fresh environment with a local remote named `demo` over `cloud/`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ourclone-e2e-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().to_path_buf();
        let env = Self {
            config: root.join("config.toml"),
            cache: root.join("cache"),
            cloud: root.join("cloud"),
            mnt: root.join("mnt"),
            dir,
        };
        std::fs::create_dir_all(&env.cloud).unwrap();
        std::fs::create_dir_all(&env.mnt).unwrap();
        let out = env.run(&[
            "remote",
            "add",
            "demo",
            "--type",
            "local",
            "--path",
            env.cloud.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "remote add failed: {}", stderr(&out));
        env
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.env("OURCLONE_FS_CONFIG", &self.config)
            .env("OURCLONE_FS_CACHE_DIR", &self.cache)
            .env_remove("XDG_RUNTIME_DIR");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run ourclone-fs")
    }

    /// Mounts `demo:` with the given extra flags and returns a guard that unmounts on drop.
    pub fn mount(&self, extra: &[&str]) -> MountGuard<'_> {
        self.mount_source("demo:", extra)
    }

    /// Mounts `source` (REMOTE:PATH) with the given extra flags; unmounts on drop.
    pub fn mount_source(&self, source: &str, extra: &[&str]) -> MountGuard<'_> {
        let mut args = vec!["mount", source, self.mnt.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        assert!(out.status.success(), "mount failed: {}", stderr(&out));
        MountGuard {
            env: self,
            active: true,
        }
    }

    /// A guard for a mount this test made itself (e.g. through a shell); unmounts on drop.
    pub fn adopt_mount(&self) -> MountGuard<'_> {
        MountGuard {
            env: self,
            active: true,
        }
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", self.mnt.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "status failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("status json")
    }

    /// Adds a 1fichier remote named `name` on `emu` (key [`emulator::KEY`]) to the config.
    pub fn add_fichier(&self, emu: &emulator::Emulator, name: &str, extra: &[&str]) {
        let endpoint = emu.endpoint();
        let mut args = vec![
            "remote",
            "add",
            name,
            "--type",
            "1fichier",
            "--endpoint",
            &endpoint,
            "--api-key-stdin",
        ];
        args.extend_from_slice(extra);
        let out = output_with_stdin(self.cmd().args(&args), emulator::KEY);
        assert!(out.status.success(), "remote add: {}", stderr(&out));
    }

    /// The state folder of the (only) mount made from this environment's cache.
    pub fn state_dir(&self) -> PathBuf {
        std::fs::read_dir(self.cache.join("mounts"))
            .expect("a mounts folder")
            .next()
            .expect("a mount's state folder")
            .expect("readable")
            .path()
    }

    /// Waits until the mount has nothing pending; false on timeout.
    pub fn drained(&self, timeout: Duration) -> bool {
        wait_for(timeout, || self.status()["pending_files"] == 0)
    }

    pub fn mounted(&self) -> bool {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let want = self.mnt.to_string_lossy().to_string();
        info.lines()
            .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
    }
}

pub struct MountGuard<'a> {
    env: &'a Env,
    active: bool,
}

impl MountGuard<'_> {
    /// Unmounts cleanly (draining uploads) and checks it worked.
    pub fn unmount(mut self) -> Output {
        self.active = false;
        let out = self.env.run(&["unmount", self.env.mnt.to_str().unwrap()]);
        assert!(out.status.success(), "unmount failed: {}", stderr(&out));
        assert!(!self.env.mounted(), "still mounted after unmount");
        out
    }

    /// Unmounts with --lazy (pending uploads stay in the journal).
    pub fn unmount_lazy(mut self) -> Output {
        self.active = false;
        let out = self
            .env
            .run(&["unmount", "--lazy", self.env.mnt.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "unmount --lazy failed: {}",
            stderr(&out)
        );
        assert!(!self.env.mounted(), "still mounted after unmount --lazy");
        out
    }

    /// Forgets the mount without unmounting (the caller killed the daemon).
    pub fn disarm(mut self) {
        self.active = false;
    }
}

impl Drop for MountGuard<'_> {
    fn drop(&mut self) {
        if self.active {
            let mnt = self.env.mnt.to_str().unwrap();
            let _ = self.env.run(&["unmount", "--lazy", mnt]);
            if self.env.mounted() {
                let _ = Command::new("fusermount3").args(["-uz", mnt]).status();
                let _ = Command::new("umount").args(["-l", mnt]).status();
            }
        }
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a shell command and asserts it succeeded; returns stdout.
pub fn sh(script: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "`{script}` failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Runs `cmd` with `input` on its stdin (secrets for `--*-stdin`) and collects its output.
pub fn output_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the command");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for the command")
}

/// Waits until `f` holds or the timeout passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// A listing of a tree with type, mode, size, mtime (seconds) and link target, for comparing
/// two trees' metadata.
pub fn tree_listing(root: &Path) -> String {
    sh(&format!(
        "cd '{}' && find . -mindepth 1 -printf '%p %y %m %s %T@ %l\\n' | sed -E 's/ ([0-9]+)\\.[0-9]+ / \\1 /' | LC_ALL=C sort",
        root.display()
    ))
    .lines()
    .map(|l| {
        // Folder sizes differ between file systems by design; drop them for folders.
        let mut f: Vec<&str> = l.split(' ').collect();
        if f.get(1) == Some(&"d") {
            f[3] = "-";
        }
        f.join(" ")
    })
    .collect::<Vec<_>>()
    .join("\n")
}

/// Runs the command and returns its stdout, failing the test (with stderr) if it failed.
pub fn ok(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}
