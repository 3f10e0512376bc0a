//! Opens the provider a remote's config names. Owns construction only; the providers live in
//! `ourclone-remote`.

use std::sync::Arc;

use std::time::Duration;

use ourclone_remote::dal::{DalConfig, DalRemote, S3Config, SftpConfig, WebDavConfig};
use ourclone_remote::local::LocalRemote;
use ourclone_remote::onefichier::{OneFichierConfig, OneFichierRemote};
use ourclone_remote::{Remote, RemoteError};

use crate::config::RemoteConfig;
use crate::error::CliError;

/// Maps a provider error met while opening or checking a remote to the user's one line.
pub fn remote_error(name: &str, e: RemoteError) -> CliError {
    remote_error_of(name, "1fichier", e)
}

/// [`remote_error`] for a remote of type `kind`: the fix it names depends on the provider.
pub fn remote_error_of(name: &str, kind: &str, e: RemoteError) -> CliError {
    match e {
        RemoteError::Auth(msg) if kind == "1fichier" => CliError::Credentials(format!(
            "remote '{name}': {msg}; create a new API key in the 1Fichier console \
             (https://1fichier.com/console/params.pl) and run `ourclone-fs remote update {name} --api-key-stdin`"
        )),
        RemoteError::Auth(msg) => CliError::Credentials(format!(
            "remote '{name}': the {kind} server refused the credentials ({msg}); check them and add the remote again"
        )),
        e => CliError::Other(anyhow::anyhow!("remote '{name}': {e}")),
    }
}

pub async fn open(name: &str, cfg: &RemoteConfig) -> Result<Arc<dyn Remote>, CliError> {
    match cfg {
        RemoteConfig::Local { path } => {
            let r = LocalRemote::open(path).map_err(|e| {
                CliError::Config(format!(
                    "remote '{name}': folder {} is not usable: {e}",
                    path.display()
                ))
            })?;
            let umask = crate::USER_UMASK.get().copied().unwrap_or(0o022);
            Ok(Arc::new(r.with_umask(umask)))
        }
        RemoteConfig::OneFichier {
            api_key,
            endpoint,
            rate,
            flood_backoff,
            list_interval,
        } => {
            let mut c = OneFichierConfig::new(api_key.clone());
            if let Some(e) = endpoint {
                c.endpoint = e.trim_end_matches('/').to_string();
            }
            if let Some(r) = rate {
                c.calls_per_second = *r;
            }
            let duration = |v: &Option<String>, what: &str| -> Result<Option<Duration>, CliError> {
                v.as_deref()
                    .map(|s| {
                        crate::parse_duration(s)
                            .map_err(|e| CliError::Config(format!("remote '{name}': {what}: {e}")))
                    })
                    .transpose()
            };
            if let Some(d) = duration(flood_backoff, "flood_backoff")? {
                c.flood_backoff = d;
            }
            if let Some(d) = duration(list_interval, "list_interval")? {
                c.list_interval = d;
            }
            let r = OneFichierRemote::new(c).map_err(|e| remote_error(name, e))?;
            Ok(Arc::new(r))
        }
        other => {
            let config = dal_config(other).ok_or_else(|| {
                CliError::Config(format!("remote '{name}': unknown provider type"))
            })?;
            let r = DalRemote::new(&config).map_err(|e| remote_error_of(name, other.kind(), e))?;
            Ok(Arc::new(r))
        }
    }
}

/// The connection settings of a remote OpenDAL reaches (S3, WebDAV, SFTP).
fn dal_config(cfg: &RemoteConfig) -> Option<DalConfig> {
    Some(match cfg.clone() {
        RemoteConfig::S3 {
            endpoint,
            bucket,
            region,
            path_style,
            access_key_id,
            secret_access_key,
            root,
        } => DalConfig::S3(S3Config {
            endpoint,
            bucket,
            region,
            path_style,
            access_key_id,
            secret_access_key,
            root,
        }),
        RemoteConfig::WebDav {
            url,
            user,
            password,
            root,
        } => DalConfig::WebDav(WebDavConfig {
            url,
            user,
            password,
            root,
        }),
        RemoteConfig::Sftp {
            host,
            port,
            user,
            key_file,
            root,
        } => DalConfig::Sftp(SftpConfig {
            host,
            port,
            user,
            key_file,
            root,
        }),
        RemoteConfig::Local { .. } | RemoteConfig::OneFichier { .. } => return None,
    })
}
