//! The money side: a donor drawdown, the award's paying accounts and one batch approved, ready
//! for its bank file.

use tranche_audit::account::AccountName;
use tranche_audit::posting::{Posting, Side};
use tranche_ledger::domain::{Command, NewTransaction};
use tranche_ledger::Ledger;

use crate::records::append;
use crate::spec::{ADMIN, AWARD, PREPARER, PROVINCES};
use crate::world::id;

/// The money side: a donor drawdown covering what was earned, the award's paying account and
/// its training providers' accounts, and one batch (the first province's payees) prepared,
/// submitted and approved by the finance users, ready for its bank file.
pub(crate) async fn disburse(ledger: &Ledger, say: &dyn Fn(String)) -> anyhow::Result<()> {
    use tranche_audit::disburse::{BankAccountBody, DisbursementConfigBody, VendorAccountBody};
    let award = id(AWARD)?;
    let used: i64 = ledger.budget_used(&award).await?.values().sum();
    let drawdown = (used / 1_000_000 + 1) * 1_000_000;
    let usd = tranche_audit::money::Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e}"))?;
    let posting = |account: String, side, minor| -> anyhow::Result<Posting> {
        Ok(Posting {
            account: AccountName::parse(&account).map_err(|e| anyhow::anyhow!("{e}"))?,
            side,
            money: tranche_audit::money::Money::from_minor(minor, usd),
        })
    };
    let vendors: Vec<VendorAccountBody> = {
        let st = ledger.store().programme().await?;
        let known = st
            .awards
            .get(&award)
            .map(|a| a.vendors.iter().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        known
            .into_iter()
            .enumerate()
            .map(|(i, v)| VendorAccountBody {
                account: BankAccountBody {
                    name: format!("{v} (training provider)"),
                    account: format!("{:010}", 3_300_112_200u64 + i as u64),
                    agent_bic: None,
                    bank_code: None,
                    account_type: None,
                },
                vendor: v,
            })
            .collect()
    };
    let settings = DisbursementConfigBody {
        award: award.clone(),
        debtor: BankAccountBody {
            name: "HIAS Ecuador - Caminando programme account".into(),
            account: "2100456789".into(),
            agent_bic: Some("PICHECEQXXX".into()),
            bank_code: None,
            account_type: None,
        },
        vendors,
        dual_approval_above: "25000.00".into(),
    };
    append(
        ledger,
        &[
            Command::Transaction(NewTransaction {
                memo: "BPRM drawdown, first half of 2026".into(),
                postings: vec![
                    posting(format!("bank:{AWARD}"), Side::Debit, drawdown)?,
                    posting(format!("fund:{AWARD}"), Side::Credit, drawdown)?,
                ],
                reverses: None,
                // Dated in the programme's months, whatever day the demo is loaded.
                date: Some(crate::world::date(1, 15)?),
                prior_period: None,
            }),
            Ledger::settings_command(settings)?,
        ],
        ADMIN,
        "drawdown and payment settings",
    )
    .await?;
    let province = PROVINCES[0].name.to_string();
    let plan = match ledger
        .plan_batch(&tranche_ledger::service::payments::BatchRequest {
            award: AWARD.into(),
            filter: tranche_audit::disburse::BatchFilter {
                province: Some(province.clone()),
                ..Default::default()
            },
        })
        .await
    {
        Ok(plan) => plan,
        // A tiny demo may owe nothing in that province.
        Err(tranche_ledger::StoreError::Invalid(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    append(ledger, &plan.commands, PREPARER, "payment batch").await?;
    let submit = ledger.submit_command(&plan.batch).await?;
    append(ledger, &[submit], PREPARER, "batch submission").await?;
    for approver in ["user:finance-approver-1", "user:finance-approver-2"] {
        let view = ledger.batch_view(&plan.batch, 0, 0).await?;
        if view.status != "submitted" {
            break;
        }
        let c = ledger
            .decision_command(&plan.batch, true, Some(&plan.digest), None)
            .await?;
        append(ledger, &[c], approver, "batch approval").await?;
    }
    say(format!(
        "payment batch {} for {province}: {} payments, USD {}, {} exception(s), approved; next: tranche batch file {} --format pain.001",
        plan.batch,
        plan.payments.len(),
        plan.total,
        plan.exceptions.len(),
        plan.batch
    ));
    Ok(())
}
