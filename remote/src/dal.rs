//! Providers reached through Apache OpenDAL: S3-compatible storage, WebDAV and SFTP. Owns
//! building each service's operator, mapping paths, entries and errors between OpenDAL and the
//! [`Remote`] trait, and pacing every call; must not cache anything (callers do) nor log the
//! secrets it was built with.
//!
//! OpenDAL speaks the protocols (request signing, multipart upload, PROPFIND parsing, the SFTP
//! session); what it lacks and we add: the Pacer's rate limit and backoff, refusing to clobber
//! a same-named object a new file did not mean to replace, folder renames on services without
//! one (S3: copy then delete each object), and a check of every upload: the ETag against the
//! MD5 of what was sent where S3 gives one, else the size the server reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use opendal::{EntryMode, ErrorKind, Metadata, Operator};
use tokio::io::AsyncReadExt;

use crate::pacer::{Pacer, PacerConfig};
use crate::{
    Dest, Entry, EntryKind, Features, Hash, HashAlgo, ObjectRef, Remote, RemoteError, RemotePath,
    Result, Upload, Usage,
};

/// An S3-compatible bucket (AWS, Backblaze B2, Wasabi, Cloudflare R2, MinIO, `rclone serve s3`).
#[derive(Clone)]
pub struct S3Config {
    pub endpoint: String,
    pub bucket: String,
    pub region: Option<String>,
    /// Address the bucket as `host/bucket` (MinIO and most self-hosted servers) rather than
    /// `bucket.host`.
    pub path_style: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The folder inside the bucket that plays the remote's root ("" for the whole bucket).
    pub root: String,
}

/// A WebDAV server (Nextcloud, ownCloud, a NAS, Apache mod_dav).
#[derive(Clone)]
pub struct WebDavConfig {
    pub url: String,
    pub user: String,
    pub password: Option<String>,
    pub root: String,
}

/// An SFTP server, reached through the system's `ssh` (key file or ssh-agent).
#[derive(Clone)]
pub struct SftpConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key_file: Option<PathBuf>,
    /// Absolute folder on the server; "" for the login folder.
    pub root: String,
}

/// Which service a [`DalRemote`] talks to, with what it needs to connect.
#[derive(Clone)]
pub enum DalConfig {
    S3(S3Config),
    WebDav(WebDavConfig),
    Sftp(SftpConfig),
}

impl DalConfig {
    /// The account the Pacer's limits apply to: every remote of one account shares them.
    fn account(&self) -> String {
        match self {
            Self::S3(c) => format!("s3 {} {} {}", c.endpoint, c.bucket, c.access_key_id),
            Self::WebDav(c) => format!("webdav {} {}", c.url, c.user),
            Self::Sftp(c) => format!("sftp {}@{}:{}", c.user, c.host, c.port),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::S3(_) => "s3",
            Self::WebDav(_) => "webdav",
            Self::Sftp(_) => "sftp",
        }
    }

    fn operator(&self) -> opendal::Result<Operator> {
        Ok(match self {
            Self::S3(c) => {
                let mut b = opendal::services::S3::default()
                    .endpoint(&c.endpoint)
                    .bucket(&c.bucket)
                    .region(c.region.as_deref().unwrap_or("us-east-1"))
                    .access_key_id(&c.access_key_id)
                    .secret_access_key(&c.secret_access_key)
                    .root(&absolute(&c.root))
                    .disable_config_load()
                    .disable_ec2_metadata();
                if !c.path_style {
                    b = b.enable_virtual_host_style();
                }
                Operator::new(b)?
            }
            Self::WebDav(c) => {
                let mut b = opendal::services::Webdav::default()
                    .endpoint(&c.url)
                    .username(&c.user)
                    .root(&absolute(&c.root));
                if let Some(p) = &c.password {
                    b = b.password(p);
                }
                Operator::new(b)?
            }
            #[cfg(windows)]
            Self::Sftp(_) => {
                return Err(opendal::Error::new(
                    ErrorKind::Unsupported,
                    "SFTP remotes are not available on Windows (OpenDAL's sftp service drives \
                     the system's ssh through a unix-only crate)",
                ))
            }
            #[cfg(unix)]
            Self::Sftp(c) => {
                let mut b = opendal::services::Sftp::default()
                    .endpoint(&format!("ssh://{}:{}", c.host, c.port))
                    .user(&c.user)
                    .known_hosts_strategy("accept");
                if !c.root.is_empty() {
                    b = b.root(&c.root);
                }
                if let Some(k) = &c.key_file {
                    b = b.key(&k.display().to_string());
                }
                Operator::new(b)?
            }
        })
    }

