//! Encryption at rest of stored secrets (API keys, access and refresh tokens,
//! client secrets): XChaCha20-Poly1305 under a 32-byte master key.
//!
//! A sealed value is `0x01 | key id (8) | nonce (24) | ciphertext+tag`. The key id
//! (a SHA-256 prefix of the key) tells a wrong key from a corrupt row; the
//! associated data binds each ciphertext to its credential and column, so values
//! cannot be swapped between rows. Pure computation: no I/O but [`MasterKey::load`].

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Environment variable holding the base64 master key.
pub const MASTER_KEY_ENV: &str = "SWITCHYARD_MASTER_KEY";

/// A secret that could not be opened or sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Sealed under another master key.
    #[error("sealed under another master key (key id {found}, this key is {expected})")]
    WrongKey {
        /// Key id in the value.
        found: String,
        /// Key id of the key in use.
        expected: String,
    },
    /// Not a sealed value, or tampered with.
    #[error("not a valid sealed value: {0}")]
    Corrupt(&'static str),
    /// A master key that is not 32 bytes of base64.
    #[error("invalid master key: {0}")]
    BadKey(String),
}

/// The master key. `Debug` shows only its id.
#[derive(Clone)]
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    id: [u8; KEY_ID_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id_hex())
            .finish()
    }
}

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `SWITCHYARD_MASTER_KEY`.
    Env,
    /// A key file.
    File(PathBuf),
    /// A key file created now, because none existed.
    Generated(PathBuf),
}

// === impl MasterKey ===

