//! Typed errors every provider returns. Owns the taxonomy (what a caller may do about a failure);
//! must not know about errno, HTTP or any one provider's wire format.

use std::io;

/// What went wrong with a remote call, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("directory not empty: {0}")]
    NotEmpty(String),
    #[error("not a directory: {0}")]
    NotADirectory(String),
    #[error("is a directory: {0}")]
    IsADirectory(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The provider asked us to slow down; retry after the given delay if any.
    #[error("throttled by the provider: {message}")]
    Throttled {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    /// Worth retrying with backoff: 5xx, connection resets, timeouts, node hiccups.
    #[error("transient error: {0}")]
    Transient(String),
    /// The credentials were refused (bad, expired or revoked key; account not allowed to use
    /// the API). Retrying will not help; the user must fix the credentials.
    #[error("the provider refused the credentials: {0}")]
    Auth(String),
    /// Retrying will not help: malformed request, refused content.
    #[error("permanent error: {0}")]
    Permanent(String),
    /// The operation is not offered by this provider.
    #[error("not supported by this provider: {0}")]
    Unsupported(&'static str),
    /// The remote is out of space or quota.
    #[error("no space left on the remote: {0}")]
    NoSpace(String),
}

impl RemoteError {
    /// True when trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient(_))
    }

    /// Maps a local I/O error about `what` to the closest remote error.
    pub fn from_io(err: io::Error, what: &str) -> Self {
        let what = what.to_string();
        match err.kind() {
            io::ErrorKind::NotFound => Self::NotFound(what),
            io::ErrorKind::AlreadyExists => Self::AlreadyExists(what),
            io::ErrorKind::PermissionDenied => Self::PermissionDenied(what),
            io::ErrorKind::DirectoryNotEmpty => Self::NotEmpty(what),
            io::ErrorKind::NotADirectory => Self::NotADirectory(what),
            io::ErrorKind::IsADirectory => Self::IsADirectory(what),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::NoSpace(what),
            io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                Self::Transient(format!("{what}: {err}"))
            }
            _ => Self::Permanent(format!("{what}: {err}")),
        }
    }
}

pub type Result<T, E = RemoteError> = std::result::Result<T, E>;
