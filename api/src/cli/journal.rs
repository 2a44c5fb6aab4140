//! The journal commands: `init`, `account`, `post`, `reverse`, `recover`, `balance`, `log` and
//! `checkpoint`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};
use tranche_audit::money::{format_minor, Currency};
use tranche_audit::record::{kind, Record, TransactionBody};
use tranche_audit::Code;
use tranche_audit::Invalid;
use tranche_ledger::domain::{Command, ReversalError, TransactionInput};
use tranche_ledger::{Ledger, StoreError};

use super::common::{actor, config, open, refused, Global};

/// The largest input `tranche post` reads.
const MAX_POST_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The log's origin: the first line of every checkpoint and the key's name.
    #[arg(long)]
    pub origin: Option<String>,
}

#[derive(Debug, Args)]
pub struct PostArgs {
    /// The file to read, or - for standard input.
    pub file: String,
    /// The accounting date (value date, YYYY-MM-DD) of every transaction that gives no `date`
    /// of its own; default: today in the award's time zone.
    #[arg(long, value_parser = parse_date)]
    pub date: Option<chrono::NaiveDate>,
    /// Mark every transaction as a late correction of this closed quarter (e.g. 2026Q1),
    /// unless it names its own `prior_period`.
    #[arg(long, value_parser = parse_quarter)]
    pub prior_period: Option<tranche_audit::period::Quarter>,
}

/// A `YYYY-MM-DD` date argument.
pub fn parse_date(text: &str) -> Result<chrono::NaiveDate, String> {
    tranche_audit::programme::Date::parse(text)
        .map(|d| d.0)
        .map_err(|e| e.detail)
}

/// A `2026Q1` quarter argument.
pub fn parse_quarter(text: &str) -> Result<tranche_audit::period::Quarter, String> {
    tranche_audit::period::Quarter::parse(text).map_err(|e| e.detail)
}

#[derive(Debug, Args)]
pub struct ReverseArgs {
    pub seq: u64,
    /// Why it is reversed (required: recorded as the reversal's memo).
    #[arg(long, alias = "memo")]
    pub reason: String,
    /// The reversal's accounting date (YYYY-MM-DD), never before the original's; default:
    /// today in the award's time zone. A reversal of a transaction in a closed quarter is
    /// dated in the open period and marked as a late correction of that quarter.
    #[arg(long, value_parser = parse_date)]
    pub date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    pub seq: u64,
    /// What was overpaid, at the award's scale (e.g. 12.00).
    #[arg(long)]
    pub amount: String,
    /// Why (required: recorded as the recovery's memo).
    #[arg(long)]
    pub reason: String,
    /// The recovery's accounting date (YYYY-MM-DD), never before the entitlement's; default:
    /// today in the award's time zone.
    #[arg(long, value_parser = parse_date)]
    pub date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// An account or a prefix such as `expense` (whole segments only).
    pub prefix: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// First seq to show (default: the last LIMIT records).
    #[arg(long)]
    pub from: Option<u64>,
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print the canonical record bytes instead of a summary.
    #[arg(long)]
    pub raw: bool,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// `tranche init`: creates the ledger (or opens the one there) and says what it is.
pub async fn init(g: &Global, args: InitArgs) -> anyhow::Result<ExitCode> {
    let ledger = Ledger::open(&config(g, args.origin))
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

/// `tranche checkpoint`: the verifier key and the latest signed checkpoint.
pub async fn checkpoint(g: &Global) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    println!("{}", ledger.verifier().to_vkey());
    if let Some(cp) = ledger.store().latest_checkpoint().await? {
        print!("\n{}", cp.note);
    }
    Ok(ExitCode::SUCCESS)
}

/// `tranche account`: open, close or list accounts.
pub async fn account(g: &Global, cmd: AccountCmd) -> anyhow::Result<ExitCode> {
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

/// `tranche post`: one transaction or JSON Lines of them, as one all-or-nothing batch.
pub async fn post(g: &Global, args: PostArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.as_str();
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
        Ok(mut c) => {
            for command in &mut c {
                if let Command::Transaction(t) = command {
                    t.date = t.date.or(args.date);
                    t.prior_period = t.prior_period.or(args.prior_period);
                }
            }
            c
        }
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

/// `tranche reverse`: the exact reversal of a transaction.
pub async fn reverse(g: &Global, args: ReverseArgs) -> anyhow::Result<ExitCode> {
    let ReverseArgs {
        seq,
        reason: memo,
        date,
    } = args;
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
    let command = match Command::reversal_of(&record, memo, date) {
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

/// `tranche recover`: part of a paid entitlement recovered.
pub async fn recover(g: &Global, args: RecoverArgs) -> anyhow::Result<ExitCode> {
    let (seq, amount, reason) = (args.seq, args.amount.as_str(), args.reason.as_str());
    let ledger = open(g).await?;
    let commands = match ledger
        .recovery_commands(seq, amount, reason, args.date)
        .await
    {
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

/// `tranche balance`: balances per account and currency, with totals per currency.
pub async fn balance(g: &Global, args: BalanceArgs) -> anyhow::Result<ExitCode> {
    let (prefix, format) = (args.prefix.as_deref().unwrap_or(""), args.format);
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

/// `tranche log`: journal records, summarised or as their canonical bytes.
pub async fn log(g: &Global, args: LogArgs) -> anyhow::Result<ExitCode> {
    let LogArgs { from, limit, raw } = args;
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
