//! `backup`: walks local folders (reading ahead the files it will read), chunks what changed
//! since the parent snapshot (FastCDC), gives each chunk its keyed BLAKE3 id and hands the new
//! ones to the `packer` (which stores packs, then the index naming them); writes the snapshot
//! last — a crash leaves unreferenced packs, never a snapshot that points at nothing. Runs on a
//! blocking thread and calls the store through the runtime. Owns the walk and what a snapshot
//! holds; must not seal, pack or restore.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ourclone_remote::os;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::chunker::Chunker;
use super::model::{BlobKind, Node, NodeKind, Snapshot, Summary, TreeBlob};
use super::packer::Packer;
use super::repo::{hostname, Repo, RepoError, Result};
use super::store::Kind;
use crate::transfer::Filter;

/// What a backup produced.
#[derive(Debug)]
pub struct Backed {
    pub snapshot: String,
    pub summary: Summary,
    /// Files that could not be read, with why.
    pub failed: Vec<(String, String)>,
}

/// Gives each blob its id and hands the new ones to the packer.
struct Writer<'a, 's> {
    repo: &'a Repo,
    rt: Handle,
    known: HashSet<String>,
    packer: Packer<'s>,
    /// Set when the packer stopped: the backup cannot go on.
    stopped: bool,
    summary: Summary,
}

impl Writer<'_, '_> {
    fn add(&mut self, kind: BlobKind, plain: &[u8]) -> Result<String> {
        let id = hex::encode(self.repo.key.id_of(plain));
        if self.known.contains(&id) {
            return Ok(id);
        }
        if self.packer.add(id.clone(), kind, plain.to_vec()).is_err() {
            self.stopped = true;
            return Err(RepoError::Io(io::Error::other(
                "the repository stopped taking data",
            )));
        }
        self.known.insert(id.clone());
        Ok(id)
    }
}

/// Called after each file read and stored: the counts so far, the file and its size.
pub type Progress<'a> = dyn Fn(&Summary, &Path, u64) + Sync + 'a;

/// Backs up `paths` (absolute folders or files) into `repo` as one snapshot, holding a shared
/// lock (prune waits until it is released).
pub fn backup(
    repo: &Repo,
    rt: Handle,
    paths: &[PathBuf],
    tags: Vec<String>,
    filter: &Filter,
    progress: &Progress<'_>,
    cancel: &CancellationToken,
) -> Result<Backed> {
    let lock = rt.block_on(super::lock::Lock::take(repo, false))?;
    let result = backup_locked(repo, rt.clone(), paths, tags, (filter, cancel), progress);
    let released = rt.block_on(lock.release(repo));
    let backed = result?;
    released?;
    Ok(backed)
}

fn backup_locked(
    repo: &Repo,
    rt: Handle,
    paths: &[PathBuf],
    tags: Vec<String>,
    (filter, cancel): (&Filter, &CancellationToken),
    progress: &Progress<'_>,
) -> Result<Backed> {
    let mut names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.sort();
    let parent = rt
        .block_on(repo.snapshots())?
        .into_iter()
        .rev()
        .find(|(_, s)| s.paths == names && s.hostname == hostname());
    let parent_root = match &parent {
        Some((_, s)) => Some(load_tree(repo, &rt, &s.tree)?),
        None => None,
    };
    let known: HashSet<String> = repo.index.keys().cloned().collect();
    let (tree, mut summary, failed) = std::thread::scope(|scope| {
        let mut w = Writer {
            repo,
            rt: rt.clone(),
            known,
            packer: Packer::start(scope, repo, rt.clone()),
            stopped: false,
            summary: Summary::default(),
        };
        let walk = Walk {
            chunker: Chunker::new(repo.config.chunker),
            w: &mut w,
            filter,
            failed: Vec::new(),
            progress,
            cancel,
        };
        let walked = walk.roots(paths, parent_root.as_ref());
        let Writer {
            packer, summary, ..
        } = w;
        // Packs, then the index that names them (the packer's order), then the snapshot.
        let packed = packer.finish()?;
        let (tree, failed) = walked?;
        let mut summary = summary;
        summary.bytes_added = packed.bytes_added;
        summary.blobs_added = packed.blobs_added;
        summary.packs_added = packed.packs_added;
        Ok::<_, RepoError>((tree, summary, failed))
    })?;
    summary.files_failed = failed.len() as u64;
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let snap = Snapshot {
        time: at.as_secs(),
        nanos: at.subsec_nanos(),
        hostname: hostname(),
        paths: names,
        tags,
        tree,
        parent: parent.map(|(id, _)| id),
        summary: summary.clone(),
    };
    let snapshot = rt.block_on(repo.write_json(Kind::Snapshot, &snap))?;
    Ok(Backed {
        snapshot,
        summary,
        failed,
    })
}

