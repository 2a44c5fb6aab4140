//! `tranche-bench disburse`: a batch of `--participants` payments (default 100,000) from open
//! payables to the bank and back: build and record the batch, freeze it, two approvals, write
//! the pain.001 (and record its digest), mark it sent, then read a camt.053 that books every
//! payment and apply it. The programme it starts from (a synthetic award whose participants
//! are each owed a month's stipend) is set up first and not counted.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use tranche_ledger::service::payments::BatchRequest;
use tranche_ledger::{Config, Ledger};

use super::BenchArgs;

const AWARD: &str = "bench-disburse";

/// A camt.053.001.08 statement booking each (end-to-end id, amount) as one debit entry.
pub fn camt053(lines: &[(String, String)], currency: &str) -> String {
    let mut out = String::with_capacity(400 + lines.len() * 260);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\
<BkToCstmrStmt><GrpHdr><MsgId>BENCH-STMT-1</MsgId><CreDtTm>2026-04-03T05:00:00</CreDtTm></GrpHdr>\
<Stmt><Id>BENCH-STMT-1</Id><Acct><Id><Othr><Id>2100456789</Id></Othr></Id></Acct>\n",
    );
    for (e2e, amount) in lines {
        out.push_str(&format!(
            "<Ntry><Amt Ccy=\"{currency}\">{amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
<BookgDt><Dt>2026-04-03</Dt></BookgDt><NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>\
<Amt Ccy=\"{currency}\">{amount}</Amt></TxDtls></NtryDtls></Ntry>\n"
        ));
    }
    out.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    out
}

fn secs(d: Duration) -> String {
    format!("{:>8.2} s", d.as_secs_f64())
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let n = usize::try_from(args.participants).context("--participants")?;
    anyhow::ensure!(n > 0, "--participants must be at least 1");
    let dir = tempfile::tempdir().context("Failed to create a temporary directory")?;
    let (config, _cluster, backend) = match &args.postgres {
        Some(_) => {
            let (config, cluster) =
                super::postgres_config(args, dir.path(), "bench_disburse").await?;
            (config, cluster, "postgres")
        }
        None => (Config::new(dir.path().join("sqlite")), None, "sqlite"),
    };
    println!(
        "tranche-bench disburse: {} cores, {backend}, one batch of {n} payments",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let ledger = Ledger::open(&config).await?;
    let now = Utc::now();
    let t = Instant::now();
    let bar = tranche_api::cli::common::progress_bar(n as u64 * 2, "setting up the programme");
    let fx = tranche_ledger::testkit::fixture::payables_programme(
        &ledger,
        AWARD,
        n,
        "user:bench-setup",
        now,
        &mut |d, _| bar.set_position(d),
    )
    .await?;
    bar.finish_and_clear();
    println!("  setup (not counted)          {}", secs(t.elapsed()));

    let total = Instant::now();
    let t = Instant::now();
    let plan = ledger
        .plan_batch(&BatchRequest {
            award: AWARD.into(),
            filter: Default::default(),
        })
        .await?;
    ledger
        .append(&plan.commands, "user:bench-preparer", now)
        .await?;
    let build = t.elapsed();
    println!(
        "  build and record the batch   {}  ({} payments, {} records, total {})",
        secs(build),
        plan.payments.len(),
        plan.commands.len(),
        plan.total
    );
    let t = Instant::now();
    let submit = ledger.submit_command(&plan.batch).await?;
    ledger.append(&[submit], "user:bench-preparer", now).await?;
    println!("  freeze (submit)              {}", secs(t.elapsed()));
    let t = Instant::now();
    for approver in ["user:bench-approver-1", "user:bench-approver-2"] {
        let c = ledger
            .decision_command(&plan.batch, true, Some(&plan.digest), None)
            .await?;
        ledger.append(&[c], approver, now).await?;
    }
    println!("  two approvals                {}", secs(t.elapsed()));
    let t = Instant::now();
    let file = ledger.bank_file(&plan.batch, "pain.001", now, None).await?;
    if let Some(c) = file.record {
        ledger.append(&[c], "user:bench-preparer", now).await?;
    }
    println!(
        "  write the pain.001           {}  ({:.1} MiB)",
        secs(t.elapsed()),
        file.bytes.len() as f64 / (1024.0 * 1024.0)
    );
    let t = Instant::now();
    let send = ledger
        .send_commands(
            &plan.batch,
            None,
            Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 2).expect("a date")),
        )
        .await?;
    ledger.append(&send, "user:bench-approver-1", now).await?;
    println!("  mark sent                    {}", secs(t.elapsed()));
    let lines: Vec<(String, String)> = plan
        .payments
        .iter()
        .map(|p| (p.e2e.clone(), p.amount.clone()))
        .collect();
    let statement = camt053(&lines, "USD");
    let counted = total.elapsed();
    let t = Instant::now();
    let import = ledger
        .plan_import(
            statement.as_bytes(),
            Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 6).expect("a date")),
        )
        .await?;
    ledger
        .append(&import.commands, "user:bench-preparer", now)
        .await?;
    let imported = t.elapsed();
    let confirmed = import
        .report
        .applied
        .get("confirmed")
        .map_or(0, |c| c.count);
    println!(
        "  import the camt.053          {}  ({:.1} MiB, {confirmed} confirmed)",
        secs(imported),
        statement.len() as f64 / (1024.0 * 1024.0)
    );
    let all = counted + imported;
    println!(
        "  total                        {}  (target under 60 s, aim 10 s; {:.0} payments/s)",
        secs(all),
        n as f64 / all.as_secs_f64()
    );
    anyhow::ensure!(
        confirmed as usize == n,
        "only {confirmed} of {n} payments were confirmed"
    );
    let _ = fx;
    Ok(ExitCode::SUCCESS)
}
