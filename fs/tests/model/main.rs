//! Reference-model tests: random sequences of operations — create, write at offsets, truncate,
//! rename (also over an existing object), unlink, mkdir, rmdir, fsync, drain, remount and
//! crash-and-recover — run against the `Vfs` (in-process, over a `LocalRemote`) and against a
//! plain in-memory model (paths → contents or folders). After every step the two must agree:
//! the errno of a failing operation, and the whole tree (listings, lookup/getattr/readdir sizes,
//! file contents). After `drain` the remote folder must hold exactly the model's files; after a
//! clean remount the tree must equal the model; after a crash it must equal the model as it was
//! at some point no earlier than the last durability point.
//!
//! Durability contract modelled: a successful fsync, flush (close), fsyncdir or drain makes every
//! earlier change durable. Every write in the generator is acknowledged (write, flush, close), so
//! the model is exact. A crash is simulated as SIGKILL leaves the disk: the state folder is copied
//! while the Vfs is live (redb's non-durable commits are not in the file's durable header; dropping
//! the `Database` would instead make them durable on close), the old Vfs is dropped, and the Vfs
//! is mounted again on the copy.
//!
//! A crash may land on any state since the last durability point (the Vfs makes some other
//! operations durable too, such as those that change objects already on the remote), but on
//! nothing older and nothing that never was. Errnos are Linux's, checked against the Vfs itself
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
