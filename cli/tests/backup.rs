//! Backup through the real binary (issue 12): `repo init`, `backup`, `snapshots`, `restore`,
//! `repo check` on a local repository and on a 1Fichier (emulator) repository; an unchanged
//! re-backup reads nothing; a flipped byte is named by check (exit 9); a wrong password is
//! refused (exit 8); 10,000 files / 566 MB into a repository on a 1Fichier mount (the job runs
//! in the daemon) and a local one; two backups at once; SIGKILL half-way, then a rerun.

mod common;

use common::*;

fn tree(root: &std::path::Path) {
    sh(&format!(
        "set -e; mkdir -p '{r}/a/b' '{r}/empty' '{r}/ünï'; cd '{r}'; head -c 3000000 /dev/urandom > a/big; \
         seq 1 20000 > a/b/text; : > zero; printf x > 'ünï/naïve'; ln -s a/big link; chmod 640 a/b/text; \
         for i in $(seq 1 30); do echo $i > a/f$i; done",
        r = root.display()
    ));
}

fn same(a: &std::path::Path, b: &std::path::Path) {
    let l = |r: &std::path::Path| {
        sh(&format!(
            "cd '{}' && (find . -type f -printf '%p %m %s %T@\\n'; find . -type l -printf '%p -> %l\\n') | LC_ALL=C sort",
            r.display()
        ))
    };
    assert_eq!(l(a), l(b));
    sh(&format!(
        "diff -r --no-dereference '{}' '{}'",
        a.display(),
        b.display()
    ));
}

