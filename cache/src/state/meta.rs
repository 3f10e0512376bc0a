//! `MetaStore`: the redb database that holds the tree — inodes, names, attributes, remote ids
//! and listing freshness — and, in the same transactions, the write journal's records (see
//! `journal.rs`). Every tree operation is one transaction, so a crash leaves the tree as it was
//! before or after it, never between. Listings are merged in `listing.rs`. Must not call the
//! remote or touch file data.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table,
    TableDefinition, WriteTransaction,
};

use super::intent_log::IntentLog;
use super::journal::PendingRecord;
use super::node::{now_nanos, Ino, Kind, Nanos, Node, RemoteState, ROOT_INO};
use super::notes::{self, AttrChange, Note};
use super::tables::{
    decode, forget_in, read_node, write_node, CHILDREN, MOVES, NODES, PENDING, PUSHED,
};
use crate::error::{CacheError, Result};

const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const NEXT_INO: &str = "next_ino";
const RESERVED_INO: &str = "reserved_ino";

/// The database and the intent log under it.
struct Store {
    db: Database,
    log: Arc<IntentLog>,
}

fn open_db(path: &Path) -> Result<Store> {
    let log = IntentLog::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => CacheError::Store(format!(
            "{} is in use by another ourclone-fs process",
            path.display()
        )),
        _ => CacheError::Io(e),
    })?;
    let (log, notes) = log;
    let db = Database::builder().create_with_backend(log.backend())?;
    notes::apply_all(&db, &notes)?;
    Ok(Store { db, log })
}

/// Attributes given to objects first seen in a remote listing.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub uid: u32,
    pub gid: u32,
    pub file_mode: u32,
    pub dir_mode: u32,
}

/// The metadata store of one mount.
pub struct MetaStore {
    /// `None` only between a failed reopen and the next attempt (see [`MetaStore::reopen`]).
    db: RwLock<Option<Store>>,
    path: PathBuf,
    /// End of the durable inode reservation (a copy of the `reserved_ino` counter).
    pub(super) reserved: AtomicU64,
    /// At least the next inode number the counter will hand out (it only grows).
    pub(super) next: AtomicU64,
}

pub(super) fn child_of(
    t: &Table<(u64, &str), u64>,
    parent: Ino,
    name: &str,
) -> Result<Option<Ino>> {
    Ok(t.get((parent, name))?.map(|v| v.value()))
}

/// Inode numbers reserved at a time. Tree commits are not durable on their own, so after a
/// crash the counter may go back; it never goes back past the durable reservation, and every
/// open starts above it, so an inode number is never handed out twice (blocks, data files and
/// the kernel key on it). Reservations are their own durable transactions: they never make a
/// tree change durable ahead of its journal record.
const INO_WINDOW: u64 = 1 << 16;

fn next_ino(c: &impl ReadableTable<&'static str, u64>) -> Result<Ino> {
    Ok(c.get(NEXT_INO)?.map(|v| v.value()).unwrap_or(ROOT_INO + 1))
}

/// Allocates an inode number below the durable reservation `reserved` (see
/// [`MetaStore::reserve_inos`]) and moves `seen` (the in-memory copy of the counter) past it.
pub(super) fn alloc_ino(
    tx: &WriteTransaction,
    reserved: &AtomicU64,
    seen: &AtomicU64,
) -> Result<Ino> {
    let mut c = tx.open_table(COUNTERS)?;
    let next = next_ino(&c)?;
    if next >= reserved.load(Ordering::Acquire) {
        return Err(CacheError::Store("inode reservation exhausted".into()));
    }
    c.insert(NEXT_INO, next + 1)?;
    seen.fetch_max(next + 1, Ordering::AcqRel);
    Ok(next)
}

/// A name was added to or taken from folder `dir`: its mtime and ctime become `now`, as POSIX
/// asks of every successful create, mkdir, symlink, unlink, rmdir and rename (in the same
/// commit as the change).
pub(super) fn dir_changed(nodes: &mut redb::Table<u64, &[u8]>, dir: Ino, now: Nanos) -> Result<()> {
    let mut d = read_node(nodes, dir)?;
    (d.mtime, d.ctime) = (now, now);
    write_node(nodes, dir, &d)
}

