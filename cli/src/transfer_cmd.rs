//! `copy`, `move`, `sync` and `check`: turns SRC and DST (local paths, paths on a mount, or
//! `REMOTE:PATH`) into a transfer job and decides where it runs — inside the daemon of the
//! mount the sides are on (sharing its cache, journal and Pacer), else in this process over a
//! Vfs opened per remote (a path on some other mount is then read through the kernel). Owns
//! that routing and the options; must not hold transfer logic (the engine does).

use std::path::{Path, PathBuf};

use ourclone_engine::transfer::{self, FilterSpec, Location, MaxDelete, Mode};
use ourclone_engine::JobSpec;
use ourclone_remote::RemotePath;

use crate::config::Config;
use crate::error::CliError;
use crate::job_cmd::{self, Output};

/// The options copy, move, sync and check share.
#[derive(clap::Args, Debug)]
pub struct TransferArgs {
    /// What to copy from: a local path, a path on a mount, or REMOTE:PATH.
    pub src: String,
    /// Where to: a local path, a path on a mount, or REMOTE:PATH (made if missing).
    pub dst: String,
    /// Print what would be done (copy, update, delete, skip, each with why); change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Compare files by content hash (the provider's where it has one) instead of size and
    /// modification time.
    #[arg(long, short = 'c', conflicts_with = "size_only")]
    pub checksum: bool,
    /// Compare files by size only.
    #[arg(long)]
    pub size_only: bool,
    /// Show a live progress bar (files, bytes, rate, ETA) on a terminal.
    #[arg(long, short = 'P')]
    pub progress: bool,
    /// Print the plan, each file's result and the summary as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Only files matching GLOB (gitignore style; may repeat).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out paths matching GLOB (gitignore style; may repeat; checked before --include).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Rules from FILE, one per line: `+ GLOB` includes, `- GLOB` or `GLOB` excludes, `!GLOB`
    /// includes; first match wins; checked before --exclude and --include.
    #[arg(long, value_name = "FILE")]
    pub filter_from: Vec<PathBuf>,
    /// Leave out files smaller than SIZE (e.g. 10k, 5M).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub min_size: Option<u64>,
    /// Leave out files larger than SIZE.
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub max_size: Option<u64>,
    /// Leave out files modified longer ago than AGE (e.g. 90s, 12h, 7d).
    #[arg(long, value_name = "AGE", value_parser = age)]
    pub max_age: Option<u64>,
    /// Files in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub transfers: u16,
    /// Copy what symlinks point to instead of the links.
    #[arg(long, short = 'L')]
    pub copy_links: bool,
    /// sync: refuse to delete more than N files or P% of the destination's files (default
    /// 50%) unless --force.
    #[arg(long, value_name = "N|P%", value_parser = max_delete)]
    pub max_delete: Option<MaxDelete>,
    /// sync: delete even past --max-delete, or from an empty source.
    #[arg(long)]
    pub force: bool,
    /// Move replaced and deleted destination files into DIR instead (same remote or
    /// filesystem as DST).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<String>,
}

fn size(s: &str) -> Result<u64, String> {
    transfer::parse_size(s).ok_or_else(|| format!("'{s}' is not a size (e.g. 10k, 5M, 2G)"))
}

fn age(s: &str) -> Result<u64, String> {
    transfer::parse_age(s).ok_or_else(|| format!("'{s}' is not an age (e.g. 90s, 12h, 7d)"))
}

fn max_delete(s: &str) -> Result<MaxDelete, String> {
    MaxDelete::parse(s)
        .ok_or_else(|| format!("'{s}' is not a count or a percentage (e.g. 100, 10%)"))
}

/// Where one side is.
#[derive(Clone, Debug)]
pub(crate) enum Side {
    Mount {
        socket: PathBuf,
        root: PathBuf,
        inside: String,
    },
    Remote {
        name: String,
        path: RemotePath,
    },
    Local {
        path: PathBuf,
    },
}

