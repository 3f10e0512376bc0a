//! Issue 8 through the Vfs, without the kernel, where a real mount cannot make the accident
//! happen on demand: a listing refresh racing with files open for writing (item 3), and a
//! same-size overwrite through a direct (passthrough) handle within one timestamp tick
//! (item 7; kernels since 6.13 give fine-grained stamps once the time was read, older ones do
//! not, so the coarse tick is reproduced by setting the data file's mtime back).

mod common;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use ourclone_cache::ROOT_INO;
use ourclone_remote::local::LocalRemote;
use ourclone_remote::RemotePath;
use ourclone_vfs::{OpenMode, SetAttr, Vfs};

fn mount(dir: &std::path::Path) -> Arc<Vfs> {
    let remote = Arc::new(LocalRemote::open(dir.join("cloud")).unwrap());
    let cfg = common::config();
    Vfs::open_cache(remote, RemotePath::root(), &dir.join("state"), cfg)
        .unwrap()
        .0
}

fn conflicts(cloud: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(cloud)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".conflict-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn item03_refresh_leaves_files_open_for_writing_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    std::fs::write(cloud.join("gone.txt"), b"original ").unwrap();
    std::fs::write(cloud.join("changed.txt"), b"original ").unwrap();
    let vfs = mount(dir.path());
    let gone = vfs.lookup(ROOT_INO, "gone.txt").await.unwrap().ino;
    let changed = vfs.lookup(ROOT_INO, "changed.txt").await.unwrap().ino;
    let g = vfs.open(gone, OpenMode::Write, false).await.unwrap();
    let c = vfs.open(changed, OpenMode::Write, false).await.unwrap();
    vfs.write(g, 9, b"mine").await.unwrap();
    vfs.write(c, 9, b"mine").await.unwrap();
    // Another device deletes one and rewrites the other; then the folder is listed again.
    std::fs::remove_file(cloud.join("gone.txt")).unwrap();
    std::fs::write(cloud.join("changed.txt"), b"theirs, longer").unwrap();
    vfs.refresh(ROOT_INO).await.unwrap();
    vfs.fsync(g).await.expect("fsync after a remote delete");
    vfs.release(g).await.expect("close after a remote delete");
    vfs.fsync(c).await.expect("fsync after a remote change");
    vfs.release(c).await.expect("close after a remote change");
    vfs.drain(|_| {}).await.unwrap();
    assert_eq!(
        std::fs::read(cloud.join("gone.txt")).unwrap(),
        b"original mine"
    );
    assert_eq!(
        std::fs::read(cloud.join("changed.txt")).unwrap(),
        b"theirs, longer"
    );
    let names = conflicts(&cloud);
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(
        std::fs::read(cloud.join(&names[0])).unwrap(),
        b"original mine"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn item07_same_size_overwrite_in_one_tick_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    let vfs = mount(dir.path());
    let (attr, opened) = vfs.create_direct(ROOT_INO, "t", 0o644, 0, 0).await.unwrap();
    let data = opened.direct.expect("a direct handle for a new file");
    // What the kernel does for a passthrough handle: writes the data file itself.
    data.write_all_at(b"AAAAAAAAAA", 0).unwrap();
    let tick = data.metadata().unwrap().modified().unwrap();
    vfs.fsync(opened.fh).await.unwrap();
    vfs.release(opened.fh).await.unwrap();
    vfs.drain(|_| {}).await.unwrap();
    assert_eq!(std::fs::read(cloud.join("t")).unwrap(), b"AAAAAAAAAA");
    // Saved again at once: a coarse clock stamps the second write with the first one's tick.
    let again = vfs
        .open_direct(attr.ino, OpenMode::Write, false)
        .await
        .unwrap();
    let data = again.direct.expect("a direct handle for a local file");
    data.write_all_at(b"BBBBBBBBBB", 0).unwrap();
    data.set_modified(tick).unwrap();
    vfs.fsync(again.fh).await.unwrap();
    vfs.release(again.fh).await.unwrap();
    vfs.drain(|_| {}).await.unwrap();
    assert_eq!(std::fs::read(cloud.join("t")).unwrap(), b"BBBBBBBBBB");
}

/// Item 14: while data not yet uploaded exceeds the cache cap and uploads fail (here the
/// remote's folder is gone), a writer gets ENOSPC after `room_wait` instead of hanging for
/// ever, at once after that, `write_refusal` says why, and writes work again once uploads do.
#[tokio::test(flavor = "multi_thread")]
async fn item14_writer_gets_enospc_when_uploads_stall() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    let remote = Arc::new(LocalRemote::open(&cloud).unwrap());
    let cfg = ourclone_vfs::VfsConfig {
        cache_max_size: 1 << 20,
        room_wait: std::time::Duration::from_secs(1),
        ..common::config()
    };
    let (vfs, _) =
        Vfs::open_cache(remote, RemotePath::root(), &dir.path().join("state"), cfg).unwrap();
    let _tasks = vfs.start_background();
    vfs.readdir(ROOT_INO).await.unwrap();
    let hidden = dir.path().join("cloud-away");
    std::fs::rename(&cloud, &hidden).unwrap();
    let (_, a) = vfs.create(ROOT_INO, "a", 0o644, 0, 0).await.unwrap();
    vfs.write(a, 0, &vec![1u8; 2 << 20]).await.unwrap();
    vfs.release(a).await.unwrap();
    let (_, b) = vfs.create(ROOT_INO, "b", 0o644, 0, 0).await.unwrap();
    let wait = std::time::Duration::from_secs(30);
    let err = tokio::time::timeout(wait, vfs.write(b, 0, &[2u8; 4096]))
        .await
        .expect("the writer hung")
        .expect_err("a write over the cap with stalled uploads must fail");
    assert_eq!(err.errno(), libc::ENOSPC, "{err}");
    let why = vfs.write_refusal().expect("status says why writes fail");
    assert!(why.contains("no progress"), "{why}");
    let started = std::time::Instant::now();
    let err = vfs.write(b, 0, &[2u8; 4096]).await.unwrap_err();
    assert_eq!(err.errno(), libc::ENOSPC);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "refused writes wait again"
    );
    // The remote is back: once uploads drain, writes are accepted again.
    std::fs::rename(&hidden, &cloud).unwrap();
    vfs.drain(|_| {}).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    vfs.write(b, 0, &[2u8; 4096])
        .await
        .expect("writes after uploads resumed");
    vfs.release(b).await.unwrap();
}

