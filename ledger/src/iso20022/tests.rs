use std::time::Instant;

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use tranche_audit::money::{Currency, Money};
use tranche_audit::Code;

use super::*;

const PAIN002_V10: &[u8] = include_bytes!("../../tests/data/iso20022/pain002_v10.xml");
const PAIN002_V12: &[u8] = include_bytes!("../../tests/data/iso20022/pain002_v12_prefixed.xml");
const CAMT053_V02: &[u8] = include_bytes!("../../tests/data/iso20022/camt053_v02.xml");
const CAMT053_V08: &[u8] = include_bytes!("../../tests/data/iso20022/camt053_v08.xml");

fn ccy(code: &str) -> Currency {
    Currency::parse(code).expect("known currency")
}

fn money(text: &str, code: &str) -> Money {
    Money::parse_positive(text, ccy(code)).expect("valid amount")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn payment(i: usize, currency: Currency, amount_minor: i64) -> CreditTransfer {
    CreditTransfer {
        end_to_end_id: format!("E2E-{i:06}"),
        instruction_id: format!("I-{i:06}"),
        amount_minor,
        currency,
        creditor_name: format!("Participant {i}"),
        creditor_account: AccountId::Other(format!("+2547{i:08}")),
        creditor_agent_bic: None,
        creditor_bank_code: None,
        creditor_account_type: None,
        remittance: Some("Caminando transfer 2026-11".into()),
    }
}

fn batch(payments: Vec<CreditTransfer>, currency: Currency) -> CreditTransferInitiation {
    CreditTransferInitiation {
        message_id: "TR-2026-11-B001".into(),
        created_at: Utc
            .with_ymd_and_hms(2026, 11, 23, 10, 15, 0)
            .single()
            .expect("valid time"),
        initiating_party: "Caminando Programme".into(),
        payment_info_id: None,
        requested_execution_date: date(2026, 11, 25),
        debtor: Debtor {
            name: "Caminando Programme Account".into(),
            account: AccountId::Iban("DE89 3704 0044 0532 0130 00".into()),
            agent_bic: None,
            bank_code: None,
            account_type: None,
        },
        currency,
        payments,
    }
}

fn three_payments() -> CreditTransferInitiation {
    let usd = ccy("USD");
    let mut p1 = payment(1, usd, 6000);
    p1.creditor_name = "María Fernanda González".into();
    p1.creditor_account = AccountId::Iban("GB82WEST12345698765432".into());
    p1.creditor_agent_bic = Some("WESTGB2L".into());
    let mut p2 = payment(2, usd, 7050);
    p2.creditor_account = AccountId::Other("+254712345678".into());
    p2.remittance = None;
    let mut p3 = payment(3, usd, 12_345_678);
    p3.creditor_account = AccountId::Other("0012-3456-78".into());
    batch(vec![p1, p2, p3], usd)
}

fn text(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(t, _)| t.to_string()))
        .collect()
}

// ---- pain.001 writer and checker ----

#[test]
fn three_payments_write_then_check() {
    let xml = write_pain001(&three_payments()).expect("writes");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">"));
    assert_eq!(text(&xml, "NbOfTxs"), ["3", "3"]);
    assert_eq!(text(&xml, "CtrlSum"), ["123587.28", "123587.28"]);
    assert_eq!(text(&xml, "CreDtTm"), ["2026-11-23T10:15:00Z"]);
    assert_eq!(text(&xml, "PmtInfId"), ["TR-2026-11-B001"]);
    assert_eq!(text(&xml, "PmtMtd"), ["TRF"]);
    assert_eq!(text(&xml, "Dt"), ["2026-11-25"]);
    assert!(xml.contains("<ReqdExctnDt><Dt>2026-11-25</Dt></ReqdExctnDt>"));
    // The debtor's IBAN is normalised; without a BIC the agent is NOTPROVIDED.
    assert!(xml.contains("<DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>"));
    assert!(xml
        .contains("<DbtrAgt><FinInstnId><Othr><Id>NOTPROVIDED</Id></Othr></FinInstnId></DbtrAgt>"));
    assert!(xml.contains("<InstdAmt Ccy=\"USD\">60.00</InstdAmt>"));
    assert!(xml.contains("<InstdAmt Ccy=\"USD\">70.50</InstdAmt>"));
    assert!(xml.contains("<InstdAmt Ccy=\"USD\">123456.78</InstdAmt>"));
    // Creditor agent only when known, before Cdtr; Othr/Id for non-IBAN accounts.
    assert!(xml.contains("</Amt><CdtrAgt><FinInstnId><BICFI>WESTGB2L</BICFI></FinInstnId></CdtrAgt><Cdtr><Nm>María Fernanda González</Nm></Cdtr><CdtrAcct><Id><IBAN>GB82WEST12345698765432</IBAN></Id></CdtrAcct><RmtInf><Ustrd>Caminando transfer 2026-11</Ustrd></RmtInf></CdtTrfTxInf>"));
    assert!(xml.contains("<PmtId><InstrId>I-000002</InstrId><EndToEndId>E2E-000002</EndToEndId></PmtId><Amt><InstdAmt Ccy=\"USD\">70.50</InstdAmt></Amt><Cdtr><Nm>Participant 2</Nm></Cdtr><CdtrAcct><Id><Othr><Id>+254712345678</Id></Othr></Id></CdtrAcct></CdtTrfTxInf>"));
    assert_eq!(xml.matches("<CdtrAgt>").count(), 1);

    let summary = check_pain001(xml.as_bytes()).expect("checks");
    assert_eq!(summary.message_id, "TR-2026-11-B001");
    assert_eq!(summary.payment_infos, 1);
    assert_eq!(summary.number_of_transactions, 3);
    assert_eq!(summary.control_sum, Decimal::new(12_358_728, 2));
    assert_eq!(
        summary.payments,
        vec![
            ("E2E-000001".to_string(), money("60.00", "USD")),
            ("E2E-000002".to_string(), money("70.50", "USD")),
            ("E2E-000003".to_string(), money("123456.78", "USD")),
        ]
    );
}

