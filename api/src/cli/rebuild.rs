//! `tranche rebuild`: projections re-derived from the journal alone, or only compared.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::common::{open, progress_bar, Global};

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Only compare rebuilt with live and report every difference; change nothing.
    #[arg(long)]
    pub check: bool,
}

pub async fn run(g: &Global, args: RebuildArgs) -> anyhow::Result<ExitCode> {
    let check = args.check;
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