/// Inserts `node` under its parent in `tx` with a new inode number (reserved beforehand, see
/// [`MetaStore::reserve_inos`]). Fails if the name is taken or the parent is not a folder.
/// Returns the inode and the parent as it was.
pub(super) fn insert_new(
    tx: &WriteTransaction,
    node: &Node,
    reserved: &AtomicU64,
    seen: &AtomicU64,
) -> Result<(Ino, Node)> {
    let ino = alloc_ino(tx, reserved, seen)?;
    Ok((ino, place_new(tx, ino, node)?))
}

/// Inserts `node` under its parent as inode `ino` (allocated by [`alloc_ino`]). Fails if the
/// name is taken or the parent is not a folder; returns the parent as it was.
pub(super) fn place_new(tx: &WriteTransaction, ino: Ino, node: &Node) -> Result<Node> {
    let mut children = tx.open_table(CHILDREN)?;
    if child_of(&children, node.parent, &node.name)?.is_some() {
        return Err(CacheError::AlreadyExists);
    }
    let mut nodes = tx.open_table(NODES)?;
    let parent = read_node(&nodes, node.parent)?;
    if !parent.is_dir() {
        return Err(CacheError::NotADirectory);
    }
    children.insert((node.parent, node.name.as_str()), ino)?;
    write_node(&mut nodes, ino, node)?;
    Ok(parent)
}

/// Moves node `ino` from `from` (its parent and name) to where `node` says, as it stands
/// after the rename's edits: what held that name goes (one link less, or the node and its
/// journal record), the node gets `record` when it has one, its ctime and both folders' times
/// become `now`, and a move note of the remote's (see `moves.rs`) is settled. Checks nothing:
/// [`MetaStore::rename`] validated the rename first.
pub(super) fn move_node(
    tx: &WriteTransaction,
    ino: Ino,
    from: (Ino, &str),
    node: &Node,
    record: Option<&PendingRecord>,
    now: Nanos,
) -> Result<Node> {
    let mut children = tx.open_table(CHILDREN)?;
    let mut nodes = tx.open_table(NODES)?;
    let (new_parent, new_name) = (node.parent, node.name.as_str());
    if let Some(old) = child_of(&children, new_parent, new_name)?.filter(|o| *o != ino) {
        let old_node = read_node(&nodes, old)?;
        if old_node.extra_links > 0 {
            let mut other = old_node;
            other.extra_links -= 1;
            children.remove((new_parent, new_name))?;
            if (other.parent, other.name.as_str()) == (new_parent, new_name) {
                (other.parent, other.name) = any_name_of(&children, old)?;
            }
            write_node(&mut nodes, old, &other)?;
        } else {
            nodes.remove(old)?;
            forget_in(tx, old)?;
        }
    }
    if let Some(rec) = record {
        super::journal::put(tx, ino, rec)?;
    }
    // Whatever the remote did, the tree now says where the node is.
    tx.open_table(MOVES)?.remove(ino)?;
    children.remove(from)?;
    children.insert((new_parent, new_name), ino)?;
    let mut node = node.clone();
    node.ctime = now;
    write_node(&mut nodes, ino, &node)?;
    dir_changed(&mut nodes, from.0, now)?;
    if new_parent != from.0 {
        dir_changed(&mut nodes, new_parent, now)?;
    }
    Ok(node)
}

/// At open: skips whatever an earlier run may have allocated without a durable commit, and
/// returns the new (empty) reservation's end.
fn skip_reserved_inos(tx: &WriteTransaction) -> Result<Ino> {
    let mut c = tx.open_table(COUNTERS)?;
    let next = next_ino(&c)?;
    // Stores made before reservations existed: skip a whole window past the counter.
    let reserved = c
        .get(RESERVED_INO)?
        .map(|v| v.value())
        .unwrap_or(next + INO_WINDOW);
    let start = next.max(reserved);
    c.insert(NEXT_INO, start)?;
    c.insert(RESERVED_INO, start)?;
    Ok(start)
}

impl MetaStore {
    /// Opens (or creates) the store at `path`, with a root folder owned by `defaults`.
    pub fn open(path: &Path, defaults: Defaults) -> Result<Self> {
        let store = Self {
            db: RwLock::new(Some(open_db(path)?)),
            path: path.to_path_buf(),
            reserved: AtomicU64::new(0),
            next: AtomicU64::new(0),
        };
        store.ensure_root(defaults)?;
        Ok(store)
    }

