//! The disbursement records in the verifier: a valid batch from creation to the bank's
//! confirmation verifies and is counted, and so does one sent in several parts; then one
//! maker-checker, lifecycle or bookkeeping fault at a time, each named by its seq and rule.

use serde_json::{json, Value};

use super::tests::run;
use super::*;
use crate::disburse::{batch_digest, BatchCreateBody, BatchPartBody};

const AWARD: &str = "bprm-ec-2026";
const PAYABLE: &str = "payable:bprm-ec-2026:participant:p-0001";
const PAYABLE2: &str = "payable:bprm-ec-2026:participant:p-0002";
const EXPENSE: &str = "expense:bprm-ec-2026:c4t";
const TRANSIT: &str = "transit:bprm-ec-2026";
const BANK: &str = "bank:bprm-ec-2026";
const FILE: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// (kind, actor, body)
type Rec = (&'static str, &'static str, Value);

fn chain(records: &[Rec], signer: &crate::note::NoteSigner) -> Vec<Vec<u8>> {
    let mut prev = ZERO_HASH;
    let mut out = Vec::new();
    let mut all: Vec<Rec> = vec![(
        kind::LEDGER_KEY,
        "ledger",
        json!({"origin": signer.name(), "vkey": signer.verifier().to_vkey()}),
    )];
    all.extend(records.iter().cloned());
    for (seq, (kind, actor, mut body)) in all.into_iter().enumerate() {
        // A record that posts is dated; these journals date it the day they are written.
        if [
            kind::TRANSACTION,
            kind::ENTITLEMENT,
            kind::BATCH_SEND,
            kind::BANK_STATUS,
        ]
        .contains(&kind)
        {
            if let Some(m) = body.as_object_mut() {
                m.entry("accounting_date")
                    .or_insert_with(|| json!("2026-03-01"));
            }
        }
        let record = crate::record::Record {
            seq: seq as u64,
            prev,
            kind: kind.to_string(),
            at: DateTime::from_timestamp(1_772_359_200 + seq as i64, 0).expect("in range"),
            actor: actor.into(),
            body,
        };
        let bytes = record.encode().expect("encodes");
        prev = leaf_hash(&bytes);
        out.push(bytes);
    }
    out
}

fn verdict(records: &[Rec]) -> Result<Summary, (Option<u64>, &'static str)> {
    let signer = crate::synth::signer();
    run(&chain(records, &signer), &signer).map_err(|f| (f.seq, f.rule))
}

fn header() -> BatchCreateBody {
    serde_json::from_value(json!({
        "batch": "B000001", "award": AWARD, "currency": "USD", "filter": {},
        "payments": 1, "total": "60.00", "exceptions": 0, "parts": 1
    }))
    .expect("valid")
}

fn part() -> BatchPartBody {
    serde_json::from_value(json!({
        "batch": "B000001", "award": AWARD, "part": 0,
        "payments": [{"e2e": "B000001-000001", "payee": "participant:p-0001", "amount": "60.00", "entitlements": [7]}],
        "exceptions": []
    }))
    .expect("valid")
}

fn digest() -> String {
    batch_digest(&header(), &[part()])
}

/// An entitlement of `participant` crediting its payable with `amount` (`reverses`: the
/// mirror of the entitlement at that seq).
fn entitlement(participant: &str, amount: &str, reverses: Option<u64>) -> Rec {
    let (expense, payable) = if reverses.is_some() {
        ("credit", "debit")
    } else {
        ("debit", "credit")
    };
    let mut body = json!({
        "award": AWARD, "participant": participant, "basis": "c4t:2026-03", "rule": "c4t",
        "version": 1, "evidence": [], "memo": format!("C4T 2026-03 {participant}"),
        "postings": [
            {"account": EXPENSE, "currency": "USD", "side": expense, "amount": amount},
            {"account": format!("payable:{AWARD}:participant:{participant}"), "currency": "USD", "side": payable, "amount": amount}]
    });
    if let Some(r) = reverses {
        body["reverses"] = json!(r);
    }
    (kind::ENTITLEMENT, "ledger", body)
}

