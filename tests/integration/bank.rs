//! The bank reconciliation against statements as banks write them, on both backends: batch
//! entries with amounts in `AmtDtls`, a bank charge, interest, a duplicate booking, a return, an
//! entry that does not add up, a pending entry, opening and closing balances. Every line lands
//! in exactly one category, the categories add up to the statements' booked entries, the balance
//! ties to the ledger, and `tranche-verify`'s computation re-derives the report from an export.
//! Statements that cannot be right are refused whole, naming the entry and the rule.

use serde_json::{json, Value};
use tranche_audit::report::differences;
use tranche_tests::{server_on_both_backends, TestServer};

use super::programme::{setup, Schedule, Scn, AWARD};

/// One `Ntry` of a statement.
struct Entry<'a> {
    /// `NtryRef`.
    reference: &'a str,
    amount: &'a str,
    dir: &'a str,
    status: &'a str,
    /// `TxDtls` as (end-to-end id, where the amount is, amount, return reason).
    txs: Vec<(&'a str, &'a str, &'a str, Option<&'a str>)>,
}

fn entry<'a>(reference: &'a str, amount: &'a str, dir: &'a str) -> Entry<'a> {
    Entry {
        reference,
        amount,
        dir,
        status: "BOOK",
        txs: Vec::new(),
    }
}

fn tx_amount(place: &str, amount: &str) -> String {
    match place {
        "Amt" => format!("<Amt Ccy=\"USD\">{amount}</Amt>"),
        "TxAmt" => format!("<AmtDtls><TxAmt><Amt Ccy=\"USD\">{amount}</Amt></TxAmt></AmtDtls>"),
        "InstdAmt" => {
            format!("<AmtDtls><InstdAmt><Amt Ccy=\"USD\">{amount}</Amt></InstdAmt></AmtDtls>")
        }
        _ => String::new(),
    }
}