fn new_file(name: &str) -> ourclone_cache::Node {
    ourclone_cache::Node::new_local(ROOT_INO, name, ourclone_cache::Kind::File, 0o644, 0, 0)
}

/// Item 2: a MetaStore commit that fails because the disk is full reports ENOSPC, and once
/// space is back, commits work again without a remount.
#[test]
fn item02_metastore_recovers_after_disk_full() {
    let disk = common::SmallDisk::new("4m");
    let meta =
        ourclone_cache::MetaStore::open(&disk.path().join("meta.redb"), common::config().defaults)
            .unwrap();
    meta.create(new_file("before")).unwrap();
    meta.sync().unwrap();
    let ballast = disk.fill();
    let mut failed = None;
    for i in 0..2000 {
        let name = format!("{i}-{}", "n".repeat(200));
        if let Err(e) = meta.create(new_file(&name)).and_then(|_| meta.sync()) {
            failed = Some(e);
            break;
        }
    }
    let err = failed.expect("the full disk never made a commit fail");
    assert!(
        matches!(&err, ourclone_cache::CacheError::Io(e) if e.raw_os_error() == Some(libc::ENOSPC)),
        "a full disk must read as ENOSPC, not {err:?}"
    );
    drop(ballast);
    meta.create(new_file("after"))
        .and_then(|_| meta.sync())
        .unwrap_or_else(|e| panic!("commits after space is back: {e:?}"));
    assert!(meta.lookup(ROOT_INO, "before").unwrap().is_some());
}

