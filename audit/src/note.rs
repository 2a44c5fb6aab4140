//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 keys, their verifier-key (`vkey`)
//! and private-key text forms, and C2SP `tlog-checkpoint` bodies.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then signature lines
//! `— <key name> <base64(key id || signature)>`. The key id is the first four bytes of
//! SHA-256(name || "\n" || 0x01 || public key). The signature covers the text exactly.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The Ed25519 signature type byte of C2SP signed notes.
const ALG_ED25519: u8 = 0x01;
/// More signatures than this make a note suspect (the Go reference uses the same bound).
const MAX_SIGNATURES: usize = 100;
/// A checkpoint or note larger than this is refused before parsing.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("key name {0:?} is not valid: it must be non-empty, without spaces or '+'")]
    BadName(String),
    #[error("malformed verifier key: {0}")]
    BadVkey(&'static str),
    #[error("malformed private key: {0}")]
    BadPrivateKey(&'static str),
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the note has no signature by key {name}+{id}")]
    NotSignedBy { name: String, id: String },
    #[error("the signature by key {name}+{id} does not verify")]
    BadSignature { name: String, id: String },
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A public key that can check note signatures: the C2SP `vkey` text
/// `<name>+<hex key id>+<base64(0x01 || public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadName(name.to_string()));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            id: key_id(name, key.as_bytes()),
            key,
        })
    }

    /// Parses the `vkey` text form; the embedded key id must match the name and key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let vkey = vkey.trim();
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadVkey("expected name+keyid+key"));
        };
        if !valid_name(name) {
            return Err(NoteError::BadName(name.to_string()));
        }
        let id: [u8; 4] = hex::decode(id_hex)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(NoteError::BadVkey("key id must be 8 hex digits"))?;
        let raw = B64
            .decode(key_b64)
            .map_err(|_| NoteError::BadVkey("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(NoteError::BadVkey(
                "key must be 0x01 followed by 32 bytes (Ed25519)",
            ));
        }
        let mut public = [0u8; 32];
        public.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::BadVkey("not a valid Ed25519 public key"))?;
        if key_id(name, &public) != id {
            return Err(NoteError::BadVkey("key id does not match name and key"));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            id,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The C2SP `vkey` text form.
    pub fn to_vkey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.id), B64.encode(raw))
    }
}

/// A private key that signs notes. Its text form is the one Go's `note` package uses:
/// `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`.
pub struct NoteSigner {
    verifier: NoteVerifier,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("verifier", &self.verifier.to_vkey())
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        let key = SigningKey::from_bytes(&seed);
        let verifier = NoteVerifier::new(name, key.verifying_key())?;
        Ok(NoteSigner { verifier, key })
    }

    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadPrivateKey("must start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadPrivateKey("expected name+keyid+key"));
        };
        let raw = B64
            .decode(key_b64)
            .map_err(|_| NoteError::BadPrivateKey("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(NoteError::BadPrivateKey(
                "key must be 0x01 followed by a 32-byte Ed25519 seed",
            ));
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&raw[1..]);
        let signer = NoteSigner::from_seed(name, seed)?;
        if hex::encode(signer.verifier.id) != id_hex {
            return Err(NoteError::BadPrivateKey(
                "key id does not match name and key",
            ));
        }
        Ok(signer)
    }

    pub fn to_private_text(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.verifier.name,
            hex::encode(self.verifier.id),
            B64.encode(raw)
        )
    }

    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// Raw Ed25519 signature over `message`, for callers that add their own domain separation.
    pub fn sign_raw(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }

    /// Signs `text` (which must be a valid note text) and returns the whole signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&self.verifier.id);
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.verifier.name,
            B64.encode(raw)
        ))
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end with a newline"));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(NoteError::Malformed("text must not contain a blank line"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "text must not contain control characters",
        ));
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    /// The bytes after the key id (64 for Ed25519; other algorithms may differ).
    pub signature: Vec<u8>,
}

/// A parsed (not yet verified) signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("note is too large"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let text = &note[..split + 1];
        let sigs = &note[split + 2..];
        check_text(text)?;
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature block must end with a newline",
            ));
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed(
                "signature line must start with an em dash",
            ))?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
                "signature line must be: name signature",
            ))?;
            if !valid_name(name) {
                return Err(NoteError::BadName(name.to_string()));
            }
            let raw = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if raw.len() < 5 {
                return Err(NoteError::Malformed("signature is too short"));
            }
            signatures.push(NoteSignature {
                name: name.to_string(),
                key_id: [raw[0], raw[1], raw[2], raw[3]],
                signature: raw[4..].to_vec(),
            });
            if signatures.len() > MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
        }
        if signatures.is_empty() {
            return Err(NoteError::Malformed("no signatures"));
        }
        Ok(SignedNote {
            text: text.to_string(),
            signatures,
        })
    }

    /// Checks that `verifier` signed this note's text. Signatures by other keys are ignored, as
    /// the spec requires (they may be witnesses' cosignatures).
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<(), NoteError> {
        let id_hex = hex::encode(verifier.id);
        let sig = self
            .signatures
            .iter()
            .find(|s| s.name == verifier.name && s.key_id == verifier.id)
            .ok_or_else(|| NoteError::NotSignedBy {
                name: verifier.name.clone(),
                id: id_hex.clone(),
            })?;
        let bad = || NoteError::BadSignature {
            name: verifier.name.clone(),
            id: id_hex.clone(),
        };
        let bytes: [u8; 64] = sig.signature.as_slice().try_into().map_err(|_| bad())?;
        verifier
            .key
            .verify_strict(self.text.as_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| bad())
    }
}

