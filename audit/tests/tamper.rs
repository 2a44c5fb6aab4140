//! Tampering with a synthetic export, each way an operator or a copy could get it wrong: the
//! verifier must refuse and name the first bad record and the rule. Every case is run with the
//! fast decoder and with the reference decoder, which must agree.

use std::path::Path;

use serde_json::json;
use tempfile::TempDir;

use tranche_audit::merkle::leaf_hash;
use tranche_audit::note::NoteSigner;
use tranche_audit::record::{kind, Record};
use tranche_audit::synth;
use tranche_audit::verify::{
    rule, verify_dir, Failure, Summary, VerifyError, VerifyOptions, CHECKPOINT_FILE, RECORDS_FILE,
    VKEY_FILE,
};

/// Records in the synthetic export used here: genesis, seven accounts, 52 transactions.
const RECORDS: u64 = 60;

fn export() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    synth::write_export(dir.path(), RECORDS).expect("the synthetic export is written");
    dir
}

fn lines(dir: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read(dir.join(RECORDS_FILE)).expect("records.jsonl is readable");
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    assert_eq!(
        lines.pop(),
        Some(Vec::new()),
        "the file ends with a newline"
    );
    lines
}

fn write_lines(dir: &Path, lines: &[Vec<u8>]) {
    let mut text = Vec::new();
    for l in lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    std::fs::write(dir.join(RECORDS_FILE), text).expect("records.jsonl is writable");
}

fn records(dir: &Path) -> Vec<Record> {
    lines(dir)
        .iter()
        .map(|l| Record::decode(l).expect("the synthetic lines decode"))
        .collect()
}

/// Verifies with the trusted synthetic key, with both decoders; they must agree.
fn verify(dir: &Path) -> Result<Summary, VerifyError> {
    let run = |reference_decoder| {
        verify_dir(
            dir,
            VerifyOptions {
                vkey: Some(synth::signer().verifier().clone()),
                reference_decoder,
                ..VerifyOptions::default()
            },
        )
    };
    let fast = run(false);
    let reference = run(true);
    match (&fast, &reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(VerifyError::Invalid(a)), Err(VerifyError::Invalid(b))) => assert_eq!(a, b),
        (Err(VerifyError::CouldNotRead { .. }), Err(VerifyError::CouldNotRead { .. })) => {}
        _ => panic!("the decoders disagree: {fast:?} vs {reference:?}"),
    }
    fast
}

fn failure(dir: &Path) -> Failure {
    match verify(dir) {
        Err(VerifyError::Invalid(f)) => f,
        other => panic!("expected the export to be invalid, got {other:?}"),
    }
}

fn assert_fails(dir: &Path, seq: Option<u64>, rule: &str) -> Failure {
    let f = failure(dir);
    assert_eq!((f.seq, f.rule), (seq, rule), "{f}");
    f
}

/// Replaces the first occurrence of `from` in line `k`.
fn edit_line(dir: &Path, k: usize, from: &str, to: &str) {
    let mut all = lines(dir);
    let text = String::from_utf8(all[k].clone()).expect("utf-8");
    assert!(text.contains(from), "line {k} has no {from:?}: {text}");
    all[k] = text.replacen(from, to, 1).into_bytes();
    write_lines(dir, &all);
}

/// The memo of line `k`, a transaction.
fn memo(dir: &Path, k: usize) -> String {
    records(dir)[k].body["memo"]
        .as_str()
        .expect("a transaction has a memo")
        .to_string()
}

#[test]
fn a_valid_export_passes() {
    let dir = export();
    let s = verify(dir.path()).expect("the synthetic export is valid");
    assert_eq!(s.records, RECORDS);
    assert_eq!(s.tree_size, RECORDS);
    assert_eq!(s.transactions, RECORDS - 1 - synth::ACCOUNTS.len() as u64);
    assert_eq!(s.accounts, synth::ACCOUNTS.len() as u64);
    assert_eq!(s.origin, synth::ORIGIN);
    assert!(s.first_at < s.last_at);
}

