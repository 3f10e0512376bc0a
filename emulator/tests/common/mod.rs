//! Test harness: the emulator from the shared harness (`fichier_emulator::testing`, in-process
//! on 127.0.0.1:0), and a small HTTP client for the API.

#![allow(dead_code)]

use reqwest::{multipart, redirect::Policy, Client, StatusCode};
use serde_json::{json, Value};
use std::path::Path;

pub const KEY: &str = "test-key";

/// A running emulator (the shared harness, `fichier_emulator::testing`) with an HTTP client
/// for the API; stopped on drop.
pub struct Emulator {
    inner: fichier_emulator::testing::Emulator,
    /// e.g. `http://127.0.0.1:41234`
    pub base: String,
    pub http: Client,
}

impl Emulator {
    /// Starts the emulator on a free port with `--api-key test-key` and the given extra flags.
    pub fn start(state: &Path, extra: &[&str]) -> Emulator {
        let mut args = vec!["--api-key", KEY];
        args.extend_from_slice(extra);
        let inner = fichier_emulator::testing::Emulator::with_state(state, &args);
        let base = inner.base().to_string();
        let http = Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        Emulator { inner, base, http }
    }

    /// Stops the server and waits for it.
    pub fn stop(self) {
        self.inner.stop();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a /v1 call with the test key; returns (HTTP status, JSON body).
    pub async fn call(&self, endpoint: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(Some(KEY), endpoint, body).await
    }

    pub async fn call_as(
        &self,
        key: Option<&str>,
        endpoint: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(self.url(&format!("/v1/{endpoint}.cgi")))
            .json(&body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        (status, resp.json().await.expect("JSON body"))
    }

    /// A call expected to succeed with HTTP 200 and no KO.
    pub async fn ok(&self, endpoint: &str, body: Value) -> Value {
        let (status, value) = self.call(endpoint, body).await;
        assert_eq!(status, StatusCode::OK, "{endpoint}: {value}");
        assert_ne!(value["status"], "KO", "{endpoint}: {value}");
        value
    }

    /// The full upload flow as rclone does it; returns the end.pl JSON `links`.
    pub async fn upload(&self, did: u64, files: &[(&str, &[u8])]) -> Vec<Value> {
        let id = self.upload_raw(Some(KEY), &did.to_string(), files).await;
        let report = self.end_json(&id).await;
        report["links"].as_array().expect("links").clone()
    }

    /// get_upload_server + POST upload.cgi (expects the 302); returns the upload id.
    pub async fn upload_raw(
        &self,
        key: Option<&str>,
        did: &str,
        files: &[(&str, &[u8])],
    ) -> String {
        let (node, id) = self.upload_server().await;
        self.post_upload(&node, &id, key, did, files).await;
        id
    }

    /// The upload flow, sending the multipart POST to `node` instead of the advertised host.
    pub async fn upload_via(&self, node: &str, did: u64, files: &[(&str, &[u8])]) -> Vec<Value> {
        let (_, id) = self.upload_server().await;
        self.post_upload(node, &id, Some(KEY), &did.to_string(), files)
            .await;
        self.end_json(&id).await["links"]
            .as_array()
            .expect("links")
            .clone()
    }

    /// get_upload_server (GET, no key): (node host, upload id).
    pub async fn upload_server(&self) -> (String, String) {
        let server: Value = self
            .http
            .get(self.url("/v1/upload/get_upload_server.cgi"))
            .send()
            .await
            .expect("get_upload_server")
            .json()
            .await
            .expect("server JSON");
        let node = server["url"].as_str().expect("url").to_string();
        (node, server["id"].as_str().expect("id").to_string())
    }

    async fn post_upload(
        &self,
        node: &str,
        id: &str,
        key: Option<&str>,
        did: &str,
        files: &[(&str, &[u8])],
    ) {
        let mut form = multipart::Form::new().text("did", did.to_string());
        for (name, bytes) in files {
            let part = multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string());
            form = form.part("file[]", part);
        }
        let mut req = self
            .http
            .post(format!("http://{node}/upload.cgi?id={id}"))
            .multipart(form);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.expect("upload");
        assert_eq!(resp.status(), StatusCode::FOUND, "upload answer");
        let location = resp.headers()["location"].to_str().expect("location");
        assert_eq!(location, format!("/end.pl?xid={id}"));
    }

    pub async fn end_json(&self, id: &str) -> Value {
        let resp = self
            .http
            .get(self.url(&format!("/end.pl?xid={id}")))
            .header("JSON", "1")
            .send()
            .await
            .expect("end.pl");
        resp.json().await.expect("end.pl JSON")
    }

    pub async fn list_files(&self, folder: i64) -> Vec<Value> {
        let listing = self.ok("file/ls", json!({"folder_id": folder})).await;
        listing["items"].as_array().cloned().unwrap_or_default()
    }

    pub async fn mkdir(&self, parent: u64, name: &str) -> u64 {
        let made = self
            .ok("folder/mkdir", json!({"name": name, "folder_id": parent}))
            .await;
        made["folder_id"].as_u64().expect("folder_id")
    }

    /// get_token + GET of the token URL with an optional Range header.
    pub async fn download(&self, url: &str, range: Option<&str>) -> reqwest::Response {
        let token = self
            .ok("download/get_token", json!({"url": url, "single": 1}))
            .await;
        self.get_token_url(token["url"].as_str().expect("token url"), range)
            .await
    }

    pub async fn get_token_url(&self, url: &str, range: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(url);
        if let Some(range) = range {
            req = req.header("Range", range);
        }
        req.send().await.expect("download")
    }

    pub async fn stats(&self) -> Value {
        let resp = self
            .http
            .get(self.url("/_emulator/stats"))
            .send()
            .await
            .expect("stats");
        resp.json().await.expect("stats JSON")
    }
}

/// Whirlpool of `bytes`, lowercase hex.
pub fn whirlpool_hex(bytes: &[u8]) -> String {
    use whirlpool::{Digest, Whirlpool};
    hex::encode(Whirlpool::digest(bytes))
}

/// Filenames of a listing, in order.
pub fn names(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["filename"].as_str().expect("filename"))
        .collect()
}