/// Accounts, award, the entitlement (seq 7), a drawdown and the award's settings (two
/// approvals above 50.00), then a batch through to the bank's confirmation. Seqs: the
/// batch.create is 10.
fn journal() -> Vec<Rec> {
    let mut r: Vec<Rec> = Vec::new();
    for (name, t) in [
        (BANK, "asset"),
        ("fund:bprm-ec-2026", "equity"),
        (EXPENSE, "expense"),
        (PAYABLE, "liability"),
        (TRANSIT, "liability"),
    ] {
        r.push((
            kind::ACCOUNT_OPEN,
            "admin",
            json!({"name": name, "type": t}),
        ));
    }
    r.push((
        kind::AWARD_OPEN,
        "admin",
        json!({"award": AWARD, "donor": "BPRM", "currency": "USD", "total": "1000.00",
               "start": "2026-01-01", "end": "2026-12-31",
               "budget_lines": [{"line": "c4t", "name": "C4T", "authorised": "1000.00", "participant_support": true}]}),
    ));
    r.push(entitlement("p-0001", "60.00", None));
    r.push((
        kind::TRANSACTION,
        "admin",
        json!({"memo": "drawdown", "postings": [
            {"account": BANK, "currency": "USD", "side": "debit", "amount": "100.00"},
            {"account": "fund:bprm-ec-2026", "currency": "USD", "side": "credit", "amount": "100.00"}]}),
    ));
    r.push((
        kind::DISBURSEMENT_CONFIG,
        "admin",
        json!({"award": AWARD, "debtor": {"name": "HIAS", "account": "2100456789"},
               "dual_approval_above": "50.00"}),
    ));
    r.push((
        kind::BATCH_CREATE,
        "user:prep",
        serde_json::to_value(header()).expect("json"),
    ));
    r.push((
        kind::BATCH_PART,
        "user:prep",
        serde_json::to_value(part()).expect("json"),
    ));
    r.push((
        kind::BATCH_SUBMIT,
        "user:prep",
        json!({"batch": "B000001", "award": AWARD, "digest": digest(), "approvals_required": 2}),
    ));
    r.push(approve("user:ana"));
    r.push(approve("user:beto"));
    r.push((
        kind::BATCH_FILE,
        "user:prep",
        json!({"batch": "B000001", "award": AWARD, "format": "pain.001.001.09", "sha256": FILE,
               "message_id": "B000001-F1", "created_at": "2026-04-01T10:00:00.000000Z",
               "execution_date": "2026-04-02", "payments": 1, "control_sum": "60.00"}),
    ));
    r.push(send("60.00"));
    r.push((
        kind::BANK_IMPORT,
        "user:prep",
        json!({"award": AWARD, "format": "camt.053", "sha256": "22".repeat(32), "lines": 1,
               "outcomes": 1, "exceptions": 0, "parts": 1}),
    ));
    r.push((
        kind::BANK_STATUS,
        "user:prep",
        json!({"award": AWARD, "import": "22".repeat(32), "part": 0,
               "outcomes": [{"e2e": "B000001-000001", "status": "confirmed", "amount": "60.00", "line": 3}],
               "exceptions": [],
               "postings": [
                   {"account": TRANSIT, "currency": "USD", "side": "debit", "amount": "60.00"},
                   {"account": BANK, "currency": "USD", "side": "credit", "amount": "60.00"}]}),
    ));
    r
}

fn approve(actor: &'static str) -> Rec {
    (
        kind::BATCH_APPROVE,
        actor,
        json!({"batch": "B000001", "award": AWARD, "digest": digest()}),
    )
}

fn send(credit: &str) -> Rec {
    (
        kind::BATCH_SEND,
        "user:ana",
        json!({"batch": "B000001", "award": AWARD, "part": 0, "file": FILE, "postings": [
            {"account": PAYABLE, "currency": "USD", "side": "debit", "amount": "60.00"},
            {"account": TRANSIT, "currency": "USD", "side": "credit", "amount": credit}]}),
    )
}

