//! Setting up a FUSE session for a [`Vfs`]: the mount options, mounting it in the background,
//! and forwarding the Vfs's notices of names changed behind the kernel's back. Owns the kernel
//! mount; must not answer requests (the adapter in `mod.rs` does).
//!
//! The mount's type is `fuse.ourclone-fs`, so `umount` runs our `umount.fuse.ourclone-fs`
//! helper (which drains first). fusermount3 gives that type to mounts by other users; as root,
//! where fuser calls mount(2) itself with the plain type `fuse`, we make that call ourselves.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::INodeNo;
use tokio::runtime::Handle;

use super::FuseAdapter;
use crate::vfs::Vfs;

/// Mount options for a remote named `source`. `allow_other` lets users other than the one
/// who mounted reach the mount (off by default, as in rclone and mountpoint-s3).
pub fn mount_config(source: &str, allow_other: bool) -> fuser::Config {
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName(source.to_string()),
        fuser::MountOption::Subtype("ourclone-fs".into()),
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoAtime,
    ];
    // Several kernel reader threads, so a slow remote read never stalls `ls` in another window.
    cfg.n_threads = Some(4);
    cfg.clone_fd = true;
    // Only on request (`--allow-other`): with default_permissions the kernel then checks each
    // caller against our modes and owners. Non-root users also need user_allow_other in
    // /etc/fuse.conf.
    if allow_other {
        cfg.acl = fuser::SessionACL::All;
    }
    cfg
}

/// The kernel's type for our mounts.
pub const FS_TYPE: &str = "fuse.ourclone-fs";

/// A mounted, served Vfs. Dropping it unmounts (lazily) and ends the session.
pub struct FuseMount {
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
    /// We made the mount(2) call, so we unmount; otherwise fuser's session does.
    ours: bool,
}

impl FuseMount {
    /// True once the session ended (the mount was taken away, e.g. `fusermount3 -u`).
    pub fn is_finished(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }

    pub fn notifier(&self) -> Option<fuser::Notifier> {
        self.session.as_ref().map(|s| s.notifier())
    }

    /// Unmounts and waits for the session to end.
    pub fn unmount(mut self) -> std::io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if !self.ours {
            return session.umount_and_join();
        }
        if !session.guard.is_finished() {
            nix::mount::umount(&self.mountpoint).map_err(std::io::Error::from)?;
        }
        session.join()
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            if self.ours && !session.guard.is_finished() {
                let _ = nix::mount::umount2(&self.mountpoint, nix::mount::MntFlags::MNT_DETACH);
            }
            drop(session);
        }
    }
}

/// Forwards the Vfs's notices of names changed behind the kernel's back to the kernel.
pub fn forward_invalidations(vfs: &Vfs, mount: &FuseMount) {
    let Some(notifier) = mount.notifier() else {
        return;
    };
    vfs.on_entry_change(move |parent, name| {
        if let Err(e) = notifier.inval_entry(INodeNo(parent), OsStr::new(name)) {
            tracing::debug!(parent, name, "entry invalidation failed: {e}");
        }
    });
}

/// Mounts `vfs` at `mountpoint` and serves it until unmounted (from another thread or process).
pub fn serve(
    vfs: Arc<Vfs>,
    rt: Handle,
    mountpoint: &Path,
    source: &str,
    allow_other: bool,
) -> std::io::Result<FuseMount> {
    let cfg = mount_config(source, allow_other);
    if nix::unistd::geteuid().is_root() {
        return mount_as_root(FuseAdapter::new(vfs, rt), mountpoint, source, cfg);
    }
    let session = fuser::spawn_mount(FuseAdapter::new(vfs, rt), mountpoint, &cfg)?;
    Ok(FuseMount {
        session: Some(session),
        mountpoint: mountpoint.to_path_buf(),
        ours: false,
    })
}

/// mount(2) with our type, then a session on the /dev/fuse descriptor it was given.
fn mount_as_root(
    adapter: FuseAdapter,
    mountpoint: &Path,
    source: &str,
    cfg: fuser::Config,
) -> std::io::Result<FuseMount> {
    use nix::mount::MsFlags;
    let dev: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")?
        .into();
    let root_mode = std::fs::metadata(mountpoint)?.mode() & libc::S_IFMT;
    let mut options = format!(
        "fd={},rootmode={root_mode:o},user_id={},group_id={},default_permissions",
        dev.as_raw_fd(),
        nix::unistd::getuid(),
        nix::unistd::getgid()
    );
    if cfg.acl == fuser::SessionACL::All {
        options.push_str(",allow_other");
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOATIME;
    nix::mount::mount(
        Some(source),
        mountpoint,
        Some(FS_TYPE),
        flags,
        Some(options.as_str()),
    )
    .map_err(std::io::Error::from)?;
    let acl = cfg.acl;
    let served = fuser::Session::from_fd(adapter, dev, acl, cfg).and_then(|s| s.spawn());
    match served {
        Ok(session) => Ok(FuseMount {
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
            ours: true,
        }),
        Err(e) => {
            let _ = nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH);
            Err(e)
        }
    }
}