/// The Vfs of `cloud` with its cache on `state` (a small disk).
fn mount_on(cloud: &std::path::Path, state: &std::path::Path) -> Arc<Vfs> {
    let remote = Arc::new(LocalRemote::open(cloud).unwrap());
    Vfs::open_cache(remote, RemotePath::root(), state, common::config())
        .unwrap()
        .0
}

/// Item 2: writes that fill the cache disk stop part-way with a short write or ENOSPC; size,
/// data file and journal agree; once space is back the same mount writes, closes and uploads.
#[tokio::test(flavor = "multi_thread")]
async fn item02_disk_full_mid_write_stays_consistent_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    let disk = common::SmallDisk::new("6m");
    let vfs = mount_on(&cloud, &disk.path().join("state"));
    let (attr, fh) = vfs.create(ROOT_INO, "big", 0o644, 0, 0).await.unwrap();
    let chunk = vec![7u8; 1 << 20];
    let mut acknowledged = 0u64;
    let mut full = None;
    for _ in 0..16 {
        match vfs.write(fh, acknowledged, &chunk).await {
            Ok(n) => acknowledged += n as u64,
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let err = full.expect("a 6 MiB disk took 16 MiB");
    assert_eq!(err.errno(), libc::ENOSPC, "{err}");
    let size = vfs.getattr(attr.ino).await.unwrap().size;
    assert_eq!(
        size, acknowledged,
        "size is not what the writes acknowledged"
    );
    let data_len = std::fs::metadata(
        disk.path()
            .join("state/data")
            .join(format!("{:016x}", attr.ino)),
    )
    .unwrap()
    .len();
    assert_eq!(data_len, acknowledged, "data file and size disagree");
    // Space comes back (the user shrinks the file); the same mount carries on.
    vfs.setattr(
        attr.ino,
        ourclone_vfs::SetAttr {
            size: Some(1000),
            ..Default::default()
        },
        Some(fh),
    )
    .await
    .expect("truncate on a full disk");
    vfs.write(fh, 1000, b"after")
        .await
        .expect("write once space is back");
    vfs.fsync(fh).await.expect("fsync once space is back");
    vfs.release(fh).await.expect("close once space is back");
    vfs.drain(|_| {}).await.unwrap();
    let mut want = vec![7u8; 1000];
    want.extend_from_slice(b"after");
    assert_eq!(std::fs::read(cloud.join("big")).unwrap(), want);
}

/// Item 2: opening for writing a remote file larger than the cache disk's free space fails
/// with ENOSPC before fetching, and leaves no partial copy behind.
#[tokio::test(flavor = "multi_thread")]
async fn item02_whole_file_fetch_checks_free_space_first() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    std::fs::write(cloud.join("huge"), vec![1u8; 8 << 20]).unwrap();
    let disk = common::SmallDisk::new("4m");
    let vfs = mount_on(&cloud, &disk.path().join("state"));
    let ino = vfs.lookup(ROOT_INO, "huge").await.unwrap().ino;
    let err = vfs
        .open(ino, OpenMode::Write, false)
        .await
        .expect_err("a local copy that cannot fit");
    assert_eq!(err.errno(), libc::ENOSPC, "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(disk.path().join("state/data"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        // Empty files made ahead for new files (see `spares.rs`).
        .filter(|n| n != "spare")
        .collect();
    assert!(leftovers.is_empty(), "partial copies left: {leftovers:?}");
    assert_eq!(std::fs::read(cloud.join("huge")).unwrap().len(), 8 << 20);
}

/// A crash between an upload landing on the remote and its confirmation being recorded
/// leaves the remote holding our own new version while the node still knows the old one.
/// The next upload must recognise it as ours (the durable "pushed" note written before the
/// bytes left) and replace it, not take it for someone else's change and keep a conflict
/// copy. Found by the SIGKILL crash test in CI.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_that_landed_before_a_crash_is_not_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    let vfs = mount(dir.path());
    let (attr, fh) = vfs.create(ROOT_INO, "f", 0o644, 0, 0).await.unwrap();
    vfs.write(fh, 0, b"version one").await.unwrap();
    vfs.release(fh).await.unwrap();
    vfs.drain(|_| {}).await.unwrap();
    // Version two is closed; its upload "lands" (as the uploader would write it: content and
    // our mtime) but the crash loses the confirmation.
    let fh = vfs.open(attr.ino, OpenMode::Write, true).await.unwrap();
    vfs.write(fh, 0, b"version two, longer").await.unwrap();
    vfs.release(fh).await.unwrap();
    let node = vfs.meta().get(attr.ino).unwrap();
    let landed = cloud.join("f");
    std::fs::write(&landed, b"version two, longer").unwrap();
    let mtime = ourclone_cache::from_nanos(node.mtime);
    File::options()
        .write(true)
        .open(&landed)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    vfs.meta()
        .note_pushing(&[(
            attr.ino,
            ourclone_cache::Pushed {
                size: node.size,
                mtime: node.mtime,
            },
        )])
        .unwrap();
    vfs.drain(|_| {}).await.unwrap();
    assert_eq!(conflicts(&cloud), Vec::<String>::new());
    assert_eq!(std::fs::read(&landed).unwrap(), b"version two, longer");
    assert_eq!(vfs.meta().pending_count().unwrap(), 0);
}

