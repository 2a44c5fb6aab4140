//! The disbursement records in the streaming verifier. Every body must deserialize into its
//! `disburse` type and pass that type's stateless check; `batch.send` and `bank.status` are
//! then checked as transactions by the verifier itself. On top of that the verifier re-checks
//! maker-checker offline: a batch's digest is recomputed from its header and parts and must be
//! the one submitted and approved; no one approves a batch they prepared or submitted, nor
//! twice; a batch is sent only once fully approved and only with a bank file recorded for it;
//! end-to-end ids and imported files are never reused. What it keeps grows with the number of
//! batches, payments and imports, never with the number of other transactions.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Failure, PostingView};
use crate::disburse::{
    BankImportBody, BankStatusBody, BatchCancelBody, BatchCreateBody, BatchDecisionBody,
    BatchDigest, BatchFileBody, BatchPartBody, BatchSendBody, BatchSubmitBody,
    DisbursementConfigBody,
};
use crate::invalid::Invalid;
use crate::money::Currency;
use crate::programme::{canonical_amount, Id};
use crate::record::{body_from_value, kind};

/// Rule names of the disbursement checks.
pub mod rule {
    /// A batch id used twice.
    pub const BATCH_EXISTS: &str = "batch_exists";
    /// A record names a batch that was never created (or belongs to another award).
    pub const UNKNOWN_BATCH: &str = "unknown_batch";
    /// A part (of a batch, a sending or an import) out of order, or after the last.
    pub const PART_OUT_OF_ORDER: &str = "part_out_of_order";
    /// The parts do not add up to what the header declares.
    pub const BATCH_TOTALS_MISMATCH: &str = "batch_totals_mismatch";
    /// Submitted when not a complete draft.
    pub const BATCH_NOT_DRAFT: &str = "batch_not_draft";
    /// A submission or decision naming another content than the batch's.
    pub const DIGEST_MISMATCH: &str = "digest_mismatch";
    /// A decision on a batch that is not awaiting one.
    pub const BATCH_NOT_AWAITING_APPROVAL: &str = "batch_not_awaiting_approval";
    /// Approved or rejected by its preparer or submitter.
    pub const OWN_BATCH: &str = "own_batch";
    /// The same approver twice on one batch.
    pub const ALREADY_APPROVED: &str = "already_approved";
    /// A bank file or a sending for a batch not fully approved.
    pub const BATCH_NOT_APPROVED: &str = "batch_not_approved";
    /// A sending that names no bank file recorded for the batch.
    pub const UNKNOWN_FILE: &str = "unknown_file";
    /// An end-to-end id used twice.
    pub const DUPLICATE_END_TO_END_ID: &str = "duplicate_end_to_end_id";
    /// A cancellation after sending.
    pub const BATCH_NOT_CANCELLABLE: &str = "batch_not_cancellable";
    /// The same status file imported twice.
    pub const ALREADY_IMPORTED: &str = "already_imported";
    /// Outcomes for an import never recorded.
    pub const UNKNOWN_IMPORT: &str = "unknown_import";
    /// An outcome for a payment that does not exist.
    pub const UNKNOWN_PAYMENT: &str = "unknown_payment";
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Building,
    Draft,
    Submitted,
    Approved,
    Sent,
    Closed,
}

#[derive(Debug)]
struct Batch {
    award: Id,
    preparer: String,
    submitter: Option<String>,
    digest: BatchDigest,
    frozen: Option<String>,
    parts: u32,
    parts_seen: u32,
    payments: u64,
    total: i64,
    exceptions: u64,
    header: BatchCreateBody,
    status: Status,
    required: u32,
    approvers: Vec<String>,
    files: HashSet<String>,
    sent_parts: u32,
    /// Parts holding at least one payment (parts of exceptions only are never sent).
    payment_parts: u32,
}

#[derive(Debug)]
struct Import {
    award: Id,
    parts: u32,
    seen: u32,
}

