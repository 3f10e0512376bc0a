//! Commands that run jobs (`du`, and `jobs` to list or cancel them), and where a job runs:
//! inside the daemon of the mount its path is on (sharing that mount's cache, journal and
//! Pacer), else in this process over a Vfs opened here (a `REMOTE:PATH`, or a plain local
//! folder). Both ways print the same thing. Owns that routing and the job's output; must not
//! hold any job's logic (the engine does).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ourclone_engine::{Event, JobSpec, Vfses};
use ourclone_remote::RemotePath;
use ourclone_vfs::{Files, Owner, Vfs, VfsConfig};
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::error::RecvError;

use crate::config::Config;
use crate::control::{self, JobInfo, JobState, Reply, Request};
use crate::error::CliError;
use crate::job_table::{JobTable, Started};

/// Where a path given to a job command lives.
enum Place {
    /// On a running mount: its control socket, and the path inside the mount.
    Mount { socket: PathBuf, inside: String },
    /// `REMOTE:PATH`, with no mount in between.
    Remote { name: String, path: RemotePath },
    /// A local folder (or file) that is not on a mount.
    Local { root: PathBuf, inside: String },
}

/// How a job command prints.
#[derive(Clone, Copy)]
pub struct Output {
    pub json: bool,
    /// A live bar on a terminal (`-P`).
    pub progress: bool,
}

/// `ourclone-fs du PATH`.
pub fn du(path: &str, out: Output, config_path: &Path, cache_dir: &Path) -> Result<(), CliError> {
    let place = place(path, config_path, cache_dir)?;
    let inside = match &place {
        Place::Mount { inside, .. } | Place::Local { inside, .. } => inside.clone(),
        Place::Remote { .. } => String::new(),
    };
    let spec = JobSpec {
        kind: "du".into(),
        args: serde_json::json!({ "path": inside }),
    };
    let info = run(place, spec, out, config_path, cache_dir)?;
    finish(&info, out)
}

/// Where the task logs of jobs go.
pub fn task_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("tasks")
}

fn run(
    place: Place,
    spec: JobSpec,
    out: Output,
    config_path: &Path,
    cache_dir: &Path,
) -> Result<JobInfo, CliError> {
    match place {
        Place::Mount { socket, .. } => on_daemon(&socket, spec, out),
        Place::Remote { name, path } => {
            let config = Config::load(config_path)?;
            let remote = config.remote(&name)?.clone();
            let state = crate::vfs_open::state_dir(cache_dir, &name, &path);
            in_process(spec, out, cache_dir, |rt| {
                let provider = rt.block_on(crate::remotes::open(&name, &remote))?;
                let label = format!("{name}:{}", path.as_str());
                open_vfs(rt, provider, path.clone(), &state, &label)
                    .map(|v| vec![(String::new(), v)])
            })
        }
        Place::Local { root, .. } => {
            crate::vfs_open::private_dir(&cache_dir.join("jobs"))?;
            let scratch = tempfile::Builder::new()
                .prefix("local-")
                .tempdir_in(cache_dir.join("jobs"))
                .map_err(|e| CliError::Other(anyhow::anyhow!("cannot make a job folder: {e}")))?;
            in_process(spec, out, cache_dir, |rt| {
                let local = ourclone_remote::local::LocalRemote::open(&root)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", root.display())))?;
                let label = root.display().to_string();
                open_vfs(
                    rt,
                    Arc::new(local),
                    RemotePath::root(),
                    scratch.path(),
                    &label,
                )
                .map(|v| vec![(String::new(), v)])
            })
        }
    }
}

/// Resolves `arg`: `REMOTE:PATH` when REMOTE is a configured remote, else a local path.
fn place(arg: &str, config_path: &Path, cache_dir: &Path) -> Result<Place, CliError> {
    if let Some((name, rest)) = crate::parse::remote_and_path(arg) {
        let config = Config::load(config_path)?;
        config.remote(name)?;
        let path = RemotePath::parse(rest)
            .ok_or_else(|| CliError::Usage(format!("'{rest}' must not contain '..'")))?;
        return Ok(Place::Remote {
            name: name.to_string(),
            path,
        });
    }
    let path = std::fs::canonicalize(arg)
        .map_err(|e| CliError::Usage(format!("{arg}: {}", crate::error::io_reason(&e))))?;
    if let Some((socket, inside)) = control::mount_of(&path, cache_dir) {
        return Ok(Place::Mount { socket, inside });
    }
    if path.is_dir() {
        return Ok(Place::Local {
            root: path,
            inside: String::new(),
        });
    }
    let root = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    Ok(Place::Local {
        inside: inside(&path, &root),
        root,
    })
}

