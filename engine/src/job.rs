//! What every job is: the [`Job`] trait, the events it reports while it runs (progress and
//! task-log records), and its outcome. Owns these types and [`run`]; must not know how events
//! travel (a control socket, a terminal) or which jobs exist (see `jobs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ourclone_vfs::{Files, VfsError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A job to start: its kind (`du`, later `copy`, `backup`…) and its arguments as JSON, the
/// form the control protocol carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub kind: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

/// What happened to one file: the task log's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Completed,
    Skipped,
    Failed,
}

/// One record of the task log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub path: String,
    pub action: Action,
    /// Why it was skipped or failed, or what was done ("copied", "updated").
    pub detail: String,
    pub bytes: u64,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

impl TaskRecord {
    pub fn new(
        path: impl Into<String>,
        action: Action,
        detail: impl Into<String>,
        bytes: u64,
    ) -> Self {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            path: path.into(),
            action,
            detail: detail.into(),
            bytes,
            at,
        }
    }
}

/// What a running job reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Work done so far, and the totals when known.
    Progress {
        files: u64,
        bytes: u64,
        total_files: Option<u64>,
        total_bytes: Option<u64>,
    },
    Record(TaskRecord),
    /// A step a transfer is about to take (or, with `--dry-run`, would take).
    Planned(crate::transfer::Step),
}

/// How a job ended: its exit code, a summary for `--json`, and the line a person reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub exit_code: i32,
    pub summary: serde_json::Value,
    pub text: String,
}

/// Exit code of a cancelled job (as a shell reports SIGINT).
pub const CANCELLED_EXIT: i32 = 130;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("unknown job kind '{0}'")]
    UnknownKind(String),
    #[error("bad arguments for {kind}: {why}")]
    BadArgs { kind: &'static str, why: String },
    #[error("{path}: {source}")]
    Vfs {
        path: String,
        #[source]
        source: VfsError,
    },
    /// The job could not run (a missing source, a guard refusing): the whole message.
    #[error("{0}")]
    Failed(String),
    /// The job could not run, and its command ends with `code` (8: wrong password, 9: a
    /// damaged repository).
    #[error("{message}")]
    Exit { code: i32, message: String },
    #[error("cancelled")]
    Cancelled,
}

impl JobError {
    pub fn at(path: &str) -> impl FnOnce(VfsError) -> JobError + '_ {
        move |source| JobError::Vfs {
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            source,
        }
    }
}

/// Where a job sends its events; a job never waits on a slow listener.
#[derive(Clone)]
pub struct Events(Option<mpsc::UnboundedSender<Event>>);

impl Events {
    pub fn new(tx: mpsc::UnboundedSender<Event>) -> Self {
        Self(Some(tx))
    }

    /// Events nobody listens to.
    pub fn none() -> Self {
        Self(None)
    }

    pub fn send(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(e);
        }
    }
}

/// The Vfses a job can reach, by name: a mount's daemon offers its own as `""`; a command
/// running a job itself offers each remote it opened under the remote's name. Cheap to clone.
#[derive(Clone, Default)]
pub struct Vfses(Arc<HashMap<String, Files>>);

impl Vfses {
    pub fn new(by_name: HashMap<String, Files>) -> Self {
        Self(Arc::new(by_name))
    }

    /// Just `files`, as the default (`""`).
    pub fn one(files: Files) -> Self {
        Self::new(HashMap::from([(String::new(), files)]))
    }

    pub fn get(&self, name: &str) -> Option<Files> {
        self.0.get(name).cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Files> {
        self.0.values()
    }
}

/// A job: runs over the Vfses it names until done or `cancel`led.
#[async_trait::async_trait]
pub trait Job: Send + Sync {
    fn kind(&self) -> &'static str;

    async fn run(
        &self,
        vfses: &Vfses,
        events: &Events,
        cancel: &CancellationToken,
    ) -> Result<Outcome, JobError>;
}

/// Runs `job`, turning cancellation into [`JobError::Cancelled`] even when the job does not
/// look at its token.
pub async fn run(
    job: &dyn Job,
    vfses: &Vfses,
    events: &Events,
    cancel: &CancellationToken,
) -> Result<Outcome, JobError> {
    tokio::select! {
        r = job.run(vfses, events, cancel) => r,
        () = cancel.cancelled() => Err(JobError::Cancelled),
    }
}
