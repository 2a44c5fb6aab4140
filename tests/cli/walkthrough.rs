//! The README's programme walkthrough, run line by line from the README itself with the files
//! of `docs/examples/` exactly as a newcomer copies them, on SQLite and on PostgreSQL: award,
//! partner and key, cohort, the three rule shapes, participants, signed evidence, the month's
//! cycle, the drawdown that funds the award's bank account, a batch through maker-checker to
//! its bank file and the bank's status CSV, erasure, and the export verified. Before each step
//! that reads a file, the same file with one field wrong is refused naming the field, the rule
//! and the allowed values, and writes nothing. A README line the test cannot run fails it, so
//! the documentation cannot drift from the code.

use std::path::{Path, PathBuf};

use tranche_ledger::testkit::pgtemp::{PgTempError, TempCluster};

use super::{tranche_verify, Cli};

const AWARD: &str = "bprm-ec-2026";

/// The folder of example files the README and docs/FORMAT.md point at.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

fn example(name: &str) -> String {
    std::fs::read_to_string(examples().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

impl Cli {
    /// Writes `text` as `name` in the test's directory and returns its path.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.data.path().join(name);
        std::fs::write(&path, text).expect("write input");
        path.display().to_string()
    }

    /// `args` is refused (exit code 3), its message holds every one of `needles`, and the
    /// journal did not grow.
    fn refused_all(&self, args: &[&str], needles: &[&str]) -> String {
        let size = self.size();
        let out = self.run(args, None);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(3), "tranche {args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "expected {n:?} in: {err}");
        }
        assert!(
            !err.contains(": ?:"),
            "a refusal never shows ? for a field: {err}"
        );
        assert!(err.contains("nothing was written"), "{err}");
        assert_eq!(self.size(), size, "a refusal wrote a record");
        err
    }
}

/// `text` with `from` replaced by `to`, which must be there once.
fn one_field_wrong(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} once in the example"
    );
    text.replace(from, to)
}

#[test]
fn the_readme_walkthrough_runs_on_the_example_files_on_sqlite() {
    walkthrough(&Cli::new());
}

#[test]
fn the_readme_walkthrough_runs_on_the_example_files_on_postgres() {
    let Some((_cluster, url)) = postgres() else {
        return;
    };
    walkthrough(&Cli::on_postgres(url));
}

/// A throwaway PostgreSQL cluster and a fresh database in it, or `None` (the test skipped)
/// outside CI without PostgreSQL. The cluster stops when the first value is dropped.
fn postgres() -> Option<(TempCluster, String)> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let cluster = match TempCluster::start(false) {
        Ok(c) => c,
        Err(PgTempError::NotInstalled) if !in_ci => {
            eprintln!("PostgreSQL not installed: skipping the PostgreSQL variant of this test");
            return None;
        }
        Err(e) => panic!("PostgreSQL is required for this test but could not start: {e}"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let url = runtime
        .block_on(cluster.create_database("walkthrough"))
        .expect("create the database");
    Some((cluster, url))
}

/// The shell lines of the README's programme walkthrough: continuation lines joined, comments
/// and blank lines dropped.
fn readme_steps() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let after = readme
        .split_once("Step by step, as a finance officer and an implementing partner work")
        .expect("the walkthrough in README.md")
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, b)| b.split_once("```\n"))
        .expect("its shell block")
        .0;
    let mut steps = Vec::new();
    for line in block.lines() {
        // A comment starts at a `#` after a space, outside quotes.
        let mut quoted = false;
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '#' if !quoted && (i == 0 || line[..i].ends_with(' ')) => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        let line = line[..cut].trim();
        if !line.is_empty() {
            steps.push(line.to_string());
        }
    }
    steps
}

