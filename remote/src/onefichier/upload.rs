//! Uploads: get an upload node, send one multipart request carrying one or many files of one
//! folder (`did` then `file[]` parts), read `end.pl`'s report and check every file against the
//! Whirlpool computed while streaming it. Owns the upload wire protocol and hash checks; must
//! not touch paths, caches or replaced files (the provider does that around it).

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use tokio::io::AsyncReadExt;
use whirlpool::{Digest, Whirlpool};

use super::api::{UploadReport, UploadServer, UploadedLink};
use super::checksum::{to_hex, whirlpool_hex};
use super::client::{read_json, transport_error, ApiClient};
use super::names;
use crate::sync::lock;
use crate::{RemoteError, Result};

/// How many times a group is sent again when the server's hash does not match ours.
const HASH_MISMATCH_ATTEMPTS: usize = 3;
const CHUNK: usize = 256 * 1024;

/// One file to send.
#[derive(Clone, Debug)]
pub struct OutgoingFile {
    /// The user's name (not encoded).
    pub name: String,
    pub source: PathBuf,
    pub size: u64,
}

impl OutgoingFile {
    /// Empty files travel as a one-byte placeholder under a marked name.
    fn is_placeholder(&self) -> bool {
        self.size == 0
    }

    pub fn stored_name(&self) -> String {
        names::encode_file_name(&self.name, self.is_placeholder())
    }
}

/// A file the server accepted and whose hash matched.
#[derive(Clone, Debug)]
pub struct StoredFile {
    /// The id to hand out ([`names::file_id`]: URL plus the empty flag).
    pub id: String,
    /// Whirlpool of what the user sees (the empty string's for placeholders).
    pub hash: String,
}

