//! The in-memory model: what the tree must look like after each operation, and which errno
//! a failing one must give.

use super::*;

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Obj {
    File(Vec<u8>),
    Dir,
}

impl fmt::Debug for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obj::File(d) if d.len() > 64 => write!(f, "File({} bytes)", d.len()),
            Obj::File(d) => write!(f, "File({:?})", Data(d.clone())),
            Obj::Dir => write!(f, "Dir"),
        }
    }
}

/// Every object but the root, by path.
pub(crate) type Tree = BTreeMap<Vec<String>, Obj>;

#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Model {
    pub(crate) tree: Tree,
}

impl Model {
    pub(crate) fn get(&self, path: &[String]) -> Option<&Obj> {
        if path.is_empty() {
            Some(&Obj::Dir)
        } else {
            self.tree.get(path)
        }
    }

    /// A path walk of everything but the last name.
    pub(crate) fn walk_parent(&self, path: &[String]) -> Result<(), i32> {
        for i in 1..path.len() {
            match self.get(&path[..i]) {
                None => return Err(libc::ENOENT),
                Some(Obj::File(_)) => return Err(libc::ENOTDIR),
                Some(Obj::Dir) => {}
            }
        }
        Ok(())
    }

    /// The object at `path`, after a path walk.
    pub(crate) fn resolve(&self, path: &[String]) -> Result<&Obj, i32> {
        self.walk_parent(path)?;
        self.get(path).ok_or(libc::ENOENT)
    }

    pub(crate) fn has_children(&self, dir: &[String]) -> bool {
        self.tree
            .keys()
            .any(|k| k.len() > dir.len() && k.starts_with(dir))
    }

    pub(crate) fn file_mut(&mut self, path: &[String]) -> Result<&mut Vec<u8>, i32> {
        match self.resolve(path)? {
            Obj::Dir => Err(libc::EISDIR),
            Obj::File(_) => match self.tree.get_mut(path) {
                Some(Obj::File(d)) => Ok(d),
                _ => unreachable!(),
            },
        }
    }

    /// Applies `op` as Linux would, returning its errno on failure (and then unchanged).
    pub(crate) fn apply(&mut self, op: &Op) -> Result<(), i32> {
        match op {
            Create(P(path), Data(data)) => {
                self.walk_parent(path)?;
                if self.get(path).is_some() {
                    return Err(libc::EEXIST);
                }
                self.tree.insert(path.clone(), Obj::File(data.clone()));
                Ok(())
            }
            Full(p, off, data) => self.apply(&Write(p.clone(), *off, data.clone())),
            Write(P(path), off, Data(data)) => {
                let f = self.file_mut(path)?;
                let end = *off as usize + data.len();
                if f.len() < end {
                    f.resize(end, 0);
                }
                f[*off as usize..end].copy_from_slice(data);
                Ok(())
            }
            Truncate(P(path), size) => {
                self.file_mut(path)?.resize(*size as usize, 0);
                Ok(())
            }
            Mkdir(P(path)) => {
                self.walk_parent(path)?;
                if self.get(path).is_some() {
                    return Err(libc::EEXIST);
                }
                self.tree.insert(path.clone(), Obj::Dir);
                Ok(())
            }
            Unlink(P(path)) => match self.resolve(path)? {
                Obj::Dir => Err(libc::EISDIR),
                Obj::File(_) => {
                    self.tree.remove(path);
                    Ok(())
                }
            },
            Rmdir(P(path)) => match self.resolve(path)? {
                Obj::File(_) => Err(libc::ENOTDIR),
                Obj::Dir if self.has_children(path) => Err(libc::ENOTEMPTY),
                Obj::Dir => {
                    self.tree.remove(path);
                    Ok(())
                }
            },
            Fsync(P(path)) => self.resolve(path).map(|_| ()),
            Read(P(path), ..) => match self.resolve(path)? {
                Obj::Dir => Err(libc::EISDIR),
                Obj::File(_) => Ok(()),
            },
            Rename(P(from), P(to), no_replace) => self.rename(from, to, *no_replace),
            Drain | Remount | Crash => Ok(()),
            LoseCache(P(path), _) => self.resolve(path).map(|_| ()),
        }
    }

    /// rename(2) in the order Linux checks: both parent walks, the source, RENAME_NOREPLACE,
    /// source an ancestor of the target (EINVAL), target an ancestor of the source (ENOTEMPTY),
    /// same object (nothing to do), kinds, and a non-empty target folder.
    pub(crate) fn rename(
        &mut self,
        from: &[String],
        to: &[String],
        no_replace: bool,
    ) -> Result<(), i32> {
        self.walk_parent(from)?;
        self.walk_parent(to)?;
        let src = self.get(from).ok_or(libc::ENOENT)?.clone();
        let dst = self.get(to).cloned();
        if no_replace && dst.is_some() {
            return Err(libc::EEXIST);
        }
        if from == to {
            return Ok(());
        }
        if to.starts_with(from) {
            return Err(libc::EINVAL);
        }
        if from.starts_with(to) {
            // The target is a non-empty folder, so POSIX also allows EISDIR for a file (Linux
            // answers ENOTEMPTY before looking at kinds; the kernel answers this one itself).
            return Err(match src {
                Obj::File(_) => ALSO_EISDIR,
                Obj::Dir => libc::ENOTEMPTY,
            });
        }
        match (&src, &dst) {
            (Obj::File(_), Some(Obj::Dir)) => return Err(libc::EISDIR),
            (Obj::Dir, Some(Obj::File(_))) => return Err(libc::ENOTDIR),
            (Obj::Dir, Some(Obj::Dir)) if self.has_children(to) => return Err(libc::ENOTEMPTY),
            _ => {}
        }
        self.tree.remove(to);
        let moved: Vec<Vec<String>> = self
            .tree
            .keys()
            .filter(|k| k.starts_with(from))
            .cloned()
            .collect();
        for k in moved {
            let obj = self.tree.remove(&k).unwrap();
            let mut nk = to.to_vec();
            nk.extend_from_slice(&k[from.len()..]);
            self.tree.insert(nk, obj);
        }
        Ok(())
    }

    /// What `Read` returns.
    pub(crate) fn read(&self, path: &[String], off: u64, len: u32) -> Vec<u8> {
        match self.get(path) {
            Some(Obj::File(d)) => {
                let start = (off as usize).min(d.len());
                let end = (start + len as usize).min(d.len());
                d[start..end].to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// The files as the remote folder should hold them, by path.
    pub(crate) fn files(&self) -> BTreeMap<String, Vec<u8>> {
        self.tree
            .iter()
            .filter_map(|(k, o)| match o {
                Obj::File(d) => Some((k.join("/"), d.clone())),
                Obj::Dir => None,
            })
            .collect()
    }
}

/// ENOTEMPTY, where EISDIR is as right (see [`Model::rename`]).
pub(crate) const ALSO_EISDIR: i32 = -libc::ENOTEMPTY;

/// Whether the Vfs's answer `got` is the model's `want`.
pub(crate) fn agrees(want: Result<(), i32>, got: Result<(), i32>) -> bool {
    match (want, got) {
        (Err(ALSO_EISDIR), Err(n)) => n == libc::ENOTEMPTY || n == libc::EISDIR,
        (w, g) => w == g,
    }
}
