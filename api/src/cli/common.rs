//! What every command group shares: the ledger opened from the global options, the actor,
//! refusals printed with their field and rule (exit code 3), input files read within a bound,
//! and a progress bar. Nothing here knows a command group.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tranche_audit::programme::Id;
use tranche_audit::Invalid;
use tranche_ledger::domain::Command;
use tranche_ledger::{Config, Ledger, StoreError};

/// The options every command takes. Its `Debug` hides the database URL's password, and help
/// never shows the URL taken from `DATABASE_URL`.
#[derive(Args)]
pub struct Global {
    /// Directory for the SQLite database and the ledger key.
    #[arg(long, global = true, env = "TRANCHE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://…); without it the embedded SQLite file is used.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A read-only copy of the PostgreSQL database (a streaming replica) that reports read
    /// from instead of the primary; each report states the checkpoint it read.
    #[arg(long, global = true, env = "DATABASE_READ_URL", hide_env_values = true)]
    pub database_read_url: Option<String>,
    /// Path of the ledger's checkpoint signing key (default: DATA_DIR/ledger.key).
    #[arg(long, global = true, env = "TRANCHE_KEY")]
    pub key: Option<PathBuf>,
    /// Path of the participant key, the secret behind document numbers' keyed hashes (default:
    /// DATA_DIR/participants.key); every node of one ledger needs the same one.
    #[arg(long, global = true, env = "TRANCHE_PARTICIPANTS_KEY")]
    pub participants_key: Option<PathBuf>,
    /// Who is acting, as written in each record's `actor` field.
    #[arg(long, global = true, env = "TRANCHE_ACTOR")]
    pub actor: Option<String>,
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(tranche_ledger::redact::RedactedUrl::new),
            )
            .field(
                "database_read_url",
                &self
                    .database_read_url
                    .as_deref()
                    .map(tranche_ledger::redact::RedactedUrl::new),
            )
            .field("key", &self.key)
            .field("participants_key", &self.participants_key)
            .field("actor", &self.actor)
            .finish()
    }
}

/// The largest JSON or CSV input file the programme commands read.
const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// The ledger configuration the global options describe; `origin` names a new ledger.
pub fn config(g: &Global, origin: Option<String>) -> Config {
    let mut c = Config::new(&g.data_dir);
    c.database_url = g.database_url.clone();
    c.database_read_url = g.database_read_url.clone();
    c.key_path = g.key.clone();
    c.participant_key_path = g.participants_key.clone();
    c.origin = origin;
    c
}

/// Who is acting: `--actor`, or `cli:$USER`.
pub fn actor(g: &Global) -> String {
    g.actor.clone().unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "operator".into())
        )
    })
}

/// Opens the ledger the global options name.
pub async fn open(g: &Global) -> anyhow::Result<Ledger> {
    Ledger::open(&config(g, None))
        .await
        .context("Failed to open the ledger")
}

/// A progress bar on standard error, hidden when it is not a terminal.
pub fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Prints a refusal and returns the exit code for bad input.
pub fn refused(e: &StoreError) -> Option<ExitCode> {
    match e {
        StoreError::Invalid(i) => {
            eprintln!("refused: {i}");
            eprintln!("nothing was written");
            Some(ExitCode::from(3))
        }
        _ => None,
    }
}

/// Prints the refusal of bad input (exit code 3).
pub fn invalid(i: Invalid) -> ExitCode {
    refused(&StoreError::Invalid(i)).unwrap_or(ExitCode::FAILURE)
}

/// A refusal of an input file as a whole (exit code 3).
pub fn bad_file(detail: &str) -> ExitCode {
    eprintln!("refused: {detail}");
    eprintln!("nothing was written");
    ExitCode::from(3)
}

/// A store error as the command's outcome: bad input refused (exit code 3), anything else an
/// error.
pub fn done(result: Result<ExitCode, StoreError>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(code) => Ok(code),
        Err(e) => match refused(&e) {
            Some(code) => Ok(code),
            None => Err(e.into()),
        },
    }
}