/// What the verifier keeps of the disbursement records.
#[derive(Debug, Default)]
pub(super) struct Disburse {
    batches: HashMap<Id, Batch>,
    e2e: HashSet<String>,
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
        match self.batches.get_mut(id) {
            Some(b) if &b.award == award => Ok(b),
            _ => Err(Failure::at(
                seq,
                rule::UNKNOWN_BATCH,
                format!("body.batch: no batch {id} of award {award} was created before"),
            )),
        }
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
                b.check(currency).map_err(&invalid)?;
            }
            DisburseBody::Create(b) => {
                b.check(currency).map_err(&invalid)?;
                if self.batches.contains_key(&b.batch) {
                    return Err(Failure::at(
                        seq,
                        rule::BATCH_EXISTS,
                        format!("body.batch: batch {} was already created", b.batch),
                    ));
                }
                let mut digest = BatchDigest::new();
                digest.add(&serde_json::to_value(b).expect("plain data"));
                self.batches.insert(
                    b.batch.clone(),
                    Batch {
                        award: b.award.clone(),
                        preparer: actor.to_string(),
                        submitter: None,
                        digest,
                        frozen: None,
                        parts: b.parts,
                        parts_seen: 0,
                        payments: 0,
                        total: 0,
                        exceptions: 0,
                        header: b.clone(),
                        status: Status::Building,
                        required: 0,
                        approvers: Vec::new(),
                        files: HashSet::new(),
                        sent_parts: 0,
                        payment_parts: 0,
                    },
                );
                self.batch_count += 1;
            }
            DisburseBody::Part(b) => {
                b.check(currency).map_err(&invalid)?;
                for (i, p) in b.payments.iter().enumerate() {
                    if self.e2e.contains(&p.e2e) {
                        return Err(Failure::at(
                            seq,
                            rule::DUPLICATE_END_TO_END_ID,
                            format!("body.payments[{i}].e2e: {} was already used", p.e2e),
                        ));
                    }
                }
                let batch = self.batch(seq, &b.batch, &b.award)?;
                if batch.status != Status::Building || b.part != batch.parts_seen {
                    return Err(Failure::at(
                        seq,
                        rule::PART_OUT_OF_ORDER,
                        format!(
                            "body.part: batch {} expects part {} of {} next",
                            b.batch, batch.parts_seen, batch.parts
                        ),
                    ));
                }
                let mut part_total = 0i64;
                for p in &b.payments {
                    part_total += canonical_amount(&p.amount, currency, "amount")
                        .map_err(&invalid)?
                        .minor();
                }
                batch
                    .digest
                    .add(&serde_json::to_value(b).expect("plain data"));
                batch.parts_seen += 1;
                batch.payments += b.payments.len() as u64;
                batch.total += part_total;
                batch.exceptions += b.exceptions.len() as u64;
                if batch.parts_seen == batch.parts {
                    let declared = canonical_amount(&batch.header.total, currency, "total")
                        .map_err(&invalid)?
                        .minor();
                    if batch.payments != batch.header.payments
                        || batch.total != declared
                        || batch.exceptions != batch.header.exceptions
                    {
                        return Err(Failure::at(
                            seq,
                            rule::BATCH_TOTALS_MISMATCH,
                            format!(
                                "batch {}: the parts hold {} payments and {} exceptions, the header declares {} and {}",
                                b.batch, batch.payments, batch.exceptions, batch.header.payments, batch.header.exceptions
                            ),
                        ));
                    }
                    batch.frozen = Some(batch.digest.hex());
                    batch.status = Status::Draft;
                }
                let n = b.payments.len() as u64;
                for p in &b.payments {
                    self.e2e.insert(p.e2e.clone());
                }
                self.payments += n;
            }
            DisburseBody::Submit(b) => {
                b.check().map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                if batch.status != Status::Draft {
                    return Err(Failure::at(
                        seq,
                        rule::BATCH_NOT_DRAFT,
                        format!("body.batch: batch {} is not a complete draft", b.batch),
                    ));
                }
                if batch.frozen.as_deref() != Some(b.digest.as_str()) {
                    return Err(Failure::at(
                        seq,
                        rule::DIGEST_MISMATCH,
                        format!(
                            "body.digest: batch {}'s header and parts hash to {}",
                            b.batch,
                            batch.frozen.clone().unwrap_or_default()
                        ),
                    ));
                }
                batch.submitter = Some(actor.to_string());
                batch.required = b.approvals_required;
                batch.status = Status::Submitted;
            }
            DisburseBody::Approve(b) | DisburseBody::Reject(b) => {
                let approve = matches!(body, DisburseBody::Approve(_));
                b.check(!approve).map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                if batch.status != Status::Submitted {
                    return Err(Failure::at(
                        seq,
                        rule::BATCH_NOT_AWAITING_APPROVAL,
                        format!("body.batch: batch {} is not awaiting approval", b.batch),
                    ));
                }
                if batch.frozen.as_deref() != Some(b.digest.as_str()) {
                    return Err(Failure::at(
                        seq,
                        rule::DIGEST_MISMATCH,
                        format!("body.digest: not the frozen content of batch {}", b.batch),
                    ));
                }
                if actor == batch.preparer || Some(actor) == batch.submitter.as_deref() {
                    return Err(Failure::at(
                        seq,
                        rule::OWN_BATCH,
                        format!(
                            "actor: {actor} prepared or submitted batch {} and decided on it",
                            b.batch
                        ),
                    ));
                }
                if batch.approvers.iter().any(|a| a == actor) {
                    return Err(Failure::at(
                        seq,
                        rule::ALREADY_APPROVED,
                        format!("actor: {actor} already approved batch {}", b.batch),
                    ));
                }
                if approve {
                    batch.approvers.push(actor.to_string());
                    if batch.approvers.len() as u32 >= batch.required {
                        batch.status = Status::Approved;
                    }
                    self.approvals += 1;
                } else {
                    batch.status = Status::Closed;
                }
            }
            DisburseBody::Cancel(b) => {
                b.check().map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                if !matches!(
                    batch.status,
                    Status::Draft | Status::Submitted | Status::Approved
                ) {
                    return Err(Failure::at(
                        seq,
                        rule::BATCH_NOT_CANCELLABLE,
                        format!("body.batch: batch {} was sent or closed", b.batch),
                    ));
                }
                batch.status = Status::Closed;
            }
            DisburseBody::File(b) => {
                b.check(currency).map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                if !matches!(batch.status, Status::Approved | Status::Sent) {
                    return Err(Failure::at(
                        seq,
                        rule::BATCH_NOT_APPROVED,
                        format!(
                            "body.batch: a bank file for batch {}, which is not fully approved",
                            b.batch
                        ),
                    ));
                }
                batch.files.insert(b.sha256.clone());
            }
            DisburseBody::Send(b) => {
                b.check().map_err(&invalid)?;
                let batch = self.batch(seq, &b.batch, &b.award)?;
                if batch.status != Status::Approved {
                    return Err(Failure::at(
                        seq,
                        rule::BATCH_NOT_APPROVED,
                        format!(
                            "body.batch: batch {} sent with {} of {} approvals",
                            b.batch,
                            batch.approvers.len(),
                            batch.required.max(1)
                        ),
                    ));
                }
                if !batch.files.contains(&b.file) {
                    return Err(Failure::at(
                        seq,
                        rule::UNKNOWN_FILE,
                        format!(
                            "body.file: no bank file {} was recorded for batch {}",
                            b.file, b.batch
                        ),
                    ));
                }
                if b.part != batch.sent_parts || b.part >= batch.parts {
                    return Err(Failure::at(
                        seq,
                        rule::PART_OUT_OF_ORDER,
                        format!(
                            "body.part: batch {} sends part {} next",
                            b.batch, batch.sent_parts
                        ),
                    ));
                }
                batch.sent_parts += 1;
                // Parts without payments come last and are never sent: the batch is sent once
                // every part with payments is.
                if batch.sent_parts >= batch.payment_parts {
                    batch.status = Status::Sent;
                }
            }
            DisburseBody::Import(b) => {
                b.check().map_err(&invalid)?;
                if self.imports.contains_key(&b.sha256) {
                    return Err(Failure::at(
                        seq,
                        rule::ALREADY_IMPORTED,
                        format!("body.sha256: the file {} was already imported", b.sha256),
                    ));
                }
                self.imports.insert(
                    b.sha256.clone(),
                    Import {
                        award: b.award.clone(),
                        parts: b.parts,
                        seen: 0,
                    },
                );
                self.bank_imports += 1;
            }
            DisburseBody::Status(b) => {
                b.check(currency).map_err(&invalid)?;
                for (i, o) in b.outcomes.iter().enumerate() {
                    if !self.e2e.contains(&o.e2e) {
                        return Err(Failure::at(
                            seq,
                            rule::UNKNOWN_PAYMENT,
                            format!("body.outcomes[{i}].e2e: no payment {}", o.e2e),
                        ));
                    }
                }
                let Some(import) = self.imports.get_mut(&b.import) else {
                    return Err(Failure::at(
                        seq,
                        rule::UNKNOWN_IMPORT,
                        format!("body.import: no bank.import {} before", b.import),
                    ));
                };
                if import.award != b.award || b.part != import.seen || b.part >= import.parts {
                    return Err(Failure::at(
                        seq,
                        rule::PART_OUT_OF_ORDER,
                        format!("body.part: the import expects part {} next", import.seen),
                    ));
                }
                import.seen += 1;
            }
        }
        Ok(())
    }
}
