//! The commands of `tranche`. Each handler opens the ledger, does one thing, and prints what a
//! finance officer needs to see. Bad input is reported with the field and the rule, and nothing
//! is written.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use chrono::Utc;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tranche_audit::money::{format_minor, Currency};
use tranche_audit::record::{kind, Record, TransactionBody};
use tranche_audit::Code;
use tranche_audit::Invalid;
use tranche_ledger::domain::{Command, ReversalError, TransactionInput};
use tranche_ledger::{Config, Ledger, StoreError};

/// The largest input `tranche post` reads.
const MAX_POST_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Parser)]
#[command(
    name = "tranche",
    version,
    about = "An append-only, signed, double-entry disbursement ledger for humanitarian cash programmes",
    long_about = "tranche keeps the journal of a cash programme: exact money, double entry, every record \
hash-chained and covered by signed Merkle checkpoints, so that an auditor can verify an export offline \
with tranche-verify.\n\nWith no configuration it keeps everything in ./data (SQLite). Set DATABASE_URL \
to a postgres:// URL to use PostgreSQL."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Cmd,
}

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
    /// Path of the ledger's checkpoint signing key (default: DATA_DIR/ledger.key).
    #[arg(long, global = true, env = "TRANCHE_KEY")]
    pub key: Option<PathBuf>,
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
            .field("key", &self.key)
            .field("actor", &self.actor)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create the data directory, database and ledger key, and write the first record.
    Init {
        /// The log's origin: the first line of every checkpoint and the key's name.
        #[arg(long)]
        origin: Option<String>,
    },
    /// Open, close or list accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// Post a JSON transaction, or JSON Lines of transactions as one all-or-nothing batch.
    ///
    /// A transaction is {"memo": "...", "postings": [{"account": "bank:operating",
    /// "currency": "USD", "side": "debit", "amount": "60.00"}, ...], "reverses": SEQ?}.
    /// Amounts are strings; per currency, debits must equal credits.
    Post {
        /// The file to read, or - for standard input.
        file: String,
    },
    /// Post the exact reversal of transaction SEQ (every posting with its side swapped).
    Reverse {
        seq: u64,
        /// Why it is reversed (required: recorded as the reversal's memo).
        #[arg(long, alias = "memo")]
        reason: String,
    },
    /// Record a recovery of part of the paid entitlement SEQ (an overpayment found after the
    /// bank had the payment): the payee's receivable is debited and the budget line credited,
    /// and the next cycles keep what she owes back from her new entitlements.
    Recover {
        seq: u64,
        /// What was overpaid, at the award's scale (e.g. 12.00).
        #[arg(long)]
        amount: String,
        /// Why (required: recorded as the recovery's memo).
        #[arg(long)]
        reason: String,
    },
    /// Show balances per account and currency, for all accounts or those under PREFIX.
    Balance {
        /// An account or a prefix such as `expense` (whole segments only).
        prefix: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// List journal records.
    Log {
        /// First seq to show (default: the last LIMIT records).
        #[arg(long)]
        from: Option<u64>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print the canonical record bytes instead of a summary.
        #[arg(long)]
        raw: bool,
    },
    /// Export the journal for offline verification (records.jsonl, checkpoint, ledger.vkey), or
    /// as hledger or Beancount plain-text accounting.
    Export {
        /// Directory to write (created if missing); with --format hledger or beancount, the
        /// file to write.
        dir: PathBuf,
        /// `jsonl` (the verifiable export: records, checkpoint, key), or the journal as plain
        /// text accounting for `hledger` or `beancount`, balancing to `tranche balance`.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Export up to the latest checkpoint cosigned by witnesses, with their cosignatures
        /// (for `tranche-verify --witness KEY`).
        #[arg(long)]
        cosigned: bool,
    },
    /// Rebuild balances and other projections from the journal alone.
    Rebuild {
        /// Only compare rebuilt with live and report every difference; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Start the HTTP server (creating the ledger on first start; prints an admin token once).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "TRANCHE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// A witness to ask for cosignatures of every checkpoint: URL=VKEY (the witness's
        /// cosigner key, as text or a file). Repeat for several; comma-separated in the
        /// environment variable.
        #[arg(long = "witness", env = "TRANCHE_WITNESSES", value_delimiter = ',')]
        witnesses: Vec<String>,
        /// Served behind a proxy that terminates TLS: every cookie is marked Secure (without
        /// this, only when the proxy sends X-Forwarded-Proto: https).
        #[arg(long, env = "TRANCHE_BEHIND_TLS")]
        behind_tls: bool,
    },
    /// Manage API users and their bearer tokens.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Print the ledger's verifier key (C2SP vkey) and latest checkpoint.
    Checkpoint,
    /// Run an independent witness: it cosigns a ledger's checkpoints only when each is
    /// consistent with the last it cosigned (C2SP tlog-witness), so no one can be shown a
    /// forked history it has not seen.
    Witness(crate::witness::WitnessArgs),
    /// The ledger's checkpoint key.
    #[command(subcommand)]
    Key(KeyCmd),
    /// A report bound to the latest checkpoint and signed by the ledger: sf425, budget,
    /// payments, bank or participant; or `due` to list the quarterly SF-425 reports due.
    Report(ReportArgs),
    /// Payment batches: settings, create, submit, approve, reject, cancel, bank file, send.
    #[command(subcommand)]
    Batch(crate::payments_cli::BatchCmd),
    /// Bank status reports and statements in (pain.002, camt.053, status CSV).
    #[command(subcommand)]
    Bank(crate::payments_cli::BankCmd),
    /// Payments by end-to-end id.
    #[command(subcommand)]
    Payment(crate::payments_cli::PaymentCmd),
    /// Trace a payment: evidence, rule version, entitlements, batch, approvals, bank file,
    /// sending and the bank's outcome, each with its seq.
    Trace {
        /// The payment's end-to-end id.
        e2e: String,
        #[arg(long)]
        json: bool,
    },
    /// Measure append and verification throughput and print the figures.
    Bench(crate::bench::BenchArgs),
    /// Open and list awards (donor, currency, total, dates, budget lines).
    #[command(subcommand)]
    Award(crate::programme_cli::AwardCmd),
    /// Open cohorts and schedule their sessions.
    #[command(subcommand)]
    Cohort(crate::programme_cli::CohortCmd),
    /// Add versions of the rules that turn evidence into entitlements.
    #[command(subcommand)]
    Rule(crate::programme_cli::RuleCmd),
    /// Register participants (pseudonymously), show them, erase their personal data.
    #[command(subcommand)]
    Participants(crate::programme_cli::ParticipantsCmd),
    /// Record partner-signed evidence statements directly in the ledger.
    #[command(subcommand)]
    Evidence(crate::programme_cli::EvidenceCmd),
    /// Run an entitlement cycle for an award and a month.
    #[command(subcommand)]
    Cycle(crate::programme_cli::CycleCmd),
    /// Partner tools: generate a signing key, sign evidence CSV, submit it to a ledger.
    #[command(subcommand)]
    Partner(crate::partner::PartnerCmd),
    /// Load a realistic demo programme (BPRM award in Ecuador, two partners, 1,500
    /// participants, January to June 2026 with its cycles) and create API users for every role.
    Demo(crate::demo::DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Open an account (a journal record).
    Open {
        /// Hierarchical name, e.g. expense:c4t-stipend or payable:participant:P-00012.
        name: String,
        /// asset, liability, equity, income, expense or memo (off-balance).
        #[arg(long = "type")]
        account_type: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Close an account whose balance is zero in every currency.
    Close { name: String },
    /// List accounts.
    List,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// sf425, budget, payments, bank, participant, disaggregation, or due.
    pub kind: String,
    #[arg(long)]
    pub award: String,
    /// A calendar quarter such as 2026Q1 (or --start and --end).
    #[arg(long)]
    pub quarter: Option<String>,
    #[arg(long)]
    pub start: Option<String>,
    #[arg(long)]
    pub end: Option<String>,
    /// For payments: one batch instead of the period.
    #[arg(long)]
    pub batch: Option<String>,
    /// For participant: the pseudonym.
    #[arg(long)]
    pub participant: Option<String>,
    /// For sf425: the indirect cost rate (0.10 for 10%).
    #[arg(long)]
    pub indirect_rate: Option<String>,
    /// For disaggregation: counts under this are suppressed.
    #[arg(long, default_value_t = 5)]
    pub threshold: u64,
    /// json (signed, the default), csv or html.
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// For due: the day to state the reports as of (YYYY-MM-DD); today when absent.
    #[arg(long)]
    pub as_of: Option<String>,
}

async fn report(g: &Global, a: ReportArgs) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    let award = match tranche_audit::programme::Id::parse(&a.award) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("refused: {}", e.within("award"));
            eprintln!("nothing was written");
            return Ok(ExitCode::from(3));
        }
    };
    if !matches!(a.format.as_str(), "json" | "csv" | "html") {
        eprintln!(
            "refused: format: {:?} is not a format: json, csv or html (invalid_format)",
            a.format
        );
        eprintln!("nothing was written");
        return Ok(ExitCode::from(3));
    }
    let text = if a.kind == "due" {
        let as_of = match a.as_of.as_deref().map(crate::server::reports::as_of) {
            None => Utc::now().date_naive(),
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                eprintln!("refused: {e}");
                eprintln!("nothing was written");
                return Ok(ExitCode::from(3));
            }
        };
        match ledger.reports_due(&award, as_of).await {
            Ok(list) => {
                let mut t = format!(
                    "as of {as_of}\n{:<8} {:<12} {:<12} {:<12} {:<9} days left\n",
                    "quarter", "from", "to", "due", "status"
                );
                for d in list {
                    t.push_str(&format!(
                        "{:<8} {:<12} {:<12} {:<12} {:<9} {}\n",
                        d.quarter, d.start, d.end, d.due, d.status, d.days_left
                    ));
                }
                t
            }
            Err(e) => {
                return match refused(&e) {
                    Some(code) => Ok(code),
                    None => Err(e.into()),
                }
            }
        }
    } else {
        let request =
            (|| -> Result<tranche_audit::report_compute::ReportRequest, tranche_audit::Invalid> {
                Ok(tranche_audit::report_compute::ReportRequest {
                    kind: a.kind.clone(),
                    award: award.clone(),
                    period: crate::server::reports::period(
                        a.quarter.as_deref(),
                        a.start.as_deref(),
                        a.end.as_deref(),
                    )?,
                    batch: a
                        .batch
                        .as_deref()
                        .map(|b| {
                            tranche_audit::programme::Id::parse(b).map_err(|e| e.within("batch"))
                        })
                        .transpose()?,
                    participant: a
                        .participant
                        .as_deref()
                        .map(|p| {
                            tranche_audit::programme::Id::parse(p)
                                .map_err(|e| e.within("participant"))
                        })
                        .transpose()?,
                    indirect_bp: crate::server::reports::rate_bp(a.indirect_rate.as_deref())?,
                    threshold: a.threshold,
                })
            })();
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                eprintln!("refused: {e}");
                eprintln!("nothing was written");
                return Ok(ExitCode::from(3));
            }
        };
        let signed = match ledger.report(request, Utc::now()).await {
            Ok(s) => s,
            Err(e) => {
                return match refused(&e) {
                    Some(code) => Ok(code),
                    None => Err(e.into()),
                }
            }
        };
        match a.format.as_str() {
            "json" => serde_json::to_string_pretty(&signed)? + "\n",
            "csv" => tranche_ledger::service::reports::render_csv(&signed),
            _ => tranche_ledger::service::reports::render_html(&signed),
        }
    };
    match a.out {
        Some(path) => {
            std::fs::write(&path, text)
                .with_context(|| format!("Failed to write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Replace the checkpoint key: the retiring key signs the hand-over to a new key in a
    /// `ledger.rotate` journal record, the old key file is kept as ledger.retired-<seq>, and
    /// ledger.vkey is rewritten. Stop the server first and start it again after. Verifiers
    /// given the original key follow the hand-over.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Create a user; its bearer token is printed once and stored only as a hash.
    Add {
        name: String,
        /// admin, preparer, approver, partner, auditor or donor.
        #[arg(long)]
        role: String,
        /// The partner a partner user acts for.
        #[arg(long)]
        partner: Option<String>,
    },
    /// List users.
    List,
    /// Revoke a user's token.
    Revoke { name: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

fn config(g: &Global, origin: Option<String>) -> Config {
    let mut c = Config::new(&g.data_dir);
    c.database_url = g.database_url.clone();
    c.key_path = g.key.clone();
    c.origin = origin;
    c
}

pub(crate) fn actor(g: &Global) -> String {
    g.actor.clone().unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "operator".into())
        )
    })
}

pub(crate) async fn open(g: &Global) -> anyhow::Result<Ledger> {
    Ledger::open(&config(g, None))
        .await
        .context("Failed to open the ledger")
}

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
pub(crate) fn refused(e: &StoreError) -> Option<ExitCode> {
    match e {
        StoreError::Invalid(i) => {
            eprintln!("refused: {i}");
            eprintln!("nothing was written");
            Some(ExitCode::from(3))
        }
        _ => None,
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Cmd::Init { origin } => {
            let ledger = Ledger::open(&config(g, origin))
                .await
                .context("Failed to initialise the ledger")?;
            let size = ledger.store().tree_size().await?;
            println!("ledger ready ({} backend)", ledger.store().backend_name());
            println!("origin:       {}", ledger.origin());
            println!("verifier key: {}", ledger.verifier().to_vkey());
            println!("records:      {size}");
            if g.database_url.is_none() {
                println!("data:         {}", g.data_dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Account(cmd) => account(g, cmd).await,
        Cmd::Post { file } => post(g, &file).await,
        Cmd::Reverse { seq, reason } => reverse(g, seq, reason).await,
        Cmd::Recover {
            seq,
            amount,
            reason,
        } => recover(g, seq, &amount, &reason).await,
        Cmd::Balance { prefix, format } => {
            balance(g, prefix.as_deref().unwrap_or(""), format).await
        }
        Cmd::Log { from, limit, raw } => log(g, from, limit, raw).await,
        Cmd::Export { dir, format, .. } if format != "jsonl" => {
            let Some(text) = tranche_ledger::service::export_text::TextFormat::parse(&format)
            else {
                anyhow::bail!(
                    "--format {format:?} is not a format: use jsonl, hledger or beancount"
                );
            };
            let ledger = open(g).await?;
            let total = ledger.store().tree_size().await?;
            let bar = progress_bar(total, "exporting");
            let size =
                tranche_ledger::service::export_text::export_text(&ledger, &dir, text, |n, _| {
                    bar.set_position(n)
                })
                .await
                .context("Failed to export the journal")?;
            bar.finish_and_clear();
            println!(
                "wrote the journal up to tree size {size} as {format} to {}",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Export { dir, cosigned, .. } => {
            let ledger = open(g).await?;
            let total = ledger.store().tree_size().await?;
            let bar = progress_bar(total, "exporting");
            let progress = |n, _| bar.set_position(n);
            let done = if cosigned {
                tranche_ledger::service::export::export_dir_cosigned(&ledger, &dir, progress).await
            } else {
                tranche_ledger::service::export::export_dir(&ledger, &dir, progress).await
            }
            .context("Failed to export the journal")?;
            bar.finish_and_clear();
            println!(
                "exported {} records ({} bytes) to {}",
                done.records,
                done.bytes,
                dir.display()
            );
            println!(
                "verify with: tranche-verify {} --vkey <the ledger's published vkey>",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Rebuild { check } => rebuild(g, check).await,
        Cmd::Checkpoint => {
            let ledger = open(g).await?;
            println!("{}", ledger.verifier().to_vkey());
            if let Some(cp) = ledger.store().latest_checkpoint().await? {
                print!("\n{}", cp.note);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench(args) => crate::bench::run(args).await,
        Cmd::Serve {
            listen,
            witnesses,
            behind_tls,
        } => serve(g, &listen, &witnesses, behind_tls).await,
        Cmd::Users(cmd) => users(g, cmd).await,
        Cmd::Witness(args) => crate::witness::run(args).await,
        Cmd::Key(KeyCmd::Rotate) => {
            let ledger = open(g).await?;
            let old = ledger.verifier().to_vkey();
            let (vkey, seq) = ledger
                .rotate_key(&config(g, None))
                .await
                .context("Failed to rotate the checkpoint key")?;
            println!("the checkpoint key was rotated at seq {seq}");
            println!("  retired: {old}");
            println!("  new:     {vkey}");
            println!("publish the new key; verifiers given the old one follow the hand-over");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Report(args) => report(g, args).await,
        Cmd::Batch(cmd) => crate::payments_cli::batch(g, cmd).await,
        Cmd::Bank(cmd) => crate::payments_cli::bank(g, cmd).await,
        Cmd::Payment(cmd) => crate::payments_cli::payment(g, cmd).await,
        Cmd::Trace { e2e, json } => crate::payments_cli::trace(g, &e2e, json).await,
        Cmd::Partner(cmd) => crate::partner::run(g, cmd).await,
        Cmd::Demo(args) => crate::demo::run(g, args).await,
        Cmd::Award(cmd) => crate::programme_cli::award(g, cmd).await,
        Cmd::Cohort(cmd) => crate::programme_cli::cohort(g, cmd).await,
        Cmd::Rule(cmd) => crate::programme_cli::rule(g, cmd).await,
        Cmd::Participants(cmd) => crate::programme_cli::participants(g, cmd).await,
        Cmd::Evidence(cmd) => crate::programme_cli::evidence(g, cmd).await,
        Cmd::Cycle(cmd) => crate::programme_cli::cycle(g, cmd).await,
    }
}

async fn account(g: &Global, cmd: AccountCmd) -> anyhow::Result<ExitCode> {
    let command = match &cmd {
        AccountCmd::List => {
            let ledger = open(g).await?;
            println!(
                "{:<48} {:<10} {:>8} {:>8}  description",
                "account", "type", "opened", "closed"
            );
            for a in ledger.store().accounts().await? {
                println!(
                    "{:<48} {:<10} {:>8} {:>8}  {}",
                    a.name,
                    a.account_type,
                    a.opened_seq,
                    a.closed_seq.map(|s| s.to_string()).unwrap_or_default(),
                    a.description.unwrap_or_default()
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        AccountCmd::Open {
            name,
            account_type,
            description,
        } => Command::open_account(name, account_type, description.clone()),
        AccountCmd::Close { name } => Command::close_account(name),
    };
    let command = match command {
        Ok(c) => c,
        Err(i) => return Ok(refused(&StoreError::Invalid(i)).unwrap_or(ExitCode::FAILURE)),
    };
    let ledger = open(g).await?;
    match ledger.append(&[command], &actor(g), Utc::now()).await {
        Ok(done) => {
            println!("recorded at seq {}", done.first_seq);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
    }
}

/// Parses `text` as one JSON transaction or as JSON Lines of transactions. Errors name the
/// line (for JSON Lines) and the field.
pub fn parse_transactions(text: &str) -> Result<Vec<Command>, (Option<usize>, Invalid)> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err((
            None,
            Invalid::new("", Code::EmptyInput, "no transaction given"),
        ));
    }
    // A single (possibly pretty-printed) object.
    if let Ok(serde_json::Value::Object(_)) = serde_json::from_str::<serde_json::Value>(trimmed) {
        let input = TransactionInput::from_json(trimmed).map_err(|e| (None, e))?;
        return input.into_command().map(|c| vec![c]).map_err(|e| (None, e));
    }
    let mut commands = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let command = TransactionInput::from_json(line)
            .and_then(TransactionInput::into_command)
            .map_err(|e| (Some(i + 1), e))?;
        commands.push(command);
    }
    Ok(commands)
}

async fn post(g: &Global, file: &str) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .take(MAX_POST_BYTES + 1)
            .read_to_string(&mut text)
            .context("Failed to read standard input")?;
    } else {
        std::fs::File::open(file)
            .with_context(|| format!("Failed to open {file}"))?
            .take(MAX_POST_BYTES + 1)
            .read_to_string(&mut text)
            .with_context(|| format!("Failed to read {file}"))?;
    }
    if text.len() as u64 > MAX_POST_BYTES {
        bail!("input is larger than {MAX_POST_BYTES} bytes: split it into several batches");
    }
    let commands = match parse_transactions(&text) {
        Ok(c) => c,
        Err((line, e)) => {
            match line {
                Some(n) => eprintln!("refused: line {n}: {e}"),
                None => eprintln!("refused: {e}"),
            }
            eprintln!("nothing was written: the whole batch is refused");
            return Ok(ExitCode::from(3));
        }
    };
    let ledger = open(g).await?;
    match ledger.append(&commands, &actor(g), Utc::now()).await {
        Ok(done) => {
            let last = done.first_seq + done.count - 1;
            println!(
                "posted {} transaction(s) at seq {}..={}; checkpoint: tree size {}",
                done.count, done.first_seq, last, done.checkpoint.size
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(StoreError::Invalid(i)) => {
            // Map the batch position back to the input line for JSON Lines.
            let line = i.item.and_then(|item| {
                text.lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                    .nth(item)
                    .map(|(n, _)| n + 1)
            });
            let mut shown = i.clone();
            shown.item = None;
            match (line, commands.len() > 1) {
                (Some(n), true) => eprintln!("refused: line {n}: {shown}"),
                _ => eprintln!("refused: {shown}"),
            }
            eprintln!("nothing was written: the whole batch is refused");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

async fn reverse(g: &Global, seq: u64, memo: String) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    let Some(stored) = ledger
        .store()
        .records(seq, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == seq)
    else {
        eprintln!("refused: reverses: seq {seq} does not exist (unknown_transaction)");
        return Ok(ExitCode::from(3));
    };
    let record = Record::decode(&stored.bytes).context("Failed to read the original record")?;
    let command = match Command::reversal_of(&record, memo) {
        Ok(c) => c,
        Err(e @ ReversalError::NotATransaction { .. }) => {
            eprintln!("refused: reverses: {e} (unknown_transaction)");
            return Ok(ExitCode::from(3));
        }
        Err(e @ ReversalError::NoReason) => {
            eprintln!("refused: reason: {e} (reason_required)");
            eprintln!("nothing was written");
            return Ok(ExitCode::from(3));
        }
        Err(e) => return Err(e).context("Failed to read the original transaction"),
    };
    match ledger.append(&[command], &actor(g), Utc::now()).await {
        Ok(done) => {
            println!("seq {seq} reversed by seq {}", done.first_seq);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
    }
}

async fn recover(g: &Global, seq: u64, amount: &str, reason: &str) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    let commands = match ledger.recovery_commands(seq, amount, reason).await {
        Ok(c) => c,
        Err(e) => return refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
    };
    match ledger.append(&commands, &actor(g), Utc::now()).await {
        Ok(done) => {
            println!(
                "{amount} of entitlement seq {seq} recovered by seq {}",
                done.first_seq + done.count - 1
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
    }
}

async fn balance(g: &Global, prefix: &str, format: Format) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    let rows = ledger.store().balances(prefix).await?;
    let mut totals: BTreeMap<String, (i128, i128)> = BTreeMap::new();
    let mut out = std::io::stdout().lock();
    let fmt = |minor: i128, code: &str| {
        Currency::parse(code).map_or_else(|_| minor.to_string(), |c| format_minor(minor, c))
    };
    match format {
        Format::Table => writeln!(
            out,
            "{:<48} {:<4} {:>18} {:>18} {:>18}",
            "account", "cur", "debits", "credits", "balance"
        )?,
        Format::Csv => writeln!(out, "account,currency,debits,credits,balance")?,
        Format::Json => {}
    }
    let mut json = Vec::new();
    for r in &rows {
        let (d, c) = (i128::from(r.debit_minor), i128::from(r.credit_minor));
        let t = totals.entry(r.currency.clone()).or_default();
        t.0 += d;
        t.1 += c;
        let (ds, cs, bs) = (
            fmt(d, &r.currency),
            fmt(c, &r.currency),
            fmt(d - c, &r.currency),
        );
        match format {
            Format::Table => writeln!(
                out,
                "{:<48} {:<4} {ds:>18} {cs:>18} {bs:>18}",
                r.account, r.currency
            )?,
            Format::Csv => writeln!(out, "{},{},{ds},{cs},{bs}", r.account, r.currency)?,
            Format::Json => json.push(serde_json::json!({
                "account": r.account, "currency": r.currency,
                "debits": ds, "credits": cs, "balance": bs,
            })),
        }
    }
    match format {
        Format::Table => {
            for (cur, (d, c)) in &totals {
                writeln!(
                    out,
                    "{:<48} {cur:<4} {:>18} {:>18} {:>18}",
                    "total",
                    fmt(*d, cur),
                    fmt(*c, cur),
                    fmt(d - c, cur)
                )?;
            }
        }
        Format::Csv => {}
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn log(g: &Global, from: Option<u64>, limit: u32, raw: bool) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    let size = ledger.store().tree_size().await?;
    let from = from.unwrap_or_else(|| size.saturating_sub(u64::from(limit)));
    let mut out = std::io::stdout().lock();
    for stored in ledger.store().records(from, limit).await? {
        if raw {
            out.write_all(&stored.bytes)?;
            out.write_all(b"\n")?;
            continue;
        }
        let record = Record::decode(&stored.bytes).context("Failed to read a stored record")?;
        let summary = summarize(&record);
        writeln!(
            out,
            "{:>8}  {}  {:<14} {:<20} {summary}",
            record.seq,
            tranche_audit::record::format_time(record.at),
            record.kind,
            record.actor
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn summarize(record: &Record) -> String {
    let b = &record.body;
    let s = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    match record.kind.as_str() {
        kind::ACCOUNT_OPEN => format!("{} ({})", s("name"), s("type")),
        kind::ACCOUNT_CLOSE => s("name"),
        kind::LEDGER_KEY => format!("origin {}", s("origin")),
        kind::TRANSACTION => {
            let body: Option<TransactionBody> = serde_json::from_value(b.clone()).ok();
            match body {
                Some(t) => {
                    let moved: Vec<String> = t
                        .postings
                        .iter()
                        .filter(|p| p.side == tranche_audit::posting::Side::Debit)
                        .map(|p| format!("{} {} -> {}", p.currency, p.amount, p.account))
                        .collect();
                    let rev = t
                        .reverses
                        .map(|r| format!(" [reverses {r}]"))
                        .unwrap_or_default();
                    format!("{}{rev}: {}", t.memo, moved.join(", "))
                }
                None => String::new(),
            }
        }
        _ => String::new(),
    }
}

async fn rebuild(g: &Global, check: bool) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    let total = ledger.store().tree_size().await?;
    if !check {
        ledger
            .store()
            .replace_projections()
            .await
            .context("Failed to rebuild the projections")?;
        println!("projections rebuilt from {total} records");
    }
    let bar = progress_bar(total, "checking");
    let report =
        tranche_ledger::store::rebuild::check(ledger.store(), ledger.verifier(), |n, _| {
            bar.set_position(n)
        })
        .await
        .context("Failed to check the projections")?;
    bar.finish_and_clear();
    if report.is_clean() {
        println!(
            "rebuilt equals live: {} records, {} checkpoints checked, no difference",
            report.records, report.checkpoints
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{} difference(s) between the journal and the live state:",
            report.differences_total
        );
        for d in &report.differences {
            println!("  {d}");
        }
        Ok(ExitCode::from(4))
    }
}

async fn serve(
    g: &Global,
    listen: &str,
    witnesses: &[String],
    behind_tls: bool,
) -> anyhow::Result<ExitCode> {
    let witnesses = witnesses
        .iter()
        .map(|w| {
            crate::server::cosign::WitnessConfig::parse(w)
                .map_err(|e| anyhow::anyhow!("--witness {w}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ledger = open(g).await?;
    if ledger.store().users().await?.is_empty() {
        let (_, token) = crate::server::routes::new_user(&ledger, "admin", "admin", None)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
        println!("first start: created user 'admin'. Its token is shown only now:");
        println!("  {token}");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("Failed to listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "tranche listening on http://{addr} ({} backend, origin {})",
        ledger.store().backend_name(),
        ledger.origin()
    );
    std::io::stdout().flush()?;
    tracing::info!(%addr, "listening");
    for w in &witnesses {
        println!(
            "  collecting cosignatures from {} at {}",
            w.verifier.name(),
            tranche_ledger::redact::redact_url(&w.url)
        );
    }
    let options = crate::server::ServeOptions {
        witnesses,
        behind_tls,
    };
    crate::server::serve_with(listener, ledger, options, shutdown_signal())
        .await
        .context("Server failed")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn users(g: &Global, cmd: UsersCmd) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    match cmd {
        UsersCmd::Add {
            name,
            role,
            partner,
        } => match crate::server::routes::new_user(&ledger, &name, &role, partner.as_deref()).await
        {
            Ok((user, token)) => {
                println!(
                    "created {} ({}). Its token is shown only now:",
                    user.name, user.role
                );
                println!("{token}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!(
                    "refused: {}{} ({})",
                    e.field.map(|f| format!("{f}: ")).unwrap_or_default(),
                    e.detail,
                    e.code
                );
                eprintln!("nothing was written");
                Ok(ExitCode::from(3))
            }
        },
        UsersCmd::List => {
            println!(
                "{:<24} {:<10} {:<16} {:<28} revoked",
                "name", "role", "partner", "created"
            );
            for u in ledger.store().users().await? {
                println!(
                    "{:<24} {:<10} {:<16} {:<28} {}",
                    u.name,
                    u.role,
                    u.partner.unwrap_or_default(),
                    u.created_at,
                    u.revoked_at.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        UsersCmd::Revoke { name } => {
            let now = tranche_audit::record::format_time(Utc::now());
            match ledger.store().revoke_user(&name, &now).await {
                Ok(true) => {
                    println!("revoked {name}");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(false) => {
                    eprintln!("refused: name: no active user named {name:?} (unknown_user)");
                    Ok(ExitCode::from(3))
                }
                Err(tranche_ledger::StoreError::Invalid(i)) => {
                    eprintln!("refused: {}: {} ({})", i.field, i.detail, i.code);
                    Ok(ExitCode::from(3))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_parsed_command_line_never_prints_the_database_password() {
        let cli = Cli::try_parse_from([
            "tranche",
            "--database-url",
            "postgres://app:s3cret@db.example/tranche",
            "init",
        ])
        .expect("parses");
        let shown = format!("{cli:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db.example/tranche"),
            "{shown}"
        );
    }

    #[test]
    fn help_never_shows_the_database_url_from_the_environment() {
        // clap prints `[env: DATABASE_URL=<value>]` in help unless told not to.
        let command = Cli::command();
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == "database_url")
            .expect("the --database-url option");
        assert!(arg.is_hide_env_values_set());
    }
}
