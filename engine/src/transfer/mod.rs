//! copy, move, sync and check: the transfer jobs. A transfer lists both sides, plans one step
//! per path ([`plan`]), and carries the plan out with `transfers` files in flight: new and
//! changed files are written under a temporary name and renamed into place, confirmed on the
//! remote, then (move) their source removed; sync deletes only after every transfer worked.
//! Owns the order of that work and the guards; must not know where events go.

mod compare;
mod filter;
mod plan;
mod tree;

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use compare::Compare;
pub use filter::{parse_age, parse_rule, parse_size, Filter, FilterSpec};
pub use plan::{MaxDelete, Step, StepKind};
pub use tree::{Item, ItemKind, Landed, Reader, Tree, PART_PREFIX};

use crate::job::{Action, Event, Events, Job, JobError, Outcome, TaskRecord, Vfses};

/// Which transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Copy,
    Move,
    Sync,
    Check,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Copy => "copy",
            Mode::Move => "move",
            Mode::Sync => "sync",
            Mode::Check => "check",
        }
    }
}

/// A side as the job's arguments name it: a path in one of the job's Vfses (by name), or on
/// the local filesystem (`vfs` absent, `path` absolute).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vfs: Option<String>,
    pub path: String,
}

fn default_transfers() -> usize {
    4
}

/// The arguments of a transfer job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    pub mode: Mode,
    pub src: Location,
    pub dst: Location,
    #[serde(default)]
    pub compare: Compare,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub filter: FilterSpec,
    #[serde(default = "default_transfers")]
    pub transfers: usize,
    #[serde(default)]
    pub copy_links: bool,
    #[serde(default)]
    pub max_delete: Option<MaxDelete>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub backup_dir: Option<Location>,
}

/// What sync may delete without `--force`: half the destination's files.
pub const DEFAULT_MAX_DELETE: MaxDelete = MaxDelete::Percent(50);

impl Transfer {
    pub fn from_args(args: &serde_json::Value) -> Result<Self, JobError> {
        let t: Self = serde_json::from_value(args.clone()).map_err(|e| JobError::BadArgs {
            kind: "transfer",
            why: e.to_string(),
        })?;
        Filter::new(&t.filter).map_err(|e| JobError::BadArgs {
            kind: t.mode.as_str(),
            why: e.to_string(),
        })?;
        Ok(t)
    }
}

pub(crate) fn tree(vfses: &Vfses, at: &Location) -> Result<Tree, JobError> {
    match &at.vfs {
        Some(name) => {
            let files = vfses.get(name).ok_or_else(|| JobError::BadArgs {
                kind: "transfer",
                why: format!("no such place here: '{name}'"),
            })?;
            Ok(Tree::Vfs {
                files,
                root: at.path.trim_matches('/').to_string(),
            })
        }
        None => Ok(Tree::Local {
            root: at.path.clone().into(),
        }),
    }
}

fn failed(what: &str, e: std::io::Error) -> JobError {
    JobError::Failed(format!("{what}: {e}"))
}

/// Counts shared by the steps in flight.
#[derive(Default)]
struct Tally {
    done: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    total_files: u64,
    total_bytes: u64,
}

/// The job while it runs.
struct Run<'a> {
    t: &'a Transfer,
    src: Tree,
    dst: Tree,
    backup: Option<Tree>,
    events: &'a Events,
    cancel: &'a CancellationToken,
    tally: Tally,
    /// Failure lines for the summary text.
    failures: std::sync::Mutex<Vec<String>>,
}

