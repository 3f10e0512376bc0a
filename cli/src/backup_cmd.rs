//! `repo init`, `repo check`, `backup`, `snapshots` and `restore`: finds the repository (a
//! local folder, a folder on a mount — written through the mount — or `REMOTE:PATH`), gets the
//! password (`--password-file`, `OURCLONE_PASSWORD`, or a prompt on a terminal), runs the
//! engine's function and prints the outcome, keeping a task log like every job. Owns that
//! plumbing and the exit codes (8 wrong password, 9 damaged repository); must not hold backup
//! logic.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ourclone_engine::backup::crypto::DEFAULT_KDF;
use ourclone_engine::backup::model::DEFAULT_PACK_SIZE;
use ourclone_engine::backup::store::Kind;
use ourclone_engine::backup::{browse, check, forget, Repo, RepoError, RepoStore, TreeStore};
use ourclone_engine::transfer::{Filter, FilterSpec, Tree};
use ourclone_remote::RemotePath;

use crate::config::{Config, RemoteConfig};
use crate::error::CliError;
use crate::job_cmd::{self, Output};
use crate::transfer_cmd;
use ourclone_engine::jobs;

/// Where the repository is and how to open it.
#[derive(clap::Args, Debug)]
pub struct RepoOpt {
    /// The repository: a local folder (typically on a mount) or REMOTE:PATH.
    #[arg(long)]
    pub repo: String,
    /// Read the password from this file (else $OURCLONE_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum RepoAction {
    /// Create an encrypted repository.
    Init {
        #[command(flatten)]
        r: RepoOpt,
        /// Register it under NAME, so `--repo NAME` works everywhere.
        #[arg(long)]
        name: Option<String>,
        /// Pack size in MiB (default: 16 in a local folder; 64 on a mount or a remote, where
        /// every call counts).
        #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=512))]
        pack_size: Option<u32>,
    },
    /// The repositories registered with `repo init --name`: location, snapshots, the last one.
    List {
        /// Read the password from this file (to show the last snapshot's time).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Check the repository; with --read-data read and verify every pack.
    Check {
        #[command(flatten)]
        r: RepoOpt,
        #[arg(long)]
        read_data: bool,
    },
    /// Forget snapshots a keep policy does not keep (and, with --prune, free their data).
    Forget {
        #[command(flatten)]
        r: RepoOpt,
        /// Keep the N newest snapshots.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_last: usize,
        /// Keep the newest snapshot of each of the last N days that have one.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_daily: usize,
        /// … of each of the last N weeks.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_weekly: usize,
        /// … of each of the last N months.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_monthly: usize,
        /// Prune afterwards.
        #[arg(long)]
        prune: bool,
        /// Print what would be forgotten; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// Delete the data no snapshot needs any more (waits for no backup to be running).
    Prune {
        #[command(flatten)]
        r: RepoOpt,
    },
    /// Remove stale locks (of processes that are gone, or not renewed for an hour).
    Unlock {
        #[command(flatten)]
        r: RepoOpt,
        /// Remove every lock, even of backups that still run elsewhere.
        #[arg(long)]
        all: bool,
    },
    /// Manage the passwords that open the repository.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum KeyAction {
    /// List the key files (one per password).
    List {
        #[command(flatten)]
        r: RepoOpt,
    },
    /// Add a password (read from --new-password-file, else a prompt).
    Add {
        #[command(flatten)]
        r: RepoOpt,
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// Remove a key file by id prefix (not the one in use).
    Remove {
        id: String,
        #[command(flatten)]
        r: RepoOpt,
    },
    /// Change the password in use (adds the new key, then removes the old one).
    Passwd {
        #[command(flatten)]
        r: RepoOpt,
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Folders (or files) to back up.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub r: RepoOpt,
    /// A tag for the snapshot (may repeat).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Leave out paths matching GLOB (gitignore style; may repeat).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Leave out the paths matching the patterns in FILE (one per line, gitignore style;
    /// `!GLOB` keeps a path).
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Vec<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show files and bytes as they go (on a terminal).
    #[arg(long, short = 'P')]
    pub progress: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// A snapshot id (or a unique prefix of one), or `latest`.
    pub snapshot: String,
    #[command(flatten)]
    pub r: RepoOpt,
    /// The folder to restore into (made if missing).
    #[arg(long)]
    pub target: PathBuf,
    /// Only paths matching GLOB (gitignore style; may repeat).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

fn repo_error(e: RepoError) -> CliError {
    match e {
        RepoError::WrongPassword => CliError::Relayed(8, e.to_string()),
        RepoError::Damaged(_) => CliError::Relayed(9, format!("repository {e}")),
        RepoError::Locked(_) => CliError::Other(anyhow::anyhow!("{e}")),
        other => CliError::Other(anyhow::anyhow!("{other}")),
    }
}

/// The password, from the file, the environment or a prompt (`twice` at init).
fn password(r: &RepoOpt, twice: bool) -> Result<Vec<u8>, CliError> {
    if let Some(f) = &r.password_file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            CliError::Usage(format!(
                "--password-file {}: {}",
                f.display(),
                crate::error::io_reason(&e)
            ))
        })?;
        return Ok(text.trim_end_matches(['\n', '\r']).as_bytes().to_vec());
    }
    if let Some(p) = std::env::var_os("OURCLONE_PASSWORD") {
        return Ok(p.into_encoded_bytes());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no password: give --password-file FILE or set OURCLONE_PASSWORD".into(),
        ));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::Other(anyhow::anyhow!("reading the password: {e}")))
    };
    let p = ask("Repository password: ")?;
    if twice && ask("Again: ")? != p {
        return Err(CliError::Usage("the passwords differ".into()));
    }
    Ok(p.into_bytes())
}

