//! `remote add|list|update|remove`: manages the named remotes in the config file. Secrets
//! are read from stdin or the environment, never from arguments, and never printed.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use crate::config::{Config, RemoteConfig};
use crate::error::CliError;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RemoteType {
    Local,
    #[value(name = "1fichier")]
    OneFichier,
}

#[derive(Subcommand)]
pub enum RemoteAction {
    /// Add a remote.
    Add {
        name: String,
        #[arg(long = "type", value_enum)]
        kind: RemoteType,
        /// local: the folder that plays the cloud.
        #[arg(long)]
        path: Option<PathBuf>,
        /// 1fichier: read the API key from stdin (else from OURCLONE_1FICHIER_API_KEY).
        #[arg(long)]
        api_key_stdin: bool,
        /// 1fichier: API base URL (default https://api.1fichier.com/v1).
        #[arg(long)]
        endpoint: Option<String>,
        /// 1fichier: API calls per second for the account (default 1.8).
        #[arg(long, value_parser = crate::parse_rate)]
        rate: Option<f64>,
        /// 1fichier: pause after a "Flood detected" answer (default 30s).
        #[arg(long, value_parser = crate::parse_duration)]
        flood_backoff: Option<std::time::Duration>,
        /// 1fichier: shortest interval between two listings of one folder (default 30s).
        #[arg(long, value_parser = crate::parse_duration)]
        list_interval: Option<std::time::Duration>,
    },
    /// List remotes.
    List,
    /// Replace a 1fichier remote's API key (from stdin or the environment).
    Update {
        name: String,
        #[arg(long)]
        api_key_stdin: bool,
    },
    /// Remove a remote from the config (nothing on the remote is touched).
    Remove { name: String },
}

fn api_key(from_stdin: bool) -> Result<String, CliError> {
    let key = if from_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("cannot read the API key from stdin: {e}")))?;
        s
    } else {
        std::env::var("OURCLONE_1FICHIER_API_KEY").unwrap_or_default()
    };
    let key = key.trim().to_string();
    if key.is_empty() {
        return Err(CliError::Usage(
            "no API key: pipe it to --api-key-stdin or set OURCLONE_1FICHIER_API_KEY".into(),
        ));
    }
    Ok(key)
}

fn valid_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "remote name '{name}' may only hold letters, digits, '-' and '_'"
        )))
    }
}

/// Checks a remote once, so a bad path or key is caught at `add`, not at the first mount.
pub(crate) fn check(name: &str, remote: &RemoteConfig) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(e.into()))?;
    rt.block_on(async {
        let r = crate::remotes::open(name, remote).await?;
        r.about()
            .await
            .map(|_| ())
            .map_err(|e| crate::remotes::remote_error(name, e))
    })
}

pub fn run(action: RemoteAction, config_path: &Path) -> Result<(), CliError> {
    let mut config = Config::load(config_path)?;
    match action {
        RemoteAction::Add {
            name,
            kind,
            path,
            api_key_stdin,
            endpoint,
            rate,
            flood_backoff,
            list_interval,
        } => {
            valid_name(&name)?;
            if config.remotes.contains_key(&name) {
                return Err(CliError::Usage(format!(
                    "a remote named '{name}' exists already; remove it first"
                )));
            }
            let remote = match kind {
                RemoteType::Local => {
                    let path = path
                        .ok_or_else(|| CliError::Usage("--type local needs --path DIR".into()))?;
                    let path = std::fs::canonicalize(&path).map_err(|_| {
                        CliError::Usage(format!("folder {} does not exist", path.display()))
                    })?;
                    RemoteConfig::Local { path }
                }
                RemoteType::OneFichier => RemoteConfig::OneFichier {
                    api_key: api_key(api_key_stdin)?,
                    endpoint,
                    rate,
                    flood_backoff: flood_backoff.map(|d| format!("{}ms", d.as_millis())),
                    list_interval: list_interval.map(|d| format!("{}ms", d.as_millis())),
                },
            };
            check(&name, &remote)?;
            config.remotes.insert(name.clone(), remote);
            config.save(config_path)?;
            println!("Added remote '{name}'. Mount it with: ourclone-fs mount {name}: MOUNTPOINT");
        }
        RemoteAction::List => {
            for (name, r) in &config.remotes {
                println!("{name}\t{}\t{}", r.kind(), r.describe());
            }
        }
        RemoteAction::Update {
            name,
            api_key_stdin,
        } => {
            let Some(RemoteConfig::OneFichier { api_key: key, .. }) = config.remotes.get_mut(&name)
            else {
                return Err(match config.remotes.contains_key(&name) {
                    true => CliError::Usage(format!("remote '{name}' has no API key to update")),
                    false => CliError::UnknownRemote(name),
                });
            };
            *key = api_key(api_key_stdin)?;
            let updated = config.remotes[&name].clone();
            check(&name, &updated)?;
            config.save(config_path)?;
            println!("Updated the API key of remote '{name}'.");
        }
        RemoteAction::Remove { name } => {
            config
                .remotes
                .remove(&name)
                .ok_or_else(|| CliError::UnknownRemote(name.clone()))?;
            config.save(config_path)?;
            println!("Removed remote '{name}'.");
        }
    }
    Ok(())
}