#[test]
fn element_order_follows_the_schema() {
    let xml = write_pain001(&three_payments()).expect("writes");
    let order = |names: &[&str]| {
        let at: Vec<usize> = names
            .iter()
            .map(|n| xml.find(&format!("<{n}>")).expect(n))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    };
    order(&[
        "GrpHdr", "MsgId", "CreDtTm", "NbOfTxs", "CtrlSum", "InitgPty", "PmtInf",
    ]);
    order(&[
        "PmtInfId",
        "PmtMtd",
        "ReqdExctnDt",
        "Dbtr",
        "DbtrAcct",
        "DbtrAgt",
        "CdtTrfTxInf",
    ]);
    order(&[
        "CdtTrfTxInf",
        "PmtId",
        "InstrId",
        "EndToEndId",
        "Amt",
        "CdtrAgt",
        "Cdtr",
        "CdtrAcct",
        "RmtInf",
        "Ustrd",
    ]);
}

#[test]
fn zero_decimal_currency_is_written_without_decimals() {
    let clp = ccy("CLP");
    let xml = write_pain001(&batch(
        vec![payment(1, clp, 1500), payment(2, clp, 45_000)],
        clp,
    ))
    .expect("writes");
    assert!(xml.contains("<InstdAmt Ccy=\"CLP\">1500</InstdAmt>"));
    assert_eq!(text(&xml, "CtrlSum"), ["46500", "46500"]);
    let summary = check_pain001(xml.as_bytes()).expect("checks");
    assert_eq!(summary.control_sum, Decimal::new(46_500, 0));
    let jod = ccy("JOD");
    let xml = write_pain001(&batch(vec![payment(1, jod, 1)], jod)).expect("writes");
    assert!(xml.contains("<InstdAmt Ccy=\"JOD\">0.001</InstdAmt>"));
}

#[test]
fn hundred_thousand_payments_round_trip() {
    let usd = ccy("USD");
    let n = 100_000;
    let payments: Vec<_> = (0..n)
        .map(|i| payment(i, usd, 1 + (i as i64 % 50_000)))
        .collect();
    let expected_minor: i64 = payments.iter().map(|p| p.amount_minor).sum();
    let input = batch(payments, usd);
    let t = Instant::now();
    let xml = write_pain001(&input).expect("writes");
    let written = t.elapsed();
    let t = Instant::now();
    let summary = check_pain001(xml.as_bytes()).expect("checks");
    let checked = t.elapsed();
    eprintln!(
        "pain.001 with {n} payments: {} bytes, written in {written:?}, checked in {checked:?}",
        xml.len()
    );
    assert_eq!(summary.number_of_transactions, n as u64);
    assert_eq!(summary.payments.len(), n);
    assert_eq!(summary.control_sum, Decimal::new(expected_minor, 2));
    assert_eq!(summary.payments[99_999].0, "E2E-099999");
}

#[test]
fn text_is_escaped_and_names_truncated() {
    let usd = ccy("USD");
    let mut p = payment(1, usd, 100);
    p.creditor_name = "Pérez & Hijos <Ltda> \"La 'Esperanza'\"".into();
    p.remittance = Some("Ref <1> & <2>".into());
    let mut long = payment(2, usd, 100);
    long.creditor_name = format!("  {}ñ-tail", "a".repeat(139));
    let mut input = batch(vec![p, long], usd);
    input.initiating_party = "ACME & Co".into();
    let xml = write_pain001(&input).expect("writes");
    assert!(xml
        .contains("<Nm>Pérez &amp; Hijos &lt;Ltda&gt; &quot;La &apos;Esperanza&apos;&quot;</Nm>"));
    assert!(xml.contains("<Ustrd>Ref &lt;1&gt; &amp; &lt;2&gt;</Ustrd>"));
    assert!(xml.contains("<InitgPty><Nm>ACME &amp; Co</Nm></InitgPty>"));
    // 140 characters (not bytes): the multi-byte ñ is the 140th and stays whole.
    let cut = format!("<Nm>{}ñ</Nm>", "a".repeat(139));
    assert!(xml.contains(&cut), "truncated to 140 characters");
    check_pain001(xml.as_bytes()).expect("escaped output is well-formed");
}

fn writer_refuses(input: &CreditTransferInitiation, field: &str, code: &str) {
    let e = write_pain001(input).expect_err("refused");
    let inv = e.to_invalid();
    assert_eq!(
        (inv.field.as_str(), inv.code.as_str()),
        (field, code),
        "{e}"
    );
}

#[test]
fn writer_refuses_bad_input_naming_the_field() {
    let usd = ccy("USD");
    let base = three_payments();

    let mut b = base.clone();
    b.payments[1].creditor_name = "Ana\u{7}Maria".into();
    writer_refuses(&b, "payments[1].creditor_name", "control_character");
    let mut b = base.clone();
    b.payments[2].remittance = Some("line\nbreak".into());
    writer_refuses(&b, "payments[2].remittance", "control_character");
    let mut b = base.clone();
    b.payments[2].end_to_end_id = "E2E-000001".into();
    writer_refuses(&b, "payments[2].end_to_end_id", "duplicate_end_to_end_id");
    let mut b = base.clone();
    b.payments[0].end_to_end_id = "X".repeat(36);
    writer_refuses(&b, "payments[0].end_to_end_id", "too_long");
    let mut b = base.clone();
    b.message_id = String::new();
    writer_refuses(&b, "message_id", "empty");
    let mut b = base.clone();
    b.payments[0].creditor_account = AccountId::Iban("GB82WEST12345698765431".into());
    writer_refuses(&b, "payments[0].creditor_account", "invalid_iban");
    let mut b = base.clone();
    b.payments[0].creditor_agent_bic = Some("west gb".into());
    writer_refuses(&b, "payments[0].creditor_agent_bic", "invalid_bic");
    let mut b = base.clone();
    b.payments[1].currency = ccy("EUR");
    writer_refuses(&b, "payments[1].currency", "currency_mismatch");
    let mut b = base.clone();
    b.payments[1].amount_minor = 0;
    writer_refuses(&b, "payments[1].amount_minor", "amount_not_positive");
    let mut b = base.clone();
    b.payments[1].creditor_account = AccountId::Other("1".repeat(35));
    writer_refuses(&b, "payments[1].creditor_account", "too_long");
    writer_refuses(&batch(vec![], usd), "payments", "empty");
}

