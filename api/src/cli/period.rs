//! `tranche period`: closing a quarter of an award once its SF-425 is submitted, and reopening
//! it with a reason and a second approver.

use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;
use tranche_audit::period::Quarter;

use super::common::{actor, done, open, parse_id, Global};
use super::journal::parse_quarter;

#[derive(Debug, Subcommand)]
pub enum PeriodCmd {
    /// Close a quarter: its SF-425 is computed at the latest checkpoint and its digest
    /// recorded; from then on nothing can be dated in the quarter (late corrections go in the
    /// open period, citing it with `--prior-period`). Quarters close in order, once ended.
    Close {
        #[arg(long)]
        award: String,
        /// The quarter, e.g. 2026Q1.
        #[arg(long, value_parser = parse_quarter)]
        quarter: Quarter,
        /// The SF-425's indirect cost rate as submitted, e.g. 0.10 (as `report sf425`).
        #[arg(long)]
        indirect_rate: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Ask to reopen the last closed quarter (with a reason), or, as a second approver,
    /// approve the pending request: the quarter reopens then.
    Reopen {
        #[arg(long)]
        award: String,
        #[arg(long, value_parser = parse_quarter)]
        quarter: Quarter,
        /// Why it is reopened (recorded in the journal).
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Every quarter of an award: open, closed or awaiting a second approver to reopen.
    List {
        #[arg(long)]
        award: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(g: &Global, cmd: PeriodCmd) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    let result = async {
        match cmd {
            PeriodCmd::Close {
                award,
                quarter,
                indirect_rate,
                json,
            } => {
                let award = parse_id(&award, "award")?;
                let bp = crate::server::reports::rate_bp(indirect_rate.as_deref())
                    .map_err(tranche_ledger::StoreError::Invalid)?;
                let c = ledger
                    .close_period(&award, quarter, bp, &actor(g), Utc::now())
                    .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
                } else {
                    println!(
                        "{} of award {} closed at seq {}: SF-425 computed at tree size {}, sha256 {}",
                        c.quarter, c.award, c.seq, c.size, c.sf425
                    );
                    println!("nothing can be dated in {} from now on; a late correction is posted in the open period with --prior-period {}", c.quarter, c.quarter);
                }
            }
            PeriodCmd::Reopen {
                award,
                quarter,
                reason,
                json,
            } => {
                let award = parse_id(&award, "award")?;
                let r = ledger
                    .reopen_period(&award, quarter, &reason, &actor(g), Utc::now())
                    .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                } else if r.status == "reopened" {
                    println!("{} of award {} reopened at seq {}", r.quarter, r.award, r.seq);
                } else {
                    println!(
                        "request to reopen {} of award {} recorded at seq {}: a second approver runs the same command to approve it",
                        r.quarter, r.award, r.seq
                    );
                }
            }
            PeriodCmd::List { award, json } => {
                let award = parse_id(&award, "award")?;
                let list = ledger.periods(&award).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
                } else {
                    println!("{:<8} {:<10} {:<10} {:<17} records", "quarter", "start", "end", "status");
                    for p in &list {
                        let seqs: Vec<String> =
                            p.history.iter().map(|e| format!("{} seq {}", e.kind, e.seq)).collect();
                        println!(
                            "{:<8} {:<10} {:<10} {:<17} {}",
                            p.quarter,
                            p.start,
                            p.end,
                            p.status,
                            seqs.join(", ")
                        );
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
    .await;
    done(result)
}
