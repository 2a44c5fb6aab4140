//! `tranche-bench reports`: a journal of `--transactions` two-posting transactions against one
//! award (drawdowns, expenses on each budget line, payments out of the bank), then the SF-425
//! and budget vs actual reports computed at its checkpoint, and one recomputed from an export
//! as `tranche-verify report` does. Records are dated across the award's year (2026), whatever
//! the day the bench runs, so the reports take the projection path they take in production
//! (a period that reaches the checkpoint, a quarter inside the journal).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use tranche_audit::account::AccountName;
use tranche_audit::money::{Currency, Money};
use tranche_audit::posting::{Posting, Side};
use tranche_audit::programme::{Date, Id};
use tranche_audit::report::ReportPeriod;
use tranche_audit::report_compute::ReportRequest;
use tranche_ledger::domain::{Command, NewTransaction};
use tranche_ledger::{Config, Ledger};

use super::BenchArgs;

const AWARD: &str = "bench-reports";

fn tx(debit: &str, credit: &str, minor: i64, usd: Currency) -> anyhow::Result<Command> {
    let p = |a: &str, side| -> anyhow::Result<Posting> {
        Ok(Posting {
            account: AccountName::parse(a).map_err(|e| anyhow::anyhow!("{e}"))?,
            side,
            money: Money::from_minor(minor, usd),
        })
    };
    Ok(Command::Transaction(NewTransaction {
        memo: String::new(),
        postings: vec![p(debit, Side::Debit)?, p(credit, Side::Credit)?],
        reverses: None,
        date: None,
        prior_period: None,
    }))
}

/// The time of the `k`-th of `n` transactions: spread evenly from the award's first day to its
/// last, never going back.
fn dated(k: u64, n: u64) -> DateTime<Utc> {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 6, 0, 0)
        .single()
        .expect("a valid time");
    let span_s = 364 * 24 * 3600i64;
    start + Duration::seconds(span_s * k as i64 / n.max(1) as i64)
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let n = args.transactions;
    let dir = tempfile::tempdir().context("Failed to create a temporary directory")?;
    let ledger = Ledger::open(&Config::new(dir.path().join("sqlite"))).await?;
    let now = dated(0, n);
    println!(
        "tranche-bench reports: sqlite, {n} transactions ({} postings) against one award",
        n * 2
    );
    let _fx = tranche_ledger::testkit::fixture::payables_programme(
        &ledger,
        AWARD,
        10,
        "user:bench",
        now,
        &mut |_, _| {},
    )
    .await?;
    let usd = Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e}"))?;
    let bar = tranche_api::cli::common::progress_bar(n, "appending");
    let t = Instant::now();
    let mut k = 0u64;
    while k < n {
        let mut batch = Vec::with_capacity(1000);
        for i in k..(k + 1000).min(n) {
            batch.push(match i % 4 {
                0 => tx(
                    &format!("bank:{AWARD}"),
                    &format!("fund:{AWARD}"),
                    10_000,
                    usd,
                )?,
                1 => tx(
                    &format!("expense:{AWARD}:c4t"),
                    &format!("bank:{AWARD}"),
                    1_000,
                    usd,
                )?,
                2 => tx(
                    &format!("expense:{AWARD}:admin"),
                    &format!("bank:{AWARD}"),
                    10,
                    usd,
                )?,
                _ => tx(&format!("bank:{AWARD}"), &format!("fund:{AWARD}"), 1, usd)?,
            });
        }
        k += batch.len() as u64;
        ledger.append(&batch, "user:bench", dated(k, n)).await?;
        bar.set_position(k);
    }
    bar.finish_and_clear();
    println!("  journal built in {:.1} s", t.elapsed().as_secs_f64());
    let period = ReportPeriod {
        start: Date::parse("2026-01-01").map_err(|e| anyhow::anyhow!("{e}"))?,
        end: Date::parse("2026-12-31").map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let q2 =
        tranche_ledger::service::reports::quarter("2026Q2").map_err(|e| anyhow::anyhow!("{e}"))?;
    let req_in = |kind: &str, period: ReportPeriod| ReportRequest {
        kind: kind.into(),
        award: Id::parse(AWARD).expect("valid"),
        period,
        batch: None,
        participant: None,
        indirect_bp: 1000,
        threshold: 5,
    };
    let req = |kind: &str| req_in(kind, period);
    let mut signed = None;
    for (label, r) in [
        ("sf425", req("sf425")),
        ("budget", req("budget")),
        ("sf425 Q2", req_in("sf425", q2)),
    ] {
        let t = Instant::now();
        let r = ledger.report(r, Utc::now()).await?;
        println!(
            "  {label:<8} at tree size {}: {:.3} s",
            r.report.checkpoint.size,
            t.elapsed().as_secs_f64()
        );
        signed.get_or_insert(r);
    }
    let signed = signed.expect("made");
    let export = dir.path().join("export");
    tranche_ledger::service::export::export_dir(&ledger, &export, |_, _| {}).await?;
    let t = Instant::now();
    let again = tranche_audit::report_compute::from_export(
        &export,
        signed.report.checkpoint.size,
        req("sf425"),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(again == signed.report.body, "the recomputed report differs");
    println!(
        "  verify   recomputed from the export: {:.2} s, {:.0} records/s",
        secs,
        signed.report.checkpoint.size as f64 / secs
    );
    Ok(ExitCode::SUCCESS)
}
