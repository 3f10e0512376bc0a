//! Jobs that run over a Vfs: transfer (copy, move, sync, check), backup, and `du`. A job sees
//! only [`ourclone_vfs::Files`]; whether that Files belongs to a mount's daemon or to a Vfs the
//! command opened itself is the caller's business. It must never reach the kernel mount or a
//! provider directly.

pub mod backup;
pub mod job;
pub mod jobs;
pub mod task_log;
pub mod transfer;

pub use job::{
    Action, Event, Events, Job, JobError, JobSpec, Outcome, TaskRecord, Vfses, CANCELLED_EXIT,
};
