//! copy, move, sync and check through the real binary (issue 11): local ↔ 1Fichier (the
//! emulator, rate-limited), 1Fichier → 1Fichier server-side, local → a path on a mount (the job
//! runs in the daemon), the task log, the guards, and SIGKILL half-way.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::emulator::{self, Emulator};
use common::*;

fn stat(emu: &Emulator, key: &str) -> u64 {
    emu.stats()[key].as_u64().unwrap_or_else(|| panic!("{key}"))
}

/// A tree with nested and empty folders, empty files, unicode and 1Fichier-hostile names, a
/// symlink, and `n` small files spread over 10 folders: `n` + 6 files and links.
fn make_tree(root: &Path, n: usize) {
    sh(&format!(
        "set -e; cd '{r}'; mkdir -p 'a/b/c' 'empty dir' 'ünï cødé' 'x'; \
         : > a/zero; printf 'hello' > 'ünï cødé/naïve.txt'; \
         printf 'odd' > 'x/we<ird> \"name\"?*.txt'; printf '%%s' '  lead' > 'x/ trailing '; \
         ln -s ../a/zero x/link; head -c 3000000 /dev/urandom > a/b/c/big.bin",
        r = root.display()
    ));
    for i in 0..n {
        let dir = root.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(i % 7),
        )
        .unwrap();
    }
}