/// Splits `sizes` into consecutive runs of at most `max_files` files and about `max_bytes`
/// bytes (a single larger file gets a run of its own).
pub fn batches(sizes: &[u64], max_files: usize, max_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start >= max_files.max(1) || (i > start && bytes + size > max_bytes);
        if full {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// Sends `files` into folder `folder_id` in one request, re-sending those whose hash did
/// not match. Results come back in the order of `files`.
pub async fn upload_group(
    client: &ApiClient,
    folder_id: u64,
    files: &[OutgoingFile],
) -> Vec<Result<StoredFile>> {
    let mut results: Vec<Option<Result<StoredFile>>> = (0..files.len()).map(|_| None).collect();
    let mut pending: Vec<usize> = (0..files.len()).collect();
    for attempt in 1..=HASH_MISMATCH_ATTEMPTS {
        let group: Vec<OutgoingFile> = pending.iter().map(|&i| files[i].clone()).collect();
        let outcomes = match send_once(client, folder_id, &group).await {
            Ok(outcomes) => outcomes,
            Err(err) => {
                for &i in &pending {
                    results[i] = Some(Err(same_kind(&err)));
                }
                break;
            }
        };
        let mut retry = Vec::new();
        for (&i, outcome) in pending.iter().zip(outcomes) {
            match outcome {
                Err(err) if attempt < HASH_MISMATCH_ATTEMPTS && err.is_retryable() => retry.push(i),
                other => results[i] = Some(other),
            }
        }
        if retry.is_empty() {
            break;
        }
        tracing::debug!(
            files = retry.len(),
            attempt,
            "re-sending files whose upload did not check out"
        );
        pending = retry;
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(RemoteError::Transient("upload not attempted".into()))))
        .collect()
}

/// The same error for each file of a failed group (kind and message, without doubling the
/// kind's prefix in the message).
fn same_kind(err: &RemoteError) -> RemoteError {
    match err {
        RemoteError::NotFound(m) => RemoteError::NotFound(m.clone()),
        RemoteError::AlreadyExists(m) => RemoteError::AlreadyExists(m.clone()),
        RemoteError::NotEmpty(m) => RemoteError::NotEmpty(m.clone()),
        RemoteError::NotADirectory(m) => RemoteError::NotADirectory(m.clone()),
        RemoteError::IsADirectory(m) => RemoteError::IsADirectory(m.clone()),
        RemoteError::PermissionDenied(m) => RemoteError::PermissionDenied(m.clone()),
        RemoteError::Throttled {
            message,
            retry_after,
        } => RemoteError::Throttled {
            message: message.clone(),
            retry_after: *retry_after,
        },
        RemoteError::Transient(m) => RemoteError::Transient(m.clone()),
        RemoteError::Auth(m) => RemoteError::Auth(m.clone()),
        RemoteError::Permanent(m) => RemoteError::Permanent(m.clone()),
        RemoteError::Unsupported(m) => RemoteError::Unsupported(m),
        RemoteError::NoSpace(m) => RemoteError::NoSpace(m.clone()),
    }
}

/// One round: node, multipart POST, end.pl, hash checks. A file whose hash does not match
/// is removed again and reported as Transient.
async fn send_once(
    client: &ApiClient,
    folder_id: u64,
    files: &[OutgoingFile],
) -> Result<Vec<Result<StoredFile>>> {
    let (server, digests) = client
        .pacer
        .retry("upload", || async {
            let server = get_upload_server(client).await?;
            let (form, digests) = build_form(folder_id, files).await?;
            post_form(client, &server, form).await?;
            Ok((server, digests))
        })
        .await?;
    // The upload node is not the API: its requests (upload.cgi, end.pl) get the retry policy
    // but spend no token of the account's API budget (the service's flood limits are
    // documented for /v1 calls), so a batch costs two API calls: the node and the check.
    let report = client
        .pacer
        .retry("end.pl", || fetch_report(client, &server))
        .await?;
    confirm_in_account(client, folder_id, &report.links).await?;
    let links = match_links(files, report.links);
    let mut bad_urls = Vec::new();
    let outcomes = files
        .iter()
        .zip(links)
        .zip(digests)
        .map(|((file, link), digest)| check_one(file, link, &digest, &mut bad_urls))
        .collect();
    if !bad_urls.is_empty() {
        remove_urls(client, &bad_urls).await;
    }
    Ok(outcomes)
}

fn check_one(
    file: &OutgoingFile,
    link: Option<UploadedLink>,
    digest: &Arc<Mutex<Option<String>>>,
    bad_urls: &mut Vec<String>,
) -> Result<StoredFile> {
    let link = link.ok_or_else(|| {
        RemoteError::Transient(format!("{}: missing from the upload report", file.name))
    })?;
    let ours = lock(digest)
        .clone()
        .ok_or_else(|| RemoteError::Transient(format!("{}: file was not read whole", file.name)))?;
    let sent = if file.is_placeholder() {
        names::EMPTY_PLACEHOLDER_CONTENT.len() as u64
    } else {
        file.size
    };
    if link.size != 0 && link.size != sent {
        bad_urls.push(link.download.clone());
        return Err(RemoteError::Transient(format!(
            "{}: the server stored {} bytes of {sent}",
            file.name, link.size
        )));
    }
    if let Some(theirs) = link.whirlpool.as_deref().filter(|w| !w.is_empty()) {
        if !theirs.eq_ignore_ascii_case(&ours) {
            bad_urls.push(link.download.clone());
            return Err(RemoteError::Transient(format!(
                "{}: Whirlpool mismatch after upload (ours {ours}, server {theirs})",
                file.name
            )));
        }
    }
    let empty = file.is_placeholder();
    Ok(StoredFile {
        id: names::file_id(&link.download, empty),
        hash: if empty { whirlpool_hex(b"") } else { ours },
    })
}

/// Checks, with one authenticated call per upload, that the files landed in the account.
///
/// The upload node needs no key: an upload whose key was refused (revoked, wrong, free
/// account) is taken as an anonymous upload and answered like any other, report and links
/// included, but its files are not in the account. Trusting the report would drop the data
/// from the journal while nothing is stored for the user. `file/info` on one of the new URLs
/// fails with 401 for a refused key and 404 for a file that is not ours.
async fn confirm_in_account(
    client: &ApiClient,
    folder_id: u64,
    links: &[UploadedLink],
) -> Result<()> {
    let Some(first) = links.first() else {
        return Ok(());
    };
    let info: Result<serde_json::Value> = client
        .post("file/info.cgi", &json!({ "url": first.download }))
        .await;
    match info {
        Ok(info) => {
            // Only logged: the files are in the account, so sending them again would only
            // make duplicates.
            let landed = info.get("folder_id").and_then(serde_json::Value::as_u64);
            if landed.is_some_and(|f| f != folder_id) {
                tracing::warn!(folder_id, ?landed, "an upload landed in another folder");
            }
            Ok(())
        }
        Err(RemoteError::NotFound(m)) => Err(RemoteError::Transient(format!(
            "the uploaded files are not in the account (an anonymous upload?): {m}"
        ))),
        Err(e @ RemoteError::Auth(_)) => Err(e),
        Err(e) => {
            // The check itself failed (network, throttling): the report said the files are
            // stored, and sending them again would make duplicates.
            tracing::warn!(error = %e, "could not confirm an upload; trusting its report");
            Ok(())
        }
    }
}

/// Pairs each file with its link: the one at the same position when its name matches, else
/// the first unused link of that name.
fn match_links(files: &[OutgoingFile], links: Vec<UploadedLink>) -> Vec<Option<UploadedLink>> {
    let mut links: Vec<Option<UploadedLink>> = links.into_iter().map(Some).collect();
    let same_name = |link: &UploadedLink, stored: &str| {
        link.filename == stored || names::decode(&link.filename) == names::decode(stored)
    };
    let mut out = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let stored = file.stored_name();
        let at_position = links
            .get(i)
            .and_then(Option::as_ref)
            .is_some_and(|l| same_name(l, &stored));
        let index = if at_position {
            Some(i)
        } else {
            links
                .iter()
                .position(|l| l.as_ref().is_some_and(|l| same_name(l, &stored)))
        };
        out.push(index.and_then(|j| links[j].take()));
    }
    out
}

