//! The README's programme walkthrough, run with the files of `docs/examples/` exactly as a
//! newcomer copies them, on SQLite and on PostgreSQL: award, partner and key, cohort, the
//! three rule shapes, participants, signed evidence, the month's cycle, the drawdown that funds
//! the award's bank account, a batch through maker-checker to its bank file and the bank's
//! status CSV, then the export verified. Before each good file, the same file with one field
//! wrong is refused naming the field, the rule and the allowed values, and writes nothing. So
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

fn path_of(name: &str) -> String {
    examples().join(name).display().to_string()
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
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let cluster = match TempCluster::start(false) {
        Ok(c) => c,
        Err(PgTempError::NotInstalled) if !in_ci => {
            eprintln!("PostgreSQL not installed: skipping the PostgreSQL walkthrough");
            return;
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
    walkthrough(&Cli::on_postgres(url));
}

fn walkthrough(cli: &Cli) {
    // The award: pretty-printed JSON, as people write it.
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
    cli.ok(&["award", "open", &path_of("award.json")], None);
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

    // The cohort: a pathway outside the closed list is refused with the list.
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
    cli.ok(&["cohort", "open", &path_of("cohort.json")], None);

    // The three rule shapes, every parameter given.
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
    for rule in [
        "rule-c4t.json",
        "rule-scholarship.json",
        "rule-seed-capital.json",
    ] {
        cli.ok(&["rule", "add", &path_of(rule)], None);
    }

    // The partner's key.
    let key = cli.data.path().join("hias.key").display().to_string();
    let public = cli.data.path().join("hias-key.json").display().to_string();
    cli.ok(
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
    cli.ok(&["partner", "key", &public], None);

    // Participants: each closed vocabulary refuses a stray value with the allowed ones.
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
    let out = cli.ok(
        &[
            "participants",
            "register",
            &path_of("participants.csv"),
            "--partner",
            "hias",
        ],
        None,
    );
    // line,participant: the evidence CSV names each person by the pseudonym of their line.
    let mut evidence = example("evidence.csv");
    for row in out.lines().skip(1) {
        let (line, pseudonym) = row.split_once(',').expect("line,participant");
        evidence = evidence.replace(&format!("p-row{line},"), &format!("{pseudonym},"));
    }
    assert!(!evidence.contains("p-row"), "{out}\n{evidence}");
    let shown = cli.ok(
        &[
            "participants",
            "show",
            out.lines()
                .nth(1)
                .and_then(|r| r.split(',').nth(1))
                .expect("one"),
        ],
        None,
    );
    // A page for people, one field a line, not raw JSON.
    let field = |name: &[&str], value: &str| {
        shown.lines().any(|l| {
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
            && !shown.contains('{'),
        "{shown}"
    );

    // Evidence: a status outside its list is reported by line, and nothing is signed.
    let bad = cli.file(
        "march-bad.csv",
        &evidence.replacen(",s2,present,", ",s2,late,", 1),
    );
    let out = cli.run(
        &[
            "partner",
            "sign",
            &bad,
            "--key",
            &key,
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
    let march = cli.file("march.csv", &evidence);
    cli.ok(
        &[
            "partner",
            "sign",
            &march,
            "--key",
            &key,
            "--batch-id",
            "2026-03-w1",
        ],
        None,
    );
    let signed = cli.data.path().join("march.signed.jsonl");
    cli.ok(&["evidence", "import", &signed.display().to_string()], None);

    // The month's cycle: 4 of 4 and 4 of 4 sessions pay 60.00 each, 1 of 4 nothing.
    let reports = cli.data.path().join("reports").display().to_string();
    let out = cli.ok(
        &[
            "cycle", "run", "--award", AWARD, "--period", "2026-03", "--out", &reports,
        ],
        None,
    );
    assert!(
        out.contains("2 new entitlements") && out.contains("net payable 120.00 USD"),
        "{out}"
    );

    // Reports: every kind in the help, a table for people, JSON for machines.
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

    // The drawdown that funds the award's bank account.
    let drawdown = example("drawdown.json");
    let bad = cli.file(
        "drawdown-bad.json",
        &one_field_wrong(
            &drawdown,
            r#""side": "credit", "amount": "5000.00""#,
            r#""side": "credit", "amount": "5000.001""#,
        ),
    );
    cli.refused_all(
        &["post", &bad],
        &["postings[1].amount", "too_many_decimals"],
    );
    cli.ok(&["post", &path_of("drawdown.json")], None);

    // Maker-checker, the bank file, the bank's answer.
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
        ],
        None,
    );
    let ana = ["--actor", "user:ana"];
    let beto = ["--actor", "user:beto"];
    cli.ok(
        &[&ana[..], &["batch", "create", "--award", AWARD]].concat(),
        None,
    );
    cli.ok(&[&ana[..], &["batch", "submit", "B000001"]].concat(), None);
    cli.ok(
        &[&beto[..], &["batch", "approve", "B000001"]].concat(),
        None,
    );
    let xml = cli.data.path().join("B000001.xml").display().to_string();
    cli.ok(
        &[
            "batch", "file", "B000001", "--format", "pain.001", "--out", &xml,
        ],
        None,
    );
    cli.ok(&[&beto[..], &["batch", "send", "B000001"]].concat(), None);
    let status = example("bank-status.csv");
    let bad = cli.file(
        "status-bad.csv",
        &one_field_wrong(&status, ",booked,", ",paid,"),
    );
    cli.refused_all(&["bank", "import", &bad], &["line 2", "status", "booked"]);
    let out = cli.ok(&["bank", "import", &path_of("bank-status.csv")], None);
    assert!(
        out.contains("confirmed") && out.contains("rejected"),
        "{out}"
    );
    // The rejected payment is offered again.
    let out = cli.ok(
        &[&ana[..], &["batch", "create", "--award", AWARD]].concat(),
        None,
    );
    assert!(out.contains("B000002"), "{out}");

    // Anyone can check the result offline.
    let export = cli.data.path().join("export");
    cli.ok(&["export", &export.display().to_string()], None);
    let out = std::process::Command::new(tranche_verify())
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
    use std::io::BufRead as _;
    let cli = Cli::new();
    let mut server = std::process::Command::new(super::tranche())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRANCHE_DATA_DIR", cli.data.path().join("data"))
        .env_remove("DATABASE_URL")
        .env_remove("TRANCHE_LOG")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tranche serve starts");
    let stdout = server.stdout.take().expect("stdout");
    for line in std::io::BufReader::new(stdout).lines() {
        if line.expect("a line").starts_with("tranche listening on ") {
            break;
        }
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let out = server.wait_with_output().expect("exits");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("INFO") && err.contains("listening"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "ANSI colour in a log that is not a terminal: {err:?}"
    );
    assert!(!err.contains("sqlx"), "{err}");
}
