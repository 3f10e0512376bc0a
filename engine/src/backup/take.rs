//! `backup`: walks local folders, chunks what changed since the parent snapshot (FastCDC),
//! stores each new chunk once (keyed BLAKE3 ids, zstd, sealed) in packs of ~16 MiB, then writes
//! the index and, last, the snapshot — a crash leaves unreferenced packs, never a snapshot that
//! points at nothing. Runs on a blocking thread (file reads and hashing are blocking work) and
//! calls the store through the runtime. Owns the walk and the write order; must not restore.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::runtime::Handle;

use super::model::{BlobKind, IndexFile, Node, NodeKind, Snapshot, Summary, TreeBlob};
use super::pack::{seal_blob, PackWriter, PACK_TARGET};
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

/// Writes blobs into packs and packs into the store.
/// Packs named per index file written during a backup (one more call per ~64 MiB).
const INDEX_EVERY: usize = 4;

struct Writer<'a> {
    repo: &'a Repo,
    rt: Handle,
    known: HashSet<String>,
    data: PackWriter,
    trees: PackWriter,
    index: IndexFile,
    summary: Summary,
}

impl Writer<'_> {
    fn add(&mut self, kind: BlobKind, plain: &[u8]) -> Result<String> {
        let id = hex::encode(self.repo.key.id_of(plain));
        if self.known.contains(&id) {
            return Ok(id);
        }
        let sealed = seal_blob(&self.repo.key, plain)?;
        self.summary.bytes_added += sealed.len() as u64;
        self.summary.blobs_added += 1;
        let w = match kind {
            BlobKind::Data => &mut self.data,
            BlobKind::Tree => &mut self.trees,
        };
        w.add(id.clone(), kind, &sealed, plain.len() as u64);
        self.known.insert(id.clone());
        if w.len() >= PACK_TARGET {
            self.flush(kind)?;
        }
        Ok(id)
    }

    fn flush(&mut self, kind: BlobKind) -> Result<()> {
        let w = match kind {
            BlobKind::Data => std::mem::take(&mut self.data),
            BlobKind::Tree => std::mem::take(&mut self.trees),
        };
        if w.is_empty() {
            return Ok(());
        }
        let (id, bytes, entry) = w.finish(&self.repo.key)?;
        self.rt
            .block_on(self.repo.store.put(Kind::Pack, &id, bytes))?;
        self.summary.packs_added += 1;
        self.index.packs.push(entry);
        if self.index.packs.len() >= INDEX_EVERY {
            self.write_index()?;
        }
        Ok(())
    }

    /// Names the packs written so far in an index file: after a crash, a rerun finds their
    /// chunks there and does not store them again.
    fn write_index(&mut self) -> Result<()> {
        if !self.index.packs.is_empty() {
            self.rt
                .block_on(self.repo.write_json(Kind::Index, &self.index))?;
            self.index = IndexFile::default();
        }
        Ok(())
    }
}

fn nanos(secs: i64, nsec: i64) -> i128 {
    i128::from(secs) * 1_000_000_000 + i128::from(nsec)
}