/// Issue 13, item 5: an open handle keeps reading the version it opened. A listing refresh
/// that finds the file changed, or deleted, on the remote does not change what the handle reads;
/// the next open sees the new state.
#[tokio::test(flavor = "multi_thread")]
async fn open_handles_keep_the_version_they_opened() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    std::fs::write(cloud.join("changed.txt"), b"version one").unwrap();
    std::fs::write(cloud.join("deleted.txt"), b"still here").unwrap();
    let vfs = mount(dir.path());
    let changed = vfs.lookup(ROOT_INO, "changed.txt").await.unwrap().ino;
    let deleted = vfs.lookup(ROOT_INO, "deleted.txt").await.unwrap().ino;
    let c = vfs.open(changed, OpenMode::Read, false).await.unwrap();
    let d = vfs.open(deleted, OpenMode::Read, false).await.unwrap();
    assert_eq!(&vfs.read(c, 0, 7).await.unwrap()[..], b"version");
    assert_eq!(&vfs.read(d, 0, 5).await.unwrap()[..], b"still");
    // Elsewhere: same size, other bytes (and a later mtime); and a delete.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(cloud.join("changed.txt"), b"VERSION TWO").unwrap();
    std::fs::remove_file(cloud.join("deleted.txt")).unwrap();
    vfs.refresh(ROOT_INO).await.unwrap();
    assert_eq!(&vfs.read(c, 0, 11).await.unwrap()[..], b"version one");
    assert_eq!(&vfs.read(d, 0, 10).await.unwrap()[..], b"still here");
    vfs.release(c).await.unwrap();
    vfs.release(d).await.unwrap();
    let c = vfs.open(changed, OpenMode::Read, false).await.unwrap();
    assert_eq!(&vfs.read(c, 0, 11).await.unwrap()[..], b"VERSION TWO");
    vfs.release(c).await.unwrap();
    assert!(vfs.lookup(ROOT_INO, "deleted.txt").await.is_err());
}

/// A file renamed here while open keeps reading (from its new place on the remote).
#[tokio::test(flavor = "multi_thread")]
async fn an_open_file_renamed_here_keeps_reading() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    std::fs::write(cloud.join("before.txt"), b"readable after a rename").unwrap();
    let vfs = mount(dir.path());
    let ino = vfs.lookup(ROOT_INO, "before.txt").await.unwrap().ino;
    let fh = vfs.open(ino, OpenMode::Read, false).await.unwrap();
    let flags = ourclone_vfs::RenameFlags::default();
    vfs.rename(ROOT_INO, "before.txt", ROOT_INO, "after.txt", flags)
        .await
        .unwrap();
    assert!(cloud.join("after.txt").exists());
    assert_eq!(
        &vfs.read(fh, 0, 100).await.unwrap()[..],
        b"readable after a rename"
    );
    vfs.release(fh).await.unwrap();
}

