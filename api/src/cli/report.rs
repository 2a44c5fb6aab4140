//! `tranche report`: a report bound to the latest checkpoint and signed, or the reports due.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;

use super::common::{open, refused, Global};

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

pub async fn run(g: &Global, a: ReportArgs) -> anyhow::Result<ExitCode> {
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
