//! The Windows build, run for real under Wine (issue 15): the `ourclone-fs.exe` that
//! scripts/test.sh cross-builds (x86_64-pc-windows-gnu) adds remotes (a good and a refused
//! 1Fichier key, a local folder), copies a tree from a Windows path to 1Fichier (the emulator)
//! and back, checks both sides identical, and serves WebDAV that this Linux side lists, reads
//! and writes; a file PUT to a server that is then killed reaches 1Fichier when the server
//! starts again (the journal's recovery on Windows).
//!
//! Skips, loudly, without Debian's `wine64` or the .exe — unless `OURCLONE_REQUIRE_WINE` is set,
//! as scripts/test.sh does after building them, and then a missing piece fails the test.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use common::{emulator, output_with_stdin, sh, stderr, stdout, wait_for, Env};

const WINE: &str = "/usr/lib/wine/wine64";

/// The Windows binary and a Wine prefix to run it in, with a config and cache of its own.
struct Windows {
    exe: PathBuf,
    prefix: PathBuf,
    home: tempfile::TempDir,
}

impl Windows {
    /// None (after saying why) when Wine or the .exe is missing and they are not required.
    fn find() -> Option<Self> {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
        let exe = target.join("x86_64-pc-windows-gnu/debug/ourclone-fs.exe");
        let shim = target.join("tools/wine/bcryptprimitives.dll");
        let missing: Vec<String> = [
            (WINE, Path::new(WINE)),
            ("the .exe", &exe),
            ("the shim", &shim),
        ]
        .iter()
        .filter(|(_, p)| !p.exists())
        .map(|(what, p)| format!("{what} ({})", p.display()))
        .collect();
        if !missing.is_empty() {
            let why = format!(
                "missing {}; scripts/test.sh installs and builds them",
                missing.join(", ")
            );
            assert!(std::env::var_os("OURCLONE_REQUIRE_WINE").is_none(), "{why}");
            eprintln!("SKIPPED: the Windows build under Wine: {why}");
            return None;
        }
        let prefix = target.join("tools/wineprefix");
        let win = Self {
            exe,
            prefix,
            home: tempfile::Builder::new()
                .prefix("ourclone-wine-")
                .tempdir()
                .unwrap(),
        };
        win.prepare(&shim);
        Some(win)
    }

    /// Makes the prefix (once) and gives it bcryptprimitives.dll, which Rust's std imports
    /// for randomness and Wine 8 lacks (Wine 9 has it): ProcessPrng over BCryptGenRandom.
    fn prepare(&self, shim: &Path) {
        let system32 = self.prefix.join("drive_c/windows/system32");
        if !system32.exists() {
            let out = self.wine(&[OsArg::Plain("wineboot"), OsArg::Plain("--init")]);
            assert!(
                system32.exists(),
                "wineboot made no prefix: {}",
                stderr(&out)
            );
        }
        std::fs::copy(shim, system32.join("bcryptprimitives.dll")).expect("install the shim");
    }

    fn command(&self, args: &[OsArg]) -> Command {
        let mut c = Command::new(WINE);
        c.env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env(
                "OURCLONE_FS_CONFIG",
                windows_path(&self.home.path().join("config.toml")),
            )
            .env(
                "OURCLONE_FS_CACHE_DIR",
                windows_path(&self.home.path().join("cache")),
            );
        match args.first() {
            Some(OsArg::Plain("wineboot")) => {}
            _ => {
                c.arg(&self.exe);
            }
        }
        for a in args {
            match a {
                OsArg::Plain(s) => c.arg(s),
                OsArg::Path(p) => c.arg(windows_path(p)),
            };
        }
        c
    }

    fn wine(&self, args: &[OsArg]) -> Output {
        self.command(args).output().expect("run wine64")
    }

    fn run(&self, args: &[&str]) -> Output {
        let args: Vec<OsArg> = args.iter().map(|a| OsArg::Plain(a)).collect();
        self.wine(&args)
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let args: Vec<OsArg> = args.iter().map(|a| OsArg::Plain(a)).collect();
        output_with_stdin(&mut self.command(&args), input)
    }
}

