//! [`VfsDav`]: dav-server's filesystem trait over [`Files`]. WebDAV paths are the Vfs's paths;
//! errors become the HTTP statuses dav-server derives from [`FsError`]. Owns that mapping only.

use std::time::SystemTime;

use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsResult,
    FsStream, OpenOptions, ReadDirMeta,
};
use futures_util::FutureExt;
use http::StatusCode;
use ourclone_cache::Kind;
use ourclone_remote::pacer::Priority;
use ourclone_vfs::{Attr, FileInfo, Files, VfsError};

use super::file::{OpenHandle, Replacing};
use super::props::{self, DeadProps};

/// A Vfs as dav-server's filesystem. Cheap to clone.
#[derive(Clone)]
pub struct VfsDav {
    files: Files,
    props: DeadProps,
}

impl VfsDav {
    /// Serves `files` at [`Priority::Interactive`]: someone is waiting on every request.
    pub fn new(files: Files) -> Self {
        Self {
            files: files.at_priority(Priority::Interactive),
            props: DeadProps::default(),
        }
    }

    async fn ino_of(&self, path: &DavPath) -> FsResult<ourclone_cache::Ino> {
        let attr = self.files.resolve(rel(path)?).await.map_err(dav_error)?;
        Ok(attr.ino)
    }

    async fn patch(&self, path: &DavPath, patch: Vec<(bool, DavProp)>) -> FsResult<Patched> {
        let ino = self.ino_of(path).await?;
        let mut done = Vec::with_capacity(patch.len());
        for (set, p) in patch {
            let named = props::name_only(&p);
            if let (true, Some(mtime)) = (set, props::win32_mtime(&p)) {
                let changed = self.files.set_times(rel(path)?, mtime).await;
                done.push((
                    changed.map_or(StatusCode::CONFLICT, |()| StatusCode::OK),
                    named,
                ));
            } else if set {
                self.props.set(ino, p);
                done.push((StatusCode::OK, named));
            } else {
                self.props.remove(ino, &p);
                done.push((StatusCode::OK, named));
            }
        }
        Ok(done)
    }

    async fn open_file(&self, path: &str, o: OpenOptions) -> FsResult<Box<dyn DavFile>> {
        let files = &self.files;
        match files.resolve(path).await {
            Ok(attr) if attr.kind == Kind::Dir => Err(FsError::Forbidden),
            Ok(_) if o.create_new => Err(FsError::Exists),
            Ok(_) if o.write && o.truncate => {
                let writer = files.replace(path).await.map_err(dav_error)?;
                Ok(Box::new(Replacing::new(files.clone(), writer)))
            }
            Ok(attr) => {
                let handle = OpenHandle::open(files.vfs().clone(), &attr, o.write, o.append);
                Ok(Box::new(handle.await.map_err(dav_error)?))
            }
            Err(e) if e.errno() == libc::ENOENT && o.write && o.truncate && o.create => {
                let writer = files.create(path).await.map_err(dav_error)?;
                Ok(Box::new(Replacing::new(files.clone(), writer)))
            }
            // A LOCK of an unmapped URL: the empty file must exist when it answers.
            Err(e) if e.errno() == libc::ENOENT && o.write && (o.create || o.create_new) => {
                let (attr, fh) = files.create_open(path).await.map_err(dav_error)?;
                Ok(Box::new(OpenHandle::created(
                    files.vfs().clone(),
                    &attr,
                    fh,
                )))
            }
            Err(e) => Err(dav_error(e)),
        }
    }
}

type Patched = Vec<(StatusCode, DavProp)>;

/// The Vfs path of a WebDAV path (percent-decoded bytes; our names are UTF-8).
fn rel(path: &DavPath) -> FsResult<&str> {
    std::str::from_utf8(path.as_bytes()).map_err(|_| FsError::NotFound)
}

/// The status dav-server answers for a Vfs error.
pub(super) fn dav_error(e: VfsError) -> FsError {
    match e.errno() {
        libc::ENOENT => FsError::NotFound,
        libc::EEXIST | libc::ENOTEMPTY => FsError::Exists,
        libc::ENOSPC => FsError::InsufficientStorage,
        #[cfg(unix)]
        libc::EDQUOT => FsError::InsufficientStorage,
        libc::EFBIG => FsError::TooLarge,
        libc::ENAMETOOLONG => FsError::PathTooLong,
        libc::ELOOP => FsError::LoopDetected,
        libc::EXDEV => FsError::IsRemote,
        libc::EACCES | libc::EPERM | libc::EROFS | libc::EISDIR | libc::ENOTDIR | libc::EINVAL => {
            FsError::Forbidden
        }
        _ => {
            tracing::warn!("webdav: {e}");
            FsError::GeneralFailure
        }
    }
}

