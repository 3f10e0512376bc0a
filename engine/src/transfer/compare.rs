//! Whether a destination file already holds what the source file holds: by size and mtime, by
//! size alone, or by content hash (the provider's own where a side knows it, else computed by
//! reading). Owns the comparison and hashing; must not change either side.

use std::io;
use std::time::{Duration, SystemTime};

use ourclone_remote::{Hash, HashAlgo};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::tree::{Item, Tree};

/// How files are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    #[default]
    SizeMtime,
    SizeOnly,
    Checksum,
}

/// Times closer than this are the same (filesystems keep different precisions).
const MODIFY_WINDOW: Duration = Duration::from_millis(1);

fn same_time(a: SystemTime, b: SystemTime) -> bool {
    let d = a.duration_since(b).or_else(|_| b.duration_since(a));
    d.is_ok_and(|d| d < MODIFY_WINDOW)
}

/// `None` when the files are the same, else why they are not.
pub async fn differs(
    how: Compare,
    src: (&Tree, &str, &Item),
    dst: (&Tree, &str, &Item),
) -> io::Result<Option<&'static str>> {
    let (s, d) = (src.2, dst.2);
    if s.size != d.size {
        return Ok(Some("size differs"));
    }
    match how {
        Compare::SizeOnly => Ok(None),
        Compare::SizeMtime if same_time(s.mtime, d.mtime) => Ok(None),
        Compare::SizeMtime => Ok(Some("modification time differs")),
        Compare::Checksum => {
            let algo = d
                .hash
                .as_ref()
                .or(s.hash.as_ref())
                .map_or(HashAlgo::Blake3, |h| h.algo);
            let a = hash_of(src.0, src.1, s, algo).await?;
            let b = hash_of(dst.0, dst.1, d, algo).await?;
            Ok((a != b).then_some("checksum differs"))
        }
    }
}

/// The `algo` hash of `rel`: the one the side knows (the provider's, or one computed and kept
/// earlier), else computed by reading the file, and kept.
pub async fn hash_of(tree: &Tree, rel: &str, item: &Item, algo: HashAlgo) -> io::Result<Hash> {
    if let Some(h) = item.hash.as_ref().filter(|h| h.algo == algo) {
        return Ok(h.clone());
    }
    if let Some(h) = tree.remembered_hash(rel, algo).await {
        return Ok(h);
    }
    let h = compute(tree, rel, item.size, algo).await?;
    tree.remember_hash(rel, &h).await;
    Ok(h)
}

async fn compute(tree: &Tree, rel: &str, size: u64, algo: HashAlgo) -> io::Result<Hash> {
    if let Tree::Local { root } = tree {
        // Plain blocking reads on a blocking thread: no async file overhead per buffer.
        let path = root.join(rel);
        return tokio::task::spawn_blocking(move || compute_local(&path, size, algo))
            .await
            .map_err(io::Error::other)?;
    }
    let mut r = tree.open(rel).await?;
    let mut hasher = Hasher::new(algo)?;
    // Sized to the file (plus one byte to see its end in one read), at most 1 MiB.
    let mut buf = vec![0u8; (size as usize + 1).clamp(4096, 1 << 20)];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Hash::new(algo, hasher.finish()))
}

fn compute_local(path: &std::path::Path, size: u64, algo: HashAlgo) -> io::Result<Hash> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Hasher::new(algo)?;
    let mut buf = vec![0u8; (size as usize + 1).clamp(4096, 1 << 20)];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Hash::new(algo, hasher.finish()))
}

enum Hasher {
    Blake3(Box<blake3::Hasher>),
    Whirlpool(Box<whirlpool::Whirlpool>),
    /// S3's ETag of an object uploaded in one part.
    Md5(md5::Md5),
}

impl Hasher {
    fn new(algo: HashAlgo) -> io::Result<Self> {
        use whirlpool::Digest;
        match algo {
            HashAlgo::Blake3 => Ok(Hasher::Blake3(Box::default())),
            HashAlgo::Whirlpool => Ok(Hasher::Whirlpool(Box::new(whirlpool::Whirlpool::new()))),
            HashAlgo::Md5 => Ok(Hasher::Md5(md5::Md5::new())),
            other => Err(io::Error::other(format!(
                "cannot compute {} hashes",
                other.as_str()
            ))),
        }
    }

    fn update(&mut self, data: &[u8]) {
        use whirlpool::Digest;
        match self {
            Hasher::Blake3(h) => {
                h.update(data);
            }
            Hasher::Whirlpool(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        use whirlpool::Digest;
        match self {
            Hasher::Blake3(h) => h.finalize().to_hex().to_string(),
            Hasher::Whirlpool(h) => hex(&h.finalize()),
            Hasher::Md5(h) => hex(&h.finalize()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_within_the_window_are_the_same() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(same_time(t, t + Duration::from_micros(999)));
        assert!(same_time(t + Duration::from_micros(999), t));
        assert!(!same_time(t, t + Duration::from_secs(1)));
    }

    #[test]
    fn whirlpool_of_nothing_is_the_known_value() {
        let mut h = Hasher::new(HashAlgo::Whirlpool).unwrap();
        h.update(b"");
        assert!(h.finish().starts_with("19fa61d75522a466"));
    }

    #[test]
    fn md5_is_the_known_value() {
        let mut h = Hasher::new(HashAlgo::Md5).unwrap();
        h.update(b"abc");
        assert_eq!(h.finish(), "900150983cd24fb0d6963f7d28e17f72");
    }
}
