//! End-to-end: a real tree rsynced into a real mount survives unmount and remount exactly, and
//! the remount answers `ls -lR` without listing the remote.

mod common;

use common::*;

fn source_tree() -> &'static str {
    let n: usize = sh("find /usr/share/doc | wc -l").trim().parse().unwrap();
    assert!(
        n >= 2000,
        "/usr/share/doc has only {n} entries; the test needs 2,000"
    );
    "/usr/share/doc"
}

#[test]
fn rsync_tree_round_trips_through_remount() {
    let src = source_tree();
    let env = Env::new();
    let m = env.mount(&["--write-back", "1s"]);
    let dst = env.mnt.join("doc");
    sh(&format!("rsync -a {src}/ {}/", dst.display()));
    sh(&format!("diff -r --no-dereference {src} {}", dst.display()));
    let again = sh(&format!(
        "rsync -a --itemize-changes {src}/ {}/",
        dst.display()
    ));
    assert_eq!(again, "", "second rsync transferred something");
    let before = tree_listing(&dst);
    assert_eq!(
        before,
        tree_listing(std::path::Path::new(src)),
        "modes, sizes or mtimes differ"
    );
    m.unmount();
    // The cloud folder holds the same files (symlinks as link objects).
    let files = sh(&format!("cd {src} && find . -type f | LC_ALL=C sort"));
    let cloud = sh(&format!(
        "cd {} && find . -type f | LC_ALL=C sort",
        env.cloud.join("doc").display()
    ));
    let cloud_files: Vec<&str> = cloud
        .lines()
        .filter(|l| !l.ends_with(".ourclone-link"))
        .collect();
    assert_eq!(files.lines().collect::<Vec<_>>(), cloud_files);

    let m = env.mount(&[]);
    sh(&format!("ls -lR {} > /dev/null", env.mnt.display()));
    assert_eq!(tree_listing(&dst), before, "tree changed across remount");
    let st = env.status();
    assert_eq!(
        st["remote_calls"]["list"], 0,
        "remount listed the remote: {st}"
    );
    sh(&format!("diff -r --no-dereference {src} {}", dst.display()));
    m.unmount();
}
