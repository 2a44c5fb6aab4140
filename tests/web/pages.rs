//! The web interface in a real browser, against a real `tranche serve` on port 0 with the demo
//! programme loaded: maker-checker on a batch, the bank file download, a partner's CSV with a
//! bad line, a donor kept out of participant pages, CSRF and form errors that write nothing.
//! Screenshots of the main pages are written to `target/tmp/web-screenshots/` for review.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::webdriver::Browser;

const AWARD: &str = "bprm-ec-2026";
const WAIT: Duration = Duration::from_secs(20);

fn tranche() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tranche"))
}

fn run(data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    run_program(&tranche(), data, args, stdin)
}

/// Runs `program` (`tranche`, or `tranche-demo` beside it) on the data directory `data`.
fn run_program(program: &Path, data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .env("TRANCHE_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .env("TRANCHE_ACTOR", "user:admin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tranche starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("tranche runs");
    assert!(
        out.status.success(),
        "tranche {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A `tranche serve` process on a free port; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut child = Command::new(tranche())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("TRANCHE_DATA_DIR", data)
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tranche serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the server prints its address")
                .expect("stdout line");
            if let Some(rest) = line.strip_prefix("tranche listening on ") {
                break rest.split_whitespace().next().expect("url").to_string();
            }
        };
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    fn tree_size(&self) -> u64 {
        let mut r = ureq::get(&format!("{}/v1/checkpoint", self.url))
            .call()
            .expect("checkpoint");
        let text = r.body_mut().read_to_string().expect("body");
        text.lines()
            .nth(1)
            .and_then(|l| l.parse().ok())
            .expect("checkpoint size")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Clicks what leads to another page and waits until that page has replaced this one (a
/// marker set on the old document is gone), so the next check never reads the old page.
fn nav(b: &Browser, css: &str) {
    b.execute("window.__trancheOld = true;", &[]);
    b.find(css).click();
    let start = std::time::Instant::now();
    loop {
        let gone = b.execute(
            "return window.__trancheOld === undefined && document.readyState === 'complete';",
            &[],
        );
        if gone == serde_json::Value::Bool(true) {
            return;
        }
        assert!(start.elapsed() < WAIT, "clicking {css} led to no new page");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Uploads an evidence CSV with its batch id and picks the key file on the signing page.
fn upload_to_sign(b: &Browser, url: &str, csv: &Path, batch_id: &str, key: &Path) {
    b.goto(&format!("{url}/web/partner/evidence"));
    b.find("#f-file").upload(csv);
    b.find("#f-batch_id").send_keys(batch_id);
    nav(
        b,
        "form.card[action='/web/partner/evidence'] button[type=submit]",
    );
    b.wait_for("#sign-form", WAIT);
    b.find("#keyfile").upload(key);
}

fn sign_in(b: &Browser, url: &str, token: &str) {
    b.goto(&format!("{url}/web/login"));
    b.find("#f-token").send_keys(token);
    nav(b, "form.card button[type=submit]");
    b.wait_for("form.signout", WAIT);
}

fn sign_out(b: &Browser) {
    nav(b, "form.signout button");
    b.wait_for("#f-token", WAIT);
}

/// The participant the demo's summary names.
fn corrected_participant(demo: &str) -> String {
    demo.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("the corrected participant: tranche participants show ")
        })
        .expect("the demo names a participant")
        .trim()
        .to_string()
}

/// A GET of the API with a bearer token, as JSON.
fn api_get(url: &str, token: &str, path: &str) -> serde_json::Value {
    let mut r = ureq::get(&format!("{url}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("the API answers");
    serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json")
}

fn token(demo: &str, user: &str) -> String {
    demo.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(user)).then(|| w.nth(1).map(str::to_string))?
        })
        .unwrap_or_else(|| panic!("the demo prints a token for {user}"))
}

#[test]
fn finance_partner_and_donor_work_in_a_real_browser() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("downloads dir");
    let Some(b) = Browser::start(&downloads) else {
        return;
    };
    let demo = run_program(
        &PathBuf::from(env!("CARGO_BIN_EXE_tranche-demo")),
        &data,
        &["--participants", "60"],
        None,
    );
    // Cash to pay what the demo left open, and two approvals above 100.00.
    let drawdown = format!(
        r#"{{"date":"2026-03-05","memo":"BPRM drawdown","postings":[{{"account":"bank:{AWARD}","currency":"USD","side":"debit","amount":"500000.00"}},{{"account":"fund:{AWARD}","currency":"USD","side":"credit","amount":"500000.00"}}]}}"#
    );
    run(&data, &["post", "-"], Some(&drawdown));
    run(
        &data,
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
    let server = Server::start(&data);
    let url = server.url.clone();
    let shots = shots();
    let admin = token(&demo, "admin");

    // Not signed in: every page sends the browser to the sign-in form.
    b.goto(&format!("{url}/web/finance/batches"));
    b.wait_for("#f-token", WAIT);
    // A wrong token is refused next to the field.
    b.find("#f-token").send_keys("tr_not-a-token");
    nav(&b, "form.card button[type=submit]");
    let err = b.wait_for("#f-token-error", WAIT).text();
    assert!(err.contains("unknown or revoked token"), "{err}");
    b.screenshot(&shots.join("01-sign-in.png"));

    // The maker: an administrator prepares the batch (admins may also approve, but never
    // their own batch).
    sign_in(&b, &url, &admin);
    let cookies = b.cookies().to_string();
    assert!(cookies.contains("\"httpOnly\":true"), "{cookies}");
    assert!(cookies.contains("\"sameSite\":\"Strict\""), "{cookies}");
    b.goto(&format!("{url}/web/finance/awards/{AWARD}"));
    assert!(b.find("figure svg").attr("aria-label").is_some());
    b.screenshot(&shots.join("02-award-dashboard.png"));

    // A form with a bad field: the API's error next to it, the typed value kept, nothing written.
    b.goto(&format!("{url}/web/finance/batches"));
    let before = server.tree_size();
    b.find("#f-cohort").send_keys("No such cohort");
    nav(
        &b,
        "form.card[action='/web/finance/batches'] button[type=submit]",
    );
    let err = b.wait_for("#f-cohort-error", WAIT).text();
    assert!(
        err.contains("invalid_id") && err.contains("filter.cohort"),
        "{err}"
    );
    assert_eq!(
        b.find("#f-cohort").property("value").as_str(),
        Some("No such cohort")
    );
    assert_eq!(server.tree_size(), before, "a refused form wrote a record");
    b.screenshot(&shots.join("03-form-error.png"));

    // A form posted without a valid CSRF token is refused and writes nothing.
    b.execute(
        "const f = document.querySelector(\"form.card[action='/web/finance/batches']\");\
         f.querySelector('input[name=csrf]').value = 'forged';\
         f.querySelector('#f-cohort').value = '';\
         f.submit();",
        &[],
    );
    let refused = b.wait_for("p.error", WAIT).text();
    assert!(refused.contains("CSRF"), "{refused}");
    assert_eq!(server.tree_size(), before, "a forged form wrote a record");

    // Create and submit the batch.
    b.goto(&format!("{url}/web/finance/batches"));
    nav(
        &b,
        "form.card[action='/web/finance/batches'] button[type=submit]",
    );
    b.wait_for("form[action$='/submit']", WAIT);
    let batch_url = b.url();
    let batch = batch_url.rsplit('/').next().expect("batch id").to_string();
    assert!(!b.find_all("section#payments tbody tr").is_empty());
    b.screenshot(&shots.join("04-batch-created.png"));
    nav(&b, "form[action$='/submit'] button");
    let notice = b.wait_for("p.notice", WAIT).text();
    assert!(notice.contains("Submitted"), "{notice}");
    // The preparer sees no approve button on their own batch, and a forged approval is
    // refused by the ledger.
    assert!(b.try_find("form[action$='/approve']").is_none());
    assert!(b.source().contains("another approver must approve it"));
    b.screenshot(&shots.join("05-batch-submitted.png"));
    let before = server.tree_size();
    let digest = b.find("main p code").text();
    b.execute(
        "const f = document.createElement('form'); f.method = 'post';\
         f.action = arguments[0];\
         for (const [k, v] of [['csrf', document.querySelector('form.signout input[name=csrf]').value],\
                               ['idem', 'forged-approval-0001'], ['digest', arguments[1]]]) {\
           const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v;\
           f.appendChild(i); }\
         document.body.appendChild(f); f.submit();",
        &[
            serde_json::Value::String(format!("{batch_url}/approve")),
            serde_json::Value::String(digest),
        ],
    );
    let refused = b.wait_for("p.error, p.field-error", WAIT).text();
    assert!(refused.contains("own_batch"), "{refused}");
    assert_eq!(server.tree_size(), before);
    sign_out(&b);

    // Two approvers.
    for (i, who) in ["finance-approver-1", "finance-approver-2"]
        .iter()
        .enumerate()
    {
        sign_in(&b, &url, &token(&demo, who));
        b.goto(&format!("{url}/web/finance/batches"));
        let waiting = b.find("section#waiting").text();
        assert!(
            waiting.contains(&batch),
            "{who} sees {batch} waiting: {waiting}"
        );
        b.goto(&batch_url);
        nav(&b, "form[action$='/approve'] button");
        let notice = b.wait_for("p.notice", WAIT).text();
        assert!(notice.contains("Approved"), "{notice}");
        let facts = b.find("dl.facts").text();
        assert!(
            facts.contains(&format!("{} of 2 required", i + 1)),
            "two approvals above the threshold: {facts}"
        );
        // Having approved, the same approver cannot approve again.
        assert!(b.try_find("form[action$='/approve']").is_none());
        if i == 0 {
            b.screenshot(&shots.join("06-batch-one-approval.png"));
        }
        sign_out(&b);
    }

    // The bank file is made and downloads.
    sign_in(&b, &url, &token(&demo, "finance-preparer"));
    b.goto(&batch_url);
    assert!(b.find("dl.facts").text().contains("approved"));
    nav(&b, "form[action$='/files'] button");
    b.wait_for("section#files", WAIT);
    b.find("section#files a[href*='/files/pain.001']").click();
    let file = b.wait_for_download(&downloads, ".xml", WAIT);
    let xml = std::fs::read_to_string(&file).expect("bank file");
    assert!(
        xml.contains("pain.001.001.09"),
        "a pain.001 file: {}",
        &xml[..200.min(xml.len())]
    );
    b.screenshot(&shots.join("07-batch-bank-file.png"));
    // Sent to the bank, then the bank's status file: the reconciliation shows what matched and
    // every line that matched nothing, by number.
    let first = b.find("section#payments tbody tr").text();
    let amount = first
        .split_whitespace()
        .nth(2)
        .expect("the first payment's amount")
        .to_string();
    // The preparer is not offered the release of the funds; an approver sends it.
    assert!(b.try_find("form[action$='/send']").is_none());
    sign_out(&b);
    sign_in(&b, &url, &token(&demo, "finance-approver-1"));
    b.goto(&batch_url);
    // Dated the day it went to the bank (in the programme's year, whenever this runs).
    b.execute(
        "document.querySelector(\"form[action$='/send'] input[name=date]\").value = '2026-07-02';",
        &[],
    );
    nav(&b, "form[action$='/send'] button");
    let notice = b.wait_for("p.notice", WAIT).text();
    assert!(notice.contains("sent"), "{notice}");
    sign_out(&b);
    sign_in(&b, &url, &token(&demo, "finance-preparer"));
    let status = tmp.path().join("status.csv");
    std::fs::write(
        &status,
        format!(
            "end_to_end_id,status,amount,currency,reason,date\n\
             {batch}-000001,booked,{amount},USD,,2026-12-01\n\
             B999999-000001,booked,10.00,USD,,2026-12-01\n"
        ),
    )
    .expect("write status file");
    b.goto(&format!("{url}/web/finance/bank"));
    b.find("#f-file").upload(&status);
    nav(
        &b,
        "form.card[action='/web/finance/bank'] button[type=submit]",
    );
    let applied = b.wait_for("section#applied", WAIT).text();
    assert!(
        applied.contains("confirmed") || applied.contains("booked"),
        "{applied}"
    );
    let unmatched = b.find("section#lines").text();
    assert!(unmatched.contains("B999999-000001"), "{unmatched}");
    assert_eq!(b.find("section#lines tbody tr td").text(), "3");
    b.screenshot(&shots.join("08-bank-reconciliation.png"));
    // Tables sort by a click on their heading and download as CSV.
    b.goto(&format!("{url}/web/finance/batches"));
    nav(&b, "section#batches th:nth-child(6) a");
    b.wait_for("section#batches th[aria-sort=ascending]", WAIT);
    nav(&b, "section#batches th:nth-child(6) a");
    b.wait_for("section#batches th[aria-sort=descending]", WAIT);
    b.goto(&format!("{url}/web/finance/cycles"));
    b.find("#f-period").send_keys("2026-06");
    b.find("#f-dry_run").click();
    nav(
        &b,
        "form.card[action='/web/finance/cycles'] button[type=submit]",
    );
    let notice = b.wait_for("p.notice", WAIT).text();
    assert!(notice.contains("Dry run"), "{notice}");
    assert!(b
        .find("section#exceptions")
        .text()
        .contains("below_threshold"));
    b.screenshot(&shots.join("09-cycle-dry-run.png"));
    sign_out(&b);

    // A partner uploads a CSV with one bad line and sees its line number.
    sign_in(&b, &url, &token(&demo, "hias-field"));
    b.screenshot(&shots.join("10-partner-cohorts.png"));
    b.goto(&format!("{url}/web/partner/evidence"));
    let csv = tmp.path().join("attendance.csv");
    std::fs::write(
        &csv,
        "type,participant,cohort,session,status,course,milestone,result,date\n\
         attendance,p-x1,,hias-imb-emp1-001,present,,,,\n\
         attendance,p-x1,,hias-imb-emp1-002,maybe,,,,\n",
    )
    .expect("write csv");
    let before = server.tree_size();
    b.find("#f-file").upload(&csv);
    nav(
        &b,
        "form.card[action='/web/partner/evidence'] button[type=submit]",
    );
    let bad = b.wait_for("section#bad_lines", WAIT).text();
    assert!(bad.contains("1 row"), "one bad line: {bad}");
    let first_cell = b.find("section#bad_lines tbody tr td").text();
    assert_eq!(first_cell, "3", "the bad line is line 3: {bad}");
    assert_eq!(server.tree_size(), before);
    b.screenshot(&shots.join("11-partner-bad-line.png"));
    // A good CSV is signed in the browser with the partner's key file (read by the browser,
    // never uploaded) and accepted by the ledger.
    let participant = corrected_participant(&demo);
    let doc = api_get(&url, &admin, &format!("/v1/participants/{participant}"));
    let absent = doc["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .find(|e| e["type"] == "attendance" && e["value"] == "absent")
        .and_then(|e| e["what"].as_str())
        .expect("an absence to correct")
        .to_string();
    std::fs::write(
        &csv,
        format!(
            "type,participant,cohort,session,status,course,milestone,result,date\n\
             attendance-correction,{participant},,{absent},present,,,,\n"
        ),
    )
    .expect("write csv");
    upload_to_sign(
        &b,
        &url,
        &csv,
        "hias-2026-07-correction-1",
        &data.join("demo-partner-keys/hias.key"),
    );
    b.screenshot(&shots.join("12-partner-sign.png"));
    let before = server.tree_size();
    nav(&b, "#sign-button");
    let notice = b.wait_for("p.notice", WAIT).text();
    assert!(notice.contains("Every statement was accepted"), "{notice}");
    assert_eq!(server.tree_size(), before + 1, "one evidence record");
    assert!(b
        .find("section#accepted")
        .text()
        .contains("hias-2026-07-correction-1"));
    assert!(
        b.find("section#accepted").text().contains("UTC-05:00"),
        "times in the award's zone"
    );
    // The same upload again writes nothing.
    upload_to_sign(
        &b,
        &url,
        &csv,
        "hias-2026-07-correction-1",
        &data.join("demo-partner-keys/hias.key"),
    );
    nav(&b, "#sign-button");
    // Signed within the same second the statement is byte for byte the first one and its
    // Idempotency-Key replays the first answer; later, the ledger refuses the reused batch id.
    // Either way nothing is written twice.
    let again = b.wait_for("section#results", WAIT).text();
    assert!(
        again.contains("duplicate_batch")
            || again.contains("refused")
            || again.contains("accepted"),
        "{again}"
    );
    assert_eq!(server.tree_size(), before + 1);
    // A partner may not open finance pages.
    b.goto(&format!("{url}/web/finance/batches"));
    assert!(b.find("main").text().contains("may not open this page"));
    sign_out(&b);

    // An auditor: the checkpoint and a trace.
    sign_in(&b, &url, &token(&demo, "auditor"));
    assert!(b.find("main pre").text().contains("tranche.local/ledger"));
    b.screenshot(&shots.join("13-auditor-checkpoint.png"));
    b.goto(&format!("{url}/web/audit/trace?e2e={batch}-000001"));
    assert!(b.find("section#steps").text().contains("entitlement"));
    b.screenshot(&shots.join("14-auditor-trace.png"));
    // What the auditor downloads verifies offline with tranche-verify.
    b.goto(&format!("{url}/web/audit/verify"));
    b.find("a[href^='/web/audit/export']").click();
    let records = b.wait_for_download(&downloads, "records.jsonl", WAIT);
    b.find("a[href^='/web/audit/checkpoint']").click();
    let checkpoint = b.wait_for_download(&downloads, "checkpoint", WAIT);
    let export = tmp.path().join("export");
    std::fs::create_dir_all(&export).expect("export dir");
    std::fs::rename(&records, export.join("records.jsonl")).expect("move records");
    std::fs::rename(&checkpoint, export.join("checkpoint")).expect("move checkpoint");
    let vkey = std::fs::read_to_string(data.join("ledger.vkey")).expect("vkey");
    let out = Command::new(tranche().with_file_name("tranche-verify"))
        .arg(&export)
        .args(["--vkey", vkey.trim()])
        .output()
        .expect("tranche-verify runs");
    assert!(
        out.status.success(),
        "the downloaded export verifies: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    sign_out(&b);

    // A donor sees the results and cannot open a participant page.
    sign_in(&b, &url, &token(&demo, "bprm-donor"));
    assert!(b.find("main").text().contains("Disaggregated results"));
    assert!(!b.find_all("figure svg").is_empty());
    b.screenshot(&shots.join("15-donor-results.png"));
    b.goto(&format!("{url}/web/finance/participants/{participant}"));
    let main = b.find("main").text();
    assert!(main.contains("may not open this page"), "{main}");
    assert!(
        !main.contains("Milagros"),
        "no personal data shown to a donor"
    );
    b.goto(&format!(
        "{url}/web/reports/participant?award={AWARD}&quarter=2026Q4&participant={participant}"
    ));
    assert!(b.find("main").text().contains("forbidden"));
    sign_out(&b);
    // After signing out the session is gone.
    b.goto(&format!("{url}/web/donor"));
    b.wait_for("#f-token", WAIT);
}
