//! Mounting at login or boot: `service install` writes a systemd unit (a user unit, or a
//! system unit with `--system`) or a launchd agent (`--launchd`, macOS) that runs the mount in
//! the foreground under the service manager, and `service remove` deletes it. Owns the unit
//! and plist text and where they go; must not start or stop anything (it prints the command).

use std::path::{Path, PathBuf};

use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum ServiceAction {
    /// Write a unit that mounts REMOTE:PATH at MOUNTPOINT at login (or at boot with --system),
    /// passing any mount flags after the mount point.
    Install {
        source: String,
        mountpoint: PathBuf,
        /// A system unit (/etc/systemd/system, mounts before anyone logs in; needs root).
        #[arg(long)]
        system: bool,
        /// A launchd agent (~/Library/LaunchAgents) instead of a systemd unit: the macOS form.
        #[arg(long)]
        launchd: bool,
        /// Mount flags, e.g. --write-back 10s --cache-max-size 20G.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        flags: Vec<String>,
    },
    /// Delete the unit `install` wrote for MOUNTPOINT.
    Remove {
        mountpoint: PathBuf,
        #[arg(long)]
        system: bool,
        #[arg(long)]
        launchd: bool,
    },
}

/// Where the paths the unit needs come from.
pub struct Paths<'a> {
    pub config: &'a Path,
    pub cache_dir: &'a Path,
}

pub fn run(action: ServiceAction, paths: Paths<'_>) -> Result<(), CliError> {
    match action {
        ServiceAction::Install {
            source,
            mountpoint,
            system,
            launchd,
            flags,
        } => install(
            &source,
            &absolute(&mountpoint)?,
            system,
            launchd,
            &flags,
            paths,
        ),
        ServiceAction::Remove {
            mountpoint,
            system,
            launchd,
        } => remove(&absolute(&mountpoint)?, system, launchd),
    }
}

fn absolute(p: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(p).map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))
}

