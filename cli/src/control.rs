//! The control socket of a running mount: a Unix socket speaking one JSON object per line.
//! `status`, `unmount` (drain first unless lazy) and `refresh` reach the daemon through it.
//! Owns the protocol and both of its ends' plumbing; must not decide what the daemon does.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use ourclone_cache::UploadStats;
use ourclone_remote::CallCounts;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Unmount { lazy: bool },
    Refresh,
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
}

/// Sends `req` to the daemon at `socket` and hands every reply line to `each` until the
/// daemon closes the connection.
pub fn call(socket: &Path, req: &Request, each: impl FnMut(Reply)) -> Result<(), CliError> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot reach the mount's daemon: {e}")))?;
    exchange(stream, req, each)
}

/// Sends `req` on a connection to a daemon and hands every reply line to `each` until the
/// daemon closes it.
pub fn exchange(
    mut stream: UnixStream,
    req: &Request,
    mut each: impl FnMut(Reply),
) -> Result<(), CliError> {
    let mut line = serde_json::to_string(req).map_err(|e| CliError::Other(e.into()))?;
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
