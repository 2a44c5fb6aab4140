//! The disbursement state: batches, payments, items, bank imports and the award's settings,
//! with the undo log, and the questions other rules ask of it (which payment holds an
//! entitlement, whether an entitlement may still be reversed). The rules that change it are in
//! [`super::disburse`].

use std::collections::HashMap;

use tranche_audit::disburse::lifecycle::{self, BatchLife, PaymentView};
use tranche_audit::disburse::{
    BankImportBody, BankStatusBody, BatchCancelBody, BatchCreateBody, BatchDecisionBody,
    BatchExceptionBody, BatchFileBody, BatchPartBody, BatchSendBody, BatchSubmitBody,
    DisbursementConfigBody, Payee,
};
use tranche_audit::money::Currency;
use tranche_audit::programme::Id;
use tranche_audit::Invalid;

use super::transaction::NewTransaction;

/// A disbursement command: one journal record each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisburseCommand {
    Config(DisbursementConfigBody),
    Create(BatchCreateBody),
    Part(Box<BatchPartBody>),
    Submit(BatchSubmitBody),
    Approve(BatchDecisionBody),
    Reject(BatchDecisionBody),
    Cancel(BatchCancelBody),
    File(BatchFileBody),
    /// The postings are the body's, typed.
    Send(Box<BatchSendBody>, NewTransaction),
    Import(BankImportBody),
    /// The postings are the body's, typed; `None` when the part moves no money.
    Status(Box<BankStatusBody>, Option<NewTransaction>),
}

impl DisburseCommand {
    /// The award every disbursement record belongs to.
    pub fn award(&self) -> &Id {
        match self {
            DisburseCommand::Config(b) => &b.award,
            DisburseCommand::Create(b) => &b.award,
            DisburseCommand::Part(b) => &b.award,
            DisburseCommand::Submit(b) => &b.award,
            DisburseCommand::Approve(b) | DisburseCommand::Reject(b) => &b.award,
            DisburseCommand::Cancel(b) => &b.award,
            DisburseCommand::File(b) => &b.award,
            DisburseCommand::Send(b, _) => &b.award,
            DisburseCommand::Import(b) => &b.award,
            DisburseCommand::Status(b, _) => &b.award,
        }
    }

    /// The accounting date of a `batch.send` or `bank.status`.
    pub fn accounting_date(&self) -> Option<chrono::NaiveDate> {
        match self {
            DisburseCommand::Send(b, _) => Some(b.accounting_date.0),
            DisburseCommand::Status(b, _) => Some(b.accounting_date.0),
            _ => None,
        }
    }
}

pub use tranche_audit::disburse::lifecycle::{
    BatchStatus, PaymentState, DEFAULT_DUAL_APPROVAL_ABOVE,
};

/// A decision recorded on a batch: who, at which seq, why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub actor: String,
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A bank file recorded for a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub body: BatchFileBody,
    pub seq: u64,
}

#[derive(Debug, Clone)]
pub struct Batch {
    pub header: BatchCreateBody,
    pub currency: Currency,
    pub preparer: String,
    /// Mirrors `life.status()`: written only with `life`.
    pub status: BatchStatus,
    pub create_seq: u64,
    pub part_seqs: Vec<u64>,
    /// The digest of the complete content (set when the last part arrives); mirrors
    /// `life.frozen_digest()`.
    pub digest_hex: Option<String>,
    pub payments: Vec<u32>,
    /// Per part, its payments' range in `payments`.
    pub part_ranges: Vec<std::ops::Range<usize>>,
    pub total: i64,
    pub exceptions: Vec<BatchExceptionBody>,
    pub submitted: Option<Decision>,
    /// Mirrors `life.approvals_required()`.
    pub approvals_required: u32,
    pub approvals: Vec<Decision>,
    /// The rejection or cancellation.
    pub closed: Option<Decision>,
    pub files: Vec<FileRecord>,
    pub send_seqs: Vec<u64>,
    /// The batch as the shared lifecycle rules see it: every status change is its decision.
    pub life: BatchLife,
}

/// One event of a payment's life, for the trace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaymentEvent {
    pub event: &'static str,
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Payment {
    pub e2e: String,
    pub batch: Id,
    pub award: Id,
    pub payee: Payee,
    pub payable: String,
    pub amount: i64,
    pub items: Vec<u64>,
    pub part: u32,
    /// Earlier payments this one reissues.
    pub reissues: Vec<u32>,
    pub reissued_by: Option<u32>,
    pub state: PaymentState,
    pub events: Vec<PaymentEvent>,
}

