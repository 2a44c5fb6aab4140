//! The README walkthrough, run for real: `tranche init`, accounts, posts (and refusals that
//! write nothing), balance, reverse, export, `tranche-verify`, tamper detection on the export,
//! and `tranche rebuild --check`.

mod audit;
mod payments;
mod programme;
mod walkthrough;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tranche() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tranche"))
}

/// The demo programme's loader, a binary of its own.
fn tranche_demo() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tranche-demo"))
}

/// The benchmarks, a binary of their own.
fn tranche_bench() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tranche-bench"))
}

/// The verifier is built by the workspace next to `tranche`.
fn tranche_verify() -> PathBuf {
    let path = tranche().with_file_name("tranche-verify");
    assert!(
        path.exists(),
        "tranche-verify is not built at {}: run the workspace tests (cargo test --workspace)",
        path.display()
    );
    path
}

struct Cli {
    data: tempfile::TempDir,
    /// A PostgreSQL database to run on instead of the embedded SQLite file.
    database_url: Option<String>,
}

impl Cli {
    fn new() -> Self {
        Cli {
            data: tempfile::tempdir().expect("temp dir"),
            database_url: None,
        }
    }

    /// A command line on the PostgreSQL database `url` (its data directory still holds the
    /// keys).
    fn on_postgres(url: String) -> Self {
        Cli {
            database_url: Some(url),
            ..Cli::new()
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_program(&tranche(), args, stdin)
    }

    /// Runs `program` (`tranche` or one of the binaries beside it) on this data directory.
    fn run_program(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("TRANCHE_DATA_DIR", self.data.path().join("data"))
            .env("TRANCHE_ACTOR", "finance:ana")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // Relative paths in arguments (as the README writes them) are in the test's directory.
        cmd.current_dir(self.data.path());
        match &self.database_url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        let mut child = cmd.spawn().expect("tranche starts");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("tranche runs")
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        self.ok_program(&tranche(), args, stdin)
    }

    fn ok_program(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run_program(program, args, stdin);
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// `tranche-demo ARGS` into this data directory.
    fn demo(&self, args: &[&str]) -> String {
        self.ok_program(&tranche_demo(), args, None)
    }

    fn refused(&self, args: &[&str], stdin: Option<&str>, needle: &str) {
        self.refused_program(&tranche(), args, stdin, needle);
    }

    fn refused_program(&self, program: &Path, args: &[&str], stdin: Option<&str>, needle: &str) {
        let size = self.size();
        let out = self.run_program(program, args, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "tranche {args:?}: {err}");
        assert!(err.contains(needle), "expected {needle:?} in {err}");
        assert!(err.contains("nothing was written"), "{err}");
        assert_eq!(self.size(), size, "a refusal wrote a record");
    }

    fn size(&self) -> usize {
        self.ok(&["log", "--from", "0", "--limit", "10000"], None)
            .lines()
            .count()
    }
}

fn verify(dir: &Path, vkey: &str) -> Output {
    Command::new(tranche_verify())
        .arg(dir)
        .args(["--vkey", vkey])
        .output()
        .expect("tranche-verify runs")
}

#[test]
fn the_readme_walkthrough_works_and_the_verifier_catches_tampering() {
    let cli = Cli::new();
    let init = cli.ok(&["init", "--origin", "caminando.example/ledger"], None);
    let vkey = init
        .lines()
        .find_map(|l| l.strip_prefix("verifier key: "))
        .expect("init prints the verifier key")
        .trim()
        .to_string();
    assert!(vkey.starts_with("caminando.example/ledger+"));
    let published = std::fs::read_to_string(cli.data.path().join("data/ledger.vkey"))
        .expect("init publishes the vkey");
    assert_eq!(published.trim(), vkey);

    for (name, t) in [
        ("bank:operating", "asset"),
        ("fund:bprm", "equity"),
        ("expense:c4t-stipend", "expense"),
        ("payable:participant:P-00012", "liability"),
    ] {
        cli.ok(&["account", "open", name, "--type", t], None);
    }
    cli.refused(
        &["account", "open", "bank:operating", "--type", "asset"],
        None,
        "account_exists",
    );
    cli.refused(
        &["account", "open", "bank:x", "--type", "cash"],
        None,
        "invalid_account_type",
    );

    cli.ok(
        &["post", "-"],
        Some(r#"{"memo": "BPRM drawdown 1", "postings": [
              {"account": "bank:operating", "currency": "USD", "side": "debit", "amount": "5000.00"},
              {"account": "fund:bprm", "currency": "USD", "side": "credit", "amount": "5000.00"}]}"#),
    );
    let line = |memo: &str, amount: &str| {
        format!(
            r#"{{"memo":"{memo}","postings":[{{"account":"expense:c4t-stipend","currency":"USD","side":"debit","amount":"{amount}"}},{{"account":"payable:participant:P-00012","currency":"USD","side":"credit","amount":"{amount}"}}]}}"#
        )
    };
    let batch = format!(
        "{}\n{}\n",
        line("March C4T", "60.00"),
        line("April C4T", "48")
    );
    let posted = cli.ok(&["post", "-"], Some(&batch));
    assert!(posted.contains("posted 2 transaction(s)"), "{posted}");

    // A malformed line refuses the whole batch and names the line.
    let bad = format!(
        "{}\n{}\n{{\"memo\": \"broken\", \n",
        line("May", "60.00"),
        line("June", "60.00")
    );
    cli.refused(&["post", "-"], Some(&bad), "line 3");
    let unbalanced = format!(
        "{}\n{}\n",
        line("May", "60.00"),
        line("June", "60.00").replacen("60.00", "61.00", 1)
    );
    cli.refused(
        &["post", "-"],
        Some(&unbalanced),
        "line 2: postings: USD debits 61.00 do not equal credits 60.00 (unbalanced)",
    );
    cli.refused(
        &["post", "-"],
        Some(&line("July", "60.001")),
        "too_many_decimals",
    );

    let balance = cli.ok(&["balance", "payable"], None);
    assert!(balance.contains("payable:participant:P-00012"), "{balance}");
    assert!(balance.contains("-108.00"), "{balance}");
    let csv = cli.ok(&["balance", "--format", "csv"], None);
    assert!(
        csv.starts_with("account,currency,debits,credits,balance\n"),
        "{csv}"
    );
    assert!(
        csv.contains("bank:operating,USD,5000.00,0.00,5000.00"),
        "{csv}"
    );

    cli.refused(&["reverse", "7", "--reason", " "], None, "reason_required");
    let reversed = cli.ok(&["reverse", "7", "--reason", "duplicate stipend"], None);
    assert!(reversed.contains("seq 7 reversed by seq 8"), "{reversed}");
    cli.refused(
        &["reverse", "7", "--reason", "again"],
        None,
        "already_reversed",
    );
    let balance = cli.ok(&["balance", "payable"], None);
    assert!(
        balance.contains("-60.00"),
        "April's 48.00 was reversed: {balance}"
    );

    let rebuilt = cli.ok(&["rebuild", "--check"], None);
    assert!(rebuilt.contains("no difference"), "{rebuilt}");

    let export = cli.data.path().join("export");
    cli.ok(&["export", export.to_str().expect("utf-8 path")], None);
    for f in ["records.jsonl", "checkpoint", "ledger.vkey"] {
        assert!(export.join(f).exists(), "{f} exported");
    }
    let out = verify(&export, &vkey);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Tampering with the real export: each change is caught and the first bad seq named.
    let original = std::fs::read_to_string(export.join("records.jsonl")).expect("records");
    let lines: Vec<&str> = original.lines().collect();
    assert_eq!(lines.len(), 9);
    let mut cases: Vec<(&str, String, u64)> = Vec::new();
    cases.push((
        "one byte of a memo",
        original.replacen("March C4T", "March C4U", 1),
        6,
    ));
    let mut deleted = lines.clone();
    deleted.remove(4);
    cases.push(("a deleted line", deleted.join("\n") + "\n", 4));
    let mut swapped = lines.clone();
    swapped.swap(5, 6);
    cases.push(("two swapped lines", swapped.join("\n") + "\n", 5));
    cases.push(("a truncated journal", lines[..7].join("\n") + "\n", 7));
    for (what, text, seq) in cases {
        let dir = cli.data.path().join(format!("tampered-{seq}"));
        std::fs::create_dir_all(&dir).expect("dir");
        for f in ["checkpoint", "ledger.vkey"] {
            std::fs::copy(export.join(f), dir.join(f)).expect("copy");
        }
        std::fs::write(dir.join("records.jsonl"), text).expect("write");
        let out = verify(&dir, &vkey);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{what}: {said}");
        assert!(
            said.contains(&format!("seq {seq}")),
            "{what}: expected seq {seq} in {said}"
        );
    }
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["account", "open", "--help"],
        vec!["post", "--help"],
        vec!["balance", "--help"],
        vec!["log", "--help"],
        vec!["export", "--help"],
        vec!["rebuild", "--help"],
        vec!["award", "open", "--help"],
        vec!["cohort", "open", "--help"],
        vec!["rule", "add", "--help"],
        vec!["participants", "register", "--help"],
        vec!["participants", "erase", "--help"],
        vec!["evidence", "import", "--help"],
        vec!["cycle", "run", "--help"],
        vec!["partner", "sign", "--help"],
        vec!["partner", "submit", "--help"],
    ] {
        let out = Command::new(tranche()).args(&args).output().expect("runs");
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
    for program in [tranche_demo(), tranche_bench()] {
        let out = Command::new(&program).arg("--help").output().expect("runs");
        assert!(out.status.success(), "{}", program.display());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{}",
            program.display()
        );
    }
}

