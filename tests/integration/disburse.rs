//! Disbursement end to end through the API on both backends: entitlements, a batch, two
//! approvals, pain.001, a pain.002 with a rejection, a camt.053 with the rest booked, the
//! rejected payment reissued in a second batch and confirmed; then every payable closed,
//! nothing in transit, and the bank balance equal to drawdowns less payments. And every bad
//! input refused with its field and rule, writing nothing.

use serde_json::{json, Value};
use tranche_audit::programme::Presence;
use tranche_audit::Code;
use tranche_tests::{server_on_both_backends, Client, TestServer};

use super::programme::{month, setup, Schedule, Scn, AWARD};

pub(crate) fn tokens(scn: &Scn) -> (Client, Client, Client) {
    let a1 = scn
        .s
        .client(&scn.admin.add_user("ana-approver", "approver", None));
    let a2 = scn
        .s
        .client(&scn.admin.add_user("beto-approver", "approver", None));
    let a3 = scn
        .s
        .client(&scn.admin.add_user("caro-approver", "approver", None));
    (a1, a2, a3)
}

/// March: a100 and a85 attend every session (60.00 each), a60 twelve of twenty (36.00); the
/// three scholars' tuition goes to the provider secap (3 x 250.00). 906.00 in all.
pub(crate) fn earn(scn: &Scn, all: &Schedule) {
    let a_mar = month(all, "emp-a", "2026-03");
    let mut items = scn.attend("a100", &a_mar, Presence::Present);
    items.extend(scn.attend("a85", &a_mar, Presence::Present));
    items.extend(scn.attend("a60", &a_mar[..12], Presence::Present));
    items.extend(scn.attend("a60", &a_mar[12..], Presence::Absent));
    scn.evidence("mar", items);
    let mar = scn.cycle("2026-03");
    assert_eq!(mar["net_payable"], "906.00", "{mar}");
}

pub(crate) fn drawdown(scn: &Scn, amount: &str) {
    scn.ok(
        &scn.admin,
        "/v1/transactions",
        &json!({"date": "2026-03-05", "memo": "BPRM drawdown", "postings": [
            {"account": format!("bank:{AWARD}"), "currency": "USD", "side": "debit", "amount": amount},
            {"account": format!("fund:{AWARD}"), "currency": "USD", "side": "credit", "amount": amount}
        ]}),
    );
}

pub(crate) fn settings(scn: &Scn, dual_above: &str) {
    scn.ok(
        &scn.admin,
        "/v1/disbursement-settings",
        &json!({"award": AWARD,
                "debtor": {"name": "HIAS Ecuador programme account", "account": "2100456789", "agent_bic": "PICHECEQ"},
                "vendors": [{"vendor": "secap", "name": "SECAP training centre", "account": "3300112233"}],
                "dual_approval_above": dual_above}),
    );
}

