//! The HTTP side of 1Fichier: the API key, the reqwest clients, paced JSON POSTs to the API and
//! the mapping of every failure (KO answers, HTTP statuses, HTML pages, transport errors) to a
//! [`RemoteError`]. Must not know about paths, folders or caches, and never puts the key in a
//! message, a log line or a `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::pacer::Pacer;
use crate::{RemoteError, Result};

/// An API key that never shows itself.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A non-secret identifier of the account (a truncated Whirlpool of the key), used to
    /// find the account's shared Pacer.
    pub fn fingerprint(&self) -> String {
        let hex = super::checksum::whirlpool_hex(self.0.as_bytes());
        format!("1fichier:{}", &hex[..16])
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Talks HTTP to the API and to upload/download nodes, through the account's Pacer.
pub struct ApiClient {
    /// Follows redirects: API calls, end.pl and downloads.
    pub(crate) http: reqwest::Client,
    /// Does not follow redirects: the upload POST, whose 302 only points at end.pl.
    pub(crate) http_no_redirect: reqwest::Client,
    base: String,
    key: ApiKey,
    pub(crate) pacer: Arc<Pacer>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    pub fn new(base: &str, key: ApiKey, pacer: Arc<Pacer>, timeout: Duration) -> Result<Self> {
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(30))
                .read_timeout(timeout)
                .redirect(redirects)
                .user_agent(concat!("ourclone/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| RemoteError::Permanent(format!("cannot build the HTTP client: {e}")))
        };
        Ok(Self {
            http: build(reqwest::redirect::Policy::limited(5))?,
            http_no_redirect: build(reqwest::redirect::Policy::none())?,
            base: base.trim_end_matches('/').to_string(),
            key,
            pacer,
        })
    }

    /// `http` or `https`, as the configured endpoint: upload nodes are named by host only.
    pub fn node_scheme(&self) -> &'static str {
        if self.base.starts_with("http://") {
            "http"
        } else {
            "https"
        }
    }

    /// The full URL of a node answer that may be a bare host (`up2.1fichier.com`).
    pub fn node_url(&self, host_or_url: &str, path_and_query: &str) -> String {
        let host = host_or_url.trim_end_matches('/');
        if host.contains("://") {
            format!("{host}{path_and_query}")
        } else {
            format!("{}://{host}{path_and_query}", self.node_scheme())
        }
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.key.expose())
    }

    /// POSTs `body` to `endpoint` (e.g. `folder/ls.cgi`) with a token and the retry policy.
    pub async fn post<T: DeserializeOwned>(&self, endpoint: &str, body: &Value) -> Result<T> {
        self.pacer
            .call(endpoint, || self.post_once(endpoint, body))
            .await
    }

    /// One POST, after the caller took a token.
    pub async fn post_once<T: DeserializeOwned>(&self, endpoint: &str, body: &Value) -> Result<T> {
        let url = format!("{}/{endpoint}", self.base);
        let response = self
            .http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, self.bearer())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| transport_error(endpoint, &e))?;
        read_json(endpoint, response).await
    }
}

/// Largest JSON answer read (a listing of 5,000 entries is about 2 MiB): a broken or hostile
/// server must not make us hold an endless body in memory.
pub const MAX_JSON: u64 = 32 << 20;

/// Reads a JSON answer, mapping KO bodies, error statuses and HTML pages to errors.
pub async fn read_json<T: DeserializeOwned>(what: &str, response: reqwest::Response) -> Result<T> {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = read_body(what, response, 0, MAX_JSON + 1).await?;
    if body.len() as u64 > MAX_JSON {
        return Err(RemoteError::Transient(format!(
            "{what}: answer larger than {MAX_JSON} bytes"
        )));
    }
    parse_answer(what, status, retry_after, &String::from_utf8_lossy(&body))
}

