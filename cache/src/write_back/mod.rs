//! Getting local changes to the remote: paths and folders on the remote (`remote_tree`), the
//! Uploader that drains the journal, and what happens when the remote changed too (`conflict`).

pub(crate) mod conflict;
pub(crate) mod moves;
pub(crate) mod remote_tree;
pub(crate) mod uploader;
