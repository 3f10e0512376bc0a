//! Jobs run where their path lives (issue 9, item 4): `du` on a path of a running mount runs
//! inside that mount's daemon (its job list shows it; no API calls for folders already
//! listed), and `du REMOTE:PATH` with no mount runs in-process over the same cache; both give
//! the same, exact answer.

mod common;

use common::emulator::{self, Emulator};
use common::*;

fn du(env: &Env, path: &str) -> serde_json::Value {
    let out = env.run(&["du", path, "--json"]);
    assert!(out.status.success(), "du {path}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("du json ({e}): {}", stdout(&out)))
}

fn api_calls(emu: &Emulator) -> u64 {
    emu.stats()["total_api_calls"]
        .as_u64()
        .expect("total_api_calls")
}

#[test]
fn du_runs_inside_the_daemon_and_in_process_with_the_same_answer() {
    let emu = emulator::start(&[]);
    let env = Env::new();
    env.add_fichier(&emu, "fichier", &[]);
    let m = env.mount_source("fichier:", &["--write-back", "0s"]);
    // 3 folders, 25 files of known sizes.
    let mut bytes = 0u64;
    for d in ["a", "a/b", "c"] {
        std::fs::create_dir_all(env.mnt.join(d)).unwrap();
    }
    for i in 0..25u64 {
        let dir = ["a", "a/b", "c"][i as usize % 3];
        let data = vec![b'x'; (i * 997) as usize];
        bytes += data.len() as u64;
        std::fs::write(env.mnt.join(format!("{dir}/f{i}")), data).unwrap();
    }
    assert!(env.drained(std::time::Duration::from_secs(60)));
    sh(&format!("ls -lR {} > /dev/null", env.mnt.display()));
    let want = serde_json::json!({ "files": 25, "folders": 3, "bytes": bytes });

    let calls = api_calls(&emu);
    let on_mount = du(&env, env.mnt.to_str().unwrap());
    assert_eq!(on_mount, want);
    assert_eq!(api_calls(&emu), calls, "du on a listed tree called the API");
    let sub = du(&env, env.mnt.join("a").to_str().unwrap());
    assert_eq!(sub["folders"], 1, "{sub}");

    // The daemon's job list shows the jobs ran inside it.
    let out = env.run(&["jobs", env.mnt.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "jobs: {}", stderr(&out));
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = jobs.as_array().expect("a job list");
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(jobs
        .iter()
        .all(|j| j["kind"] == "du" && j["state"] == "done"));
    assert_eq!(jobs[0]["outcome"]["summary"], want);

    // With the mount gone, the same job runs in this process over the same cache.
    m.unmount();
    let calls = api_calls(&emu);
    let in_process = du(&env, "fichier:");
    assert_eq!(in_process, want);
    assert_eq!(
        api_calls(&emu),
        calls,
        "in-process du on a listed tree called the API"
    );

    // Text output, and the one-line errors.
    let out = env.run(&["du", "fichier:a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("17 files, 1 folders, "),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["du", "nosuch:x"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let out = env.run(&["du", "fichier:missing"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn du_of_a_local_folder_runs_in_process() {
    let env = Env::new();
    let dir = env.dir.path().join("plain");
    std::fs::create_dir_all(dir.join("x/y")).unwrap();
    std::fs::write(dir.join("x/one"), b"12345").unwrap();
    std::fs::write(dir.join("x/y/two"), b"67").unwrap();
    let got = du(&env, dir.to_str().unwrap());
    assert_eq!(
        got,
        serde_json::json!({ "files": 2, "folders": 2, "bytes": 7 })
    );
}