#[test]
fn the_key_is_read_from_the_export_when_none_is_given() {
    let dir = export();
    let s = verify_dir(dir.path(), VerifyOptions::default()).expect("valid with its own key");
    assert_eq!(s.vkey, synth::signer().verifier().to_vkey());
}

#[test]
fn one_byte_changed_in_a_memo_is_named_by_its_successor_prev() {
    let dir = export();
    let k = 30;
    let m = memo(dir.path(), k);
    let changed = format!("{}X{}", &m[..3], &m[4..]);
    edit_line(dir.path(), k, &m, &changed);
    let f = assert_fails(dir.path(), Some(k as u64), rule::PREV_MISMATCH);
    assert!(f.detail.contains("record 30 no longer hashes"), "{f}");
}

#[test]
fn one_byte_changed_in_the_last_record_changes_the_root() {
    let dir = export();
    let k = RECORDS as usize - 1;
    let m = memo(dir.path(), k);
    edit_line(dir.path(), k, &m, &m.to_uppercase());
    let f = assert_fails(dir.path(), Some(RECORDS - 1), rule::ROOT_MISMATCH);
    assert!(f.detail.contains("only the last record"), "{f}");
}

#[test]
fn one_byte_changed_elsewhere_is_caught_by_the_rule_it_breaks() {
    // An amount on one side only: the transaction no longer balances.
    let dir = export();
    edit_line(dir.path(), 20, "\"amount\":\"", "\"amount\":\"1");
    assert_fails(dir.path(), Some(20), "unbalanced");
    // The seq field.
    let dir = export();
    edit_line(dir.path(), 20, "\"seq\":20", "\"seq\":21");
    assert_fails(dir.path(), Some(20), rule::SEQ_GAP);
    // A hex digit of prev: record 19 is named, as the one that no longer matches.
    let dir = export();
    let prev = records(dir.path())[20].prev;
    let mut hex = hex::encode(prev);
    let flipped = if hex.starts_with('0') { "1" } else { "0" };
    hex.replace_range(0..1, flipped);
    edit_line(dir.path(), 20, &hex::encode(prev), &hex);
    assert_fails(dir.path(), Some(19), rule::PREV_MISMATCH);
    // A structural byte: the line is no longer JSON.
    let dir = export();
    edit_line(dir.path(), 20, "{", "[");
    assert_fails(dir.path(), Some(20), rule::MALFORMED_RECORD);
    // The kind.
    let dir = export();
    edit_line(
        dir.path(),
        20,
        "\"kind\":\"transaction\"",
        "\"kind\":\"transactioN\"",
    );
    assert_fails(dir.path(), Some(20), rule::UNKNOWN_KIND);
}

#[test]
fn a_deleted_line_is_a_seq_gap() {
    let dir = export();
    let mut all = lines(dir.path());
    all.remove(25);
    write_lines(dir.path(), &all);
    let f = assert_fails(dir.path(), Some(25), rule::SEQ_GAP);
    assert!(f.detail.contains("found seq 26"), "{f}");
}

#[test]
fn swapped_lines_are_a_seq_gap() {
    let dir = export();
    let mut all = lines(dir.path());
    all.swap(40, 41);
    write_lines(dir.path(), &all);
    assert_fails(dir.path(), Some(40), rule::SEQ_GAP);
}

#[test]
fn a_truncated_export_is_refused() {
    let dir = export();
    let mut all = lines(dir.path());
    all.truncate(57);
    write_lines(dir.path(), &all);
    assert_fails(dir.path(), Some(57), rule::TRUNCATED);
    // Cut in the middle of a line: that line is no longer a record.
    let dir = export();
    let text = std::fs::read(dir.path().join(RECORDS_FILE)).expect("readable");
    std::fs::write(dir.path().join(RECORDS_FILE), &text[..text.len() - 40]).expect("writable");
    assert_fails(dir.path(), Some(RECORDS - 1), rule::MALFORMED_RECORD);
    // Only the final newline missing.
    let dir = export();
    std::fs::write(dir.path().join(RECORDS_FILE), &text[..text.len() - 1]).expect("writable");
    assert_fails(dir.path(), Some(RECORDS - 1), rule::MISSING_NEWLINE);
}