/// A camt.053.001.08 on one line, as banks send it, with booked balances.
fn statement(id: &str, opening: &str, closing: &str, entries: &[Entry<'_>]) -> String {
    let bal = |code: &str, amount: &str| {
        let (dir, amount) = match amount.strip_prefix('-') {
            Some(a) => ("DBIT", a),
            None => ("CRDT", amount),
        };
        format!(
            "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"USD\">{amount}</Amt>\
<CdtDbtInd>{dir}</CdtDbtInd><Dt><Dt>2026-04-03</Dt></Dt></Bal>"
        )
    };
    let mut body = String::new();
    for e in entries {
        let mut txs = String::new();
        for (e2e, place, amount, reason) in &e.txs {
            let refs = if e2e.is_empty() {
                String::new()
            } else {
                format!("<Refs><EndToEndId>{e2e}</EndToEndId></Refs>")
            };
            let rtr = reason
                .map(|r| format!("<RtrInf><Rsn><Cd>{r}</Cd></Rsn></RtrInf>"))
                .unwrap_or_default();
            txs.push_str(&format!(
                "<TxDtls>{refs}{}{rtr}</TxDtls>",
                tx_amount(place, amount)
            ));
        }
        let details = if txs.is_empty() {
            String::new()
        } else {
            format!("<NtryDtls>{txs}</NtryDtls>")
        };
        body.push_str(&format!(
            "<Ntry><NtryRef>{}</NtryRef><Amt Ccy=\"USD\">{}</Amt><CdtDbtInd>{}</CdtDbtInd>\
<Sts><Cd>{}</Cd></Sts><BookgDt><Dt>2026-04-03</Dt></BookgDt>\
<AcctSvcrRef>BK-{}</AcctSvcrRef>{details}</Ntry>",
            e.reference, e.amount, e.dir, e.status, e.reference
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\
<BkToCstmrStmt><GrpHdr><MsgId>{id}</MsgId><CreDtTm>2026-04-03T05:00:00</CreDtTm></GrpHdr>\
<Stmt><Id>{id}</Id><Acct><Id><Othr><Id>2100456789</Id></Othr></Id><Ccy>USD</Ccy></Acct>\
{}{}{body}</Stmt></BkToCstmrStmt></Document>",
        bal("OPBD", opening),
        bal("CLBD", closing)
    )
}

fn usd(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.abs() / 100, minor.abs() % 100)
}

fn minor(text: &str) -> i64 {
    let (neg, t) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (i, f) = t.split_once('.').expect("two decimals");
    let v = i.parse::<i64>().expect("int") * 100 + f.parse::<i64>().expect("cents");
    if neg {
        -v
    } else {
        v
    }
}

/// Four payments sent to the bank after a drawdown of 1000.00: (end-to-end id, amount), sorted.
fn four_payments_sent(scn: &Scn, all: &Schedule, approver: &str) -> Vec<(String, i64)> {
    super::disburse::earn(scn, all);
    super::disburse::drawdown(scn, "1000.00");
    super::disburse::settings(scn, "5000.00");
    let ana = scn
        .s
        .client(&scn.admin.add_user(approver, "approver", None));
    let b = scn.ok(&scn.preparer, "/v1/batches", &json!({"award": AWARD}));
    let batch = b["batch"].as_str().expect("id").to_string();
    scn.preparer.post(
        &format!("/v1/batches/{batch}/submit"),
        Some(&scn.key()),
        "{}",
    );
    let (sent, _) = super::disburse::batch_to_bank(scn, &[&ana], &batch);
    let mut lines: Vec<(String, i64)> = sent["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| {
            (
                p["e2e"].as_str().expect("e").to_string(),
                minor(p["amount"].as_str().expect("a")),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(lines.len(), 4, "{sent}");
    lines
}

fn start(s: TestServer) -> (Scn, Schedule) {
    setup(s)
}

fn post_file(scn: &Scn, text: &str) -> tranche_tests::Reply {
    scn.preparer.post("/v1/bank-files", Some(&scn.key()), text)
}

fn bank_report(scn: &Scn) -> Value {
    let r = scn.preparer.get(&format!(
        "/v1/reports/bank?award={AWARD}&start=2026-01-01&end=2026-12-31"
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// The Done-when walkthrough: two statements that between them hold a batch-booked entry with
/// its amounts in `AmtDtls`, a bank charge, interest, an entry whose transactions do not add
/// up, a pending entry, a duplicate booking of a confirmed payment and a return.
fn every_statement_line_is_accounted_for_and_the_balance_ties(s: TestServer) {
    let (scn, all) = start(s);
    let p = four_payments_sent(&scn, &all, "ana-bank");
    let (e0, a0) = (p[0].0.as_str(), p[0].1);
    let (e1, a1) = (p[1].0.as_str(), p[1].1);
    let (e2, a2) = (p[2].0.as_str(), p[2].1);
    let (e3, a3) = (p[3].0.as_str(), p[3].1);
    let opening = 100_000;
    // Statement 1: one entry books the first two payments (one amount in AmtDtls/TxAmt, the
    // other in AmtDtls/InstdAmt), one books the third, a bank charge, an entry of two unknown
    // transfers that do not add up to it, and a pending entry. The fourth payment is in transit.
    let batch_amount = usd(a0 + a1);
    let (s0, s1, s2) = (usd(a0), usd(a1), usd(a2));
    let closing1 = opening - (a0 + a1) - a2 - 250 - 5_000;
    let mut batch_entry = entry("N-1", &batch_amount, "DBIT");
    batch_entry.txs = vec![(e0, "TxAmt", &s0, None), (e1, "InstdAmt", &s1, None)];
    let mut single = entry("N-2", &s2, "DBIT");
    single.txs = vec![(e2, "Amt", &s2, None)];
    let charge = entry("FEE-1", "2.50", "DBIT");
    let mut lump = entry("N-4", "50.00", "DBIT");
    lump.txs = vec![("X-1", "Amt", "20.00", None), ("X-2", "Amt", "25.00", None)];
    let mut pending = entry("N-5", "7.00", "DBIT");
    pending.status = "PDNG";
    let st1 = statement(
        "ST-1",
        &usd(opening),
        &usd(closing1),
        &[batch_entry, single, charge, lump, pending],
    );
    let r = post_file(&scn, &st1);
    assert_eq!(r.status, 201, "{}", r.body);
    let imported = r.json();
    let codes: Vec<&str> = imported["exceptions"]
        .as_array()
        .expect("exceptions")
        .iter()
        .map(|x| x["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        ["no_end_to_end_id", "entry_sum_mismatch", "not_booked"],
        "{imported}"
    );
    // The exception names its entry by its references and path, not by a line number.
    let lump_x = &imported["exceptions"][1];
    assert_eq!(lump_x["at"]["path"], "Stmt[1]/Ntry[4]", "{imported}");
    assert_eq!(lump_x["at"]["entry_ref"], "N-4", "{imported}");
    assert_eq!(lump_x["at"]["servicer_ref"], "BK-N-4", "{imported}");
    assert_eq!(lump_x["amount"], "50.00", "{imported}");

    // Statement 2: the first payment comes back (a credit with RtrInf), the second is booked a
    // second time, and the bank pays interest.
    let closing2 = closing1 + a0 - a1 + 40;
    let mut ret = entry("R-1", &s0, "CRDT");
    ret.txs = vec![(e0, "Amt", &s0, Some("AC04"))];
    let mut dup = entry("D-1", &s1, "DBIT");
    dup.txs = vec![(e1, "Amt", &s1, None)];
    let interest = entry("INT-1", "0.40", "CRDT");
    let st2 = statement(
        "ST-2",
        &usd(closing1),
        &usd(closing2),
        &[ret, dup, interest],
    );
    let r = post_file(&scn, &st2);
    assert_eq!(r.status, 201, "{}", r.body);
    // The return posts bank -> payable and reopens the payment for a reissue.
    let pay = scn.preparer.get(&format!("/v1/payments/{e0}"));
    assert_eq!(pay.json()["status"], "returned", "{}", pay.body);

    let bank = bank_report(&scn);
    let body = &bank["report"]["body"];
    assert_eq!(body["statements"], 2, "{body}");
    let category = |name: &str| -> (u64, i64, i64) {
        let c = body["categories"]
            .as_array()
            .expect("categories")
            .iter()
            .find(|c| c["category"] == name)
            .unwrap_or_else(|| panic!("no category {name}: {body}"));
        (
            c["lines"].as_u64().expect("lines"),
            minor(c["debits"].as_str().expect("debits")),
            minor(c["credits"].as_str().expect("credits")),
        )
    };
    assert_eq!(category("matched"), (3, a0 + a1 + a2, 0), "{body}");
    assert_eq!(category("returns"), (1, 0, a0), "{body}");
    assert_eq!(category("statement_only"), (2, 250, 40), "{body}");
    assert_eq!(category("duplicates"), (1, a1, 0), "{body}");
    assert_eq!(category("amount_mismatches"), (0, 0, 0), "{body}");
    assert_eq!(category("unbalanced_entries"), (1, 5_000, 0), "{body}");
    let debits = (a0 + a1) + a2 + 250 + 5_000 + a1;
    let credits = a0 + 40;
    assert_eq!(body["total_debits"], usd(debits), "{body}");
    assert_eq!(body["total_credits"], usd(credits), "{body}");
    assert_eq!(body["categories_debits"], usd(debits), "{body}");
    assert_eq!(body["categories_credits"], usd(credits), "{body}");
    assert_eq!(body["ties"], true, "{body}");
    assert_eq!(
        (
            body["matched"]["count"].as_u64(),
            body["matched"]["amount"].as_str()
        ),
        (Some(3), Some(usd(a0 + a1 + a2).as_str())),
        "{body}"
    );
    let listed = |k: &str| -> Vec<(String, String, String)> {
        body[k]
            .as_array()
            .unwrap_or_else(|| panic!("{k}: {body}"))
            .iter()
            .map(|l| {
                (
                    l["e2e"].as_str().unwrap_or_default().to_string(),
                    l["amount"].as_str().expect("amount").to_string(),
                    l["reference"].as_str().expect("reference").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        listed("returns"),
        [(
            e0.to_string(),
            s0.clone(),
            "NtryRef R-1, AcctSvcrRef BK-R-1, Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]".to_string()
        )],
        "{body}"
    );
    assert_eq!(
        listed("duplicates"),
        [(
            e1.to_string(),
            s1.clone(),
            "NtryRef D-1, AcctSvcrRef BK-D-1, Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[1]".to_string()
        )],
        "{body}"
    );
    assert_eq!(body["duplicates"][0]["code"], "already_confirmed", "{body}");
    assert_eq!(
        listed("statement_only"),
        [
            (
                String::new(),
                "2.50".to_string(),
                "NtryRef FEE-1, AcctSvcrRef BK-FEE-1, Stmt[1]/Ntry[3]".to_string()
            ),
            (
                String::new(),
                "0.40".to_string(),
                "NtryRef INT-1, AcctSvcrRef BK-INT-1, Stmt[1]/Ntry[3]".to_string()
            ),
        ],
        "{body}"
    );
    assert_eq!(body["statement_only"][0]["direction"], "debit", "{body}");
    assert_eq!(body["statement_only"][1]["direction"], "credit", "{body}");
    assert_eq!(
        listed("unbalanced_entries"),
        [(
            String::new(),
            "50.00".to_string(),
            "NtryRef N-4, AcctSvcrRef BK-N-4, Stmt[1]/Ntry[4]".to_string()
        )],
        "{body}"
    );
    assert_eq!(listed("not_booked").len(), 1, "{body}");
    assert_eq!(
        listed("ledger_only"),
        [(
            e3.to_string(),
            usd(a3),
            body["ledger_only"][0]["reference"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        )],
        "{body}"
    );
    // The reconciliation the finance officer signs, at the second statement's closing balance.
    let bal = &body["balance"];
    assert_eq!(bal["statement"], "ST-2", "{body}");
    assert_eq!(bal["account"], "2100456789", "{body}");
    assert_eq!(bal["date"], "2026-04-03", "{body}");
    assert_eq!(bal["opening"], usd(closing1), "{body}");
    assert_eq!(bal["closing"], usd(closing2), "{body}");
    assert_eq!(bal["in_transit"], usd(a3), "{body}");
    let unreconciled = 250 + 5_000 + a1 - 40;
    assert_eq!(bal["unreconciled"], usd(unreconciled), "{body}");
    assert_eq!(bal["adjusted"], usd(closing2 - a3 + unreconciled), "{body}");
    assert_eq!(bal["ledger_bank"], usd(opening - a1 - a2), "{body}");
    assert_eq!(bal["ledger"], usd(opening - a1 - a2 - a3), "{body}");
    assert_eq!(bal["difference"], "0.00", "{body}");
    // Returns are listed in the payment reconciliation too.
    let pay = scn.preparer.get(&format!(
        "/v1/reports/payments?award={AWARD}&start=2026-01-01&end=2026-12-31"
    ));
    assert_eq!(
        pay.json()["report"]["body"]["returned"]["count"],
        1,
        "{}",
        pay.body
    );
    // The CSV and the page say the same.
    let csv = scn.preparer.get(&format!(
        "/v1/reports/bank?award={AWARD}&start=2026-01-01&end=2026-12-31&format=csv"
    ));
    for want in [
        "duplicate,",
        "return,",
        "unbalanced_entry,",
        "balance,difference",
    ] {
        assert!(csv.body.contains(want), "{want}: {}", csv.body);
    }

    // Recomputed from an export with no database, as `tranche-verify report` does.
    let (signed, recomputed) = super::reports::recomputed_from_export(&scn.s, &bank, "bank", 0);
    let claimed = serde_json::to_value(&signed.report.body).expect("json");
    assert!(
        differences(&claimed, &recomputed).is_empty(),
        "{claimed} {recomputed}"
    );
    let mut tampered = claimed.clone();
    tampered["balance"]["difference"] = json!("1.00");
    assert_eq!(
        differences(&tampered, &recomputed),
        vec!["balance.difference".to_string()]
    );
}

/// Statements that cannot be right are refused whole: the entry or field and the rule are
/// named, and the journal does not grow.
fn a_statement_that_cannot_be_right_is_refused_and_posts_nothing(s: TestServer) {
    let (scn, all) = start(s);
    let p = four_payments_sent(&scn, &all, "ana-bad");
    let (e0, a0) = (p[0].0.as_str(), p[0].1);
    let s0 = usd(a0);
    let mut booked = entry("N-1", &s0, "DBIT");
    booked.txs = vec![(e0, "Amt", &s0, None)];
    let before = scn.size();
    // Entries that do not add up to the balances.
    let wrong = statement("ST-BAD", "1000.00", "999.99", &[booked]);
    post_file(&scn, &wrong).problem(422, "statement_unbalanced", Some("Stmt[1]/Bal[2]"));
    assert_eq!(scn.size(), before);
    // An entry in another currency than the account's.
    let mut eur = entry("N-1", &s0, "DBIT");
    eur.txs = vec![(e0, "Amt", &s0, None)];
    let text = statement("ST-EUR", "1000.00", &usd(100_000 - a0), &[eur]).replacen(
        "<NtryRef>N-1</NtryRef><Amt Ccy=\"USD\">",
        "<NtryRef>N-1</NtryRef><Amt Ccy=\"EUR\">",
        1,
    );
    let r = post_file(&scn, &text);
    r.problem(
        422,
        "currency_mismatch",
        Some("Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]"),
    );
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("NtryRef N-1"),
        "{}",
        r.body
    );
    assert_eq!(scn.size(), before);
    // A statement of an account in another currency.
    let mut fine = entry("N-1", &s0, "DBIT");
    fine.txs = vec![(e0, "Amt", &s0, None)];
    let text = statement("ST-CCY", "1000.00", &usd(100_000 - a0), &[fine])
        .replace("<Ccy>USD</Ccy>", "<Ccy>EUR</Ccy>");
    post_file(&scn, &text).problem(422, "currency_mismatch", Some("Stmt[1]/Acct/Ccy"));
    assert_eq!(scn.size(), before);
    // A return of a payment no statement has booked out.
    let mut ret = entry("R-1", &s0, "CRDT");
    ret.txs = vec![(e0, "Amt", &s0, Some("AC04"))];
    let text = statement("ST-RET", "1000.00", &usd(100_000 + a0), &[ret]);
    let r = post_file(&scn, &text);
    r.problem(
        422,
        "return_not_confirmed",
        Some("Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]"),
    );
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("NtryRef R-1"),
        "{}",
        r.body
    );
    assert_eq!(scn.size(), before);
    // An entry booked outside the statement's period (`FrToDt`).
    let mut late = entry("N-1", &s0, "DBIT");
    late.txs = vec![(e0, "Amt", &s0, None)];
    let text = statement("ST-LATE", "1000.00", &usd(100_000 - a0), &[late]).replacen(
        "<Stmt><Id>ST-LATE</Id>",
        "<Stmt><Id>ST-LATE</Id><FrToDt><FrDtTm>2026-04-01T00:00:00</FrDtTm><ToDtTm>2026-04-02T23:59:59</ToDtTm></FrToDt>",
        1,
    );
    let r = post_file(&scn, &text);
    r.problem(
        422,
        "line_outside_statement",
        Some("Stmt[1]/Ntry[1]/BookgDt"),
    );
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("2026-04-03"),
        "{}",
        r.body
    );
    assert_eq!(scn.size(), before);
    // The same payment's booking, well formed, is accepted.
    let mut ok = entry("N-1", &s0, "DBIT");
    ok.txs = vec![(e0, "Amt", &s0, None)];
    let r = post_file(
        &scn,
        &statement("ST-OK", "1000.00", &usd(100_000 - a0), &[ok]),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(scn.size() > before);
}

/// Accounts as Ecuador's banks write them: a domestic number with its bank's code and type is
/// accepted and reaches the pain.001 as `Othr/Id` with `Tp/Cd` and `ClrSysMmbId`; an IBAN with
/// a bad check digit, a bank code that is not one, a domestic account without its type or its
/// bank are refused at settings, naming the field and the rule, with nothing written.
fn an_account_is_checked_where_it_is_given(s: TestServer) {
    let (scn, _) = start(s);
    let settings = |debtor: Value| {
        json!({"award": AWARD, "debtor": debtor,
               "vendors": [{"vendor": "secap", "name": "SECAP training centre", "account": "3300112233",
                            "bank_code": "0036", "account_type": "savings"}],
               "dual_approval_above": "5000.00"})
    };
    let path = "/v1/disbursement-settings";
    for (debtor, code, field) in [
        (
            json!({"name": "HIAS", "account": "EC12 3456 7890 1234 5678 9012 34"}),
            "invalid_iban",
            "debtor.account",
        ),
        (
            json!({"name": "HIAS", "account": "DE89370400440532013001"}),
            "invalid_iban",
            "debtor.account",
        ),
        (
            json!({"name": "HIAS", "account": "2100456789", "bank_code": "10A", "account_type": "current"}),
            "invalid_bank_code",
            "debtor.bank_code",
        ),
        (
            json!({"name": "HIAS", "account": "2100456789", "bank_code": "0010"}),
            "account_type_required",
            "debtor.account_type",
        ),
        (
            json!({"name": "HIAS", "account": "2100456789", "account_type": "current"}),
            "bank_required",
            "debtor.bank_code",
        ),
        (
            json!({"name": "HIAS", "account": "2100456789", "agent_bic": "PICH1CEQ"}),
            "invalid_bic",
            "debtor.agent_bic",
        ),
    ] {
        scn.refused(&scn.admin, path, &settings(debtor), 422, code, Some(field));
    }
    let before = scn.size();
    scn.ok(
        &scn.admin,
        path,
        &settings(
            json!({"name": "HIAS Ecuador programme account", "account": "2100456789",
                         "bank_code": "0010", "account_type": "current"}),
        ),
    );
    // Journaled as given, for the bank file to write.
    let r = scn.admin.get(&format!("/v1/records/{before}"));
    assert_eq!(r.status, 200, "{}", r.body);
    for want in [
        "\"account_type\":\"current\"",
        "\"bank_code\":\"0010\"",
        "\"account_type\":\"savings\"",
    ] {
        assert!(r.body.contains(want), "{want}: {}", r.body);
    }
}

server_on_both_backends!(
    every_statement_line_is_accounted_for_and_the_balance_ties,
    a_statement_that_cannot_be_right_is_refused_and_posts_nothing,
    an_account_is_checked_where_it_is_given,
);
