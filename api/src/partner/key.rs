//! The partner's Ed25519 signing key and its key file (see the module above for its format).

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{bail, Context as _};
use ed25519_dalek::SigningKey;
use tranche_audit::programme::{partner_key_id, public_key_text, Id, KeyAction, PartnerKeyBody};

/// The first word of a partner key file.
const KEY_FILE_TAG: &str = "TRANCHE-PARTNER-KEY";

/// A partner's signing key, as held in its key file.
pub struct PartnerKey {
    pub partner: Id,
    pub signing: SigningKey,
}

impl fmt::Debug for PartnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerKey")
            .field("partner", &self.partner)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl PartnerKey {
    /// A new random key for `partner`.
    pub fn generate(partner: Id) -> anyhow::Result<PartnerKey> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)
            .map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
        Ok(PartnerKey {
            partner,
            signing: SigningKey::from_bytes(&seed),
        })
    }

    pub fn key_id(&self) -> String {
        partner_key_id(&self.signing.verifying_key())
    }

    pub fn public_key(&self) -> String {
        public_key_text(&self.signing.verifying_key())
    }

    /// The `partner.key` body that registers this key.
    pub fn registration(&self) -> PartnerKeyBody {
        PartnerKeyBody {
            partner: self.partner.clone(),
            action: KeyAction::Register,
            key_id: self.key_id(),
            public_key: Some(self.public_key()),
            replaces: None,
        }
    }

    /// The key file's one line (without its line end).
    pub fn to_text(&self) -> String {
        use base64::Engine as _;
        format!(
            "{KEY_FILE_TAG}+{}+{}+{}",
            self.partner,
            self.key_id(),
            base64::engine::general_purpose::STANDARD.encode(self.signing.to_bytes())
        )
    }

    /// Parses a key file's text; the key id must be that of the key.
    pub fn parse(text: &str) -> Result<PartnerKey, String> {
        use base64::Engine as _;
        // Partner ids and key ids hold no '+', so the seed keeps any '+' of its base64.
        let mut parts = text.trim_end_matches(['\r', '\n']).splitn(4, '+');
        let (Some(KEY_FILE_TAG), Some(partner), Some(key_id), Some(seed)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "it is not one line {KEY_FILE_TAG}+<partner>+<key_id>+<base64 seed>"
            ));
        };
        let partner = Id::parse(partner).map_err(|e| format!("partner: {}", e.detail))?;
        let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or("the seed must be standard base64 of 32 bytes")?;
        let key = PartnerKey {
            partner,
            signing: SigningKey::from_bytes(&seed),
        };
        if key.key_id() != key_id {
            return Err(format!(
                "it names key id {key_id:?} but its key's id is {}",
                key.key_id()
            ));
        }
        Ok(key)
    }

    /// Reads a key file, refusing one that group or others can read.
    pub fn load(path: &Path) -> anyhow::Result<PartnerKey> {
        let shown = path.display();
        let mode = std::fs::metadata(path)
            .with_context(|| format!("Failed to read the partner key {shown}"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the partner key {shown} is readable by others (mode {:o}): make it 0600 \
                 (chmod 600 {shown})",
                mode & 0o777
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read the partner key {shown}"))?;
        PartnerKey::parse(&text)
            .map_err(|e| anyhow::anyhow!("the partner key {shown} is not valid: {e}"))
    }

    /// Writes a new key file with mode 0600; an existing file is never overwritten.
    pub fn create_file(&self, path: &Path) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(format!("{}\n", self.to_text()).as_bytes())?;
        f.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::testing::key;

    #[test]
    fn keys_round_trip_and_their_id_is_checked() {
        let k = key();
        let text = k.to_text();
        assert!(text.starts_with("TRANCHE-PARTNER-KEY+hias+"));
        let back = PartnerKey::parse(&format!("{text}\n")).expect("parses");
        assert_eq!(back.partner, k.partner);
        assert_eq!(back.signing.to_bytes(), k.signing.to_bytes());
        let wrong = text.replace(&k.key_id(), "0000000000000000");
        assert!(PartnerKey::parse(&wrong)
            .expect_err("refused")
            .contains("key id"));
        assert!(PartnerKey::parse("hello").is_err());
        k.registration().check().expect("a valid registration");
        assert!(!format!("{k:?}").contains(&text[text.len() - 44..]));
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_path = dir.path().join("k");
        key().create_file(&key_path).expect("written");
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = PartnerKey::load(&key_path).expect_err("refused");
        assert!(e.to_string().contains("readable by others"), "{e}");
    }
}
