//! Ranged reads: one download token per file, reused while it is young (4 of its 5 minutes by
//! default) so sequential reads cost one API call, and refetched when the node answers an
//! HTML page or an error instead of bytes (an expired token). Owns tokens and ranged GETs; must
//! not resolve paths or know about empty-file placeholders.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::RANGE;
use reqwest::StatusCode;
use serde_json::json;
use tokio::time::Instant;

use super::api::DownloadToken;
use super::client::{classify, is_html, read_body, transport_error, ApiClient};
use crate::sync::lock;
use crate::{RemoteError, Result};

/// Download tokens by file URL.
pub struct Downloads {
    reuse_for: Duration,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// What one ranged GET gave.
enum Fetched {
    Data(Bytes),
    /// The token no longer works.
    Expired,
}

impl Downloads {
    pub fn new(reuse_for: Duration) -> Self {
        Self {
            reuse_for,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, url: &str) -> Option<String> {
        let tokens = lock(&self.tokens);
        let (token, at) = tokens.get(url)?;
        (at.elapsed() < self.reuse_for).then(|| token.clone())
    }

    fn remember(&self, url: &str, token: &str) {
        let mut tokens = lock(&self.tokens);
        tokens.retain(|_, (_, at)| at.elapsed() < self.reuse_for);
        tokens.insert(url.to_string(), (token.to_string(), Instant::now()));
    }

    pub fn forget(&self, url: &str) {
        lock(&self.tokens).remove(url);
    }

    /// Reads `len` bytes at `offset` of the file at `url` (fewer at its end).
    pub async fn read(
        &self,
        client: &ApiClient,
        url: &str,
        offset: u64,
        len: u64,
    ) -> Result<Bytes> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        for fresh in [false, true] {
            let token = match self.cached(url).filter(|_| !fresh) {
                Some(token) => token,
                None => self.new_token(client, url).await?,
            };
            let fetched = client
                .pacer
                .retry("download", || {
                    ranged_get(client, &token, offset, len, fresh)
                })
                .await?;
            match fetched {
                Fetched::Data(bytes) => return Ok(bytes),
                Fetched::Expired => {
                    tracing::debug!("download token no longer valid; fetching a new one");
                    self.forget(url);
                }
            }
        }
        Err(RemoteError::Transient(
            "download: a fresh token was refused too".into(),
        ))
    }

    async fn new_token(&self, client: &ApiClient, url: &str) -> Result<String> {
        let body = json!({ "url": url, "single": 0 });
        let token: DownloadToken = client.post("download/get_token.cgi", &body).await?;
        self.remember(url, &token.url);
        Ok(token.url)
    }
}

/// One ranged GET. With `trust_html`, an HTML answer is taken as the file's content (the
/// token is fresh, so the file itself is HTML).
async fn ranged_get(
    client: &ApiClient,
    token_url: &str,
    offset: u64,
    len: u64,
    trust_html: bool,
) -> Result<Fetched> {
    let last = offset.saturating_add(len - 1);
    let response = client
        .http
        .get(token_url)
        .header(reqwest::header::AUTHORIZATION, client.bearer())
        .header(RANGE, format!("bytes={offset}-{last}"))
        .send()
        .await
        .map_err(|e| transport_error("download", &e))?;
    let status = response.status();
    let html = is_html(response.headers());
    match status {
        StatusCode::RANGE_NOT_SATISFIABLE => return Ok(Fetched::Data(Bytes::new())),
        StatusCode::PARTIAL_CONTENT => {}
        StatusCode::OK if html && !trust_html => return Ok(Fetched::Expired),
        StatusCode::OK => {}
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::GONE if !trust_html => {
            return Ok(Fetched::Expired)
        }
        _ => {
            let text = read_body("download", response, 0, 64 << 10)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| format!("download: HTTP {}", status.as_u16()));
            return Err(classify(status.as_u16(), &message, None));
        }
    }
    // A node that ignored `Range` sends the whole file: skip to the range, read only it.
    let skip = if status == StatusCode::OK { offset } else { 0 };
    Ok(Fetched::Data(
        read_body("download", response, skip, len).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on loopback that answers every request with `head`, then digits for ever.
    async fn endless_server(head: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut req = [0u8; 4096];
                    let _ = sock.read(&mut req).await;
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk: Vec<u8> = (0..65_536u32).map(|i| b'0' + (i % 10) as u8).collect();
                    while sock.write_all(&chunk).await.is_ok() {}
                });
            }
        });
        format!("http://{addr}/")
    }

    /// Issue 8, item 15: a node that ignores `Range` and sends an endless whole file costs
    /// only the wanted range (the old code read the whole body into memory, for ever here).
    #[tokio::test]
    async fn item15_whole_answers_are_read_only_up_to_the_range() {
        let url =
            endless_server("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
                .await;
        let response = reqwest::get(&url).await.unwrap();
        let got = tokio::time::timeout(
            Duration::from_secs(20),
            read_body("download", response, 100_002, 5),
        )
        .await
        .expect("read the whole endless body")
        .unwrap();
        let want: Vec<u8> = (100_002..100_007u32)
            .map(|p| b'0' + (p % 65_536 % 10) as u8)
            .collect();
        assert_eq!(&got[..], &want[..]);
    }

    /// Issue 8, item 15: a JSON answer larger than the cap is refused, not held in memory.
    #[tokio::test]
    async fn item15_json_answers_are_capped() {
        let url = endless_server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n").await;
        let response = reqwest::get(&url).await.unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(60),
            crate::onefichier::client::read_json::<serde_json::Value>("folder/ls", response),
        )
        .await
        .expect("read the whole endless answer")
        .unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_reused_then_expire() {
        let downloads = Downloads::new(Duration::from_secs(240));
        downloads.remember("u", "t");
        assert_eq!(downloads.cached("u").as_deref(), Some("t"));
        tokio::time::advance(Duration::from_secs(241)).await;
        assert_eq!(downloads.cached("u"), None);
    }
}
