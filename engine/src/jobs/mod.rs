//! The jobs there are, by kind: turns a [`JobSpec`] into a [`Job`]. Owns the list of kinds;
//! each job lives in its own module.

mod backup;
mod du;

pub use backup::{job_error, Backup, RepoAt, Restore, DAMAGED_EXIT, WRONG_PASSWORD_EXIT};
pub use du::{Du, DuTotals};

use crate::job::{Job, JobError, JobSpec};
use crate::transfer::Transfer;

/// The job `spec` names, with its arguments checked.
pub fn build(spec: &JobSpec) -> Result<Box<dyn Job>, JobError> {
    match spec.kind.as_str() {
        "du" => Ok(Box::new(Du::from_args(&spec.args)?)),
        "copy" | "move" | "sync" | "check" => {
            let t = Transfer::from_args(&spec.args)?;
            if t.mode.as_str() != spec.kind {
                return Err(JobError::BadArgs {
                    kind: "transfer",
                    why: format!("mode {} in a {} job", t.mode.as_str(), spec.kind),
                });
            }
            Ok(Box::new(t))
        }
        "backup" => Ok(Box::new(Backup::from_args(&spec.args)?)),
        "restore" => Ok(Box::new(Restore::from_args(&spec.args)?)),
        other => Err(JobError::UnknownKind(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_and_bad_arguments_are_refused_before_running() {
        let spec = |kind: &str, args| JobSpec {
            kind: kind.into(),
            args,
        };
        let e = build(&spec("defrag", serde_json::Value::Null))
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "unknown job kind 'defrag'");
        let e = build(&spec("du", serde_json::json!({"path": 3})))
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("bad arguments for du:"), "{e}");
        assert_eq!(
            build(&spec("du", serde_json::json!({"path": "a/b"})))
                .unwrap()
                .kind(),
            "du"
        );
        assert_eq!(
            build(&spec("du", serde_json::Value::Null)).unwrap().kind(),
            "du"
        );
    }
}