/// What a PROPFIND shows of a node.
#[derive(Clone, Debug)]
pub(super) struct Meta {
    kind: Kind,
    size: u64,
    mtime: SystemTime,
    atime: SystemTime,
    ctime: SystemTime,
    mode: u32,
}

impl Meta {
    pub(super) fn of_attr(a: &Attr) -> Self {
        Self {
            kind: a.kind,
            size: a.size,
            mtime: a.mtime,
            atime: a.atime,
            ctime: a.ctime,
            mode: a.mode,
        }
    }

    fn of_info(i: &FileInfo) -> Self {
        Self {
            kind: i.kind,
            size: i.size,
            mtime: i.mtime,
            atime: i.mtime,
            ctime: i.mtime,
            mode: i.mode,
        }
    }

    /// A file being written under a temporary name: `size` bytes so far.
    pub(super) fn being_written(size: u64) -> Self {
        let now = SystemTime::now();
        Self {
            kind: Kind::File,
            size,
            mtime: now,
            atime: now,
            ctime: now,
            mode: 0o644,
        }
    }
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.size
    }
    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.mtime)
    }
    fn accessed(&self) -> FsResult<SystemTime> {
        Ok(self.atime)
    }
    fn status_changed(&self) -> FsResult<SystemTime> {
        Ok(self.ctime)
    }
    fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
    fn is_symlink(&self) -> bool {
        self.kind == Kind::Symlink
    }
    fn executable(&self) -> FsResult<bool> {
        Ok(self.kind == Kind::File && self.mode & 0o100 != 0)
    }
}

struct Entry {
    name: String,
    meta: Meta,
}

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        self.name.clone().into_bytes()
    }
    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(self.meta.clone());
        std::future::ready(Ok(meta)).boxed()
    }
}

impl DavFileSystem for VfsDav {
    fn open<'a>(&'a self, path: &'a DavPath, o: OpenOptions) -> FsFuture<'a, Box<dyn DavFile>> {
        async move { self.open_file(rel(path)?, o).await }.boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            let mut dir = self.files.read_dir(rel(path)?).await.map_err(dav_error)?;
            let mut entries: Vec<FsResult<Box<dyn DavDirEntry>>> = Vec::new();
            while let Some(info) = dir.next_entry().await {
                let name = info.path.rsplit('/').next().unwrap_or_default().to_string();
                let meta = Meta::of_info(&info);
                entries.push(Ok(Box::new(Entry { name, meta })));
            }
            let stream: FsStream<Box<dyn DavDirEntry>> =
                Box::pin(futures_util::stream::iter(entries));
            Ok(stream)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            let attr = self.files.resolve(rel(path)?).await.map_err(dav_error)?;
            let meta: Box<dyn DavMetaData> = Box::new(Meta::of_attr(&attr));
            Ok(meta)
        }
        .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.files.mkdir(rel(path)?).await.map_err(dav_error)?;
            Ok(())
        }
        .boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        self.remove_file(path)
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            let ino = self.ino_of(path).await?;
            self.files.remove(rel(path)?).await.map_err(dav_error)?;
            self.props.forget(ino);
            Ok(())
        }
        .boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            let (from, to) = (rel(from)?, rel(to)?);
            self.files.rename(from, to).await.map_err(dav_error)
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            let (src, dst) = (rel(from)?, rel(to)?);
            super::file::copy(&self.files, src, dst).await?;
            let (src, dst) = (self.ino_of(from).await?, self.ino_of(to).await?);
            self.props.copy(src, dst);
            Ok(())
        }
        .boxed()
    }

    fn set_modified<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        async move {
            self.files
                .set_times(rel(path)?, tm)
                .await
                .map_err(dav_error)
        }
        .boxed()
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        std::future::ready(true).boxed()
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> FsFuture<'a, Patched> {
        self.patch(path, patch).boxed()
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        async move {
            let all = self.props.all(self.ino_of(path).await?);
            Ok(match do_content {
                true => all,
                false => all.iter().map(props::name_only).collect(),
            })
        }
        .boxed()
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        async move {
            let found = self.props.get(self.ino_of(path).await?, &prop);
            found.and_then(|p| p.xml).ok_or(FsError::NotFound)
        }
        .boxed()
    }

    fn get_quota(&self) -> FsFuture<'_, (u64, Option<u64>)> {
        async move {
            let usage = self.files.vfs().statfs().await.map_err(dav_error)?;
            let used = usage.used.unwrap_or(0);
            Ok((used, usage.total))
        }
        .boxed()
    }
}
