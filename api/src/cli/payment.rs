//! `tranche payment` and `tranche trace`: a payment by its end-to-end id, and its trace from
//! evidence to the bank's outcome.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tranche_ledger::service::payments::Trace;

use super::common::{done, open, Global};

#[derive(Debug, Subcommand)]
pub enum PaymentCmd {
    /// Show a payment by its end-to-end id.
    Show {
        e2e: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The payment's end-to-end id.
    pub e2e: String,
    #[arg(long)]
    pub json: bool,
}

fn print_trace(t: &Trace) {
    println!(
        "payment {}  to {}  {} {}  status {}  (batch {}, award {})",
        t.payment.e2e,
        t.payment.payee,
        t.payment.currency,
        t.payment.amount,
        t.payment.status,
        t.batch,
        t.award
    );
    println!(
        "{:>8}  {:<20} {:<18} {:<28} {:<24} detail",
        "seq", "step", "kind", "at", "actor"
    );
    for s in &t.steps {
        println!(
            "{:>8}  {:<20} {:<18} {:<28} {:<24} {}",
            s.seq, s.step, s.kind, s.at, s.actor, s.detail
        );
    }
}

pub async fn run(g: &Global, cmd: PaymentCmd) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    match cmd {
        PaymentCmd::Show { e2e, json } => {
            let p = match ledger.payment(&e2e).await {
                Ok(p) => p,
                Err(e) => return done(Err(e)),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            } else {
                println!(
                    "payment {} to {}: {} {} {} (entitlements {}){}",
                    p.e2e,
                    p.payee,
                    p.currency,
                    p.amount,
                    p.status,
                    p.entitlements
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    if p.reissues.is_empty() {
                        String::new()
                    } else {
                        format!("; reissues {}", p.reissues.join(", "))
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn trace(g: &Global, args: TraceArgs) -> anyhow::Result<ExitCode> {
    let TraceArgs { e2e, json } = args;
    let ledger = open(g).await?;
    match ledger.trace(&e2e).await {
        Ok(t) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&t).unwrap_or_default());
            } else {
                print_trace(&t);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => done(Err(e)),
    }
}
