//! `tranche award` and `tranche rule`: awards (donor, currency, total, dates, budget lines and
//! the accounts they need) and the versions of the rules that turn evidence into entitlements.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use tranche_audit::money::format_minor;
use tranche_audit::programme::{canonical_amount, AwardOpenBody, RuleVersionBody};
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::service::programme::award_commands;
use tranche_ledger::StoreError;

use super::common::{append_recorded, bad_file, invalid, open, parse_many, read_text, Global};

#[derive(Debug, Subcommand)]
pub enum AwardCmd {
    /// Open an award from a JSON file (award, donor, currency, total, start, end, budget_lines;
    /// optional utc_offset, provinces, pathways, age_bands) and the accounts it needs. The
    /// file may be pretty-printed; docs/examples/award.json is a complete one.
    Open { file: PathBuf },
    /// List awards with their budget lines: authorised, used, remaining.
    List,
}

#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Add a rule version from a JSON file: award, rule, version, effective, params (shape
    /// c4t-monthly, scholarship or seed-capital, and its amounts; docs/examples/rule-*.json).
    /// Several versions as JSON Lines.
    Add { file: PathBuf },
}

pub async fn award(g: &Global, cmd: AwardCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AwardCmd::Open { file } => {
            let text = read_text(&file)?;
            let body: AwardOpenBody = match parse_many(&text) {
                Ok(mut v) if v.len() == 1 => v.remove(0),
                Ok(_) => return Ok(bad_file("one award per file")),
                Err(e) => return Ok(bad_file(&e)),
            };
            let commands = match award_commands(body) {
                Ok(c) => c,
                Err(i) => return Ok(invalid(i)),
            };
            let ledger = open(g).await?;
            append_recorded(&ledger, g, &commands).await
        }
        AwardCmd::List => {
            // From the projections: the cost is the awards shown, not the journal's history.
            let ledger = open(g).await?;
            for row in ledger.store().award_rows().await? {
                let body: AwardOpenBody = serde_json::from_str(&row.body).map_err(|e| {
                    StoreError::Corrupt(format!("award {} in the projection: {e}", row.award))
                })?;
                let currency = body.currency().map_err(StoreError::Invalid)?;
                let id = body.award.clone();
                let used = ledger.budget_used(&id).await?;
                let (rules, cycles, participants) =
                    ledger.store().award_detail(id.as_str()).await?;
                let mut periods: Vec<&str> = cycles.iter().map(|c| c.period.as_str()).collect();
                periods.dedup();
                let money = |m: i64| format_minor(m.into(), currency);
                println!(
                    "{id}  {}  {} {}  {} to {}  {participants} participants  cycles: {}",
                    body.donor,
                    body.total,
                    currency.code(),
                    body.start,
                    body.end,
                    periods.join(", ")
                );
                println!(
                    "  {:<24} {:>14} {:>14} {:>14} {:>7}",
                    "budget line", "authorised", "used", "remaining", "used %"
                );
                for l in &body.budget_lines {
                    let auth = canonical_amount(&l.authorised, currency, "authorised")
                        .map_err(StoreError::Invalid)?
                        .minor();
                    let u = used.get(&l.line).copied().unwrap_or(0);
                    let pct = if auth > 0 {
                        u as f64 * 100.0 / auth as f64
                    } else {
                        0.0
                    };
                    println!(
                        "  {:<24} {:>14} {:>14} {:>14} {:>6.1}%",
                        l.line.as_str(),
                        money(auth),
                        money(u),
                        money(auth - u),
                        pct
                    );
                }
                let vocabulary = tranche_audit::vocabulary::Vocabulary::of(&body);
                println!(
                    "  provinces: {}",
                    vocabulary
                        .provinces
                        .as_ref()
                        .map_or_else(|| "any".to_string(), |p| p.join(", "))
                );
                println!("  pathways: {}", vocabulary.pathways.join(", "));
                println!("  age bands: {}", vocabulary.age_bands.join(", "));
                for v in &rules {
                    println!(
                        "  rule {} v{} ({}) effective {} (seq {})",
                        v.rule, v.version, v.shape, v.effective, v.seq
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn rule(g: &Global, cmd: RuleCmd) -> anyhow::Result<ExitCode> {
    let RuleCmd::Add { file } = cmd;
    let text = read_text(&file)?;
    let rules: Vec<RuleVersionBody> = match parse_many(&text) {
        Ok(v) => v,
        Err(e) => return Ok(bad_file(&e)),
    };
    let commands: Vec<Command> = rules
        .into_iter()
        .map(|r| Command::Programme(ProgrammeCommand::RuleVersion(r)))
        .collect();
    let ledger = open(g).await?;
    append_recorded(&ledger, g, &commands).await
}
