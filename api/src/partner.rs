//! `tranche partner`: the tools an implementing partner runs on its own machine. They never
//! open a ledger: `keygen` makes the partner's Ed25519 signing key, `sign` turns an evidence
//! CSV exported from a field tool into signed statements, and `submit` posts those statements
//! to a ledger's HTTP API.
//!
//! # The key file
//!
//! One line, `TRANCHE-PARTNER-KEY+<partner>+<key_id>+<seed>`, where `<partner>` is the partner
//! id, `<key_id>` is [`partner_key_id`] of the public key (16 lowercase hex digits) and
//! `<seed>` is the standard base64 of the 32-byte Ed25519 seed. The file is created with mode
//! 0600 and refused when group or others can read it.
//!
//! # The evidence CSV
//!
//! RFC 4180 CSV in UTF-8. The first non-blank row is a header naming columns, in any order and
//! in any letter case, from `type`, `participant`, `cohort`, `session`, `status`, `course`,
//! `milestone`, `result` and `date`; `type` and `participant` are required. Every other row is
//! one evidence item, and its `type` decides which cells it needs (the fields of the
//! [`EvidenceItem`] variant of that type):
//!
//! | type                    | cells                                            |
//! | ----------------------- | ------------------------------------------------ |
//! | `enrolment`             | participant, cohort, date                        |
//! | `attendance`            | participant, session, status (present, absent)   |
//! | `attendance-correction` | participant, session, status (present, absent)   |
//! | `certification`         | participant, course, result (passed, failed), date |
//! | `milestone`             | participant, milestone (plan-approved, tranche-1, tranche-2), result, date |
//!
//! A cell that the row's type does not use must be empty. Ids follow [`Id::parse`], dates
//! [`Date::parse`] (`YYYY-MM-DD`), and the words are exactly the ledger's. What field tools
//! such as KoboToolbox write is tolerated: a UTF-8 byte order mark, CRLF line ends, spaces
//! around cells, blank lines (rows whose cells are all empty), and quoted cells holding commas,
//! line breaks and doubled quotes. A quote must open its cell (no space before it). Errors name
//! the physical line of the file (the header's is 1, a quoted line break counts), the column and
//! the rule. Two rows for the same participant and
//! session (attendance, attendance-correction), the same participant and cohort (enrolment), or
//! two identical rows are refused naming both lines.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read as _, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use ed25519_dalek::SigningKey;
use indicatif::ProgressBar;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use tranche_audit::programme::{
    partner_key_id, public_key_text, Date, EvidenceBody, EvidenceItem, Id, KeyAction, Milestone,
    Outcome, PartnerKeyBody, Presence, Statement, MAX_STATEMENT_ITEMS,
};
use tranche_audit::Code;
use tranche_audit::Invalid;

use crate::cli::Global;

/// The first word of a partner key file.
const KEY_FILE_TAG: &str = "TRANCHE-PARTNER-KEY";
/// The largest CSV or JSON Lines file the partner tools read.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// The largest response body `submit` reads.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Waits before retrying a statement the server was too busy to take (503).
const BUSY_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

const KEYGEN_HELP: &str = "\
Generate an Ed25519 signing key for a partner.

The private key is written to --out with mode 0600 (an existing file is never overwritten) as \
one line:

    TRANCHE-PARTNER-KEY+<partner>+<key_id>+<seed>

where <key_id> is the first 16 hex digits of SHA-256 of the public key and <seed> is the \
standard base64 of the 32-byte Ed25519 seed. Keep it secret: whoever holds it can sign \
evidence for the partner.

The partner id, key id and public key are printed, with the JSON that the ledger's \
administrator records to register the key (also written to --public when given):

    {\"partner\":\"<partner>\",\"action\":\"register\",\"key_id\":\"<key_id>\",\"public_key\":\"<base64>\"}";

const SIGN_HELP: &str = "\
Validate an evidence CSV and write it as signed statements (JSON Lines, one per line).

Nothing is written unless every row is valid: otherwise every bad row is printed as \
`line N: column C: rule (detail)` (N is the line in the file; the header is line 1) and the \
exit code is 3. Up to 500 rows make one statement with batch id --batch-id; more are split \
into statements of 500 with batch ids ID-1, ID-2, ...

THE CSV FORMAT

RFC 4180 CSV in UTF-8. The first row is a header naming columns, in any order and any letter \
case, from: type, participant, cohort, session, status, course, milestone, result, date. \
`type` and `participant` are required. Each further row is one piece of evidence; its type \
decides which cells it needs:

    enrolment              participant, cohort, date
    attendance             participant, session, status
    attendance-correction  participant, session, status
    certification          participant, course, result, date
    milestone              participant, milestone, result, date

    status     present | absent
    result     passed | failed
    milestone  plan-approved | tranche-1 | tranche-2
    date       YYYY-MM-DD
    ids        1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit

A cell that the row's type does not use must be empty. Tolerated, as field tools such as \
KoboToolbox write them: a UTF-8 byte order mark, CRLF line ends, spaces around cells, blank \
lines, and quoted cells (\"...\") holding commas, line breaks or doubled quotes (\"\"). \
Refused: a quote that does not open its cell (a space before it included), unknown columns, \
a row with more or fewer cells than the header, two rows for the same participant and \
session (attendance, attendance-correction) or participant and cohort (enrolment), and \
identical rows.

Example:

    type,participant,session,status,cohort,date
    enrolment,p-0001,,,cohort-a,2026-03-02
    attendance,p-0001,s-01,present,,";

const SUBMIT_HELP: &str = "\
POST signed statements to a ledger's /v1/evidence.

Each line of each file is sent as one request with Idempotency-Key = the hex SHA-256 of the \
line, so sending the same file again never records anything twice. Prints, per statement, \
the seq range the ledger recorded it at, or the ledger's refusal (title, field, detail and \
rule), and goes on with the next one. A server too busy (503) is retried after 1, 2 and 4 \
seconds.

Exit codes: 0 all recorded; 3 some statement was refused (or a file is not signed \
statements, in which case nothing is sent); 1 the server failed or could not be reached (run \
the same command again: what was recorded is not recorded twice).

Plain HTTP only: reach a remote ledger through an SSH tunnel or a TLS-terminating proxy.";

#[derive(Debug, Subcommand)]
pub enum PartnerCmd {
    /// Register a partner in the ledger (a journal record).
    Register {
        /// The partner id (letters, digits, '.', '_', '-').
        #[arg(long)]
        partner: String,
        /// The partner's name.
        #[arg(long)]
        name: String,
    },
    /// Register, rotate or revoke a partner key in the ledger, from the JSON that `keygen`
    /// prints ({"partner", "action": "register"|"rotate"|"revoke", "key_id", "public_key"?,
    /// "replaces"?}).
    Key {
        /// The key JSON (one document, or JSON Lines).
        file: PathBuf,
    },
    /// Generate a partner's Ed25519 signing key and print what the ledger needs to register it.
    #[command(long_about = KEYGEN_HELP)]
    Keygen {
        /// The partner id, as registered in the ledger.
        #[arg(long)]
        partner: String,
        /// The private key file to create (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Also write the key registration JSON to this file.
        #[arg(long)]
        public: Option<PathBuf>,
    },
    /// Validate an evidence CSV and sign it as statements (JSON Lines) ready to submit.
    #[command(long_about = SIGN_HELP)]
    Sign {
        /// The CSV file exported from the field tool.
        file: PathBuf,
        /// The partner's private key file (from `tranche partner keygen`).
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// The partner's name for this batch; each batch id can be submitted once.
        #[arg(long, value_name = "ID")]
        batch_id: String,
        /// Where to write the statements (default: FILE with the extension .signed.jsonl).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The statement time, RFC 3339 UTC ending in Z (default: now, to the second).
        #[arg(long, value_name = "RFC3339")]
        submitted_at: Option<String>,
    },
    /// Send signed statements to a ledger; retrying the same files never records twice.
    #[command(long_about = SUBMIT_HELP)]
    Submit {
        /// Files written by `tranche partner sign`.
        #[arg(required = true, value_name = "FILE.signed.jsonl")]
        files: Vec<PathBuf>,
        /// The ledger's base URL, such as http://127.0.0.1:8080.
        #[arg(long)]
        url: String,
        /// A bearer token of a partner user of the ledger.
        #[arg(long, env = "TRANCHE_TOKEN", hide_env_values = true)]
        token: String,
    },
}

/// Runs one partner command. keygen, sign and submit never open the ledger; register and key
/// do.
pub async fn run(global: &Global, cmd: PartnerCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PartnerCmd::Register { partner, name } => {
            crate::programme_cli::partner_register(global, &partner, &name).await
        }
        PartnerCmd::Key { file } => crate::programme_cli::partner_key(global, &file).await,
        PartnerCmd::Keygen {
            partner,
            out,
            public,
        } => keygen(&partner, &out, public.as_deref()),
        PartnerCmd::Sign {
            file,
            key,
            batch_id,
            out,
            submitted_at,
        } => sign(&file, &key, &batch_id, out, submitted_at),
        // ureq is blocking: keep it off the runtime's threads.
        PartnerCmd::Submit { files, url, token } => {
            tokio::task::spawn_blocking(move || submit(&files, &url, &token))
                .await
                .context("The submission task failed")?
        }
    }
}

