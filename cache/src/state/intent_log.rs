//! The intent log: the storage under the MetaStore's redb database, so that a commit costs a
//! plain `write(2)` and survives a crash of the daemon, while power-loss durability comes in
//! groups. Owns the database file, its write-ahead log (`<db>.intent`) and their recovery; must
//! not know what the database holds.
//!
//! Every page redb writes goes to an in-memory overlay; at each of redb's flushes (one per
//! commit) the pages written since the last one are appended to the log as one checksummed
//! `Commit` record — in the kernel's page cache, which outlives the process, and never
//! fsynced on its own. [`IntentLog::seal`] is the durability point (fsync, close under
//! `--sync-close`, the background commit): it syncs the file system holding the cache (the data
//! files first), then appends a `Seal` naming the last record whose data is now on disk, and
//! fsyncs the log. The database file itself changes only at checkpoints, which copy sealed
//! records into it, so on disk it is always exactly the state of some seal.
//!
//! Recovery at open: after a crash of the process on the same boot, every complete record is
//! replayed (the page cache kept them all); after a reboot (the log's boot id differs) only the
//! records up to the last seal are, because later ones may have reached the disk without their
//! data. A torn or altered record ends the replay.
//!
//! Beside commits the log carries *notes*: small opaque redo records for changes the database
//! made with a commit that does not flush (redb's `Durability::None`), written by
//! [`IntentLog::note`] from inside that change's transaction. A commit record that writes redb's
//! header (a finished commit, not a sync in the middle of one) holds every change made before
//! it, so a note matters only while no such record follows it: recovery hands the notes after
//! the last one back to the database's owner to apply again, and checkpoints keep them.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use ourclone_remote::os;
use redb::{BackendError, StorageBackend};

use crate::content::data::sync_dir;

const PAGE: u64 = 4096;
/// Records carry the changed words' new bytes, so a replay can run twice (see [`Fold`]), and
/// an XXH3-128 checksum.
const MAGIC: &[u8; 8] = b"OCFSINT3";
/// Logs of older builds, still replayed at open: the same records with BLAKE3 checksums, ...
const MAGIC_BLAKE3: &[u8; 8] = b"OCFSINT2";
/// ... and before that, XOR deltas (BLAKE3 too).
const MAGIC_XOR: &[u8; 8] = b"OCFSINT1";
/// Magic, boot id (36 bytes of text, zero padded to 40).
const HEADER_LEN: u64 = 48;
/// Kind, length, sequence number, checksum.
const RECORD_HEAD: usize = 1 + 4 + 8 + 16;
const COMMIT: u8 = 1;
const SEAL: u8 = 2;
const NOTE: u8 = 3;
/// The log is folded into the database file at the first seal past this size.
const CHECKPOINT_BYTES: u64 = if cfg!(test) { 256 << 10 } else { 32 << 20 };

/// A page of the overlay, and the record that last carried it (`None` while it awaits the next
/// flush).
struct Page {
    bytes: Box<[u8]>,
    seq: Option<u64>,
}

struct State {
    main: File,
    log: File,
    log_path: PathBuf,
    /// Length of the database as redb sees it.
    len: u64,
    /// Smallest length since the last record (a shrink then grow must read back zeros).
    min_len: u64,
    len_dirty: bool,
    /// Bytes of the database file at and past this offset read as zeros (shrunk away).
    main_valid: u64,
    overlay: HashMap<u64, Page>,
    pending: BTreeSet<u64>,
    /// The pending pages as the last record left them: records carry only what changed.
    before: HashMap<u64, Box<[u8]>>,
    next_seq: u64,
    log_end: u64,
    /// Highest record sequence number covered by a durable seal.
    sealed: u64,
    /// The notes since the last commit record (seq, payload): no commit holds their changes yet.
    notes: Vec<(u64, Vec<u8>)>,
}

/// The database's storage: share it with redb through [`IntentLog::backend`].
pub(crate) struct IntentLog {
    state: RwLock<State>,
    /// One seal at a time; a caller that waited finds its records sealed by the previous one.
    sealing: Mutex<()>,
}

/// Identifies this boot of the machine (see [`os::boot_id`]): a log written on another boot,
/// or where the boot cannot be told, is trusted only up to its last seal.
fn boot_id() -> [u8; 40] {
    let text = os::boot_id().unwrap_or_default();
    let mut id = [0u8; 40];
    let t = text.as_bytes();
    id[..t.len().min(40)].copy_from_slice(&t[..t.len().min(40)]);
    id
}

/// Whether a log header's boot id names this boot.
fn is_this_boot(stored: &[u8]) -> bool {
    let text = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .trim_end_matches('\0')
            .to_string()
    };
    os::same_boot(&text(stored), &text(&boot_id()))
}

/// A record's checksum, by log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sum {
    /// Current logs: XXH3-128, several times faster than BLAKE3 on the commit path (a torn or
    /// altered record is what it must catch, not an adversary).
    Xxh3,
    Blake3,
}

fn checksum(sum: Sum, kind: u8, seq: u64, payload: &[u8]) -> [u8; 16] {
    match sum {
        Sum::Xxh3 => {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(&[kind]);
            h.update(&seq.to_le_bytes());
            h.update(payload);
            h.digest128().to_le_bytes()
        }
        Sum::Blake3 => {
            let mut h = blake3::Hasher::new();
            h.update(&[kind]);
            h.update(&seq.to_le_bytes());
            h.update(payload);
            let mut out = [0u8; 16];
            out.copy_from_slice(&h.finalize().as_bytes()[..16]);
            out
        }
    }
}