/// Resolves a side; a path that does not exist yet (a destination) is resolved through its
/// nearest existing folder.
pub(crate) fn side(arg: &str, config: &Config, cache_dir: &Path) -> Result<Side, CliError> {
    if let Some((name, rest)) = crate::parse::remote_and_path(arg) {
        let remote = config.remote(name)?;
        let path = RemotePath::parse(rest)
            .ok_or_else(|| CliError::Usage(format!("'{rest}' must not contain '..'")))?;
        if let crate::config::RemoteConfig::Local { path: folder } = remote {
            // A local remote is a folder on this machine: read and written directly, as
            // a cache would only copy it twice.
            let mut full = folder.clone();
            full.extend(path.as_str().split('/').filter(|c| !c.is_empty()));
            return Ok(Side::Local { path: full });
        }
        return Ok(Side::Remote {
            name: name.to_string(),
            path,
        });
    }
    let path = absolute(Path::new(arg))?;
    if let Some((socket, inside)) = crate::control::mount_of(&path, cache_dir) {
        return Ok(Side::Mount {
            socket,
            root: path,
            inside,
        });
    }
    Ok(Side::Local { path })
}

/// `path` made absolute with symlinks of its existing part resolved.
fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    let mut rest = Vec::new();
    let mut cur = path.to_path_buf();
    loop {
        match std::fs::canonicalize(&cur) {
            Ok(mut base) => {
                base.extend(rest.iter().rev());
                return Ok(base);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = cur.file_name().map(|n| n.to_os_string());
                match (name, cur.parent()) {
                    (Some(n), Some(p)) => {
                        rest.push(n);
                        cur = if p.as_os_str().is_empty() {
                            ".".into()
                        } else {
                            p.to_path_buf()
                        };
                    }
                    _ => {
                        return Err(CliError::Usage(format!(
                            "{}: not a usable path",
                            path.display()
                        )))
                    }
                }
            }
            Err(e) => {
                return Err(CliError::Usage(format!(
                    "{}: {}",
                    path.display(),
                    crate::error::io_reason(&e)
                )))
            }
        }
    }
}

fn filter_spec(a: &TransferArgs) -> Result<FilterSpec, CliError> {
    let mut rules = Vec::new();
    for file in &a.filter_from {
        let text = std::fs::read_to_string(file).map_err(|e| {
            CliError::Usage(format!(
                "--filter-from {}: {}",
                file.display(),
                crate::error::io_reason(&e)
            ))
        })?;
        rules.extend(
            text.lines()
                .filter(|l| transfer::parse_rule(l).is_some())
                .map(str::to_string),
        );
    }
    rules.extend(a.exclude.iter().map(|g| format!("- {g}")));
    rules.extend(a.include.iter().map(|g| format!("+ {g}")));
    Ok(FilterSpec {
        rules,
        min_size: a.min_size,
        max_size: a.max_size,
        max_age: a.max_age,
    })
}

