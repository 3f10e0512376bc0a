//! The Uploader drains the write journal: it waits for the write-back delay after a file's
//! last change, then creates folders, uploads file content and link objects (many small files
//! of one folder in one batch where the provider allows), and retires each record only once
//! the remote confirmed the exact version recorded. Failures keep the data and retry with
//! backoff. Must not change the tree's shape, which is the filesystem's job, beyond finishing
//! a rename the remote did before a crash (`moves.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ourclone_remote::pacer::{self, Priority};
use ourclone_remote::sync::lock;
use ourclone_remote::{RemoteError, Upload};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};

use crate::content::block_cache::BlockCache;
use crate::content::data::DataStore;
use crate::error::{CacheError, Result};
use crate::state::journal::{PendingRecord, Pushed};
use crate::state::node::{from_nanos, Ino, Kind, Node, RemoteState};
use crate::write_back::conflict;
use crate::write_back::remote_tree::RemoteTree;

#[derive(Clone, Debug)]
pub struct UploaderConfig {
    /// How long after a file's last change its upload starts.
    pub delay: Duration,
    /// Upload requests in flight at once.
    pub parallel: usize,
}

/// Whether the MetaStore holds notes of renames under way when the Uploader starts; every such
/// note was left by a crash (a rename's own commit or failure drops its note).
fn tree_has_moves(tree: &RemoteTree) -> bool {
    tree.meta.movings().map_or(true, |m| !m.is_empty())
}

/// What the Uploader has done, for `status`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UploadStats {
    pub in_flight: u64,
    pub uploaded_files: u64,
    pub uploaded_bytes: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    in_flight: AtomicU64,
    files: AtomicU64,
    bytes: AtomicU64,
    failures: AtomicU64,
}

pub struct Uploader {
    tree: Arc<RemoteTree>,
    data: Arc<DataStore>,
    blocks: Arc<BlockCache>,
    cfg: UploaderConfig,
    wake: Notify,
    counters: Counters,
    last_error: Mutex<Option<String>>,
    retry_at: Mutex<HashMap<Ino, Instant>>,
    uploading: Mutex<std::collections::HashSet<Ino>>,
    /// Files someone waits for: uploaded without the write-back delay.
    hurried: Mutex<std::collections::HashSet<Ino>>,
    /// The newest version of each file the remote confirmed since start.
    confirmed: Mutex<HashMap<Ino, u64>>,
    /// Wakes those waiting in [`Uploader::wait_confirmed`] after every confirmation or failure.
    outcomes: Notify,
    /// Renames a crash may have cut in two are still to be settled (see `moves.rs`).
    crashed_moves: AtomicBool,
}

/// Why [`Uploader::wait_confirmed`] gave up.
#[derive(Debug)]
pub enum NotConfirmed {
    /// The file left the tree before that version reached the remote.
    Gone,
    /// Uploads keep failing ([`DRAIN_GIVE_UP`] attempts); the record stays for later.
    Failing(String),
}

/// One upload prepared from a journal record.
struct Job {
    ino: Ino,
    version: u64,
    upload: Upload,
    scratch: bool,
}

/// Failed attempts after which a drain stops waiting for a record.
pub const DRAIN_GIVE_UP: u32 = 5;

/// How long a drain waits for files still open for writing to be closed.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// The shortest time between two write-back passes.
const PASS_GAP: Duration = Duration::from_millis(100);

fn backoff(attempts: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempts.min(7))).min(Duration::from_secs(60))
}

impl Uploader {
    pub fn new(
        tree: Arc<RemoteTree>,
        data: Arc<DataStore>,
        blocks: Arc<BlockCache>,
        cfg: UploaderConfig,
    ) -> Self {
        // Notes outlive a pass only when a crash cut their rename (or we cannot tell).
        let crashed_moves = AtomicBool::new(tree_has_moves(&tree));
        Self {
            tree,
            data,
            blocks,
            cfg,
            wake: Notify::new(),
            counters: Counters::default(),
            last_error: Mutex::new(None),
            retry_at: Mutex::new(HashMap::new()),
            uploading: Mutex::new(Default::default()),
            hurried: Mutex::new(Default::default()),
            confirmed: Mutex::new(HashMap::new()),
            outcomes: Notify::new(),
            crashed_moves,
        }
    }

