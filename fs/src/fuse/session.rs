//! Setting up a FUSE session for a [`Vfs`]: the mount options, mounting it in the background,
//! and forwarding the Vfs's notices of names changed behind the kernel's back. Owns the kernel
//! mount; must not answer requests (the adapter in `mod.rs` does).

use std::ffi::OsStr;
use std::path::Path;
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

/// Forwards the Vfs's notices of names changed behind the kernel's back to the kernel.
pub fn forward_invalidations(vfs: &Vfs, session: &fuser::BackgroundSession) {
    let notifier = session.notifier();
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
) -> std::io::Result<fuser::BackgroundSession> {
    fuser::spawn_mount(
        FuseAdapter::new(vfs, rt),
        mountpoint,
        &mount_config(source, allow_other),
    )
}