/// Seq of the record at index `i` of `journal()` (the genesis record is seq 0).
fn seq(i: usize) -> Option<u64> {
    Some(i as u64 + 1)
}

fn index_of(r: &[Rec], kind: &str, nth: usize) -> usize {
    r.iter()
        .enumerate()
        .filter(|(_, x)| x.0 == kind)
        .nth(nth)
        .map(|(i, _)| i)
        .expect("present")
}

#[test]
fn a_batch_from_creation_to_confirmation_verifies_and_is_counted() {
    let s = verdict(&journal()).expect("valid");
    assert_eq!(
        (s.batches, s.payments, s.approvals, s.bank_imports),
        (1, 1, 2, 1)
    );
}

#[test]
fn approval_by_the_preparer_or_submitter_fails_own_batch() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_APPROVE, 0);
    r[i] = approve("user:prep");
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i), "own_batch")));
}

#[test]
fn the_same_approver_twice_fails_already_approved() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_APPROVE, 1);
    r[i] = approve("user:ana");
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i), "already_approved")));
}

#[test]
fn an_approval_of_other_content_fails_digest_mismatch() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_APPROVE, 0);
    r[i].2["digest"] = json!("ab".repeat(32));
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i), "digest_mismatch")));
    // And a part changed after the fact no longer hashes to the submitted digest.
    let mut r = journal();
    let p = index_of(&r, kind::BATCH_PART, 0);
    r[p].2["payments"][0]["payee"] = json!("participant:p-0002");
    let s = index_of(&r, kind::BATCH_SUBMIT, 0);
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(s), "digest_mismatch")));
}

#[test]
fn sending_before_full_approval_fails_batch_not_approved() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_APPROVE, 1);
    r.remove(i);
    let f = index_of(&r, kind::BATCH_FILE, 0);
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(f), "batch_not_approved")));
}

#[test]
fn sending_by_the_preparer_fails_own_batch() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_SEND, 0);
    r[i].1 = "user:prep";
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i), "own_batch")));
}

#[test]
fn sending_with_an_unrecorded_file_fails_unknown_file() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_SEND, 0);
    r[i].2["file"] = json!("33".repeat(32));
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i), "unknown_file")));
}

#[test]
fn an_unbalanced_sending_fails_like_a_transaction() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_SEND, 0);
    r[i] = send("59.00");
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i), "unbalanced")));
}

#[test]
fn a_reused_end_to_end_id_and_a_reimported_file_are_refused() {
    let mut r = journal();
    let mut second = part();
    second.batch = crate::programme::Id::parse("B000002").expect("valid");
    let mut h2 = header();
    h2.batch = second.batch.clone();
    r.push((
        kind::BATCH_CREATE,
        "user:prep",
        serde_json::to_value(h2).expect("json"),
    ));
    r.push((
        kind::BATCH_PART,
        "user:prep",
        serde_json::to_value(second).expect("json"),
    ));
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(r.len() - 1), "duplicate_end_to_end_id"))
    );
    let mut r = journal();
    let i = index_of(&r, kind::BANK_IMPORT, 0);
    r.push(r[i].clone());
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(r.len() - 1), "already_imported"))
    );
}

#[test]
fn a_body_with_an_unknown_field_fails_invalid_body_for_every_disbursement_kind() {
    let plain = journal();
    let mut seen = Vec::new();
    for (i, (k, _, _)) in plain.iter().enumerate() {
        if !disburse::is_disburse_kind(k) {
            continue;
        }
        let mut r = journal();
        r[i].2["extra"] = json!(1);
        assert_eq!(
            verdict(&r).map(|_| ()),
            Err((seq(i), rule::INVALID_BODY)),
            "{k}"
        );
        seen.push(*k);
    }
    // The kinds this journal does not hold: a config, a rejection and a cancellation.
    let mut r = journal();
    r.truncate(index_of(&r, kind::BATCH_APPROVE, 0));
    for (k, body) in [
        (
            kind::DISBURSEMENT_CONFIG,
            json!({"award": AWARD, "debtor": {"name": "HIAS", "account": "2100456789"},
                   "dual_approval_above": "25000.00", "extra": 1}),
        ),
        (
            kind::BATCH_REJECT,
            json!({"batch": "B000001", "award": AWARD, "digest": digest(), "reason": "no", "extra": 1}),
        ),
        (
            kind::BATCH_CANCEL,
            json!({"batch": "B000001", "award": AWARD, "reason": "no", "extra": 1}),
        ),
    ] {
        let mut r2 = r.clone();
        r2.push((k, "user:ana", body));
        assert_eq!(
            verdict(&r2).map(|_| ()),
            Err((seq(r2.len() - 1), rule::INVALID_BODY)),
            "{k}"
        );
        seen.push(k);
    }
    seen.sort_unstable();
    seen.dedup();
    let mut every: Vec<&str> = kind::ALL
        .iter()
        .copied()
        .filter(|k| disburse::is_disburse_kind(k))
        .collect();
    every.sort_unstable();
    assert_eq!(seen, every);
}