/// An entitlement that credits a payable.
#[derive(Debug, Clone)]
pub struct Item {
    pub award: Id,
    pub payee: Payee,
    /// The participant the entitlement was earned by (for tuition, the student).
    pub participant: Id,
    /// The budget line it charges.
    pub line: Option<Id>,
    pub amount: i64,
    /// The live payment holding it (pending, sent, accepted or confirmed).
    pub payment: Option<u32>,
    pub reversed_by: Option<u64>,
    /// Payments of it that were rejected or returned, oldest first.
    pub returned: Vec<u32>,
}

impl Item {
    pub fn is_open(&self) -> bool {
        self.payment.is_none() && self.reversed_by.is_none()
    }
}

/// A status or statement file read.
#[derive(Debug, Clone)]
pub struct Import {
    pub header: BankImportBody,
    pub seq: u64,
    pub next_part: u32,
    pub part_seqs: Vec<u64>,
    pub outcomes: u64,
    pub exceptions: Vec<tranche_audit::disburse::ImportExceptionBody>,
}

/// The award's disbursement settings in force.
#[derive(Debug, Clone)]
pub struct Settings {
    pub body: DisbursementConfigBody,
    pub seq: u64,
    pub dual_approval_above: i64,
}

type UndoFn = Box<dyn FnOnce(&mut DisburseState) + Send>;

/// An inverse operation on the disbursement state.
pub struct DisburseUndo(UndoFn);

impl std::fmt::Debug for DisburseUndo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DisburseUndo")
    }
}

impl DisburseUndo {
    pub(crate) fn new(f: impl FnOnce(&mut DisburseState) + Send + 'static) -> Self {
        DisburseUndo(Box::new(f))
    }

    pub(crate) fn run(self, s: &mut DisburseState) {
        (self.0)(s)
    }
}

#[derive(Debug, Default)]
pub struct DisburseState {
    pub settings: HashMap<Id, Settings>,
    pub batches: HashMap<Id, Batch>,
    /// Batch ids in creation order.
    pub batch_order: Vec<Id>,
    pub payments: Vec<Payment>,
    pub e2e: HashMap<String, u32>,
    pub items: HashMap<u64, Item>,
    /// Per payable account: the amount held by payments not yet sent.
    pub reserved: HashMap<String, i64>,
    /// Per award: the totals of approved batches not yet sent.
    pub committed: HashMap<Id, i64>,
    /// Imports by file digest.
    pub imports: HashMap<String, Import>,
    pub import_order: Vec<String>,
    /// Pain.001 message ids of recorded files: (batch).
    pub messages: HashMap<String, Id>,
}

impl DisburseState {
    pub fn payment(&self, e2e: &str) -> Option<&Payment> {
        self.e2e.get(e2e).map(|&i| &self.payments[i as usize])
    }

    /// The dual-approval amount of `award`, minor units.
    pub fn dual_approval_above(&self, award: &Id, currency: Currency) -> i64 {
        self.settings.get(award).map_or_else(
            || lifecycle::default_dual_approval_above(currency),
            |s| s.dual_approval_above,
        )
    }

    /// The approvals a batch of `total` needs.
    pub fn approvals_for(&self, award: &Id, currency: Currency, total: i64) -> u32 {
        lifecycle::approvals_for(total, self.dual_approval_above(award, currency))
    }

    /// The next free batch id.
    pub fn next_batch_id(&self) -> Id {
        Id::parse(&format!("B{:06}", self.batch_order.len() + 1)).expect("a valid id")
    }
}

/// The live payment holding `item`, as the shared rules see it.
pub(super) fn holder_of<'a>(d: &'a DisburseState, item: &Item) -> Option<PaymentView<'a>> {
    item.payment.map(|pi| {
        let p = &d.payments[pi as usize];
        PaymentView {
            e2e: &p.e2e,
            batch: &p.batch,
            award: &p.award,
            amount_minor: p.amount,
            state: p.state,
        }
    })
}

/// The live payment holding entitlement `item_seq`, if any.
pub fn holder(s: &DisburseState, item_seq: u64) -> Option<PaymentView<'_>> {
    s.items.get(&item_seq).and_then(|item| holder_of(s, item))
}

/// Whether the entitlement at `original_seq` may be reversed: refused (`entitlement_paid`,
/// field `reverses`) when a payment holding it was sent, accepted or confirmed, naming the
/// payment; a recovery of the overpaid amount is the way instead. An entitlement that is no
/// item, or is open, or is held by a pending payment may be reversed (that payment's batch is
/// then refused at submission and approval: `entitlement_reversed`).
pub fn check_reversal(s: &DisburseState, original_seq: u64) -> Result<(), Invalid> {
    let holder = s
        .items
        .get(&original_seq)
        .and_then(|item| holder_of(s, item));
    lifecycle::check_reversible(original_seq, holder)
}
