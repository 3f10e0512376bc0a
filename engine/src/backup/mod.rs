//! Encrypted, deduplicating, incremental backup into a repository (docs/REPOSITORY.md is the
//! contract): `crypto` (keys and sealing), `model` (what the repository holds), `chunker`,
//! `pack` (a pack's layout), `packer` (the threads that seal blobs and write packs), `store`
//! (where objects live: a folder of a transfer side, or memory), `repo` (an open repository),
//! `lock`, and the commands as plain functions: `take::backup`, `restore`, `check`, `browse`,
//! `forget`. Must not know the CLI or the job system (`jobs::backup` wraps them).

pub mod browse;
pub mod check;
pub mod chunker;
pub mod crypto;
pub mod forget;
pub mod lock;
pub mod model;
pub mod pack;
pub mod packer;
pub mod repo;
pub mod restore;
pub mod store;
pub mod take;

pub use repo::{Repo, RepoError};
pub use store::{MemStore, RepoStore, TreeStore};