    /// Rate limits, with backoff on 429/503/SlowDown. S3 services take thousands of calls per
    /// second and say when to slow down, and an SFTP server has no call rate at all: those are
    /// paced only by their answers (at 100 calls/s, three calls per small file made a copy of
    /// 2,000 files take 60 s). WebDAV servers (Nextcloud, NAS boxes) are often small: 100/s.
    fn pacing(&self) -> PacerConfig {
        let rate = match self {
            DalConfig::WebDav(_) => 100,
            DalConfig::S3(_) | DalConfig::Sftp(_) => 2000,
        };
        PacerConfig {
            calls_per_second: f64::from(rate),
            burst: rate,
            starts_empty: false,
            flood_backoff: Duration::from_secs(5),
            max_retries: 10,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

fn absolute(root: &str) -> String {
    format!("/{}", root.trim_matches('/'))
}

/// One remote on a service OpenDAL speaks.
pub struct DalRemote {
    op: Operator,
    kind: &'static str,
    pacer: Arc<Pacer>,
    /// Object sizes seen in listings, stats and uploads, by encoded path: OpenDAL treats a
    /// ranged read that ends past the object as an error, so reads are clamped to the size.
    sizes: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// Whether the server refuses a create-only PUT (`If-None-Match: *`) over an existing
    /// object, learnt once by [`DalRemote::probe_create_only`]: many S3 servers ignore the
    /// header and overwrite, so it replaces the stat before an upload only where it was seen
    /// to work.
    create_only: tokio::sync::OnceCell<bool>,
}

impl DalRemote {
    /// Builds the operator; nothing is sent until the first call (see [`Remote::about`]).
    pub fn new(config: &DalConfig) -> Result<Self> {
        // OpenDAL's reqwest is built without a TLS crypto provider of its own (see the workspace
        // Cargo.toml): ring, which our own reqwest uses, becomes the process default. An error
        // only says a default is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Registers the services and the reqwest HTTP transport process-wide (once; later
        // calls do nothing).
        opendal::install_default();
        opendal_http_transport_reqwest::install_default();
        let op = config
            .operator()
            .map_err(|e| map_error(e, "configuration"))?;
        Ok(Self {
            op,
            kind: config.kind(),
            pacer: Pacer::for_account(&config.account(), config.pacing()),
            sizes: Default::default(),
            create_only: tokio::sync::OnceCell::new(),
        })
    }

    fn remember_size(&self, path: &str, size: Option<u64>) {
        let Ok(mut sizes) = self.sizes.lock() else {
            return;
        };
        if sizes.len() > 200_000 {
            sizes.clear();
        }
        match size {
            Some(n) => sizes.insert(path.to_string(), n),
            None => sizes.remove(path),
        };
    }

    /// The object's size: remembered, else asked for.
    async fn size_of(&self, file: &ObjectRef, path: &str) -> Result<u64> {
        let known = self.sizes.lock().ok().and_then(|s| s.get(path).copied());
        match known {
            Some(n) => Ok(n),
            None => Ok(self.stat(&file.path).await?.size),
        }
    }

    /// Reads `offset..end` (within the object) in one ranged GET.
    async fn read_range(&self, path: &str, offset: u64, end: u64) -> Result<Bytes> {
        self.call("read", || async {
            match self.op.read_with(path).range(offset..end).await {
                Ok(buf) => Ok(buf.to_bytes()),
                Err(e) if e.kind() == ErrorKind::RangeNotSatisfied => Ok(Bytes::new()),
                Err(e) if e.to_string().contains("too little data") => Err(RemoteError::NotFound(
                    format!("{path}: shorter than remembered"),
                )),
                Err(e) => Err(map_error(e, path)),
            }
        })
        .await
    }

    fn is_s3(&self) -> bool {
        self.kind == "s3"
    }

    /// One paced call with retries. Every attempt but an upload's has [`CALL_TIMEOUT`]: a
    /// server that takes a request and never answers must not hang a FUSE request forever.
    async fn call<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        if what == "upload" {
            return self.pacer.call(what, op).await;
        }
        self.pacer
            .call(what, || {
                let attempt = op();
                async move {
                    tokio::time::timeout(CALL_TIMEOUT, attempt)
                        .await
                        .unwrap_or_else(|_| {
                            Err(RemoteError::Transient(format!(
                                "{what}: no answer in {} s",
                                CALL_TIMEOUT.as_secs()
                            )))
                        })
                }
            })
            .await
    }

    async fn exists(&self, path: &RemotePath) -> Result<bool> {
        match self.stat(path).await {
            Ok(_) => Ok(true),
            Err(RemoteError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes the local file `source` to `path`, streaming it in chunks (multipart on S3);
    /// with `create_only`, the server refuses it if `path` exists. Returns the content's MD5
    /// when the server's answer proves it holds exactly what was sent (an S3 object written
    /// in one piece, whose ETag is the MD5 of its bytes).
    async fn put(
        &self,
        path: &str,
        source: &std::path::Path,
        create_only: bool,
    ) -> Result<Option<Hash>> {
        let what = path.to_string();
        let local = |e| RemoteError::from_io(e, &source.display().to_string());
        let mut file = Chunks::open(source).map_err(local)?;
        let first = file.next().await.map_err(local)?;
        let second = match first {
            Some(_) => file.next().await.map_err(local)?,
            None => None,
        };
        // One piece (a small file, or WebDAV, whose PUT OpenDAL takes whole): a single write.
        if second.is_none() || !self.op.info().capability().write_can_multi {
            let mut whole: Vec<Bytes> = first.into_iter().chain(second).collect();
            while let Some(chunk) = file.next().await.map_err(local)? {
                whole.push(chunk);
            }
            let sent = (self.is_s3() && whole.len() <= 1).then(|| md5_of(&whole));
            let meta = self
                .op
                .write_with(path, opendal::Buffer::from(whole))
                .if_not_exists(create_only)
                .await
                .map_err(|e| map_error(e, &what))?;
            return Ok(sent.filter(|h| md5_etag(meta.etag()).as_ref() == Some(h)));
        }
        let mut w = self
            .op
            .writer_with(path)
            .chunk(UPLOAD_CHUNK)
            .concurrent(4)
            .if_not_exists(create_only)
            .await
            .map_err(|e| map_error(e, &what))?;
        let mut next = first.into_iter().chain(second);
        loop {
            let chunk = match next.next() {
                Some(c) => c,
                None => match file.next().await.map_err(local)? {
                    Some(c) => c,
                    None => break,
                },
            };
            if let Err(e) = w.write(chunk).await {
                let _ = w.abort().await;
                return Err(map_error(e, &what));
            }
        }
        w.close().await.map_err(|e| map_error(e, &what))?;
        Ok(None)
    }

    /// Sends one file (SFTP: to a temporary name, then renamed into place). `Some` when the
    /// server's answer proves the object whole (S3: its ETag is the MD5 of what was sent); a
    /// create-only PUT refused over an object that holds the same bytes adopts it.
    async fn send(&self, item: &Upload, create_only: bool) -> Result<Option<Entry>> {
        let dest = &item.dest.path;
        let final_path = file_path(dest);
        if self.kind == "sftp" {
            let tmp = temp_path(dest);
            self.call("upload", || self.put(&tmp, &item.source, false))
                .await?;
            self.call("rename", || async {
                self.op
                    .rename(&tmp, &final_path)
                    .await
                    .map_err(|e| map_error(e, &final_path))
            })
            .await?;
            return Ok(None);
        }
        let put = self
            .call("upload", || {
                self.put(&final_path, &item.source, create_only)
            })
            .await;
        let hash = match put {
            Err(RemoteError::AlreadyExists(_)) if create_only => {
                return self.adopt_or_refuse(item).await.map(Some)
            }
            r => r?,
        };
        Ok(hash.map(|hash| {
            self.remember_size(&final_path, Some(item.size));
            Entry {
                name: dest.name().to_string(),
                kind: EntryKind::File,
                size: item.size,
                mtime: None,
                id: None,
                hash: Some(hash),
            }
        }))
    }

    /// The object an upload left, once a stat shows it whole.
    async fn checked_by_stat(&self, item: &Upload) -> Result<Entry> {
        landed_whole(item, self.stat(&item.dest.path).await?)
    }

    /// The folder's entries by name.
    async fn names_in(&self, dir: &RemotePath) -> Result<std::collections::HashMap<String, Entry>> {
        let listed = self.list(&ObjectRef::new(dir.clone(), None)).await?;
        Ok(listed.into_iter().map(|e| (e.name.clone(), e)).collect())
    }

    async fn upload_each(&self, items: &[Upload]) -> Vec<Result<Entry>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.upload(item).await);
        }
        out
    }

    /// A new file found a same-named object on the remote. If it holds exactly the file's
    /// bytes (S3 says so with its MD5 ETag) it is our own earlier upload whose answer was lost
    /// (a retried PUT, a crash before it was recorded): adopted. Anything else is refused.
    async fn adopt_or_refuse(&self, item: &Upload) -> Result<Entry> {
        let taken = || RemoteError::AlreadyExists(item.dest.path.to_string());
        if !self.is_s3() {
            return Err(taken());
        }
        let there = self.stat(&item.dest.path).await?;
        let Some(hash) = there.hash.clone().filter(|_| there.size == item.size) else {
            return Err(taken());
        };
        let local = |e| RemoteError::from_io(e, &item.source.display().to_string());
        let mut file = Chunks::open(&item.source).map_err(local)?;
        let mut md5 = Md5Sum::default();
        while let Some(c) = file.next().await.map_err(local)? {
            md5.add(&c);
        }
        if md5.finish() == hash {
            Ok(there)
        } else {
            Err(taken())
        }
    }

    /// Whether create-only uploads are safe here: an S3 server that was seen to refuse a
    /// second `If-None-Match: *` PUT of one probe object (hidden from listings, deleted after).
    /// Asked once per remote; an error (a read-only key, say) answers no.
    async fn probe_create_only(&self) -> bool {
        if !self.is_s3() {
            return false;
        }
        *self
            .create_only
            .get_or_init(|| async {
                let nanos = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos();
                let probe = format!(".probe-{}-{nanos}{TEMP_SUFFIX}", std::process::id());
                let put = |n: &'static str| {
                    self.op
                        .write_with(&probe, n.as_bytes().to_vec())
                        .if_not_exists(true)
                };
                let honored = match put("1").await {
                    Ok(_) => {
                        matches!(put("2").await, Err(e) if e.kind() == ErrorKind::ConditionNotMatch)
                    }
                    Err(_) => false,
                };
                let _ = self.op.delete(&probe).await;
                tracing::debug!(honored, "S3 create-only PUT probed");
                honored
            })
            .await
    }

    /// Moves one object by copy then delete (S3 has no rename).
    async fn copy_then_delete(&self, from: &str, to: &str) -> Result<()> {
        self.call("copy", || async {
            self.op.copy(from, to).await.map_err(|e| map_error(e, to))
        })
        .await?;
        self.call("delete", || async {
            self.op.delete(from).await.map_err(|e| map_error(e, from))
        })
        .await
    }

    /// Moves an S3 folder: every object under its prefix, by copy then delete.
    async fn move_tree(&self, from: &RemotePath, to: &RemotePath) -> Result<()> {
        let (src, dst) = (dir_path(from), dir_path(to));
        let all = self
            .call("list", || async {
                self.op
                    .list_with(&src)
                    .recursive(true)
                    .await
                    .map_err(|e| map_error(e, &src))
            })
            .await?;
        for e in all.iter().filter(|e| e.metadata().is_file()) {
            let target = format!("{dst}{}", &e.path()[src.len()..]);
            self.copy_then_delete(e.path(), &target).await?;
        }
        Ok(())
    }

    fn entry(&self, name: &str, meta: &Metadata) -> Option<Entry> {
        let kind = match meta.mode() {
            EntryMode::DIR => EntryKind::Dir,
            EntryMode::FILE => EntryKind::File,
            _ => return None,
        };
        let file = kind == EntryKind::File;
        Some(Entry {
            name: decode_name(name.trim_end_matches('/')),
            kind,
            size: if file { meta.content_length() } else { 0 },
            mtime: meta.last_modified().map(SystemTime::from),
            id: None,
            hash: if file && self.is_s3() {
                md5_etag(meta.etag())
            } else {
                None
            },
        })
    }
}

/// New files of one folder uploaded as one batch: two listings stand in for a stat before
/// and after each file. Small enough that a folder's files still go up several at a time.
const UPLOAD_BATCH: usize = 16;

/// How long one attempt of a call other than an upload may wait for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The part size of multipart uploads and the unit files are read in.
const UPLOAD_CHUNK: usize = 8 << 20;

/// The next chunk of `file`, `None` at its end.
/// Files up to this size are read whole, at once, on the calling task.
const READ_INLINE: u64 = 1 << 20;

/// The content of a local file to send, in chunks of [`UPLOAD_CHUNK`]. A small file (the
/// cache just wrote it: it is in the page cache) is read at once on the calling task: handing
/// each read of a few KiB to a blocking thread and back costs more than the read (several
/// thread wake-ups, and they were most of a 2,000-file copy's system time).
enum Chunks {
    Small(Option<Bytes>),
    Large(tokio::fs::File),
}

impl Chunks {
    fn open(path: &std::path::Path) -> std::io::Result<Self> {
        use std::io::Read;
        let f = std::fs::File::open(path)?;
        if f.metadata()?.len() > READ_INLINE {
            return Ok(Chunks::Large(tokio::fs::File::from_std(f)));
        }
        let mut buf = Vec::new();
        (&f).read_to_end(&mut buf)?;
        Ok(Chunks::Small((!buf.is_empty()).then(|| Bytes::from(buf))))
    }