/// `journal()` up to the batch, then a batch of two payments (60.00 to p-0001 for seq 7,
/// 40.00 to p-0002 for seq 11) in two parts, and a third part of one exception only; approved
/// by two, its file recorded and both parts sent; then both confirmed.
fn multipart() -> Vec<Rec> {
    let mut r = journal();
    r.truncate(index_of(&r, kind::BATCH_CREATE, 0));
    r.push((
        kind::ACCOUNT_OPEN,
        "admin",
        json!({"name": PAYABLE2, "type": "liability"}),
    ));
    r.push(entitlement("p-0002", "40.00", None));
    assert_eq!(r.len(), 11, "the second entitlement is seq 11");
    let header: BatchCreateBody = serde_json::from_value(json!({
        "batch": "B000001", "award": AWARD, "currency": "USD", "filter": {},
        "payments": 2, "total": "100.00", "exceptions": 1, "parts": 3
    }))
    .expect("valid");
    let parts: Vec<BatchPartBody> = [
        json!([{"e2e": "B000001-000001", "payee": "participant:p-0001", "amount": "60.00", "entitlements": [7]}]),
        json!([{"e2e": "B000001-000002", "payee": "participant:p-0002", "amount": "40.00", "entitlements": [11]}]),
        json!([]),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, payments)| {
        let exceptions = if n == 2 {
            json!([{"payee": "participant:p-0003", "amount": "10.00", "reason": "no_bank_account"}])
        } else {
            json!([])
        };
        serde_json::from_value(json!({"batch": "B000001", "award": AWARD, "part": n,
            "payments": payments, "exceptions": exceptions}))
        .expect("valid")
    })
    .collect();
    let digest = batch_digest(&header, &parts);
    r.push((
        kind::BATCH_CREATE,
        "user:prep",
        serde_json::to_value(&header).expect("json"),
    ));
    for p in &parts {
        r.push((
            kind::BATCH_PART,
            "user:prep",
            serde_json::to_value(p).expect("json"),
        ));
    }
    r.push((
        kind::BATCH_SUBMIT,
        "user:prep",
        json!({"batch": "B000001", "award": AWARD, "digest": digest, "approvals_required": 2}),
    ));
    for a in ["user:ana", "user:beto"] {
        r.push((
            kind::BATCH_APPROVE,
            a,
            json!({"batch": "B000001", "award": AWARD, "digest": digest}),
        ));
    }
    r.push((
        kind::BATCH_FILE,
        "user:prep",
        json!({"batch": "B000001", "award": AWARD, "format": "pain.001.001.09", "sha256": FILE,
               "message_id": "B000001-F1", "created_at": "2026-04-01T10:00:00.000000Z",
               "execution_date": "2026-04-02", "payments": 2, "control_sum": "100.00"}),
    ));
    for (part, payable, amount) in [(0, PAYABLE, "60.00"), (1, PAYABLE2, "40.00")] {
        r.push(send_part(part, payable, amount));
    }
    r.push((
        kind::BANK_IMPORT,
        "user:prep",
        json!({"award": AWARD, "format": "camt.053", "sha256": "22".repeat(32), "lines": 2,
               "outcomes": 2, "exceptions": 0, "parts": 1}),
    ));
    r.push((
        kind::BANK_STATUS,
        "user:prep",
        json!({"award": AWARD, "import": "22".repeat(32), "part": 0,
               "outcomes": [
                   {"e2e": "B000001-000001", "status": "confirmed", "amount": "60.00", "line": 3},
                   {"e2e": "B000001-000002", "status": "confirmed", "amount": "40.00", "line": 4}],
               "exceptions": [],
               "postings": [
                   {"account": TRANSIT, "currency": "USD", "side": "debit", "amount": "100.00"},
                   {"account": BANK, "currency": "USD", "side": "credit", "amount": "100.00"}]}),
    ));
    r
}

