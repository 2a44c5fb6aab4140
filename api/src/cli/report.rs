//! `tranche report`: a report bound to the latest checkpoint and signed, or the reports due.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;

use super::common::{open, refused, Global};

/// Every kind `tranche report` makes, with what it shows (`report --help` lists them all).
pub const KINDS: [(&str, &str); 7] = [
    (
        "sf425",
        "the federal financial report (SF-425) lines 10a to 11, period and cumulative",
    ),
    (
        "budget",
        "budget vs actual per budget line: authorised, obligated, expended, paid, remaining",
    ),
    (
        "payments",
        "payments by status in the period, or of one batch (--batch)",
    ),
    (
        "bank",
        "bank reconciliation: what was sent, confirmed, rejected and returned",
    ),
    (
        "participant",
        "one participant's evidence, entitlements and payments (--participant)",
    ),
    (
        "disaggregation",
        "counts by sex, nationality, province, pathway, age band (--threshold)",
    ),
    (
        "due",
        "the quarterly SF-425 reports due, with days left or overdue by",
    ),
];

#[derive(Debug, Args)]
#[command(after_help = kinds_help())]
pub struct ReportArgs {
    /// The report: sf425, budget, payments, bank, participant, disaggregation or due (each
    /// described below).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(KINDS.map(|(k, _)| k)))]
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
    /// table (the default on a terminal), json (signed; the default otherwise, for
    /// machines), csv or html.
    #[arg(long)]
    pub format: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// For due: the day to state the reports as of (YYYY-MM-DD); today when absent.
    #[arg(long)]
    pub as_of: Option<String>,
}

fn kinds_help() -> String {
    let mut t = String::from("Kinds:\n");
    for (k, what) in KINDS {
        t.push_str(&format!("  {k:<15} {what}\n"));
    }
    t.push_str(
        "\nOn a terminal a report prints as a table; piped or written with --out it is the \
         signed JSON unless --format says otherwise.",
    );
    t
}

pub async fn run(g: &Global, a: ReportArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let format = a.format.clone().unwrap_or_else(|| {
        if a.out.is_none() && std::io::stdout().is_terminal() {
            "table".into()
        } else {
            "json".into()
        }
    });
    let ledger = open(g).await?;
    let award = match tranche_audit::programme::Id::parse(&a.award) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("refused: {}", e.within("award"));
            eprintln!("nothing was written");
            return Ok(ExitCode::from(3));
        }
    };
    if !matches!(format.as_str(), "table" | "json" | "csv" | "html")
        || (a.kind == "due" && !matches!(format.as_str(), "table" | "json"))
    {
        let allowed = if a.kind == "due" {
            "table or json"
        } else {
            "table, json, csv or html"
        };
        eprintln!("refused: format: {format:?} is not a format of this report: {allowed} (invalid_format)");
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
            Ok(list) if format == "json" => {
                serde_json::to_string_pretty(&serde_json::json!({
                    "award": award.as_str(),
                    "as_of": as_of.to_string(),
                    "due": list,
                }))? + "\n"
            }
            Ok(list) => {
                let mut t = format!(
                    "as of {as_of}\n{:<8} {:<12} {:<12} {:<12} {:<9} when\n",
                    "quarter", "from", "to", "due", "status"
                );
                for d in list {
                    t.push_str(&format!(
                        "{:<8} {:<12} {:<12} {:<12} {:<9} {}\n",
                        d.quarter,
                        d.start,
                        d.end,
                        d.due,
                        d.status,
                        days_phrase(d.days_left)
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
        match format.as_str() {
            "json" => serde_json::to_string_pretty(&signed)? + "\n",
            "csv" => tranche_ledger::service::reports::render_csv(&signed),
            "table" => table(&a.kind, &signed),
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

/// How far a due date is: "in 12 days", "today", "overdue by 3 days".
pub fn days_phrase(days_left: i64) -> String {
    let days = |n: i64| {
        if n == 1 {
            "1 day".to_string()
        } else {
            format!("{n} days")
        }
    };
    match days_left {
        0 => "due today".into(),
        n if n > 0 => format!("in {}", days(n)),
        n => format!("overdue by {}", days(-n)),
    }
}

/// A signed report as a table for people: what it covers, then its CSV's rows in aligned
/// columns (numbers to the right); the signature is in `--format json`.
fn table(kind: &str, r: &tranche_audit::report::SignedReport) -> String {
    let rep = &r.report;
    let mut out = format!(
        "{} report  award {}  {}  {} to {}  by accounting date  (journal size {}, signed: --format json)\n\n",
        kind, rep.award, rep.currency, rep.period.start, rep.period.end, rep.checkpoint.size
    );
    let csv = tranche_ledger::service::reports::render_csv(r);
    let rows: Vec<Vec<String>> = tranche_ledger::csv::records(&csv)
        .filter_map(Result::ok)
        .map(|rec| rec.cells)
        .collect();
    out.push_str(&align(&rows));
    out
}

/// Rows as columns padded to their widest cell; a cell that reads as a number is right-aligned.
/// A row of another width than the one above it starts a new table.
pub fn align(rows: &[Vec<String>]) -> String {
    let numeric = |c: &str| {
        !c.is_empty()
            && c.trim_start_matches('-')
                .chars()
                .all(|ch| ch.is_ascii_digit() || ch == '.' || ch == '%')
    };
    let mut out = String::new();
    let mut start = 0;
    while start < rows.len() {
        let n = rows[start].len();
        let end = rows[start..]
            .iter()
            .position(|r| r.len() != n)
            .map_or(rows.len(), |p| start + p);
        let block = &rows[start..end];
        let widths: Vec<usize> = (0..n)
            .map(|i| {
                block
                    .iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in block {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                let pad = widths[i] - c.chars().count();
                if i > 0 {
                    line.push_str("  ");
                }
                if numeric(c) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if end < rows.len() {
            out.push('\n');
        }
        start = end;
    }
    out
}
