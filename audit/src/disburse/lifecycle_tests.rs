//! The batch lifecycle on its own: a batch of two parts with payments and one of exceptions
//! goes from creation to sent part by part, and each rule refuses with the ledger's code while
//! leaving the state unchanged.

use serde_json::json;

use super::*;
use crate::disburse::{BatchCreateBody, BatchPartBody};

const FILE: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn usd() -> Currency {
    Currency::parse("USD").expect("known")
}

fn header() -> BatchCreateBody {
    serde_json::from_value(json!({
        "batch": "B000001", "award": "aw", "currency": "USD", "filter": {},
        "payments": 2, "total": "100.00", "exceptions": 1, "parts": 3
    }))
    .expect("valid")
}

fn part(n: u32) -> BatchPartBody {
    let payments = match n {
        0 => {
            json!([{"e2e": "B000001-000001", "payee": "participant:p1", "amount": "60.00", "entitlements": [7]}])
        }
        1 => {
            json!([{"e2e": "B000001-000002", "payee": "participant:p2", "amount": "40.00", "entitlements": [8]}])
        }
        _ => json!([]),
    };
    let exceptions = if n == 2 {
        json!([{"payee": "participant:p3", "amount": "10.00", "reason": "no_bank_account"}])
    } else {
        json!([])
    };
    serde_json::from_value(json!({
        "batch": "B000001", "award": "aw", "part": n, "payments": payments, "exceptions": exceptions
    }))
    .expect("valid")
}

fn built() -> BatchLife {
    let mut life = BatchLife::create(&header(), usd(), "user:prep").expect("valid");
    for n in 0..3 {
        life.part(&part(n)).expect("in order");
    }
    life
}

fn code<T: std::fmt::Debug>(r: Result<T, Invalid>) -> &'static str {
    r.expect_err("refused").code.as_str()
}

fn approved() -> BatchLife {
    let mut life = built();
    let digest = life.frozen_digest().expect("frozen").to_string();
    life.submit(
        &serde_json::from_value(
            json!({"batch": "B000001", "award": "aw", "digest": digest, "approvals_required": 1}),
        )
        .expect("valid"),
        "user:prep",
        default_dual_approval_above(usd()),
    )
    .expect("draft");
    life.decide(
        &serde_json::from_value(json!({"batch": "B000001", "award": "aw", "digest": digest}))
            .expect("valid"),
        "user:ana",
        true,
    )
    .expect("awaiting");
    life
}

fn file(format: &str, sha: &str, payments: u64, sum: &str) -> BatchFileBody {
    serde_json::from_value(
        json!({"batch": "B000001", "award": "aw", "format": format, "sha256": sha,
        "message_id": "B000001-F1", "created_at": "2026-04-01T10:00:00.000000Z",
        "execution_date": "2026-04-02", "payments": payments, "control_sum": sum}),
    )
    .expect("valid")
}

fn send(part: u32) -> BatchSendBody {
    serde_json::from_value(
        json!({"batch": "B000001", "award": "aw", "part": part, "file": FILE,
               "accounting_date": "2026-04-02", "postings": []}),
    )
    .expect("valid")
}

#[test]
fn a_batch_of_several_parts_is_sent_part_by_part_and_only_then_is_sent() {
    let mut life = approved();
    assert_eq!(life.status(), BatchStatus::Approved);
    life.file(&file("csv", FILE, 2, "100.00"))
        .expect("approved");
    assert_eq!(
        code(life.send(&send(0), "user:prep")),
        "own_batch",
        "the maker never releases the funds"
    );
    assert_eq!(life.parts_sent(), 0, "a refusal changes nothing");
    life.send(&send(0), "user:ana").expect("first part");
    assert_eq!(
        life.status(),
        BatchStatus::Approved,
        "one part still to send"
    );
    life.send(&send(1), "user:ana").expect("second part");
    // The third part holds exceptions only: the batch is sent with the second.
    assert_eq!(life.status(), BatchStatus::Sent);
    assert_eq!(life.parts_sent(), 2);
    assert_eq!(code(life.send(&send(2), "user:ana")), "batch_not_approved");
}