fn send_part(part: u32, payable: &str, amount: &str) -> Rec {
    (
        kind::BATCH_SEND,
        "user:ana",
        json!({"batch": "B000001", "award": AWARD, "part": part, "file": FILE, "postings": [
            {"account": payable, "currency": "USD", "side": "debit", "amount": amount},
            {"account": TRANSIT, "currency": "USD", "side": "credit", "amount": amount}]}),
    )
}

#[test]
fn a_batch_sent_in_several_parts_verifies() {
    let s = verdict(&multipart()).expect("valid");
    assert_eq!(
        (s.batches, s.payments, s.approvals, s.bank_imports),
        (1, 2, 2, 1)
    );
}

#[test]
fn the_parts_of_a_batch_are_sent_in_order_and_only_those_holding_payments() {
    // Part 1 before part 0.
    let mut r = multipart();
    let i = index_of(&r, kind::BATCH_SEND, 0);
    r.swap(i, i + 1);
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i), "part_out_of_order")));
    // The part of exceptions only is never sent: the batch is sent already.
    let mut r = multipart();
    let i = index_of(&r, kind::BATCH_SEND, 1);
    let mut extra = send_part(2, PAYABLE, "1.00");
    extra.2["postings"] = json!([]);
    r.insert(i + 1, extra);
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(i + 1), "batch_not_approved"))
    );
    // A confirmation before its part was sent is not allowed from pending.
    let mut r = multipart();
    let i = index_of(&r, kind::BATCH_SEND, 1);
    let send = r.remove(i);
    r.push(send);
    let status = index_of(&r, kind::BANK_STATUS, 0);
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(status), "status_not_allowed"))
    );
}

#[test]
fn a_batch_asks_for_the_approvals_its_total_needs() {
    // 60.00 is above the award's 50.00: one approval is not enough.
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_SUBMIT, 0);
    r[i].2["approvals_required"] = json!(1);
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(i), "wrong_approvals_required"))
    );
}

#[test]
fn a_bank_file_holds_the_batch_and_is_recorded_once_per_format() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_FILE, 0);
    r[i].2["control_sum"] = json!("61.00");
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(i), "file_does_not_match_batch"))
    );
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_FILE, 0);
    let mut again = r[i].clone();
    again.2["sha256"] = json!("44".repeat(32));
    again.2["message_id"] = json!("B000001-F2");
    r.insert(i + 1, again);
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i + 1), "file_exists")));
}

#[test]
fn an_entitlement_is_claimed_by_one_live_payment_at_a_time() {
    // A second batch claiming seq 7 while the first holds it.
    let mut r = journal();
    let mut h2 = header();
    h2.batch = crate::programme::Id::parse("B000002").expect("valid");
    let mut p2 = part();
    p2.batch = h2.batch.clone();
    p2.payments[0].e2e = "B000002-000001".into();
    let create = index_of(&r, kind::BATCH_SUBMIT, 0);
    r.insert(
        create,
        (
            kind::BATCH_CREATE,
            "user:prep",
            serde_json::to_value(&h2).expect("json"),
        ),
    );
    r.insert(
        create + 1,
        (
            kind::BATCH_PART,
            "user:prep",
            serde_json::to_value(&p2).expect("json"),
        ),
    );
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(create + 1), "payable_in_open_batch"))
    );
    // Once confirmed, it is paid.
    let mut r = journal();
    r.push((
        kind::BATCH_CREATE,
        "user:prep",
        serde_json::to_value(&h2).expect("json"),
    ));
    r.push((
        kind::BATCH_PART,
        "user:prep",
        serde_json::to_value(&p2).expect("json"),
    ));
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(r.len() - 1), "already_paid"))
    );
}

