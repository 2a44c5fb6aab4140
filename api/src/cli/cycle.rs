//! `tranche cycle run`: an award's entitlements for a month, computed, posted and reported.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use clap::Subcommand;
use tranche_audit::programme::{Id, Period};

use super::common::{actor, invalid, open, progress_bar, refused, Global};

#[derive(Debug, Subcommand)]
pub enum CycleCmd {
    /// Compute every entitlement of an award for a month and post them; write the report.
    ///
    /// Running it again posts nothing new; after late or corrected evidence it posts only the
    /// difference (new entitlements, or reversals of ones whose evidence changed).
    Run {
        #[arg(long)]
        award: String,
        /// The month, YYYY-MM.
        #[arg(long)]
        period: String,
        /// Directory for the report (JSON and CSV); default: the current directory.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Compute and report, post nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(g: &Global, cmd: CycleCmd) -> anyhow::Result<ExitCode> {
    let CycleCmd::Run {
        award,
        period,
        out,
        dry_run,
    } = cmd;
    let award = match Id::parse(&award) {
        Ok(a) => a,
        Err(i) => return Ok(invalid(i.within("award"))),
    };
    let period = match Period::parse(&period) {
        Ok(p) => p,
        Err(i) => return Ok(invalid(i)),
    };
    let ledger = open(g).await?;
    let report = if dry_run {
        match ledger.preview_cycle(&award, period).await {
            Ok(c) => c.report,
            Err(e) => return refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
        }
    } else {
        let bar = progress_bar(0, "posting entitlements");
        let result = ledger
            .run_cycle(&award, period, &actor(g), Utc::now(), &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await;
        bar.finish_and_clear();
        match result {
            Ok(r) => r,
            Err(e) => return refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("Failed to create {}", out.display()))?;
    let stem = format!("cycle-{award}-{period}");
    let json = out.join(format!("{stem}.json"));
    let lines = out.join(format!("{stem}-lines.csv"));
    let exceptions = out.join(format!("{stem}-exceptions.csv"));
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    std::fs::write(&lines, report.lines_csv())?;
    std::fs::write(&exceptions, report.exceptions_csv())?;
    println!(
        "cycle {award} {period}{}: {} participants, {} new entitlements, {} reversals, net payable {} {}",
        if dry_run { " (dry run, nothing posted)" } else { "" },
        report.participants,
        report.entitlements,
        report.reversals,
        report.net_payable,
        report.currency
    );
    println!(
        "  {:<10} {:<22} {:<10} {:>6} {:>14} {:>6} {:>14}",
        "rule", "budget line", "kind", "count", "amount", "rev.", "reversed"
    );
    for l in &report.lines {
        println!(
            "  {:<10} {:<22} {:<10} {:>6} {:>14} {:>6} {:>14}",
            l.rule, l.budget_line, l.kind, l.entitlements, l.amount, l.reversals, l.reversed_amount
        );
    }
    if report.exceptions.is_empty() {
        println!("  no exceptions");
    } else {
        println!("  exceptions:");
        for (reason, n) in &report.exception_counts {
            println!("    {reason:<24} {n}");
        }
    }
    println!(
        "report: {}, {}, {}",
        json.display(),
        lines.display(),
        exceptions.display()
    );
    Ok(ExitCode::SUCCESS)
}
