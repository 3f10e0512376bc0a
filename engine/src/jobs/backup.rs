//! The `backup` and `restore` jobs: a repository on one of the job's places (a folder on its
//! mount, a remote's Vfs, or a local folder), opened by the password the arguments carry, and
//! the engine's `take::backup` / `restore::restore` run on a blocking thread. Owns turning
//! their results into task records and an outcome; must not hold backup logic.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::backup::model::Summary;
use crate::backup::{restore, take, Repo, RepoError, TreeStore};
use crate::job::{Action, Event, Events, Job, JobError, Outcome, TaskRecord, Vfses};
use crate::transfer::{Filter, FilterSpec, Location};

/// Exit code: the password opens no key of the repository.
pub const WRONG_PASSWORD_EXIT: i32 = 8;
/// Exit code: the repository is damaged.
pub const DAMAGED_EXIT: i32 = 9;

/// Which repository, and the password that opens it (hex, so any bytes pass; redacted from
/// task logs and job listings as every `password` field is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepoAt {
    pub repo: Location,
    pub password_hex: String,
}

/// `backup PATH... --repo REPO`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    #[serde(flatten)]
    pub at: RepoAt,
    /// Absolute local paths.
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Filter rules (`- GLOB` leaves a path out).
    #[serde(default)]
    pub rules: Vec<String>,
}

/// `restore SNAPSHOT --repo REPO --target DIR`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Restore {
    #[serde(flatten)]
    pub at: RepoAt,
    pub snapshot: String,
    /// An absolute local folder.
    pub target: PathBuf,
    #[serde(default)]
    pub rules: Vec<String>,
}

fn parse<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    args: &serde_json::Value,
) -> Result<T, JobError> {
    serde_json::from_value(args.clone()).map_err(|e| JobError::BadArgs {
        kind,
        why: e.to_string(),
    })
}

fn filter(kind: &'static str, rules: &[String]) -> Result<Filter, JobError> {
    Filter::new(&FilterSpec {
        rules: rules.to_vec(),
        ..FilterSpec::default()
    })
    .map_err(|e| JobError::BadArgs {
        kind,
        why: e.to_string(),
    })
}

impl Backup {
    pub fn from_args(args: &serde_json::Value) -> Result<Self, JobError> {
        let b: Self = parse("backup", args)?;
        filter("backup", &b.rules)?;
        Ok(b)
    }
}

impl Restore {
    pub fn from_args(args: &serde_json::Value) -> Result<Self, JobError> {
        let r: Self = parse("restore", args)?;
        filter("restore", &r.rules)?;
        Ok(r)
    }
}

/// A repository error as the job's error, with the exit codes scripts rely on.
pub fn job_error(e: RepoError) -> JobError {
    match e {
        RepoError::WrongPassword => JobError::Exit {
            code: WRONG_PASSWORD_EXIT,
            message: e.to_string(),
        },
        RepoError::Damaged(_) => JobError::Exit {
            code: DAMAGED_EXIT,
            message: e.to_string(),
        },
        other => JobError::Failed(other.to_string()),
    }
}

impl RepoAt {
    async fn open(&self, vfses: &Vfses) -> Result<Repo, JobError> {
        let tree = crate::transfer::tree(vfses, &self.repo)?;
        let password = hex::decode(&self.password_hex).map_err(|e| JobError::BadArgs {
            kind: "backup",
            why: format!("password_hex: {e}"),
        })?;
        Repo::open(Arc::new(TreeStore::new(tree)), &password)
            .await
            .map_err(job_error)
    }
}

/// Runs `f` on a blocking thread with a handle to this runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce(tokio::runtime::Handle) -> Result<T, RepoError> + Send + 'static,
) -> Result<T, JobError> {
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || f(rt))
        .await
        .map_err(|e| JobError::Failed(format!("the job's thread ended: {e}")))?
        .map_err(job_error)
}

fn report_failed(events: &Events, failed: &[(String, String)]) {
    for (path, why) in failed {
        events.send(Event::Record(TaskRecord::new(
            path.as_str(),
            Action::Failed,
            why.as_str(),
            0,
        )));
    }
}

#[async_trait::async_trait]
impl Job for Backup {
    fn kind(&self) -> &'static str {
        "backup"
    }

    async fn run(
        &self,
        vfses: &Vfses,
        events: &Events,
        cancel: &CancellationToken,
    ) -> Result<Outcome, JobError> {
        let repo = self.at.open(vfses).await?;
        let filter = filter("backup", &self.rules)?;
        let (me, tx, cancel) = (self.clone(), events.clone(), cancel.clone());
        let started = Instant::now();
        let done = blocking(move |rt| {
            let progress = |s: &Summary, path: &std::path::Path, size: u64| {
                let files = s.files_new + s.files_changed + s.files_unchanged;
                tx.send(Event::Progress {
                    files,
                    bytes: s.bytes_read,
                    total_files: None,
                    total_bytes: None,
                });
                let path = path.to_string_lossy();
                tx.send(Event::Record(TaskRecord::new(
                    path,
                    Action::Completed,
                    "saved",
                    size,
                )));
            };
            take::backup(&repo, rt, &me.paths, me.tags, &filter, &progress, &cancel)
        })
        .await?;
        report_failed(events, &done.failed);
        let s = &done.summary;
        let mut text = format!(
            "snapshot {} saved: files {} new, {} changed, {} unchanged; {} bytes read, {} bytes added; {:.1} s",
            done.snapshot.get(..8).unwrap_or(&done.snapshot),
            s.files_new,
            s.files_changed,
            s.files_unchanged,
            s.bytes_read,
            s.bytes_added,
            started.elapsed().as_secs_f64()
        );
        for (path, why) in &done.failed {
            text.push_str(&format!("\n  not saved: {path}: {why}"));
        }
        Ok(Outcome {
            exit_code: if done.failed.is_empty() { 0 } else { 3 },
            summary: serde_json::json!({ "snapshot": done.snapshot, "summary": s, "failed": done.failed }),
            text,
        })
    }
}

#[async_trait::async_trait]
impl Job for Restore {
    fn kind(&self) -> &'static str {
        "restore"
    }

    async fn run(
        &self,
        vfses: &Vfses,
        events: &Events,
        cancel: &CancellationToken,
    ) -> Result<Outcome, JobError> {
        let repo = self.at.open(vfses).await?;
        let filter = filter("restore", &self.rules)?;
        let (_, snap) = repo
            .find_snapshot(&self.snapshot)
            .await
            .map_err(|e| match e {
                RepoError::Io(io) => JobError::Failed(io.to_string()),
                other => job_error(other),
            })?;
        let (target, cancel) = (self.target.clone(), cancel.clone());
        let done =
            blocking(move |rt| restore::restore(&repo, rt, &snap.tree, &target, &filter, &cancel))
                .await?;
        report_failed(events, &done.failed);
        let mut text = format!(
            "restored {} files, {} folders, {} links, {} bytes into {}",
            done.files,
            done.folders,
            done.links,
            done.bytes,
            self.target.display()
        );
        for (path, why) in &done.failed {
            text.push_str(&format!("\n  not restored: {path}: {why}"));
        }
        Ok(Outcome {
            exit_code: if done.failed.is_empty() { 0 } else { 3 },
            summary: serde_json::json!({ "files": done.files, "folders": done.folders,
                "links": done.links, "bytes": done.bytes, "failed": done.failed }),
            text,
        })
    }
}