#[test]
fn reversing_an_entitlement_a_sent_payment_holds_fails_entitlement_paid() {
    // After the sending, and after the confirmation.
    for after in [kind::BATCH_SEND, kind::BANK_STATUS] {
        let mut r = journal();
        let i = index_of(&r, after, 0);
        r.insert(i + 1, entitlement("p-0001", "60.00", Some(7)));
        assert_eq!(
            verdict(&r).map(|_| ()),
            Err((seq(i + 1), "entitlement_paid")),
            "after {after}"
        );
    }
    // Also in a batch of several parts, for the payment of the second part once sent.
    let mut r = multipart();
    let i = index_of(&r, kind::BATCH_SEND, 1);
    r.insert(i + 1, entitlement("p-0002", "40.00", Some(11)));
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(i + 1), "entitlement_paid"))
    );
}

#[test]
fn reversing_an_entitlement_a_pending_payment_holds_stops_its_batch() {
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_PART, 0);
    r.insert(i + 1, entitlement("p-0001", "60.00", Some(7)));
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(i + 2), "entitlement_reversed"))
    );
    // A reversal before the batch: the entitlement is no longer payable.
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_CREATE, 0);
    r.insert(i, entitlement("p-0001", "60.00", Some(7)));
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(i + 2), "entitlement_reversed"))
    );
}

#[test]
fn an_outcome_follows_its_payments_state_and_amount() {
    let mut r = journal();
    let i = index_of(&r, kind::BANK_STATUS, 0);
    r[i].2["outcomes"][0]["amount"] = json!("61.00");
    assert_eq!(verdict(&r).map(|_| ()), Err((seq(i), "amount_mismatch")));
    let mut r = journal();
    let i = index_of(&r, kind::BANK_STATUS, 0);
    r[i].2["outcomes"][0]["e2e"] = json!("B000009-000001");
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(i), "unknown_end_to_end_id"))
    );
}

/// The receivable account of p-0001 opened, then a recovery of `amount` of the entitlement at
/// seq 7.
fn recovery(amount: &str) -> [Rec; 2] {
    let receivable = format!("receivable:{AWARD}:participant:p-0001");
    [
        (
            kind::ACCOUNT_OPEN,
            "ledger",
            json!({"name": receivable, "type": "asset"}),
        ),
        (
            kind::ENTITLEMENT,
            "ledger",
            json!({
                "award": AWARD, "participant": "p-0001", "basis": "c4t:2026-03", "rule": "c4t",
                "version": 1, "evidence": [], "memo": "recovery: two absences corrected",
                "adjusts": 7,
                "postings": [
                    {"account": receivable, "currency": "USD", "side": "debit", "amount": amount},
                    {"account": EXPENSE, "currency": "USD", "side": "credit", "amount": amount}]
            }),
        ),
    ]
}

#[test]
fn a_paid_entitlement_is_adjusted_and_an_unpaid_one_is_not() {
    // Before the batch is sent the entitlement is not paid: it is reversed, never adjusted.
    let mut r = journal();
    let i = index_of(&r, kind::BATCH_SEND, 0);
    let [open, rec] = recovery("12.00");
    r.insert(i, rec);
    r.insert(i, open);
    assert_eq!(
        verdict(&r).map(|_| ()),
        Err((seq(i + 1), "entitlement_not_paid"))
    );
    // Once sent, a recovery is how it is corrected.
    for after in [kind::BATCH_SEND, kind::BANK_STATUS] {
        let mut r = journal();
        let i = index_of(&r, after, 0);
        let [open, rec] = recovery("12.00");
        r.insert(i + 1, rec);
        r.insert(i + 1, open);
        assert!(verdict(&r).is_ok(), "after {after}: {:?}", verdict(&r));
    }
}
