//! Backup through the real binary (issue 12, first part): `repo init`, `backup`, `snapshots`,
//! `restore`, `repo check` on a local repository and on a 1Fichier (emulator) repository; an
//! unchanged re-backup reads nothing; a flipped byte is named by check (exit 9); a wrong
//! password is refused (exit 8).

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
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
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
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
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
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