    async fn next(&mut self) -> std::io::Result<Option<Bytes>> {
        match self {
            Chunks::Small(whole) => Ok(whole.take()),
            Chunks::Large(file) => read_chunk(file).await,
        }
    }
}

async fn read_chunk(file: &mut tokio::fs::File) -> std::io::Result<Option<Bytes>> {
    let mut buf = Vec::with_capacity(UPLOAD_CHUNK);
    let n = file.take(UPLOAD_CHUNK as u64).read_to_end(&mut buf).await?;
    Ok((n > 0).then(|| Bytes::from(buf)))
}

/// `there` if it is as large as what `item` sent.
fn landed_whole(item: &Upload, there: Entry) -> Result<Entry> {
    if there.size != item.size {
        return Err(RemoteError::Transient(format!(
            "{}: the provider holds {} bytes after uploading {}",
            item.dest.path, there.size, item.size
        )));
    }
    Ok(there)
}

/// The folder of `items` when they are two or more new files of one folder.
fn new_files_of_one_folder(items: &[Upload]) -> Option<RemotePath> {
    let (dir, _) = items.first()?.dest.path.split_last()?;
    let same = items
        .iter()
        .all(|i| i.replace.is_none() && i.dest.path.split_last().is_some_and(|(d, _)| d == dir));
    (items.len() > 1 && same).then_some(dir)
}

/// An MD5 computed piece by piece.
#[derive(Default)]
struct Md5Sum(md5::Md5);

impl Md5Sum {
    fn add(&mut self, bytes: &[u8]) {
        md5::Digest::update(&mut self.0, bytes);
    }

