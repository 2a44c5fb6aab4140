//! The disbursement records in the streaming verifier. Every body must deserialize into its
//! `disburse` type and pass that type's stateless check; `batch.send` and `bank.status` are
//! then checked as transactions by the verifier itself. On top of that the verifier re-applies
//! the batch and payment lifecycle offline, with the very rules the ledger applies
//! (`crate::disburse::lifecycle`): a batch's digest is recomputed from its header and parts and
//! must be the one submitted and approved; it asks for the approvals its total needs under the
//! award's settings; no one approves a batch they prepared or submitted, nor twice; a bank file
//! is recorded once per format, for an approved batch, holding its payments and total; a batch
//! is sent part by part, only once fully approved and only with a bank file recorded for it;
//! end-to-end ids, bank-file message ids and imported files are never reused; an entitlement is
//! held by at most one live payment and is not reversed once that payment was sent; bank
//! outcomes follow the payment's state and amount.
//!
//! What it keeps grows with the number of batches, payments (about 100 bytes each: its
//! end-to-end id twice, amount, state, batch and the seqs of its entitlements), entitlements
//! held by live payments (16 bytes each), reversed entitlements (16 bytes each) and imports;
//! never with the number of other transactions.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Failure, PostingView};
use crate::codes::Code;
use crate::disburse::lifecycle::{self, BatchLife, PaymentState, PaymentView};
use crate::disburse::{
    BankImportBody, BankStatusBody, BatchCancelBody, BatchCreateBody, BatchDecisionBody,
    BatchFileBody, BatchPartBody, BatchSendBody, BatchSubmitBody, DisbursementConfigBody,
};
use crate::invalid::Invalid;
use crate::money::Currency;
use crate::programme::Id;
use crate::record::{body_from_value, kind};

/// The typed body of a disbursement record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DisburseBody {
    Config(DisbursementConfigBody),
    Create(BatchCreateBody),
    Part(BatchPartBody),
    Submit(BatchSubmitBody),
    Approve(BatchDecisionBody),
    Reject(BatchDecisionBody),
    Cancel(BatchCancelBody),
    File(BatchFileBody),
    Send(BatchSendBody),
    Import(BankImportBody),
    Status(BankStatusBody),
}

impl DisburseBody {
    pub(super) fn award_id(&self) -> &Id {
        self.award()
    }

    fn award(&self) -> &Id {
        match self {
            DisburseBody::Config(b) => &b.award,
            DisburseBody::Create(b) => &b.award,
            DisburseBody::Part(b) => &b.award,
            DisburseBody::Submit(b) => &b.award,
            DisburseBody::Approve(b) | DisburseBody::Reject(b) => &b.award,
            DisburseBody::Cancel(b) => &b.award,
            DisburseBody::File(b) => &b.award,
            DisburseBody::Send(b) => &b.award,
            DisburseBody::Import(b) => &b.award,
            DisburseBody::Status(b) => &b.award,
        }
    }

    /// The accounting date of the kinds that carry one (`batch.send`, `bank.status`).
    pub(super) fn accounting_date(&self) -> Option<String> {
        match self {
            DisburseBody::Send(b) => Some(b.accounting_date.to_string()),
            DisburseBody::Status(b) => Some(b.accounting_date.to_string()),
            _ => None,
        }
    }

    /// The postings of the kinds that move money (`None` for the others, and for a
    /// `bank.status` that moves none).
    pub(super) fn postings(&self) -> Option<Vec<PostingView<'_>>> {
        let list = match self {
            DisburseBody::Send(b) => &b.postings,
            DisburseBody::Status(b) if !b.postings.is_empty() => &b.postings,
            _ => return None,
        };
        Some(list.iter().map(PostingView::borrowed).collect())
    }
}

/// Whether `kind` is one of the disbursement kinds.
#[cfg(test)]
pub(super) fn is_disburse_kind(kind: &str) -> bool {
    decode(kind, &Value::Null).is_some()
}

