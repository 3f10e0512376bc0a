//! The cache is only a cache (issue 8): accidents to files under the cache dir — a data file
//! deleted or truncated, a full disk, a crash — never change what the remote holds for a file
//! the user did not change, and never upload content the user did not write. Each test is
//! named after the item of the issue it checks, and drives a real mount.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn data_file(env: &Env, file: &Path) -> PathBuf {
    let ino = fs::metadata(file).unwrap().ino();
    env.state_dir().join("data").join(format!("{ino:016x}"))
}

fn seq_100k() -> Vec<u8> {
    (1..=100_000)
        .map(|i| format!("{i}\n"))
        .collect::<String>()
        .into_bytes()
}

fn synced(env: &Env, name: &str, want: &[u8]) -> bool {
    wait_for(Duration::from_secs(30), || {
        env.status()["pending_files"] == 0
            && fs::read(env.cloud.join(name)).ok().as_deref() == Some(want)
    })
}

/// Item 1: `seq 1 100000 > f`, synced, data file removed, `echo x >> f`: the remote gets the
/// whole file plus the appended line (it used to get the 2 appended bytes alone).
#[test]
fn item01_append_after_data_file_loss_keeps_the_cloud_copy() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "0s"]);
    let f = env.mnt.join("f");
    let seq = seq_100k();
    assert_eq!(seq.len(), 588_895);
    fs::write(&f, &seq).unwrap();
    assert!(synced(&env, "f", &seq), "first upload never landed");
    fs::remove_file(data_file(&env, &f)).unwrap();
    sh(&format!("echo x >> '{}'", f.display()));
    let mut want = seq.clone();
    want.extend_from_slice(b"x\n");
    assert!(
        synced(&env, "f", &want),
        "cloud copy after the append: {} bytes",
        fs::metadata(env.cloud.join("f")).unwrap().len()
    );
    assert_eq!(fs::read(&f).unwrap(), want);
    m.unmount();
}

/// Item 1: a clean file whose data file was truncated reads back whole (refetched), never
/// short, and the cloud copy is untouched.
#[test]
fn item01_read_after_data_file_truncation_is_whole() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "0s"]);
    let f = env.mnt.join("g");
    let seq = seq_100k();
    fs::write(&f, &seq).unwrap();
    assert!(synced(&env, "g", &seq));
    let data = data_file(&env, &f);
    m.unmount();
    let m = env.mount(&["--write-back", "0s"]);
    fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len(1000)
        .unwrap();
    assert_eq!(fs::read(&f).unwrap(), seq, "read came back short or wrong");
    assert_eq!(fs::read(env.cloud.join("g")).unwrap(), seq);
    m.unmount();
    assert_eq!(fs::read(env.cloud.join("g")).unwrap(), seq);
}

/// Item 1: a file with changes not yet uploaded whose data file vanished fails with EIO (its
/// content is gone from this machine) and the remote keeps its previous version.
#[test]
fn item01_lost_unsaved_changes_fail_loudly_and_spare_the_remote() {
    let env = Env::new();
    fs::write(env.cloud.join("h"), b"cloud version").unwrap();
    let m = env.mount(&["--write-back", "1h"]);
    let f = env.mnt.join("h");
    fs::write(&f, b"local edit, not uploaded yet").unwrap();
    fs::remove_file(data_file(&env, &f)).unwrap();
    sh("sync; echo 3 > /proc/sys/vm/drop_caches");
    let err = fs::read(&f).expect_err("a read of lost content must fail");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let err = fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .expect_err("an open for writing of lost content must fail");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    m.unmount_lazy();
    let m = env.mount(&["--write-back", "0s"]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fs::read(env.cloud.join("h")).unwrap(), b"cloud version");
    assert_eq!(env.status()["quarantined"], 1);
    assert_eq!(fs::read(&f).unwrap(), b"cloud version");
    m.unmount();
}

fn conflict_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".conflict-"))
        .collect()
}

/// Item 9: a 1Fichier server whose clock is ten minutes behind ours stamps our uploads with
/// its own date; saving the file again must replace it, not make a conflict copy.
#[test]
fn item09_server_clock_skew_is_not_a_conflict() {
    let emu = common::emulator::start(&["--clock-skew", "-600"]);
    let env = Env::new();
    env.add_fichier(&emu, "fic", &["--list-interval", "1s"]);
    // The mount's own listing stays fresh (it would learn the server's dates); the provider's
    // listing cache expires, so the conflict check asks the server.
    let m = env.mount_source("fic:", &["--write-back", "0s", "--dir-cache-time", "1h"]);
    let f = env.mnt.join("notes.txt");
    for round in 0..3 {
        fs::write(&f, format!("version {round}")).unwrap();
        assert!(env.drained(Duration::from_secs(30)));
        // Past the list interval: the next check sees the server's listing and its dates.
        std::thread::sleep(Duration::from_millis(2500));
    }
    assert_eq!(conflict_names(&env.mnt), Vec::<String>::new());
    assert_eq!(fs::read_to_string(&f).unwrap(), "version 2");
    m.unmount();
}