#[test]
fn a_valid_iban_is_accepted_as_people_write_it() {
    let a = check_account("bank_account", "gb82 west 1234 5698 7654 32").expect("valid");
    assert_eq!(a, AccountId::Iban("GB82WEST12345698765432".into()));
}

#[test]
fn an_iban_with_a_bad_checksum_is_refused_naming_the_field() {
    let e = check_account("bank_account", "GB82WEST12345698765431").expect_err("refused");
    assert_eq!(
        (e.field.as_str(), e.code),
        ("bank_account", Code::InvalidIban)
    );
    assert!(
        e.detail.contains("check digits do not match"),
        "{}",
        e.detail
    );
    // The check digits hold, but the country's format does not (letters where Albania has
    // digits), or the country does not use IBANs.
    let e = check_account("vendors[0].account", "AL84212110090000AB023569874").expect_err("BBAN");
    assert_eq!(
        (e.field.as_str(), e.code),
        ("vendors[0].account", Code::InvalidIban)
    );
    assert!(e.detail.contains("an IBAN of AL"), "{}", e.detail);
    let e = check_account("bank_account", "EC391234567890123").expect_err("no IBANs");
    assert!(
        e.detail.contains("EC is not a country that uses IBANs"),
        "{}",
        e.detail
    );
}

#[test]
fn local_account_and_mobile_money_numbers_are_other_identifiers() {
    for (text, id) in [
        ("2100456789", "2100456789"),
        ("+593 99 000 0000", "+593990000000"),
        ("Banco Pichincha 2200123456", "BancoPichincha2200123456"),
        ("EC-000001", "EC-000001"),
    ] {
        let a = check_account("bank_account", text).expect("accepted");
        assert_eq!(a, AccountId::Other(id.into()), "{text}");
    }
}

#[test]
fn checker_refuses_counts_and_sums_that_do_not_add_up() {
    let xml = write_pain001(&three_payments()).expect("writes");
    let tampered = xml.replacen("<NbOfTxs>3</NbOfTxs>", "<NbOfTxs>4</NbOfTxs>", 1);
    let e = check_pain001(tampered.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::CountMismatch);
    assert_eq!(e.field(), "Document/CstmrCdtTrfInitn/GrpHdr/NbOfTxs");
    assert_eq!(e.position().map(|p| p.line), Some(7));

    // The PmtInf's control sum is checked when the PmtInf closes, before the group's.
    let tampered = xml.replace(
        "<CtrlSum>123587.28</CtrlSum>",
        "<CtrlSum>123587.29</CtrlSum>",
    );
    let e = check_pain001(tampered.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::ControlSumMismatch);
    assert_eq!(e.field(), "Document/CstmrCdtTrfInitn/PmtInf[1]/CtrlSum");

    // The same value at another scale is the same sum.
    let rescaled = xml.replace(
        "<CtrlSum>123587.28</CtrlSum>",
        "<CtrlSum>123587.280</CtrlSum>",
    );
    check_pain001(rescaled.as_bytes()).expect("123587.280 equals 123587.28");

    let dup = xml.replace("<EndToEndId>E2E-000003<", "<EndToEndId>E2E-000001<");
    let e = check_pain001(dup.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::DuplicateEndToEndId);
    assert_eq!(
        e.field(),
        "Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[3]/PmtId/EndToEndId"
    );

    let long = xml.replace("E2E-000002", &format!("E2E-{}", "9".repeat(32)));
    assert_eq!(
        check_pain001(long.as_bytes()).map_err(|e| e.code()),
        Err(Code::TooLong)
    );

    let zero = xml.replace(">70.50<", ">0.00<");
    let e = check_pain001(zero.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::AmountNotPositive);
    assert_eq!(
        e.field(),
        "Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[2]/Amt/InstdAmt"
    );
    let negative = xml.replace(">70.50<", ">-70.50<");
    assert_eq!(
        check_pain001(negative.as_bytes()).map_err(|e| e.code()),
        Err(Code::AmountNotPositive)
    );
    let scale = xml.replace(">70.50<", ">70.500<");
    assert_eq!(
        check_pain001(scale.as_bytes()).map_err(|e| e.code()),
        Err(Code::TooManyDecimals)
    );

    let no_e2e = xml.replace("<EndToEndId>E2E-000002</EndToEndId>", "");
    let e = check_pain001(no_e2e.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::MissingElement);
    assert_eq!(
        e.field(),
        "Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[2]/PmtId/EndToEndId"
    );
}

#[test]
fn checker_reads_only_pain001_version_09() {
    let xml = write_pain001(&three_payments()).expect("writes");
    let v03 = xml.replace("pain.001.001.09", "pain.001.001.03");
    let e = check_pain001(v03.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::WrongMessage);
    assert!(e.to_string().contains("pain.001.001.03"), "{e}");
}

// ---- payments CSV ----

#[test]
fn payments_csv_quotes_and_defuses() {
    let usd = ccy("USD");
    let mut p1 = payment(1, usd, 6000);
    p1.creditor_name = "=HYPERLINK(\"http://x\",\"y\")".into();
    p1.creditor_account = AccountId::Other("+254712345678".into());
    let mut p2 = payment(2, usd, 7050);
    p2.creditor_name = "González, Ana".into();
    p2.creditor_account = AccountId::Other("-12".into());
    p2.remittance = Some("@SUM(A1)".into());
    let clp = ccy("CLP");
    let mut p3 = payment(3, clp, 1500);
    p3.remittance = None;
    let csv = write_payments_csv(&[p1, p2, p3]).expect("writes");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], PAYMENTS_CSV_HEADER);
    assert_eq!(
        lines[1],
        "E2E-000001,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",+254712345678,60.00,USD,Caminando transfer 2026-11"
    );
    assert_eq!(
        lines[2],
        "E2E-000002,\"González, Ana\",'-12,70.50,USD,'@SUM(A1)"
    );
    assert_eq!(lines[3], "E2E-000003,Participant 3,+254700000003,1500,CLP,");
    assert_eq!(lines[4], "");
    assert_eq!(lines.len(), 5);
}