#[test]
fn parts_come_in_order_and_not_after_the_last() {
    let mut life = BatchLife::create(&header(), usd(), "user:prep").expect("valid");
    assert_eq!(code(life.part(&part(1))), "part_out_of_order");
    assert_eq!(life.parts_seen(), 0, "a refusal changes nothing");
    let mut life = built();
    assert_eq!(code(life.part(&part(2))), "batch_complete");
    let mut short = header();
    short.total = "99.00".into();
    let mut life = BatchLife::create(&short, usd(), "user:prep").expect("valid");
    life.part(&part(0)).expect("first");
    life.part(&part(1)).expect("second");
    assert_eq!(code(life.part(&part(2))), "batch_totals_mismatch");
    assert_eq!(life.status(), BatchStatus::Building);
}

#[test]
fn submission_needs_the_digest_and_the_approvals_the_total_needs() {
    let mut life = built();
    let digest = life.frozen_digest().expect("frozen").to_string();
    let body = |digest: &str, n: u32| -> BatchSubmitBody {
        serde_json::from_value(
            json!({"batch": "B000001", "award": "aw", "digest": digest, "approvals_required": n}),
        )
        .expect("valid")
    };
    assert_eq!(
        code(life.submit(&body(&"ab".repeat(32), 1), "user:prep", 1_000_000)),
        "digest_mismatch"
    );
    // 100.00 is above 50.00: two approvals.
    assert_eq!(
        code(life.submit(&body(&digest, 1), "user:prep", 5_000)),
        "wrong_approvals_required"
    );
    assert_eq!(life.status(), BatchStatus::Draft);
    life.submit(&body(&digest, 2), "user:prep", 5_000)
        .expect("two");
    let decision: BatchDecisionBody =
        serde_json::from_value(json!({"batch": "B000001", "award": "aw", "digest": digest}))
            .expect("valid");
    assert_eq!(code(life.decide(&decision, "user:prep", true)), "own_batch");
    life.decide(&decision, "user:ana", true).expect("first");
    assert_eq!(life.status(), BatchStatus::Submitted);
    assert_eq!(
        code(life.decide(&decision, "user:ana", true)),
        "already_approved"
    );
    life.decide(&decision, "user:beto", true).expect("second");
    assert_eq!(life.status(), BatchStatus::Approved);
}

#[test]
fn a_bank_file_is_one_per_format_and_holds_the_batch() {
    let mut life = approved();
    assert_eq!(
        code(life.file(&file("csv", FILE, 1, "60.00"))),
        "file_does_not_match_batch"
    );
    life.file(&file("csv", FILE, 2, "100.00")).expect("matches");
    assert_eq!(
        code(life.file(&file("csv", &"22".repeat(32), 2, "100.00"))),
        "file_exists"
    );
    assert_eq!(code(life.send(&send(1), "user:ana")), "part_out_of_order");
    let mut other = send(0);
    other.file = "33".repeat(32);
    assert_eq!(code(life.send(&other, "user:ana")), "unknown_file");
    let mut early = built();
    assert_eq!(
        code(early.file(&file("csv", FILE, 2, "100.00"))),
        "batch_not_approved"
    );
}

#[test]
fn a_batch_is_cancelled_only_before_it_is_sent() {
    let mut life = approved();
    life.file(&file("csv", FILE, 2, "100.00"))
        .expect("approved");
    let mut cancelled = life.clone();
    cancelled.cancel().expect("not sent");
    assert_eq!(cancelled.status(), BatchStatus::Cancelled);
    life.send(&send(0), "user:ana").expect("first");
    life.send(&send(1), "user:ana").expect("second");
    assert_eq!(code(life.cancel()), "batch_not_cancellable");
}

#[test]
fn bank_outcomes_follow_the_payment_states() {
    use PaymentState as S;
    use PaymentStatus as O;
    assert_eq!(S::Sent.after("e", O::Accepted), Ok(S::Accepted));
    assert_eq!(S::Accepted.after("e", O::Confirmed), Ok(S::Confirmed));
    assert_eq!(S::Accepted.after("e", O::Rejected), Ok(S::Rejected));
    assert_eq!(S::Confirmed.after("e", O::Returned), Ok(S::Returned));
    for (from, to) in [
        (S::Pending, O::Confirmed),
        (S::Confirmed, O::Rejected),
        (S::Confirmed, O::Accepted),
        (S::Rejected, O::Returned),
        (S::Withdrawn, O::Accepted),
    ] {
        assert_eq!(code(from.after("e", to)), "status_not_allowed", "{from:?}");
    }
}

