//! [`VfsNfs`]: nfsserve's NFSv3 filesystem trait over the Vfs. NFS file ids are our inode
//! numbers (never reused, see the MetaStore); reads and writes go through [`OpenFiles`]. Every
//! WRITE is answered FILE_SYNC by nfsserve, so each one is made durable (fsync) before it
//! returns. Owns the mapping of NFS calls and errors; no filesystem logic.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use nfsserve::nfs::{
    fattr3, fileid3, filename3, ftype3, nfspath3, nfsstat3, nfstime3, sattr3, set_atime, set_gid3,
    set_mode3, set_mtime, set_size3, set_uid3, specdata3,
};
use nfsserve::vfs::{DirEntry, NFSFileSystem, ReadDirResult, VFSCapabilities};
use ourclone_cache::{Kind, ROOT_INO};
use ourclone_vfs::{Attr, OpenMode, Owner, SetAttr, Vfs, VfsError};

use super::handles::OpenFiles;

/// A Vfs as nfsserve's filesystem. Cheap to clone (the clones share handles).
#[derive(Clone)]
pub struct VfsNfs {
    vfs: Arc<Vfs>,
    owner: Owner,
    files: OpenFiles,
}

impl VfsNfs {
    /// Files created over NFS belong to `owner` (NFS's AUTH_SYS ids are not used).
    pub fn new(vfs: Arc<Vfs>, owner: Owner) -> Self {
        let files = OpenFiles::new(vfs.clone());
        Self { vfs, owner, files }
    }

    /// Releases the handles NFS calls left open for [`super::handles::IDLE`] (with `all`,
    /// every one).
    pub async fn close_idle(&self, all: bool) {
        self.files.close_idle(all).await;
    }

    async fn attr(&self, ino: fileid3) -> Result<fattr3, nfsstat3> {
        Ok(fattr(&self.vfs.getattr(ino).await.map_err(nfs_error)?))
    }
}

fn name_of(name: &filename3) -> Result<&str, nfsstat3> {
    std::str::from_utf8(&name.0).map_err(|_| nfsstat3::NFS3ERR_INVAL)
}

/// The NFS status of a Vfs error.
fn nfs_error(e: VfsError) -> nfsstat3 {
    use nfsstat3::*;
    match e.errno() {
        libc::ENOENT => NFS3ERR_NOENT,
        libc::EEXIST => NFS3ERR_EXIST,
        libc::ENOTEMPTY => NFS3ERR_NOTEMPTY,
        libc::ENOTDIR => NFS3ERR_NOTDIR,
        libc::EISDIR => NFS3ERR_ISDIR,
        libc::EINVAL => NFS3ERR_INVAL,
        libc::EPERM => NFS3ERR_PERM,
        libc::EACCES => NFS3ERR_ACCES,
        libc::ENOSPC => NFS3ERR_NOSPC,
        #[cfg(unix)]
        libc::EDQUOT => NFS3ERR_DQUOT,
        libc::EROFS => NFS3ERR_ROFS,
        libc::ENAMETOOLONG => NFS3ERR_NAMETOOLONG,
        libc::EFBIG => NFS3ERR_FBIG,
        libc::EXDEV => NFS3ERR_XDEV,
        libc::EMLINK => NFS3ERR_MLINK,
        libc::ENOTSUP | libc::ENOSYS => NFS3ERR_NOTSUPP,
        _ => {
            tracing::warn!("nfs: {e}");
            NFS3ERR_IO
        }
    }
}

fn nfs_time(t: SystemTime) -> nfstime3 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    nfstime3 {
        seconds: d.as_secs() as u32,
        nseconds: d.subsec_nanos(),
    }
}

fn system_time(t: nfstime3) -> SystemTime {
    UNIX_EPOCH + Duration::new(u64::from(t.seconds), t.nseconds)
}

fn fattr(a: &Attr) -> fattr3 {
    let ftype = match a.kind {
        Kind::Dir => ftype3::NF3DIR,
        Kind::Symlink => ftype3::NF3LNK,
        Kind::Fifo => ftype3::NF3FIFO,
        Kind::Socket => ftype3::NF3SOCK,
        Kind::CharDevice => ftype3::NF3CHR,
        Kind::BlockDevice => ftype3::NF3BLK,
        Kind::File => ftype3::NF3REG,
    };
    fattr3 {
        ftype,
        mode: a.mode & 0o7777,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        size: a.size,
        used: a.size,
        rdev: specdata3 {
            specdata1: a.rdev >> 8,
            specdata2: a.rdev & 0xff,
        },
        fsid: 0,
        fileid: a.ino,
        atime: nfs_time(a.atime),
        mtime: nfs_time(a.mtime),
        ctime: nfs_time(a.ctime),
    }
}