/// `ourclone-fs copy|move|sync|check SRC DST`.
pub fn run(
    mode: Mode,
    a: &TransferArgs,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<(), CliError> {
    let config = Config::load(config_path)?;
    let src = side(&a.src, &config, cache_dir)?;
    let dst = side(&a.dst, &config, cache_dir)?;
    let backup = a
        .backup_dir
        .as_deref()
        .map(|b| side(b, &config, cache_dir))
        .transpose()?;
    if let Side::Local { path } = &src {
        if !path.exists() {
            return Err(CliError::Usage(format!(
                "source {} does not exist",
                path.display()
            )));
        }
    }
    let sides: Vec<&Side> = [Some(&src), Some(&dst), backup.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let out = Output {
        json: a.json,
        progress: a.progress,
    };
    // Files we make in the user's folders follow the user's umask, as cp's do.
    if let Some(mask) = crate::USER_UMASK.get() {
        ourclone_remote::os::set_umask(*mask);
    }
    let on_daemon = daemon_for(&sides);
    let loc = |s: &Side| location(s, on_daemon.is_some());
    let spec = spec(mode, a, loc(&src), loc(&dst), backup.as_ref().map(loc))?;
    let info = match on_daemon {
        Some(socket) => job_cmd::on_daemon(&socket, spec, out)?,
        None => in_process(spec, out, remotes(&sides), &config, cache_dir)?,
    };
    job_cmd::finish(&info, out)
}

/// Where a side is for a job: in the daemon's Vfs (`""`) when the job runs there, else in the
/// Vfs of its remote, or on the local filesystem (a folder on a mount, from outside, is one).
pub(crate) fn location(s: &Side, on_daemon: bool) -> Location {
    match s {
        Side::Mount { inside, .. } if on_daemon => Location {
            vfs: Some(String::new()),
            path: inside.clone(),
        },
        Side::Mount { root, .. } => local(root),
        Side::Local { path } => local(path),
        Side::Remote { name, path } => Location {
            vfs: Some(name.clone()),
            path: path.as_str().trim_matches('/').to_string(),
        },
    }
}

/// The remotes the sides name, for a job run in this process.
pub(crate) fn remotes(sides: &[&Side]) -> Vec<String> {
    sides
        .iter()
        .filter_map(|s| match s {
            Side::Remote { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn local(path: &Path) -> Location {
    Location {
        vfs: None,
        path: path.to_string_lossy().into_owned(),
    }
}

/// The daemon to run in: every side on a mount is on the same one, and no side is a remote
/// of its own.
pub(crate) fn daemon_for(sides: &[&Side]) -> Option<PathBuf> {
    let mut socket = None;
    for s in sides {
        match s {
            Side::Remote { .. } => return None,
            Side::Mount { socket: sk, .. } => match &socket {
                Some(prev) if prev != sk => return None,
                _ => socket = Some(sk.clone()),
            },
            Side::Local { .. } => {}
        }
    }
    socket
}

fn spec(
    mode: Mode,
    a: &TransferArgs,
    src: Location,
    dst: Location,
    backup_dir: Option<Location>,
) -> Result<JobSpec, CliError> {
    let compare = match (a.checksum, a.size_only) {
        (true, _) => transfer::Compare::Checksum,
        (_, true) => transfer::Compare::SizeOnly,
        _ => transfer::Compare::SizeMtime,
    };
    let t = transfer::Transfer {
        mode,
        src,
        dst,
        compare,
        dry_run: a.dry_run,
        filter: filter_spec(a)?,
        transfers: a.transfers as usize,
        copy_links: a.copy_links,
        max_delete: a.max_delete,
        force: a.force,
        backup_dir,
    };
    let args = serde_json::to_value(&t).map_err(|e| CliError::Other(e.into()))?;
    Ok(JobSpec {
        kind: mode.as_str().into(),
        args,
    })
}

/// Runs the job here, with one Vfs per remote named (at the remote's root, so two paths of one
/// remote share it and can copy server-side).
pub(crate) fn in_process(
    spec: JobSpec,
    out: Output,
    names: Vec<String>,
    config: &Config,
    cache_dir: &Path,
) -> Result<crate::control::JobInfo, CliError> {
    let mut remotes = Vec::new();
    for name in names {
        if !remotes.iter().any(|(n, _)| *n == name) {
            let cfg = config.remote(&name)?.clone();
            remotes.push((name, cfg));
        }
    }
    job_cmd::in_process(spec, out, cache_dir, |rt| {
        let mut vfses = Vec::new();
        for (name, cfg) in &remotes {
            let provider = rt.block_on(crate::remotes::open(name, cfg))?;
            let root = RemotePath::root();
            let state = crate::vfs_open::state_dir(cache_dir, name, &root);
            let label = format!("{name}:");
            let vfs = job_cmd::open_vfs(rt, provider, root, &state, &label)?;
            vfses.push((name.clone(), vfs));
        }
        Ok(vfses)
    })
}
