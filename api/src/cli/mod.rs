//! The commands of `tranche`, one module per command group. Each handler opens the ledger, does
//! one thing, and prints what a finance officer needs to see. Bad input is reported with the
//! field and the rule (exit code 3), and nothing is written. The groups share only
//! [`common`]; none uses another.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Awards and the versions of their rules.
pub mod award;
/// Bank status reports and statements in.
pub mod bank;
/// Payment batches, from settings to sending.
pub mod batch;
/// Cohorts and their sessions.
pub mod cohort;
/// What the groups share: the ledger, the actor, refusals, input files, progress.
pub mod common;
/// Entitlement cycles.
pub mod cycle;
/// Partner-signed evidence recorded directly.
pub mod evidence;
/// The verifiable export and the plain-text accounting exports.
pub mod export;
/// Accounts, posting, reversals, recoveries, balances, the log and the checkpoint.
pub mod journal;
/// The checkpoint key's rotation.
pub mod key;
/// Participants: registration, their record, erasure.
pub mod participants;
/// The partner's tools and the partner registry.
pub mod partner;
/// Payments and their trace.
pub mod payment;
/// Closed periods: closing and reopening quarters of an award.
pub mod period;
/// Projections rebuilt and checked against the journal.
pub mod rebuild;
/// Signed reports and the reports due.
pub mod report;
/// The HTTP server.
pub mod serve;
/// API users and their tokens.
pub mod users;
/// An independent witness.
pub mod witness;

pub use common::Global;

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

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create the data directory, database and ledger key, and write the first record.
    Init(journal::InitArgs),
    /// Open, close or list accounts.
    #[command(subcommand)]
    Account(journal::AccountCmd),
    /// Post a JSON transaction, or JSON Lines of transactions as one all-or-nothing batch.
    ///
    /// A transaction is {"memo": "...", "postings": [{"account": "bank:operating",
    /// "currency": "USD", "side": "debit", "amount": "60.00"}, ...], "reverses": SEQ?}.
    /// Amounts are strings; per currency, debits must equal credits (a donor's drawdown:
    /// docs/examples/drawdown.json).
    Post(journal::PostArgs),
    /// Post the exact reversal of transaction SEQ (every posting with its side swapped).
    Reverse(journal::ReverseArgs),
    /// Record a recovery of part of the paid entitlement SEQ (an overpayment found after the
    /// bank had the payment): the payee's receivable is debited and the budget line credited,
    /// and the next cycles keep what she owes back from her new entitlements.
    Recover(journal::RecoverArgs),
    /// Show balances per account and currency, for all accounts or those under PREFIX.
    Balance(journal::BalanceArgs),
    /// List journal records.
    Log(journal::LogArgs),
    /// Export the journal for offline verification (records.jsonl, checkpoint, ledger.vkey), or
    /// as hledger or Beancount plain-text accounting.
    Export(export::ExportArgs),
    /// Rebuild balances and other projections from the journal alone.
    Rebuild(rebuild::RebuildArgs),
    /// Start the HTTP server (creating the ledger on first start; prints an admin token once).
    Serve(serve::ServeArgs),
    /// Manage API users and their bearer tokens.
    #[command(subcommand)]
    Users(users::UsersCmd),
    /// Print the ledger's verifier key (C2SP vkey) and latest checkpoint.
    Checkpoint,
    /// Run an independent witness: it cosigns a ledger's checkpoints only when each is
    /// consistent with the last it cosigned (C2SP tlog-witness), so no one can be shown a
    /// forked history it has not seen.
    Witness(witness::WitnessArgs),
    /// The ledger's checkpoint key.
    #[command(subcommand)]
    Key(key::KeyCmd),
    /// A report bound to the latest checkpoint and signed by the ledger: sf425, budget,
    /// payments, bank or participant; or `due` to list the quarterly SF-425 reports due.
    Report(report::ReportArgs),
    /// Payment batches: settings, create, submit, approve, reject, cancel, bank file, send.
    #[command(subcommand)]
    Batch(batch::BatchCmd),
    /// Bank status reports and statements in (pain.002, camt.053, status CSV).
    #[command(subcommand)]
    Bank(bank::BankCmd),
    /// Closed periods: close a quarter once its SF-425 is submitted, reopen it with two
    /// approvers, list an award's quarters.
    #[command(subcommand)]
    Period(period::PeriodCmd),
    /// Payments by end-to-end id.
    #[command(subcommand)]
    Payment(payment::PaymentCmd),
    /// Trace a payment: evidence, rule version, entitlements, batch, approvals, bank file,
    /// sending and the bank's outcome, each with its seq.
    Trace(payment::TraceArgs),
    /// Open and list awards (donor, currency, total, dates, budget lines).
    #[command(subcommand)]
    Award(award::AwardCmd),
    /// Open cohorts and schedule their sessions.
    #[command(subcommand)]
    Cohort(cohort::CohortCmd),
    /// Add versions of the rules that turn evidence into entitlements.
    #[command(subcommand)]
    Rule(award::RuleCmd),
    /// Register participants (pseudonymously), show them, erase their personal data.
    #[command(subcommand)]
    Participants(participants::ParticipantsCmd),
    /// Record partner-signed evidence statements directly in the ledger.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCmd),
    /// Run an entitlement cycle for an award and a month.
    #[command(subcommand)]
    Cycle(cycle::CycleCmd),
    /// Partner tools: generate a signing key, sign evidence CSV, submit it to a ledger.
    #[command(subcommand)]
    Partner(partner::PartnerCmd),
}

/// Runs one command; its exit code says how it went (0 done, 3 input refused, 4 a difference
/// found by `rebuild --check`).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Cmd::Init(args) => journal::init(g, args).await,
        Cmd::Account(cmd) => journal::account(g, cmd).await,
        Cmd::Post(args) => journal::post(g, args).await,
        Cmd::Reverse(args) => journal::reverse(g, args).await,
        Cmd::Recover(args) => journal::recover(g, args).await,
        Cmd::Balance(args) => journal::balance(g, args).await,
        Cmd::Log(args) => journal::log(g, args).await,
        Cmd::Export(args) => export::run(g, args).await,
        Cmd::Rebuild(args) => rebuild::run(g, args).await,
        Cmd::Serve(args) => serve::run(g, args).await,
        Cmd::Users(cmd) => users::run(g, cmd).await,
        Cmd::Checkpoint => journal::checkpoint(g).await,
        Cmd::Witness(args) => witness::run(args).await,
        Cmd::Key(cmd) => key::run(g, cmd).await,
        Cmd::Report(args) => report::run(g, args).await,
        Cmd::Batch(cmd) => batch::run(g, cmd).await,
        Cmd::Bank(cmd) => bank::run(g, cmd).await,
        Cmd::Period(cmd) => period::run(g, cmd).await,
        Cmd::Payment(cmd) => payment::run(g, cmd).await,
        Cmd::Trace(args) => payment::trace(g, args).await,
        Cmd::Award(cmd) => award::award(g, cmd).await,
        Cmd::Cohort(cmd) => cohort::run(g, cmd).await,
        Cmd::Rule(cmd) => award::rule(g, cmd).await,
        Cmd::Participants(cmd) => participants::run(g, cmd).await,
        Cmd::Evidence(cmd) => evidence::run(g, cmd).await,
        Cmd::Cycle(cmd) => cycle::run(g, cmd).await,
        Cmd::Partner(cmd) => partner::run(g, cmd).await,
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