fn inside(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs the job inside the mount's daemon, following it to the end.
pub(crate) fn on_daemon(socket: &Path, spec: JobSpec, out: Output) -> Result<JobInfo, CliError> {
    let req = Request::JobStart {
        kind: spec.kind,
        args: spec.args,
        follow: true,
    };
    let bar = Progress::new(out);
    let mut end = None;
    let mut failure = None;
    control::call(socket, &req, |reply| match reply {
        Reply::JobEvent { event, .. } => bar.event(&event),
        Reply::Job(info) => end = Some(*info),
        Reply::Error { message } => failure = Some(message),
        _ => {}
    })?;
    bar.done();
    if let Some(message) = failure {
        return Err(CliError::Usage(message));
    }
    end.ok_or_else(|| CliError::Other(anyhow::anyhow!("the daemon ended the job's connection")))
}

/// Runs the job in this process over the Vfses `open` makes (by name), then uploads what it
/// wrote.
pub(crate) fn in_process(
    spec: JobSpec,
    out: Output,
    cache_dir: &Path,
    open: impl FnOnce(&tokio::runtime::Runtime) -> Result<Vec<(String, Arc<Vfs>)>, CliError>,
) -> Result<JobInfo, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot start the async runtime: {e}")))?;
    let vfses = open(&rt)?;
    let owner = Owner::current();
    crate::vfs_open::private_dir(cache_dir)?;
    let table = JobTable::logged(task_dir(cache_dir));
    let bar = Progress::new(out);
    let info = rt.block_on(async {
        let mut background = Vec::new();
        let mut by_name = std::collections::HashMap::new();
        for (name, vfs) in &vfses {
            background.extend(vfs.start_background());
            by_name.insert(name.clone(), Files::new(vfs.clone(), owner));
        }
        let mut started = table
            .start(spec, Vfses::new(by_name))
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let id = started.id;
        let mut stop = crate::stop::stop_stream();
        let mut stopping = false;
        loop {
            tokio::select! {
                e = next_event(&mut started) => match e {
                    Some(e) => bar.event(&e),
                    None => break,
                },
                // Ctrl-C or SIGTERM: the job stops and its log says so; what it already
                // wrote stays in the journal and goes up with the next run or mount.
                _ = stop.recv() => {
                    if stopping {
                        // A second one: stop waiting for the job to wind down.
                        std::process::exit(ourclone_engine::CANCELLED_EXIT);
                    }
                    stopping = true;
                    table.cancel(id);
                }
            }
        }
        let cancelled = table
            .info(id)
            .is_some_and(|i| i.state == JobState::Cancelled);
        // What the job wrote reaches the remote before the command returns.
        for (_, vfs) in vfses.iter().filter(|_| !cancelled) {
            vfs.drain(|_| {})
                .await
                .map_err(|e| CliError::Other(anyhow::anyhow!("uploading the job's writes: {e}")))?;
        }
        for task in background {
            task.abort();
        }
        table
            .info(id)
            .ok_or_else(|| CliError::Other(anyhow::anyhow!("job {id} vanished")))
    });
    bar.done();
    info
}

/// Opens a Vfs for a job run in this process.
pub(crate) fn open_vfs(
    rt: &tokio::runtime::Runtime,
    remote: Arc<dyn ourclone_remote::Remote>,
    root: RemotePath,
    state: &Path,
    label: &str,
) -> Result<Arc<Vfs>, CliError> {
    crate::vfs_open::private_dir(state)?;
    let cfg = VfsConfig {
        defaults: crate::vfs_open::defaults(),
        dir_cache_time: Duration::from_secs(300),
        write_back: Duration::ZERO,
        upload_parallel: 4,
        cache_max_size: 1 << 30,
        room_wait: Duration::from_secs(120),
        commit_interval: Duration::from_secs(1),
        sync_close: false,
    };
    let _enter = rt.enter();
    let counted = Arc::new(ourclone_remote::Counted::new(remote));
    Vfs::open_cache(counted, root, state, cfg)
        .map(|(vfs, _)| vfs)
        .map_err(|e| {
            CliError::MountPoint(format!(
                "cannot open the cache of {label}: {e} (if it is mounted, give the path on the mount instead)"
            ))
        })
}

/// The next event of a job, or `None` once it ended and every event was heard.
async fn next_event(started: &mut Started) -> Option<Event> {
    loop {
        if *started.ended.borrow() {
            return loop {
                match started.events.try_recv() {
                    Ok(e) => break Some(e),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
                    Err(_) => break None,
                }
            };
        }
        tokio::select! {
            e = started.events.recv() => match e {
                Ok(e) => return Some(e),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            },
            _ = started.ended.changed() => {}
        }
    }
}