/// A SETATTR (or the attributes of a CREATE) as the Vfs's [`SetAttr`].
fn set_attr(s: &sattr3) -> SetAttr {
    let at = |how: Option<nfstime3>, server: bool| match (how, server) {
        (Some(t), _) => Some(system_time(t)),
        (None, true) => Some(SystemTime::now()),
        (None, false) => None,
    };
    SetAttr {
        mode: match s.mode {
            set_mode3::mode(m) => Some(m),
            set_mode3::Void => None,
        },
        uid: match s.uid {
            set_uid3::uid(u) => Some(u),
            set_uid3::Void => None,
        },
        gid: match s.gid {
            set_gid3::gid(g) => Some(g),
            set_gid3::Void => None,
        },
        size: match s.size {
            set_size3::size(n) => Some(n),
            set_size3::Void => None,
        },
        atime: match s.atime {
            set_atime::SET_TO_CLIENT_TIME(t) => at(Some(t), false),
            set_atime::SET_TO_SERVER_TIME => at(None, true),
            set_atime::DONT_CHANGE => None,
        },
        mtime: match s.mtime {
            set_mtime::SET_TO_CLIENT_TIME(t) => at(Some(t), false),
            set_mtime::SET_TO_SERVER_TIME => at(None, true),
            set_mtime::DONT_CHANGE => None,
        },
    }
}

fn changes_nothing(s: &SetAttr) -> bool {
    s.mode.is_none()
        && s.uid.is_none()
        && s.gid.is_none()
        && s.size.is_none()
        && s.atime.is_none()
        && s.mtime.is_none()
}

#[async_trait]
impl NFSFileSystem for VfsNfs {
    fn capabilities(&self) -> VFSCapabilities {
        VFSCapabilities::ReadWrite
    }

    fn root_dir(&self) -> fileid3 {
        ROOT_INO
    }

    async fn lookup(&self, dirid: fileid3, filename: &filename3) -> Result<fileid3, nfsstat3> {
        match name_of(filename)? {
            "." => Ok(dirid),
            ".." if dirid == ROOT_INO => Ok(ROOT_INO),
            ".." => Ok(self
                .vfs
                .meta()
                .get(dirid)
                .map_err(|e| nfs_error(e.into()))?
                .parent),
            name => Ok(self.vfs.lookup(dirid, name).await.map_err(nfs_error)?.ino),
        }
    }

    async fn getattr(&self, id: fileid3) -> Result<fattr3, nfsstat3> {
        self.attr(id).await
    }

    async fn setattr(&self, id: fileid3, setattr: sattr3) -> Result<fattr3, nfsstat3> {
        let set = set_attr(&setattr);
        if changes_nothing(&set) {
            return self.attr(id).await;
        }
        let attr = self.vfs.setattr(id, set, None).await.map_err(nfs_error)?;
        // NFSv3 servers commit a SETATTR before they answer it.
        self.vfs.fsyncdir().await.map_err(nfs_error)?;
        Ok(fattr(&attr))
    }

    async fn read(
        &self,
        id: fileid3,
        offset: u64,
        count: u32,
    ) -> Result<(Vec<u8>, bool), nfsstat3> {
        let fh = self
            .files
            .get(id, OpenMode::Read)
            .await
            .map_err(nfs_error)?;
        let data = self.vfs.read(fh, offset, count).await.map_err(nfs_error)?;
        let size = self.vfs.getattr(id).await.map_err(nfs_error)?.size;
        let eof = offset + data.len() as u64 >= size;
        Ok((data.to_vec(), eof))
    }

    async fn write(&self, id: fileid3, offset: u64, data: &[u8]) -> Result<fattr3, nfsstat3> {
        let fh = self
            .files
            .get(id, OpenMode::Write)
            .await
            .map_err(nfs_error)?;
        let mut done = 0;
        while done < data.len() {
            let n = self
                .vfs
                .write(fh, offset + done as u64, &data[done..])
                .await;
            match n.map_err(nfs_error)? as usize {
                0 => return Err(nfsstat3::NFS3ERR_IO),
                n => done += n,
            }
        }
        // nfsserve answers FILE_SYNC: the bytes must survive power loss now.
        self.vfs.fsync(fh).await.map_err(nfs_error)?;
        self.attr(id).await
    }

