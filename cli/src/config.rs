//! The config file: the named remotes (and backup repositories) a user added. Owns reading, checking (numbers and
//! durations in range) and writing it (0600, since it holds API keys); must not open remotes
//! or log secrets.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ourclone_remote::os;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// One configured remote.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum RemoteConfig {
    /// A local folder acting as the cloud.
    #[serde(rename = "local")]
    Local { path: PathBuf },
    /// A 1Fichier account.
    #[serde(rename = "1fichier")]
    OneFichier {
        api_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// API calls per second for this account.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<f64>,
        /// Pause after the provider reports a flood (e.g. "30s").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flood_backoff: Option<String>,
        /// Shortest interval between two listings of one folder (e.g. "30s").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        list_interval: Option<String>,
    },
    /// An S3-compatible bucket.
    #[serde(rename = "s3")]
    S3 {
        endpoint: String,
        bucket: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        #[serde(default)]
        path_style: bool,
        access_key_id: String,
        secret_access_key: String,
        /// Folder inside the bucket that plays the remote's root.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        root: String,
    },
    /// A WebDAV server.
    #[serde(rename = "webdav")]
    WebDav {
        url: String,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        root: String,
    },
    /// An SFTP server, logged in with a key file or an ssh-agent.
    #[serde(rename = "sftp")]
    Sftp {
        host: String,
        #[serde(default = "ssh_port")]
        port: u16,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_file: Option<PathBuf>,
        /// Absolute folder on the server ("" for the login folder).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        root: String,
    },
}

fn ssh_port() -> u16 {
    22
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local { path } => write!(f, "local {}", path.display()),
            Self::OneFichier { endpoint, .. } => {
                write!(
                    f,
                    "1fichier {}",
                    endpoint.as_deref().unwrap_or("(default endpoint)")
                )
            }
            other => write!(f, "{} {}", other.kind(), other.describe()),
        }
    }
}

impl RemoteConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Local { .. } => "local",
            Self::OneFichier { .. } => "1fichier",
            Self::S3 { .. } => "s3",
            Self::WebDav { .. } => "webdav",
            Self::Sftp { .. } => "sftp",
        }
    }

    /// Checks the numbers and durations a remote's entry holds.
    pub fn check(&self) -> Result<(), String> {
        if let Self::OneFichier {
            rate,
            flood_backoff,
            list_interval,
            ..
        } = self
        {
            if let Some(r) = rate {
                crate::parse::check_rate(*r).map_err(|e| format!("rate: {e}"))?;
            }
            if let Some(d) = flood_backoff {
                crate::parse::parse_duration(d).map_err(|e| format!("flood_backoff: {e}"))?;
            }
            if let Some(d) = list_interval {
                crate::parse::parse_duration(d).map_err(|e| format!("list_interval: {e}"))?;
            }
        }
        Ok(())
    }

    /// What `remote list` shows: never the key.
    pub fn describe(&self) -> String {
        match self {
            Self::Local { path } => path.display().to_string(),
            Self::OneFichier { endpoint, .. } => endpoint
                .clone()
                .unwrap_or_else(|| "https://api.1fichier.com/v1".into()),
            Self::S3 {
                endpoint,
                bucket,
                root,
                ..
            } => format!("{endpoint} bucket {bucket}{}", in_folder(root)),
            Self::WebDav {
                url, user, root, ..
            } => format!("{url} as {user}{}", in_folder(root)),
            Self::Sftp {
                host,
                port,
                user,
                root,
                ..
            } => format!("{user}@{host}:{port}{}", in_folder(root)),
        }
    }
}

fn in_folder(root: &str) -> String {
    if root.is_empty() {
        String::new()
    } else {
        format!(" folder {root}")
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub remotes: BTreeMap<String, RemoteConfig>,
    /// Backup repositories by name (`repo init --name`): name → location.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub repos: BTreeMap<String, String>,
}

impl Config {
    /// Reads the config at `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, CliError> {
        if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(CliError::Config(format!(
                "cannot read config file {}: it is a folder, not a file",
                path.display()
            )));
        }
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(CliError::Config(format!(
                    "cannot read config file {}: {}",
                    path.display(),
                    crate::error::io_reason(&e)
                )))
            }
        };
        Self::parse(&text).map_err(|msg| {
            CliError::Config(format!(
                "config file {} is not valid: {msg}",
                path.display()
            ))
        })
    }

    /// Parses and checks config text; the error is the reason, on one line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| {
            e.message()
                .lines()
                .next()
                .unwrap_or("unreadable")
                .to_string()
        })?;
        for (name, remote) in &config.remotes {
            remote
                .check()
                .map_err(|e| format!("remote '{name}': {e}"))?;
        }
        Ok(config)
    }

    /// Writes the config atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let fail = |e: std::io::Error| {
            CliError::Config(format!("cannot write config file {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(fail)?;
        }
        let text = toml::to_string_pretty(self)
            .map_err(|e| CliError::Config(format!("cannot encode config: {e}")))?;
        let tmp = path.with_extension("toml.tmp");
        let mut o = fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        let mut f = os::create_mode(&mut o, 0o600).open(&tmp).map_err(fail)?;
        os::set_file_mode(&f, 0o600).map_err(fail)?;
        f.write_all(text.as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        fs::rename(&tmp, path).map_err(fail)
    }

    pub fn remote(&self, name: &str) -> Result<&RemoteConfig, CliError> {
        self.remotes
            .get(name)
            .ok_or_else(|| CliError::UnknownRemote(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let mut c = Config::default();
        c.remotes.insert(
            "cloud".into(),
            RemoteConfig::OneFichier {
                api_key: "SECRET".into(),
                endpoint: None,
                rate: None,
                flood_backoff: None,
                list_interval: None,
            },
        );
        c.save(&path).unwrap();
        let mode = os::mode_of(&fs::metadata(&path).unwrap()) & 0o777;
        assert_eq!(mode, 0o600);
        let back = Config::load(&path).unwrap();
        assert_eq!(back.remotes, c.remotes);
        assert!(!format!("{:?}", back.remotes["cloud"]).contains("SECRET"));
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        for field in [
            "rate = 1e-20",
            "rate = -1.0",
            "rate = nan",
            "rate = inf",
            "flood_backoff = \"99999999999999999999s\"",
            "list_interval = \"1e400s\"",
        ] {
            let text = format!("[remotes.x]\ntype = \"1fichier\"\napi_key = \"k\"\n{field}\n");
            let err = Config::parse(&text).err().unwrap_or_default();
            assert!(err.starts_with("remote 'x': "), "{field}: {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            let _ = Config::parse(&text);
        }

        #[test]
        fn fichier_entries_never_panic(
            rate in proptest::num::f64::ANY,
            backoff in "[0-9.e+-]{0,25}(|s|ms|m|h)",
            interval in ".{0,20}",
        ) {
            let rate = if rate.is_nan() { "nan".to_string() } else if rate.is_infinite() { format!("{}inf", if rate < 0.0 { "-" } else { "" }) } else { format!("{rate:e}") };
            let text = format!(
                "[remotes.x]\ntype = \"1fichier\"\napi_key = \"k\"\nrate = {rate}\nflood_backoff = {backoff:?}\nlist_interval = {interval:?}\n"
            );
            if let Ok(c) = Config::parse(&text) {
                proptest::prop_assert!(c.remotes["x"].check().is_ok());
            }
        }
    }
}