/// An id given on the command line, refused naming `field`.
pub fn parse_id(text: &str, field: &str) -> Result<Id, StoreError> {
    Id::parse(text).map_err(|e| StoreError::Invalid(e.within(field)))
}

/// Appends `commands` and prints the seqs they were recorded at.
pub async fn append_recorded(
    ledger: &Ledger,
    g: &Global,
    commands: &[Command],
) -> anyhow::Result<ExitCode> {
    match ledger.append(commands, &actor(g), Utc::now()).await {
        Ok(done) => {
            println!(
                "recorded {} records at seq {}..{} (checkpoint {})",
                done.count,
                done.first_seq,
                done.first_seq + done.count - 1,
                done.checkpoint.size
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
    }
}

/// Appends `commands` in batches of at most [`tranche_ledger::domain::MAX_BATCH`], silently.
pub async fn append_in_batches(
    ledger: &Ledger,
    g: &Global,
    commands: &[Command],
) -> Result<(), StoreError> {
    for chunk in commands.chunks(tranche_ledger::domain::MAX_BATCH) {
        ledger.append(chunk, &actor(g), Utc::now()).await?;
    }
    Ok(())
}

/// Reads a text file of at most 256 MiB.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("Failed to read {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_INPUT_BYTES,
        "{} is larger than {MAX_INPUT_BYTES} bytes",
        path.display()
    );
    std::fs::read_to_string(path).with_context(|| format!("Failed to read {}", path.display()))
}

/// Parses a JSON input file as people write it: one document, pretty-printed or not, or
/// several (JSON Lines, or pretty-printed documents one after another). A bad document is
/// refused naming the line, the field and the rule: `line 4: budget_lines[0].authorised:
/// invalid type: … (invalid_field)`.
pub fn parse_many<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<T>();
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            Some(Ok(v)) => out.push(v),
            Some(Err(_)) => return Err(document_error::<T>(text, start)),
            None => break,
        }
    }
    if out.is_empty() {
        return Err(format!(
            "the file holds no JSON document ({})",
            tranche_audit::Code::EmptyInput
        ));
    }
    Ok(out)
}

/// Why the document starting at byte `start` of `text` is not a `T`, with its line: parsed
/// again on the slow path that tracks the field, since a refusal is rare.
fn document_error<T: serde::de::DeserializeOwned>(text: &str, start: usize) -> String {
    let rest = &text[start..];
    let skipped = rest.len() - rest.trim_start().len();
    let base_line = text[..start + skipped].matches('\n').count();
    let de = &mut serde_json::Deserializer::from_str(&rest[skipped..]);
    let Err(e) = serde_path_to_error::deserialize::<_, T>(de) else {
        // The document parses alone: what follows it on its line is the fault.
        return format!(
            "line {}: a JSON document must end its line or be followed by another one ({})",
            base_line + 1,
            tranche_audit::Code::MalformedJson
        );
    };
    let invalid = json_refusal(&e);
    let line = base_line + e.inner().line().max(1);
    format!("line {line}: {invalid}")
}

