//! `tranche-bench`: measures and prints figures; it asserts nothing. Append throughput is
//! measured on a fresh ledger per backend with batches of two-posting transactions, the way a
//! cycle or a payment file posts them; `cycle` measures a whole programme month at scale. It is
//! a binary of its own so that none of it is in `tranche`; it drives the ledger through
//! `tranche-api`'s library and runs the `tranche` and `tranche-verify` built beside it.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use clap::Parser;
use tranche_audit::account::AccountName;
use tranche_audit::money::{Currency, Money};
use tranche_audit::posting::{Posting, Side};
use tranche_ledger::domain::{Command, NewTransaction};
use tranche_ledger::testkit::pgtemp::TempCluster;
use tranche_ledger::{Config, Ledger};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchKind {
    /// Append throughput on both backends and verifier throughput.
    Journal,
    /// The HTTP server: transactions/s and latency with 1, 8 and 64 clients; proof latency.
    Api,
    /// A programme at scale: participant registration, signed evidence, a monthly cycle over
    /// `--participants` people (and its re-run), and loading the programme state from scratch.
    Cycle,
    /// A batch of `--participants` payments: build, freeze, two approvals, pain.001, sent, and
    /// a camt.053 booking all of them imported.
    Disburse,
    /// SF-425 and budget vs actual on a journal of `--transactions` transactions, and a report
    /// recomputed from an export.
    Reports,
    /// A whole organisation at scale on both backends: `--participants` people in `--awards`
    /// awards and `--cohorts` cohorts, `--months` months of attendance and cycles, a batch of
    /// one award's payments, one-shot CLI commands and `tranche serve` (time and memory).
    Scale,
}

#[derive(Debug, Parser)]
#[command(
    name = "tranche-bench",
    version,
    about = "Measure append and verification throughput and print the figures"
)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = BenchKind::Journal)]
    pub kind: BenchKind,
    /// For `api`: transactions posted at each concurrency level.
    #[arg(long, default_value_t = 4_000)]
    pub requests: u64,
    /// For `api`: records in the journal the inclusion-proof latency is measured on (0 to skip).
    #[arg(long, default_value_t = 1_000_000)]
    pub proof_records: u64,
    /// Transactions per backend (two postings each).
    #[arg(long, default_value_t = 50_000)]
    pub transactions: u64,
    /// Transactions per append batch (one database transaction and one checkpoint each).
    #[arg(long, default_value_t = 1_000)]
    pub batch: u64,
    /// PostgreSQL URL of an empty database to use; default: a throwaway local cluster. For
    /// `cycle`, which runs on SQLite unless told otherwise: run on PostgreSQL instead (given
    /// alone, on a throwaway cluster).
    #[arg(long, env = "TRANCHE_BENCH_POSTGRES", num_args = 0..=1, default_missing_value = "")]
    pub postgres: Option<String>,
    /// Skip the PostgreSQL figures.
    #[arg(long)]
    pub skip_postgres: bool,
    /// Records in the synthetic export the verifier benchmark checks (0 to skip).
    #[arg(long, default_value_t = 1_000_000)]
    pub verify_records: u64,
    /// In that export, one partner-signed evidence statement every this many records (0: none).
    #[arg(long, default_value_t = tranche_audit::synth::Shape::WITH_EVIDENCE.evidence_every)]
    pub verify_statement_every: u64,
    /// Attendance items in each of those statements.
    #[arg(long, default_value_t = tranche_audit::synth::Shape::WITH_EVIDENCE.items_per_statement)]
    pub verify_statement_items: usize,
    /// For `cycle`: participants in the award (cohorts of 25, 20 sessions each in the month);
    /// for `disburse`: payments in the batch.
    #[arg(long, default_value_t = 100_000)]
    pub participants: u64,
    /// For `cycle`: signed statements per append (the API's group commit merges concurrent
    /// submissions the same way).
    #[arg(long, default_value_t = 10)]
    pub statements_per_append: u64,
    /// For `scale`: awards the participants are spread over.
    #[arg(long, default_value_t = 10)]
    pub awards: u64,
    /// For `scale`: cohorts, spread over the awards (20 sessions a month each).
    #[arg(long, default_value_t = 200)]
    pub cohorts: u64,
    /// For `scale`: months of attendance and cycles, from January 2026.
    #[arg(long, default_value_t = 6)]
    pub months: u32,
}