fn refused(what: impl fmt::Display) -> ExitCode {
    eprintln!("refused: {what}");
    ExitCode::from(3)
}

// ---------------------------------------------------------------------------------------------
// Keys.

/// A partner's signing key, as held in its key file.
pub struct PartnerKey {
    pub partner: Id,
    pub signing: SigningKey,
}

impl fmt::Debug for PartnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerKey")
            .field("partner", &self.partner)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl PartnerKey {
    /// A new random key for `partner`.
    pub fn generate(partner: Id) -> anyhow::Result<PartnerKey> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)
            .map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
        Ok(PartnerKey {
            partner,
            signing: SigningKey::from_bytes(&seed),
        })
    }

    pub fn key_id(&self) -> String {
        partner_key_id(&self.signing.verifying_key())
    }

    pub fn public_key(&self) -> String {
        public_key_text(&self.signing.verifying_key())
    }

    /// The `partner.key` body that registers this key.
    pub fn registration(&self) -> PartnerKeyBody {
        PartnerKeyBody {
            partner: self.partner.clone(),
            action: KeyAction::Register,
            key_id: self.key_id(),
            public_key: Some(self.public_key()),
            replaces: None,
        }
    }

    /// The key file's one line (without its line end).
    pub fn to_text(&self) -> String {
        use base64::Engine as _;
        format!(
            "{KEY_FILE_TAG}+{}+{}+{}",
            self.partner,
            self.key_id(),
            base64::engine::general_purpose::STANDARD.encode(self.signing.to_bytes())
        )
    }

    /// Parses a key file's text; the key id must be that of the key.
    pub fn parse(text: &str) -> Result<PartnerKey, String> {
        use base64::Engine as _;
        // Partner ids and key ids hold no '+', so the seed keeps any '+' of its base64.
        let mut parts = text.trim_end_matches(['\r', '\n']).splitn(4, '+');
        let (Some(KEY_FILE_TAG), Some(partner), Some(key_id), Some(seed)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "it is not one line {KEY_FILE_TAG}+<partner>+<key_id>+<base64 seed>"
            ));
        };
        let partner = Id::parse(partner).map_err(|e| format!("partner: {}", e.detail))?;
        let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or("the seed must be standard base64 of 32 bytes")?;
        let key = PartnerKey {
            partner,
            signing: SigningKey::from_bytes(&seed),
        };
        if key.key_id() != key_id {
            return Err(format!(
                "it names key id {key_id:?} but its key's id is {}",
                key.key_id()
            ));
        }
        Ok(key)
    }

    /// Reads a key file, refusing one that group or others can read.
    pub fn load(path: &Path) -> anyhow::Result<PartnerKey> {
        let shown = path.display();
        let mode = std::fs::metadata(path)
            .with_context(|| format!("Failed to read the partner key {shown}"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the partner key {shown} is readable by others (mode {:o}): make it 0600 \
                 (chmod 600 {shown})",
                mode & 0o777
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read the partner key {shown}"))?;
        PartnerKey::parse(&text)
            .map_err(|e| anyhow::anyhow!("the partner key {shown} is not valid: {e}"))
    }

    /// Writes a new key file with mode 0600; an existing file is never overwritten.
    pub fn create_file(&self, path: &Path) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(format!("{}\n", self.to_text()).as_bytes())?;
        f.sync_all()
    }
}

fn keygen(partner: &str, out: &Path, public: Option<&Path>) -> anyhow::Result<ExitCode> {
    let partner = match Id::parse(partner) {
        Ok(p) => p,
        Err(e) => return Ok(refused(e.within("--partner"))),
    };
    if out.exists() {
        return Ok(refused(format_args!(
            "--out: {} already exists; a key file is never overwritten (file_exists)",
            out.display()
        )));
    }
    let key = PartnerKey::generate(partner)?;
    let registration = serde_json::to_string(&key.registration())?;
    match key.create_file(out) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Ok(refused(format_args!(
                "--out: {} already exists; a key file is never overwritten (file_exists)",
                out.display()
            )));
        }
        Err(e) => {
            return Err(e).with_context(|| format!("Failed to write the key {}", out.display()))
        }
    }
    println!("partner:    {}", key.partner);
    println!("key id:     {}", key.key_id());
    println!("public key: {}", key.public_key());
    println!(
        "private key written to {} (mode 0600): keep it secret, it signs evidence for {}",
        out.display(),
        key.partner
    );
    if let Some(path) = public {
        std::fs::write(path, format!("{registration}\n"))
            .with_context(|| format!("Failed to write {}", path.display()))?;
        println!("registration written to {}", path.display());
    }
    println!();
    println!("Give the ledger's administrator this key registration:");
    println!("{registration}");
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// Reading CSV (RFC 4180).