/// A shell line's words: double quotes group, `$EX` is the example folder, `p-…` the first
/// participant registered.
fn words(line: &str, participant: &str) -> Vec<String> {
    let line = line
        .replace("$EX", &examples().display().to_string())
        .replace("p-…", participant);
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

fn walkthrough(cli: &Cli) {
    let steps = readme_steps();
    assert!(steps.len() > 20, "{steps:?}");
    let mut participant = String::new();
    let mut ran = Vec::new();
    for step in &steps {
        if step.starts_with("alias tranche=") || step.starts_with("EX=") {
            continue;
        }
        if step == "cp $EX/evidence.csv march.csv" {
            std::fs::copy(
                examples().join("evidence.csv"),
                cli.data.path().join("march.csv"),
            )
            .expect("copy");
            continue;
        }
        if step.starts_with("tail -n +2 pseudonyms.csv | while IFS=, read -r line p; do sed -i \"s/p-row$line,/$p,/\" march.csv; done") {
            // What that loop does: each p-rowN becomes the pseudonym of line N.
            let pseudonyms = std::fs::read_to_string(cli.data.path().join("pseudonyms.csv"))
                .expect("pseudonyms.csv");
            let march = cli.data.path().join("march.csv");
            let mut evidence = std::fs::read_to_string(&march).expect("march.csv");
            for row in pseudonyms.lines().skip(1) {
                let (line, p) = row.split_once(',').expect("line,participant");
                evidence = evidence.replace(&format!("p-row{line},"), &format!("{p},"));
            }
            assert!(!evidence.contains("p-row"), "{pseudonyms}\n{evidence}");
            std::fs::write(&march, evidence).expect("write march.csv");
            continue;
        }
        let verify = "cargo run -q --release --bin tranche-verify -- ";
        if let Some(args) = step.strip_prefix(verify) {
            let out = std::process::Command::new(tranche_verify())
                .args(words(args, &participant))
                .current_dir(cli.data.path())
                .output()
                .expect("tranche-verify runs");
            assert!(
                out.status.success(),
                "{step}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            continue;
        }
        let command = step.strip_prefix("tranche ").unwrap_or_else(|| {
            panic!("the test does not know how to run this README line: {step}")
        });
        let (command, redirect) = match command.split_once(" > ") {
            Some((c, file)) => (c, Some(file.trim())),
            None => (command, None),
        };
        let args = words(command, &participant);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refusals_before(cli, &args);
        let out = cli.ok(&args, None);
        if let Some(file) = redirect {
            std::fs::write(cli.data.path().join(file), &out).expect("redirect");
        }
        after(cli, &args, &out);
        if args[..2] == ["participants", "register"] {
            participant = out
                .lines()
                .nth(1)
                .and_then(|r| r.split(',').nth(1))
                .expect("a pseudonym")
                .to_string();
        }
        ran.push(args.join(" "));
    }
    // Every example file was used by the walkthrough.
    for name in [
        "award.json",
        "cohort.json",
        "rule-c4t.json",
        "rule-scholarship.json",
        "rule-seed-capital.json",
        "participants.csv",
        "drawdown.json",
        "late-correction.json",
        "bank-status.csv",
    ] {
        assert!(
            ran.iter().any(|r| r.contains(name)),
            "{name} unused: {ran:#?}"
        );
    }
    // The rejected payment was offered again in a second batch.
    let batches = cli.ok(&["batch", "list", "--award", AWARD], None);
    assert!(batches.contains("B000002"), "{batches}");
    cli.ok(&["rebuild", "--check"], None);
}

/// What a step printed, checked where the README says what it prints.
fn after(cli: &Cli, args: &[&str], out: &str) {
    let args = if args[0] == "--actor" {
        &args[2..]
    } else {
        args
    };
    match args[..2] {
        ["cycle", "run"] => assert!(
            out.contains("2 new entitlements") && out.contains("net payable 120.00 USD"),
            "{out}"
        ),
        ["participants", "show"] => {
            // A page for people, one field a line, not raw JSON.
            let field = |name: &[&str], value: &str| {
                out.lines().any(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    words.len() == name.len() + 1
                        && words[..name.len()] == *name
                        && words[name.len()] == value
                })
            };
            assert!(
                field(&["nationality"], "VE")
                    && field(&["province"], "Imbabura")
                    && field(&["age", "band"], "25-34")
                    && field(&["bank", "account"], "2200123456")
                    && !out.contains('{'),
                "{out}"
            );
        }
        ["bank", "import"] => assert!(
            out.contains("confirmed") && out.contains("rejected"),
            "{out}"
        ),
        ["award", "list"] => assert!(
            out.contains("provinces: Sucumbíos, Imbabura, Carchi, Pichincha"),
            "{out}"
        ),
        ["post", _] => reports(cli),
        // Piped, a report is its signed JSON.
        ["report", "sf425"] if args.contains(&"2026Q1") => assert!(
            out.contains("\"5000.00\"") && !out.contains("prior_period_adjustments"),
            "the back-dated drawdown is first-quarter money: {out}"
        ),
        ["report", "sf425"] if args.contains(&"2026Q2") => {
            let compact: String = out.split_whitespace().collect();
            assert!(
                compact.contains("prior_period_adjustments")
                    && compact.contains("\"prior_period\":\"2026Q1\"")
                    && compact.contains("\"line_10a\":\"250.00\""),
                "the late correction is a prior-period adjustment: {out}"
            )
        }
        ["period", "close"] => {
            assert!(out.contains("2026Q1 of award bprm-ec-2026 closed"), "{out}");
            // Nothing can be dated in the closed quarter any more.
            let late = cli.file(
                "drawdown-late.json",
                &one_field_wrong(
                    &example("drawdown.json"),
                    r#""memo": "BPRM drawdown 1""#,
                    r#""memo": "BPRM drawdown 1, again""#,
                ),
            );
            cli.refused_all(&["post", &late], &["date", "period_closed"]);
        }
        _ => {}
    }
}

/// Reports: every kind in the help, a table for people, JSON for machines.
fn reports(cli: &Cli) {
    let help = cli.ok(&["report", "--help"], None);
    for kind in [
        "sf425",
        "budget",
        "payments",
        "bank",
        "participant",
        "disaggregation",
        "due",
    ] {
        assert!(help.contains(&format!("  {kind} ")), "{kind}: {help}");
    }
    let budget = ["report", "budget", "--award", AWARD, "--quarter", "2026Q1"];
    let table = cli.ok(&[&budget[..], &["--format", "table"]].concat(), None);
    assert!(
        table.starts_with("budget report  award bprm-ec-2026  USD  2026-01-01 to 2026-03-31")
            && table.contains("percent_used")
            && table
                .lines()
                .any(|l| l.starts_with("c4t-stipend ") && l.contains(" 60000.00 ")),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&[&budget[..], &["--format", "json"]].concat(), None))
            .expect("JSON");
    assert!(json["signature"].is_string(), "{json}");
}

