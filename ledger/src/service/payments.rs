//! Disbursement operations, as the CLI and the API use them: build a batch from open payables,
//! submit, approve, reject or cancel it, make its bank file, mark it sent, import the bank's
//! status and statement files, and look at batches, payments and their trace.
//!
//! Each operation reads the state, builds the journal commands, and leaves appending to the
//! caller (the API appends through its group-commit writer with the request's Idempotency-Key;
//! the CLI appends directly). The ledger re-checks every rule when it appends, under the writer
//! lock, so a race between two callers ends in a clear refusal, never in a double payment.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tranche_audit::disburse::{
    batch_digest, e2e_id, BankImportBody, BankStatusBody, BatchCancelBody, BatchCreateBody,
    BatchDecisionBody, BatchExceptionBody, BatchFileBody, BatchFilter, BatchPartBody,
    BatchSendBody, BatchSubmitBody, DirectionBody, DisbursementConfigBody, ImportExceptionBody,
    LineRefs, OutcomeBody, Payee, PaymentBody, PaymentStatus, StatementBody,
    MAX_ENTITLEMENTS_PER_PAYMENT, OUTCOMES_PER_PART, PAYMENTS_PER_PART,
};
use tranche_audit::money::{format_minor, Currency, Money};
use tranche_audit::programme::{Date, Id};
use tranche_audit::record::{format_time, PostingBody, Record};
use tranche_audit::Code;
use tranche_audit::Invalid;

use crate::domain::disburse::{
    send_postings, status_postings, Batch, BatchStatus, DisburseCommand, PaymentState,
};
use crate::domain::programme::ProgrammeState;
use crate::domain::{Command, NewTransaction};
use crate::iso20022::{
    self, AccountId, CreditTransfer, CreditTransferInitiation, Debtor, PaymentOutcome,
};
use crate::store::StoreError;
use crate::Ledger;

fn invalid(field: &str, code: Code, detail: impl Into<String>) -> StoreError {
    StoreError::Invalid(Invalid::new(field, code, detail))
}

fn money(minor: i64, currency: Currency) -> String {
    format_minor(minor.into(), currency)
}

/// What a preparer asks for.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub award: String,
    #[serde(default)]
    pub filter: BatchFilter,
}

/// One payment of a batch, as shown to people.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentLine {
    pub e2e: String,
    pub payee: String,
    pub amount: String,
    pub currency: String,
    pub entitlements: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reissues: Vec<String>,
    pub status: String,
}

/// A batch about to be created: its commands and what it will hold.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    pub batch: Id,
    pub commands: Vec<Command>,
    pub digest: String,
    pub total: String,
    pub payments: Vec<PaymentLine>,
    pub exceptions: Vec<BatchExceptionBody>,
}

/// A batch as the API and the CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    pub batch: String,
    pub award: String,
    pub currency: String,
    pub status: String,
    pub preparer: String,
    pub created_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub total: String,
    pub payment_count: u64,
    pub exception_count: u64,
    pub filter: BatchFilter,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted: Option<crate::domain::disburse::Decision>,
    pub approvals_required: u32,
    pub approvals: Vec<crate::domain::disburse::Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<crate::domain::disburse::Decision>,
    pub files: Vec<FileView>,
    pub send_seqs: Vec<u64>,
    /// Payments per state.
    pub by_status: BTreeMap<String, StatusCount>,
    /// Cash the award can still commit (bank less in transit less approved unsent batches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_funds: Option<String>,
    pub payments: Vec<PaymentLine>,
    /// Where the page of payments starts, and how many payments there are in all.
    pub offset: u64,
    pub exceptions: Vec<BatchExceptionBody>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusCount {
    pub count: u64,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    pub format: String,
    pub sha256: String,
    pub message_id: String,
    pub created_at: String,
    pub seq: u64,
}

/// A bank file and whether it must still be recorded.
#[derive(Debug, Clone)]
pub struct BankFile {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub file_name: String,
    pub content_type: &'static str,
    /// The `batch.file` command to append when the file is made for the first time.
    pub record: Option<Command>,
}

/// What importing a file will do, or did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub sha256: String,
    pub format: String,
    pub award: String,
    /// True when the file was imported before: nothing was posted this time.
    pub already_imported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub lines: u64,
    /// Outcomes applied, per status: count and amount.
    pub applied: BTreeMap<String, StatusCount>,
    pub exceptions: Vec<ImportExceptionBody>,
}

/// An import about to be appended.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub commands: Vec<Command>,
    pub report: ImportReport,
}

/// One step of a payment's trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStep {
    pub step: String,
    pub seq: u64,
    pub kind: String,
    pub at: String,
    pub actor: String,
    pub detail: String,
}

/// A payment with everything that led to it and followed it.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub payment: PaymentLine,
    pub batch: String,
    pub award: String,
    pub steps: Vec<TraceStep>,
}

/// Participant data the bank file and the batch builder need.
struct PayeeData {
    name: Option<String>,
    account: Option<String>,
    province: Option<String>,
    erased: bool,
}

fn text_field(v: &Option<serde_json::Value>, key: &str) -> Option<String> {
    v.as_ref()?
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The bytes a part may hold, well under the 64 KiB record limit (the rest of the record and
/// its postings fit in what is left).
const PART_BUDGET: usize = 40_000;

/// Splits two lists into parts: the first list first, then the second, each part holding at
/// most `max` items of each list and about `PART_BUDGET` bytes of their JSON (each first-list
/// item counted with `extra` more bytes). Always at least one part.
/// The outcomes and exceptions of one `bank.status` part.
type StatusPart = (Vec<OutcomeBody>, Vec<ImportExceptionBody>);

fn split_parts<A: Serialize + Clone, B: Serialize + Clone>(
    a: &[A],
    b: &[B],
    max: usize,
    extra: usize,
) -> Vec<(Vec<A>, Vec<B>)> {
    fn size<T: Serialize>(v: &T) -> usize {
        serde_json::to_vec(v).map_or(0, |v| v.len() + 1)
    }
    let mut parts: Vec<(Vec<A>, Vec<B>)> = vec![(Vec::new(), Vec::new())];
    let mut used = 0usize;
    for item in a {
        let n = size(item) + extra;
        let last = parts.last_mut().expect("one part");
        if !last.0.is_empty() && (used + n > PART_BUDGET || last.0.len() >= max) {
            parts.push((Vec::new(), Vec::new()));
            used = 0;
        }
        parts.last_mut().expect("one part").0.push(item.clone());
        used += n;
    }
    for item in b {
        let n = size(item);
        let last = parts.last_mut().expect("one part");
        if (!last.0.is_empty() || !last.1.is_empty())
            && (used + n > PART_BUDGET || last.1.len() >= max)
        {
            parts.push((Vec::new(), Vec::new()));
            used = 0;
        }
        parts.last_mut().expect("one part").1.push(item.clone());
        used += n;
    }
    parts
}

fn batch_in<'a>(st: &'a ProgrammeState, batch: &Id) -> Result<&'a Batch, StoreError> {
    st.disburse.batches.get(batch).ok_or_else(|| {
        invalid(
            "batch",
            Code::UnknownBatch,
            format!("there is no batch {batch}"),
        )
    })
}

