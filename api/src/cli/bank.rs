//! `tranche bank`: the bank's status reports and statements in (pain.002, camt.053, status CSV).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use tranche_ledger::service::payments::ImportReport;

use super::common::{append_in_batches as append, done, open, Global};

#[derive(Debug, Subcommand)]
pub enum BankCmd {
    /// Import pain.002 status reports, camt.053 statements or status CSV files (detected by
    /// content): confirmations, rejections and returns post; lines that match nothing are
    /// listed as exceptions; a file imported before posts nothing.
    ///
    /// The status CSV: the header `end_to_end_id,status,amount,currency,reason,date`, then one
    /// row per payment; status accepted, rejected, booked or returned; amount and currency
    /// required for booked and returned; reason and date (YYYY-MM-DD) optional
    /// (docs/examples/bank-status.csv). XML: pain.002.001.* and camt.053.001.*.
    ///
    /// Outcomes are dated by the booking date of their statement or status line, a pain.002's
    /// by its creation date (`CreDtTm`); `--date` dates the lines that state none (a CSV row
    /// with no date).
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        /// The accounting date (YYYY-MM-DD) of lines that state no booking date; default:
        /// today in the award's time zone.
        #[arg(long, value_parser = super::journal::parse_date)]
        date: Option<chrono::NaiveDate>,
    },
    /// List imported files, newest first, with their outcomes and exceptions.
    List,
}

fn print_import(r: &ImportReport, file: &str) {
    if r.already_imported {
        println!(
            "{file}: already imported at seq {}; nothing posted",
            r.seq.unwrap_or_default()
        );
        return;
    }
    println!(
        "{file}: {} {} lines, award {}, sha256 {}",
        r.format, r.lines, r.award, r.sha256
    );
    for (status, c) in &r.applied {
        println!("  {status:<10} {:>8}  {:>16}", c.count, c.amount);
    }
    if !r.exceptions.is_empty() {
        println!("  {} line(s) posted nothing:", r.exceptions.len());
        for x in &r.exceptions {
            // A statement line is named by its entry's references and path (a bank file is
            // often one line); a CSV line by its number.
            let place =
                x.at.as_ref()
                    .and_then(|a| a.describe())
                    .unwrap_or_else(|| format!("line {}", x.line));
            println!(
                "    {place}  {:<22} {:<24} {}",
                x.e2e.clone().unwrap_or_default(),
                x.code,
                x.detail
            );
        }
    }
}

pub async fn run(g: &Global, cmd: BankCmd) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    match cmd {
        BankCmd::Import { files, json, date } => {
            let mut reports = Vec::new();
            for path in &files {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("Failed to read {}", path.display()))?;
                let plan = match ledger.plan_import(&bytes, date).await {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("{}:", path.display());
                        return done(Err(e));
                    }
                };
                let report = if plan.report.already_imported {
                    plan.report
                } else {
                    let sha = plan.report.sha256.clone();
                    if let Err(e) = append(&ledger, g, &plan.commands).await {
                        return done(Err(e));
                    }
                    ledger.import_view(&sha).await?
                };
                if !json {
                    print_import(&report, &path.display().to_string());
                }
                reports.push(report);
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&reports).unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BankCmd::List => {
            for r in ledger.imports().await? {
                print_import(&r, &format!("seq {}", r.seq.unwrap_or_default()));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
