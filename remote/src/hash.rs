//! Content hashes as providers report them: which algorithm, and its value in lowercase hex.
//! Owns the type and its text form (`whirlpool:ab12…`, the form kept in the MetaStore); must
//! not compute hashes (providers and the engine do, each with the algorithm they need).

use std::fmt;
use std::str::FromStr;

/// A hash algorithm some provider reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    /// 1Fichier's file checksum.
    Whirlpool,
    Md5,
    Sha1,
    Sha256,
    Blake3,
}

impl HashAlgo {
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgo::Whirlpool => "whirlpool",
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Blake3 => "blake3",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "whirlpool" => HashAlgo::Whirlpool,
            "md5" => HashAlgo::Md5,
            "sha1" => HashAlgo::Sha1,
            "sha256" => HashAlgo::Sha256,
            "blake3" => HashAlgo::Blake3,
            _ => return None,
        })
    }
}

/// One content hash: `value` is lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hash {
    pub algo: HashAlgo,
    pub value: String,
}

impl Hash {
    pub fn new(algo: HashAlgo, value: impl Into<String>) -> Self {
        Self {
            algo,
            value: value.into().to_ascii_lowercase(),
        }
    }

    pub fn whirlpool(value: impl Into<String>) -> Self {
        Self::new(HashAlgo::Whirlpool, value)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo.as_str(), self.value)
    }
}

/// Why a hash's text form could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a content hash: {0:?}")]
pub struct BadHash(String);

impl FromStr for Hash {
    type Err = BadHash;

    /// `algo:hex`; a bare 128-digit hex value (what stores written before the algorithm was
    /// named hold) is a Whirlpool hash, the only one known then.
    fn from_str(s: &str) -> Result<Self, BadHash> {
        let hex = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit());
        match s.split_once(':') {
            Some((algo, value)) if hex(value) => HashAlgo::parse(algo)
                .map(|a| Hash::new(a, value))
                .ok_or_else(|| BadHash(s.into())),
            None if s.len() == 128 && hex(s) => Ok(Hash::whirlpool(s)),
            _ => Err(BadHash(s.into())),
        }
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_reads_old_bare_values() {
        let h = Hash::new(HashAlgo::Md5, "ABCD");
        assert_eq!(h.to_string(), "md5:abcd");
        assert_eq!("md5:abcd".parse::<Hash>().unwrap(), h);
        let bare = "a".repeat(128);
        assert_eq!(bare.parse::<Hash>().unwrap(), Hash::whirlpool(&bare));
        assert!("md5:".parse::<Hash>().is_err());
        assert!("rot13:ab".parse::<Hash>().is_err());
        assert!("ab".parse::<Hash>().is_err());
    }

    #[test]
    fn postcard_form_is_a_string() {
        // The MetaStore kept `Option<String>` before; the same bytes must still decode.
        let old = postcard::to_allocvec(&Some("b".repeat(128))).unwrap();
        let new: Option<Hash> = postcard::from_bytes(&old).unwrap();
        assert_eq!(new, Some(Hash::whirlpool("b".repeat(128))));
    }
}