/// Runs `f` with the repository's store on a runtime of our own; a remote's writes are
/// uploaded before this returns.
fn with_store<T>(
    r: &RepoOpt,
    config_path: &Path,
    cache_dir: &Path,
    f: impl FnOnce(&tokio::runtime::Runtime, Arc<dyn RepoStore>) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot start the async runtime: {e}")))?;
    let (tree, vfs) = repo_tree(&rt, &resolve(&r.repo, config_path)?, config_path, cache_dir)?;
    let background = {
        let _in_runtime = rt.enter();
        vfs.as_ref()
            .map(|v| v.start_background())
            .unwrap_or_default()
    };
    let result = f(&rt, Arc::new(TreeStore::new(tree)));
    if let Some(vfs) = vfs {
        rt.block_on(vfs.drain(|_| {}))
            .map_err(|e| CliError::Other(anyhow::anyhow!("uploading to the repository: {e}")))?;
    }
    for t in background {
        t.abort();
    }
    result
}

/// Runs `f` with the repository opened by its password (asked first).
fn with_repo<T>(
    r: &RepoOpt,
    config_path: &Path,
    cache_dir: &Path,
    f: impl FnOnce(&tokio::runtime::Runtime, Repo) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let pw = password(r, false)?;
    with_store(r, config_path, cache_dir, |rt, store| {
        let repo = rt.block_on(Repo::open(store, &pw)).map_err(repo_error)?;
        f(rt, repo)
    })
}

