//! Accounting dates and closed periods, on both backends: a back-dated drawdown lands in its
//! quarter; each date rule refuses its bad input naming the field and writes nothing; a closed
//! quarter takes nothing more, its SF-425 stays the one whose digest the close recorded, a late
//! correction lands in the open quarter as a prior-period adjustment; reopening takes a
//! second approver; the export verifies (closed reports included) and rebuilds.

use chrono::{DateTime, NaiveDate, Utc};
use tranche_audit::period::Quarter;
use tranche_audit::programme::{Date, Id};
use tranche_audit::report::{ReportBody, ReportPeriod};
use tranche_audit::report_compute::{body_digest, ReportRequest};
use tranche_audit::Code;
use tranche_ledger::domain::{Command, TransactionInput};
use tranche_ledger::{Ledger, StoreError};
use tranche_tests::{on_both_backends, t0, TestLedger};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a time")
        .with_timezone(&Utc)
}

fn day(text: &str) -> NaiveDate {
    Date::parse(text).expect("a date").0
}

fn drawdown(award: &Id, amount: &str, date: Option<&str>, prior: Option<&str>) -> Command {
    let mut v = serde_json::json!({
        "memo": "BPRM drawdown",
        "postings": [
            {"account": format!("bank:{award}"), "currency": "USD", "side": "debit", "amount": amount},
            {"account": format!("fund:{award}"), "currency": "USD", "side": "credit", "amount": amount},
        ]
    });
    if let Some(d) = date {
        v["date"] = d.into();
    }
    if let Some(q) = prior {
        v["prior_period"] = q.into();
    }
    TransactionInput::from_json(&v.to_string())
        .expect("valid json")
        .into_command()
        .expect("a transaction")
}

async fn size(ledger: &Ledger) -> u64 {
    ledger
        .store()
        .latest_checkpoint()
        .await
        .expect("checkpoint")
        .map_or(0, |c| c.size)
}

/// Appends, expecting a refusal with `code` on `field`, and that nothing was written.
async fn refused(ledger: &Ledger, c: Command, now: DateTime<Utc>, code: Code, field: &str) {
    let before = size(ledger).await;
    match ledger.append(&[c], "user:ana", now).await {
        Err(StoreError::Invalid(i)) => {
            assert_eq!((i.code, i.field.as_str()), (code, field), "{i}");
        }
        other => panic!("expected {code:?}, got {other:?}"),
    }
    assert_eq!(size(ledger).await, before, "nothing written");
}

async fn sf425(
    ledger: &Ledger,
    award: &Id,
    q: &str,
    now: DateTime<Utc>,
) -> tranche_audit::report::Sf425 {
    let q = Quarter::parse(q).expect("quarter");
    let signed = ledger
        .report(
            ReportRequest {
                kind: "sf425".into(),
                award: award.clone(),
                period: ReportPeriod {
                    start: Date(q.first()),
                    end: Date(q.last()),
                },
                batch: None,
                participant: None,
                indirect_bp: 0,
                threshold: 5,
            },
            now,
        )
        .await
        .expect("report");
    match signed.report.body {
        ReportBody::Sf425(s) => s,
        other => panic!("{other:?}"),
    }
}

