//! `VfsError`: what a filesystem operation reports, and the errno each maps to. Owns the
//! mapping from cache and remote errors to POSIX; must not log or retry.

use ourclone_cache::CacheError;
use ourclone_remote::RemoteError;

#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    #[error("{0}")]
    Cache(#[from] CacheError),
    #[error("{1}")]
    Errno(i32, &'static str),
}

impl From<std::io::Error> for VfsError {
    fn from(e: std::io::Error) -> Self {
        VfsError::Cache(CacheError::Io(e))
    }
}

impl From<RemoteError> for VfsError {
    fn from(e: RemoteError) -> Self {
        VfsError::Cache(CacheError::Remote(e))
    }
}

pub type Result<T, E = VfsError> = std::result::Result<T, E>;

fn remote_errno(e: &RemoteError) -> i32 {
    match e {
        RemoteError::NotFound(_) => libc::ENOENT,
        RemoteError::AlreadyExists(_) => libc::EEXIST,
        RemoteError::NotEmpty(_) => libc::ENOTEMPTY,
        RemoteError::NotADirectory(_) => libc::ENOTDIR,
        RemoteError::IsADirectory(_) => libc::EISDIR,
        RemoteError::PermissionDenied(_) | RemoteError::Auth(_) => libc::EACCES,
        RemoteError::NoSpace(_) => libc::ENOSPC,
        RemoteError::Unsupported(_) => libc::ENOTSUP,
        RemoteError::Throttled { .. } | RemoteError::Transient(_) | RemoteError::Permanent(_) => {
            libc::EIO
        }
    }
}

impl VfsError {
    pub fn errno(&self) -> i32 {
        match self {
            VfsError::Errno(n, _) => *n,
            VfsError::Cache(c) => match c {
                CacheError::NotFound => libc::ENOENT,
                CacheError::AlreadyExists => libc::EEXIST,
                CacheError::NotEmpty => libc::ENOTEMPTY,
                CacheError::NotADirectory => libc::ENOTDIR,
                CacheError::IsADirectory => libc::EISDIR,
                CacheError::Invalid(_) => libc::EINVAL,
                CacheError::Unsupported(_) => libc::EPERM,
                CacheError::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
                CacheError::Remote(r) => remote_errno(r),
                CacheError::Store(_) | CacheError::StoreNeedsReopen | CacheError::Corrupt(_) => {
                    libc::EIO
                }
            },
        }
    }

    pub const fn invalid(what: &'static str) -> Self {
        VfsError::Errno(libc::EINVAL, what)
    }
}
