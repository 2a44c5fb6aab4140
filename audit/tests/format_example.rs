//! The worked example of `docs/FORMAT.md`: the numbers printed there are checked here, so the
//! document stays true when the code changes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use tranche_audit::merkle::{leaf_hash, verify_consistency, verify_inclusion, MemoryTree};
use tranche_audit::receipt;
use tranche_audit::synth;
use tranche_audit::verify::{verify_dir, VerifyOptions, CHECKPOINT_FILE, RECORDS_FILE};

const LEAVES: [&str; 4] = [
    "d03bf2e705703ffa7e7e934269153f2f458f3578bc7b0d353d9614eb090e4d81",
    "f6df2ddbf8e5fde3e529d5f00ec3caf35c5267e20aa1a49fa78cea858cb69193",
    "f7e9fa7363673ba207e68b4dcfe1433e99f5b0199c26519f1d6321682645fd78",
    "49e5fff1cbfd8d8b62656fdb8bb773823232762f006edfaad6a98513939d0433",
];
const NODE_01: &str = "35151e069c84f1e4a398592a055660995cf6df1e6d618bb36e27b24abd4a9bdc";
const NODE_23: &str = "5ad0d75bd897c7d350aaa5e0fc84daf85bc5a58401deb1ca7396dea7a7552be4";
const ROOT: &str = "9616159e7b9b16f3f2a2fa582b1af37af3e258c5bb0c69a96ab66e4db593a409";
const ROOT_3: &str = "15e6b15b68fb3d781cd85c6a2398609adec0f0d1797bc8cddfc62fb10d693bed";
const VKEY: &str = "tranche.example/synth+9ec33a2d+Abrhk0AvyUZbscCQh1/TznUoyxycMhGmhYAP7QTV18R7";
const CHECKPOINT: &str = "tranche.example/synth
4
lhYVnnubFvPyovpYKxrzevPiWMW7DGmparZuTbWTpAk=

\u{2014} tranche.example/synth nsM6Le8/I0YyIhAwnlKlxvWVE6Rw28vVo1/fkvehXtJVSEZXlG7DmLTD+vim06Pqr1dSF3Z0jAAaO4xTWm3qos0PJQs=
";
const LINE_3: &str = r#"{"actor":"finance:treasury","at":"2026-01-05T08:00:00.750053Z","body":{"accounting_date":"2026-01-05","memo":"Drawdown DR-00000001","postings":[{"account":"bank:usd","amount":"3000.00","currency":"USD","side":"debit"},{"account":"fund:SPRMCO26CA0001","amount":"3000.00","currency":"USD","side":"credit"}]},"kind":"transaction","prev":"f7e9fa7363673ba207e68b4dcfe1433e99f5b0199c26519f1d6321682645fd78","seq":3,"v":1}"#;

fn h(hex_text: &str) -> [u8; 32] {
    hex::decode(hex_text)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

#[test]
fn the_worked_example_has_the_documented_hashes_checkpoint_and_proofs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let info = synth::write_example(dir.path()).expect("written");
    assert_eq!(info.vkey, VKEY);
    let text = std::fs::read_to_string(dir.path().join(RECORDS_FILE)).expect("readable");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[3], LINE_3);
    let mut tree = MemoryTree::new();
    for (line, leaf) in lines.iter().zip(LEAVES) {
        assert_eq!(hex::encode(leaf_hash(line.as_bytes())), leaf);
        tree.push(h(leaf));
    }
    assert_eq!(hex::encode(tree.root()), ROOT);
    assert_eq!(
        B64.encode(tree.root()),
        "lhYVnnubFvPyovpYKxrzevPiWMW7DGmparZuTbWTpAk="
    );
    assert_eq!(tree.root_at(3).map(hex::encode).as_deref(), Some(ROOT_3));
    let checkpoint = std::fs::read_to_string(dir.path().join(CHECKPOINT_FILE)).expect("readable");
    assert_eq!(checkpoint, CHECKPOINT);

    let inclusion = tree.inclusion_proof(3, 4).expect("valid");
    assert_eq!(inclusion, vec![h(LEAVES[2]), h(NODE_01)]);
    assert_eq!(
        verify_inclusion(3, 4, &h(LEAVES[3]), &inclusion, &h(ROOT)),
        Ok(())
    );
    let consistency = tree.consistency_proof(3, 4).expect("valid");
    assert_eq!(consistency, vec![h(LEAVES[2]), h(LEAVES[3]), h(NODE_01)]);
    assert_eq!(
        verify_consistency(3, 4, &consistency, &h(ROOT_3), &h(ROOT)),
        Ok(())
    );
    assert_eq!(
        tranche_audit::merkle::node_hash(&h(LEAVES[2]), &h(LEAVES[3])),
        h(NODE_23)
    );

    let vkey = tranche_audit::note::NoteVerifier::parse(VKEY).expect("a vkey");
    let summary = verify_dir(
        dir.path(),
        VerifyOptions {
            vkey: Some(vkey),
            ..VerifyOptions::default()
        },
    )
    .expect("the example verifies");
    assert_eq!(summary.records, 4);
}

/// The receipt printed in §9 of `docs/FORMAT.md`, read from the document itself.
fn documented_receipt() -> String {
    const DOC: &str = include_str!("../../docs/FORMAT.md");
    let after = DOC
        .split_once("The receipt of record 3 of the worked example")
        .expect("§9 shows the example receipt")
        .1;
    let block = after.split_once("```\n").expect("a code block follows").1;
    block
        .split_once("```\n")
        .expect("the code block ends")
        .0
        .to_string()
}

#[test]
fn the_documented_receipt_is_the_one_built_and_it_verifies() {
    let mut tree = MemoryTree::new();
    for leaf in LEAVES {
        tree.push(h(leaf));
    }
    let proof = tree.inclusion_proof(3, 4).expect("valid");
    let built = receipt::build(3, LINE_3.as_bytes(), proof, CHECKPOINT);
    let text = documented_receipt();
    assert_eq!(text, built.format());
    let vkey = tranche_audit::note::NoteVerifier::parse(VKEY).expect("a vkey");
    let verified = receipt::verify_receipt(&text, &vkey).expect("the example receipt verifies");
    assert_eq!(verified.record.seq, 3);
    assert_eq!(hex::encode(verified.leaf), LEAVES[3]);
    assert_eq!(hex::encode(verified.checkpoint.root), ROOT);
    assert_eq!(
        text.lines().nth(4),
        Some(B64.encode(h(NODE_01)).as_str()),
        "the second proof line is n01"
    );
}
