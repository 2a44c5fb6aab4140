//! Reports on the disbursement scenario, on both backends: every SF-425 line, the budget vs
//! actual table and the payment reconciliation stated here; bound to a checkpoint, signed, and
//! recomputed from an export with no database; a changed figure fails; bad requests refused.

use serde_json::{json, Value};
use tranche_audit::report::{differences, SignedReport};
use tranche_tests::{server_on_both_backends, TestServer};

use super::disburse::{camt053, e2e_of};
use super::programme::{setup, AWARD};

fn get(scn: &super::programme::Scn, c: &tranche_tests::Client, q: &str) -> tranche_tests::Reply {
    let _ = scn;
    c.get(q)
}

fn reports_are_computed_bound_and_recomputed(s: TestServer) {
    let (scn, all) = setup(s);
    super::disburse::earn(&scn, &all);
    super::disburse::drawdown(&scn, "1000.00");
    super::disburse::settings(&scn, "5000.00");
    let ana = scn.s.client(&scn.admin.add_user("ana-r", "approver", None));
    let donor = scn.s.client(&scn.admin.add_user("bprm", "donor", None));
    let b = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    let batch = b["batch"].as_str().expect("id").to_string();
    scn.preparer.post(
        &format!("/v1/batches/{batch}/submit"),
        Some(&scn.key()),
        "{}",
    );
    let (sent, _) = super::disburse::batch_to_bank(&scn, &[&ana], &batch);
    let lines: Vec<(String, String)> = sent["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| {
            (
                p["e2e"].as_str().expect("e").to_string(),
                p["amount"].as_str().expect("a").to_string(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|(e, a)| (e.as_str(), a.as_str(), "DBIT"))
        .collect();
    let r = scn
        .preparer
        .post("/v1/bank-files", Some(&scn.key()), &camt053("ST-R", &refs));
    assert_eq!(r.status, 201, "{}", r.body);
    let _ = e2e_of;

    let period = "start=2026-01-01&end=2026-12-31";
    let sf = get(
        &scn,
        &scn.preparer,
        &format!("/v1/reports/sf425?award={AWARD}&{period}&indirect_rate=0.10"),
    );
    assert_eq!(sf.status, 200, "{}", sf.body);
    let sf: Value = sf.json();
    let body = &sf["report"]["body"];
    for (line, want) in [
        ("line_10a", "1000.00"),
        ("line_10b", "906.00"),
        ("line_10c", "94.00"),
        ("line_10d", "30000.00"),
        ("line_10e", "906.00"),
        ("line_10f", "0.00"),
        ("line_10g", "906.00"),
        ("line_10h", "29094.00"),
        ("line_11_base", "0.00"),
        ("line_11_amount", "0.00"),
    ] {
        assert_eq!(body[line]["cumulative"], want, "{line}: {body}");
    }
    assert_eq!(body["indirect_rate"], "0.1000");
    // Budget vs actual, line by line.
    let bud: Value = get(
        &scn,
        &donor,
        &format!("/v1/reports/budget?award={AWARD}&{period}"),
    )
    .json();
    let row = |l: &str| {
        bud["report"]["body"]["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .find(|r| r["line"] == l)
            .cloned()
            .unwrap_or_else(|| panic!("no line {l}: {bud}"))
    };
    let c4t = row("c4t");
    assert_eq!(
        (
            c4t["authorised"].as_str(),
            c4t["expended"].as_str(),
            c4t["paid"].as_str(),
            c4t["remaining"].as_str(),
            c4t["percent_used"].as_str()
        ),
        (
            Some("20000.00"),
            Some("156.00"),
            Some("156.00"),
            Some("19844.00"),
            Some("0.78")
        )
    );
    let tuition = row("tuition");
    assert_eq!(
        (
            tuition["expended"].as_str(),
            tuition["paid"].as_str(),
            tuition["percent_used"].as_str()
        ),
        (Some("750.00"), Some("750.00"), Some("15.00"))
    );
    assert_eq!(bud["report"]["body"]["total"]["expended"], "906.00");
    // Payment reconciliation: every payment confirmed, nothing in transit or payable.
    let pay: Value = get(
        &scn,
        &scn.preparer,
        &format!("/v1/reports/payments?award={AWARD}&{period}"),
    )
    .json();
    let p = &pay["report"]["body"];
    assert_eq!(
        (
            p["confirmed"]["count"].as_u64(),
            p["confirmed"]["amount"].as_str()
        ),
        (Some(4), Some("906.00")),
        "{p}"
    );
    assert_eq!(
        (
            p["earned"]["amount"].as_str(),
            p["in_transit"]["count"].as_u64()
        ),
        (Some("906.00"), Some(0))
    );
    assert_eq!(
        (p["still_payable"].as_str(), p["transit_balance"].as_str()),
        (Some("0.00"), Some("0.00"))
    );
    // The CSV and the HTML page.
    let csv = get(
        &scn,
        &scn.preparer,
        &format!("/v1/reports/sf425?award={AWARD}&{period}&format=csv"),
    );
    assert!(
        csv.body.contains("10b,Cash disbursements,906.00,906.00"),
        "{}",
        csv.body
    );
    for (who, kind) in [
        (&donor, "budget"),
        (&scn.preparer, "payments"),
        (&donor, "disaggregation"),
    ] {
        let html = get(
            &scn,
            who,
            &format!("/v1/reports/{kind}?award={AWARD}&{period}&format=html"),
        );
        assert!(
            html.body.contains("<svg") && !html.body.contains("<script"),
            "{kind}: {}",
            html.body
        );
    }

    // Donors read aggregates only; bad periods and awards are refused.
    get(
        &scn,
        &donor,
        &format!(
            "/v1/reports/participant?award={AWARD}&{period}&participant={}",
            scn.p["a100"]
        ),
    )
    .problem(403, "forbidden", None);
    get(
        &scn,
        &scn.preparer,
        &format!("/v1/reports/sf425?award={AWARD}&start=2025-01-01&end=2025-03-31"),
    )
    .problem(422, "period_outside_award", Some("period"));
    get(
        &scn,
        &scn.preparer,
        &format!("/v1/reports/sf425?award={AWARD}&start=2026-06-01&end=2026-03-01"),
    )
    .problem(422, "start_after_end", Some("start"));
    get(
        &scn,
        &scn.preparer,
        "/v1/reports/sf425?award=nope&quarter=2026Q1",
    )
    .problem(422, "unknown_award", Some("award"));
    // The participant statement.
    let st: Value = get(
        &scn,
        &scn.preparer,
        &format!(
            "/v1/reports/participant?award={AWARD}&{period}&participant={}",
            scn.p["a100"]
        ),
    )
    .json();
    assert_eq!(
        (
            st["report"]["body"]["earned"].as_str(),
            st["report"]["body"]["paid"].as_str()
        ),
        (Some("60.00"), Some("60.00")),
        "{st}"
    );

    // Disaggregated results for the donor: 15 enrolled, 3 attending and paid C4T (156.00), 3
    // scholars (750.00 tuition); small counts hidden, and none recoverable from what is published.
    let dis = get(
        &scn,
        &donor,
        &format!("/v1/reports/disaggregation?award={AWARD}&{period}"),
    );
    assert_eq!(dis.status, 200, "{}", dis.body);
    let dis: Value = dis.json();
    let tables = dis["report"]["body"]["tables"]
        .as_array()
        .expect("tables")
        .clone();
    assert_eq!(tables.len(), 5);
    for t in &tables {
        assert_eq!(t["totals"][0]["count"], 15, "enrolled: {t}");
    }
    let signed_dis: SignedReport = serde_json::from_value(dis.clone()).expect("a signed report");
    let tranche_audit::report::ReportBody::Disaggregation(d) = &signed_dis.report.body else {
        panic!("not a disaggregation: {dis}");
    };
    super::suppression::assert_protected(d);
    get(
        &scn,
        &scn.hias,
        &format!("/v1/reports/disaggregation?award={AWARD}&{period}"),
    )
    .problem(403, "forbidden", None);

    // Bound to the journal: signature, and the figures recomputed from an export.
    let (signed, again) = recomputed_from_export(&scn.s, &sf, "sf425", 1000);
    let claimed = serde_json::to_value(&signed.report.body).expect("json");
    assert!(differences(&claimed, &again).is_empty());
    // One figure changed: the signature fails, and the recomputation names the figure.
    let mut tampered = signed.clone();
    if let tranche_audit::report::ReportBody::Sf425(s) = &mut tampered.report.body {
        s.line_10b.cumulative = "900.00".into();
    }
    assert!(tampered.verify_signature(scn.s.ledger.verifier()).is_err());
    let diff = differences(
        &serde_json::to_value(&tampered.report.body).expect("json"),
        &again,
    );
    assert_eq!(diff, vec!["line_10b.cumulative".to_string()]);
}

/// A signed report (its JSON as served) checked as `tranche-verify report` does: its signature
/// against the ledger's key, and its figures recomputed from an export with no database (`kind`
/// and `indirect_bp` as the request named them; the indirect cost rate in basis points).
pub(crate) fn recomputed_from_export(
    s: &TestServer,
    report: &Value,
    kind: &str,
    indirect_bp: u32,
) -> (SignedReport, Value) {
    let signed: SignedReport = serde_json::from_value(report.clone()).expect("a signed report");
    signed
        .verify_signature(s.ledger.verifier())
        .expect("signed by the ledger");
    let dir = tempfile::tempdir().expect("dir");
    s.block_on(tranche_ledger::service::export::export_dir(
        &s.ledger,
        dir.path(),
        |_, _| {},
    ))
    .expect("export");
    let req = tranche_audit::report_compute::ReportRequest {
        kind: kind.into(),
        award: signed.report.award.clone(),
        period: signed.report.period,
        batch: None,
        participant: None,
        indirect_bp,
        threshold: 5,
    };
    let again =
        tranche_audit::report_compute::from_export(dir.path(), signed.report.checkpoint.size, req)
            .expect("recomputed");
    let again = serde_json::to_value(&again).expect("json");
    (signed, again)
}

fn a_bad_report_request_is_refused_and_writes_nothing(s: TestServer) {
    let (scn, _all) = setup(s);
    let donor = scn.s.client(&scn.admin.add_user("bprm-b", "donor", None));
    let size = || {
        scn.s
            .block_on(scn.s.ledger.store().tree_size())
            .expect("size")
    };
    let before = size();
    let a100 = scn.p["a100"].clone();
    for (who, query, status, code, field) in [
        (
            &scn.preparer,
            format!("/v1/reports/sf425?award={AWARD}&start=2025-01-01&end=2025-03-31"),
            422,
            "period_outside_award",
            Some("period"),
        ),
        (
            &scn.preparer,
            format!("/v1/reports/sf425?award={AWARD}&start=2026-06-01&end=2026-03-01"),
            422,
            "start_after_end",
            Some("start"),
        ),
        (
            &scn.preparer,
            "/v1/reports/payments?award=nope&quarter=2026Q1".to_string(),
            422,
            "unknown_award",
            Some("award"),
        ),
        (
            &donor,
            format!("/v1/reports/participant?award={AWARD}&quarter=2026Q1&participant={a100}"),
            403,
            "forbidden",
            None,
        ),
        (
            &scn.preparer,
            format!("/v1/reports/participant?award={AWARD}&quarter=2026Q1"),
            422,
            "participant_required",
            Some("participant"),
        ),
        (
            &donor,
            "/v1/reports-due?award=nope".to_string(),
            422,
            "unknown_award",
            Some("award"),
        ),
        (
            &donor,
            format!("/v1/reports-due?award={AWARD}&as_of=30/04/2026"),
            422,
            "invalid_date",
            Some("as_of"),
        ),
    ] {
        who.get(&query).problem(status, code, field);
        assert_eq!(size(), before, "{query} wrote a record");
    }
}

fn the_reports_due_are_stated_as_of_a_day(s: TestServer) {
    let (scn, _all) = setup(s);
    let donor = scn.s.client(&scn.admin.add_user("bprm-d", "donor", None));
    let due: Value = donor
        .get(&format!("/v1/reports-due?award={AWARD}&as_of=2026-05-15"))
        .json();
    assert_eq!(due["as_of"], "2026-05-15");
    let rows: Vec<(String, String, String, i64)> = due["due"]
        .as_array()
        .expect("due")
        .iter()
        .map(|d| {
            (
                d["quarter"].as_str().expect("q").to_string(),
                d["due"].as_str().expect("due").to_string(),
                d["status"].as_str().expect("status").to_string(),
                d["days_left"].as_i64().expect("days"),
            )
        })
        .collect();
    let row = |q: &str, d: &str, s: &str, n: i64| (q.to_string(), d.to_string(), s.to_string(), n);
    assert_eq!(
        rows,
        [
            row("2026Q1", "2026-04-30", "overdue", -15),
            row("2026Q2", "2026-07-30", "upcoming", 76),
            row("2026Q3", "2026-10-30", "upcoming", 168),
            row("2026Q4", "2027-01-30", "upcoming", 260),
        ]
    );
    // The quarter has ended and its due date has not passed: due.
    let due: Value = donor
        .get(&format!("/v1/reports-due?award={AWARD}&as_of=2026-04-01"))
        .json();
    assert_eq!(
        (
            due["due"][0]["status"].as_str(),
            due["due"][0]["days_left"].as_i64()
        ),
        (Some("due"), Some(29))
    );
}

/// Four payments sent; a statement that confirms two, books another at a different amount,
/// leaves the fourth out and carries a line naming no payment.
fn the_bank_reconciliation_sorts_every_statement_line(s: TestServer) {
    let (scn, all) = setup(s);
    super::disburse::earn(&scn, &all);
    super::disburse::drawdown(&scn, "1000.00");
    super::disburse::settings(&scn, "5000.00");
    let ana = scn.s.client(&scn.admin.add_user("ana-b", "approver", None));
    let b = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    let batch = b["batch"].as_str().expect("id").to_string();
    scn.preparer.post(
        &format!("/v1/batches/{batch}/submit"),
        Some(&scn.key()),
        "{}",
    );
    let (sent, _) = super::disburse::batch_to_bank(&scn, &[&ana], &batch);
    let mut lines: Vec<(String, String)> = sent["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| {
            (
                p["e2e"].as_str().expect("e").to_string(),
                p["amount"].as_str().expect("a").to_string(),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(lines.len(), 4, "{sent}");
    let amount = |i: usize| -> i64 { lines[i].1.replace('.', "").parse().expect("amount") };
    let usd = |m: i64| format!("{}.{:02}", m / 100, m % 100);
    let wrong = usd(amount(2) + 100);
    let statement = camt053(
        "ST-B",
        &[
            (lines[0].0.as_str(), lines[0].1.as_str(), "DBIT"),
            (lines[1].0.as_str(), lines[1].1.as_str(), "DBIT"),
            (lines[2].0.as_str(), wrong.as_str(), "DBIT"),
            ("E2E-NOBODY", "12.34", "DBIT"),
        ],
    );
    let r = scn
        .preparer
        .post("/v1/bank-files", Some(&scn.key()), &statement);
    assert_eq!(r.status, 201, "{}", r.body);

    let bank: Value = scn
        .preparer
        .get(&format!(
            "/v1/reports/bank?award={AWARD}&start=2026-01-01&end=2026-12-31"
        ))
        .json();
    let body = &bank["report"]["body"];
    assert_eq!(body["statements"], 1, "{body}");
    assert_eq!(
        (
            body["matched"]["count"].as_u64(),
            body["matched"]["amount"].as_str()
        ),
        (Some(2), Some(usd(amount(0) + amount(1)).as_str())),
        "{body}"
    );
    let e2es = |k: &str, what: &str| -> Vec<(String, String)> {
        body[k]
            .as_array()
            .expect(k)
            .iter()
            .map(|l| {
                (
                    l["e2e"].as_str().unwrap_or_default().to_string(),
                    l[what].as_str().expect(what).to_string(),
                )
            })
            .collect()
    };
    // Not confirmed by any statement: the one left out, and the one booked at another amount.
    let mut ledger_only = e2es("ledger_only", "amount");
    ledger_only.sort();
    assert_eq!(ledger_only, [lines[2].clone(), lines[3].clone()], "{body}");
    // The statement's lines name their import and line, with the amount the line states.
    let only = e2es("statement_only", "detail");
    assert_eq!(only.len(), 1, "{body}");
    assert_eq!(only[0].0, "E2E-NOBODY", "{body}");
    let mismatches = e2es("amount_mismatches", "detail");
    assert_eq!(mismatches.len(), 1, "{body}");
    assert_eq!(mismatches[0].0, lines[2].0, "{body}");
    assert!(
        mismatches[0].1.contains(&wrong) && mismatches[0].1.contains(&lines[2].1),
        "{body}"
    );
    // ... and the amount the statement states, as a figure of its own.
    assert_eq!(e2es("amount_mismatches", "amount")[0].1, wrong, "{body}");
    assert_eq!(e2es("statement_only", "amount")[0].1, "12.34", "{body}");
    for section in ["statement_only", "amount_mismatches"] {
        let reference = body[section][0]["reference"].as_str().expect("reference");
        assert!(
            reference.starts_with("Stmt[1]/Ntry[") && reference.ends_with("/TxDtls[1]"),
            "{body}"
        );
    }
    let csv = scn.preparer.get(&format!(
        "/v1/reports/bank?award={AWARD}&start=2026-01-01&end=2026-12-31&format=csv"
    ));
    assert!(
        csv.body.contains("statement_only,") && csv.body.contains("amount_mismatch,"),
        "{}",
        csv.body
    );
}

/// Tried with a SQL prompt: the projections refuse the edit; someone who defeats the guard on
/// purpose gets no signed report from the damaged postings, only a refusal that names what
/// differs, until `rebuild` repairs them from the journal.
fn a_signed_report_never_comes_from_a_damaged_projection(s: TestServer) {
    let (scn, all) = setup(s);
    super::disburse::earn(&scn, &all);
    super::disburse::drawdown(&scn, "1000.00");
    let store = scn.s.ledger.store();
    let backend = store.backend_name();
    let sf425 = format!("/v1/reports/sf425?award={AWARD}&start=2026-01-01&end=2026-12-31");
    let budget = format!("/v1/reports/budget?award={AWARD}&start=2026-01-01&end=2026-12-31");
    let clean = scn.preparer.get(&sf425);
    assert_eq!(clean.status, 200, "{}", clean.body);
    let clean: Value = clean.json();
    let figures = clean["report"]["body"].clone();
    assert_eq!(figures["line_10a"]["cumulative"], "1000.00", "{figures}");

    let err = scn
        .s
        .block_on(store.execute_raw("DELETE FROM postings"))
        .expect_err("postings are written only by the ledger");
    assert!(
        matches!(err, tranche_ledger::StoreError::Refused(_)),
        "{err:?}"
    );
    assert_eq!(scn.preparer.get(&sf425).json()["report"]["body"], figures);

    for (sql, family, says) in [
        (
            "DELETE FROM postings".to_string(),
            format!("fund:{AWARD}"),
            "the digest kept with the checkpoints counts",
        ),
        (
            format!(
                "UPDATE postings SET amount_minor = amount_minor + 100, \
                 running_minor = running_minor + 100 WHERE account = 'bank:{AWARD}'"
            ),
            format!("bank:{AWARD}"),
            "adds up to debit",
        ),
        (
            format!("DELETE FROM balances WHERE account LIKE 'expense:{AWARD}:%'"),
            format!("expense:{AWARD}"),
            "adds up to debit",
        ),
        (
            format!(
                "UPDATE balances SET debit_minor = debit_minor + 1 WHERE account = 'bank:{AWARD}'"
            ),
            format!("bank:{AWARD}"),
            "the balances table",
        ),
    ] {
        scn.s
            .block_on(store.execute_raw(&super::journal::behind_the_ledgers_back(backend, &sql)))
            .expect("the guard defeated on purpose");
        for path in [&sf425, &budget] {
            let r = scn.preparer.get(path);
            assert_eq!(r.status, 503, "{sql}: {}", r.body);
            let p: Value = r.json();
            assert_eq!(p["code"], "projection_damaged", "{sql}: {p}");
            let detail = p["detail"].as_str().expect("detail");
            assert!(
                detail.contains(&family) && detail.contains(says),
                "{sql}: {detail}"
            );
            assert!(detail.contains("tranche rebuild"), "{detail}");
        }
        let check = scn
            .s
            .block_on(tranche_ledger::store::rebuild::check(
                store,
                scn.s.ledger.verifier(),
                |_, _| {},
            ))
            .expect("check runs");
        assert!(!check.is_clean(), "{sql}: rebuild --check sees it too");
        scn.s
            .block_on(store.replace_projections())
            .expect("rebuilt from the journal");
        let again = scn.preparer.get(&sf425);
        assert_eq!(again.status, 200, "{sql}: {}", again.body);
        assert_eq!(again.json()["report"]["body"], figures, "{sql}");
    }
}

server_on_both_backends!(
    a_signed_report_never_comes_from_a_damaged_projection,
    reports_are_computed_bound_and_recomputed,
    a_bad_report_request_is_refused_and_writes_nothing,
    the_reports_due_are_stated_as_of_a_day,
    the_bank_reconciliation_sorts_every_statement_line,
);

/// Reports read from a streaming replica given as `DATABASE_READ_URL`: bound to the checkpoint
/// the replica holds, the same figures as the primary's, while writes still go to the primary;
/// a read copy that is not a tranche database is refused when the ledger opens.
#[test]
fn reports_read_from_a_replica_and_state_its_checkpoint() {
    let Some(s) = TestServer::start(tranche_tests::Backend::Postgres) else {
        return;
    };
    let primary_url = s
        .test_ledger
        .config
        .database_url
        .clone()
        .expect("a PostgreSQL ledger");
    let Some(replica_url) = tranche_tests::replica_url(&primary_url) else {
        return;
    };
    let (scn, all) = setup(s);
    super::disburse::earn(&scn, &all);
    super::disburse::drawdown(&scn, "1000.00");
    let primary = scn.s.ledger.clone();
    let size = scn
        .s
        .block_on(primary.store().latest_checkpoint())
        .expect("read")
        .expect("a checkpoint")
        .size;

    let mut config = scn.s.test_ledger.config.clone();
    config.database_read_url = Some(replica_url.clone());
    let reading = scn
        .s
        .block_on(tranche_ledger::Ledger::open(&config))
        .expect("open with a read copy");
    // The replica follows the primary's WAL: wait until it holds the primary's checkpoint.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let at = scn
            .s
            .block_on(reading.reader().latest_checkpoint())
            .expect("read the replica")
            .map_or(0, |c| c.size);
        if at == size {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica is at {at}, the primary at {size}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let req = tranche_audit::report_compute::ReportRequest {
        kind: "sf425".into(),
        award: tranche_audit::programme::Id::parse(AWARD).expect("id"),
        period: tranche_ledger::service::reports::quarter("2026Q1").expect("quarter"),
        batch: None,
        participant: None,
        indirect_bp: 1000,
        threshold: 5,
    };
    let now = tranche_tests::t0();
    let from_replica = scn
        .s
        .block_on(reading.report(req.clone(), now))
        .expect("a report from the replica");
    let from_primary = scn
        .s
        .block_on(primary.report(req, now))
        .expect("a report from the primary");
    assert_eq!(from_replica.report.checkpoint.size, size);
    assert_eq!(
        from_replica.report.checkpoint,
        from_primary.report.checkpoint
    );
    assert_eq!(
        serde_json::to_value(&from_replica.report.body).expect("json"),
        serde_json::to_value(&from_primary.report.body).expect("json")
    );
    from_replica
        .verify_signature(primary.verifier())
        .expect("signed by the ledger");

    // Writes still go to the primary (the replica refuses every write).
    let appended = scn
        .s
        .block_on(
            reading.append(
                &[
                    tranche_ledger::Command::open_account("asset:replica-test", "asset", None)
                        .expect("a command"),
                ],
                "test",
                now,
            ),
        )
        .expect("appended through the primary");
    assert_eq!(appended.first_seq, size);

    // A read copy without tranche's schema is refused, naming the problem.
    let empty = scn
        .s
        .block_on(tranche_ledger::testkit::pgtemp::create_database(
            &primary_url,
            "not_a_ledger_copy",
        ))
        .expect("an empty database");
    config.database_read_url = Some(empty);
    let err = scn
        .s
        .block_on(tranche_ledger::Ledger::open(&config))
        .expect_err("refused");
    assert!(err.to_string().contains("no tranche schema"), "{err}");
    // And a read copy must be PostgreSQL.
    config.database_read_url = Some("sqlite:///tmp/copy.db".into());
    let err = scn
        .s
        .block_on(tranche_ledger::Ledger::open(&config))
        .expect_err("refused");
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
}