    fn finish(self) -> Hash {
        let sum = md5::Digest::finalize(self.0);
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        Hash::new(HashAlgo::Md5, hex)
    }
}

/// The MD5 of `chunks` laid end to end.
fn md5_of(chunks: &[Bytes]) -> Hash {
    let mut sum = Md5Sum::default();
    for c in chunks {
        sum.add(c);
    }
    sum.finish()
}

/// S3's ETag is the content's MD5 for objects uploaded in one piece; multipart ETags
/// (`…-N`) are not a hash of the content.
fn md5_etag(etag: Option<&str>) -> Option<Hash> {
    let e = etag?.trim_matches('"').to_ascii_lowercase();
    (e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Hash::new(HashAlgo::Md5, e))
}

fn file_path(p: &RemotePath) -> String {
    p.as_str()
        .split('/')
        .map(encode_name)
        .collect::<Vec<_>>()
        .join("/")
}

fn dir_path(p: &RemotePath) -> String {
    if p.is_root() {
        "/".to_string()
    } else {
        format!("{}/", file_path(p))
    }
}

/// OpenDAL trims whitespace off both ends of every path, so a name's leading or trailing
/// space or tab is stored as its Unicode symbol (␠ ␉), as rclone does; decoded on listing.
fn encode_name(name: &str) -> String {
    map_edges(name, &[' ', '\t'], |c| match c {
        ' ' => '\u{2420}',
        '\t' => '\u{2409}',
        c => c,
    })
}

fn decode_name(name: &str) -> String {
    map_edges(name, &['\u{2420}', '\u{2409}'], |c| match c {
        '\u{2420}' => ' ',
        '\u{2409}' => '\t',
        c => c,
    })
}

/// `name` with `map` applied to the run of `edge` characters at each end of it.
fn map_edges(name: &str, edge: &[char], map: impl Fn(char) -> char) -> String {
    let start = name.len() - name.trim_start_matches(edge).len();
    let end = start.max(name.trim_end_matches(edge).len());
    let mut out: String = name[..start].chars().map(&map).collect();
    out.push_str(&name[start..end]);
    out.extend(name[end..].chars().map(&map));
    out
}

/// Names an upload is written under before it is renamed into place (SFTP, whose writes land
/// in the final file as they go); hidden from listings.
const TEMP_SUFFIX: &str = ".ourclone-tmp";

fn temp_path(p: &RemotePath) -> String {
    let path = file_path(p);
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}{TEMP_SUFFIX}"),
        None => format!(".{path}{TEMP_SUFFIX}"),
    }
}

