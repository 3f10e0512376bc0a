//! `restore`: writes a snapshot (or the paths a filter admits) into a target folder. Every
//! pack is read once, whole, and each blob in it that some file needs is checked (it must
//! authenticate and match its id) and written where it belongs. Snapshot names are untrusted:
//! a name that is not one plain path component is refused, folders are made by us, and links
//! are made last, so nothing is ever written outside the target. Owns that; must not back up.

use std::collections::{BTreeMap, HashMap};
use std::fs;

use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use tokio::runtime::Handle;

use super::model::{Node, NodeKind};
use super::pack;
use super::repo::{Repo, Result};
use super::store::Kind;
use crate::transfer::Filter;

#[derive(Debug, Default)]
pub struct Restored {
    pub files: u64,
    pub folders: u64,
    pub links: u64,
    pub bytes: u64,
    /// Paths not restored (or restored incomplete and removed), with why.
    pub failed: Vec<(String, String)>,
}

fn time(ns: i128) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns.max(0) as u64)
}

/// Restores snapshot tree `root` into `target`.
pub fn restore(
    repo: &Repo,
    rt: Handle,
    root: &str,
    target: &Path,
    filter: &Filter,
) -> Result<Restored> {
    let mut out = Restored::default();
    fs::create_dir_all(target)?;
    let (all, failed) = super::browse::walk(repo, &rt, root);
    out.failed = failed;
    let wanted: Vec<(String, Node)> = all
        .into_iter()
        .filter(|(rel, n)| filter.admits(rel, &item(n)))
        .collect();
    // Folders first (ours: an existing link in their place is refused).
    for (rel, _) in wanted.iter().filter(|(_, n)| n.kind == NodeKind::Dir) {
        let p = target.join(rel);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => out.failed.push((
                rel.clone(),
                "something other than a folder is in its place".into(),
            )),
            Err(_) => match fs::create_dir(&p) {
                Ok(()) => out.folders += 1,
                Err(e) => out.failed.push((rel.clone(), e.to_string())),
            },
        }
    }
    // Files: made at their size, then filled pack by pack.
    let mut open: Vec<(String, fs::File, &Node)> = Vec::new();
    for (rel, n) in wanted.iter().filter(|(_, n)| n.kind == NodeKind::File) {
        let made = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(target.join(rel))
            .and_then(|f| f.set_len(n.size).map(|()| f));
        match made {
            Ok(f) => open.push((rel.clone(), f, n)),
            Err(e) => out.failed.push((rel.clone(), e.to_string())),
        }
    }
    let mut bad: BTreeMap<usize, String> = BTreeMap::new();
    fill(repo, &rt, &open, &mut bad)?;
    for (i, (rel, f, n)) in open.iter().enumerate() {
        if let Some(why) = bad.get(&i) {
            let _ = fs::remove_file(target.join(rel));
            out.failed.push((rel.clone(), why.clone()));
            continue;
        }
        let done = f
            .set_permissions(fs::Permissions::from_mode(n.mode))
            .and_then(|()| f.set_modified(time(n.mtime)));
        match done {
            Ok(()) => {
                out.files += 1;
                out.bytes += n.size;
            }
            Err(e) => out.failed.push((rel.clone(), e.to_string())),
        }
    }
    // Links last: no write goes through one.
    for (rel, n) in wanted.iter().filter(|(_, n)| n.kind == NodeKind::Symlink) {
        let p = target.join(rel);
        let _ = fs::remove_file(&p);
        match std::os::unix::fs::symlink(n.target.as_deref().unwrap_or(""), &p) {
            Ok(()) => out.links += 1,
            Err(e) => out.failed.push((rel.clone(), e.to_string())),
        }
    }
    // Folder times and modes last, deepest first (filling them changed their times).
    for (rel, n) in wanted.iter().rev().filter(|(_, n)| n.kind == NodeKind::Dir) {
        let p = target.join(rel);
        let _ = fs::set_permissions(&p, fs::Permissions::from_mode(n.mode));
        if let Ok(f) = fs::File::open(&p) {
            let _ = f.set_modified(time(n.mtime));
        }
    }
    Ok(out)
}

/// Reads each needed pack once and writes its blobs into the files; files whose blobs are
/// missing or damaged are noted in `bad`.
fn fill(
    repo: &Repo,
    rt: &Handle,
    open: &[(String, fs::File, &Node)],
    bad: &mut BTreeMap<usize, String>,
) -> Result<()> {
    // blob → where it goes: (file, offset); pack → its blobs.
    let mut targets: HashMap<&str, Vec<(usize, u64)>> = HashMap::new();
    for (i, (_, _, n)) in open.iter().enumerate() {
        let mut at = 0;
        for id in &n.content {
            let Some((_, e)) = repo.index.get(id) else {
                bad.insert(i, format!("chunk {id} is in no index"));
                break;
            };
            targets.entry(id.as_str()).or_default().push((i, at));
            at += e.raw_length;
        }
    }
    let mut packs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in targets.keys() {
        if let Some((pack, _)) = repo.index.get(*id) {
            packs.entry(pack.as_str()).or_default().push(*id);
        }
    }
    for (pack_id, blobs) in packs {
        let bytes = rt.block_on(repo.store.get(Kind::Pack, pack_id));
        for id in blobs {
            let (_, e) = &repo.index[id];
            let plain = match &bytes {
                Ok(b) => pack::blob(b, e)
                    .and_then(|s| pack::open_blob(&repo.key, s, e.raw_length).ok())
                    .filter(|p| hex::encode(repo.key.id_of(p)) == id),
                Err(_) => None,
            };
            for (i, at) in &targets[&id] {
                let written = match &plain {
                    Some(p) => open[*i].1.write_all_at(p, *at).map_err(|e| e.to_string()),
                    None => Err(format!("pack {pack_id} is damaged or missing")),
                };
                if let Err(why) = written {
                    bad.entry(*i).or_insert(why);
                }
            }
        }
    }
    Ok(())
}

fn item(n: &Node) -> crate::transfer::Item {
    use crate::transfer::ItemKind;
    crate::transfer::Item {
        kind: match n.kind {
            NodeKind::Dir => ItemKind::Dir,
            NodeKind::Symlink => ItemKind::Link,
            NodeKind::File => ItemKind::File,
        },
        size: n.size,
        mtime: time(n.mtime),
        mode: n.mode,
        hash: None,
    }
}
