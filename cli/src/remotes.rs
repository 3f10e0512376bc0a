//! Opens the provider a remote's config names. Owns construction only; the providers live in
//! `ourclone-remote`.

use std::sync::Arc;

use ourclone_remote::local::LocalRemote;
use ourclone_remote::{Remote, RemoteError};

use crate::config::RemoteConfig;
use crate::error::CliError;

/// Maps a provider error met while opening or checking a remote to the user's one line.
pub fn remote_error(name: &str, e: RemoteError) -> CliError {
    match e {
        RemoteError::Auth(msg) => CliError::Credentials(format!(
            "remote '{name}': {msg}; create a new API key in the 1Fichier console \
             (https://1fichier.com/console/params.pl) and run `ourclone-fs remote update {name} --api-key-stdin`"
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
            Ok(Arc::new(r))
        }
        RemoteConfig::OneFichier { .. } => Err(CliError::Config(format!(
            "remote '{name}': the 1fichier provider is not available in this build"
        ))),
    }
}
