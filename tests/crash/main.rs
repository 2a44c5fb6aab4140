//! Crash safety of disbursement: the real `tranche serve` is killed with SIGKILL while it marks
//! a batch sent and while it imports a bank statement, at many moments; after each kill the
//! journal holds all of the change or none of it, and when the same request is retried on a
//! restarted server the final state is as if it had run exactly once.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use tranche_ledger::domain::disburse::{BatchStatus, PaymentState};
use tranche_ledger::service::payments::BatchRequest;
use tranche_ledger::{Config, Ledger};

const PAYMENTS: usize = 3_000;

fn tranche() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tranche"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

struct Server {
    child: Child,
    base: String,
}

fn start(data: &Path) -> Server {
    let mut child = Command::new(tranche())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRANCHE_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tranche serve starts");
    let lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut base = String::new();
    for line in lines {
        let line = line.expect("a line");
        if let Some(rest) = line.strip_prefix("tranche listening on ") {
            base = rest.split_whitespace().next().expect("url").to_string();
            break;
        }
    }
    assert!(base.starts_with("http://"), "the server did not start");
    Server { child, base }
}

fn post(base: &str, path: &str, token: &str, key: &str, body: &str) -> Option<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let r = agent
        .post(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .send(body);
    match r {
        Ok(mut r) => {
            let status = r.status().as_u16();
            Some((status, r.body_mut().read_to_string().unwrap_or_default()))
        }
        Err(_) => None,
    }
}

/// Sends the request and kills the server `after` it; returns the answer if one came first.
fn killed_during(
    data: &Path,
    token: &str,
    path: &str,
    key: &str,
    body: &str,
    after: Duration,
) -> Option<(u16, String)> {
    let mut server = start(data);
    let (base, token, path, key, body) = (
        server.base.clone(),
        token.to_string(),
        path.to_string(),
        key.to_string(),
        body.to_string(),
    );
    let request = std::thread::spawn(move || post(&base, &path, &token, &key, &body));
    std::thread::sleep(after);
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    request.join().expect("request thread")
}