/// Before the README's step `args`, the same input with one field wrong is refused naming the
/// field, the rule and the allowed values, and writes nothing.
fn refusals_before(cli: &Cli, args: &[&str]) {
    let args = if args[0] == "--actor" {
        &args[2..]
    } else {
        args
    };
    match (args[0], args[1], args.get(2).copied().unwrap_or_default()) {
        ("award", "open", _) => {
            let award = example("award.json");
            let bad = cli.file(
                "award-bad.json",
                &one_field_wrong(
                    &award,
                    r#""Imbabura", "Carchi""#,
                    r#""Imbabura", "imbabura""#,
                ),
            );
            cli.refused_all(
                &["award", "open", &bad],
                &["provinces[2]", "invalid_vocabulary"],
            );
            let bad = cli.file(
                "award-bad.json",
                &one_field_wrong(&award, r#""donor": "BPRM","#, ""),
            );
            cli.refused_all(
                &["award", "open", &bad],
                &["line 19", "donor", "missing_field"],
            );
            let bad = cli.file(
                "award-bad.json",
                &one_field_wrong(
                    &award,
                    r#""participant_support": false"#,
                    r#""participant_support": "no""#,
                ),
            );
            cli.refused_all(
                &["award", "open", &bad],
                &[
                    "line 14",
                    "budget_lines[4].participant_support",
                    "invalid_field",
                ],
            );
        }
        ("cohort", "open", _) => {
            // A pathway outside the closed list is refused with the list.
            let bad = cli.file(
                "cohort-bad.json",
                &one_field_wrong(
                    &example("cohort.json"),
                    r#""pathway": "employability""#,
                    r#""pathway": "employment""#,
                ),
            );
            cli.refused_all(
                &["cohort", "open", &bad],
                &[
                    "pathway",
                    "invalid_field",
                    "employability",
                    "entrepreneurship",
                ],
            );
        }
        ("rule", "add", file) if file.ends_with("rule-c4t.json") => {
            let bad = cli.file(
                "rule-bad.json",
                &one_field_wrong(
                    &example("rule-c4t.json"),
                    r#""full_from_percent": 80"#,
                    r#""full_from_percent": 120"#,
                ),
            );
            cli.refused_all(
                &["rule", "add", &bad],
                &["params.full_from_percent", "invalid_percent"],
            );
            let bad = cli.file(
                "rule-bad.json",
                &one_field_wrong(&example("rule-c4t.json"), r#""60.00""#, "60"),
            );
            cli.refused_all(
                &["rule", "add", &bad],
                &["line 9", "params.amount", "invalid_field"],
            );
            let bad = cli.file(
                "rule-bad.json",
                &one_field_wrong(
                    &example("rule-seed-capital.json"),
                    "\"480.00\",\n    \"tranche_2\": \"320.00\"",
                    "\"480.00\"",
                ),
            );
            cli.refused_all(
                &["rule", "add", &bad],
                &["params.tranche_2", "missing_field"],
            );
        }
        ("participants", "register", _) => {
            // Each closed vocabulary refuses a stray value with the allowed ones.
            let people = example("participants.csv");
            for (from, to, needles) in [
                (
                    ",female,VE,",
                    ",F,VE,",
                    &["line 2", "sex", "not_in_vocabulary", "female, male, other"][..],
                ),
                (
                    ",female,VE,",
                    ",female,Venezuela,",
                    &[
                        "line 2",
                        "nationality",
                        "not_in_vocabulary",
                        "Venezuela is VE",
                    ][..],
                ),
                (
                    ",male,EC,Imbabura,",
                    ",male,EC,Quito,",
                    &[
                        "line 4",
                        "province",
                        "not_in_vocabulary",
                        "Sucumbíos, Imbabura, Carchi, Pichincha",
                    ][..],
                ),
                (
                    ",employability,18-24",
                    ",employability,18 to 24",
                    &["line 3", "age_band", "not_in_vocabulary", "under-18, 18-24"][..],
                ),
                (
                    ",Imbabura,employability,35-44",
                    ",Imbabura,training,35-44",
                    &["line 4", "pathway", "not_in_vocabulary", "employability"][..],
                ),
            ] {
                let bad = cli.file("people-bad.csv", &one_field_wrong(&people, from, to));
                cli.refused_all(
                    &["participants", "register", &bad, "--partner", "hias"],
                    needles,
                );
            }
        }
        ("partner", "sign", file) => {
            // A status outside its list is reported by line, and nothing is signed.
            let march = std::fs::read_to_string(cli.data.path().join(file)).expect("march.csv");
            let bad = cli.file(
                "march-bad.csv",
                &march.replacen(",s2,present,", ",s2,late,", 1),
            );
            let out = cli.run(
                &[
                    "partner",
                    "sign",
                    &bad,
                    "--key",
                    "hias.key",
                    "--batch-id",
                    "2026-03-w1",
                ],
                None,
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{err}");
            assert!(
                err.contains("line 6") && err.contains("status") && err.contains("present"),
                "{err}"
            );
            assert!(!cli.data.path().join("march-bad.signed.jsonl").exists());
        }
        ("post", _, _) => {
            let bad = cli.file(
                "drawdown-bad.json",
                &one_field_wrong(
                    &example("drawdown.json"),
                    r#""side": "credit", "amount": "5000.00""#,
                    r#""side": "credit", "amount": "5000.001""#,
                ),
            );
            cli.refused_all(
                &["post", &bad],
                &["postings[1].amount", "too_many_decimals"],
            );
            let early = cli.file(
                "drawdown-early.json",
                &one_field_wrong(
                    &example("drawdown.json"),
                    r#""date": "2026-03-02""#,
                    r#""date": "2025-12-31""#,
                ),
            );
            cli.refused_all(&["post", &early], &["date", "date_before_award"]);
        }
        ("bank", "import", _) => {
            let bad = cli.file(
                "status-bad.csv",
                &one_field_wrong(&example("bank-status.csv"), ",booked,", ",paid,"),
            );
            cli.refused_all(&["bank", "import", &bad], &["line 2", "status", "booked"]);
        }
        _ => {}
    }
}

#[test]
fn the_readme_shows_every_example_file_verbatim() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let mut names: Vec<String> = std::fs::read_dir(examples())
        .expect("docs/examples")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        let text = example(&name);
        assert!(
            readme.contains(&format!("\n{text}```")),
            "README.md does not show docs/examples/{name} as it is"
        );
    }
}

#[test]
fn the_dockerfile_builds_the_binaries_as_ci_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docker = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let ci = std::fs::read_to_string(root.join(".ci/build-release")).expect(".ci/build-release");
    let installs: Vec<&str> = docker
        .lines()
        .filter_map(|l| l.split("cargo install ").nth(1))
        .collect();
    assert_eq!(installs.len(), 2, "{docker}");
    for i in installs {
        let (path, bin) = i.split_once(" --root ").expect("--root");
        let bin = bin.split(" --bin ").nth(1).expect("--bin").trim();
        let bin = bin.split_whitespace().next().expect("a binary");
        assert!(
            ci.contains(&format!(
                "cargo install {path} --root \"$root\" --bin {bin}"
            )),
            "CI does not build {bin} as the Dockerfile does ({path})"
        );
    }
    assert!(docker.contains("USER tranche") && docker.contains("VOLUME /data"));
}

#[test]
fn a_server_logs_without_colour_off_a_terminal_and_without_the_drivers_chatter() {
    server_log(&Cli::new());
    // On PostgreSQL, the first start (which migrates the database) and the next.
    if let Some((_cluster, url)) = postgres() {
        let cli = Cli::on_postgres(url);
        server_log(&cli);
        server_log(&cli);
    }
}

fn server_log(cli: &Cli) {
    use std::io::BufRead as _;
    let mut command = std::process::Command::new(super::tranche());
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRANCHE_DATA_DIR", cli.data.path().join("data"))
        .env_remove("TRANCHE_LOG")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    match &cli.database_url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    let mut server = command.spawn().expect("tranche serve starts");
    // Its log up to the line saying it listens (the first start also migrates the database).
    let mut log = String::new();
    let stderr = server.stderr.take().expect("stderr");
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.expect("a line");
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening") {
            break;
        }
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    server.wait().expect("exits");
    assert!(log.contains("INFO") && log.contains("listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI colour in a log that is not a terminal: {log:?}"
    );
    assert!(!log.contains("sqlx"), "{log}");
}
