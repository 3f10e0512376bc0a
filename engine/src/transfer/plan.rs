//! What a transfer will do, decided from the two listings: one [`Step`] per path, each with why.
//! Owns the decisions (including sync's guards); must not change either side.

use std::collections::BTreeMap;
use std::io;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::compare::{differs, Compare};
use super::filter::Filter;
use super::tree::{Item, ItemKind, Tree};

/// What to do with one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Mkdir,
    Copy,
    Update,
    Link,
    Delete,
    Skip,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub step: StepKind,
    pub path: String,
    pub why: String,
    pub bytes: u64,
    #[serde(skip)]
    pub kind: Option<ItemKind>,
}

impl Step {
    fn new(step: StepKind, path: &str, why: &str, item: &Item) -> Self {
        Self {
            step,
            path: path.to_string(),
            why: why.to_string(),
            bytes: if item.kind == ItemKind::File {
                item.size
            } else {
                0
            },
            kind: Some(item.kind),
        }
    }
}

/// Everything to do, in order: folders first (parents before children), then files and links,
/// then deletions (children before parents).
pub struct Plan {
    pub steps: Vec<Step>,
    /// Files (and links) on the destination, for the deletion guard.
    pub dst_files: u64,
    /// Files (and links) the source offers after filtering.
    pub src_files: u64,
}

type Listing = BTreeMap<String, Item>;

/// Files compared at once.
const COMPARING: usize = 4;

/// The step for source entry `rel`; `None` for a folder that is already there.
async fn step_for(
    rel: &str,
    s: &Item,
    d: Option<&Item>,
    src_tree: &Tree,
    dst_tree: &Tree,
    how: Compare,
) -> io::Result<Option<Step>> {
    Ok(Some(match (s.kind, d) {
        (ItemKind::Dir, Some(d)) if d.kind == ItemKind::Dir => return Ok(None),
        (ItemKind::Dir, _) => Step::new(StepKind::Mkdir, rel, "new folder", s),
        (ItemKind::Link, None) => Step::new(StepKind::Link, rel, "new link", s),
        (ItemKind::Link, Some(d)) if d.kind != ItemKind::Link => {
            Step::new(StepKind::Link, rel, "not a link on the destination", s)
        }
        (ItemKind::Link, Some(_)) => {
            let (a, b) = tokio::join!(src_tree.read_link(rel), dst_tree.read_link(rel));
            if a? == b? {
                Step::new(StepKind::Skip, rel, "unchanged", s)
            } else {
                Step::new(StepKind::Link, rel, "link target differs", s)
            }
        }
        (ItemKind::File, None) => Step::new(StepKind::Copy, rel, "new file", s),
        (ItemKind::File, Some(d)) if d.kind != ItemKind::File => {
            Step::new(StepKind::Update, rel, "not a file on the destination", s)
        }
        (ItemKind::File, Some(d)) => {
            match differs(how, (src_tree, rel, s), (dst_tree, rel, d)).await? {
                Some(why) => Step::new(StepKind::Update, rel, why, s),
                None => Step::new(StepKind::Skip, rel, "unchanged", s),
            }
        }
    }))
}

/// Compares `src` with `dst`; `delete` adds the deletions sync makes.
pub async fn plan(
    (src_tree, src): (&Tree, &Listing),
    (dst_tree, dst): (&Tree, &Listing),
    filter: &Filter,
    how: Compare,
    delete: bool,
) -> io::Result<Plan> {
    let admitted: Vec<(String, Item)> = src
        .iter()
        .filter(|(r, i)| filter.admits(r, i))
        .map(|(r, i)| (r.clone(), i.clone()))
        .collect();
    let src_files = admitted
        .iter()
        .filter(|(_, i)| i.kind != ItemKind::Dir)
        .count() as u64;
    // Comparing may read files (--checksum): a few at once.
    let mut steps: Vec<Step> = futures_util::stream::iter(admitted)
        .map(|(rel, s): (String, Item)| async move {
            step_for(&rel, &s, dst.get(&rel), src_tree, dst_tree, how).await
        })
        .buffered(COMPARING)
        .filter_map(|s: io::Result<Option<Step>>| async move { s.transpose() })
        .collect::<Vec<io::Result<Step>>>()
        .await
        .into_iter()
        .collect::<io::Result<_>>()?;
    steps.sort_by_key(|s| s.step != StepKind::Mkdir);
    let dst_files = dst.values().filter(|i| i.kind != ItemKind::Dir).count() as u64;
    if delete {
        let mut gone: Vec<Step> = dst
            .iter()
            .filter(|(rel, d)| !src.contains_key(*rel) && filter.admits(rel, d))
            .map(|(rel, d)| Step::new(StepKind::Delete, rel, "not in the source", d))
            .collect();
        // Deepest first: a folder goes after everything in it.
        gone.sort_by(|a, b| b.path.cmp(&a.path));
        steps.extend(gone);
    }
    Ok(Plan {
        steps,
        dst_files,
        src_files,
    })
}

/// How many deletions a sync may make without `--force`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxDelete {
    Count(u64),
    Percent(u64),
}

impl MaxDelete {
    /// `N` or `P%`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= 100)
                .map(MaxDelete::Percent),
            None => s.trim().parse().ok().map(MaxDelete::Count),
        }
    }

    pub fn allows(self, deletions: u64, dst_files: u64) -> bool {
        match self {
            MaxDelete::Count(n) => deletions <= n,
            MaxDelete::Percent(p) => deletions * 100 <= p * dst_files,
        }
    }
}

impl std::fmt::Display for MaxDelete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxDelete::Count(n) => write!(f, "{n}"),
            MaxDelete::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_delete_counts_and_shares() {
        assert_eq!(MaxDelete::parse("50%"), Some(MaxDelete::Percent(50)));
        assert_eq!(MaxDelete::parse("7"), Some(MaxDelete::Count(7)));
        assert_eq!(MaxDelete::parse("150%"), None);
        assert!(MaxDelete::Percent(50).allows(5, 10));
        assert!(!MaxDelete::Percent(50).allows(6, 10));
        assert!(!MaxDelete::Count(0).allows(1, 10));
    }
}