// ---- pain.002 ----

#[test]
fn pain002_v10_statuses_and_reasons() {
    let report = parse_pain002(PAIN002_V10).expect("parses");
    assert_eq!(report.version, "10");
    assert_eq!(report.message_id, "STS-20261124-0001");
    assert_eq!(report.original_message_id, "TR-2026-11-B001");
    assert_eq!(
        report.original_message_name.as_deref(),
        Some("pain.001.001.09")
    );
    assert_eq!(report.group_status.map(|s| s.code), Some("PART"));
    assert_eq!(report.payment_infos.len(), 1);
    let got: Vec<_> = report
        .transactions
        .iter()
        .map(|t| {
            (
                t.original_end_to_end_id.as_str(),
                t.status.code,
                t.status.outcome,
                t.reason.as_deref(),
            )
        })
        .collect();
    use PaymentOutcome::*;
    assert_eq!(
        got,
        [
            ("E2E-0001", "ACSC", Accepted, None),
            ("E2E-0002", "RJCT", Rejected, Some("AC04")),
            ("E2E-0003", "RJCT", Rejected, Some("AM04")),
            ("E2E-0004", "ACSP", Accepted, None),
        ]
    );
    let t = &report.transactions[1];
    assert_eq!(
        t.additional_info.as_deref(),
        Some("Account closed & not reopened")
    );
    assert_eq!(t.original_instruction_id.as_deref(), Some("I-0002"));
    assert_eq!(
        t.original_payment_info_id.as_deref(),
        Some("TR-2026-11-B001")
    );
    assert_eq!(t.original_amount, Some(money("70.00", "USD")));
    assert!(!t.status_inherited);
    assert_eq!(
        t.path,
        "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/TxInfAndSts[2]"
    );
    assert_eq!((t.position.line, t.position.column), (36, 7));
}

#[test]
fn pain002_v12_prefixed_with_inherited_status() {
    let report = parse_pain002(PAIN002_V12).expect("parses");
    assert_eq!(report.version, "12");
    assert_eq!(report.message_id, "PSR-88121");
    assert_eq!(report.original_message_id, "TR-2026-11-B002");
    assert_eq!(report.group_status, None);
    assert_eq!(report.payment_infos[0].status.map(|s| s.code), Some("RJCT"));
    assert_eq!(report.payment_infos[0].reason.as_deref(), Some("AC01"));
    let t = &report.transactions;
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].original_end_to_end_id, "E2E-0101");
    assert_eq!(t[0].status.outcome, PaymentOutcome::Rejected);
    assert!(t[0].status_inherited);
    assert_eq!(t[0].reason.as_deref(), Some("AC01"));
    assert!(!t[1].status_inherited);
    assert_eq!(t[1].reason.as_deref(), Some("MM-NOT-REGISTERED"));
}

#[test]
fn pain002_group_rejection_and_unknown_status() {
    let whole = br#"<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>
<GrpHdr><MsgId>R1</MsgId><CreDtTm>2026-11-24T09:00:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>TR-1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>
<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf></OrgnlGrpInfAndSts>
</CstmrPmtStsRpt></Document>"#;
    let report = parse_pain002(whole).expect("parses");
    assert_eq!(
        report.group_status.map(|s| s.outcome),
        Some(PaymentOutcome::Rejected)
    );
    assert_eq!(report.group_reason.as_deref(), Some("FF01"));
    assert!(report.transactions.is_empty());

    let v10 = std::str::from_utf8(PAIN002_V10).expect("utf-8");
    let bad = v10.replacen("<TxSts>ACSP</TxSts>", "<TxSts>XXXX</TxSts>", 1);
    let e = parse_pain002(bad.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::UnknownStatus);
    assert_eq!(
        e.field(),
        "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/TxInfAndSts[4]/TxSts"
    );
    let no_id = v10.replacen("<OrgnlEndToEndId>E2E-0003</OrgnlEndToEndId>", "", 1);
    let e = parse_pain002(no_id.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::MissingElement);
    assert_eq!(
        e.field(),
        "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/TxInfAndSts[3]/OrgnlEndToEndId"
    );
}

// ---- camt.053 ----

type Row<'a> = (
    Option<&'a str>,
    Option<String>,
    String,
    CreditDebit,
    EntryStatus,
    bool,
    Option<&'a str>,
);

fn rows(s: &Statements) -> Vec<Row<'_>> {
    s.lines
        .iter()
        .map(|l| {
            (
                l.end_to_end_id.as_deref(),
                l.amount.map(|m| m.to_string()),
                l.entry_amount.to_string(),
                l.direction,
                l.status,
                l.reversal,
                l.return_reason.as_deref(),
            )
        })
        .collect()
}

#[test]
fn camt053_v02_lines() {
    let s = parse_camt053(CAMT053_V02).expect("parses");
    assert_eq!(s.version, "02");
    assert_eq!(s.message_id.as_deref(), Some("053D2026-11-25T06:00:00"));
    assert_eq!(s.statements.len(), 1);
    assert_eq!(s.statements[0].id, "STMT-20261125-001");
    assert_eq!(
        s.statements[0].account,
        AccountId::Iban("DE89370400440532013000".into())
    );
    use CreditDebit::*;
    use EntryStatus::*;
    let some = |a: &str| Some(a.to_string());
    assert_eq!(
        rows(&s),
        vec![
            (
                Some("E2E-0001"),
                some("60.00"),
                "60.00".into(),
                Debit,
                Booked,
                false,
                None
            ),
            (
                Some("E2E-0002"),
                some("70.00"),
                "150.00".into(),
                Debit,
                Booked,
                false,
                None
            ),
            (
                Some("E2E-0003"),
                some("80.00"),
                "150.00".into(),
                Debit,
                Booked,
                false,
                None
            ),
            (
                Some("E2E-0002"),
                some("70.00"),
                "70.00".into(),
                Credit,
                Booked,
                true,
                Some("AC04")
            ),
            (
                None,
                some("2.50"),
                "2.50".into(),
                Debit,
                Pending,
                false,
                None
            ),
        ]
    );
    let l = &s.lines[2];
    assert_eq!(l.entry, 2);
    assert_eq!(l.entry_reference.as_deref(), Some("2"));
    assert_eq!(
        l.account_servicer_reference.as_deref(),
        Some("2026112400002")
    );
    assert_eq!(l.booking_date, Some(date(2026, 11, 24)));
    assert_eq!(
        l.path,
        "Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[2]"
    );
    assert_eq!((l.position.line, l.position.column), (101, 11));
    let fee = &s.lines[4];
    assert_eq!(fee.path, "Document/BkToCstmrStmt/Stmt[1]/Ntry[4]");
    assert_eq!(fee.booking_date, None);
    assert_eq!(fee.value_date, Some(date(2026, 11, 25)));
}

