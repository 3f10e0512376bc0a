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
use ourclone_engine::backup::{check, restore, Repo, RepoError, RepoStore, TreeStore};
use ourclone_engine::task_log::TaskLog;
use ourclone_engine::transfer::{Filter, FilterSpec, Tree};
use ourclone_engine::{Action, TaskRecord};
use ourclone_remote::RemotePath;

use crate::config::{Config, RemoteConfig};
use crate::error::CliError;
use crate::job_cmd::task_dir;

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
    },
    /// Check the repository; with --read-data read and verify every pack.
    Check {
        #[command(flatten)]
        r: RepoOpt,
        #[arg(long)]
        read_data: bool,
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
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
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
    let (tree, vfs) = repo_tree(&rt, &r.repo, config_path, cache_dir)?;
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

/// The repository's folder as a transfer side.
fn repo_tree(
    rt: &tokio::runtime::Runtime,
    arg: &str,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<(Tree, Option<Arc<ourclone_vfs::Vfs>>), CliError> {
    if let Some((name, rest)) = arg.split_once(':') {
        if !name.is_empty() && !name.contains('/') && !Path::new(arg).exists() {
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
            let state = crate::mount::state_dir(cache_dir, name, &root);
            let vfs = crate::job_cmd::open_vfs(rt, provider, root, &state, &format!("{name}:"))?;
            let owner = ourclone_vfs::Owner {
                uid: nix::unistd::getuid().as_raw(),
                gid: nix::unistd::getgid().as_raw(),
            };
            let files = ourclone_vfs::Files::new(vfs.clone(), owner);
            let root = path.as_str().trim_matches('/').to_string();
            return Ok((Tree::Vfs { files, root }, Some(vfs)));
        }
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
        RepoAction::Init { r } => {
            let pw = password(&r, true)?;
            let config = with_store(&r, config_path, cache_dir, |rt, store| {
                rt.block_on(Repo::init(store, &pw, DEFAULT_KDF))
                    .map(|repo| repo.config)
                    .map_err(repo_error)
            })?;
            println!("created repository {} at {}", &config.id[..8], r.repo);
            Ok(())
        }
        RepoAction::Check { r, read_data } => {
            let pw = password(&r, false)?;
            let problems = with_store(&r, config_path, cache_dir, |rt, store| {
                let repo = rt.block_on(Repo::open(store, &pw)).map_err(repo_error)?;
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
    let pw = password(&a.r, false)?;
    let mut paths = Vec::new();
    for p in &a.paths {
        paths.push(std::fs::canonicalize(p).map_err(|e| {
            CliError::Usage(format!("{}: {}", p.display(), crate::error::io_reason(&e)))
        })?);
    }
    let rules = a.exclude.iter().map(|g| format!("- {g}")).collect();
    let filter = filter(rules)?;
    let args = serde_json::json!({ "repo": a.r.repo, "paths": paths, "tags": a.tag });
    let log = TaskLog::create(&task_dir(cache_dir), "backup", &args).ok();
    let start = std::time::Instant::now();
    let done = with_store(&a.r, config_path, cache_dir, |rt, store| {
        let repo = rt.block_on(Repo::open(store, &pw)).map_err(repo_error)?;
        let h = rt.handle().clone();
        let tags = a.tag.clone();
        ourclone_engine::backup::take::backup(&repo, h, &paths, tags, &filter, &|_| {})
            .map_err(repo_error)
    });
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            if let Some(l) = &log {
                let _ = l.end("failed", None, Some(&e.to_string()));
            }
            return Err(e);
        }
    };
    let s = &done.summary;
    if let Some(l) = &log {
        for (path, why) in &done.failed {
            let _ = l.record(&TaskRecord::new(path, Action::Failed, why, 0));
        }
    }
    let text = format!(
        "snapshot {} saved: files {} new, {} changed, {} unchanged; {} bytes read, {} bytes added; {:.1} s",
        &done.snapshot[..8],
        s.files_new,
        s.files_changed,
        s.files_unchanged,
        s.bytes_read,
        s.bytes_added,
        start.elapsed().as_secs_f64()
    );
    let code = if done.failed.is_empty() { 0 } else { 3 };
    let outcome = ourclone_engine::Outcome {
        exit_code: code,
        summary: serde_json::json!({ "snapshot": done.snapshot, "summary": s, "failed": done.failed }),
        text: text.clone(),
    };
    if let Some(l) = &log {
        let _ = l.end("done", Some(&outcome), None);
    }
    if a.json {
        println!("{}", outcome.summary);
    } else {
        println!("{text}");
        for (path, why) in &done.failed {
            println!("  not saved: {path}: {why}");
        }
    }
    match code {
        0 => Ok(()),
        _ => Err(CliError::Relayed(
            3,
            format!("{} files could not be read", done.failed.len()),
        )),
    }
}

pub fn snapshots(
    r: RepoOpt,
    json: bool,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<(), CliError> {
    let pw = password(&r, false)?;
    let list = with_store(&r, config_path, cache_dir, |rt, store| {
        let repo = rt.block_on(Repo::open(store, &pw)).map_err(repo_error)?;
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
    let pw = password(&a.r, false)?;
    let rules = a.include.iter().map(|g| format!("+ {g}")).collect();
    let filter = filter(rules)?;
    let target = std::path::absolute(&a.target)
        .map_err(|e| CliError::Usage(format!("--target: {}", crate::error::io_reason(&e))))?;
    let done = with_store(&a.r, config_path, cache_dir, |rt, store| {
        let repo = rt.block_on(Repo::open(store, &pw)).map_err(repo_error)?;
        let (_, snap) = rt
            .block_on(repo.find_snapshot(&a.snapshot))
            .map_err(|e| match e {
                RepoError::Io(io) => CliError::Usage(io.to_string()),
                other => repo_error(other),
            })?;
        let h = rt.handle().clone();
        restore::restore(&repo, h, &snap.tree, &target, &filter).map_err(repo_error)
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "files": done.files, "folders": done.folders, "links": done.links,
                "bytes": done.bytes, "failed": done.failed })
        );
    } else {
        println!(
            "restored {} files, {} folders, {} links, {} bytes into {}",
            done.files,
            done.folders,
            done.links,
            done.bytes,
            target.display()
        );
        for (path, why) in &done.failed {
            println!("  not restored: {path}: {why}");
        }
    }
    if done.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Relayed(
            3,
            format!("{} paths could not be restored", done.failed.len()),
        ))
    }
}