/// A pain.002 answering `original` with (end-to-end id, status code, reason) lines.
pub(crate) fn pain002(original: &str, lines: &[(&str, &str, Option<&str>)]) -> String {
    let mut tx = String::new();
    for (i, (e2e, code, reason)) in lines.iter().enumerate() {
        let rsn = reason
            .map(|r| format!("<StsRsnInf><Rsn><Cd>{r}</Cd></Rsn></StsRsnInf>"))
            .unwrap_or_default();
        tx.push_str(&format!(
            "<TxInfAndSts><StsId>S{i}</StsId><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{code}</TxSts>{rsn}</TxInfAndSts>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\"><CstmrPmtStsRpt>\
<GrpHdr><MsgId>STS-{original}</MsgId><CreDtTm>2026-04-02T09:00:00</CreDtTm></GrpHdr>\
<OrgnlGrpInfAndSts><OrgnlMsgId>{original}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>\
<OrgnlPmtInfAndSts><OrgnlPmtInfId>{original}</OrgnlPmtInfId>\n{tx}</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n"
    )
}

/// A camt.053 with one booked entry per (end-to-end id, amount, CRDT or DBIT).
pub(crate) fn camt053(id: &str, lines: &[(&str, &str, &str)]) -> String {
    let mut entries = String::new();
    for (e2e, amount, dir) in lines {
        entries.push_str(&format!(
            "<Ntry><Amt Ccy=\"USD\">{amount}</Amt><CdtDbtInd>{dir}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
<BookgDt><Dt>2026-04-03</Dt></BookgDt><NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>\
<Amt Ccy=\"USD\">{amount}</Amt></TxDtls></NtryDtls></Ntry>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>\
<GrpHdr><MsgId>{id}</MsgId><CreDtTm>2026-04-03T05:00:00</CreDtTm></GrpHdr>\
<Stmt><Id>{id}</Id><Acct><Id><Othr><Id>2100456789</Id></Othr></Id><Ccy>USD</Ccy></Acct>\n{entries}</Stmt></BkToCstmrStmt></Document>\n"
    )
}

fn post_file(scn: &Scn, c: &Client, text: &str) -> tranche_tests::Reply {
    c.post("/v1/bank-files", Some(&scn.key()), text)
}

/// The end-to-end id of the payment to `payee` in a batch document.
pub(crate) fn e2e_of(batch: &Value, payee: &str) -> String {
    batch["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .find(|p| p["payee"] == payee)
        .unwrap_or_else(|| panic!("no payment to {payee} in {batch}"))["e2e"]
        .as_str()
        .expect("e2e")
        .to_string()
}

fn credit_balance(scn: &Scn, account: &str) -> i64 {
    let (d, c) = scn.balance(account);
    c - d
}

pub(crate) fn batch_to_bank(scn: &Scn, approvers: &[&Client], batch: &str) -> (Value, String) {
    let b = scn.preparer.get(&format!("/v1/batches/{batch}")).json();
    let digest = b["digest"].as_str().expect("digest").to_string();
    for a in approvers {
        let r = a.post(
            &format!("/v1/batches/{batch}/approve"),
            Some(&scn.key()),
            &json!({"digest": digest}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = scn.preparer.post(
        &format!("/v1/batches/{batch}/files"),
        Some(&scn.key()),
        &json!({"format": "pain.001"}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let file = scn
        .preparer
        .get(&format!("/v1/batches/{batch}/files/pain.001"));
    assert_eq!(file.status, 200, "{}", file.body);
    // The preparer may not release the funds; an approver does.
    scn.preparer
        .post(&format!("/v1/batches/{batch}/send"), Some(&scn.key()), "{}")
        .problem(403, "forbidden", None);
    let releaser = approvers.first().copied().unwrap_or(&scn.admin);
    let r = releaser.post(
        &format!("/v1/batches/{batch}/send"),
        Some(&scn.key()),
        r#"{"date": "2026-04-02"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "sent");
    (r.json(), file.body)
}

fn disbursement_end_to_end(s: TestServer) {
    let (scn, all) = setup(s);
    let (ana, beto, _caro) = tokens(&scn);
    earn(&scn, &all);
    drawdown(&scn, "1000.00");
    settings(&scn, "500.00");

    // The batch: four payees, 906.00, above 500.00 so two approvals.
    let b = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    assert_eq!(b["status"], "draft", "{b}");
    assert_eq!(b["total"], "906.00");
    assert_eq!(b["payment_count"], 4);
    assert_eq!(b["exception_count"], 0);
    let batch = b["batch"].as_str().expect("id").to_string();
    let tuition = &b["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .find(|p| p["payee"] == "vendor:secap")
        .expect("provider paid")
        .clone();
    assert_eq!(tuition["amount"], "750.00");
    assert_eq!(tuition["entitlements"].as_array().map(Vec::len), Some(3));
    let r = scn.preparer.post(
        &format!("/v1/batches/{batch}/submit"),
        Some(&scn.key()),
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let submitted = r.json();
    assert_eq!(submitted["status"], "submitted");
    assert_eq!(submitted["approvals_required"], 2);
    let (sent, xml) = batch_to_bank(&scn, &[&ana, &beto], &batch);
    assert_eq!(sent["approvals"].as_array().map(Vec::len), Some(2));

    // The pain.001 holds four credit transfers for 906.00 and the recorded digest.
    let summary = tranche_ledger::iso20022::check_pain001(xml.as_bytes()).expect("valid pain.001");
    assert_eq!(summary.number_of_transactions, 4);
    assert_eq!(summary.control_sum.to_string(), "906.00");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(xml.as_bytes()));
    assert_eq!(sent["files"][0]["sha256"], sha);
    assert_eq!(credit_balance(&scn, &format!("transit:{AWARD}")), 90_600);

    // pain.002: a85 rejected (closed account), the rest accepted.
    let msg = sent["files"][0]["message_id"]
        .as_str()
        .expect("msg")
        .to_string();
    let (pa100, pa85, pa60, psecap) = (
        format!("participant:{}", scn.p["a100"]),
        format!("participant:{}", scn.p["a85"]),
        format!("participant:{}", scn.p["a60"]),
        "vendor:secap".to_string(),
    );
    let e = |payee: &str| e2e_of(&sent, payee);
    let status = pain002(
        &msg,
        &[
            (&e(&pa100), "ACCP", None),
            (&e(&pa85), "RJCT", Some("AC04")),
            (&e(&pa60), "ACCP", None),
            (&e(&psecap), "ACCP", None),
        ],
    );
    let r = post_file(&scn, &scn.preparer, &status);
    assert_eq!(r.status, 201, "{}", r.body);
    let rep = r.json();
    assert_eq!(rep["applied"]["rejected"]["count"], 1, "{rep}");
    assert_eq!(rep["applied"]["accepted"]["count"], 3, "{rep}");
    assert_eq!(
        credit_balance(
            &scn,
            &format!("payable:{AWARD}:participant:{}", scn.p["a85"])
        ),
        6_000
    );
    // The same file again posts nothing.
    let size = scn.size();
    let r = post_file(&scn, &scn.preparer, &status);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["already_imported"], true);
    assert_eq!(scn.size(), size);

    // camt.053: the three accepted booked, plus lines that match nothing.
    let stmt = camt053(
        "ST-1",
        &[
            (&e(&pa100), "60.00", "DBIT"),
            (&e(&pa60), "36.00", "DBIT"),
            (&e(&psecap), "750.00", "DBIT"),
            ("B999999-000001", "10.00", "DBIT"),
            (&e(&pa85), "60.00", "DBIT"),
        ],
    );
    let r = post_file(&scn, &scn.preparer, &stmt);
    assert_eq!(r.status, 201, "{}", r.body);
    let rep = r.json();
    assert_eq!(rep["applied"]["confirmed"]["count"], 3, "{rep}");
    assert_eq!(rep["applied"]["confirmed"]["amount"], "846.00");
    let codes: Vec<&str> = rep["exceptions"]
        .as_array()
        .expect("exceptions")
        .iter()
        .map(|x| x["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        ["unknown_end_to_end_id", "already_rejected"],
        "{rep}"
    );
    // A second statement confirming one of them again: an exception, nothing posted.
    let again = camt053("ST-2", &[(&e(&pa100), "60.00", "DBIT")]);
    let r = post_file(&scn, &scn.preparer, &again);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["exceptions"][0]["code"], "already_confirmed");
    assert_eq!(credit_balance(&scn, &format!("transit:{AWARD}")), 0);

    // The rejected payment is reissued in a second batch under a new end-to-end id.
    let b2 = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    let batch2 = b2["batch"].as_str().expect("id").to_string();
    assert_eq!(b2["payment_count"], 1, "{b2}");
    let reissue = &b2["payments"][0];
    assert_eq!(reissue["payee"], pa85);
    assert_eq!(reissue["reissues"], json!([e(&pa85)]));
    let r = scn.preparer.post(
        &format!("/v1/batches/{batch2}/submit"),
        Some(&scn.key()),
        "{}",
    );
    assert_eq!(r.json()["approvals_required"], 1, "{}", r.body);
    let (sent2, _) = batch_to_bank(&scn, &[&beto], &batch2);
    let new_e2e = e2e_of(&sent2, &pa85);
    assert_ne!(new_e2e, e(&pa85));
    let csv = format!("end_to_end_id,status,amount,currency,reason,date\n{new_e2e},booked,60.00,USD,,2026-04-05\n");
    let r = post_file(&scn, &scn.preparer, &csv);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["applied"]["confirmed"]["count"], 1);

    // Every payable closed, nothing in transit, bank = 1000.00 drawn less 906.00 paid.
    for who in ["a100", "a85", "a60"] {
        assert_eq!(
            credit_balance(&scn, &format!("payable:{AWARD}:participant:{}", scn.p[who])),
            0,
            "{who}"
        );
    }
    assert_eq!(
        credit_balance(&scn, &format!("payable:{AWARD}:vendor:secap")),
        0
    );
    assert_eq!(credit_balance(&scn, &format!("transit:{AWARD}")), 0);
    let (d, c) = scn.balance(&format!("bank:{AWARD}"));
    assert_eq!(d - c, 9_400);
    // Nothing is left to pay.
    scn.refused(
        &scn.preparer,
        "/v1/batches",
        &json!({"award": AWARD}),
        422,
        "no_open_payables",
        Some("filter"),
    );

    // The trace of the reissued payment, from evidence to the bank's confirmation.
    let t = scn.preparer.get(&format!("/v1/payments/{new_e2e}/trace"));
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    let steps: Vec<&str> = t["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().expect("step"))
        .collect();
    for wanted in [
        "evidence",
        "rule version",
        "entitlement",
        "reissue of",
        "batch created",
        "batch submitted",
        "batch approved",
        "bank file",
        "payment sent",
        "payment confirmed",
    ] {
        assert!(steps.contains(&wanted), "{wanted} missing from {steps:?}");
    }
    let seqs: Vec<u64> = t["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["seq"].as_u64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    // A participant's payment receipt: the entitlements and the bank's confirmation, each a
    // receipt that verifies offline, and no other participant named anywhere in it.
    let r = scn
        .admin
        .get(&format!("/v1/payments/{}/receipt", e(&pa100)));
    assert_eq!(r.status, 200, "{}", r.body);
    let bundle = r.json();
    let mut texts: Vec<String> = bundle["entitlements"]
        .as_array()
        .expect("entitlements")
        .iter()
        .map(|t| t.as_str().expect("text").to_string())
        .collect();
    assert_eq!(texts.len(), 1);
    texts.push(
        bundle["confirmation"]
            .as_str()
            .expect("confirmed")
            .to_string(),
    );
    for t in &texts {
        let v = tranche_audit::receipt::Receipt::parse(t)
            .and_then(|r| r.verify(scn.s.ledger.verifier()))
            .expect("the receipt verifies");
        let record = String::from_utf8(v.record_bytes.clone()).expect("utf-8");
        for (name, pseudonym) in &scn.p {
            if name != "a100" {
                assert!(
                    !record.contains(pseudonym.as_str()),
                    "{name} appears in {record}"
                );
            }
        }
        assert!(!record.contains("vendor:secap"), "{record}");
    }
    let p = scn
        .preparer
        .get(&format!("/v1/payments/{}", e(&pa85)))
        .json();
    assert_eq!(p["status"], "rejected");

    // The disbursement projections hold the same facts, row by row.
    let store = scn.s.ledger.store();
    let (header, life) = scn
        .s
        .block_on(store.batch_rows(&batch))
        .expect("read")
        .expect("the batch is a row");
    assert_eq!(header.award, AWARD);
    assert_eq!(
        life.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["create", "part", "submit", "approve", "approve", "file", "send"],
        "{life:?}"
    );
    assert_eq!(life.last().map(|e| e.status.as_str()), Some("sent"));
    assert_eq!(life.last().map(|e| e.total_minor), Some(90_600));
    let states = scn.s.block_on(store.batch_states(&batch)).expect("states");
    let by_state: Vec<(&str, u64, i64)> = states
        .iter()
        .map(|t| (t.state.as_str(), t.count, t.amount_minor))
        .collect();
    assert_eq!(by_state, [("confirmed", 3, 84_600), ("rejected", 1, 6_000)]);
    let page = scn
        .s
        .block_on(store.batch_payment_rows(&batch, 1, 2))
        .expect("page");
    assert_eq!(
        page.iter().map(|p| p.row.idx).collect::<Vec<_>>(),
        [1, 2],
        "a page starts where it is asked to"
    );
    let (pay, events) = scn
        .s
        .block_on(store.payment_rows(&e(&pa85)))
        .expect("read")
        .expect("a payment row");
    assert_eq!(pay.amount_minor, 6_000);
    assert_eq!(
        events
            .iter()
            .map(|e| (e.event.as_str(), e.state.as_str()))
            .collect::<Vec<_>>(),
        [
            ("batched", "pending"),
            ("sent", "sent"),
            ("rejected", "rejected")
        ]
    );
    let (reissued, _) = scn
        .s
        .block_on(store.payment_rows(&new_e2e))
        .expect("read")
        .expect("the reissue");
    assert_eq!(reissued.reissues, e(&pa85));
    let imports = scn.s.block_on(store.import_rows(None)).expect("imports");
    assert_eq!(imports.len(), 4, "pain.002, two camt.053 and a status CSV");
    let (parts, applied) = scn
        .s
        .block_on(store.import_parts(&imports[3].sha256))
        .expect("parts");
    assert!(!parts.is_empty(), "{parts:?}");
    assert_eq!(
        parts.iter().map(|p| p.outcomes).sum::<u64>(),
        4,
        "{parts:?}"
    );
    assert_eq!(
        applied
            .iter()
            .map(|t| (t.state.as_str(), t.count))
            .collect::<Vec<_>>(),
        [("accepted", 3), ("rejected", 1)],
        "the oldest import is the pain.002"
    );
    assert_eq!(
        scn.s.block_on(store.committed_minor(AWARD)).expect("sum"),
        0,
        "nothing approved is waiting to be sent"
    );
    for sql in [
        "DELETE FROM payment_events",
        "UPDATE payments SET amount_minor = 1",
        "DELETE FROM batch_events",
        "DELETE FROM batches",
        "DELETE FROM bank_imports",
        "DELETE FROM bank_import_parts",
        "DELETE FROM award_settings",
    ] {
        let err = scn.s.block_on(store.execute_raw(sql)).expect_err(sql);
        assert!(
            matches!(err, tranche_ledger::StoreError::Refused(_)),
            "{sql}: {err:?}"
        );
    }

    // The journal verifies offline and rebuilds to the live projections.
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

    // A payment's state changed behind the ledger's back is named by `rebuild --check`.
    let backend = store.backend_name();
    scn.s
        .block_on(store.execute_raw(&super::journal::behind_the_ledgers_back(
            backend,
            "UPDATE payment_events SET state = 'confirmed' WHERE state = 'rejected'",
        )))
        .expect("the guard defeated on purpose");
    let check = scn
        .s
        .block_on(tranche_ledger::store::rebuild::check(
            store,
            scn.s.ledger.verifier(),
            |_, _| {},
        ))
        .expect("check runs");
    assert!(
        check
            .differences
            .iter()
            .any(|d| d.starts_with(&format!("payment event {}", e(&pa85)))),
        "{:?}",
        check.differences
    );
}

fn disbursement_bad_inputs(s: TestServer) {
    let (scn, all) = setup(s);
    let (ana, beto, caro) = tokens(&scn);
    earn(&scn, &all);
    settings(&scn, "500.00");
    let prep = &scn.preparer;

    // An account written like an IBAN must be a valid one; a local account number is not one.
    scn.refused(
        &scn.admin,
        "/v1/disbursement-settings",
        &json!({"award": AWARD,
                "debtor": {"name": "HIAS Ecuador programme account", "account": "2100456789"},
                "vendors": [{"vendor": "secap", "name": "SECAP training centre",
                             "account": "DE89 3704 0044 0532 0130 01"}],
                "dual_approval_above": "500.00"}),
        422,
        "invalid_iban",
        Some("vendors[0].account"),
    );

    // Payees without a bank account or whose personal data was erased are exceptions.
    let r = scn.admin.post(
        &format!("/v1/participants/{}/erase", scn.p["a60"]),
        Some(&scn.key()),
        "{}",
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    let b = scn.ok(prep, "/v1/batches", &json!({"award": AWARD}));
    let batch = b["batch"].as_str().expect("id").to_string();
    assert_eq!(
        b["exceptions"],
        json!([{"payee": format!("participant:{}", scn.p["a60"]), "amount": "36.00", "reason": "personal_data_erased"}])
    );
    assert_eq!(b["total"], "870.00");

    // A payable already in another open batch.
    scn.refused(
        prep,
        "/v1/batches",
        &json!({"award": AWARD, "filter": {"payees": [format!("participant:{}", scn.p["a100"])]}}),
        422,
        "payable_in_open_batch",
        Some("filter"),
    );
    // Insufficient cleared funds: nothing drawn down yet.
    scn.refused(
        prep,
        &format!("/v1/batches/{batch}/submit"),
        &json!({}),
        422,
        "insufficient_funds",
        Some("batch"),
    );
    drawdown(&scn, "2000.00");
    let r = prep.post(
        &format!("/v1/batches/{batch}/submit"),
        Some(&scn.key()),
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let digest = r.json()["digest"].as_str().expect("digest").to_string();
    let approve = |_: &Client, d: &str| json!({"digest": d});

    // The preparer's role may not approve; an admin who prepared may not approve their own.
    scn.refused(
        prep,
        &format!("/v1/batches/{batch}/approve"),
        &approve(prep, &digest),
        403,
        "forbidden",
        None,
    );
    // Approval of content other than what was frozen.
    scn.refused(
        &ana,
        &format!("/v1/batches/{batch}/approve"),
        &json!({"digest": "0".repeat(64)}),
        422,
        "digest_mismatch",
        Some("digest"),
    );
    // Before approval there is no bank file.
    scn.refused(
        prep,
        &format!("/v1/batches/{batch}/files"),
        &json!({"format": "pain.001"}),
        422,
        "batch_not_approved",
        Some("batch"),
    );
    let r = ana.post(
        &format!("/v1/batches/{batch}/approve"),
        Some(&scn.key()),
        &approve(&ana, &digest).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "submitted", "one of two approvals");
    // A second approval by the same approver.
    scn.refused(
        &ana,
        &format!("/v1/batches/{batch}/approve"),
        &approve(&ana, &digest),
        422,
        "already_approved",
        Some("actor"),
    );
    // A batch above the threshold cannot be released with one approval.
    scn.refused(
        prep,
        &format!("/v1/batches/{batch}/files"),
        &json!({}),
        422,
        "batch_not_approved",
        Some("batch"),
    );
    scn.refused(
        &ana,
        &format!("/v1/batches/{batch}/send"),
        &json!({}),
        422,
        "batch_not_approved",
        Some("batch"),
    );
    let r = beto.post(
        &format!("/v1/batches/{batch}/approve"),
        Some(&scn.key()),
        &approve(&beto, &digest).to_string(),
    );
    assert_eq!(r.json()["status"], "approved", "{}", r.body);
    // Approval of an already approved batch.
    scn.refused(
        &caro,
        &format!("/v1/batches/{batch}/approve"),
        &approve(&caro, &digest),
        422,
        "batch_not_awaiting_approval",
        Some("batch"),
    );

    // A rejected batch: its payables open again; approving it later is refused.
    let r = prep.post(
        &format!("/v1/batches/{batch}/cancel"),
        Some(&scn.key()),
        &json!({"reason": "wrong month"}).to_string(),
    );
    assert_eq!(r.json()["status"], "cancelled", "{}", r.body);
    let b2 = scn.ok(&scn.admin, "/v1/batches", &json!({"award": AWARD}));
    let batch2 = b2["batch"].as_str().expect("id").to_string();
    let r = scn.admin.post(
        &format!("/v1/batches/{batch2}/submit"),
        Some(&scn.key()),
        "{}",
    );
    let digest2 = r.json()["digest"].as_str().expect("digest").to_string();
    scn.refused(
        &scn.admin,
        &format!("/v1/batches/{batch2}/approve"),
        &json!({"digest": digest2}),
        422,
        "own_batch",
        Some("actor"),
    );
    let r = caro.post(
        &format!("/v1/batches/{batch2}/reject"),
        Some(&scn.key()),
        &json!({"digest": digest2, "reason": "provider invoice missing"}).to_string(),
    );
    assert_eq!(r.json()["status"], "rejected", "{}", r.body);
    scn.refused(
        &ana,
        &format!("/v1/batches/{batch2}/approve"),
        &json!({"digest": digest2}),
        422,
        "batch_not_awaiting_approval",
        Some("batch"),
    );
    scn.refused(
        &ana,
        &format!("/v1/batches/{batch2}/reject"),
        &json!({"digest": digest2}),
        422,
        "reason_required",
        Some("reason"),
    );

    // A payment above the open payable: the payable drops after the batch is approved.
    let b3 = scn.ok(
        prep,
        "/v1/batches",
        &json!({"award": AWARD, "filter": {"payees": [format!("participant:{}", scn.p["a100"])]}}),
    );
    let batch3 = b3["batch"].as_str().expect("id").to_string();
    prep.post(
        &format!("/v1/batches/{batch3}/submit"),
        Some(&scn.key()),
        "{}",
    );
    let d3 = prep.get(&format!("/v1/batches/{batch3}")).json()["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    ana.post(
        &format!("/v1/batches/{batch3}/approve"),
        Some(&scn.key()),
        &json!({"digest": d3}).to_string(),
    );
    let r = prep.post(
        &format!("/v1/batches/{batch3}/files"),
        Some(&scn.key()),
        "{}",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    scn.ok(&scn.admin, "/v1/transactions", &json!({"date": "2026-04-10", "memo": "adjustment", "postings": [
        {"account": format!("payable:{AWARD}:participant:{}", scn.p["a100"]), "currency": "USD", "side": "debit", "amount": "30.00"},
        {"account": format!("expense:{AWARD}:c4t"), "currency": "USD", "side": "credit", "amount": "30.00"}]}));
    scn.refused(
        &ana,
        &format!("/v1/batches/{batch3}/send"),
        &json!({}),
        422,
        "above_open_payable",
        Some("postings"),
    );

    // The builder lists a100 as short; a hand-made part paying the full amount is refused.
    let r = prep.post(
        &format!("/v1/batches/{batch3}/cancel"),
        Some(&scn.key()),
        &json!({"reason": "payable adjusted"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let dry = scn.ok(
        prep,
        "/v1/batches",
        &json!({"award": AWARD, "dry_run": true}),
    );
    assert!(
        dry["exceptions"]
            .as_array()
            .expect("list")
            .iter()
            .any(|x| x["reason"] == "payable_short"),
        "{dry}"
    );
    let ledger = &scn.s.ledger;
    let (items, next) = scn.s.block_on(async {
        let st = ledger.store().programme().await.expect("state");
        let a100 =
            tranche_audit::disburse::Payee::Participant(super::programme::id(&scn.p["a100"]));
        let mut items: Vec<u64> = st
            .disburse
            .items
            .iter()
            .filter(|(_, i)| i.payee == a100 && i.is_open())
            .map(|(s, _)| *s)
            .collect();
        items.sort_unstable();
        (items, st.disburse.next_batch_id())
    });
    let craft = |currency: &str| {
        use tranche_audit::disburse::*;
        use tranche_ledger::domain::disburse::DisburseCommand;
        let create = BatchCreateBody {
            batch: next.clone(),
            award: super::programme::id(AWARD),
            currency: currency.into(),
            filter: BatchFilter::default(),
            payments: 1,
            total: "60.00".into(),
            exceptions: 0,
            parts: 1,
        };
        let part = BatchPartBody {
            batch: next.clone(),
            award: super::programme::id(AWARD),
            part: 0,
            payments: vec![PaymentBody {
                e2e: e2e_id(&next, 1),
                payee: format!("participant:{}", scn.p["a100"]),
                amount: "60.00".into(),
                entitlements: items.clone(),
                reissues: vec![],
            }],
            exceptions: vec![],
        };
        vec![
            tranche_ledger::domain::Command::Disburse(DisburseCommand::Create(create)),
            tranche_ledger::domain::Command::Disburse(DisburseCommand::Part(Box::new(part))),
        ]
    };
    for (currency, code, field) in [
        ("USD", "above_open_payable", "payments[0].amount"),
        ("EUR", "currency_mismatch", "currency"),
    ] {
        let before = scn.size();
        let err = scn
            .s
            .block_on(ledger.append(&craft(currency), "user:prep", chrono::Utc::now()))
            .expect_err("refused");
        match err {
            tranche_ledger::StoreError::Invalid(i) => {
                assert_eq!((i.code.as_str(), i.field.as_str()), (code, field), "{i}")
            }
            other => panic!("{other}"),
        }
        assert_eq!(scn.size(), before);
    }
    // A file over the size limit.
    let big = vec![b' '; tranche_ledger::iso20022::MAX_FILE_BYTES + 1];
    match scn.s.block_on(ledger.plan_import(
        &big,
        Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 6).expect("a date")),
    )) {
        Err(tranche_ledger::StoreError::Invalid(i)) => {
            assert_eq!((i.code, i.field.as_str()), (Code::TooLarge, "file"))
        }
        other => panic!("{other:?}"),
    }

    // Status files: unknown batch, malformed XML, a DOCTYPE with an entity, a bad CSV amount.
    let before = scn.size();
    post_file(
        &scn,
        prep,
        &pain002("NOPE-1", &[("B000001-000001", "ACCP", None)]),
    )
    .problem(422, "unknown_batch", Some("original_message_id"));
    post_file(
        &scn,
        prep,
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\"><CstmrPmtStsRpt><GrpHdr></CstmrPmtStsRpt>",
    )
    .problem(422, "malformed_xml", Some("file"));
    post_file(
        &scn,
        prep,
        "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Document>&x;</Document>",
    )
    .problem(422, "doctype_refused", Some("file"));
    let r = post_file(
        &scn,
        prep,
        "end_to_end_id,status,amount,currency,reason,date\nB000003-000001,booked,12.345,USD,,\n",
    );
    r.problem(422, "invalid_rows", Some("file"));
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("line 2"),
        "{}",
        r.body
    );
    assert_eq!(scn.size(), before, "a refused file wrote something");
}

server_on_both_backends!(
    disbursement_end_to_end,
    disbursement_bad_inputs,
    plain_text_exports_balance_like_the_ledger
);

/// Sums a plain-text journal per (account, commodity): the postings' amounts as written.
fn text_balances(
    text: &str,
    posting_indent: &str,
) -> std::collections::BTreeMap<(String, String), i64> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(posting_indent) else {
            continue;
        };
        if rest.starts_with(' ') || rest.starts_with(';') || rest.contains(": ") {
            continue;
        }
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let [account, amount, commodity] = parts[..] else {
            continue;
        };
        let minor: i64 = amount.replace('.', "").parse().expect("amount");
        *out.entry((account.to_string(), commodity.to_string()))
            .or_default() += minor;
    }
    out
}

fn plain_text_exports_balance_like_the_ledger(s: TestServer) {
    let (scn, all) = setup(s);
    let (ana, beto, _) = tokens(&scn);
    earn(&scn, &all);
    drawdown(&scn, "1000.00");
    settings(&scn, "500.00");
    let b = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    let batch = b["batch"].as_str().expect("id").to_string();
    scn.preparer.post(
        &format!("/v1/batches/{batch}/submit"),
        Some(&scn.key()),
        "{}",
    );
    let (sent, _) = batch_to_bank(&scn, &[&ana, &beto], &batch);
    let lines: Vec<(String, String)> = sent["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| {
            (
                p["e2e"].as_str().expect("e2e").to_string(),
                p["amount"].as_str().expect("amount").to_string(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|(e, a)| (e.as_str(), a.as_str(), "DBIT"))
        .collect();
    let r = post_file(&scn, &scn.preparer, &camt053("ST-X", &refs[..2]));
    assert_eq!(r.status, 201, "{}", r.body);

    let want: std::collections::BTreeMap<(String, String), i64> = scn
        .s
        .block_on(scn.s.ledger.store().balances(""))
        .expect("balances")
        .into_iter()
        .map(|r| ((r.account, r.currency), r.debit_minor - r.credit_minor))
        .filter(|(_, v)| *v != 0)
        .collect();
    let dir = tempfile::tempdir().expect("dir");
    for format in [
        tranche_ledger::service::export_text::TextFormat::Hledger,
        tranche_ledger::service::export_text::TextFormat::Beancount,
    ] {
        let path = dir.path().join(format!("j.{}", format.extension()));
        scn.s
            .block_on(tranche_ledger::service::export_text::export_text(
                &scn.s.ledger,
                &path,
                format,
                |_, _| {},
            ))
            .expect("export");
        let text = std::fs::read_to_string(&path).expect("read");
        let indent = if format == tranche_ledger::service::export_text::TextFormat::Hledger {
            "    "
        } else {
            "  "
        };
        let got: std::collections::BTreeMap<(String, String), i64> = text_balances(&text, indent)
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .collect();
        let expected: std::collections::BTreeMap<(String, String), i64> = if format
            == tranche_ledger::service::export_text::TextFormat::Hledger
        {
            want.clone()
        } else {
            let types: std::collections::HashMap<String, tranche_audit::account::AccountType> = scn
                .s
                .block_on(scn.s.ledger.store().accounts())
                .expect("accounts")
                .into_iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        tranche_audit::account::AccountType::parse(&a.account_type).expect("type"),
                    )
                })
                .collect();
            want.iter()
                .map(|((a, c), v)| {
                    (
                        (
                            tranche_ledger::service::export_text::beancount_account(a, types[a]),
                            c.clone(),
                        ),
                        *v,
                    )
                })
                .collect()
        };
        assert_eq!(got, expected, "{format:?}");
        // The tools themselves, when installed, read the file and find it balanced.
        let tool = match format {
            tranche_ledger::service::export_text::TextFormat::Hledger => (
                "hledger",
                vec!["-f", path.to_str().expect("utf-8"), "check"],
            ),
            tranche_ledger::service::export_text::TextFormat::Beancount => {
                ("bean-check", vec![path.to_str().expect("utf-8")])
            }
        };
        if let Ok(out) = std::process::Command::new(tool.0).args(&tool.1).output() {
            assert!(
                out.status.success(),
                "{}: {}",
                tool.0,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