#[test]
fn camt053_v08_lines() {
    let s = parse_camt053(CAMT053_V08).expect("parses");
    assert_eq!(s.version, "08");
    assert_eq!(
        s.statements[0].account,
        AccountId::Other("000123456789".into())
    );
    use CreditDebit::*;
    use EntryStatus::*;
    let some = |a: &str| Some(a.to_string());
    assert_eq!(
        rows(&s),
        vec![
            (
                Some("E2E-CL-01"),
                some("15000"),
                "45000".into(),
                Debit,
                Booked,
                false,
                None
            ),
            (
                Some("E2E-CL-02"),
                some("30000"),
                "45000".into(),
                Debit,
                Booked,
                false,
                None
            ),
            (
                Some("E2E-CL-01"),
                some("15000"),
                "15000".into(),
                Credit,
                Booked,
                true,
                Some("AM04")
            ),
            (None, some("0"), "0".into(), Credit, Info, false, None),
        ]
    );
    assert_eq!(s.lines[0].booking_date, Some(date(2026, 11, 25)));
    assert_eq!(s.lines[2].booking_date, Some(date(2026, 11, 26)));
}

#[test]
fn camt053_batch_without_transaction_amounts() {
    let v08 = std::str::from_utf8(CAMT053_V08).expect("utf-8");
    let no_amounts = v08.replace("<Amt Ccy=\"CLP\">30000</Amt>", "").replacen(
        "<Amt Ccy=\"CLP\">15000</Amt>\n            <CdtDbtInd>",
        "<CdtDbtInd>",
        1,
    );
    let s = parse_camt053(no_amounts.as_bytes()).expect("parses");
    assert_eq!(s.lines[0].amount, None);
    assert_eq!(s.lines[1].amount, None);
    assert_eq!(s.lines[0].entry_amount, money("45000", "CLP"));
}

#[test]
fn camt053_refuses_bad_amounts_and_currencies_naming_the_entry() {
    let v02 = std::str::from_utf8(CAMT053_V02).expect("utf-8");
    let case = |from: &str, to: &str| {
        let xml = v02.replacen(from, to, 1);
        parse_camt053(xml.as_bytes()).expect_err("refused")
    };
    let e = case(
        "<Amt Ccy=\"EUR\">70.00</Amt>\n        <CdtDbtInd>CRDT",
        "<Amt Ccy=\"EUR\">70.005</Amt>\n        <CdtDbtInd>CRDT",
    );
    assert_eq!(e.code(), Code::TooManyDecimals);
    assert_eq!(e.field(), "Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt");
    assert_eq!(e.position().map(|p| p.line), Some(115));
    let inv = e.to_invalid();
    assert_eq!(inv.field, "Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt");
    assert_eq!(inv.code, Code::TooManyDecimals);
    assert!(inv.detail.contains("line 115"), "{}", inv.detail);

    for bad in ["1e3", "6O.00", "+60.00", "60,00", ""] {
        let e = case(">60.00</Amt>", &format!(">{bad}</Amt>"));
        assert_eq!(e.code(), Code::InvalidAmount, "{bad:?}: {e}");
        assert_eq!(e.field(), "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Amt");
    }
    let e = case(">60.00</Amt>", ">-60.00</Amt>");
    assert_eq!(e.code(), Code::AmountNotPositive);

    let e = case(
        "<Amt Ccy=\"EUR\">150.00</Amt>",
        "<Amt Ccy=\"XYZ\">150.00</Amt>",
    );
    assert_eq!(e.code(), Code::UnknownCurrency);
    assert_eq!(e.field(), "Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/Amt");
    assert_eq!(e.to_invalid().code, Code::UnknownCurrency);

    let e = case(
        "<Amt Ccy=\"EUR\">80.00</Amt>",
        "<Amt Ccy=\"EUR\">80.001</Amt>",
    );
    assert_eq!(e.code(), Code::TooManyDecimals);
    assert_eq!(
        e.field(),
        "Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[2]/AmtDtls/TxAmt/Amt"
    );

    let e = case("<Amt Ccy=\"EUR\">2.50</Amt>", "<Amt>2.50</Amt>");
    assert_eq!(e.code(), Code::MissingElement);
    assert_eq!(e.field(), "Document/BkToCstmrStmt/Stmt[1]/Ntry[4]/Amt/@Ccy");

    let e = case(
        "<CdtDbtInd>DBIT</CdtDbtInd>\n        <Sts>PDNG",
        "<Sts>PDNG",
    );
    assert_eq!(e.code(), Code::MissingElement);
    assert_eq!(
        e.field(),
        "Document/BkToCstmrStmt/Stmt[1]/Ntry[4]/CdtDbtInd"
    );

    let e = case("<Sts>PDNG</Sts>", "<Sts>OPEN</Sts>");
    assert_eq!(e.code(), Code::UnknownStatus);
    let e = case("<RvslInd>true</RvslInd>", "<RvslInd>yes</RvslInd>");
    assert_eq!(e.code(), Code::InvalidValue);
    let e = case("<Dt>2026-11-25</Dt>", "<Dt>2026-13-25</Dt>");
    assert_eq!(e.code(), Code::InvalidDate);
}

// ---- safety ----

