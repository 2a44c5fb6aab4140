//! The life of a payment batch and of its payments, defined once. The ledger (which applies the
//! records) and the offline verifier (which re-checks them) both decide every lifecycle rule
//! here, so they cannot disagree about which journal is valid.
//!
//! A batch: created (`Building`), its parts in order, complete (`Draft`), submitted at its
//! digest (`Submitted`), approved by as many approvers as it needs (`Approved`) or rejected, its
//! bank files recorded, its parts with payments sent in order (`Sent` after the last of them),
//! or cancelled before that. A payment: `Pending` in its batch, `Withdrawn` when the batch is
//! rejected or cancelled, `Sent` with its part, then as the bank says: accepted, confirmed,
//! rejected or returned. An entitlement is held by at most one live payment.
//!
//! Everything here is pure: no I/O, no clock. Each method checks its rule and, only when it
//! holds, changes the state; an error leaves the state as it was. Refusals carry the field
//! (relative to the record's body), the stable code and the sentence the ledger shows; the
//! verifier reports the same code as its rule.

use crate::codes::Code;
use serde::Serialize;

use super::{
    signed_amount, BankImportBody, BankStatusBody, BatchCreateBody, BatchDecisionBody, BatchDigest,
    BatchFileBody, BatchPartBody, BatchSendBody, BatchSubmitBody, DirectionBody, OutcomeBody,
    PaymentStatus,
};
use crate::money::{format_minor, Currency};
use crate::programme::{canonical_amount, Id};
use crate::Invalid;

/// The default amount above which a batch needs two approvers, in major units of the award's
/// currency, until the award's `disbursement.config` says otherwise.
pub const DEFAULT_DUAL_APPROVAL_ABOVE: i64 = 25_000;

/// The default dual-approval amount in minor units of `currency`.
pub fn default_dual_approval_above(currency: Currency) -> i64 {
    DEFAULT_DUAL_APPROVAL_ABOVE * 10i64.pow(currency.minor_units())
}

/// The approvals a batch of `total_minor` needs when two are required above `dual_above_minor`.
pub fn approvals_for(total_minor: i64, dual_above_minor: i64) -> u32 {
    if total_minor > dual_above_minor {
        2
    } else {
        1
    }
}

fn money(minor: i64, currency: Currency) -> String {
    format_minor(minor.into(), currency)
}

/// The life of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Header written, parts still to come (only ever seen inside one append).
    Building,
    /// Complete, not yet submitted.
    Draft,
    /// Frozen, awaiting approval.
    Submitted,
    /// Approved by as many approvers as it needs; the bank file can be made and sent.
    Approved,
    /// Handed to the bank.
    Sent,
    Rejected,
    Cancelled,
}

impl BatchStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            BatchStatus::Building => "building",
            BatchStatus::Draft => "draft",
            BatchStatus::Submitted => "submitted",
            BatchStatus::Approved => "approved",
            BatchStatus::Sent => "sent",
            BatchStatus::Rejected => "rejected",
            BatchStatus::Cancelled => "cancelled",
        }
    }

    /// A batch whose payments still hold their items before sending.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            BatchStatus::Building
                | BatchStatus::Draft
                | BatchStatus::Submitted
                | BatchStatus::Approved
        )
    }
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// In a batch not yet sent.
    Pending,
    /// Its batch was rejected or cancelled: it never went out.
    Withdrawn,
    Sent,
    Accepted,
    Confirmed,
    Rejected,
    Returned,
}

