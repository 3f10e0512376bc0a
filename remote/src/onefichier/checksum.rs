//! Whirlpool, 1Fichier's checksum, in the lowercase hex the API uses. A leaf module: the
//! upload path, the listing decoder and the account id all use it, and it uses none of them.

use std::fmt::Write as _;

use whirlpool::{Digest, Whirlpool};

/// Lowercase hex Whirlpool of `data`.
pub fn whirlpool_hex(data: &[u8]) -> String {
    to_hex(&Whirlpool::digest(data))
}

/// Lowercase hex of a digest.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
