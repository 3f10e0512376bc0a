//! What asks a long-running command (a mount, a server, a job) to stop: Ctrl-C everywhere,
//! SIGTERM on unix, and SIGHUP, which the mount daemon takes as "refresh the listings". Owns
//! listening for them; must not decide what a stop does.

use crate::error::CliError;

/// One kind of signal. One we could not listen for, or that the platform lacks, never comes.
pub(crate) struct Signal {
    #[cfg(unix)]
    inner: Option<tokio::signal::unix::Signal>,
}

impl Signal {
    /// SIGTERM (none on Windows).
    pub fn terminate() -> Self {
        #[cfg(unix)]
        {
            Self::unix(tokio::signal::unix::SignalKind::terminate())
        }
        #[cfg(windows)]
        {
            Self {}
        }
    }

    /// SIGHUP (none on Windows).
    pub fn hangup() -> Self {
        #[cfg(unix)]
        {
            Self::unix(tokio::signal::unix::SignalKind::hangup())
        }
        #[cfg(windows)]
        {
            Self {}
        }
    }

    #[cfg(unix)]
    fn unix(kind: tokio::signal::unix::SignalKind) -> Self {
        Self {
            inner: tokio::signal::unix::signal(kind).ok(),
        }
    }

    /// The next delivery.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.inner.as_mut() {
            if s.recv().await.is_some() {
                return;
            }
        }
        std::future::pending().await
    }
}

/// Ctrl-C or `term`, whichever comes first.
pub(crate) async fn stop_requested(term: &mut Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term.recv() => {}
    }
}

/// Every Ctrl-C and SIGTERM, as one stream.
pub(crate) fn stop_stream() -> Result<tokio::sync::mpsc::Receiver<()>, CliError> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let cannot =
        |e: std::io::Error| CliError::Other(anyhow::anyhow!("cannot watch for signals: {e}"));
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{signal, SignalKind};
        [SignalKind::interrupt(), SignalKind::terminate()]
            .into_iter()
            .map(|k| signal(k).map_err(cannot))
            .collect::<Result<Vec<_>, _>>()?
    };
    #[cfg(windows)]
    let streams = vec![tokio::signal::windows::ctrl_c().map_err(cannot)?];
    for mut s in streams {
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(()).await.is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}
