//! Disbursement from the command line, on the demo programme: a donor drawdown, the award's
//! settings, a batch created, submitted, refused to its preparer, approved by two others, its
//! pain.001 written, sent; a pain.002 with one rejection and a camt.053 with the rest booked;
//! the same file again posts nothing; the trace of a payment; and the journal still verifies
//! and rebuilds.

use std::process::Command;

use super::{tranche_verify, Cli};

const AWARD: &str = "bprm-ec-2026";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn a_batch_goes_from_payables_to_the_bank_and_back_from_the_command_line() {
    let cli = Cli::new();
    cli.demo(&["--participants", "60"]);
    // Whatever the demo left open, a drawdown to pay it, and settings with a low threshold.
    let drawdown = format!(
        r#"{{"date":"2026-03-05","memo":"BPRM drawdown","postings":[{{"account":"bank:{AWARD}","currency":"USD","side":"debit","amount":"500000.00"}},{{"account":"fund:{AWARD}","currency":"USD","side":"credit","amount":"500000.00"}}]}}"#
    );
    cli.ok(&["post", "-"], Some(&drawdown));
    cli.ok(
        &[
            "batch",
            "settings",
            "--award",
            AWARD,
            "--debtor-name",
            "HIAS Ecuador",
            "--debtor-account",
            "2100456789",
            "--dual-approval-above",
            "100.00",
        ],
        None,
    );
    let planned = json(&cli.ok(
        &["batch", "create", "--award", AWARD, "--dry-run", "--json"],
        None,
    ));
    let payments = planned["payments"].as_array().map(Vec::len).unwrap_or(0);
    assert!(payments > 0, "the demo leaves payables open: {planned}");
    let prep = ["--actor", "user:finance-preparer"];
    let made = json(&cli.ok(
        &[&prep[..], &["batch", "create", "--award", AWARD, "--json"]].concat(),
        None,
    ));
    let batch = made["batch"].as_str().expect("batch id").to_string();
    cli.ok(&[&prep[..], &["batch", "submit", &batch]].concat(), None);
    // The preparer cannot approve; one approver is not enough above the threshold.
    cli.refused(
        &[&prep[..], &["batch", "approve", &batch]].concat(),
        None,
        "own_batch",
    );
    cli.ok(
        &["--actor", "user:approver-1", "batch", "approve", &batch],
        None,
    );
    cli.refused(
        &["--actor", "user:approver-1", "batch", "approve", &batch],
        None,
        "already_approved",
    );
    cli.refused(
        &[&prep[..], &["batch", "send", &batch]].concat(),
        None,
        "batch_not_approved",
    );
    cli.ok(
        &["--actor", "user:approver-2", "batch", "approve", &batch],
        None,
    );
    let xml = cli.data.path().join("batch.xml");
    let out = cli.ok(
        &[
            &prep[..],
            &["batch", "file", &batch, "--out", &xml.display().to_string()],
        ]
        .concat(),
        None,
    );
    assert!(out.contains("sha256"), "{out}");
    let bytes = std::fs::read(&xml).expect("the pain.001");
    let summary = tranche_ledger::iso20022::check_pain001(&bytes).expect("a valid pain.001");
    // Releasing the funds is a checker's act: the preparer may not, an approver does.
    cli.refused(
        &[&prep[..], &["batch", "send", &batch]].concat(),
        None,
        "own_batch",
    );
    cli.ok(
        &[
            "--actor",
            "user:approver-1",
            "batch",
            "send",
            &batch,
            "--date",
            "2026-07-02",
        ],
        None,
    );
    let shown = json(&cli.ok(&["batch", "show", &batch, "--json"], None));
    assert_eq!(shown["status"], "sent", "{shown}");
    assert_eq!(
        summary.number_of_transactions,
        shown["payment_count"].as_u64().expect("count")
    );
    let e2e: Vec<(String, String)> = shown["payments"]
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

    // pain.002: the first payment rejected; camt.053: the rest booked.
    let message = shown["files"][0]["message_id"]
        .as_str()
        .expect("message id");
    let status = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\"><CstmrPmtStsRpt>\
<GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-07-02T09:00:00</CreDtTm></GrpHdr>\
<OrgnlGrpInfAndSts><OrgnlMsgId>{message}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>\
<OrgnlPmtInfAndSts><OrgnlPmtInfId>{message}</OrgnlPmtInfId><TxInfAndSts><OrgnlEndToEndId>{}</OrgnlEndToEndId><TxSts>RJCT</TxSts>\
<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf></TxInfAndSts></OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n",
        e2e[0].0
    );
    let status_path = cli.data.path().join("status.xml");
    std::fs::write(&status_path, status).expect("write");
    let out = cli.ok(
        &[
            &prep[..],
            &["bank", "import", &status_path.display().to_string()],
        ]
        .concat(),
        None,
    );
    assert!(out.contains("rejected"), "{out}");
    let again = cli.ok(
        &[
            &prep[..],
            &["bank", "import", &status_path.display().to_string()],
        ]
        .concat(),
        None,
    );
    assert!(again.contains("already imported"), "{again}");
    let mut entries = String::new();
    for (id, amount) in &e2e[1..] {
        entries.push_str(&format!(
            "<Ntry><Amt Ccy=\"USD\">{amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
<BookgDt><Dt>2026-07-03</Dt></BookgDt><NtryDtls><TxDtls><Refs><EndToEndId>{id}</EndToEndId></Refs>\
<Amt Ccy=\"USD\">{amount}</Amt></TxDtls></NtryDtls></Ntry>\n"
        ));
    }
    let stmt = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>\