/// The typed body of a disbursement record of kind `kind`; `None` for other kinds.
pub(super) fn decode(kind: &str, body: &Value) -> Option<Result<DisburseBody, Invalid>> {
    fn typed<T: DeserializeOwned>(
        body: &Value,
        wrap: fn(T) -> DisburseBody,
    ) -> Result<DisburseBody, Invalid> {
        body_from_value::<T>(body).map(wrap)
    }
    Some(match kind {
        kind::DISBURSEMENT_CONFIG => typed(body, DisburseBody::Config),
        kind::BATCH_CREATE => typed(body, DisburseBody::Create),
        kind::BATCH_PART => typed(body, DisburseBody::Part),
        kind::BATCH_SUBMIT => typed(body, DisburseBody::Submit),
        kind::BATCH_APPROVE => typed(body, DisburseBody::Approve),
        kind::BATCH_REJECT => typed(body, DisburseBody::Reject),
        kind::BATCH_CANCEL => typed(body, DisburseBody::Cancel),
        kind::BATCH_FILE => typed(body, DisburseBody::File),
        kind::BATCH_SEND => typed(body, DisburseBody::Send),
        kind::BANK_IMPORT => typed(body, DisburseBody::Import),
        kind::BANK_STATUS => typed(body, DisburseBody::Status),
        _ => return None,
    })
}

#[derive(Debug)]
struct Batch {
    life: BatchLife,
    /// Its place in `Disburse::batch_ids`.
    index: u32,
    /// Its payments (indices into `Disburse::payment_list`), part after part.
    payments: Vec<u32>,
    /// Per part seen, where its payments begin in `payments`.
    part_starts: Vec<u32>,
}

impl Batch {
    fn part_payments(&self, part: u32) -> &[u32] {
        let start = self.part_starts[part as usize] as usize;
        let end = self
            .part_starts
            .get(part as usize + 1)
            .map_or(self.payments.len(), |&e| e as usize);
        &self.payments[start..end]
    }
}

#[derive(Debug)]
struct Payment {
    e2e: String,
    batch: u32,
    amount_minor: i64,
    state: PaymentState,
    items: Box<[u64]>,
}

#[derive(Debug)]
struct Import {
    award: Id,
    parts: u32,
    seen: u32,
    seq: u64,
    /// The header, for a camt.053's statements to tie to its lines.
    header: Box<BankImportBody>,
    tally: lifecycle::StatementTally,
}

/// What the verifier keeps of the disbursement records.
#[derive(Debug, Default)]
pub(super) struct Disburse {
    batches: HashMap<Id, Batch>,
    batch_ids: Vec<Id>,
    payment_list: Vec<Payment>,
    e2e: HashMap<String, u32>,
    /// Entitlement seq -> the live payment holding it.
    holders: HashMap<u64, u32>,
    /// Entitlement seq -> the seq of its reversal.
    reversed: HashMap<u64, u64>,
    /// Paid entitlements adjusted (recovered or supplemented): original seq -> first adjustment.
    adjusted: HashMap<u64, u64>,
    /// Per award, the dual-approval amount its latest `disbursement.config` set (minor units).
    dual_above: HashMap<Id, i64>,
    messages: HashSet<String>,
    imports: HashMap<String, Import>,
    pub(super) batch_count: u64,
    pub(super) payments: u64,
    pub(super) approvals: u64,
    pub(super) bank_imports: u64,
}

fn in_body(seq: u64) -> impl Fn(Invalid) -> Failure {
    move |e| Failure::invalid(seq, &e.within("body"))
}

impl Disburse {
    fn batch(&mut self, seq: u64, id: &Id, award: &Id) -> Result<&mut Batch, Failure> {
        let invalid = in_body(seq);
        let batch = self
            .batches
            .get_mut(id)
            .ok_or_else(|| invalid(lifecycle::unknown_batch(id)))?;
        batch.life.of_award(award).map_err(&invalid)?;
        Ok(batch)
    }