#[test]
fn an_entitlement_held_by_a_payment_that_left_the_payable_cannot_be_reversed() {
    let batch = Id::parse("B000001").expect("valid");
    let award = Id::parse("aw").expect("valid");
    let view = |state| PaymentView {
        e2e: "B000001-000001",
        batch: &batch,
        award: &award,
        amount_minor: 6_000,
        state,
    };
    assert!(check_reversible(7, None).is_ok());
    assert!(check_reversible(7, Some(view(PaymentState::Pending))).is_ok());
    for state in [
        PaymentState::Sent,
        PaymentState::Accepted,
        PaymentState::Confirmed,
    ] {
        let e = check_reversible(7, Some(view(state))).expect_err("paid");
        assert_eq!(
            (e.code.as_str(), e.field.as_str()),
            ("entitlement_paid", "reverses")
        );
        assert!(
            e.detail.contains("B000001-000001")
                && e.detail.contains("batch B000001")
                && e.detail.contains("record a recovery"),
            "{}",
            e.detail
        );
    }
    assert_eq!(
        code(check_claim(7, Some(view(PaymentState::Confirmed)))),
        "already_paid"
    );
    assert_eq!(
        code(check_claim(7, Some(view(PaymentState::Pending)))),
        "payable_in_open_batch"
    );
}

/// A camt.053 import whose statement booked 110.00 out and 0.40 in, in two parts.
fn statement_import() -> (BankImportBody, Vec<BankStatusBody>) {
    let header: BankImportBody = serde_json::from_value(json!({
        "award": "aw", "format": "camt.053", "sha256": FILE, "lines": 4, "outcomes": 2,
        "exceptions": 2, "parts": 2,
        "statements": [{"id": "S-1", "account": "2100456789", "opening": "200.00",
                        "closing": "90.40", "entries": 3, "debits": "110.00", "credits": "0.40"}]
    }))
    .expect("valid");
    let at = |d: &str| json!({"direction": d, "path": "Stmt[1]/Ntry[1]"});
    let parts = vec![
        serde_json::from_value(json!({
            "award": "aw", "import": FILE, "part": 0, "accounting_date": "2026-04-03",
            "outcomes": [
                {"e2e": "B000001-000001", "status": "confirmed", "amount": "60.00", "line": 1, "at": at("debit")},
                {"e2e": "B000001-000002", "status": "confirmed", "amount": "40.00", "line": 1, "at": at("debit")}
            ],
            "exceptions": [
                {"line": 1, "amount": "7.00", "code": "not_booked", "detail": "pending", "at": at("debit")}
            ]
        }))
        .expect("valid"),
        serde_json::from_value(json!({
            "award": "aw", "import": FILE, "part": 1, "accounting_date": "2026-04-03",
            "outcomes": [],
            "exceptions": [
                {"line": 1, "amount": "10.00", "code": "no_end_to_end_id", "detail": "a fee", "at": at("debit")},
                {"line": 1, "amount": "0.40", "code": "not_a_payment", "detail": "interest", "at": at("credit")}
            ]
        }))
        .expect("valid"),
    ];
    (header, parts)
}

#[test]
fn the_lines_of_a_statement_add_up_to_its_booked_entries() {
    let (header, parts) = statement_import();
    header.check(usd()).expect("the balances tie");
    let mut tally = StatementTally::default();
    for p in &parts {
        tally.add(&header, p, usd()).expect("directions stated");
    }
    tally.check(&header, usd()).expect("the lines tie");
    // A line dropped from the journal shows.
    let mut short = parts.clone();
    short[1].exceptions.pop();
    let mut tally = StatementTally::default();
    for p in &short {
        tally.add(&header, p, usd()).expect("directions stated");
    }
    let e = tally
        .check(&header, usd())
        .expect_err("a credit is missing");
    assert_eq!(e.code, Code::StatementUnbalanced, "{e:?}");
    // A line without its direction is refused.
    let mut blind = parts.clone();
    blind[0].outcomes[0].at = None;
    let e = StatementTally::default()
        .add(&header, &blind[0], usd())
        .expect_err("no direction");
    assert_eq!(
        (e.field.as_str(), e.code),
        ("outcomes[0].at.direction", Code::MissingField)
    );
    // Balances that do not tie to the booked entries are refused in the header.
    let mut wrong = header.clone();
    wrong.statements[0].closing = Some("90.00".into());
    let e = wrong.check(usd()).expect_err("unbalanced");
    assert_eq!(
        (e.field.as_str(), e.code),
        ("statements[0].closing", Code::StatementUnbalanced)
    );
}
