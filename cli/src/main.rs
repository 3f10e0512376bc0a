//! `ourclone-fs`: the command line. Parses arguments, loads the config, and runs one command;
//! every failure becomes one clear line on stderr and an exit code (see `error.rs`).
// Mounting is Linux-only for now (FUSE through our own mount(2) session); on macOS and
// Windows the serve, transfer and backup commands build, and the mount daemon's halves of
// shared code (control protocol, job hosting) go unused there.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

mod backup_cmd;
mod config;
mod control;
#[cfg(target_os = "linux")]
mod daemon;
#[cfg(target_os = "linux")]
mod doctor;
mod error;
#[cfg(target_os = "linux")]
mod helper;
mod job_cmd;
mod job_table;
#[cfg(target_os = "linux")]
mod mount;
#[cfg(target_os = "linux")]
mod mountpoint;
mod notify;
mod parse;
mod remote_cmd;
mod remotes;
mod serve_cmd;
#[cfg(target_os = "linux")]
mod service;
mod stop;
mod task_cmd;
mod transfer_cmd;
mod vfs_open;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::CliError;
pub use crate::parse::{parse_duration, parse_rate, parse_size};
use ourclone_engine::transfer::Mode;

#[derive(Parser)]
#[command(
    name = "ourclone-fs",
    version,
    about = "Mount cloud storage as a local folder"
)]
struct Cli {
    /// Config file holding the remotes.
    #[arg(long, global = true, env = "OURCLONE_FS_CONFIG")]
    config: Option<PathBuf>,
    /// Folder for the cache, the journal and logs.
    #[arg(long, global = true, env = "OURCLONE_FS_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add, list, update or remove remotes.
    Remote {
        #[command(subcommand)]
        action: remote_cmd::RemoteAction,
    },
    #[cfg(target_os = "linux")]
    /// Mount REMOTE:PATH at MOUNTPOINT.
    Mount(mount::MountArgs),
    /// Serve REMOTE:PATH to other programs over the network (on loopback by default), with
    /// the same cache and uploads as a mount; Ctrl-C or SIGTERM uploads what is pending, then
    /// exits.
    Serve {
        #[command(subcommand)]
        protocol: serve_cmd::ServeProtocol,
    },
    #[cfg(target_os = "linux")]
    /// Unmount MOUNTPOINT, uploading what is pending first (unless --lazy).
    Unmount {
        mountpoint: PathBuf,
        /// Unmount at once; pending uploads stay in the journal for the next mount.
        #[arg(long)]
        lazy: bool,
        /// Detach the mount even when its daemon cannot be reached (pending uploads resume at
        /// the next mount).
        #[arg(long)]
        force: bool,
        /// Wait at most this long for pending uploads (e.g. 60s); what is left uploads at the
        /// next mount.
        #[arg(long, value_parser = crate::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Print the outcome as JSON (no progress bar).
        #[arg(long)]
        json: bool,
    },
    #[cfg(target_os = "linux")]
    /// Install the mount(8) and umount(8) helpers (`mount -t ourclone-fs`, fstab lines) as
    /// links to this binary in /sbin (needs root).
    Install {
        /// Folder for the helpers (default /sbin, where mount(8) looks for them).
        #[arg(long, default_value = "/sbin")]
        dir: PathBuf,
    },
    #[cfg(target_os = "linux")]
    /// List a folder of a mount on the remote again now (changes made elsewhere show at once).
    Refresh {
        path: PathBuf,
        /// Every folder below it too.
        #[arg(long, short)]
        recursive: bool,
    },
    #[cfg(target_os = "linux")]
    /// Check FUSE, the config, each remote's credentials and the cache folder; one line per
    /// check, with what to do about a failure.
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    #[cfg(target_os = "linux")]
    /// Mount at login or boot: write or remove a systemd unit (or a launchd agent).
    Service {
        #[command(subcommand)]
        action: service::ServiceAction,
    },
    #[cfg(target_os = "linux")]
    /// Remove the helpers `install` placed.
    Uninstall {
        #[arg(long, default_value = "/sbin")]
        dir: PathBuf,
    },
    /// Count the files, folders and bytes under PATH (a path on a mount, REMOTE:PATH, or a
    /// local folder). On a mount it runs inside the mount's daemon and makes no remote calls
    /// for folders already listed.
    Du {
        path: String,
        /// Print {"files", "folders", "bytes"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy SRC to DST: new and changed files; nothing is deleted. SRC and DST are local
    /// paths, paths on a mount, or REMOTE:PATH.
    Copy(transfer_cmd::TransferArgs),
    /// Move SRC to DST: each source file is removed once its copy is on the destination.
    Move(transfer_cmd::TransferArgs),
    /// Make DST match SRC: copy new and changed files, then delete what SRC does not have
    /// (only after every copy worked; guarded by --max-delete).
    Sync(transfer_cmd::TransferArgs),
    /// Create or check an encrypted backup repository.
    Repo {
        #[command(subcommand)]
        action: backup_cmd::RepoAction,
    },
    /// Back up folders into a repository as a new snapshot (only what changed is read).
    Backup(backup_cmd::BackupArgs),
    /// List a repository's snapshots.
    Snapshots {
        #[command(flatten)]
        r: backup_cmd::RepoOpt,
        #[arg(long)]
        json: bool,
    },
    /// Restore a snapshot into a folder.
    Restore(backup_cmd::RestoreArgs),
    /// List what a snapshot holds (under PATH).
    Ls {
        snapshot: String,
        path: Option<String>,
        #[command(flatten)]
        r: backup_cmd::RepoOpt,
        #[arg(long)]
        json: bool,
    },
    /// What changed between two snapshots: + added, - removed, M content, U metadata.
    Diff {
        snap1: String,
        snap2: String,
        #[command(flatten)]
        r: backup_cmd::RepoOpt,
    },
    /// Compare SRC with DST and list the differences (exit 3 when there are some).
    Check(transfer_cmd::TransferArgs),
    /// List recent jobs from their task logs (or, given a MOUNTPOINT, the jobs its daemon
    /// runs); `jobs show ID` shows one job's log.
    #[command(args_conflicts_with_subcommands = true)]
    Jobs {
        #[command(subcommand)]
        show: Option<JobsAction>,
        mountpoint: Option<PathBuf>,
        /// Cancel the job with this id (with MOUNTPOINT).
        #[arg(long, value_name = "ID", requires = "mountpoint")]
        cancel: Option<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    #[cfg(target_os = "linux")]
    /// Show a mount's pending uploads, failures, cache use and remote calls.
    Status {
        mountpoint: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum JobsAction {
    /// One job's task log: what was completed, skipped (why) and failed (the error).
    Show {
        id: u64,
        /// Only the files that failed.
        #[arg(long)]
        failed: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// A per-user folder: `%VAR%` on Windows (`APPDATA`, `LOCALAPPDATA`), `~/unix` elsewhere.
fn user_dir(windows_var: &str, unix: &str) -> PathBuf {
    match std::env::var_os(windows_var).filter(|_| cfg!(windows)) {
        Some(dir) => PathBuf::from(dir),
        None => home().join(unix),
    }
}

impl Cli {
    fn config_path(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(|| {
            user_dir("APPDATA", ".config")
                .join("ourclone-fs")
                .join("config.toml")
        })
    }

    fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| user_dir("LOCALAPPDATA", ".cache").join("ourclone-fs"))
    }
}

/// Log targets never shown below info (see `init_logging`).
const SECRET_BEARING_LOGS: [&str; 6] = [
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "reqsign_core",
    "reqsign_aws_v4",
];

/// Logs go to stderr: the terminal for commands (quiet unless -v, so a failure stays one
/// line), the log file for a background mount's daemon.
fn init_logging(verbose: u8, daemon: bool) {
    use std::io::IsTerminal;
    // The HTTP stack stays at info even with -vv: its debug output names request URLs, and
    // 1Fichier's download URLs are credentials.
    let default = match verbose {
        0 if daemon => "warn",
        0 => "off",
        1 => "info",
        _ => "debug,rustls=info,tower=info",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("OURCLONE_FS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Whatever the level asked for: these crates' debug output holds secrets (request URLs,
    // which for 1Fichier downloads are credentials; S3 signing logs the secret key).
    for quiet in SECRET_BEARING_LOGS {
        if let Ok(d) = format!("{quiet}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> Result<(), CliError> {
    let config_path = cli.config_path();
    let cache_dir = cli.cache_dir();
    match cli.command {
        Command::Remote { action } => remote_cmd::run(action, &config_path),
        #[cfg(target_os = "linux")]
        Command::Mount(args) => mount::run(args, &config_path, &cache_dir, cli.verbose),
        Command::Serve { protocol } => serve_cmd::run(protocol, &config_path, &cache_dir),
        #[cfg(target_os = "linux")]
        Command::Unmount {
            mountpoint,
            lazy,
            force,
            timeout,
            json,
        } => {
            let how = mount::UnmountHow {
                lazy,
                force,
                timeout,
            };
            mount::unmount(&mountpoint, how, &cache_dir, json)
        }
        #[cfg(target_os = "linux")]
        Command::Install { dir } => helper::install(&dir),
        #[cfg(target_os = "linux")]
        Command::Refresh { path, recursive } => mount::refresh(&path, recursive, &cache_dir),
        #[cfg(target_os = "linux")]
        Command::Doctor { json } => doctor::run(&config_path, &cache_dir, json),
        #[cfg(target_os = "linux")]
        Command::Service { action } => {
            let paths = service::Paths {
                config: &config_path,
                cache_dir: &cache_dir,
            };
            service::run(action, paths)
        }
        #[cfg(target_os = "linux")]
        Command::Uninstall { dir } => helper::uninstall(&dir),
        #[cfg(target_os = "linux")]
        Command::Status { mountpoint, json } => mount::status(&mountpoint, &cache_dir, json),
        Command::Du { path, json } => {
            let out = job_cmd::Output {
                json,
                progress: true,
            };
            job_cmd::du(&path, out, &config_path, &cache_dir)
        }
        Command::Repo { action } => backup_cmd::repo(action, &config_path, &cache_dir),
        Command::Backup(a) => backup_cmd::backup(a, &config_path, &cache_dir),
        Command::Snapshots { r, json } => backup_cmd::snapshots(r, json, &config_path, &cache_dir),
        Command::Restore(a) => backup_cmd::restore_cmd(a, &config_path, &cache_dir),
        Command::Ls {
            snapshot,
            path,
            r,
            json,
        } => backup_cmd::ls(
            &snapshot,
            path.as_deref(),
            r,
            json,
            &config_path,
            &cache_dir,
        ),
        Command::Diff { snap1, snap2, r } => {
            backup_cmd::diff(&snap1, &snap2, r, &config_path, &cache_dir)
        }
        Command::Copy(a) => transfer_cmd::run(Mode::Copy, &a, &config_path, &cache_dir),
        Command::Move(a) => transfer_cmd::run(Mode::Move, &a, &config_path, &cache_dir),
        Command::Sync(a) => transfer_cmd::run(Mode::Sync, &a, &config_path, &cache_dir),
        Command::Check(a) => transfer_cmd::run(Mode::Check, &a, &config_path, &cache_dir),
        Command::Jobs {
            show: Some(JobsAction::Show { id, failed, json }),
            ..
        } => task_cmd::show(id, failed, json, &cache_dir),
        #[cfg(target_os = "linux")]
        Command::Jobs {
            mountpoint: Some(mp),
            cancel,
            json,
            ..
        } => job_cmd::jobs(&mp, cancel, json, &cache_dir),
        #[cfg(not(target_os = "linux"))]
        Command::Jobs {
            mountpoint: Some(_),
            ..
        } => Err(CliError::Usage(
            "there are no mount daemons on Windows to ask for their jobs".into(),
        )),
        Command::Jobs { json, .. } => task_cmd::list(json, &cache_dir),
    }
}

/// The command line, also when we run as mount(8)'s helper (`mount.ourclone-fs`).
fn parse_command_line() -> Cli {
    #[cfg(target_os = "linux")]
    match helper::as_helper(std::env::args_os().collect()) {
        Some(Ok(argv)) => return Cli::parse_from(argv),
        Some(Err(e)) => {
            eprintln!("ourclone-fs: error: {e}");
            std::process::exit(e.exit_code());
        }
        None => {}
    }
    Cli::parse()
}

/// Whether this process serves until stopped (its logs go to a file, not the terminal).
fn is_daemon(command: &Command) -> bool {
    #[cfg(target_os = "linux")]
    if matches!(command, Command::Mount(m) if m.is_daemon()) {
        return true;
    }
    matches!(command, Command::Serve { .. })
}

/// The umask the command was started with, before it made its own 0077.
pub static USER_UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

fn main() {
    // Everything we create (cache, journal, logs, control sockets) is the user's only,
    // whatever the caller's umask.
    let user_umask = ourclone_remote::os::set_umask(0o077);
    // What we write into a user's own folder (a local remote) follows the user's umask.
    let _ = USER_UMASK.set(user_umask);
    let cli = parse_command_line();
    let daemon = is_daemon(&cli.command);
    init_logging(cli.verbose, daemon);
    if let Err(e) = run(cli) {
        eprintln!("ourclone-fs: error: {e}");
        std::process::exit(e.exit_code());
    }
}

/// Issue 8, item 16: no command line makes the argument parsers panic, whether typed by a user
/// or built from an fstab line by the mount helper.
#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use proptest::prelude::*;
    use std::ffi::OsString;

    /// Words the parsers know, next to values that are out of range or malformed.
    const WORDS: &[&str] = &[
        "mount",
        "unmount",
        "status",
        "remote",
        "add",
        "update",
        "remove",
        "list",
        "backup",
        "restore",
        "repo",
        "init",
        "forget",
        "sync",
        "copy",
        "move",
        "check",
        "jobs",
        "du",
        "service",
        "--type",
        "s3",
        "webdav",
        "sftp",
        "1fichier",
        "local",
        "--write-back",
        "--dir-cache-time",
        "--cache-max-size",
        "--rate",
        "--commit-interval",
        "--port",
        "--keep-last",
        "--json",
        "--foreground",
        "-o",
        "1e400s",
        "NaN",
        "-1",
        "inf",
        "0",
        "99999999999999999999",
        "18446744073709551616ms",
        "demo:",
        "demo:/a/../b",
        "/mnt",
        "",
        "--",
        "-",
        "=",
        ",",
    ];

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(WORDS).prop_map(str::to_string),
            1 => ".{0,16}",
        ]
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    proptest! {
        #[test]
        fn no_argument_vector_panics(args in prop::collection::vec(word(), 0..8)) {
            let argv = std::iter::once("ourclone-fs".to_string()).chain(args);
            let _ = Cli::try_parse_from(argv);
        }

        #[test]
        fn no_mount_option_string_panics(
            opts in prop::collection::vec(word(), 0..6),
            sep in prop::sample::select(vec![",", "=", ""]),
            sloppy in any::<bool>(),
        ) {
            let mut argv: Vec<OsString> =
                ["/sbin/mount.ourclone-fs", "demo:", "/mnt/x", "-o"].map(OsString::from).into();
            argv.push(opts.join(sep).into());
            if sloppy {
                argv.push("-s".into());
            }
            if let Some(Ok(argv)) = helper::as_helper(argv) {
                let _ = Cli::try_parse_from(argv);
            }
        }
    }
}
