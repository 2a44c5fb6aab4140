//! Tampering with proofs and signatures: inclusion and consistency proofs truncated, padded or
//! for the wrong size are refused; a signature made for another purpose (a partner's evidence
//! statement, a signed report, a record's hash) never passes as a checkpoint signature.

use base64::Engine as _;
use tranche_audit::merkle::{leaf_hash, verify_consistency, verify_inclusion, MemoryTree};
use tranche_audit::note::{open_checkpoint, Checkpoint, NoteSigner};
use tranche_audit::synth;

fn tree(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for line in synth::lines(n) {
        t.push(leaf_hash(&line));
    }
    t
}

#[test]
fn inclusion_proofs_truncated_padded_or_for_another_size_fail() {
    let t = tree(37);
    let root = t.root();
    for index in [0u64, 5, 36] {
        let proof = t.inclusion_proof(index, 37).expect("proof");
        let leaf = leaf_hash(&synth::lines(37).nth(index as usize).expect("line"));
        assert!(verify_inclusion(index, 37, &leaf, &proof, &root).is_ok());
        let mut short = proof.clone();
        short.pop();
        assert!(
            verify_inclusion(index, 37, &leaf, &short, &root).is_err(),
            "truncated"
        );
        let mut long = proof.clone();
        long.push([0u8; 32]);
        assert!(
            verify_inclusion(index, 37, &leaf, &long, &root).is_err(),
            "padded"
        );
        // A proof made for a smaller tree, checked against this tree's root.
        let other = t.inclusion_proof(index, 36.max(index + 1)).expect("proof");
        if other != proof {
            assert!(
                verify_inclusion(index, 37, &leaf, &other, &root).is_err(),
                "a proof for another size"
            );
        }
        assert!(
            verify_inclusion(index + 1, 37, &leaf, &proof, &root).is_err(),
            "index"
        );
    }
}

#[test]
fn consistency_proofs_truncated_padded_or_for_another_size_fail() {
    let t = tree(50);
    for (a, b) in [(1u64, 50u64), (7, 50), (32, 50), (49, 50)] {
        let proof = t.consistency_proof(a, b).expect("proof");
        let (ra, rb) = (t.root_at(a).expect("root"), t.root_at(b).expect("root"));
        assert!(verify_consistency(a, b, &proof, &ra, &rb).is_ok());
        if !proof.is_empty() {
            let mut short = proof.clone();
            short.pop();
            assert!(
                verify_consistency(a, b, &short, &ra, &rb).is_err(),
                "truncated {a}->{b}"
            );
        }
        let mut long = proof.clone();
        long.push([1u8; 32]);
        assert!(
            verify_consistency(a, b, &long, &ra, &rb).is_err(),
            "padded {a}->{b}"
        );
        if a > 1 {
            assert!(
                verify_consistency(a - 1, b, &proof, &ra, &rb).is_err(),
                "another first size {a}->{b}"
            );
        }
        // A proof made for a smaller second tree, checked against this one's root.
        if a < b - 1 {
            let other = t.consistency_proof(a, b - 1).expect("proof");
            assert!(
                verify_consistency(a, b, &other, &ra, &rb).is_err(),
                "a proof for another size {a}->{b}"
            );
        }
    }
}

/// A checkpoint note whose signature line carries `signature` (64 bytes) under the ledger key's
/// name and key id.
fn note_with(signer: &NoteSigner, text: &str, signature: &[u8]) -> String {
    let mut raw = signer.verifier().key_id().to_vec();
    raw.extend_from_slice(signature);
    format!(
        "{text}\n\u{2014} {} {}\n",
        signer.name(),
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[test]
fn a_signature_made_for_another_purpose_is_not_a_checkpoint_signature() {
    let ledger = synth::signer();
    let t = tree(10);
    let text = Checkpoint::new(ledger.name(), 10, t.root()).to_text();
    // The honest note verifies.
    let honest = ledger.sign(&text).expect("signs");
    assert!(open_checkpoint(&honest, ledger.verifier()).is_ok());
    // The same key's signatures over other messages, replayed on the checkpoint text: a
    // record's leaf hash, a report's domain-prefixed content, a key hand-over.
    let others: Vec<Vec<u8>> = vec![
        leaf_hash(&synth::lines(10).nth(3).expect("line")).to_vec(),
        [b"tranche/report/v1\n".as_slice(), text.as_bytes()].concat(),
        tranche_audit::record::rotation_message(ledger.name(), "x+00000000+AA"),
        [b"tranche/evidence/v1\n".as_slice(), text.as_bytes()].concat(),
    ];
    for message in others {
        let sig = ledger.sign_raw(&message).to_bytes();
        let forged = note_with(&ledger, &text, &sig);
        assert!(
            open_checkpoint(&forged, ledger.verifier()).is_err(),
            "a signature over {} bytes passed as the checkpoint's",
            message.len()
        );
    }
    // A partner's evidence signature (another key) under the ledger's name.
    let partner = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    use ed25519_dalek::Signer as _;
    let sig = partner.sign(text.as_bytes()).to_bytes();
    assert!(open_checkpoint(&note_with(&ledger, &text, &sig), ledger.verifier()).is_err());
}