/// The repository's folder as a transfer side.
fn repo_tree(
    rt: &tokio::runtime::Runtime,
    arg: &str,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<(Tree, Option<Arc<ourclone_vfs::Vfs>>), CliError> {
    if let Some((name, rest)) = crate::parse::remote_and_path(arg) {
        let config = Config::load(config_path)?;
        let remote = config.remote(name)?.clone();
        let path = RemotePath::parse(rest)
            .ok_or_else(|| CliError::Usage(format!("'{rest}' must not contain '..'")))?;
        if let RemoteConfig::Local { path: folder } = &remote {
            let mut full = folder.clone();
            full.extend(path.as_str().split('/').filter(|c| !c.is_empty()));
            return Ok((Tree::Local { root: full }, None));
        }
        let provider = rt.block_on(crate::remotes::open(name, &remote))?;
        let root = RemotePath::root();
        let state = crate::vfs_open::state_dir(cache_dir, name, &root);
        let vfs = crate::job_cmd::open_vfs(rt, provider, root, &state, &format!("{name}:"))?;
        let owner = ourclone_vfs::Owner::current();
        let files = ourclone_vfs::Files::new(vfs.clone(), owner);
        let root = path.as_str().trim_matches('/').to_string();
        return Ok((Tree::Vfs { files, root }, Some(vfs)));
    }
    let path = std::path::absolute(arg)
        .map_err(|e| CliError::Usage(format!("{arg}: {}", crate::error::io_reason(&e))))?;
    Ok((Tree::Local { root: path }, None))
}

fn filter(rules: Vec<String>) -> Result<Filter, CliError> {
    Filter::new(&FilterSpec {
        rules,
        ..FilterSpec::default()
    })
    .map_err(|e| CliError::Usage(e.to_string()))
}

pub fn repo(action: RepoAction, config_path: &Path, cache_dir: &Path) -> Result<(), CliError> {
    match action {
        RepoAction::Init { r, name, pack_size } => {
            let mut config = Config::load(config_path)?;
            if let Some(n) = &name {
                if config.repos.contains_key(n) || n.contains(['/', ':']) {
                    return Err(CliError::Usage(format!(
                        "'{n}' is taken or not a valid name (no '/' or ':')"
                    )));
                }
            }
            let pack_size = match pack_size {
                Some(mib) => mib << 20,
                None => default_pack_size(&r, &config, config_path, cache_dir)?,
            };
            let pw = password(&r, true)?;
            let made = with_store(&r, config_path, cache_dir, |rt, store| {
                rt.block_on(Repo::init(store, &pw, DEFAULT_KDF, pack_size))
                    .map(|repo| repo.config)
                    .map_err(repo_error)
            })?;
            println!("created repository {} at {}", &made.id[..8], r.repo);
            if let Some(n) = name {
                config.repos.insert(n.clone(), location(&r.repo));
                config.save(config_path)?;
                println!("registered as '{n}': --repo {n}");
            }
            Ok(())
        }
        RepoAction::List { password_file } => list(password_file, config_path, cache_dir),
        RepoAction::Forget {
            r,
            keep_last,
            keep_daily,
            keep_weekly,
            keep_monthly,
            prune,
            dry_run,
        } => {
            let policy = forget::Policy {
                last: keep_last,
                daily: keep_daily,
                weekly: keep_weekly,
                monthly: keep_monthly,
            };
            if policy.is_empty() {
                return Err(CliError::Usage(
                    "give a policy: --keep-last, --keep-daily, --keep-weekly or --keep-monthly"
                        .into(),
                ));
            }
            with_repo(&r, config_path, cache_dir, |rt, repo| {
                let snaps = rt.block_on(repo.snapshots()).map_err(repo_error)?;
                let (keep, gone) = forget::apply(policy, &snaps);
                for id in &gone {
                    println!(
                        "{} {}",
                        if dry_run { "would forget" } else { "forget" },
                        &id[..8]
                    );
                    if !dry_run {
                        rt.block_on(repo.store.remove(Kind::Snapshot, id))
                            .map_err(|e| CliError::Other(e.into()))?;
                    }
                }
                println!(
                    "{} kept, {} {}",
                    keep.len(),
                    gone.len(),
                    if dry_run {
                        "would be forgotten"
                    } else {
                        "forgotten"
                    }
                );
                if prune && !dry_run {
                    let p = forget::prune(&repo, rt.handle().clone()).map_err(repo_error)?;
                    println!(
                        "pruned: {} packs removed, {} kept",
                        p.packs_removed, p.packs_kept
                    );
                }
                Ok(())
            })
        }
        RepoAction::Key { action } => key(action, config_path, cache_dir),
        RepoAction::Unlock { r, all } => with_repo(&r, config_path, cache_dir, |rt, repo| {
            let n = rt
                .block_on(ourclone_engine::backup::lock::unlock(&repo, all))
                .map_err(repo_error)?;
            println!("removed {n} locks");
            Ok(())
        }),
        RepoAction::Prune { r } => with_repo(&r, config_path, cache_dir, |rt, repo| {
            let p = forget::prune(&repo, rt.handle().clone()).map_err(repo_error)?;
            println!(
                "pruned: {} packs removed, {} kept",
                p.packs_removed, p.packs_kept
            );
            Ok(())
        }),
        RepoAction::Check { r, read_data } => {
            let problems = with_repo(&r, config_path, cache_dir, |rt, repo| {
                let h = rt.handle().clone();
                check::check(&repo, h, read_data).map_err(repo_error)
            })?;
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!(
                    "no problems found{}",
                    if read_data { " (all data read)" } else { "" }
                );
                return Ok(());
            }
            Err(CliError::Relayed(
                9,
                format!("the repository has {} problems", problems.len()),
            ))
        }
    }
}

