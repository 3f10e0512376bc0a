//! The download host: tokens issued by get_token (valid `--token-ttl`, one GET only when
//! `single:1`) and `GET /p<token>` serving the blob with HTTP Range support.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};
use std::{
    collections::HashMap,
    io::SeekFrom,
    sync::Mutex,
    time::{Duration, Instant},
};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::{app::App, html, ids, state::FileMeta};

#[derive(Debug)]
struct Token {
    file_id: String,
    expires: Instant,
    single: bool,
    inline: bool,
}

#[derive(Debug)]
pub struct Tokens {
    ttl: Duration,
    map: Mutex<HashMap<String, Token>>,
}

impl Tokens {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::default(),
        }
    }

    /// Issues a token for a file; returns the opaque part of its URL.
    pub fn issue(&self, file_id: &str, single: bool, inline: bool) -> String {
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, t| t.expires > now);
        let token = loop {
            let candidate = ids::download_token();
            if !map.contains_key(&candidate) {
                break candidate;
            }
        };
        let grant = Token {
            file_id: file_id.to_string(),
            expires: now + self.ttl,
            single,
            inline,
        };
        map.insert(token.clone(), grant);
        token
    }

    /// The (file id, inline) a token grants, consuming single-use tokens.
    fn redeem(&self, token: &str) -> Option<(String, bool)> {
        let mut map = self.lock();
        let grant = map.get(token).filter(|t| t.expires > Instant::now())?;
        let out = (grant.file_id.clone(), grant.inline);
        if grant.single {
            map.remove(token);
        }
        Some(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub async fn download(
    State(app): State<App>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = path.strip_prefix('p') else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some((file_id, inline)) = app.tokens.redeem(token) else {
        return Html(html::token_expired()).into_response();
    };
    let Ok(file) = app.account().file(&file_id).cloned() else {
        return Html(html::token_expired()).into_response();
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    match parse_range(range, file.size) {
        Span::Unsatisfiable => unsatisfiable(file.size),
        Span::Full => serve(&app, &file, inline, 0, file.size, StatusCode::OK).await,
        Span::Part(first, last) => {
            serve(
                &app,
                &file,
                inline,
                first,
                last + 1 - first,
                StatusCode::PARTIAL_CONTENT,
            )
            .await
        }
    }
}

fn unsatisfiable(size: u64) -> Response {
    let content_range = format!("bytes */{size}");
    (
        StatusCode::RANGE_NOT_SATISFIABLE,
        [(header::CONTENT_RANGE, content_range)],
    )
        .into_response()
}

/// Streams `len` bytes of the file from `start`.
async fn serve(
    app: &App,
    file: &FileMeta,
    inline: bool,
    start: u64,
    len: u64,
    status: StatusCode,
) -> Response {
    let path = app.account().disk().blob_path(&file.id);
    let opened = async {
        let mut blob = tokio::fs::File::open(&path).await?;
        blob.seek(SeekFrom::Start(start)).await?;
        Ok::<_, std::io::Error>(blob)
    };
    let blob = match opened.await {
        Ok(blob) => blob,
        Err(e) => {
            tracing::error!("cannot read blob {}: {e}", path.display());
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    app.stats.bytes_out(len);
    let mut response = Response::new(Body::from_stream(ReaderStream::new(blob.take(len))));
    *response.status_mut() = status;
    let h = response.headers_mut();
    let content_type = if inline {
        file.content_type.as_str()
    } else {
        "application/octet-stream"
    };
    h.insert(header::CONTENT_TYPE, header_value(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        percent_encode(&file.filename)
    );
    h.insert(header::CONTENT_DISPOSITION, header_value(&disposition));
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{}", start + len - 1, file.size);
        h.insert(header::CONTENT_RANGE, header_value(&range));
    }
    response
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What part of a file a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Span {
    Full,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

/// Interprets a `Range` header. Malformed or multi-range headers are ignored (full content),
/// as RFC 9110 allows.
fn parse_range(header: Option<&str>, size: u64) -> Span {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Span::Full;
    };
    let Some((first, last)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return Span::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return match last.parse::<u64>() {
            Ok(0) => Span::Unsatisfiable,
            Ok(_) if size == 0 => Span::Unsatisfiable,
            Ok(n) => Span::Part(size.saturating_sub(n), size - 1),
            Err(_) => Span::Full,
        };
    }
    let Ok(first) = first.parse::<u64>() else {
        return Span::Full;
    };
    if first >= size {
        return Span::Unsatisfiable;
    }
    match last {
        "" => Span::Part(first, size - 1),
        _ => match last.parse::<u64>() {
            Ok(last) if last >= first => Span::Part(first, last.min(size - 1)),
            _ => Span::Full,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Span::Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Span::Part(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Span::Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Span::Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Span::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Span::Part(8, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Span::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Span::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Span::Full);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Span::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Span::Full);
    }
}