#[test]
fn an_appended_record_with_a_correct_prev_is_beyond_the_checkpoint() {
    let dir = export();
    let mut all = lines(dir.path());
    let mut forged = Record::decode(all.last().expect("not empty")).expect("decodes");
    forged.seq = RECORDS;
    forged.prev = leaf_hash(all.last().expect("not empty"));
    forged.at += chrono::Duration::seconds(1);
    all.push(forged.encode().expect("encodes"));
    write_lines(dir.path(), &all);
    assert_fails(dir.path(), Some(RECORDS), rule::BEYOND_CHECKPOINT);
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let dir = export();
    let other = NoteSigner::from_seed(synth::ORIGIN, [42u8; 32]).expect("a valid name");
    let info = synth::write_export(dir.path(), RECORDS).expect("written");
    synth::write_checkpoint(dir.path(), &other, &info.checkpoint).expect("written");
    assert_fails(dir.path(), None, rule::BAD_CHECKPOINT_SIGNATURE);
    // A checkpoint that is not a signed note at all.
    std::fs::write(dir.path().join(CHECKPOINT_FILE), "not a note").expect("writable");
    assert_fails(dir.path(), None, rule::MALFORMED_CHECKPOINT);
}

#[test]
fn an_export_forged_wholesale_under_another_key_passes_only_with_its_own_key() {
    let dir = export();
    let other = NoteSigner::from_seed(synth::ORIGIN, [42u8; 32]).expect("a valid name");
    let mut all = records(dir.path());
    all[0].body = json!({"origin": synth::ORIGIN, "vkey": other.verifier().to_vkey()});
    synth::write_records(dir.path(), &other, all).expect("written");
    // Consistent with itself: the export's own ledger.vkey accepts it…
    assert!(verify_dir(dir.path(), VerifyOptions::default()).is_ok());
    // …but the key the auditor holds does not.
    assert_fails(dir.path(), None, rule::BAD_CHECKPOINT_SIGNATURE);
    // And a forged genesis under an honest checkpoint key is named at record 0.
    let mut all = records(dir.path());
    let signer = synth::signer();
    all[0].body = json!({"origin": synth::ORIGIN, "vkey": other.verifier().to_vkey()});
    synth::write_records(dir.path(), &signer, all).expect("written");
    assert_fails(dir.path(), Some(0), rule::WRONG_LEDGER_KEY);
}

#[test]
fn a_non_canonical_re_encoding_is_refused() {
    // Whitespace.
    let dir = export();
    edit_line(dir.path(), 33, "\"kind\":", "\"kind\": ");
    let f = assert_fails(dir.path(), Some(33), rule::NON_CANONICAL);
    assert!(f.detail.contains("first difference"), "{f}");
    // Key order: the same record with "v" first.
    let dir = export();
    edit_line(dir.path(), 33, ",\"v\":1}", "}");
    edit_line(dir.path(), 33, "{\"actor\"", "{\"v\":1,\"actor\"");
    assert_fails(dir.path(), Some(33), rule::NON_CANONICAL);
    // A needless escape.
    let dir = export();
    edit_line(dir.path(), 33, "\"transaction\"", "\"tr\\u0061nsaction\"");
    assert_fails(dir.path(), Some(33), rule::NON_CANONICAL);
}

/// What a dishonest operator holding the key can do: rewrite history, re-chain every `prev` and
/// sign a fresh checkpoint. The chain and signature then hold; the accounting rules do not.
fn rewrite(dir: &Path, k: usize, edit: impl FnOnce(&mut Record)) {
    let mut all = records(dir);
    edit(&mut all[k]);
    synth::write_records(dir, &synth::signer(), all).expect("written");
}

#[test]
fn an_unbalanced_transaction_re_chained_and_re_signed_is_caught() {
    let dir = export();
    rewrite(dir.path(), 44, |r| {
        r.body["postings"][0]["amount"] = json!("1000000.00");
    });
    let f = assert_fails(dir.path(), Some(44), "unbalanced");
    assert!(f.detail.contains("USD debits 1000000.00"), "{f}");
}