    fn view(&self, pi: u32) -> PaymentView<'_> {
        let p = &self.payment_list[pi as usize];
        let batch = &self.batch_ids[p.batch as usize];
        PaymentView {
            e2e: &p.e2e,
            batch,
            award: self.batches[batch].life.award(),
            amount_minor: p.amount_minor,
            state: p.state,
        }
    }

    /// The payment holding entitlement `item`, if a live one does.
    fn holder(&self, item: u64) -> Option<PaymentView<'_>> {
        self.holders.get(&item).map(|&pi| self.view(pi))
    }

    /// Frees the entitlements `pi` holds (its batch was withdrawn, or the bank rejected or
    /// returned it).
    fn release(&mut self, pi: u32) {
        for item in self.payment_list[pi as usize].items.iter() {
            if self.holders.get(item) == Some(&pi) {
                self.holders.remove(item);
            }
        }
    }

    /// Refuses a batch holding an entitlement reversed since it was built.
    fn check_items_live(&self, seq: u64, id: &Id) -> Result<(), Failure> {
        for &pi in &self.batches[id].payments {
            let p = &self.payment_list[pi as usize];
            for &item in p.items.iter() {
                lifecycle::check_not_reversed(id, &p.e2e, item, self.reversed.get(&item).copied())
                    .map_err(in_body(seq))?;
            }
        }
        Ok(())
    }

    /// A reversing entitlement at `seq` of the entitlement at `original`: refused
    /// (`entitlement_paid`) when a payment holding it was sent, accepted or confirmed.
    pub(super) fn check_reversal(&self, seq: u64, original: u64) -> Result<(), Failure> {
        lifecycle::check_reversible(original, self.holder(original)).map_err(in_body(seq))?;
        lifecycle::check_unadjusted(original, self.adjusted.get(&original).copied())
            .map_err(in_body(seq))
    }

    /// `adjusts`: a recovery or supplement of `original` at `seq`, only of a paid or already
    /// adjusted entitlement.
    pub(super) fn check_adjustment(&mut self, seq: u64, original: u64) -> Result<(), Failure> {
        lifecycle::check_adjustable(
            original,
            self.holder(original),
            self.adjusted.get(&original).copied(),
        )
        .map_err(in_body(seq))?;
        self.adjusted.entry(original).or_insert(seq);
        Ok(())
    }

    /// Records that the entitlement at `original` was reversed at `seq` (after
    /// [`Disburse::check_reversal`] and the record's other checks held).
    pub(super) fn note_reversal(&mut self, seq: u64, original: u64) {
        self.reversed.entry(original).or_insert(seq);
    }

    /// Marks every payment of a rejected or cancelled batch withdrawn.
    fn withdraw(&mut self, id: &Id) {
        let payments = std::mem::take(&mut self.batches.get_mut(id).expect("known").payments);
        for &pi in &payments {
            self.release(pi);
            self.payment_list[pi as usize].state = PaymentState::Withdrawn;
        }
        self.batches.get_mut(id).expect("known").payments = payments;
    }

    /// Checks one disbursement record at `seq` by `actor`; `currency` is the award's, when the
    /// award is known.
    pub(super) fn check(
        &mut self,
        seq: u64,
        actor: &str,
        body: &DisburseBody,
        currency: Option<Currency>,
    ) -> Result<(), Failure> {
        let invalid = in_body(seq);
        let Some(currency) = currency else {
            return Err(Failure::at(
                seq,
                super::rule::UNKNOWN_AWARD,
                format!("body.award: award {} was not opened before", body.award()),
            ));
        };
        match body {
            DisburseBody::Config(b) => {
                let threshold = b.check(currency).map_err(&invalid)?;
                self.dual_above.insert(b.award.clone(), threshold.minor());
            }
            DisburseBody::Create(b) => {
                let life = BatchLife::create(b, currency, actor).map_err(&invalid)?;
                lifecycle::check_new_batch(self.batches.contains_key(&b.batch), &b.batch)
                    .map_err(&invalid)?;
                self.batches.insert(
                    b.batch.clone(),
                    Batch {
                        life,
                        index: self.batch_ids.len() as u32,
                        payments: Vec::new(),
                        part_starts: Vec::new(),
                    },
                );
                self.batch_ids.push(b.batch.clone());
                self.batch_count += 1;
            }
            DisburseBody::Part(b) => {
                b.check(currency).map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                batch.life.check_part(b).map_err(&invalid)?;
                let index = batch.index;
                let mut new = Vec::with_capacity(b.payments.len());
                for (i, p) in b.payments.iter().enumerate() {
                    let field = format!("payments[{i}]");
                    lifecycle::check_new_e2e(self.e2e.contains_key(&p.e2e), &p.e2e)
                        .map_err(|e| invalid(e.within(&field)))?;
                    let pi = self.payment_list.len() as u32;
                    for (j, &item) in p.entitlements.iter().enumerate() {
                        let f = format!("{field}.entitlements[{j}]");
                        if let Some(by) = self.reversed.get(&item) {
                            return Err(invalid(Invalid::new(
                                f,
                                Code::EntitlementReversed,
                                format!("entitlement seq {item} was reversed by seq {by}"),
                            )));
                        }
                        lifecycle::check_claim(item, self.holder(item))
                            .map_err(|e| invalid(e.within(&f)))?;
                    }
                    let amount = crate::programme::canonical_amount(&p.amount, currency, "amount")
                        .map_err(|e| invalid(e.within(&field)))?;
                    for &item in &p.entitlements {
                        self.holders.insert(item, pi);
                    }
                    self.e2e.insert(p.e2e.clone(), pi);
                    self.payment_list.push(Payment {
                        e2e: p.e2e.clone(),
                        batch: index,
                        amount_minor: amount.minor(),
                        state: PaymentState::Pending,
                        items: p.entitlements.clone().into_boxed_slice(),
                    });
                    new.push(pi);
                }
                let batch = self.batches.get_mut(&b.batch).expect("known");
                batch.life.part(b).map_err(&invalid)?;
                batch.part_starts.push(batch.payments.len() as u32);
                batch.payments.extend(new);
                self.payments += b.payments.len() as u64;
            }
            DisburseBody::Submit(b) => {
                b.check().map_err(&invalid)?;
                let dual_above = self
                    .dual_above
                    .get(&b.award)
                    .copied()
                    .unwrap_or_else(|| lifecycle::default_dual_approval_above(currency));
                let batch = self.batch(seq, &b.batch, &b.award)?;
                batch.life.submit(b, actor, dual_above).map_err(&invalid)?;
                self.check_items_live(seq, &b.batch)?;
            }
            DisburseBody::Approve(b) | DisburseBody::Reject(b) => {
                let approve = matches!(body, DisburseBody::Approve(_));
                b.check(!approve).map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                batch.life.decide(b, actor, approve).map_err(&invalid)?;
                if approve {
                    self.check_items_live(seq, &b.batch)?;
                    self.approvals += 1;
                } else {
                    self.withdraw(&b.batch);
                }
            }
            DisburseBody::Cancel(b) => {
                b.check().map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                batch.life.cancel().map_err(&invalid)?;
                self.withdraw(&b.batch);
            }
            DisburseBody::File(b) => {
                b.check(currency).map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                batch.life.file(b).map_err(&invalid)?;
                lifecycle::check_new_message_id(
                    self.messages.contains(&b.message_id),
                    &b.message_id,
                )
                .map_err(&invalid)?;
                self.messages.insert(b.message_id.clone());
            }
            DisburseBody::Send(b) => {
                b.check().map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                batch.life.send(b, actor).map_err(&invalid)?;
                let batch = &self.batches[&b.batch];
                for &pi in batch.part_payments(b.part) {
                    self.payment_list[pi as usize].state = PaymentState::Sent;
                }
            }
            DisburseBody::Import(b) => {
                b.check(currency).map_err(&invalid)?;
                lifecycle::check_new_import(self.imports.get(&b.sha256).map(|i| i.seq))
                    .map_err(&invalid)?;
                self.imports.insert(
                    b.sha256.clone(),
                    Import {
                        award: b.award.clone(),
                        parts: b.parts,
                        seen: 0,
                        seq,
                        header: Box::new(b.clone()),
                        tally: lifecycle::StatementTally::default(),
                    },
                );
                self.bank_imports += 1;
            }
            DisburseBody::Status(b) => {
                b.check(currency).map_err(&invalid)?;
                let import = self
                    .imports
                    .get(&b.import)
                    .ok_or_else(|| invalid(lifecycle::unknown_import(&b.import)))?;
                lifecycle::check_status_part(&import.award, import.parts, import.seen, b)
                    .map_err(&invalid)?;
                let mut seen = HashSet::new();
                for (i, o) in b.outcomes.iter().enumerate() {
                    let within = |e: Invalid| invalid(e.within(&format!("outcomes[{i}]")));
                    let Some(&pi) = self.e2e.get(&o.e2e) else {
                        return Err(within(lifecycle::unknown_e2e(&o.e2e)));
                    };
                    if !seen.insert(pi) {
                        return Err(within(lifecycle::duplicate_outcome(&o.e2e)));
                    }
                    let next =
                        lifecycle::outcome(&b.award, currency, self.view(pi), o).map_err(within)?;
                    if matches!(next, PaymentState::Rejected | PaymentState::Returned) {
                        self.release(pi);
                    }
                    self.payment_list[pi as usize].state = next;
                }
                let import = self.imports.get_mut(&b.import).expect("known");
                import.seen += 1;
                import
                    .tally
                    .add(&import.header, b, currency)
                    .map_err(&invalid)?;
                if import.seen == import.parts {
                    import
                        .tally
                        .check(&import.header, currency)
                        .map_err(&invalid)?;
                }
            }
        }
        Ok(())
    }
}
