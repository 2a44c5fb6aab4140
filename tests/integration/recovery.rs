//! What has been paid is never reversed: on both backends, reversing an entitlement whose
//! payment the bank has is refused naming the payment, writing nothing; corrected evidence
//! after payment becomes a recovery (the payee's receivable, kept back from her next
//! entitlements) or a supplement; the payment reconciliation shows the recovery; every
//! reversal carries a reason; and the journal still verifies offline and rebuilds to the live
//! projections.

use serde_json::{json, Value};
use tranche_audit::programme::{EvidenceItem, Presence};
use tranche_tests::{server_on_both_backends, TestServer};

use super::disburse::{batch_to_bank, drawdown, e2e_of, earn, settings, tokens};
use super::programme::{id, month, setup, Scn, AWARD};

fn live_seq(scn: &Scn, who: &str, basis: &str) -> (u64, Value) {
    let r = scn
        .preparer
        .get(&format!("/v1/participants/{}", scn.p[who]));
    assert_eq!(r.status, 200, "{}", r.body);
    let e = r.json()["entitlements"]
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["basis"] == basis)
        .unwrap_or_else(|| panic!("{who} has no live {basis}"))
        .clone();
    (e["seq"].as_u64().expect("seq"), e)
}

fn corrections(scn: &Scn, who: &str, sessions: &[String], status: Presence) -> Vec<EvidenceItem> {
    sessions
        .iter()
        .map(|s| EvidenceItem::AttendanceCorrection {
            participant: scn.pid(who),
            session: id(s),
            status,
        })
        .collect()
}

fn exceptions_of<'a>(cycle: &'a Value, reason: &str) -> Vec<&'a Value> {
    cycle["exceptions"]
        .as_array()
        .expect("exceptions")
        .iter()
        .filter(|x| x["reason"] == reason)
        .collect()
}

/// The export verifies offline and `rebuild --check` finds no difference.
pub(crate) fn verifies_and_rebuilds(scn: &Scn) {
    let dir = tempfile::tempdir().expect("dir");
    scn.s
        .block_on(tranche_ledger::service::export::export_dir(
            &scn.s.ledger,
            dir.path(),
            |_, _| {},
        ))
        .expect("export");
    tranche_audit::verify::verify_dir(
        dir.path(),
        tranche_audit::verify::VerifyOptions {
            vkey: Some(scn.s.ledger.verifier().clone()),
            progress: None,
            reference_decoder: false,
        },
    )
    .expect("the export verifies");
    let check = scn
        .s
        .block_on(tranche_ledger::store::rebuild::check(
            scn.s.ledger.store(),
            scn.s.ledger.verifier(),
            |_, _| {},
        ))
        .expect("check runs");
    assert!(check.differences.is_empty(), "{:?}", check.differences);
}