/// `/home/me/Cloud` → `home-me-Cloud`, as `systemd-escape --path` writes it.
pub fn escape(mountpoint: &Path) -> String {
    let s = mountpoint.to_string_lossy();
    let trimmed = s.trim_matches('/');
    let mut out = String::new();
    for (i, b) in trimmed.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// Where the unit for `mountpoint` goes, and its name.
fn location(mountpoint: &Path, system: bool, launchd: bool) -> (PathBuf, String) {
    let id = escape(mountpoint);
    if launchd {
        let dir = match system {
            true => PathBuf::from("/Library/LaunchDaemons"),
            false => crate::home().join("Library/LaunchAgents"),
        };
        return (dir, format!("com.ourclone-fs.{id}.plist"));
    }
    let dir = match (system, std::env::var_os("XDG_CONFIG_HOME")) {
        (true, _) => PathBuf::from("/etc/systemd/system"),
        (false, Some(x)) => PathBuf::from(x).join("systemd/user"),
        (false, None) => crate::home().join(".config/systemd/user"),
    };
    (dir, format!("ourclone-fs-{id}.service"))
}

/// The mount command the service runs, and the command that stops it.
fn commands(
    source: &str,
    mp: &Path,
    flags: &[String],
    paths: &Paths<'_>,
) -> Result<(Vec<String>, Vec<String>), CliError> {
    let me = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot find this program's path: {e}")))?;
    let me = me.to_string_lossy().into_owned();
    let config = absolute(paths.config)?.to_string_lossy().into_owned();
    let cache = absolute(paths.cache_dir)?.to_string_lossy().into_owned();
    let mp = mp.to_string_lossy().into_owned();
    let mut start = vec![
        me.clone(),
        "--config".into(),
        config,
        "--cache-dir".into(),
        cache.clone(),
    ];
    start.extend([
        "mount".into(),
        source.to_string(),
        mp.clone(),
        "--foreground".into(),
    ]);
    start.extend(flags.iter().cloned());
    let stop = vec![
        me,
        "--cache-dir".into(),
        cache,
        "unmount".into(),
        mp,
        "--timeout".into(),
        "60s".into(),
    ];
    Ok((start, stop))
}

/// One ExecStart= argument, quoted for systemd.
fn quote(arg: &str) -> String {
    let escaped = arg
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    format!("\"{escaped}\"")
}

pub fn systemd_unit(
    source: &str,
    mp: &Path,
    start: &[String],
    stop: &[String],
    system: bool,
) -> String {
    let line = |args: &[String]| args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    let target = if system {
        "multi-user.target"
    } else {
        "default.target"
    };
    format!(
        "[Unit]\n\
         Description=ourclone-fs: {source} on {mp}\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=notify\n\
         ExecStart={}\n\
         ExecStop={}\n\
         Restart=on-failure\n\
         RestartSec=10\n\
         TimeoutStopSec=90\n\
         \n\
         [Install]\n\
         WantedBy={target}\n",
        line(start),
        line(stop),
        mp = mp.display(),
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn launchd_plist(label: &str, start: &[String], log: &Path) -> String {
    let args: String = start
        .iter()
        .map(|a| format!("        <string>{}</string>\n", xml(a)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \x20   <key>Label</key>\n\
         \x20   <string>{}</string>\n\
         \x20   <key>ProgramArguments</key>\n\
         \x20   <array>\n\
         {args}\
         \x20   </array>\n\
         \x20   <key>RunAtLoad</key>\n\
         \x20   <true/>\n\
         \x20   <key>KeepAlive</key>\n\
         \x20   <dict>\n\
         \x20       <key>SuccessfulExit</key>\n\
         \x20       <false/>\n\
         \x20   </dict>\n\
         \x20   <key>StandardErrorPath</key>\n\
         \x20   <string>{}</string>\n\
         </dict>\n\
         </plist>\n",
        xml(label),
        xml(&log.to_string_lossy()),
    )
}

fn install(
    source: &str,
    mp: &Path,
    system: bool,
    launchd: bool,
    flags: &[String],
    paths: Paths<'_>,
) -> Result<(), CliError> {
    if !source.contains(':') {
        return Err(CliError::Usage(format!(
            "'{source}' is not REMOTE:PATH (for the whole remote, write '{source}:')"
        )));
    }
    let (dir, name) = location(mp, system, launchd);
    let (start, stop) = commands(source, mp, flags, &paths)?;
    let text = match launchd {
        true => {
            let label = name.trim_end_matches(".plist");
            let log = absolute(paths.cache_dir)?.join(format!("{label}.log"));
            launchd_plist(label, &start, &log)
        }
        false => systemd_unit(source, mp, &start, &stop, system),
    };
    std::fs::create_dir_all(&dir).map_err(|e| cannot_write(&dir, &e))?;
    let path = dir.join(&name);
    std::fs::write(&path, text).map_err(|e| cannot_write(&dir, &e))?;
    println!("wrote {}", path.display());
    let user = if system { "" } else { " --user" };
    match launchd {
        true => println!("start it now and at every login: launchctl load -w {}", path.display()),
        false => println!(
            "start it now and at every {}: systemctl{user} daemon-reload && systemctl{user} enable --now {name}",
            if system { "boot" } else { "login" }
        ),
    }
    Ok(())
}

fn remove(mp: &Path, system: bool, launchd: bool) -> Result<(), CliError> {
    let (dir, name) = location(mp, system, launchd);
    let path = dir.join(&name);
    match std::fs::remove_file(&path) {
        Ok(()) => println!("removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::Usage(format!(
                "no unit for {} ({} does not exist)",
                mp.display(),
                path.display()
            )))
        }
        Err(e) => return Err(cannot_write(&dir, &e)),
    }
    let user = if system { "" } else { " --user" };
    match launchd {
        true => println!("if it is loaded: launchctl unload {}", path.display()),
        false => println!(
            "if it is running: systemctl{user} disable --now {name}; systemctl{user} daemon-reload"
        ),
    }
    Ok(())
}

fn cannot_write(dir: &Path, e: &std::io::Error) -> CliError {
    crate::error::cannot_write(
        dir,
        e,
        "a --system unit needs root: sudo ourclone-fs service …",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_escaped_as_systemd_does() {
        assert_eq!(escape(Path::new("/home/me/Cloud")), "home-me-Cloud");
        assert_eq!(escape(Path::new("/mnt/my docs/")), "mnt-my\\x20docs");
        assert_eq!(escape(Path::new("/")), "-");
    }

    #[test]
    fn arguments_are_quoted_for_systemd() {
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("50%"), "\"50%%\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