impl MasterKey {
    /// A key from 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self {
            cipher: XChaCha20Poly1305::new(&bytes.into()),
            id,
        }
    }

    /// A key from its base64 text (32 bytes once decoded).
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|e| CryptoError::BadKey(format!("not base64: {e}")))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| CryptoError::BadKey(format!("{} bytes, 32 needed", v.len())))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A fresh random key, as base64 text.
    #[expect(
        clippy::expect_used,
        reason = "without the OS random source no key can be made; nothing to fall back to"
    )]
    pub fn generate_base64() -> SecretString {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        SecretString::from(B64.encode(bytes))
    }

    /// Loads the key: `env_value` (from `SWITCHYARD_MASTER_KEY`) wins; else the key
    /// file; a missing key file is created (mode 0600) with a fresh key. A caller
    /// that opens a database must use [`MasterKey::load_existing`] and create a key
    /// only for a database without sealed secrets.
    pub fn load(env_value: Option<&str>, file: &Path) -> Result<(Self, KeySource), CryptoError> {
        match Self::load_existing(env_value, file)? {
            Some(found) => Ok(found),
            None => Self::create(file),
        }
    }

    /// Loads the key from `env_value` (from `SWITCHYARD_MASTER_KEY`), else from the
    /// key file; `None` when neither is there. A set but empty variable is an
    /// error, never "unset": it means a misconfigured deployment, and falling back
    /// to a key file would seal new secrets under a key nobody meant to use.
    pub fn load_existing(
        env_value: Option<&str>,
        file: &Path,
    ) -> Result<Option<(Self, KeySource)>, CryptoError> {
        if let Some(text) = env_value {
            if text.trim().is_empty() {
                return Err(CryptoError::BadKey(format!(
                    "{MASTER_KEY_ENV} is set but empty: give the base64 key, or unset it to use the key file"
                )));
            }
            return Ok(Some((Self::from_base64(text)?, KeySource::Env)));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => Ok(Some((
                Self::from_base64(&text)?,
                KeySource::File(file.to_owned()),
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CryptoError::BadKey(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }

    /// Creates `file` (mode 0600, never over an existing one) with a fresh key.
    pub fn create(file: &Path) -> Result<(Self, KeySource), CryptoError> {
        let text = Self::generate_base64();
        write_private(file, text.expose_secret())
            .map_err(|e| CryptoError::BadKey(format!("cannot create {}: {e}", file.display())))?;
        Ok((
            Self::from_base64(text.expose_secret())?,
            KeySource::Generated(file.to_owned()),
        ))
    }

    /// Hex id of the key (not secret).
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Seals `plaintext`, bound to `context` (credential id and column).
    #[expect(
        clippy::expect_used,
        reason = "AEAD encryption of an in-memory buffer fails only past 256 GiB"
    )]
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let nonce = XNonce::generate();
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Opens a value sealed by [`MasterKey::seal`] with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Corrupt("unknown format"));
        }
        let id = &sealed[1..1 + KEY_ID_LEN];
        if id != self.id {
            return Err(CryptoError::WrongKey {
                found: id.iter().map(|b| format!("{b:02x}")).collect(),
                expected: self.id_hex(),
            });
        }
        let nonce = XNonce::try_from(&sealed[1 + KEY_ID_LEN..HEADER_LEN])
            .map_err(|_| CryptoError::Corrupt("nonce"))?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Corrupt("authentication failed"))
    }

    /// Whether `value` looks sealed (as opposed to a legacy plaintext secret).
    pub fn is_sealed(value: &[u8]) -> bool {
        value.len() >= HEADER_LEN + 16 && value[0] == VERSION
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The default key file of a database: `switchyard.db` -> `switchyard.db.key`.
pub fn default_key_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// SHA-256 of a caller token, hex: what the config stores instead of the token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random caller token (`sy_` and 43 base64url characters).
#[expect(
    clippy::expect_used,
    reason = "without the OS random source no token can be made; nothing to fall back to"
)]
pub fn generate_token() -> SecretString {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    SecretString::from(format!(
        "sy_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes([b; 32])
    }

    #[test]
    fn sealed_values_open_with_the_same_key_and_context_only() {
        let k = key(1);
        let sealed = k.seal(b"sk-live-123", "cred-1/secret");
        assert!(!sealed.windows(11).any(|w| w == b"sk-live-123"));
        assert_eq!(k.open(&sealed, "cred-1/secret").unwrap(), b"sk-live-123");
        assert_eq!(
            k.open(&sealed, "cred-2/secret"),
            Err(CryptoError::Corrupt("authentication failed"))
        );
        assert!(matches!(
            key(2).open(&sealed, "cred-1/secret"),
            Err(CryptoError::WrongKey { .. })
        ));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let k = key(1);
        assert_ne!(k.seal(b"x", "c"), k.seal(b"x", "c"));
    }

    #[test]
    fn tampering_is_detected() {
        let k = key(1);
        let mut sealed = k.seal(b"secret", "c");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(
            k.open(&sealed, "c"),
            Err(CryptoError::Corrupt("authentication failed"))
        );
        assert_eq!(
            k.open(b"plain", "c"),
            Err(CryptoError::Corrupt("unknown format"))
        );
    }

    #[test]
    fn keys_load_from_env_or_a_file_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let (k1, s1) = MasterKey::load(None, &file).unwrap();
        assert_eq!(s1, KeySource::Generated(file.clone()));
        let (k2, s2) = MasterKey::load(None, &file).unwrap();
        assert_eq!(s2, KeySource::File(file.clone()));
        assert_eq!(k1.id_hex(), k2.id_hex());
        let text = MasterKey::generate_base64();
        let (k3, s3) = MasterKey::load(Some(text.expose_secret()), &file).unwrap();
        assert_eq!(s3, KeySource::Env);
        assert_ne!(k3.id_hex(), k1.id_hex());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn an_empty_master_key_variable_is_refused_and_creates_no_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        for empty in ["", "  \n"] {
            let err = MasterKey::load(Some(empty), &file).unwrap_err().to_string();
            assert!(
                err.contains("SWITCHYARD_MASTER_KEY is set but empty"),
                "{err}"
            );
        }
        assert!(!file.exists());
        assert!(MasterKey::load_existing(None, &file).unwrap().is_none());
    }

    #[test]
    fn token_hashes_are_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(generate_token().expose_secret().starts_with("sy_"));
    }
}
