//! Secrets at rest: a client secret is sealed with ChaCha20-Poly1305 under the
//! installation's key (configured, or a key generated once into a file) and only opened in memory, into a [`SecretString`] whose `Debug` and
//! `Display` never show it.
//!
//! Sealed form: base64 (standard, padded) of `nonce (12 bytes) || ciphertext
//! || tag (16 bytes)`, a fresh random nonce per seal.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A secret value. It can be read only through [`SecretString::expose`], so
/// every place that uses the plaintext is explicit; formatting prints `***`.
/// Deliberately not `Serialize`: a secret cannot slip into JSON by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> SecretString {
        SecretString(value.into())
    }

    /// The plaintext. Callers must not log, print or store it unsealed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> SecretString {
        SecretString(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The installation's 32-byte sealing key; formatting never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for SecretKey {
    fn from(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Why a key could not be had or a sealed secret could not be opened. No
/// variant carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error("the secret key must be 64 hex characters or the base64 of 32 bytes")]
    BadKey,
    #[error("cannot use the secret key file {path}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the sealed secret is not valid base64")]
    Encoding,
    #[error("the sealed secret is too short to hold a nonce and a tag")]
    Truncated,
    /// The key is not the one it was sealed with, or the text was altered.
    #[error("the sealed secret does not open with this key")]
    Open,
    #[error("the opened secret is not UTF-8 text")]
    NotText,
    #[error("the secret is too long to seal")]
    TooLong,
}

/// Seals `plaintext` under `key` with a fresh random nonce.
pub fn seal(key: &[u8; 32], plaintext: &str) -> Result<String, SecretError> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    // The AEAD refuses only plaintexts beyond its length limit (~256 GiB).
    let ciphertext =
        cipher.encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes()).map_err(|_| SecretError::TooLong)?;
    let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(STANDARD.encode(sealed))
}

/// Opens what [`seal`] produced; fails (without saying more) for a wrong key
/// or altered text.
pub fn open(key: &[u8; 32], sealed: &str) -> Result<SecretString, SecretError> {
    let raw = STANDARD.decode(sealed.trim()).map_err(|_| SecretError::Encoding)?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(SecretError::Truncated);
    }
    let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let plaintext = cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| SecretError::Open)?;
    String::from_utf8(plaintext).map(SecretString).map_err(|_| SecretError::NotText)
}

/// Parses a key given as 64 hex characters or as base64 (standard or
/// URL-safe, padded or not) of exactly 32 bytes.
pub fn parse_key(text: &str) -> Result<SecretKey, SecretError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| SecretError::BadKey)?
    } else {
        [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or(SecretError::BadKey)?
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map(SecretKey).map_err(|_| SecretError::BadKey)
}

/// The installation's key: `configured` when given (and not blank), else the
/// key in the file at `path`, which is created (mode 0600, hex) with a random
/// key the first time.
pub fn installation_key(configured: Option<&SecretString>, path: &Path) -> Result<SecretKey, SecretError> {
    match configured {
        Some(key) if !key.expose().trim().is_empty() => parse_key(key.expose()),
        _ => key_from_file(path),
    }
}

/// Reads the key stored at `path`, or generates and stores one. The new key
/// is written to a private temporary file and hard-linked into place, which
/// fails if the name exists: two processes starting at once on a fresh data
/// directory both end up with the one key that won, never a half-written file.
pub fn key_from_file(path: &Path) -> Result<SecretKey, SecretError> {
    let file_error = |source| SecretError::KeyFile { path: path.to_owned(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => return parse_key(&text),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(file_error)?;
    }
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}-{:016x}", std::process::id(), OsRng.next_u64()));
    let tmp = PathBuf::from(tmp_name);
    let written =
        write_private(&tmp, format!("{}\n", hex::encode(key)).as_bytes()).and_then(|()| std::fs::hard_link(&tmp, path));
    // Best effort: the temporary name is no longer needed either way.
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(SecretKey(key)),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path).map_err(file_error).and_then(|text| parse_key(&text))
        }
        Err(e) => Err(file_error(e)),
    }
}

/// Creates `path` readable and writable by its owner only (0600 on Unix).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
