//! Crash recovery at mount time: reads the journal, moves anything unreadable (torn or altered
//! records) to the quarantine folder with a note and a copy of the staged data, and re-records
//! the node so its data is uploaded again. Never deletes data. Must not call the remote.

use std::fs;
use std::path::Path;

use crate::data::DataStore;
use crate::error::Result;
use crate::meta::MetaStore;
use crate::node::now_nanos;

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
        if let Ok(node) = meta.get(*ino) {
            note.push_str(&format!("name: {} size: {}\n", node.name, node.size));
            if data.exists(*ino) {
                let copy = base.with_extension("data");
                fs::copy(data.path(*ino), &copy)?;
                note.push_str(&format!("staged data copied to {}\n", copy.display()));
            }
            // The node is still there: record it afresh so its data is uploaded again.
            meta.mark_pending(*ino)?;
        } else {
            meta.drop_record(*ino)?;
        }
        fs::write(base.with_extension("txt"), note)?;
        tracing::warn!(ino, %reason, "damaged journal record moved to {}", quarantine.display());
        report.quarantined += 1;
    }
    for (ino, _) in &scan.pending {
        let Ok(node) = meta.get(*ino) else { continue };
        if node.kind != crate::node::Kind::File || !node.local_full || data.exists(*ino) {
            continue;
        }
        // Cannot happen while data files outlive their nodes' durable removal; if it does, say
        // so, and stop retrying an upload whose content is gone.
        fs::create_dir_all(quarantine)?;
        let note = format!(
            "inode {ino} ({}): pending upload whose staged data file is missing; the remote keeps its previous version\n",
            node.name
        );
        fs::write(
            quarantine.join(format!("missing-{ino:016x}-{}.txt", now_nanos())),
            note,
        )?;
        meta.update(*ino, |n| n.local_full = false)?;
        meta.drop_record(*ino)?;
        tracing::warn!(ino, name = %node.name, "pending upload lost its staged data; reported in quarantine");
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