impl PaymentState {
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentState::Pending => "pending",
            PaymentState::Withdrawn => "withdrawn",
            PaymentState::Sent => "sent",
            PaymentState::Accepted => "accepted",
            PaymentState::Confirmed => "confirmed",
            PaymentState::Rejected => "rejected",
            PaymentState::Returned => "returned",
        }
    }

    /// Money that left the payable and has not come back or been booked.
    pub fn in_transit(&self) -> bool {
        matches!(self, PaymentState::Sent | PaymentState::Accepted)
    }

    /// A payment that holds its entitlements: not withdrawn, rejected or returned.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            PaymentState::Pending
                | PaymentState::Sent
                | PaymentState::Accepted
                | PaymentState::Confirmed
        )
    }

    /// A payment whose money left the payable for the payee: sent, accepted or confirmed.
    pub fn left_payable(&self) -> bool {
        matches!(
            self,
            PaymentState::Sent | PaymentState::Accepted | PaymentState::Confirmed
        )
    }

    /// The state a bank outcome moves a payment in this state to: sent → accepted → confirmed;
    /// sent or accepted → rejected; sent, accepted or confirmed → returned. Anything else is
    /// `status_not_allowed` (field `status`).
    pub fn after(self, e2e: &str, outcome: PaymentStatus) -> Result<PaymentState, Invalid> {
        use PaymentState as S;
        use PaymentStatus as O;
        Ok(match (self, outcome) {
            (S::Sent, O::Accepted) => S::Accepted,
            (S::Sent | S::Accepted, O::Confirmed) => S::Confirmed,
            (S::Sent | S::Accepted, O::Rejected) => S::Rejected,
            (S::Sent | S::Accepted | S::Confirmed, O::Returned) => S::Returned,
            (from, to) => {
                return Err(Invalid::new(
                    "status",
                    Code::StatusNotAllowed,
                    format!(
                        "payment {e2e} is {}: it cannot become {}",
                        from.as_str(),
                        to.as_str()
                    ),
                ))
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Names used once.

/// `batch_exists` when `exists`: a batch id is created once.
pub fn check_new_batch(exists: bool, batch: &Id) -> Result<(), Invalid> {
    if exists {
        return Err(Invalid::new(
            "batch",
            Code::BatchExists,
            format!("batch {batch} already exists"),
        ));
    }
    Ok(())
}

/// A record naming a batch never created.
pub fn unknown_batch(batch: &Id) -> Invalid {
    Invalid::new(
        "batch",
        Code::UnknownBatch,
        format!("there is no batch {batch}"),
    )
}

/// `duplicate_end_to_end_id` when `used` (field `e2e`): an end-to-end id names one payment ever.
pub fn check_new_e2e(used: bool, e2e: &str) -> Result<(), Invalid> {
    if used {
        return Err(Invalid::new(
            "e2e",
            Code::DuplicateEndToEndId,
            format!("end-to-end id {e2e} is already used"),
        ));
    }
    Ok(())
}

/// `duplicate_message_id` when `used`: a bank file's message id is used once.
pub fn check_new_message_id(used: bool, message_id: &str) -> Result<(), Invalid> {
    if used {
        return Err(Invalid::new(
            "message_id",
            Code::DuplicateMessageId,
            format!("message id {message_id} was already used"),
        ));
    }
    Ok(())
}

/// `already_imported` when the file was imported before, at `earlier_seq`.
pub fn check_new_import(earlier_seq: Option<u64>) -> Result<(), Invalid> {
    if let Some(seq) = earlier_seq {
        return Err(Invalid::new(
            "sha256",
            Code::AlreadyImported,
            format!("this file was already imported at seq {seq}"),
        ));
    }
    Ok(())
}

/// A `bank.status` naming an import never recorded.
pub fn unknown_import(sha256: &str) -> Invalid {
    Invalid::new(
        "import",
        Code::UnknownImport,
        format!("no bank.import has SHA-256 {sha256}"),
    )
}

/// The parts of an import come in order, each of the import's award: `import_award`, `parts`
/// and `next_part` are the import's.
pub fn check_status_part(
    import_award: &Id,
    parts: u32,
    next_part: u32,
    body: &BankStatusBody,
) -> Result<(), Invalid> {
    if import_award != &body.award {
        return Err(Invalid::new(
            "award",
            Code::ImportOfAnotherAward,
            format!("the import belongs to award {import_award}"),
        ));
    }
    if body.part != next_part || body.part >= parts {
        return Err(Invalid::new(
            "part",
            Code::PartOutOfOrder,
            format!("the import expects part {next_part} next"),
        ));
    }
    Ok(())
}

/// The lines of a camt.053 import, summed by direction over its `bank.status` parts: every
/// outcome and every exception except those outside the booked balances (`not_booked`). When
/// the import states its statements, the sums must be the statements' booked totals: a line
/// left out of the journal, or one counted twice, shows here (`statement_unbalanced`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatementTally {
    debits: i128,
    credits: i128,
}

impl StatementTally {
    /// Adds a part's lines. A part of an import that states statements says the direction of
    /// every line.
    pub fn add(
        &mut self,
        header: &BankImportBody,
        part: &BankStatusBody,
        currency: Currency,
    ) -> Result<(), Invalid> {
        if header.statements.is_empty() {
            return Ok(());
        }
        let lines = part
            .outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| (format!("outcomes[{i}]"), Some(&o.amount), o.at.as_ref()))
            .chain(
                part.exceptions
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| x.code != "not_booked")
                    .map(|(i, x)| (format!("exceptions[{i}]"), x.amount.as_ref(), x.at.as_ref())),
            );
        for (field, amount, at) in lines {
            let Some(direction) = at.and_then(|a| a.direction) else {
                return Err(Invalid::new(
                    format!("{field}.at.direction"),
                    Code::MissingField,
                    "a line of a statement states whether it is a credit or a debit",
                ));
            };
            let minor = match amount {
                Some(a) => signed_amount(a, currency, &format!("{field}.amount"))?,
                None => 0,
            };
            match direction {
                DirectionBody::Debit => self.debits += minor,
                DirectionBody::Credit => self.credits += minor,
            }
        }
        Ok(())
    }

    /// After the import's last part: the lines add up to its statements' booked entries.
    pub fn check(&self, header: &BankImportBody, currency: Currency) -> Result<(), Invalid> {
        if header.statements.is_empty() {
            return Ok(());
        }
        let mut debits = 0i128;
        let mut credits = 0i128;
        for (i, s) in header.statements.iter().enumerate() {
            debits += signed_amount(&s.debits, currency, &format!("statements[{i}].debits"))?;
            credits += signed_amount(&s.credits, currency, &format!("statements[{i}].credits"))?;
        }
        if (debits, credits) != (self.debits, self.credits) {
            return Err(Invalid::new(
                "outcomes",
                Code::StatementUnbalanced,
                format!(
                    "the lines of import {} add up to debits {} and credits {}; its statements' booked entries to debits {} and credits {}",
                    header.sha256,
                    format_minor(self.debits, currency),
                    format_minor(self.credits, currency),
                    format_minor(debits, currency),
                    format_minor(credits, currency)
                ),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Payments and the entitlements they hold.

/// What the rules need to know of a payment.
#[derive(Debug, Clone, Copy)]
pub struct PaymentView<'a> {
    pub e2e: &'a str,
    pub batch: &'a Id,
    pub award: &'a Id,
    pub amount_minor: i64,
    pub state: PaymentState,
}

/// An outcome naming no payment (field `e2e`).
pub fn unknown_e2e(e2e: &str) -> Invalid {
    Invalid::new(
        "e2e",
        Code::UnknownEndToEndId,
        format!("there is no payment {e2e}"),
    )
}

/// Two outcomes for one payment in one part (field `e2e`).
pub fn duplicate_outcome(e2e: &str) -> Invalid {
    Invalid::new(
        "e2e",
        Code::DuplicateOutcome,
        format!("payment {e2e} has two outcomes in one part"),
    )
}

/// One bank outcome of award `award` for payment `p`: the payment must be the award's, the
/// amount its amount, and the outcome allowed from its state. Returns the new state. Fields are
/// relative to the outcome.
pub fn outcome(
    award: &Id,
    currency: Currency,
    p: PaymentView<'_>,
    o: &OutcomeBody,
) -> Result<PaymentState, Invalid> {
    if p.award != award {
        return Err(Invalid::new(
            "e2e",
            Code::PaymentOfAnotherAward,
            format!("payment {} belongs to award {}", o.e2e, p.award),
        ));
    }
    let amount = money(p.amount_minor, currency);
    if amount != o.amount {
        return Err(Invalid::new(
            "amount",
            Code::AmountMismatch,
            format!("payment {} is {amount}, not {}", o.e2e, o.amount),
        ));
    }
    p.state.after(&o.e2e, o.status)
}

/// An entitlement claimed by a new payment: it must not be held by a live payment (`holder`).
/// `already_paid` when the holder is confirmed, `payable_in_open_batch` otherwise. The field is
/// the caller's (the entitlement's place in the part).
pub fn check_claim(item_seq: u64, holder: Option<PaymentView<'_>>) -> Result<(), Invalid> {
    let Some(h) = holder else {
        return Ok(());
    };
    Err(if h.state == PaymentState::Confirmed {
        Invalid::new(
            "",
            Code::AlreadyPaid,
            format!(
                "entitlement seq {item_seq} was already paid by {} (batch {})",
                h.e2e, h.batch
            ),
        )
    } else {
        Invalid::new(
            "",
            Code::PayableInOpenBatch,
            format!(
                "entitlement seq {item_seq} is already in payment {} of batch {}, which is {}",
                h.e2e,
                h.batch,
                h.state.as_str()
            ),
        )
    })
}

/// A reversal of entitlement `item_seq`, held by `holder` if any: refused (`entitlement_paid`,
/// field `reverses`) once the holder's money left the payable (sent, accepted or confirmed).
/// A pending holder's batch is refused at approval or sending instead (`entitlement_reversed`).
pub fn check_reversible(item_seq: u64, holder: Option<PaymentView<'_>>) -> Result<(), Invalid> {
    match holder {
        Some(h) if h.state.left_payable() => Err(Invalid::new(
            "reverses",
            Code::EntitlementPaid,
            format!(
                "entitlement seq {item_seq} is held by payment {} of batch {}, which is {}: it cannot be reversed; record a recovery of the overpaid amount instead (tranche recover {item_seq}, or POST /v1/entitlements/{item_seq}/recover)",
                h.e2e,
                h.batch,
                h.state.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// An adjustment (a recovery or a supplement) of entitlement `item_seq`, held by `holder` if
/// any and first adjusted at `adjusted_at` if ever: only of one that is paid (its holder's
/// money left the payable) or was adjusted before; an unpaid one is reversed and made again
/// instead (`entitlement_not_paid`, field `adjusts`).
pub fn check_adjustable(
    item_seq: u64,
    holder: Option<PaymentView<'_>>,
    adjusted_at: Option<u64>,
) -> Result<(), Invalid> {
    let paid = holder.is_some_and(|h| h.state.left_payable());
    if paid || adjusted_at.is_some() {
        return Ok(());
    }
    Err(Invalid::new(
        "adjusts",
        Code::EntitlementNotPaid,
        format!("entitlement seq {item_seq} is not paid: reverse it and make the new one instead"),
    ))
}

/// `entitlement_adjusted` (field `reverses`): an entitlement adjusted after payment (first at
/// `adjusted_at`) is adjusted again, never reversed.
pub fn check_unadjusted(item_seq: u64, adjusted_at: Option<u64>) -> Result<(), Invalid> {
    match adjusted_at {
        Some(at) => Err(Invalid::new(
            "reverses",
            Code::EntitlementAdjusted,
            format!(
                "entitlement seq {item_seq} was adjusted after payment (seq {at}): adjust it again instead of reversing it"
            ),
        )),
        None => Ok(()),
    }
}

/// `entitlement_reversed` (field `batch`): a batch holding an entitlement reversed (by
/// `reversed_by`) since it was built goes no further.
pub fn check_not_reversed(
    batch: &Id,
    e2e: &str,
    item_seq: u64,
    reversed_by: Option<u64>,
) -> Result<(), Invalid> {
    if let Some(by) = reversed_by {
        return Err(Invalid::new(
            "batch",
            Code::EntitlementReversed,
            format!(
                "entitlement seq {item_seq} of payment {e2e} was reversed by seq {by} after batch {batch} was built: cancel or reject the batch and build a new one"
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The batch.

/// A bank file recorded for a batch, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSeen {
    pub format: String,
    pub sha256: String,
}

/// What the rules keep of one batch.
#[derive(Debug, Clone)]
pub struct BatchLife {
    batch: Id,
    award: Id,
    currency: Currency,
    status: BatchStatus,
    preparer: String,
    submitter: Option<String>,
    declared_parts: u32,
    declared_payments: u64,
    declared_total: i64,
    declared_exceptions: u64,
    digest: BatchDigest,
    /// The digest of the complete content, once the last part arrived.
    frozen: Option<String>,
    /// Per part seen, its number of payments (parts of exceptions only hold none).
    part_payments: Vec<u32>,
    payments: u64,
    total: i64,
    exceptions: u64,
    required: u32,
    approvers: Vec<String>,
    files: Vec<FileSeen>,
    sent_parts: u32,
}

impl BatchLife {
    /// A batch created by `preparer` with header `body`, in its award's `currency`.
    pub fn create(
        body: &BatchCreateBody,
        currency: Currency,
        preparer: &str,
    ) -> Result<BatchLife, Invalid> {
        let total = body.check(currency)?.minor();
        let mut digest = BatchDigest::new();
        digest.add(&serde_json::to_value(body).expect("plain data"));
        Ok(BatchLife {
            batch: body.batch.clone(),
            award: body.award.clone(),
            currency,
            status: BatchStatus::Building,
            preparer: preparer.to_string(),
            submitter: None,
            declared_parts: body.parts,
            declared_payments: body.payments,
            declared_total: total,
            declared_exceptions: body.exceptions,
            digest,
            frozen: None,
            part_payments: Vec::new(),
            payments: 0,
            total: 0,
            exceptions: 0,
            required: 0,
            approvers: Vec::new(),
            files: Vec::new(),
            sent_parts: 0,
        })
    }

    pub fn status(&self) -> BatchStatus {
        self.status
    }

    pub fn award(&self) -> &Id {
        &self.award
    }

    pub fn preparer(&self) -> &str {
        &self.preparer
    }

    pub fn submitter(&self) -> Option<&str> {
        self.submitter.as_deref()
    }

    /// The digest submitted and approved: set once the batch is complete.
    pub fn frozen_digest(&self) -> Option<&str> {
        self.frozen.as_deref()
    }

    /// The approvals it needs (0 until submitted).
    pub fn approvals_required(&self) -> u32 {
        self.required
    }

    pub fn approvers(&self) -> &[String] {
        &self.approvers
    }

    /// The sum of the payments of the parts seen, minor units.
    pub fn total_minor(&self) -> i64 {
        self.total
    }

    pub fn parts_seen(&self) -> u32 {
        self.part_payments.len() as u32
    }

    pub fn parts_sent(&self) -> u32 {
        self.sent_parts
    }

    pub fn files(&self) -> &[FileSeen] {
        &self.files
    }

    /// `batch_of_another_award` unless the batch is `award`'s.
    pub fn of_award(&self, award: &Id) -> Result<(), Invalid> {
        if &self.award != award {
            return Err(Invalid::new(
                "award",
                Code::BatchOfAnotherAward,
                format!("batch {} belongs to award {}", self.batch, self.award),
            ));
        }
        Ok(())
    }

    /// Whether `body` is the part expected next: the batch is still building
    /// (`batch_complete`) and the part is the next one (`part_out_of_order`).
    pub fn check_part(&self, body: &BatchPartBody) -> Result<(), Invalid> {
        if self.status != BatchStatus::Building {
            return Err(Invalid::new(
                "batch",
                Code::BatchComplete,
                format!("batch {} has all its parts", self.batch),
            ));
        }
        let expected = self.parts_seen();
        if body.part != expected {
            return Err(Invalid::new(
                "part",
                Code::PartOutOfOrder,
                format!("batch {} expects part {expected} next", self.batch),
            ));
        }
        Ok(())
    }

    /// The next part: after the last, the parts must add up to the header
    /// (`batch_totals_mismatch`) and the batch is a draft, its digest frozen.
    pub fn part(&mut self, body: &BatchPartBody) -> Result<(), Invalid> {
        self.check_part(body)?;
        let mut part_total = 0i64;
        for (i, p) in body.payments.iter().enumerate() {
            part_total += canonical_amount(&p.amount, self.currency, "amount")
                .map_err(|e| e.within(&format!("payments[{i}]")))?
                .minor();
        }
        let payments = self.payments + body.payments.len() as u64;
        let total = self.total + part_total;
        let exceptions = self.exceptions + body.exceptions.len() as u64;
        let last = body.part + 1 == self.declared_parts;
        if last
            && (payments != self.declared_payments
                || total != self.declared_total
                || exceptions != self.declared_exceptions)
        {
            let c = self.currency;
            return Err(Invalid::new(
                "payments",
                Code::BatchTotalsMismatch,
                format!(
                    "the parts hold {payments} payments for {} and {exceptions} exceptions; the header declares {} payments for {} and {} exceptions",
                    money(total, c),
                    self.declared_payments,
                    money(self.declared_total, c),
                    self.declared_exceptions
                ),
            ));
        }
        self.digest
            .add(&serde_json::to_value(body).expect("plain data"));
        self.part_payments.push(body.payments.len() as u32);
        self.payments = payments;
        self.total = total;
        self.exceptions = exceptions;
        if last {
            self.frozen = Some(self.digest.hex());
            self.status = BatchStatus::Draft;
        }
        Ok(())
    }

    /// `batch.submit` by `actor`: a complete draft (`batch_not_draft`) at its digest
    /// (`digest_mismatch`), asking for the approvals its total needs above `dual_above_minor`
    /// (`wrong_approvals_required`).
    pub fn submit(
        &mut self,
        body: &BatchSubmitBody,
        actor: &str,
        dual_above_minor: i64,
    ) -> Result<(), Invalid> {
        if self.status != BatchStatus::Draft {
            return Err(Invalid::new(
                "batch",
                Code::BatchNotDraft,
                format!(
                    "batch {} is {}: only a draft can be submitted",
                    self.batch,
                    self.status.as_str()
                ),
            ));
        }
        let digest = self.frozen.clone().unwrap_or_default();
        if body.digest != digest {
            return Err(Invalid::new(
                "digest",
                Code::DigestMismatch,
                format!(
                    "the digest does not match batch {}'s content ({digest})",
                    self.batch
                ),
            ));
        }
        let required = approvals_for(self.total, dual_above_minor);
        if body.approvals_required != required {
            return Err(Invalid::new(
                "approvals_required",
                Code::WrongApprovalsRequired,
                format!(
                    "a batch of {} needs {required} approval(s) under award {}'s settings (two above {})",
                    money(self.total, self.currency),
                    self.award,
                    money(dual_above_minor, self.currency)
                ),
            ));
        }
        self.submitter = Some(actor.to_string());
        self.required = required;
        self.status = BatchStatus::Submitted;
        Ok(())
    }

    /// `batch.approve` (`approve`) or `batch.reject` by `actor`: the batch awaits a decision
    /// (`batch_not_awaiting_approval`), the body names its frozen digest (`digest_mismatch`),
    /// the actor neither prepared nor submitted it (`own_batch`) and has not approved it
    /// (`already_approved`). Approved once it has the approvals it needs; rejected at once.
    pub fn decide(
        &mut self,
        body: &BatchDecisionBody,
        actor: &str,
        approve: bool,
    ) -> Result<(), Invalid> {
        if self.status != BatchStatus::Submitted {
            return Err(Invalid::new(
                "batch",
                Code::BatchNotAwaitingApproval,
                format!(
                    "batch {} is {}: only a submitted batch awaiting approval can be {}",
                    self.batch,
                    self.status.as_str(),
                    if approve { "approved" } else { "rejected" }
                ),
            ));
        }
        let frozen = self.frozen.clone().unwrap_or_default();
        if body.digest != frozen {
            return Err(Invalid::new(
                "digest",
                Code::DigestMismatch,
                format!(
                    "the digest does not name batch {}'s frozen content ({frozen}): review the batch again",
                    self.batch
                ),
            ));
        }
        if actor == self.preparer || Some(actor) == self.submitter.as_deref() {
            return Err(Invalid::new(
                "actor",
                Code::OwnBatch,
                format!(
                    "{actor} prepared or submitted batch {} and can never {} it: another approver must",
                    self.batch,
                    if approve { "approve" } else { "reject" }
                ),
            ));
        }
        if self.approvers.iter().any(|a| a == actor) {
            return Err(Invalid::new(
                "actor",
                Code::AlreadyApproved,
                format!(
                    "{actor} already approved batch {}: a second approval must come from another approver",
                    self.batch
                ),
            ));
        }
        if approve {
            self.approvers.push(actor.to_string());
            if self.approvers.len() as u32 >= self.required {
                self.status = BatchStatus::Approved;
            }
        } else {
            self.status = BatchStatus::Rejected;
        }
        Ok(())
    }

    /// `batch.cancel`: only before sending (`batch_not_cancellable`).
    pub fn cancel(&mut self) -> Result<(), Invalid> {
        if !matches!(
            self.status,
            BatchStatus::Draft | BatchStatus::Submitted | BatchStatus::Approved
        ) {
            return Err(Invalid::new(
                "batch",
                Code::BatchNotCancellable,
                format!(
                    "batch {} is {}: only a batch not yet sent can be cancelled",
                    self.batch,
                    self.status.as_str()
                ),
            ));
        }
        self.status = BatchStatus::Cancelled;
        Ok(())
    }

    /// `batch.file`: for an approved (or sent) batch (`batch_not_approved`), one file per
    /// format (`file_exists`), holding exactly the batch's payments and total
    /// (`file_does_not_match_batch`).
    pub fn file(&mut self, body: &BatchFileBody) -> Result<(), Invalid> {
        if !matches!(self.status, BatchStatus::Approved | BatchStatus::Sent) {
            return Err(Invalid::new(
                "batch",
                Code::BatchNotApproved,
                format!(
                    "batch {} is {}: a bank file is made only for an approved batch",
                    self.batch,
                    self.status.as_str()
                ),
            ));
        }
        if self.files.iter().any(|f| f.format == body.format) {
            return Err(Invalid::new(
                "format",
                Code::FileExists,
                format!(
                    "batch {} already has a {} file: download it again instead",
                    self.batch, body.format
                ),
            ));
        }
        let total = money(self.total, self.currency);
        if body.payments != self.payments || body.control_sum != total {
            return Err(Invalid::new(
                "control_sum",
                Code::FileDoesNotMatchBatch,
                format!(
                    "the file holds {} payments for {}, the batch {} for {total}",
                    body.payments, body.control_sum, self.payments
                ),
            ));
        }
        self.files.push(FileSeen {
            format: body.format.clone(),
            sha256: body.sha256.clone(),
        });
        Ok(())
    }

    /// `batch.send` of one part by `actor`: the batch is approved (`batch_not_approved`), the
    /// actor neither prepared nor submitted it (`own_batch`: releasing funds to the bank is a
    /// checker's act, never the maker's alone), the file is one of its recorded files
    /// (`unknown_file`), the part is the next to send (`part_out_of_order`) and holds payments
    /// (`unknown_part`). Parts of exceptions only come last and are never sent: the batch is
    /// sent with its last part holding payments.
    pub fn send(&mut self, body: &BatchSendBody, actor: &str) -> Result<(), Invalid> {
        if self.status != BatchStatus::Approved {
            return Err(Invalid::new(
                "batch",
                Code::BatchNotApproved,
                format!(
                    "batch {} is {}: only an approved batch can be sent ({} of {} approvals)",
                    self.batch,
                    self.status.as_str(),
                    self.approvers.len(),
                    self.required.max(1)
                ),
            ));
        }
        if actor == self.preparer || Some(actor) == self.submitter.as_deref() {
            return Err(Invalid::new(
                "actor",
                Code::OwnBatch,
                format!(
                    "{actor} prepared or submitted batch {} and can never send it to the bank: \
                     an approver or an administrator releases it",
                    self.batch
                ),
            ));
        }
        if !self.files.iter().any(|f| f.sha256 == body.file) {
            return Err(Invalid::new(
                "file",
                Code::UnknownFile,
                format!(
                    "batch {} has no bank file with SHA-256 {}",
                    self.batch, body.file
                ),
            ));
        }
        if body.part != self.sent_parts {
            return Err(Invalid::new(
                "part",
                Code::PartOutOfOrder,
                format!("batch {} sends part {} next", self.batch, self.sent_parts),
            ));
        }
        let part = body.part as usize;
        if self.part_payments.get(part).is_none_or(|&n| n == 0) {
            return Err(Invalid::new(
                "part",
                Code::UnknownPart,
                format!("batch {} has no part {}", self.batch, body.part),
            ));
        }
        self.sent_parts += 1;
        if self.part_payments[part + 1..].iter().all(|&n| n == 0) {
            self.status = BatchStatus::Sent;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
