//! The Vfs without the kernel: POSIX behaviour over a local remote, remounts, and coalescing
//! of namespace changes into uploads, counted with the `Counted` wrapper.

mod common;

use std::sync::Arc;

use common::read_all;

use ourclone_cache::ROOT_INO;
use ourclone_remote::local::LocalRemote;
use ourclone_remote::{
    Counted, Dest, Entry, ObjectRef, RemotePath, Result as RResult, Upload, Usage,
};
use ourclone_vfs::{OpenMode, RenameFlags, Vfs};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cloud")).unwrap();
        Self { dir }
    }

    fn cloud(&self) -> std::path::PathBuf {
        self.dir.path().join("cloud")
    }

    fn mount(&self) -> (Arc<Vfs>, Arc<Counted>) {
        let remote = Arc::new(Counted::new(Arc::new(
            LocalRemote::open(self.cloud()).unwrap(),
        )));
        let cfg = common::config();
        let (vfs, _) = Vfs::open_cache(
            remote.clone(),
            RemotePath::root(),
            &self.dir.path().join("state"),
            cfg,
        )
        .unwrap();
        (vfs, remote)
    }
}

async fn write_file(vfs: &Vfs, parent: u64, name: &str, data: &[u8]) -> u64 {
    let (attr, fh) = vfs.create(parent, name, 0o640, 0, 0).await.unwrap();
    vfs.write(fh, 0, data).await.unwrap();
    vfs.flush(fh).await.unwrap();
    vfs.release(fh).await.unwrap();
    attr.ino
}