pub fn backup(a: BackupArgs, config_path: &Path, cache_dir: &Path) -> Result<(), CliError> {
    let mut paths = Vec::new();
    for p in &a.paths {
        paths.push(std::fs::canonicalize(p).map_err(|e| {
            CliError::Usage(format!("{}: {}", p.display(), crate::error::io_reason(&e)))
        })?);
    }
    let mut rules = Vec::new();
    for f in &a.exclude_file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            CliError::Usage(format!(
                "--exclude-file {}: {}",
                f.display(),
                crate::error::io_reason(&e)
            ))
        })?;
        rules.extend(
            text.lines()
                .filter(|l| ourclone_engine::transfer::parse_rule(l).is_some())
                .map(str::to_string),
        );
    }
    rules.extend(a.exclude.iter().map(|g| format!("- {g}")));
    filter(rules.clone())?;
    let out = Output {
        json: a.json,
        progress: a.progress,
    };
    run_job(&a.r, config_path, cache_dir, out, |at| {
        let job = jobs::Backup {
            at,
            paths,
            tags: a.tag.clone(),
            rules,
        };
        ("backup", serde_json::to_value(job))
    })
}

/// 16 MiB in a local folder; 64 MiB on a mount or a remote, where each call is precious.
fn default_pack_size(
    r: &RepoOpt,
    config: &Config,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<u32, CliError> {
    let side = transfer_cmd::side(&resolve(&r.repo, config_path)?, config, cache_dir)?;
    Ok(match side {
        transfer_cmd::Side::Local { .. } => DEFAULT_PACK_SIZE,
        _ => 64 << 20,
    })
}

/// Runs a backup or restore as a job where the repository is: inside the daemon of the mount
/// it is on (sharing its cache, journal and Pacer), else in this process (a local folder, or a
/// remote's Vfs opened here). `spec` makes the job's arguments from the repository's place.
fn run_job(
    r: &RepoOpt,
    config_path: &Path,
    cache_dir: &Path,
    out: Output,
    spec: impl FnOnce(jobs::RepoAt) -> (&'static str, serde_json::Result<serde_json::Value>),
) -> Result<(), CliError> {
    let password_hex = hex::encode(password(r, false)?);
    let config = Config::load(config_path)?;
    let side = transfer_cmd::side(&resolve(&r.repo, config_path)?, &config, cache_dir)?;
    let repo = transfer_cmd::location(&side, true);
    let (kind, args) = spec(jobs::RepoAt { repo, password_hex });
    let args = args.map_err(|e| CliError::Other(e.into()))?;
    let spec = ourclone_engine::JobSpec {
        kind: kind.into(),
        args,
    };
    let info = match transfer_cmd::daemon_for(&[&side]) {
        Some(socket) => job_cmd::on_daemon(&socket, spec, out)?,
        None => transfer_cmd::in_process(
            spec,
            out,
            transfer_cmd::remotes(&[&side]),
            &config,
            cache_dir,
        )?,
    };
    job_cmd::finish(&info, out)
}

pub fn snapshots(
    r: RepoOpt,
    json: bool,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<(), CliError> {
    let list = with_repo(&r, config_path, cache_dir, |rt, repo| {
        rt.block_on(repo.snapshots()).map_err(repo_error)
    })?;
    if json {
        let v: Vec<_> = list
            .iter()
            .map(|(id, s)| serde_json::json!({ "id": id, "snapshot": s }))
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(());
    }
    for (id, s) in &list {
        println!(
            "{}  {}  {}  {}  {}",
            &id[..8],
            s.time,
            s.hostname,
            s.paths.join(" "),
            s.tags.join(",")
        );
    }
    Ok(())
}

pub fn restore_cmd(a: RestoreArgs, config_path: &Path, cache_dir: &Path) -> Result<(), CliError> {
    let rules: Vec<String> = a.include.iter().map(|g| format!("+ {g}")).collect();
    filter(rules.clone())?;
    let target = std::path::absolute(&a.target)
        .map_err(|e| CliError::Usage(format!("--target: {}", crate::error::io_reason(&e))))?;
    let out = Output {
        json: a.json,
        progress: false,
    };
    run_job(&a.r, config_path, cache_dir, out, |at| {
        let job = jobs::Restore {
            at,
            snapshot: a.snapshot.clone(),
            target,
            rules,
        };
        ("restore", serde_json::to_value(job))
    })
}

/// `ls SNAPSHOT [PATH]`: the snapshot's entries (under PATH).
pub fn ls(
    snapshot: &str,
    under: Option<&str>,
    r: RepoOpt,
    json: bool,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<(), CliError> {
    let all = with_repo(&r, config_path, cache_dir, |rt, repo| {
        let (_, snap) = rt
            .block_on(repo.find_snapshot(snapshot))
            .map_err(found_error)?;
        browse::entries(&repo, rt.handle(), &snap.tree).map_err(repo_error)
    })?;
    let under = under.map(|u| u.trim_matches('/').to_string());
    let shown = all.iter().filter(|(p, _)| match &under {
        Some(u) => *p == u || p.starts_with(&format!("{u}/")),
        None => true,
    });
    for (path, n) in shown {
        if json {
            println!("{}", serde_json::json!({ "path": path, "node": n }));
        } else {
            let kind = match n.kind {
                ourclone_engine::backup::model::NodeKind::Dir => 'd',
                ourclone_engine::backup::model::NodeKind::Symlink => 'l',
                ourclone_engine::backup::model::NodeKind::File => '-',
            };
            println!("{kind} {:o} {:>12} {path}", n.mode, n.size);
        }
    }
    Ok(())
}

/// `diff SNAP1 SNAP2`.
pub fn diff(
    a: &str,
    b: &str,
    r: RepoOpt,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<(), CliError> {
    let changes = with_repo(&r, config_path, cache_dir, |rt, repo| {
        let (_, sa) = rt.block_on(repo.find_snapshot(a)).map_err(found_error)?;
        let (_, sb) = rt.block_on(repo.find_snapshot(b)).map_err(found_error)?;
        let ea = browse::entries(&repo, rt.handle(), &sa.tree).map_err(repo_error)?;
        let eb = browse::entries(&repo, rt.handle(), &sb.tree).map_err(repo_error)?;
        Ok(browse::diff(&ea, &eb))
    })?;
    for (c, path) in &changes {
        println!("{c} {path}");
    }
    println!("{} changes", changes.len());
    Ok(())
}

fn found_error(e: RepoError) -> CliError {
    match e {
        RepoError::Io(io) => CliError::Usage(io.to_string()),
        other => repo_error(other),
    }
}

fn new_password(file: &Option<PathBuf>) -> Result<Vec<u8>, CliError> {
    let opt = RepoOpt {
        repo: String::new(),
        password_file: file.clone(),
    };
    // The new password never comes from the environment (that holds the current one).
    if file.is_none() && !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "give the new password with --new-password-file FILE".into(),
        ));
    }
    if file.is_none() {
        let p = rpassword::prompt_password("New password: ")
            .map_err(|e| CliError::Other(anyhow::anyhow!("reading the password: {e}")))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| CliError::Other(anyhow::anyhow!("reading the password: {e}")))?;
        if p != again {
            return Err(CliError::Usage("the passwords differ".into()));
        }
        return Ok(p.into_bytes());
    }
    password(&opt, false)
}

fn key(action: KeyAction, config_path: &Path, cache_dir: &Path) -> Result<(), CliError> {
    let (r, new) = match &action {
        KeyAction::List { r } | KeyAction::Remove { r, .. } => (r, None),
        KeyAction::Add {
            r,
            new_password_file,
        }
        | KeyAction::Passwd {
            r,
            new_password_file,
        } => (r, Some(new_password(new_password_file)?)),
    };
    with_repo(r, config_path, cache_dir, |rt, repo| {
        match &action {
            KeyAction::List { .. } => {
                for (id, kf) in rt.block_on(repo.keys()).map_err(repo_error)? {
                    let mark = if id == repo.key_id { '*' } else { ' ' };
                    println!("{mark} {}  {}  {}", &id[..8], kf.host, kf.created);
                }
            }
            KeyAction::Add { .. } | KeyAction::Passwd { .. } => {
                let new = new.as_deref().unwrap_or_default();
                let id = rt
                    .block_on(repo.add_key(new, DEFAULT_KDF))
                    .map_err(repo_error)?;
                println!("added key {}", &id[..8]);
                if matches!(action, KeyAction::Passwd { .. }) {
                    rt.block_on(repo.store.remove(Kind::Key, &repo.key_id))
                        .map_err(|e| CliError::Other(e.into()))?;
                    println!("removed key {}", &repo.key_id[..8]);
                }
            }
            KeyAction::Remove { id, .. } => {
                let keys = rt.block_on(repo.keys()).map_err(repo_error)?;
                let hits: Vec<_> = keys
                    .iter()
                    .filter(|(k, _)| k.starts_with(id.as_str()))
                    .collect();
                let [(k, _)] = hits.as_slice() else {
                    return Err(CliError::Usage(format!("'{id}' names {} keys", hits.len())));
                };
                if *k == repo.key_id {
                    return Err(CliError::Usage(
                        "that is the key in use: remove it with another password".into(),
                    ));
                }
                rt.block_on(repo.store.remove(Kind::Key, k))
                    .map_err(|e| CliError::Other(e.into()))?;
                println!("removed key {}", &k[..8]);
            }
        }
        Ok(())
    })
}

/// A registered name's location, else `arg` itself.
fn resolve(arg: &str, config_path: &Path) -> Result<String, CliError> {
    let config = Config::load(config_path)?;
    Ok(match config.repos.get(arg) {
        Some(loc) if !Path::new(arg).exists() => loc.clone(),
        _ => arg.to_string(),
    })
}

/// What to register: an absolute path for a local folder, `REMOTE:PATH` as given.
fn location(arg: &str) -> String {
    match crate::parse::remote_and_path(arg) {
        Some(_) => arg.to_string(),
        _ => std::path::absolute(arg)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| arg.to_string()),
    }
}

/// `repo list`.
fn list(
    password_file: Option<PathBuf>,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<(), CliError> {
    let config = Config::load(config_path)?;
    if config.repos.is_empty() {
        println!("no repositories registered (repo init --name NAME)");
    }
    for (name, loc) in &config.repos {
        let r = RepoOpt {
            repo: loc.clone(),
            password_file: password_file.clone(),
        };
        let pw = password(&r, false).ok();
        let line = with_store(&r, config_path, cache_dir, |rt, store| {
            let count = rt
                .block_on(store.list(Kind::Snapshot))
                .map(|s| s.len())
                .unwrap_or(0);
            let last = pw
                .as_ref()
                .and_then(|pw| rt.block_on(Repo::open(store, pw)).ok())
                .and_then(|repo| rt.block_on(repo.snapshots()).ok())
                .and_then(|s| s.last().map(|(_, s)| s.time.to_string()))
                .unwrap_or_else(|| "-".into());
            Ok(format!("{name}  {loc}  {count} snapshots  last {last}"))
        })
        .unwrap_or_else(|e| format!("{name}  {loc}  unreadable: {e}"));
        println!("{line}");
    }
    Ok(())
}
