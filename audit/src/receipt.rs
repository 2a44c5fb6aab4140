//! Receipts: C2SP `tlog-proof` files (`c2sp.org/tlog-proof@v1`) that prove, offline, that one
//! journal record is in the ledger. A receipt carries the record's canonical bytes in its
//! `extra` line, the record's index (its `seq`), the RFC 9162 inclusion proof of that leaf, and
//! the signed checkpoint the proof leads to, verbatim:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the record's canonical bytes>
//! index <seq, decimal>
//! <base64 of proof hash 1>
//! …
//!
//! <the signed checkpoint note>
//! ```
//!
//! The spec leaves `extra` unauthenticated; here it is authenticated all the same, because the
//! leaf hash the proof starts from is computed from it: a receipt verifies only if SHA-256(0x00 ‖
//! extra) is leaf `index` of the tree the trusted key signed. Anyone holding the receipt and the
//! ledger's vkey can check it, with no access to the ledger.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::merkle::{leaf_hash, verify_inclusion, Hash, ProofError};
use crate::note::{open_checkpoint, Checkpoint, NoteError, NoteVerifier, MAX_NOTE_BYTES};
use crate::record::{Record, RecordError, MAX_RECORD_BYTES};

/// The first line of every receipt.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// An inclusion proof in a tree of at most 2^64 leaves has at most 64 hashes.
pub const MAX_PROOF_HASHES: usize = 64;
/// A receipt larger than this is refused before parsing: a record's base64, a full proof and a
/// checkpoint note at its own limit all fit.
pub const MAX_RECEIPT_BYTES: usize = MAX_NOTE_BYTES + 2 * MAX_RECORD_BYTES;

/// The stable codes of the ways a receipt can fail, as `tranche-verify receipt` reports them.
pub mod rule {
    /// The text is not a `c2sp.org/tlog-proof@v1` file.
    pub const MALFORMED_RECEIPT: &str = "malformed_receipt";
    /// The checkpoint is not signed by the trusted key.
    pub const BAD_CHECKPOINT_SIGNATURE: &str = crate::verify::rule::BAD_CHECKPOINT_SIGNATURE;
    /// The checkpoint is not a well-formed signed tlog-checkpoint for the key's origin.
    pub const MALFORMED_CHECKPOINT: &str = crate::verify::rule::MALFORMED_CHECKPOINT;
    /// The receipt has no `extra` line, so no record to prove.
    pub const MISSING_RECORD: &str = "missing_record";
    /// `extra` is over the record size limit.
    pub const RECORD_TOO_LARGE: &str = crate::verify::rule::RECORD_TOO_LARGE;
    /// `extra` is not a record.
    pub const MALFORMED_RECORD: &str = crate::verify::rule::MALFORMED_RECORD;
    /// `extra` is a record, but not in its canonical encoding.
    pub const NON_CANONICAL: &str = crate::verify::rule::NON_CANONICAL;
    /// The record's `seq` is not the receipt's `index`.
    pub const INDEX_MISMATCH: &str = "index_mismatch";
    /// The inclusion proof does not lead from the record to the signed root.
    pub const NOT_INCLUDED: &str = "not_included";
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiptError {
    #[error("not a c2sp.org/tlog-proof@v1 receipt: line {line}: {rule}")]
    Malformed { line: usize, rule: &'static str },
    #[error("the receipt's checkpoint: {0}")]
    Checkpoint(NoteError),
    #[error("the receipt has no extra line: it carries no record")]
    MissingRecord,
    #[error("the receipt's record: {0}")]
    Record(RecordError),
    #[error("the receipt is for index {index} but its record has seq {seq}")]
    IndexMismatch { index: u64, seq: u64 },
    #[error("the record is not leaf {index} of the signed tree of size {size}: {source}")]
    NotIncluded {
        index: u64,
        size: u64,
        source: ProofError,
    },
}

impl ReceiptError {
    /// The stable code of this failure; see [`rule`].
    pub fn rule(&self) -> &'static str {
        match self {
            ReceiptError::Malformed { .. } => rule::MALFORMED_RECEIPT,
            ReceiptError::Checkpoint(
                NoteError::NotSignedBy { .. } | NoteError::BadSignature { .. },
            ) => rule::BAD_CHECKPOINT_SIGNATURE,
            ReceiptError::Checkpoint(_) => rule::MALFORMED_CHECKPOINT,
            ReceiptError::MissingRecord => rule::MISSING_RECORD,
            ReceiptError::Record(RecordError::TooLarge(_)) => rule::RECORD_TOO_LARGE,
            ReceiptError::Record(RecordError::NotCanonical) => rule::NON_CANONICAL,
            ReceiptError::Record(_) => rule::MALFORMED_RECORD,
            ReceiptError::IndexMismatch { .. } => rule::INDEX_MISMATCH,
            ReceiptError::NotIncluded { .. } => rule::NOT_INCLUDED,
        }
    }
}

/// A parsed (not yet verified) receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The leaf index of the record: its `seq`.
    pub index: u64,
    /// The record's canonical bytes (the spec's opaque extra data).
    pub extra: Option<Vec<u8>>,
    /// The RFC 9162 inclusion proof of leaf `index` in the checkpoint's tree, from the leaf's
    /// sibling up to the root's child.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, exactly as the ledger signed it.
    pub checkpoint_note: String,
}

