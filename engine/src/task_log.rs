//! The task log: one JSON-lines file per job under the state folder (`tasks/ID.jsonl`) with
//! its start (kind, arguments with secrets redacted, pid), every task record (completed,
//! skipped with why, failed with the error) and its end. Lines are appended as they happen
//! (written at once, so they outlive a killed process) and synced to disk at least every
//! second and at the end. Owns the format, job ids and reading logs back; must not run jobs.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::job::{Action, Outcome, TaskRecord};

/// One line of a task log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogLine {
    Start {
        id: u64,
        kind: String,
        args: serde_json::Value,
        pid: u32,
        at: u64,
    },
    Record(TaskRecord),
    End {
        /// done, failed or cancelled.
        state: String,
        exit_code: i32,
        text: String,
        #[serde(default)]
        summary: serde_json::Value,
        at: u64,
    },
}

/// A job's log being written.
pub struct TaskLog {
    pub id: u64,
    file: Mutex<(File, Instant)>,
}

/// Lines are synced to disk at least this often.
const SYNC_EVERY: Duration = Duration::from_secs(1);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn path_of(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.jsonl"))
}

/// Ids of the logs in `dir`, ascending.
fn ids(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".jsonl")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Argument values under these names never reach a log.
/// `v` with the value of every field whose name says it is a secret replaced.
pub fn redact(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let secret = ["password", "secret", "key", "token"]
                    .iter()
                    .any(|s| k.to_ascii_lowercase().contains(s));
                let v = if secret {
                    "[redacted]".into()
                } else {
                    redact(v)
                };
                (k.clone(), v)
            })
            .collect(),
        serde_json::Value::Array(a) => a.iter().map(redact).collect(),
        other => other.clone(),
    }
}

impl TaskLog {
    /// Starts the log of a new job in `dir` (made 0700 if missing), taking the next free id.
    pub fn create(dir: &Path, kind: &str, args: &serde_json::Value) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut id = ids(dir).last().copied().unwrap_or(0) + 1;
        let file = loop {
            let opened = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(path_of(dir, id));
            match opened {
                Ok(f) => break f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => id += 1,
                Err(e) => return Err(e),
            }
        };
        let log = Self {
            id,
            file: Mutex::new((file, Instant::now())),
        };
        log.append(
            &LogLine::Start {
                id,
                kind: kind.to_string(),
                args: redact(args),
                pid: std::process::id(),
                at: now(),
            },
            true,
        )?;
        Ok(log)
    }

    fn append(&self, line: &LogLine, sync: bool) -> io::Result<()> {
        let mut text = serde_json::to_string(line).map_err(io::Error::other)?;
        text.push('\n');
        let mut guard = ourclone_remote::sync::lock(&self.file);
        let (file, synced) = &mut *guard;
        file.write_all(text.as_bytes())?;
        if sync || synced.elapsed() >= SYNC_EVERY {
            file.sync_data()?;
            *synced = Instant::now();
        }
        Ok(())
    }

    pub fn record(&self, r: &TaskRecord) -> io::Result<()> {
        self.append(&LogLine::Record(r.clone()), false)
    }

    /// The job's end; the log is on disk when this returns.
    pub fn end(
        &self,
        state: &str,
        outcome: Option<&Outcome>,
        error: Option<&str>,
    ) -> io::Result<()> {
        let line = LogLine::End {
            state: state.to_string(),
            exit_code: outcome.map_or(1, |o| o.exit_code),
            text: outcome
                .map(|o| o.text.clone())
                .or(error.map(str::to_string))
                .unwrap_or_default(),
            summary: outcome.map(|o| o.summary.clone()).unwrap_or_default(),
            at: now(),
        };
        self.append(&line, true)
    }
}

/// A job as its log tells it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TaskSummary {
    pub id: u64,
    pub kind: String,
    pub args: serde_json::Value,
    pub started_at: u64,
    pub ended_at: Option<u64>,
    /// running, done, failed, cancelled, or interrupted (its process died before the end).
    pub state: String,
    pub completed: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
    pub exit_code: Option<i32>,
    pub text: String,
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Reads log `id` of `dir`: its summary and its records (a line torn by a crash is skipped).
pub fn read(dir: &Path, id: u64) -> io::Result<(TaskSummary, Vec<TaskRecord>)> {
    let file = File::open(path_of(dir, id))?;
    let mut s = TaskSummary {
        id,
        state: "interrupted".into(),
        ..TaskSummary::default()
    };
    let mut records = Vec::new();
    let mut pid = 0;
    for line in io::BufReader::new(file).lines() {
        let Ok(line) = serde_json::from_str::<LogLine>(&line?) else {
            continue;
        };
        match line {
            LogLine::Start {
                kind,
                args,
                pid: p,
                at,
                ..
            } => {
                (s.kind, s.args, s.started_at, pid) = (kind, args, at, p);
            }
            LogLine::Record(r) => {
                match r.action {
                    Action::Completed => s.completed += 1,
                    Action::Skipped => s.skipped += 1,
                    Action::Failed => s.failed += 1,
                }
                s.bytes += r.bytes;
                records.push(r);
            }
            LogLine::End {
                state,
                exit_code,
                text,
                at,
                ..
            } => {
                (s.state, s.exit_code, s.text, s.ended_at) =
                    (state, Some(exit_code), text, Some(at));
            }
        }
    }
    if s.ended_at.is_none() && pid != 0 && alive(pid) {
        s.state = "running".into();
    }
    Ok((s, records))
}

/// The last `limit` jobs of `dir`, oldest first.
pub fn list(dir: &Path, limit: usize) -> Vec<TaskSummary> {
    let ids = ids(dir);
    ids[ids.len().saturating_sub(limit)..]
        .iter()
        .filter_map(|id| read(dir, *id).ok().map(|(s, _)| s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_reads_back_with_counts_and_survives_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let args =
            serde_json::json!({"src": "/a", "password_file": "/p", "nested": {"api_key": "k"}});
        let log = TaskLog::create(dir.path(), "copy", &args).unwrap();
        let other = TaskLog::create(dir.path(), "sync", &serde_json::Value::Null).unwrap();
        assert_eq!((log.id, other.id), (1, 2));
        log.record(&TaskRecord::new("a", Action::Completed, "copied", 10))
            .unwrap();
        log.record(&TaskRecord::new("b", Action::Failed, "EIO", 0))
            .unwrap();
        // A crash mid-line leaves a torn last line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(path_of(dir.path(), 1))
            .unwrap()
            .write_all(b"{\"type\":\"rec")
            .unwrap();
        let (s, records) = read(dir.path(), 1).unwrap();
        assert_eq!((s.completed, s.failed, s.bytes), (1, 1, 10));
        assert_eq!(records.len(), 2);
        assert_eq!(s.state, "running", "this process is alive and wrote no end");
        let text = std::fs::read_to_string(path_of(dir.path(), 1)).unwrap();
        assert!(
            !text.contains("\"/p\"") && !text.contains("\"k\""),
            "{text}"
        );
        other.end("done", None, Some("fine")).unwrap();
        let all = list(dir.path(), 10);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].state, "done");
    }
}