/// Reads `take` bytes of a body after skipping `skip`, chunk by chunk, and stops reading
/// there: never more than `take` bytes in memory, whatever the server sends (a download node
/// that ignores `Range` and sends the whole file, an endless answer).
pub async fn read_body(
    what: &str,
    mut response: reqwest::Response,
    skip: u64,
    take: u64,
) -> Result<bytes::Bytes> {
    let mut out = bytes::BytesMut::new();
    let mut pos = 0u64;
    while (out.len() as u64) < take {
        let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(what, &e))?
        else {
            break;
        };
        let start = skip.saturating_sub(pos).min(chunk.len() as u64) as usize;
        pos += chunk.len() as u64;
        let room = (take - out.len() as u64) as usize;
        let piece = &chunk[start..];
        out.extend_from_slice(&piece[..piece.len().min(room)]);
    }
    Ok(out.freeze())
}

/// Turns one answer into `T` or the error it means.
pub fn parse_answer<T: DeserializeOwned>(
    what: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
) -> Result<T> {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Err(non_json_error(what, status, retry_after));
    };
    let ko = value.get("status").and_then(Value::as_str) == Some("KO");
    if ko || !status.is_success() {
        let message = value.get("message").and_then(Value::as_str).unwrap_or("");
        let message = if message.is_empty() {
            format!("{what}: HTTP {}", status.as_u16())
        } else {
            format!("{what}: {message}")
        };
        return Err(classify(status.as_u16(), &message, retry_after));
    }
    serde_json::from_value(value)
        .map_err(|e| RemoteError::Permanent(format!("{what}: unexpected answer: {e}")))
}