/// Path, kind, mode, and for files size and mtime (to the second), for links the target:
/// folder and link times are not carried over, files' are.
fn listing(root: &Path) -> String {
    sh(&format!(
        "cd '{}' && find . -mindepth 1 -printf '%p\\t%y\\t%m\\t%s\\t%T@\\t%l\\n' | LC_ALL=C sort",
        root.display()
    ))
    .lines()
    .map(|l| {
        let mut f: Vec<String> = l.split('\t').map(str::to_string).collect();
        match f[1].as_str() {
            "d" => (f[3], f[4]) = ("-".into(), "-".into()),
            "l" => f[4] = "-".into(),
            _ => f[4] = f[4].split('.').next().unwrap_or("").into(),
        }
        f.join(" ")
    })
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn local_to_1fichier_and_back_with_few_calls_and_nothing_twice() {
    let emu = emulator::start(&["--rate-limit", "2/s", "--flood-lock", "1s"]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let src = env.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let n = 200;
    make_tree(&src, n);
    let s = src.to_str().unwrap();

    let before = stat(&emu, "total_api_calls");
    ok(&env, &["copy", s, "fichier:backup/docs"]);
    let calls = stat(&emu, "total_api_calls") - before;
    let per_file = calls as f64 / (n + 6) as f64;
    eprintln!(
        "local → 1Fichier: {calls} API calls for {} files ({per_file:.3} per file)",
        n + 6
    );
    // Per folder: its mkdir, one upload-server call, one listing and one check, whatever the
    // number of files in it (the benchmark's 50 files per folder come to under 0.1 per file).
    assert!(per_file <= 0.3, "{per_file:.3} calls per file");
    assert_eq!(emu.stats()["throttled"], 0, "{}", emu.stats());

    // Unchanged: nothing uploaded or downloaded, and the cache is fresh: no call at all.
    let (up, down, calls) = (
        stat(&emu, "files_uploaded"),
        stat(&emu, "bytes_out"),
        stat(&emu, "total_api_calls"),
    );
    let out = ok(&env, &["copy", s, "fichier:backup/docs"]);
    assert!(out.contains(" 0 done, "), "{out}");
    assert_eq!(stat(&emu, "files_uploaded"), up);
    assert_eq!(stat(&emu, "bytes_out"), down);
    assert_eq!(
        stat(&emu, "total_api_calls"),
        calls,
        "a fresh cache needs no call"
    );
    let out = ok(&env, &["check", s, "fichier:backup/docs"]);
    assert!(out.contains(" 0 differences"), "{out}");

    // Back to a local folder: the same tree, times and link included.
    let back = env.dir.path().join("back");
    ok(
        &env,
        &["copy", "fichier:backup/docs", back.to_str().unwrap()],
    );
    assert_eq!(listing(&back), listing(&src));
    sh(&format!(
        "diff -r --no-dereference '{s}' '{}'",
        back.display()
    ));

    // 1Fichier → 1Fichier, same account: server-side, no byte downloaded.
    let down = stat(&emu, "bytes_out");
    let up_bytes = stat(&emu, "bytes_in");
    ok(&env, &["copy", "fichier:backup/docs/d3", "fichier:copy2"]);
    assert_eq!(stat(&emu, "bytes_out"), down, "server-side copy downloaded");
    // Only the symlink (an object of its own holding its target) is uploaded.
    assert!(
        stat(&emu, "bytes_in") - up_bytes < 100,
        "server-side copy uploaded"
    );
    let cp = emu.stats()["calls"]["file/cp"].as_u64().unwrap();
    assert!(
        (20..=22).contains(&cp),
        "one file/cp per file (a throttled one retried): {cp}"
    );
    let d3 = src.join("d3");
    let out = ok(
        &env,
        &["check", d3.to_str().unwrap(), "fichier:copy2", "--checksum"],
    );
    assert!(out.contains(" 0 differences"), "{out}");
    // Hashes known or computed once are never fetched again.
    let down = stat(&emu, "bytes_out");
    let out = ok(&env, &["check", s, "fichier:backup/docs", "--checksum"]);
    assert!(out.contains(" 0 differences"), "{out}");
    assert_eq!(stat(&emu, "bytes_out"), down, "check --checksum downloaded");

    // The task log tells each job; `jobs show` lists every file.
    let out = ok(&env, &["jobs", "--json"]);
    let jobs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 7, "{jobs:?}");
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:?}");
    let first = jobs[0]["id"].as_u64().unwrap().to_string();
    let shown = ok(&env, &["jobs", "show", &first, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["records"].as_array().unwrap().len(), n + 6, "{shown}");
    assert!(ok(&env, &["jobs"]).contains("fichier:backup/docs"));
}

#[test]
fn a_copy_killed_half_way_resumes_and_move_never_loses_a_file() {
    let emu = emulator::start(&["--latency", "30"]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let src = env.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, 300);
    let s = src.to_str().unwrap();

    let mut child = env
        .cmd()
        .args(["copy", s, "fichier:dst"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the first files are confirmed in the cloud.
    let log = env.cache.join("tasks/1.jsonl");
    let started = wait_for(Duration::from_secs(120), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("\"completed\""))
    });
    assert!(started, "no file completed");
    child.kill().unwrap();
    child.wait().unwrap();
    let jobs = ok(&env, &["jobs", "--json"]);
    let jobs: serde_json::Value = serde_json::from_str(&jobs).unwrap();
    assert_eq!(jobs[0]["state"], "interrupted", "{jobs}");
    let first = jobs[0]["completed"].as_u64().unwrap();
    ok(&env, &["copy", s, "fichier:dst"]);
    let jobs = ok(&env, &["jobs", "--json"]);
    let jobs: serde_json::Value = serde_json::from_str(&jobs).unwrap();
    let second = jobs[1]["completed"].as_u64().unwrap();
    assert!(
        first > 0 && first + second <= 306,
        "the rerun copied again what was done: {first} + {second}"
    );
    let out = ok(&env, &["check", s, "fichier:dst", "--checksum"]);
    assert!(out.contains(" 0 differences"), "{out}");
    // No partial file under its final name, and no temporary one left on the remote.
    // 300 + 5 files and a link.
    let names = ok(&env, &["du", "fichier:dst", "--json"]);
    assert!(names.contains("\"files\":306"), "{names}");

    // move, killed half-way: every file is in one place or the other (or both), never neither.
    let all: Vec<String> = sh(&format!("cd '{s}' && find . -type f -o -type l | sort"))
        .lines()
        .map(str::to_string)
        .collect();
    let mut child = env
        .cmd()
        .args(["move", s, "fichier:moved"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3000));
    child.kill().unwrap();
    child.wait().unwrap();
    let there = env.dir.path().join("moved-view");
    ok(&env, &["copy", "fichier:moved", there.to_str().unwrap()]);
    for f in &all {
        let here = src.join(f).symlink_metadata().is_ok();
        let moved = there.join(f).symlink_metadata().is_ok();
        assert!(here || moved, "{f} is in neither place");
    }
    ok(&env, &["move", s, "fichier:moved"]);
    let left = sh(&format!("find '{s}' -type f -o -type l | wc -l"));
    assert_eq!(left.trim(), "0", "move left source files");
    let out = ok(&env, &["check", there.to_str().unwrap(), "fichier:moved"]);
    assert!(out.contains(" 0 differences"), "{out}");
}

#[test]
fn faults_are_retried_and_show_as_completed() {
    let emu = emulator::start(&["--fault-rate", "0.1"]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let src = env.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, 100);
    let out = ok(
        &env,
        &["copy", src.to_str().unwrap(), "fichier:f", "--json"],
    );
    assert!(out.contains("\"failed\":0"), "{out}");
    assert!(stat(&emu, "faults") > 0, "no fault was injected");
    let out = ok(
        &env,
        &["check", src.to_str().unwrap(), "fichier:f", "--checksum"],
    );
    assert!(out.contains(" 0 differences"), "{out}");
}

/// A digest of a tree: names, kinds, sizes, times and contents.
fn digest(root: &Path) -> String {
    sh(&format!(
        "cd '{}' && (find . -printf '%p %y %s %T@\\n' | LC_ALL=C sort; find . -type f -exec sha256sum {{}} + | LC_ALL=C sort) | sha256sum",
        root.display()
    ))
}

#[test]
fn sync_guards_dry_run_and_backup_dir() {
    let env = Env::new();
    let src = env.dir.path().join("src");
    let dst = env.dir.path().join("dst");
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, 20);
    let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
    ok(&env, &["sync", s, d]);
    assert_eq!(listing(&src), listing(&dst));

    // --dry-run changes nothing and says what it would do.
    std::fs::write(src.join("new.txt"), "new").unwrap();
    std::fs::write(src.join("d1/f1.txt"), "changed!").unwrap();
    std::fs::remove_file(src.join("d2/f2.txt")).unwrap();
    let before = digest(&dst);
    let out = ok(&env, &["sync", "--dry-run", s, d]);
    assert!(out.contains("copy    new.txt  (new file)"), "{out}");
    assert!(out.contains("update  d1/f1.txt  (size differs)"), "{out}");
    assert!(
        out.contains("delete  d2/f2.txt  (not in the source)"),
        "{out}"
    );
    assert_eq!(digest(&dst), before, "--dry-run changed the destination");

    // --backup-dir keeps what sync replaces and deletes.
    let bak = env.dir.path().join("bak");
    ok(&env, &["sync", s, d, "--backup-dir", bak.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(dst.join("d1/f1.txt")).unwrap(),
        "changed!"
    );
    assert_eq!(
        std::fs::read_to_string(bak.join("d1/f1.txt")).unwrap(),
        "file 1\n"
    );
    assert!(bak.join("d2/f2.txt").exists());
    assert!(!dst.join("d2/f2.txt").exists());

    // An empty source is refused; so is deleting more than --max-delete allows.
    let empty = env.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let before = digest(&dst);
    let out = env.run(&["sync", empty.to_str().unwrap(), d]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the source is empty"),
        "{}",
        stderr(&out)
    );
    sh(&format!("cd '{s}' && rm -rf d3 d4 d5"));
    let out = env.run(&["sync", s, d, "--max-delete", "5"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than --max-delete 5 allows"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        digest(&dst),
        before,
        "a refused sync changed the destination"
    );
    ok(&env, &["sync", s, d, "--max-delete", "5", "--force"]);
    assert_eq!(listing(&src), listing(&dst));

    // Filters: only what they admit is copied.
    let only = env.dir.path().join("only");
    ok(
        &env,
        &[
            "copy",
            s,
            only.to_str().unwrap(),
            "--include",
            "*.txt",
            "--exclude",
            "d1/",
            "--max-size",
            "20",
        ],
    );
    let got = sh(&format!(
        "cd '{}' && find . -type f | LC_ALL=C sort",
        only.display()
    ));
    assert!(!got.contains("big.bin") && !got.contains("./d1/"), "{got}");
    assert!(
        got.contains("./new.txt") && got.contains("./d0/f0.txt"),
        "{got}"
    );
    assert!(!got.contains("./d6/f6.txt"), "f6 is 42 bytes: {got}");

    // A local remote is a folder: `lr:sub` is read and written directly.
    let cloud = env.dir.path().join("local-cloud");
    std::fs::create_dir(&cloud).unwrap();
    ok(
        &env,
        &[
            "remote",
            "add",
            "lr",
            "--type",
            "local",
            "--path",
            cloud.to_str().unwrap(),
        ],
    );
    ok(&env, &["copy", s, "lr:sub/dir"]);
    assert_eq!(listing(&src), listing(&cloud.join("sub/dir")));

    // check lists differences and exits 3; bad input is one line with exit 2.
    std::fs::write(dst.join("d0/f0.txt"), "other").unwrap();
    let out = env.run(&["check", s, d]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("size differs: d0/f0.txt"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["copy", "/no/such/dir", d]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let out = env.run(&["sync", s, d, "--max-delete", "lots"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_copy_to_a_mount_runs_inside_its_daemon() {
    let emu = emulator::start(&[]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let _m = env.mount_source("fichier:", &["--write-back", "0s"]);
    let src = env.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, 30);
    let dst = env.mnt.join("in/mount");
    ok(
        &env,
        &["copy", src.to_str().unwrap(), dst.to_str().unwrap()],
    );
    let out = ok(&env, &["jobs", env.mnt.to_str().unwrap(), "--json"]);
    assert!(
        out.contains("\"kind\":\"copy\""),
        "the daemon did not run it: {out}"
    );
    // What the job reported done is in the cloud already.
    let st = env.status();
    assert_eq!(st["pending_files"], 0, "{st}");
    assert_eq!(listing(&src), listing(&dst));
    let out = ok(
        &env,
        &[
            "check",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--checksum",
        ],
    );
    assert!(out.contains(" 0 differences"), "{out}");
}

#[test]
fn a_200_mib_file_streams_with_bounded_memory() {
    let emu = emulator::start(&[]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let src = env.dir.path().join("big");
    std::fs::create_dir(&src).unwrap();
    sh(&format!(
        "head -c 209715200 /dev/urandom > '{}/blob'",
        src.display()
    ));
    ok(&env, &["copy", src.to_str().unwrap(), "fichier:big"]);
    let back = env.dir.path().join("back");
    ok(&env, &["copy", "fichier:big", back.to_str().unwrap()]);
    sh(&format!(
        "cmp '{}/blob' '{}/blob'",
        src.display(),
        back.display()
    ));
    // The largest resident set of any command this test ran (the emulator runs in-process).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    let peak_mib = usage.ru_maxrss / 1024;
    eprintln!("peak RSS of a 200 MiB copy each way: {peak_mib} MiB");
    assert!(peak_mib < 160, "peak RSS {peak_mib} MiB for a 200 MiB file");
}

#[test]
fn ctrl_c_cancels_a_job_and_its_log_says_so() {
    let emu = emulator::start(&["--latency", "300"]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let src = env.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, 40);
    let child = env
        .cmd()
        .args(["copy", src.to_str().unwrap(), "fichier:dst"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let jobs = ok(&env, &["jobs", "--json"]);
    let jobs: serde_json::Value = serde_json::from_str(&jobs).unwrap();
    assert_eq!(jobs[0]["state"], "cancelled", "{jobs}");
}
