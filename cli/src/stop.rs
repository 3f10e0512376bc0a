//! What asks a long-running command (a mount, a server, a job) to stop: Ctrl-C everywhere,
//! SIGTERM on unix, closing the console window on Windows, and SIGHUP, which
//! the mount daemon takes as "refresh the listings". Owns listening for them; must not decide
//! what a stop does.

/// One kind of signal. One we could not listen for, or that the platform lacks, never comes.
pub(crate) struct Signal {
    #[cfg(unix)]
    inner: Option<tokio::signal::unix::Signal>,
    #[cfg(windows)]
    inner: Option<tokio::signal::windows::CtrlClose>,
}

impl Signal {
    /// SIGTERM; on Windows, the console window being closed (Windows then allows a few
    /// seconds before it ends the process).
    pub fn terminate() -> Self {
        #[cfg(unix)]
        {
            Self::unix(tokio::signal::unix::SignalKind::terminate())
        }
        #[cfg(windows)]
        {
            Self {
                inner: tokio::signal::windows::ctrl_close().ok(),
            }
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
            Self { inner: None }
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
        Ok(()) = tokio::signal::ctrl_c() => {}
        () = term.recv() => {}
    }
}

/// Every Ctrl-C and SIGTERM (console close on Windows), as one stream.
pub(crate) fn stop_stream() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut term = Signal::terminate();
    tokio::spawn(async move {
        loop {
            stop_requested(&mut term).await;
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    rx
}
