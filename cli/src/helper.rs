//! Living in /etc/fstab: the binary answers as `mount.ourclone-fs` (what `mount -t ourclone-fs`
//! and fstab lines run) and as `umount.fuse.ourclone-fs` (what `umount` runs for our mounts),
//! chosen by the name it was started under; `install`/`uninstall` place and remove those names
//! as links. Owns translating mount(8)'s calling convention and `-o` options into our command
//! line; must not mount anything itself.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::error::CliError;

pub const MOUNT_HELPER: &str = "mount.ourclone-fs";
pub const UMOUNT_HELPER: &str = "umount.fuse.ourclone-fs";

/// How long `umount` waits for pending uploads before detaching (they upload at the next
/// mount), so shutdown is never held up for long.
pub const UMOUNT_DRAIN: &str = "60s";

/// Options mount(8), systemd and desktop tools add that concern them, not us.
const IGNORED: [&str; 17] = [
    "defaults", "rw", "auto", "noauto", "user", "users", "nouser", "owner", "group", "_netdev",
    "nofail", "nosuid", "nodev", "noexec", "suid", "dev", "exec",
];
/// `x-systemd.*`, `x-gvfs-*` and every other `x-` option are for other programs by design.
const IGNORED_PREFIXES: [&str; 2] = ["x-", "comment="];

/// `Some` when started as a helper: the equivalent `ourclone-fs` command line.
pub fn as_helper(argv: Vec<OsString>) -> Option<Result<Vec<OsString>, CliError>> {
    let name = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(OsStr::to_str)?;
    let args: Vec<String> = argv[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match name {
        MOUNT_HELPER => Some(mount_command(&args)),
        UMOUNT_HELPER => Some(umount_command(&args)),
        _ => None,
    }
}

/// Splits mount(8)'s `spec dir [-sfnv] [-N ns] [-o opts] [-t type]` into (positionals, options,
/// single-letter flags).
fn split_args(args: &[String]) -> Result<(Vec<String>, Vec<String>, String), CliError> {
    let (mut pos, mut opts, mut flags) = (Vec::new(), Vec::new(), String::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" => opts.extend(
                it.next()
                    .ok_or_else(|| CliError::Usage("-o needs a value".into()))?
                    .split(',')
                    .map(str::to_string),
            ),
            "-t" | "-N" => {
                it.next();
            }
            s if s.starts_with("-o") => opts.extend(s[2..].split(',').map(str::to_string)),
            s if s.starts_with('-') && s.len() > 1 => flags.push_str(&s[1..]),
            _ => pos.push(a.clone()),
        }
    }
    opts.retain(|o| !o.is_empty());
    Ok((pos, opts, flags))
}

fn mount_command(args: &[String]) -> Result<Vec<OsString>, CliError> {
    let (pos, opts, flags) = split_args(args)?;
    let [source, mountpoint] = pos.as_slice() else {
        return Err(CliError::Usage(format!(
            "usage: {MOUNT_HELPER} REMOTE:PATH MOUNTPOINT [-o options]"
        )));
    };
    let sloppy = flags.contains('s');
    let (mut global, mut mount) = (Vec::new(), Vec::new());
    for opt in &opts {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        let flag = |name: &str| -> Result<Vec<String>, CliError> {
            let v =
                value.ok_or_else(|| CliError::Usage(format!("option '{key}' needs a value")))?;
            Ok(vec![format!("--{name}"), v.to_string()])
        };
        match key {
            "config" => global.extend(flag("config")?),
            "cache_dir" => global.extend(flag("cache-dir")?),
            "write_back" => mount.extend(flag("write-back")?),
            "dir_cache_time" => mount.extend(flag("dir-cache-time")?),
            "cache_max_size" => mount.extend(flag("cache-max-size")?),
            "dirty_wait" => mount.extend(flag("dirty-wait")?),
            "commit_interval" => mount.extend(flag("commit-interval")?),
            "sync_close" => mount.push("--sync-close".to_string()),
            "allow_other" => mount.push("--allow-other".to_string()),
            k if IGNORED.contains(&k) || IGNORED_PREFIXES.iter().any(|p| opt.starts_with(p)) => {}
            _ if sloppy => {}
            _ => {
                return Err(CliError::Usage(format!(
                    "unknown mount option '{opt}' (known: config, cache_dir, write_back, \
                     dir_cache_time, cache_max_size, dirty_wait, commit_interval, sync_close, \
                     allow_other)"
                )))
            }
        }
    }
    if flags.contains('f') {
        // mount -f: pretend. The options were checked; nothing to do.
        return Ok(["ourclone-fs", "--version"].map(OsString::from).to_vec());
    }
    let mut argv: Vec<OsString> = vec!["ourclone-fs".into()];
    argv.extend(global.into_iter().map(OsString::from));
    if flags.contains('v') {
        argv.push("-v".into());
    }
    argv.extend(["mount", source, mountpoint].map(OsString::from));
    argv.extend(mount.into_iter().map(OsString::from));
    Ok(argv)
}