/// The number after the first `#` of a 1Fichier message (`Flood detected #374` → 374).
pub fn message_code(message: &str) -> Option<u32> {
    let (_, after) = message.split_once('#')?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Maps a KO answer (its HTTP status and `message`) to what the caller may do about it.
pub fn classify(http: u16, message: &str, retry_after: Option<Duration>) -> RemoteError {
    let code = message_code(message);
    let lower = message.to_lowercase();
    let message = message.to_string();
    if matches!(code, Some(93 | 247 | 12))
        || http == 401
        || lower.contains("not authenticated")
        || lower.contains("no such user")
    {
        return RemoteError::Auth(format!("the API key was refused ({message})"));
    }
    if code == Some(200) || lower.contains("must be a customer") {
        return RemoteError::Auth(format!(
            "the account must be Premium or Access to use the API ({message})"
        ));
    }
    if lower.contains("flood") || matches!(code, Some(374 | 412 | 38)) || http == 429 {
        return RemoteError::Throttled {
            message,
            retry_after,
        };
    }
    if code == Some(469) || matches!(http, 404 | 410) || lower.contains("not found") {
        return RemoteError::NotFound(message);
    }
    if lower.contains("not empty") || lower.contains("non-empty") || lower.contains("non empty") {
        return RemoteError::NotEmpty(message);
    }
    if lower.contains("already exist") {
        return RemoteError::AlreadyExists(message);
    }
    if http >= 500 {
        return RemoteError::Transient(message);
    }
    RemoteError::Permanent(message)
}

/// An answer that is not JSON: an HTML error or "Please wait" page, a proxy's page.
pub fn non_json_error(
    what: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
) -> RemoteError {
    let http = status.as_u16();
    let message = format!("{what}: HTTP {http} with a non-JSON answer");
    match http {
        401 => RemoteError::Auth(format!("the API key was refused ({message})")),
        404 | 410 => RemoteError::NotFound(message),
        429 => RemoteError::Throttled {
            message,
            retry_after,
        },
        _ => RemoteError::Transient(message),
    }
}

/// Connection failures, timeouts and broken bodies are worth retrying; a request we could
/// not even build is not.
pub fn transport_error(what: &str, err: &reqwest::Error) -> RemoteError {
    // reqwest's message names the URL (never headers), and a download URL is a credential:
    // keep only its scheme, host and port.
    let mut message = format!("{what}: {err}");
    if let Some(url) = err.url() {
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let host = url.host_str().unwrap_or("?");
        let redacted = format!("{}://{host}{port}/…", url.scheme());
        message = message.replace(url.as_str(), &redacted);
    }
    if err.is_builder() {
        RemoteError::Permanent(message)
    } else {
        RemoteError::Transient(message)
    }
}

/// A `Retry-After: <seconds>` header.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// True when a response is an HTML page rather than data.
pub fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ko(http: u16, message: &str) -> RemoteError {
        let body = serde_json::json!({"status": "KO", "message": message}).to_string();
        let status = StatusCode::from_u16(http).unwrap();
        parse_answer::<Value>("test", status, None, &body).unwrap_err()
    }

    #[test]
    fn refused_keys_are_auth_errors() {
        for (http, msg) in [
            (200, "No such user #93"),
            (401, "Not authenticated #247"),
            (403, "Not authenticated #12"),
        ] {
            let err = ko(http, msg);
            assert!(
                matches!(&err, RemoteError::Auth(m) if m.contains("key was refused")),
                "{err}"
            );
        }
    }

    #[test]
    fn non_customers_are_told_to_upgrade() {
        let err = ko(403, "Must be a customer (Premium, Access) #200");
        assert!(
            matches!(&err, RemoteError::Auth(m) if m.contains("Premium or Access")),
            "{err}"
        );
    }

    #[test]
    fn floods_are_throttling() {
        for msg in [
            "Flood detected: IP Locked #374",
            "Flood detected #412",
            "Flood detected #38",
        ] {
            assert!(
                matches!(ko(403, msg), RemoteError::Throttled { .. }),
                "{msg}"
            );
        }
        let err = parse_answer::<Value>(
            "x",
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(3)),
            "{}",
        )
        .unwrap_err();
        assert!(
            matches!(err, RemoteError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 3)
        );
    }

    #[test]
    fn missing_things_are_not_found() {
        assert!(matches!(
            ko(404, "Resource not found #469"),
            RemoteError::NotFound(_)
        ));
        assert!(matches!(
            ko(200, "Resource not found #469"),
            RemoteError::NotFound(_)
        ));
    }

    #[test]
    fn server_trouble_is_transient() {
        assert!(matches!(ko(503, "Maintenance"), RemoteError::Transient(_)));
        let html = "<html><body>Please wait</body></html>";
        let err = parse_answer::<Value>("end.pl", StatusCode::OK, None, html).unwrap_err();
        assert!(matches!(err, RemoteError::Transient(_)));
        let err = parse_answer::<Value>("x", StatusCode::BAD_GATEWAY, None, html).unwrap_err();
        assert!(matches!(err, RemoteError::Transient(_)));
    }

    #[test]
    fn other_kos_are_permanent_with_the_message() {
        let err = ko(200, "Invalid folder name #88");
        assert!(matches!(&err, RemoteError::Permanent(m) if m.contains("Invalid folder name")));
        assert!(matches!(
            ko(200, "Folder not empty"),
            RemoteError::NotEmpty(_)
        ));
    }

    #[test]
    fn ok_answers_without_status_are_success() {
        let v: Value = parse_answer("x", StatusCode::OK, None, r#"{"url":"h","id":"i"}"#).unwrap();
        assert_eq!(v["id"], "i");
    }

    #[test]
    fn codes_are_read_whole() {
        assert_eq!(message_code("Flood detected #1032"), Some(1032));
        assert_eq!(message_code("no code"), None);
    }

    #[test]
    fn keys_never_show() {
        let key = ApiKey::new("super-secret-key");
        assert!(!format!("{key:?}").contains("secret"));
        assert!(!key.fingerprint().contains("secret"));
        assert_eq!(
            key.fingerprint(),
            ApiKey::new("super-secret-key").fingerprint()
        );
    }
}
