//! End-to-end: what applications do to a mount — `git clone` + `git fsck`, `tar x` +
//! `sha256sum -c`, an editor's save-by-rename, and the upload state xattr.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn git_clone_and_fsck() {
    let env = Env::new();
    let repo = env.dir.path().join("repo");
    sh(&format!(
        "git init -q {r} && cd {r} && git config user.email t@e && git config user.name t && \
         for i in $(seq 1 40); do echo line $i >> f$((i % 7)).txt; git add -A; git commit -qm c$i; done && \
         ln -s f1.txt link && mkdir -p sub/deep && echo x > sub/deep/y && git add -A && git commit -qm last",
        r = repo.display()
    ));
    let m = env.mount(&[]);
    let clone = env.mnt.join("clone");
    sh(&format!(
        "git clone -q --no-hardlinks {} {}",
        repo.display(),
        clone.display()
    ));
    sh(&format!(
        "cd {} && git fsck --full --strict && git status --porcelain | wc -l | grep -qx 0",
        clone.display()
    ));
    m.unmount();
    let m = env.mount(&[]);
    sh(&format!(
        "cd {} && git fsck --full && git log --oneline | wc -l | grep -qx 41",
        clone.display()
    ));
    m.unmount();
}

#[test]
fn tar_extract_and_checksums() {
    let env = Env::new();
    let work = env.dir.path().join("work");
    sh(&format!(
        "mkdir -p {w}/t/a/b && cd {w}/t && head -c 3000000 /dev/urandom > big.bin && \
         for i in $(seq 1 300); do echo file $i > a/f$i; done && head -c 70000 /dev/urandom > a/b/mid && \
         ln -s a/f1 rel && find . -type f -exec sha256sum {{}} + > ../sums && cd .. && tar cf t.tar t",
        w = work.display()
    ));
    let m = env.mount(&[]);
    sh(&format!(
        "cd {} && tar xf {}/t.tar && cd t && sha256sum --quiet -c {}/sums",
        env.mnt.display(),
        work.display(),
        work.display()
    ));
    m.unmount();
    let m = env.mount(&[]);
    sh(&format!(
        "cd {}/t && sha256sum --quiet -c {}/sums && test \"$(readlink rel)\" = a/f1",
        env.mnt.display(),
        work.display()
    ));
    m.unmount();
}

#[test]
fn save_by_rename_keeps_new_content() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "0s"]);
    let doc = env.mnt.join("doc.txt");
    std::fs::write(&doc, b"version 1\n").unwrap();
    // Let version 1 reach the cloud so the rename replaces a remote object.
    assert!(wait_for(Duration::from_secs(20), || std::fs::read(
        env.cloud.join("doc.txt")
    )
    .ok()
    .as_deref()
        == Some(b"version 1\n")));
    sh(&format!(
        "python3 -c \"import os; f=open('{d}.tmp','w'); f.write('version 2\\n'); f.flush(); os.fsync(f.fileno()); f.close(); os.rename('{d}.tmp','{d}')\"",
        d = doc.display()
    ));
    assert_eq!(std::fs::read(&doc).unwrap(), b"version 2\n");
    m.unmount();
    assert_eq!(
        std::fs::read(env.cloud.join("doc.txt")).unwrap(),
        b"version 2\n"
    );
    assert!(!env.cloud.join("doc.txt.tmp").exists());
    let m = env.mount(&[]);
    assert_eq!(std::fs::read(&doc).unwrap(), b"version 2\n");
    m.unmount();
}

#[test]
fn state_xattr_goes_from_pending_to_synced() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "3s"]);
    let f = env.mnt.join("x.bin");
    std::fs::write(&f, vec![7u8; 100_000]).unwrap();
    let state = || {
        sh(&format!(
            "python3 -c \"import os; print(os.getxattr('{}', 'user.ourclone.state').decode())\"",
            f.display()
        ))
        .trim()
        .to_string()
    };
    assert_eq!(state(), "pending");
    assert!(
        wait_for(Duration::from_secs(20), || state() == "synced"),
        "never synced"
    );
    assert_eq!(
        std::fs::read(env.cloud.join("x.bin")).unwrap().len(),
        100_000
    );
    m.unmount();
}
