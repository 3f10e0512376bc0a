//! `ls` and `diff`: a snapshot's entries by path, and what changed between two snapshots.
//! Reads trees only (no data). Must not write.

use std::collections::BTreeMap;

use tokio::runtime::Handle;

use super::model::{Node, NodeKind};
use super::repo::{Repo, Result};
use super::take::load_tree;

/// A name from a snapshot that is safe to join to a folder (names are untrusted input).
fn safe(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// Every entry under tree `root`, by path, and the paths that could not be read (a damaged
/// tree) or are unsafe (a name that is not one plain path component), with why.
pub fn walk(
    repo: &Repo,
    rt: &Handle,
    root: &str,
) -> (BTreeMap<String, Node>, Vec<(String, String)>) {
    let mut out = BTreeMap::new();
    let mut failed = Vec::new();
    let mut todo = vec![(String::new(), root.to_string())];
    while let Some((prefix, id)) = todo.pop() {
        let tree = match load_tree(repo, rt, &id) {
            Ok(t) => t,
            Err(e) => {
                let at = if prefix.is_empty() {
                    "/".to_string()
                } else {
                    prefix
                };
                failed.push((at, e.to_string()));
                continue;
            }
        };
        for n in tree.nodes {
            if !safe(&n.name) {
                failed.push((
                    format!("{prefix}/{:?}", n.name),
                    "unsafe name in the snapshot; skipped".into(),
                ));
                continue;
            }
            let rel = if prefix.is_empty() {
                n.name.clone()
            } else {
                format!("{prefix}/{}", n.name)
            };
            if n.kind == NodeKind::Dir {
                if let Some(sub) = &n.subtree {
                    todo.push((rel.clone(), sub.clone()));
                }
            }
            out.insert(rel, n);
        }
    }
    (out, failed)
}

/// Every entry under tree `root`; a tree that cannot be read is an error.
pub fn entries(repo: &Repo, rt: &Handle, root: &str) -> Result<BTreeMap<String, Node>> {
    let (all, failed) = walk(repo, rt, root);
    match failed.into_iter().next() {
        Some((path, why)) => Err(super::repo::RepoError::Damaged(format!("{path}: {why}"))),
        None => Ok(all),
    }
}

/// One difference: `+` added, `-` removed, `M` content changed, `U` only metadata changed.
pub fn diff(a: &BTreeMap<String, Node>, b: &BTreeMap<String, Node>) -> Vec<(char, String)> {
    let mut out = Vec::new();
    for (path, old) in a {
        match b.get(path) {
            None => out.push(('-', path.clone())),
            Some(new)
                if new.kind != old.kind
                    || new.content != old.content
                    || new.target != old.target =>
            {
                out.push(('M', path.clone()))
            }
            Some(new)
                if (new.mode, new.mtime) != (old.mode, old.mtime) && new.kind != NodeKind::Dir =>
            {
                out.push(('U', path.clone()))
            }
            Some(_) => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push(('+', path.clone()));
    }
    out.sort_by(|x, y| x.1.cmp(&y.1));
    out
}