fn camt053(lines: &[(String, String)]) -> String {
    let mut entries = String::with_capacity(lines.len() * 300);
    for (e2e, amount) in lines {
        entries.push_str(&format!(
            "<Ntry><Amt Ccy=\"USD\">{amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
<BookgDt><Dt>2026-04-03</Dt></BookgDt><NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>\
<Amt Ccy=\"USD\">{amount}</Amt></TxDtls></NtryDtls></Ntry>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>\
<GrpHdr><MsgId>CRASH-1</MsgId><CreDtTm>2026-04-03T05:00:00</CreDtTm></GrpHdr>\
<Stmt><Id>CRASH-1</Id><Acct><Id><Othr><Id>2100456789</Id></Othr></Id><Ccy>USD</Ccy></Acct>\n{entries}</Stmt></BkToCstmrStmt></Document>\n"
    )
}

/// (batch status, payments per state, transit credit balance, bank debit balance, imports).
type Seen = (BatchStatus, Vec<(PaymentState, usize)>, i64, i64, usize);

fn observe(data: &Path, batch: &tranche_audit::programme::Id, award: &str) -> Seen {
    runtime().block_on(async {
        let ledger = Ledger::open(&Config::new(data)).await.expect("open");
        let st = ledger.store().programme().await.expect("state");
        let b = &st.disburse.batches[batch];
        let mut counts: Vec<(PaymentState, usize)> = Vec::new();
        for &pi in &b.payments {
            let s = st.disburse.payments[pi as usize].state;
            match counts.iter_mut().find(|(k, _)| *k == s) {
                Some((_, n)) => *n += 1,
                None => counts.push((s, 1)),
            }
        }
        let status = b.status;
        let imports = st.disburse.imports.len();
        drop(st);
        let net = |rows: Vec<tranche_ledger::store::BalanceRow>, account: String| {
            rows.iter()
                .filter(|r| r.account == account)
                .map(|r| r.debit_minor - r.credit_minor)
                .sum::<i64>()
        };
        let transit = net(
            ledger
                .store()
                .balances(&format!("transit:{award}"))
                .await
                .expect("balances"),
            format!("transit:{award}"),
        );
        let bank = net(
            ledger
                .store()
                .balances(&format!("bank:{award}"))
                .await
                .expect("balances"),
            format!("bank:{award}"),
        );
        (status, counts, -transit, bank, imports)
    })
}

#[test]
fn a_killed_server_never_applies_half_a_send_or_import_and_a_retry_applies_it_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let award = "crash";
    // The programme, a batch approved by two approvers and its recorded bank file.
    let (batch, token, releaser, total, drawdown, lines) = runtime().block_on(async {
        let ledger = Ledger::open(&Config::new(&data)).await.expect("open");
        let now = Utc::now();
        let fx = tranche_ledger::testkit::fixture::payables_programme(
            &ledger,
            award,
            PAYMENTS,
            "user:setup",
            now,
            &mut |_, _| {},
        )
        .await
        .expect("fixture");
        let plan = ledger
            .create_batch(
                &BatchRequest {
                    award: award.into(),
                    filter: Default::default(),
                },
                "user:prep",
                now,
            )
            .await
            .expect("batch");
        let submit = ledger.submit_command(&plan.batch).await.expect("submit");
        ledger
            .append(&[submit], "user:prep", now)
            .await
            .expect("submitted");
        for approver in ["user:ana", "user:beto"] {
            let c = ledger
                .decision_command(&plan.batch, true, Some(&plan.digest), None)
                .await
                .expect("approve");
            ledger.append(&[c], approver, now).await.expect("approved");
        }
        let file = ledger
            .bank_file(&plan.batch, "pain.001", now, None)
            .await
            .expect("file");
        ledger
            .append(&[file.record.expect("first time")], "user:prep", now)
            .await
            .expect("recorded");
        let (_, token) = tranche_api::server::routes::new_user(&ledger, "prep", "preparer", None)
            .await
            .expect("user");
        // The funds are released by an approver, never by the batch's preparer.
        let (_, releaser) =
            tranche_api::server::routes::new_user(&ledger, "carla", "approver", None)
                .await
                .expect("user");
        let lines: Vec<(String, String)> = plan
            .payments
            .iter()
            .map(|p| (p.e2e.clone(), p.amount.clone()))
            .collect();
        (
            plan.batch,
            token,
            releaser,
            fx.stipend_minor * PAYMENTS as i64,
            fx.drawdown_minor,
            lines,
        )
    });
    assert_eq!(lines.len(), PAYMENTS);

    // Marking the batch sent, killed at many moments: all or nothing each time.
    let send_path = format!("/v1/batches/{batch}/send");
    let mut applied_before_retry = false;
    // From the first byte to well past the commit, 20 ms apart, until one kill lands after it.
    for ms in (0u64..3_000).step_by(20) {
        let answer = killed_during(
            &data,
            &releaser,
            &send_path,
            "send-1",
            r#"{"date": "2026-04-02"}"#,
            Duration::from_millis(ms),
        );
        let (status, counts, transit, bank, _) = observe(&data, &batch, award);
        eprintln!(
            "send killed after {ms} ms: batch {status:?}, answered: {}",
            answer.is_some()
        );
        match status {
            BatchStatus::Approved => {
                assert_eq!(counts, vec![(PaymentState::Pending, PAYMENTS)], "{ms} ms");
                assert_eq!(transit, 0, "{ms} ms: half a send");
            }
            BatchStatus::Sent => {
                assert_eq!(counts, vec![(PaymentState::Sent, PAYMENTS)], "{ms} ms");
                assert_eq!(transit, total, "{ms} ms");
                applied_before_retry = true;
            }
            other => panic!("{ms} ms: batch is {other:?}"),
        }
        assert_eq!(bank, drawdown);
        if let Some((code, body)) = answer {
            assert_eq!(code, 200, "{body}");
        }
        if applied_before_retry {
            break;
        }
    }
    let mut server = start(&data);
    let (code, body) = post(
        &server.base,
        &send_path,
        &releaser,
        "send-1",
        r#"{"date": "2026-04-02"}"#,
    )
    .expect("answer");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"status\":\"sent\""), "{body}");
    server.child.kill().expect("kill");
    server.child.wait().expect("reaped");
    let (status, counts, transit, _, _) = observe(&data, &batch, award);
    assert_eq!(status, BatchStatus::Sent);
    assert_eq!(counts, vec![(PaymentState::Sent, PAYMENTS)]);
    assert_eq!(transit, total, "sent exactly once");

    // Importing the statement that confirms every payment, killed at many moments.
    let stmt = camt053(&lines);
    let mut applied = false;
    for ms in (0u64..5_000).step_by(20) {
        let answer = killed_during(
            &data,
            &token,
            "/v1/bank-files",
            "stmt-1",
            &stmt,
            Duration::from_millis(ms),
        );
        let (_, counts, transit, bank, imports) = observe(&data, &batch, award);
        eprintln!(
            "import killed after {ms} ms: imported {imports}, answered: {}",
            answer.is_some()
        );
        if imports == 0 {
            assert_eq!(counts, vec![(PaymentState::Sent, PAYMENTS)], "{ms} ms");
            assert_eq!(
                (transit, bank),
                (total, drawdown),
                "{ms} ms: half an import"
            );
        } else {
            assert_eq!(counts, vec![(PaymentState::Confirmed, PAYMENTS)], "{ms} ms");
            assert_eq!((transit, bank), (0, drawdown - total), "{ms} ms");
            applied = true;
        }
        if let Some((code, body)) = answer {
            assert!(code == 201 || code == 200, "{body}");
        }
        if applied {
            break;
        }
    }
    let mut server = start(&data);
    let (code, body) =
        post(&server.base, "/v1/bank-files", &token, "stmt-1", &stmt).expect("answer");
    assert!(code == 201 || code == 200, "{body}");
    // The same file under a new key: already imported, nothing posted.
    let (code, body) =
        post(&server.base, "/v1/bank-files", &token, "stmt-2", &stmt).expect("answer");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"already_imported\":true"), "{body}");
    server.child.kill().expect("kill");
    server.child.wait().expect("reaped");
    let (_, counts, transit, bank, imports) = observe(&data, &batch, award);
    assert_eq!(counts, vec![(PaymentState::Confirmed, PAYMENTS)]);
    assert_eq!(
        (transit, bank, imports),
        (0, drawdown - total, 1),
        "imported exactly once"
    );

    // The journal, rebuilt from scratch, equals the live projections.
    runtime().block_on(async {
        let ledger = Ledger::open(&Config::new(&data)).await.expect("open");
        let check =
            tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
                .await
                .expect("check");
        assert!(check.differences.is_empty(), "{:?}", check.differences);
    });
}

