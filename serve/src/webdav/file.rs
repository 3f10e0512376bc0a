//! The files dav-server reads and writes. A whole-file PUT is written under a temporary name
//! and put in place when it completes ([`Replacing`]): an upload cut short leaves the old
//! content untouched, and a completed one is durable (fsync) before the client hears so. Any
//! other open is a Vfs handle ([`OpenHandle`]), released when dav-server drops it.

use std::io::SeekFrom;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use dav_server::fs::{DavFile, DavMetaData, FsError, FsFuture, FsResult};
use futures_util::FutureExt;
use ourclone_cache::Ino;
use ourclone_vfs::{Attr, FileWriter, Files, OpenMode, Vfs, VfsError};
use tokio::io::AsyncWriteExt;

use super::fs::{dav_error, Meta};

fn io_error(e: std::io::Error) -> FsError {
    dav_error(VfsError::from(e))
}

/// A new content for a path, written under a temporary name.
pub(super) struct Replacing {
    files: Files,
    /// In a mutex only to be `Sync`, as dav-server wants (it is never contended).
    writer: Option<tokio::sync::Mutex<FileWriter>>,
    written: u64,
}

impl std::fmt::Debug for Replacing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replacing")
            .field("written", &self.written)
            .finish()
    }
}

impl Replacing {
    pub(super) fn new(files: Files, writer: FileWriter) -> Self {
        Self {
            files,
            writer: Some(tokio::sync::Mutex::new(writer)),
            written: 0,
        }
    }

    async fn write(&mut self, data: &[u8]) -> FsResult<()> {
        let writer = self.writer.as_ref().ok_or(FsError::Forbidden)?;
        writer
            .lock()
            .await
            .write_all(data)
            .await
            .map_err(io_error)?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// In place, then durable (one group commit syncs the data files, then the journal and the
    /// rename): what a completed PUT promises.
    async fn complete(&mut self) -> FsResult<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let mut writer = writer.into_inner();
        writer.flush().await.map_err(io_error)?;
        writer.finish().await.map_err(dav_error)?;
        self.files.vfs().fsyncdir().await.map_err(dav_error)
    }
}

impl DavFile for Replacing {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(Meta::being_written(self.written));
        std::future::ready(Ok(meta)).boxed()
    }

    fn write_buf(&mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        self.write_bytes(bytes)
    }

    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        async move { self.write(&buf).await }.boxed()
    }

    fn read_bytes(&mut self, _count: usize) -> FsFuture<'_, Bytes> {
        std::future::ready(Err(FsError::Forbidden)).boxed()
    }

    /// Only to where the writer is (a PUT of a range is an [`OpenHandle`]).
    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        let here = self.written;
        let ok = matches!(pos, SeekFrom::Start(n) if n == here)
            || matches!(pos, SeekFrom::Current(0) | SeekFrom::End(0));
        std::future::ready(if ok {
            Ok(here)
        } else {
            Err(FsError::NotImplemented)
        })
        .boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        self.complete().boxed()
    }
}

/// An open Vfs handle with a position.
pub(super) struct OpenHandle {
    vfs: Arc<Vfs>,
    fh: u64,
    ino: Ino,
    pos: u64,
    write: bool,
}

impl std::fmt::Debug for OpenHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenHandle")
            .field("ino", &self.ino)
            .field("pos", &self.pos)
            .finish()
    }
}

impl OpenHandle {
    pub(super) async fn open(
        vfs: Arc<Vfs>,
        attr: &Attr,
        write: bool,
        append: bool,
    ) -> Result<Self, VfsError> {
        let mode = if write {
            OpenMode::Write
        } else {
            OpenMode::Read
        };
        let fh = vfs.open(attr.ino, mode, false).await?;
        let pos = if append { attr.size } else { 0 };
        Ok(Self {
            vfs,
            fh,
            ino: attr.ino,
            pos,
            write,
        })
    }

    /// A file just created, open for writing as `fh`.
    pub(super) fn created(vfs: Arc<Vfs>, attr: &Attr, fh: u64) -> Self {
        Self {
            vfs,
            fh,
            ino: attr.ino,
            pos: 0,
            write: true,
        }
    }

    async fn write(&mut self, mut data: &[u8]) -> FsResult<()> {
        while !data.is_empty() {
            let n = self.vfs.write(self.fh, self.pos, data).await;
            let n = n.map_err(dav_error)? as usize;
            if n == 0 {
                return Err(FsError::GeneralFailure);
            }
            self.pos += n as u64;
            data = &data[n..];
        }
        Ok(())
    }
}

impl DavFile for OpenHandle {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        async move {
            let attr = self.vfs.getattr(self.ino).await.map_err(dav_error)?;
            let meta: Box<dyn DavMetaData> = Box::new(Meta::of_attr(&attr));
            Ok(meta)
        }
        .boxed()
    }

    fn write_buf(&mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        self.write_bytes(bytes)
    }

    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        async move { self.write(&buf).await }.boxed()
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        async move {
            let count = count.min(u32::MAX as usize) as u32;
            let got = self.vfs.read(self.fh, self.pos, count).await;
            let got = got.map_err(dav_error)?;
            self.pos += got.len() as u64;
            Ok(got)
        }
        .boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        async move {
            let (base, delta) = match pos {
                SeekFrom::Start(n) => (0, n as i64),
                SeekFrom::Current(d) => (self.pos, d),
                SeekFrom::End(d) => {
                    let attr = self.vfs.getattr(self.ino).await.map_err(dav_error)?;
                    (attr.size, d)
                }
            };
            let to = base
                .checked_add_signed(delta)
                .ok_or(FsError::GeneralFailure)?;
            self.pos = to;
            Ok(to)
        }
        .boxed()
    }

    /// A durability point: what was written survives power loss once this returns.
    fn flush(&mut self) -> FsFuture<'_, ()> {
        async move {
            if self.write {
                self.vfs.fsync(self.fh).await.map_err(dav_error)?;
            }
            Ok(())
        }
        .boxed()
    }
}

impl Drop for OpenHandle {
    fn drop(&mut self) {
        let (vfs, fh) = (self.vfs.clone(), self.fh);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = vfs.release(fh).await {
                    tracing::warn!("webdav: closing a file: {e}");
                }
            });
        }
    }
}

/// COPY of one file onto `to` (replacing it): on the remote itself when the provider can and
/// `to` is free, else byte by byte through the Vfs, durable before it returns.
pub(super) async fn copy(files: &Files, from: &str, to: &str) -> FsResult<()> {
    if files.resolve(to).await.is_err() {
        let copied = files.copy_on_remote(from, to).await.map_err(dav_error)?;
        if copied.is_some() {
            return Ok(());
        }
    }
    let mut reader = files.open_read(from).await.map_err(dav_error)?;
    let writer = files.replace(to).await.map_err(dav_error)?;
    let mut target = Replacing::new(files.clone(), writer);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut reader, &mut buf)
            .await
            .map_err(io_error)?;
        if n == 0 {
            break;
        }
        target.write(&buf[..n]).await?;
    }
    target.complete().await
}
