//! `ourclone-fs doctor`: checks what a mount needs — FUSE, fusermount3, /etc/fuse.conf for
//! `--allow-other`, the config file and its permissions, each remote's credentials (one cheap
//! call), the cache folder's permissions and free space — and prints one line per check with
//! what to do about a failure. Owns the checks; must not change anything.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::{Config, RemoteConfig};
use crate::error::CliError;

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    /// Works, but something is worth knowing.
    Note,
    Fail,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
}

fn check(name: &str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        verdict,
        detail: detail.into(),
    }
}

/// Runs every check; fails (exit 1) when any check failed.
pub fn run(config_path: &Path, cache_dir: &Path, json: bool) -> Result<(), CliError> {
    let mut checks = vec![fuse_device(), fusermount(), fuse_conf()];
    let config = config_file(config_path, &mut checks);
    if let Some(config) = &config {
        remotes(config, &mut checks);
    }
    checks.push(cache_folder(cache_dir));
    if json {
        let text = serde_json::to_string(&checks).map_err(|e| CliError::Other(e.into()))?;
        println!("{text}");
    } else {
        for c in &checks {
            let tag = match c.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Note => "note",
                Verdict::Fail => "FAIL",
            };
            println!("{tag} {}: {}", c.name, c.detail);
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    match failed {
        0 => Ok(()),
        n => Err(CliError::Relayed(1, format!("{n} check(s) failed"))),
    }
}

fn fuse_device() -> Check {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        Ok(_) => check("fuse", Verdict::Ok, "/dev/fuse can be opened"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => check(
            "fuse",
            Verdict::Fail,
            "/dev/fuse is missing: install fuse3 and load the module (sudo modprobe fuse); in a \
             container, start it with --device /dev/fuse",
        ),
        Err(e) => check(
            "fuse",
            Verdict::Fail,
            format!(
                "cannot open /dev/fuse ({}): mounting needs read-write access to it; run as root \
                 or make it usable (sudo chmod 0666 /dev/fuse, as most distributions ship it)",
                crate::error::io_reason(&e)
            ),
        ),
    }
}

fn fusermount() -> Check {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").is_file()))
        .unwrap_or(false);
    match (found, nix::unistd::geteuid().is_root()) {
        (true, _) => check("fusermount3", Verdict::Ok, "found"),
        (false, true) => check(
            "fusermount3",
            Verdict::Note,
            "not found; root mounts without it, other users need it: sudo apt install fuse3",
        ),
        (false, false) => check(
            "fusermount3",
            Verdict::Fail,
            "not found: users other than root mount through it; sudo apt install fuse3",
        ),
    }
}

fn fuse_conf() -> Check {
    let text = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
    let allowed = text.lines().any(|l| l.trim() == "user_allow_other");
    match (allowed, nix::unistd::geteuid().is_root()) {
        (_, true) => check("allow_other", Verdict::Ok, "root may use --allow-other"),
        (true, false) => check("allow_other", Verdict::Ok, "/etc/fuse.conf has user_allow_other"),
        (false, false) => check(
            "allow_other",
            Verdict::Note,
            "--allow-other needs user_allow_other in /etc/fuse.conf (only if others must see your mounts)",
        ),
    }
}

fn config_file(path: &Path, checks: &mut Vec<Check>) -> Option<Config> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            checks.push(check(
                "config",
                Verdict::Note,
                format!("{shown} does not exist yet: add a remote with `ourclone-fs remote add`"),
            ));
            return None;
        }
        Err(e) => {
            checks.push(check(
                "config",
                Verdict::Fail,
                format!("cannot read {shown}: {}", crate::error::io_reason(&e)),
            ));
            return None;
        }
        Ok(m) if m.permissions().mode() & 0o077 != 0 => checks.push(check(
            "config permissions",
            Verdict::Fail,
            format!(
                "{shown} is readable by others (mode {:o}) and holds API keys: chmod 600 {shown}",
                m.permissions().mode() & 0o777
            ),
        )),
        Ok(_) => checks.push(check("config permissions", Verdict::Ok, "0600")),
    }
    match Config::load(path) {
        Ok(c) => {
            checks.push(check(
                "config",
                Verdict::Ok,
                format!("{shown}: {} remote(s)", c.remotes.len()),
            ));
            Some(c)
        }
        Err(e) => {
            checks.push(check("config", Verdict::Fail, e.to_string()));
            None
        }
    }
}

fn remotes(config: &Config, checks: &mut Vec<Check>) {
    for (name, remote) in &config.remotes {
        let label = format!("remote {name}");
        checks.push(match crate::remote_cmd::check(name, remote) {
            Ok(()) => check(&label, Verdict::Ok, describe(remote)),
            Err(e) => check(&label, Verdict::Fail, e.to_string()),
        });
    }
}

fn describe(remote: &RemoteConfig) -> String {
    match remote {
        RemoteConfig::Local { path } => format!("local folder {} is usable", path.display()),
        RemoteConfig::OneFichier { .. } => "1fichier accepted the API key".into(),
        other => format!("{} server accepted the credentials", other.kind()),
    }
}

fn cache_folder(dir: &Path) -> Check {
    let shown = dir.display();
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check(
                "cache",
                Verdict::Ok,
                format!("{shown} will be created at the first mount"),
            )
        }
        Err(e) => {
            return check(
                "cache",
                Verdict::Fail,
                format!("cannot use {shown}: {}", crate::error::io_reason(&e)),
            )
        }
    };
    if meta.permissions().mode() & 0o077 != 0 {
        return check(
            "cache",
            Verdict::Fail,
            format!(
                "{shown} is open to other users: chmod 700 {shown} (the next mount also fixes it)"
            ),
        );
    }
    let free = nix::sys::statvfs::statvfs(dir)
        .map(|s| s.blocks_available() * s.fragment_size())
        .unwrap_or(0);
    if free < 1 << 30 {
        return check(
            "cache",
            Verdict::Note,
            format!(
                "{shown}: only {} MiB free; writes wait for uploads when it fills",
                free >> 20
            ),
        );
    }
    check(
        "cache",
        Verdict::Ok,
        format!("{shown}: {} GiB free", free >> 30),
    )
}