/// Last closes of direct (passthrough) handles are journalled in batches: right after the
/// release the file reads as written, shortly after the MetaStore knows it without anything
/// else asking, and a file unlinked, renamed over or opened again before its batch commits
/// ends up as a file closed at once would.
#[tokio::test(flavor = "multi_thread")]
async fn closes_of_direct_handles_are_journalled_together() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    let vfs = mount(dir.path());
    let mut files = Vec::new();
    for i in 0..100u64 {
        let name = format!("f{i}");
        let (attr, opened) = vfs
            .create_direct(ROOT_INO, &name, 0o644, 0, 0)
            .await
            .unwrap();
        let data = opened.direct.expect("a direct handle for a new file");
        data.write_all_at(&vec![b'a' + (i % 26) as u8; 100 + i as usize], 0)
            .unwrap();
        vfs.release(opened.fh).await.unwrap();
        assert_eq!(vfs.getattr(attr.ino).await.unwrap().size, 100 + i);
        files.push((name, attr.ino));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for (i, (_, ino)) in files.iter().enumerate() {
        while vfs.meta().get(*ino).unwrap().size != 100 + i as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "close of f{i} never journalled"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    // Each of these acts on a file whose close waits for its batch.
    let (gone, opened) = vfs
        .create_direct(ROOT_INO, "gone", 0o644, 0, 0)
        .await
        .unwrap();
    opened.direct.unwrap().write_all_at(b"unlinked", 0).unwrap();
    vfs.release(opened.fh).await.unwrap();
    vfs.unlink(ROOT_INO, "gone").await.unwrap();
    let (moved, opened) = vfs
        .create_direct(ROOT_INO, "tmp", 0o644, 0, 0)
        .await
        .unwrap();
    opened
        .direct
        .unwrap()
        .write_all_at(b"saved over f0", 0)
        .unwrap();
    vfs.release(opened.fh).await.unwrap();
    vfs.rename(ROOT_INO, "tmp", ROOT_INO, "f0", Default::default())
        .await
        .unwrap();
    let (again, opened) = vfs
        .create_direct(ROOT_INO, "again", 0o644, 0, 0)
        .await
        .unwrap();
    opened.direct.unwrap().write_all_at(b"first ", 0).unwrap();
    vfs.release(opened.fh).await.unwrap();
    let opened = vfs
        .open_direct(again.ino, OpenMode::Write, false)
        .await
        .unwrap();
    opened.direct.unwrap().write_all_at(b"second", 6).unwrap();
    vfs.release(opened.fh).await.unwrap();
    vfs.drain(|_| {}).await.unwrap();
    assert!(vfs.getattr(gone.ino).await.is_err());
    assert!(!cloud.join("gone").exists());
    assert_eq!(vfs.getattr(moved.ino).await.unwrap().size, 13);
    assert_eq!(std::fs::read(cloud.join("f0")).unwrap(), b"saved over f0");
    assert_eq!(std::fs::read(cloud.join("again")).unwrap(), b"first second");
    for (i, (name, _)) in files.iter().enumerate().skip(1) {
        let want = vec![b'a' + (i % 26) as u8; 100 + i];
        assert_eq!(std::fs::read(cloud.join(name)).unwrap(), want, "{name}");
    }
    assert_eq!(vfs.meta().pending_count().unwrap(), 0);
}

async fn write_new(vfs: &Vfs, name: &str, content: &[u8]) -> u64 {
    let (attr, fh) = vfs.create(ROOT_INO, name, 0o644, 0, 0).await.unwrap();
    vfs.write(fh, 0, content).await.unwrap();
    vfs.release(fh).await.unwrap();
    attr.ino
}

async fn read_name(vfs: &Vfs, name: &str) -> Vec<u8> {
    let ino = vfs.lookup(ROOT_INO, name).await.unwrap().ino;
    common::read_all(vfs, ino).await
}

/// A crash between a rename on the remote and the commit after it (what the SIGKILL test of
/// `cli/tests/crash.rs` hit once in a few hundred rounds). The next mount finds the object
/// under its new name and the tree follows, instead of taking it for someone else's file and
/// diverting the file the tree had there to a conflict copy. A move noted that the remote
/// never made is dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_rename_cut_by_a_crash_is_finished_not_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    {
        let vfs = mount(dir.path());
        let moved = write_new(&vfs, "moved", b"renamed over the target").await;
        let stays = write_new(&vfs, "stays", b"never moved").await;
        vfs.drain(|_| {}).await.unwrap();
        // Pending, not uploaded: what the rename replaces.
        write_new(&vfs, "target", b"replaced").await;
        // The crash: both notes durable, one move made by the remote, no commit after.
        vfs.meta().note_moving(moved, ROOT_INO, "target").unwrap();
        vfs.meta()
            .note_moving(stays, ROOT_INO, "elsewhere")
            .unwrap();
        vfs.meta().sync().unwrap();
        std::fs::rename(cloud.join("moved"), cloud.join("target")).unwrap();
    }
    let vfs = mount(dir.path());
    vfs.drain(|_| {}).await.unwrap();
    assert_eq!(conflicts(&cloud), Vec::<String>::new());
    assert_eq!(
        std::fs::read(cloud.join("target")).unwrap(),
        b"renamed over the target"
    );
    assert_eq!(read_name(&vfs, "target").await, b"renamed over the target");
    assert!(vfs.lookup(ROOT_INO, "moved").await.is_err());
    assert_eq!(read_name(&vfs, "stays").await, b"never moved");
    assert!(!cloud.join("elsewhere").exists());
    assert_eq!(vfs.meta().movings().unwrap(), Vec::<u64>::new());
    assert_eq!(vfs.meta().pending_count().unwrap(), 0);
}