/// One CSV record: its cells, untrimmed, and the physical line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    pub line: usize,
    pub cells: Vec<String>,
}

/// A refusal of one line of an input file: `line N: column C: rule (detail)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub column: Option<String>,
    pub code: Code,
    pub detail: String,
}

impl LineError {
    fn new(line: usize, code: Code, detail: impl Into<String>) -> LineError {
        LineError {
            line,
            column: None,
            code,
            detail: detail.into(),
        }
    }

    fn column(mut self, column: impl Into<String>) -> LineError {
        self.column = Some(column.into());
        self
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = &self.column {
            write!(f, ": column {c}")?;
        }
        write!(f, ": {} ({})", self.code, self.detail)
    }
}

/// Reads RFC 4180 CSV with [`tranche_ledger::csv::records`]: cells separated by commas,
/// records by LF or CRLF, a cell in double quotes may hold commas, line breaks and `""` for a
/// quote. A leading byte order mark is dropped and empty lines are skipped. Each record knows
/// the physical line it starts on, so a quoted line break moves later records down; quoting
/// that breaks the RFC is refused naming its line.
pub fn read_csv(text: &str) -> Result<Vec<CsvRow>, LineError> {
    tranche_ledger::csv::records(text)
        .map(|r| match r {
            Ok(r) => Ok(CsvRow {
                line: r.line as usize,
                cells: r.cells,
            }),
            Err(e) => Err(LineError::new(e.line as usize, e.code, e.detail)),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Evidence rows.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Type,
    Participant,
    Cohort,
    Session,
    Status,
    Course,
    Milestone,
    Result,
    Date,
}

const COLUMNS: [Column; 9] = [
    Column::Type,
    Column::Participant,
    Column::Cohort,
    Column::Session,
    Column::Status,
    Column::Course,
    Column::Milestone,
    Column::Result,
    Column::Date,
];

/// The cells each evidence type needs besides `type`: the fields of its `EvidenceItem` variant.
const TYPES: [(&str, &[Column]); 5] = [
    (
        "enrolment",
        &[Column::Participant, Column::Cohort, Column::Date],
    ),
    (
        "attendance",
        &[Column::Participant, Column::Session, Column::Status],
    ),
    (
        "attendance-correction",
        &[Column::Participant, Column::Session, Column::Status],
    ),
    (
        "certification",
        &[
            Column::Participant,
            Column::Course,
            Column::Result,
            Column::Date,
        ],
    ),
    (
        "milestone",
        &[
            Column::Participant,
            Column::Milestone,
            Column::Result,
            Column::Date,
        ],
    ),
];

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Type => "type",
            Column::Participant => "participant",
            Column::Cohort => "cohort",
            Column::Session => "session",
            Column::Status => "status",
            Column::Course => "course",
            Column::Milestone => "milestone",
            Column::Result => "result",
            Column::Date => "date",
        }
    }

    fn parse(header: &str) -> Option<Column> {
        COLUMNS
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(header))
    }

    /// Checks one non-empty cell with the ledger's own parsers and returns its JSON value.
    fn value(self, text: &str) -> Result<Value, (Code, String)> {
        fn word<T: serde::de::DeserializeOwned>(text: &str) -> Result<(), (Code, String)> {
            serde_json::from_value::<T>(Value::String(text.to_string()))
                .map(|_| ())
                .map_err(|e| (Code::InvalidValue, format!("{text:?}: {e}")))
        }
        match self {
            Column::Participant | Column::Cohort | Column::Session | Column::Course => {
                Id::parse(text).map_err(|e| (e.code, e.detail))?;
            }
            Column::Date => {
                Date::parse(text).map_err(|e| (e.code, e.detail))?;
            }
            Column::Status => word::<Presence>(text)?,
            Column::Result => word::<Outcome>(text)?,
            Column::Milestone => word::<Milestone>(text)?,
            Column::Type => {}
        }
        Ok(Value::String(text.to_string()))
    }
}

/// What makes two rows the same evidence, and how to say so.
fn duplicate_key(item: &EvidenceItem) -> (String, String) {
    match item {
        EvidenceItem::Attendance {
            participant,
            session,
            ..
        }
        | EvidenceItem::AttendanceCorrection {
            participant,
            session,
            ..
        } => (
            format!("{}\n{participant}\n{session}", item.type_name()),
            format!(
                "{} of participant {participant} at session {session}",
                item.type_name()
            ),
        ),
        EvidenceItem::Enrolment {
            participant,
            cohort,
            ..
        } => (
            format!("enrolment\n{participant}\n{cohort}"),
            format!("enrolment of participant {participant} in cohort {cohort}"),
        ),
        _ => (
            serde_json::to_string(item).unwrap_or_default(),
            "row".to_string(),
        ),
    }
}