/// A JSON error as a refusal naming the field: its path in the document without the segments
/// serde cannot name (never `?`), and the member a missing or unknown field message names.
pub fn json_refusal(e: &serde_path_to_error::Error<serde_json::Error>) -> Invalid {
    use serde_path_to_error::Segment;
    use tranche_audit::Code;
    let inner = e.inner();
    let detail = strip_position(&inner.to_string());
    if inner.is_syntax() || inner.is_eof() {
        return Invalid::new(
            "",
            Code::MalformedJson,
            format!("not JSON: {detail}, column {}", inner.column()),
        );
    }
    let mut field = String::new();
    for s in e.path().iter() {
        match s {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    let named = |prefix: &str| {
        let rest = detail.strip_prefix(prefix)?;
        Some(rest[..rest.find('`')?].to_string())
    };
    let (code, member) = if let Some(m) = named("missing field `") {
        (Code::MissingField, Some(m))
    } else if let Some(m) = named("unknown field `") {
        (Code::UnknownField, Some(m))
    } else {
        (Code::InvalidField, None)
    };
    if let Some(m) = member {
        // serde_path_to_error already names an unknown member in the path on some types.
        if field != m && !field.ends_with(&format!(".{m}")) {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&m);
        }
    }
    Invalid::new(field, code, detail)
}

/// serde_json's messages end with " at line L column C", which the caller states its own way.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_many;
    use tranche_audit::programme::{AwardOpenBody, RuleVersionBody};
    use tranche_ledger::service::programme::CohortInput;

    const RULE: &str = r#"{"award": "a", "rule": "c4t", "version": 1, "effective": "2026-01-01",
  "params": {"shape": "c4t-monthly", "line": "c4t", "amount": "60.00",
             "full_from_percent": 80, "partial_from_percent": 60, "cap": "360.00"}}"#;

    fn refusal<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> String {
        let e = parse_many::<T>(text).expect_err("refused");
        assert!(!e.contains('?'), "a refusal never shows ? for a field: {e}");
        e
    }

    #[test]
    fn a_pretty_printed_document_and_json_lines_are_both_read() {
        let one: Vec<RuleVersionBody> = parse_many(RULE).expect("one pretty-printed document");
        assert_eq!(one.len(), 1);
        let line = RULE.replace('\n', " ");
        let two: Vec<RuleVersionBody> =
            parse_many(&format!("{line}\n\n{line}\n")).expect("JSON Lines");
        assert_eq!(two.len(), 2);
        let award = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/examples/award.json"
        ))
        .expect("the example award");
        let a: Vec<AwardOpenBody> = parse_many(&award).expect("the example award");
        assert_eq!(a[0].provinces.as_ref().map(Vec::len), Some(4));
        assert!(refusal::<RuleVersionBody>("  \n").contains("empty_input"));
    }

    #[test]
    fn a_refusal_names_the_line_and_the_member_inside_rule_parameters_and_cohorts() {
        let e = refusal::<RuleVersionBody>(&RULE.replace(r#""60.00""#, "60"));
        assert!(
            e.starts_with("line 2: params.amount: invalid type: integer `60`, expected a string"),
            "{e}"
        );
        let e =
            refusal::<RuleVersionBody>(&RULE.replace(r#""cap": "360.00""#, r#""tuition": "1.00""#));
        assert!(
            e.starts_with(
                "line 3: params.tuition: unknown field `tuition`, expected one of `line`"
            ) && e.ends_with("(unknown_field)"),
            "{e}"
        );
        let e = refusal::<RuleVersionBody>(&RULE.replace(r#", "cap": "360.00""#, ""));
        assert!(
            e.contains("params.cap: missing field `cap` (missing_field)"),
            "{e}"
        );
        let e = refusal::<RuleVersionBody>(&RULE.replace("c4t-monthly", "c4t"));
        assert!(e.contains("params.shape: unknown variant `c4t`"), "{e}");
        let cohort = r#"{"cohort": "c", "award": "a", "partner": "p", "pathway": "employability",
            "name": 7}"#;
        let e = refusal::<CohortInput>(cohort);
        assert!(
            e.starts_with("line 2: name: invalid type: integer `7`"),
            "{e}"
        );
        let e = refusal::<CohortInput>(&cohort.replace("\"name\": 7", "\"nam\": \"x\""));
        assert!(
            e.contains("nam: unknown field `nam`") && e.contains("`sessions`"),
            "{e}"
        );
        let e = refusal::<RuleVersionBody>(&format!("{}\n{{\"award\": ", RULE.replace('\n', " ")));
        assert!(
            e.starts_with("line 2: not JSON: EOF") && e.contains("malformed_json"),
            "{e}"
        );
    }
}
