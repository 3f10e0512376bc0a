//! fichier-emulator: flags, logging and startup. Binds the listener, prints
//! `fichier-emulator listening on http://ADDR` (so tests learn the port) and serves until
//! Ctrl-C / SIGTERM.

use clap::Parser;
use std::{io::Write, net::SocketAddr, process::ExitCode};
use tokio::net::TcpListener;

use fichier_emulator::Config;

fn main() -> ExitCode {
    let cfg = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

async fn run(cfg: Config) -> Result<(), String> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    fichier_emulator::serve(cfg, listener, announce, shutdown_signal()).await
}

fn announce(bound: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "fichier-emulator listening on http://{bound}");
    let _ = out.flush();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

fn fail(message: &str) -> ExitCode {
    eprintln!("fichier-emulator: {message}");
    ExitCode::FAILURE
}
