//! `restore`: writes a snapshot (or the paths a filter admits) into a target folder. Every
//! pack is read once, whole, and each blob in it that some file needs is checked (it must
//! authenticate and match its id) and written where it belongs. Snapshot names are untrusted:
//! a name that is not one plain path component is refused, folders are made by us, and links
//! are made last, so nothing is ever written outside the target. Owns that; must not back up.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use ourclone_remote::os;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

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
    cancel: &CancellationToken,
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
    // Files: made at their size, then filled pack by pack (opened for each write: a tree of
    // many files must not need as many descriptors).
    let mut made: Vec<(String, &Node)> = Vec::new();
    for (rel, n) in wanted.iter().filter(|(_, n)| n.kind == NodeKind::File) {
        let created = open_file(&target.join(rel), true).and_then(|f| f.set_len(n.size));
        match created {
            Ok(()) => made.push((rel.clone(), n)),
            Err(e) => out.failed.push((rel.clone(), e.to_string())),
        }
    }
    let mut bad: BTreeMap<usize, String> = BTreeMap::new();
    fill(repo, &rt, target, &made, &mut bad, cancel)?;
    for (i, (rel, n)) in made.iter().enumerate() {
        if let Some(why) = bad.get(&i) {
            let _ = fs::remove_file(target.join(rel));
            out.failed.push((rel.clone(), why.clone()));
            continue;
        }
        let done = open_file(&target.join(rel), false).and_then(|f| {
            os::set_file_mode(&f, n.mode)?;
            f.set_modified(time(n.mtime))
        });
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
        match os::symlink(Path::new(n.target.as_deref().unwrap_or("")), &p) {
            Ok(()) => out.links += 1,
            Err(e) => out.failed.push((rel.clone(), e.to_string())),
        }
    }
    // Folder times and modes last, deepest first (filling them changed their times).
    for (rel, n) in wanted.iter().rev().filter(|(_, n)| n.kind == NodeKind::Dir) {
        let p = target.join(rel);
        let _ = os::set_path_mode(&p, n.mode);
        if let Ok(f) = fs::File::open(&p) {
            let _ = f.set_modified(time(n.mtime));
        }
    }
    Ok(out)
}

/// A file we restore into, never through a link.
fn open_file(path: &Path, create: bool) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create(create).truncate(create);
    os::create_mode(os::no_follow(&mut o), 0o600).open(path)
}

/// Reads each needed pack once and writes its blobs into the files, opening, checking and
/// writing a pack's blobs on one thread per core; files whose blobs are missing or damaged
/// are noted in `bad`.
fn fill(
    repo: &Repo,
    rt: &Handle,
    target: &Path,
    files: &[(String, &Node)],
    bad: &mut BTreeMap<usize, String>,
    cancel: &CancellationToken,
) -> Result<()> {
    // blob → where it goes: (file, offset); pack → its blobs.
    let mut targets: HashMap<&str, Vec<(usize, u64)>> = HashMap::new();
    for (i, (_, n)) in files.iter().enumerate() {
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
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    for (pack_id, blobs) in packs {
        if cancel.is_cancelled() {
            return Err(super::repo::cancelled());
        }
        let bytes = rt.block_on(repo.store.get(Kind::Pack, pack_id)).ok();
        let share = blobs.len().div_ceil(workers);
        let failures: Vec<(usize, String)> = std::thread::scope(|s| {
            let handles: Vec<_> = blobs
                .chunks(share.max(1))
                .map(|part| {
                    let (bytes, targets) = (bytes.as_deref(), &targets);
                    s.spawn(move || {
                        let mut failed = Vec::new();
                        for id in part {
                            let (_, e) = &repo.index[*id];
                            let plain = bytes
                                .and_then(|b| pack::blob(b, e))
                                .and_then(|s| pack::open_blob(&repo.key, s, e.raw_length).ok())
                                .filter(|p| hex::encode(repo.key.id_of(p)) == *id);
                            for (i, at) in &targets[id] {
                                let written = match &plain {
                                    Some(p) => open_file(&target.join(&files[*i].0), false)
                                        .and_then(|f| os::write_all_at(&f, p, *at))
                                        .map_err(|e| e.to_string()),
                                    None => Err(format!("pack {pack_id} is damaged or missing")),
                                };
                                if let Err(why) = written {
                                    failed.push((*i, why));
                                }
                            }
                        }
                        failed
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for (i, why) in failures {
            bad.entry(i).or_insert(why);
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
