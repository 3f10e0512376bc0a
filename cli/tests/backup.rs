//! Backup through the real binary (issue 12, first part): `repo init`, `backup`, `snapshots`,
//! `restore`, `repo check` on a local repository and on a 1Fichier (emulator) repository; an
//! unchanged re-backup reads nothing; a flipped byte is named by check (exit 9); a wrong
//! password is refused (exit 8).

mod common;

use common::*;

fn ok(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

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
    ok(&env, &["repo", "init", "--repo", r, "--password-file", p]);
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
    let out = ok(&env, &["snapshots", "--repo", r, "--password-file", p]);
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

    // Wrong password: one line, exit 8.
    std::fs::write(&pw, "wrong\n").unwrap();
    let out = env.run(&["snapshots", "--repo", r, "--password-file", p]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
    std::fs::write(&pw, "correct horse\n").unwrap();

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