<GrpHdr><MsgId>ST-1</MsgId><CreDtTm>2026-07-03T05:00:00</CreDtTm></GrpHdr>\
<Stmt><Id>ST-1</Id><Acct><Id><Othr><Id>2100456789</Id></Othr></Id><Ccy>USD</Ccy></Acct>\n{entries}</Stmt></BkToCstmrStmt></Document>\n"
    );
    let stmt_path = cli.data.path().join("statement.xml");
    std::fs::write(&stmt_path, stmt).expect("write");
    if e2e.len() > 1 {
        let out = cli.ok(
            &[
                &prep[..],
                &["bank", "import", &stmt_path.display().to_string()],
            ]
            .concat(),
            None,
        );
        assert!(out.contains("confirmed"), "{out}");
        let traced = cli.ok(&["trace", &e2e[1].0], None);
        for step in [
            "entitlement",
            "batch approved",
            "bank file",
            "payment sent",
            "payment confirmed",
        ] {
            assert!(traced.contains(step), "{step} missing: {traced}");
        }
    }
    // The rejected payment's payables are open again: a second batch reissues it.
    let second = json(
        &cli.ok(
            &[
                &prep[..],
                &[
                    "batch",
                    "create",
                    "--award",
                    AWARD,
                    "--payee",
                    shown["payments"][0]["payee"].as_str().expect("payee"),
                    "--json",
                ],
            ]
            .concat(),
            None,
        ),
    );
    assert_eq!(
        second["payments"][0]["reissues"][0],
        e2e[0].0.as_str(),
        "{second}"
    );

    let export = cli.data.path().join("export");
    cli.ok(&["export", &export.display().to_string()], None);
    let out = Command::new(tranche_verify())
        .arg(&export)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    cli.ok(&["rebuild", "--check"], None);
}

/// The README's walkthrough on the demo as loaded: its batch B000001 (approved by the demo) is
/// large enough to be sent in several parts; after `batch file` and `batch send` the export
/// still verifies offline and the ledger rebuilds to itself.
#[test]
fn the_demos_batch_sent_in_several_parts_leaves_a_journal_that_verifies() {
    let cli = Cli::new();
    cli.demo(&[]);
    let prep = ["--actor", "user:finance-preparer"];
    let xml = cli.data.path().join("b1.xml");
    cli.ok(
        &[
            &prep[..],
            &[
                "batch",
                "file",
                "B000001",
                "--out",
                &xml.display().to_string(),
            ],
        ]
        .concat(),
        None,
    );
    cli.ok(
        &[
            "--actor",
            "user:finance-approver-1",
            "batch",
            "send",
            "B000001",
            "--date",
            "2026-07-02",
        ],
        None,
    );
    let shown = json(&cli.ok(&["batch", "show", "B000001", "--json"], None));
    assert_eq!(shown["status"], "sent", "{shown}");
    let sendings = shown["send_seqs"].as_array().map_or(0, Vec::len);
    assert!(sendings >= 2, "sent in {sendings} part(s): {shown}");

    let export = cli.data.path().join("export");
    cli.ok(&["export", &export.display().to_string()], None);
    let vkey = std::fs::read_to_string(cli.data.path().join("data/ledger.vkey")).expect("vkey");
    let out = Command::new(tranche_verify())
        .arg(&export)
        .args(["--vkey", vkey.trim()])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    cli.ok(&["rebuild", "--check"], None);
}
