//! `jobs` and `jobs show ID`: reads the task logs under the state folder and prints them (a
//! table, one job's records, or JSON). Owns that output; must not run jobs or write logs.

use std::path::Path;

use ourclone_engine::task_log::{self, TaskSummary};
use ourclone_engine::Action;

use crate::error::CliError;
use crate::job_cmd::task_dir;

/// Prints a line; a reader that went away (`| head`) ends the output quietly.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        if writeln!(std::io::stdout().lock(), $($t)*).is_err() {
            return Ok(());
        }
    }};
}

/// Jobs `jobs` lists.
const RECENT: usize = 20;

fn json_line(v: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string(v).map_err(|e| CliError::Other(e.into()))?;
    say!("{text}");
    Ok(())
}

/// `src → dst` of a transfer's arguments, else its arguments as given.
fn what(s: &TaskSummary) -> String {
    let side = |k: &str| {
        let l = &s.args[k];
        match l["vfs"].as_str() {
            Some(v) if !v.is_empty() => format!("{v}:{}", l["path"].as_str().unwrap_or("")),
            Some(_) => format!("(mount)/{}", l["path"].as_str().unwrap_or("")),
            None => l["path"].as_str().unwrap_or("").to_string(),
        }
    };
    let text = |k: &str| s.args[k].as_str().unwrap_or("").to_string();
    if s.args.get("src").is_some() {
        format!("{} → {}", side("src"), side("dst"))
    } else if s.kind == "backup" {
        let paths: Vec<String> = s.args["paths"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        format!("{} → {}", paths.join(" "), side("repo"))
    } else if s.kind == "restore" {
        format!("{} {} → {}", side("repo"), text("snapshot"), text("target"))
    } else {
        s.args.to_string()
    }
}

fn duration(s: &TaskSummary) -> String {
    match s.ended_at {
        Some(end) => format!("{}s", end.saturating_sub(s.started_at)),
        None => "-".into(),
    }
}

/// `ourclone-fs jobs`: the recent jobs, oldest first.
pub fn list(json: bool, cache_dir: &Path) -> Result<(), CliError> {
    let jobs = task_log::list(&task_dir(cache_dir), RECENT);
    if json {
        return json_line(&jobs);
    }
    if jobs.is_empty() {
        say!("no jobs yet");
    }
    for j in jobs {
        say!(
            "{:>4}  {:<6} {:<11} {:>6} done {:>5} skipped {:>5} failed  {:>6}  {}",
            j.id,
            j.kind,
            j.state,
            j.completed,
            j.skipped,
            j.failed,
            duration(&j),
            what(&j)
        );
    }
    Ok(())
}

/// `ourclone-fs jobs show ID [--failed]`.
pub fn show(id: u64, failed_only: bool, json: bool, cache_dir: &Path) -> Result<(), CliError> {
    let (summary, records) =
        task_log::read(&task_dir(cache_dir), id).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                CliError::Usage(format!("no job {id} (see `ourclone-fs jobs`)"))
            }
            _ => CliError::Other(anyhow::anyhow!(
                "task log of job {id}: {}",
                crate::error::io_reason(&e)
            )),
        })?;
    let records: Vec<_> = records
        .into_iter()
        .filter(|r| !failed_only || r.action == Action::Failed)
        .collect();
    if json {
        return json_line(&serde_json::json!({ "job": summary, "records": records }));
    }
    say!(
        "job {} {} {} ({}): {} done, {} skipped, {} failed, {} bytes, {}",
        summary.id,
        summary.kind,
        what(&summary),
        summary.state,
        summary.completed,
        summary.skipped,
        summary.failed,
        summary.bytes,
        duration(&summary)
    );
    for r in records {
        let action = format!("{:?}", r.action).to_lowercase();
        say!("{action:<9} {}  ({})", r.path, r.detail);
    }
    if !summary.text.is_empty() {
        say!("{}", summary.text.lines().next().unwrap_or(""));
    }
    Ok(())
}