impl Run<'_> {
    fn record(&self, path: &str, action: Action, detail: impl Into<String>, bytes: u64) {
        let counter = match action {
            Action::Completed => &self.tally.done,
            Action::Skipped => &self.tally.skipped,
            Action::Failed => &self.tally.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let detail = detail.into();
        if action == Action::Failed {
            ourclone_remote::sync::lock(&self.failures).push(format!("{path}: {detail}"));
        }
        self.events
            .send(Event::Record(TaskRecord::new(path, action, detail, bytes)));
        self.progress();
    }

    fn progress(&self) {
        let t = &self.tally;
        self.events.send(Event::Progress {
            files: t.done.load(Ordering::Relaxed)
                + t.skipped.load(Ordering::Relaxed)
                + t.failed.load(Ordering::Relaxed),
            bytes: t.bytes.load(Ordering::Relaxed),
            total_files: Some(t.total_files),
            total_bytes: Some(t.total_bytes),
        });
    }

    /// Copies one file or link; returns what to confirm afterwards.
    async fn transfer(&self, step: &Step, item: &Item) -> std::io::Result<Option<Landed>> {
        let rel = step.path.as_str();
        if step.step == StepKind::Link {
            let target = self.src.read_link(rel).await?;
            if step.why != "new link" {
                self.set_aside(rel).await?;
            }
            self.dst.symlink(rel, &target).await?;
            return Ok(Some(Landed::Local));
        }
        if step.step == StepKind::Update {
            self.set_aside(rel).await?;
        }
        if self.src.same_vfs(&self.dst) {
            if self.t.mode == Mode::Move {
                if let (Tree::Vfs { files, root: s }, Tree::Vfs { root: d, .. }) =
                    (&self.src, &self.dst)
                {
                    let (from, to) = (join(s, rel), join(d, rel));
                    files.rename(&from, &to).await.map_err(vfs_io)?;
                    return Ok(Some(Landed::Local));
                }
            }
            if self.src.copy_on_remote(rel, &self.dst, rel).await? {
                self.tally.bytes.fetch_add(item.size, Ordering::Relaxed);
                return Ok(Some(Landed::Local));
            }
        }
        if let Some(copied) = self
            .src
            .copy_local(rel, &self.dst, (item.mtime, item.mode))
            .await
        {
            let n = copied?;
            self.tally.bytes.fetch_add(n, Ordering::Relaxed);
            return self.check_size(n, item).map(|()| Some(Landed::Local));
        }
        let mut reader = self.src.open(rel).await?;
        let count = |n: u64| {
            self.tally.bytes.fetch_add(n, Ordering::Relaxed);
        };
        let (landed, n) = self
            .dst
            .write(rel, &mut reader, (item.size, item.mtime, item.mode), &count)
            .await?;
        self.check_size(n, item)?;
        self.progress();
        Ok(Some(landed))
    }

    /// A file that changed size while it was copied is a failure, never a torn copy passed as
    /// done.
    fn check_size(&self, n: u64, item: &Item) -> std::io::Result<()> {
        if n != item.size {
            return Err(std::io::Error::other(format!(
                "read {n} bytes where the source listed {} (changed while copied?)",
                item.size
            )));
        }
        Ok(())
    }

    /// With `--backup-dir`, moves what `rel` replaces or deletes there first.
    async fn set_aside(&self, rel: &str) -> std::io::Result<()> {
        let Some(backup) = &self.backup else {
            return Ok(());
        };
        if self.dst.stat(rel).await?.is_none() {
            return Ok(());
        }
        self.dst.move_into(rel, backup, rel).await
    }

    /// After a confirmed copy of a move: checks the copy, then removes the source.
    async fn finish_move(&self, step: &Step, item: &Item) -> std::io::Result<()> {
        if step.kind == Some(ItemKind::File) {
            let copy = self.dst.stat(&step.path).await?;
            if copy.as_ref().map(|c| c.size) != Some(item.size) {
                return Err(std::io::Error::other(
                    "the copy does not match the source; the source is kept",
                ));
            }
        }
        self.src
            .remove(&step.path, step.kind.unwrap_or(ItemKind::File))
            .await
    }
}

fn join(root: &str, rel: &str) -> String {
    match root {
        "" => rel.to_string(),
        r => format!("{r}/{rel}"),
    }
}

fn vfs_io(e: ourclone_vfs::VfsError) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.errno())
}