/// Daemon side of `job_start`: starts the job and, when followed, streams its events and its
/// end; a follower that goes away cancels the job.
pub async fn host(
    table: &JobTable,
    spec: JobSpec,
    files: Files,
    follow: bool,
    w: &mut (impl AsyncWriteExt + Unpin),
) -> std::io::Result<()> {
    let mut started = match table.start(spec, Vfses::one(files)) {
        Ok(s) => s,
        Err(e) => {
            let message = e.to_string();
            return crate::control::send(w, &Reply::Error { message }).await;
        }
    };
    let id = started.id;
    if !follow {
        return crate::control::send(w, &Reply::JobStarted { id }).await;
    }
    let streamed = async {
        crate::control::send(w, &Reply::JobStarted { id }).await?;
        while let Some(event) = next_event(&mut started).await {
            crate::control::send(w, &Reply::JobEvent { id, event }).await?;
        }
        match table.info(id) {
            Some(info) => crate::control::send(w, &Reply::Job(Box::new(info))).await,
            None => Ok(()),
        }
    };
    let result = streamed.await;
    if result.is_err() {
        table.cancel(id);
    }
    result
}

/// Prints a finished job's outcome and turns its state into the command's exit.
pub(crate) fn finish(info: &JobInfo, out: Output) -> Result<(), CliError> {
    match (&info.state, &info.outcome) {
        (JobState::Done, Some(o)) => {
            if out.json {
                println!("{}", o.summary);
            } else {
                println!("{}", o.text);
            }
            match o.exit_code {
                0 => Ok(()),
                code => Err(CliError::Relayed(
                    code,
                    format!("{} finished with failures", info.kind),
                )),
            }
        }
        (JobState::Cancelled, _) => Err(CliError::Relayed(info.exit_code(), "cancelled".into())),
        (_, _) if info.error_code.is_some() => Err(CliError::Relayed(
            info.exit_code(),
            info.error.clone().unwrap_or_default(),
        )),
        _ => Err(CliError::Other(anyhow::anyhow!(
            "{}",
            info.error
                .clone()
                .unwrap_or_else(|| "the job failed".into())
        ))),
    }
}

/// `ourclone-fs jobs MOUNTPOINT`: the jobs a mount's daemon runs and ran; `--cancel ID`.
#[cfg(target_os = "linux")]
pub fn jobs(mp: &Path, cancel: Option<u64>, json: bool, cache_dir: &Path) -> Result<(), CliError> {
    let canon = crate::mountpoint::canonical(mp)?;
    let socket = crate::mountpoint::find_control_socket(&canon, cache_dir).ok_or_else(|| {
        CliError::MountPoint(format!("{} is not mounted by ourclone-fs", canon.display()))
    })?;
    let req = match cancel {
        Some(id) => Request::JobCancel { id },
        None => Request::JobList,
    };
    let mut result = Err(CliError::Other(anyhow::anyhow!(
        "no answer from the daemon"
    )));
    control::call(&socket, &req, |reply| {
        result = match reply {
            Reply::Jobs { jobs } => Ok(jobs),
            Reply::Ok => Ok(Vec::new()),
            Reply::Error { message } => Err(CliError::Usage(message)),
            _ => Err(CliError::Other(anyhow::anyhow!(
                "unexpected reply from the daemon"
            ))),
        }
    })?;
    let list = result?;
    if cancel.is_some() {
        return Ok(());
    }
    if json {
        let text = serde_json::to_string(&list).map_err(|e| CliError::Other(e.into()))?;
        println!("{text}");
        return Ok(());
    }
    for j in list {
        println!(
            "{:>4}  {:<9}  {:<6}  {}  {}",
            j.id,
            format!("{:?}", j.state).to_lowercase(),
            j.kind,
            j.args,
            j.outcome.map(|o| o.text).or(j.error).unwrap_or_default()
        );
    }
    Ok(())
}

/// With `-P` on a terminal, a bar (files, bytes, rate, ETA once the totals are known); with
/// `--json`, every plan step and task-log record as a JSON line; nothing otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    json: bool,
}

impl Progress {
    fn new(out: Output) -> Self {
        let bar = (out.progress && !out.json && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            json: out.json,
        }
    }

    fn event(&self, e: &Event) {
        match e {
            Event::Progress {
                files,
                bytes,
                total_files,
                total_bytes,
            } => {
                let Some(bar) = &self.bar else { return };
                if let Some(total) = total_bytes.filter(|t| *t > 0) {
                    if bar.length() != Some(total) {
                        bar.set_length(total);
                        bar.set_style(
                            indicatif::ProgressStyle::with_template(
                                "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                            )
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                        );
                    }
                    bar.set_position(*bytes);
                }
                let of = total_files.map(|t| format!("/{t}")).unwrap_or_default();
                bar.set_message(format!("{files}{of} files"));
            }
            Event::Record(_) | Event::Planned(_) if self.json => {
                if let Ok(line) = serde_json::to_string(e) {
                    println!("{line}");
                }
            }
            Event::Record(_) | Event::Planned(_) => {}
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
