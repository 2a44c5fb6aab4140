//! The disbursement commands of `tranche`: an award's payment settings, payment batches
//! (create, submit, approve, reject, cancel), bank files, sending, status and statement imports,
//! payments and their trace, run directly on the ledger. The actor written into each record is
//! the global `--actor` (or `TRANCHE_ACTOR`): the ledger refuses an approval by the batch's
//! preparer or submitter, and a second approval by the same actor, whoever runs the command.
//! Bad input is refused with the field and the rule (exit code 3) and nothing is written.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use clap::Subcommand;
use tranche_audit::disburse::{
    AccountTypeBody, BankAccountBody, BatchFilter, DisbursementConfigBody, VendorAccountBody,
};
use tranche_audit::Code;
use tranche_ledger::domain::Command;
use tranche_ledger::service::payments::{BatchRequest, BatchView};
use tranche_ledger::{Ledger, StoreError};

use super::common::{
    append_in_batches as append, done, open, parse_id as id, progress_bar, Global,
};

#[derive(Debug, Subcommand)]
pub enum BatchCmd {
    /// Set an award's paying account, its vendors' (training providers') accounts and the
    /// amount above which a batch needs two approvers (journaled; a later setting replaces it).
    Settings {
        #[arg(long)]
        award: String,
        /// The programme account's holder name.
        #[arg(long)]
        debtor_name: String,
        /// The programme account (IBAN or other identifier).
        #[arg(long)]
        debtor_account: String,
        #[arg(long)]
        debtor_bic: Option<String>,
        /// The bank's national code (3 to 11 digits), for a domestic account.
        #[arg(long)]
        debtor_bank_code: Option<String>,
        /// `savings` or `current`, for a domestic account.
        #[arg(long)]
        debtor_account_type: Option<String>,
        /// A vendor's account: VENDOR=NAME,ACCOUNT[,BIC]. Repeat for each vendor.
        #[arg(long = "vendor")]
        vendors: Vec<String>,
        /// Batches above this amount need two distinct approvers.
        #[arg(long, default_value = "25000.00")]
        dual_approval_above: String,
    },
    /// Build a batch from the award's open payables (all, or filtered): one payment per payee,
    /// every payee that cannot be paid listed with its reason.
    Create {
        #[arg(long)]
        award: String,
        #[arg(long)]
        budget_line: Option<String>,
        #[arg(long)]
        cohort: Option<String>,
        #[arg(long)]
        province: Option<String>,
        /// Only these payees (participant:P or vendor:V); repeat.
        #[arg(long = "payee")]
        payees: Vec<String>,
        /// Show what the batch would hold; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// List batches, newest first.
    List {
        #[arg(long)]
        award: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a batch: status, digest, approvals, files, payments by status, exceptions.
    Show {
        batch: String,
        /// Also write every payment to this CSV file.
        #[arg(long)]
        csv: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Freeze a draft batch: its content's digest becomes a journal record.
    Submit { batch: String },
    /// Approve a submitted batch, naming the digest you reviewed (without --digest, the
    /// batch's frozen digest is shown and approved).
    Approve {
        batch: String,
        #[arg(long)]
        digest: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a submitted batch, with a reason; its payables are open again.
    Reject {
        batch: String,
        #[arg(long)]
        digest: Option<String>,
        #[arg(long)]
        reason: String,
    },
    /// Cancel a batch not yet sent, with a reason; its payables are open again.
    Cancel {
        batch: String,
        #[arg(long)]
        reason: String,
    },
    /// Write the bank file of an approved batch (pain.001.001.09 or CSV) and record its
    /// SHA-256; run again to get the same file.
    File {
        batch: String,
        /// pain.001 or csv.
        #[arg(long, default_value = "pain.001")]
        format: String,
        /// Where to write it (default: <batch>.xml or <batch>.csv here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Requested execution date (default: today).
        #[arg(long)]
        execution_date: Option<NaiveDate>,
    },
    /// Mark an approved batch sent with its bank file: every payment moves from payable to
    /// payments in transit.
    Send {
        batch: String,
        /// The SHA-256 of the file sent (needed only when the batch has two files).
        #[arg(long)]
        file: Option<String>,
        /// The day it was sent to the bank (YYYY-MM-DD): the accounting date of its postings;
        /// default: today in the award's time zone.
        #[arg(long, value_parser = super::journal::parse_date)]
        date: Option<chrono::NaiveDate>,
    },
}

fn print_batch(v: &BatchView) {
    println!(
        "batch {}  award {}  {}  status {}",
        v.batch, v.award, v.currency, v.status
    );
    println!("  prepared by  {} (seq {})", v.preparer, v.created_seq);
    if let Some(d) = &v.digest {
        println!("  digest       {d}");
    }
    println!(
        "  payments     {} for {} {}",
        v.payment_count, v.currency, v.total
    );
    if let Some(s) = &v.submitted {
        println!("  submitted by {} (seq {})", s.actor, s.seq);
    }
    println!(
        "  approvals    {} of {} required{}",
        v.approvals.len(),
        v.approvals_required,
        v.approvals
            .iter()
            .map(|a| format!("; {} (seq {})", a.actor, a.seq))
            .collect::<String>()
    );
    if let Some(c) = &v.closed {
        println!(
            "  {}  by {} (seq {}): {}",
            v.status,
            c.actor,
            c.seq,
            c.reason.clone().unwrap_or_default()
        );
    }
    for f in &v.files {
        println!(
            "  bank file    {} {} ({}, seq {})",
            f.format, f.sha256, f.message_id, f.seq
        );
    }
    if let Some(a) = &v.available_funds {
        println!(
            "  available    {} {a} (bank less in transit less approved unsent)",
            v.currency
        );
    }
    for (status, c) in &v.by_status {
        println!("  {status:<12} {:>8}  {:>16}", c.count, c.amount);
    }
    if !v.exceptions.is_empty() {
        println!("  exceptions ({}):", v.exception_count);
        for x in &v.exceptions {
            println!("    {:<40} {:>12}  {}", x.payee, x.amount, x.reason);
        }
    }
}

pub async fn run(g: &Global, cmd: BatchCmd) -> anyhow::Result<ExitCode> {
    let ledger = open(g).await?;
    done(batch_inner(&ledger, g, cmd).await)
}

async fn batch_inner(ledger: &Ledger, g: &Global, cmd: BatchCmd) -> Result<ExitCode, StoreError> {
    match cmd {
        BatchCmd::Settings {
            award,
            debtor_name,
            debtor_account,
            debtor_bic,
            debtor_bank_code,
            debtor_account_type,
            vendors,
            dual_approval_above,
        } => {
            let account_type = match debtor_account_type.as_deref() {
                None => None,
                Some("savings") => Some(AccountTypeBody::Savings),
                Some("current") => Some(AccountTypeBody::Current),
                Some(other) => {
                    return Err(StoreError::Invalid(tranche_audit::Invalid::new(
                        "debtor.account_type",
                        Code::InvalidAccountType,
                        format!("{other:?}: an account is savings or current"),
                    )))
                }
            };
            let mut list = Vec::new();
            for (i, v) in vendors.iter().enumerate() {
                let field = format!("vendor[{i}]");
                let (vendor, rest) = v.split_once('=').ok_or_else(|| {
                    StoreError::Invalid(tranche_audit::Invalid::new(
                        field.clone(),
                        Code::InvalidVendor,
                        "a vendor is VENDOR=NAME,ACCOUNT[,BIC]",
                    ))
                })?;
                let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
                let (name, account, bic) = match parts[..] {
                    [n, a] => (n, a, None),
                    [n, a, b] => (n, a, Some(b.to_string())),
                    _ => {
                        return Err(StoreError::Invalid(tranche_audit::Invalid::new(
                            field,
                            Code::InvalidVendor,
                            "a vendor is VENDOR=NAME,ACCOUNT[,BIC]",
                        )))
                    }
                };
                list.push(VendorAccountBody {
                    vendor: id(vendor, &field)?,
                    account: BankAccountBody {
                        name: name.into(),
                        account: account.into(),
                        agent_bic: bic,
                        bank_code: None,
                        account_type: None,
                    },
                });
            }
            let body = DisbursementConfigBody {
                award: id(&award, "award")?,
                debtor: BankAccountBody {
                    name: debtor_name,
                    account: debtor_account,
                    agent_bic: debtor_bic,
                    bank_code: debtor_bank_code,
                    account_type,
                },
                vendors: list,
                dual_approval_above,
            };
            append(ledger, g, &[Ledger::settings_command(body)?]).await?;
            println!("settings recorded for award {award}");
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::Create {
            award,
            budget_line,
            cohort,
            province,
            payees,
            dry_run,
            json,
        } => {
            let req = BatchRequest {
                award,
                filter: BatchFilter {
                    budget_line: budget_line.map(|l| id(&l, "budget_line")).transpose()?,
                    cohort: cohort.map(|c| id(&c, "cohort")).transpose()?,
                    province,
                    payees: (!payees.is_empty()).then_some(payees),
                },
            };
            let plan = ledger.plan_batch(&req).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "batch": plan.batch.as_str(), "dry_run": dry_run, "total": plan.total,
                        "digest": plan.digest, "payments": plan.payments, "exceptions": plan.exceptions,
                    })
                );
            }
            if dry_run {
                if !json {
                    println!(
                        "would create batch {}: {} payments for {}, {} exception(s); nothing written",
                        plan.batch,
                        plan.payments.len(),
                        plan.total,
                        plan.exceptions.len()
                    );
                    for x in &plan.exceptions {
                        println!("  {:<40} {:>12}  {}", x.payee, x.amount, x.reason);
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let bar = progress_bar(plan.commands.len() as u64, "recording the batch");
            append(ledger, g, &plan.commands).await?;
            bar.finish_and_clear();
            if !json {
                let v = ledger.batch_view(&plan.batch, 0, 0).await?;
                print_batch(&v);
                println!("next: tranche batch submit {}", plan.batch);
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::List { award, json } => {
            let award = award.map(|a| id(&a, "award")).transpose()?;
            let list = ledger.batches(award.as_ref()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<10} {:<16} {:<10} {:>9} {:>16}  approvals",
                "batch", "award", "status", "payments", "total"
            );
            for v in list {
                println!(
                    "{:<10} {:<16} {:<10} {:>9} {:>12} {}  {}/{}",
                    v.batch,
                    v.award,
                    v.status,
                    v.payment_count,
                    v.total,
                    v.currency,
                    v.approvals.len(),
                    v.approvals_required
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::Show { batch, csv, json } => {
            let batch = id(&batch, "batch")?;
            let v = ledger.batch_view(&batch, 0, 100).await?;
            if let Some(path) = csv {
                let rows = ledger.batch_payments(&batch).await?;
                let out = tranche_ledger::service::payments::payments_csv(rows);
                std::fs::write(&path, out).map_err(|e| {
                    StoreError::Corrupt(format!("cannot write {}: {e}", path.display()))
                })?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print_batch(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::Submit { batch } => {
            let batch = id(&batch, "batch")?;
            let c = ledger.submit_command(&batch).await?;
            append(ledger, g, &[c]).await?;
            print_batch(&ledger.batch_view(&batch, 0, 0).await?);
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::Approve {
            batch,
            digest,
            reason,
        } => {
            let batch = id(&batch, "batch")?;
            let c = ledger
                .decision_command(&batch, true, digest.as_deref(), reason)
                .await?;
            if digest.is_none() {
                if let Command::Disburse(
                    tranche_ledger::domain::disburse::DisburseCommand::Approve(b),
                ) = &c
                {
                    println!("approving batch {batch} at digest {}", b.digest);
                }
            }
            append(ledger, g, &[c]).await?;
            print_batch(&ledger.batch_view(&batch, 0, 0).await?);
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::Reject {
            batch,
            digest,
            reason,
        } => {
            let batch = id(&batch, "batch")?;
            let c = ledger
                .decision_command(&batch, false, digest.as_deref(), Some(reason))
                .await?;
            append(ledger, g, &[c]).await?;
            print_batch(&ledger.batch_view(&batch, 0, 0).await?);
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::Cancel { batch, reason } => {
            let batch = id(&batch, "batch")?;
            let c = ledger.cancel_command(&batch, reason).await?;
            append(ledger, g, &[c]).await?;
            print_batch(&ledger.batch_view(&batch, 0, 0).await?);
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::File {
            batch,
            format,
            out,
            execution_date,
        } => {
            let batch = id(&batch, "batch")?;
            let f = ledger
                .bank_file(&batch, &format, Utc::now(), execution_date)
                .await?;
            if let Some(c) = &f.record {
                append(ledger, g, std::slice::from_ref(c)).await?;
            }
            let path = out.unwrap_or_else(|| PathBuf::from(&f.file_name));
            std::fs::write(&path, &f.bytes).map_err(|e| {
                StoreError::Corrupt(format!("cannot write {}: {e}", path.display()))
            })?;
            println!(
                "wrote {} ({} bytes, sha256 {}){}",
                path.display(),
                f.bytes.len(),
                f.sha256,
                if f.record.is_some() {
                    "; its digest is now in the journal"
                } else {
                    "; the same file as recorded"
                }
            );
            println!("it holds names and accounts: keep it where personal data may be kept");
            Ok(ExitCode::SUCCESS)
        }
        BatchCmd::Send { batch, file, date } => {
            let batch = id(&batch, "batch")?;
            let commands = ledger.send_commands(&batch, file.as_deref(), date).await?;
            if commands.is_empty() {
                println!("batch {batch} was already sent; nothing written");
            } else {
                append(ledger, g, &commands).await?;
            }
            print_batch(&ledger.batch_view(&batch, 0, 0).await?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
