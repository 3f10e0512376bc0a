//! The 1Fichier provider against the emulator (the real server, started in-process on
//! 127.0.0.1 by the shared harness `fichier_emulator::testing`).

use std::sync::Arc;
use std::time::Duration;

use ourclone_remote::onefichier::{OneFichierConfig, OneFichierRemote};
use ourclone_remote::pacer::{Pacer, PacerConfig};
use ourclone_remote::{Dest, EntryKind, ObjectRef, Remote, RemoteError, RemotePath, Upload};
use serde_json::Value;
use tempfile::TempDir;
use whirlpool::{Digest, Whirlpool};

const KEY: &str = "test-key-0123456789";
const FREE_KEY: &str = "free-key-0123456789";

/// The shared emulator harness, with this file's keys.
struct Emulator {
    _inner: fichier_emulator::testing::Emulator,
    base: String,
}

impl Emulator {
    fn start(extra: &[&str]) -> Self {
        let mut args = vec!["--api-key", KEY, "--non-customer-key", FREE_KEY];
        args.extend_from_slice(extra);
        let inner = fichier_emulator::testing::Emulator::start(&args);
        let base = inner.base().to_string();
        Self {
            _inner: inner,
            base,
        }
    }

    fn config(&self, key: &str, pacer: Arc<Pacer>) -> OneFichierConfig {
        OneFichierConfig {
            endpoint: format!("{}/v1", self.base),
            pacer: Some(pacer),
            list_interval: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
            ..OneFichierConfig::new(key)
        }
    }

    fn remote(&self) -> OneFichierRemote {
        self.remote_with(KEY, fast_pacer())
    }

    fn remote_with(&self, key: &str, pacer: Arc<Pacer>) -> OneFichierRemote {
        OneFichierRemote::new(self.config(key, pacer)).expect("remote")
    }

    async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_emulator/stats", self.base))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    async fn calls(&self, endpoint: &str) -> u64 {
        self.stats().await["calls"][endpoint].as_u64().unwrap_or(0)
    }

    async fn reset_stats(&self) {
        reqwest::Client::new()
            .post(format!("{}/_emulator/reset-stats", self.base))
            .send()
            .await
            .expect("reset stats");
    }
}

/// A Pacer of its own per test (no sharing between tests), fast and with short back-offs.
fn fast_pacer() -> Arc<Pacer> {
    Pacer::new(PacerConfig {
        calls_per_second: 200.0,
        burst: 20,
        starts_empty: false,
        flood_backoff: Duration::from_secs(1),
        max_retries: 10,
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(500),
    })
}

fn path(s: &str) -> RemotePath {
    RemotePath::parse(s).expect("path")
}

fn at(s: &str) -> ObjectRef {
    ObjectRef::new(path(s), None)
}

fn dest(s: &str) -> Dest {
    Dest {
        path: path(s),
        parent_id: None,
    }
}

