//! The jobs there are, by kind: turns a [`JobSpec`] into a [`Job`]. Owns the list of kinds;
//! each job lives in its own module.

mod du;

pub use du::{Du, DuTotals};

use crate::job::{Job, JobError, JobSpec};

/// The job `spec` names, with its arguments checked.
pub fn build(spec: &JobSpec) -> Result<Box<dyn Job>, JobError> {
    match spec.kind.as_str() {
        "du" => Ok(Box::new(Du::from_args(&spec.args)?)),
        other => Err(JobError::UnknownKind(other.to_string())),
    }
}