fn a_paid_entitlement_is_recovered_never_reversed(s: TestServer) {
    let (scn, all) = setup(s);
    let (ana, beto, _) = tokens(&scn);
    earn(&scn, &all);
    drawdown(&scn, "1000.00");
    settings(&scn, "500.00");
    let b = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    let batch = b["batch"].as_str().expect("id").to_string();
    let r = scn.preparer.post(
        &format!("/v1/batches/{batch}/submit"),
        Some(&scn.key()),
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (sent, _) = batch_to_bank(&scn, &[&ana, &beto], &batch);
    let pa85 = format!("participant:{}", scn.p["a85"]);
    let e2e = e2e_of(&sent, &pa85);
    let (march, doc) = live_seq(&scn, "a85", "c4t:2026-03");
    assert_eq!(doc["amount"], "60.00");

    // The reversal that used to overpay: refused, naming the payment, nothing written.
    let before = scn.size();
    let r = scn.preparer.post(
        &format!("/v1/transactions/{march}/reverse"),
        Some(&scn.key()),
        r#"{"reason":"attendance sheet was wrong"}"#,
    );
    r.problem(422, "entitlement_paid", Some("reverses"));
    assert!(
        r.body.contains(&e2e),
        "the refusal names the payment: {}",
        r.body
    );
    assert_eq!(scn.size(), before, "a refusal writes nothing");
    // And without a reason, whatever it reverses.
    scn.refused(
        &scn.preparer,
        &format!("/v1/transactions/{march}/reverse"),
        &json!({}),
        422,
        "reason_required",
        Some("reason"),
    );

    // Corrected evidence after payment: 8 of a85's 20 March sessions were absences, so she was
    // entitled to 36.00, not 60.00. The cycle recovers 24.00 instead of reversing.
    let a_mar = month(&all, "emp-a", "2026-03");
    scn.evidence(
        "mar-fix",
        corrections(&scn, "a85", &a_mar[..8], Presence::Absent),
    );
    let rerun = scn.cycle("2026-03");
    let recovered = exceptions_of(&rerun, "recovered_after_payment");
    assert_eq!(recovered.len(), 1, "{rerun}");
    assert_eq!(recovered[0]["amount"], "24.00");
    assert!(
        recovered[0]["detail"]
            .as_str()
            .expect("detail")
            .contains(&e2e),
        "{rerun}"
    );
    let (still, doc) = live_seq(&scn, "a85", "c4t:2026-03");
    assert_eq!(still, march, "the paid entitlement stands");
    assert_eq!(
        (doc["amount"].as_str(), doc["effective"].as_str()),
        (Some("60.00"), Some("36.00"))
    );
    let receivable = format!("receivable:{AWARD}:participant:{}", scn.p["a85"]);
    assert_eq!(scn.balance(&receivable), (2_400, 0));
    // Run again: nothing more to do.
    let again = scn.cycle("2026-03");
    assert_eq!(again["entitlements"], 0, "{again}");
    assert_eq!(again["reversals"], 0, "{again}");

    // The recovery itself cannot be reversed, and the paid entitlement still cannot.
    let before = scn.size();
    scn.preparer
        .post(
            &format!("/v1/transactions/{march}/reverse"),
            Some(&scn.key()),
            r#"{"reason":"again"}"#,
        )
        .problem(422, "entitlement_paid", Some("reverses"));
    assert_eq!(scn.size(), before);

    // Then three sessions come back as attended: 15 of 20 is 75%, so 45.00 is due; 36.00 is
    // entitled, so the cycle adds a supplement of 9.00, kept back against the 24.00 owed.
    scn.evidence(
        "mar-fix-2",
        corrections(&scn, "a85", &a_mar[..3], Presence::Present),
    );
    let rerun = scn.cycle("2026-03");
    let sup = exceptions_of(&rerun, "supplemented_after_payment");
    assert_eq!(sup.len(), 1, "{rerun}");
    assert_eq!(sup[0]["amount"], "9.00");
    let kept = exceptions_of(&rerun, "deducted_for_recovery");
    assert_eq!(kept.len(), 1, "{rerun}");
    assert_eq!(kept[0]["amount"], "9.00");
    let (_, doc) = live_seq(&scn, "a85", "c4t:2026-03");
    assert_eq!(doc["effective"], "45.00");
    assert_eq!(doc["adjustments"].as_array().map(Vec::len), Some(2));
    assert_eq!(scn.balance(&receivable), (2_400, 900));

    // April: she attends all four sessions, 60.00 cut to 55.00 by the cap of 100.00 (45.00
    // for March); the 15.00 she still owes is kept back, so 40.00 becomes payable.
    let a_apr = month(&all, "emp-a", "2026-04");
    scn.evidence("apr", scn.attend("a85", &a_apr, Presence::Present));
    let apr = scn.cycle("2026-04");
    let kept = exceptions_of(&apr, "deducted_for_recovery");
    assert_eq!(kept.len(), 1, "{apr}");
    assert_eq!(kept[0]["amount"], "15.00");
    assert_eq!(scn.balance(&receivable), (2_400, 2_400));
    let payable = format!("payable:{AWARD}:participant:{}", scn.p["a85"]);
    let (d, c) = scn.balance(&payable);
    assert_eq!(c - d, 4_000, "March paid, 40.00 of April owed");

    // The next batch pays her exactly that; nothing is paid twice.
    let b2 = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    let pay = b2["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .find(|p| p["payee"] == pa85)
        .expect("a85 paid in April")
        .clone();
    assert_eq!(pay["amount"], "40.00", "{b2}");

    // The payment reconciliation shows the recovery and that nothing is owed any more.
    let rep = scn.preparer.get(&format!(
        "/v1/reports/payments?award={AWARD}&start=2026-01-01&end=2026-12-31"
    ));
    assert_eq!(rep.status, 200, "{}", rep.body);
    let rep = rep.json();
    let payments = &rep["report"]["body"];
    assert_eq!(
        payments["recovered"],
        json!({"count": 1, "amount": "24.00"}),
        "{payments}"
    );
    assert_eq!(payments["receivable"], "0.00", "{payments}");
    verifies_and_rebuilds(&scn);
}

fn a_recovery_by_hand_is_checked_like_every_record(s: TestServer) {
    let (scn, all) = setup(s);
    let (ana, beto, _) = tokens(&scn);
    earn(&scn, &all);
    drawdown(&scn, "1000.00");
    settings(&scn, "500.00");
    let (unpaid, _) = live_seq(&scn, "a100", "c4t:2026-03");
    // Not yet paid: reverse it instead.
    scn.refused(
        &scn.preparer,
        &format!("/v1/entitlements/{unpaid}/recover"),
        &json!({"amount": "10.00", "reason": "overpaid"}),
        422,
        "entitlement_not_paid",
        Some("adjusts"),
    );
    let b = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    let batch = b["batch"].as_str().expect("id").to_string();
    let r = scn.preparer.post(
        &format!("/v1/batches/{batch}/submit"),
        Some(&scn.key()),
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    batch_to_bank(&scn, &[&ana, &beto], &batch);
    let (paid, _) = live_seq(&scn, "a100", "c4t:2026-03");
    let path = format!("/v1/entitlements/{paid}/recover");
    for (body, code, field) in [
        (
            json!({"amount": "70.00", "reason": "overpaid"}),
            "recovery_above_entitlement",
            "postings",
        ),
        (
            json!({"amount": "10.00", "reason": "  "}),
            "reason_required",
            "reason",
        ),
        (
            json!({"amount": "10.001", "reason": "overpaid"}),
            "too_many_decimals",
            "amount",
        ),
        (
            json!({"amount": "0.00", "reason": "overpaid"}),
            "amount_not_positive",
            "amount",
        ),
    ] {
        let before = scn.size();
        let r = scn
            .preparer
            .post(&path, Some(&scn.key()), &body.to_string());
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        let p = r.json();
        assert_eq!(p["code"], code, "{body}: {p}");
        assert_eq!(p["field"], field, "{body}: {p}");
        assert_eq!(scn.size(), before, "{code}: something was written");
    }
    // Not an entitlement at all.
    scn.refused(
        &scn.preparer,
        "/v1/entitlements/1/recover",
        &json!({"amount": "10.00", "reason": "overpaid"}),
        422,
        "not_an_entitlement",
        Some("seq"),
    );
    // A partner may not.
    let before = scn.size();
    let r = scn.hias.post(
        &path,
        Some(&scn.key()),
        &json!({"amount": "10.00", "reason": "overpaid"}).to_string(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(scn.size(), before);

    // Never dated before the entitlement it recovers (March's, dated 2026-03-31).
    scn.refused(
        &scn.preparer,
        &path,
        &json!({"amount": "10.00", "reason": "overpaid", "date": "2026-03-30"}),
        422,
        "date_before_original",
        Some("date"),
    );
    let done = scn.ok(
        &scn.preparer,
        &path,
        &json!({"amount": "10.00", "reason": "paid for a session she missed", "date": "2026-04-20"}),
    );
    assert!(done["first_seq"].as_u64().is_some(), "{done}");
    let receivable = format!("receivable:{AWARD}:participant:{}", scn.p["a100"]);
    assert_eq!(scn.balance(&receivable), (1_000, 0));
    let (_, doc) = live_seq(&scn, "a100", "c4t:2026-03");
    assert_eq!(doc["effective"], "50.00");
    // A second one opens no second account and is capped by what is still entitled.
    scn.ok(
        &scn.preparer,
        &path,
        &json!({"amount": "50.00", "reason": "she attended none", "date": "2026-04-21"}),
    );
    scn.refused(
        &scn.preparer,
        &path,
        &json!({"amount": "0.01", "reason": "more"}),
        422,
        "recovery_above_entitlement",
        Some("postings"),
    );
    assert_eq!(scn.balance(&receivable), (6_000, 0));
    verifies_and_rebuilds(&scn);
}

server_on_both_backends!(
    a_paid_entitlement_is_recovered_never_reversed,
    a_recovery_by_hand_is_checked_like_every_record
);