fn whirlpool_hex(data: &[u8]) -> String {
    Whirlpool::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `data` to a local file and describes its upload to `to`.
fn upload_of(dir: &TempDir, to: &str, data: &[u8]) -> Upload {
    let source = dir.path().join(format!("src-{}", to.replace('/', "_")));
    std::fs::write(&source, data).expect("write source");
    Upload {
        dest: dest(to),
        source,
        size: data.len() as u64,
        mtime: None,
        replace: None,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn upload_list_and_ranged_reads_reuse_one_token() {
    let emu = Emulator::start(&["--list-interval", "30s"]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(300_000, 7);
    let entry = remote
        .upload(&upload_of(&tmp, "big.bin", &data))
        .await
        .unwrap();
    assert_eq!((entry.name.as_str(), entry.size), ("big.bin", 300_000));
    assert_eq!(
        entry.hash.clone().map(|h| h.value),
        Some(whirlpool_hex(&data))
    );
    assert_eq!(emu.calls("upload").await, 1);

    let listed = remote.list(&at("")).await.unwrap();
    let item = listed.iter().find(|e| e.name == "big.bin").expect("listed");
    assert_eq!(item.size, 300_000);
    assert_eq!(item.hash, entry.hash);
    assert!(item.mtime.is_some());

    let file = ObjectRef::new(path("big.bin"), item.id.clone());
    let mut read_back = Vec::new();
    for offset in (0..300_000u64).step_by(100_000) {
        read_back.extend_from_slice(&remote.read(&file, offset, 100_000).await.unwrap());
    }
    assert_eq!(read_back, data);
    let tail = remote.read(&file, 299_990, 100).await.unwrap();
    assert_eq!(&tail[..], &data[299_990..]);
    assert!(remote.read(&file, 400_000, 10).await.unwrap().is_empty());

    let stats = emu.stats().await;
    assert_eq!(stats["calls"]["download/get_token"], 1, "{stats}");
    assert_eq!(stats["calls"]["download"], 5, "{stats}");
    // A second listing inside the interval is served from memory.
    remote.list(&at("")).await.unwrap();
    assert_eq!(emu.calls("folder/ls").await, 1);
    assert_eq!(emu.stats().await["list_violations"], 0);
}

#[tokio::test]
async fn batch_upload_sends_many_files_in_one_request() {
    let emu = Emulator::start(&["--list-interval", "30s"]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    remote.mkdir(&dest("batch")).await.unwrap();
    let contents: Vec<Vec<u8>> = (0..60).map(|i| pattern(100 + i * 37, i as u8)).collect();
    let items: Vec<Upload> = contents
        .iter()
        .enumerate()
        .map(|(i, data)| upload_of(&tmp, &format!("batch/f{i:02}.dat"), data))
        .collect();
    emu.reset_stats().await;
    let results = remote.upload_batch(&items).await;
    let stats = emu.stats().await;
    assert_eq!(stats["calls"]["upload"], 1, "{stats}");
    assert_eq!(stats["calls"]["end"], 1, "{stats}");
    let servers = ["upload/get_upload_server", "get_upload_server"]
        .iter()
        .map(|k| stats["calls"][k].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert_eq!(servers, 1, "{stats}");
    for (i, result) in results.iter().enumerate() {
        let entry = result.as_ref().unwrap_or_else(|e| panic!("f{i:02}: {e}"));
        assert_eq!(entry.name, format!("f{i:02}.dat"));
        assert_eq!(
            entry.hash.as_ref().map(|h| h.value.as_str()),
            Some(whirlpool_hex(&contents[i]).as_str())
        );
    }
    let listed = remote.list(&at("batch")).await.unwrap();
    assert_eq!(listed.len(), 60);
    let f7 = listed.iter().find(|e| e.name == "f07.dat").unwrap();
    let file = ObjectRef::new(path("batch/f07.dat"), f7.id.clone());
    assert_eq!(remote.read(&file, 0, 10_000).await.unwrap(), contents[7]);
}

#[tokio::test]
async fn rename_move_copy_and_remove() {
    let emu = Emulator::start(&["--list-interval", "30s"]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    let a = remote.mkdir(&dest("a")).await.unwrap();
    let b = remote.mkdir(&dest("b")).await.unwrap();
    assert_eq!(a.kind, EntryKind::Dir);
    assert!(matches!(
        remote.mkdir(&dest("a")).await,
        Err(RemoteError::AlreadyExists(_))
    ));
    let data = b"hello 1fichier".to_vec();
    let x = remote
        .upload(&upload_of(&tmp, "a/x.txt", &data))
        .await
        .unwrap();

    // Same folder: rename.cgi.
    let y = remote
        .rename(
            &ObjectRef::new(path("a/x.txt"), x.id.clone()),
            &dest("a/y.txt"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(emu.calls("file/rename").await, 1);
    // Other folder with a new name: mv.cgi, id hint for the destination.
    let to = Dest {
        path: path("b/z.txt"),
        parent_id: b.id.clone(),
    };
    let z = remote
        .rename(&ObjectRef::new(path("a/y.txt"), y.id.clone()), &to, None)
        .await
        .unwrap();
    assert_eq!(emu.calls("file/mv").await, 1);
    assert_eq!(z.name, "z.txt");
    // Server-side copy gets a new URL.
    let copy = remote
        .copy(
            &ObjectRef::new(path("b/z.txt"), z.id.clone()),
            &dest("a/copy.txt"),
        )
        .await
        .unwrap();
    assert_ne!(copy.id, z.id);
    assert_eq!(remote.read(&at("a/copy.txt"), 0, 100).await.unwrap(), data);
    // What we made, we know: no file/info beyond the one that confirms each upload request
    // landed in the account, and no listing of folders we created.
    let stats = emu.stats().await;
    assert_eq!(
        stats["calls"]["file/info"], stats["calls"]["upload"],
        "{stats}"
    );
    assert_eq!(stats["calls"]["folder/ls"], 0, "{stats}");

    let names = |entries: Vec<ourclone_remote::Entry>| {
        let mut n: Vec<String> = entries.into_iter().map(|e| e.name).collect();
        n.sort();
        n
    };
    assert_eq!(names(remote.list(&at("a")).await.unwrap()), ["copy.txt"]);
    assert_eq!(names(remote.list(&at("b")).await.unwrap()), ["z.txt"]);

    // Replace on move: the old target goes away.
    let w = remote
        .upload(&upload_of(&tmp, "b/w.txt", b"other"))
        .await
        .unwrap();
    let replaced = ObjectRef::new(path("b/z.txt"), z.id.clone());
    remote
        .rename(
            &ObjectRef::new(path("b/w.txt"), w.id.clone()),
            &dest("b/z.txt"),
            Some(&replaced),
        )
        .await
        .unwrap();
    assert_eq!(
        remote.read(&at("b/z.txt"), 0, 100).await.unwrap(),
        b"other".to_vec()
    );

    // Folders: not empty → NotEmpty; move and rename a folder; remove it once empty.
    assert!(matches!(
        remote.remove_dir(&at("a")).await,
        Err(RemoteError::NotEmpty(_))
    ));
    remote.remove_file(&at("a/copy.txt")).await.unwrap();
    remote
        .rename(
            &ObjectRef::new(path("a"), a.id.clone()),
            &dest("b/a2"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(names(remote.list(&at("b")).await.unwrap()), ["a2", "z.txt"]);
    assert!(remote.list(&at("b/a2")).await.unwrap().is_empty());
    remote.remove_dir(&at("b/a2")).await.unwrap();
    assert!(matches!(
        remote.stat(&path("b/a2")).await,
        Err(RemoteError::NotFound(_))
    ));
    remote.remove_files(&[at("b/z.txt")]).await.unwrap();
    assert!(remote.list(&at("b")).await.unwrap().is_empty());
    assert_eq!(emu.stats().await["list_violations"], 0);
}

#[tokio::test]
async fn awkward_names_round_trip_through_the_server() {
    let emu = Emulator::start(&[]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    let names = [
        "quotes \"double\" and 'single'.txt",
        "<angle> $dollar `tick` back\\slash",
        " leading and trailing ",
        "literal ＜look-alike＞ and ‛quote",
        "tab\tand\u{7f}del",
        "caf\u{b4} acute",
        "␀empty",
    ];
    let dir = remote.mkdir(&dest("d<i>r \"x\" ")).await.unwrap();
    assert_eq!(dir.name, "d<i>r \"x\" ");
    for (i, name) in names.iter().enumerate() {
        let data = pattern(10 + i, i as u8);
        let entry = remote
            .upload(&upload_of(&tmp, &format!("d<i>r \"x\" /{name}"), &data))
            .await;
        let entry = entry.unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(entry.name, *name);
    }
    // A fresh remote (nothing remembered) sees the same names from the server.
    let fresh = emu.remote();
    let root = fresh.list(&at("")).await.unwrap();
    assert_eq!(
        root.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["d<i>r \"x\" "]
    );
    let mut listed: Vec<String> = fresh
        .list(&at("d<i>r \"x\" "))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    listed.sort();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    let entry = fresh
        .stat(&path(&format!("d<i>r \"x\" /{}", names[1])))
        .await
        .unwrap();
    assert_eq!(entry.size, 11);
    // Renames encode too.
    let from = at(&format!("d<i>r \"x\" /{}", names[0]));
    fresh
        .rename(&from, &dest("d<i>r \"x\" /renamed 'again'"), None)
        .await
        .unwrap();
    let again = emu.remote();
    let listed = again.list(&at("d<i>r \"x\" ")).await.unwrap();
    assert!(listed.iter().any(|e| e.name == "renamed 'again'"));
}

#[tokio::test]
async fn duplicate_names_are_all_shown() {
    let emu = Emulator::start(&[]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    let first = remote
        .upload(&upload_of(&tmp, "dup.txt", b"first"))
        .await
        .unwrap();
    let source = tmp.path().join("second");
    std::fs::write(&source, b"second!").unwrap();
    let second = Upload {
        dest: dest("dup.txt"),
        source,
        size: 7,
        mtime: None,
        replace: None,
    };
    let second = remote.upload(&second).await.unwrap();
    assert_ne!(first.id, second.id);

    let listed = emu.remote().list(&at("")).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let plain = listed
        .iter()
        .find(|e| e.name == "dup.txt")
        .expect("one keeps the name");
    let other = listed.iter().find(|e| e.name != "dup.txt").unwrap();
    assert!(
        other.name.starts_with("dup (dup-") && other.name.ends_with(").txt"),
        "{}",
        other.name
    );
    let mut contents = Vec::new();
    for e in [plain, other] {
        let by_name = remote.read(&at(&e.name), 0, 100).await.unwrap();
        let by_id = remote
            .read(&ObjectRef::new(path(&e.name), e.id.clone()), 0, 100)
            .await
            .unwrap();
        assert_eq!(by_name, by_id);
        contents.push(by_name);
    }
    contents.sort();
    assert_eq!(contents, [b"first".to_vec(), b"second!".to_vec()]);
    // The suffix is stable: a fresh remote shows the same names.
    let again = emu.remote().list(&at("")).await.unwrap();
    assert!(again.iter().any(|e| e.name == other.name));
}

#[tokio::test]
async fn empty_files_appear_empty() {
    let emu = Emulator::start(&[]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    let entry = remote
        .upload(&upload_of(&tmp, "empty.txt", b""))
        .await
        .unwrap();
    assert_eq!(entry.size, 0);
    let fresh = emu.remote();
    let listed = fresh.list(&at("")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].size), ("empty.txt", 0));
    assert_eq!(
        listed[0].hash.clone().map(|h| h.value),
        Some(whirlpool_hex(b""))
    );
    assert!(fresh
        .read(&at("empty.txt"), 0, 100)
        .await
        .unwrap()
        .is_empty());
    fresh
        .rename(&at("empty.txt"), &dest("still-empty.txt"), None)
        .await
        .unwrap();
    let listed = emu.remote().list(&at("")).await.unwrap();
    assert_eq!(
        (listed[0].name.as_str(), listed[0].size),
        ("still-empty.txt", 0)
    );
    assert_eq!(emu.calls("download").await, 0);
}

#[tokio::test]
async fn replacing_upload_removes_the_old_copy() {
    let emu = Emulator::start(&[]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    let old = remote
        .upload(&upload_of(&tmp, "r.txt", b"old"))
        .await
        .unwrap();
    let source = tmp.path().join("new");
    std::fs::write(&source, b"new content").unwrap();
    let replace = Some(ObjectRef::new(path("r.txt"), old.id.clone()));
    let new = Upload {
        dest: dest("r.txt"),
        source,
        size: 11,
        mtime: None,
        replace,
    };
    remote.upload(&new).await.unwrap();
    assert_eq!(emu.calls("file/rm").await, 1);
    let listed = emu.remote().list(&at("")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, 11);
}

#[tokio::test]
async fn refused_keys_are_auth_errors() {
    let emu = Emulator::start(&[]);
    let bad = emu.remote_with("not-the-key", fast_pacer());
    match bad.check_key().await {
        Err(RemoteError::Auth(m)) => assert!(m.contains("key was refused"), "{m}"),
        other => panic!("expected Auth, got {other:?}"),
    }
    assert!(matches!(bad.list(&at("")).await, Err(RemoteError::Auth(_))));

    let free = emu.remote_with(FREE_KEY, fast_pacer());
    match free.check_key().await {
        Err(RemoteError::Auth(m)) => assert!(m.contains("Premium"), "{m}"),
        other => panic!("expected Auth, got {other:?}"),
    }

    let good = emu.remote();
    good.check_key().await.unwrap();
    let usage = good.about().await.unwrap();
    assert!(usage.total.unwrap_or(0) > 0);
    reqwest::Client::new()
        .post(format!("{}/_emulator/revoke", emu.base))
        .json(&serde_json::json!({ "api_key": KEY }))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        good.list(&at("")).await,
        Err(RemoteError::Auth(_))
    ));
    // The upload node takes uploads without a valid key as anonymous ones, report and links
    // included, but they do not land in the account: the upload must fail, not succeed.
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        upload_of(&tmp, "lost1.txt", b"one"),
        upload_of(&tmp, "lost2.txt", b"two"),
    ];
    for result in good.upload_batch(&files).await {
        assert!(matches!(result, Err(RemoteError::Auth(_))), "{result:?}");
    }
    assert_eq!(emu.stats().await["files_uploaded"], 0);
    // The key never shows in Debug output.
    assert!(!format!("{good:?}").contains(KEY));
}

#[tokio::test]
async fn flood_locks_are_waited_out() {
    let emu = Emulator::start(&[
        "--rate-limit",
        "2/s",
        "--flood-lock",
        "1s",
        "--list-interval",
        "30s",
    ]);
    // Deliberately faster than the server allows, to be flooded.
    let pacer = Pacer::new(PacerConfig {
        calls_per_second: 10.0,
        burst: 5,
        starts_empty: false,
        flood_backoff: Duration::from_millis(1500),
        max_retries: 10,
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_secs(1),
    });
    let remote = emu.remote_with(KEY, pacer.clone());
    for i in 0..8 {
        remote.mkdir(&dest(&format!("dir{i}"))).await.unwrap();
    }
    // A second remote on the same account and Pacer, knowing nothing: it must list.
    let fresh = emu.remote_with(KEY, pacer);
    for i in 0..8 {
        assert!(fresh
            .list(&at(&format!("dir{i}")))
            .await
            .unwrap()
            .is_empty());
    }
    // Root once, then each folder once; flooded attempts are counted by the emulator too.
    let stats = emu.stats().await;
    let ls = stats["calls"]["folder/ls"].as_u64().unwrap();
    assert!(
        ls >= 9 && ls <= 9 + stats["throttled"].as_u64().unwrap(),
        "{stats}"
    );
    let stats = emu.stats().await;
    eprintln!("flood run: {stats}");
    assert!(
        stats["throttled"].as_u64().unwrap() > 0,
        "expected floods: {stats}"
    );
    assert_eq!(stats["list_violations"], 0, "{stats}");
}

#[tokio::test]
async fn default_pace_fits_the_service_limit() {
    let emu = Emulator::start(&["--rate-limit", "2/s", "--flood-lock", "1s"]);
    let pacer = Pacer::new(PacerConfig {
        flood_backoff: Duration::from_secs(1),
        ..PacerConfig::onefichier()
    });
    let remote = emu.remote_with(KEY, pacer);
    let start = std::time::Instant::now();
    for i in 0..6 {
        remote.mkdir(&dest(&format!("p{i}"))).await.unwrap();
    }
    // The first after one interval, then 1.8 per second: 6 / 1.8 s.
    assert!(
        start.elapsed() >= Duration::from_millis(3200),
        "{:?}",
        start.elapsed()
    );
    // Under the service's rate, one call at a time: never throttled.
    let stats = emu.stats().await;
    assert_eq!(stats["throttled"], 0, "{stats}");
    assert_eq!(remote.list(&at("")).await.unwrap().len(), 6);
}

#[tokio::test]
async fn a_faulty_service_still_completes_the_work() {
    let emu = Emulator::start(&["--fault-rate", "0.1", "--list-interval", "30s"]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    remote.mkdir(&dest("work")).await.unwrap();
    let contents: Vec<Vec<u8>> = (0..20).map(|i| pattern(1000 + i * 101, i as u8)).collect();
    let items: Vec<Upload> = contents
        .iter()
        .enumerate()
        .map(|(i, d)| upload_of(&tmp, &format!("work/f{i}.bin"), d))
        .collect();
    for result in remote.upload_batch(&items[..10]).await {
        result.unwrap();
    }
    for item in &items[10..] {
        remote.upload(item).await.unwrap();
    }
    let listed = remote.list(&at("work")).await.unwrap();
    for (i, data) in contents.iter().enumerate() {
        let name = format!("f{i}.bin");
        let entry = listed
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} missing: {listed:?}"));
        let file = ObjectRef::new(path(&format!("work/{name}")), entry.id.clone());
        assert_eq!(&remote.read(&file, 0, 1 << 20).await.unwrap(), data);
    }
    let stats = emu.stats().await;
    eprintln!("fault run: {stats}");
    assert!(
        stats["faults"].as_u64().unwrap() > 0,
        "no fault was injected: {stats}"
    );
}

#[tokio::test]
async fn expired_download_tokens_are_replaced() {
    let emu = Emulator::start(&["--token-ttl", "1s"]);
    let remote = emu.remote();
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(5000, 3);
    let entry = remote
        .upload(&upload_of(&tmp, "t.bin", &data))
        .await
        .unwrap();
    let file = ObjectRef::new(path("t.bin"), entry.id.clone());
    assert_eq!(
        remote.read(&file, 0, 1000).await.unwrap(),
        data[..1000].to_vec()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The remembered token is dead now: the node answers HTML, a new token is fetched.
    assert_eq!(
        remote.read(&file, 1000, 1000).await.unwrap(),
        data[1000..2000].to_vec()
    );
    assert_eq!(emu.calls("download/get_token").await, 2);
}
