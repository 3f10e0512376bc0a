//! `repo check`: names every damaged or missing object. Always: index files open, every
//! snapshot opens, every tree it reaches opens, every chunk a file needs is in the index, and
//! every indexed pack exists. With `read_data`: every pack is read whole, its name matches its
//! bytes, its header opens, and each blob authenticates and matches its id. Must not repair.

use std::collections::{BTreeSet, HashSet};

use tokio::runtime::Handle;

use super::model::NodeKind;
use super::pack;
use super::repo::{object_id, Repo, Result};
use super::store::Kind;
use super::take::load_tree;

/// What check found: one line per problem (empty: the repository is sound).
pub fn check(repo: &Repo, rt: Handle, read_data: bool) -> Result<Vec<String>> {
    let mut problems: Vec<String> = repo
        .damaged_index
        .iter()
        .map(|n| format!("index {n}: damaged"))
        .collect();
    let mut trees_seen = HashSet::new();
    for name in rt.block_on(repo.store.list(Kind::Snapshot))? {
        let snap =
            match rt.block_on(repo.read_json::<super::model::Snapshot>(Kind::Snapshot, &name)) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("snapshot {name}: {e}"));
                    continue;
                }
            };
        let mut todo = vec![snap.tree];
        while let Some(id) = todo.pop() {
            if !trees_seen.insert(id.clone()) {
                continue;
            }
            let tree = match load_tree(repo, &rt, &id) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!(
                        "tree {id} (snapshot {}): {e}",
                        &name[..8.min(name.len())]
                    ));
                    continue;
                }
            };
            for n in tree.nodes {
                if n.kind == NodeKind::Dir {
                    todo.extend(n.subtree);
                }
                for c in n.content.iter().filter(|c| !repo.index.contains_key(*c)) {
                    problems.push(format!("{}: chunk {c} is in no index", n.name));
                }
            }
        }
    }
    let stored: HashSet<String> = rt
        .block_on(repo.store.list(Kind::Pack))?
        .into_iter()
        .collect();
    let indexed: BTreeSet<&String> = repo.index.values().map(|(p, _)| p).collect();
    for p in indexed.iter().filter(|p| !stored.contains(**p)) {
        problems.push(format!("pack {p}: missing"));
    }
    if read_data {
        for p in indexed {
            if let Some(why) = check_pack(repo, &rt, p) {
                problems.push(format!("pack {p}: {why}"));
            }
        }
    }
    Ok(problems)
}

/// Why pack `id` is damaged, if it is.
fn check_pack(repo: &Repo, rt: &Handle, id: &str) -> Option<String> {
    let bytes = match rt.block_on(repo.store.get(Kind::Pack, id)) {
        Ok(b) => b,
        Err(e) => return Some(e.to_string()),
    };
    if object_id(&bytes) != id {
        return Some("content does not match its name".into());
    }
    let blobs = match pack::read_header(&repo.key, &bytes) {
        Ok(b) => b,
        Err(e) => return Some(format!("header: {e}")),
    };
    for e in blobs {
        let ok = pack::blob(&bytes, &e)
            .and_then(|s| pack::open_blob(&repo.key, s, e.raw_length).ok())
            .is_some_and(|plain| hex::encode(repo.key.id_of(&plain)) == e.id);
        if !ok {
            return Some(format!("blob {} fails authentication", e.id));
        }
    }
    None
}