/// The benchmarks and the demo are not commands of `tranche`: they are binaries of their own.
#[test]
fn tranche_has_no_bench_or_demo_command() {
    for command in ["bench", "demo"] {
        let out = Command::new(tranche())
            .args([command, "--help"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "tranche {command}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"),
            "tranche {command}"
        );
    }
}

/// A blocking call with a bearer token; returns (status, body).
fn http(method: &str, url: &str, token: &str, key: Option<&str>, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let r = if method == "GET" {
        agent.get(url).header("Authorization", &auth).call()
    } else {
        let mut req = agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json");
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send(body)
    };
    let mut r = r.expect("the server answers");
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().expect("body"))
}

#[test]
fn tranche_serve_is_verified_over_http_and_stops_gracefully() {
    use std::io::BufRead;
    let cli = Cli::new();
    let mut server = Command::new(tranche())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRANCHE_DATA_DIR", cli.data.path().join("data"))
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tranche serve starts");
    let mut lines = std::io::BufReader::new(server.stdout.take().expect("stdout")).lines();
    let mut token = String::new();
    let mut base = String::new();
    for line in lines.by_ref() {
        let line = line.expect("a line");
        if line.trim_start().starts_with("tr_") {
            token = line.trim().to_string();
        }
        if let Some(rest) = line.strip_prefix("tranche listening on ") {
            base = rest.split_whitespace().next().expect("url").to_string();
            break;
        }
    }
    assert!(
        token.starts_with("tr_") && base.starts_with("http://127.0.0.1:"),
        "{token} {base}"
    );

    let (status, body) = http(
        "POST",
        &format!("{base}/v1/users"),
        &token,
        Some("u1"),
        r#"{"name":"carla","role":"auditor"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let auditor: String = body
        .split("\"token\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("token")
        .to_string();
    for (i, (name, t)) in [("bank:operating", "asset"), ("fund:bprm", "equity")]
        .iter()
        .enumerate()
    {
        let (status, body) = http(
            "POST",
            &format!("{base}/v1/accounts"),
            &token,
            Some(&format!("a{i}")),
            &format!(r#"{{"name":"{name}","type":"{t}"}}"#),
        );
        assert_eq!(status, 201, "{body}");
    }
    let drawdown = |key: &str| {
        let (status, body) = http(
            "POST",
            &format!("{base}/v1/transactions"),
            &token,
            Some(key),
            r#"{"memo":"drawdown","postings":[{"account":"bank:operating","currency":"USD","side":"debit","amount":"100.00"},{"account":"fund:bprm","currency":"USD","side":"credit","amount":"100.00"}]}"#,
        );
        assert_eq!(status, 201, "{body}");
    };
    drawdown("t1");

    let vkey = http("GET", &format!("{base}/v1/vkey"), "", None, "")
        .1
        .trim()
        .to_string();
    let state = cli.data.path().join("verifier.state");
    let verify_url = || {
        Command::new(tranche_verify())
            .args([
                "--url", &base, "--vkey", &vkey, "--token", &auditor, "--state",
            ])
            .arg(&state)
            .output()
            .expect("tranche-verify runs")
    };
    let out = verify_url();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drawdown("t2");
    let out = verify_url();
    assert!(
        out.status.success(),
        "a grown ledger is consistent with the saved checkpoint: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let (status, receipt) = http("GET", &format!("{base}/v1/receipts/3"), &auditor, None, "");
    assert_eq!(status, 200, "{receipt}");
    let receipt_file = cli.data.path().join("receipt.tlog-proof");
    std::fs::write(&receipt_file, receipt).expect("write receipt");
    let out = Command::new(tranche_verify())
        .arg("receipt")
        .arg(&receipt_file)
        .args(["--vkey", &vkey])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // SIGTERM: stop accepting, finish, exit cleanly.
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = server.wait().expect("server exits");
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[test]
fn tranche_demo_loads_a_programme_that_verifies_and_only_once() {
    let cli = Cli::new();
    let out = cli.run_program(&tranche_demo(), &["--participants", "150"], None);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("award bprm-ec-2026"), "{stdout}");
    assert!(
        stdout.contains(
            "participants  150 (60 vocational scholarship, 50 entrepreneurship, 40 employability"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("(run again): 1 new entitlements, 1 reversals"),
        "{stdout}"
    );
    for role in [
        "admin", "preparer", "approver", "partner", "auditor", "donor",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(&format!(" {role} ")) && l.contains(" tr_")),
            "a token for the {role} role: {stdout}"
        );
    }

    // A second load into the same ledger is refused and writes nothing.
    cli.refused_program(
        &tranche_demo(),
        &["--participants", "150"],
        None,
        "award_exists",
    );

    let list = cli.ok(&["award", "list"], None);
    for needle in [
        "bprm-ec-2026",
        "150 participants",
        "cycles: 2026-01, 2026-02, 2026-03, 2026-04, 2026-05, 2026-06",
        "rule c4t v2 (c4t-monthly) effective 2026-04-01",
        "scholarship-incentive",
    ] {
        assert!(list.contains(needle), "{needle:?} in {list}");
    }

    let export = cli.data.path().join("export");
    cli.ok(&["export", export.to_str().expect("utf-8 path")], None);
    let vkey = std::fs::read_to_string(cli.data.path().join("data/ledger.vkey")).expect("vkey");
    let out = verify(&export, vkey.trim());
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tranche-bench scale` on a tiny organisation: every figure of the scale targets is printed
/// (the benchmark itself checks that each cycle entitles whom the attendance entitles and that
/// the bank confirms every payment of the batch), one-shot commands report their peak memory,
/// and the server it starts is gone when it ends.
#[test]
fn the_scale_benchmark_prints_every_figure() {
    let cli = Cli::new();
    let out = cli.ok_program(
        &tranche_bench(),
        &[
            "scale",
            "--participants",
            "60",
            "--awards",
            "2",
            "--cohorts",
            "4",
            "--months",
            "2",
            "--skip-postgres",
        ],
        None,
    );
    for needle in [
        "tranche-bench scale: ",
        "evidence ingestion",
        "items/s",
        "monthly cycle, every award",
        "payments",
        "tranche award list",
        "tranche participants show p-",
        "tranche batch show B000001",
        "tranche trace B000001-",
        "tranche serve: ready in",
        "after a cycle of one award",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from\n{out}");
    }
    // Peak memory is measured, not printed as zero.
    let peaks: Vec<f64> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("tranche ") && l.contains("MiB peak"))
        .filter_map(|l| l.split_whitespace().rev().nth(2)?.parse().ok())
        .collect();
    assert_eq!(peaks.len(), 4, "{out}");
    assert!(peaks.iter().all(|p| *p > 1.0), "{peaks:?} in\n{out}");
    // The server answered every read it was asked for.
    let reads: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("GET /v1/"))
        .collect();
    assert_eq!(reads.len(), 4, "{out}");
    assert!(reads.iter().all(|l| l.contains(" 200 ")), "{out}");
}

/// A reader that stops early (`tranche log | head`) ends the command quietly with the shell's
/// broken-pipe status, not a panic.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let cli = Cli::new();
    cli.ok(&["init"], None);
    let mut child = Command::new(tranche())
        .args(["log"])
        .env("TRANCHE_DATA_DIR", cli.data.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tranche starts");
    // The reader goes away before the command has written anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("tranche runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}
