//! The control socket of a running mount (unix): a Unix socket speaking one JSON object per line,
//! each request carrying the protocol version `v`. `status`, `unmount` (drain first unless
//! lazy), `refresh` and the jobs (`job_start`, `job_status`, `job_cancel`, `job_list`) reach
//! the daemon through it. Owns the protocol and both of its ends' plumbing; must not decide
//! what the daemon does.

#[cfg(unix)]
use std::io::{BufRead, BufReader, Write};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::Path;

use ourclone_cache::UploadStats;
use ourclone_engine::{Event, Outcome};
use ourclone_remote::CallCounts;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The protocol version this build speaks; a daemon refuses requests of a newer one.
pub const PROTOCOL_VERSION: u32 = 1;

fn version_one() -> u32 {
    1
}

/// A request on the wire: `{"v": 1, "cmd": ..., ...}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default = "version_one")]
    pub v: u32,
    #[serde(flatten)]
    pub req: Request,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Unmount {
        lazy: bool,
        /// Longest wait for pending uploads, in seconds (none: until they are done or failing).
        #[serde(default)]
        drain_for: Option<u64>,
    },
    /// Lists a folder on the mount again now (and every folder below it with `recursive`).
    Refresh {
        #[serde(default)]
        path: String,
        #[serde(default)]
        recursive: bool,
    },
    /// Runs a job over the daemon's Vfs. With `follow`, the connection streams the job's
    /// events and ends with its final state; closing it early cancels the job.
    JobStart {
        kind: String,
        #[serde(default)]
        args: serde_json::Value,
        #[serde(default)]
        follow: bool,
    },
    JobStatus {
        id: u64,
    },
    JobCancel {
        id: u64,
    },
    JobList,
}

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
    Cancelled,
}

/// One job a daemon runs or ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: u64,
    pub kind: String,
    pub args: serde_json::Value,
    pub state: JobState,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    pub ended_at: Option<u64>,
    /// Files and bytes done, as last reported.
    pub files: u64,
    pub bytes: u64,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    /// The exit code a failed job asks for (8 wrong password, 9 damaged), if not 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i32>,
}

impl JobInfo {
    /// The exit code the command that ran this job ends with.
    pub fn exit_code(&self) -> i32 {
        match (&self.state, &self.outcome) {
            (JobState::Done, Some(o)) => o.exit_code,
            (JobState::Cancelled, _) => ourclone_engine::CANCELLED_EXIT,
            _ => self.error_code.unwrap_or(1),
        }
    }
}

/// A mount's state, as `ourclone-fs status` prints it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Status {
    pub mountpoint: String,
    pub remote: String,
    pub pid: u32,
    pub pending_files: u64,
    pub pending_bytes: u64,
    pub failing_files: u64,
    pub uploads: UploadStats,
    pub remote_calls: CallCounts,
    pub cache_bytes: u64,
    pub cache: ourclone_cache::CacheStats,
    pub nodes: u64,
    pub quarantined: u64,
    /// Why writes fail with ENOSPC right now (dirty data over the cap, uploads stalled).
    #[serde(default)]
    pub writes_refused: Option<String>,
    /// online | degraded | offline: whether the remote answers.
    #[serde(default)]
    pub state: ourclone_remote::Reach,
    /// Since when the remote fails to answer (Unix seconds), when it does.
    #[serde(default)]
    pub offline_since: Option<u64>,
    #[serde(default)]
    pub remote_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Status(Box<Status>),
    Progress {
        pending_files: u64,
    },
    /// Sent just before the daemon (process `pid`) exits.
    Unmounted {
        pending_files: u64,
        pending_bytes: u64,
        pid: u32,
    },
    Ok,
    Error {
        message: String,
    },
    JobStarted {
        id: u64,
    },
    Refreshed {
        folders: u64,
    },
    JobEvent {
        id: u64,
        event: Event,
    },
    /// A job's state: the answer to `job_status`, and the last line of a followed job.
    Job(Box<JobInfo>),
    Jobs {
        jobs: Vec<JobInfo>,
    },
}

/// The control socket of the mount holding `path`, and `path` inside that mount; none where
/// there are no mount daemons (macOS and Windows, for now).
pub fn mount_of(path: &Path, cache_dir: &Path) -> Option<(std::path::PathBuf, String)> {
    #[cfg(target_os = "linux")]
    {
        crate::mountpoint::mount_containing(path, cache_dir)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (path, cache_dir);
        None
    }
}

/// Sends `req` to the daemon at `socket` and hands every reply line to `each` until the
/// daemon closes the connection.
#[cfg(unix)]
pub fn call(socket: &Path, req: &Request, each: impl FnMut(Reply)) -> Result<(), CliError> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot reach the mount's daemon: {e}")))?;
    exchange(stream, req, each)
}

/// Windows has no mount daemon (a drive there is `serve webdav` mapped by the WebClient).
#[cfg(windows)]
pub fn call(socket: &Path, _req: &Request, _each: impl FnMut(Reply)) -> Result<(), CliError> {
    Err(CliError::Usage(format!(
        "no mount daemon on Windows to reach at {}",
        socket.display()
    )))
}

/// Sends `req` on a connection to a daemon and hands every reply line to `each` until the
/// daemon closes it.
#[cfg(unix)]
pub fn exchange(
    mut stream: UnixStream,
    req: &Request,
    mut each: impl FnMut(Reply),
) -> Result<(), CliError> {
    let envelope = Envelope {
        v: PROTOCOL_VERSION,
        req: req.clone(),
    };
    let mut line = serde_json::to_string(&envelope).map_err(|e| CliError::Other(e.into()))?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot talk to the mount's daemon: {e}")))?;
    for line in BufReader::new(stream).lines() {
        let line =
            line.map_err(|e| CliError::Other(anyhow::anyhow!("daemon connection lost: {e}")))?;
        let reply: Reply = serde_json::from_str(&line)
            .map_err(|e| CliError::Other(anyhow::anyhow!("bad reply from daemon: {e}")))?;
        each(reply);
    }
    Ok(())
}

/// Writes one reply line (the daemon's end).
pub(crate) async fn send(
    w: &mut (impl tokio::io::AsyncWriteExt + Unpin),
    reply: &Reply,
) -> std::io::Result<()> {
    let mut line = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    line.push('\n');
    w.write_all(line.as_bytes()).await
}