/// Maps an OpenDAL error about `what` to what the caller may do about it.
fn map_error(e: opendal::Error, what: &str) -> RemoteError {
    let what = what.to_string();
    let text = e.to_string();
    let refused = [
        "401",
        "Unauthorized",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    ]
    .iter()
    .any(|s| text.contains(s));
    match e.kind() {
        ErrorKind::NotFound => RemoteError::NotFound(what),
        ErrorKind::AlreadyExists | ErrorKind::ConditionNotMatch => RemoteError::AlreadyExists(what),
        ErrorKind::IsADirectory => RemoteError::IsADirectory(what),
        ErrorKind::NotADirectory => RemoteError::NotADirectory(what),
        ErrorKind::PermissionDenied if refused => RemoteError::Auth(reason(&text)),
        ErrorKind::PermissionDenied => RemoteError::PermissionDenied(what),
        ErrorKind::RateLimited => RemoteError::Throttled {
            message: reason(&text),
            retry_after: None,
        },
        _ if refused => RemoteError::Auth(reason(&text)),
        _ if text.contains("SlowDown") || text.contains("503") => RemoteError::Throttled {
            message: reason(&text),
            retry_after: None,
        },
        _ if e.is_temporary() || connection_failed(&text) => {
            RemoteError::Transient(format!("{what}: {}", reason(&text)))
        }
        _ => RemoteError::Permanent(format!("{what}: {}", reason(&text))),
    }
}

