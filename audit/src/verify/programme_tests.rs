//! The programme records in the verifier: a small valid programme journal, then one fault at a
//! time, each named by its seq and rule (and reached identically by the fast and the reference
//! decoders, as `rule_of` checks).

use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

use super::tests::{chain, open, rule_of, run};
use super::*;
use crate::programme::{
    partner_key_id, public_key_text, Date, EvidenceItem, Id, KeyAction, PartnerKeyBody, Presence,
    Statement,
};

const AWARD: &str = "bprm-ec-2026";
const PARTNER: &str = "hias";
const OTHER: &str = "other-ngo";
const EXPENSE: &str = "expense:bprm-ec-2026:c4t";
const PAYABLE: &str = "payable:bprm-ec-2026:participant:p-0001";

fn id(text: &str) -> Id {
    Id::parse(text).expect("a valid id")
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn key_id(n: u8) -> String {
    partner_key_id(&key(n).verifying_key())
}

/// A journal under construction: `push` returns the seq the record will have (the genesis
/// `ledger.key` that `chain` adds is seq 0).
#[derive(Default)]
struct Journal {
    records: Vec<(&'static str, Value)>,
}

impl Journal {
    fn push(&mut self, record: (&'static str, Value)) -> u64 {
        self.records.push(record);
        self.records.len() as u64
    }

    fn verdict(self) -> Result<(), (Option<u64>, &'static str)> {
        rule_of(self.records)
    }
}

fn award_open(award: &str, currency: &str, total: &str) -> (&'static str, Value) {
    (
        kind::AWARD_OPEN,
        json!({
            "award": award,
            "donor": "BPRM",
            "currency": currency,
            "total": total,
            "start": "2026-01-01",
            "end": "2026-12-31",
            "budget_lines": [
                {
                    "line": "c4t",
                    "name": "C4T stipend",
                    "authorised": total,
                    "participant_support": true
                }
            ]
        }),
    )
}

fn partner_register(partner: &str) -> (&'static str, Value) {
    (
        kind::PARTNER_REGISTER,
        json!({"partner": partner, "name": format!("Partner {partner}")}),
    )
}

fn partner_key(partner: &str, action: KeyAction, n: u8, replaces: Option<u8>) -> Value {
    let vk = key(n).verifying_key();
    let body = PartnerKeyBody {
        partner: id(partner),
        action,
        key_id: partner_key_id(&vk),
        public_key: (action != KeyAction::Revoke).then(|| public_key_text(&vk)),
        replaces: replaces.map(key_id),
    };
    serde_json::to_value(body).expect("plain data")
}

fn register_key(partner: &str, n: u8) -> (&'static str, Value) {
    (
        kind::PARTNER_KEY,
        partner_key(partner, KeyAction::Register, n, None),
    )
}

fn rotate_key(partner: &str, old: u8, new: u8) -> (&'static str, Value) {
    (
        kind::PARTNER_KEY,
        partner_key(partner, KeyAction::Rotate, new, Some(old)),
    )
}

fn revoke_key(partner: &str, n: u8) -> (&'static str, Value) {
    (
        kind::PARTNER_KEY,
        partner_key(partner, KeyAction::Revoke, n, None),
    )
}

fn statement(partner: &str, batch: &str) -> Statement {
    Statement {
        partner: id(partner),
        batch_id: id(batch),
        items: vec![
            EvidenceItem::Enrolment {
                participant: id("p-0001"),
                cohort: id("c-01"),
                date: Date::parse("2026-03-02").expect("a valid date"),
            },
            EvidenceItem::Attendance {
                participant: id("p-0001"),
                session: id("s-01"),
                status: Presence::Present,
            },
        ],
        submitted_at: "2026-03-08T12:00:00Z".into(),
    }
}

fn evidence_body(partner: &str, batch: &str, signed_with: u8) -> Value {
    let body = statement(partner, batch).sign(&key(signed_with));
    serde_json::to_value(body).expect("plain data")
}

fn evidence(partner: &str, batch: &str, signed_with: u8) -> (&'static str, Value) {
    (kind::EVIDENCE, evidence_body(partner, batch, signed_with))
}

fn rule_version(award: &str, amount: &str) -> (&'static str, Value) {
    (
        kind::RULE_VERSION,
        json!({
            "award": award,
            "rule": "c4t",
            "version": 1,
            "effective": "2026-03-01",
            "params": {
                "shape": "c4t-monthly",
                "line": "c4t",
                "amount": amount,
                "full_from_percent": 80,
                "partial_from_percent": 50,
                "cap": "600.00"
            }
        }),
    )
}

fn entitlement(evidence: &[u64], debit: &str, credit: &str) -> (&'static str, Value) {
    (
        kind::ENTITLEMENT,
        json!({
            "award": AWARD,
            "participant": "p-0001",
            "basis": "c4t:2026-03",
            "rule": "c4t",
            "version": 1,
            "evidence": evidence,
            "memo": "C4T 2026-03 p-0001",
            "postings": [
                {"account": EXPENSE, "side": "debit", "amount": debit, "currency": "USD"},
                {"account": PAYABLE, "side": "credit", "amount": credit, "currency": "USD"}
            ]
        }),
    )
}

fn cycle_run() -> (&'static str, Value) {
    (
        kind::CYCLE_RUN,
        json!({
            "award": AWARD,
            "period": "2026-03",
            "entitlements": 1,
            "reversals": 0,
            "exceptions": 0,
            "report_sha256": "ab".repeat(32)
        }),
    )
}

/// The accounts, the award, a partner with key 7, a cohort with one session, one participant:
/// everything evidence needs.
fn setup() -> Journal {
    let mut j = Journal::default();
    for (name, t) in [
        ("bank:bprm-ec-2026", "asset"),
        ("fund:bprm-ec-2026", "equity"),
        (EXPENSE, "expense"),
        (PAYABLE, "liability"),
    ] {
        j.push(open(name, t));
    }
    j.push(award_open(AWARD, "USD", "1000.00"));
    j.push(partner_register(PARTNER));
    j.push(register_key(PARTNER, 7));
    j.push((
        kind::COHORT_OPEN,
        json!({
            "cohort": "c-01",
            "award": AWARD,
            "partner": PARTNER,
            "pathway": "employability",
            "name": "Quito employability, March 2026"
        }),
    ));
    j.push((
        kind::SESSION_SCHEDULE,
        json!({"cohort": "c-01", "sessions": [{"session": "s-01", "date": "2026-03-03"}]}),
    ));
    j.push((
        kind::PARTICIPANT_REGISTER,
        json!({
            "participant": "p-0001",
            "award": AWARD,
            "partner": PARTNER,
            "commitment": "0f".repeat(32)
        }),
    ));
    j
}

/// `setup`, then signed evidence, a rule version, an entitlement from that evidence and a cycle.
fn full() -> Journal {
    let mut j = setup();
    let e = j.push(evidence(PARTNER, "2026-03-w1", 7));
    j.push(rule_version(AWARD, "60.00"));
    j.push(entitlement(&[e], "60.00", "60.00"));
    j.push(cycle_run());
    j
}

#[test]
fn a_programme_journal_verifies_and_is_counted() {
    let j = full();
    let signer = crate::synth::signer();
    let lines = chain(j.records.clone(), &signer);
    let s = run(&lines, &signer).expect("a valid programme journal");
    assert_eq!(
        (
            s.records,
            s.transactions,
            s.accounts,
            s.evidence_statements,
            s.evidence_items,
            s.partner_keys,
            s.entitlements
        ),
        (15, 0, 4, 1, 2, 1, 1)
    );
    let moved: Vec<(String, String)> = s
        .moved_minor
        .iter()
        .map(|(c, m)| (c.code().to_string(), format_minor(*m, *c)))
        .collect();
    assert_eq!(moved, vec![("USD".into(), "60.00".into())]);
    let v = s.to_json();
    assert_eq!(
        (
            &v["evidence_statements"],
            &v["evidence_items"],
            &v["partner_keys"],
            &v["entitlements"],
            &v["transactions"]
        ),
        (&json!(1), &json!(2), &json!(1), &json!(1), &json!(0))
    );
    // The reference decoder reaches the same verdict.
    assert_eq!(j.verdict(), Ok(()));
}

#[test]
fn a_statement_changed_after_signing_fails_evidence_bad_signature() {
    let mut j = setup();
    let mut body = evidence_body(PARTNER, "2026-03-w1", 7);
    body["statement"]["items"][1]["status"] = json!("absent");
    let at = j.push((kind::EVIDENCE, body));
    assert_eq!(j.verdict(), Err((Some(at), rule::EVIDENCE_BAD_SIGNATURE)));

    // A signature by another key, under the registered key's id, fails the same way.
    let mut j = setup();
    let mut body = evidence_body(PARTNER, "2026-03-w1", 8);
    body["key_id"] = json!(key_id(7));
    let at = j.push((kind::EVIDENCE, body));
    assert_eq!(j.verdict(), Err((Some(at), rule::EVIDENCE_BAD_SIGNATURE)));
}

#[test]
fn evidence_signed_with_an_unregistered_key_fails_evidence_unknown_key() {
    let mut j = setup();
    let at = j.push(evidence(PARTNER, "2026-03-w1", 9));
    assert_eq!(j.verdict(), Err((Some(at), rule::EVIDENCE_UNKNOWN_KEY)));
}

#[test]
fn evidence_after_its_key_was_revoked_fails_evidence_key_revoked() {
    let mut j = setup();
    let ok = j.push(evidence(PARTNER, "2026-03-w1", 7));
    j.push(revoke_key(PARTNER, 7));
    let at = j.push(evidence(PARTNER, "2026-03-w2", 7));
    assert!(ok < at);
    assert_eq!(j.verdict(), Err((Some(at), rule::EVIDENCE_KEY_REVOKED)));
}

#[test]
fn evidence_signed_with_another_partners_key_fails_evidence_wrong_partner_key() {
    let mut j = setup();
    j.push(partner_register(OTHER));
    j.push(register_key(OTHER, 8));
    let at = j.push(evidence(PARTNER, "2026-03-w1", 8));
    assert_eq!(
        j.verdict(),
        Err((Some(at), rule::EVIDENCE_WRONG_PARTNER_KEY))
    );
}

#[test]
fn evidence_after_a_rotation_verifies_with_the_new_key_only() {
    let mut j = setup();
    j.push(rotate_key(PARTNER, 7, 8));
    j.push(evidence(PARTNER, "2026-03-w1", 8));
    let at = j.push(evidence(PARTNER, "2026-03-w2", 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::EVIDENCE_KEY_REVOKED)));

    let mut j = setup();
    j.push(rotate_key(PARTNER, 7, 8));
    j.push(evidence(PARTNER, "2026-03-w1", 8));
    let signer = crate::synth::signer();
    let s = run(&chain(j.records.clone(), &signer), &signer).expect("valid");
    assert_eq!((s.partner_keys, s.evidence_statements), (2, 1));
    assert_eq!(j.verdict(), Ok(()));
}

#[test]
fn a_partner_uses_each_batch_id_once() {
    let mut j = setup();
    j.push(evidence(PARTNER, "2026-03-w1", 7));
    let at = j.push(evidence(PARTNER, "2026-03-w1", 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::DUPLICATE_BATCH)));

    // Another partner may use the same batch id.
    let mut j = setup();
    j.push(partner_register(OTHER));
    j.push(register_key(OTHER, 8));
    j.push(evidence(PARTNER, "2026-03-w1", 7));
    j.push(evidence(OTHER, "2026-03-w1", 8));
    assert_eq!(j.verdict(), Ok(()));
}

#[test]
fn a_body_with_an_unknown_field_fails_invalid_body_for_every_programme_kind() {
    let plain = full();
    let mut seen = Vec::new();
    for (i, (k, _)) in plain.records.iter().enumerate() {
        if *k == kind::ACCOUNT_OPEN {
            continue;
        }
        let mut j = full();
        j.records[i].1["extra"] = json!(1);
        let seq = i as u64 + 1;
        assert_eq!(j.verdict(), Err((Some(seq), rule::INVALID_BODY)), "{k}");
        seen.push(*k);
    }
    // Unknown fields deeper in the body too.
    let mut j = setup();
    let mut body = evidence_body(PARTNER, "2026-03-w1", 7);
    body["statement"]["items"][0]["note"] = json!("x");
    let at = j.push((kind::EVIDENCE, body));
    assert_eq!(j.verdict(), Err((Some(at), rule::INVALID_BODY)));
    let mut j = setup();
    let (k, mut body) = rule_version(AWARD, "60.00");
    body["params"]["bonus"] = json!("1.00");
    let at = j.push((k, body));
    assert_eq!(j.verdict(), Err((Some(at), rule::INVALID_BODY)));
    seen.sort_unstable();
    let mut every: Vec<&str> = kind::ALL
        .iter()
        .copied()
        .filter(|k| {
            ![
                kind::LEDGER_KEY,
                kind::LEDGER_ROTATE,
                kind::ACCOUNT_OPEN,
                kind::ACCOUNT_CLOSE,
                kind::TRANSACTION,
                // A close names the tree before it and a quarter ended by its time: the
                // ledger's scenario of closed periods covers both (tests/integration/periods.rs).
                kind::PERIOD_CLOSE,
                kind::PERIOD_REOPEN,
            ]
            .contains(k)
                // The disbursement kinds have their own test (disburse_tests).
                && !crate::verify::disburse::is_disburse_kind(k)
        })
        .collect();
    every.sort_unstable();
    assert_eq!(seen, every);
}

#[test]
fn an_unbalanced_entitlement_fails_like_a_transaction() {
    let with = |postings: (&str, &str)| {
        let mut j = setup();
        let e = j.push(evidence(PARTNER, "2026-03-w1", 7));
        j.push(rule_version(AWARD, "60.00"));
        let at = j.push(entitlement(&[e], postings.0, postings.1));
        (j, at)
    };
    let (j, at) = with(("60.00", "50.00"));
    assert_eq!(j.verdict(), Err((Some(at), "unbalanced")));
    let (j, at) = with(("60.00", "60.0"));
    assert_eq!(j.verdict(), Err((Some(at), "non_canonical_amount")));

    // Accounts must be open.
    let mut j = setup();
    let mut t = entitlement(&[], "60.00", "60.00");
    t.1["postings"][1]["account"] = json!("payable:bprm-ec-2026:participant:p-0002");
    let at = j.push(t);
    assert_eq!(j.verdict(), Err((Some(at), rule::UNKNOWN_ACCOUNT)));

    // A reversal points backwards, and so does the evidence it cites.
    let mut j = setup();
    let mut t = entitlement(&[], "60.00", "60.00");
    t.1["reverses"] = json!(99);
    let at = j.push(t);
    assert_eq!(j.verdict(), Err((Some(at), rule::REVERSES_NOT_EARLIER)));
    let mut j = setup();
    let at = j.push(entitlement(&[3, 99], "60.00", "60.00"));
    assert_eq!(j.verdict(), Err((Some(at), rule::EVIDENCE_NOT_EARLIER)));
    let mut j = setup();
    let at = j.push(entitlement(&[5, 3], "60.00", "60.00"));
    assert_eq!(j.verdict(), Err((Some(at), "unsorted_refs")));
    // An adjustment points backwards too, and never also reverses.
    let mut j = setup();
    let mut t = entitlement(&[], "60.00", "60.00");
    t.1["adjusts"] = json!(99);
    let at = j.push(t);
    assert_eq!(j.verdict(), Err((Some(at), rule::ADJUSTS_NOT_EARLIER)));
    let mut j = setup();
    let mut t = entitlement(&[], "60.00", "60.00");
    t.1["adjusts"] = json!(1);
    t.1["reverses"] = json!(1);
    let at = j.push(t);
    assert_eq!(j.verdict(), Err((Some(at), "reversal_and_adjustment")));

    // An entitlement and its reversal both count.
    let mut j = setup();
    let first = j.push(entitlement(&[], "60.00", "60.00"));
    let mut reversal = entitlement(&[], "60.00", "60.00");
    reversal.1["postings"][0]["side"] = json!("credit");
    reversal.1["postings"][1]["side"] = json!("debit");
    reversal.1["reverses"] = json!(first);
    j.push(reversal);
    let signer = crate::synth::signer();
    let s = run(&chain(j.records.clone(), &signer), &signer).expect("valid");
    assert_eq!((s.entitlements, s.transactions), (2, 0));
    assert_eq!(j.verdict(), Ok(()));
}

#[test]
fn the_partner_key_history_rules_hold() {
    // A partner registers once, before its keys.
    let mut j = Journal::default();
    let at = j.push(register_key(PARTNER, 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::UNKNOWN_PARTNER)));
    let mut j = setup();
    let at = j.push(partner_register(PARTNER));
    assert_eq!(j.verdict(), Err((Some(at), rule::PARTNER_REGISTERED_TWICE)));

    // A key id is registered once, whoever registers it again, and rotated in once.
    let mut j = setup();
    let at = j.push(register_key(PARTNER, 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::KEY_REGISTERED_TWICE)));
    let mut j = setup();
    j.push(partner_register(OTHER));
    let at = j.push(register_key(OTHER, 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::KEY_REGISTERED_TWICE)));
    let mut j = setup();
    j.push(revoke_key(PARTNER, 7));
    let at = j.push(register_key(PARTNER, 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::KEY_REGISTERED_TWICE)));
    let mut j = setup();
    j.push(register_key(PARTNER, 8));
    let at = j.push(rotate_key(PARTNER, 7, 8));
    assert_eq!(j.verdict(), Err((Some(at), rule::KEY_REGISTERED_TWICE)));

    // Revoking or replacing needs a registered, unrevoked key of the same partner.
    let mut j = setup();
    let at = j.push(revoke_key(PARTNER, 9));
    assert_eq!(j.verdict(), Err((Some(at), rule::UNKNOWN_KEY)));
    let mut j = setup();
    let at = j.push(rotate_key(PARTNER, 9, 8));
    assert_eq!(j.verdict(), Err((Some(at), rule::UNKNOWN_KEY)));
    let mut j = setup();
    j.push(partner_register(OTHER));
    let at = j.push(revoke_key(OTHER, 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::KEY_OF_ANOTHER_PARTNER)));
    let mut j = setup();
    j.push(partner_register(OTHER));
    let at = j.push(rotate_key(OTHER, 7, 8));
    assert_eq!(j.verdict(), Err((Some(at), rule::KEY_OF_ANOTHER_PARTNER)));
    let mut j = setup();
    j.push(revoke_key(PARTNER, 7));
    let at = j.push(revoke_key(PARTNER, 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::KEY_ALREADY_REVOKED)));
    let mut j = setup();
    j.push(rotate_key(PARTNER, 7, 8));
    let at = j.push(rotate_key(PARTNER, 7, 9));
    assert_eq!(j.verdict(), Err((Some(at), rule::KEY_ALREADY_REVOKED)));

    // The stateless rules of the body come first, with their own codes.
    let mut j = setup();
    let (k, mut body) = register_key(PARTNER, 8);
    body["key_id"] = json!(key_id(9));
    let at = j.push((k, body));
    assert_eq!(j.verdict(), Err((Some(at), "key_id_mismatch")));
}