#[test]
fn a_posting_to_an_unopened_account_is_caught() {
    let dir = export();
    rewrite(dir.path(), 12, |r| {
        r.body["postings"][1]["account"] = json!("payable:offshore");
    });
    let f = assert_fails(dir.path(), Some(12), rule::UNKNOWN_ACCOUNT);
    assert!(f.detail.contains("payable:offshore"), "{f}");
}

#[test]
fn time_going_backwards_is_caught() {
    let dir = export();
    rewrite(dir.path(), 15, |r| {
        r.at -= chrono::Duration::days(1);
    });
    assert_fails(dir.path(), Some(15), rule::TIME_WENT_BACKWARDS);
}

#[test]
fn a_second_ledger_key_is_caught() {
    let dir = export();
    let genesis = records(dir.path())[0].clone();
    rewrite(dir.path(), 9, |r| {
        r.kind = kind::LEDGER_KEY.into();
        r.body = genesis.body.clone();
    });
    assert_fails(dir.path(), Some(9), rule::UNEXPECTED_LEDGER_KEY);
}

#[test]
fn an_oversized_line_is_refused_without_reading_it_whole() {
    let dir = export();
    let mut all = lines(dir.path());
    all[5] = vec![b'x'; 200_000];
    write_lines(dir.path(), &all);
    assert_fails(dir.path(), Some(5), rule::RECORD_TOO_LARGE);
}

#[test]
fn missing_files_cannot_be_read() {
    let dir = export();
    std::fs::remove_file(dir.path().join(RECORDS_FILE)).expect("removable");
    assert!(matches!(
        verify(dir.path()),
        Err(VerifyError::CouldNotRead { .. })
    ));
    let dir = export();
    std::fs::remove_file(dir.path().join(VKEY_FILE)).expect("removable");
    assert!(matches!(
        verify_dir(dir.path(), VerifyOptions::default()),
        Err(VerifyError::CouldNotRead { .. })
    ));
}

#[test]
fn progress_is_reported_up_to_the_whole_file() {
    let dir = export();
    let mut seen = Vec::new();
    let mut on_progress = |p| seen.push(p);
    verify_dir(
        dir.path(),
        VerifyOptions {
            progress: Some(&mut on_progress),
            ..VerifyOptions::default()
        },
    )
    .expect("valid");
    let last = seen.last().expect("at least the final report");
    assert_eq!(last.records, RECORDS);
    assert_eq!(last.bytes_read, last.bytes_total);
}

/// The checkpoint note of the export in `dir`, as signed.
fn checkpoint_note(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(CHECKPOINT_FILE)).expect("the checkpoint is readable")
}

/// An operator who can write the records but not sign: record `k` is edited, its leaf hash
/// recomputed and every later `prev` fixed up, so the hash chain is whole again; the
/// checkpoint is the one the ledger signed before the edit.
fn rewrite_under_the_signed_checkpoint(dir: &Path, k: usize, edit: impl FnOnce(&mut Record)) {
    let signed = checkpoint_note(dir);
    rewrite(dir, k, edit);
    std::fs::write(dir.join(CHECKPOINT_FILE), signed).expect("the checkpoint is writable");
}

/// The rewritten chain is consistent: every record's `prev` is its predecessor's leaf hash.
fn assert_chain_is_whole(dir: &Path) {
    let all = lines(dir);
    for k in 1..all.len() {
        let r = Record::decode(&all[k]).expect("decodes");
        assert_eq!(r.seq, k as u64);
        assert_eq!(r.prev, leaf_hash(&all[k - 1]), "prev of record {k}");
    }
}

#[test]
fn an_amount_changed_on_both_sides_with_the_chain_recomputed_is_caught_by_the_signed_root() {
    let dir = export();
    let before = records(dir.path())[44].clone();
    rewrite_under_the_signed_checkpoint(dir.path(), 44, |r| {
        r.body["postings"][0]["amount"] = json!("1000000.00");
        r.body["postings"][1]["amount"] = json!("1000000.00");
    });
    assert_chain_is_whole(dir.path());
    assert_ne!(records(dir.path())[44], before);
    // Balanced, chained, every rule kept: only the Merkle root can tell, and a root names no
    // leaf, so the failure is placed at the last record the checkpoint covers.
    let f = assert_fails(dir.path(), Some(RECORDS - 1), rule::ROOT_MISMATCH);
    assert!(f.detail.contains("the checkpoint signed"), "{f}");
}