fn umount_command(args: &[String]) -> Result<Vec<OsString>, CliError> {
    let (pos, _, flags) = split_args(args)?;
    let [mountpoint] = pos.as_slice() else {
        return Err(CliError::Usage(format!(
            "usage: {UMOUNT_HELPER} MOUNTPOINT"
        )));
    };
    let mut argv: Vec<OsString> = [
        "ourclone-fs",
        "unmount",
        mountpoint,
        "--timeout",
        UMOUNT_DRAIN,
    ]
    .map(OsString::from)
    .to_vec();
    if flags.contains('l') {
        argv.push("--lazy".into());
    }
    if flags.contains('f') {
        argv.push("--force".into());
    }
    Ok(argv)
}

/// Links `dir/mount.ourclone-fs` and `dir/umount.fuse.ourclone-fs` to this binary. Running it
/// again changes nothing; a link to an older binary is replaced; a file that is not a link is
/// left alone.
pub fn install(dir: &Path) -> Result<(), CliError> {
    let me = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot find this program's path: {e}")))?;
    for name in [MOUNT_HELPER, UMOUNT_HELPER] {
        let link = dir.join(name);
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => {
                if std::fs::read_link(&link).is_ok_and(|t| t == me) {
                    println!("{} already links to {}", link.display(), me.display());
                    continue;
                }
                std::fs::remove_file(&link).map_err(|e| cannot_write(dir, &e))?;
            }
            Ok(_) => {
                return Err(CliError::Usage(format!(
                    "{} exists and is not a link; remove it first",
                    link.display()
                )))
            }
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&me, &link).map_err(|e| cannot_write(dir, &e))?;
        println!("{} -> {}", link.display(), me.display());
    }
    Ok(())
}

/// Removes the links `install` made (links only; anything else is left alone).
pub fn uninstall(dir: &Path) -> Result<(), CliError> {
    for name in [MOUNT_HELPER, UMOUNT_HELPER] {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&link).map_err(|e| cannot_write(dir, &e))?;
            println!("removed {}", link.display());
        }
    }
    Ok(())
}

fn cannot_write(dir: &Path, e: &std::io::Error) -> CliError {
    crate::error::cannot_write(dir, e, "run it as root: sudo ourclone-fs install")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(argv: &[&str]) -> Result<Vec<String>, CliError> {
        let argv = argv.iter().map(OsString::from).collect();
        as_helper(argv)
            .expect("a helper name")
            .map(|v| v.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn mount_options_become_flags() {
        let got = run(&[
            "/sbin/mount.ourclone-fs",
            "cloud:/docs",
            "/mnt/docs",
            "-o",
            "rw,_netdev,nofail,x-systemd.automount,config=/etc/o/c.toml,write_back=10s,cache_max_size=20G,allow_other",
        ])
        .unwrap();
        assert_eq!(
            got,
            [
                "ourclone-fs",
                "--config",
                "/etc/o/c.toml",
                "mount",
                "cloud:/docs",
                "/mnt/docs",
                "--write-back",
                "10s",
                "--cache-max-size",
                "20G",
                "--allow-other"
            ]
        );
    }

    #[test]
    fn unknown_options_are_named_unless_sloppy() {
        let e = run(&["mount.ourclone-fs", "a:", "/m", "-o", "write_back=1s,turbo"]).unwrap_err();
        assert!(
            e.to_string().contains("unknown mount option 'turbo'"),
            "{e}"
        );
        assert!(run(&["mount.ourclone-fs", "a:", "/m", "-s", "-o", "turbo"]).is_ok());
        let e = run(&["mount.ourclone-fs", "a:", "/m", "-o", "write_back"]).unwrap_err();
        assert!(e.to_string().contains("'write_back' needs a value"), "{e}");
    }

    #[test]
    fn umount_drains_for_a_bounded_time() {
        let got = run(&["/sbin/umount.fuse.ourclone-fs", "/mnt/docs", "-n"]).unwrap();
        assert_eq!(
            got,
            ["ourclone-fs", "unmount", "/mnt/docs", "--timeout", "60s"]
        );
        let got = run(&["umount.fuse.ourclone-fs", "-l", "/mnt/docs"]).unwrap();
        assert!(got.contains(&"--lazy".to_string()));
    }

    #[test]
    fn other_names_are_the_normal_command() {
        assert!(as_helper(vec!["ourclone-fs".into(), "mount".into()]).is_none());
    }
}