/// A server that is down or restarting answers nothing; that is worth waiting out.
fn connection_failed(text: &str) -> bool {
    [
        "connection refused",
        "Connection refused",
        "error sending request",
        "connection closed",
    ]
    .iter()
    .any(|s| text.contains(s))
}

/// The HTTP status an error carries ("HTTP 403"), else what OpenDAL says after its context
/// ("send http request, source: error sending request"), on one short line.
fn reason(text: &str) -> String {
    match text.split_once("status: ") {
        Some((_, rest)) if rest.len() >= 3 && rest[..3].bytes().all(|b| b.is_ascii_digit()) => {
            format!("HTTP {}", &rest[..3])
        }
        _ => first_line(text.rsplit("=> ").next().unwrap_or(text)),
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s);
    line.chars().take(300).collect()
}

#[async_trait]
impl Remote for DalRemote {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn features(&self) -> Features {
        let cap = self.op.info().capability();
        Features {
            keeps_mtime: false,
            duplicate_names: false,
            empty_files: true,
            server_copy: cap.copy,
            max_batch: UPLOAD_BATCH,
            min_list_interval: Duration::ZERO,
            hashes: if self.is_s3() {
                vec![HashAlgo::Md5]
            } else {
                Vec::new()
            },
        }
    }

    async fn list(&self, dir: &ObjectRef) -> Result<Vec<Entry>> {
        let path = dir_path(&dir.path);
        let all = self
            .call("list", || async {
                self.op.list(&path).await.map_err(|e| map_error(e, &path))
            })
            .await?;
        let entries = all
            .iter()
            .filter(|e| e.path() != path && !e.name().ends_with(TEMP_SUFFIX));
        let mut out = Vec::new();
        for e in entries {
            if let Some(entry) = self.entry(e.name(), e.metadata()) {
                if entry.kind == EntryKind::File {
                    self.remember_size(e.path(), Some(entry.size));
                }
                out.push(entry);
            }
        }
        Ok(out)
    }

    async fn stat(&self, path: &RemotePath) -> Result<Entry> {
        let name = path.name();
        if path.is_root() {
            return Ok(Entry {
                name: String::new(),
                kind: EntryKind::Dir,
                size: 0,
                mtime: None,
                id: None,
                hash: None,
            });
        }
        let file = file_path(path);
        let meta = self
            .call("stat", || async {
                match self.op.stat(&file).await {
                    // S3 has no folder objects: a folder is a prefix some object starts with.
                    Err(e) if e.kind() == ErrorKind::NotFound && self.is_s3() => {
                        let dir = dir_path(path);
                        let found = self.op.list_with(&dir).limit(1).await;
                        let found = found.map(|v| {
                            v.into_iter()
                                .filter(|e| e.path() != dir)
                                .collect::<Vec<_>>()
                        });
                        match found {
                            Ok(v) if !v.is_empty() => Ok(opendal::MetadataBuilder::dir().build()),
                            Ok(_) => Err(RemoteError::NotFound(file.clone())),
                            Err(e) => Err(map_error(e, &dir)),
                        }
                    }
                    r => r.map_err(|e| map_error(e, &file)),
                }
            })
            .await?;
        let entry = self
            .entry(name, &meta)
            .ok_or_else(|| RemoteError::Permanent(format!("{path}: neither file nor folder")))?;
        if entry.kind == EntryKind::File {
            self.remember_size(&file, Some(entry.size));
        }
        Ok(entry)
    }

