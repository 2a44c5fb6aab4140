//! `tranche export`: the journal for offline verification, or as plain-text accounting.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::common::{open, progress_bar, Global};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Directory to write (created if missing); with --format hledger or beancount, the
    /// file to write.
    pub dir: PathBuf,
    /// `jsonl` (the verifiable export: records, checkpoint, key), or the journal as plain
    /// text accounting for `hledger` or `beancount`, balancing to `tranche balance`.
    #[arg(long, default_value = "jsonl")]
    pub format: String,
    /// Export up to the latest checkpoint cosigned by witnesses, with their cosignatures
    /// (for `tranche-verify --witness KEY`).
    #[arg(long)]
    pub cosigned: bool,
}

pub async fn run(g: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let ExportArgs {
        dir,
        format,
        cosigned,
    } = args;
    if format != "jsonl" {
        return text(g, &dir, &format).await;
    }
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

/// The journal as hledger or Beancount.
async fn text(g: &Global, dir: &std::path::Path, format: &str) -> anyhow::Result<ExitCode> {
    let Some(text) = tranche_ledger::service::export_text::TextFormat::parse(format) else {
        anyhow::bail!("--format {format:?} is not a format: use jsonl, hledger or beancount");
    };
    let ledger = open(g).await?;
    let total = ledger.store().tree_size().await?;
    let bar = progress_bar(total, "exporting");
    let size = tranche_ledger::service::export_text::export_text(&ledger, dir, text, |n, _| {
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