#[test]
fn backup_restore_check_on_a_local_repository() {
    let env = Env::new();
    let src = env.dir.path().join("docs");
    tree(&src);
    let pw = env.dir.path().join("pw");
    std::fs::write(&pw, "correct horse\n").unwrap();
    let repo = env.dir.path().join("repo");
    let (r, p) = (repo.to_str().unwrap(), pw.to_str().unwrap());
    ok(
        &env,
        &[
            "repo",
            "init",
            "--repo",
            r,
            "--password-file",
            p,
            "--name",
            "docs",
        ],
    );
    let out = ok(&env, &["repo", "list"]);
    assert!(
        out.starts_with("docs  ") && out.contains(" 0 snapshots"),
        "{out}"
    );
    let out = ok(
        &env,
        &[
            "backup",
            src.to_str().unwrap(),
            "--repo",
            r,
            "--password-file",
            p,
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["summary"]["files_new"], 34, "{v}");
    let out = ok(
        &env,
        &[
            "backup",
            src.to_str().unwrap(),
            "--repo",
            r,
            "--password-file",
            p,
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        (
            v["summary"]["files_unchanged"].as_u64(),
            v["summary"]["bytes_read"].as_u64()
        ),
        (Some(34), Some(0)),
        "{v}"
    );
    let out = ok(&env, &["snapshots", "--repo", "docs", "--password-file", p]);
    assert_eq!(out.lines().count(), 2, "{out}");

    let target = env.dir.path().join("restored");
    ok(
        &env,
        &[
            "restore",
            "latest",
            "--repo",
            r,
            "--password-file",
            p,
            "--target",
            target.to_str().unwrap(),
        ],
    );
    same(&src, &target.join("docs"));
    let out = ok(
        &env,
        &[
            "repo",
            "check",
            "--repo",
            r,
            "--password-file",
            p,
            "--read-data",
        ],
    );
    assert!(out.contains("no problems found"), "{out}");

    // A second password, then the first changed: both work, the old one no longer.
    let pw2 = env.dir.path().join("pw2");
    std::fs::write(&pw2, "second\n").unwrap();
    let p2 = pw2.to_str().unwrap();
    ok(
        &env,
        &[
            "repo",
            "key",
            "add",
            "--repo",
            r,
            "--password-file",
            p,
            "--new-password-file",
            p2,
        ],
    );
    let out = ok(
        &env,
        &["repo", "key", "list", "--repo", r, "--password-file", p2],
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    let pw3 = env.dir.path().join("pw3");
    std::fs::write(&pw3, "third\n").unwrap();
    ok(
        &env,
        &[
            "repo",
            "key",
            "passwd",
            "--repo",
            r,
            "--password-file",
            p2,
            "--new-password-file",
            pw3.to_str().unwrap(),
        ],
    );
    assert_eq!(
        env.run(&["snapshots", "--repo", r, "--password-file", p2])
            .status
            .code(),
        Some(8)
    );
    ok(
        &env,
        &[
            "snapshots",
            "--repo",
            r,
            "--password-file",
            pw3.to_str().unwrap(),
        ],
    );
    ok(&env, &["snapshots", "--repo", r, "--password-file", p]);

    // Wrong password: one line, exit 8.
    std::fs::write(&pw, "wrong\n").unwrap();
    let out = env.run(&["snapshots", "--repo", r, "--password-file", p]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
    std::fs::write(&pw, "correct horse\n").unwrap();

    // --exclude and --exclude-file leave paths out.
    let ex = env.dir.path().join("ex");
    std::fs::write(&ex, "# comment\n*.skip\n").unwrap();
    std::fs::write(src.join("a/x.skip"), "no").unwrap();
    let out = ok(
        &env,
        &[
            "backup",
            src.to_str().unwrap(),
            "--repo",
            r,
            "--password-file",
            p,
            "--exclude-file",
            ex.to_str().unwrap(),
            "--exclude",
            "empty/",
        ],
    );
    assert!(out.contains("snapshot "), "{out}");
    let out = ok(&env, &["ls", "latest", "--repo", r, "--password-file", p]);
    assert!(
        !out.contains("x.skip") && !out.contains("docs/empty") && out.contains("docs/zero"),
        "{out}"
    );

    // One flipped byte in a pack: named by check, exit 9.
    let pack = sh(&format!("find '{r}/data' -type f -size +1M | head -1"));
    let pack = pack.trim();
    sh(&format!(
        "printf '\\377' | dd of='{pack}' bs=1 seek=1000 count=1 conv=notrunc 2>/dev/null"
    ));
    let out = env.run(&[
        "repo",
        "check",
        "--repo",
        r,
        "--password-file",
        p,
        "--read-data",
    ]);
    assert_eq!(out.status.code(), Some(9), "{}", stdout(&out));
    let name = std::path::Path::new(pack)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(stdout(&out).contains(&name), "{}", stdout(&out));
    // Not a repository: one clear line.
    let out = env.run(&[
        "snapshots",
        "--repo",
        env.dir.path().to_str().unwrap(),
        "--password-file",
        p,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no repository here"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn backup_to_1fichier_and_restore() {
    let emu = emulator::start(&[]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let src = env.dir.path().join("docs");
    tree(&src);
    let cmd = |args: &[&str]| {
        let out = env
            .cmd()
            .args(args)
            .env("OURCLONE_PASSWORD", "pw")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    cmd(&["repo", "init", "--repo", "fichier:backups/repo"]);
    cmd(&[
        "backup",
        src.to_str().unwrap(),
        "--repo",
        "fichier:backups/repo",
    ]);
    let target = env.dir.path().join("restored");
    cmd(&[
        "restore",
        "latest",
        "--repo",
        "fichier:backups/repo",
        "--target",
        target.to_str().unwrap(),
    ]);
    same(&src, &target.join("docs"));
    let out = cmd(&[
        "repo",
        "check",
        "--repo",
        "fichier:backups/repo",
        "--read-data",
    ]);
    assert!(out.contains("no problems found"), "{out}");
}

#[test]
fn a_backup_killed_half_way_resumes_without_storing_packs_again() {
    let env = Env::new();
    let src = env.dir.path().join("big");
    std::fs::create_dir(&src).unwrap();
    for i in 0..12 {
        sh(&format!(
            "head -c 16000000 /dev/urandom > '{}/f{i}'",
            src.display()
        ));
    }
    let repo = env.dir.path().join("repo");
    let r = repo.to_str().unwrap();
    let run = |args: &[&str]| {
        env.cmd()
            .args(args)
            .env("OURCLONE_PASSWORD", "pw")
            .output()
            .unwrap()
    };
    assert!(run(&["repo", "init", "--repo", r]).status.success());
    let mut child = env
        .cmd()
        .args(["backup", src.to_str().unwrap(), "--repo", r])
        .env("OURCLONE_PASSWORD", "pw")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let indexed = wait_for(std::time::Duration::from_secs(120), || {
        std::fs::read_dir(repo.join("index")).is_ok_and(|d| d.count() > 0)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(indexed, "no index file was written");
    let out = run(&["backup", src.to_str().unwrap(), "--repo", r, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = summary(&out);
    let added = v["summary"]["bytes_added"].as_u64().unwrap();
    assert!(
        added < 150_000_000,
        "the rerun stored {added} bytes of 192,000,000 again"
    );
    let target = env.dir.path().join("restored");
    let out = run(&[
        "restore",
        "latest",
        "--repo",
        r,
        "--target",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    sh(&format!(
        "diff -r '{}' '{}/big'",
        src.display(),
        target.display()
    ));
    let out = run(&["repo", "check", "--repo", r, "--read-data"]);
    assert!(out.status.success(), "{}", stdout(&out));
}

/// A tree of `files` files of mixed sizes (`big` of them 5 MiB, the rest up to 8 KiB, half
/// random and half text, some empty), symlinks, empty folders and unicode names.
fn big_tree(root: &std::path::Path, files: usize, big: usize) {
    sh(&format!(
        "python3 - '{}' {files} {big} <<'PY'
import os, random, sys
root, n, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(5)
for i in range(n):
    d = os.path.join(root, f'd{{i % 40}}', 'ünï' if i % 3 == 0 else 'plain', f'e{{i % 7}}')
    os.makedirs(d, exist_ok=True)
    size = 5 << 20 if i < big else (0 if i % 50 == 0 else random.randint(1, 8192))
    data = os.urandom(size) if i % 2 == 0 else (b'line %d of a text file\\n' % i * (size // 20 + 1))[:size]
    with open(os.path.join(d, f'fïle {{i}}.bin'), 'wb') as f:
        f.write(data)
    if i % 500 == 0:
        os.symlink(f'fïle {{i}}.bin', os.path.join(d, f'link {{i}}'))
        os.makedirs(os.path.join(root, f'empty {{i}}', 'deeper'), exist_ok=True)
PY",
        root.display()
    ));
}

/// The summary: the last of a `--json` job's lines (each task record comes before it).
fn summary(out: &std::process::Output) -> serde_json::Value {
    let text = stdout(out);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap()
}

#[test]
fn a_big_tree_on_a_1fichier_mount_and_locally() {
    let emu = common::emulator::start(&["--rate-limit", "2/s", "--flood-lock", "1s"]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let src = env.dir.path().join("src");
    big_tree(&src, 10_000, 100);
    let total = sh(&format!(
        "du -sb --apparent-size '{}' | cut -f1",
        src.display()
    ));
    let total: u64 = total.trim().parse().unwrap();
    assert!(total > 500 << 20, "{total} bytes");
    let mount = env.mount_source("fichier:", &[]);
    let repo = env.mnt.join("backups");
    let r = repo.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = env
            .cmd()
            .args(args)
            .env("OURCLONE_PASSWORD", "pw")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    };
    let calls = || emu.stats()["total_api_calls"].as_u64().unwrap();
    run(&["repo", "init", "--repo", r]);
    let before = calls();
    let out = run(&["backup", src.to_str().unwrap(), "--repo", r, "--json"]);
    let v = summary(&out);
    assert_eq!(v["summary"]["files_new"], 10_000, "{v}");
    let used = calls() - before;
    eprintln!(
        "first backup of {total} bytes: {used} API calls ({:.0} per GiB)",
        used as f64 / (total as f64 / f64::from(1 << 30))
    );
    // It ran inside the mount's daemon (its jobs list it), and the snapshot is on 1Fichier.
    let jobs = stdout(&run(&["jobs", env.mnt.to_str().unwrap(), "--json"]));
    assert!(jobs.contains("\"kind\":\"backup\""), "{jobs}");
    assert_eq!(emu.stats()["throttled"], 0, "{}", emu.stats());

    // Unchanged: nothing read, at most 5 calls.
    let before = calls();
    let out = run(&["backup", src.to_str().unwrap(), "--repo", r, "--json"]);
    let v = summary(&out);
    assert_eq!(v["summary"]["bytes_read"], 0, "{v}");
    let used = calls() - before;
    assert!(used <= 5, "an unchanged re-backup made {used} API calls");

    // 1 % changed: only those are read.
    let changed = sh(&format!(
        "cd '{}' && find . -type f -name '*.bin' | LC_ALL=C sort | awk 'NR % 100 == 0' | \
         while read -r f; do echo changed >> \"$f\"; stat -c %s \"$f\"; done",
        src.display()
    ));
    let sizes: Vec<u64> = changed.lines().map(|l| l.parse().unwrap()).collect();
    let out = run(&["backup", src.to_str().unwrap(), "--repo", r, "--json"]);
    let v = summary(&out);
    assert_eq!(v["summary"]["files_changed"], sizes.len(), "{v}");
    assert_eq!(v["summary"]["bytes_read"], sizes.iter().sum::<u64>(), "{v}");

    let target = env.dir.path().join("restored");
    run(&[
        "restore",
        "latest",
        "--repo",
        r,
        "--target",
        target.to_str().unwrap(),
    ]);
    same(&src, &target.join("src"));
    run(&["repo", "check", "--repo", r, "--read-data"]);
    mount.unmount();

    // The same tree into a local repository, restored identical.
    let local = env.dir.path().join("local-repo");
    let l = local.to_str().unwrap();
    run(&["repo", "init", "--repo", l]);
    run(&["backup", src.to_str().unwrap(), "--repo", l]);
    let target = env.dir.path().join("restored-local");
    run(&[
        "restore",
        "latest",
        "--repo",
        l,
        "--target",
        target.to_str().unwrap(),
    ]);
    same(&src, &target.join("src"));
}

#[test]
fn two_backups_into_one_repository_at_once_do_not_corrupt_it() {
    let env = Env::new();
    let (a, b) = (env.dir.path().join("a"), env.dir.path().join("b"));
    big_tree(&a, 1500, 6);
    big_tree(&b, 1500, 6);
    sh(&format!("echo only-b > '{}/own'", b.display()));
    let repo = env.dir.path().join("repo");
    let r = repo.to_str().unwrap();
    let spawn = |args: &[&str]| {
        env.cmd()
            .args(args)
            .env("OURCLONE_PASSWORD", "pw")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let out = spawn(&["repo", "init", "--repo", r])
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let one = spawn(&["backup", a.to_str().unwrap(), "--repo", r]);
    let two = spawn(&["backup", b.to_str().unwrap(), "--repo", r]);
    for child in [one, two] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Prune while nothing runs keeps both; a check reads every byte.
    for args in [
        &["repo", "prune", "--repo", r][..],
        &["repo", "check", "--repo", r, "--read-data"][..],
    ] {
        let out = spawn(args).wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let snaps = spawn(&["snapshots", "--repo", r, "--json"])
        .wait_with_output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&snaps.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    for snap in list.as_array().unwrap() {
        let id = snap["id"].as_str().unwrap();
        let path = snap["snapshot"]["paths"][0].as_str().unwrap();
        let src = if path.ends_with("/a") { &a } else { &b };
        let target = env.dir.path().join(format!("r-{id}"));
        let out = spawn(&[
            "restore",
            id,
            "--repo",
            r,
            "--target",
            target.to_str().unwrap(),
        ])
        .wait_with_output()
        .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        same(src, &target.join(src.file_name().unwrap()));
    }
}
