//! `repo forget` and `repo prune`: which snapshots a keep policy keeps, and removing packs no
//! snapshot needs any more. Prune holds the exclusive lock, writes the new index before it
//! deletes the old ones, and deletes packs last, so a crash at any point leaves every remaining
//! snapshot whole. Packs some of whose blobs are still needed are kept whole. Must not back up.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::lock::Lock;
use super::model::{IndexFile, NodeKind, Snapshot};
use super::repo::{Repo, Result};
use super::store::Kind;
use super::take::load_tree;

/// How many snapshots to keep, newest first, by count and per day, week and month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub last: usize,
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }
}

/// Year and month of a day count since 1970-01-01 (Hinnant's civil-from-days).
fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

/// The period a snapshot time falls in (a day, a week, a month).
type Bucket = fn(u64) -> i64;

/// The ids to keep and to forget under `policy` (`snaps` in any order).
pub fn apply(policy: Policy, snaps: &[(String, Snapshot)]) -> (Vec<String>, Vec<String>) {
    let mut newest: Vec<&(String, Snapshot)> = snaps.iter().collect();
    newest.sort_by_key(|(id, s)| std::cmp::Reverse((s.time, s.nanos, id.clone())));
    let mut keep = HashSet::new();
    for (id, _) in newest.iter().take(policy.last) {
        keep.insert(id.clone());
    }
    let buckets: [(usize, Bucket); 3] = [
        (policy.daily, |t| (t / 86_400) as i64),
        // Weeks from Monday 1969-12-29.
        (policy.weekly, |t| ((t / 86_400) as i64 + 3).div_euclid(7)),
        (policy.monthly, |t| {
            let (y, m) = year_month((t / 86_400) as i64);
            y * 12 + m
        }),
    ];
    for (n, bucket) in buckets {
        let mut seen = BTreeSet::new();
        for (id, s) in &newest {
            if seen.len() >= n {
                break;
            }
            if seen.insert(bucket(s.time)) {
                keep.insert(id.clone());
            }
        }
    }
    let (kept, gone): (Vec<_>, Vec<_>) = newest
        .iter()
        .map(|(id, _)| id.clone())
        .partition(|id| keep.contains(id));
    (kept, gone)
}

/// What prune did.
#[derive(Debug, Default, Serialize)]
pub struct Pruned {
    pub packs_removed: u64,
    pub packs_kept: u64,
    pub index_files_replaced: u64,
}

/// Removes every pack no snapshot needs (and packs no index names, left by crashed backups).
pub fn prune(repo: &Repo, rt: Handle) -> Result<Pruned> {
    let lock = rt.block_on(Lock::take(repo, true))?;
    let result = prune_locked(repo, &rt);
    let released = rt.block_on(lock.release(repo));
    let pruned = result?;
    released?;
    Ok(pruned)
}

fn prune_locked(repo: &Repo, rt: &Handle) -> Result<Pruned> {
    let mut used = HashSet::new();
    for (_, snap) in rt.block_on(repo.snapshots())? {
        let mut todo = vec![snap.tree];
        while let Some(id) = todo.pop() {
            if !used.insert(id.clone()) {
                continue;
            }
            for n in load_tree(repo, rt, &id)?.nodes {
                if n.kind == NodeKind::Dir {
                    todo.extend(n.subtree);
                }
                used.extend(n.content);
            }
        }
    }
    let mut index = IndexFile::default();
    let mut by_pack: std::collections::BTreeMap<&String, Vec<super::model::BlobEntry>> =
        Default::default();
    for (pack, e) in repo.index.values() {
        by_pack.entry(pack).or_default().push(e.clone());
    }
    let mut keep_packs = HashSet::new();
    for (pack, blobs) in by_pack {
        if blobs.iter().any(|b| used.contains(&b.id)) {
            keep_packs.insert(pack.clone());
            index.packs.push(super::model::PackEntry {
                id: pack.clone(),
                blobs,
            });
        }
    }
    let old_index = rt.block_on(repo.store.list(Kind::Index))?;
    let new_id = rt.block_on(repo.write_json(Kind::Index, &index))?;
    let mut out = Pruned::default();
    for name in old_index.iter().filter(|n| **n != new_id) {
        rt.block_on(repo.store.remove(Kind::Index, name))?;
        out.index_files_replaced += 1;
    }
    for pack in rt.block_on(repo.store.list(Kind::Pack))? {
        if keep_packs.contains(&pack) {
            out.packs_kept += 1;
        } else {
            rt.block_on(repo.store.remove(Kind::Pack, &pack))?;
            out.packs_removed += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(day: u64, hour: u64) -> Snapshot {
        Snapshot {
            time: day * 86_400 + hour * 3600,
            nanos: 0,
            hostname: "h".into(),
            paths: vec![],
            tags: vec![],
            tree: String::new(),
            parent: None,
            summary: Default::default(),
        }
    }

    #[test]
    fn keep_last_and_one_per_day() {
        // Two a day for 10 days (day 0 = 1970-01-01, a Thursday).
        let snaps: Vec<(String, Snapshot)> = (0..10)
            .flat_map(|d| {
                [
                    (format!("{d}a"), snap(d, 1)),
                    (format!("{d}b"), snap(d, 20)),
                ]
            })
            .collect();
        let (keep, gone) = apply(
            Policy {
                last: 3,
                ..Policy::default()
            },
            &snaps,
        );
        assert_eq!(keep, ["9b", "9a", "8b"]);
        assert_eq!(gone.len(), 17);
        let (keep, _) = apply(
            Policy {
                daily: 4,
                ..Policy::default()
            },
            &snaps,
        );
        assert_eq!(keep, ["9b", "8b", "7b", "6b"]);
        let (keep, _) = apply(
            Policy {
                weekly: 2,
                ..Policy::default()
            },
            &snaps,
        );
        // Days 4-9 are the week from Monday 1970-01-05; days 0-3 the week before.
        assert_eq!(keep, ["9b", "3b"]);
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(31), (1970, 2));
        assert_eq!(year_month(19_723), (2024, 1));
    }
}