    /// Asks the Uploader to look at the journal now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// True while an upload of `ino` is in flight.
    pub fn is_uploading(&self, ino: Ino) -> bool {
        lock(&self.uploading).contains(&ino)
    }

    fn uploading_now(&self, inos: &[Ino], on: bool) {
        let mut set = lock(&self.uploading);
        for ino in inos {
            if on {
                set.insert(*ino);
            } else {
                set.remove(ino);
            }
        }
    }

    /// Waits until version `version` of `ino` (or a later one) is confirmed on the remote,
    /// uploading it without the write-back delay. Per file, so a job need not drain the
    /// whole journal.
    pub async fn wait_confirmed(
        &self,
        ino: Ino,
        version: u64,
    ) -> Result<std::result::Result<(), NotConfirmed>> {
        lock(&self.hurried).insert(ino);
        let outcome = loop {
            let heard = self.outcomes.notified();
            tokio::pin!(heard);
            heard.as_mut().enable();
            if let Some(outcome) = self.confirmation(ino, version)? {
                break outcome;
            }
            self.wake();
            let _ = tokio::time::timeout(Duration::from_secs(1), heard).await;
        };
        lock(&self.hurried).remove(&ino);
        Ok(outcome)
    }

    /// Where version `version` of `ino` stands: `None` while it is still on its way.
    fn confirmation(
        &self,
        ino: Ino,
        version: u64,
    ) -> Result<Option<std::result::Result<(), NotConfirmed>>> {
        let done = lock(&self.confirmed)
            .get(&ino)
            .is_some_and(|v| *v >= version);
        if done {
            return Ok(Some(Ok(())));
        }
        match self.tree.meta.get(ino) {
            Ok(n) if n.orphan => return Ok(Some(Err(NotConfirmed::Gone))),
            Ok(_) => {}
            Err(CacheError::NotFound) => return Ok(Some(Err(NotConfirmed::Gone))),
            Err(e) => return Err(e),
        }
        Ok(match self.tree.meta.record(ino)? {
            // No record: everything up to the node's version is on the remote.
            None => Some(Ok(())),
            Some(r) if r.attempts >= DRAIN_GIVE_UP => Some(Err(NotConfirmed::Failing(
                r.last_error.unwrap_or_else(|| "upload failed".into()),
            ))),
            Some(_) => None,
        })
    }

    /// Notes that the remote confirmed `version` of `ino`, for those waiting on it.
    fn confirm(&self, ino: Ino, version: u64) {
        let mut confirmed = lock(&self.confirmed);
        let v = confirmed.entry(ino).or_insert(0);
        *v = (*v).max(version);
        drop(confirmed);
        self.outcomes.notify_waiters();
    }

    /// Tells the Uploader a record was written. Nothing is due before the write-back delay,
    /// which the periodic pass covers, so this wakes it only when there is no delay: a pass
    /// per closed file would rescan the journal once per file.
    pub fn changed(&self) {
        if self.cfg.delay.is_zero() {
            self.wake();
        }
    }