pub(crate) fn load_tree(repo: &Repo, rt: &Handle, id: &str) -> Result<TreeBlob> {
    let bytes = rt.block_on(repo.read_blob(id))?;
    serde_json::from_slice(&bytes).map_err(|e| RepoError::Damaged(format!("tree {id}: {e}")))
}

struct Walk<'w, 'a, 's> {
    w: &'w mut Writer<'a, 's>,
    chunker: Chunker,
    filter: &'w Filter,
    failed: Vec<(String, String)>,
    progress: &'w Progress<'w>,
    cancel: &'w CancellationToken,
}

impl Walk<'_, '_, '_> {
    /// Walks each of `paths` into one root tree; its id, and the paths that could not be read.
    fn roots(
        mut self,
        paths: &[PathBuf],
        parent_root: Option<&TreeBlob>,
    ) -> Result<(String, Vec<(String, String)>)> {
        let mut root = TreeBlob::default();
        for path in paths {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "root".into());
            let old = parent_root.and_then(|t| t.nodes.iter().find(|n| n.name == name));
            let node = fs::symlink_metadata(path)
                .map_err(RepoError::from)
                .and_then(|meta| self.node(path, meta, &name, "", old));
            match node {
                Ok(Some(node)) => root.nodes.push(node),
                Ok(None) => {}
                Err(e) => self.failed(path, e)?,
            }
        }
        root.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let json = serde_json::to_vec(&root).map_err(io::Error::other)?;
        let tree = self.w.add(BlobKind::Tree, &json)?;
        Ok((tree, self.failed))
    }

    /// Records that `path` could not be saved — unless the store failed, which ends the backup.
    fn failed(&mut self, path: &Path, e: RepoError) -> Result<()> {
        if self.w.stopped {
            return Err(e);
        }
        self.failed
            .push((path.display().to_string(), e.to_string()));
        Ok(())
    }

    /// The node for `path` (with metadata `meta`, named `name`, at `rel` below the backup
    /// root), or `None` when it is filtered out or of a kind a snapshot does not hold.
    fn node(
        &mut self,
        path: &Path,
        meta: fs::Metadata,
        name: &str,
        rel: &str,
        old: Option<&Node>,
    ) -> Result<Option<Node>> {
        if self.cancel.is_cancelled() {
            self.w.stopped = true;
            return Err(super::repo::cancelled());
        }
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            NodeKind::Dir
        } else if ft.is_symlink() {
            NodeKind::Symlink
        } else if ft.is_file() {
            NodeKind::File
        } else {
            return Ok(None);
        };
        if !rel.is_empty() && !self.filter.admits(rel, &item(&meta)) {
            return Ok(None);
        }
        let stamp = os::change_stamp(&meta);
        let mut node = Node {
            name: name.to_string(),
            kind: kind.clone(),
            mode: os::mode_of(&meta),
            mtime: stamp.0,
            ctime: stamp.1,
            inode: stamp.2,
            size: if kind == NodeKind::File {
                meta.len()
            } else {
                0
            },
            content: Vec::new(),
            subtree: None,
            target: None,
        };
        match kind {
            NodeKind::Symlink => {
                node.target = Some(fs::read_link(path)?.to_string_lossy().into_owned());
            }
            NodeKind::File => self.file(path, &mut node, old)?,
            NodeKind::Dir => {
                let old_tree = match old.and_then(|o| o.subtree.as_ref()) {
                    Some(id) => load_tree(self.w.repo, &self.w.rt, id).ok(),
                    None => None,
                };
                node.subtree = Some(self.dir(path, rel, old_tree.as_ref())?);
            }
        }
        Ok(Some(node))
    }

    fn dir(&mut self, path: &Path, rel: &str, old: Option<&TreeBlob>) -> Result<String> {
        let mut entries: Vec<(String, PathBuf)> = fs::read_dir(path)?
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        entries.sort();
        // Trees hold their nodes sorted by name, as `entries` are.
        let prev_of = |name: &str| {
            old.and_then(|t| {
                let i = t
                    .nodes
                    .binary_search_by(|n| n.name.as_str().cmp(name))
                    .ok()?;
                t.nodes.get(i)
            })
        };
        // One stat per entry, shared by the read-ahead and the walk.
        let metas: Vec<io::Result<fs::Metadata>> = entries
            .iter()
            .map(|(_, p)| fs::symlink_metadata(p))
            .collect();
        let mut ahead = Readahead::new(&entries, &metas, prev_of);
        let mut tree = TreeBlob::default();
        for (i, ((name, child), meta)) in entries.iter().zip(metas).enumerate() {
            ahead.before(i);
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let prev = prev_of(name);
            let node = meta
                .map_err(RepoError::from)
                .and_then(|meta| self.node(child, meta, name, &child_rel, prev));
            match node {
                Ok(Some(n)) => tree.nodes.push(n),
                Ok(None) => {}
                Err(e) => self.failed(child, e)?,
            }
        }
        let bytes = serde_json::to_vec(&tree).map_err(io::Error::other)?;
        self.w.add(BlobKind::Tree, &bytes)
    }

    /// A file's content: the parent's chunk list when nothing about it changed (not read),
    /// else read and chunked. A file that changes while read is a failure, never stored torn.
    fn file(&mut self, path: &Path, node: &mut Node, old: Option<&Node>) -> Result<()> {
        if let Some(o) =
            old.filter(|o| unchanged(o, (node.size, node.mtime, node.ctime, node.inode)))
        {
            node.content = o.content.clone();
            self.w.summary.files_unchanged += 1;
            return Ok(());
        }
        let mut f = fs::File::open(path)?;
        let w = &mut *self.w;
        let read = self.chunker.chunks(&mut f, |chunk| {
            node.content.push(w.add(BlobKind::Data, chunk)?);
            Ok::<_, RepoError>(())
        })?;
        self.w.summary.bytes_read += read;
        let after = fs::symlink_metadata(path)?;
        if read != node.size || os::change_stamp(&after).0 != node.mtime {
            return Err(RepoError::Io(io::Error::other(
                "changed while being read; not stored",
            )));
        }
        if old.is_some() {
            self.w.summary.files_changed += 1;
        } else {
            self.w.summary.files_new += 1;
        }
        self.w.summary.bytes_added = self.w.packer.bytes_added();
        (self.progress)(&self.w.summary, path, read);
        Ok(())
    }
}

