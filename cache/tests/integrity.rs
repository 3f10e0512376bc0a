//! MetaStore integrity after crashes (issue 8, item 4): an inode number handed out in a commit
//! that never became durable is never handed out again, so cache blocks and data files keyed
//! by inode can never be served for another file.

use ourclone_cache::{Defaults, Kind, MetaStore, Node, ROOT_INO};

const D: Defaults = Defaults {
    uid: 0,
    gid: 0,
    file_mode: 0o644,
    dir_mode: 0o755,
};

fn file(name: &str) -> Node {
    Node::new_local(ROOT_INO, name, Kind::File, 0o644, 0, 0)
}

/// A power-loss image: the database file and its intent log as they are while the store is
/// open, the log marked as written on another boot (so only its sealed commits count).
#[test]
fn item04_inode_numbers_are_not_reused_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let crash = dir.path().join("crashed.redb");
    let lost;
    {
        let meta = MetaStore::open(&path, D).unwrap();
        meta.create(file("durable")).unwrap();
        meta.sync().unwrap();
        lost = meta.create(file("not-durable")).unwrap();
        std::fs::copy(&path, &crash).unwrap();
        let mut log = std::fs::read(dir.path().join("meta.redb.intent")).unwrap();
        log[8..20].copy_from_slice(b"another-boot");
        std::fs::write(dir.path().join("crashed.redb.intent"), log).unwrap();
    }
    let meta = MetaStore::open(&crash, D).unwrap();
    assert!(meta.lookup(ROOT_INO, "durable").unwrap().is_some());
    assert!(
        meta.lookup(ROOT_INO, "not-durable").unwrap().is_none(),
        "the power-loss image kept an unsynced commit: the test proves nothing"
    );
    let fresh = meta.create(file("after-crash")).unwrap();
    assert!(
        fresh > lost,
        "inode {fresh} handed out again after a crash (it was {lost} before)"
    );
}

/// Many creates across many reopenings stay unique.
#[test]
fn item04_inode_numbers_stay_unique_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let mut seen = std::collections::HashSet::new();
    for round in 0..5 {
        let meta = MetaStore::open(&path, D).unwrap();
        for i in 0..50 {
            let ino = meta.create(file(&format!("r{round}-{i}"))).unwrap();
            assert!(seen.insert(ino), "inode {ino} handed out twice");
        }
    }
}

/// Item 6: creating or installing a data file leaves its folder to be fsynced before the
/// journal record naming it becomes durable (the Vfs calls `sync_names` in every persist);
/// reopening an existing one does not cost a folder fsync.
#[test]
fn item06_new_data_file_names_are_synced() {
    let dir = tempfile::tempdir().unwrap();
    let data = ourclone_cache::DataStore::open(dir.path()).unwrap();
    assert!(!data.names_pending());
    drop(data.open_rw(7).unwrap());
    assert!(
        data.names_pending(),
        "a new data file's name is not marked for fsync"
    );
    data.sync_names().unwrap();
    assert!(!data.names_pending());
    drop(data.open_rw(7).unwrap());
    assert!(!data.names_pending(), "reopening costs a folder fsync");
    std::fs::write(data.scratch(8), b"fetched").unwrap();
    data.install(8, &data.scratch(8)).unwrap();
    assert!(
        data.names_pending(),
        "an installed file's name is not marked for fsync"
    );
}
