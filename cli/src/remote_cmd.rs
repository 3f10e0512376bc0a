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
    S3,
    Webdav,
    Sftp,
}

/// What `remote add` takes; which flags apply depends on `--type`.
#[derive(clap::Args)]
pub struct AddArgs {
    name: String,
    #[arg(long = "type", value_enum)]
    kind: RemoteType,
    /// local: the folder that plays the cloud.
    #[arg(long)]
    path: Option<PathBuf>,
    /// 1fichier: read the API key from stdin (else from OURCLONE_1FICHIER_API_KEY).
    #[arg(long)]
    api_key_stdin: bool,
    /// 1fichier: API base URL (default https://api.1fichier.com/v1). s3: the service's URL.
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
    /// s3: the bucket.
    #[arg(long)]
    bucket: Option<String>,
    /// s3: the region (default us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// s3: address the bucket as ENDPOINT/BUCKET (MinIO, most self-hosted servers).
    #[arg(long)]
    path_style: bool,
    /// s3: read the key id and the secret from stdin, one per line (else from
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
    #[arg(long)]
    secret_stdin: bool,
    /// webdav: the server's URL.
    #[arg(long)]
    url: Option<String>,
    /// webdav, sftp: the user to log in as.
    #[arg(long)]
    user: Option<String>,
    /// webdav: read the password from stdin (else OURCLONE_WEBDAV_PASSWORD, else a prompt).
    #[arg(long)]
    password_stdin: bool,
    /// sftp: the server's host name or address.
    #[arg(long)]
    host: Option<String>,
    /// sftp: the server's port (default 22).
    #[arg(long, default_value_t = 22)]
    port: u16,
    /// sftp: the private key to log in with (else the ssh-agent or ~/.ssh keys).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// s3, webdav, sftp: the folder on the server that plays the remote's root.
    #[arg(long, default_value = "")]
    root: String,
}

#[derive(Subcommand)]
pub enum RemoteAction {
    /// Add a remote.
    Add(Box<AddArgs>),
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

pub(crate) fn stdin_text(what: &str) -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::Usage(format!("cannot read the {what} from stdin: {e}")))?;
    Ok(s)
}

/// The S3 key id and secret: two lines on stdin, or the AWS environment variables.
fn s3_keys(from_stdin: bool) -> Result<(String, String), CliError> {
    let (id, secret) = if from_stdin {
        let text = stdin_text("key id and secret")?;
        let mut lines = text.lines().map(str::trim);
        let id = lines.next().unwrap_or_default().to_string();
        (id, lines.next().unwrap_or_default().to_string())
    } else {
        let var = |k: &str| std::env::var(k).unwrap_or_default().trim().to_string();
        (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
    };
    if id.is_empty() || secret.is_empty() {
        return Err(CliError::Usage(
            "no S3 keys: pipe the key id and the secret (two lines) to --secret-stdin, or set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                .into(),
        ));
    }
    Ok((id, secret))
}

/// A WebDAV password: stdin, else the environment, else a prompt on a terminal.
fn webdav_password(from_stdin: bool) -> Result<String, CliError> {
    let password = if from_stdin {
        stdin_text("password")?
            .trim_end_matches(['\r', '\n'])
            .to_string()
    } else if let Ok(p) = std::env::var("OURCLONE_WEBDAV_PASSWORD") {
        p
    } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        rpassword::prompt_password("WebDAV password: ")
            .map_err(|e| CliError::Usage(format!("cannot read the password: {e}")))?
    } else {
        String::new()
    };
    if password.is_empty() {
        return Err(CliError::Usage(
            "no WebDAV password: pipe it to --password-stdin or set OURCLONE_WEBDAV_PASSWORD"
                .into(),
        ));
    }
    Ok(password)
}

fn needs<T>(v: Option<T>, what: &str) -> Result<T, CliError> {
    v.ok_or_else(|| CliError::Usage(format!("this --type needs {what}")))
}

/// The config entry `remote add` describes; secrets come from stdin or the environment.
fn new_remote(a: AddArgs) -> Result<RemoteConfig, CliError> {
    Ok(match a.kind {
        RemoteType::Local => {
            let path = needs(a.path, "--path DIR")?;
            let path = std::fs::canonicalize(&path).map_err(|_| {
                CliError::Usage(format!("folder {} does not exist", path.display()))
            })?;
            RemoteConfig::Local { path }
        }
        RemoteType::OneFichier => RemoteConfig::OneFichier {
            api_key: api_key(a.api_key_stdin)?,
            endpoint: a.endpoint,
            rate: a.rate,
            flood_backoff: a.flood_backoff.map(|d| format!("{}ms", d.as_millis())),
            list_interval: a.list_interval.map(|d| format!("{}ms", d.as_millis())),
        },
        RemoteType::S3 => {
            let endpoint = needs(a.endpoint, "--endpoint URL")?;
            let bucket = needs(a.bucket, "--bucket NAME")?;
            let (access_key_id, secret_access_key) = s3_keys(a.secret_stdin)?;
            RemoteConfig::S3 {
                endpoint,
                bucket,
                region: a.region,
                path_style: a.path_style,
                access_key_id,
                secret_access_key,
                root: a.root,
            }
        }
        RemoteType::Webdav => RemoteConfig::WebDav {
            url: needs(a.url, "--url URL")?,
            user: needs(a.user, "--user NAME")?,
            password: Some(webdav_password(a.password_stdin)?),
            root: a.root,
        },
        RemoteType::Sftp => {
            if a.password_stdin || std::env::var_os("OURCLONE_SFTP_PASSWORD").is_some() {
                return Err(CliError::Usage(
                    "sftp remotes log in with a key (--key-file or the ssh-agent); password \
                     login is not supported"
                        .into(),
                ));
            }
            let key_file = a
                .key_file
                .map(|k| {
                    std::fs::canonicalize(&k).map_err(|_| {
                        CliError::Usage(format!("key file {} does not exist", k.display()))
                    })
                })
                .transpose()?;
            RemoteConfig::Sftp {
                host: needs(a.host, "--host NAME")?,
                port: a.port,
                user: needs(a.user, "--user NAME")?,
                key_file,
                root: a.root,
            }
        }
    })
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
            .map_err(|e| crate::remotes::remote_error_of(name, remote.kind(), e))
    })
}

pub fn run(action: RemoteAction, config_path: &Path) -> Result<(), CliError> {
    let mut config = Config::load(config_path)?;
    match action {
        RemoteAction::Add(args) => {
            let name = args.name.clone();
            valid_name(&name)?;
            if config.remotes.contains_key(&name) {
                return Err(CliError::Usage(format!(
                    "a remote named '{name}' exists already; remove it first"
                )));
            }
            let remote = new_remote(*args)?;
            check(&name, &remote)?;
            config.remotes.insert(name.clone(), remote);
            config.save(config_path)?;
            if cfg!(target_os = "linux") {
                println!(
                    "Added remote '{name}'. Mount it with: ourclone-fs mount {name}: MOUNTPOINT"
                );
            } else {
                println!("Added remote '{name}'. Serve it with: ourclone-fs serve webdav {name}:");
            }
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