#[tokio::test(flavor = "multi_thread")]
async fn write_read_and_survive_remount() {
    let fx = Fixture::new();
    let (vfs, _) = fx.mount();
    let d = vfs.mkdir(ROOT_INO, "d", 0o750, 0, 0).await.unwrap();
    let ino = write_file(&vfs, d.ino, "f", b"hello").await;
    assert_eq!(read_all(&vfs, ino).await, b"hello");
    let fh = vfs.open(ino, OpenMode::Write, false).await.unwrap();
    vfs.write(fh, 3, b"p me").await.unwrap();
    vfs.release(fh).await.unwrap();
    assert_eq!(read_all(&vfs, ino).await, b"help me");
    vfs.drain(|_| {}).await.unwrap();
    drop(vfs);
    assert_eq!(std::fs::read(fx.cloud().join("d/f")).unwrap(), b"help me");

    let (vfs, remote) = fx.mount();
    let again = vfs.lookup(ROOT_INO, "d").await.unwrap();
    assert_eq!(again.ino, d.ino, "inode numbers are stable across remounts");
    assert_eq!(again.mode, 0o750);
    let f = vfs.lookup(d.ino, "f").await.unwrap();
    assert_eq!((f.ino, f.size, f.mode), (ino, 7, 0o640));
    assert_eq!(read_all(&vfs, ino).await, b"help me");
    assert_eq!(remote.counts().list, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn temp_file_then_rename_costs_one_upload_and_no_remote_rename() {
    let fx = Fixture::new();
    let (vfs, remote) = fx.mount();
    for i in 0..10 {
        write_file(&vfs, ROOT_INO, &format!(".f{i}.tmp"), b"data").await;
        vfs.rename(
            ROOT_INO,
            &format!(".f{i}.tmp"),
            ROOT_INO,
            &format!("f{i}"),
            RenameFlags::default(),
        )
        .await
        .unwrap();
    }
    let gone = write_file(&vfs, ROOT_INO, "scratch", b"bye").await;
    vfs.unlink(ROOT_INO, "scratch").await.unwrap();
    assert!(vfs.getattr(gone).await.is_err());
    vfs.drain(|_| {}).await.unwrap();
    let c = remote.counts();
    assert_eq!((c.upload, c.rename, c.remove), (10, 0, 0), "{c:?}");
    assert!(!fx.cloud().join("scratch").exists());
    assert_eq!(std::fs::read(fx.cloud().join("f3")).unwrap(), b"data");
}

#[tokio::test(flavor = "multi_thread")]
async fn rename_over_existing_and_errnos() {
    let fx = Fixture::new();
    let (vfs, _) = fx.mount();
    write_file(&vfs, ROOT_INO, "a", b"A").await;
    write_file(&vfs, ROOT_INO, "b", b"B").await;
    vfs.drain(|_| {}).await.unwrap();
    vfs.rename(ROOT_INO, "a", ROOT_INO, "b", RenameFlags::default())
        .await
        .unwrap();
    assert_eq!(
        vfs.lookup(ROOT_INO, "a").await.unwrap_err().errno(),
        libc::ENOENT
    );
    let b = vfs.lookup(ROOT_INO, "b").await.unwrap();
    assert_eq!(read_all(&vfs, b.ino).await, b"A");
    assert_eq!(std::fs::read(fx.cloud().join("b")).unwrap(), b"A");
    let d = vfs.mkdir(ROOT_INO, "d", 0o755, 0, 0).await.unwrap();
    write_file(&vfs, d.ino, "inner", b"x").await;
    assert_eq!(
        vfs.rmdir(ROOT_INO, "d").await.unwrap_err().errno(),
        libc::ENOTEMPTY
    );
    assert_eq!(
        vfs.unlink(ROOT_INO, "d").await.unwrap_err().errno(),
        libc::EISDIR
    );
    assert_eq!(
        vfs.rmdir(ROOT_INO, "b").await.unwrap_err().errno(),
        libc::ENOTDIR
    );
    let no_replace = RenameFlags {
        no_replace: true,
        exchange: false,
    };
    assert_eq!(
        vfs.rename(ROOT_INO, "b", ROOT_INO, "d", no_replace)
            .await
            .unwrap_err()
            .errno(),
        libc::EEXIST
    );
    assert_eq!(
        vfs.rename(ROOT_INO, "d", d.ino, "x", RenameFlags::default())
            .await
            .unwrap_err()
            .errno(),
        libc::EINVAL
    );
    assert_eq!(
        vfs.create(ROOT_INO, "b", 0o644, 0, 0)
            .await
            .unwrap_err()
            .errno(),
        libc::EEXIST
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unlinked_open_file_stays_readable() {
    let fx = Fixture::new();
    let (vfs, _) = fx.mount();
    let ino = write_file(&vfs, ROOT_INO, "f", b"still here").await;
    let fh = vfs.open(ino, OpenMode::Read, false).await.unwrap();
    vfs.unlink(ROOT_INO, "f").await.unwrap();
    assert_eq!(&vfs.read(fh, 0, 100).await.unwrap()[..], b"still here");
    vfs.release(fh).await.unwrap();
    assert!(vfs.getattr(ino).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_picks_up_remote_files_and_truncate_works() {
    let fx = Fixture::new();
    std::fs::create_dir(fx.cloud().join("sub")).unwrap();
    std::fs::write(fx.cloud().join("sub/r.txt"), b"remote content").unwrap();
    let (vfs, remote) = fx.mount();
    let sub = vfs.lookup(ROOT_INO, "sub").await.unwrap();
    let r = vfs.lookup(sub.ino, "r.txt").await.unwrap();
    assert_eq!(r.size, 14);
    assert_eq!(read_all(&vfs, r.ino).await, b"remote content");
    let set = ourclone_vfs::SetAttr {
        size: Some(6),
        ..Default::default()
    };
    assert_eq!(vfs.setattr(r.ino, set, None).await.unwrap().size, 6);
    assert_eq!(read_all(&vfs, r.ino).await, b"remote");
    vfs.drain(|_| {}).await.unwrap();
    assert_eq!(
        std::fs::read(fx.cloud().join("sub/r.txt")).unwrap(),
        b"remote"
    );
    assert_eq!(remote.counts().list, 2, "root and sub listed once each");
}

/// A local remote whose uploads of files named `f` wait at a gate: they start, say so, and
/// land only when the test opens the gate.
struct GatedUploads {
    inner: LocalRemote,
    entered: tokio::sync::Notify,
    open: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl ourclone_remote::Remote for GatedUploads {
    fn kind(&self) -> &'static str {
        "gated"
    }
    fn features(&self) -> ourclone_remote::Features {
        self.inner.features()
    }
    async fn list(&self, dir: &ObjectRef) -> RResult<Vec<Entry>> {
        self.inner.list(dir).await
    }
    async fn stat(&self, path: &RemotePath) -> RResult<Entry> {
        self.inner.stat(path).await
    }
    async fn read(&self, file: &ObjectRef, offset: u64, len: u64) -> RResult<bytes::Bytes> {
        self.inner.read(file, offset, len).await
    }
    async fn upload(&self, item: &Upload) -> RResult<Entry> {
        if item.dest.path.name() == "f" {
            self.entered.notify_one();
            self.open.notified().await;
        }
        self.inner.upload(item).await
    }
    async fn mkdir(&self, dest: &Dest) -> RResult<Entry> {
        self.inner.mkdir(dest).await
    }
    async fn rename(
        &self,
        from: &ObjectRef,
        to: &Dest,
        replace: Option<&ObjectRef>,
    ) -> RResult<Entry> {
        self.inner.rename(from, to, replace).await
    }
    async fn remove_file(&self, file: &ObjectRef) -> RResult<()> {
        self.inner.remove_file(file).await
    }
    async fn remove_dir(&self, dir: &ObjectRef) -> RResult<()> {
        self.inner.remove_dir(dir).await
    }
    async fn about(&self) -> RResult<Usage> {
        self.inner.about().await
    }
}

/// A folder renamed while an upload into it is under way: the upload must not land under the
/// folder's old name, where another folder of that name (here made by someone else on the
/// remote) would receive it. The rename waits for the upload.
#[tokio::test(flavor = "multi_thread")]
async fn folder_rename_never_strands_an_upload_under_the_old_name() {
    let fx = Fixture::new();
    let gated = Arc::new(GatedUploads {
        inner: LocalRemote::open(fx.cloud()).unwrap(),
        entered: Default::default(),
        open: Default::default(),
    });
    let (vfs, _) = Vfs::open_cache(
        gated.clone(),
        RemotePath::root(),
        &fx.dir.path().join("state"),
        common::config(),
    )
    .unwrap();
    let a = vfs.mkdir(ROOT_INO, "a", 0o755, 0, 0).await.unwrap();
    write_file(&vfs, a.ino, "f", b"mine").await;
    let drain = tokio::spawn({
        let vfs = vfs.clone();
        async move { vfs.drain(|_| {}).await }
    });
    gated.entered.notified().await;
    let rename = tokio::spawn({
        let vfs = vfs.clone();
        async move {
            vfs.rename(ROOT_INO, "a", ROOT_INO, "b", RenameFlags::default())
                .await
        }
    });
    // Room for the rename to run, were it not held back; then someone makes a new `a`.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    std::fs::create_dir_all(fx.cloud().join("a")).unwrap();
    gated.open.notify_one();
    rename.await.unwrap().unwrap();
    drain.await.unwrap().unwrap();
    assert_eq!(std::fs::read(fx.cloud().join("b/f")).unwrap(), b"mine");
    assert!(
        !fx.cloud().join("a/f").exists(),
        "upload landed under the old name"
    );
}
