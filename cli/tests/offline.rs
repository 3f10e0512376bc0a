//! Offline mode (issue 13, item 4) and changes from elsewhere (item 5): with the 1Fichier
//! emulator stopped under a mount, cached files stay readable, writes are accepted, a read that
//! needs the remote fails with EIO within seconds instead of hanging, and `status` says offline;
//! once it is back, everything uploads and `status` says online. `refresh` shows a change made
//! through another machine's mount at once.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn status_of(env: &Env) -> serde_json::Value {
    env.status()
}

/// A second machine: its own cache and mount point, the same account.
fn other_machine(emu: &common::emulator::Emulator) -> Env {
    let other = Env::new();
    other.add_fichier(emu, "fichier", &[]);
    other
}

#[test]
fn offline_mount_serves_the_cache_takes_writes_and_catches_up() {
    let emu = common::emulator::start(&[]);
    // Another machine puts a file there that this one has never read.
    let other = other_machine(&emu);
    let m = other.mount_source("fichier:", &["--write-back", "0s"]);
    std::fs::write(other.mnt.join("uncached.bin"), vec![7u8; 300_000]).unwrap();
    assert!(other.drained(Duration::from_secs(60)));
    m.unmount();

    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let m = env.mount_source("fichier:", &["--write-back", "0s"]);
    std::fs::write(env.mnt.join("cached.txt"), b"on this machine").unwrap();
    assert!(env.drained(Duration::from_secs(60)));
    assert!(env.mnt.join("uncached.bin").exists());
    assert_eq!(status_of(&env)["state"], "online");

    let stopped = emu.stop_for_a_while();
    assert_eq!(
        std::fs::read(env.mnt.join("cached.txt")).unwrap(),
        b"on this machine"
    );
    std::fs::write(env.mnt.join("written-offline.txt"), b"queued").unwrap();
    let start = Instant::now();
    let err = std::fs::read(env.mnt.join("uncached.bin")).expect_err("read with the remote gone");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "an uncached read hung for {:?}",
        start.elapsed()
    );
    assert!(wait_for(Duration::from_secs(30), || status_of(&env)
        ["state"]
        == "offline"));
    let s = status_of(&env);
    assert!(s["offline_since"].as_u64().is_some(), "{s}");
    assert!(s["pending_files"].as_u64().unwrap() >= 1, "{s}");
    let out = env.run(&["status", env.mnt.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("remote: offline since"),
        "{}",
        stdout(&out)
    );
    // Cached content is still served while offline.
    assert_eq!(
        std::fs::read(env.mnt.join("cached.txt")).unwrap(),
        b"on this machine"
    );

    let emu = stopped.start();
    assert!(
        env.drained(Duration::from_secs(120)),
        "the queued write did not upload after the remote came back"
    );
    assert!(wait_for(Duration::from_secs(30), || status_of(&env)
        ["state"]
        == "online"));
    assert_eq!(
        std::fs::read(env.mnt.join("uncached.bin")).unwrap(),
        vec![7u8; 300_000]
    );
    m.unmount();
    // The other machine sees what was written offline (once it lists the folder again).
    let m = other.mount_source("fichier:", &[]);
    let out = other.run(&["refresh", other.mnt.to_str().unwrap()]);
    assert!(out.status.success(), "refresh: {}", stderr(&out));
    assert_eq!(
        std::fs::read(other.mnt.join("written-offline.txt")).unwrap(),
        b"queued"
    );
    m.unmount();
    drop(emu);
}

#[test]
fn refresh_shows_changes_from_another_machine_at_once() {
    let emu = common::emulator::start(&[]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &["--list-interval", "0s"]);
    let m = env.mount_source("fichier:", &["--dir-cache-time", "1h"]);
    std::fs::create_dir(env.mnt.join("shared")).unwrap();
    std::fs::create_dir(env.mnt.join("shared/deep")).unwrap();
    assert!(env.drained(Duration::from_secs(60)));
    assert_eq!(
        std::fs::read_dir(env.mnt.join("shared/deep"))
            .unwrap()
            .count(),
        0
    );

    let other = other_machine(&emu);
    let m2 = other.mount_source("fichier:", &["--write-back", "0s"]);
    std::fs::write(other.mnt.join("shared/deep/news.txt"), b"from elsewhere").unwrap();
    assert!(other.drained(Duration::from_secs(60)));
    m2.unmount();

    let news = env.mnt.join("shared/deep/news.txt");
    assert!(
        !news.exists(),
        "the listing was not cached: the test proves nothing"
    );
    let out = env.run(&["refresh", env.mnt.join("shared").to_str().unwrap()]);
    assert!(out.status.success(), "refresh: {}", stderr(&out));
    assert!(
        !news.exists(),
        "a refresh without --recursive went below the folder"
    );
    let out = env.run(&[
        "refresh",
        "--recursive",
        env.mnt.join("shared").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "refresh -r: {}", stderr(&out));
    assert!(
        stdout(&out).contains("listed 2 folder(s)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read(&news).unwrap(), b"from elsewhere");
    // A change made through the 1Fichier API itself (as the web UI would): a rename.
    std::fs::write(env.mnt.join("shared/by-api.txt"), b"renamed elsewhere").unwrap();
    assert!(env.drained(Duration::from_secs(60)));
    rename_through_the_api(&emu, "by-api.txt", "renamed-by-api.txt");
    assert!(
        env.mnt.join("shared/by-api.txt").exists(),
        "cached listing already changed"
    );
    let out = env.run(&["refresh", env.mnt.join("shared").to_str().unwrap()]);
    assert!(out.status.success(), "refresh: {}", stderr(&out));
    assert!(!env.mnt.join("shared/by-api.txt").exists());
    assert_eq!(
        std::fs::read(env.mnt.join("shared/renamed-by-api.txt")).unwrap(),
        b"renamed elsewhere"
    );
    let out = env.run(&["refresh", env.dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    m.unmount();
}

/// Renames a file through the emulator's API (file/ls of every folder, then file/rename).
fn rename_through_the_api(emu: &common::emulator::Emulator, from: &str, to: &str) {
    let script = r#"import json, sys, urllib.request
base, key, old, new = sys.argv[1:5]
def call(ep, body):
    req = urllib.request.Request(f"{base}/{ep}.cgi", json.dumps(body).encode(),
        {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
todo = [0]
while todo:
    folder = todo.pop()
    for f in call("file/ls", {"folder_id": folder}).get("items", []):
        if f["filename"] == old:
            call("file/rename", {"urls": [{"url": f["url"], "filename": new}]})
            sys.exit(0)
    todo += [s["id"] for s in call("folder/ls", {"folder_id": folder}).get("sub_folders", [])]
sys.exit("not found")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([&emu.endpoint(), common::emulator::KEY, from, to])
        .output()
        .unwrap();
    assert!(out.status.success(), "API rename: {}", stderr(&out));
}

#[test]
fn changes_from_elsewhere_show_within_the_listing_ttl() {
    let env = Env::new();
    let m = env.mount(&["--dir-cache-time", "1s"]);
    assert_eq!(std::fs::read_dir(&env.mnt).unwrap().count(), 0);
    std::fs::write(env.cloud.join("later.txt"), b"x").unwrap();
    let seen = wait_for(Duration::from_secs(15), || {
        std::fs::read_dir(&env.mnt)
            .unwrap()
            .any(|e| e.unwrap().file_name() == "later.txt")
    });
    assert!(
        seen,
        "a change on the remote did not show within the listing TTL"
    );
    m.unmount();
}
