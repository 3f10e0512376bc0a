//! Call counters served by `GET /_emulator/stats` and zeroed by `POST /_emulator/reset-stats`.

use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Every endpoint counted, by its stats name: the /v1 path without `/v1/` and `.cgi` (except
/// `get_upload_server`, named without its `upload/` folder), plus `upload` (upload.cgi), `end`
/// (end.pl) and `download` (token URLs).
pub const ENDPOINTS: [&str; 16] = [
    "folder/ls",
    "file/ls",
    "file/info",
    "folder/mkdir",
    "folder/rm",
    "folder/mv",
    "file/rm",
    "file/mv",
    "file/cp",
    "file/rename",
    "download/get_token",
    "user/info",
    "get_upload_server",
    "upload",
    "end",
    "download",
];

/// Stats name of a request path, or `None` for paths that are not counted.
pub fn endpoint_of(path: &str) -> Option<&'static str> {
    let name = match path {
        "/upload.cgi" => "upload",
        "/end.pl" => "end",
        _ if is_token_path(path) => "download",
        "/v1/upload/get_upload_server.cgi" => "get_upload_server",
        _ => path.strip_prefix("/v1/")?.strip_suffix(".cgi")?,
    };
    ENDPOINTS.iter().copied().find(|e| *e == name)
}

/// Whether the path is a /v1 API call (as opposed to upload node / download host).
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/v1/")
}

fn is_token_path(path: &str) -> bool {
    path.strip_prefix("/p")
        .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[derive(Debug, Default)]
pub struct Stats {
    calls: [AtomicU64; ENDPOINTS.len()],
    total_api_calls: AtomicU64,
    throttled: AtomicU64,
    faults: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    files_uploaded: AtomicU64,
    list_violations: AtomicU64,
}

impl Stats {
    pub fn call(&self, endpoint: &str) {
        if let Some(i) = ENDPOINTS.iter().position(|e| *e == endpoint) {
            self.calls[i].fetch_add(1, Relaxed);
        }
    }

    pub fn api_call(&self) {
        self.total_api_calls.fetch_add(1, Relaxed);
    }

    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Relaxed);
    }

    pub fn list_violation(&self) {
        self.list_violations.fetch_add(1, Relaxed);
        self.throttled();
    }

    pub fn fault(&self) {
        self.faults.fetch_add(1, Relaxed);
    }

    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Relaxed);
    }

    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Relaxed);
    }

    pub fn files_uploaded(&self, n: u64) {
        self.files_uploaded.fetch_add(n, Relaxed);
    }

    pub fn snapshot(&self) -> Value {
        let calls: Map<String, Value> = ENDPOINTS
            .iter()
            .zip(&self.calls)
            .map(|(name, n)| (name.to_string(), n.load(Relaxed).into()))
            .collect();
        json!({
            "calls": calls,
            "total_api_calls": self.total_api_calls.load(Relaxed),
            "throttled": self.throttled.load(Relaxed),
            "faults": self.faults.load(Relaxed),
            "bytes_in": self.bytes_in.load(Relaxed),
            "bytes_out": self.bytes_out.load(Relaxed),
            "files_uploaded": self.files_uploaded.load(Relaxed),
            "list_violations": self.list_violations.load(Relaxed),
        })
    }

    pub fn reset(&self) {
        let scalars = [
            &self.total_api_calls,
            &self.throttled,
            &self.faults,
            &self.bytes_in,
            &self.bytes_out,
            &self.files_uploaded,
            &self.list_violations,
        ];
        self.calls
            .iter()
            .chain(scalars)
            .for_each(|n| n.store(0, Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_endpoints() {
        assert_eq!(endpoint_of("/v1/folder/ls.cgi"), Some("folder/ls"));
        assert_eq!(
            endpoint_of("/v1/upload/get_upload_server.cgi"),
            Some("get_upload_server")
        );
        assert_eq!(endpoint_of("/upload.cgi"), Some("upload"));
        assert_eq!(endpoint_of("/end.pl"), Some("end"));
        assert_eq!(endpoint_of("/p123456"), Some("download"));
        assert_eq!(endpoint_of("/v1/nope.cgi"), None);
        assert_eq!(endpoint_of("/_emulator/stats"), None);
    }
}