fn refused(xml: &[u8]) -> [Iso20022Error; 4] {
    [
        check_pain001(xml).expect_err("pain.001 refuses"),
        parse_pain002(xml).expect_err("pain.002 refuses"),
        parse_camt053(xml).expect_err("camt.053 refuses"),
        // The CSV parser shares the size limit; XML is not a status CSV either.
        parse_status_csv(xml).expect_err("csv refuses"),
    ]
}

#[test]
fn doctype_and_entity_declarations_are_refused() {
    let xxe = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Document [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></BkToCstmrStmt></Document>"#;
    let laughs = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>&lol2;</CstmrPmtStsRpt></Document>"#;
    let bare = br#"<!DOCTYPE Document SYSTEM "http://example.invalid/pain.dtd"><Document/>"#;
    for doc in [&xxe[..], &laughs[..], &bare[..]] {
        let [a, b, c, _] = refused(doc);
        for e in [a, b, c] {
            assert_eq!(e.code(), Code::DoctypeRefused, "{e}");
            assert_eq!(e.to_invalid().field, "file");
        }
    }
    let [_, _, e, _] = refused(xxe);
    assert_eq!(e.position().map(|p| (p.line, p.column)), Some((2, 1)));

    // Without a DOCTYPE an entity is undeclared: malformed, never looked up.
    let undeclared = br#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></BkToCstmrStmt></Document>"#;
    let e = parse_camt053(undeclared).expect_err("refused");
    assert_eq!(e.code(), Code::MalformedXml);
    assert!(e.to_string().contains("&xxe;"), "{e}");
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    // Not even XML: the size is checked before anything is read.
    let huge = vec![b'x'; MAX_FILE_BYTES + 1];
    for e in refused(&huge) {
        assert_eq!(e.code(), Code::TooLarge, "{e}");
        assert_eq!(e.to_invalid().field, "file");
    }
}

#[test]
fn malformed_xml_names_line_and_column() {
    let v02 = std::str::from_utf8(CAMT053_V02).expect("utf-8");
    let mismatched = v02.replacen("</NtryRef>", "</NtryRf>", 1);
    let e = parse_camt053(mismatched.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::MalformedXml);
    let p = e.position().expect("has a position");
    assert_eq!((p.line, p.column), (35, 19), "{e}");
    assert!(e.to_string().contains("line 35, column 19"), "{e}");

    let truncated = &CAMT053_V02[..CAMT053_V02.len() / 2];
    let e = parse_camt053(truncated).expect_err("refused");
    assert_eq!(e.code(), Code::MalformedXml);
    assert!(e.to_string().contains("ends inside"), "{e}");

    for bad in [
        &b""[..],
        b"just text",
        b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt></BkToCstmrStmt></Document><Document/>",
        b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt a=1></BkToCstmrStmt></Document>",
        b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>\xff</BkToCstmrStmt></Document>",
        b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>&#1;</BkToCstmrStmt></Document>",
    ] {
        let e = match parse_camt053(bad) {
            Ok(s) => panic!("{:?} parsed: {s:?}", String::from_utf8_lossy(bad)),
            Err(e) => e,
        };
        assert_eq!(
            e.code(),
            Code::MalformedXml,
            "{:?}: {e}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn deep_nesting_is_refused() {
    let mut xml = String::from(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>",
    );
    xml.push_str(&"<a>".repeat(1_000_000));
    let e = parse_camt053(xml.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::TooDeep);
    assert_eq!(e.to_invalid().field, "file");
}

#[test]
fn other_encodings_are_refused_and_a_bom_is_read() {
    let latin = br#"<?xml version="1.0" encoding="ISO-8859-1"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt/></Document>"#;
    let e = parse_camt053(latin).expect_err("refused");
    assert_eq!(e.code(), Code::UnsupportedEncoding);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(CAMT053_V08);
    let s = parse_camt053(&bom).expect("a UTF-8 BOM is fine");
    assert_eq!(s.lines.len(), 4);
    assert_eq!(
        s.lines[0].path,
        "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]"
    );
    let plain = parse_camt053(CAMT053_V08).expect("parses");
    assert_eq!(s.lines[0].position.line, plain.lines[0].position.line);
    assert_eq!(s.lines[0].position.byte, plain.lines[0].position.byte + 3);
}

#[test]
fn wrong_message_types_are_refused() {
    let e = parse_pain002(CAMT053_V02).expect_err("refused");
    assert_eq!(e.code(), Code::WrongMessage);
    assert!(e.to_string().contains("pain.002.001.*"), "{e}");
    assert!(e.to_string().contains("camt.053.001.02"), "{e}");
    assert_eq!(e.to_invalid().field, "file");
    let e = parse_camt053(PAIN002_V10).expect_err("refused");
    assert_eq!(e.code(), Code::WrongMessage);
    let xml = write_pain001(&three_payments()).expect("writes");
    assert_eq!(
        parse_camt053(xml.as_bytes()).map_err(|e| e.code()),
        Err(Code::WrongMessage)
    );
    assert_eq!(
        check_pain001(CAMT053_V08).map_err(|e| e.code()),
        Err(Code::WrongMessage)
    );
    // camt.052 (an intraday report) is not a statement.
    let v08 = std::str::from_utf8(CAMT053_V08).expect("utf-8");
    let camt052 = v08.replace("camt.053.001.08", "camt.052.001.08");
    assert_eq!(
        parse_camt053(camt052.as_bytes()).map_err(|e| e.code()),
        Err(Code::WrongMessage)
    );
    // The right namespace with the wrong message element.
    let mixed = v08.replace("BkToCstmrStmt", "BkToCstmrAcctRpt");
    let e = parse_camt053(mixed.as_bytes()).expect_err("refused");
    assert_eq!(e.code(), Code::WrongMessage);
    assert!(e.to_string().contains("BkToCstmrAcctRpt"), "{e}");
    // Another root, or no namespace.
    for doc in [
        &b"<Envelope><Document/></Envelope>"[..],
        b"<Document><BkToCstmrStmt/></Document>",
    ] {
        assert_eq!(
            parse_camt053(doc).map_err(|e| e.code()),
            Err(Code::WrongMessage)
        );
    }
}

// ---- status CSV ----

#[test]
fn status_csv_reads_rows() {
    let csv = "\u{feff}end_to_end_id,status,amount,currency,reason,date\r\n\
E2E-0001,accepted,,,,2026-11-24\r\n\
E2E-0002,Rejected,,,AC04,\r\n\
\r\n\
\"E2E-0003\",booked,60.00,USD,,2026-11-25\r\n\
E2E-0004,returned,1500,CLP,\"AM04, insufficient\",2026-11-26\n";
    let lines = parse_status_csv(csv.as_bytes()).expect("parses");
    let got: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l.line,
                l.end_to_end_id.as_str(),
                l.status,
                l.amount.map(|m| m.to_string()),
                l.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "E2E-0001", CsvStatus::Accepted, None, None),
            (3, "E2E-0002", CsvStatus::Rejected, None, Some("AC04")),
            (5, "E2E-0003", CsvStatus::Booked, Some("60.00".into()), None),
            (
                6,
                "E2E-0004",
                CsvStatus::Returned,
                Some("1500".into()),
                Some("AM04, insufficient")
            ),
        ]
    );
    assert_eq!(lines[0].date, Some(date(2026, 11, 24)));
    assert_eq!(lines[3].amount, Some(money("1500", "CLP")));
    assert!(parse_status_csv(STATUS_CSV_HEADER.as_bytes())
        .expect("header only")
        .is_empty());
}

