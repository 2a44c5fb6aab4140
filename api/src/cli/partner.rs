//! `tranche partner`: the partner's tools on its own machine (`keygen`, `sign`, `submit`,
//! which never open a ledger) and the administrator's side of them (`register`, `key`, which
//! write journal records).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use indicatif::ProgressBar;
use tranche_audit::programme::{Id, PartnerKeyBody, PartnerRegisterBody};
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;

use super::common::{
    append_recorded, bad_file, invalid, open, parse_many, progress_bar, read_text, Global,
};
use crate::partner::sign::{now_text, write_jsonl};
use crate::partner::submit::{pending, submit_all, Client, BUSY_RETRIES};
use crate::partner::{read_limited, sign_csv, PartnerKey, SignRefusal};

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
        PartnerCmd::Register { partner, name } => partner_register(global, &partner, &name).await,
        PartnerCmd::Key { file } => partner_key(global, &file).await,
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

/// FILE with the extension `.signed.jsonl`.
fn default_signed_path(csv: &Path) -> PathBuf {
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

// ---------------------------------------------------------------------------------------------
// Submitting.

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
        progress_bar(statements.len() as u64, "submitting")
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

/// Ledger-side partner registration (`tranche partner register`).
async fn partner_register(g: &Global, partner: &str, name: &str) -> anyhow::Result<ExitCode> {
    let partner = match Id::parse(partner) {
        Ok(p) => p,
        Err(i) => return Ok(invalid(i.within("partner"))),
    };
    let body = PartnerRegisterBody {
        partner,
        name: name.to_string(),
    };
    let ledger = open(g).await?;
    append_recorded(
        &ledger,
        g,
        &[Command::Programme(ProgrammeCommand::PartnerRegister(body))],
    )
    .await
}

/// Ledger-side key registration, rotation or revocation (`tranche partner key FILE`).
async fn partner_key(g: &Global, file: &Path) -> anyhow::Result<ExitCode> {
    let text = read_text(file)?;
    let keys: Vec<PartnerKeyBody> = match parse_many(&text) {
        Ok(v) => v,
        Err(e) => return Ok(bad_file(&e)),
    };
    let commands: Vec<Command> = keys
        .into_iter()
        .map(|k| Command::Programme(ProgrammeCommand::PartnerKey(k)))
        .collect();
    let ledger = open(g).await?;
    append_recorded(&ledger, g, &commands).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::testing::{attendance_csv, key};
    use std::os::unix::fs::PermissionsExt as _;
    use tranche_audit::programme::{parse_public_key, EvidenceBody};

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
}
