//! Errors of the cache layer. Owns the mapping from redb and disk failures to a small set the
//! filesystem layer turns into errno values; must not know about FUSE.

use ourclone_remote::RemoteError;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no such file or directory")]
    NotFound,
    #[error("file exists")]
    AlreadyExists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("not a directory")]
    NotADirectory,
    #[error("is a directory")]
    IsADirectory,
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    #[error("metadata store: {0}")]
    Store(String),
    /// An earlier I/O error (a full disk) left the store unusable until it is reopened.
    #[error("metadata store: unusable after an earlier disk error")]
    StoreNeedsReopen,
    #[error("local disk: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

macro_rules! store_error {
    ($($t:ty),*) => {$(
        impl From<$t> for CacheError {
            /// Disk errors stay disk errors (a full disk is ENOSPC to the caller).
            fn from(e: $t) -> Self {
                match redb::Error::from(e) {
                    redb::Error::Io(io) => CacheError::Io(io),
                    redb::Error::PreviousIo => CacheError::StoreNeedsReopen,
                    e => CacheError::Store(e.to_string()),
                }
            }
        }
    )*};
}

store_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<postcard::Error> for CacheError {
    fn from(e: postcard::Error) -> Self {
        CacheError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = CacheError> = std::result::Result<T, E>;