#[async_trait::async_trait]
impl Job for Transfer {
    fn kind(&self) -> &'static str {
        self.mode.as_str()
    }

    async fn run(
        &self,
        vfses: &Vfses,
        events: &Events,
        cancel: &CancellationToken,
    ) -> Result<Outcome, JobError> {
        let mut src = tree(vfses, &self.src)?;
        let dst = tree(vfses, &self.dst)?;
        let backup = self
            .backup_dir
            .as_ref()
            .map(|b| tree(vfses, b))
            .transpose()?;
        let filter = Filter::new(&self.filter).map_err(|e| JobError::Failed(e.to_string()))?;
        let mut only = None;
        match src.root_kind().await.map_err(|e| failed("source", e))? {
            None => {
                return Err(JobError::Failed(format!(
                    "source {} not found",
                    src.label()
                )))
            }
            Some(ItemKind::Dir) => {}
            Some(_) => (src, only) = single_file(src),
        }
        let (s, d) = tokio::join!(src.list(self.copy_links), dst.list(false));
        let mut s = s.map_err(|e| failed("listing the source", e))?;
        if let Some(name) = &only {
            s.retain(|k, _| k == name);
        }
        let d = d.map_err(|e| failed("listing the destination", e))?;
        let delete = matches!(self.mode, Mode::Sync | Mode::Check);
        let plan = plan::plan((&src, &s), (&dst, &d), &filter, self.compare, delete)
            .await
            .map_err(|e| failed("comparing", e))?;
        let run = Run {
            t: self,
            src,
            dst,
            backup,
            events,
            cancel,
            tally: Tally {
                total_files: plan.src_files,
                total_bytes: plan
                    .steps
                    .iter()
                    .filter(|s| s.step != StepKind::Delete)
                    .map(|s| s.bytes)
                    .sum(),
                ..Tally::default()
            },
            failures: Default::default(),
        };
        if self.mode == Mode::Check {
            return Ok(check_outcome(&run, &plan));
        }
        for step in plan.steps.iter().filter(|s| s.step != StepKind::Skip) {
            events.send(Event::Planned(step.clone()));
        }
        if delete {
            guard_sync(self, &plan)?;
        }
        if self.dry_run {
            return Ok(dry_run_outcome(self, &plan));
        }
        execute(&run, &plan, &s).await?;
        Ok(outcome(&run, &plan))
    }
}

/// A single-file source: its folder as the side, and its name as the only path.
fn single_file(src: Tree) -> (Tree, Option<String>) {
    match src {
        Tree::Vfs { files, root } => {
            let (dir, name) = root.rsplit_once('/').unwrap_or(("", root.as_str()));
            let (dir, name) = (dir.to_string(), name.to_string());
            (Tree::Vfs { files, root: dir }, Some(name))
        }
        Tree::Local { root } => {
            let name = root.file_name().map(|n| n.to_string_lossy().into_owned());
            let dir = root
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or(root.clone());
            (Tree::Local { root: dir }, name)
        }
    }
}

/// Sync's guards: an empty source, or more deletions than allowed, stop it before anything
/// changes (unless `--force`).
fn guard_sync(t: &Transfer, plan: &plan::Plan) -> Result<(), JobError> {
    if t.force {
        return Ok(());
    }
    if plan.src_files == 0 && plan.dst_files > 0 {
        return Err(JobError::Failed(
            "the source is empty: refusing to delete every file of the destination (--force to do it)"
                .into(),
        ));
    }
    let deletions = plan
        .steps
        .iter()
        .filter(|s| s.step == StepKind::Delete && s.kind != Some(ItemKind::Dir))
        .count() as u64;
    let max = t.max_delete.unwrap_or(DEFAULT_MAX_DELETE);
    if !max.allows(deletions, plan.dst_files) {
        return Err(JobError::Failed(format!(
            "sync would delete {deletions} of the destination's {} files, more than --max-delete {max} allows (--force to do it)",
            plan.dst_files
        )));
    }
    Ok(())
}