/// Item 5: a new file must not replace a same-named file that appeared on the remote since
/// the last listing: both are kept.
#[test]
fn item05_new_file_never_replaces_a_remote_newcomer() {
    let env = Env::new();
    let m = env.mount(&["--write-back", "2s"]);
    let _ = fs::read_dir(&env.mnt).unwrap().count();
    fs::write(env.mnt.join("report.txt"), b"ours").unwrap();
    // Another device creates the same name before our upload.
    fs::write(env.cloud.join("report.txt"), b"theirs").unwrap();
    assert!(env.drained(Duration::from_secs(30)));
    assert_eq!(fs::read(env.cloud.join("report.txt")).unwrap(), b"theirs");
    let conflicts = conflict_names(&env.cloud);
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(fs::read(env.cloud.join(&conflicts[0])).unwrap(), b"ours");
    m.unmount();
}

/// Item 12: a name on the server that decodes to one holding `/` (a '／' typed in 1Fichier's
/// web UI) must not break the folder's listing (the kernel answers EIO for the whole folder
/// when one name holds '/'): it shows as stored, and reads.
#[test]
fn item12_server_name_with_a_slash_lookalike_lists_and_reads() {
    let emu = common::emulator::start(&[]);
    let env = Env::new();
    env.add_fichier(&emu, "fic", &[]);
    let m = env.mount_source("fic:", &["--write-back", "0s"]);
    fs::write(env.mnt.join("plain.txt"), b"renamed on the web").unwrap();
    fs::write(env.mnt.join("other.txt"), b"untouched").unwrap();
    assert!(env.drained(Duration::from_secs(30)));
    m.unmount();
    let api = |call: &str, body: &str| {
        sh(&format!(
            "curl -sf -X POST -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{body}' {}/{call}",
            common::emulator::KEY,
            emu.endpoint()
        ))
    };
    let listing: serde_json::Value =
        serde_json::from_str(&api("file/ls.cgi", r#"{"folder_id":0}"#)).unwrap();
    let url = listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "plain.txt")
        .expect("plain.txt on the server")["url"]
        .as_str()
        .unwrap()
        .to_string();
    api(
        "file/rename.cgi",
        &format!(r#"{{"urls":[{{"url":"{url}","filename":"a\uff0fb.txt"}}]}}"#),
    );
    // A second machine (fresh cache) lists the folder.
    fs::remove_dir_all(&env.cache).unwrap();
    let m = env.mount_source("fic:", &[]);
    let mut names: Vec<String> = fs::read_dir(&env.mnt)
        .expect("listing the folder")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a\u{ff0f}b.txt", "other.txt"]);
    assert_eq!(
        fs::read(env.mnt.join("a\u{ff0f}b.txt")).unwrap(),
        b"renamed on the web"
    );
    m.unmount();
}

/// Item 17: the README's test command (`scripts/test.sh`) installs what the tests need before
/// it runs them, and that install is idempotent: run again on this machine (where the suite is
/// running, so everything is there) it succeeds, installs nothing, and the tools the other
/// suites call are where they look for them.
#[test]
fn item17_test_command_installs_what_it_needs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = fs::read_to_string(repo.join("scripts/test.sh")).unwrap();
    let steps: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let install = steps
        .iter()
        .position(|l| *l == "scripts/install-test-deps.sh");
    let test = steps.iter().position(|l| l.starts_with("cargo test"));
    assert!(
        matches!((install, test), (Some(i), Some(t)) if i < t),
        "scripts/test.sh must run scripts/install-test-deps.sh before cargo test: {steps:?}"
    );
    let out = std::process::Command::new(repo.join("scripts/install-test-deps.sh"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(
        !said.contains("installing") && !said.contains("building"),
        "a second run installed something: {said}"
    );
    for tool in [
        "target/tools/bin/pjdfstest",
        "target/tools/bin/fsx",
        "target/tools/rclone-venv/bin/rclone",
    ] {
        assert!(repo.join(tool).is_file(), "{tool} is missing");
    }
}
