//! End-to-end checks of the cache and the write journal: damaged journal records and cache
//! blocks are quarantined or refetched (never deleted, never served), unmount waits for
//! pending uploads (or keeps them with --lazy), the cache cap holds under reads and writes,
//! and with a slow provider writes return before their uploads finish.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use common::emulator;
use common::*;

fn du(path: &Path) -> u64 {
    sh(&format!(
        "du -sb --apparent-size {} | cut -f1",
        path.display()
    ))
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn damaged_journal_record_is_quarantined_and_its_file_still_uploads() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "1h"]);
    let f = env.mnt.join("precious.txt");
    fs::write(&f, b"do not lose me").unwrap();
    let ino = fs::metadata(&f).unwrap().ino();
    let out = m.unmount_lazy();
    assert!(stdout(&out).contains("1 file(s)"), "{}", stdout(&out));
    {
        let meta_path = env.state_dir().join("meta.redb");
        let defaults = ourclone_cache::Defaults {
            uid: 0,
            gid: 0,
            file_mode: 0o644,
            dir_mode: 0o755,
        };
        let meta = ourclone_cache::MetaStore::open(&meta_path, defaults).unwrap();
        meta.overwrite_record_raw(ino, b"\x07torn record").unwrap();
    }
    let m = env.mount(&["--write-back", "0s"]);
    assert_eq!(env.status()["quarantined"], 1);
    let notes = sh(&format!(
        "cat {}/quarantine/*.txt",
        env.state_dir().display()
    ));
    assert!(notes.contains("precious.txt"), "quarantine note: {notes}");
    assert!(wait_for(Duration::from_secs(20), || fs::read(
        env.cloud.join("precious.txt")
    )
    .ok()
    .as_deref()
        == Some(b"do not lose me")));
    m.unmount();
}

#[test]
fn corrupt_cache_block_is_refetched_not_served() {
    let env = Env::new();
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(env.cloud.join("remote.bin"), &content).unwrap();
    let m = env.mount(&[]);
    assert_eq!(fs::read(env.mnt.join("remote.bin")).unwrap(), content);
    m.unmount();
    let blocks = sh(&format!(
        "find {}/blocks -type f",
        env.state_dir().display()
    ));
    let victim = blocks.lines().next().expect("a cached block");
    let mut raw = fs::read(victim).unwrap();
    let n = raw.len();
    raw[n / 2] ^= 0xff;
    fs::write(victim, raw).unwrap();
    let m = env.mount(&[]);
    sh("sync && echo 3 > /proc/sys/vm/drop_caches");
    assert_eq!(
        fs::read(env.mnt.join("remote.bin")).unwrap(),
        content,
        "corrupt block was served"
    );
    let st = env.status();
    assert!(st["cache"]["rejected"].as_u64().unwrap() >= 1, "{st}");
    m.unmount();
}

#[test]
fn unmount_uploads_pending_files_and_lazy_keeps_them() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "1h"]);
    for i in 0..20 {
        fs::write(env.mnt.join(format!("f{i}")), vec![i as u8; 50_000]).unwrap();
    }
    assert_eq!(env.status()["pending_files"], 20);
    let out = m.unmount();
    assert!(
        stdout(&out).contains("everything is uploaded"),
        "{}",
        stdout(&out)
    );
    assert_eq!(fs::read(env.cloud.join("f7")).unwrap(), vec![7u8; 50_000]);

    let m = env.mount(&["--write-back", "1h"]);
    fs::write(env.mnt.join("later.txt"), b"next time").unwrap();
    let out = m.unmount_lazy();
    assert!(
        stdout(&out).contains("1 file(s), 9 byte(s) wait in the journal"),
        "{}",
        stdout(&out)
    );
    assert!(!env.cloud.join("later.txt").exists());
    let m = env.mount(&["--write-back", "0s"]);
    assert!(wait_for(Duration::from_secs(20), || env
        .cloud
        .join("later.txt")
        .exists()));
    m.unmount();
}

#[test]
fn cache_stays_under_its_cap_with_reads_and_writes() {
    let env = Env::new();
    let cap = 8u64 << 20;
    let big: Vec<u8> = (0..40_000_000u32).map(|i| (i / 7) as u8).collect();
    fs::write(env.cloud.join("big.bin"), &big).unwrap();
    let m = env.mount(&["--cache-max-size", "8M", "--write-back", "0s"]);
    assert_eq!(fs::read(env.mnt.join("big.bin")).unwrap(), big);
    for i in 0..10 {
        fs::write(env.mnt.join(format!("w{i}.bin")), vec![i as u8; 4_000_000]).unwrap();
    }
    let state = env.state_dir();
    let bounded = wait_for(Duration::from_secs(30), || {
        env.status()["pending_files"] == 0
            && du(&state.join("blocks")) + du(&state.join("data")) <= cap + (2 << 20)
    });
    assert!(
        bounded,
        "cache use {} over cap {cap}",
        du(&state.join("blocks")) + du(&state.join("data"))
    );
    assert_eq!(
        fs::read(env.mnt.join("w3.bin")).unwrap(),
        vec![3u8; 4_000_000]
    );
    assert_eq!(
        fs::read(env.cloud.join("w9.bin")).unwrap(),
        vec![9u8; 4_000_000]
    );
    m.unmount();
}

#[test]
fn slow_provider_writes_return_before_uploads() {
    let emu = emulator::start(&["--latency", "400"]);
    let env = Env::new();
    env.add_fichier(&emu, "slow", &[]);
    let m = env.mount_source("slow:", &["--write-back", "0s"]);
    for i in 0..15 {
        fs::write(env.mnt.join(format!("s{i}.txt")), format!("slow {i}")).unwrap();
    }
    // Every write has returned; with 400 ms per API call the uploads cannot be done yet.
    let st = env.status();
    assert!(
        st["pending_files"].as_u64().unwrap() > 0,
        "uploads finished before writes returned? {st}"
    );
    assert!(
        wait_for(Duration::from_secs(60), || env.status()["pending_files"]
            == 0),
        "uploads never caught up"
    );
    assert!(emu.stats()["files_uploaded"].as_u64().unwrap() >= 15);
    m.unmount();
}

#[test]
fn remote_change_under_local_edit_keeps_both_copies() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "0s"]);
    let f = env.mnt.join("notes.txt");
    fs::write(&f, b"v1 from here").unwrap();
    assert!(wait_for(Duration::from_secs(20), || env
        .cloud
        .join("notes.txt")
        .exists()
        && env.status()["pending_files"] == 0));
    // Someone else changes the cloud copy; then we save our own edit.
    fs::write(env.cloud.join("notes.txt"), b"their version, longer").unwrap();
    fs::write(&f, b"my edit").unwrap();
    assert!(wait_for(Duration::from_secs(20), || env.status()
        ["pending_files"]
        == 0));
    assert_eq!(
        fs::read(env.cloud.join("notes.txt")).unwrap(),
        b"their version, longer"
    );
    let conflicts: Vec<String> = fs::read_dir(&env.cloud)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("notes.conflict-") && n.ends_with(".txt"))
        .collect();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(fs::read(env.cloud.join(&conflicts[0])).unwrap(), b"my edit");
    // The mount shows both.
    assert_eq!(fs::read(env.mnt.join(&conflicts[0])).unwrap(), b"my edit");
    assert_eq!(
        fs::read(env.mnt.join("notes.txt")).unwrap(),
        b"their version, longer"
    );
    m.unmount();
}