    async fn read(&self, file: &ObjectRef, offset: u64, len: u64) -> Result<Bytes> {
        let path = file_path(&file.path);
        let size = self.size_of(file, &path).await?;
        if len == 0 || offset >= size {
            return Ok(Bytes::new());
        }
        match self.read_range(&path, offset, size.min(offset + len)).await {
            // The object changed since its size was seen: ask again, once.
            Err(RemoteError::NotFound(_)) => {
                self.remember_size(&path, None);
                let size = self.size_of(file, &path).await?;
                if offset >= size {
                    return Ok(Bytes::new());
                }
                self.read_range(&path, offset, size.min(offset + len)).await
            }
            r => r,
        }
    }

    async fn upload(&self, item: &Upload) -> Result<Entry> {
        let create_only = item.replace.is_none() && self.probe_create_only().await;
        if item.replace.is_none() && !create_only && self.exists(&item.dest.path).await? {
            return self.adopt_or_refuse(item).await;
        }
        match self.send(item, create_only).await? {
            Some(entry) => Ok(entry),
            None => self.checked_by_stat(item).await,
        }
    }

    /// New files of one folder: one listing before tells which names are taken (instead of a
    /// stat per file), one after checks the sizes of those whose PUT proved nothing (instead
    /// of another). Anything else goes one by one.
    async fn upload_batch(&self, items: &[Upload]) -> Vec<Result<Entry>> {
        let Some(dir) = new_files_of_one_folder(items) else {
            return self.upload_each(items).await;
        };
        let create_only = self.probe_create_only().await;
        let before = match create_only {
            true => Default::default(),
            false => match self.names_in(&dir).await {
                Ok(m) => m,
                Err(_) => return self.upload_each(items).await,
            },
        };
        let mut sent = Vec::with_capacity(items.len());
        for item in items {
            sent.push(match before.contains_key(item.dest.path.name()) {
                true => self.adopt_or_refuse(item).await.map(Some),
                false => self.send(item, create_only).await,
            });
        }
        let after = match sent.iter().any(|r| matches!(r, Ok(None))) {
            true => self.names_in(&dir).await.unwrap_or_default(),
            false => Default::default(),
        };
        let mut out = Vec::with_capacity(items.len());
        for (r, item) in sent.into_iter().zip(items) {
            out.push(match (r, after.get(item.dest.path.name())) {
                (Ok(Some(entry)), _) => Ok(entry),
                (Ok(None), Some(there)) => landed_whole(item, there.clone()),
                (Ok(None), None) => self.checked_by_stat(item).await,
                (Err(e), _) => Err(e),
            });
        }
        out
    }

    /// S3 gets no folder object: a `dir/` marker is a file to some servers (`rclone serve s3`
    /// over a folder then refuses every object under `dir/`), and rclone's S3 backend makes
    /// none either. An empty S3 folder lives in the MetaStore until a file lands in it.
    async fn mkdir(&self, dest: &Dest) -> Result<Entry> {
        if !self.is_s3() {
            let path = dir_path(&dest.path);
            self.call("mkdir", || async {
                self.op
                    .create_dir(&path)
                    .await
                    .map_err(|e| map_error(e, &path))
            })
            .await?;
        }
        Ok(Entry {
            name: dest.path.name().to_string(),
            kind: EntryKind::Dir,
            size: 0,
            mtime: Some(SystemTime::now()),
            id: None,
            hash: None,
        })
    }

    async fn rename(
        &self,
        from: &ObjectRef,
        to: &Dest,
        replace: Option<&ObjectRef>,
    ) -> Result<Entry> {
        let source = self.stat(&from.path).await?;
        match replace {
            None if self.exists(&to.path).await? => {
                return Err(RemoteError::AlreadyExists(to.path.to_string()))
            }
            None => {}
            Some(old) => match self.stat(&old.path).await {
                Ok(e) if e.kind == EntryKind::Dir => self.remove_dir(old).await?,
                Ok(_) if !self.is_s3() => self.remove_file(old).await?,
                _ => {}
            },
        }
        let (src, dst) = (file_path(&from.path), file_path(&to.path));
        self.remember_size(&src, None);
        match (source.kind, self.is_s3()) {
            (EntryKind::Dir, true) => self.move_tree(&from.path, &to.path).await?,
            (EntryKind::File, true) => self.copy_then_delete(&src, &dst).await?,
            (_, false) => {
                self.call("rename", || async {
                    self.op
                        .rename(&src, &dst)
                        .await
                        .map_err(|e| map_error(e, &dst))
                })
                .await?
            }
        }
        self.stat(&to.path).await
    }