    async fn create(
        &self,
        dirid: fileid3,
        filename: &filename3,
        attr: sattr3,
    ) -> Result<(fileid3, fattr3), nfsstat3> {
        let name = name_of(filename)?;
        let mode = match attr.mode {
            set_mode3::mode(m) => m,
            set_mode3::Void => 0o644,
        };
        let (uid, gid) = (self.owner.uid, self.owner.gid);
        let created = self.vfs.create(dirid, name, mode, uid, gid).await;
        let (made, fh) = created.map_err(nfs_error)?;
        self.files.adopt(made.ino, fh, OpenMode::Write).await;
        let mut set = set_attr(&attr);
        set.mode = None;
        if changes_nothing(&set) {
            return Ok((made.ino, fattr(&made)));
        }
        let made = self.vfs.setattr(made.ino, set, Some(fh)).await;
        let made = made.map_err(nfs_error)?;
        Ok((made.ino, fattr(&made)))
    }

    async fn create_exclusive(
        &self,
        dirid: fileid3,
        filename: &filename3,
    ) -> Result<fileid3, nfsstat3> {
        if self.lookup(dirid, filename).await.is_ok() {
            return Err(nfsstat3::NFS3ERR_EXIST);
        }
        Ok(self.create(dirid, filename, sattr3::default()).await?.0)
    }

    async fn mkdir(
        &self,
        dirid: fileid3,
        dirname: &filename3,
    ) -> Result<(fileid3, fattr3), nfsstat3> {
        let (uid, gid) = (self.owner.uid, self.owner.gid);
        let made = self
            .vfs
            .mkdir(dirid, name_of(dirname)?, 0o755, uid, gid)
            .await;
        let made = made.map_err(nfs_error)?;
        Ok((made.ino, fattr(&made)))
    }

    async fn remove(&self, dirid: fileid3, filename: &filename3) -> Result<(), nfsstat3> {
        let name = name_of(filename)?;
        let attr = self.vfs.lookup(dirid, name).await.map_err(nfs_error)?;
        if attr.kind == Kind::Dir {
            return self.vfs.rmdir(dirid, name).await.map_err(nfs_error);
        }
        self.files.close(attr.ino).await.map_err(nfs_error)?;
        self.vfs.unlink(dirid, name).await.map_err(nfs_error)
    }

    async fn rename(
        &self,
        from_dirid: fileid3,
        from_filename: &filename3,
        to_dirid: fileid3,
        to_filename: &filename3,
    ) -> Result<(), nfsstat3> {
        let (from, to) = (name_of(from_filename)?, name_of(to_filename)?);
        if let Ok(over) = self.vfs.lookup(to_dirid, to).await {
            self.files.close(over.ino).await.map_err(nfs_error)?;
        }
        let flags = ourclone_vfs::RenameFlags::default();
        let renamed = self.vfs.rename(from_dirid, from, to_dirid, to, flags).await;
        renamed.map_err(nfs_error)
    }

    async fn readdir(
        &self,
        dirid: fileid3,
        start_after: fileid3,
        max_entries: usize,
    ) -> Result<ReadDirResult, nfsstat3> {
        let entries = self.vfs.readdir(dirid).await.map_err(nfs_error)?;
        let skip = match start_after {
            0 => 0,
            after => match entries.iter().position(|e| e.attr.ino == after) {
                Some(i) => i + 1,
                None => return Err(nfsstat3::NFS3ERR_BAD_COOKIE),
            },
        };
        let page: Vec<DirEntry> = entries
            .iter()
            .skip(skip)
            .take(max_entries)
            .map(|e| DirEntry {
                fileid: e.attr.ino,
                name: e.name.as_bytes().into(),
                attr: fattr(&e.attr),
            })
            .collect();
        let end = skip + page.len() >= entries.len();
        Ok(ReadDirResult { entries: page, end })
    }

    async fn symlink(
        &self,
        dirid: fileid3,
        linkname: &filename3,
        symlink: &nfspath3,
        _attr: &sattr3,
    ) -> Result<(fileid3, fattr3), nfsstat3> {
        let target = std::str::from_utf8(&symlink.0).map_err(|_| nfsstat3::NFS3ERR_INVAL)?;
        let (uid, gid) = (self.owner.uid, self.owner.gid);
        let made = self
            .vfs
            .symlink(dirid, name_of(linkname)?, target, uid, gid)
            .await;
        let made = made.map_err(nfs_error)?;
        Ok((made.ino, fattr(&made)))
    }

    /// Every WRITE was made durable before its answer (FILE_SYNC) and SETATTR before its own:
    /// nothing is left to commit.
    async fn commit(&self, id: fileid3) -> Result<fattr3, nfsstat3> {
        self.attr(id).await
    }

    async fn readlink(&self, id: fileid3) -> Result<nfspath3, nfsstat3> {
        let target = self.vfs.readlink(id).await.map_err(nfs_error)?;
        Ok(target.into_bytes().into())
    }
}