async fn get_upload_server(client: &ApiClient) -> Result<UploadServer> {
    client.pacer.acquire().await;
    let server: UploadServer = client
        .post_once("upload/get_upload_server.cgi", &json!({}))
        .await?;
    if server.url.is_empty()
        || server.id.is_empty()
        || !server.id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(RemoteError::Transient(
            "get_upload_server: unusable node or id".into(),
        ));
    }
    Ok(server)
}

/// One multipart POST to the upload node (no API token: see [`send_once`]).
async fn post_form(client: &ApiClient, server: &UploadServer, form: Form) -> Result<()> {
    let url = client.node_url(&server.url, &format!("/upload.cgi?id={}", server.id));
    let response = client
        .http_no_redirect
        .post(url)
        .header(reqwest::header::AUTHORIZATION, client.bearer())
        .multipart(form)
        .send()
        .await
        .map_err(|e| transport_error("upload.cgi", &e))?;
    let status = response.status();
    if status.is_success() || status.is_redirection() {
        return Ok(());
    }
    read_json::<serde_json::Value>("upload.cgi", response).await?;
    Err(RemoteError::Transient(format!(
        "upload.cgi: HTTP {}",
        status.as_u16()
    )))
}

async fn fetch_report(client: &ApiClient, server: &UploadServer) -> Result<UploadReport> {
    let url = client.node_url(&server.url, &format!("/end.pl?xid={}", server.id));
    let response = client
        .http
        .get(url)
        .header(reqwest::header::AUTHORIZATION, client.bearer())
        .header("JSON", "1")
        .send()
        .await
        .map_err(|e| transport_error("end.pl", &e))?;
    let report: UploadReport = read_json("end.pl", response).await?;
    if report.links.is_empty() {
        return Err(RemoteError::Transient("end.pl: no links yet".into()));
    }
    Ok(report)
}

/// Best-effort removal of files we uploaded wrongly.
async fn remove_urls(client: &ApiClient, urls: &[String]) {
    let files: Vec<_> = urls.iter().map(|u| json!({ "url": u })).collect();
    let removed: Result<serde_json::Value> =
        client.post("file/rm.cgi", &json!({ "files": files })).await;
    if let Err(err) = removed {
        tracing::warn!(files = urls.len(), error = %err, "could not remove a bad upload");
    }
}

type DigestSlot = Arc<Mutex<Option<String>>>;

async fn build_form(folder_id: u64, files: &[OutgoingFile]) -> Result<(Form, Vec<DigestSlot>)> {
    let mut form = Form::new()
        .percent_encode_noop()
        .text("did", folder_id.to_string());
    let mut digests = Vec::with_capacity(files.len());
    for file in files {
        let (part, digest) = file_part(file).await?;
        form = form.part("file[]", part);
        digests.push(digest);
    }
    Ok((form, digests))
}