/// The body of a C2SP `tlog-checkpoint`: origin, tree size, root hash, and optional extension
/// lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::BadCheckpoint("must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::BadCheckpoint("missing origin line"))?;
        let size_line = lines
            .next()
            .ok_or(NoteError::BadCheckpoint("missing tree size line"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(NoteError::BadCheckpoint(
                "tree size must be a decimal number without leading zeros",
            ));
        }
        let size: u64 = size_line
            .parse()
            .map_err(|_| NoteError::BadCheckpoint("tree size out of range"))?;
        let root_line = lines
            .next()
            .ok_or(NoteError::BadCheckpoint("missing root hash line"))?;
        let root: Hash = B64
            .decode(root_line)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(NoteError::BadCheckpoint(
                "root hash must be 32 bytes in base64",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::BadCheckpoint(
                "extension lines must not be empty",
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }
}

/// A checkpoint whose signature by the expected key has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: SignedNote,
}

/// Parses a signed checkpoint note, checks `verifier`'s signature and that the origin is the
/// key's name (a checkpoint key signs for one log only).
pub fn open_checkpoint(
    note: &str,
    verifier: &NoteVerifier,
) -> Result<VerifiedCheckpoint, NoteError> {
    let parsed = SignedNote::parse(note)?;
    parsed.verify(verifier)?;
    let checkpoint = Checkpoint::parse(&parsed.text)?;
    if checkpoint.origin != verifier.name() {
        return Err(NoteError::BadCheckpoint(
            "origin differs from the signing key's name",
        ));
    }
    Ok(VerifiedCheckpoint {
        checkpoint,
        note: parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_VKEY: &str = include_str!("../tests/data/signed-note/example.vkey");
    const EXAMPLE_NOTE: &str = include_str!("../tests/data/signed-note/example.note");

    #[test]
    fn the_c2sp_example_note_verifies_with_its_vkey() {
        let v = NoteVerifier::parse(EXAMPLE_VKEY).expect("example vkey parses");
        assert_eq!(v.name(), "example.com/foo");
        assert_eq!(v.to_vkey(), EXAMPLE_VKEY.trim());
        let note = SignedNote::parse(EXAMPLE_NOTE).expect("example note parses");
        assert_eq!(note.text, "This is an example message.\n");
        note.verify(&v).expect("example signature verifies");
    }

    #[test]
    fn a_changed_example_note_does_not_verify() {
        let v = NoteVerifier::parse(EXAMPLE_VKEY).expect("example vkey parses");
        let tampered = EXAMPLE_NOTE.replace("example message", "exemple message");
        let note = SignedNote::parse(&tampered).expect("still well formed");
        assert!(matches!(
            note.verify(&v),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn a_vkey_with_a_wrong_id_is_refused() {
        let bad = EXAMPLE_VKEY.trim().replace("+530d903a+", "+530d903b+");
        assert_eq!(
            NoteVerifier::parse(&bad),
            Err(NoteError::BadVkey("key id does not match name and key"))
        );
    }

    #[test]
    fn sign_then_open_a_checkpoint_round_trips() {
        let signer = NoteSigner::from_seed("tranche.test/log", [7u8; 32]).expect("valid name");
        let cp = Checkpoint::new("tranche.test/log", 42, [3u8; 32]);
        let note = signer
            .sign(&cp.to_text())
            .expect("checkpoint text is a valid note");
        let opened = open_checkpoint(&note, signer.verifier()).expect("verifies");
        assert_eq!(opened.checkpoint, cp);
        let parsed = NoteSigner::parse(&signer.to_private_text()).expect("round trip");
        assert_eq!(parsed.verifier(), signer.verifier());
        let other = NoteSigner::from_seed("tranche.test/log", [8u8; 32]).expect("valid name");
        assert!(open_checkpoint(&note, other.verifier()).is_err());
    }

    #[test]
    fn checkpoints_with_bad_size_lines_are_refused() {
        for text in ["o\n01\nAAAA\n", "o\n-1\nAAAA\n", "o\n\nAAAA\n", "o\n1\n"] {
            assert!(Checkpoint::parse(text).is_err(), "{text:?}");
        }
    }
}
