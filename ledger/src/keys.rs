//! The ledger's checkpoint key: created on first use in the data directory (mode 0600) or read
//! from a configured path. Its name is the log's origin.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use tranche_audit::note::NoteSigner;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the ledger key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the ledger key {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the ledger key {path} is not valid: {detail}")]
    Invalid { path: String, detail: String },
    #[error("the ledger key {path} is readable by others (mode {mode:o}): make it 0600")]
    TooOpen { path: String, mode: u32 },
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Reads a private key file, refusing one that others can read; `None` when it does not exist.
fn read_private(path: &Path) -> Result<Option<String>, KeyError> {
    let shown = || path.display().to_string();
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KeyError::Read {
                path: shown(),
                source,
            })
        }
    };
    let mode = fs::metadata(path)
        .map_err(|source| KeyError::Read {
            path: shown(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: shown(),
            mode: mode & 0o777,
        });
    }
    Ok(Some(text))
}

/// Writes a new private key file (0600, synced). `create_new`: never overwrites a key another
/// process just wrote; that case is the `AlreadyExists` error.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{text}\n").as_bytes())?;
    f.sync_all()
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// Loads the key at `path`, or creates it there (0600) when it does not exist.
/// `origin` names a new key; an existing key keeps its own name.
pub fn load_or_create(path: &Path, origin: &str) -> Result<NoteSigner, KeyError> {
    match read_private(path)? {
        Some(text) => NoteSigner::parse(&text).map_err(|e| KeyError::Invalid {
            path: path.display().to_string(),
            detail: e.to_string(),
        }),
        None => {
            let signer = generate(origin)?;
            write_private(path, &signer.to_private_text()).map_err(write_error(path))?;
            Ok(signer)
        }
    }
}

/// A new random key named `origin`.
pub fn generate(origin: &str) -> Result<NoteSigner, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    NoteSigner::from_seed(origin, seed).map_err(|e| KeyError::Invalid {
        path: "(new key)".into(),
        detail: e.to_string(),
    })
}

/// Loads the 32-byte secret at `path` (64 hex digits), or creates it there (0600). The
/// participant key that hides document numbers behind an HMAC is one.
pub fn load_or_create_secret(path: &Path) -> Result<[u8; 32], KeyError> {
    match read_private(path)? {
        Some(text) => hex::decode(text.trim())
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or(KeyError::Invalid {
                path: path.display().to_string(),
                detail: "must hold 64 hex digits".into(),
            }),
        None => {
            let mut secret = [0u8; 32];
            getrandom::getrandom(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
            match write_private(path, &hex::encode(secret)) {
                Ok(()) => Ok(secret),
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create_secret(path)
                }
                Err(e) => Err(write_error(path)(e)),
            }
        }
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hmac_matches_rfc_4231_test_case_2_shape() {
        // RFC 4231 case 2 uses a 4-byte key; padded with zeros to 32 bytes it is the same key.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac_sha256(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    use super::*;

    #[test]
    fn a_new_key_is_private_and_loads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ledger.key");
        let a = load_or_create(&path, "tranche.test/log").expect("created");
        let mode = fs::metadata(&path).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = load_or_create(&path, "ignored/for/existing").expect("loaded");
        assert_eq!(a.verifier(), b.verifier());
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ledger.key");
        load_or_create(&path, "tranche.test/log").expect("created");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            load_or_create(&path, "x"),
            Err(KeyError::TooOpen { .. })
        ));
    }
}
