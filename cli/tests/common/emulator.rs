//! The 1Fichier emulator as a real child process on loopback, for end-to-end tests. It accepts
//! two customer keys (`KEY`, `KEY2`) and one non-customer key (`FREE_KEY`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::sh;

pub const KEY: &str = "good-key-0123456789";
pub const KEY2: &str = "second-key-0123456789";
pub const FREE_KEY: &str = "free-key-0123456789";

/// The emulator as a child process on 127.0.0.1, killed on drop.
pub struct Emulator {
    child: Child,
    base: String,
    _state: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    pub fn start(extra: &[&str]) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/fichier-emulator");
        assert!(
            path.exists(),
            "{} is missing: run `cargo build --bins` first",
            path.display()
        );
        let state = tempfile::Builder::new()
            .prefix("fichier-emu-")
            .tempdir()
            .unwrap();
        let mut child = Command::new(path)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--api-key",
                KEY,
                "--api-key",
                KEY2,
            ])
            .args(["--non-customer-key", FREE_KEY])
            .arg("--state")
            .arg(state.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("emulator banner");
        let base = line
            .trim()
            .strip_prefix("fichier-emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
            .to_string();
        Self {
            child,
            base,
            _state: state,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("{}/v1", self.base)
    }

    pub fn stats(&self) -> Value {
        let out = sh(&format!("curl -sf {}/_emulator/stats", self.base));
        serde_json::from_str(&out).expect("stats json")
    }

    pub fn post(&self, what: &str, body: &str) {
        sh(&format!(
            "curl -sf -X POST -H 'Content-Type: application/json' -d '{body}' {}/_emulator/{what}",
            self.base
        ));
    }
}
