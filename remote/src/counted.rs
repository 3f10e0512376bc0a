//! `Counted`: wraps any provider and counts the calls made through it, per operation, so
//! `status` and the tests can prove what a workload cost. Owns counting only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Dest, Entry, Features, ObjectRef, Remote, RemotePath, Result, Upload, Usage};

/// Calls made through a [`Counted`] remote since it was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallCounts {
    pub list: u64,
    pub stat: u64,
    pub read: u64,
    pub read_bytes: u64,
    pub upload: u64,
    pub upload_bytes: u64,
    pub mkdir: u64,
    pub rename: u64,
    pub remove: u64,
    pub copy: u64,
    pub about: u64,
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    list: AtomicU64,
    stat: AtomicU64,
    read: AtomicU64,
    read_bytes: AtomicU64,
    upload: AtomicU64,
    upload_bytes: AtomicU64,
    mkdir: AtomicU64,
    rename: AtomicU64,
    remove: AtomicU64,
    copy: AtomicU64,
    about: AtomicU64,
    errors: AtomicU64,
}

/// A provider whose calls are counted.
pub struct Counted {
    inner: Arc<dyn Remote>,
    c: Counters,
}

impl Counted {
    pub fn new(inner: Arc<dyn Remote>) -> Self {
        Self {
            inner,
            c: Counters::default(),
        }
    }

    pub fn counts(&self) -> CallCounts {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CallCounts {
            list: g(&self.c.list),
            stat: g(&self.c.stat),
            read: g(&self.c.read),
            read_bytes: g(&self.c.read_bytes),
            upload: g(&self.c.upload),
            upload_bytes: g(&self.c.upload_bytes),
            mkdir: g(&self.c.mkdir),
            rename: g(&self.c.rename),
            remove: g(&self.c.remove),
            copy: g(&self.c.copy),
            about: g(&self.c.about),
            errors: g(&self.c.errors),
        }
    }

    fn tally<T>(&self, counter: &AtomicU64, n: u64, r: Result<T>) -> Result<T> {
        counter.fetch_add(n, Ordering::Relaxed);
        if r.is_err() {
            self.c.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

#[async_trait]
impl Remote for Counted {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn features(&self) -> Features {
        self.inner.features()
    }

    fn reachability(&self) -> crate::Reachability {
        self.inner.reachability()
    }

    async fn list(&self, dir: &ObjectRef) -> Result<Vec<Entry>> {
        let r = self.inner.list(dir).await;
        self.tally(&self.c.list, 1, r)
    }

    async fn stat(&self, path: &RemotePath) -> Result<Entry> {
        let r = self.inner.stat(path).await;
        self.tally(&self.c.stat, 1, r)
    }

    async fn read(&self, file: &ObjectRef, offset: u64, len: u64) -> Result<Bytes> {
        let r = self.inner.read(file, offset, len).await;
        if let Ok(b) = &r {
            self.c
                .read_bytes
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        self.tally(&self.c.read, 1, r)
    }

    async fn upload(&self, item: &Upload) -> Result<Entry> {
        let r = self.inner.upload(item).await;
        self.c.upload_bytes.fetch_add(item.size, Ordering::Relaxed);
        self.tally(&self.c.upload, 1, r)
    }

    async fn upload_batch(&self, items: &[Upload]) -> Vec<Result<Entry>> {
        let out = self.inner.upload_batch(items).await;
        let bytes: u64 = items.iter().map(|i| i.size).sum();
        self.c.upload_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.c
            .upload
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        let failed = out.iter().filter(|r| r.is_err()).count() as u64;
        self.c.errors.fetch_add(failed, Ordering::Relaxed);
        out
    }

    async fn mkdir(&self, dest: &Dest) -> Result<Entry> {
        let r = self.inner.mkdir(dest).await;
        self.tally(&self.c.mkdir, 1, r)
    }

    async fn rename(
        &self,
        from: &ObjectRef,
        to: &Dest,
        replace: Option<&ObjectRef>,
    ) -> Result<Entry> {
        let r = self.inner.rename(from, to, replace).await;
        self.tally(&self.c.rename, 1, r)
    }

    async fn remove_file(&self, file: &ObjectRef) -> Result<()> {
        let r = self.inner.remove_file(file).await;
        self.tally(&self.c.remove, 1, r)
    }

    async fn remove_dir(&self, dir: &ObjectRef) -> Result<()> {
        let r = self.inner.remove_dir(dir).await;
        self.tally(&self.c.remove, 1, r)
    }

    async fn copy(&self, from: &ObjectRef, to: &Dest) -> Result<Entry> {
        let r = self.inner.copy(from, to).await;
        self.tally(&self.c.copy, 1, r)
    }

    async fn about(&self) -> Result<Usage> {
        let r = self.inner.about().await;
        self.tally(&self.c.about, 1, r)
    }
}
