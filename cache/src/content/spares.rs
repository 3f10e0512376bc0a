//! `Spares`: empty files made ahead of time in a folder inside the data files' own, so that giving a new file
//! its data file on the request path is a link rather than an inode allocation. Allocation is
//! the dearest step of a create: ext4 without a journal scans past every inode freed in the
//! last minutes (`recently_deleted`), which after a few thousand deletions costs more than the
//! rest of the create. Owns the `data/spare/` folder and the thread that fills it; must not know
//! which inode a spare becomes.
//!
//! A spare is a fresh inode that was never anything else's: nobody can hold it open, so handing
//! it out cannot show one file's content through another's descriptor.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use ourclone_remote::sync::lock;

/// The filler tops the folder up to this many spares...
const HIGH: usize = 256;
/// ...whenever fewer than this many are left.
const LOW: usize = 192;

pub(crate) struct Spares {
    dir: PathBuf,
    state: Mutex<State>,
    wanted: Condvar,
}

#[derive(Default)]
struct State {
    files: Vec<PathBuf>,
    /// Names of spares handed out, still linked to their data files: the filler unlinks them
    /// (on the request path it would wait for the folder's lock, which the filler holds while
    /// it allocates).
    handed_out: Vec<PathBuf>,
    next: u64,
    filling: bool,
}

impl Spares {
    /// Opens the spare folder `dir` (creating it if absent). Spares an earlier mount left are
    /// deleted, not reused: one whose unlink failed after its link would be a data file too.
    pub(crate) fn open(dir: &Path) -> io::Result<Arc<Self>> {
        fs::create_dir_all(dir)?;
        for e in fs::read_dir(dir)? {
            let _ = fs::remove_file(e?.path());
        }
        Ok(Arc::new(Self {
            dir: dir.to_path_buf(),
            state: Mutex::new(State::default()),
            wanted: Condvar::new(),
        }))
    }

    /// Links a spare at `path` (which must not exist: an existing file is never replaced).
    /// `Ok(false)` when none is left; the caller creates the file itself.
    pub(crate) fn place(self: &Arc<Self>, path: &Path) -> io::Result<bool> {
        let spare = lock(&self.state).files.pop();
        let Some(spare) = spare else {
            self.want();
            return Ok(false);
        };
        let linked = fs::hard_link(&spare, path);
        lock(&self.state).handed_out.push(spare);
        self.want();
        linked.map(|()| true)
    }

    /// Wakes the filler, starting it if it is not running.
    fn want(self: &Arc<Self>) {
        let mut st = lock(&self.state);
        match st.filling {
            true => self.wanted.notify_one(),
            false => {
                st.filling = true;
                drop(st);
                self.start_filler();
            }
        }
    }

    fn start_filler(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        let started = std::thread::Builder::new()
            .name("ourclone-spares".into())
            .spawn(move || fill(me));
        if let Err(e) = started {
            tracing::debug!("cannot start the spare data file filler: {e}");
            lock(&self.state).filling = false;
        }
    }

    fn make_one(&self) -> io::Result<()> {
        let n = {
            let mut st = lock(&self.state);
            st.next += 1;
            st.next - 1
        };
        let path = self.dir.join(n.to_string());
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        lock(&self.state).files.push(path);
        Ok(())
    }
}

/// Unlinks the names of spares handed out, tops the folder up to [`HIGH`], then waits to be
/// needed again; ends when idle for a while, or with the store.
fn fill(spares: Weak<Spares>) {
    loop {
        let Some(me) = spares.upgrade() else { return };
        me.unlink_handed_out();
        while lock(&me.state).files.len() < HIGH {
            if let Err(e) = me.make_one() {
                // A full disk or the folder gone: data files are created on demand instead.
                tracing::debug!("cannot make a spare data file: {e}");
                break;
            }
        }
        let idle = |st: &mut State| st.files.len() >= LOW && st.handed_out.is_empty();
        let st = lock(&me.state);
        let (mut st, _) = me
            .wanted
            .wait_timeout_while(st, Duration::from_secs(5), idle)
            .unwrap_or_else(|e| e.into_inner());
        if idle(&mut st) {
            // Not needed for a while: end the thread (the next `place` starts another).
            st.filling = false;
            return;
        }
    }
}

impl Spares {
    /// A handed-out name keeps its data file's inode (and space) alive until unlinked.
    fn unlink_handed_out(&self) {
        let names = std::mem::take(&mut lock(&self.state).handed_out);
        for name in names {
            // Left behind, it is deleted at the next open (see there).
            let _ = fs::remove_file(name);
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.unlink_handed_out();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_placed_spare_is_an_empty_new_file_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::open(&dir.path().join("spare")).unwrap();
        let first = dir.path().join("a");
        // Nothing made yet: the caller creates the file itself, and the filler starts.
        assert!(!spares.place(&first).unwrap());
        for _ in 0..500 {
            if lock(&spares.state).files.len() >= LOW {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(spares.place(&first).unwrap());
        assert_eq!(fs::metadata(&first).unwrap().len(), 0);
        // The spare's own name goes soon: it would keep the data file's space once deleted.
        let alone = || {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(&first).unwrap().nlink() == 1
        };
        for _ in 0..500 {
            if alone() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(alone(), "the spare's name still links the data file");
        fs::write(&first, b"user data").unwrap();
        let err = spares.place(&first).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&first).unwrap(), b"user data");
    }

    #[test]
    fn leftovers_are_deleted_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let spare_dir = dir.path().join("spare");
        fs::create_dir(&spare_dir).unwrap();
        let data = dir.path().join("data-file");
        fs::write(&data, b"user data").unwrap();
        // An earlier mount linked this spare and could not unlink it.
        fs::hard_link(&data, spare_dir.join("7")).unwrap();
        let spares = Spares::open(&spare_dir).unwrap();
        assert!(lock(&spares.state).files.is_empty());
        assert_eq!(fs::read_dir(&spare_dir).unwrap().count(), 0);
        assert_eq!(fs::read(&data).unwrap(), b"user data");
    }
}
