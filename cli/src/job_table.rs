//! The jobs a process hosts: started from a [`JobSpec`] over a `Files`, each with an id, a
//! cancel token, its events fanned out to whoever follows it, and its final state kept for
//! `job_list`. The mount daemon holds one; a command running a job in-process uses one too, so
//! both run jobs the same way. Owns job lifetimes; must not know what any job does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ourclone_engine::task_log::TaskLog;
use ourclone_engine::{job, Event, Events, JobError, JobSpec, Vfses};
use ourclone_remote::sync::lock;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::control::{JobInfo, JobState};

/// Finished jobs kept for `job_list`.
const KEEP_FINISHED: usize = 100;

struct Hosted {
    info: Mutex<JobInfo>,
    cancel: CancellationToken,
    events: broadcast::Sender<Event>,
    ended: watch::Sender<bool>,
}

/// A started job, as its starter follows it.
pub struct Started {
    pub id: u64,
    pub events: broadcast::Receiver<Event>,
    pub ended: watch::Receiver<bool>,
}

#[derive(Default)]
pub struct JobTable {
    next: AtomicU64,
    jobs: Mutex<BTreeMap<u64, Arc<Hosted>>>,
    /// Where task logs go (`tasks/` of the state folder); jobs take their ids from there.
    logs: Option<PathBuf>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl JobTable {
    /// A table whose jobs keep a durable task log in `dir`.
    pub fn logged(dir: PathBuf) -> Self {
        Self {
            logs: Some(dir),
            ..Self::default()
        }
    }

    /// Checks `spec` and starts its job on the current runtime.
    pub fn start(&self, spec: JobSpec, vfses: Vfses) -> Result<Started, JobError> {
        let job = ourclone_engine::jobs::build(&spec)?;
        let log = match &self.logs {
            Some(dir) => Some(
                TaskLog::create(dir, &spec.kind, &spec.args)
                    .map_err(|e| JobError::Failed(format!("cannot start the task log: {e}")))?,
            ),
            None => None,
        };
        let id = match &log {
            Some(l) => l.id,
            None => self.next.fetch_add(1, Ordering::Relaxed) + 1,
        };
        let (events, rx_events) = broadcast::channel(1024);
        let (ended, rx_ended) = watch::channel(false);
        let hosted = Arc::new(Hosted {
            info: Mutex::new(JobInfo {
                id,
                kind: spec.kind,
                // Listings show the arguments without their secrets.
                args: ourclone_engine::task_log::redact(&spec.args),
                state: JobState::Running,
                started_at: now(),
                ended_at: None,
                files: 0,
                bytes: 0,
                outcome: None,
                error: None,
                error_code: None,
            }),
            cancel: CancellationToken::new(),
            events,
            ended,
        });
        self.insert(id, hosted.clone());
        tokio::spawn(async move {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let forward = {
                let hosted = hosted.clone();
                tokio::spawn(async move {
                    while let Some(e) = rx.recv().await {
                        match &e {
                            Event::Progress { files, bytes, .. } => {
                                let mut info = lock(&hosted.info);
                                (info.files, info.bytes) = (*files, *bytes);
                            }
                            Event::Record(r) => {
                                if let Some(Err(e)) = log.as_ref().map(|l| l.record(r)) {
                                    tracing::warn!("task log: {e}");
                                }
                            }
                            Event::Planned(_) => {}
                        }
                        let _ = hosted.events.send(e);
                    }
                    log
                })
            };
            let result = job::run(job.as_ref(), &vfses, &Events::new(tx), &hosted.cancel).await;
            let log = forward.await.ok().flatten();
            {
                let mut info = lock(&hosted.info);
                info.ended_at = Some(now());
                match result {
                    Ok(outcome) => {
                        info.state = JobState::Done;
                        info.outcome = Some(outcome);
                    }
                    Err(JobError::Cancelled) => info.state = JobState::Cancelled,
                    Err(JobError::Exit { code, message }) => {
                        info.state = JobState::Failed;
                        info.error = Some(message);
                        info.error_code = Some(code);
                    }
                    Err(e) => {
                        info.state = JobState::Failed;
                        info.error = Some(e.to_string());
                    }
                }
                if let Some(log) = &log {
                    let state = format!("{:?}", info.state).to_lowercase();
                    let ended = log.end(&state, info.outcome.as_ref(), info.error.as_deref());
                    if let Err(e) = ended {
                        tracing::warn!("task log: {e}");
                    }
                }
            }
            let _ = hosted.ended.send(true);
        });
        Ok(Started {
            id,
            events: rx_events,
            ended: rx_ended,
        })
    }

    fn insert(&self, id: u64, hosted: Arc<Hosted>) {
        let mut jobs = lock(&self.jobs);
        jobs.insert(id, hosted);
        let finished: Vec<u64> = jobs
            .iter()
            .filter(|(_, h)| lock(&h.info).state != JobState::Running)
            .map(|(id, _)| *id)
            .collect();
        for old in finished
            .iter()
            .take(finished.len().saturating_sub(KEEP_FINISHED))
        {
            jobs.remove(old);
        }
    }

    pub fn info(&self, id: u64) -> Option<JobInfo> {
        lock(&self.jobs).get(&id).map(|h| lock(&h.info).clone())
    }

    pub fn list(&self) -> Vec<JobInfo> {
        lock(&self.jobs)
            .values()
            .map(|h| lock(&h.info).clone())
            .collect()
    }

    /// Asks job `id` to stop; false if there is no such job.
    pub fn cancel(&self, id: u64) -> bool {
        match lock(&self.jobs).get(&id) {
            Some(h) => {
                h.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every running job (the daemon is stopping).
    pub fn cancel_all(&self) {
        for h in lock(&self.jobs).values() {
            h.cancel.cancel();
        }
    }
}
