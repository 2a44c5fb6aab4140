//! Witnesses: the split-view defence. A witness keeps, per log origin, the last checkpoint it
//! cosigned; it cosigns a new checkpoint only with a consistency proof from that one (C2SP
//! `tlog-witness` `add-checkpoint`), and its cosignature (C2SP `tlog-cosignature`, Ed25519
//! `cosignature/v1`) is a note signature line anyone can check. A verifier that requires K
//! valid cosignatures from witnesses it trusts can no longer be shown a history that those
//! witnesses were not shown too.
//!
//! Cosigner keys use the vkey form with algorithm byte 0x04: `name+keyid+base64(0x04 ‖ key)`,
//! key id = SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4]. The signed message is `cosignature/v1\n`,
//! `time <unix seconds>\n`, then the checkpoint's note body; the signature is base64(key id ‖
//! u64 big-endian timestamp ‖ Ed25519 signature).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::merkle::{verify_consistency, Hash};
use crate::note::{Checkpoint, NoteVerifier, SignedNote};

/// The algorithm byte of an Ed25519 cosignature/v1 key.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

fn cosigner_key_id(name: &str, key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_COSIGNATURE_V1]);
    h.update(key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The message a cosignature signs.
pub fn cosigned_message(checkpoint_text: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{checkpoint_text}").into_bytes()
}

/// Why a cosignature or a witness key does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    #[error("not a cosigner vkey: {0}")]
    BadVkey(&'static str),
    #[error("no cosignature by {0}")]
    Missing(String),
    #[error("the cosignature by {0} does not hold")]
    Bad(String),
}

/// A witness's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignerVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl CosignerVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, CosignError> {
        if !valid_name(name) {
            return Err(CosignError::BadVkey(
                "the name is empty or has spaces or '+'",
            ));
        }
        Ok(CosignerVerifier {
            name: name.to_string(),
            id: cosigner_key_id(name, key.as_bytes()),
            key,
        })
    }

    /// Parses `name+keyid+base64(0x04 ‖ key)`.
    pub fn parse(vkey: &str) -> Result<Self, CosignError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CosignError::BadVkey("expected name+keyid+key"));
        };
        let raw = B64
            .decode(b64)
            .map_err(|_| CosignError::BadVkey("the key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_COSIGNATURE_V1 {
            return Err(CosignError::BadVkey(
                "the key must be 0x04 followed by 32 bytes (Ed25519 cosignature/v1)",
            ));
        }
        let mut public = [0u8; 32];
        public.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| CosignError::BadVkey("not an Ed25519 public key"))?;
        let v = CosignerVerifier::new(name, key)?;
        if hex::encode(v.id) != id {
            return Err(CosignError::BadVkey(
                "the key id does not match name and key",
            ));
        }
        Ok(v)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.id), B64.encode(raw))
    }

    /// Checks this witness's cosignature on `note`; returns its timestamp.
    pub fn verify(&self, note: &SignedNote) -> Result<u64, CosignError> {
        let sig = note
            .signatures
            .iter()
            .find(|s| s.name == self.name && s.key_id == self.id)
            .ok_or_else(|| CosignError::Missing(self.name.clone()))?;
        if sig.signature.len() != 72 {
            return Err(CosignError::Bad(self.name.clone()));
        }
        let time = u64::from_be_bytes(sig.signature[..8].try_into().expect("8 bytes"));
        let bytes: [u8; 64] = sig.signature[8..].try_into().expect("64 bytes");
        self.key
            .verify_strict(
                &cosigned_message(&note.text, time),
                &Signature::from_bytes(&bytes),
            )
            .map_err(|_| CosignError::Bad(self.name.clone()))?;
        Ok(time)
    }
}

/// A witness's private key.
pub struct Cosigner {
    verifier: CosignerVerifier,
    key: SigningKey,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cosigner({})", self.verifier.to_vkey())
    }
}

impl Cosigner {
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, CosignError> {
        let key = SigningKey::from_bytes(&seed);
        Ok(Cosigner {
            verifier: CosignerVerifier::new(name, key.verifying_key())?,
            key,
        })
    }

    /// The private text form: `PRIVATE+KEY+<name>+<keyid>+base64(0x04 ‖ seed)`.
    pub fn to_private_text(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.verifier.name,
            hex::encode(self.verifier.id),
            B64.encode(raw)
        )
    }

    pub fn parse(text: &str) -> Result<Self, CosignError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(CosignError::BadVkey(
                "a private key starts with PRIVATE+KEY+",
            ))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(_), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CosignError::BadVkey("expected PRIVATE+KEY+name+keyid+key"));
        };
        let raw = B64
            .decode(b64)
            .map_err(|_| CosignError::BadVkey("the key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_COSIGNATURE_V1 {
            return Err(CosignError::BadVkey("not a cosignature/v1 private key"));
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&raw[1..]);
        Cosigner::from_seed(name, seed)
    }

    pub fn verifier(&self) -> &CosignerVerifier {
        &self.verifier
    }

    /// The cosignature line (with its newline) for a checkpoint's note body at `time`.
    pub fn cosign(&self, checkpoint_text: &str, time: u64) -> String {
        let sig = self.key.sign(&cosigned_message(checkpoint_text, time));
        let mut raw = Vec::with_capacity(76);
        raw.extend_from_slice(&self.verifier.id);
        raw.extend_from_slice(&time.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        format!("\u{2014} {} {}\n", self.verifier.name, B64.encode(raw))
    }
}