/// Reads an evidence CSV (see the module documentation) into items with their line numbers,
/// or every error found: the header's, or those of every bad row.
pub fn parse_evidence_csv(text: &str) -> Result<Vec<(usize, EvidenceItem)>, Vec<LineError>> {
    let rows = read_csv(text).map_err(|e| vec![e])?;
    let blank = |r: &CsvRow| r.cells.iter().all(|c| c.trim().is_empty());
    let mut rows = rows.into_iter().filter(|r| !blank(r));
    let Some(header) = rows.next() else {
        return Err(vec![LineError::new(
            1,
            Code::MissingHeader,
            "the file is empty: it needs a header row naming its columns",
        )]);
    };

    // The header: where each known column is.
    let mut errors = Vec::new();
    let mut at: [Option<usize>; COLUMNS.len()] = [None; COLUMNS.len()];
    for (i, name) in header.cells.iter().enumerate() {
        let name = name.trim();
        let shown = if name.is_empty() {
            format!("{}", i + 1)
        } else {
            name.to_string()
        };
        match Column::parse(name) {
            Some(c) if at[c as usize].is_some() => errors.push(
                LineError::new(
                    header.line,
                    Code::DuplicateColumn,
                    format!("the header names {} twice", c.name()),
                )
                .column(shown),
            ),
            Some(c) => at[c as usize] = Some(i),
            None => errors.push(
                LineError::new(
                    header.line,
                    Code::UnknownColumn,
                    format!(
                        "{name:?} is not a column; the columns are {}",
                        COLUMNS.map(Column::name).join(", ")
                    ),
                )
                .column(shown),
            ),
        }
    }
    for required in [Column::Type, Column::Participant] {
        if at[required as usize].is_none() {
            errors.push(
                LineError::new(
                    header.line,
                    Code::MissingColumn,
                    format!("the header must name a {} column", required.name()),
                )
                .column(required.name()),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut items = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let line = row.line;
        if row.cells.len() != header.cells.len() {
            errors.push(LineError::new(
                line,
                Code::WrongCellCount,
                format!(
                    "{} cells but the header has {}",
                    row.cells.len(),
                    header.cells.len()
                ),
            ));
            continue;
        }
        let cell = |c: Column| at[c as usize].map(|i| row.cells[i].trim());
        let type_name = cell(Column::Type).unwrap_or("");
        let Some((type_name, uses)) = TYPES.iter().find(|(t, _)| *t == type_name) else {
            let detail = if type_name.is_empty() {
                "every row needs a type".to_string()
            } else {
                format!(
                    "{type_name:?} is not an evidence type: {}",
                    TYPES.map(|(t, _)| t).join(", ")
                )
            };
            let code = if type_name.is_empty() {
                Code::MissingValue
            } else {
                Code::InvalidValue
            };
            errors.push(LineError::new(line, code, detail).column("type"));
            continue;
        };
        let mut fields = Map::new();
        fields.insert("type".into(), Value::String(type_name.to_string()));
        let mut bad = false;
        for column in COLUMNS.into_iter().skip(1) {
            let name = column.name();
            let error = match (uses.contains(&column), cell(column)) {
                (true, None) => Some(LineError::new(
                    line,
                    Code::MissingColumn,
                    format!("{type_name} rows need a {name}, and the file has no {name} column"),
                )),
                (true, Some("")) => Some(LineError::new(
                    line,
                    Code::MissingValue,
                    format!("{type_name} rows need a {name}"),
                )),
                (true, Some(text)) => match column.value(text) {
                    Ok(v) => {
                        fields.insert(name.into(), v);
                        None
                    }
                    Err((code, detail)) => Some(LineError::new(line, code, detail)),
                },
                (false, Some(text)) if !text.is_empty() => Some(LineError::new(
                    line,
                    Code::UnexpectedValue,
                    format!(
                        "{type_name} rows have no {name}: leave the cell empty (it has {text:?})"
                    ),
                )),
                (false, _) => None,
            };
            if let Some(e) = error {
                errors.push(e.column(name));
                bad = true;
            }
        }
        if bad {
            continue;
        }
        // The ledger's own type decides: the same serde rules as when it reads the statement.
        let item = match serde_json::from_value::<EvidenceItem>(Value::Object(fields)) {
            Ok(item) => item,
            Err(e) => {
                errors.push(LineError::new(line, Code::InvalidRow, e.to_string()));
                continue;
            }
        };
        let (key, what) = duplicate_key(&item);
        if let Some(first) = seen.get(&key) {
            errors.push(LineError::new(
                line,
                Code::DuplicateRow,
                format!("the same {what} as line {first}"),
            ));
            continue;
        }
        seen.insert(key, line);
        items.push((line, item));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if items.is_empty() {
        return Err(vec![LineError::new(
            header.line,
            Code::NoRows,
            "the file has a header but no evidence rows",
        )]);
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------
// Statements.

/// Groups items into statements of at most [`MAX_STATEMENT_ITEMS`]: one statement keeps
/// `batch_id`, several are `batch_id-1`, `batch_id-2`, … Every statement is checked.
pub fn statements(
    partner: &Id,
    batch_id: &Id,
    items: Vec<EvidenceItem>,
    submitted_at: &str,
) -> Result<Vec<Statement>, Invalid> {
    let chunks: Vec<Vec<EvidenceItem>> = items
        .chunks(MAX_STATEMENT_ITEMS)
        .map(<[EvidenceItem]>::to_vec)
        .collect();
    let split = chunks.len() > 1;
    let mut out = Vec::with_capacity(chunks.len());
    for (i, items) in chunks.into_iter().enumerate() {
        let batch_id = if split {
            Id::parse(&format!("{batch_id}-{}", i + 1)).map_err(|e| {
                Invalid::new(
                    "batch_id",
                    e.code,
                    format!(
                        "{} rows make {} statements, and {}",
                        items.len(),
                        i + 1,
                        e.detail
                    ),
                )
            })?
        } else {
            batch_id.clone()
        };
        let statement = Statement {
            partner: partner.clone(),
            batch_id,
            items,
            submitted_at: submitted_at.to_string(),
        };
        statement.check()?;
        out.push(statement);
    }
    Ok(out)
}

/// Why `sign` wrote nothing.
#[derive(Debug)]
pub enum SignRefusal {
    Rows(Vec<LineError>),
    Invalid(Invalid),
}

/// Validates an evidence CSV (raw bytes, which must be UTF-8) and signs it as statements.
pub fn sign_csv(
    bytes: &[u8],
    key: &PartnerKey,
    batch_id: &Id,
    submitted_at: &str,
) -> Result<Vec<EvidenceBody>, SignRefusal> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        SignRefusal::Rows(vec![LineError::new(
            line,
            Code::NotUtf8,
            "the file is not UTF-8 text: export it as CSV in UTF-8",
        )])
    })?;
    let items = parse_evidence_csv(text).map_err(SignRefusal::Rows)?;
    let items = items.into_iter().map(|(_, item)| item).collect();
    let statements =
        statements(&key.partner, batch_id, items, submitted_at).map_err(SignRefusal::Invalid)?;
    Ok(statements
        .into_iter()
        .map(|s| s.sign(&key.signing))
        .collect())
}

fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("Failed to open {}", path.display()))?
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("Failed to read {}", path.display()))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        bail!(
            "{} is larger than {MAX_INPUT_BYTES} bytes: split it into several files",
            path.display()
        );
    }
    Ok(bytes)
}

/// `2026-03-08T12:00:00Z`: now, to the second.
fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// FILE with the extension `.signed.jsonl`.
pub fn default_signed_path(csv: &Path) -> PathBuf {
    csv.with_extension("signed.jsonl")
}