enum OsArg<'a> {
    Plain(&'a str),
    Path(&'a Path),
}

/// Wine's drive Z: is the Linux root.
fn windows_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// A WebDAV server run by the .exe; killed (SIGKILL) on drop.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(win: &Windows, port: u16, extra: &[&str]) -> Served {
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec![
        OsArg::Plain("serve"),
        OsArg::Plain("webdav"),
        OsArg::Plain("fich:win"),
    ];
    args.extend([OsArg::Plain("--addr"), OsArg::Plain(&addr)]);
    args.extend(extra.iter().map(|a| OsArg::Plain(a)));
    let log = std::fs::File::create(win.home.path().join(format!("serve-{port}.log"))).unwrap();
    let child = win
        .command(&args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start serve webdav under wine");
    let served = Served(child);
    let listening = wait_for(Duration::from_secs(60), || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    let log = std::fs::read_to_string(win.home.path().join(format!("serve-{port}.log")));
    assert!(
        listening,
        "serve webdav under wine never listened on {addr}: {log:?}"
    );
    served
}

/// curl's output, or None when the request failed (HTTP errors included).
fn curl(args: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "20"])
        .args(args)
        .output()
        .ok()?;
    out.status.success().then(|| stdout(&out))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What `fich:win` holds, fetched by the Linux binary with a fresh cache.
fn remote_tree(emu: &emulator::Emulator) -> (Env, PathBuf) {
    let env = Env::new();
    env.add_fichier(emu, "fich", &[]);
    let into = env.dir.path().join("fetched");
    let out = env.run(&["copy", "fich:win", into.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "copy from the emulator: {}",
        stderr(&out)
    );
    (env, into)
}

#[test]
fn windows_exe_adds_remotes_copies_and_serves_webdav_under_wine() {
    let Some(win) = Windows::find() else {
        return;
    };
    let emu = emulator::start(&[]);
    let endpoint = emu.endpoint();
    let src = win.home.path().join("src");
    sh(&format!(
        "mkdir -p '{s}/sub/deeper' && echo hello > '{s}/a.txt' && printf 'ünïcødé\\n' > '{s}/sub/ünï.txt' \
         && head -c 3000000 /dev/urandom > '{s}/sub/deeper/big.bin'",
        s = src.display()
    ));

    // remote add: a good key, a refused key (exit 7, one line), a local folder.
    let add = [
        "remote",
        "add",
        "fich",
        "--type",
        "1fichier",
        "--api-key-stdin",
        "--endpoint",
        &endpoint,
    ];
    let out = win.run_with_stdin(&add, emulator::KEY);
    assert!(
        out.status.success(),
        "remote add under wine: {}",
        stderr(&out)
    );
    let bad = [
        "remote",
        "add",
        "bad",
        "--type",
        "1fichier",
        "--api-key-stdin",
        "--endpoint",
        &endpoint,
    ];
    let out = win.run_with_stdin(&bad, "not-a-key");
    assert_eq!(
        out.status.code(),
        Some(7),
        "a refused key: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
    let out = win.wine(&[
        OsArg::Plain("remote"),
        OsArg::Plain("add"),
        OsArg::Plain("here"),
        OsArg::Plain("--type"),
        OsArg::Plain("local"),
        OsArg::Plain("--path"),
        OsArg::Path(&src),
    ]);
    assert!(out.status.success(), "local remote add: {}", stderr(&out));
    let listed = stdout(&win.run(&["remote", "list"]));
    assert!(
        listed.contains("fich") && listed.contains("here"),
        "{listed}"
    );

    // copy from a Windows path to 1Fichier, check, and back into another folder.
    let copy = |from: OsArg, to: OsArg, verb: &'static str| {
        let out = win.wine(&[OsArg::Plain(verb), from, to]);
        assert!(out.status.success(), "{verb} under wine: {}", stderr(&out));
        stdout(&out)
    };
    let done = copy(OsArg::Path(&src), OsArg::Plain("fich:win"), "copy");
    assert!(
        done.contains("3 done") && done.contains("0 failed"),
        "{done}"
    );
    let checked = copy(OsArg::Path(&src), OsArg::Plain("fich:win"), "check");
    assert!(checked.contains("3 identical, 0 differences"), "{checked}");
    let back = win.home.path().join("back");
    copy(OsArg::Plain("fich:win"), OsArg::Path(&back), "copy");
    sh(&format!("diff -r '{}' '{}'", src.display(), back.display()));

    // serve webdav: this side lists, reads and writes through it.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let served = serve(&win, port, &["--write-back", "10m"]);
    let log = win.home.path().join(format!("serve-{port}.log"));
    let hint = format!("net use X: {url}/");
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(10), || said().contains(&hint)),
        "no drive-mapping hint: {}",
        said()
    );
    let listing =
        curl(&["-X", "PROPFIND", "-H", "Depth: 1", &format!("{url}/")]).expect("PROPFIND");
    assert!(
        listing.contains("a.txt") && listing.contains("sub"),
        "{listing}"
    );
    assert_eq!(curl(&[&format!("{url}/a.txt")]).as_deref(), Some("hello\n"));
    let put = win.home.path().join("put.txt");
    std::fs::write(&put, "written over WebDAV, then the server was killed\n").unwrap();
    curl(&["-T", put.to_str().unwrap(), &format!("{url}/put.txt")]).expect("PUT");
    // Killed before its write-back delay: only the journal holds the file.
    drop(served);

    // Started again, it recovers the journal and uploads what the PUT acknowledged.
    let _served = serve(&win, port, &["--write-back", "1s"]);
    let mut fetched = None;
    let arrived = wait_for(Duration::from_secs(90), || {
        let (env, into) = remote_tree(&emu);
        let here = into.join("put.txt").exists();
        fetched = Some((env, into));
        here
    });
    assert!(
        arrived,
        "the PUT acknowledged before the kill never reached 1Fichier"
    );
    let (_env, into) = fetched.unwrap();
    sh(&format!(
        "cmp '{}' '{}'",
        put.display(),
        into.join("put.txt").display()
    ));
}