#[test]
fn status_csv_reports_every_bad_row_by_line() {
    let csv = "end_to_end_id,status,amount,currency,reason,date\n\
E2E-0001,booked,60.005,USD,,\n\
E2E-0002,paid,60.00,USD,,\n\
,accepted,,,,\n\
E2E-0004,accepted,,\n\
E2E-0005,booked,abc,USD,,\n\
E2E-0006,rejected,,,\"multi\nline reason\",2026-02-30\n\
E2E-0007,booked,,,,\n\
E2E-0008,booked,10.00,XYZ,,\n\
E2E-0009,accepted,,,,\n\
E2E-0010,booked,5,USD,\"unclosed\n";
    let e = parse_status_csv(csv.as_bytes()).expect_err("refused as a whole");
    let Iso20022Error::InvalidRows { errors } = &e else {
        panic!("{e}");
    };
    let got: Vec<_> = errors
        .iter()
        .map(|r| (r.line, r.field, r.code.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "amount", "too_many_decimals"),
            (3, "status", "unknown_status"),
            (4, "end_to_end_id", "missing_id"),
            (5, "row", "wrong_cell_count"),
            (6, "amount", "invalid_amount"),
            (7, "reason", "control_character"),
            (7, "date", "invalid_date"),
            (9, "amount", "missing_amount"),
            (10, "currency", "unknown_currency"),
            (12, "row", "unterminated_quote"),
        ]
    );
    assert_eq!(e.code(), Code::InvalidRows);
    let inv = e.to_invalid();
    assert_eq!((inv.field.as_str(), inv.code), ("file", Code::InvalidRows));
    assert!(inv.detail.contains("line 2, amount"), "{}", inv.detail);

    // Quoting that breaks RFC 4180 refuses its row, and the rows after it are still read.
    let e = parse_status_csv(
        b"end_to_end_id,status,amount,currency,reason,date\n\
E2E-1,acc\"epted,,,,\n\
E2E-2,accepted,,,\"AC04\"x,\n\
E2E-3,paid,,,,\n",
    )
    .expect_err("refused");
    let Iso20022Error::InvalidRows { errors } = &e else {
        panic!("{e}");
    };
    let got: Vec<_> = errors
        .iter()
        .map(|r| (r.line, r.field, r.code.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "row", "stray_quote"),
            (3, "row", "text_after_quote"),
            (4, "status", "unknown_status"),
        ]
    );

    let e = parse_status_csv(b"id,status\nE2E-1,accepted\n").expect_err("refused");
    assert_eq!(e.code(), Code::InvalidHeader);
    let e = parse_status_csv(b"end_to_end_id,status,amount,currency,reason,date\n\xff\n")
        .expect_err("refused");
    assert_eq!(e.code(), Code::InvalidUtf8);
    assert_eq!(e.position().map(|p| p.line), Some(2));
}

#[test]
fn errors_keep_the_shared_invalid_shape() {
    let e = Iso20022Error::TooLarge { size: 10, limit: 5 };
    let inv = e.to_invalid();
    assert_eq!(
        (inv.field.as_str(), inv.code, inv.item),
        ("file", Code::TooLarge, None)
    );
    let e = write_pain001(&batch(vec![], ccy("USD"))).expect_err("refused");
    assert_eq!(e.position(), None);
    assert_eq!(
        e.to_invalid().to_string(),
        "payments: a pain.001 needs at least one payment (empty)"
    );
}

// ---- a statement of 100,000 entries ----

fn big_statement(n: usize) -> String {
    let mut xml = String::with_capacity(n * 420);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\n<BkToCstmrStmt>\n<GrpHdr><MsgId>BIG</MsgId><CreDtTm>2026-11-26T05:30:00</CreDtTm></GrpHdr>\n<Stmt><Id>BIG-1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>\n");
    for i in 0..n {
        xml.push_str(&format!(
            "<Ntry><Amt Ccy=\"USD\">{}.{:02}</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-25</Dt></BookgDt><ValDt><Dt>2026-11-25</Dt></ValDt><AcctSvcrRef>REF{i:09}</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>E2E-{i:06}</EndToEndId></Refs><Amt Ccy=\"USD\">{}.{:02}</Amt></TxDtls></NtryDtls></Ntry>\n",
            1 + i % 500,
            i % 100,
            1 + i % 500,
            i % 100
        ));
    }
    xml.push_str("</Stmt>\n</BkToCstmrStmt>\n</Document>\n");
    xml
}

