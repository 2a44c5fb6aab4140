//! The `tranche-verify` binary: its exit status (0 valid, 1 invalid, 2 unreadable) and output,
//! for an export directory and for a receipt.

use std::path::Path;
use std::process::{Command, Output};

use tranche_audit::merkle::{leaf_hash, MemoryTree};
use tranche_audit::note::Checkpoint;
use tranche_audit::receipt::{self, Receipt};
use tranche_audit::synth;
use tranche_audit::verify::{RECORDS_FILE, VKEY_FILE};

fn export(records: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    synth::write_export(dir.path(), records).expect("the synthetic export is written");
    dir
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tranche-verify"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_valid_export_exits_0_with_a_summary() {
    let dir = export(40);
    let vkey = synth::signer().verifier().to_vkey();
    let o = run(&[path(dir.path()), "--vkey", &vkey]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert!(out.starts_with("OK"), "{out}");
    assert!(out.contains("tree size   40"), "{out}");
    assert!(out.contains("(given with --vkey)"), "{out}");
    assert!(out.contains("USD"), "{out}");
}

#[test]
fn the_vkey_may_be_a_file_and_defaults_to_the_exports_own() {
    let dir = export(12);
    let key_file = dir.path().join(VKEY_FILE);
    let o = run(&[path(dir.path()), "--vkey", path(&key_file)]);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&[path(dir.path())]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("read from the export's own ledger.vkey"));
    let o = run(&[path(dir.path()), "--quiet"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
}

#[test]
fn an_invalid_export_exits_1_naming_the_record_and_rule() {
    let dir = export(30);
    let records = dir.path().join(RECORDS_FILE);
    let text = std::fs::read_to_string(&records).expect("readable");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(17);
    std::fs::write(&records, lines.join("\n") + "\n").expect("writable");
    let o = run(&[path(dir.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("FAILED at seq 17: seq_gap: "),
        "{}",
        stdout(&o)
    );

    let o = run(&[path(dir.path()), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["ok"], false);
    assert_eq!(v["seq"], 17);
    assert_eq!(v["rule"], "seq_gap");
}

#[test]
fn a_checkpoint_by_another_key_exits_1() {
    let dir = export(10);
    let other =
        tranche_audit::note::NoteSigner::from_seed(synth::ORIGIN, [3u8; 32]).expect("a valid name");
    let o = run(&[path(dir.path()), "--vkey", &other.verifier().to_vkey()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("FAILED: bad_checkpoint_signature: "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_unreadable_export_exits_2() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("nowhere");
    let o = run(&[path(&missing)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("could not read"));
    let o = run(&[path(&missing), "--vkey", "not a key"]);
    assert_eq!(o.status.code(), Some(2));
    let dir = export(5);
    std::fs::remove_file(dir.path().join(RECORDS_FILE)).expect("removable");
    let o = run(&[path(dir.path()), "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["rule"], "could_not_read");
}

#[test]
fn json_output_carries_the_summary() {
    let dir = export(20);
    let o = run(&[path(dir.path()), "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["ok"], true);
    assert_eq!(v["records"], 20);
    assert_eq!(v["tree_size"], 20);
    assert_eq!(v["origin"], synth::ORIGIN);
    assert_eq!(v["key_from_export"], true);
    assert!(v["moved"]["USD"].is_string());
}

#[test]
fn help_explains_the_checks_and_the_key() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("out of band"), "{out}");
    assert!(out.contains("Merkle root"), "{out}");
}

/// The receipt of record `index` in the synthetic journal of `size` records, as a file.
fn receipt_file(dir: &Path, size: u64, index: u64) -> (std::path::PathBuf, Receipt) {
    let lines: Vec<Vec<u8>> = synth::lines(size).collect();
    let mut tree = MemoryTree::new();
    for line in &lines {
        tree.push(leaf_hash(line));
    }
    let note = synth::signer()
        .sign(&Checkpoint::new(synth::ORIGIN, size, tree.root()).to_text())
        .expect("a checkpoint is a valid note text");
    let proof = tree.inclusion_proof(index, size).expect("index < size");
    let r = receipt::build(index, &lines[index as usize], proof, &note);
    let file = dir.join(format!("record-{index}.tlog-proof"));
    std::fs::write(&file, r.format()).expect("writable");
    (file, r)
}

#[test]
fn a_receipt_verifies_and_a_tampered_one_exits_1() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let vkey = synth::signer().verifier().to_vkey();
    let (file, r) = receipt_file(dir.path(), 40, 23);
    let o = run(&["receipt", path(&file), "--vkey", &vkey]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("OK: the receipt verifies: record 23 is in the ledger's signed tree"),
        "{out}"
    );
    assert!(out.contains("tree size   40"), "{out}");

    let o = run(&["receipt", path(&file), "--vkey", &vkey, "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["seq"], 23);
    assert_eq!(v["kind"], "transaction");
    assert_eq!(v["record"]["seq"], 23);

    // Standard input works too.
    let o = Command::new(env!("CARGO_BIN_EXE_tranche-verify"))
        .args(["receipt", "-", "--vkey", &vkey, "--quiet"])
        .stdin(std::fs::File::open(&file).expect("readable"))
        .output()
        .expect("the binary runs");
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());

    let mut tampered = r.clone();
    tampered.proof[0][0] ^= 1;
    std::fs::write(&file, tampered.format()).expect("writable");
    let o = run(&["receipt", path(&file), "--vkey", &vkey]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("FAILED at seq 23: not_included: "),
        "{}",
        stdout(&o)
    );

    std::fs::write(&file, r.format().replacen("index 23", "index 023", 1)).expect("writable");
    let o = run(&["receipt", path(&file), "--vkey", &vkey, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["rule"], "malformed_receipt");

    let o = run(&[
        "receipt",
        path(&dir.path().join("missing")),
        "--vkey",
        &vkey,
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_dir_and_receipt_forms_live_side_by_side() {
    // A directory literally named "receipt" is reached as ./receipt; the bare word is the
    // subcommand.
    let parent = tempfile::tempdir().expect("a temporary directory");
    let exp = parent.path().join("receipt");
    synth::write_export(&exp, 9).expect("written");
    let o = Command::new(env!("CARGO_BIN_EXE_tranche-verify"))
        .current_dir(parent.path())
        .args(["./receipt", "--quiet"])
        .output()
        .expect("the binary runs");
    assert_eq!(o.status.code(), Some(0));
    let o = Command::new(env!("CARGO_BIN_EXE_tranche-verify"))
        .current_dir(parent.path())
        .args(["receipt", "--quiet"])
        .output()
        .expect("the binary runs");
    assert_eq!(
        o.status.code(),
        Some(2),
        "the receipt subcommand wants a FILE and --vkey"
    );
    let o = run(&["receipt", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("tlog-proof"));
}

/// Runs the verifier on `dir` with the synthetic key, a state file and `--json`: the exit code
/// and the JSON object it prints.
fn verify_with_state(dir: &Path, state: &Path) -> (Option<i32>, serde_json::Value) {
    let vkey = synth::signer().verifier().to_vkey();
    let o = run(&[path(dir), "--vkey", &vkey, "--state", path(state), "--json"]);
    let v = serde_json::from_slice(&o.stdout).expect("one JSON object");
    (o.status.code(), v)
}

/// `tranche-verify fork` on the evidence a fork left next to `state`: its exit status (0 when
/// it proves a fork, 1 when it does not).
fn fork_verdict(state: &Path) -> Option<i32> {
    let evidence = state.with_file_name(format!(
        "{}.fork.json",
        state.file_name().expect("a name").to_string_lossy()
    ));
    let vkey = synth::signer().verifier().to_vkey();
    assert!(evidence.exists(), "no evidence at {}", evidence.display());
    let o = run(&["fork", path(&evidence), "--vkey", &vkey]);
    o.status.code()
}

#[test]
fn a_rollback_below_the_checkpoint_seen_is_the_fork_rule() {
    let dir = export(60);
    let state = dir.path().join("auditor.state");
    let (code, v) = verify_with_state(dir.path(), &state);
    assert_eq!(code, Some(0), "{v}");
    let kept = std::fs::read_to_string(&state).expect("the state holds the checkpoint");
    // The operator truncates the journal below the checkpoint the verifier saw and signs the
    // shorter tree: a valid export on its own, and a rollback for whoever saw the longer one.
    let lines: Vec<Vec<u8>> = synth::lines(57).collect();
    synth::write_lines(dir.path(), &synth::signer(), &lines).expect("written");
    let (code, v) = verify_with_state(dir.path(), &state);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["rule"], "fork", "{v}");
    assert_eq!(v["seq"], serde_json::Value::Null, "{v}");
    let detail = v["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("a tree of 57 records, smaller than the tree of 60 records"),
        "{detail}"
    );
    assert_eq!(
        std::fs::read_to_string(&state).expect("state"),
        kept,
        "a fork leaves the state file unchanged"
    );
    // The shorter tree is a prefix of the longer one: the two signed checkpoints are both
    // true, so they prove a rollback was shown, not that history forked.
    assert_eq!(
        fork_verdict(&state),
        Some(1),
        "a rollback to an honest prefix is no fork proof"
    );
}

#[test]
fn an_old_checkpoint_replayed_as_new_is_the_fork_rule() {
    // The verifier saw the journal at 40 records, then at 60; the operator then serves the
    // export of 40 again, with the checkpoint it really signed back then.
    let old = export(40);
    let new = export(60);
    let state = new.path().join("auditor.state");
    for dir in [old.path(), new.path()] {
        let (code, v) = verify_with_state(dir, &state);
        assert_eq!(code, Some(0), "{v}");
    }
    let (code, v) = verify_with_state(old.path(), &state);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["rule"], "fork", "{v}");
    assert_eq!(v["seq"], serde_json::Value::Null, "{v}");
    let detail = v["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("a tree of 40 records, smaller than the tree of 60 records"),
        "{detail}"
    );
    assert_eq!(
        fork_verdict(&state),
        Some(1),
        "an old checkpoint is no fork proof"
    );
    // The same old checkpoint in front of today's records: it covers fewer records than the
    // export holds, so the first uncovered record is named.
    std::fs::copy(old.path().join("checkpoint"), new.path().join("checkpoint")).expect("copied");
    let vkey = synth::signer().verifier().to_vkey();
    let o = run(&[path(new.path()), "--vkey", &vkey, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(
        (&v["seq"], &v["rule"]),
        (&40.into(), &"beyond_checkpoint".into()),
        "{v}"
    );
}
