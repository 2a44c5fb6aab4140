//! The auditor's tools against the real binaries: a witness cosigning a running ledger's
//! checkpoints and the verifier's quorum policy; and a verifier that keeps a state file and
//! catches a rollback, a split view and a rewritten history, writing fork evidence that
//! `tranche-verify fork` proves with the ledger's key alone.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::{tranche, tranche_verify, Cli};

fn run(data: &Path, key: Option<&Path>, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(tranche());
    cmd.env("TRANCHE_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(k) = key {
        cmd.env("TRANCHE_KEY", k);
    }
    let mut child = cmd.args(args).spawn().expect("tranche starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("runs");
    assert!(
        out.status.success(),
        "tranche {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn post(data: &Path, key: Option<&Path>, memo: &str, amount: &str) {
    let body = format!(
        r#"{{"memo":"{memo}","postings":[{{"account":"bank:op","currency":"USD","side":"debit","amount":"{amount}"}},{{"account":"fund:x","currency":"USD","side":"credit","amount":"{amount}"}}]}}"#
    );
    run(data, key, &["post", "-"], Some(&body));
}

fn ledger(data: &Path, key: Option<&Path>) {
    run(
        data,
        key,
        &["init", "--origin", "audit.example/ledger"],
        None,
    );
    run(
        data,
        key,
        &["account", "open", "bank:op", "--type", "asset"],
        None,
    );
    run(
        data,
        key,
        &["account", "open", "fund:x", "--type", "equity"],
        None,
    );
}

fn verify(args: &[&str]) -> (i32, String) {
    let out = Command::new(tranche_verify())
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn export(data: &Path, key: Option<&Path>, dir: &Path, extra: &[&str]) {
    let d = dir.display().to_string();
    run(
        data,
        key,
        &[&["export", d.as_str()][..], extra].concat(),
        None,
    );
}

#[test]
fn the_verifier_keeps_state_and_proves_rollbacks_split_views_and_rewrites() {
    let cli = Cli::new();
    let root = cli.data.path();
    let a = root.join("a");
    ledger(&a, None);
    post(&a, None, "one", "1.00");
    let vkey = std::fs::read_to_string(a.join("ledger.vkey"))
        .expect("vkey")
        .trim()
        .to_string();
    let key = a.join("ledger.key");
    let state = root.join("auditor.state");
    let st = state.display().to_string();
    let e1 = root.join("e1");
    export(&a, None, &e1, &[]);
    post(&a, None, "two", "2.00");
    let e2 = root.join("e2");
    export(&a, None, &e2, &[]);
    // First visit keeps the checkpoint; a later export extends it.
    for e in [&e1, &e2] {
        let (code, out) = verify(&[&e.display().to_string(), "--vkey", &vkey, "--state", &st]);
        assert_eq!(code, 0, "{out}");
    }
    // Rollback: an older export after a newer one was seen.
    let (code, out) = verify(&[&e1.display().to_string(), "--vkey", &vkey, "--state", &st]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("fork"), "{out}");

    // Another journal under the same key (a dishonest operator): same size, another root.
    let b = root.join("b");
    ledger(&b, Some(&key));
    post(&b, Some(&key), "other", "9.00");
    post(&b, Some(&key), "other", "8.00");
    let f = root.join("f");
    export(&b, Some(&key), &f, &[]);
    let (code, out) = verify(&[&f.display().to_string(), "--vkey", &vkey, "--state", &st]);
    assert_eq!(code, 1, "{out}");
    let evidence = root.join("auditor.state.fork.json");
    assert!(evidence.exists(), "{out}");
    let (code, out) = verify(&["fork", &evidence.display().to_string(), "--vkey", &vkey]);
    assert_eq!(code, 0, "the split view is proven: {out}");
    assert!(out.starts_with("PROVEN"), "{out}");
    std::fs::remove_file(&evidence).expect("remove");

    // A rewritten history that grew: the prefix of the new tree is not the tree seen.
    post(&b, Some(&key), "more", "7.00");
    let g = root.join("g");
    export(&b, Some(&key), &g, &[]);
    let (code, out) = verify(&[&g.display().to_string(), "--vkey", &vkey, "--state", &st]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = verify(&["fork", &evidence.display().to_string(), "--vkey", &vkey]);
    assert_eq!(code, 0, "the rewrite is proven: {out}");
    // Evidence checked with another ledger's key proves nothing.
    let c = root.join("c");
    ledger(&c, None);
    let other = std::fs::read_to_string(c.join("ledger.vkey")).expect("vkey");
    let (code, out) = verify(&[
        "fork",
        &evidence.display().to_string(),
        "--vkey",
        other.trim(),
    ]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn a_witness_cosigns_a_running_ledger_and_the_verifier_requires_its_quorum() {
    let cli = Cli::new();
    let root = cli.data.path();
    let data = root.join("data");
    ledger(&data, None);
    let vkey = std::fs::read_to_string(data.join("ledger.vkey"))
        .expect("vkey")
        .trim()
        .to_string();
    // The witness, with its own key and state.
    let mut witness = Command::new(tranche())
        .args([
            "witness",
            "--listen",
            "127.0.0.1:0",
            "--key",
            &root.join("w.key").display().to_string(),
            "--name",
            "witness.example/w1",
            "--state",
            &root.join("w.state").display().to_string(),
            "--log",
            &vkey,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("witness starts");
    let mut lines = std::io::BufReader::new(witness.stdout.take().expect("stdout")).lines();
    let mut wurl = String::new();
    let mut wkey = String::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(rest) = line.strip_prefix("tranche witness listening on ") {
            wurl = rest.trim().to_string();
        }
        if let Some(rest) = line
            .trim()
            .strip_prefix("witness key (give it to verifiers): ")
        {
            wkey = rest.trim().to_string();
            break;
        }
    }
    assert!(
        wurl.starts_with("http://") && !wkey.is_empty(),
        "{wurl} {wkey}"
    );
    // The ledger server, collecting the witness's cosignatures.
    let mut server = Command::new(tranche())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--witness",
            &format!("{wurl}={wkey}"),
        ])
        .env("TRANCHE_DATA_DIR", &data)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut token = String::new();
    let mut base = String::new();
    let mut out = std::io::BufReader::new(server.stdout.take().expect("stdout")).lines();
    for line in out.by_ref() {
        let line = line.expect("line");
        if line.trim_start().starts_with("tr_") {
            token = line.trim().to_string();
        }
        if let Some(rest) = line.strip_prefix("tranche listening on ") {
            base = rest.split_whitespace().next().expect("url").to_string();
            break;
        }
    }
    // Keep reading what the server prints, so that it never writes to a closed pipe.
    std::thread::spawn(move || out.for_each(drop));
    assert!(token.starts_with("tr_"), "no admin token printed");
    post(&data, None, "paid", "3.00");
    // Wait for the cosignature of the latest checkpoint, then export it.
    let e = root.join("e");
    let mut ok = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let out = Command::new(tranche())
            .args(["export", &e.display().to_string(), "--cosigned"])
            .env("TRANCHE_DATA_DIR", &data)
            .env_remove("DATABASE_URL")
            .output()
            .expect("runs");
        if out.status.success()
            && std::fs::read_to_string(e.join("checkpoint"))
                .is_ok_and(|c| c.contains("witness.example/w1"))
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "no cosigned checkpoint was exported");
    // A receipt carries the cosigned checkpoint; a later one plus a consistency proof shows
    // the earlier record is still in the history.
    let receipt = |name: &str| {
        let (status, body) = super::http("GET", &format!("{base}/v1/receipts/1"), &token, None, "");
        assert_eq!(status, 200, "{body}");
        let path = root.join(name);
        std::fs::write(&path, body).expect("write");
        path
    };
    let r1 = receipt("r1.tlog-proof");
    let size_of = |p: &Path| -> u64 {
        let text = std::fs::read_to_string(p).expect("receipt");
        let r = tranche_audit::receipt::Receipt::parse(&text).expect("a receipt");
        let note = tranche_audit::note::SignedNote::parse(&r.checkpoint_note).expect("note");
        tranche_audit::note::Checkpoint::parse(&note.text)
            .expect("cp")
            .size
    };
    let s1 = size_of(&r1);
    post(&data, None, "later", "4.00");
    let mut r2 = r1.clone();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        r2 = receipt("r2.tlog-proof");
        if size_of(&r2) > s1 {
            break;
        }
    }
    let s2 = size_of(&r2);
    assert!(s2 > s1, "no later cosigned checkpoint");
    let (status, proof) = super::http(
        "GET",
        &format!("{base}/v1/proofs/consistency?size1={s1}&size2={s2}"),
        &token,
        None,
        "",
    );
    assert_eq!(status, 200, "{proof}");
    let proof_path = root.join("proof.json");
    std::fs::write(&proof_path, proof).expect("write");
    let (r1s, r2s, ps) = (
        r1.display().to_string(),
        r2.display().to_string(),
        proof_path.display().to_string(),
    );
    let (code, out) = verify(&[
        "receipt",
        &r2s,
        "--vkey",
        &vkey,
        "--witness",
        &wkey,
        "--earlier",
        &r1s,
        "--consistency",
        &ps,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("still in the history"), "{out}");
    let stranger_key = tranche_audit::witness::Cosigner::from_seed("witness.example/w3", [8; 32])
        .expect("key")
        .verifier()
        .to_vkey();
    let (code, out) = verify(&["receipt", &r2s, "--vkey", &vkey, "--witness", &stranger_key]);
    assert_eq!(code, 1, "{out}");
    let _ = server.kill();
    let _ = witness.kill();
    let _ = server.wait();
    let _ = witness.wait();
    let dir = e.display().to_string();
    let (code, out) = verify(&[&dir, "--vkey", &vkey, "--witness", &wkey]);
    assert_eq!(code, 0, "{out}");
    // A witness the checkpoint lacks: the quorum is not met.
    let stranger = tranche_audit::witness::Cosigner::from_seed("witness.example/w2", [9; 32])
        .expect("key")
        .verifier()
        .to_vkey();
    let (code, out) = verify(&[
        &dir,
        "--vkey",
        &vkey,
        "--witness",
        &wkey,
        "--witness",
        &stranger,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("witness_quorum"), "{out}");
    let (code, out) = verify(&[
        &dir,
        "--vkey",
        &vkey,
        "--witness",
        &wkey,
        "--witness",
        &stranger,
        "--quorum",
        "1",
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_rotated_checkpoint_key_is_followed_from_the_original_key() {
    let cli = Cli::new();
    let data = cli.data.path().join("data");
    ledger(&data, None);
    post(&data, None, "before", "1.00");
    let original = std::fs::read_to_string(data.join("ledger.vkey"))
        .expect("vkey")
        .trim()
        .to_string();
    let out = run(&data, None, &["key", "rotate"], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("rotated at seq"), "{text}");
    let new = std::fs::read_to_string(data.join("ledger.vkey"))
        .expect("vkey")
        .trim()
        .to_string();
    assert_ne!(new, original);
    post(&data, None, "after", "2.00");
    let e = cli.data.path().join("e");
    export(&data, None, &e, &[]);
    let dir = e.display().to_string();
    let (code, out) = verify(&[&dir, "--vkey", &original, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["ledger_keys"], 2, "{v}");
    assert_eq!(v["current_vkey"], new.as_str());
    // The journal and its projections still agree, and the ledger reopens with the new key.
    run(&data, None, &["rebuild", "--check"], None);
    post(&data, None, "later", "3.00");
    // A checkpoint signed with the retired key after the hand-over is refused.
    let retired = std::fs::read_dir(&data)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.display().to_string().contains("retired-"))
        .expect("the retired key is kept");
    let text = std::fs::read_to_string(&retired).expect("key");
    let old = tranche_audit::note::NoteSigner::parse(&text).expect("a key");
    let note = std::fs::read_to_string(e.join("checkpoint")).expect("checkpoint");
    let body = &note[..note.find("\n\n").expect("note") + 1];
    std::fs::write(e.join("checkpoint"), old.sign(body).expect("signs")).expect("write");
    let (code, out) = verify(&[&dir, "--vkey", &original]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("retired_key"), "{out}");
}

#[test]
fn a_report_is_checked_against_an_export_and_a_changed_figure_is_named() {
    let cli = Cli::new();
    let data = cli.data.path().join("data");
    cli.demo(&["--participants", "40"]);
    let report = cli.data.path().join("sf425.json");
    let r = report.display().to_string();
    run(
        &data,
        None,
        &[
            "report",
            "sf425",
            "--award",
            "bprm-ec-2026",
            "--start",
            "2026-01-01",
            "--end",
            "2026-12-31",
            "--out",
            &r,
        ],
        None,
    );
    let e = cli.data.path().join("e");
    export(&data, None, &e, &[]);
    let dir = e.display().to_string();
    let (code, out) = verify(&["report", &r, "--export", &dir]);
    assert_eq!(code, 0, "{out}");
    // A changed figure: the signature no longer holds.
    let text = std::fs::read_to_string(&report).expect("report");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let before = v["report"]["body"]["line_10e"]["cumulative"]
        .as_str()
        .expect("figure")
        .to_string();
    v["report"]["body"]["line_10e"]["cumulative"] = "1.00".into();
    assert_ne!(before, "1.00");
    std::fs::write(&report, serde_json::to_string(&v).expect("json")).expect("write");
    let (code, out) = verify(&["report", &r, "--export", &dir]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad_report_signature"), "{out}");
    // The report and the key, but the export of another ledger: its checkpoint is not there.
    let other = cli.data.path().join("other");
    ledger(&other, None);
    let e2 = cli.data.path().join("e2");
    export(&other, None, &e2, &[]);
    std::fs::write(&report, &text).expect("write");
    let vkey = std::fs::read_to_string(data.join("ledger.vkey")).expect("vkey");
    let (code, out) = verify(&[
        "report",
        &r,
        "--export",
        &e2.display().to_string(),
        "--vkey",
        vkey.trim(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("checkpoint_not_in_export"), "{out}");
}

/// Someone with the database file but not the ledger's key drops the append-only trigger and
/// rewrites a journal row (both postings, so the record still balances): the real
/// `tranche rebuild --check` exits 4 naming the record, and `tranche-verify` names it on the
/// next export.
#[test]
fn a_journal_row_edited_with_its_trigger_dropped_fails_rebuild_check_and_the_next_export() {
    let cli = Cli::new();
    let data = cli.data.path().join("data");
    ledger(&data, None);
    post(&data, None, "edited", "1.00");
    post(&data, None, "after", "2.00");
    // init, two accounts, then the two posts: the first post is seq 3.
    let seq = 3u64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let ledger = tranche_ledger::Ledger::open(&tranche_ledger::Config::new(&data))
            .await
            .expect("the database opens");
        let store = ledger.store();
        store
            .execute_raw("DROP TRIGGER journal_no_update")
            .await
            .expect("the trigger is dropped");
        let changed = store
            .execute_raw(&format!(
                "UPDATE journal SET record = CAST(replace(CAST(record AS TEXT), '\"1.00\"', \
                 '\"7.00\"') AS BLOB) WHERE seq = {seq}"
            ))
            .await
            .expect("the row is rewritten");
        assert_eq!(changed, 1);
    });
    drop(runtime);

    let out = Command::new(tranche())
        .args(["rebuild", "--check"])
        .env("TRANCHE_DATA_DIR", &data)
        .env_remove("DATABASE_URL")
        .output()
        .expect("tranche runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text
        .lines()
        .nth(1)
        .map(str::trim)
        .expect("a difference is listed");
    assert_eq!(
        first,
        format!("journal: seq {seq}: stored leaf hash does not match the record"),
        "{text}"
    );

    let e = cli.data.path().join("e");
    export(&data, None, &e, &[]);
    let vkey = std::fs::read_to_string(data.join("ledger.vkey")).expect("vkey");
    let (code, out) = verify(&[&e.display().to_string(), "--vkey", vkey.trim(), "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(
        (&v["seq"], &v["rule"]),
        (&seq.into(), &"prev_mismatch".into()),
        "{v}"
    );
}
#[test]
fn a_bad_report_request_is_refused_and_writes_no_file() {
    let cli = Cli::new();
    cli.demo(&["--participants", "20"]);
    let out = cli.data.path().join("report.out");
    let o = out.display().to_string();
    let award = ["--award", "bprm-ec-2026"];
    for (args, field, code) in [
        (
            vec![
                "sf425",
                award[0],
                award[1],
                "--start",
                "2025-01-01",
                "--end",
                "2025-03-31",
            ],
            "period",
            "period_outside_award",
        ),
        (
            vec![
                "sf425",
                award[0],
                award[1],
                "--start",
                "2026-06-01",
                "--end",
                "2026-03-01",
            ],
            "start",
            "start_after_end",
        ),
        (
            vec!["budget", "--award", "nope", "--quarter", "2026Q1"],
            "award",
            "unknown_award",
        ),
        (
            vec!["participant", award[0], award[1], "--quarter", "2026Q1"],
            "participant",
            "participant_required",
        ),
        (
            vec!["sf425", award[0], award[1], "--quarter", "2026Q5"],
            "quarter",
            "invalid_quarter",
        ),
        (
            vec![
                "sf425",
                award[0],
                award[1],
                "--quarter",
                "2026Q1",
                "--format",
                "pdf",
            ],
            "format",
            "invalid_format",
        ),
        (vec!["due", "--award", "nope"], "award", "unknown_award"),
        (
            vec!["due", award[0], award[1], "--as-of", "30/04/2026"],
            "as_of",
            "invalid_date",
        ),
    ] {
        let mut full = vec!["report"];
        full.extend(&args);
        full.extend(["--out", &o]);
        cli.refused(&full, None, &format!("({code})"));
        let err = String::from_utf8_lossy(&cli.run(&full, None).stderr).into_owned();
        assert!(
            err.contains(&format!("refused: {field}: ")),
            "{args:?}: {err}"
        );
        assert!(!out.exists(), "{args:?}: a refused report wrote {o}");
    }
}

#[test]
fn the_reports_due_are_stated_as_of_a_day() {
    let cli = Cli::new();
    cli.demo(&["--participants", "20"]);
    let due = |as_of: &str, format: &str| {
        cli.ok(
            &[
                "report",
                "due",
                "--award",
                "bprm-ec-2026",
                "--as-of",
                as_of,
                "--format",
                format,
            ],
            None,
        )
    };
    let text = due("2026-05-15", "table");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().take(5).collect())
        .collect();
    assert!(text.starts_with("as of 2026-05-15\n"), "{text}");
    let when: Vec<String> = text
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().skip(5).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        when,
        [
            "overdue by 15 days",
            "in 76 days",
            "in 168 days",
            "in 260 days"
        ],
        "{text}"
    );
    assert_eq!(
        rows,
        [
            [
                "2026Q1",
                "2026-01-01",
                "2026-03-31",
                "2026-04-30",
                "overdue"
            ],
            [
                "2026Q2",
                "2026-04-01",
                "2026-06-30",
                "2026-07-30",
                "upcoming"
            ],
            [
                "2026Q3",
                "2026-07-01",
                "2026-09-30",
                "2026-10-30",
                "upcoming"
            ],
            [
                "2026Q4",
                "2026-10-01",
                "2026-12-31",
                "2027-01-30",
                "upcoming"
            ],
        ],
        "{text}"
    );
    let text = due("2026-04-30", "table");
    assert!(
        text.contains("2026-04-30   due       due today\n"),
        "the last day is still due: {text}"
    );
    // Piped, or asked for, it is JSON for machines: the days as a number.
    let json: serde_json::Value = serde_json::from_str(&due("2026-05-15", "json")).expect("JSON");
    assert_eq!(json["due"][0]["days_left"], -15, "{json}");
    assert_eq!(json["due"][0]["status"], "overdue", "{json}");
    let piped = cli.ok(
        &[
            "report",
            "due",
            "--award",
            "bprm-ec-2026",
            "--as-of",
            "2026-05-15",
        ],
        None,
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&piped).expect("JSON when piped"),
        json
    );
    cli.refused(
        &[
            "report",
            "due",
            "--award",
            "bprm-ec-2026",
            "--format",
            "csv",
        ],
        None,
        "table or json (invalid_format)",
    );
}

/// Re-signs a changed report with the ledger's own key, so that only the recomputation can
/// tell: the signature holds and the figures do not.
fn resign(data: &Path, v: &mut serde_json::Value) {
    let text = std::fs::read_to_string(data.join("ledger.key")).expect("key");
    let signer = tranche_audit::note::NoteSigner::parse(&text).expect("a key");
    let report: tranche_audit::report::Report =
        serde_json::from_value(v["report"].clone()).expect("a report");
    let signed = tranche_audit::report::SignedReport::sign(report, &signer);
    *v = serde_json::to_value(signed).expect("json");
}

#[test]
fn every_report_kind_is_recomputed_from_an_export_and_a_changed_figure_is_named() {
    let cli = Cli::new();
    let data = cli.data.path().join("data");
    cli.demo(&["--participants", "40"]);
    let e = cli.data.path().join("e");
    let mut files = Vec::new();
    for kind in ["budget", "payments", "bank", "disaggregation"] {
        let file = cli.data.path().join(format!("{kind}.json"));
        run(
            &data,
            None,
            &[
                "report",
                kind,
                "--award",
                "bprm-ec-2026",
                "--start",
                "2026-01-01",
                "--end",
                "2026-12-31",
                "--out",
                &file.display().to_string(),
            ],
            None,
        );
        files.push((kind, file));
    }
    export(&data, None, &e, &[]);
    let dir = e.display().to_string();
    for (kind, file) in &files {
        let (code, out) = verify(&["report", &file.display().to_string(), "--export", &dir]);
        assert_eq!(code, 0, "{kind}: {out}");
        assert!(out.contains("OK"), "{kind}: {out}");
    }
    let read = |kind: &str| -> serde_json::Value {
        let path = cli.data.path().join(format!("{kind}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("report")).expect("json")
    };
    // The figures are not empty: the demo paid people.
    let pay = read("payments");
    assert!(
        pay["report"]["body"]["payments"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{pay}"
    );

    // A changed figure under a good signature: the verifier names it.
    let tampered = cli.data.path().join("tampered.json");
    let t = tampered.display().to_string();
    let mut budget = read("budget");
    let before = budget["report"]["body"]["lines"][0]["expended"].clone();
    budget["report"]["body"]["lines"][0]["expended"] = "0.01".into();
    assert_ne!(before, "0.01");
    resign(&data, &mut budget);
    std::fs::write(&tampered, budget.to_string()).expect("write");
    let (code, out) = verify(&["report", &t, "--export", &dir]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("figures_differ") && out.contains("lines[0].expended"),
        "{out}"
    );
    let mut bank = read("bank");
    bank["report"]["body"]["matched"]["count"] = 100_000.into();
    resign(&data, &mut bank);
    std::fs::write(&tampered, bank.to_string()).expect("write");
    let (code, out) = verify(&["report", &t, "--export", &dir]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("matched.count"), "{out}");
    // A disaggregation total the journal does not give.
    let mut dis = read("disaggregation");
    dis["report"]["body"]["tables"][2]["totals"][0]["count"] = 1.into();
    resign(&data, &mut dis);
    std::fs::write(&tampered, dis.to_string()).expect("write");
    let (code, out) = verify(&["report", &t, "--export", &dir]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("figures_differ"), "{out}");
}