/// Carries the plan out: folders, then files `transfers` at a time, then confirmation on the
/// remote (and, for move, removal of each confirmed source), then sync's deletions.
async fn execute(
    run: &Run<'_>,
    plan: &plan::Plan,
    listing: &std::collections::BTreeMap<String, Item>,
) -> Result<(), JobError> {
    if let Err(e) = run.dst.mkdir_all("").await {
        return Err(failed(&format!("making {}", run.dst.label()), e));
    }
    for step in plan.steps.iter().filter(|s| s.step == StepKind::Mkdir) {
        if let Err(e) = run.dst.mkdir_all(&step.path).await {
            return Err(failed(&format!("making folder {}", step.path), e));
        }
    }
    let todo: Vec<Step> = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.step,
                StepKind::Copy | StepKind::Update | StepKind::Link | StepKind::Skip
            )
        })
        .cloned()
        .collect();
    let landed: Vec<(Step, Option<Landed>)> = futures_util::stream::iter(todo)
        .map(|step: Step| async move {
            if run.cancel.is_cancelled() {
                return (step, None);
            }
            let item = &listing[&step.path];
            if step.step == StepKind::Skip {
                if run.t.mode != Mode::Move {
                    run.record(&step.path, Action::Skipped, step.why.clone(), 0);
                    return (step, None);
                }
                // Already at the destination: a move still takes the source away.
                return (step, Some(Landed::Local));
            }
            match run.transfer(&step, item).await {
                Ok(Some(l)) => (step, Some(l)),
                Ok(None) => {
                    run.record(&step.path, Action::Skipped, "unchanged", 0);
                    (step, None)
                }
                Err(e) => {
                    run.record(&step.path, Action::Failed, e.to_string(), 0);
                    (step, None)
                }
            }
        })
        .buffer_unordered(run.t.transfers.max(1))
        .collect()
        .await;
    if run.cancel.is_cancelled() {
        return Err(JobError::Cancelled);
    }
    confirm_all(run, listing, landed).await;
    if run.cancel.is_cancelled() {
        return Err(JobError::Cancelled);
    }
    if run.tally.failed.load(Ordering::Relaxed) == 0 {
        delete_extraneous(run, plan).await;
    }
    Ok(())
}

/// Waits for every written file to be on the remote (many at once, so uploads group), then
/// records it; a move removes each confirmed source.
async fn confirm_all(
    run: &Run<'_>,
    listing: &std::collections::BTreeMap<String, Item>,
    landed: Vec<(Step, Option<Landed>)>,
) {
    futures_util::stream::iter(landed.into_iter().filter_map(|(s, l)| Some((s, l?))))
        .for_each_concurrent(4096, |(step, landed): (Step, Landed)| async move {
            let item = &listing[&step.path];
            let result = match run.dst.confirm(landed).await {
                Ok(()) if run.t.mode == Mode::Move => run.finish_move(&step, item).await,
                other => other,
            };
            let what = match (step.step, run.t.mode) {
                (StepKind::Skip, _) => "already there, source removed",
                (_, Mode::Move) => "moved",
                (StepKind::Update, _) => "updated",
                (StepKind::Link, _) => "link copied",
                _ => "copied",
            };
            match result {
                Ok(()) => run.record(&step.path, Action::Completed, what, step.bytes),
                Err(e) => run.record(&step.path, Action::Failed, e.to_string(), 0),
            }
        })
        .await;
}

/// Sync's deletions, each recorded; folders after their content.
async fn delete_extraneous(run: &Run<'_>, plan: &plan::Plan) {
    for step in plan.steps.iter().filter(|s| s.step == StepKind::Delete) {
        let kind = step.kind.unwrap_or(ItemKind::File);
        let result = match (&run.backup, kind) {
            (Some(_), ItemKind::Dir) => continue,
            (Some(_), _) => run.set_aside(&step.path).await,
            (None, _) => run.dst.remove(&step.path, kind).await,
        };
        let what = if run.backup.is_some() {
            "moved to the backup folder"
        } else {
            "deleted"
        };
        match result {
            Ok(()) => run.record(&step.path, Action::Completed, what, 0),
            Err(e) => run.record(&step.path, Action::Failed, format!("delete: {e}"), 0),
        }
    }
}

