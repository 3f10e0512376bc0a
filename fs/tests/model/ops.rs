//! The operations the model tests run, and how a path is picked for them.

use super::*;

/// A path of the mount, as names from the root.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct P(pub(crate) Vec<String>);

impl fmt::Debug for P {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p({:?})", self.0.join("/"))
    }
}

pub(crate) fn p(s: &str) -> P {
    P(s.split('/').map(str::to_string).collect())
}

pub(crate) fn d(s: &str) -> Data {
    Data(s.as_bytes().to_vec())
}

/// Bytes shown as text in failure reports.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Data(pub(crate) Vec<u8>);

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [b, rest @ ..] if rest.len() >= 64 && rest.iter().all(|c| c == b) => {
                write!(f, "Data(vec![b'{}'; {}])", *b as char, self.0.len())
            }
            _ => write!(f, "d({:?})", String::from_utf8_lossy(&self.0)),
        }
    }
}

#[derive(Clone)]
pub(crate) enum Op<T = P> {
    /// create (O_CREAT|O_EXCL), write `data` at 0 if any, close.
    Create(T, Data),
    /// open for writing, write `data` at `off`, close.
    Write(T, u64, Data),
    /// truncate(2) to `size`.
    Truncate(T, u64),
    /// rename(2); the flag is RENAME_NOREPLACE.
    Rename(T, T, bool),
    Unlink(T),
    Mkdir(T),
    Rmdir(T),
    /// open, fsync, close for a file; fsync of a folder for a folder.
    Fsync(T),
    /// open for reading, read `len` bytes at `off`, close.
    Read(T, u64, u32),
    /// Upload everything.
    Drain,
    /// Clean unmount (sync_all) and mount again.
    Remount,
    /// Process killed and mounted again: everything that returned must still be there.
    Crash,
    /// A cache accident: the local copy of a file that is synced (nothing pending) is deleted
    /// (`false`) or cut to half its length (`true`) behind the daemon's back. Nothing the
    /// user sees may change.
    LoseCache(T, bool),
    /// Write `data` at `off` (open, write, close) while the cache's disk is full. The Vfs may
    /// take all of it, a prefix, or refuse with ENOSPC; what it kept must then hold everywhere
    /// (reads, the remote after a drain, remounts and crashes).
    Full(T, u64, Data),
}

impl<T> Op<T> {
    pub(crate) fn map<U>(&self, mut f: impl FnMut(&T) -> U) -> Op<U> {
        match self {
            Create(a, d) => Create(f(a), d.clone()),
            Write(a, o, d) => Write(f(a), *o, d.clone()),
            Truncate(a, n) => Truncate(f(a), *n),
            Rename(a, b, n) => {
                let a = f(a);
                Rename(a, f(b), *n)
            }
            Unlink(a) => Unlink(f(a)),
            Mkdir(a) => Mkdir(f(a)),
            Rmdir(a) => Rmdir(f(a)),
            Fsync(a) => Fsync(f(a)),
            Read(a, o, n) => Read(f(a), *o, *n),
            Drain => Drain,
            Remount => Remount,
            Crash => Crash,
            LoseCache(a, t) => LoseCache(f(a), *t),
            Full(a, o, d) => Full(f(a), *o, d.clone()),
        }
    }
}

/// As Rust source, to paste into a regression test.
impl<T: fmt::Debug> fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Create(a, d) => write!(f, "Create({a:?}, {d:?})"),
            Write(a, o, d) => write!(f, "Write({a:?}, {o}, {d:?})"),
            Truncate(a, n) => write!(f, "Truncate({a:?}, {n})"),
            Rename(a, b, n) => write!(f, "Rename({a:?}, {b:?}, {n})"),
            Unlink(a) => write!(f, "Unlink({a:?})"),
            Mkdir(a) => write!(f, "Mkdir({a:?})"),
            Rmdir(a) => write!(f, "Rmdir({a:?})"),
            Fsync(a) => write!(f, "Fsync({a:?})"),
            Read(a, o, n) => write!(f, "Read({a:?}, {o}, {n})"),
            Drain => write!(f, "Drain"),
            Remount => write!(f, "Remount"),
            Crash => write!(f, "Crash"),
            LoseCache(a, t) => write!(f, "LoseCache({a:?}, {t})"),
            Full(a, o, d) => write!(f, "Full({a:?}, {o}, {d:?})"),
        }
    }
}

/// A path as generated: a fixed one, or the n-th object that exists when the step runs (so
/// that most operations find something to act on).
#[derive(Clone)]
pub(crate) enum Pick {
    Fixed(P),
    Existing(usize),
}

impl fmt::Debug for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pick::Fixed(p) => write!(f, "{p:?}"),
            Pick::Existing(n) => write!(f, "existing({n})"),
        }
    }
}

impl Pick {
    pub(crate) fn path(&self, model: &Model) -> P {
        match self {
            Pick::Fixed(p) => p.clone(),
            Pick::Existing(_) if model.tree.is_empty() => p("a"),
            Pick::Existing(n) => P(model.tree.keys().nth(n % model.tree.len()).unwrap().clone()),
        }
    }
}

pub(crate) use Op::*;
