//! The local provider: a folder on this machine plays the cloud. Owns mapping remote paths
//! to files under one root; must not cache anything (callers do) nor follow symlinks out of
//! the root.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    Dest, Entry, EntryKind, Features, ObjectRef, Remote, RemoteError, RemotePath, Result, Upload,
    Usage,
};

/// A folder acting as a remote.
#[derive(Clone, Debug)]
pub struct LocalRemote {
    root: PathBuf,
    /// Permission bits cleared on what we create in the folder, as a umask would (the
    /// daemon's own umask keeps its cache private; the user's folder gets the user's).
    umask: u32,
}

impl LocalRemote {
    /// Opens the folder at `root`, which must exist.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let meta = fs::metadata(&root)
            .map_err(|e| RemoteError::from_io(e, &root.display().to_string()))?;
        if !meta.is_dir() {
            return Err(RemoteError::NotADirectory(root.display().to_string()));
        }
        Ok(Self { root, umask: 0o022 })
    }

    /// Files and folders created in the folder get modes 0666 and 0777 less `umask`.
    pub fn with_umask(mut self, umask: u32) -> Self {
        self.umask = umask & 0o777;
        self
    }

    fn full(&self, path: &RemotePath) -> PathBuf {
        if path.is_root() {
            self.root.clone()
        } else {
            self.root.join(path.as_str())
        }
    }
}

/// Runs blocking file-system work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RemoteError::Transient(format!("local I/O task failed: {e}")))?
}

fn entry_from(name: String, meta: &fs::Metadata) -> Option<Entry> {
    let kind = if meta.is_dir() {
        EntryKind::Dir
    } else if meta.is_file() {
        EntryKind::File
    } else {
        return None;
    };
    Some(Entry {
        name,
        kind,
        size: if kind == EntryKind::File {
            meta.len()
        } else {
            0
        },
        mtime: meta.modified().ok(),
        id: None,
        hash: None,
    })
}

fn stat_path(full: &Path, name: &str) -> Result<Entry> {
    let meta = fs::symlink_metadata(full).map_err(|e| RemoteError::from_io(e, name))?;
    entry_from(name.to_string(), &meta)
        .ok_or_else(|| RemoteError::Permanent(format!("{name}: neither file nor folder")))
}

