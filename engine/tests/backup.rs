//! Backup into an in-memory repository and back: a round trip with modes, times, links and
//! empty files; an unchanged re-backup reads nothing; a changed file is the only one read;
//! damage is named by check and leaves the other files restorable; a wrong password is refused.

use std::path::Path;
use std::sync::Arc;

use ourclone_engine::backup::crypto::KdfParams;
use ourclone_engine::backup::model::BlobKind;
use ourclone_engine::backup::store::Kind;
use ourclone_engine::backup::RepoStore;
use ourclone_engine::backup::{check, restore, take, MemStore, Repo, RepoError};
use ourclone_engine::transfer::{Filter, FilterSpec};
use tokio_util::sync::CancellationToken;

const FAST: KdfParams = KdfParams {
    m_cost: 1024,
    t_cost: 1,
    p_cost: 1,
};

fn sh(script: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn listing(root: &Path) -> String {
    sh(&format!(
        "cd '{}' && (find . -type f -printf '%p %m %s %T@\\n'; find . -type l -printf '%p -> %l\\n') | LC_ALL=C sort; find . -type f -exec sha256sum {{}} + | LC_ALL=C sort",
        root.display()
    ))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_incremental_damage_and_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("docs");
    sh(&format!(
        "set -e; mkdir -p '{s}/a/b' '{s}/empty' '{s}/ünï'; cd '{s}'; head -c 5000000 /dev/urandom > a/big; \
         seq 1 20000 > a/b/text; : > zero; printf x > 'ünï/naïve'; ln -s a/big link; chmod 600 a/b/text; \
         for i in $(seq 1 50); do echo $i > a/f$i; done; touch -d 2001-01-01 a/f1",
        s = src.display()
    ));
    let store = Arc::new(MemStore::default());
    Repo::init(store.clone(), b"pw", FAST, 1 << 20)
        .await
        .unwrap();
    assert!(matches!(
        Repo::init(store.clone(), b"pw", FAST, 1 << 20).await,
        Err(RepoError::Exists)
    ));
    assert!(matches!(
        Repo::open(store.clone(), b"nope").await,
        Err(RepoError::WrongPassword)
    ));
    let none = Filter::new(&FilterSpec::default()).unwrap();

    let run_backup = |repo: Repo| {
        let (src, none) = (src.clone(), Filter::new(&FilterSpec::default()).unwrap());
        async move {
            let rt = tokio::runtime::Handle::current();
            blocking(move || {
                let b = take::backup(
                    &repo,
                    rt,
                    &[src],
                    vec![],
                    &none,
                    &|_, _, _| {},
                    &CancellationToken::new(),
                )
                .unwrap();
                (repo, b)
            })
            .await
        }
    };
    let repo = Repo::open(store.clone(), b"pw").await.unwrap();
    let (_, first) = run_backup(repo).await;
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert_eq!(first.summary.files_new, 54);
    let packs = store.list(Kind::Pack).await.unwrap().len();

    // Unchanged: nothing read, nothing added but the snapshot.
    let repo = Repo::open(store.clone(), b"pw").await.unwrap();
    let (_, second) = run_backup(repo).await;
    assert_eq!(
        (second.summary.files_unchanged, second.summary.bytes_read),
        (54, 0)
    );
    assert_eq!(store.list(Kind::Pack).await.unwrap().len(), packs);

    // One file changed: only it is read.
    sh(&format!("echo changed >> '{}/a/b/text'", src.display()));
    let repo = Repo::open(store.clone(), b"pw").await.unwrap();
    let (_, third) = run_backup(repo).await;
    assert_eq!(third.summary.files_changed, 1);
    let repo = Repo::open(store.clone(), b"pw").await.unwrap();
    assert_eq!(
        third.summary.bytes_read,
        std::fs::metadata(src.join("a/b/text")).unwrap().len()
    );

    // Restore the latest: identical, modes, times and the link included.
    let (_, snap) = repo.find_snapshot("latest").await.unwrap();
    let target = dir.path().join("restored");
    let rt = tokio::runtime::Handle::current();
    let (repo, done) = {
        let (tree, target) = (snap.tree.clone(), target.clone());
        blocking(move || {
            let r = restore::restore(&repo, rt, &tree, &target, &none, &CancellationToken::new())
                .unwrap();
            (repo, r)
        })
        .await
    };
    assert!(done.failed.is_empty(), "{:?}", done.failed);
    assert_eq!(listing(&target.join("docs")), listing(&src));
    let rt = tokio::runtime::Handle::current();
    let (repo, problems) = blocking(move || {
        let p = check::check(&repo, rt, true).unwrap();
        (repo, p)
    })
    .await;
    assert!(problems.is_empty(), "{problems:?}");

    // Damage one data pack: check names it; the files it does not hold still restore.
    // A chunk of a/big (the only file over 1 MiB), which the latest snapshot needs.
    let (pack_id, big) = repo
        .index
        .values()
        .find(|(_, e)| e.kind == BlobKind::Data && e.raw_length > 400_000)
        .unwrap()
        .clone();
    store.flip(Kind::Pack, &pack_id, big.offset as usize + 20);
    let rt = tokio::runtime::Handle::current();
    let (repo, problems) = blocking(move || {
        let p = check::check(&repo, rt, true).unwrap();
        (repo, p)
    })
    .await;
    assert!(
        problems.iter().any(|p| p.contains(&pack_id)),
        "{problems:?}"
    );
    let target2 = dir.path().join("restored2");
    let rt = tokio::runtime::Handle::current();
    let done = {
        let (tree, target2) = (snap.tree.clone(), target2.clone());
        let none = Filter::new(&FilterSpec::default()).unwrap();
        blocking(move || {
            restore::restore(&repo, rt, &tree, &target2, &none, &CancellationToken::new()).unwrap()
        })
        .await
    };
    assert!(!done.failed.is_empty(), "damage went unnoticed");
    assert!(done.files > 0, "nothing restored around the damage");
    for (path, _) in &done.failed {
        assert!(
            !target2.join(path).exists(),
            "{path} restored from a damaged pack"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_of_gone_processes_are_stale_and_unlock_removes_them() {
    use ourclone_engine::backup::lock::{self, Lock, LockFile};
    let store = Arc::new(MemStore::default());
    let repo = Repo::init(store.clone(), b"pw", FAST, 1 << 20)
        .await
        .unwrap();
    // A backup's shared lock keeps prune (exclusive) out; released, prune may run.
    let shared = Lock::take(&repo, false).await.unwrap();
    assert!(matches!(
        Lock::take(&repo, true).await,
        Err(RepoError::Locked(_))
    ));
    shared.release(&repo).await.unwrap();
    Lock::take(&repo, true)
        .await
        .unwrap()
        .release(&repo)
        .await
        .unwrap();
    // A lock left by a process of this host that is gone does not keep anyone out, and unlock
    // removes it; a live one is removed only with --all.
    let dead = LockFile {
        exclusive: true,
        host: ourclone_engine::backup::repo::hostname(),
        pid: u32::MAX - 1,
        time: 4_000_000_000,
    };
    store
        .put(Kind::Lock, "dead", serde_json::to_vec(&dead).unwrap())
        .await
        .unwrap();
    let live = Lock::take(&repo, false).await.unwrap();
    assert_eq!(lock::unlock(&repo, false).await.unwrap(), 1);
    assert_eq!(store.list(Kind::Lock).await.unwrap().len(), 1);
    assert_eq!(lock::unlock(&repo, true).await.unwrap(), 1);
    assert!(store.list(Kind::Lock).await.unwrap().is_empty());
    drop(live);
}