fn sign(
    file: &Path,
    key_path: &Path,
    batch_id: &str,
    out: Option<PathBuf>,
    submitted_at: Option<String>,
) -> anyhow::Result<ExitCode> {
    let batch_id = match Id::parse(batch_id) {
        Ok(b) => b,
        Err(e) => return Ok(refused(e.within("--batch-id"))),
    };
    let submitted_at = submitted_at.unwrap_or_else(now_text);
    let key = PartnerKey::load(key_path)?;
    let bytes = read_limited(file)?;
    let bodies = match sign_csv(&bytes, &key, &batch_id, &submitted_at) {
        Ok(b) => b,
        Err(SignRefusal::Rows(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "refused: {} error(s) in {}; nothing was written",
                errors.len(),
                file.display()
            );
            return Ok(ExitCode::from(3));
        }
        Err(SignRefusal::Invalid(mut e)) => {
            e.field = match e.field.as_str() {
                "batch_id" => "--batch-id".into(),
                "submitted_at" => "--submitted-at".into(),
                other => other.to_string(),
            };
            eprintln!("refused: {e}");
            eprintln!("nothing was written");
            return Ok(ExitCode::from(3));
        }
    };
    let out = out.unwrap_or_else(|| default_signed_path(file));
    write_jsonl(&out, &bodies)?;
    let rows: usize = bodies.iter().map(|b| b.statement.items.len()).sum();
    let ids: Vec<&str> = bodies
        .iter()
        .map(|b| b.statement.batch_id.as_str())
        .collect();
    println!(
        "signed {rows} row(s) as {} statement(s) ({}) for partner {} with key {}",
        bodies.len(),
        ids.join(", "),
        key.partner,
        key.key_id()
    );
    println!("wrote {}", out.display());
    println!(
        "submit with: tranche partner submit {} --url <ledger URL> --token <token>",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes one JSON body per line, all or nothing (a temporary file renamed into place).
fn write_jsonl(path: &Path, bodies: &[EvidenceBody]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("Failed to write {}", path.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        for body in bodies {
            serde_json::to_writer(&mut w, body)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("Failed to write {}", path.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Submitting.

/// One statement to send: where it came from, its exact bytes and its idempotency key.
#[derive(Debug, Clone)]
struct Pending {
    origin: String,
    batch_id: String,
    items: usize,
    body: String,
    key: String,
}

/// How many bad lines of one file `submit` lists (a CSV given by mistake has nothing else).
const MAX_BAD_LINES_SHOWN: usize = 10;

/// The hex SHA-256 of a line: its Idempotency-Key.
pub fn idempotency_key(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// Reads signed statement files; every line must be a well-formed `EvidenceBody`.
fn pending(files: &[PathBuf]) -> anyhow::Result<Result<Vec<Pending>, Vec<String>>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let bytes = read_limited(file)?;
        let Ok(text) = String::from_utf8(bytes) else {
            errors.push(format!("{}: not UTF-8 text", file.display()));
            continue;
        };
        let mut bad = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let origin = format!("{} line {}", file.display(), i + 1);
            let body = serde_json::from_str::<EvidenceBody>(line)
                .map_err(|e| format!("not a signed statement: {e}"))
                .and_then(|b| b.check().map(|()| b).map_err(|e| e.to_string()));
            match body {
                Ok(b) => out.push(Pending {
                    origin,
                    batch_id: b.statement.batch_id.to_string(),
                    items: b.statement.items.len(),
                    body: line.to_string(),
                    key: idempotency_key(line),
                }),
                Err(e) => bad.push(format!("{origin}: {e}")),
            }
        }
        if bad.len() > MAX_BAD_LINES_SHOWN {
            let more = bad.len() - MAX_BAD_LINES_SHOWN;
            bad.truncate(MAX_BAD_LINES_SHOWN);
            bad.push(format!("{}: {more} more bad lines", file.display()));
        }
        errors.append(&mut bad);
    }
    if errors.is_empty() && out.is_empty() {
        errors.push("the files hold no statements".into());
    }
    Ok(if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    })
}

#[derive(Debug, Deserialize)]
struct Appended {
    first_seq: Option<u64>,
    count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
    code: Option<String>,
    field: Option<String>,
    item: Option<u64>,
}

#[derive(Debug)]
struct Client {
    agent: ureq::Agent,
    endpoint: String,
    auth: String,
}

impl Client {
    fn new(url: &str, token: &str) -> anyhow::Result<Client> {
        let base = url.trim_end_matches('/');
        if base.starts_with("https://") {
            bail!(
                "--url: https:// is not supported: this build speaks plain HTTP only (reach a \
                 remote ledger through an SSH tunnel or a local TLS-terminating proxy)"
            );
        }
        if !base.starts_with("http://") || base.len() == "http://".len() {
            bail!("--url: must be the ledger's base URL, such as http://127.0.0.1:8080");
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(RESPONSE_TIMEOUT))
            .timeout_per_read(Some(RESPONSE_TIMEOUT))
            .user_agent(concat!("tranche-partner/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            agent,
            endpoint: format!("{base}/v1/evidence"),
            auth: format!("Bearer {token}"),
        })
    }

    /// POSTs one statement; returns the status, whether it was a replay, and the body text.
    fn post(&self, p: &Pending) -> anyhow::Result<(u16, bool, String)> {
        let mut response = self
            .agent
            .post(&self.endpoint)
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &p.key)
            .send(p.body.as_bytes())
            .with_context(|| {
                format!(
                    "Failed to send {} to {} (run the same command again: statements \
                     already recorded are not recorded twice)",
                    p.origin, self.endpoint
                )
            })?;
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes() == b"true");
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        Ok((status, replayed, text))
    }
}

/// How a submission went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    recorded: usize,
    refused: usize,
    failed: usize,
}

/// One line explaining a non-2xx answer: the problem document's fields when there is one.
fn explain(status: u16, text: &str) -> String {
    let mut out = format!("HTTP {status}");
    match serde_json::from_str::<Problem>(text) {
        Ok(p) => {
            if let Some(t) = p.title {
                out.push_str(&format!(" {t}"));
            }
            out.push(':');
            if let Some(i) = p.item {
                out.push_str(&format!(" item {}:", i + 1));
            }
            if let Some(f) = p.field {
                out.push_str(&format!(" {f}:"));
            }
            if let Some(d) = p.detail {
                out.push_str(&format!(" {d}"));
            }
            if let Some(c) = p.code {
                out.push_str(&format!(" ({c})"));
            }
        }
        Err(_) => {
            let first: String = text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            if !first.trim().is_empty() {
                out.push_str(&format!(": {}", first.trim()));
            }
        }
    }
    out
}

