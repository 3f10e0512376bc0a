//! Packs: many sealed blobs in one object, so each remote call carries tens of MiB (each call
//! is precious on 1Fichier). Layout: blob ‖ blob ‖ … ‖ sealed header (JSON `PackEntry`) ‖
//! header length (u32, little-endian). A blob is `seal(zstd(plain))`. Owns that layout; must
//! not decide which blobs go where.

use rand::seq::SliceRandom;

use super::crypto::{CryptoError, MasterKey};
use super::model::{BlobEntry, BlobKind, PackEntry};

/// A pack being filled: its sealed blobs, kept apart until the pack is written.
#[derive(Default)]
pub struct PackWriter {
    parts: Vec<Vec<u8>>,
    blobs: Vec<BlobEntry>,
    len: usize,
}

/// zstd level: 3 (zstd's default) compresses text well at a few hundred MB/s.
const ZSTD_LEVEL: i32 = 3;

/// Compresses and seals blobs, keeping one zstd context for all of them (a fresh context per
/// blob costs more than compressing a small one).
pub struct BlobSealer(zstd::bulk::Compressor<'static>);

impl BlobSealer {
    pub fn new() -> std::io::Result<Self> {
        zstd::bulk::Compressor::new(ZSTD_LEVEL).map(Self)
    }

    /// `seal(zstd(plain))`.
    pub fn seal(&mut self, key: &MasterKey, plain: &[u8]) -> std::io::Result<Vec<u8>> {
        let packed = self.0.compress(plain)?;
        Ok(key.seal(&packed))
    }
}

/// `seal(zstd(plain))` of a JSON object (an index file, a snapshot, a pack header).
pub fn seal_json(key: &MasterKey, plain: &[u8]) -> std::io::Result<Vec<u8>> {
    Ok(key.seal(&zstd::bulk::compress(plain, ZSTD_LEVEL)?))
}

/// The JSON [`seal_json`] sealed.
pub fn open_json(key: &MasterKey, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let packed = key.open(sealed)?;
    zstd::stream::decode_all(&packed[..]).map_err(|_| CryptoError::Damaged)
}

/// Opens and decompresses one blob of `raw_length` bytes.
pub fn open_blob(key: &MasterKey, sealed: &[u8], raw_length: u64) -> Result<Vec<u8>, CryptoError> {
    let packed = key.open(sealed)?;
    zstd::bulk::decompress(&packed, raw_length as usize).map_err(|_| CryptoError::Damaged)
}

impl PackWriter {
    pub fn add(&mut self, id: String, kind: BlobKind, sealed: Vec<u8>, raw_length: u64) {
        self.blobs.push(BlobEntry {
            id,
            kind,
            offset: 0,
            length: sealed.len() as u64,
            raw_length,
        });
        self.len += sealed.len();
        self.parts.push(sealed);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// The finished pack, its blobs in a random order: its id (BLAKE3 of its bytes, hex), its
    /// bytes in parts (to be written one after the other), and its index entry.
    pub fn finish(self, key: &MasterKey) -> std::io::Result<(String, Vec<Vec<u8>>, PackEntry)> {
        let mut order: Vec<(BlobEntry, Vec<u8>)> = self.blobs.into_iter().zip(self.parts).collect();
        order.shuffle(&mut rand::rng());
        let (mut blobs, mut parts) = (Vec::new(), Vec::new());
        let mut offset = 0;
        for (mut b, part) in order {
            b.offset = offset;
            offset += b.length;
            blobs.push(b);
            parts.push(part);
        }
        let mut entry = PackEntry {
            id: String::new(),
            blobs,
        };
        let mut tail = seal_json(
            key,
            &serde_json::to_vec(&entry).map_err(std::io::Error::other)?,
        )?;
        tail.extend_from_slice(&(tail.len() as u32).to_le_bytes());
        parts.push(tail);
        let mut hasher = blake3::Hasher::new();
        for p in &parts {
            hasher.update(p);
        }
        let id = hasher.finalize().to_hex().to_string();
        entry.id = id.clone();
        Ok((id, parts, entry))
    }
}

/// The blobs a pack says it holds (its own header), checked against its bytes.
pub fn read_header(key: &MasterKey, pack: &[u8]) -> Result<Vec<BlobEntry>, CryptoError> {
    let n = pack.len();
    let len = pack
        .get(n.saturating_sub(4)..)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or(CryptoError::Damaged)? as usize;
    let start = n.checked_sub(4 + len).ok_or(CryptoError::Damaged)?;
    let plain = open_json(key, &pack[start..n - 4])?;
    let entry: PackEntry = serde_json::from_slice(&plain).map_err(|_| CryptoError::Damaged)?;
    if entry
        .blobs
        .iter()
        .any(|b| b.offset + b.length > start as u64)
    {
        return Err(CryptoError::Damaged);
    }
    Ok(entry.blobs)
}

/// The sealed bytes of blob `e` in `pack`.
pub fn blob<'a>(pack: &'a [u8], e: &BlobEntry) -> Option<&'a [u8]> {
    pack.get(e.offset as usize..(e.offset + e.length) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_reads_back_and_names_damage() {
        let key = MasterKey::generate();
        let mut w = PackWriter::default();
        let a = b"hello hello hello hello".repeat(100);
        let mut sealer = BlobSealer::new().unwrap();
        let sealed = sealer.seal(&key, &a).unwrap();
        let compressed = sealed.len();
        w.add("a".into(), BlobKind::Data, sealed, a.len() as u64);
        for i in 0..20u8 {
            let other = vec![i; 100 + usize::from(i)];
            let s = sealer.seal(&key, &other).unwrap();
            w.add(format!("{i}"), BlobKind::Data, s, other.len() as u64);
        }
        let (id, parts, entry) = w.finish(&key).unwrap();
        let mut bytes = parts.concat();
        assert_eq!(id, blake3::hash(&bytes).to_hex().to_string());
        let mut blobs = read_header(&key, &bytes).unwrap();
        assert_eq!(blobs, entry.blobs);
        for b in &blobs[..] {
            let got = open_blob(&key, blob(&bytes, b).unwrap(), b.raw_length).unwrap();
            let want = match b.id.parse::<u8>() {
                Ok(i) => vec![i; 100 + usize::from(i)],
                Err(_) => a.clone(),
            };
            assert_eq!(got, want, "blob {}", b.id);
        }
        let at = blobs.iter().position(|b| b.id == "a").unwrap();
        blobs.swap(0, at);
        assert!(compressed < a.len() / 4, "compressed");
        bytes[blobs[0].offset as usize + 5] ^= 1;
        assert!(open_blob(&key, blob(&bytes, &blobs[0]).unwrap(), a.len() as u64).is_err());
        let n = bytes.len();
        bytes[n - 10] ^= 1;
        assert!(read_header(&key, &bytes).is_err());
        assert!(read_header(&key, &bytes[..3]).is_err());
    }
}
