//! `CliError`: every way a command can fail, each with the one line the user sees and an exit
//! code scripts can rely on. Owns that mapping; must not print (main does).

use std::io;

/// Exit codes: 1 runtime failure, 2 bad usage (clap), 3 config, 4 unknown remote, 5 mount
/// point problem, 6 FUSE unavailable, 7 remote refused credentials.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(String),
    #[error("no remote named '{0}' (see `ourclone-fs remote list`)")]
    UnknownRemote(String),
    #[error("{0}")]
    MountPoint(String),
    #[error("{0}")]
    Fuse(String),
    #[error("{0}")]
    Credentials(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
    /// A failure reported by a child process (the background mount daemon), with its code.
    #[error("{1}")]
    Relayed(i32, String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Other(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Config(_) => 3,
            CliError::UnknownRemote(_) => 4,
            CliError::MountPoint(_) => 5,
            CliError::Fuse(_) => 6,
            CliError::Credentials(_) => 7,
            CliError::Relayed(code, _) => *code,
        }
    }
}

/// "cannot write to DIR: reason", with `root_hint` when the reason is a permission.
pub fn cannot_write(dir: &std::path::Path, e: &io::Error, root_hint: &str) -> CliError {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied => format!(" ({root_hint})"),
        _ => String::new(),
    };
    CliError::Other(anyhow::anyhow!(
        "cannot write to {}: {}{hint}",
        dir.display(),
        io_reason(e)
    ))
}

/// The reason part of an I/O error, without Rust's "(os error N)" suffix.
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotFound => "no such file".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}
