//! Key rotation in the verifier: the trusted key hands over to a new key in a `ledger.rotate`
//! record it signs; the checkpoint after it must be signed by the new key; a hand-over signed
//! by anyone else, or a checkpoint signed by the retired key, is refused.

use base64::Engine as _;
use serde_json::json;

use super::tests::chain;
use super::*;
use crate::note::NoteSigner;

fn rotation(old: &NoteSigner, new: &NoteSigner) -> (&'static str, Value) {
    let vkey = new.verifier().to_vkey();
    let sig = old.sign_raw(&crate::record::rotation_message(old.name(), &vkey));
    (
        kind::LEDGER_ROTATE,
        json!({"origin": old.name(), "vkey": vkey,
               "signature": base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())}),
    )
}

fn verdict(
    records: Vec<(&'static str, Value)>,
    trusted: &NoteSigner,
    checkpoint_signer: &NoteSigner,
) -> Result<Summary, (Option<u64>, &'static str)> {
    let lines = chain(records, trusted);
    let mut frontier = Frontier::new();
    for l in &lines {
        frontier.push(leaf_hash(l), |_, _| {});
    }
    let cp = Checkpoint::new(trusted.name(), frontier.size(), frontier.root());
    let note = checkpoint_signer.sign(&cp.to_text()).expect("signs");
    let mut v = Verifier::new(trusted.verifier(), &note).map_err(|f| (f.seq, f.rule))?;
    for l in &lines {
        v.push_line(l).map_err(|f| (f.seq, f.rule))?;
    }
    v.finish().map_err(|f| (f.seq, f.rule))
}

fn open_bank() -> (&'static str, Value) {
    (
        kind::ACCOUNT_OPEN,
        json!({"name": "bank:op", "type": "asset"}),
    )
}

#[test]
fn the_verifier_follows_a_hand_over_signed_by_the_key_in_force() {
    let a = crate::synth::signer();
    let b = NoteSigner::from_seed(a.name(), [77; 32]).expect("key");
    let c = NoteSigner::from_seed(a.name(), [78; 32]).expect("key");
    // A to B, then B to C: the checkpoint signed by C verifies from A.
    let s = verdict(
        vec![open_bank(), rotation(&a, &b), rotation(&b, &c)],
        &a,
        &c,
    )
    .expect("followed");
    assert_eq!(s.ledger_keys, 3);
    assert_eq!(s.current_vkey, c.verifier().to_vkey());
    // A hand-over signed by a key not in force.
    let forger = NoteSigner::from_seed(a.name(), [79; 32]).expect("key");
    assert_eq!(
        verdict(vec![open_bank(), rotation(&forger, &b)], &a, &b).map(|_| ()),
        Err((Some(2), rule::BAD_ROTATION))
    );
    // After the hand-over, a checkpoint signed by the retired key.
    assert_eq!(
        verdict(vec![open_bank(), rotation(&a, &b)], &a, &a).map(|_| ()),
        Err((None, rule::RETIRED_KEY))
    );
    // A checkpoint signed by a key no hand-over named.
    assert_eq!(
        verdict(vec![open_bank(), rotation(&a, &b)], &a, &c).map(|_| ()),
        Err((None, rule::BAD_CHECKPOINT_SIGNATURE))
    );
}