/// What a verified receipt establishes: this record is leaf `record.seq` of the tree of
/// `checkpoint.size` leaves whose root the trusted key signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub record: Record,
    /// The record's canonical bytes.
    pub record_bytes: Vec<u8>,
    /// SHA-256(0x00 ‖ record bytes).
    pub leaf: Hash,
    pub checkpoint: Checkpoint,
}

/// The receipt of the record at `index`, whose canonical bytes are `record_bytes`, with its
/// inclusion `proof` in the tree that `checkpoint_note` signs.
pub fn build(index: u64, record_bytes: &[u8], proof: Vec<Hash>, checkpoint_note: &str) -> Receipt {
    Receipt {
        index,
        extra: Some(record_bytes.to_vec()),
        proof,
        checkpoint_note: checkpoint_note.to_string(),
    }
}

/// Parses `text` as a receipt and verifies it against the trusted checkpoint key: see
/// [`Receipt::verify`].
pub fn verify_receipt(text: &str, trusted: &NoteVerifier) -> Result<VerifiedReceipt, ReceiptError> {
    Receipt::parse(text)?.verify(trusted)
}

/// Parses a decimal without sign or leading zeros (except `0` itself).
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return None;
    }
    text.parse().ok()
}

impl Receipt {
    /// The receipt text: the header, `extra` when present, `index`, one proof hash per line, a
    /// blank line, then the checkpoint note verbatim.
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(
            HEADER.len()
                + self.extra.as_ref().map_or(0, |e| e.len() * 4 / 3 + 10)
                + 30
                + self.proof.len() * 45
                + self.checkpoint_note.len(),
        );
        out.push_str(HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&B64.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.proof {
            out.push_str(&B64.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint_note);
        out
    }

    /// Parses the receipt text strictly: `\n` line ends only, standard padded base64, an index
    /// without leading zeros, 32-byte hashes, and a non-empty checkpoint after the blank line.
    /// The checkpoint itself is only checked by [`Receipt::verify`].
    pub fn parse(text: &str) -> Result<Receipt, ReceiptError> {
        let malformed = |line: usize, rule: &'static str| ReceiptError::Malformed { line, rule };
        if text.len() > MAX_RECEIPT_BYTES {
            return Err(malformed(1, "the receipt is too large"));
        }
        if text.contains('\r') {
            return Err(malformed(1, "lines must end in \\n alone, without \\r"));
        }
        // The lines before the first blank line; the checkpoint is everything after it (the
        // note has a blank line of its own, before its signatures).
        let (head, checkpoint_note) = text
            .split_once("\n\n")
            .ok_or(malformed(1, "no blank line before the checkpoint"))?;
        let mut lines = head.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => {
                return Err(malformed(
                    1,
                    "the first line must be c2sp.org/tlog-proof@v1",
                ))
            }
        }
        let mut next = lines.next();
        let mut extra = None;
        if let Some((n, line)) = next {
            if let Some(b64) = line.strip_prefix("extra ") {
                let bytes = B64
                    .decode(b64)
                    .map_err(|_| malformed(n, "extra must be standard base64 with padding"))?;
                extra = Some(bytes);
                next = lines.next();
            }
        }
        let (n, line) = next.ok_or(malformed(2, "missing the index line"))?;
        let index = line
            .strip_prefix("index ")
            .ok_or(malformed(n, "expected the index line: index <N>"))?;
        let index = parse_decimal(index).ok_or(malformed(
            n,
            "the index must be a decimal without sign or leading zeros, below 2^64",
        ))?;
        let mut proof = Vec::new();
        for (n, line) in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(malformed(n, "more than 64 proof hashes"));
            }
            let hash: Hash = B64
                .decode(line)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or(malformed(
                    n,
                    "a proof line must be one 32-byte hash in standard base64",
                ))?;
            proof.push(hash);
        }
        if checkpoint_note.is_empty() {
            return Err(malformed(
                head.split('\n').count() + 2,
                "no checkpoint after the blank line",
            ));
        }
        Ok(Receipt {
            index,
            extra,
            proof,
            checkpoint_note: checkpoint_note.to_string(),
        })
    }

    /// Verifies the receipt against the trusted checkpoint key: the checkpoint is signed by
    /// `trusted` for its origin; `extra` is a record in its canonical encoding whose `seq` is
    /// `index`; and the inclusion proof leads from the record's leaf hash to the signed root.
    pub fn verify(&self, trusted: &NoteVerifier) -> Result<VerifiedReceipt, ReceiptError> {
        let opened =
            open_checkpoint(&self.checkpoint_note, trusted).map_err(ReceiptError::Checkpoint)?;
        let bytes = self.extra.as_ref().ok_or(ReceiptError::MissingRecord)?;
        let record = Record::decode(bytes).map_err(ReceiptError::Record)?;
        if record.seq != self.index {
            return Err(ReceiptError::IndexMismatch {
                index: self.index,
                seq: record.seq,
            });
        }
        let checkpoint = opened.checkpoint;
        let leaf = leaf_hash(bytes);
        verify_inclusion(
            self.index,
            checkpoint.size,
            &leaf,
            &self.proof,
            &checkpoint.root,
        )
        .map_err(|source| ReceiptError::NotIncluded {
            index: self.index,
            size: checkpoint.size,
            source,
        })?;
        Ok(VerifiedReceipt {
            record,
            record_bytes: bytes.clone(),
            leaf,
            checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;
    use crate::note::NoteSigner;
    use crate::synth;
    use proptest::prelude::*;

    /// A synthetic journal of `size` records in a tree, and its checkpoint signed by the
    /// synthetic key.
    fn journal(size: u64) -> (Vec<Vec<u8>>, MemoryTree, String) {
        let lines: Vec<Vec<u8>> = synth::lines(size).collect();
        let mut tree = MemoryTree::new();
        for line in &lines {
            tree.push(leaf_hash(line));
        }
        let note = synth::signer()
            .sign(&Checkpoint::new(synth::ORIGIN, size, tree.root()).to_text())
            .expect("a checkpoint is a valid note text");
        (lines, tree, note)
    }

    fn receipt(lines: &[Vec<u8>], tree: &MemoryTree, note: &str, index: u64) -> Receipt {
        let proof = tree
            .inclusion_proof(index, tree.size())
            .expect("index is in the tree");
        build(index, &lines[index as usize], proof, note)
    }

    fn trusted() -> NoteVerifier {
        synth::signer().verifier().clone()
    }

    #[test]
    fn a_receipt_built_from_the_tree_verifies() {
        let (lines, tree, note) = journal(37);
        for index in [0, 1, 8, 20, 36] {
            let text = receipt(&lines, &tree, &note, index).format();
            let verified = verify_receipt(&text, &trusted()).expect("the receipt verifies");
            assert_eq!(verified.record.seq, index);
            assert_eq!(verified.record_bytes, lines[index as usize]);
            assert_eq!(verified.leaf, leaf_hash(&lines[index as usize]));
            assert_eq!(verified.checkpoint.size, 37);
            assert_eq!(verified.checkpoint.root, tree.root());
        }
    }

    #[test]
    fn the_text_follows_the_tlog_proof_layout() {
        let (lines, tree, note) = journal(5);
        let r = receipt(&lines, &tree, &note, 2);
        let text = r.format();
        let expected_head = format!(
            "c2sp.org/tlog-proof@v1\nextra {}\nindex 2\n{}\n{}\n{}\n\n",
            B64.encode(&lines[2]),
            B64.encode(r.proof[0]),
            B64.encode(r.proof[1]),
            B64.encode(r.proof[2]),
        );
        assert_eq!(r.proof.len(), 3);
        assert_eq!(text, expected_head + &note);
        assert_eq!(Receipt::parse(&text), Ok(r));
    }

    #[test]
    fn a_one_record_tree_has_an_empty_proof() {
        let (lines, tree, note) = journal(1);
        let text = receipt(&lines, &tree, &note, 0).format();
        assert!(text.contains("\nindex 0\n\n"), "{text}");
        verify_receipt(&text, &trusted()).expect("verifies");
    }

    #[test]
    fn a_tampered_record_fails() {
        let (lines, tree, note) = journal(20);
        let mut r = receipt(&lines, &tree, &note, 12);
        let text = String::from_utf8(lines[12].clone()).expect("utf-8");
        let altered = text.replacen("P-", "Q-", 1);
        assert_ne!(altered, text);
        r.extra = Some(altered.into_bytes());
        let e = r.verify(&trusted()).expect_err("another record");
        assert_eq!(e.rule(), rule::NOT_INCLUDED, "{e}");

        // The same record spelled non-canonically has other bytes, and is refused as such.
        r.extra = Some(text.replacen(':', ": ", 1).into_bytes());
        let e = r.verify(&trusted()).expect_err("not canonical");
        assert_eq!(e, ReceiptError::Record(RecordError::NotCanonical));

        r.extra = Some(b"not a record".to_vec());
        assert_eq!(
            r.verify(&trusted()).map_err(|e| e.rule()),
            Err(rule::MALFORMED_RECORD)
        );
        r.extra = None;
        assert_eq!(r.verify(&trusted()), Err(ReceiptError::MissingRecord));
    }

    #[test]
    fn a_tampered_proof_fails() {
        let (lines, tree, note) = journal(20);
        let good = receipt(&lines, &tree, &note, 5);
        let mut flipped = good.clone();
        flipped.proof[1][7] ^= 0x40;
        let mut short = good.clone();
        short.proof.pop();
        let mut long = good.clone();
        long.proof.push([0u8; 32]);
        let mut swapped = good.clone();
        swapped.proof.swap(0, 1);
        for bad in [flipped, short, long, swapped] {
            let e = verify_receipt(&bad.format(), &trusted()).expect_err("a wrong proof");
            assert_eq!(e.rule(), rule::NOT_INCLUDED, "{e}");
        }
    }

    #[test]
    fn a_tampered_index_fails() {
        let (lines, tree, note) = journal(20);
        let mut r = receipt(&lines, &tree, &note, 5);
        r.index = 6;
        assert_eq!(
            r.verify(&trusted()),
            Err(ReceiptError::IndexMismatch { index: 6, seq: 5 })
        );
        // The record of another index with this index's proof: the seq matches, the proof not.
        let mut other = receipt(&lines, &tree, &note, 5);
        other.index = 4;
        other.extra = Some(lines[4].clone());
        assert_eq!(
            other.verify(&trusted()).map_err(|e| e.rule()),
            Err(rule::NOT_INCLUDED)
        );
    }

    #[test]
    fn a_tampered_or_untrusted_checkpoint_fails() {
        let (lines, tree, note) = journal(20);
        let r = receipt(&lines, &tree, &note, 9);

        // A checkpoint of another tree, honestly signed: the proof does not reach its root.
        let (_, other_tree, other_note) = journal(21);
        assert_ne!(other_tree.root(), tree.root());
        let mut moved = r.clone();
        moved.checkpoint_note = other_note;
        assert_eq!(
            moved.verify(&trusted()).map_err(|e| e.rule()),
            Err(rule::NOT_INCLUDED)
        );

        // The signed text altered: the signature no longer holds.
        let mut edited = r.clone();
        let size_line = "\n20\n";
        assert!(edited.checkpoint_note.contains(size_line));
        edited.checkpoint_note = edited.checkpoint_note.replacen(size_line, "\n21\n", 1);
        assert_eq!(
            edited.verify(&trusted()).map_err(|e| e.rule()),
            Err(rule::BAD_CHECKPOINT_SIGNATURE)
        );

        // Signed by a key the verifier does not trust.
        let stranger = NoteSigner::from_seed(synth::ORIGIN, [9u8; 32]).expect("a valid name");
        let mut forged = r.clone();
        forged.checkpoint_note = stranger
            .sign(&Checkpoint::new(synth::ORIGIN, 20, tree.root()).to_text())
            .expect("valid text");
        assert_eq!(
            forged.verify(&trusted()).map_err(|e| e.rule()),
            Err(rule::BAD_CHECKPOINT_SIGNATURE)
        );

        let mut garbage = r;
        garbage.checkpoint_note = "not a note\n".into();
        assert_eq!(
            garbage.verify(&trusted()).map_err(|e| e.rule()),
            Err(rule::MALFORMED_CHECKPOINT)
        );
    }

    #[test]
    fn malformed_texts_are_refused_with_the_line() {
        let (lines, tree, note) = journal(6);
        let good = receipt(&lines, &tree, &note, 3).format();
        let line_of = |text: &str| match Receipt::parse(text) {
            Err(ReceiptError::Malformed { line, .. }) => line,
            other => panic!("expected a malformed receipt, got {other:?} for {text:?}"),
        };
        assert_eq!(line_of(&good.replacen("@v1", "@v2", 1)), 1);
        assert_eq!(line_of(&good.replace('\n', "\r\n")), 1);
        assert_eq!(line_of(&good.replacen("index 3", "index 03", 1)), 3);
        assert_eq!(line_of(&good.replacen("index 3", "index -3", 1)), 3);
        assert_eq!(line_of(&good.replacen("index 3", "index 3 ", 1)), 3);
        assert_eq!(line_of(&good.replacen("index 3", "Index 3", 1)), 3);
        assert_eq!(line_of(&good.replacen("extra ", "extra !", 1)), 2);
        assert_eq!(
            line_of(&good.replacen("index 3\n", "index 18446744073709551616\n", 1)),
            3
        );
        // A proof hash cut short, or not base64.
        let proof_line = good.split('\n').nth(3).expect("a proof line").to_string();
        assert_eq!(
            line_of(&good.replacen(&proof_line, &proof_line[..40], 1)),
            4
        );
        assert_eq!(line_of(&good.replacen(&proof_line, "????", 1)), 4);
        // No blank line at all, or nothing after it.
        assert_eq!(line_of("c2sp.org/tlog-proof@v1\nindex 0\n"), 1);
        assert_eq!(line_of("c2sp.org/tlog-proof@v1\nindex 0\n\n"), 4);
        assert_eq!(line_of("c2sp.org/tlog-proof@v1\n\nx"), 2);
        // Too many hashes for any tree.
        let many = format!(
            "c2sp.org/tlog-proof@v1\nindex 0\n{}\n{note}",
            format!("{}\n", B64.encode([1u8; 32])).repeat(65)
        );
        assert_eq!(line_of(&many), 67);
    }

    #[test]
    fn a_receipt_without_extra_parses_but_does_not_verify() {
        let (lines, tree, note) = journal(4);
        let mut r = receipt(&lines, &tree, &note, 1);
        r.extra = None;
        let text = r.format();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 1\n"));
        assert_eq!(Receipt::parse(&text).as_ref(), Ok(&r));
        assert_eq!(
            verify_receipt(&text, &trusted()),
            Err(ReceiptError::MissingRecord)
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_is_the_identity(
            index in any::<u64>(),
            extra in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            proof in proptest::collection::vec(any::<[u8; 32]>(), 0..=64),
            note in "[a-z]{1,20}\n[0-9]{1,5}\n[A-Za-z0-9+/]{4,8}\n\n\u{2014} [a-z]{1,9} [A-Za-z0-9+/=]{8,20}\n",
        ) {
            let r = Receipt { index, extra, proof, checkpoint_note: note };
            prop_assert_eq!(Receipt::parse(&r.format()), Ok(r));
        }
    }
}
