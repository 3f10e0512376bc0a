//! Living with a mount (issue 13): fstab lines and `mount -t ourclone-fs` through the installed
//! mount(8) helper, `umount` draining first; systemd readiness (READY=1 only once the mount
//! answers, STOPPING=1, SIGTERM drains); SIGHUP marks listings stale; service units that
//! `systemd-analyze verify` accepts and launchd plists that parse.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Installs the helpers into /sbin for the test and removes them after, even on panic.
struct Helpers;

impl Helpers {
    fn install(env: &Env) -> Self {
        let out = env.run(&["install"]);
        assert!(out.status.success(), "install: {}", stderr(&out));
        let again = env.run(&["install"]);
        assert!(again.status.success(), "install twice: {}", stderr(&again));
        assert!(
            stdout(&again).contains("already links"),
            "{}",
            stdout(&again)
        );
        Helpers
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        let _ = Command::new(bin()).arg("uninstall").status();
    }
}

fn mount_cmd(env: &Env, program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_remove("XDG_RUNTIME_DIR")
        .env("OURCLONE_FS_CACHE_DIR", &env.cache)
        .env("OURCLONE_FS_CONFIG", &env.config);
    c
}

fn options(env: &Env, extra: &str) -> String {
    format!(
        "config={},cache_dir={},_netdev,nofail,x-systemd.automount{extra}",
        env.config.display(),
        env.cache.display()
    )
}

#[test]
fn fstab_and_mount_t_work_and_umount_drains_first() {
    let env = Env::new();
    let _helpers = Helpers::install(&env);
    // An fstab line, used with mount -T.
    let fstab = env.dir.path().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "demo: {} ourclone-fs {} 0 0\n",
            env.mnt.display(),
            options(&env, ",write_back=1h")
        ),
    )
    .unwrap();
    let out = mount_cmd(&env, "mount")
        .arg("-T")
        .arg(&fstab)
        .arg(&env.mnt)
        .output()
        .unwrap();
    assert!(out.status.success(), "mount -T: {}", stderr(&out));
    let guard = env.adopt_mount();
    assert!(env.mounted());
    std::fs::write(env.mnt.join("from-fstab.txt"), b"hello").unwrap();
    assert!(
        !env.cloud.join("from-fstab.txt").exists(),
        "uploaded before umount"
    );
    let out = mount_cmd(&env, "umount").arg(&env.mnt).output().unwrap();
    assert!(out.status.success(), "umount: {}", stderr(&out));
    guard.disarm();
    assert!(!env.mounted());
    assert_eq!(
        std::fs::read(env.cloud.join("from-fstab.txt")).unwrap(),
        b"hello",
        "umount returned before the pending upload reached the remote"
    );

    // mount -t with -o options; an unknown option is named.
    let out = mount_cmd(&env, "mount")
        .args(["-t", "ourclone-fs", "demo:"])
        .arg(&env.mnt)
        .args(["-o", &options(&env, ",turbo")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown mount option 'turbo'"),
        "{}",
        stderr(&out)
    );
    let out = mount_cmd(&env, "mount")
        .args(["-t", "ourclone-fs", "demo:"])
        .arg(&env.mnt)
        .args(["-o", &options(&env, ",write_back=1h,dir_cache_time=1m")])
        .output()
        .unwrap();
    assert!(out.status.success(), "mount -t: {}", stderr(&out));
    let guard = env.adopt_mount();
    assert_eq!(
        std::fs::read(env.mnt.join("from-fstab.txt")).unwrap(),
        b"hello"
    );
    drop(guard);
    // No secret on any command line: the key stays in the config file.
    let config = std::fs::read_to_string(&env.config).unwrap();
    assert!(!config.is_empty());
}

/// A NOTIFY_SOCKET the test reads, as systemd would.
fn notify_socket(env: &Env) -> (UnixDatagram, std::path::PathBuf) {
    let path = env.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (sock, path)
}