fn outcome(run: &Run<'_>, plan: &plan::Plan) -> Outcome {
    let t = &run.tally;
    let (done, skipped, failed) = (
        t.done.load(Ordering::Relaxed),
        t.skipped.load(Ordering::Relaxed),
        t.failed.load(Ordering::Relaxed),
    );
    let deleted = plan
        .steps
        .iter()
        .filter(|s| s.step == StepKind::Delete)
        .count();
    let mut text = format!(
        "{}: {done} done, {skipped} skipped, {failed} failed, {} bytes",
        run.t.mode.as_str(),
        t.bytes.load(Ordering::Relaxed)
    );
    if failed > 0 {
        if deleted > 0 && run.t.mode == Mode::Sync {
            text.push_str(&format!(
                "; {deleted} deletions not made because of the failures"
            ));
        }
        for line in ourclone_remote::sync::lock(&run.failures).iter() {
            text.push_str(&format!("\n  failed: {line}"));
        }
    }
    Outcome {
        exit_code: if failed > 0 { 3 } else { 0 },
        summary: serde_json::json!({
            "kind": run.t.mode.as_str(),
            "completed": done,
            "skipped": skipped,
            "failed": failed,
            "bytes": t.bytes.load(Ordering::Relaxed),
        }),
        text,
    }
}

fn dry_run_outcome(t: &Transfer, plan: &plan::Plan) -> Outcome {
    let count = |k: StepKind| plan.steps.iter().filter(|s| s.step == k).count();
    let mut text = String::new();
    for s in plan.steps.iter().filter(|s| s.step != StepKind::Skip) {
        text.push_str(&format!(
            "{:<7} {}  ({})\n",
            format!("{:?}", s.step).to_lowercase(),
            s.path,
            s.why
        ));
    }
    text.push_str(&format!(
        "{} --dry-run: would copy {}, update {}, delete {}, skip {}; nothing changed",
        t.mode.as_str(),
        count(StepKind::Copy) + count(StepKind::Link),
        count(StepKind::Update),
        count(StepKind::Delete),
        count(StepKind::Skip)
    ));
    Outcome {
        exit_code: 0,
        summary: serde_json::json!({
            "kind": t.mode.as_str(),
            "dry_run": true,
            "copy": count(StepKind::Copy) + count(StepKind::Link),
            "mkdir": count(StepKind::Mkdir),
            "update": count(StepKind::Update),
            "delete": count(StepKind::Delete),
            "skip": count(StepKind::Skip),
        }),
        text,
    }
}

/// check: every difference is a failed record; identical files are skipped ones.
fn check_outcome(run: &Run<'_>, plan: &plan::Plan) -> Outcome {
    let mut lines = Vec::new();
    for s in &plan.steps {
        let why = match s.step {
            StepKind::Skip => {
                run.record(&s.path, Action::Skipped, "identical", s.bytes);
                continue;
            }
            StepKind::Mkdir | StepKind::Delete if s.kind == Some(ItemKind::Dir) => continue,
            StepKind::Copy | StepKind::Mkdir => "missing on the destination".to_string(),
            StepKind::Link if s.why == "new link" => "missing on the destination".to_string(),
            StepKind::Link => s.why.clone(),
            StepKind::Update => s.why.clone(),
            StepKind::Delete => "only on the destination".to_string(),
        };
        run.record(&s.path, Action::Failed, why.clone(), 0);
        lines.push(format!("{why}: {}", s.path));
    }
    let same = run.tally.skipped.load(Ordering::Relaxed);
    let mut text = format!("check: {same} identical, {} differences", lines.len());
    for l in &lines {
        text.push_str(&format!("\n  {l}"));
    }
    Outcome {
        exit_code: if lines.is_empty() { 0 } else { 3 },
        summary: serde_json::json!({
            "kind": "check",
            "identical": same,
            "differences": lines.len(),
        }),
        text,
    }
}