fn encode(kind: u8, seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEAD + payload.len());
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&checksum(Sum::Xxh3, kind, seq, payload));
    out.extend_from_slice(payload);
    out
}

/// One intact record read back from a log.
struct Record<'a> {
    kind: u8,
    seq: u64,
    payload: &'a [u8],
    /// Its bytes in the log, head included.
    raw: &'a [u8],
}

/// The intact records of a log body, in order, up to the first torn or altered one.
fn records(body: &[u8], sum: Sum) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while body.len() - at >= RECORD_HEAD {
        let kind = body[at];
        let len = u32::from_le_bytes(body[at + 1..at + 5].try_into().unwrap_or_default()) as usize;
        let seq = u64::from_le_bytes(body[at + 5..at + 13].try_into().unwrap_or_default());
        let end = at + RECORD_HEAD + len;
        if end > body.len() {
            break;
        }
        let payload = &body[at + RECORD_HEAD..end];
        if body[at + 13..at + RECORD_HEAD] != checksum(sum, kind, seq, payload) {
            break;
        }
        out.push(Record {
            kind,
            seq,
            payload,
            raw: &body[at..end],
        });
        at = end;
    }
    out
}

fn u64_at(b: &[u8], at: usize) -> io::Result<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short intent record"))
}

/// Commit records folded into the pages they leave, so a replay writes each page once. Each
/// page in a record is stored as the runs of words that changed since the previous record,
/// with their new bytes. Records are added in order; replaying a log onto a database file that
/// already holds some or all of it (a crash, or a full disk, between folding and resetting the
/// log) ends in the same state, because every byte takes the value of the last record that
/// wrote it. (Old-format logs carry XOR deltas, which are replayed once, as they were.)
struct Fold<'a> {
    main: &'a File,
    xor: bool,
    base_len: u64,
    /// Bytes at and past this offset were shrunk away: they read as zeros.
    zero_from: u64,
    len: u64,
    pages: HashMap<u64, Vec<u8>>,
}

impl<'a> Fold<'a> {
    fn new(main: &'a File, xor: bool) -> io::Result<Self> {
        let len = main.metadata()?.len();
        Ok(Self {
            main,
            xor,
            base_len: len,
            zero_from: len,
            len,
            pages: HashMap::new(),
        })
    }

    fn page(&mut self, n: u64) -> io::Result<&mut Vec<u8>> {
        if !self.pages.contains_key(&n) {
            let mut page = vec![0u8; PAGE as usize];
            let valid = self.zero_from.saturating_sub(n * PAGE).min(PAGE) as usize;
            os::read_exact_at(self.main, &mut page[..valid], n * PAGE)?;
            self.pages.insert(n, page);
        }
        self.pages
            .get_mut(&n)
            .ok_or_else(|| io::Error::other("intent page vanished"))
    }

    /// Adds one commit record.
    fn add(&mut self, payload: &[u8]) -> io::Result<()> {
        let short = || io::Error::new(io::ErrorKind::InvalidData, "short intent record");
        let (min_len, len) = (u64_at(payload, 0)?, u64_at(payload, 8)?);
        if min_len < self.len {
            self.zero_from = self.zero_from.min(min_len);
            self.pages.retain(|n, _| n * PAGE < min_len);
            if let Some(p) = self.pages.get_mut(&(min_len / PAGE)) {
                p[(min_len % PAGE) as usize..].fill(0);
            }
        }
        self.len = len;
        let mut at = 16;
        while at < payload.len() {
            let n = u64_at(payload, at)?;
            let runs = u16_at(payload, at + 8)?;
            at += 10;
            let xor = self.xor;
            let page = self.page(n)?;
            for _ in 0..runs {
                let start = u16_at(payload, at)? as usize;
                let count = u16_at(payload, at + 2)? as usize;
                let delta = payload.get(at + 4..at + 4 + count).ok_or_else(short)?;
                let dst = page.get_mut(start..start + count).ok_or_else(short)?;
                if xor {
                    dst.iter_mut().zip(delta).for_each(|(b, d)| *b ^= d);
                } else {
                    dst.copy_from_slice(delta);
                }
                at += 4 + count;
            }
        }
        Ok(())
    }

    /// Writes the folded state into the database file (not synced).
    fn write(self) -> io::Result<()> {
        self.main.set_len(self.zero_from.min(self.base_len))?;
        self.main.set_len(self.len)?;
        for (n, page) in &self.pages {
            let keep = self.len.saturating_sub(n * PAGE).min(PAGE) as usize;
            os::write_all_at(self.main, &page[..keep], n * PAGE)?;
        }
        Ok(())
    }
}

fn u16_at(b: &[u8], at: usize) -> io::Result<u16> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short intent record"))
}