#[test]
fn an_amount_changed_on_one_side_with_the_chain_recomputed_is_unbalanced_at_that_record() {
    let dir = export();
    rewrite_under_the_signed_checkpoint(dir.path(), 44, |r| {
        r.body["postings"][1]["amount"] = json!("1000000.00");
    });
    assert_chain_is_whole(dir.path());
    // The accounting is checked record by record, before the root: the record itself is named.
    let f = assert_fails(dir.path(), Some(44), "unbalanced");
    assert!(f.detail.contains("credits 1000000.00"), "{f}");
}

/// Record `k` again, as a valid transaction at position `at` (the chain and seqs are redone by
/// `synth::write_records`).
fn with_a_record_inserted(dir: &Path, at: usize) -> Vec<Record> {
    let mut all = records(dir);
    let copy = all[at - 1].clone();
    all.insert(at, copy);
    all
}

#[test]
fn a_record_inserted_in_the_middle_with_the_chain_recomputed_is_beyond_the_signed_checkpoint() {
    let dir = export();
    let signed = checkpoint_note(dir.path());
    synth::write_records(
        dir.path(),
        &synth::signer(),
        with_a_record_inserted(dir.path(), 30),
    )
    .expect("written");
    std::fs::write(dir.path().join(CHECKPOINT_FILE), &signed).expect("writable");
    assert_chain_is_whole(dir.path());
    // One record more than was signed: the first record no signature covers is named.
    let f = assert_fails(dir.path(), Some(RECORDS), rule::BEYOND_CHECKPOINT);
    assert!(
        f.detail.contains(&format!("covers {RECORDS} records")),
        "{f}"
    );

    // The same insertion with the last record dropped, so the size is the signed one.
    let dir = export();
    let mut all = with_a_record_inserted(dir.path(), 30);
    all.pop();
    synth::write_records(dir.path(), &synth::signer(), all).expect("written");
    std::fs::write(dir.path().join(CHECKPOINT_FILE), &signed).expect("writable");
    assert_chain_is_whole(dir.path());
    assert_fails(dir.path(), Some(RECORDS - 1), rule::ROOT_MISMATCH);
}

#[test]
fn a_record_inserted_and_re_signed_is_a_fork_of_the_checkpoint_seen_before() {
    use tranche_audit::monitor::{check_extends, ExtendError};
    use tranche_audit::note::open_checkpoint;
    let dir = export();
    let seen = open_checkpoint(&checkpoint_note(dir.path()), synth::signer().verifier())
        .expect("the honest checkpoint")
        .checkpoint;
    // A dishonest operator holding the key re-signs the grown journal: on its own it is a
    // valid export (the inserted record breaks no rule)…
    synth::write_records(
        dir.path(),
        &synth::signer(),
        with_a_record_inserted(dir.path(), 30),
    )
    .expect("written");
    let s = verify(dir.path()).expect("consistent with itself");
    assert_eq!(s.records, RECORDS + 1);
    // …but it does not extend the checkpoint an auditor kept: no consistency proof from the
    // tree of 60 can reach it, since record 30 changed.
    let now = open_checkpoint(&checkpoint_note(dir.path()), synth::signer().verifier())
        .expect("signed")
        .checkpoint;
    let records_path = dir.path().join(RECORDS_FILE);
    let r = check_extends(&seen, &now, |a, b| {
        tranche_audit::fork::prefix_proof(&records_path, a, b).map(|(_, p)| p)
    });
    match r {
        Err(ExtendError::Fork(f)) => {
            assert_eq!((f.seq, f.rule), (None, rule::FORK), "{f}");
            assert!(
                f.detail
                    .contains(&format!("records before seq {RECORDS} were changed")),
                "{f}"
            );
        }
        other => panic!("expected a fork, got {other:?}"),
    }
}