fn next_message(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a notify message within 30 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn systemd_hears_ready_only_once_mounted_and_sigterm_drains() {
    let env = Env::new();
    let (sock, path) = notify_socket(&env);
    let mut child = env
        .cmd()
        .args(["mount", "demo:", env.mnt.to_str().unwrap(), "--foreground"])
        .args(["--write-back", "1h"])
        .env("NOTIFY_SOCKET", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = env.adopt_mount();
    let ready = next_message(&sock);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(env.mounted(), "READY=1 came before the mount answered");
    std::fs::write(env.mnt.join("pending.txt"), b"kept").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let stopping = next_message(&sock);
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "daemon did not exit"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "daemon exit: {status:?}");
    guard.disarm();
    assert!(!env.mounted());
    assert_eq!(
        std::fs::read(env.cloud.join("pending.txt")).unwrap(),
        b"kept",
        "SIGTERM did not upload what was pending"
    );
}

#[test]
fn sighup_makes_cached_listings_refresh() {
    let env = Env::new();
    let m = env.mount(&["--dir-cache-time", "1h"]);
    assert_eq!(std::fs::read_dir(&env.mnt).unwrap().count(), 0);
    std::fs::write(env.cloud.join("from-elsewhere.txt"), b"x").unwrap();
    assert!(
        !env.mnt.join("from-elsewhere.txt").exists(),
        "the listing was not cached: the test proves nothing"
    );
    let pid = env.status()["pid"].as_u64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let seen = wait_for(Duration::from_secs(10), || {
        let names: Vec<_> = std::fs::read_dir(&env.mnt)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.iter().any(|n| n == "from-elsewhere.txt")
    });
    assert!(seen, "SIGHUP did not make the listing refresh");
    m.unmount();
}

#[test]
fn service_units_verify_and_plists_parse() {
    let env = Env::new();
    let home = env.dir.path().join("home");
    let run = |args: &[&str]| {
        env.cmd()
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .args(args)
            .output()
            .unwrap()
    };
    let mp = env.mnt.to_str().unwrap();
    let out = run(&["service", "install", "demo:", mp, "--write-back", "10s"]);
    assert!(out.status.success(), "service install: {}", stderr(&out));
    assert!(
        stdout(&out).contains("systemctl --user"),
        "{}",
        stdout(&out)
    );
    let units: Vec<_> = std::fs::read_dir(home.join(".config/systemd/user"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(units.len(), 1);
    let unit = std::fs::read_to_string(&units[0]).unwrap();
    assert!(
        unit.contains("Type=notify") && unit.contains("\"--write-back\" \"10s\""),
        "{unit}"
    );
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&units[0])
        .output()
        .expect("systemd-analyze (apt install systemd)");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        stderr(&verify)
    );
    let out = run(&["service", "install", "demo:", mp, "--launchd"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plist = std::fs::read_dir(home.join("Library/LaunchAgents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let parsed = sh(&format!(
        "python3 -c 'import plistlib,json,sys; print(json.dumps(plistlib.load(open(sys.argv[1],\"rb\"))))' '{}'",
        plist.display()
    ));
    let v: serde_json::Value = serde_json::from_str(&parsed).unwrap();
    assert!(v["Label"].as_str().unwrap().starts_with("com.ourclone-fs."));
    assert_eq!(v["RunAtLoad"], true);
    let args: Vec<&str> = v["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"mount") && args.contains(&"--foreground") && args.contains(&mp));
    for extra in [&[][..], &["--launchd"][..]] {
        let mut args = vec!["service", "remove", mp];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "remove: {}", stderr(&out));
    }
    assert_eq!(
        std::fs::read_dir(home.join(".config/systemd/user"))
            .unwrap()
            .count(),
        0
    );
    let out = run(&["service", "remove", mp]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn doctor_checks_and_says_what_to_do() {
    let env = Env::new();
    let out = env.run(&["doctor"]);
    let text = stdout(&out);
    assert!(out.status.success(), "doctor: {text}{}", stderr(&out));
    for line in [
        "ok   fuse:",
        "ok   config permissions:",
        "ok   remote demo:",
        "ok   config:",
    ] {
        assert!(text.contains(line), "no '{line}' in:\n{text}");
    }
    let out = env.run(&["doctor", "--json"]);
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(checks
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["verdict"] != "fail"));

    // A config others can read, a remote whose folder is gone, an open cache folder.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_dir_all(&env.cloud).unwrap();
    std::fs::create_dir_all(&env.cache).unwrap();
    std::fs::set_permissions(&env.cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.run(&["doctor"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL config permissions:") && text.contains("chmod 600"),
        "{text}"
    );
    assert!(text.contains("FAIL remote demo:"), "{text}");
    assert!(
        text.contains("FAIL cache:") && text.contains("chmod 700"),
        "{text}"
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    // An unprivileged user: told what to do when /dev/fuse is closed to them.
    let shared = tempfile::Builder::new()
        .prefix("doctor-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = shared.path().join("ourclone-fs");
    std::fs::copy(bin(), &copy).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&copy)
        .arg("doctor")
        .env("HOME", shared.path())
        .env_remove("OURCLONE_FS_CONFIG")
        .env_remove("OURCLONE_FS_CACHE_DIR")
        .output()
        .unwrap();
    let text = stdout(&out);
    let fuse_mode = std::fs::metadata("/dev/fuse").unwrap().permissions().mode();
    if fuse_mode & 0o006 != 0o006 {
        assert!(
            text.contains("FAIL fuse: cannot open /dev/fuse") && text.contains("run as root"),
            "{text}"
        );
        assert_eq!(out.status.code(), Some(1), "{text}");
    } else {
        assert!(text.contains("ok   fuse:"), "{text}");
    }
    assert!(
        text.contains("note config:") && text.contains("remote add"),
        "{text}"
    );
}
