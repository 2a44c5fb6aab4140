//! What the demo prints when it is done: the programme in figures, and the API users with their
//! tokens and how to start the server.

use std::collections::BTreeMap;

use tranche_api::cli::Global;
use tranche_audit::programme::{Id, Pathway};
use tranche_audit::Code;
use tranche_ledger::domain::cycle::CycleReport;
use tranche_ledger::Ledger;

use crate::spec::{AWARD, PARTNERS, PROVINCES, USERS};
use crate::world::{id, usd, usd_minor, World};

pub(crate) async fn summary(
    ledger: &Ledger,
    w: &World,
    tally: &Tally,
    statements: u64,
    items: u64,
    corrected: Option<Id>,
) -> anyhow::Result<()> {
    let award = id(AWARD)?;
    let used = ledger.budget_used(&award).await?;
    let records = ledger.store().tree_size().await?;
    let checkpoint = ledger.store().latest_checkpoint().await?;
    let count = |p: Pathway| w.people.iter().filter(|x| x.pathway == p).count();
    let sessions: usize = w.cohorts.iter().map(|c| c.sessions.len()).sum();
    let nationality = |n: &str| {
        w.people
            .iter()
            .filter(|p| p.input.nationality.as_deref() == Some(n))
            .count()
    };
    let a = &w.award;
    println!();
    println!(
        "award {}  {}  {} {}  {} to {}",
        a.award, a.donor, a.total, a.currency, a.start, a.end
    );
    println!(
        "  partners      {}",
        PARTNERS
            .iter()
            .map(|p| format!("{} ({})", p.id, p.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  participants  {} ({} vocational scholarship, {} entrepreneurship, {} employability; \
         {} from Venezuela, {} Ecuador, {} Colombia)",
        w.people.len(),
        count(Pathway::VocationalScholarship),
        count(Pathway::Entrepreneurship),
        count(Pathway::Employability),
        nationality("VE"),
        nationality("EC"),
        nationality("CO"),
    );
    let sex = |x: Option<&str>| {
        w.people
            .iter()
            .filter(|p| p.input.sex.as_deref() == x)
            .count()
    };
    println!(
        "                {} women, {} men, {} not stated",
        sex(Some("female")),
        sex(Some("male")),
        sex(None)
    );
    println!(
        "  cohorts       {} in {} with {} sessions, January to June 2026",
        w.cohorts.len(),
        PROVINCES
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", "),
        sessions
    );
    println!("  evidence      {statements} signed statements, {items} items");
    println!(
        "  cycles        {} runs ({}), {} entitlements posted, {} reversed",
        tally.runs,
        tally.latest.keys().cloned().collect::<Vec<_>>().join(", "),
        tally.entitlements,
        tally.reversals
    );
    println!();
    println!(
        "  {:<24} {:>14} {:>14} {:>14} {:>7}",
        "budget line", "authorised", "used", "remaining", "used %"
    );
    for l in &a.budget_lines {
        let auth = usd_minor(&l.authorised);
        let u = used.get(&l.line).copied().unwrap_or(0);
        let pct = if auth > 0 {
            u as f64 * 100.0 / auth as f64
        } else {
            0.0
        };
        println!(
            "  {:<24} {:>14} {:>14} {:>14} {:>6.1}%",
            l.line.as_str(),
            l.authorised,
            usd(u),
            usd(auth - u),
            pct
        );
    }
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for r in tally.latest.values() {
        for (reason, n) in &r.exception_counts {
            *reasons.entry(*reason).or_default() += n;
        }
    }
    println!();
    println!("  exceptions (latest run of each month)");
    for (reason, n) in &reasons {
        println!("    {reason:<24} {n:>6}");
    }
    if let Some(p) = corrected {
        println!();
        println!("  the corrected participant: tranche participants show {p}");
    }
    println!();
    println!("records: {records}");
    if let Some(cp) = checkpoint {
        println!("checkpoint:");
        for line in cp.note.lines() {
            println!("  {line}");
        }
    }
    Ok(())
}

/// Creates the API users and prints their tokens once, with how to start the server.
pub(crate) async fn users(
    ledger: &Ledger,
    g: &Global,
    keys_dir: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    println!();
    println!("API users (each token is shown only now):");
    for (name, role, partner) in USERS {
        match tranche_api::server::routes::new_user(ledger, name, role, partner).await {
            Ok((_, token)) => println!("  {name:<20} {role:<9} {token}"),
            Err(e) if e.code == Code::UserExists => {
                println!("  {name:<20} {role:<9} (exists already: its token is not shown again)");
            }
            Err(e) => anyhow::bail!("Failed to create the user {name}: {}", e.detail),
        }
    }
    let t = if g.database_url.is_none() && g.data_dir != std::path::Path::new("data") {
        format!("tranche --data-dir {}", g.data_dir.display())
    } else {
        "tranche".to_string()
    };
    println!();
    println!("Start the server:  {t} serve");
    println!(
        "  then, e.g.:      curl -H \"Authorization: Bearer <auditor token>\" \
         http://127.0.0.1:8080/v1/awards/{AWARD}"
    );
    println!("Explore:");
    println!("  {t} award list");
    println!("  {t} cycle run --award {AWARD} --period 2026-06 --dry-run --out reports");
    println!("  {t} log --limit 5");
    println!(
        "  {t} export demo-export && tranche-verify demo-export --vkey \"$(cat {})\"",
        g.data_dir.join("ledger.vkey").display()
    );
    if let Some(dir) = keys_dir {
        println!(
            "  {t} partner sign SHEET.csv --key {} --batch-id hias-2026-07-attendance-1",
            dir.join("hias.key").display()
        );
    }
    Ok(())
}

/// What the cycles did, for the summary.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) entitlements: u64,
    pub(crate) reversals: u64,
    /// The latest report of each period.
    pub(crate) latest: BTreeMap<String, CycleReport>,
    pub(crate) runs: u64,
}
