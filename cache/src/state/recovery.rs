//! Crash recovery at mount time: reads the journal, moves anything unreadable (torn or altered
//! records) to the quarantine folder with a note and a copy of the staged data, and re-records
//! the node so its data is uploaded again. Never deletes data. Must not call the remote.

use std::fs;
use std::path::Path;

use crate::content::data::DataStore;
use crate::error::Result;
use crate::state::meta::MetaStore;
use crate::state::node::{now_nanos, Ino, Node};

/// What recovery found.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// Pending uploads that will resume.
    pub pending: u64,
    /// Damaged records moved to quarantine.
    pub quarantined: u64,
}

/// Replays the journal of `meta` (see the module comment).
pub fn recover(meta: &MetaStore, data: &DataStore, quarantine: &Path) -> Result<RecoveryReport> {
    let scan = meta.journal()?;
    let mut report = RecoveryReport {
        pending: scan.pending.len() as u64,
        quarantined: 0,
    };
    for (ino, raw, reason) in &scan.damaged {
        fs::create_dir_all(quarantine)?;
        let base = quarantine.join(format!("journal-{ino:016x}-{}", now_nanos()));
        fs::write(base.with_extension("record"), raw)?;
        let mut note = format!("inode {ino}: {reason}\n");
        let node = meta.get(*ino).ok();
        if let Some(node) = &node {
            note.push_str(&format!("name: {} size: {}\n", node.name, node.size));
            if data.exists(*ino) {
                let copy = base.with_extension("data");
                fs::copy(data.path(*ino), &copy)?;
                note.push_str(&format!("staged data copied to {}\n", copy.display()));
            }
        }
        fs::write(base.with_extension("txt"), note)?;
        keep(quarantine, &base)?;
        match node {
            // The node is still there: record it afresh so its data is uploaded again.
            Some(_) => meta.mark_pending(*ino)?,
            None => meta.drop_record(*ino)?,
        }
        tracing::warn!(ino, %reason, "damaged journal record moved to {}", quarantine.display());
        report.quarantined += 1;
    }
    for (ino, _) in &scan.pending {
        let Ok(node) = meta.get(*ino) else { continue };
        if node.kind != crate::state::node::Kind::File || !node.local_full {
            continue;
        }
        match data.len(*ino)? {
            // The data file changed after the last durable commit (writes or a truncation not
            // yet closed): it is what the user wrote; the node takes its length, so the
            // Uploader's exact-length check holds.
            Some(len) if len != node.size => {
                meta.update(*ino, |n| n.size = len)?;
                continue;
            }
            Some(_) => continue,
            None if node.size == 0 => continue,
            None => {}
        }
        report_lost_copy(meta, *ino, &node, quarantine)?;
        report.pending -= 1;
        report.quarantined += 1;
    }
    if report.pending > 0 {
        tracing::info!(
            files = report.pending,
            "resuming pending uploads from the journal"
        );
    }
    Ok(report)
}

/// A pending upload whose staged data file is missing (a cache accident): say so in quarantine
/// and stop retrying an upload whose content is gone. The node falls back to what
/// the remote holds, which stays untouched.
fn report_lost_copy(meta: &MetaStore, ino: Ino, node: &Node, quarantine: &Path) -> Result<()> {
    fs::create_dir_all(quarantine)?;
    let note = format!(
        "inode {ino} ({}): pending upload whose staged data file is missing; the remote keeps its previous version\n",
        node.name
    );
    let path = quarantine.join(format!("missing-{ino:016x}-{}.txt", now_nanos()));
    fs::write(&path, note)?;
    fs::File::open(&path)?.sync_all()?;
    crate::content::data::sync_dir(quarantine)?;
    meta.update(ino, |n| match &n.remote {
        Some(r) => {
            n.size = r.size;
            n.local_full = false;
        }
        // Never uploaded: nothing to fall back to but an empty file.
        None => n.size = 0,
    })?;
    meta.drop_record(ino)?;
    tracing::warn!(ino, name = %node.name, "pending upload lost its staged data; reported in quarantine");
    Ok(())
}

/// Makes the quarantine files of `base` and their names durable: the record that named the
/// data is dropped right after, so they must survive a power loss first.
fn keep(quarantine: &Path, base: &Path) -> Result<()> {
    for ext in ["record", "data", "txt"] {
        if let Ok(f) = fs::File::open(base.with_extension(ext)) {
            f.sync_all()?;
        }
    }
    crate::content::data::sync_dir(quarantine)?;
    Ok(())
}