/// `tranche-bench api`.
mod api;
/// `tranche-bench cycle`.
mod cycle;
/// `tranche-bench disburse`.
mod disburse;
/// `tranche-bench reports`.
mod reports;
/// `tranche-bench scale`.
mod scale;

fn main() -> ExitCode {
    let args = BenchArgs::parse();
    let runtime = match tranche_api::start("warn") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A binary of the workspace built beside this one (`tranche`, `tranche-verify`).
pub(crate) fn sibling(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()
        .context("Failed to locate this executable")?
        .with_file_name(name);
    if !exe.exists() {
        anyhow::bail!(
            "{} is missing: build it with `cargo build --release --bins`",
            exe.display()
        );
    }
    Ok(exe)
}

/// A ledger configuration on PostgreSQL: `--postgres URL`, or a new database on a throwaway
/// durable cluster (returned so that it lives as long as the benchmark).
pub(crate) async fn postgres_config(
    args: &BenchArgs,
    dir: &std::path::Path,
    db: &str,
) -> anyhow::Result<(Config, Option<TempCluster>)> {
    let (url, cluster) = match args.postgres.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => (url.to_string(), None),
        None => {
            let cluster = TempCluster::start(true).context(
                "Failed to start a throwaway PostgreSQL cluster (pass --postgres URL or --skip-postgres)",
            )?;
            (cluster.create_database(db).await?, Some(cluster))
        }
    };
    let mut config = Config::new(dir.join(db));
    config.database_url = Some(url);
    Ok((config, cluster))
}

/// Payees cycled through by the benchmark, so balances spread over many accounts as in a cycle.
const PAYEES: u64 = 1_000;

fn posting(account: &str, side: Side, money: Money) -> anyhow::Result<Posting> {
    Ok(Posting {
        account: AccountName::parse(account).map_err(|e| anyhow::anyhow!("{e}"))?,
        side,
        money,
    })
}

