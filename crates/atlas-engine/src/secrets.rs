//! The key that seals provider secrets at rest: the configured installation
//! key (`ATLAS_SECRET_KEY` in the CLI), or a key generated once and kept in
//! `<data dir>/secret.key` (mode 0600). Secrets are sealed with it on the way
//! in and opened only to build a provider.

use std::path::PathBuf;

use atlas_providers::graph::secret::{self, SecretKey, SecretString};

/// Where this node's installation key comes from. `Debug` never shows the key.
#[derive(Clone, Debug)]
pub struct Secrets {
    /// The configured key (64 hex characters, or base64 of 32 bytes), if any.
    pub key: Option<SecretString>,
    /// Where generated state lives; the generated key is `secret.key` in it.
    pub data_dir: PathBuf,
}

impl Default for Secrets {
    fn default() -> Secrets {
        Secrets { key: None, data_dir: PathBuf::from(Secrets::DEFAULT_DATA_DIR) }
    }
}

impl Secrets {
    pub const DEFAULT_DATA_DIR: &'static str = "atlas-data";

    pub fn key(&self) -> Result<SecretKey, String> {
        let path = self.data_dir.join("secret.key");
        let configured = self.key.as_ref().filter(|k| !k.expose().trim().is_empty());
        if let Some(dir) = path.parent().filter(|_| configured.is_none()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        secret::installation_key(configured, &path).map_err(|e| format!("secret key unavailable: {e}"))
    }

    /// Seals a secret for storage.
    pub fn seal(&self, plaintext: &str) -> Result<String, String> {
        let key = self.key()?;
        secret::seal(key.bytes(), plaintext).map_err(|e| format!("cannot seal the secret: {e}"))
    }

    /// Opens a stored secret.
    pub fn open(&self, sealed: &str) -> Result<SecretString, String> {
        let key = self.key()?;
        secret::open(key.bytes(), sealed).map_err(|e| format!("cannot open the stored secret: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_key_seals_and_opens_without_touching_the_data_dir() {
        let dir = std::env::temp_dir().join(format!("atlas-secrets-{}", uuid::Uuid::now_v7()));
        let key = "5f0c2b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c";
        let secrets = Secrets { key: Some(SecretString::new(key)), data_dir: dir.clone() };
        let sealed = secrets.seal("hunter2").unwrap_or_default();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(secrets.open(&sealed).map(|s| s.expose().to_owned()), Ok("hunter2".into()));
        assert!(!dir.exists(), "a configured key writes no key file");
        let other = Secrets { key: None, data_dir: dir.clone() };
        assert!(other.open(&sealed).is_err(), "a generated key is another key");
        assert!(dir.join("secret.key").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