/// Creates, mkdirs, renames and attribute changes (chmod, chown, utimes) commit without a flush
/// of their own: the note each writes to the intent log is what a crash of the process keeps (the state
/// folder copied while the Vfs is live, as SIGKILL leaves it), and the next mount applies it
/// again — with the data a file still open had written.
#[tokio::test(flavor = "multi_thread")]
async fn noted_changes_survive_a_crash_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    let vfs = mount(dir.path());
    let file = write_new(&vfs, "f", b"content").await;
    vfs.drain(|_| {}).await.unwrap();
    let folder = vfs.mkdir(ROOT_INO, "d", 0o755, 0, 0).await.unwrap().ino;
    let (open, fh) = vfs.create(folder, "open", 0o644, 0, 0).await.unwrap();
    vfs.write(fh, 0, b"written, never closed").await.unwrap();
    // rsync's pattern: a temporary name, closed, renamed over the file in place.
    write_new(&vfs, ".tmp", b"replaced").await;
    write_new(&vfs, "old", b"to be replaced").await;
    let flags = ourclone_vfs::RenameFlags::default();
    vfs.rename(ROOT_INO, "old", folder, "old", flags)
        .await
        .unwrap();
    vfs.rename(ROOT_INO, ".tmp", folder, "old", flags)
        .await
        .unwrap();
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    let set = |mode| SetAttr {
        mode: Some(mode),
        uid: Some(1234),
        gid: Some(5678),
        mtime: Some(then),
        ..SetAttr::default()
    };
    vfs.setattr(file, set(0o600), None).await.unwrap();
    vfs.setattr(folder, set(0o700), None).await.unwrap();
    let crashed = dir.path().join("crashed");
    common::copy_dir(&dir.path().join("state"), &crashed);
    drop(vfs);
    let vfs = mount_on(&cloud, &crashed);
    for (ino, mode) in [(file, 0o600), (folder, 0o700)] {
        let a = vfs.getattr(ino).await.unwrap();
        assert_eq!((a.mode, a.uid, a.gid, a.mtime), (mode, 1234, 5678, then));
    }
    assert_eq!(read_name(&vfs, "f").await, b"content");
    assert_eq!(vfs.lookup(folder, "open").await.unwrap().ino, open.ino);
    assert_eq!(
        common::read_all(&vfs, open.ino).await,
        b"written, never closed"
    );
    vfs.drain(|_| {}).await.unwrap();
    assert_eq!(
        std::fs::read(cloud.join("d/open")).unwrap(),
        b"written, never closed"
    );
}