#[test]
fn a_rule_version_is_checked_at_its_awards_currency() {
    let mut j = setup();
    let at = j.push(rule_version("no-such-award", "60.00"));
    assert_eq!(j.verdict(), Err((Some(at), rule::UNKNOWN_AWARD)));
    let mut j = setup();
    let at = j.push(rule_version(AWARD, "60.001"));
    assert_eq!(j.verdict(), Err((Some(at), "too_many_decimals")));
    let mut j = setup();
    let at = j.push(rule_version(AWARD, "60"));
    assert_eq!(j.verdict(), Err((Some(at), "non_canonical_amount")));

    // In a currency without minor units, "60" is the canonical amount (and the cap "600").
    let mut j = setup();
    j.push(award_open("clp-award", "CLP", "100000"));
    let (k, mut body) = rule_version("clp-award", "60");
    body["params"]["cap"] = json!("600");
    j.push((k, body));
    assert_eq!(j.verdict(), Ok(()));
}

#[test]
fn the_other_programme_records_are_checked_against_their_rules() {
    // Stateless rules, with the codes of `programme`.
    let mut j = setup();
    let (k, mut body) = award_open("second-award", "USD", "1000.00");
    body["total"] = json!("900.00");
    let at = j.push((k, body));
    assert_eq!(j.verdict(), Err((Some(at), "budget_does_not_add_up")));
    let mut j = setup();
    let at = j.push((
        kind::SESSION_SCHEDULE,
        json!({"cohort": "c-01", "sessions": []}),
    ));
    assert_eq!(j.verdict(), Err((Some(at), "invalid_sessions")));
    let mut j = setup();
    let (k, mut body) = cycle_run();
    body["report_sha256"] = json!("AB".repeat(32));
    let at = j.push((k, body));
    assert_eq!(j.verdict(), Err((Some(at), rule::INVALID_DIGEST)));
    let mut j = setup();
    let (k, mut body) = cycle_run();
    body["award"] = json!("not an id");
    let at = j.push((k, body));
    assert_eq!(j.verdict(), Err((Some(at), "invalid_id")));

    // Awards and partners are opened once and named only once open.
    let mut j = setup();
    let at = j.push(award_open(AWARD, "USD", "1000.00"));
    assert_eq!(j.verdict(), Err((Some(at), rule::AWARD_OPENED_TWICE)));
    let mut j = setup();
    let at = j.push((
        kind::PARTICIPANT_REGISTER,
        json!({
            "participant": "p-0002",
            "award": AWARD,
            "partner": OTHER,
            "commitment": "0f".repeat(32)
        }),
    ));
    assert_eq!(j.verdict(), Err((Some(at), rule::UNKNOWN_PARTNER)));
    let mut j = setup();
    let at = j.push(evidence(OTHER, "2026-03-w1", 7));
    assert_eq!(j.verdict(), Err((Some(at), rule::UNKNOWN_PARTNER)));
    let mut j = setup();
    let (k, mut body) = cycle_run();
    body["award"] = json!("other-award");
    let at = j.push((k, body));
    assert_eq!(j.verdict(), Err((Some(at), rule::UNKNOWN_AWARD)));
}