    async fn remove_file(&self, file: &ObjectRef) -> Result<()> {
        let path = file_path(&file.path);
        self.remember_size(&path, None);
        self.call("delete", || async {
            self.op.delete(&path).await.map_err(|e| map_error(e, &path))
        })
        .await
    }

    async fn remove_dir(&self, dir: &ObjectRef) -> Result<()> {
        let path = dir_path(&dir.path);
        let all = self
            .call("list", || async {
                self.op.list(&path).await.map_err(|e| map_error(e, &path))
            })
            .await?;
        let (temps, kept): (Vec<_>, Vec<_>) = all
            .iter()
            .filter(|e| e.path() != path)
            .partition(|e| e.name().ends_with(TEMP_SUFFIX));
        if !kept.is_empty() {
            return Err(RemoteError::NotEmpty(dir.path.to_string()));
        }
        // Temps of uploads cut off by a rename of this folder: hidden, but they would keep
        // an SFTP folder from being removed.
        for t in temps {
            let _ = self.op.delete(t.path()).await;
        }
        self.call("rmdir", || async {
            match self.op.delete(&path).await {
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                r => r.map_err(|e| map_error(e, &path)),
            }
        })
        .await
    }

    async fn copy(&self, from: &ObjectRef, to: &Dest) -> Result<Entry> {
        if !self.features().server_copy {
            return Err(RemoteError::Unsupported("server-side copy"));
        }
        if self.exists(&to.path).await? {
            return Err(RemoteError::AlreadyExists(to.path.to_string()));
        }
        let (src, dst) = (file_path(&from.path), file_path(&to.path));
        self.call("copy", || async {
            self.op
                .copy(&src, &dst)
                .await
                .map_err(|e| map_error(e, &dst))
        })
        .await?;
        self.stat(&to.path).await
    }

    /// One cheap call that proves the address and the credentials: a listing of one entry,
    /// tried once (a wrong address should fail `remote add` at once, not after backoff).
    async fn about(&self) -> Result<Usage> {
        self.pacer.acquire().await;
        match self.op.list_with("/").limit(1).await {
            Ok(_) => Ok(Usage::default()),
            Err(e) => Err(match map_error(e, "the remote's root folder") {
                RemoteError::PermissionDenied(what) => {
                    RemoteError::Auth(format!("access to {what} denied"))
                }
                other => other,
            }),
        }
    }

    fn reachability(&self) -> crate::Reachability {
        self.pacer.health().report()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_etags_only() {
        let h = md5_etag(Some("\"0CC175B9C0F1B6A831C399E269772661\"")).unwrap();
        assert_eq!(h.value, "0cc175b9c0f1b6a831c399e269772661");
        assert!(md5_etag(Some("\"0cc175b9c0f1b6a831c399e269772661-2\"")).is_none());
        assert!(md5_etag(Some("W/\"abc\"")).is_none());
        assert!(md5_etag(None).is_none());
    }

    #[test]
    fn temp_names_sit_beside_their_file() {
        let p = RemotePath::parse("a/b/c.txt").unwrap();
        assert_eq!(temp_path(&p), "a/b/.c.txt.ourclone-tmp");
        let p = RemotePath::parse("top").unwrap();
        assert_eq!(temp_path(&p), ".top.ourclone-tmp");
        assert_eq!(dir_path(&RemotePath::parse("").unwrap()), "/");
        assert_eq!(dir_path(&p), "top/");
    }

    #[test]
    fn edge_whitespace_survives_path_trimming() {
        for name in [
            " lead",
            "trail ",
            " both\t",
            "   ",
            "mid dle",
            "x",
            "\u{2420}odd",
        ] {
            let enc = encode_name(name);
            assert_eq!(enc.trim(), enc, "{name:?}");
            if !name.starts_with('\u{2420}') {
                assert_eq!(decode_name(&enc), name);
            }
        }
        let p = RemotePath::parse("a /b/ c ").unwrap();
        assert_eq!(file_path(&p), "a\u{2420}/b/\u{2420}c\u{2420}");
    }
}