/// Payments as CSV for spreadsheets (RFC 4180, formula cells defused).
pub fn payments_csv(rows: Vec<PaymentLine>) -> String {
    let mut out =
        String::from("end_to_end_id,payee,amount,currency,status,entitlements,reissues\r\n");
    for r in rows {
        let entitlements = r
            .entitlements
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let cells = [
            r.e2e,
            r.payee,
            r.amount,
            r.currency,
            r.status,
            entitlements,
            r.reissues.join(" "),
        ];
        let line: Vec<String> = cells.iter().map(|c| crate::csv::cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

impl Ledger {
    async fn payee_data(&self, award: &Id) -> Result<HashMap<String, PayeeData>, StoreError> {
        let rows = self.store().personal_rows(award.as_str()).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let data = PayeeData {
                    name: text_field(&r.personal, "name"),
                    account: text_field(&r.personal, "bank_account"),
                    province: text_field(&r.attributes, "province"),
                    erased: r.erased_at.is_some() || r.personal.is_none(),
                };
                (r.participant, data)
            })
            .collect())
    }

    /// The command that sets an award's paying account, vendor accounts and dual-approval
    /// amount. An account written like an IBAN must be a valid one (`invalid_iban`, naming
    /// `debtor.account` or `vendors[i].account`): checked here, where settings are accepted,
    /// and not when settings already in the journal are replayed or verified.
    pub fn settings_command(body: DisbursementConfigBody) -> Result<Command, StoreError> {
        let accounts = std::iter::once(("debtor.account".to_string(), &body.debtor)).chain(
            body.vendors
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("vendors[{i}].account"), &v.account)),
        );
        for (field, bank) in accounts {
            iso20022::check_account(&field, &bank.account).map_err(StoreError::Invalid)?;
        }
        Ok(Command::Disburse(DisburseCommand::Config(body)))
    }

    /// Builds a batch from the award's open payables that match `filter`: one payment per
    /// payee, settling all of its open entitlements. Payees that cannot be paid (no bank
    /// account, personal data erased, no vendor account, payable lower than its entitlements)
    /// are listed as exceptions.
    pub async fn plan_batch(&self, req: &BatchRequest) -> Result<BatchPlan, StoreError> {
        let award = Id::parse(&req.award).map_err(|e| StoreError::Invalid(e.within("award")))?;
        req.filter.check().map_err(StoreError::Invalid)?;
        let payables: HashMap<String, i64> = self
            .store()
            .balances(&format!("payable:{award}"))
            .await?
            .into_iter()
            .map(|b| (b.account, b.credit_minor - b.debit_minor))
            .collect();
        let people = self.payee_data(&award).await?;
        let st = self.store().programme().await?;
        let a = st.awards.get(&award).ok_or_else(|| {
            invalid(
                "award",
                Code::UnknownAward,
                format!("there is no award {award}"),
            )
        })?;
        let currency = a.currency;
        let settings = st.disburse.settings.get(&award);
        let wanted: Option<HashSet<Payee>> = req
            .filter
            .payees
            .as_ref()
            .map(|l| l.iter().filter_map(|p| Payee::parse(p).ok()).collect());
        // Open items per payee, and items held elsewhere (to explain an empty batch).
        let mut open: BTreeMap<Payee, Vec<u64>> = BTreeMap::new();
        let mut held: Vec<(u64, u32)> = Vec::new();
        for (&seq, item) in &st.disburse.items {
            if item.award != award || item.reversed_by.is_some() {
                continue;
            }
            if let Some(w) = &wanted {
                if !w.contains(&item.payee) {
                    continue;
                }
            }
            if let Some(line) = &req.filter.budget_line {
                if item.line.as_ref() != Some(line) {
                    continue;
                }
            }
            if let Some(cohort) = &req.filter.cohort {
                let enrolled = st
                    .participant(&item.participant)
                    .is_some_and(|p| p.enrolled_in(cohort).is_some());
                if !enrolled {
                    continue;
                }
            }
            if let Some(province) = &req.filter.province {
                if let Payee::Participant(p) = &item.payee {
                    let known = people.get(p.as_str());
                    let matches = known.is_some_and(|d| {
                        d.erased
                            || d.province
                                .as_deref()
                                .is_some_and(|v| v.eq_ignore_ascii_case(province))
                    });
                    if !matches {
                        continue;
                    }
                } else {
                    continue;
                }
            }
            match item.payment {
                None => open.entry(item.payee.clone()).or_default().push(seq),
                Some(pi) => {
                    let state = st.disburse.payments[pi as usize].state;
                    if state != PaymentState::Confirmed {
                        held.push((seq, pi));
                    }
                }
            }
        }
        let batch = st.disburse.next_batch_id();
        let mut payments: Vec<PaymentBody> = Vec::new();
        let mut exceptions: Vec<BatchExceptionBody> = Vec::new();
        let mut total = 0i64;
        for (payee, mut items) in open {
            items.sort_unstable();
            let amount: i64 = items.iter().map(|s| st.disburse.items[s].amount).sum();
            let payable = payee.payable(&award);
            let owed = payables.get(&payable).copied().unwrap_or(0)
                - st.disburse.reserved.get(&payable).copied().unwrap_or(0);
            let reason = match &payee {
                Payee::Participant(p) => match people.get(p.as_str()) {
                    None => Some("personal_data_erased"),
                    Some(d) if d.erased => Some("personal_data_erased"),
                    Some(d) if d.account.is_none() => Some("no_bank_account"),
                    Some(_) => None,
                },
                Payee::Vendor(v) => {
                    let known =
                        settings.is_some_and(|s| s.body.vendors.iter().any(|x| &x.vendor == v));
                    (!known).then_some("no_vendor_account")
                }
            };
            let reason = reason.or((amount > owed).then_some("payable_short"));
            if let Some(reason) = reason {
                exceptions.push(BatchExceptionBody {
                    payee: payee.to_string(),
                    amount: money(amount, currency),
                    reason: reason.to_string(),
                });
                continue;
            }
            let mut reissues: Vec<String> = Vec::new();
            for s in &items {
                if let Some(&failed) = st.disburse.items[s].returned.last() {
                    let f = &st.disburse.payments[failed as usize];
                    if f.reissued_by.is_none() && !reissues.contains(&f.e2e) {
                        reissues.push(f.e2e.clone());
                    }
                }
            }
            for chunk in items.chunks(MAX_ENTITLEMENTS_PER_PAYMENT) {
                let amount: i64 = chunk.iter().map(|s| st.disburse.items[s].amount).sum();
                let n = payments.len() + 1;
                payments.push(PaymentBody {
                    e2e: e2e_id(&batch, n),
                    payee: payee.to_string(),
                    amount: money(amount, currency),
                    entitlements: chunk.to_vec(),
                    reissues: std::mem::take(&mut reissues),
                });
                total += amount;
            }
        }
        if payments.is_empty() {
            if let Some((seq, pi)) = held.first() {
                let p = &st.disburse.payments[*pi as usize];
                return Err(invalid(
                    "filter",
                    Code::PayableInOpenBatch,
                    format!(
                        "nothing to pay: {} matching entitlement(s) are already in open batches (seq {seq} is in payment {} of batch {}, {})",
                        held.len(),
                        p.e2e,
                        p.batch,
                        p.state.as_str()
                    ),
                ));
            }
            return Err(invalid(
                "filter",
                Code::NoOpenPayables,
                if exceptions.is_empty() {
                    format!("award {award} has no open payables matching the filter")
                } else {
                    format!(
                        "none of the {} payees with open payables can be paid: {}",
                        exceptions.len(),
                        exceptions
                            .iter()
                            .take(5)
                            .map(|x| format!("{} ({})", x.payee, x.reason))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            ));
        }
        let split = split_parts(&payments, &exceptions, PAYMENTS_PER_PART, 0);
        let parts = split.len();
        let header = BatchCreateBody {
            batch: batch.clone(),
            award: award.clone(),
            currency: currency.code().to_string(),
            filter: req.filter.clone(),
            payments: payments.len() as u64,
            total: money(total, currency),
            exceptions: exceptions.len() as u64,
            parts: parts as u32,
        };
        let bodies: Vec<BatchPartBody> = split
            .into_iter()
            .enumerate()
            .map(|(i, (payments, exceptions))| BatchPartBody {
                batch: batch.clone(),
                award: award.clone(),
                part: i as u32,
                payments,
                exceptions,
            })
            .collect();
        let digest = batch_digest(&header, &bodies);
        let lines = payments
            .iter()
            .map(|p| PaymentLine {
                e2e: p.e2e.clone(),
                payee: p.payee.clone(),
                amount: p.amount.clone(),
                currency: currency.code().to_string(),
                entitlements: p.entitlements.clone(),
                reissues: p.reissues.clone(),
                status: "pending".into(),
            })
            .collect();
        let mut commands = Vec::with_capacity(parts + 1);
        commands.push(Command::Disburse(DisburseCommand::Create(header)));
        commands.extend(
            bodies
                .into_iter()
                .map(|b| Command::Disburse(DisburseCommand::Part(Box::new(b)))),
        );
        Ok(BatchPlan {
            batch,
            commands,
            digest,
            total: money(total, currency),
            payments: lines,
            exceptions,
        })
    }

    /// The `batch.submit` command that freezes a draft batch at its digest.
    pub async fn submit_command(&self, batch: &Id) -> Result<Command, StoreError> {
        let st = self.store().programme().await?;
        let b = batch_in(&st, batch)?;
        if b.status != BatchStatus::Draft {
            return Err(invalid(
                "batch",
                Code::BatchNotDraft,
                format!(
                    "batch {batch} is {}: only a draft can be submitted",
                    b.status.as_str()
                ),
            ));
        }
        let award = b.header.award.clone();
        Ok(Command::Disburse(DisburseCommand::Submit(
            BatchSubmitBody {
                batch: batch.clone(),
                award: award.clone(),
                digest: b.digest_hex.clone().unwrap_or_default(),
                approvals_required: st.disburse.approvals_for(&award, b.currency, b.total),
            },
        )))
    }

    /// The approval or rejection of a batch by its frozen digest. Without `digest` the batch's
    /// current digest is used (the CLI shows it); the API always requires it.
    pub async fn decision_command(
        &self,
        batch: &Id,
        approve: bool,
        digest: Option<&str>,
        reason: Option<String>,
    ) -> Result<Command, StoreError> {
        let st = self.store().programme().await?;
        let b = batch_in(&st, batch)?;
        let body = BatchDecisionBody {
            batch: batch.clone(),
            award: b.header.award.clone(),
            digest: digest
                .map(str::to_string)
                .or_else(|| b.digest_hex.clone())
                .unwrap_or_default(),
            reason: reason.filter(|r| !r.trim().is_empty()),
        };
        Ok(Command::Disburse(if approve {
            DisburseCommand::Approve(body)
        } else {
            DisburseCommand::Reject(body)
        }))
    }

    /// The cancellation of a batch not yet sent.
    pub async fn cancel_command(&self, batch: &Id, reason: String) -> Result<Command, StoreError> {
        let st = self.store().programme().await?;
        let b = batch_in(&st, batch)?;
        Ok(Command::Disburse(DisburseCommand::Cancel(
            BatchCancelBody {
                batch: batch.clone(),
                award: b.header.award.clone(),
                reason,
            },
        )))
    }

    /// The bank file of an approved batch, `pain.001.001.09` or `csv`. The first time, it is
    /// made now and comes with the `batch.file` command recording its digest; after that it is
    /// made again from the recorded message id and times and must hash the same, or the
    /// participant store changed since (an account edited or erased) and it is refused.
    pub async fn bank_file(
        &self,
        batch: &Id,
        format: &str,
        now: DateTime<Utc>,
        execution_date: Option<NaiveDate>,
    ) -> Result<BankFile, StoreError> {
        let format = match format {
            "pain.001" | "pain.001.001.09" | "xml" => "pain.001.001.09",
            "csv" => "csv",
            other => {
                return Err(invalid(
                    "format",
                    Code::UnknownFormat,
                    format!("{other:?} is not a bank file format: use pain.001 or csv"),
                ))
            }
        };
        let award = {
            let st = self.store().programme().await?;
            batch_in(&st, batch)?.header.award.clone()
        };
        let people = self.payee_data(&award).await?;
        let st = self.store().programme().await?;
        let b = batch_in(&st, batch)?;
        if !matches!(b.status, BatchStatus::Approved | BatchStatus::Sent) {
            return Err(invalid(
                "batch",
                Code::BatchNotApproved,
                format!(
                    "batch {batch} is {} ({} of {} approvals): a bank file is made only for an approved batch",
                    b.status.as_str(),
                    b.approvals.len(),
                    b.approvals_required.max(1)
                ),
            ));
        }
        let settings = st.disburse.settings.get(&award).ok_or_else(|| {
            invalid(
                "award",
                Code::NoDisbursementSettings,
                format!(
                    "award {award} has no paying account: set it first (tranche award settings)"
                ),
            )
        })?;
        let recorded = b.files.iter().find(|f| f.body.format == format);
        let (message_id, created_at, execution) = match recorded {
            Some(f) => (
                f.body.message_id.clone(),
                tranche_audit::record::parse_time(&f.body.created_at).unwrap_or(now),
                f.body.execution_date.0,
            ),
            None => (
                format!("{batch}-F{}", b.files.len() + 1),
                now,
                execution_date.unwrap_or_else(|| now.date_naive()),
            ),
        };
        let created_at = created_at.with_timezone(&Utc).with_nanosecond_zero();
        let mut transfers = Vec::with_capacity(b.payments.len());
        for &pi in &b.payments {
            let p = &st.disburse.payments[pi as usize];
            let (name, account, bic, domestic) = match &p.payee {
                Payee::Participant(id) => {
                    let d = people.get(id.as_str()).filter(|d| !d.erased).ok_or_else(|| {
                        invalid(
                            "batch",
                            Code::PersonalDataErased,
                            format!("payment {} goes to {id}, whose personal data was erased: cancel the batch and build a new one", p.e2e),
                        )
                    })?;
                    let account = d.account.clone().ok_or_else(|| {
                        invalid(
                            "batch",
                            Code::NoBankAccount,
                            format!(
                                "payment {} goes to {id}, who has no bank account on file",
                                p.e2e
                            ),
                        )
                    })?;
                    (
                        d.name.clone().unwrap_or_else(|| id.to_string()),
                        account,
                        None,
                        (None, None),
                    )
                }
                Payee::Vendor(v) => {
                    let acc = settings
                        .body
                        .vendors
                        .iter()
                        .find(|x| &x.vendor == v)
                        .ok_or_else(|| {
                            invalid(
                                "batch",
                                Code::NoVendorAccount,
                                format!("payment {} goes to vendor {v}, whose account is not in award {award}'s settings", p.e2e),
                            )
                        })?;
                    (
                        acc.account.name.clone(),
                        acc.account.account.clone(),
                        acc.account.agent_bic.clone(),
                        (acc.account.bank_code.clone(), acc.account.account_type),
                    )
                }
            };
            transfers.push(CreditTransfer {
                end_to_end_id: p.e2e.clone(),
                instruction_id: p.e2e.clone(),
                amount_minor: p.amount,
                currency: b.currency,
                creditor_name: name,
                creditor_account: AccountId::from_text(&account),
                creditor_agent_bic: bic,
                creditor_bank_code: domestic.0,
                creditor_account_type: domestic.1,
                remittance: Some(format!("{award} {}", p.payee)),
            });
        }
        let iso = |e: iso20022::Iso20022Error| StoreError::Invalid(e.to_invalid());
        let (text, content_type, ext) = if format == "csv" {
            (
                iso20022::write_payments_csv(&transfers).map_err(iso)?,
                "text/csv; charset=utf-8",
                "csv",
            )
        } else {
            let doc = CreditTransferInitiation {
                message_id: message_id.clone(),
                created_at,
                initiating_party: settings.body.debtor.name.clone(),
                payment_info_id: Some(message_id.clone()),
                requested_execution_date: execution,
                debtor: Debtor {
                    name: settings.body.debtor.name.clone(),
                    account: AccountId::from_text(&settings.body.debtor.account),
                    agent_bic: settings.body.debtor.agent_bic.clone(),
                    bank_code: settings.body.debtor.bank_code.clone(),
                    account_type: settings.body.debtor.account_type,
                },
                currency: b.currency,
                payments: transfers,
            };
            (
                iso20022::write_pain001(&doc).map_err(iso)?,
                "application/xml",
                "xml",
            )
        };
        let bytes = text.into_bytes();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let record = match recorded {
            Some(f) if f.body.sha256 == sha256 => None,
            Some(f) => {
                return Err(invalid(
                    "batch",
                    Code::FileChanged,
                    format!(
                        "the {format} file of batch {batch} recorded at seq {} no longer comes out the same: a payee's account or name changed since; cancel the batch if it was not sent",
                        f.seq
                    ),
                ))
            }
            None => Some(Command::Disburse(DisburseCommand::File(BatchFileBody {
                batch: batch.clone(),
                award: award.clone(),
                format: format.to_string(),
                sha256: sha256.clone(),
                message_id: message_id.clone(),
                created_at: format_time(created_at),
                execution_date: Date(execution),
                payments: b.payments.len() as u64,
                control_sum: money(b.total, b.currency),
            }))),
        };
        Ok(BankFile {
            bytes,
            sha256,
            file_name: format!("{batch}.{ext}"),
            content_type,
            record,
        })
    }

    /// The commands that mark a batch sent with the recorded bank file `file` (by SHA-256; the
    /// only recorded file when `None`). Empty when the batch was already sent with it.
    /// `date` is the day it was sent (the accounting date of its postings); `None`: today in
    /// the award's time zone.
    pub async fn send_commands(
        &self,
        batch: &Id,
        file: Option<&str>,
        date: Option<NaiveDate>,
    ) -> Result<Vec<Command>, StoreError> {
        let st = self.store().programme().await?;
        let b = batch_in(&st, batch)?;
        let date = date.unwrap_or_else(|| {
            tranche_audit::period::local_date(
                st.awards.get(&b.header.award).map(|a| &a.body),
                chrono::Utc::now(),
            )
        });
        if b.status == BatchStatus::Sent {
            return Ok(Vec::new());
        }
        if b.status != BatchStatus::Approved {
            return Err(invalid(
                "batch",
                Code::BatchNotApproved,
                format!(
                    "batch {batch} is {} ({} of {} approvals): only an approved batch can be sent",
                    b.status.as_str(),
                    b.approvals.len(),
                    b.approvals_required.max(1)
                ),
            ));
        }
        let file = match file {
            Some(f) => f.to_string(),
            None => match b.files.as_slice() {
                [one] => one.body.sha256.clone(),
                [] => {
                    return Err(invalid(
                        "file",
                        Code::NoBankFile,
                        format!("batch {batch} has no bank file yet: download it first"),
                    ))
                }
                _ => {
                    return Err(invalid(
                        "file",
                        Code::FileRequired,
                        format!(
                        "batch {batch} has several bank files: name the one sent by its SHA-256"
                    ),
                    ))
                }
            },
        };
        let mut out = Vec::with_capacity(b.header.parts as usize);
        for part in 0..b.header.parts {
            if b.part_ranges
                .get(part as usize)
                .is_none_or(|r| r.is_empty())
            {
                continue;
            }
            let postings = send_postings(&st.disburse, b, part).map_err(StoreError::Invalid)?;
            let body = BatchSendBody {
                batch: batch.clone(),
                award: b.header.award.clone(),
                part,
                file: file.clone(),
                accounting_date: tranche_audit::programme::Date(date),
                postings: postings.iter().map(PostingBody::from_posting).collect(),
            };
            let tx = NewTransaction::sending(&body).map_err(StoreError::Invalid)?;
            out.push(Command::Disburse(DisburseCommand::Send(Box::new(body), tx)));
        }
        Ok(out)
    }

    /// Reads a pain.002, camt.053 or status CSV and builds the commands that apply it. Lines
    /// that do not match a payment in a state that allows them post nothing and are listed as
    /// exceptions. A file imported before posts nothing again.
    /// `date` dates the lines that state no booking date (a pain.002, a status CSV line with
    /// no `date`); `None`: today in the award's time zone. Outcomes go in parts of one date
    /// each, dated by it.
    pub async fn plan_import(
        &self,
        bytes: &[u8],
        date: Option<NaiveDate>,
    ) -> Result<ImportPlan, StoreError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let mut lines = read_status_file(bytes)?;
        let st = self.store().programme().await?;
        // A status for the whole message applies to each of its payments.
        if let (Some((status, reason, line)), Some(original)) =
            (lines.group.clone(), lines.original_message_id.clone())
        {
            if let Some(batch) = st.disburse.messages.get(&original) {
                let b = &st.disburse.batches[batch];
                for &pi in &b.payments {
                    let p = &st.disburse.payments[pi as usize];
                    lines.lines.push(StatusLine {
                        line,
                        e2e: Some(p.e2e.clone()),
                        status: Some(status),
                        amount: None,
                        reason: reason.clone(),
                        skip_code: "",
                        skip_detail: String::new(),
                        at: None,
                        date: None,
                    });
                }
            }
        }
        if let Some(done) = st.disburse.imports.get(&sha256) {
            return Ok(ImportPlan {
                commands: Vec::new(),
                report: import_report(&st, done, true),
            });
        }
        // Which batch the file reports on.
        if let Some(original) = &lines.original_message_id {
            if !st.disburse.messages.contains_key(original) {
                return Err(invalid(
                    "original_message_id",
                    Code::UnknownBatch,
                    format!("the status report answers message {original}, which is no bank file tranche made"),
                ));
            }
        }
        let mut award: Option<Id> = None;
        for l in &lines.lines {
            if let Some(p) = l.e2e.as_deref().and_then(|e| st.disburse.payment(e)) {
                award = Some(p.award.clone());
                break;
            }
        }
        let Some(award) = award else {
            return Err(invalid(
                "file",
                Code::UnknownBatch,
                "no line of this file names a payment of a batch tranche made",
            ));
        };
        let currency = st.awards[&award].currency;
        let default_date = date.or(lines.created).unwrap_or_else(|| {
            tranche_audit::period::local_date(
                st.awards.get(&award).map(|a| &a.body),
                chrono::Utc::now(),
            )
        });
        let statements = statement_bodies(&lines, &award, currency)?;
        let camt = lines.format == "camt.053";
        let mut outcomes = Vec::new();
        let mut exceptions = Vec::new();
        let mut seen = HashSet::new();
        for l in &lines.lines {
            let mut refuse = |code: &str, detail: String| {
                exceptions.push(ImportExceptionBody {
                    line: l.line,
                    e2e: l.e2e.clone(),
                    amount: l.amount.map(|m| m.to_string()),
                    code: code.to_string(),
                    detail,
                    at: l.at.clone(),
                });
            };
            let Some(status) = l.status else {
                refuse(l.skip_code, l.skip_detail.clone());
                continue;
            };
            let Some(e2e) = &l.e2e else {
                refuse("no_end_to_end_id", "the line names no end-to-end id".into());
                continue;
            };
            let Some(p) = st.disburse.payment(e2e) else {
                refuse(
                    "unknown_end_to_end_id",
                    format!("no payment has end-to-end id {e2e}"),
                );
                continue;
            };
            if p.award != award {
                refuse(
                    "payment_of_another_award",
                    format!(
                        "payment {e2e} belongs to award {}, the file to award {award}",
                        p.award
                    ),
                );
                continue;
            }
            if let Some(m) = &l.amount {
                if m.currency() != currency {
                    refuse(
                        "currency_mismatch",
                        format!(
                            "the line is in {}, payment {e2e} in {currency}",
                            m.currency()
                        ),
                    );
                    continue;
                }
                if m.minor() != p.amount {
                    refuse(
                        "amount_mismatch",
                        format!(
                            "the line says {m}, payment {e2e} is {}",
                            money(p.amount, currency)
                        ),
                    );
                    continue;
                }
            }
            if !seen.insert(e2e.clone()) {
                refuse(
                    "duplicate_line",
                    format!("payment {e2e} has an earlier line in this file; import the later status in its own file"),
                );
                continue;
            }
            let allowed = matches!(
                (p.state, status),
                (PaymentState::Sent, PaymentStatus::Accepted)
                    | (
                        PaymentState::Sent | PaymentState::Accepted,
                        PaymentStatus::Confirmed | PaymentStatus::Rejected
                    )
                    | (
                        PaymentState::Sent | PaymentState::Accepted | PaymentState::Confirmed,
                        PaymentStatus::Returned
                    )
            );
            if camt
                && status == PaymentStatus::Returned
                && matches!(p.state, PaymentState::Sent | PaymentState::Accepted)
            {
                return Err(invalid(
                    &line_field(l),
                    Code::ReturnNotConfirmed,
                    format!(
                        "{}: a return of payment {e2e}, which no statement has booked out \
                         (it is {}): a statement returns only what it booked; nothing was posted",
                        line_name(l),
                        p.state.as_str()
                    ),
                ));
            }
            if !allowed {
                let code = match p.state {
                    PaymentState::Confirmed => "already_confirmed",
                    PaymentState::Rejected => "already_rejected",
                    PaymentState::Returned => "already_returned",
                    PaymentState::Accepted => "already_accepted",
                    PaymentState::Pending | PaymentState::Withdrawn => "not_sent",
                    PaymentState::Sent => "status_not_allowed",
                };
                refuse(
                    code,
                    format!(
                        "payment {e2e} is {}: a {} line posts nothing",
                        p.state.as_str(),
                        status.as_str()
                    ),
                );
                continue;
            }
            outcomes.push((
                l.date.unwrap_or(default_date),
                OutcomeBody {
                    e2e: e2e.clone(),
                    status,
                    amount: money(p.amount, currency),
                    reason: l.reason.clone(),
                    line: l.line,
                    at: l.at.clone(),
                },
            ));
        }
        // The outcomes of each booking date go in parts of their own, dated by it (the
        // exceptions, which post nothing, with the first date's). Within a date, confirmations
        // go in parts of their own, whose postings name no payee (in transit to bank): a
        // participant's receipt of its confirmation then names no other participant.
        // Rejections and returns, which credit each payee's payable back, follow; each may add
        // a posting, so room is left for it.
        let mut by_date: BTreeMap<NaiveDate, Vec<OutcomeBody>> = BTreeMap::new();
        for (d, o) in &outcomes {
            by_date.entry(*d).or_default().push(o.clone());
        }
        if by_date.is_empty() {
            // Only exceptions: dated by the file's last line date, else the default.
            let day = lines
                .lines
                .iter()
                .filter_map(|l| l.date)
                .max()
                .unwrap_or(default_date);
            by_date.insert(day, Vec::new());
        }
        let mut split: Vec<(NaiveDate, StatusPart)> = Vec::new();
        for (i, (day, list)) in by_date.into_iter().enumerate() {
            let excs: &[ImportExceptionBody] = if i == 0 { &exceptions } else { &[] };
            let (settled, returned): (Vec<OutcomeBody>, Vec<OutcomeBody>) =
                list.into_iter().partition(|o| {
                    matches!(o.status, PaymentStatus::Confirmed | PaymentStatus::Accepted)
                });
            if !(settled.is_empty() && excs.is_empty() && !returned.is_empty()) {
                split.extend(
                    split_parts(&settled, excs, OUTCOMES_PER_PART, 0)
                        .into_iter()
                        .map(|p| (day, p)),
                );
            }
            if !returned.is_empty() {
                split.extend(
                    split_parts::<OutcomeBody, ImportExceptionBody>(
                        &returned,
                        &[],
                        OUTCOMES_PER_PART,
                        120,
                    )
                    .into_iter()
                    .map(|p| (day, p)),
                );
            }
        }
        let outcomes: Vec<OutcomeBody> = outcomes.into_iter().map(|(_, o)| o).collect();
        let parts = split.len();
        let header = BankImportBody {
            award: award.clone(),
            format: lines.format.to_string(),
            sha256: sha256.clone(),
            message_id: lines.message_id.clone(),
            original_message_id: lines.original_message_id.clone(),
            lines: lines.lines.len() as u64,
            outcomes: outcomes.len() as u64,
            exceptions: exceptions.len() as u64,
            parts: parts as u32,
            statements,
        };
        let mut applied: BTreeMap<String, StatusCount> = BTreeMap::new();
        for o in &outcomes {
            let p = st.disburse.payment(&o.e2e).expect("matched above");
            let e = applied.entry(o.status.as_str().to_string()).or_default();
            e.count += 1;
            let before = Money::parse_positive(&e.amount, currency)
                .map(|m| m.minor())
                .unwrap_or(0);
            e.amount = money(before + p.amount, currency);
        }
        // The lines journaled add up to the statements' booked entries, as the verifier checks.
        let mut tally = tranche_audit::disburse::lifecycle::StatementTally::default();
        let mut commands = vec![Command::Disburse(DisburseCommand::Import(header.clone()))];
        for (i, (day, (chunk, excs))) in split.into_iter().enumerate() {
            let postings = status_postings(&st.disburse, &award, currency, &chunk)
                .map_err(StoreError::Invalid)?;
            let body = BankStatusBody {
                award: award.clone(),
                import: sha256.clone(),
                part: i as u32,
                accounting_date: tranche_audit::programme::Date(day),
                outcomes: chunk,
                exceptions: excs,
                postings: postings.iter().map(PostingBody::from_posting).collect(),
            };
            tally
                .add(&header, &body, currency)
                .map_err(StoreError::Invalid)?;
            let tx = NewTransaction::bank_status(&body).map_err(StoreError::Invalid)?;
            commands.push(Command::Disburse(DisburseCommand::Status(
                Box::new(body),
                tx,
            )));
        }
        tally
            .check(&header, currency)
            .map_err(StoreError::Invalid)?;
        Ok(ImportPlan {
            commands,
            report: ImportReport {
                sha256,
                format: lines.format.to_string(),
                award: award.to_string(),
                already_imported: false,
                seq: None,
                lines: lines.lines.len() as u64,
                applied,
                exceptions,
            },
        })
    }

    /// The currency of an award, from the awards projection.
    async fn award_currency(&self, award: &str) -> Result<Currency, StoreError> {
        let award = Id::parse(award).map_err(|e| StoreError::Invalid(e.within("award")))?;
        self.award_body(&award)
            .await?
            .currency()
            .map_err(StoreError::Invalid)
    }

    async fn import_of(
        &self,
        row: &crate::domain::ImportRow,
        currency: Currency,
    ) -> Result<ImportReport, StoreError> {
        let (parts, applied) = self.store().import_parts(&row.sha256).await?;
        views::import(row, &parts, &applied, currency)
    }

    /// The report of a file imported before, by its SHA-256 (from the projections).
    pub async fn import_view(&self, sha256: &str) -> Result<ImportReport, StoreError> {
        let rows = self.store().import_rows(Some(sha256)).await?;
        let row = rows.first().ok_or_else(|| {
            invalid(
                "sha256",
                Code::UnknownImport,
                format!("no file with SHA-256 {sha256} was imported"),
            )
        })?;
        let currency = self.award_currency(&row.award).await?;
        self.import_of(row, currency).await
    }

    /// Every import, newest first.
    pub async fn imports(&self) -> Result<Vec<ImportReport>, StoreError> {
        // Each award's currency read once, however many files it has.
        let mut currencies: HashMap<String, Currency> = HashMap::new();
        let mut out = Vec::new();
        for row in self.store().import_rows(None).await? {
            let currency = match currencies.get(&row.award) {
                Some(c) => *c,
                None => {
                    let c = self.award_currency(&row.award).await?;
                    currencies.insert(row.award.clone(), c);
                    c
                }
            };
            out.push(self.import_of(&row, currency).await?);
        }
        Ok(out)
    }

    /// A batch from the projections, with one page of its payments (none when `limit` is 0) and,
    /// when `funds`, the cash its award can still commit.
    async fn batch_from_rows(
        &self,
        header: &crate::domain::BatchRow,
        events: &[crate::domain::BatchEventRow],
        offset: u64,
        limit: u64,
        funds: bool,
    ) -> Result<BatchView, StoreError> {
        let store = self.store();
        let currency = views::currency(&header.currency)?;
        let states = store.batch_states(&header.batch).await?;
        let count: u64 = states.iter().map(|t| t.count).sum();
        let offset = offset.min(count);
        let page = if limit == 0 {
            Vec::new()
        } else {
            store
                .batch_payment_rows(&header.batch, offset, limit)
                .await?
        };
        let dual_above = store.settings_row(&header.award).await?.map_or_else(
            || tranche_audit::disburse::lifecycle::default_dual_approval_above(currency),
            |s| s.dual_approval_above_minor,
        );
        let available = if funds {
            let award = &header.award;
            let (bank, transit) = (format!("bank:{award}"), format!("transit:{award}"));
            let cash = store
                .balances(&bank)
                .await?
                .into_iter()
                .chain(store.balances(&transit).await?)
                .filter(|b| b.account == bank || b.account == transit)
                .map(|b| i128::from(b.debit_minor) - i128::from(b.credit_minor))
                .sum::<i128>();
            Some(cash - i128::from(store.committed_minor(award).await?))
        } else {
            None
        };
        views::batch(views::BatchParts {
            header,
            events,
            states: &states,
            page: &page,
            offset,
            dual_above,
            available,
        })
    }

    /// A batch, with one page of its payments (from the projections).
    pub async fn batch_view(
        &self,
        batch: &Id,
        offset: u64,
        limit: u64,
    ) -> Result<BatchView, StoreError> {
        let (header, events) = self
            .store()
            .batch_rows(batch.as_str())
            .await?
            .ok_or_else(|| views::unknown_batch(batch.as_str()))?;
        self.batch_from_rows(&header, &events, offset, limit, true)
            .await
    }

    /// Batches, newest first, optionally of one award (from the projections).
    pub async fn batches(&self, award: Option<&Id>) -> Result<Vec<BatchView>, StoreError> {
        let headers = self.store().batch_list(award.map(Id::as_str)).await?;
        let mut out = Vec::with_capacity(headers.len());
        for h in headers {
            let (_, events) = self
                .store()
                .batch_rows(&h.batch)
                .await?
                .ok_or_else(|| views::unknown_batch(&h.batch))?;
            out.push(self.batch_from_rows(&h, &events, 0, 0, false).await?);
        }
        Ok(out)
    }

    /// Every payment of a batch (for CSV), read page by page from the projections.
    pub async fn batch_payments(&self, batch: &Id) -> Result<Vec<PaymentLine>, StoreError> {
        const PAGE: u64 = 5_000;
        let (header, _) = self
            .store()
            .batch_rows(batch.as_str())
            .await?
            .ok_or_else(|| views::unknown_batch(batch.as_str()))?;
        let currency = views::currency(&header.currency)?;
        let mut out = Vec::new();
        loop {
            let page = self
                .store()
                .batch_payment_rows(batch.as_str(), out.len() as u64, PAGE)
                .await?;
            let n = page.len() as u64;
            out.extend(page.iter().map(|p| views::line(&p.row, &p.state, currency)));
            if n < PAGE {
                return Ok(out);
            }
        }
    }

    /// A payment's row, the events of its life, and its batch's header.
    async fn payment_parts(
        &self,
        e2e: &str,
    ) -> Result<
        (
            crate::domain::PaymentRow,
            Vec<crate::domain::PaymentEventRow>,
            crate::domain::BatchRow,
            Vec<crate::domain::BatchEventRow>,
        ),
        StoreError,
    > {
        let (row, events) = self
            .store()
            .payment_rows(e2e)
            .await?
            .ok_or_else(|| views::unknown_payment(e2e))?;
        let (header, life) = self
            .store()
            .batch_rows(&row.batch)
            .await?
            .ok_or_else(|| views::unknown_batch(&row.batch))?;
        Ok((row, events, header, life))
    }

    /// One payment by end-to-end id (from the projections).
    pub async fn payment(&self, e2e: &str) -> Result<PaymentLine, StoreError> {
        let (row, events, header, _) = self.payment_parts(e2e).await?;
        let state = events.last().map_or("pending", |e| e.state.as_str());
        Ok(views::line(&row, state, views::currency(&header.currency)?))
    }

    /// What a payment's receipt is made of: the payment, and the seq of the bank outcome that
    /// confirmed it (if one has).
    pub async fn payment_receipt_seqs(
        &self,
        e2e: &str,
    ) -> Result<(PaymentLine, Option<u64>), StoreError> {
        let (row, events, header, _) = self.payment_parts(e2e).await?;
        let state = events.last().map_or("pending", |e| e.state.as_str());
        let confirmed = events
            .iter()
            .rev()
            .find(|e| e.event == "confirmed")
            .map(|e| e.seq);
        Ok((
            views::line(&row, state, views::currency(&header.currency)?),
            confirmed,
        ))
    }

    /// The trace of a payment: evidence, rule versions, entitlements, the batch, its approvals,
    /// the bank file, the sending and the bank's outcomes, each with its seq.
    pub async fn trace(&self, e2e: &str) -> Result<Trace, StoreError> {
        // (step, seq, detail)
        let mut steps: Vec<(String, u64, String)> = Vec::new();
        let (row, events, header, life_rows) = self.payment_parts(e2e).await?;
        let currency = views::currency(&header.currency)?;
        let state = events.last().map_or("pending", |e| e.state.as_str());
        let line = views::line(&row, state, currency);
        for orig in &line.reissues {
            let (_, orig_events, _, _) = self.payment_parts(orig).await?;
            steps.push((
                "reissue of".into(),
                orig_events.first().map_or(0, |e| e.seq),
                format!(
                    "this payment reissues {orig} ({})",
                    orig_events.last().map_or("pending", |e| e.state.as_str())
                ),
            ));
        }
        let life = views::life(&life_rows)?;
        steps.push((
            "batch created".into(),
            header.seq,
            format!("batch {} by {}", header.batch, header.preparer),
        ));
        if let Some(&part_seq) = life.part_seqs.get(row.part as usize) {
            steps.push((
                "payment listed".into(),
                part_seq,
                format!("{} part {}", header.batch, row.part),
            ));
        }
        if let Some(s) = &life.submitted {
            steps.push((
                "batch submitted".into(),
                s.seq,
                format!(
                    "frozen at digest {} by {}",
                    life.digest.clone().unwrap_or_default(),
                    s.actor
                ),
            ));
        }
        for a in &life.approvals {
            steps.push(("batch approved".into(), a.seq, format!("by {}", a.actor)));
        }
        if let Some(c) = &life.closed {
            steps.push((
                format!("batch {}", life.status),
                c.seq,
                format!("by {}: {}", c.actor, c.reason.clone().unwrap_or_default()),
            ));
        }
        for f in &life.files {
            steps.push((
                "bank file".into(),
                f.seq,
                format!("{} sha256 {}", f.format, f.sha256),
            ));
        }
        for ev in events.iter().skip(1) {
            steps.push((
                format!("payment {}", ev.event),
                ev.seq,
                ev.reason
                    .clone()
                    .map(|r| format!("reason {r}"))
                    .unwrap_or_default(),
            ));
        }
        let (batch, award) = (header.batch.clone(), header.award.clone());
        let mut extra: Vec<(String, u64, String)> = Vec::new();
        let mut evidence: Vec<u64> = Vec::new();
        let mut rules: Vec<(Id, u64)> = Vec::new();
        for &seq in &line.entitlements {
            if let Some(rec) = self.record_at(seq).await? {
                if let Ok(b) = tranche_audit::record::body_from_value::<
                    tranche_audit::programme::EntitlementBody,
                >(&rec.body)
                {
                    extra.push((
                        "entitlement".into(),
                        seq,
                        format!(
                            "{} {} under rule {} v{}",
                            b.participant,
                            b.basis.as_str(),
                            b.rule,
                            b.version
                        ),
                    ));
                    for e in &b.evidence {
                        if !evidence.contains(e) {
                            evidence.push(*e);
                        }
                    }
                    if !rules.iter().any(|(r, v)| r == &b.rule && *v == b.version) {
                        rules.push((b.rule.clone(), b.version));
                    }
                }
            }
        }
        if !rules.is_empty() {
            let (versions, _, _) = self.store().award_detail(&award).await?;
            for (rule, version) in &rules {
                if let Some(v) = versions
                    .iter()
                    .find(|v| v.rule == rule.as_str() && v.version == *version)
                {
                    extra.push((
                        "rule version".into(),
                        v.seq,
                        format!("rule {rule} version {version}, effective {}", v.effective),
                    ));
                }
            }
        }
        for e in evidence {
            extra.push(("evidence".into(), e, String::new()));
        }
        steps.extend(extra);
        steps.sort_by_key(|(_, seq, _)| *seq);
        let mut out = Vec::with_capacity(steps.len());
        for (step, seq, detail) in steps {
            let rec = self.record_at(seq).await?;
            let (kind, at, actor) = rec
                .map(|r| (r.kind, format_time(r.at), r.actor))
                .unwrap_or_default();
            let detail = if detail.is_empty() && kind == "evidence" {
                "partner-signed evidence statement".to_string()
            } else {
                detail
            };
            out.push(TraceStep {
                step,
                seq,
                kind,
                at,
                actor,
                detail,
            });
        }
        Ok(Trace {
            payment: line,
            batch: batch.to_string(),
            award: award.to_string(),
            steps: out,
        })
    }

    async fn record_at(&self, seq: u64) -> Result<Option<Record>, StoreError> {
        let rows = self.store().records(seq, 1).await?;
        match rows.first() {
            Some(r) if r.seq == seq => Ok(Some(
                Record::decode_trusted(&r.bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            _ => Ok(None),
        }
    }

    /// Creates a batch and appends it (the CLI's path; the API goes through its writer).
    pub async fn create_batch(
        &self,
        req: &BatchRequest,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<BatchPlan, StoreError> {
        let plan = self.plan_batch(req).await?;
        self.append(&plan.commands, actor, now).await?;
        Ok(plan)
    }
}

fn import_report(
    st: &ProgrammeState,
    i: &crate::domain::disburse::Import,
    again: bool,
) -> ImportReport {
    let currency = st
        .awards
        .get(&i.header.award)
        .map(|a| a.currency)
        .unwrap_or_else(|| Currency::parse("USD").expect("known"));
    let mut applied: BTreeMap<String, StatusCount> = BTreeMap::new();
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    let seqs: HashSet<u64> = i.part_seqs.iter().copied().collect();
    for p in &st.disburse.payments {
        for ev in &p.events {
            if seqs.contains(&ev.seq) {
                applied.entry(ev.event.to_string()).or_default().count += 1;
                *sums.entry(ev.event.to_string()).or_default() += p.amount;
            }
        }
    }
    for (k, v) in applied.iter_mut() {
        v.amount = money(sums[k], currency);
    }
    ImportReport {
        sha256: i.header.sha256.clone(),
        format: i.header.format.clone(),
        award: i.header.award.to_string(),
        already_imported: again,
        seq: Some(i.seq),
        lines: i.header.lines,
        applied,
        exceptions: i.exceptions.clone(),
    }
}

/// One payment line of a status file, read.
#[derive(Debug, Clone)]
struct StatusLine {
    line: u64,
    e2e: Option<String>,
    /// `None` when the line carries no outcome tranche applies (pending, not booked …).
    status: Option<PaymentStatus>,
    amount: Option<Money>,
    reason: Option<String>,
    skip_code: &'static str,
    skip_detail: String,
    /// For a camt.053 line: its direction, path and entry references.
    at: Option<LineRefs>,
    /// The booking date the line states (a camt.053 entry's `BookgDt`, else `ValDt`; a status
    /// CSV's `date`), if any.
    date: Option<NaiveDate>,
}

/// One statement of a camt.053, its booked entries summed.
struct StatementSummary {
    id: String,
    account: String,
    path: String,
    currency: Option<String>,
    opening: Option<iso20022::Balance>,
    closing: Option<iso20022::Balance>,
    entries: u64,
    debits_minor: i128,
    credits_minor: i128,
}

struct StatusFile {
    format: &'static str,
    message_id: Option<String>,
    original_message_id: Option<String>,
    lines: Vec<StatusLine>,
    /// A camt.053's statements.
    statements: Vec<StatementSummary>,
    /// A pain.002 status for the whole message, with no per-payment lines: it applies to every
    /// payment of the file it answers.
    group: Option<(PaymentStatus, Option<String>, u64)>,
    /// The day the file says it was made (a pain.002's `CreDtTm`): the date of its lines.
    created: Option<NaiveDate>,
}

fn read_status_file(bytes: &[u8]) -> Result<StatusFile, StoreError> {
    let iso = |e: iso20022::Iso20022Error| StoreError::Invalid(e.to_invalid());
    if bytes.len() > iso20022::MAX_FILE_BYTES {
        return Err(iso(iso20022::Iso20022Error::TooLarge {
            size: bytes.len() as u64,
            limit: iso20022::MAX_FILE_BYTES as u64,
        }));
    }
    let start = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let first = start.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'<') {
        let rows = iso20022::parse_status_csv(bytes).map_err(iso)?;
        let lines = rows
            .into_iter()
            .map(|r| StatusLine {
                line: r.line,
                e2e: Some(r.end_to_end_id),
                status: Some(match r.status {
                    iso20022::CsvStatus::Accepted => PaymentStatus::Accepted,
                    iso20022::CsvStatus::Rejected => PaymentStatus::Rejected,
                    iso20022::CsvStatus::Booked => PaymentStatus::Confirmed,
                    iso20022::CsvStatus::Returned => PaymentStatus::Returned,
                }),
                amount: r.amount,
                reason: r.reason,
                skip_code: "",
                skip_detail: String::new(),
                at: None,
                date: r.date,
            })
            .collect();
        return Ok(StatusFile {
            format: "csv",
            message_id: None,
            original_message_id: None,
            lines,
            statements: Vec::new(),
            group: None,
            created: None,
        });
    }
    let head = String::from_utf8_lossy(&start[..start.len().min(4096)]).to_string();
    if head.contains("pain.002") {
        let r = iso20022::parse_pain002(bytes).map_err(iso)?;
        let mut lines = Vec::new();
        for t in &r.transactions {
            let (status, code, detail) = match t.status.outcome {
                PaymentOutcome::Rejected => (Some(PaymentStatus::Rejected), "", String::new()),
                PaymentOutcome::Accepted if t.status.code == "ACSC" || t.status.code == "ACCC" => {
                    (Some(PaymentStatus::Confirmed), "", String::new())
                }
                PaymentOutcome::Accepted => (Some(PaymentStatus::Accepted), "", String::new()),
                PaymentOutcome::Pending => (
                    None,
                    "pending",
                    format!(
                        "status {}: pending at the bank, nothing to post yet",
                        t.status.code
                    ),
                ),
            };
            lines.push(StatusLine {
                line: t.position.line,
                e2e: Some(t.original_end_to_end_id.clone()),
                status,
                amount: t.original_amount,
                reason: t.reason.clone(),
                skip_code: code,
                skip_detail: detail,
                at: None,
                date: r.created,
            });
        }
        let group = match (r.transactions.is_empty(), r.group_status) {
            (true, Some(g)) => match g.outcome {
                PaymentOutcome::Rejected => Some(PaymentStatus::Rejected),
                PaymentOutcome::Accepted if g.code == "ACSC" || g.code == "ACCC" => {
                    Some(PaymentStatus::Confirmed)
                }
                PaymentOutcome::Accepted => Some(PaymentStatus::Accepted),
                PaymentOutcome::Pending => None,
            }
            .map(|s| (s, r.group_reason.clone(), 1)),
            _ => None,
        };
        return Ok(StatusFile {
            format: "pain.002",
            message_id: Some(r.message_id.clone()),
            original_message_id: Some(r.original_message_id.clone()),
            lines,
            statements: Vec::new(),
            group,
            created: r.created,
        });
    }
    read_camt053(bytes)
}

/// A camt.053 path without the message's root (`Stmt[1]/Ntry[4]/NtryDtls[1]/TxDtls[2]`).
fn short_path(path: &str) -> String {
    path.strip_prefix("Document/BkToCstmrStmt/")
        .unwrap_or(path)
        .to_string()
}

/// The field a refusal of a statement line names: its path, else its line number.
fn line_field(l: &StatusLine) -> String {
    l.at.as_ref()
        .and_then(|a| a.path.clone())
        .unwrap_or_else(|| format!("line {}", l.line))
}

/// How a refusal names a statement line: its entry's references and its path.
fn line_name(l: &StatusLine) -> String {
    l.at.as_ref()
        .and_then(LineRefs::describe)
        .unwrap_or_else(|| format!("line {}", l.line))
}

fn direction_of(d: iso20022::CreditDebit) -> DirectionBody {
    match d {
        iso20022::CreditDebit::Credit => DirectionBody::Credit,
        iso20022::CreditDebit::Debit => DirectionBody::Debit,
    }
}

/// Reads a camt.053 into status lines: one per transaction of an entry whose transactions add
/// up to it (each amount from `TxDtls/Amt`, `AmtDtls/TxAmt` or `AmtDtls/InstdAmt`), one for the
/// whole entry otherwise (`entry_sum_mismatch`: it posts nothing and is listed). An amount in
/// another currency than its entry's refuses the file. Each statement's booked entries are
/// summed by direction, for the balances to tie to.
fn read_camt053(bytes: &[u8]) -> Result<StatusFile, StoreError> {
    let iso = |e: iso20022::Iso20022Error| StoreError::Invalid(e.to_invalid());
    let r = iso20022::parse_camt053(bytes).map_err(iso)?;
    let mut statements: Vec<StatementSummary> = r
        .statements
        .iter()
        .map(|s| StatementSummary {
            id: s.id.clone(),
            account: match &s.account {
                AccountId::Iban(a) | AccountId::Other(a) => a.clone(),
            },
            path: short_path(&s.path),
            currency: s.currency.clone(),
            opening: s.opening.clone(),
            closing: s.closing.clone(),
            entries: 0,
            debits_minor: 0,
            credits_minor: 0,
        })
        .collect();
    // A booked line dated outside its statement's period (`FrToDt`) is refused.
    for l in &r.lines {
        let Some(st) = r.statements.get(l.statement) else {
            continue;
        };
        let Some(day) = l.booking_date.or(l.value_date) else {
            continue;
        };
        let outside = st.from_date.is_some_and(|f| day < f) || st.to_date.is_some_and(|t| day > t);
        if outside && l.status == iso20022::EntryStatus::Booked {
            return Err(invalid(
                &format!("{}/BookgDt", short_path(&l.entry_path)),
                Code::LineOutsideStatement,
                format!(
                    "the entry is booked on {day}, outside statement {}'s period {} to {}; nothing was posted",
                    st.id,
                    st.from_date.map_or("?".into(), |d| d.to_string()),
                    st.to_date.map_or("?".into(), |d| d.to_string()),
                ),
            ));
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < r.lines.len() {
        let first = &r.lines[i];
        let n = (first.entry_transactions.max(1) as usize).min(r.lines.len() - i);
        let entry = &r.lines[i..i + n];
        i += n;
        let refs = |path: &str, d: iso20022::CreditDebit| LineRefs {
            direction: Some(direction_of(d)),
            path: Some(short_path(path)),
            entry_ref: first.entry_reference.clone(),
            servicer_ref: first.account_servicer_reference.clone(),
        };
        let entry_currency = first.entry_amount.currency();
        for l in entry {
            if let Some(a) = l.amount.filter(|a| a.currency() != entry_currency) {
                let at = refs(&l.path, l.direction);
                return Err(invalid(
                    &short_path(&l.path),
                    Code::CurrencyMismatch,
                    format!(
                        "{}: the transaction is in {}, its entry in {entry_currency}; nothing was posted",
                        at.describe().unwrap_or_default(),
                        a.currency()
                    ),
                ));
            }
        }
        let booked = first.status == iso20022::EntryStatus::Booked;
        let entry_minor = i128::from(first.entry_amount.minor());
        if booked {
            if let Some(st) = statements.get_mut(first.statement) {
                st.entries += 1;
                match first.entry_direction {
                    iso20022::CreditDebit::Debit => st.debits_minor += entry_minor,
                    iso20022::CreditDebit::Credit => st.credits_minor += entry_minor,
                }
            }
        }
        // The transactions, signed against the entry's direction, must add up to it.
        let sum: Option<i128> = entry
            .iter()
            .map(|l| {
                l.amount.map(|a| {
                    let m = i128::from(a.minor());
                    if l.direction == first.entry_direction {
                        m
                    } else {
                        -m
                    }
                })
            })
            .sum();
        if first.entry_transactions > 0 && sum != Some(entry_minor) {
            let stated = entry.iter().filter(|l| l.amount.is_some()).count();
            let (code, detail) = if booked {
                (
                    "entry_sum_mismatch",
                    match sum {
                        Some(total) => format!(
                            "the entry's {} transactions add up to {}, the entry is {}: none of them is matched",
                            entry.len(),
                            format_minor(total, entry_currency),
                            first.entry_amount
                        ),
                        None => format!(
                            "{stated} of the entry's {} transactions state an amount (TxDtls/Amt, AmtDtls/TxAmt or AmtDtls/InstdAmt): none of them is matched",
                            entry.len()
                        ),
                    },
                )
            } else {
                (
                    "not_booked",
                    format!("entry status {:?}: only booked entries post", first.status),
                )
            };
            lines.push(StatusLine {
                line: first.position.line,
                e2e: None,
                status: None,
                amount: Some(first.entry_amount),
                reason: None,
                skip_code: code,
                skip_detail: detail,
                at: Some(refs(&first.entry_path, first.entry_direction)),
                date: first.booking_date.or(first.value_date),
            });
            continue;
        }
        for l in entry {
            let amount = l.amount.or(Some(l.entry_amount));
            let (status, code, detail) = match (l.status, l.direction, l.reversal) {
                (iso20022::EntryStatus::Booked, iso20022::CreditDebit::Debit, false)
                    if l.end_to_end_id.is_none() =>
                {
                    (
                        None,
                        "no_end_to_end_id",
                        "a debit naming no payment (a bank charge or fee, or money paid out outside tranche)"
                            .to_string(),
                    )
                }
                (iso20022::EntryStatus::Booked, iso20022::CreditDebit::Debit, false) => {
                    (Some(PaymentStatus::Confirmed), "", String::new())
                }
                (iso20022::EntryStatus::Booked, iso20022::CreditDebit::Credit, _)
                    if l.end_to_end_id.is_some() =>
                {
                    (Some(PaymentStatus::Returned), "", String::new())
                }
                (iso20022::EntryStatus::Booked, iso20022::CreditDebit::Credit, _) => (
                    None,
                    "not_a_payment",
                    "a credit naming no payment (interest, a transfer in, a credit the ledger did not expect)"
                        .to_string(),
                ),
                (iso20022::EntryStatus::Booked, _, _) => (
                    None,
                    "not_a_payment",
                    "a booked entry that is not a payment tranche sent".to_string(),
                ),
                (other, _, _) => (
                    None,
                    "not_booked",
                    format!("entry status {other:?}: only booked entries post"),
                ),
            };
            lines.push(StatusLine {
                line: l.position.line,
                e2e: l.end_to_end_id.clone(),
                status,
                amount,
                reason: l.return_reason.clone(),
                skip_code: code,
                skip_detail: detail,
                at: Some(refs(&l.path, l.direction)),
                date: l.booking_date.or(l.value_date),
            });
        }
    }
    Ok(StatusFile {
        format: "camt.053",
        message_id: r.message_id.clone(),
        original_message_id: None,
        lines,
        statements,
        group: None,
        created: None,
    })
}

/// The statements of a camt.053 as the import records them, in the award's currency: a
/// statement or an entry in another currency, or balances that do not tie to the booked
/// entries, refuse the file (naming the statement or entry and the rule).
fn statement_bodies(
    file: &StatusFile,
    award: &Id,
    currency: Currency,
) -> Result<Vec<StatementBody>, StoreError> {
    let mut out = Vec::new();
    for s in &file.statements {
        if let Some(c) = s.currency.as_deref().filter(|c| *c != currency.code()) {
            return Err(invalid(
                &format!("{}/Acct/Ccy", s.path),
                Code::CurrencyMismatch,
                format!(
                    "statement {}: the account is in {c}, award {award} in {currency}; nothing was posted",
                    s.id
                ),
            ));
        }
        for b in [&s.opening, &s.closing].into_iter().flatten() {
            if b.amount.currency() != currency {
                return Err(invalid(
                    &short_path(&b.path),
                    Code::CurrencyMismatch,
                    format!(
                        "statement {}: the balance is in {}, award {award} in {currency}; nothing was posted",
                        s.id,
                        b.amount.currency()
                    ),
                ));
            }
        }
        let body = StatementBody {
            id: s.id.clone(),
            account: s.account.clone(),
            // The statement's date: its closing balance's, else its opening's, else the day
            // of its last booked line (what places it in a reporting period).
            date: s
                .closing
                .as_ref()
                .and_then(|b| b.date)
                .or_else(|| s.opening.as_ref().and_then(|b| b.date))
                .or_else(|| {
                    let prefix = format!("{}/", s.path);
                    file.lines
                        .iter()
                        .filter(|l| {
                            l.at.as_ref()
                                .and_then(|a| a.path.as_deref())
                                .is_some_and(|p| p.starts_with(&prefix))
                        })
                        .filter_map(|l| l.date)
                        .max()
                })
                .map(Date),
            opening: s
                .opening
                .as_ref()
                .map(|b| format_minor(b.signed_minor(), currency)),
            closing: s
                .closing
                .as_ref()
                .map(|b| format_minor(b.signed_minor(), currency)),
            entries: s.entries,
            debits: format_minor(s.debits_minor, currency),
            credits: format_minor(s.credits_minor, currency),
        };
        body.check(currency).map_err(|e| {
            let field = match (&s.closing, e.code) {
                (Some(b), Code::StatementUnbalanced) => short_path(&b.path),
                _ => s.path.clone(),
            };
            StoreError::Invalid(Invalid::new(
                field,
                e.code,
                format!("{}; nothing was posted", e.detail),
            ))
        })?;
        out.push(body);
    }
    if file.format == "camt.053" {
        for l in &file.lines {
            if let Some(a) = l.amount.filter(|a| a.currency() != currency) {
                return Err(invalid(
                    &line_field(l),
                    Code::CurrencyMismatch,
                    format!(
                        "{}: the entry is in {}, award {award}'s account in {currency}; nothing was posted",
                        line_name(l),
                        a.currency()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

trait NoNanos {
    fn with_nanosecond_zero(self) -> Self;
}

impl NoNanos for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tranche_audit::disburse::{BankAccountBody, VendorAccountBody};

    fn settings(debtor: &str, vendor: &str) -> Result<Command, StoreError> {
        let bank = |account: &str| BankAccountBody {
            name: "Account holder".into(),
            account: account.into(),
            agent_bic: None,
            bank_code: None,
            account_type: None,
        };
        Ledger::settings_command(DisbursementConfigBody {
            award: Id::parse("bprm-2026").expect("an id"),
            debtor: bank(debtor),
            vendors: vec![VendorAccountBody {
                vendor: Id::parse("secap").expect("an id"),
                account: bank(vendor),
            }],
            dual_approval_above: "25000.00".into(),
        })
    }

    #[test]
    fn settings_refuse_an_account_written_like_an_iban_that_is_not_one() {
        settings("2100456789", "3300112233").expect("local account numbers");
        settings("DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432").expect("valid IBANs");
        for (debtor, vendor, field) in [
            ("DE89370400440532013001", "3300112233", "debtor.account"),
            ("2100456789", "GB82WEST12345698765431", "vendors[0].account"),
        ] {
            let Err(StoreError::Invalid(e)) = settings(debtor, vendor) else {
                panic!("{debtor} {vendor} accepted");
            };
            assert_eq!((e.field.as_str(), e.code), (field, Code::InvalidIban));
        }
    }

    #[test]
    fn parts_stay_under_the_record_limit_however_long_the_entries() {
        let long: Vec<String> = (0..1_000)
            .map(|i| format!("{i}-{}", "x".repeat(150)))
            .collect();
        let short: Vec<u32> = (0..900).collect();
        let parts = split_parts(&long, &short, 400, 0);
        assert_eq!(parts.iter().map(|p| p.0.len()).sum::<usize>(), 1_000);
        assert_eq!(parts.iter().map(|p| p.1.len()).sum::<usize>(), 900);
        for (a, b) in &parts {
            let bytes = serde_json::to_vec(a).expect("json").len()
                + serde_json::to_vec(b).expect("json").len();
            assert!(bytes <= PART_BUDGET + 200, "{bytes} bytes in a part");
            assert!(a.len() <= 400 && b.len() <= 400);
        }
        // Payments come first: no part after one without payments holds any.
        let first_empty = parts
            .iter()
            .position(|p| p.0.is_empty())
            .unwrap_or(parts.len());
        assert!(parts[first_empty..].iter().all(|p| p.0.is_empty()));
        assert_eq!(split_parts::<u8, u8>(&[], &[], 400, 0).len(), 1);
    }
}

/// The views of batches, payments and imports, read from the disbursement projections (the
/// `batches`, `batch_events`, `payments`, `payment_events`, `bank_imports` and
/// `bank_import_parts` tables): each costs the rows it shows, never a replay of the journal.
mod views {
    use super::*;
    use crate::domain::{BatchEventRow, BatchRow, ImportRow, PaymentRow};
    use crate::store::{PaymentNow, StateTotal};

    pub(super) fn currency(code: &str) -> Result<Currency, StoreError> {
        Currency::parse(code)
            .map_err(|_| StoreError::Corrupt(format!("unknown currency {code} in a projection")))
    }

    fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("{what}: {e}"))
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    /// A payment as people see it, from its row and the state of its latest event.
    pub(super) fn line(row: &PaymentRow, state: &str, currency: Currency) -> PaymentLine {
        PaymentLine {
            e2e: row.e2e.clone(),
            payee: row.payee.clone(),
            amount: money(row.amount_minor, currency),
            currency: currency.code().to_string(),
            entitlements: row
                .items
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect(),
            reissues: words(&row.reissues),
            status: state.to_string(),
        }
    }

    pub(super) fn unknown_batch(batch: &str) -> StoreError {
        invalid(
            "batch",
            Code::UnknownBatch,
            format!("there is no batch {batch}"),
        )
    }

    pub(super) fn unknown_payment(e2e: &str) -> StoreError {
        invalid(
            "e2e",
            Code::UnknownPayment,
            format!("there is no payment {e2e}"),
        )
    }

    fn decision(e: &BatchEventRow) -> crate::domain::disburse::Decision {
        crate::domain::disburse::Decision {
            actor: e.actor.clone(),
            seq: e.seq,
            reason: e.reason.clone(),
        }
    }

    /// What a batch's view says, from its header and the records of its life.
    pub(super) struct Life {
        pub status: String,
        pub total: i64,
        pub approvals_required: u32,
        pub digest: Option<String>,
        pub submitted: Option<crate::domain::disburse::Decision>,
        pub approvals: Vec<crate::domain::disburse::Decision>,
        pub closed: Option<crate::domain::disburse::Decision>,
        pub files: Vec<FileView>,
        pub send_seqs: Vec<u64>,
        pub part_seqs: Vec<u64>,
        pub exceptions: Vec<BatchExceptionBody>,
    }

    pub(super) fn life(events: &[BatchEventRow]) -> Result<Life, StoreError> {
        let last = events.last();
        let mut out = Life {
            status: last.map_or_else(|| "building".to_string(), |e| e.status.clone()),
            total: last.map_or(0, |e| e.total_minor),
            approvals_required: last.map_or(0, |e| e.approvals_required),
            digest: last.and_then(|e| e.digest.clone()),
            submitted: None,
            approvals: Vec::new(),
            closed: None,
            files: Vec::new(),
            send_seqs: Vec::new(),
            part_seqs: Vec::new(),
            exceptions: Vec::new(),
        };
        for e in events {
            match e.event.as_str() {
                "part" => {
                    #[derive(Deserialize)]
                    struct Part {
                        exceptions: Vec<BatchExceptionBody>,
                    }
                    let p: Part = serde_json::from_str(&e.detail)
                        .map_err(|x| corrupt("batch part detail", x))?;
                    out.exceptions.extend(p.exceptions);
                    out.part_seqs.push(e.seq);
                }
                "submit" => out.submitted = Some(decision(e)),
                "approve" => out.approvals.push(decision(e)),
                "reject" | "cancel" => out.closed = Some(decision(e)),
                "file" => {
                    #[derive(Deserialize)]
                    struct File {
                        format: String,
                        sha256: String,
                        message_id: String,
                        created_at: String,
                    }
                    let f: File = serde_json::from_str(&e.detail)
                        .map_err(|x| corrupt("batch file detail", x))?;
                    out.files.push(FileView {
                        format: f.format,
                        sha256: f.sha256,
                        message_id: f.message_id,
                        created_at: f.created_at,
                        seq: e.seq,
                    });
                }
                "send" => out.send_seqs.push(e.seq),
                _ => {}
            }
        }
        Ok(out)
    }

    pub(super) struct BatchParts<'a> {
        pub header: &'a BatchRow,
        pub events: &'a [BatchEventRow],
        pub states: &'a [StateTotal],
        pub page: &'a [PaymentNow],
        pub offset: u64,
        /// The award's dual-approval amount in force, for a batch not yet submitted.
        pub dual_above: i64,
        /// Cash the award can still commit, when asked.
        pub available: Option<i128>,
    }

    pub(super) fn batch(p: BatchParts<'_>) -> Result<BatchView, StoreError> {
        let currency = currency(&p.header.currency)?;
        let l = life(p.events)?;
        let filter: BatchFilter =
            serde_json::from_str(&p.header.filter).map_err(|e| corrupt("batch filter", e))?;
        let by_status = p
            .states
            .iter()
            .map(|t| {
                (
                    t.state.clone(),
                    StatusCount {
                        count: t.count,
                        amount: money(t.amount_minor, currency),
                    },
                )
            })
            .collect();
        Ok(BatchView {
            batch: p.header.batch.clone(),
            award: p.header.award.clone(),
            currency: currency.code().to_string(),
            status: l.status,
            preparer: p.header.preparer.clone(),
            created_seq: p.header.seq,
            digest: l.digest,
            total: money(l.total, currency),
            payment_count: p.states.iter().map(|t| t.count).sum(),
            exception_count: l.exceptions.len() as u64,
            filter,
            submitted: l.submitted,
            approvals_required: if l.approvals_required == 0 {
                tranche_audit::disburse::lifecycle::approvals_for(l.total, p.dual_above)
            } else {
                l.approvals_required
            },
            approvals: l.approvals,
            closed: l.closed,
            files: l.files,
            send_seqs: l.send_seqs,
            by_status,
            available_funds: p.available.map(|c| format_minor(c, currency)),
            payments: p
                .page
                .iter()
                .map(|n| line(&n.row, &n.state, currency))
                .collect(),
            offset: p.offset,
            exceptions: l.exceptions,
        })
    }

    /// An import's report from its row, its parts and the outcomes they applied.
    pub(super) fn import(
        row: &ImportRow,
        parts: &[crate::domain::ImportPartRow],
        applied: &[StateTotal],
        currency: Currency,
    ) -> Result<ImportReport, StoreError> {
        let header: BankImportBody =
            serde_json::from_str(&row.body).map_err(|e| corrupt("bank import body", e))?;
        let mut exceptions = Vec::new();
        for p in parts {
            let e: Vec<ImportExceptionBody> = serde_json::from_str(&p.exceptions)
                .map_err(|e| corrupt("bank import part exceptions", e))?;
            exceptions.extend(e);
        }
        Ok(ImportReport {
            sha256: row.sha256.clone(),
            format: row.format.clone(),
            award: row.award.clone(),
            already_imported: false,
            seq: Some(row.seq),
            lines: header.lines,
            applied: applied
                .iter()
                .map(|t| {
                    (
                        t.state.clone(),
                        StatusCount {
                            count: t.count,
                            amount: money(t.amount_minor, currency),
                        },
                    )
                })
                .collect(),
            exceptions,
        })
    }
}
