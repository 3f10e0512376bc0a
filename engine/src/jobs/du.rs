//! `du`: the exact number of files, folders and bytes under a path, from what the Vfs knows
//! (folders never listed are listed once; nothing is downloaded). The smallest real job, and
//! the proof that a job runs the same inside a daemon and in-process.

use ourclone_cache::Kind;
use ourclone_vfs::Files;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::job::{Event, Events, Job, JobError, Outcome, Vfses};

/// Arguments: `{"path": "docs/2024"}`, relative to the Vfs root.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Du {
    #[serde(default)]
    pub path: String,
}

/// What `du` counts. Files are everything that is not a folder; bytes are their sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuTotals {
    pub files: u64,
    pub folders: u64,
    pub bytes: u64,
}

/// Progress is reported every this many entries.
const PROGRESS_EVERY: u64 = 1000;

impl Du {
    pub fn from_args(args: &serde_json::Value) -> Result<Self, JobError> {
        if args.is_null() {
            return Ok(Self {
                path: String::new(),
            });
        }
        serde_json::from_value(args.clone()).map_err(|e| JobError::BadArgs {
            kind: "du",
            why: e.to_string(),
        })
    }

    pub async fn totals(
        &self,
        files: &Files,
        events: &Events,
        cancel: &CancellationToken,
    ) -> Result<DuTotals, JobError> {
        let top = files
            .stat(&self.path)
            .await
            .map_err(JobError::at(&self.path))?;
        let mut t = DuTotals::default();
        if top.kind != Kind::Dir {
            return Ok(DuTotals {
                files: 1,
                folders: 0,
                bytes: top.size,
            });
        }
        let mut walk = files
            .walk(&self.path)
            .await
            .map_err(JobError::at(&self.path))?;
        while let Some(entry) = walk.next().await {
            if cancel.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            let entry = entry.map_err(JobError::at(&self.path))?;
            match entry.kind {
                Kind::Dir => t.folders += 1,
                _ => {
                    t.files += 1;
                    t.bytes += entry.size;
                }
            }
            if (t.files + t.folders) % PROGRESS_EVERY == 0 {
                events.send(Event::Progress {
                    files: t.files,
                    bytes: t.bytes,
                    total_files: None,
                    total_bytes: None,
                });
            }
        }
        Ok(t)
    }
}

#[async_trait::async_trait]
impl Job for Du {
    fn kind(&self) -> &'static str {
        "du"
    }

    async fn run(
        &self,
        vfses: &Vfses,
        events: &Events,
        cancel: &CancellationToken,
    ) -> Result<Outcome, JobError> {
        let files = vfses
            .get("")
            .ok_or_else(|| JobError::Failed("du needs a Vfs".into()))?;
        let t = self.totals(&files, events, cancel).await?;
        Ok(Outcome {
            exit_code: 0,
            summary: serde_json::to_value(t).unwrap_or_default(),
            text: format!(
                "{} files, {} folders, {} bytes",
                t.files, t.folders, t.bytes
            ),
        })
    }
}