/// Backs up `paths` (absolute folders or files) into `repo` as one snapshot, holding a shared
/// lock (prune waits until it is released).
pub fn backup(
    repo: &Repo,
    rt: Handle,
    paths: &[PathBuf],
    tags: Vec<String>,
    filter: &Filter,
    progress: &(dyn Fn(&Summary) + Sync),
) -> Result<Backed> {
    let lock = rt.block_on(super::lock::Lock::take(repo, false))?;
    let result = backup_locked(repo, rt.clone(), paths, tags, filter, progress);
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
    filter: &Filter,
    progress: &(dyn Fn(&Summary) + Sync),
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
    let mut w = Writer {
        repo,
        rt: rt.clone(),
        known: repo.index.keys().cloned().collect(),
        data: PackWriter::default(),
        trees: PackWriter::default(),
        index: IndexFile::default(),
        summary: Summary::default(),
    };
    let mut failed = Vec::new();
    let mut root = TreeBlob::default();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "root".into());
        let old = parent_root
            .as_ref()
            .and_then(|t| t.nodes.iter().find(|n| n.name == name).cloned());
        let mut walk = Walk {
            w: &mut w,
            filter,
            failed: &mut failed,
            progress,
        };
        match walk.node(path, &name, "", old.as_ref()) {
            Ok(Some(node)) => root.nodes.push(node),
            Ok(None) => {}
            Err(e) => failed.push((path.display().to_string(), e.to_string())),
        }
    }
    root.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let tree = w.add(
        BlobKind::Tree,
        &serde_json::to_vec(&root).map_err(io::Error::other)?,
    )?;
    w.flush(BlobKind::Data)?;
    w.flush(BlobKind::Tree)?;
    // Packs, then the index that names them, then the snapshot that needs both.
    w.write_index()?;
    let mut summary = w.summary;
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

struct Walk<'w, 'a> {
    w: &'w mut Writer<'a>,
    filter: &'w Filter,
    failed: &'w mut Vec<(String, String)>,
    progress: &'w (dyn Fn(&Summary) + Sync),
}

impl Walk<'_, '_> {
    /// The node for `path` (named `name`, at `rel` below the backup root), or `None` when it
    /// is filtered out or of a kind a snapshot does not hold.
    fn node(
        &mut self,
        path: &Path,
        name: &str,
        rel: &str,
        old: Option<&Node>,
    ) -> Result<Option<Node>> {
        let meta = fs::symlink_metadata(path)?;
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
        let mut node = Node {
            name: name.to_string(),
            kind: kind.clone(),
            mode: meta.mode() & 0o7777,
            mtime: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime: nanos(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
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
        let mut tree = TreeBlob::default();
        for (name, child) in entries {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let prev = old.and_then(|t| t.nodes.iter().find(|n| n.name == name));
            match self.node(&child, &name, &child_rel, prev) {
                Ok(Some(n)) => tree.nodes.push(n),
                Ok(None) => {}
                Err(e) => self
                    .failed
                    .push((child.display().to_string(), e.to_string())),
            }
        }
        let bytes = serde_json::to_vec(&tree).map_err(io::Error::other)?;
        self.w.add(BlobKind::Tree, &bytes)
    }

    /// A file's content: the parent's chunk list when nothing about it changed (not read),
    /// else read and chunked. A file that changes while read is a failure, never stored torn.
    fn file(&mut self, path: &Path, node: &mut Node, old: Option<&Node>) -> Result<()> {
        if let Some(o) = old.filter(|o| {
            o.kind == NodeKind::File
                && (o.size, o.mtime, o.ctime, o.inode)
                    == (node.size, node.mtime, node.ctime, node.inode)
        }) {
            node.content = o.content.clone();
            self.w.summary.files_unchanged += 1;
            return Ok(());
        }
        let f = fs::File::open(path)?;
        let c = self.w.repo.config.chunker;
        let mut read = 0u64;
        for chunk in fastcdc::v2020::StreamCDC::new(f, c.min, c.avg, c.max) {
            let chunk = chunk.map_err(|e| io::Error::other(e.to_string()))?;
            read += chunk.data.len() as u64;
            let id = self.w.add(BlobKind::Data, &chunk.data)?;
            node.content.push(id);
        }
        self.w.summary.bytes_read += read;
        let after = fs::symlink_metadata(path)?;
        if read != node.size || nanos(after.mtime(), after.mtime_nsec()) != node.mtime {
            return Err(RepoError::Io(io::Error::other(
                "changed while being read; not stored",
            )));
        }
        if old.is_some() {
            self.w.summary.files_changed += 1;
        } else {
            self.w.summary.files_new += 1;
        }
        (self.progress)(&self.w.summary);
        Ok(())
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
        mode: meta.mode(),
        hash: None,
    }
}