#[test]
fn hundred_thousand_entries_statement() {
    let n = 100_000;
    let xml = big_statement(n);
    let t = Instant::now();
    let s = parse_camt053(xml.as_bytes()).expect("parses");
    let parsed = t.elapsed();
    eprintln!(
        "camt.053 with {n} entries: {} bytes, parsed in {parsed:?}",
        xml.len()
    );
    assert_eq!(s.lines.len(), n);
    let last = &s.lines[n - 1];
    assert_eq!(last.end_to_end_id.as_deref(), Some("E2E-099999"));
    assert_eq!(last.entry, n as u32);
    assert_eq!(last.position.line, n as u64 + 5);
    assert_eq!(last.amount, Some(money("500.99", "USD")));
}

/// A one-line camt.053.001.08 with balances and a batch entry whose amounts are in `AmtDtls`.
fn camt053_one_line(balances: &str, entries: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\
<BkToCstmrStmt><GrpHdr><MsgId>M-1</MsgId></GrpHdr><Stmt><Id>S-1</Id>\
<Acct><Id><Othr><Id>2100456789</Id></Othr></Id><Ccy>USD</Ccy></Acct>{balances}{entries}</Stmt>\
</BkToCstmrStmt></Document>"
    )
    .into_bytes()
}

fn bal(code: &str, amount: &str, dir: &str) -> String {
    format!(
        "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"USD\">{amount}</Amt>\
<CdtDbtInd>{dir}</CdtDbtInd><Dt><Dt>2026-04-03</Dt></Dt></Bal>"
    )
}

#[test]
fn camt053_reads_booked_balances_and_amounts_in_amount_details() {
    let batch = "<Ntry><NtryRef>N-1</NtryRef><Amt Ccy=\"USD\">110.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>\
<Sts><Cd>BOOK</Cd></Sts><NtryDtls>\
<TxDtls><Refs><EndToEndId>E-1</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy=\"USD\">60.00</Amt></TxAmt></AmtDtls></TxDtls>\
<TxDtls><Refs><EndToEndId>E-2</EndToEndId></Refs><AmtDtls><InstdAmt><Amt Ccy=\"USD\">50.00</Amt></InstdAmt></AmtDtls></TxDtls>\
</NtryDtls></Ntry>";
    let xml = camt053_one_line(
        &format!(
            "{}{}{}",
            bal("OPBD", "100.00", "CRDT"),
            bal("ITBD", "1.00", "CRDT"),
            bal("CLBD", "10.00", "DBIT")
        ),
        batch,
    );
    let s = parse_camt053(&xml).expect("parses");
    let st = &s.statements[0];
    assert_eq!(st.currency.as_deref(), Some("USD"));
    let opening = st.opening.as_ref().expect("OPBD");
    assert_eq!(opening.signed_minor(), 10_000);
    assert_eq!(opening.date, Some(date(2026, 4, 3)));
    assert_eq!(opening.path, "Document/BkToCstmrStmt/Stmt[1]/Bal[1]");
    let closing = st.closing.as_ref().expect("CLBD");
    assert_eq!(
        closing.signed_minor(),
        -1_000,
        "a debit balance is negative"
    );
    assert_eq!(closing.path, "Document/BkToCstmrStmt/Stmt[1]/Bal[3]");
    let amounts: Vec<(Option<&str>, Option<String>, u32)> = s
        .lines
        .iter()
        .map(|l| {
            (
                l.end_to_end_id.as_deref(),
                l.amount.map(|a| a.to_string()),
                l.entry_transactions,
            )
        })
        .collect();
    assert_eq!(
        amounts,
        [
            (Some("E-1"), Some("60.00".to_string()), 2),
            (Some("E-2"), Some("50.00".to_string()), 2)
        ]
    );
    assert_eq!(
        s.lines[1].entry_path,
        "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"
    );
    assert_eq!(s.lines[1].entry_direction, CreditDebit::Debit);
}

#[test]
fn camt053_refuses_a_second_closing_balance_and_a_balance_without_its_type() {
    let twice = camt053_one_line(
        &format!(
            "{}{}",
            bal("CLBD", "1.00", "CRDT"),
            bal("CLBD", "2.00", "CRDT")
        ),
        "",
    );
    let e = parse_camt053(&twice).expect_err("two closing balances");
    assert_eq!(e.to_invalid().code, Code::UnexpectedValue, "{e}");
    assert!(e.to_string().contains("Bal[2]"), "{e}");
    let untyped = camt053_one_line(
        "<Bal><Amt Ccy=\"USD\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></Bal>",
        "",
    );
    let e = parse_camt053(&untyped).expect_err("no type");
    assert_eq!(e.to_invalid().code, Code::MissingElement, "{e}");
}

#[test]
fn a_domestic_account_is_written_with_its_type_and_bank_code() {
    use tranche_audit::disburse::AccountTypeBody;
    let mut doc = batch(vec![payment(1, ccy("USD"), 6_000)], ccy("USD"));
    doc.debtor.account = AccountId::Other("2100456789".into());
    doc.debtor.account_type = Some(AccountTypeBody::Current);
    doc.debtor.bank_code = Some("0010".into());
    doc.payments[0].creditor_account = AccountId::Other("3300112233".into());
    doc.payments[0].creditor_account_type = Some(AccountTypeBody::Savings);
    doc.payments[0].creditor_bank_code = Some("0036".into());
    let xml = write_pain001(&doc).expect("written");
    assert!(
        xml.contains(
            "<DbtrAcct><Id><Othr><Id>2100456789</Id></Othr></Id><Tp><Cd>CACC</Cd></Tp></DbtrAcct>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>0010</MmbId></ClrSysMmbId></FinInstnId></DbtrAgt>"),
        "{xml}"
    );
    assert!(
        xml.contains("<CdtrAgt><FinInstnId><ClrSysMmbId><MmbId>0036</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>"),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<CdtrAcct><Id><Othr><Id>3300112233</Id></Othr></Id><Tp><Cd>SVGS</Cd></Tp></CdtrAcct>"
        ),
        "{xml}"
    );
    doc.payments[0].creditor_bank_code = Some("00A6".into());
    let e = write_pain001(&doc).expect_err("not a bank code");
    let inv = e.to_invalid();
    assert_eq!(
        (inv.field.as_str(), inv.code),
        ("payments[0].creditor_bank_code", Code::InvalidBankCode)
    );
}
