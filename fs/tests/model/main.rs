//! Reference-model tests: random sequences of operations — create, write at offsets, truncate,
//! rename (also over an existing object), unlink, mkdir, rmdir, fsync, drain, remount,
//! crash-and-recover, a cache accident (a synced file's local copy deleted or halved behind the
//! daemon's back) and a write on a full cache disk — run against the `Vfs` (in-process, over a
//! `LocalRemote`, its cache on a tmpfs of its own) and against a plain in-memory model (paths →
//! contents or folders). After every step the two must agree: the errno of a failing operation,
//! and the whole tree (listings, lookup/getattr/readdir sizes, file contents). After `drain` the
//! remote folder must hold exactly the model's files; after a clean remount or a crash the tree
//! must equal the model.
//!
//! Durability contract modelled: every operation that returned survives a crash of the process
//! (the intent log and the data files are in the page cache). A crash is simulated as SIGKILL
//! leaves the disk: the state folder is copied while the Vfs is live, the old Vfs is dropped, and
//! the Vfs is mounted again on the copy. A cache accident must change nothing the user sees. A
//! write on a full disk may be refused (ENOSPC) or kept in part: the model then takes whichever
//! of "as before" or "a prefix of the data written" the Vfs shows (anything else fails), and
//! every later step holds the Vfs to it. Errnos are Linux's, checked against the Vfs itself
//! (the kernel answers some of them before asking FUSE; a future non-Linux adapter would not).
//!
//! The `regression_*` tests (regressions.rs) replay sequences that once failed. CI runs `MODEL_CASES` cases (default 64) of at most
//! `MODEL_OPS` operations (default 40), in seconds; for more:
//! `MODEL_CASES=2000 cargo test -p ourclone-vfs --test model` (about a minute).
//! A failure prints the operations as run, ready to paste into a regression test.

#[path = "../common/mod.rs"]
mod common;
mod driver;
mod generators;
mod model;
mod ops;
mod regressions;
mod world;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ourclone_cache::{Kind, ROOT_INO};
use ourclone_remote::local::LocalRemote;
use ourclone_remote::{Counted, RemotePath};
use ourclone_vfs::{OpenMode, RenameFlags, SetAttr, Vfs, VfsConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

use driver::*;
use model::*;
use ops::*;
use world::*;