/// Whether file node `o` (of the parent snapshot) still describes a file of this size, mtime,
/// ctime and inode: then it is not read again.
fn unchanged(o: &Node, (size, mtime, ctime, inode): (u64, i128, i128, u64)) -> bool {
    o.kind == NodeKind::File && (o.size, o.mtime, o.ctime, o.inode) == (size, mtime, ctime, inode)
}

/// Asks the kernel to start reading the next files of a folder that the walk will read, so
/// disk reads overlap with chunking instead of each file waiting for its own.
struct Readahead {
    /// (index in the folder, path, bytes to read ahead) of the files that will be read.
    files: Vec<(usize, PathBuf, u64)>,
    next: usize,
}

impl Readahead {
    /// Files advised ahead of the one being read.
    const AHEAD: usize = 16;
    /// Bytes of each file advised (the chunker's reads bring in the rest).
    const BYTES: u64 = 4 << 20;

    fn new<'n>(
        entries: &[(String, PathBuf)],
        metas: &[io::Result<fs::Metadata>],
        prev: impl Fn(&str) -> Option<&'n Node>,
    ) -> Self {
        let files = entries
            .iter()
            .zip(metas)
            .enumerate()
            .filter_map(|(i, ((name, path), m))| {
                let m = m.as_ref().ok().filter(|m| m.is_file())?;
                let (mtime, ctime, ino) = os::change_stamp(m);
                let now = (m.len(), mtime, ctime, ino);
                let read = m.len() > 0 && !prev(name).is_some_and(|o| unchanged(o, now));
                read.then(|| (i, path.clone(), m.len().min(Self::BYTES)))
            })
            .collect();
        Self { files, next: 0 }
    }

    /// Advises the files up to [`Self::AHEAD`] entries after entry `i`.
    fn before(&mut self, i: usize) {
        while let Some((at, path, len)) = self.files.get(self.next) {
            if *at > i + Self::AHEAD {
                break;
            }
            if let Ok(f) = fs::File::open(path) {
                os::will_need(&f, *len);
            }
            self.next += 1;
        }
    }
}

fn item(meta: &fs::Metadata) -> crate::transfer::Item {
    use crate::transfer::ItemKind;
    let kind = if meta.is_dir() {
        ItemKind::Dir
    } else if meta.file_type().is_symlink() {
        ItemKind::Link
    } else {
        ItemKind::File
    };
    crate::transfer::Item {
        kind,
        size: meta.len(),
        mtime: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        mode: os::mode_of(meta),
        hash: None,
    }
}