fn submit_all(
    client: &Client,
    statements: &[Pending],
    out: &mut dyn Write,
    bar: &ProgressBar,
    busy_retries: &[Duration],
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for p in statements {
        let mut waits = busy_retries.iter();
        let (status, replayed, text) = loop {
            let answer = client.post(p)?;
            match (answer.0, waits.next()) {
                (503, Some(wait)) => std::thread::sleep(*wait),
                _ => break answer,
            }
        };
        let head = format!("{} (batch {}, {} items)", p.origin, p.batch_id, p.items);
        let message = if (200..300).contains(&status) {
            tally.recorded += 1;
            let mut m = format!("{head}: recorded");
            if let Ok(a) = serde_json::from_str::<Appended>(&text) {
                if let Some(s) = a.first_seq {
                    m.push_str(&format!(", first_seq {s}"));
                }
                if let Some(c) = a.count {
                    m.push_str(&format!(", count {c}"));
                }
            }
            if replayed {
                m.push_str(" (already submitted: the ledger's earlier answer)");
            }
            m
        } else if status >= 500 {
            tally.failed += 1;
            format!("{head}: failed: {}", explain(status, &text))
        } else {
            tally.refused += 1;
            format!("{head}: refused: {}", explain(status, &text))
        };
        bar.suspend(|| writeln!(out, "{message}"))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(tally)
}

fn submit(files: &[PathBuf], url: &str, token: &str) -> anyhow::Result<ExitCode> {
    let client = Client::new(url, token)?;
    let statements = match pending(files)? {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("refused: nothing was sent");
            return Ok(ExitCode::from(3));
        }
    };
    let bar = if statements.len() > 1 {
        crate::cli::progress_bar(statements.len() as u64, "submitting")
    } else {
        ProgressBar::hidden()
    };
    let mut stdout = std::io::stdout();
    let tally = submit_all(&client, &statements, &mut stdout, &bar, &BUSY_RETRIES)?;
    println!(
        "{} statement(s): {} recorded, {} refused, {} failed",
        statements.len(),
        tally.recorded,
        tally.refused,
        tally.failed
    );
    Ok(if tally.failed > 0 {
        eprintln!("the server failed on some statements: run the same command again");
        ExitCode::FAILURE
    } else if tally.refused > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tranche_audit::programme::parse_public_key;

    fn rows(text: &str) -> Vec<(usize, Vec<String>)> {
        read_csv(text)
            .expect("valid CSV")
            .into_iter()
            .map(|r| (r.line, r.cells))
            .collect()
    }

    fn row(line: usize, cells: &[&str]) -> (usize, Vec<String>) {
        (line, cells.iter().map(ToString::to_string).collect())
    }

    fn errors(text: &str) -> Vec<String> {
        parse_evidence_csv(text)
            .expect_err("refused")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn key() -> PartnerKey {
        PartnerKey {
            partner: Id::parse("hias").expect("valid"),
            signing: SigningKey::from_bytes(&[7; 32]),
        }
    }

    // ---- the CSV reader ----

    #[test]
    fn csv_plain_rows_with_and_without_a_final_line_end() {
        assert_eq!(
            rows("a,b\n1,2\n"),
            vec![row(1, &["a", "b"]), row(2, &["1", "2"])]
        );
        assert_eq!(
            rows("a,b\n1,2"),
            vec![row(1, &["a", "b"]), row(2, &["1", "2"])]
        );
        assert_eq!(rows("a,,\n"), vec![row(1, &["a", "", ""])]);
        assert!(rows("").is_empty());
    }

    #[test]
    fn csv_quoted_cells_hold_commas_quotes_and_line_breaks() {
        assert_eq!(
            rows("a,\"b,c\",\"say \"\"hi\"\"\"\n\"x\ny\nz\",2\nlast,1\n"),
            vec![
                row(1, &["a", "b,c", "say \"hi\""]),
                row(2, &["x\ny\nz", "2"]),
                row(5, &["last", "1"]),
            ]
        );
        assert_eq!(rows("\"\",\"\"\n"), vec![row(1, &["", ""])]);
        // Spaces after the closing quote stay in the cell (rows are trimmed when read); a
        // quote after a space opens nothing and is refused.
        assert_eq!(rows("\"a\" ,b\n"), vec![row(1, &["a ", "b"])]);
        let e = read_csv("a, \"b\"\n").expect_err("refused");
        assert_eq!((e.line, e.code), (1, Code::StrayQuote));
    }

    #[test]
    fn csv_bom_crlf_and_blank_lines_keep_physical_line_numbers() {
        assert_eq!(
            rows("\u{feff}a,b\r\n\r\n1,\"x\r\ny\"\r\n2,3\r\n"),
            vec![
                row(1, &["a", "b"]),
                row(3, &["1", "x\r\ny"]),
                row(5, &["2", "3"]),
            ]
        );
    }

    #[test]
    fn csv_syntax_errors_name_their_line() {
        let e = read_csv("a,b\n1,\"open\n2,3\n").expect_err("refused");
        assert_eq!((e.line, e.code), (2, Code::UnterminatedQuote));
        let e = read_csv("a,b\n\"x\ny\",ok\n1,b\"c\n").expect_err("refused");
        assert_eq!((e.line, e.code), (4, Code::StrayQuote));
        let e = read_csv("a,b\n\"x\"y,1\n").expect_err("refused");
        assert_eq!((e.line, e.code), (2, Code::TextAfterQuote));
    }

    // ---- evidence rows ----

    #[test]
    fn every_type_reads_into_its_evidence_item() {
        let text =
            "\u{feff}Type, PARTICIPANT ,cohort,session,status,course,milestone,result,date\r\n\
            enrolment,p-1,c-1,,,,,,2026-03-02\r\n\
            attendance,p-1,,s-01,present,,,,\r\n\
            attendance-correction,p-1,,s-01,absent,,,,\r\n\
            certification,p-1,,,,welding,,passed,2026-06-30\r\n\
            milestone,p-1,,,,,tranche-1,failed,2026-07-01\r\n";
        let items = parse_evidence_csv(text).expect("valid");
        let lines: Vec<usize> = items.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        let types: Vec<&str> = items.iter().map(|(_, i)| i.type_name()).collect();
        assert_eq!(types, TYPES.map(|(t, _)| t).to_vec());
        assert_eq!(
            items[1].1,
            EvidenceItem::Attendance {
                participant: Id::parse("p-1").expect("valid"),
                session: Id::parse("s-01").expect("valid"),
                status: Presence::Present,
            }
        );
        assert_eq!(
            items[4].1,
            EvidenceItem::Milestone {
                participant: Id::parse("p-1").expect("valid"),
                milestone: Milestone::Tranche1,
                result: Outcome::Failed,
                date: Date::parse("2026-07-01").expect("valid"),
            }
        );
    }

    #[test]
    fn header_errors_name_every_bad_column() {
        assert_eq!(
            errors("type,participant,Sesion,TYPE\n"),
            vec![
                "line 1: column Sesion: unknown_column (\"Sesion\" is not a column; the columns \
                 are type, participant, cohort, session, status, course, milestone, result, date)",
                "line 1: column TYPE: duplicate_column (the header names type twice)",
            ]
        );
        assert_eq!(
            errors("session,status\n"),
            vec![
                "line 1: column type: missing_column (the header must name a type column)",
                "line 1: column participant: missing_column (the header must name a participant \
                 column)",
            ]
        );
        assert_eq!(
            errors("\n\n")[0],
            "line 1: missing_header (the file is empty: it needs a header row naming its columns)"
        );
        assert_eq!(
            errors("type,participant,session,status\r\n\r\n"),
            vec!["line 1: no_rows (the file has a header but no evidence rows)"]
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_its_physical_line() {
        // Line 3 holds a quoted cell over three lines, so the rows after it start on line 6.
        let text = "\u{feff}type,participant,session,status,cohort,date\r\n\
            attendance,p-1,s-01,present,,\r\n\
            attendance,p-2,\"s-01\r\nstill\r\nquoted\",present,,\r\n\
            attendance,p 3,s-01,here,,\r\n\
            \r\n\
            enrolment,p-4,s-01,,c-1,2026-3-1\r\n\
            certification,p-5,,,,\r\n\
            graduation,p-6,,,,\r\n\
            ,p-7,,,,\r\n\
            attendance,p-8,s-01\r\n\
            attendance,p-1,s-01,absent,,\r\n\
            enrolment,p-9,,,c-1,2026-03-01\r\n\
            enrolment,p-9,,,c-1,2026-03-02\r\n\
            attendance,p-10,s-02,,,\r\n";
        assert_eq!(
            errors(text),
            vec![
                "line 3: column session: invalid_id (\"s-01\\r\\nstill\\r\\nquoted\" is not a \
                 valid id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or \
                 digit)",
                "line 6: column participant: invalid_id (\"p 3\" is not a valid id: 1 to 64 \
                 letters, digits, '.', '_' or '-', starting with a letter or digit)",
                "line 6: column status: invalid_value (\"here\": unknown variant `here`, expected \
                 `present` or `absent`)",
                "line 8: column session: unexpected_value (enrolment rows have no session: leave \
                 the cell empty (it has \"s-01\"))",
                "line 8: column date: invalid_date (\"2026-3-1\" is not a date written \
                 YYYY-MM-DD)",
                "line 9: column course: missing_column (certification rows need a course, and \
                 the file has no course column)",
                "line 9: column result: missing_column (certification rows need a result, and \
                 the file has no result column)",
                "line 9: column date: missing_value (certification rows need a date)",
                "line 10: column type: invalid_value (\"graduation\" is not an evidence type: \
                 enrolment, attendance, attendance-correction, certification, milestone)",
                "line 11: column type: missing_value (every row needs a type)",
                "line 12: wrong_cell_count (3 cells but the header has 6)",
                "line 13: duplicate_row (the same attendance of participant p-1 at session s-01 \
                 as line 2)",
                "line 15: duplicate_row (the same enrolment of participant p-9 in cohort c-1 as \
                 line 14)",
                "line 16: column status: missing_value (attendance rows need a status)",
            ]
        );
    }

    #[test]
    fn identical_rows_are_duplicates_and_different_outcomes_are_not() {
        let text = "type,participant,course,result,date\n\
            certification,p-1,welding,failed,2026-03-01\n\
            certification,p-1,welding,passed,2026-04-01\n\
            certification,p-1,welding,failed,2026-03-01\n";
        assert_eq!(
            errors(text),
            vec!["line 4: duplicate_row (the same row as line 2)"]
        );
    }

    #[test]
    fn the_words_are_exactly_the_ledgers() {
        let e = errors("type,participant,session,status\nAttendance,p-1,s-1,Present\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("line 2: column type: invalid_value"),
            "{e:?}"
        );
        let e = errors("type,participant,session,status\nattendance,p-1,s-1,Present\n");
        assert!(
            e[0].starts_with("line 2: column status: invalid_value"),
            "{e:?}"
        );
    }

    // ---- statements and signing ----

    fn attendance_csv(rows: usize) -> String {
        let mut text = String::from("type,participant,session,status\n");
        for i in 0..rows {
            text.push_str(&format!("attendance,p-{i:05},s-01,present\n"));
        }
        text
    }

    #[test]
    fn up_to_500_rows_make_one_statement_with_the_batch_id() {
        let bodies = sign_csv(
            attendance_csv(MAX_STATEMENT_ITEMS).as_bytes(),
            &key(),
            &Id::parse("2026-03-w1").expect("valid"),
            "2026-03-08T12:00:00Z",
        )
        .expect("signed");
        assert_eq!(bodies.len(), 1);
        assert_eq!(bodies[0].statement.batch_id.as_str(), "2026-03-w1");
        assert_eq!(bodies[0].statement.items.len(), MAX_STATEMENT_ITEMS);
    }

    #[test]
    fn more_rows_are_split_into_numbered_batches_in_file_order() {
        let bodies = sign_csv(
            attendance_csv(1001).as_bytes(),
            &key(),
            &Id::parse("w1").expect("valid"),
            "2026-03-08T12:00:00Z",
        )
        .expect("signed");
        let shape: Vec<(&str, usize)> = bodies
            .iter()
            .map(|b| (b.statement.batch_id.as_str(), b.statement.items.len()))
            .collect();
        assert_eq!(shape, vec![("w1-1", 500), ("w1-2", 500), ("w1-3", 1)]);
        assert_eq!(
            bodies[2].statement.items[0].participant().as_str(),
            "p-01000"
        );
        for b in &bodies {
            b.check().expect("well formed");
            b.verify_signature(&key().signing.verifying_key())
                .expect("verifies");
        }
    }

    #[test]
    fn a_batch_id_too_long_to_number_is_refused() {
        let long = "b".repeat(64);
        let e = statements(
            &key().partner,
            &Id::parse(&long).expect("valid"),
            vec![
                EvidenceItem::Attendance {
                    participant: Id::parse("p").expect("valid"),
                    session: Id::parse("s").expect("valid"),
                    status: Presence::Present,
                };
                MAX_STATEMENT_ITEMS + 1
            ],
            "2026-03-08T12:00:00Z",
        )
        .expect_err("refused");
        assert_eq!((e.field.as_str(), e.code), ("batch_id", Code::InvalidId));
    }

    #[test]
    fn a_bad_submitted_at_is_refused_by_the_statement_rules() {
        let r = sign_csv(
            attendance_csv(1).as_bytes(),
            &key(),
            &Id::parse("w1").expect("valid"),
            "2026-03-08 12:00",
        );
        let Err(SignRefusal::Invalid(e)) = r else {
            panic!("refused: {r:?}");
        };
        assert_eq!(e.field, "submitted_at");
        let now = now_text();
        assert_eq!(now.len(), "2026-03-08T12:00:00Z".len());
        assert!(sign_csv(
            attendance_csv(1).as_bytes(),
            &key(),
            &Id::parse("w1").expect("valid"),
            &now
        )
        .is_ok());
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_at_its_line() {
        let mut bytes = b"type,participant,session,status\nattendance,p-1,s-1,present\n".to_vec();
        bytes.extend(b"attendance,p-\xe9,s-1,present\n");
        let r = sign_csv(
            &bytes,
            &key(),
            &Id::parse("w").expect("valid"),
            "2026-03-08T12:00:00Z",
        );
        let Err(SignRefusal::Rows(e)) = r else {
            panic!("refused: {r:?}");
        };
        assert_eq!((e[0].line, e[0].code), (3, Code::NotUtf8));
    }

    #[test]
    fn keys_round_trip_and_their_id_is_checked() {
        let k = key();
        let text = k.to_text();
        assert!(text.starts_with("TRANCHE-PARTNER-KEY+hias+"));
        let back = PartnerKey::parse(&format!("{text}\n")).expect("parses");
        assert_eq!(back.partner, k.partner);
        assert_eq!(back.signing.to_bytes(), k.signing.to_bytes());
        let wrong = text.replace(&k.key_id(), "0000000000000000");
        assert!(PartnerKey::parse(&wrong)
            .expect_err("refused")
            .contains("key id"));
        assert!(PartnerKey::parse("hello").is_err());
        k.registration().check().expect("a valid registration");
        assert!(!format!("{k:?}").contains(&text[text.len() - 44..]));
    }

    #[test]
    fn keygen_then_sign_writes_statements_that_verify() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_path = dir.path().join("hias.key");
        let public = dir.path().join("hias.pub.json");
        assert_eq!(
            keygen("hias", &key_path, Some(&public)).expect("runs"),
            ExitCode::SUCCESS
        );
        let mode = std::fs::metadata(&key_path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Never overwritten.
        let before = std::fs::read(&key_path).expect("readable");
        assert_eq!(
            keygen("hias", &key_path, None).expect("runs"),
            ExitCode::from(3)
        );
        assert_eq!(std::fs::read(&key_path).expect("readable"), before);

        let registration: PartnerKeyBody =
            serde_json::from_str(&std::fs::read_to_string(&public).expect("written"))
                .expect("a partner.key body");
        let vk = registration
            .check()
            .expect("valid")
            .expect("register has a key");
        assert_eq!(
            parse_public_key(registration.public_key.as_deref().unwrap_or("")).expect("valid"),
            vk
        );

        let csv = dir.path().join("week1.csv");
        std::fs::write(&csv, attendance_csv(700)).expect("written");
        assert_eq!(
            sign(&csv, &key_path, "w1", None, None).expect("runs"),
            ExitCode::SUCCESS
        );
        let out = dir.path().join("week1.signed.jsonl");
        let text = std::fs::read_to_string(&out).expect("written");
        let loaded = PartnerKey::load(&key_path).expect("loads");
        assert_eq!(loaded.signing.verifying_key(), vk);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for (i, line) in lines.iter().enumerate() {
            let body: EvidenceBody = serde_json::from_str(line).expect("an evidence body");
            body.check().expect("well formed");
            body.verify_signature(&vk).expect("verifies");
            assert_eq!(body.key_id, registration.key_id);
            assert_eq!(body.statement.partner.as_str(), "hias");
            assert_eq!(body.statement.batch_id.to_string(), format!("w1-{}", i + 1));
            assert!(body.statement.submitted_at.ends_with('Z'));
        }
    }

    #[test]
    fn a_bad_file_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_path = dir.path().join("k");
        key().create_file(&key_path).expect("written");
        let csv = dir.path().join("bad.csv");
        std::fs::write(
            &csv,
            "type,participant,session,status\nattendance,p-1,s-1,maybe\n",
        )
        .expect("written");
        let out = dir.path().join("out.jsonl");
        assert_eq!(
            sign(&csv, &key_path, "w1", Some(out.clone()), None).expect("runs"),
            ExitCode::from(3)
        );
        assert!(!out.exists());
        assert!(!dir.path().join("bad.signed.jsonl").exists());
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_path = dir.path().join("k");
        key().create_file(&key_path).expect("written");
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = PartnerKey::load(&key_path).expect_err("refused");
        assert!(e.to_string().contains("readable by others"), "{e}");
    }

    // ---- submitting, against a tiny local HTTP server ----

    /// Serves one canned response per connection and records each request's head and body.
    fn serve(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, std::thread::JoinHandle<Vec<(String, String)>>) {
        use std::io::{BufRead as _, BufReader, Read as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (stream, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("read");
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().expect("a length");
                    }
                    head.push_str(&line);
                }
                let mut request = vec![0; length];
                reader.read_exact(&mut request).expect("body");
                seen.push((head, String::from_utf8(request).expect("utf-8")));
                let mut stream = stream;
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .expect("answer");
            }
            seen
        });
        (url, handle)
    }

    #[test]
    fn submit_sends_each_line_once_with_its_key_and_reports_each_answer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bodies = sign_csv(
            attendance_csv(501).as_bytes(),
            &key(),
            &Id::parse("w1").expect("valid"),
            "2026-03-08T12:00:00Z",
        )
        .expect("signed");
        let file = dir.path().join("w1.signed.jsonl");
        write_jsonl(&file, &bodies).expect("written");
        let (url, server) = serve(vec![
            (201, r#"{"first_seq":42,"count":1,"checkpoint":{}}"#),
            (
                422,
                r#"{"type":"urn:tranche:problem:unknown_participant","title":"Unprocessable Entity","status":422,"detail":"participant p-00500 is not enrolled","code":"unknown_participant","field":"statement.items[0].participant","item":0}"#,
            ),
        ]);
        let client = Client::new(&format!("{url}/"), "secret").expect("a client");
        let statements = pending(std::slice::from_ref(&file))
            .expect("read")
            .expect("valid");
        let mut out = Vec::new();
        let tally =
            submit_all(&client, &statements, &mut out, &ProgressBar::hidden(), &[]).expect("sent");
        assert_eq!(
            tally,
            Tally {
                recorded: 1,
                refused: 1,
                failed: 0
            }
        );
        let printed = String::from_utf8(out).expect("utf-8");
        let shown = file.display();
        assert_eq!(
            printed,
            format!(
                "{shown} line 1 (batch w1-1, 500 items): recorded, first_seq 42, count 1\n\
                 {shown} line 2 (batch w1-2, 1 items): refused: HTTP 422 Unprocessable Entity: \
                 item 1: statement.items[0].participant: participant p-00500 is not enrolled \
                 (unknown_participant)\n"
            )
        );
        let requests = server.join().expect("served");
        let text = std::fs::read_to_string(&file).expect("readable");
        for ((head, body), line) in requests.iter().zip(text.lines()) {
            assert!(head.starts_with("POST /v1/evidence HTTP/1.1\r\n"), "{head}");
            let head = head.to_ascii_lowercase();
            assert!(head.contains("authorization: bearer secret\r\n"), "{head}");
            assert!(
                head.contains("content-type: application/json\r\n"),
                "{head}"
            );
            assert!(
                head.contains(&format!("idempotency-key: {}\r\n", idempotency_key(line))),
                "{head}"
            );
            assert_eq!(body, line);
        }
    }

    #[test]
    fn submit_refuses_files_that_are_not_signed_statements_before_sending() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("x.jsonl");
        std::fs::write(&file, "{\"statement\":1}\n\n").expect("written");
        let errors = pending(std::slice::from_ref(&file))
            .expect("read")
            .expect_err("refused");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("x.jsonl line 1: not a signed statement"),
            "{errors:?}"
        );
        assert!(Client::new("https://ledger.example", "t").is_err());
        assert!(Client::new("ledger:8080", "t").is_err());
    }
}
