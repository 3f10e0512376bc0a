//! The repository's keys and sealing: a random master key (an AES-256-GCM key for objects and
//! a BLAKE3 key for chunk ids), wrapped in one key file per password by an argon2id-derived key;
//! `seal`/`open` of every object. Owns the byte layouts of sealed objects and key files (see
//! docs/REPOSITORY.md); must not know what the objects hold.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A sealed object: nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("wrong password")]
    WrongPassword,
    #[error("an object failed authentication: damaged or altered")]
    Damaged,
    #[error("key derivation: {0}")]
    Kdf(String),
}

/// What unlocks a repository: the object key and the chunk-id key.
#[derive(Clone)]
pub struct MasterKey {
    seal: [u8; 32],
    ids: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

impl MasterKey {
    pub fn generate() -> Self {
        Self {
            seal: random(),
            ids: random(),
        }
    }

    /// The id of a chunk or tree: keyed BLAKE3 of its plaintext, so ids say nothing about
    /// content to someone without the key.
    pub fn id_of(&self, plain: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.ids, plain).as_bytes()
    }

    /// Seals `plain` with a fresh random nonce.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        seal_with(&self.seal, plain)
    }

    /// Opens a sealed object; `Damaged` if it was altered or truncated.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.seal, sealed)
    }
}

fn seal_with(key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(key));
    let nonce: [u8; NONCE_LEN] = random();
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    // Encryption with a valid key and nonce cannot fail for in-memory buffers.
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), plain)
        .unwrap_or_default();
    out.extend_from_slice(&ct);
    out
}

fn open_with(key: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Damaged);
    }
    let cipher = Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(key));
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| CryptoError::Damaged)
}

/// argon2id parameters, stored in each key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

/// 64 MiB, 2 passes, 1 lane: about 0.2 s here, paid once per command. Above OWASP's argon2id
/// minimum (19 MiB, 2 passes) and twice the memory of restic's scrypt (N=2^15, r=8: 32 MiB).
pub const DEFAULT_KDF: KdfParams = KdfParams {
    m_cost: 64 * 1024,
    t_cost: 2,
    p_cost: 1,
};

/// A key file (`keys/ID`, JSON): the master key sealed with a key derived from a password.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyFile {
    pub kdf: String,
    pub params: KdfParams,
    /// Hex.
    pub salt: String,
    /// Hex of the sealed 64-byte master key (seal key ‖ id key).
    pub sealed: String,
    /// Who made it and when (informational).
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub created: u64,
}

fn derive(password: &[u8], salt: &[u8], p: KdfParams) -> Result<[u8; 32], CryptoError> {
    let params = argon2::Params::new(p.m_cost, p.t_cost, p.p_cost, Some(32))
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(password, salt, &mut out)
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    Ok(out)
}

impl KeyFile {
    /// Wraps `master` under `password`.
    pub fn wrap(
        master: &MasterKey,
        password: &[u8],
        params: KdfParams,
    ) -> Result<Self, CryptoError> {
        let salt: [u8; 16] = random();
        let key = derive(password, &salt, params)?;
        let mut both = Vec::with_capacity(64);
        both.extend_from_slice(&master.seal);
        both.extend_from_slice(&master.ids);
        Ok(Self {
            kdf: "argon2id".into(),
            params,
            salt: hex::encode(salt),
            sealed: hex::encode(seal_with(&key, &both)),
            host: String::new(),
            created: 0,
        })
    }

    /// The master key, if `password` is this key file's.
    pub fn unwrap(&self, password: &[u8]) -> Result<MasterKey, CryptoError> {
        let salt = hex::decode(&self.salt).map_err(|_| CryptoError::Damaged)?;
        let sealed = hex::decode(&self.sealed).map_err(|_| CryptoError::Damaged)?;
        let key = derive(password, &salt, self.params)?;
        let both = open_with(&key, &sealed).map_err(|_| CryptoError::WrongPassword)?;
        if both.len() != 64 {
            return Err(CryptoError::Damaged);
        }
        let mut m = MasterKey {
            seal: [0; 32],
            ids: [0; 32],
        };
        m.seal.copy_from_slice(&both[..32]);
        m.ids.copy_from_slice(&both[32..]);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        m_cost: 1024,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn objects_open_only_unaltered_and_keys_only_with_their_password() {
        let m = MasterKey::generate();
        let sealed = m.seal(b"hello");
        assert_eq!(m.open(&sealed).unwrap(), b"hello");
        let mut bad = sealed.clone();
        bad[NONCE_LEN + 1] ^= 1;
        assert!(matches!(m.open(&bad), Err(CryptoError::Damaged)));
        assert!(matches!(m.open(&sealed[..10]), Err(CryptoError::Damaged)));
        assert_ne!(m.seal(b"hello"), sealed, "fresh nonce each time");

        let kf = KeyFile::wrap(&m, b"secret", FAST).unwrap();
        let back = kf.unwrap(b"secret").unwrap();
        assert_eq!(back.id_of(b"x"), m.id_of(b"x"));
        assert!(matches!(
            kf.unwrap(b"wrong"),
            Err(CryptoError::WrongPassword)
        ));
        assert_ne!(
            MasterKey::generate().id_of(b"x"),
            m.id_of(b"x"),
            "ids are keyed"
        );
    }
}
