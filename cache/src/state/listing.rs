//! Remote listings in the tree: merging a fresh listing of a folder (new objects appear,
//! changed ones are updated, vanished ones go unless they hold local changes) and marking
//! listings stale. Part of the MetaStore; must not call the remote (`RemoteTree` lists).

use ourclone_remote::{Entry, EntryKind};
use redb::ReadableTable;

use super::meta::{alloc_ino, child_of, Defaults, MetaStore};
use super::node::{now_nanos, to_nanos, Ino, Kind, Node, RemoteState, LINK_SUFFIX};
use super::tables::{decode, read_node, write_node, CHILDREN, NODES, PENDING};
use crate::error::Result;

/// A remote name as the tree can hold it: a name holding `/` or NUL (a broken or hostile
/// server) shows with look-alikes instead (the kernel refuses a whole listing over one such
/// name); `None` for names that cannot be shown at all (`.`, `..`, empty).
fn shown_name(name: &str) -> Option<std::borrow::Cow<'_, str>> {
    let shown: std::borrow::Cow<'_, str> = if name.contains(['/', '\0']) {
        name.replace('/', "\u{2215}")
            .replace('\0', "\u{2400}")
            .into()
    } else {
        name.into()
    };
    ourclone_remote::is_component(&shown).then_some(shown)
}

/// How a listed remote entry appears in the tree.
fn listed_kind_and_name(e: &Entry) -> (Kind, &str) {
    match (e.kind, e.name.strip_suffix(LINK_SUFFIX)) {
        (EntryKind::Dir, _) => (Kind::Dir, &e.name),
        (EntryKind::File, Some(stem)) if !stem.is_empty() => (Kind::Symlink, stem),
        (EntryKind::File, _) => (Kind::File, &e.name),
    }
}

impl MetaStore {
    /// Merges a fresh remote listing of folder `dir` into the tree: new remote objects appear,
    /// changed ones are updated, and objects gone from the remote disappear unless they hold
    /// changes not yet uploaded. Returns the names that changed or went away, whose kernel
    /// entries must be dropped.
    pub fn merge_listing(
        &self,
        dir: Ino,
        entries: &[Entry],
        d: Defaults,
        busy: impl Fn(Ino) -> bool,
    ) -> Result<Vec<String>> {
        let mut stale = Vec::new();
        self.reserve_inos(entries.len() as u64)?;
        let tx = self.write()?;
        {
            let mut children = tx.open_table(CHILDREN)?;
            let mut nodes = tx.open_table(NODES)?;
            let pending = tx.open_table(PENDING)?;
            let mut seen = std::collections::HashSet::new();
            for e in entries {
                let (kind, name) = listed_kind_and_name(e);
                let Some(name) = shown_name(name) else {
                    tracing::warn!(name = %e.name, "remote entry with an unusable name skipped");
                    continue;
                };
                let name = name.as_ref();
                seen.insert(name.to_string());
                match child_of(&children, dir, name)? {
                    Some(ino) => {
                        let mut node = read_node(&nodes, ino)?;
                        // Changes not yet uploaded, or a file open for writing (no record
                        // until its first close): the Uploader's conflict check decides.
                        if pending.get(ino)?.is_some() || busy(ino) || node.kind != kind {
                            continue;
                        }
                        let fresh = RemoteState::of(e);
                        if node.remote.as_ref() != Some(&fresh) {
                            if kind == Kind::File
                                && node.remote.as_ref().map(|r| (&r.id, r.size, &r.hash))
                                    != Some((&fresh.id, fresh.size, &fresh.hash))
                            {
                                node.size = fresh.size;
                                node.local_full = false;
                                node.mtime = fresh.mtime.unwrap_or(node.mtime);
                            }
                            node.remote = Some(fresh);
                            write_node(&mut nodes, ino, &node)?;
                            stale.push(name.to_string());
                        }
                    }
                    None => {
                        let ino = alloc_ino(&tx, &self.reserved, &self.next)?;
                        let node = node_from_listing(dir, name, kind, e, d);
                        children.insert((dir, name), ino)?;
                        write_node(&mut nodes, ino, &node)?;
                    }
                }
            }
            let gone: Vec<(String, Ino)> = children
                .range((dir, "")..(dir + 1, ""))?
                .map(|r| r.map(|(k, v)| (k.value().1.to_string(), v.value())))
                .collect::<std::result::Result<_, _>>()?;
            for (name, ino) in gone.into_iter().filter(|(n, _)| !seen.contains(n)) {
                let node = read_node(&nodes, ino)?;
                let local_only = node.remote.is_none() || pending.get(ino)?.is_some() || busy(ino);
                if local_only || children.range((ino, "")..(ino + 1, ""))?.next().is_some() {
                    continue;
                }
                children.remove((dir, name.as_str()))?;
                nodes.remove(ino)?;
                stale.push(name);
            }
            let mut dnode = read_node(&nodes, dir)?;
            dnode.listed_at = Some(now_nanos());
            write_node(&mut nodes, dir, &dnode)?;
        }
        tx.commit()?;
        Ok(stale)
    }

    /// Adds the object `e` that we just made on the remote ourselves (a server-side copy) as
    /// child `name` of `dir`, with the mode, times and owner of `like`. Fails if the name is taken.
    pub fn add_remote_object(&self, dir: Ino, name: &str, e: &Entry, like: &Node) -> Result<Ino> {
        let (kind, _) = listed_kind_and_name(e);
        let d = Defaults {
            uid: like.uid,
            gid: like.gid,
            file_mode: like.mode,
            dir_mode: like.mode,
        };
        let mut node = node_from_listing(dir, name, kind, e, d);
        node.mode = like.mode;
        (node.mtime, node.atime) = (like.mtime, like.atime);
        self.create(node)
    }

    /// Marks every folder listing as stale (SIGHUP): each is served as cached and listed again
    /// in the background when next looked at. Returns how many folders that was.
    pub fn expire_listings(&self) -> Result<u64> {
        let tx = self.write()?;
        let mut expired = 0;
        {
            let mut nodes = tx.open_table(NODES)?;
            let mut stale = Vec::new();
            for item in nodes.iter()? {
                let (k, v) = item?;
                let node = decode(v.value())?;
                if node.listed_at.is_some_and(|t| t > 0) {
                    stale.push((k.value(), node));
                }
            }
            for (ino, mut node) in stale {
                node.listed_at = Some(0);
                write_node(&mut nodes, ino, &node)?;
                expired += 1;
            }
        }
        tx.commit()?;
        Ok(expired)
    }
}

fn node_from_listing(dir: Ino, name: &str, kind: Kind, e: &Entry, d: Defaults) -> Node {
    let mtime = e.mtime.map(to_nanos).unwrap_or_else(now_nanos);
    let mode = if kind == Kind::Dir {
        d.dir_mode
    } else if kind == Kind::Symlink {
        0o777
    } else {
        d.file_mode
    };
    let mut node = Node::new_local(dir, name, kind, mode, d.uid, d.gid);
    node.size = e.size;
    node.mtime = mtime;
    node.ctime = mtime;
    node.atime = mtime;
    node.remote = Some(RemoteState::of(e));
    node.listed_at = None;
    node.local_full = false;
    node.version = 0;
    node
}