/// Appends page `n`'s change from `before` to `after` to `out`: the page number, the number of
/// runs, then each run of changed 8-byte words as (start, length, the bytes after).
fn encode_change(out: &mut Vec<u8>, n: u64, before: &[u8], after: &[u8]) {
    out.extend_from_slice(&n.to_le_bytes());
    let count_at = out.len();
    out.extend_from_slice(&0u16.to_le_bytes());
    let words = before.len().min(after.len()) / 8;
    let changed = |w: usize| w < words && before[w * 8..w * 8 + 8] != after[w * 8..w * 8 + 8];
    let mut runs = 0u16;
    let mut w = 0;
    while w < words {
        if !changed(w) {
            w += 1;
            continue;
        }
        let start = w;
        // One unchanged word inside a run costs less than a new run's head.
        while w < words && (changed(w) || changed(w + 1)) {
            w += 1;
        }
        let (a, b) = (start * 8, w * 8);
        out.extend_from_slice(&(a as u16).to_le_bytes());
        out.extend_from_slice(&((b - a) as u16).to_le_bytes());
        out.extend_from_slice(&after[a..b]);
        runs += 1;
    }
    out[count_at..count_at + 2].copy_from_slice(&runs.to_le_bytes());
}

/// Writes a fresh, empty log (header only) at `path`, atomically and durably.
fn reset_log(path: &Path, keep: &[u8]) -> io::Result<File> {
    let tmp = path.with_extension("intent.tmp");
    {
        let f = File::create(&tmp)?;
        let mut head = Vec::with_capacity(HEADER_LEN as usize + keep.len());
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&boot_id());
        head.extend_from_slice(keep);
        os::write_all_at(&f, &head, 0)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    OpenOptions::new().read(true).write(true).open(path)
}

/// Makes everything written on the file system holding `f` durable: the cache's data files
/// and the log, in one journal commit rather than one fsync per file.
fn sync_file_system(f: &File) -> io::Result<()> {
    os::sync_file_system(f)
}

/// Whether a commit record's pages include the first, which holds redb's header: only a
/// finished commit writes it. redb also syncs in the middle of a transaction (growing the
/// file), and that record holds neither the transaction nor what non-flushing commits before
/// it left in redb's own buffer, so it covers no note. (Pages are written in ascending order:
/// the first is the first after the two lengths.)
fn holds_header(commit_payload: &[u8]) -> bool {
    u64_at(commit_payload, 16).ok() == Some(0)
}

/// What [`recover`] found: the commits it replayed into the database file, and the notes after
/// the last of them, which the new log starts with (sealed).
struct Recovered {
    replayed: usize,
    notes: Vec<Vec<u8>>,
}