/// The accounts every benchmark posts to.
pub(crate) fn append_bench_commands() -> anyhow::Result<Vec<Command>> {
    let mut opens = vec![
        Command::open_account("expense:c4t-stipend", "expense", None)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    ];
    for p in 0..PAYEES {
        opens.push(
            Command::open_account(&format!("payable:participant:P-{p:05}"), "liability", None)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    Ok(opens)
}

/// The k-th benchmark stipend: a two-posting transaction to one of the payees.
pub(crate) fn stipend_command(k: u64, usd: Currency) -> anyhow::Result<Command> {
    let amount = Money::from_minor(6000 + (k % 100) as i64, usd);
    Ok(Command::Transaction(NewTransaction {
        memo: format!("C4T stipend {k}"),
        postings: vec![
            posting("expense:c4t-stipend", Side::Debit, amount)?,
            posting(
                &format!("payable:participant:P-{:05}", k % PAYEES),
                Side::Credit,
                amount,
            )?,
        ],
        reverses: None,
        date: None,
        prior_period: None,
    }))
}

async fn append_bench(ledger: &Ledger, args: &BenchArgs) -> anyhow::Result<(f64, f64)> {
    let usd = Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e}"))?;
    ledger
        .append(&append_bench_commands()?, "bench", Utc::now())
        .await?;
    let batches = args.transactions.div_ceil(args.batch);
    let bar = tranche_api::cli::common::progress_bar(batches, ledger.store().backend_name());
    let mut elapsed = std::time::Duration::ZERO;
    let mut posted = 0u64;
    for b in 0..batches {
        let n = args.batch.min(args.transactions - posted);
        let commands = (0..n)
            .map(|i| stipend_command(b * args.batch + i, usd))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Only the append is timed: building the input is the caller's work.
        let start = Instant::now();
        ledger.append(&commands, "bench", Utc::now()).await?;
        elapsed += start.elapsed();
        posted += n;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let secs = elapsed.as_secs_f64();
    Ok((posted as f64 * 2.0 / secs, posted as f64 / secs))
}

fn report(backend: &str, args: &BenchArgs, figures: (f64, f64)) {
    println!(
        "append {backend:<8} {} transactions in batches of {}: {:>10.0} postings/s ({:.0} transactions/s)",
        args.transactions, args.batch, figures.0, figures.1
    );
}

async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.kind {
        BenchKind::Api => return crate::api::run(&args).await,
        BenchKind::Cycle => return crate::cycle::run(&args).await,
        BenchKind::Disburse => return crate::disburse::run(&args).await,
        BenchKind::Reports => return crate::reports::run(&args).await,
        BenchKind::Scale => return crate::scale::run(&args).await,
        BenchKind::Journal => {}
    }
    println!(
        "tranche-bench: {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let dir = tempfile::tempdir().context("Failed to create a temporary directory")?;
    let ledger = Ledger::open(&Config::new(dir.path().join("sqlite")))
        .await
        .context("Failed to open the SQLite ledger")?;
    let figures = append_bench(&ledger, &args).await?;
    report("sqlite", &args, figures);
    drop(ledger);

    if !args.skip_postgres {
        let (config, _cluster) = postgres_config(&args, dir.path(), "bench").await?;
        let ledger = Ledger::open(&config)
            .await
            .context("Failed to open the PostgreSQL ledger")?;
        let figures = append_bench(&ledger, &args).await?;
        report("postgres", &args, figures);
    }

    if args.verify_records > 0 {
        let shape = tranche_audit::synth::Shape {
            evidence_every: args.verify_statement_every,
            items_per_statement: args.verify_statement_items,
        };
        crate::verify_bench(dir.path(), args.verify_records, shape)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the real `tranche-verify` binary on a synthetic export of `records` records of `shape`
/// (with partner-signed statements, unless the shape has none), timing it and sampling its peak
/// resident memory (VmHWM) until it exits.
pub fn verify_bench(
    dir: &std::path::Path,
    records: u64,
    shape: tranche_audit::synth::Shape,
) -> anyhow::Result<()> {
    if shape.evidence_every > 0
        && !(1..=tranche_audit::programme::MAX_STATEMENT_ITEMS).contains(&shape.items_per_statement)
    {
        anyhow::bail!(
            "a statement holds 1 to {} items",
            tranche_audit::programme::MAX_STATEMENT_ITEMS
        );
    }
    let export = dir.join("verify-export");
    let start = Instant::now();
    let info = tranche_audit::synth::write_export_with(&export, records, shape)
        .context("Failed to write the synthetic export")?;
    let generated = start.elapsed();
    let exe = sibling("tranche-verify")?;
    let start = Instant::now();
    let mut child = std::process::Command::new(&exe)
        .arg(&export)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("Failed to run {}", exe.display()))?;
    // The summary is one short line: reading it after the exit cannot fill the pipe.
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(kib) = status_kib(&status_path, "VmHWM") {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let secs = start.elapsed().as_secs_f64();
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read as _;
        stdout
            .read_to_string(&mut out)
            .context("Failed to read the verifier's summary")?;
    }
    if !status.success() {
        anyhow::bail!("tranche-verify rejected the synthetic export ({status}): {out}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(out.trim()).context("Failed to parse the verifier's summary")?;
    let statements = summary["evidence_statements"].as_u64().unwrap_or(0);
    let items = summary["evidence_items"].as_u64().unwrap_or(0);
    println!(
        "verify   {records} records, {statements} signed statements ({items} items), {:.0} MiB \
         (export written in {:.1} s): {:.2} s, {:>10.0} records/s, {:>8.0} signed statements/s, \
         peak memory {:.1} MiB",
        info.bytes as f64 / (1024.0 * 1024.0),
        generated.as_secs_f64(),
        secs,
        records as f64 / secs,
        statements as f64 / secs,
        peak_kib as f64 / 1024.0
    );
    Ok(())
}

/// A memory figure (`VmHWM`: peak resident, `VmRSS`: resident now) of a process, in KiB, from
/// its `/proc/PID/status`; `None` where there is no such file (not Linux, or the process ended).
pub(crate) fn status_kib(status_path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
}