async fn file_part(file: &OutgoingFile) -> Result<(Part, DigestSlot)> {
    let name = file.stored_name();
    if file.is_placeholder() {
        let digest = Arc::new(Mutex::new(Some(whirlpool_hex(
            names::EMPTY_PLACEHOLDER_CONTENT,
        ))));
        let part = Part::bytes(names::EMPTY_PLACEHOLDER_CONTENT).file_name(name);
        return Ok((part, digest));
    }
    let source = tokio::fs::File::open(&file.source)
        .await
        .map_err(|e| RemoteError::from_io(e, &file.source.display().to_string()))?;
    let digest: DigestSlot = Arc::new(Mutex::new(None));
    let body = reqwest::Body::wrap_stream(hashing_stream(source, file.size, digest.clone()));
    let part = Part::stream_with_length(body, file.size)
        .file_name(name)
        .mime_str("application/octet-stream")
        .map_err(|e| RemoteError::Permanent(format!("multipart: {e}")))?;
    Ok((part, digest))
}

struct Reading {
    file: tokio::fs::File,
    hasher: Whirlpool,
    read: u64,
    size: u64,
    digest: DigestSlot,
    done: bool,
}

/// The file's bytes, hashing them on the way; the digest lands in `digest` at the end, only
/// if exactly `size` bytes were read.
fn hashing_stream(
    file: tokio::fs::File,
    size: u64,
    digest: DigestSlot,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let state = Reading {
        file,
        hasher: Whirlpool::default(),
        read: 0,
        size,
        digest,
        done: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut buf = vec![0u8; CHUNK];
        let item = match s.file.read(&mut buf).await {
            Ok(0) => {
                s.done = true;
                if s.read != s.size {
                    Err(io::Error::other(
                        "the source file changed size during the upload",
                    ))
                } else {
                    let hex = to_hex(&std::mem::take(&mut s.hasher).finalize());
                    *lock(&s.digest) = Some(hex);
                    return None;
                }
            }
            Ok(n) => {
                buf.truncate(n);
                s.hasher.update(&buf);
                s.read += n as u64;
                Ok(Bytes::from(buf))
            }
            Err(e) => {
                s.done = true;
                Err(e)
            }
        };
        Some((item, s))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_file_and_byte_caps() {
        assert_eq!(batches(&[1; 5], 2, 100), vec![0..2, 2..4, 4..5]);
        assert_eq!(batches(&[60, 60, 10], 10, 100), vec![0..1, 1..3]);
        assert_eq!(batches(&[500], 10, 100), vec![0..1]);
        assert!(batches(&[], 10, 100).is_empty());
    }

    #[test]
    fn whirlpool_matches_the_reference() {
        // ISO test vector for the empty string.
        assert!(whirlpool_hex(b"")
            .starts_with("19fa61d75522a4669b44e39c1d2e1726c530232130d407f89afee0964997f7a7"));
    }

    fn link(name: &str, url: &str) -> UploadedLink {
        UploadedLink {
            download: url.into(),
            filename: name.into(),
            size: 1,
            whirlpool: None,
        }
    }

    #[test]
    fn links_map_back_by_position_then_name() {
        let file = |n: &str| OutgoingFile {
            name: n.into(),
            source: PathBuf::new(),
            size: 1,
        };
        let files = [file("a"), file("b"), file("a")];
        let links = vec![link("b", "u-b"), link("a", "u-a1"), link("a", "u-a2")];
        let got: Vec<_> = match_links(&files, links)
            .into_iter()
            .map(|l| l.map(|l| l.download))
            .collect();
        assert_eq!(
            got,
            [Some("u-a1".into()), Some("u-b".into()), Some("u-a2".into())]
        );
    }

    #[tokio::test]
    async fn streaming_hash_equals_whole_file_hash() {
        use futures_util::StreamExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let slot: DigestSlot = Arc::default();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let chunks: Vec<_> = hashing_stream(file, data.len() as u64, slot.clone())
            .collect()
            .await;
        assert!(chunks.iter().all(|c| c.is_ok()));
        assert_eq!(slot.lock().unwrap().clone(), Some(whirlpool_hex(&data)));
        let short = tokio::fs::File::open(&path).await.unwrap();
        let chunks: Vec<_> = hashing_stream(short, 5, Arc::default()).collect().await;
        assert!(chunks.iter().any(|c| c.is_err()));
    }
}