async fn dates_and_closed_periods(t: TestLedger) {
    let ledger = &t.ledger;
    let fx = tranche_ledger::testkit::fixture::payables_programme(
        ledger,
        "dated",
        3,
        "user:setup",
        t0(),
        &mut |_, _| {},
    )
    .await
    .expect("fixture");
    let award = fx.award.clone();
    // Record times never go back: the fixture's may have been written at today's clock, so
    // this scenario is written later than any test runs (what a record is dated by is its
    // accounting date, not this).
    let may = at("2030-05-10T15:00:00Z");

    // A drawdown written in May, dated in February, is first-quarter money.
    ledger
        .append(
            &[drawdown(&award, "700.00", Some("2026-02-10"), None)],
            "user:ana",
            may,
        )
        .await
        .expect("back-dated drawdown");
    let q1 = sf425(ledger, &award, "2026Q1", may).await;
    assert!(q1
        .notes
        .iter()
        .any(|n| n.contains("Basis: accounting date")));
    let q2 = sf425(ledger, &award, "2026Q2", may).await;
    assert_eq!(q2.line_10a.period, "0.00", "nothing received in Q2");

    // The date rules, each refused naming the field, nothing written.
    refused(
        ledger,
        drawdown(&award, "1.00", Some("2025-12-31"), None),
        may,
        Code::DateBeforeAward,
        "date",
    )
    .await;
    refused(
        ledger,
        drawdown(&award, "1.00", Some("2030-05-20"), None),
        may,
        Code::DateInFuture,
        "date",
    )
    .await;
    let err = TransactionInput::from_json(r#"{"date":"2026-02-30","postings":[]}"#)
        .expect_err("not a date");
    assert_eq!(err.field, "date", "{err}");

    // A reversal is never dated before its original.
    let original = size(ledger).await;
    ledger
        .append(
            &[drawdown(&award, "5.00", Some("2026-04-20"), None)],
            "user:ana",
            may,
        )
        .await
        .expect("drawdown");
    let record = ledger.store().records(original, 1).await.expect("rec");
    let record = tranche_audit::record::Record::decode(&record[0].bytes).expect("decodes");
    let early =
        Command::reversal_of(&record, "wrong".into(), Some(day("2026-04-19"))).expect("rev");
    refused(ledger, early, may, Code::DateBeforeOriginal, "date").await;

    // Closing the first quarter records the digest of its SF-425 as it stands.
    let expected = sf425(ledger, &award, "2026Q1", may).await;
    let closed = ledger
        .close_period(
            &award,
            Quarter::parse("2026Q1").expect("q"),
            0,
            "user:ana",
            may,
        )
        .await
        .expect("closed");
    assert_eq!(
        closed.sf425,
        body_digest(&ReportBody::Sf425(expected.clone()))
    );
    // Quarters close in order (a quarter not yet ended is refused: see the unit tests).
    let e = ledger
        .close_period(
            &award,
            Quarter::parse("2026Q3").expect("q"),
            0,
            "user:ana",
            may,
        )
        .await
        .expect_err("not next");
    assert!(
        matches!(e, StoreError::Invalid(ref i) if i.code == Code::PeriodNotNext),
        "{e:?}"
    );

    // Nothing can be dated in it any more; a late correction lands in Q2, citing Q1.
    refused(
        ledger,
        drawdown(&award, "9.00", Some("2026-03-15"), None),
        may,
        Code::PeriodClosed,
        "date",
    )
    .await;
    refused(
        ledger,
        drawdown(&award, "9.00", Some("2026-04-15"), Some("2026Q2")),
        may,
        Code::PeriodNotClosed,
        "prior_period",
    )
    .await;
    ledger
        .append(
            &[drawdown(&award, "9.00", Some("2026-04-15"), Some("2026Q1"))],
            "user:ana",
            may,
        )
        .await
        .expect("late correction");
    let q2 = sf425(ledger, &award, "2026Q2", may).await;
    assert_eq!(q2.prior_period_adjustments.len(), 1, "{q2:?}");
    assert_eq!(q2.prior_period_adjustments[0].line_10a, "9.00");
    assert_eq!(
        q2.prior_period_adjustments[0].prior_period.to_string(),
        "2026Q1"
    );
    // The closed quarter's report is unchanged by later work.
    assert_eq!(sf425(ledger, &award, "2026Q1", may).await, expected);

    // Reopening takes a reason and a second approver.
    let q = Quarter::parse("2026Q1").expect("q");
    let r = ledger
        .reopen_period(&award, q, "bank statement corrected", "user:ana", may)
        .await
        .expect("request");
    assert_eq!(r.status, "requested");
    let e = ledger
        .reopen_period(&award, q, "again", "user:ana", may)
        .await
        .expect_err("same person");
    assert!(
        matches!(e, StoreError::Invalid(ref i) if i.code == Code::ReopenPending),
        "{e:?}"
    );
    let r = ledger
        .reopen_period(&award, q, "agreed", "user:beto", may)
        .await
        .expect("approved");
    assert_eq!(r.status, "reopened");
    let periods = ledger.periods(&award).await.expect("periods");
    assert_eq!(periods[0].status, "open");
    assert_eq!(periods[0].history.len(), 3);
    ledger
        .append(
            &[drawdown(&award, "2.00", Some("2026-03-20"), None)],
            "user:ana",
            may,
        )
        .await
        .expect("Q1 open again");
    // ... and closing it again.
    ledger
        .close_period(&award, q, 0, "user:beto", may)
        .await
        .expect("closed again");

    // The export verifies, every closed quarter's SF-425 recomputed; the projections rebuild.
    let dir = tempfile::tempdir().expect("dir");
    tranche_ledger::service::export::export_dir(ledger, dir.path(), |_, _| {})
        .await
        .expect("export");
    let summary = tranche_audit::verify::verify_dir(
        dir.path(),
        tranche_audit::verify::VerifyOptions {
            vkey: Some(ledger.verifier().clone()),
            progress: None,
            reference_decoder: false,
        },
    )
    .unwrap_or_else(|e| panic!("the export verifies: {e}"));
    assert_eq!(summary.closes.len(), 1, "the close in force");
    let check = tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
        .await
        .expect("check");
    assert!(check.differences.is_empty(), "{:?}", check.differences);
}

on_both_backends!(dates_and_closed_periods);

/// The same over HTTP: an approver closes the first quarter (a preparer may not), a drawdown
/// dated in it is refused (409, nothing written), reopening takes a reason and a second
/// approver, and the quarters list shows where each stands.
fn periods_over_http(s: tranche_tests::TestServer) {
    use serde_json::json;
    let (scn, _) = super::programme::setup(s);
    let award = super::programme::AWARD;
    let ana = scn.s.client(&scn.admin.add_user("ana-p", "approver", None));
    let beto = scn
        .s
        .client(&scn.admin.add_user("beto-p", "approver", None));
    let drawdown = |date: &str| {
        json!({"date": date, "memo": "BPRM drawdown", "postings": [
            {"account": format!("bank:{award}"), "currency": "USD", "side": "debit", "amount": "10.00"},
            {"account": format!("fund:{award}"), "currency": "USD", "side": "credit", "amount": "10.00"}]})
    };
    scn.ok(&scn.admin, "/v1/transactions", &drawdown("2026-03-10"));
    let close = format!("/v1/awards/{award}/periods/2026Q1/close");
    scn.refused(&scn.preparer, &close, &json!({}), 403, "forbidden", None);
    scn.refused(
        &ana,
        &format!("/v1/awards/{award}/periods/2026Q5/close"),
        &json!({}),
        422,
        "invalid_quarter",
        Some("quarter"),
    );
    scn.refused(
        &ana,
        &format!("/v1/awards/{award}/periods/2026Q2/close"),
        &json!({}),
        422,
        "period_not_next",
        Some("quarter"),
    );
    let closed = scn.ok(&ana, &close, &json!({"indirect_rate": "0.10"}));
    assert!(closed["first_seq"].is_u64(), "{closed}");
    scn.refused(
        &scn.admin,
        "/v1/transactions",
        &drawdown("2026-03-11"),
        409,
        "period_closed",
        Some("date"),
    );
    let list = scn.preparer.get(&format!("/v1/awards/{award}/periods"));
    assert_eq!(list.status, 200, "{}", list.body);
    let list = list.json();
    assert_eq!(list[0]["quarter"], "2026Q1");
    assert_eq!(list[0]["status"], "closed");
    assert_eq!(list[1]["status"], "open");
    let reopen = format!("/v1/awards/{award}/periods/2026Q1/reopen");
    scn.refused(
        &ana,
        &reopen,
        &json!({"reason": " "}),
        422,
        "reason_required",
        Some("reason"),
    );
    scn.ok(
        &ana,
        &reopen,
        &json!({"reason": "the March statement was corrected"}),
    );
    scn.refused(
        &ana,
        &reopen,
        &json!({"reason": "again"}),
        409,
        "reopen_pending",
        Some("request"),
    );
    scn.ok(&beto, &reopen, &json!({"reason": "agreed"}));
    let list = scn
        .preparer
        .get(&format!("/v1/awards/{award}/periods"))
        .json();
    assert_eq!(list[0]["status"], "open", "{list}");
    scn.ok(&scn.admin, "/v1/transactions", &drawdown("2026-03-11"));
}

tranche_tests::server_on_both_backends!(periods_over_http);