#[test]
fn programme_records_are_left_to_the_reference_decoder() {
    let signer = crate::synth::signer();
    for line in chain(full().records, &signer).iter().skip(5) {
        assert!(fast::parse(line).is_none());
        let view = reference_view(line).expect("a well-formed record");
        assert!(
            matches!(view.body, Body::Programme(_) | Body::Entitlement(_)),
            "{view:?}"
        );
    }
}

/// The evidence signing example of `docs/FORMAT.md` (§2.12): the documented bytes are these.
#[test]
fn the_documented_evidence_example_holds() {
    let statement = Statement {
        partner: id("hias"),
        batch_id: id("2026-03-w1"),
        items: vec![EvidenceItem::Attendance {
            participant: id("p-0001"),
            session: id("s-01"),
            status: Presence::Present,
        }],
        submitted_at: "2026-03-08T12:00:00Z".into(),
    };
    let vk = key(7).verifying_key();
    assert_eq!(
        public_key_text(&vk),
        "6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw="
    );
    assert_eq!(
        hex::encode(vk.as_bytes()),
        "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
    );
    assert_eq!(partner_key_id(&vk), "fe812c12f3ab4ce6");
    assert_eq!(
        statement.signed_message(),
        b"tranche/evidence/v1\n{\"batch_id\":\"2026-03-w1\",\"items\":[{\"participant\":\"p-0001\",\
          \"session\":\"s-01\",\"status\":\"present\",\"type\":\"attendance\"}],\"partner\":\"hias\",\
          \"submitted_at\":\"2026-03-08T12:00:00Z\"}"
    );
    let body = serde_json::to_value(statement.sign(&key(7))).expect("plain data");
    let bytes = crate::record::canonical_bytes(&body).expect("canonical");
    assert_eq!(
        String::from_utf8(bytes).expect("utf-8"),
        r#"{"key_id":"fe812c12f3ab4ce6","signature":"n8Va80KSqG2UboCb4APo2o5hIige6MezTvemBcz55GBjzz+x4WXb3kJFOMBbuO1achKFu9WbDwZudYMSZUgTAw==","statement":{"batch_id":"2026-03-w1","items":[{"participant":"p-0001","session":"s-01","status":"present","type":"attendance"}],"partner":"hias","submitted_at":"2026-03-08T12:00:00Z"}}"#
    );
    let key_body = partner_key(PARTNER, KeyAction::Register, 7, None);
    let bytes = crate::record::canonical_bytes(&key_body).expect("canonical");
    assert_eq!(
        String::from_utf8(bytes).expect("utf-8"),
        r#"{"action":"register","key_id":"fe812c12f3ab4ce6","partner":"hias","public_key":"6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw="}"#
    );
}

#[test]
fn an_awards_own_lists_verify_and_a_list_with_a_repeat_fails_invalid_vocabulary() {
    // Lists of its own: a journal with them verifies, as one without them (older awards) does.
    let mut j = setup();
    let (k, mut body) = award_open("second-award", "USD", "1000.00");
    body["provinces"] = json!(["Imbabura", "Carchi"]);
    body["pathways"] = json!(["employability"]);
    body["age_bands"] = json!(["18-24", "25-59"]);
    j.push((k, body.clone()));
    assert_eq!(j.verdict(), Ok(()));
    let mut j = setup();
    body["provinces"] = json!(["Imbabura", "imbabura"]);
    let at = j.push((k, body.clone()));
    assert_eq!(j.verdict(), Err((Some(at), "invalid_vocabulary")));
    let mut j = setup();
    body["provinces"] = json!("Imbabura");
    let at = j.push((k, body));
    assert_eq!(j.verdict(), Err((Some(at), rule::INVALID_BODY)));
}