    /// Starts a write transaction. After an I/O error (a full disk) redb refuses every later
    /// transaction until the database is reopened: reopen it here, so the store recovers on
    /// its own once space is back instead of failing every close until a remount.
    pub(crate) fn begin_write(&self) -> Result<WriteTransaction> {
        match self.with_db(|db| db.begin_write().map_err(CacheError::from)) {
            Err(CacheError::StoreNeedsReopen) => {
                self.reopen()?;
                self.with_db(|db| Ok(db.begin_write()?))
            }
            other => other,
        }
    }

    /// Starts a read transaction (see [`MetaStore::begin_write`] for the reopening).
    pub(crate) fn begin_read(&self) -> Result<ReadTransaction> {
        match self.with_db(|db| db.begin_read().map_err(CacheError::from)) {
            Err(CacheError::StoreNeedsReopen) => {
                self.reopen()?;
                self.with_db(|db| Ok(db.begin_read()?))
            }
            other => other,
        }
    }

    fn with_db<T>(&self, f: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        self.with_store(|s| f(&s.db))
    }

    fn with_store<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(store) => f(store),
            None => {
                drop(guard);
                self.reopen()?;
                let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
                f(guard.as_ref().ok_or(CacheError::StoreNeedsReopen)?)
            }
        }
    }

    /// Closes and reopens the database (the intent log replays every commit that reached it).
    fn reopen(&self) -> Result<()> {
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        drop(db.take());
        let fresh = open_db(&self.path)?;
        // As after a crash: inode numbers start past the reservation again.
        let tx = fresh.db.begin_write()?;
        let start = skip_reserved_inos(&tx)?;
        tx.open_table(COUNTERS)?
            .insert(RESERVED_INO, start + INO_WINDOW)?;
        tx.commit()?;
        fresh.log.seal()?;
        self.reserved.store(start + INO_WINDOW, Ordering::Release);
        self.next.store(start, Ordering::Release);
        *db = Some(fresh);
        tracing::warn!("metadata store reopened after a disk error");
        Ok(())
    }

    /// Makes sure at least `n` inode numbers are durably reserved beyond the counter, taking a
    /// new window in a durable transaction of its own when fewer than half a window is left.
    pub(super) fn reserve_inos(&self, n: u64) -> Result<()> {
        let next = self.next.load(Ordering::Acquire);
        if next + n + INO_WINDOW / 2 <= self.reserved.load(Ordering::Acquire) {
            return Ok(());
        }
        let tx = self.begin_write()?;
        let limit = {
            let mut c = tx.open_table(COUNTERS)?;
            let limit = next_ino(&c)? + n + INO_WINDOW;
            c.insert(RESERVED_INO, limit)?;
            limit
        };
        tx.commit()?;
        self.sync()?;
        self.reserved.store(limit, Ordering::Release);
        Ok(())
    }

    fn ensure_root(&self, d: Defaults) -> Result<()> {
        let tx = self.begin_write()?;
        {
            let mut nodes = tx.open_table(NODES)?;
            tx.open_table(CHILDREN)?;
            tx.open_table(PENDING)?;
            tx.open_table(PUSHED)?;
            tx.open_table(MOVES)?;
            let start = skip_reserved_inos(&tx)?;
            self.reserved.store(start, Ordering::Release);
            self.next.store(start, Ordering::Release);
            if nodes.get(ROOT_INO)?.is_none() {
                let mut root = Node::new_local(ROOT_INO, "", Kind::Dir, d.dir_mode, d.uid, d.gid);
                root.listed_at = None;
                root.remote = Some(RemoteState {
                    id: None,
                    size: 0,
                    mtime: None,
                    hash: None,
                });
                write_node(&mut nodes, ROOT_INO, &root)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Starts a write transaction. Its commit reaches the intent log (a crash of the daemon
    /// keeps it); a later [`MetaStore::sync`] makes it survive power loss.
    pub(crate) fn write(&self) -> Result<WriteTransaction> {
        self.begin_write()
    }

    /// Makes every earlier commit, and the data files written before it, survive power loss
    /// (one file-system sync and one log fsync, shared by concurrent callers).
    pub fn sync(&self) -> Result<()> {
        let log = self.flush_notes()?;
        Ok(log.seal()?)
    }

    /// [`MetaStore::sync`], then folds the intent log into the database file, so the next
    /// open replays nothing. For a clean end (unmount, the end of a command).
    pub fn checkpoint(&self) -> Result<()> {
        let log = self.flush_notes()?;
        Ok(log.fold_all()?)
    }

    /// Turns the noted changes since the last commit record into one (an empty commit that
    /// flushes), so notes pile up for at most one group commit and recovery replays few.
    fn flush_notes(&self) -> Result<Arc<IntentLog>> {
        let log = self.with_store(|s| Ok(Arc::clone(&s.log)))?;
        if log.has_notes() {
            self.write()?.commit()?;
        }
        Ok(log)
    }

    /// Whether commits exist that [`MetaStore::sync`] has not made durable yet.
    pub fn unsynced(&self) -> bool {
        self.with_store(|s| Ok(s.log.unsealed())).unwrap_or(true)
    }

    pub fn get(&self, ino: Ino) -> Result<Node> {
        let tx = self.begin_read()?;
        let t = tx.open_table(NODES)?;
        match t.get(ino)? {
            Some(v) => decode(v.value()),
            None => Err(CacheError::NotFound),
        }
    }

    /// The child `name` of `parent`, if the tree has it.
    pub fn lookup(&self, parent: Ino, name: &str) -> Result<Option<(Ino, Node)>> {
        let tx = self.begin_read()?;
        let children = tx.open_table(CHILDREN)?;
        let Some(ino) = children.get((parent, name))?.map(|v| v.value()) else {
            return Ok(None);
        };
        let nodes = tx.open_table(NODES)?;
        let node = match nodes.get(ino)? {
            Some(v) => decode(v.value())?,
            None => {
                return Err(CacheError::Corrupt(format!(
                    "child {name} points at no node"
                )))
            }
        };
        Ok(Some((ino, node)))
    }

    /// All children of `parent`, in name order.
    /// All children of `parent`, in name order. Each node carries the name it has in this
    /// folder (a hard-linked node's own `name` may be another of its names).
    pub fn children(&self, parent: Ino) -> Result<Vec<(Ino, Node)>> {
        let tx = self.begin_read()?;
        let children = tx.open_table(CHILDREN)?;
        let nodes = tx.open_table(NODES)?;
        let mut out = Vec::new();
        for item in children.range((parent, "")..(parent + 1, ""))? {
            let (key, ino) = item?;
            let ino = ino.value();
            if let Some(v) = nodes.get(ino)? {
                let mut node = decode(v.value())?;
                key.value().1.clone_into(&mut node.name);
                out.push((ino, node));
            }
        }
        Ok(out)
    }

    /// The path of `ino` from the mount root, as names ("" for the root).
    pub fn path_of(&self, mut ino: Ino) -> Result<Vec<String>> {
        let tx = self.begin_read()?;
        let nodes = tx.open_table(NODES)?;
        let mut names = Vec::new();
        while ino != ROOT_INO {
            let node = match nodes.get(ino)? {
                Some(v) => decode(v.value())?,
                None => return Err(CacheError::NotFound),
            };
            if node.orphan {
                return Err(CacheError::NotFound);
            }
            names.push(node.name);
            ino = node.parent;
        }
        names.reverse();
        Ok(names)
    }

    /// Adds `node` under its parent; fails if the name is taken.
    pub fn create(&self, node: Node) -> Result<Ino> {
        self.reserve_inos(1)?;
        let tx = self.write()?;
        let (ino, _) = insert_new(&tx, &node, &self.reserved, &self.next)?;
        tx.commit()?;
        Ok(ino)
    }

    /// Changes one node in place and returns its new state.
    pub fn update(&self, ino: Ino, f: impl FnOnce(&mut Node)) -> Result<Node> {
        let tx = self.write()?;
        let node = {
            let mut nodes = tx.open_table(NODES)?;
            let mut node = read_node(&nodes, ino)?;
            f(&mut node);
            write_node(&mut nodes, ino, &node)?;
            node
        };
        tx.commit()?;
        Ok(node)
    }

    /// Changes the attributes of `ino` other than its size (and sets its ctime): a commit that
    /// does not flush, noted in the intent log (see `notes.rs`).
    pub fn set_attributes(&self, ino: Ino, change: &AttrChange) -> Result<Node> {
        let tx = self.write_noted()?;
        let note = Note::SetAttr {
            ino,
            change: change.clone(),
            ctime: now_nanos(),
        };
        self.noted(tx, &note)
    }

    /// Starts a write transaction whose commit does not flush: its change must be noted (see
    /// [`MetaStore::noted`]).
    pub(super) fn write_noted(&self) -> Result<WriteTransaction> {
        let mut tx = self.write()?;
        tx.set_durability(redb::Durability::None)?;
        Ok(tx)
    }

    /// Makes `note`'s change in `tx` (from [`MetaStore::write_noted`]) and commits it, writing
    /// the note inside the transaction (after the change: one that fails leaves no note).
    pub(super) fn noted(&self, tx: WriteTransaction, note: &Note) -> Result<Node> {
        let node = note.apply(&tx)?;
        let payload = note.encode()?;
        self.with_store(|s| Ok(s.log.note(&payload)?))?;
        tx.commit()?;
        Ok(node)
    }

    /// Takes `name` out of `parent`. The node itself stays (marked orphan) when `keep` says
    /// handles are still open, and is dropped otherwise; its journal record goes with it.
    pub fn unlink(
        &self,
        parent: Ino,
        name: &str,
        keep: impl FnOnce(Ino) -> bool,
    ) -> Result<(Ino, Node)> {
        let tx = self.write()?;
        let out = {
            let mut children = tx.open_table(CHILDREN)?;
            let ino = child_of(&children, parent, name)?.ok_or(CacheError::NotFound)?;
            let mut nodes = tx.open_table(NODES)?;
            let mut node = read_node(&nodes, ino)?;
            if node.is_dir() && children.range((ino, "")..(ino + 1, ""))?.next().is_some() {
                return Err(CacheError::NotEmpty);
            }
            children.remove((parent, name))?;
            forget_in(&tx, ino)?;
            dir_changed(&mut nodes, parent, now_nanos())?;
            if node.extra_links > 0 {
                // Another name still holds it; point the node at one of them.
                node.extra_links -= 1;
                if (node.parent, node.name.as_str()) == (parent, name) {
                    let (p, n) = any_name_of(&children, ino)?;
                    node.parent = p;
                    node.name = n;
                }
                node.ctime = now_nanos();
                write_node(&mut nodes, ino, &node)?;
            } else if keep(ino) {
                node.orphan = true;
                write_node(&mut nodes, ino, &node)?;
            } else {
                nodes.remove(ino)?;
            }
            (ino, node)
        };
        tx.commit()?;
        Ok(out)
    }

    /// Gives node `ino` (which must be local-only: see `Kind`) another name.
    pub fn link(&self, ino: Ino, new_parent: Ino, new_name: &str) -> Result<Node> {
        let tx = self.write()?;
        let node = {
            let mut children = tx.open_table(CHILDREN)?;
            let mut nodes = tx.open_table(NODES)?;
            let mut node = read_node(&nodes, ino)?;
            if !node.kind.is_local_only() {
                return Err(CacheError::Unsupported("hard links"));
            }
            if !read_node(&nodes, new_parent)?.is_dir() {
                return Err(CacheError::NotADirectory);
            }
            if child_of(&children, new_parent, new_name)?.is_some() {
                return Err(CacheError::AlreadyExists);
            }
            children.insert((new_parent, new_name), ino)?;
            node.extra_links += 1;
            node.ctime = now_nanos();
            write_node(&mut nodes, ino, &node)?;
            node
        };
        tx.commit()?;
        Ok(node)
    }

    /// Drops an orphan node once its last handle closed.
    pub fn drop_orphan(&self, ino: Ino) -> Result<()> {
        let tx = self.write()?;
        {
            let mut nodes = tx.open_table(NODES)?;
            if let Some(v) = nodes.get(ino)? {
                if !decode(v.value())?.orphan {
                    return Ok(());
                }
            }
            nodes.remove(ino)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Moves `name` of `parent` to `new_name` of `new_parent`, replacing what is there
    /// (which must be of a compatible kind, and empty if a folder). `edit` adjusts the moved
    /// node (for instance to take over the replaced node's remote object); with `journal`, the
    /// change is recorded for upload in the same commit. Returns the moved inode and the
    /// replaced one, if any.
    pub fn rename(
        &self,
        parent: Ino,
        name: &str,
        new_parent: Ino,
        new_name: &str,
        edit: impl FnOnce(&mut Node, Option<&Node>),
        journal: bool,
    ) -> Result<(Ino, Option<(Ino, Node)>)> {
        let tx = self.write_noted()?;
        let (ino, mut node, replaced) = {
            let children = tx.open_table(CHILDREN)?;
            let nodes = tx.open_table(NODES)?;
            let ino = child_of(&children, parent, name)?.ok_or(CacheError::NotFound)?;
            let node = read_node(&nodes, ino)?;
            match self.validate_rename(&children, &nodes, ino, &node, new_parent, new_name)? {
                Target::Same => return Ok((ino, None)),
                Target::Free => (ino, node, None),
                Target::Replaces(old, old_node) => (ino, node, Some((old, *old_node))),
            }
        };
        edit(&mut node, replaced.as_ref().map(|(_, n)| n));
        node.parent = new_parent;
        node.name = new_name.to_string();
        let record = journal.then(|| {
            node.version += 1;
            PendingRecord::new(node.version)
        });
        let note = Note::Rename {
            ino,
            from: (parent, name.to_string()),
            node: Box::new(node),
            record,
            now: now_nanos(),
        };
        self.noted(tx, &note)?;
        Ok((ino, replaced))
    }

    /// Checks, changing nothing, that `name` of `parent` may be renamed to `new_name` of
    /// `new_parent`: callers that must act on the remote first ask this before they do.
    pub fn check_rename(
        &self,
        parent: Ino,
        name: &str,
        new_parent: Ino,
        new_name: &str,
    ) -> Result<()> {
        let tx = self.write()?;
        let children = tx.open_table(CHILDREN)?;
        let nodes = tx.open_table(NODES)?;
        let ino = child_of(&children, parent, name)?.ok_or(CacheError::NotFound)?;
        let node = read_node(&nodes, ino)?;
        self.validate_rename(&children, &nodes, ino, &node, new_parent, new_name)?;
        Ok(())
        // The transaction is dropped unused: nothing is written.
    }

    fn validate_rename(
        &self,
        children: &Table<(u64, &str), u64>,
        nodes: &Table<u64, &[u8]>,
        ino: Ino,
        node: &Node,
        new_parent: Ino,
        new_name: &str,
    ) -> Result<Target> {
        if !read_node(nodes, new_parent)?.is_dir() {
            return Err(CacheError::NotADirectory);
        }
        if node.is_dir() && self.is_ancestor(nodes, ino, new_parent)? {
            return Err(CacheError::Invalid("cannot move a folder into itself"));
        }
        match child_of(children, new_parent, new_name)? {
            Some(old) if old == ino => Ok(Target::Same),
            Some(old) => {
                let old_node = read_node(nodes, old)?;
                check_replace(node, &old_node, children, old)?;
                Ok(Target::Replaces(old, Box::new(old_node)))
            }
            None => Ok(Target::Free),
        }
    }

    fn is_ancestor(&self, nodes: &Table<u64, &[u8]>, anc: Ino, mut ino: Ino) -> Result<bool> {
        loop {
            if ino == anc {
                return Ok(true);
            }
            if ino == ROOT_INO {
                return Ok(false);
            }
            ino = read_node(nodes, ino)?.parent;
        }
    }

    /// Number of nodes in the tree (for status).
    pub fn node_count(&self) -> Result<u64> {
        let tx = self.begin_read()?;
        Ok(tx.open_table(NODES)?.len()?)
    }
}

/// Some name of `ino` in the tree (a full scan: only for hard-linked local-only nodes).
fn any_name_of(children: &Table<(u64, &str), u64>, ino: Ino) -> Result<(Ino, String)> {
    for item in children.iter()? {
        let (k, v) = item?;
        if v.value() == ino {
            let (p, n) = k.value();
            return Ok((p, n.to_string()));
        }
    }
    Err(CacheError::Corrupt(format!(
        "inode {ino} has links but no name"
    )))
}

/// What a rename's destination holds.
enum Target {
    /// The node itself (another of its names): nothing to do.
    Same,
    Free,
    Replaces(Ino, Box<Node>),
}

fn check_replace(
    src: &Node,
    dst: &Node,
    children: &Table<(u64, &str), u64>,
    dst_ino: Ino,
) -> Result<()> {
    match (src.is_dir(), dst.is_dir()) {
        (true, false) => Err(CacheError::NotADirectory),
        (false, true) => Err(CacheError::IsADirectory),
        (true, true)
            if children
                .range((dst_ino, "")..(dst_ino + 1, ""))?
                .next()
                .is_some() =>
        {
            Err(CacheError::NotEmpty)
        }
        _ => Ok(()),
    }
}