/// Replays the log at `log_path` into `main` (see the module comment for which records) and
/// leaves a log holding only the notes no replayed commit covers.
fn recover(main: &File, log_path: &Path) -> io::Result<Recovered> {
    let raw = match fs::read(log_path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut replayed = 0;
    let mut notes = Vec::new();
    let magic = raw.get(..8);
    let xor = magic == Some(MAGIC_XOR);
    let sum = match magic == Some(MAGIC) {
        true => Sum::Xxh3,
        false => Sum::Blake3,
    };
    if raw.len() as u64 >= HEADER_LEN
        && (magic == Some(MAGIC) || magic == Some(MAGIC_BLAKE3) || xor)
    {
        let same_boot = is_this_boot(&raw[8..48]);
        let recs = records(&raw[HEADER_LEN as usize..], sum);
        let sealed = recs
            .iter()
            .filter(|r| r.kind == SEAL)
            .filter_map(|r| u64_at(r.payload, 0).ok())
            .max()
            .unwrap_or(0);
        // What this boot replays must not be ahead of the data files on disk.
        sync_file_system(main)?;
        let replay: Vec<&Record> = recs
            .iter()
            .filter(|r| r.kind == COMMIT && (same_boot || r.seq <= sealed))
            .collect();
        let last = replay.last().map_or(0, |r| r.seq);
        if last > sealed && !xor {
            // Their data files are on disk now (the sync above): seal them before the database
            // file takes them, so a reboot before the log is reset replays them all again.
            reset_log(log_path, &sealed_through(&recs, last))?;
        }
        let mut fold = Fold::new(main, xor)?;
        for r in &replay {
            fold.add(r.payload)?;
            replayed += 1;
        }
        fold.write()?;
        main.sync_all()?;
        let covered = replay
            .iter()
            .rfind(|r| holds_header(r.payload))
            .map_or(0, |r| r.seq);
        notes = recs
            .iter()
            .filter(|r| r.kind == NOTE && r.seq > covered && (same_boot || r.seq <= sealed))
            .map(|r| r.payload.to_vec())
            .collect();
    }
    let carried: Vec<(u64, Vec<u8>)> = (1..).zip(notes.iter().cloned()).collect();
    reset_log(log_path, &sealed_notes(&carried, carried.len() as u64))?;
    Ok(Recovered { replayed, notes })
}

/// The notes among `notes` up to `sealed`, followed by a seal of them, for the start of a new
/// log: a seal there keeps them through a reboot, as the seal after them in the old log did.
fn sealed_notes(notes: &[(u64, Vec<u8>)], sealed: u64) -> Vec<u8> {
    let mut body: Vec<u8> = notes
        .iter()
        .filter(|(seq, _)| *seq <= sealed)
        .flat_map(|(seq, payload)| encode(NOTE, *seq, payload))
        .collect();
    if !body.is_empty() {
        // Sequence 0: a later checkpoint drops this seal (it writes one of its own).
        body.extend(encode(SEAL, 0, &sealed.to_le_bytes()));
    }
    body
}

/// The records `recs` followed by a seal of everything up to `last`, all with the current
/// checksum (they may come from an older log).
fn sealed_through(recs: &[Record], last: u64) -> Vec<u8> {
    let mut body: Vec<u8> = recs
        .iter()
        .flat_map(|r| encode(r.kind, r.seq, r.payload))
        .collect();
    let next = recs.iter().map(|r| r.seq).max().unwrap_or(0) + 1;
    body.extend(encode(SEAL, next, &last.to_le_bytes()));
    body
}

/// The intent log beside the database file `db`.
fn log_path_of(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.intent", db.display()))
}

fn unsupported<T>() -> Result<T, BackendError> {
    Err(BackendError::Unsupported)
}

impl IntentLog {
    /// Opens the database file at `path` and its log, replaying the log. Fails with
    /// `WouldBlock` when another process has the database open.
    /// Returns the notes the database must apply again (see the module comment), in order.
    pub(crate) fn open(path: &Path) -> io::Result<(Arc<Self>, Vec<Vec<u8>>)> {
        let main = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if let Err(e) = main.try_lock() {
            return Err(match e {
                fs::TryLockError::WouldBlock => io::ErrorKind::WouldBlock.into(),
                fs::TryLockError::Error(e) => e,
            });
        }
        let log_path = log_path_of(path);
        let Recovered { replayed, notes } = recover(&main, &log_path)?;
        if replayed > 0 || !notes.is_empty() {
            tracing::info!(
                "metadata store: replayed {replayed} commits and {} notes from the intent log",
                notes.len()
            );
        }
        let log = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let len = main.metadata()?.len();
        let log_end = log.metadata()?.len();
        let carried = notes.len() as u64;
        let log = Arc::new(Self {
            state: RwLock::new(State {
                main,
                log,
                log_path,
                len,
                min_len: len,
                len_dirty: false,
                main_valid: len,
                overlay: HashMap::new(),
                pending: BTreeSet::new(),
                before: HashMap::new(),
                next_seq: carried + 1,
                log_end,
                sealed: carried,
                notes: (1..).zip(notes.iter().cloned()).collect(),
            }),
            sealing: Mutex::new(()),
        });
        Ok((log, notes))
    }

    /// The handle redb stores through.
    pub(crate) fn backend(self: &Arc<Self>) -> LoggedStorage {
        LoggedStorage(Arc::clone(self))
    }

    /// Appends a note (see the module comment): call it inside the write transaction whose
    /// change it redoes, so that every commit record after it holds that change.
    pub(crate) fn note(&self, payload: &[u8]) -> io::Result<()> {
        let mut st = self.write_state();
        let seq = st.append(NOTE, payload)?;
        st.notes.push((seq, payload.to_vec()));
        Ok(())
    }

    /// Whether notes were written since the last commit record.
    pub(crate) fn has_notes(&self) -> bool {
        !self.read().notes.is_empty()
    }

    /// Makes every commit so far survive power loss, with the data files written before it
    /// (see the module comment). Concurrent callers share one seal.
    pub(crate) fn seal(&self) -> io::Result<()> {
        let upto = self.read().next_seq - 1;
        let _one = self.sealing.lock().unwrap_or_else(|e| e.into_inner());
        if self.read().sealed >= upto {
            return Ok(());
        }
        let log = self.read().log.try_clone()?;
        sync_file_system(&log)?;
        self.write_state().append(SEAL, &upto.to_le_bytes())?;
        log.sync_data()?;
        let mut st = self.write_state();
        st.sealed = st.sealed.max(upto);
        if st.log_end > CHECKPOINT_BYTES {
            st.checkpoint()?;
        }
        Ok(())
    }

    /// Seals every commit and folds the whole log into the database file: a clean shutdown's
    /// last step, so the next open has nothing to replay.
    pub(crate) fn fold_all(&self) -> io::Result<()> {
        self.seal()?;
        let _one = self.sealing.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = self.write_state();
        if st.log_end > HEADER_LEN {
            st.checkpoint()?;
        }
        Ok(())
    }

    /// Whether commits exist that no seal covers yet.
    pub(crate) fn unsealed(&self) -> bool {
        let st = self.read();
        st.next_seq - 1 > st.sealed
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// The current bytes of page `n`: the overlay's, else the database file's, else zeros.
    fn page(&self, n: u64) -> io::Result<Box<[u8]>> {
        if let Some(p) = self.overlay.get(&n) {
            return Ok(p.bytes.clone());
        }
        let mut bytes = vec![0u8; PAGE as usize].into_boxed_slice();
        self.read_main(n, &mut bytes)?;
        Ok(bytes)
    }

    fn read_main(&self, n: u64, out: &mut [u8]) -> io::Result<()> {
        let start = n * PAGE;
        let valid = self.main_valid.saturating_sub(start).min(PAGE) as usize;
        if valid > 0 {
            os::read_exact_at(&self.main, &mut out[..valid], start)?;
        }
        out[valid..].fill(0);
        Ok(())
    }

    /// Appends one record at the end of the log; a failed append leaves the log as it was.
    fn append(&mut self, kind: u8, payload: &[u8]) -> io::Result<u64> {
        let seq = self.next_seq;
        let rec = encode(kind, seq, payload);
        if let Err(e) = os::write_all_at(&self.log, &rec, self.log_end) {
            let _ = self.log.set_len(self.log_end);
            return Err(e);
        }
        self.log_end += rec.len() as u64;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Appends the pages written since the last flush as one commit record.
    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() && !self.len_dirty {
            return Ok(());
        }
        let mut payload = Vec::with_capacity(16 + self.pending.len() * 256);
        payload.extend_from_slice(&self.min_len.to_le_bytes());
        payload.extend_from_slice(&self.len.to_le_bytes());
        for n in &self.pending {
            let (Some(p), Some(b)) = (self.overlay.get(n), self.before.get(n)) else {
                continue;
            };
            encode_change(&mut payload, *n, b, &p.bytes);
        }
        let seq = self.append(COMMIT, &payload)?;
        if holds_header(&payload) {
            self.notes.clear();
        }
        for n in std::mem::take(&mut self.pending) {
            if let Some(p) = self.overlay.get_mut(&n) {
                p.seq = Some(seq);
            }
        }
        self.before.clear();
        self.min_len = self.len;
        self.len_dirty = false;
        Ok(())
    }

    /// Puts `bytes` as the whole of page `n`. The page as it was moves to `before` on its
    /// first change in this record, rather than being copied there first.
    fn replace_page(&mut self, n: u64, bytes: Box<[u8]>) -> io::Result<()> {
        let old = self.overlay.insert(n, Page { bytes, seq: None });
        if self.pending.insert(n) {
            let was = match old {
                Some(p) => p.bytes,
                None => {
                    let mut b = vec![0u8; PAGE as usize].into_boxed_slice();
                    self.read_main(n, &mut b)?;
                    b
                }
            };
            self.before.insert(n, was);
        }
        Ok(())
    }

    /// Notes that page `n` is about to change in this record, remembering it as it was.
    fn touch(&mut self, n: u64) -> io::Result<()> {
        if self.pending.insert(n) {
            let was = self.page(n)?;
            self.before.insert(n, was);
        }
        Ok(())
    }

    /// Folds the sealed records into the database file and keeps only the later ones in a
    /// fresh log. The database file stays the state of a seal throughout.
    fn checkpoint(&mut self) -> io::Result<()> {
        if self.all_sealed() {
            return self.checkpoint_from_overlay();
        }
        let raw = fs::read(&self.log_path)?;
        let body = raw.get(HEADER_LEN as usize..).unwrap_or_default();
        // Sealed notes no commit covers yet stay, as the records past the seal do.
        let mut keep = sealed_notes(&self.notes, self.sealed);
        let mut fold = Fold::new(&self.main, false)?;
        for r in records(body, Sum::Xxh3) {
            if r.seq > self.sealed {
                keep.extend_from_slice(r.raw);
            } else if r.kind == COMMIT {
                fold.add(r.payload)?;
            }
        }
        fold.write()?;
        self.main.sync_all()?;
        // Shrinks after the seal are not in the file yet: what they cut must still read as zeros.
        let later_min = records(&keep, Sum::Xxh3)
            .iter()
            .filter(|r| r.kind == COMMIT)
            .filter_map(|r| u64_at(r.payload, 0).ok())
            .min()
            .unwrap_or(u64::MAX);
        self.main_valid = self.main.metadata()?.len().min(self.min_len).min(later_min);
        self.log = reset_log(&self.log_path, &keep)?;
        self.log_end = HEADER_LEN + keep.len() as u64;
        let sealed = self.sealed;
        self.overlay
            .retain(|_, p| p.seq.is_none_or(|seq| seq > sealed));
        Ok(())
    }

    /// Whether every record in the log is sealed and no page waits for the next one: then the
    /// overlay holds each page exactly as the log's last record left it.
    fn all_sealed(&self) -> bool {
        self.next_seq - 1 == self.sealed && self.pending.is_empty() && !self.len_dirty
    }

    /// The common checkpoint (right after a seal): the overlay's pages go to the database file
    /// as they are, with no need to read the log back and fold it.
    fn checkpoint_from_overlay(&mut self) -> io::Result<()> {
        // What shrinks cut away reads as zeros, as in the log's fold.
        self.main
            .set_len(self.main_valid.min(self.main.metadata()?.len()))?;
        self.main.set_len(self.len)?;
        for (n, page) in &self.overlay {
            let keep = self.len.saturating_sub(n * PAGE).min(PAGE) as usize;
            os::write_all_at(&self.main, &page.bytes[..keep], n * PAGE)?;
        }
        self.main.sync_all()?;
        self.main_valid = self.len;
        let keep = sealed_notes(&self.notes, self.sealed);
        self.log = reset_log(&self.log_path, &keep)?;
        self.log_end = HEADER_LEN + keep.len() as u64;
        self.overlay.clear();
        Ok(())
    }
}

/// [`IntentLog`] as redb's storage backend.
#[derive(Clone)]
pub(crate) struct LoggedStorage(Arc<IntentLog>);

impl std::fmt::Debug for LoggedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoggedStorage")
    }
}