/// Where an upload is written before it is renamed into place. The name is fixed per
/// destination, so an upload cut short by a crash is overwritten by the next attempt instead of
/// leaving debris beside the user's files.
fn temp_sibling(dest: &Path) -> PathBuf {
    // A hash of the name keeps the temp name short whatever the name's length.
    let name = dest
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or(b"upload");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name {
        h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    dest.with_file_name(format!(".{h:016x}{TEMP_SUFFIX}"))
}

const TEMP_SUFFIX: &str = ".ourclone-tmp";

/// Removes upload temps left in `dir`. One is left behind when the folder is renamed while an
/// upload into it is under way (the upload fails and cannot find its temp to clean up); it is
/// hidden from listings, so without this the folder could never be removed.
fn remove_stale_temps(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for item in rd.flatten() {
        if item
            .file_name()
            .as_encoded_bytes()
            .ends_with(TEMP_SUFFIX.as_bytes())
        {
            let _ = fs::remove_file(item.path());
        }
    }
}

/// Copies `source` to `dest` through a temporary sibling. With `replace` false the final step
/// is a hard link, which fails if `dest` appeared meanwhile: a same-named file someone else
/// created is never overwritten by a new file of ours.
fn copy_into_place(
    source: &Path,
    dest: &Path,
    mtime: Option<SystemTime>,
    replace: bool,
    mode: u32,
) -> io::Result<()> {
    let tmp = temp_sibling(dest);
    let result = (|| {
        let mut src = fs::File::open(source)?;
        src.seek(SeekFrom::Start(0))?;
        let mut out = fs::File::create(&tmp)?;
        crate::os::set_file_mode(&out, mode)?;
        io::copy(&mut src.by_ref(), &mut out)?;
        if let Some(t) = mtime {
            out.set_modified(t)?;
        }
        out.sync_all()?;
        if replace {
            return fs::rename(&tmp, dest);
        }
        fs::hard_link(&tmp, dest)
    })();
    if result.is_err() || !replace {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[async_trait]
impl Remote for LocalRemote {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn features(&self) -> Features {
        Features {
            keeps_mtime: true,
            duplicate_names: false,
            empty_files: true,
            server_copy: true,
            max_batch: 1,
            min_list_interval: Duration::ZERO,
            hashes: Vec::new(),
        }
    }

    async fn list(&self, dir: &ObjectRef) -> Result<Vec<Entry>> {
        let full = self.full(&dir.path);
        let what = dir.path.to_string();
        blocking(move || {
            let rd = fs::read_dir(&full).map_err(|e| RemoteError::from_io(e, &what))?;
            let mut out = Vec::new();
            for item in rd {
                let item = item.map_err(|e| RemoteError::from_io(e, &what))?;
                let Ok(name) = item.file_name().into_string() else {
                    tracing::warn!(dir = %what, "skipping a name that is not UTF-8");
                    continue;
                };
                if name.ends_with(TEMP_SUFFIX) {
                    continue;
                }
                let meta = item
                    .metadata()
                    .map_err(|e| RemoteError::from_io(e, &name))?;
                out.extend(entry_from(name, &meta));
            }
            Ok(out)
        })
        .await
    }

    async fn stat(&self, path: &RemotePath) -> Result<Entry> {
        let full = self.full(path);
        let name = path.name().to_string();
        blocking(move || stat_path(&full, &name)).await
    }

    async fn read(&self, file: &ObjectRef, offset: u64, len: u64) -> Result<Bytes> {
        let full = self.full(&file.path);
        let what = file.path.to_string();
        blocking(move || {
            let f = fs::File::open(&full).map_err(|e| RemoteError::from_io(e, &what))?;
            let mut buf = vec![0u8; len as usize];
            let done = crate::os::read_full_at(&f, &mut buf, offset)
                .map_err(|e| RemoteError::from_io(e, &what))?;
            buf.truncate(done);
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn upload(&self, item: &Upload) -> Result<Entry> {
        let dest = self.full(&item.dest.path);
        let source = item.source.clone();
        let mtime = item.mtime;
        let name = item.dest.path.name().to_string();
        let replace = item.replace.is_some();
        let mode = 0o666 & !self.umask;
        blocking(move || {
            copy_into_place(&source, &dest, mtime, replace, mode)
                .map_err(|e| RemoteError::from_io(e, &name))?;
            stat_path(&dest, &name)
        })
        .await
    }

    async fn mkdir(&self, dest: &Dest) -> Result<Entry> {
        let full = self.full(&dest.path);
        let name = dest.path.name().to_string();
        let mode = 0o777 & !self.umask;
        blocking(move || {
            fs::create_dir(&full)
                .and_then(|()| crate::os::set_path_mode(&full, mode))
                .map_err(|e| RemoteError::from_io(e, &name))?;
            stat_path(&full, &name)
        })
        .await
    }

    async fn rename(
        &self,
        from: &ObjectRef,
        to: &Dest,
        replace: Option<&ObjectRef>,
    ) -> Result<Entry> {
        let src = self.full(&from.path);
        let dst = self.full(&to.path);
        let replacing = replace.is_some();
        let name = to.path.name().to_string();
        blocking(move || {
            match fs::symlink_metadata(&dst) {
                Ok(meta) if !replacing => {
                    let _ = meta;
                    return Err(RemoteError::AlreadyExists(name));
                }
                Ok(meta) if meta.is_dir() => {
                    fs::remove_dir(&dst).map_err(|e| RemoteError::from_io(e, &name))?
                }
                _ => {}
            }
            fs::rename(&src, &dst).map_err(|e| RemoteError::from_io(e, &name))?;
            stat_path(&dst, &name)
        })
        .await
    }

    async fn remove_file(&self, file: &ObjectRef) -> Result<()> {
        let full = self.full(&file.path);
        let what = file.path.to_string();
        blocking(move || fs::remove_file(&full).map_err(|e| RemoteError::from_io(e, &what))).await
    }

    async fn remove_dir(&self, dir: &ObjectRef) -> Result<()> {
        let full = self.full(&dir.path);
        let what = dir.path.to_string();
        blocking(move || {
            let first = fs::remove_dir(&full);
            if let Err(e) = first {
                if e.kind() != io::ErrorKind::DirectoryNotEmpty {
                    return Err(RemoteError::from_io(e, &what));
                }
                remove_stale_temps(&full);
                fs::remove_dir(&full).map_err(|e| RemoteError::from_io(e, &what))?;
            }
            Ok(())
        })
        .await
    }

    async fn copy(&self, from: &ObjectRef, to: &Dest) -> Result<Entry> {
        let src = self.full(&from.path);
        let dst = self.full(&to.path);
        let name = to.path.name().to_string();
        let mode = 0o666 & !self.umask;
        blocking(move || {
            let mtime = fs::metadata(&src).and_then(|m| m.modified()).ok();
            copy_into_place(&src, &dst, mtime, false, mode)
                .map_err(|e| RemoteError::from_io(e, &name))?;
            stat_path(&dst, &name)
        })
        .await
    }

    async fn about(&self) -> Result<Usage> {
        let root = self.root.clone();
        blocking(move || {
            let s = crate::os::space(&root)
                .map_err(|e| RemoteError::from_io(e, "free space of the root"))?;
            Ok(Usage {
                total: Some(s.total),
                used: Some(s.total.saturating_sub(s.free)),
                free: Some(s.available),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(p: &str) -> Dest {
        Dest {
            path: RemotePath::parse(p).unwrap(),
            parent_id: None,
        }
    }

    fn obj(p: &str) -> ObjectRef {
        ObjectRef::new(RemotePath::parse(p).unwrap(), None)
    }

    #[tokio::test]
    async fn upload_list_read_rename_remove() {
        let root = tempfile::tempdir().unwrap();
        let src = tempfile::NamedTempFile::new().unwrap();
        fs::write(src.path(), b"hello world").unwrap();
        let r = LocalRemote::open(root.path()).unwrap();
        r.mkdir(&dest("d")).await.unwrap();
        let up = Upload {
            dest: dest("d/f.txt"),
            source: src.path().to_path_buf(),
            size: 11,
            mtime: None,
            replace: None,
        };
        let e = r.upload(&up).await.unwrap();
        assert_eq!((e.name.as_str(), e.size), ("f.txt", 11));
        let listed = r.list(&obj("d")).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            &r.read(&obj("d/f.txt"), 6, 100).await.unwrap()[..],
            b"world"
        );
        r.rename(&obj("d/f.txt"), &dest("g.txt"), None)
            .await
            .unwrap();
        assert!(matches!(
            r.stat(&RemotePath::parse("d/f.txt").unwrap()).await,
            Err(RemoteError::NotFound(_))
        ));
        assert!(r.remove_dir(&obj("")).await.is_err());
        r.remove_file(&obj("g.txt")).await.unwrap();
        r.remove_dir(&obj("d")).await.unwrap();
        assert!(r.list(&obj("")).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn rename_without_replace_refuses_to_clobber() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("a"), b"a").unwrap();
        fs::write(root.path().join("b"), b"b").unwrap();
        let r = LocalRemote::open(root.path()).unwrap();
        let err = r.rename(&obj("a"), &dest("b"), None).await.unwrap_err();
        assert!(matches!(err, RemoteError::AlreadyExists(_)));
        r.rename(&obj("a"), &dest("b"), Some(&obj("b")))
            .await
            .unwrap();
        assert_eq!(fs::read(root.path().join("b")).unwrap(), b"a");
    }

    /// A folder holding only a temp left by an upload cut off by a rename of the folder is
    /// still removable; one holding a real file is not.
    #[tokio::test]
    async fn remove_dir_clears_stale_upload_temps_only() {
        let root = tempfile::tempdir().unwrap();
        let r = LocalRemote::open(root.path()).unwrap();
        r.mkdir(&dest("d")).await.unwrap();
        let d = root.path().join("d");
        fs::write(temp_sibling(&d.join("f")), b"partial").unwrap();
        fs::write(d.join("keep"), b"user data").unwrap();
        assert!(r.remove_dir(&obj("d")).await.is_err());
        assert_eq!(fs::read(d.join("keep")).unwrap(), b"user data");
        fs::remove_file(d.join("keep")).unwrap();
        fs::write(temp_sibling(&d.join("f")), b"partial").unwrap();
        r.remove_dir(&obj("d")).await.unwrap();
        assert!(!d.exists());
    }
}
