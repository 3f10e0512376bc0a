//! Telling systemd how the daemon is doing (the `sd_notify` protocol: datagrams such as
//! `READY=1` to the socket named by `NOTIFY_SOCKET`, a path or an abstract name starting with
//! `@`). Without `NOTIFY_SOCKET` every call does nothing. Owns the wire format; must not decide
//! when the daemon is ready.

#[cfg(unix)]
use std::os::unix::net::UnixDatagram;

/// Sends `state` (one or more `KEY=value` lines) to systemd, if it is listening.
pub fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&target.to_string_lossy(), state) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

#[cfg(windows)]
fn send(_target: &str, _state: &str) -> std::io::Result<()> {
    Err(std::io::Error::other("no sd_notify on Windows"))
}

#[cfg(unix)]
fn send(target: &str, state: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    #[cfg(target_os = "linux")]
    if let Some(name) = target.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
        return Ok(());
    }
    socket.send_to(state.as_bytes(), target)?;
    Ok(())
}