impl StorageBackend for LoggedStorage {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.read().len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let st = self.0.read();
        if offset + out.len() as u64 > st.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the database",
            ));
        }
        let mut done = 0usize;
        while done < out.len() {
            let at = offset + done as u64;
            let (n, skip) = (at / PAGE, (at % PAGE) as usize);
            let take = (PAGE as usize - skip).min(out.len() - done);
            let dst = &mut out[done..done + take];
            match st.overlay.get(&n) {
                Some(p) => dst.copy_from_slice(&p.bytes[skip..skip + take]),
                None if skip == 0 && take == PAGE as usize => st.read_main(n, dst)?,
                None => {
                    let mut page = vec![0u8; PAGE as usize];
                    st.read_main(n, &mut page)?;
                    dst.copy_from_slice(&page[skip..skip + take]);
                }
            }
            done += take;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.0.write_state();
        if len < st.len {
            let first_gone = len.div_ceil(PAGE);
            st.overlay.retain(|n, _| *n < first_gone);
            st.pending.retain(|n| *n < first_gone);
            st.before.retain(|n, _| *n < first_gone);
            st.main_valid = st.main_valid.min(len);
            st.min_len = st.min_len.min(len);
            if !len.is_multiple_of(PAGE) {
                let n = len / PAGE;
                st.touch(n)?;
                let mut bytes = st.page(n)?;
                bytes[(len % PAGE) as usize..].fill(0);
                st.overlay.insert(n, Page { bytes, seq: None });
            }
        }
        st.len = len;
        st.len_dirty = true;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.write_state().flush()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut st = self.0.write_state();
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let (n, skip) = (at / PAGE, (at % PAGE) as usize);
            let take = (PAGE as usize - skip).min(data.len() - done);
            let part = &data[done..done + take];
            if take == PAGE as usize {
                st.replace_page(n, part.into())?;
            } else {
                st.touch(n)?;
                let mut bytes = st.page(n)?;
                bytes[skip..skip + take].copy_from_slice(part);
                st.overlay.insert(n, Page { bytes, seq: None });
            }
            done += take;
        }
        Ok(())
    }

    fn close(&self) -> io::Result<()> {
        // redb is done with this storage: a reopening (after a disk error) may lock the file.
        self.0.read().main.unlock()
    }

    fn try_lock_range(&self, _: Bound<u64>, _: Bound<u64>) -> Result<bool, BackendError> {
        // The database file is locked whole, for this process, by `IntentLog::open`.
        unsupported()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");

    fn open(path: &Path) -> (Database, Arc<IntentLog>) {
        let (log, notes) = IntentLog::open(path).unwrap();
        assert!(notes.is_empty(), "no test here writes notes");
        let db = Database::builder()
            .create_with_backend(log.backend())
            .unwrap();
        (db, log)
    }

    fn put(db: &Database, k: u64) {
        let tx = db.begin_write().unwrap();
        tx.open_table(T)
            .unwrap()
            .insert(k, vec![k as u8; 300 + (k as usize * 37) % 3000].as_slice())
            .unwrap();
        tx.commit().unwrap();
    }

    fn keys(path: &Path) -> Vec<u64> {
        let (db, _log) = open(path);
        let tx = db.begin_read().unwrap();
        let Ok(t) = tx.open_table(T) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in t.iter().unwrap() {
            let (k, v) = item.unwrap();
            let k = k.value();
            assert_eq!(v.value(), vec![k as u8; 300 + (k as usize * 37) % 3000]);
            out.push(k);
        }
        out
    }

    /// Stands in for a reboot: the log reads as written on another boot.
    #[test]
    fn a_header_names_this_boot_only_with_this_boot_id() {
        let mine = boot_id();
        assert!(is_this_boot(&mine), "this boot's own id");
        let mut other = [0u8; 40];
        other[..12].copy_from_slice(b"another-boot");
        assert!(!is_this_boot(&other));
        assert!(
            !is_this_boot(&[0u8; 40]),
            "an unreadable id is never this boot"
        );
    }

    fn reboot(path: &Path) {
        let log = log_path_of(path);
        let f = OpenOptions::new().write(true).open(log).unwrap();
        os::write_all_at(&f, b"another-boot", 8).unwrap();
    }

    #[test]
    fn every_commit_survives_a_crash_of_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let (db, _log) = open(&path);
            for k in 0..200 {
                put(&db, k);
            }
            // Dropped without a seal or a checkpoint: the database file is still empty.
        }
        assert_eq!(keys(&path), (0..200).collect::<Vec<_>>());
    }

    /// A log written by the build before (BLAKE3 checksums) is still replayed whole, and one
    /// whose checksums do not match its header's format is not replayed at all.
    #[test]
    fn logs_of_the_previous_format_are_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let log_path = log_path_of(&path);
        {
            let (db, _log) = open(&path);
            for k in 0..50 {
                put(&db, k);
            }
        }
        let current = fs::read(&log_path).unwrap();
        let (head, body) = current.split_at(HEADER_LEN as usize);
        let mut old = head.to_vec();
        old[..8].copy_from_slice(MAGIC_BLAKE3);
        for r in records(body, Sum::Xxh3) {
            old.push(r.kind);
            old.extend_from_slice(&(r.payload.len() as u32).to_le_bytes());
            old.extend_from_slice(&r.seq.to_le_bytes());
            old.extend_from_slice(&checksum(Sum::Blake3, r.kind, r.seq, r.payload));
            old.extend_from_slice(r.payload);
        }
        let mut mislabelled = current.clone();
        mislabelled[..8].copy_from_slice(MAGIC_BLAKE3);
        fs::write(&log_path, &mislabelled).unwrap();
        let other = dir.path().join("other");
        fs::copy(&path, &other).unwrap();
        fs::write(log_path_of(&other), &mislabelled).unwrap();
        assert_eq!(keys(&other), Vec::<u64>::new());
        fs::write(&log_path, &old).unwrap();
        assert_eq!(keys(&path), (0..50).collect::<Vec<_>>());
    }

    /// A crash (or a full disk) after the log was applied to the database file but before a
    /// new log replaced it: the next open applies the same records again, and must land on the
    /// same database. (With XOR deltas the second replay undid the first: "all roots are
    /// corrupted".)
    #[test]
    fn a_replay_interrupted_before_the_log_reset_can_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let log_path = log_path_of(&path);
        {
            let (db, log) = open(&path);
            for k in 0..300 {
                put(&db, k);
                if k == 100 {
                    log.seal().unwrap();
                }
            }
        }
        let crashed_log = fs::read(&log_path).unwrap();
        assert_eq!(keys(&path), (0..300).collect::<Vec<_>>());
        // The first replay folded the log into the file; put it back as if the reset never came.
        fs::write(&log_path, &crashed_log).unwrap();
        assert_eq!(keys(&path), (0..300).collect::<Vec<_>>());
        // The same, and the machine restarts before the new log: the replay already sealed
        // what it folded, so the next boot replays all of it again rather than a prefix over a
        // file that holds more.
        let (head, body) = crashed_log.split_at(HEADER_LEN as usize);
        let recs = records(body, Sum::Xxh3);
        let last = recs
            .iter()
            .filter(|r| r.kind == COMMIT)
            .map(|r| r.seq)
            .max();
        let mut log = head.to_vec();
        log.extend(sealed_through(&recs, last.unwrap()));
        fs::write(&log_path, &log).unwrap();
        reboot(&path);
        assert_eq!(keys(&path), (0..300).collect::<Vec<_>>());
    }

    #[test]
    fn after_a_reboot_only_sealed_commits_remain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let (db, log) = open(&path);
            for k in 0..2000 {
                put(&db, k);
                if k == 1499 {
                    log.seal().unwrap();
                }
            }
            assert!(log.unsealed());
        }
        reboot(&path);
        assert_eq!(keys(&path), (0..1500).collect::<Vec<_>>());
    }

    #[test]
    fn checkpoints_keep_the_database_file_at_a_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let (db, log) = open(&path);
            for k in 0..3000 {
                put(&db, k);
                if k % 97 == 0 {
                    log.seal().unwrap();
                }
                if k % 5 == 0 && k > 10 {
                    let tx = db.begin_write().unwrap();
                    tx.open_table(T).unwrap().remove(k - 10).unwrap();
                    tx.commit().unwrap();
                }
            }
        }
        let expect = |last: u64| -> Vec<u64> {
            (0..=last)
                .filter(|k| !(k + 10 < last && (k + 10) % 5 == 0 && k + 10 > 10))
                .collect()
        };
        reboot(&path);
        assert!(
            keys(&path) == expect(2910),
            "not the state of the last seal"
        );
    }

    /// A checkpoint while commits wait for a seal folds only the sealed records into the
    /// database file (reading the log back) and keeps the later ones in the new log.
    #[test]
    fn a_checkpoint_keeps_the_records_after_the_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let copy = dir.path().join("copy");
        {
            let (db, log) = open(&path);
            for k in 0..200 {
                put(&db, k);
            }
            log.seal().unwrap();
            for k in 200..250 {
                put(&db, k);
            }
            assert!(!log.read().all_sealed());
            log.write_state().checkpoint().unwrap();
            put(&db, 250);
            for f in [path.clone(), log_path_of(&path)] {
                let to = dir.path().join(
                    f.file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .replace("db", "copy"),
                );
                fs::copy(&f, to).unwrap();
            }
        }
        assert_eq!(keys(&path), (0..251).collect::<Vec<_>>());
        reboot(&copy);
        assert_eq!(keys(&copy), (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn a_clean_end_leaves_nothing_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let (db, log) = open(&path);
            for k in 0..200 {
                put(&db, k);
            }
            log.fold_all().unwrap();
            // Still usable after the fold.
            put(&db, 200);
            log.fold_all().unwrap();
            let raw = fs::read(log_path_of(&path)).unwrap();
            let left = records(&raw[HEADER_LEN as usize..], Sum::Xxh3);
            assert!(
                left.iter().all(|r| r.kind != COMMIT),
                "the log still holds commits"
            );
        }
        // Even after a reboot (only sealed records count) everything is in the database file.
        reboot(&path);
        assert_eq!(keys(&path), (0..=200).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_log_replays_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let log_path = log_path_of(&path);
        {
            let (db, _log) = open(&path);
            for k in 0..100 {
                put(&db, k);
            }
        }
        let full = fs::read(&log_path).unwrap();
        let main = fs::read(&path).unwrap();
        let mut seen = 0;
        for cut in (HEADER_LEN as usize..full.len()).step_by(full.len() / 37) {
            fs::write(&path, &main).unwrap();
            fs::write(&log_path, &full[..cut]).unwrap();
            let got = keys(&path);
            assert_eq!(
                got,
                (0..got.len() as u64).collect::<Vec<_>>(),
                "cut at {cut}"
            );
            seen = seen.max(got.len());
        }
        assert!(
            seen > 50,
            "no cut kept most commits: the test proves nothing"
        );
    }

    fn open_noting(path: &Path) -> (Database, Arc<IntentLog>, Vec<Vec<u8>>) {
        let (log, notes) = IntentLog::open(path).unwrap();
        let db = Database::builder()
            .create_with_backend(log.backend())
            .unwrap();
        (db, log, notes)
    }

    /// The database and its log as a kill -9 would leave them, copied while they are live.
    fn crash_copy(from: &Path, to: &Path) {
        fs::copy(from, to).unwrap();
        fs::copy(log_path_of(from), log_path_of(to)).unwrap();
    }

    fn keys_of(db: &Database) -> Vec<u64> {
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(T).unwrap();
        t.iter().unwrap().map(|i| i.unwrap().0.value()).collect()
    }

    /// A change committed without a flush, with its note written inside its transaction.
    fn put_noted(db: &Database, log: &IntentLog, k: u64) {
        let mut tx = db.begin_write().unwrap();
        tx.set_durability(redb::Durability::None).unwrap();
        tx.open_table(T)
            .unwrap()
            .insert(k, [1u8].as_slice())
            .unwrap();
        log.note(format!("put {k}").as_bytes()).unwrap();
        tx.commit().unwrap();
    }

    fn texts(notes: &[Vec<u8>]) -> Vec<&str> {
        notes
            .iter()
            .map(|n| std::str::from_utf8(n).unwrap())
            .collect()
    }

    #[test]
    fn notes_no_commit_covers_come_back_at_open_until_a_commit_does() {
        let dir = tempfile::tempdir().unwrap();
        let [path, crashed, again] = ["db", "crashed", "again"].map(|n| dir.path().join(n));
        let (db, log, _) = open_noting(&path);
        put(&db, 1);
        put_noted(&db, &log, 2);
        put(&db, 3); // its commit record holds 2 as well
        put_noted(&db, &log, 4);
        put_noted(&db, &log, 5);
        crash_copy(&path, &crashed);
        let (db, log, notes) = open_noting(&crashed);
        assert_eq!(texts(&notes), ["put 4", "put 5"]);
        assert_eq!(
            keys_of(&db),
            [1, 2, 3],
            "the unflushed commits themselves are gone"
        );
        // Handed back, they stay in the new log, sealed: a crash or a reboot before a commit
        // covers them gives them back again.
        crash_copy(&crashed, &again);
        reboot(&again);
        assert_eq!(texts(&open_noting(&again).2), ["put 4", "put 5"]);
        put(&db, 6);
        drop((db, log));
        assert!(
            open_noting(&crashed).2.is_empty(),
            "the commit after them covers them"
        );
    }

    /// What `MetaStore::sync` relies on to turn notes into a commit record.
    #[test]
    fn an_empty_flushing_commit_covers_the_notes_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let [path, crashed] = ["db", "crashed"].map(|n| dir.path().join(n));
        let (db, log, _) = open_noting(&path);
        put_noted(&db, &log, 1);
        put_noted(&db, &log, 2);
        assert!(log.has_notes());
        db.begin_write().unwrap().commit().unwrap();
        assert!(!log.has_notes());
        crash_copy(&path, &crashed);
        let (db, _, notes) = open_noting(&crashed);
        assert!(notes.is_empty());
        assert_eq!(keys_of(&db), [1, 2]);
    }

    /// redb syncs in the middle of a transaction that grows the file: that record is no
    /// commit, and a crash before the transaction ends still needs the notes before it.
    #[test]
    fn a_sync_inside_a_transaction_covers_no_note() {
        let dir = tempfile::tempdir().unwrap();
        let [path, crashed] = ["db", "crashed"].map(|n| dir.path().join(n));
        let (db, log, _) = open_noting(&path);
        put(&db, 1);
        put_noted(&db, &log, 2);
        let records_before = lock_state(&log).next_seq;
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(T).unwrap();
            for k in 100..2100 {
                t.insert(k, vec![7u8; 3000].as_slice()).unwrap();
            }
        }
        assert!(
            lock_state(&log).next_seq > records_before,
            "the file never grew: the test proves nothing"
        );
        crash_copy(&path, &crashed);
        assert_eq!(texts(&open_noting(&crashed).2), ["put 2"]);
        tx.abort().unwrap();
    }

    #[test]
    fn after_a_reboot_only_sealed_notes_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let [path, crashed] = ["db", "crashed"].map(|n| dir.path().join(n));
        let (db, log, _) = open_noting(&path);
        put(&db, 1);
        put_noted(&db, &log, 2);
        log.seal().unwrap();
        put_noted(&db, &log, 3);
        crash_copy(&path, &crashed);
        reboot(&crashed);
        assert_eq!(texts(&open_noting(&crashed).2), ["put 2"]);
    }

    #[test]
    fn checkpoints_keep_the_notes_no_commit_covers() {
        let dir = tempfile::tempdir().unwrap();
        let [path, crashed] = ["db", "crashed"].map(|n| dir.path().join(n));
        let (db, log, _) = open_noting(&path);
        put(&db, 1);
        put_noted(&db, &log, 2);
        log.fold_all().unwrap(); // every record sealed: the checkpoint from the overlay
        put_noted(&db, &log, 3);
        put(&db, 4);
        put_noted(&db, &log, 5);
        log.seal().unwrap();
        put_noted(&db, &log, 6);
        lock_state(&log).checkpoint().unwrap(); // a record past the seal: the log is read back
        crash_copy(&path, &crashed);
        reboot(&crashed);
        let (db2, _, notes) = open_noting(&crashed);
        assert_eq!(texts(&notes), ["put 5"], "6 was never sealed");
        assert_eq!(keys_of(&db2), [1, 2, 3, 4]);
        drop(db);
    }

    fn lock_state(log: &IntentLog) -> std::sync::RwLockWriteGuard<'_, State> {
        log.write_state()
    }
}
