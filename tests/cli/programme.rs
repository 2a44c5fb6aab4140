//! The programme from the command line, as a partner and a finance officer use it: open an
//! award, register a partner and its key, register participants from CSV, sign an evidence CSV
//! (a bad line is reported by number and nothing is signed), submit it to a running server, run
//! the month's cycle, erase a person, and verify the export.

use std::process::Command;

use super::{http, tranche, tranche_verify, Cli};

fn write(cli: &Cli, name: &str, text: &str) -> String {
    let path = cli.data.path().join(name);
    std::fs::write(&path, text).expect("write input");
    path.display().to_string()
}

#[test]
fn a_partner_signs_and_submits_evidence_and_finance_runs_the_cycle() {
    use std::io::BufRead;
    let cli = Cli::new();
    let award = write(
        &cli,
        "award.json",
        r#"{"award": "bprm-t", "donor": "BPRM", "currency": "USD", "total": "10000.00",
            "start": "2026-01-01", "end": "2026-12-31",
            "budget_lines": [
              {"line": "c4t", "name": "C4T stipend", "authorised": "9000.00", "participant_support": true},
              {"line": "admin", "name": "Administration", "authorised": "1000.00", "participant_support": false}]}"#,
    );
    cli.ok(&["award", "open", &award], None);
    cli.ok(
        &[
            "partner",
            "register",
            "--partner",
            "hias",
            "--name",
            "HIAS Ecuador",
        ],
        None,
    );
    let key = cli.data.path().join("hias.key").display().to_string();
    let public = cli.data.path().join("hias.pub.json").display().to_string();
    let out = cli.ok(
        &[
            "partner",
            "keygen",
            "--partner",
            "hias",
            "--out",
            &key,
            "--public",
            &public,
        ],
        None,
    );
    assert!(out.contains("key id"), "{out}");
    cli.ok(&["partner", "key", &public], None);
    let cohort = write(
        &cli,
        "cohort.json",
        r#"{"cohort": "emp-1", "award": "bprm-t", "partner": "hias", "pathway": "employability",
            "name": "Ibarra employability", "sessions": [
              {"session": "s1", "date": "2026-03-03"}, {"session": "s2", "date": "2026-03-10"},
              {"session": "s3", "date": "2026-03-17"}, {"session": "s4", "date": "2026-03-24"}]}"#,
    );
    cli.ok(&["cohort", "open", &cohort], None);
    let rule = write(
        &cli,
        "rule.json",
        r#"{"award": "bprm-t", "rule": "c4t", "version": 1, "effective": "2026-01-01",
            "params": {"shape": "c4t-monthly", "line": "c4t", "amount": "60.00",
                       "full_from_percent": 80, "partial_from_percent": 60, "cap": "360.00"}}"#,
    );
    cli.ok(&["rule", "add", &rule], None);

    // Participants from CSV: a repeated document number is refused by line, nothing written.
    let header = "award,name,document,sex,nationality,province,age_band\n";
    let dup = write(
        &cli,
        "dup.csv",
        &format!("{header}bprm-t,Ana,1700000001,female,VE,Imbabura,25-34\nbprm-t,Ana B,17-0000-0001,female,VE,Imbabura,25-34\n"),
    );
    cli.refused(
        &["participants", "register", &dup, "--partner", "hias"],
        None,
        "line 3",
    );
    let people = write(
        &cli,
        "people.csv",
        &format!(
            "{header}bprm-t,Ana,1700000001,female,VE,Imbabura,25-34\n\
             bprm-t,Berta,1700000002,female,CO,Carchi,18-24\n\
             bprm-t,Carmen,1700000003,female,EC,Sucumbíos,35-44\n"
        ),
    );
    let out = cli.ok(
        &["participants", "register", &people, "--partner", "hias"],
        None,
    );
    let ids: Vec<String> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("pseudonym").to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{out}");
    assert!(
        !out.contains("Ana") && !out.contains("1700000001"),
        "no personal data in the output"
    );

    // Evidence CSV from the field tool: one bad status is reported by its line number.
    let mut rows = String::from("type,participant,cohort,session,status,date\n");
    for p in &ids {
        rows.push_str(&format!("enrolment,{p},emp-1,,,2026-03-01\n"));
    }
    let present = [4, 3, 2];
    for (p, n) in ids.iter().zip(present) {
        for s in 1..=4 {
            let status = if s <= n { "present" } else { "absent" };
            rows.push_str(&format!("attendance,{p},,s{s},{status},\n"));
        }
    }
    let bad = write(&cli, "bad.csv", &rows.replacen("present", "late", 1));
    let out = Command::new(tranche())
        .args([
            "partner",
            "sign",
            &bad,
            "--key",
            &key,
            "--batch-id",
            "mar-1",
        ])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("line 5") && err.contains("status"), "{err}");
    assert!(
        !cli.data.path().join("bad.signed.jsonl").exists(),
        "nothing is signed"
    );
    let good = write(&cli, "march.csv", &rows);
    cli.ok(
        &[
            "partner",
            "sign",
            &good,
            "--key",
            &key,
            "--batch-id",
            "mar-1",
        ],
        None,
    );
    let signed = cli
        .data
        .path()
        .join("march.signed.jsonl")
        .display()
        .to_string();

    // A running ledger; the partner submits with its own token, twice (the retry is a replay).
    let mut server = Command::new(tranche())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRANCHE_DATA_DIR", cli.data.path().join("data"))
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tranche serve starts");
    let mut lines = std::io::BufReader::new(server.stdout.take().expect("stdout")).lines();
    let (mut admin, mut base) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.expect("a line");
        if line.trim_start().starts_with("tr_") {
            admin = line.trim().to_string();
        }
        if let Some(rest) = line.strip_prefix("tranche listening on ") {
            base = rest.split_whitespace().next().expect("url").to_string();
            break;
        }
    }
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/users"),
        &admin,
        Some("u-hias"),
        r#"{"name":"hias-field","role":"partner","partner":"hias"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let token = body
        .split("\"token\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("token")
        .to_string();
    for _ in 0..2 {
        let out = Command::new(tranche())
            .args([
                "partner", "submit", &signed, "--url", &base, "--token", &token,
            ])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    assert!(server.wait().expect("exits").success());

    // The March cycle: 4/4 -> 60.00, 3/4 (75%) -> 45.00, 2/4 (50%) -> nothing, listed.
    let reports = cli.data.path().join("reports");
    let reports_arg = reports.display().to_string();
    let out = cli.ok(
        &[
            "cycle",
            "run",
            "--award",
            "bprm-t",
            "--period",
            "2026-03",
            "--out",
            &reports_arg,
        ],
        None,
    );
    assert!(
        out.contains("2 new entitlements") && out.contains("net payable 105.00 USD"),
        "{out}"
    );
    let exceptions =
        std::fs::read_to_string(reports.join("cycle-bprm-t-2026-03-exceptions.csv")).expect("csv");
    assert!(
        exceptions.contains(&format!("{},c4t,below_threshold", ids[2])),
        "{exceptions}"
    );
    let out = cli.ok(
        &[
            "cycle",
            "run",
            "--award",
            "bprm-t",
            "--period",
            "2026-03",
            "--out",
            &reports_arg,
        ],
        None,
    );
    assert!(
        out.contains("0 new entitlements"),
        "running again posts nothing: {out}"
    );
    cli.refused(
        &["cycle", "run", "--award", "bprm-t", "--period", "2027-02"],
        None,
        "period_outside_award",
    );

    // Erasure: the personal data goes, the journal and its proofs stay valid.
    let shown = cli.ok(&["participants", "show", &ids[0]], None);
    assert!(
        shown.contains("Ana") && shown.contains("c4t:2026-03"),
        "{shown}"
    );
    cli.ok(&["participants", "erase", &ids[0]], None);
    let shown = cli.ok(&["participants", "show", &ids[0]], None);
    assert!(
        !shown.contains("Ana") && shown.contains("erased"),
        "{shown}"
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
