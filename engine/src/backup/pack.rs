//! Packs: many sealed blobs in one object, so each remote call carries tens of MiB (each call
//! is precious on 1Fichier). Layout: blob ‖ blob ‖ … ‖ sealed header (JSON `PackEntry`) ‖
//! header length (u32, little-endian). A blob is `seal(zstd(plain))`. Owns that layout; must
//! not decide which blobs go where.

use super::crypto::{CryptoError, MasterKey};
use super::model::{BlobEntry, BlobKind, PackEntry};

/// A pack is written once it holds this much.
pub const PACK_TARGET: usize = 16 << 20;

/// A pack being filled.
pub struct PackWriter {
    buf: Vec<u8>,
    blobs: Vec<BlobEntry>,
}

/// zstd level: 3 (zstd's default) compresses text well at a few hundred MB/s.
const ZSTD_LEVEL: i32 = 3;

/// Compresses and seals one blob.
pub fn seal_blob(key: &MasterKey, plain: &[u8]) -> std::io::Result<Vec<u8>> {
    let packed = zstd::bulk::compress(plain, ZSTD_LEVEL)?;
    Ok(key.seal(&packed))
}

/// Opens and decompresses one blob of `raw_length` bytes.
pub fn open_blob(key: &MasterKey, sealed: &[u8], raw_length: u64) -> Result<Vec<u8>, CryptoError> {
    let packed = key.open(sealed)?;
    zstd::bulk::decompress(&packed, raw_length as usize).map_err(|_| CryptoError::Damaged)
}

impl Default for PackWriter {
    fn default() -> Self {
        Self {
            buf: Vec::with_capacity(PACK_TARGET + (1 << 20)),
            blobs: Vec::new(),
        }
    }
}

impl PackWriter {
    pub fn add(&mut self, id: String, kind: BlobKind, sealed: &[u8], raw_length: u64) {
        self.blobs.push(BlobEntry {
            id,
            kind,
            offset: self.buf.len() as u64,
            length: sealed.len() as u64,
            raw_length,
        });
        self.buf.extend_from_slice(sealed);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// The finished pack: its id (BLAKE3 of its bytes, hex), bytes and index entry.
    pub fn finish(self, key: &MasterKey) -> std::io::Result<(String, Vec<u8>, PackEntry)> {
        let mut entry = PackEntry {
            id: String::new(),
            blobs: self.blobs,
        };
        let header = key.seal(&serde_json::to_vec(&entry).map_err(std::io::Error::other)?);
        let mut bytes = self.buf;
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        let id = blake3::hash(&bytes).to_hex().to_string();
        entry.id = id.clone();
        Ok((id, bytes, entry))
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
    let plain = key.open(&pack[start..n - 4])?;
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
        let sealed = seal_blob(&key, &a).unwrap();
        w.add("a".into(), BlobKind::Data, &sealed, a.len() as u64);
        let (id, mut bytes, entry) = w.finish(&key).unwrap();
        assert_eq!(id, blake3::hash(&bytes).to_hex().to_string());
        let blobs = read_header(&key, &bytes).unwrap();
        assert_eq!(blobs, entry.blobs);
        let got = open_blob(&key, blob(&bytes, &blobs[0]).unwrap(), blobs[0].raw_length).unwrap();
        assert_eq!(got, a);
        assert!(sealed.len() < a.len() / 4, "compressed");
        bytes[5] ^= 1;
        assert!(open_blob(&key, blob(&bytes, &blobs[0]).unwrap(), a.len() as u64).is_err());
        let n = bytes.len();
        bytes[n - 10] ^= 1;
        assert!(read_header(&key, &bytes).is_err());
        assert!(read_header(&key, &bytes[..3]).is_err());
    }
}