/// How many of `witnesses` validly cosigned `note`, and the names of those that did not.
pub fn count_cosignatures(
    note: &SignedNote,
    witnesses: &[CosignerVerifier],
) -> (usize, Vec<String>) {
    let mut ok = 0;
    let mut missing = Vec::new();
    for w in witnesses {
        match w.verify(note) {
            Ok(_) => ok += 1,
            Err(_) => missing.push(w.name.clone()),
        }
    }
    (ok, missing)
}

/// What a witness remembers of one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    pub size: u64,
    /// Base64 root.
    pub root: String,
}

/// A witness's state: per origin, the latest checkpoint it cosigned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    pub logs: BTreeMap<String, LogState>,
}

/// A refused `add-checkpoint`, with the HTTP status the protocol prescribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub detail: String,
    /// For 409 on an old size mismatch: the size the witness has (the body to send back).
    pub size: Option<u64>,
}

fn refuse(status: u16, detail: impl Into<String>) -> Refusal {
    Refusal {
        status,
        detail: detail.into(),
        size: None,
    }
}

/// Handles an `add-checkpoint` body against `state` for the logs in `logs` (origin → key):
/// checks the checkpoint's signature, the old size, and the consistency proof, and returns the
/// cosignature line and the new state for that origin (to persist before answering).
pub fn add_checkpoint(
    state: &WitnessState,
    logs: &[NoteVerifier],
    cosigner: &Cosigner,
    body: &str,
    now: u64,
) -> Result<(String, String, LogState), Refusal> {
    let (head, note) = body.split_once("\n\n").ok_or_else(|| {
        refuse(
            400,
            "the body must be: old line, proof lines, empty line, checkpoint",
        )
    })?;
    let mut lines = head.split('\n');
    let old: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .filter(|n| *n == "0" || !n.starts_with('0'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| refuse(400, "the first line must be `old <size>`"))?;
    let mut proof: Vec<Hash> = Vec::new();
    for l in lines {
        let raw = B64
            .decode(l)
            .ok()
            .and_then(|v| <Hash>::try_from(v).ok())
            .ok_or_else(|| refuse(400, "a proof line is not a base64 hash"))?;
        proof.push(raw);
        if proof.len() > MAX_PROOF_LINES {
            return Err(refuse(400, "more than 63 proof lines"));
        }
    }
    let parsed = SignedNote::parse(note).map_err(|e| refuse(400, format!("checkpoint: {e}")))?;
    let cp =
        Checkpoint::parse(&parsed.text).map_err(|e| refuse(400, format!("checkpoint: {e}")))?;
    let log = logs
        .iter()
        .find(|l| l.name() == cp.origin)
        .ok_or_else(|| refuse(404, format!("unknown log {}", cp.origin)))?;
    parsed
        .verify(log)
        .map_err(|_| refuse(403, "the checkpoint is not signed by the log's key"))?;
    if old > cp.size {
        return Err(refuse(400, "the old size is larger than the checkpoint's"));
    }
    let known = state.logs.get(&cp.origin);
    let (have_size, have_root) = match known {
        Some(s) => (
            s.size,
            B64.decode(&s.root)
                .ok()
                .and_then(|v| <Hash>::try_from(v).ok())
                .ok_or_else(|| refuse(500, "the witness state is damaged"))?,
        ),
        None => (0, [0u8; 32]),
    };
    if old != have_size {
        return Err(Refusal {
            status: 409,
            detail: format!("the witness last cosigned size {have_size}"),
            size: Some(have_size),
        });
    }
    if old == 0 {
        if !proof.is_empty() {
            return Err(refuse(422, "the proof must be empty from size 0"));
        }
    } else if old == cp.size {
        if have_root != cp.root {
            return Err(refuse(
                409,
                "a different root at the same size: the log forked",
            ));
        }
        if !proof.is_empty() {
            return Err(refuse(422, "the proof must be empty for the same size"));
        }
    } else {
        verify_consistency(old, cp.size, &proof, &have_root, &cp.root)
            .map_err(|e| refuse(422, format!("the consistency proof does not verify: {e}")))?;
    }
    let line = cosigner.cosign(&parsed.text, now);
    Ok((
        cp.origin.clone(),
        line,
        LogState {
            size: cp.size,
            root: B64.encode(cp.root),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;
    use crate::note::NoteSigner;

    fn log_after(signer: &NoteSigner, tree: &MemoryTree) -> String {
        let cp = Checkpoint::new(signer.name(), tree.size(), tree.root());
        signer.sign(&cp.to_text()).expect("signs")
    }

    #[test]
    fn a_witness_cosigns_only_consistent_growth_and_its_cosignature_verifies() {
        let log = NoteSigner::from_seed("tranche.test/log", [1; 32]).expect("key");
        let w = Cosigner::from_seed("witness.test/w1", [2; 32]).expect("key");
        let parsed_back = CosignerVerifier::parse(&w.verifier().to_vkey()).expect("vkey");
        assert_eq!(&parsed_back, w.verifier());
        let logs = vec![log.verifier().clone()];
        let mut tree = MemoryTree::new();
        for i in 0..5u8 {
            tree.push(crate::merkle::leaf_hash(&[i]));
        }
        let mut state = WitnessState::default();
        let note5 = log_after(&log, &tree);
        let (origin, line, ls) = add_checkpoint(
            &state,
            &logs,
            &w,
            &format!("old 0\n\n{note5}"),
            1_700_000_000,
        )
        .expect("first");
        state.logs.insert(origin, ls);
        let cosigned = format!("{note5}{line}");
        let parsed = SignedNote::parse(&cosigned).expect("parses");
        assert_eq!(w.verifier().verify(&parsed), Ok(1_700_000_000));
        assert_eq!(count_cosignatures(&parsed, &[w.verifier().clone()]).0, 1);

        // Growth with a proof.
        for i in 5..9u8 {
            tree.push(crate::merkle::leaf_hash(&[i]));
        }
        let note9 = log_after(&log, &tree);
        let proof = tree.consistency_proof(5, 9).expect("proof");
        let lines: String = proof
            .iter()
            .map(|h| format!("{}\n", B64.encode(h)))
            .collect();
        // A wrong old size is a conflict naming the witness's size.
        let r = add_checkpoint(&state, &logs, &w, &format!("old 4\n{lines}\n{note9}"), 1)
            .expect_err("conflict");
        assert_eq!((r.status, r.size), (409, Some(5)));
        // A bad proof is refused.
        let bad: String = proof
            .iter()
            .map(|_| format!("{}\n", B64.encode([7u8; 32])))
            .collect();
        let r = add_checkpoint(&state, &logs, &w, &format!("old 5\n{bad}\n{note9}"), 1)
            .expect_err("bad proof");
        assert_eq!(r.status, 422);
        let (_, _, ls) = add_checkpoint(&state, &logs, &w, &format!("old 5\n{lines}\n{note9}"), 2)
            .expect("grows");
        assert_eq!(ls.size, 9);

        // A split view: another root at the size the witness holds.
        let mut other = MemoryTree::new();
        for i in 100..105u8 {
            other.push(crate::merkle::leaf_hash(&[i]));
        }
        let fork = log_after(&log, &other);
        let r =
            add_checkpoint(&state, &logs, &w, &format!("old 5\n\n{fork}"), 3).expect_err("fork");
        assert_eq!(r.status, 409);
        // Unknown log, and a checkpoint signed by another key.
        let stranger = NoteSigner::from_seed("tranche.test/log", [9; 32]).expect("key");
        let r = add_checkpoint(
            &state,
            &logs,
            &w,
            &format!("old 5\n{lines}\n{}", log_after(&stranger, &tree)),
            3,
        )
        .expect_err("forged");
        assert_eq!(r.status, 403);
        let elsewhere = NoteSigner::from_seed("other.test/log", [1; 32]).expect("key");
        let r = add_checkpoint(
            &state,
            &logs,
            &w,
            &format!("old 0\n\n{}", log_after(&elsewhere, &tree)),
            3,
        )
        .expect_err("unknown");
        assert_eq!(r.status, 404);
    }

    #[test]
    fn a_cosignature_for_another_checkpoint_or_time_does_not_verify() {
        let log = NoteSigner::from_seed("tranche.test/log", [1; 32]).expect("key");
        let w = Cosigner::from_seed("witness.test/w1", [2; 32]).expect("key");
        let a = log
            .sign(&Checkpoint::new(log.name(), 1, [1; 32]).to_text())
            .expect("signs");
        let b = log
            .sign(&Checkpoint::new(log.name(), 1, [2; 32]).to_text())
            .expect("signs");
        let line = w.cosign(&SignedNote::parse(&a).expect("parses").text, 5);
        let moved = SignedNote::parse(&format!("{b}{line}")).expect("parses");
        assert!(w.verifier().verify(&moved).is_err());
        let private = w.to_private_text();
        assert_eq!(
            Cosigner::parse(&private).expect("parses").verifier(),
            w.verifier()
        );
    }
}
