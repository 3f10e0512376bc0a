//! The emulator for tests, in every crate: [`Emulator::start`] serves it in-process on a free
//! loopback port, in a thread with its own runtime, over a temporary account folder (or a
//! given one), and stops it on drop. No binary path is involved, so tests pass whatever the
//! profile or target folder. Owns the harness; must not change how the server behaves.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use clap::Parser;
use tokio::sync::oneshot;

use crate::Config;

/// A running emulator; stopped (and its temporary account removed) on drop.
pub struct Emulator {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    state: PathBuf,
    args: Vec<String>,
    _temp: Option<tempfile::TempDir>,
}

/// An emulator stopped by [`Emulator::stop_for_a_while`].
pub struct Stopped {
    state: PathBuf,
    addr: String,
    args: Vec<String>,
    temp: Option<tempfile::TempDir>,
}

impl Stopped {
    /// Serves the same account on the same address again.
    pub fn start(self) -> Emulator {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut emu = Emulator::launch(&self.state, &self.addr, &args);
        emu._temp = self.temp;
        emu
    }
}

impl Emulator {
    /// Starts on 127.0.0.1:0 over a fresh account, with the emulator's flags `args`
    /// (`--api-key K`, `--rate-limit 2/s`, …) as on its command line.
    pub fn start(args: &[&str]) -> Emulator {
        let temp = tempfile::Builder::new()
            .prefix("fichier-emu-")
            .tempdir()
            .expect("a temporary account folder");
        let mut emu = Self::with_state(temp.path(), args);
        emu._temp = Some(temp);
        emu
    }

    /// Starts over the account kept in `state` (to see it again after a restart).
    pub fn with_state(state: &Path, args: &[&str]) -> Emulator {
        Self::launch(state, "127.0.0.1:0", args)
    }

    /// Stops the server but keeps its account and address, for [`Stopped::start`]: a remote
    /// that goes away and comes back.
    pub fn stop_for_a_while(mut self) -> Stopped {
        self.shutdown();
        Stopped {
            state: self.state.clone(),
            addr: self.base.trim_start_matches("http://").to_string(),
            args: self.args.clone(),
            temp: self._temp.take(),
        }
    }

    fn launch(state: &Path, listen: &str, args: &[&str]) -> Emulator {
        let mut argv = vec!["fichier-emulator", "--listen", listen, "--state"];
        argv.push(state.to_str().expect("a UTF-8 state path"));
        argv.extend_from_slice(args);
        let cfg = Config::try_parse_from(&argv).unwrap_or_else(|e| panic!("emulator flags: {e}"));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the emulator's runtime");
            let ready = ready_tx.clone();
            let result = rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(cfg.listen)
                    .await
                    .map_err(|e| e.to_string())?;
                let on_ready = move |addr| {
                    let _ = ready.send(Ok(addr));
                };
                crate::serve(cfg, listener, on_ready, async {
                    let _ = stopped.await;
                })
                .await
            });
            if let Err(e) = result {
                let _ = ready_tx.send(Err(e));
            }
        });
        let addr = ready_rx
            .recv()
            .expect("the emulator thread ended before it was ready")
            .unwrap_or_else(|e| panic!("the emulator did not start: {e}"));
        Emulator {
            base: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
            state: state.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            _temp: None,
        }
    }

    /// e.g. `http://127.0.0.1:41234`
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The API root clients are configured with: `<base>/v1`.
    pub fn endpoint(&self) -> String {
        format!("{}/v1", self.base)
    }

    /// The folder holding the account.
    pub fn state(&self) -> &Path {
        &self.state
    }

    /// `GET /_emulator/stats`: call counts per endpoint and totals.
    pub fn stats(&self) -> serde_json::Value {
        let body = self.http("GET", "/_emulator/stats", "");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("stats ({e}): {body}"))
    }

    /// `POST /_emulator/<what>` with a JSON body (faults, limits, the clock…); returns the
    /// answer's body.
    pub fn post(&self, what: &str, json: &str) -> String {
        self.http("POST", &format!("/_emulator/{what}"), json)
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// A one-shot HTTP/1.0 exchange: enough for the control endpoints, without a client crate.
    fn http(&self, method: &str, path: &str, body: &str) -> String {
        let addr = self.base.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect to the emulator");
        let req = format!(
            "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).expect("send to the emulator");
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .expect("read the emulator's answer");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(
            head.starts_with("HTTP/1.0 2") || head.starts_with("HTTP/1.1 2"),
            "{method} {path}: {head}"
        );
        body.to_string()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}
