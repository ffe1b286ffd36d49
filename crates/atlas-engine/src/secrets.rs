//! The key that seals provider secrets at rest: `ATLAS_SECRET_KEY`, or a key
//! generated once and kept in `<data dir>/secret.key` (mode 0600). Secrets are
//! sealed with it on the way in and opened only to build a provider.

use std::path::PathBuf;

use atlas_providers::graph::secret::{self, SecretKey, SecretString};

/// Where generated state lives (`ATLAS_DATA_DIR`, default `./atlas-data`).
pub fn data_dir() -> PathBuf {
    std::env::var("ATLAS_DATA_DIR").map_or_else(|_| PathBuf::from("atlas-data"), PathBuf::from)
}

pub fn key() -> Result<SecretKey, String> {
    let path = data_dir().join("secret.key");
    let from_env = std::env::var(secret::KEY_ENV).is_ok_and(|k| !k.trim().is_empty());
    if let Some(dir) = path.parent().filter(|_| !from_env) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    secret::key_from_env_or_file(&path).map_err(|e| format!("secret key unavailable: {e}"))
}

/// Seals a secret for storage.
pub fn seal(plaintext: &str) -> Result<String, String> {
    let key = key()?;
    secret::seal(key.bytes(), plaintext).map_err(|e| format!("cannot seal the secret: {e}"))
}

/// Opens a stored secret.
pub fn open(sealed: &str) -> Result<SecretString, String> {
    let key = key()?;
    secret::open(key.bytes(), sealed).map_err(|e| format!("cannot open the stored secret: {e}"))
}