/// A checkpoint note carrying `signature` (64 bytes) under the signer's name and key id.
fn note_with_signature(signer: &NoteSigner, text: &str, signature: &[u8]) -> String {
    use base64::Engine as _;
    let mut raw = signer.verifier().key_id().to_vec();
    raw.extend_from_slice(signature);
    format!(
        "{text}\n\u{2014} {} {}\n",
        signer.name(),
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[test]
fn a_record_signature_replayed_as_the_checkpoint_signature_is_refused() {
    use tranche_audit::note::open_checkpoint;
    let dir = export();
    let ledger = synth::signer();
    let honest = checkpoint_note(dir.path());
    let text = open_checkpoint(&honest, ledger.verifier())
        .expect("the honest checkpoint")
        .checkpoint
        .to_text();
    // Signatures the ledger key really makes for records, each replayed as the checkpoint's:
    // a key hand-over (the signature a `ledger.rotate` record carries), and the same key over
    // the checkpoint text behind the evidence statement's domain prefix.
    let other = NoteSigner::from_seed(synth::ORIGIN, [9u8; 32]).expect("a valid name");
    let rotation =
        tranche_audit::record::rotation_message(ledger.name(), &other.verifier().to_vkey());
    let evidence = [tranche_audit::programme::EVIDENCE_DOMAIN, text.as_bytes()].concat();
    for message in [rotation, evidence] {
        let sig = ledger.sign_raw(&message).to_bytes();
        std::fs::write(
            dir.path().join(CHECKPOINT_FILE),
            note_with_signature(&ledger, &text, &sig),
        )
        .expect("writable");
        let f = assert_fails(dir.path(), None, rule::BAD_CHECKPOINT_SIGNATURE);
        assert!(f.detail.contains(&ledger.verifier().to_vkey()), "{f}");
    }
    // The note itself is well formed: the honest signature in its place verifies.
    std::fs::write(dir.path().join(CHECKPOINT_FILE), honest).expect("writable");
    verify(dir.path()).expect("the honest checkpoint verifies");
}

#[test]
fn a_non_canonical_number_form_in_a_valid_export_is_named() {
    // The seq as 7.0 or 7e0: the same number to a JSON reader, but a record's integers are
    // written as integers, so this is not a record (and not the bytes the ledger hashed).
    for form in ["7.0", "7e0", "7E0", "7.00"] {
        let dir = export();
        edit_line(dir.path(), 7, "\"seq\":7,", &format!("\"seq\":{form},"));
        let f = assert_fails(dir.path(), Some(7), rule::MALFORMED_RECORD);
        assert!(f.detail.contains("record field seq"), "{form}: {f}");
    }
    // A leading zero is not JSON at all.
    let dir = export();
    edit_line(dir.path(), 7, "\"seq\":7,", "\"seq\":07,");
    assert_fails(dir.path(), Some(7), rule::MALFORMED_RECORD);
    // The version as 1.0.
    let dir = export();
    edit_line(dir.path(), 20, "\"v\":1}", "\"v\":1.0}");
    let f = assert_fails(dir.path(), Some(20), rule::MALFORMED_RECORD);
    assert!(f.detail.contains("record field v"), "{f}");
    // An amount written another way (the same value), re-chained and re-signed, so only the
    // amount's form is wrong.
    let dir = export();
    let amount = records(dir.path())[8].body["postings"][0]["amount"]
        .as_str()
        .expect("an amount")
        .to_string();
    let whole = amount.trim_end_matches(".00").to_string();
    for (form, code) in [
        (whole.clone(), "non_canonical_amount"),
        (format!("0{amount}"), "non_canonical_amount"),
        (format!("{amount}0"), "too_many_decimals"),
        (format!("{whole}.0"), "non_canonical_amount"),
    ] {
        let dir = export();
        rewrite(dir.path(), 8, |r| {
            r.body["postings"][0]["amount"] = json!(form);
            r.body["postings"][1]["amount"] = json!(form);
        });
        let f = assert_fails(dir.path(), Some(8), code);
        assert!(f.detail.contains("body.postings[0].amount"), "{form}: {f}");
    }
}