    pub fn stats(&self) -> UploadStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        UploadStats {
            in_flight: g(&self.counters.in_flight),
            uploaded_files: g(&self.counters.files),
            uploaded_bytes: g(&self.counters.bytes),
            failures: g(&self.counters.failures),
            last_error: lock(&self.last_error).clone(),
        }
    }

    /// Runs until the task is dropped: a pass whenever woken, and at least every second. Passes
    /// are at least [`PASS_GAP`] apart: a pass reads the whole journal, and a writer closing
    /// thousands of files would otherwise start one per file (quadratic in the files pending).
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.pass(false).await {
                tracing::warn!("upload pass failed: {e}");
            }
            tokio::time::sleep(PASS_GAP).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
        }
    }

    /// Uploads everything pending, ignoring the write-back delay, until the journal is empty
    /// or every record left has failed [`DRAIN_GIVE_UP`] times (those stay in the journal for
    /// the next mount). `progress` hears (records left) after every pass.
    pub async fn drain(self: &Arc<Self>, progress: impl Fn(u64)) -> Result<()> {
        lock(&self.retry_at).clear();
        let started = Instant::now();
        loop {
            self.pass(true).await?;
            let scan = self.tree.meta.journal()?;
            progress(scan.pending.len() as u64);
            // Failing files have had their chances; files still open for writing cannot be
            // uploaded yet. Both stay in the journal, but a close that is still on its way
            // through the kernel (a release arrives after close(2) returned) gets a moment.
            let failing = |r: &PendingRecord| r.attempts >= DRAIN_GIVE_UP;
            let stuck = scan
                .pending
                .iter()
                .all(|(ino, r)| failing(r) || self.tree.locks.has_writers(*ino));
            let all_failing = scan.pending.iter().all(|(_, r)| failing(r));
            let grace_over = started.elapsed() >= WRITER_GRACE;
            if scan.pending.is_empty() || all_failing || (stuck && grace_over) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn ready(&self, ino: Ino, rec: &PendingRecord, force: bool) -> bool {
        if self.tree.locks.has_writers(ino) {
            return false;
        }
        let force = force || lock(&self.hurried).contains(&ino);
        let due = from_nanos(rec.since) + self.cfg.delay;
        if !force && due > std::time::SystemTime::now() {
            return false;
        }
        let retry = lock(&self.retry_at);
        retry.get(&ino).is_none_or(|t| *t <= Instant::now())
    }

    /// One pass over the journal: folders first, then files grouped by folder.
    pub async fn pass(self: &Arc<Self>, force: bool) -> Result<()> {
        // Before any upload: one into a place a crashed rename filled would be a conflict.
        self.finish_crashed_moves().await?;
        let scan = self.tree.meta.journal()?;
        let mut dirs = Vec::new();
        let mut groups: BTreeMap<Ino, Vec<(Ino, u64)>> = BTreeMap::new();
        let mut pushing = Vec::new();
        for (ino, rec) in scan
            .pending
            .iter()
            .filter(|(i, r)| self.ready(*i, r, force))
        {
            let node = match self.tree.meta.get(*ino) {
                Ok(n) => n,
                Err(CacheError::NotFound) => {
                    self.tree.meta.drop_record(*ino)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if node.is_dir() {
                dirs.push((*ino, rec));
                continue;
            }
            pushing.extend(self.would_push(*ino, &node));
            groups
                .entry(node.parent)
                .or_default()
                .push((*ino, rec.version));
        }
        if dirs.is_empty() && groups.is_empty() {
            return Ok(());
        }
        // One durable point for the whole pass, not two per file: the changes it uploads, and
        // what their uploads will leave on the remote (see `upload_group`).
        if !pushing.is_empty() {
            self.tree.meta.note_pushing(&pushing)?;
        }
        self.make_intents_durable().await?;
        for (ino, rec) in dirs {
            let made = {
                let _paths = self.tree.paths_stable().await;
                self.tree.ensure_dir(ino).await
            };
            match made {
                // A folder that took over a remote folder (renamed over it) is on the
                // remote without a mkdir: retire its record all the same.
                Ok(()) => {
                    if let Some(remote) = self.tree.meta.get(ino)?.remote {
                        self.tree.meta.settle(ino, rec.version, remote)?;
                        self.confirm(ino, rec.version);
                    }
                }
                Err(e) => self.failed(ino, rec.attempts, &e),
            }
        }
        let batch = self.tree.remote.features().max_batch.max(1);
        let sem = Arc::new(Semaphore::new(self.cfg.parallel.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (_, items) in groups {
            for chunk in items.chunks(batch) {
                let permit = sem.clone().acquire_owned().await;
                let chunk = chunk.to_vec();
                let me = Arc::clone(self);
                // Write-back runs at Upload priority, whoever asked for the pass (a drain
                // called from an interactive request included).
                tasks.spawn(pacer::with_priority(Priority::Upload, async move {
                    let _permit = permit;
                    me.upload_group(chunk).await
                }));
            }
        }
        while let Some(r) = tasks.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!("upload group failed: {e}");
            }
        }
        Ok(())
    }
}

impl Uploader {
    /// Nothing leaves before the change that asks for it survives power loss: a remote ahead
    /// of the journal is something recovery could undo.
    async fn make_intents_durable(&self) -> Result<()> {
        if !self.tree.meta.unsynced() {
            return Ok(());
        }
        let meta = Arc::clone(&self.tree.meta);
        tokio::task::spawn_blocking(move || meta.sync())
            .await
            .map_err(|_| CacheError::Store("sync task failed".into()))?
    }

    fn failed(&self, ino: Ino, attempts: u32, e: &CacheError) {
        let msg = e.to_string();
        match e {
            CacheError::Remote(r) if !r.is_retryable() => {
                tracing::warn!(ino, "upload failed, data kept, will retry later: {msg}")
            }
            _ => tracing::debug!(ino, attempts, "upload failed, retrying: {msg}"),
        }
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(msg.clone());
        let wait = match e {
            CacheError::Remote(RemoteError::Auth(_)) => Duration::from_secs(300),
            _ => backoff(attempts),
        };
        lock(&self.retry_at).insert(ino, Instant::now() + wait);
        if let Err(e) = self.tree.meta.record_failure(ino, &msg) {
            tracing::warn!(ino, "could not record upload failure: {e}");
        }
        self.outcomes.notify_waiters();
    }

    /// Prepares the upload of one node, or `None` if it no longer needs one.
    fn prepare(&self, ino: Ino, version: u64, node: &Node) -> Result<Option<Job>> {
        let dest = self.tree.dest(node.parent, &node.name, node.kind)?;
        let replace = match &node.remote {
            Some(_) => Some(self.tree.object(ino, node)?),
            None => None,
        };
        let (source, size, scratch) = match node.kind {
            Kind::Dir | Kind::Fifo | Kind::Socket | Kind::CharDevice | Kind::BlockDevice => {
                return Ok(None)
            }
            Kind::Symlink => {
                let target = node.target.clone().unwrap_or_default();
                let path = self.data.scratch(ino);
                std::fs::write(&path, target.as_bytes())?;
                (path, target.len() as u64, true)
            }
            Kind::File if node.local_full => {
                self.check_local_copy(ino, node)?;
                (self.data.path(ino), node.size, false)
            }
            Kind::File => {
                return Err(CacheError::Corrupt(format!(
                    "{}: pending upload but no local data",
                    node.name
                )))
            }
        };
        let upload = Upload {
            dest,
            source,
            size,
            mtime: Some(from_nanos(node.mtime)),
            replace,
        };
        Ok(Some(Job {
            ino,
            version,
            upload,
            scratch,
        }))
    }

    /// Settles renames a crash cut in two (see `moves.rs`), then drops the local data of the
    /// nodes they replaced, once the tree saying so is durable.
    async fn finish_crashed_moves(&self) -> Result<()> {
        if !self.crashed_moves.load(Ordering::Acquire) {
            return Ok(());
        }
        let replaced = self.tree.settle_moves().await?;
        self.crashed_moves.store(false, Ordering::Release);
        if replaced.is_empty() {
            return Ok(());
        }
        self.tree.meta.sync()?;
        for ino in replaced {
            self.blocks.invalidate_file(ino);
            if let Err(e) = self.data.remove(ino) {
                tracing::debug!(ino, "removing the data of a replaced file failed: {e}");
            }
        }
        Ok(())
    }

    /// Refuses to upload a data file whose length is not the node's size: a short or missing
    /// copy (a cache accident) would replace the remote file with content the user never wrote.
    fn check_local_copy(&self, ino: Ino, node: &Node) -> Result<()> {
        let len = self.data.len(ino)?.unwrap_or(0);
        if len == node.size {
            return Ok(());
        }
        Err(CacheError::Corrupt(format!(
            "{}: local copy holds {len} bytes, the file {}; not uploading it",
            node.name, node.size
        )))
    }

    /// If the remote object `job` would replace changed since we last saw it, renames our node
    /// to a conflict name and uploads it there instead, so both versions are kept; the other
    /// version shows up under the original name at the folder's next listing.
    async fn keep_both_on_conflict(&self, mut job: Job, node: &Node) -> Result<Option<Job>> {
        let (Some(replace), Some(known)) = (&job.upload.replace, &node.remote) else {
            return Ok(Some(job));
        };
        match self.tree.remote.stat(&replace.path).await {
            Ok(now) if conflict::unchanged(known, &now) || self.landed_before(job.ino, &now)? => {
                return Ok(Some(job))
            }
            Ok(_) => {}
            // Gone from the remote: nothing of theirs to overwrite.
            Err(RemoteError::NotFound(_)) => {
                job.upload.replace = None;
                return Ok(Some(job));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::warn!(file = %replace.path, "the remote copy changed underneath local changes; keeping both");
        let name = self.divert(node)?;
        job.upload.dest = self.tree.dest(node.parent, &name, node.kind)?;
        job.upload.replace = None;
        Ok(Some(job))
    }

    /// True when the remote object `now` is one of our own uploads of `ino` that landed but
    /// whose confirmation was lost (a crash between the two). Only where the provider keeps
    /// the mtime we send can that be told apart from someone else's write.
    fn landed_before(&self, ino: Ino, now: &ourclone_remote::Entry) -> Result<bool> {
        if !self.tree.remote.features().keeps_mtime {
            return Ok(false);
        }
        let mtime = now.mtime.map(crate::state::node::to_nanos);
        Ok(self
            .tree
            .meta
            .pushed(ino)?
            .iter()
            .any(|p| p.size == now.size && Some(p.mtime) == mtime))
    }

    /// Renames our node to a conflict name, so its upload goes there and the remote object
    /// under the original name (someone else's) shows up at the folder's next listing.
    fn divert(&self, node: &Node) -> Result<String> {
        let name = conflict::conflict_name(&node.name, &conflict::host_name(), SystemTime::now());
        tracing::warn!(file = %node.name, conflict = %name, "keeping both copies");
        self.tree.meta.rename(
            node.parent,
            &node.name,
            node.parent,
            &name,
            |n, _| n.remote = None,
            false,
        )?;
        self.tree.meta.update(node.parent, |d| d.listed_at = None)?;
        self.tree.notices.changed(node.parent, &node.name);
        Ok(name)
    }

    /// A new file's upload found a same-named object that appeared on the remote since the
    /// last listing. If it is our own upload whose confirmation was lost (a crash), adopt it;
    /// otherwise it is someone else's: divert ours to a conflict name and retry at once.
    async fn name_taken(&self, job: &Job) -> Result<()> {
        let node = self.tree.meta.get(job.ino)?;
        if let Ok(there) = self.tree.remote.stat(&job.upload.dest.path).await {
            let ours = (there.size == job.upload.size
                && there.mtime.map(crate::state::node::to_nanos) == Some(node.mtime)
                && self.tree.remote.features().keeps_mtime)
                || self.landed_before(job.ino, &there)?;
            if ours {
                self.tree
                    .meta
                    .settle(job.ino, job.version, RemoteState::of(&there))?;
                self.confirm(job.ino, job.version);
                return Ok(());
            }
        }
        self.divert(&node)?;
        self.wake();
        Ok(())
    }

    /// What the remote will hold for `ino` once its upload lands, where the remote keeps our
    /// mtimes (elsewhere an upload is recognised without it); as [`Uploader::prepare`] sends it.
    fn would_push(&self, ino: Ino, node: &Node) -> Option<(Ino, Pushed)> {
        if !self.tree.remote.features().keeps_mtime {
            return None;
        }
        let size = match node.kind {
            Kind::Symlink => node.target.as_deref().unwrap_or_default().len() as u64,
            Kind::File if node.local_full => node.size,
            _ => return None,
        };
        let mtime = node.mtime;
        Some((ino, Pushed { size, mtime }))
    }

    /// Before the bytes leave: makes the jobs' intents durable, with a note of what is about
    /// to land (see `landed_before`; only where the remote keeps our mtimes). Nothing to do
    /// when the pass that chose them (`fresh`: same versions) already did, the common case.
    /// `false`, with every job marked failed, if that cannot be done.
    async fn note_pushing(&self, jobs: &[(Job, u32)], fresh: bool) -> bool {
        let keeps_mtime = self.tree.remote.features().keeps_mtime;
        let pushing: Vec<(Ino, Pushed)> = jobs
            .iter()
            .filter(|_| keeps_mtime)
            .map(|(j, _)| {
                let mtime = j.upload.mtime.map_or(0, crate::state::node::to_nanos);
                let size = j.upload.size;
                (j.ino, Pushed { size, mtime })
            })
            .collect();
        let noted = |(ino, p): &(Ino, Pushed)| {
            self.tree
                .meta
                .pushed(*ino)
                .is_ok_and(|list| list.contains(p))
        };
        if fresh && pushing.iter().all(noted) {
            return true;
        }
        let durable = match pushing.is_empty() {
            true => Ok(()),
            false => self.tree.meta.note_pushing(&pushing),
        };
        let durable = match durable {
            Ok(()) => self.make_intents_durable().await,
            Err(e) => Err(e),
        };
        match durable {
            Ok(()) => true,
            Err(e) => {
                for (job, attempts) in jobs {
                    self.failed(job.ino, *attempts, &e);
                }
                false
            }
        }
    }

    /// Uploads the pending files of one folder, in one batch where the provider allows.
    async fn upload_group(self: Arc<Self>, items: Vec<(Ino, u64)>) -> Result<()> {
        let inos: Vec<Ino> = items.iter().map(|(i, _)| *i).collect();
        // The paths computed below must stay true until the uploads land (see `paths_stable`).
        let _paths = self.tree.paths_stable().await;
        let _guards = self.tree.locks.lock_many(&inos).await;
        let mut jobs = Vec::new();
        // Re-read: records may have been retired or bumped while we waited for the locks.
        let records: HashMap<Ino, PendingRecord> =
            self.tree.meta.journal()?.pending.into_iter().collect();
        for (ino, _) in &items {
            let (Ok(node), Some(rec)) = (self.tree.meta.get(*ino), records.get(ino)) else {
                continue;
            };
            // Opened for writing since the pass chose it: its upload waits for the last close
            // (a writer that opens from here on waits for our locks).
            if self.tree.locks.has_writers(*ino) {
                continue;
            }
            if let Err(e) = self.tree.ensure_dir(node.parent).await {
                self.failed(*ino, 0, &e);
                continue;
            }
            let prepared = match self.prepare(*ino, rec.version, &node) {
                Ok(Some(job)) => self.keep_both_on_conflict(job, &node).await,
                other => other,
            };
            match prepared {
                Ok(Some(job)) => jobs.push((job, rec.attempts)),
                Ok(None) => {}
                Err(e) => self.failed(*ino, rec.attempts, &e),
            }
        }
        if jobs.is_empty() {
            return Ok(());
        }
        // The versions read above under our locks may be newer than the pass's seal.
        let fresh = jobs
            .iter()
            .all(|(j, _)| items.contains(&(j.ino, j.version)));
        let uploads: Vec<Upload> = jobs.iter().map(|(j, _)| j.upload.clone()).collect();
        if !self.note_pushing(&jobs, fresh).await {
            return Ok(());
        }
        self.counters
            .in_flight
            .fetch_add(uploads.len() as u64, Ordering::Relaxed);
        let inos: Vec<Ino> = jobs.iter().map(|(j, _)| j.ino).collect();
        self.uploading_now(&inos, true);
        let results = if uploads.len() == 1 {
            vec![self.tree.remote.upload(&uploads[0]).await]
        } else {
            self.tree.remote.upload_batch(&uploads).await
        };
        self.counters
            .in_flight
            .fetch_sub(uploads.len() as u64, Ordering::Relaxed);
        self.uploading_now(&inos, false);
        let mut landed = Vec::new();
        for ((job, attempts), result) in jobs.into_iter().zip(results) {
            if job.scratch {
                let _ = std::fs::remove_file(&job.upload.source);
            }
            match result {
                Ok(entry) => landed.push((job, RemoteState::of(&entry))),
                Err(RemoteError::AlreadyExists(_)) if job.upload.replace.is_none() => {
                    if let Err(e) = self.name_taken(&job).await {
                        self.failed(job.ino, attempts, &e);
                    }
                }
                Err(e) => self.failed(job.ino, attempts, &CacheError::Remote(e)),
            }
        }
        // One commit for the whole batch.
        let settled = landed
            .iter()
            .map(|(job, remote)| (job.ino, job.version, remote.clone()))
            .collect();
        let nodes = self.tree.meta.settle_all(settled)?;
        for ((job, _), node) in landed.into_iter().zip(nodes) {
            let Some(node) = node else { continue };
            self.confirm(job.ino, job.version);
            if node.version == job.version && node.kind == Kind::File && node.local_full {
                // Clean now: the whole-file copy becomes evictable cache.
                self.blocks.hold_file(job.ino, node.size);
            }
            lock(&self.retry_at).remove(&job.ino);
            self.counters.files.fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes
                .fetch_add(job.upload.size, Ordering::Relaxed);
            tracing::debug!(ino = job.ino, path = %job.upload.dest.path, "uploaded");
        }
        Ok(())
    }
}