/// Statements of attendance corrections, one per participant, signed by the fixture's partner.
fn corrections(participants: &[tranche_audit::programme::Id], award: &str) -> String {
    use tranche_audit::programme::{EvidenceItem, Id, Presence, Statement};
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let mut out = String::new();
    for (i, p) in participants.iter().enumerate() {
        let items = (2..=6)
            .map(|d| EvidenceItem::AttendanceCorrection {
                participant: p.clone(),
                session: Id::parse(&format!("{award}-s{d}")).expect("valid"),
                status: Presence::Absent,
            })
            .collect();
        let body = Statement {
            partner: Id::parse("fixture-partner").expect("valid"),
            batch_id: Id::parse(&format!("corrections-{i}")).expect("valid"),
            items,
            submitted_at: "2026-04-02T12:00:00Z".into(),
        }
        .sign(&key);
        out.push_str(&serde_json::to_string(&body).expect("json"));
        out.push('\n');
    }
    out
}

/// The evidence records in the journal, and whether `rebuild --check` is clean.
fn evidence_state(data: &Path) -> (usize, Vec<String>) {
    runtime().block_on(async {
        let ledger = Ledger::open(&Config::new(data)).await.expect("open");
        let n = ledger
            .store()
            .all_of_kind(tranche_audit::record::kind::EVIDENCE)
            .await
            .expect("records")
            .len();
        let check =
            tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |_, _| {})
                .await
                .expect("check runs");
        (n, check.differences)
    })
}

#[test]
fn a_killed_evidence_import_resumes_and_journals_each_statement_once() {
    const PARTICIPANTS: usize = 2_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let award = "crash-ev";
    let participants = runtime().block_on(async {
        let ledger = Ledger::open(&Config::new(&data)).await.expect("open");
        tranche_ledger::testkit::fixture::payables_programme(
            &ledger,
            award,
            PARTICIPANTS,
            "user:setup",
            Utc::now(),
            &mut |_, _| {},
        )
        .await
        .expect("fixture")
        .participants
    });
    let file = dir.path().join("corrections.jsonl");
    std::fs::write(&file, corrections(&participants, award)).expect("written");
    let (before, clean) = evidence_state(&data);
    assert!(clean.is_empty(), "{clean:?}");
    let import = || {
        let mut c = Command::new(tranche());
        c.args(["--actor", "partner:fixture-partner", "evidence", "import"])
            .arg(&file)
            .env("TRANCHE_DATA_DIR", &data)
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let mut partial = false;
    for ms in [150u64, 400, 700, 1_000, 1_500, 2_000, 3_000] {
        let mut child = import().spawn().expect("starts");
        std::thread::sleep(Duration::from_millis(ms));
        let finished = child.try_wait().expect("polled").is_some();
        child.kill().ok();
        child.wait().expect("reaped");
        let (n, differences) = evidence_state(&data);
        eprintln!(
            "import killed after {ms} ms: {} statements journaled",
            n - before
        );
        assert!(differences.is_empty(), "{ms} ms: {differences:?}");
        assert!(
            n - before <= PARTICIPANTS,
            "{ms} ms: a statement journaled twice"
        );
        partial |= n > before && n - before < PARTICIPANTS;
        if finished || n - before == PARTICIPANTS {
            break;
        }
    }
    let out = import().output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let (n, differences) = evidence_state(&data);
    assert!(differences.is_empty(), "{differences:?}");
    assert_eq!(
        n - before,
        PARTICIPANTS,
        "every statement once: {stdout}{stderr}"
    );
    if partial {
        assert!(stderr.contains("already in the journal"), "{stderr}");
    }
    let again = import().output().expect("runs");
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("journaled no new statement"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(evidence_state(&data).0 - before, PARTICIPANTS);
}
