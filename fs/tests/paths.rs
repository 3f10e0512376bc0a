//! The path-level API (`Files`) against a real kernel mount of the same Vfs: 1,000 files
//! written through it read back through the kernel, 1,000 written through the kernel read back
//! through it; writers' temporary names never reach the remote (one upload per file, no rename
//! calls), and the per-file upload confirmation agrees with the remote.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use ourclone_remote::local::LocalRemote;
use ourclone_remote::{Counted, RemotePath};
use ourclone_vfs::{Files, Owner, Vfs};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

const N: usize = 1000;

struct Mounted {
    rt: tokio::runtime::Runtime,
    vfs: Arc<Vfs>,
    counted: Arc<Counted>,
    mnt: PathBuf,
    cloud: PathBuf,
    // Unmounts on drop, also when a test panics.
    _session: ourclone_vfs::fuse::FuseMount,
    _dir: tempfile::TempDir,
}

fn mount() -> Mounted {
    let dir = tempfile::tempdir().unwrap();
    let (cloud, mnt) = (dir.path().join("cloud"), dir.path().join("mnt"));
    std::fs::create_dir(&cloud).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let local = Arc::new(LocalRemote::open(&cloud).unwrap());
    let counted = Arc::new(Counted::new(local));
    let state = dir.path().join("state");
    let vfs = rt
        .block_on(async {
            Vfs::open_cache(
                counted.clone(),
                RemotePath::root(),
                &state,
                common::config(),
            )
        })
        .unwrap()
        .0;
    let session = {
        let _enter = rt.enter();
        vfs.start_background();
        ourclone_vfs::fuse::serve(vfs.clone(), rt.handle().clone(), &mnt, "test:", false).unwrap()
    };
    Mounted {
        rt,
        vfs,
        counted,
        mnt,
        cloud,
        _session: session,
        _dir: dir,
    }
}

fn content(i: usize) -> Vec<u8> {
    format!("file {i}\n").repeat(i % 50 + 1).into_bytes()
}

fn parts_left(cloud: &Path) -> Vec<String> {
    walkdir(cloud)
        .into_iter()
        .filter(|p| p.contains(".ourclone-part"))
        .collect()
}

fn walkdir(dir: &Path) -> Vec<String> {
    let out = std::process::Command::new("find")
        .arg(dir)
        .args(["-type", "f"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn files_written_by_path_are_read_through_the_kernel_and_the_other_way() {
    let m = mount();
    let files = Files::new(m.vfs.clone(), Owner { uid: 0, gid: 0 });
    let before = m.counted.counts();
    let written = m.rt.block_on(async {
        files.mkdir_all("in/deep").await.unwrap();
        let mut written = Vec::new();
        for i in 0..N {
            let mut w = files.create(&format!("in/deep/f{i:04}")).await.unwrap();
            w.write_all(&content(i)).await.unwrap();
            written.push(w.finish().await.unwrap());
        }
        files.wait_uploaded(&written).await.unwrap();
        written
    });
    assert_eq!(written.len(), N);
    for i in 0..N {
        let got = std::fs::read(m.mnt.join(format!("in/deep/f{i:04}"))).unwrap();
        assert_eq!(got, content(i), "f{i:04} through the kernel");
        let cloud = std::fs::read(m.cloud.join(format!("in/deep/f{i:04}"))).unwrap();
        assert_eq!(cloud, content(i), "f{i:04} on the remote once confirmed");
    }
    let after = m.counted.counts();
    assert_eq!(
        after.upload - before.upload,
        N as u64,
        "one upload per file"
    );
    assert_eq!(
        after.rename - before.rename,
        0,
        "temporary names reached the remote"
    );
    assert_eq!(parts_left(&m.cloud), Vec::<String>::new());

    // The other way round: the kernel writes, the path API reads and walks.
    std::fs::create_dir_all(m.mnt.join("out/a/b")).unwrap();
    for i in 0..N {
        let dir = if i % 2 == 0 { "out/a" } else { "out/a/b" };
        std::fs::write(m.mnt.join(format!("{dir}/g{i:04}")), content(i)).unwrap();
    }
    m.rt.block_on(async {
        let mut walk = files.walk("out").await.unwrap();
        let (mut seen, mut bytes) = (0, 0);
        while let Some(entry) = walk.next().await {
            let entry = entry.unwrap();
            if entry.kind != ourclone_cache::Kind::File {
                continue;
            }
            let i: usize = entry.path.rsplit('g').next().unwrap().parse().unwrap();
            let mut r = files.open_read(&entry.path).await.unwrap();
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, content(i), "{} through the path API", entry.path);
            assert_eq!(entry.size, got.len() as u64);
            seen += 1;
            bytes += entry.size;
        }
        assert_eq!(seen, N);
        let want: u64 = (0..N).map(|i| content(i).len() as u64).sum();
        assert_eq!(bytes, want);
    });
}

#[test]
fn writers_replace_only_when_asked_and_leave_nothing_when_dropped() {
    let m = mount();
    let files = Files::new(m.vfs.clone(), Owner { uid: 0, gid: 0 });
    m.rt.block_on(async {
        let mut w = files.create("doc.txt").await.unwrap();
        w.write_all(b"first").await.unwrap();
        w.finish().await.unwrap();
        // Visible under the final name only once finished.
        let mut w = files.replace("doc.txt").await.unwrap();
        w.write_all(b"second, longer").await.unwrap();
        assert_eq!(std::fs::read(m.mnt.join("doc.txt")).unwrap(), b"first");
        let written = w.finish().await.unwrap();
        files.wait_uploaded(&[written]).await.unwrap();
        assert_eq!(
            std::fs::read(m.cloud.join("doc.txt")).unwrap(),
            b"second, longer"
        );
        // `create` refuses to overwrite.
        let mut w = files.create("doc.txt").await.unwrap();
        w.write_all(b"third").await.unwrap();
        let e = w.finish().await.unwrap_err();
        assert_eq!(e.errno(), libc::EEXIST);
        // A writer dropped unfinished leaves no file behind.
        let mut w = files.create("abandoned").await.unwrap();
        w.write_all(b"half").await.unwrap();
        drop(w);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let names: Vec<String> = files
            .read_dir("")
            .await
            .unwrap()
            .map(|e| e.path)
            .collect::<Vec<_>>()
            .await;
        assert_eq!(names, vec!["doc.txt".to_string()]);
        // Seeks read what they should.
        let mut r = files.open_read("doc.txt").await.unwrap();
        r.seek(std::io::SeekFrom::Start(8)).await.unwrap();
        let mut tail = String::new();
        r.read_to_string(&mut tail).await.unwrap();
        assert_eq!(tail, "longer");
        m.vfs.drain(|_| {}).await.unwrap();
    });
    assert_eq!(
        std::fs::read(m.cloud.join("doc.txt")).unwrap(),
        b"second, longer"
    );
    assert_eq!(parts_left(&m.cloud), Vec::<String>::new());
    assert_eq!(walkdir(&m.cloud).len(), 1);
}
