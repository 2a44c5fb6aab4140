//! The disbursement state and its rules: payment batches from open payables, maker-checker
//! approval of the frozen content, bank files, sending, and the bank's outcomes. Like the rest
//! of the programme state it is a projection of the journal held in memory, and [`apply`]
//! holds every stateful rule of the disbursement records.
//!
//! Every entitlement that credits a payee's payable account becomes an *item*. An item is open
//! until a payment of a batch claims it; it stays claimed while the batch is prepared, approved
//! and sent, and until the bank confirms the payment (then it is paid) or rejects or returns it
//! (then it is open again, and a later payment reissues it citing the first). An item can be in
//! at most one live payment, so nothing can be paid twice; an item that was claimed is never
//! forgotten, so nothing can be lost.
//!
//! The lifecycle rules themselves (a batch's statuses and what may happen in each, the payment
//! states the bank's outcomes move through, which entitlements a payment may claim and which may
//! be reversed) are `tranche_audit::disburse::lifecycle`'s, the same the offline verifier
//! applies: this module keeps the richer state around them (payments, items, reservations,
//! commitments, the undo log) and asks the shared rules for every decision.

use std::collections::HashMap;

use tranche_audit::account::AccountName;
use tranche_audit::disburse::lifecycle::{self, BatchLife, PaymentView};
use tranche_audit::disburse::{
    BankStatusBody, BatchPartBody, BatchSendBody, OutcomeBody, Payee, PaymentStatus,
};
use tranche_audit::money::{format_minor, Currency, Money};
use tranche_audit::posting::{Posting, Side};
use tranche_audit::programme::{accounts, Id};
use tranche_audit::Code;
use tranche_audit::Invalid;

use super::payment_state::holder_of;
pub use super::payment_state::*;
use super::programme::{Balances, ProgrammeState};
use super::transaction::NewTransaction;

fn money(minor: i64, currency: Currency) -> String {
    format_minor(minor.into(), currency)
}

/// Cash the award can still pay out: bank balance, less payments in transit, less approved
/// batches not yet sent.
pub fn available_funds(s: &DisburseState, award: &Id, balances: &dyn Balances) -> i128 {
    let bank = balances.net(&accounts::bank(award));
    let transit = balances.net(&accounts::transit(award));
    bank + transit - i128::from(s.committed.get(award).copied().unwrap_or(0))
}

fn check_funds(
    s: &ProgrammeState,
    award: &Id,
    total: i64,
    currency: Currency,
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    if !balances.known() {
        return Ok(());
    }
    let available = available_funds(&s.disburse, award, balances);
    if available < i128::from(total) {
        return Err(Invalid::new(
            "batch",
            Code::InsufficientFunds,
            format!(
                "the batch pays {} but award {award} has only {} cleared and uncommitted in its bank account",
                money(total, currency),
                format_minor(available, currency)
            ),
        ));
    }
    Ok(())
}

/// The postings that send one part: each payment leaves its payee's payable for payments in
/// transit.
pub fn send_postings(s: &DisburseState, batch: &Batch, part: u32) -> Result<Vec<Posting>, Invalid> {
    let award = &batch.header.award;
    let mut out = Vec::new();
    let mut total = 0i64;
    let range = batch
        .part_ranges
        .get(part as usize)
        .cloned()
        .unwrap_or(0..0);
    for &pi in &batch.payments[range] {
        let p = &s.payments[pi as usize];
        total += p.amount;
        out.push(Posting {
            account: AccountName::parse(&p.payable)?,
            side: Side::Debit,
            money: Money::from_minor(p.amount, batch.currency),
        });
    }
    if out.is_empty() {
        return Err(Invalid::new(
            "part",
            Code::UnknownPart,
            format!("batch {} has no part {part}", batch.header.batch),
        ));
    }
    out.push(Posting {
        account: AccountName::parse(&accounts::transit(award))?,
        side: Side::Credit,
        money: Money::from_minor(total, batch.currency),
    });
    Ok(out)
}

/// The postings a set of outcomes causes, aggregated per account: in transit to bank for
/// confirmations, in transit (or bank, once booked) back to the payable for rejections and
/// returns. Empty when nothing moves.
pub fn status_postings(
    s: &DisburseState,
    award: &Id,
    currency: Currency,
    outcomes: &[OutcomeBody],
) -> Result<Vec<Posting>, Invalid> {
    let mut from_transit = 0i64;
    let mut to_bank = 0i64;
    let mut back_to_bank = 0i64;
    let mut payables: Vec<(String, i64)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for o in outcomes {
        let Some(p) = s.payment(&o.e2e) else {
            continue;
        };
        let mut credit_payable = false;
        match o.status {
            PaymentStatus::Accepted => {}
            PaymentStatus::Confirmed => {
                from_transit += p.amount;
                to_bank += p.amount;
            }
            PaymentStatus::Rejected => {
                from_transit += p.amount;
                credit_payable = true;
            }
            PaymentStatus::Returned => {
                if p.state == PaymentState::Confirmed {
                    back_to_bank += p.amount;
                } else {
                    from_transit += p.amount;
                }
                credit_payable = true;
            }
        }
        if credit_payable {
            match index.get(p.payable.as_str()) {
                Some(&i) => payables[i].1 += p.amount,
                None => {
                    index.insert(p.payable.as_str(), payables.len());
                    payables.push((p.payable.clone(), p.amount));
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut push = |account: String, side: Side, minor: i64| -> Result<(), Invalid> {
        if minor > 0 {
            out.push(Posting {
                account: AccountName::parse(&account)?,
                side,
                money: Money::from_minor(minor, currency),
            });
        }
        Ok(())
    };
    push(accounts::transit(award), Side::Debit, from_transit)?;
    push(accounts::bank(award), Side::Debit, back_to_bank)?;
    push(accounts::bank(award), Side::Credit, to_bank)?;
    for (account, minor) in payables {
        push(account, Side::Credit, minor)?;
    }
    Ok(out)
}

/// Records an entitlement that credits (or, reversing, debits) a payable as an item.
pub fn on_entitlement(
    s: &mut ProgrammeState,
    seq: u64,
    meta: &super::programme::EntitlementMeta,
    postings: &[Posting],
    reverses: Option<u64>,
) {
    let award = &meta.award;
    if let Some(original) = reverses {
        if let Some(item) = s.disburse.items.get_mut(&original) {
            if item.reversed_by.is_none() {
                item.reversed_by = Some(seq);
                s.undo_disburse(move |d| {
                    if let Some(i) = d.items.get_mut(&original) {
                        i.reversed_by = None;
                    }
                });
            }
        }
        return;
    }
    for p in postings {
        if p.side != Side::Credit {
            continue;
        }
        if let Some(payee) = Payee::of_payable(award, p.account.as_str()) {
            s.disburse.items.insert(
                seq,
                Item {
                    award: award.clone(),
                    payee,
                    participant: meta.participant.clone(),
                    line: postings
                        .iter()
                        .filter(|q| q.side == Side::Debit)
                        .find_map(|q| super::programme::budget_line_of(award, q.account.as_str())),
                    amount: p.money.minor(),
                    payment: None,
                    reversed_by: None,
                    returned: Vec::new(),
                },
            );
            s.undo_disburse(move |d| {
                d.items.remove(&seq);
            });
            return;
        }
    }
}

/// Applies one disbursement command at `seq` by `actor`. On error the state is unchanged.
pub fn apply(
    s: &mut ProgrammeState,
    seq: u64,
    actor: &str,
    command: &DisburseCommand,
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    let mark = s.mark();
    let result = apply_inner(s, seq, actor, command, balances);
    if result.is_err() {
        s.rollback_to(mark);
    }
    result
}

fn batch_of<'a>(s: &'a ProgrammeState, batch: &Id, award: &Id) -> Result<&'a Batch, Invalid> {
    let b = s
        .disburse
        .batches
        .get(batch)
        .ok_or_else(|| lifecycle::unknown_batch(batch))?;
    b.life.of_award(award)?;
    Ok(b)
}

/// Replaces a batch's lifecycle state, once the shared rules accepted the step, with the
/// fields that mirror it.
fn set_life(s: &mut ProgrammeState, batch: &Id, life: BatchLife) {
    let b = s.disburse.batches.get_mut(batch).expect("checked");
    let status = std::mem::replace(&mut b.status, life.status());
    let digest = std::mem::replace(&mut b.digest_hex, life.frozen_digest().map(str::to_string));
    let required = std::mem::replace(&mut b.approvals_required, life.approvals_required());
    let old = std::mem::replace(&mut b.life, life);
    let id = batch.clone();
    s.undo_disburse(move |d| {
        if let Some(b) = d.batches.get_mut(&id) {
            b.status = status;
            b.digest_hex = digest;
            b.approvals_required = required;
            b.life = old;
        }
    });
}

fn set_payment_state(s: &mut ProgrammeState, pi: u32, state: PaymentState, event: PaymentEvent) {
    let p = &mut s.disburse.payments[pi as usize];
    let old = std::mem::replace(&mut p.state, state);
    p.events.push(event);
    s.undo_disburse(move |d| {
        let p = &mut d.payments[pi as usize];
        p.state = old;
        p.events.pop();
    });
}

fn add_reserved(s: &mut ProgrammeState, payable: &str, delta: i64) {
    *s.disburse.reserved.entry(payable.to_string()).or_default() += delta;
    let key = payable.to_string();
    s.undo_disburse(move |d| {
        *d.reserved.entry(key).or_default() -= delta;
    });
}

fn add_committed(s: &mut ProgrammeState, award: &Id, delta: i64) {
    *s.disburse.committed.entry(award.clone()).or_default() += delta;
    let key = award.clone();
    s.undo_disburse(move |d| {
        *d.committed.entry(key).or_default() -= delta;
    });
}

/// Frees the items of every payment of a batch that is withdrawn before sending.
fn withdraw(s: &mut ProgrammeState, batch: &Id, seq: u64, reason: &str) {
    let payments = s.disburse.batches[batch].payments.clone();
    for pi in payments {
        let (items, payable, amount) = {
            let p = &s.disburse.payments[pi as usize];
            (p.items.clone(), p.payable.clone(), p.amount)
        };
        for item in &items {
            release_item(s, *item, None);
        }
        add_reserved(s, &payable, -amount);
        set_payment_state(
            s,
            pi,
            PaymentState::Withdrawn,
            PaymentEvent {
                event: "withdrawn",
                seq,
                reason: Some(reason.to_string()),
            },
        );
    }
}

/// Makes an item open again; `returned` names the payment that failed, for a reissue to cite.
fn release_item(s: &mut ProgrammeState, item: u64, returned: Option<u32>) {
    let Some(it) = s.disburse.items.get_mut(&item) else {
        return;
    };
    let old = it.payment.take();
    if let Some(r) = returned {
        it.returned.push(r);
    }
    s.undo_disburse(move |d| {
        if let Some(it) = d.items.get_mut(&item) {
            it.payment = old;
            if returned.is_some() {
                it.returned.pop();
            }
        }
    });
}

fn apply_inner(
    s: &mut ProgrammeState,
    seq: u64,
    actor: &str,
    command: &DisburseCommand,
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    let award_id = command.award().clone();
    let (currency, award_end) = {
        let award = s.awards.get(&award_id).ok_or_else(|| {
            Invalid::new(
                "award",
                Code::UnknownAward,
                format!("there is no award {award_id}"),
            )
        })?;
        (award.currency, award.end())
    };
    let _ = award_end;
    match command {
        DisburseCommand::Config(body) => {
            let threshold = body.check(currency)?.minor();
            let vendors = &s.awards[&award_id].vendors;
            for (i, v) in body.vendors.iter().enumerate() {
                if !vendors.contains(&v.vendor) {
                    return Err(Invalid::new(
                        format!("vendors[{i}].vendor"),
                        Code::UnknownVendor,
                        format!("award {award_id} has no vendor {}", v.vendor),
                    ));
                }
            }
            let old = s.disburse.settings.insert(
                award_id.clone(),
                Settings {
                    body: body.clone(),
                    seq,
                    dual_approval_above: threshold,
                },
            );
            s.undo_disburse(move |d| match old {
                Some(o) => {
                    d.settings.insert(award_id, o);
                }
                None => {
                    d.settings.remove(&award_id);
                }
            });
        }
        DisburseCommand::Create(body) => {
            let life = BatchLife::create(body, currency, actor)?;
            lifecycle::check_new_batch(s.disburse.batches.contains_key(&body.batch), &body.batch)?;
            s.disburse.batches.insert(
                body.batch.clone(),
                Batch {
                    header: body.clone(),
                    currency,
                    preparer: actor.to_string(),
                    status: life.status(),
                    create_seq: seq,
                    part_seqs: Vec::new(),
                    digest_hex: None,
                    payments: Vec::new(),
                    part_ranges: Vec::new(),
                    total: 0,
                    exceptions: Vec::new(),
                    submitted: None,
                    approvals_required: 0,
                    approvals: Vec::new(),
                    closed: None,
                    files: Vec::new(),
                    send_seqs: Vec::new(),
                    life,
                },
            );
            s.disburse.batch_order.push(body.batch.clone());
            let id = body.batch.clone();
            s.undo_disburse(move |d| {
                d.batches.remove(&id);
                d.batch_order.pop();
            });
        }
        DisburseCommand::Part(body) => apply_part(s, seq, body, currency, balances)?,
        DisburseCommand::Submit(body) => {
            body.check()?;
            let b = batch_of(s, &body.batch, &award_id)?;
            let mut life = b.life.clone();
            let total = b.total;
            let dual_above = s.disburse.dual_approval_above(&award_id, currency);
            life.submit(body, actor, dual_above)?;
            check_items_live(s, &body.batch)?;
            check_funds(s, &award_id, total, currency, balances)?;
            let b = s.disburse.batches.get_mut(&body.batch).expect("checked");
            b.submitted = Some(Decision {
                actor: actor.to_string(),
                seq,
                reason: None,
            });
            let id = body.batch.clone();
            s.undo_disburse(move |d| {
                if let Some(b) = d.batches.get_mut(&id) {
                    b.submitted = None;
                }
            });
            set_life(s, &body.batch, life);
        }
        DisburseCommand::Approve(body) | DisburseCommand::Reject(body) => {
            let approve = matches!(command, DisburseCommand::Approve(_));
            body.check(!approve)?;
            let b = batch_of(s, &body.batch, &award_id)?;
            let mut life = b.life.clone();
            life.decide(body, actor, approve)?;
            let total = b.total;
            let decision = Decision {
                actor: actor.to_string(),
                seq,
                reason: body.reason.clone(),
            };
            if approve {
                check_items_live(s, &body.batch)?;
                check_funds(s, &award_id, total, currency, balances)?;
                s.disburse
                    .batches
                    .get_mut(&body.batch)
                    .expect("checked")
                    .approvals
                    .push(decision);
                let id = body.batch.clone();
                s.undo_disburse(move |d| {
                    if let Some(b) = d.batches.get_mut(&id) {
                        b.approvals.pop();
                    }
                });
                let now_approved = life.status() == BatchStatus::Approved;
                set_life(s, &body.batch, life);
                if now_approved {
                    add_committed(s, &award_id, total);
                }
            } else {
                close_batch(s, &body.batch, decision, life, seq);
            }
        }
        DisburseCommand::Cancel(body) => {
            body.check()?;
            let b = batch_of(s, &body.batch, &award_id)?;
            let mut life = b.life.clone();
            life.cancel()?;
            if b.status == BatchStatus::Approved {
                let total = b.total;
                add_committed(s, &award_id, -total);
            }
            let decision = Decision {
                actor: actor.to_string(),
                seq,
                reason: Some(body.reason.clone()),
            };
            close_batch(s, &body.batch, decision, life, seq);
        }
        DisburseCommand::File(body) => {
            body.check(currency)?;
            let b = batch_of(s, &body.batch, &award_id)?;
            let mut life = b.life.clone();
            life.file(body)?;
            lifecycle::check_new_message_id(
                s.disburse.messages.contains_key(&body.message_id),
                &body.message_id,
            )?;
            s.disburse
                .messages
                .insert(body.message_id.clone(), body.batch.clone());
            s.disburse
                .batches
                .get_mut(&body.batch)
                .expect("checked")
                .files
                .push(FileRecord {
                    body: body.clone(),
                    seq,
                });
            let id = body.batch.clone();
            let msg = body.message_id.clone();
            s.undo_disburse(move |d| {
                d.messages.remove(&msg);
                if let Some(b) = d.batches.get_mut(&id) {
                    b.files.pop();
                }
            });
            set_life(s, &body.batch, life);
        }
        DisburseCommand::Send(body, tx) => apply_send(s, seq, actor, body, tx, balances)?,
        DisburseCommand::Import(body) => {
            body.check(currency)?;
            lifecycle::check_new_import(s.disburse.imports.get(&body.sha256).map(|old| old.seq))?;
            s.disburse.imports.insert(
                body.sha256.clone(),
                Import {
                    header: body.clone(),
                    seq,
                    next_part: 0,
                    part_seqs: Vec::new(),
                    outcomes: 0,
                    exceptions: Vec::new(),
                },
            );
            s.disburse.import_order.push(body.sha256.clone());
            let sha = body.sha256.clone();
            s.undo_disburse(move |d| {
                d.imports.remove(&sha);
                d.import_order.pop();
            });
        }
        DisburseCommand::Status(body, tx) => apply_status(s, seq, body, tx.as_ref(), currency)?,
    }
    Ok(())
}

/// Refuses to go on with a batch one of whose entitlements was reversed since it was built.
fn check_items_live(s: &ProgrammeState, batch: &Id) -> Result<(), Invalid> {
    for &pi in &s.disburse.batches[batch].payments {
        let p = &s.disburse.payments[pi as usize];
        for &item in &p.items {
            let reversed_by = s.disburse.items.get(&item).and_then(|i| i.reversed_by);
            lifecycle::check_not_reversed(batch, &p.e2e, item, reversed_by)?;
        }
    }
    Ok(())
}

fn close_batch(s: &mut ProgrammeState, batch: &Id, decision: Decision, life: BatchLife, seq: u64) {
    let reason = decision.reason.clone().unwrap_or_default();
    s.disburse.batches.get_mut(batch).expect("checked").closed = Some(decision);
    let id = batch.clone();
    s.undo_disburse(move |d| {
        if let Some(b) = d.batches.get_mut(&id) {
            b.closed = None;
        }
    });
    set_life(s, batch, life);
    withdraw(s, batch, seq, &reason);
}

fn apply_part(
    s: &mut ProgrammeState,
    seq: u64,
    body: &BatchPartBody,
    currency: Currency,
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    body.check(currency)?;
    let award_id = body.award.clone();
    let b = batch_of(s, &body.batch, &award_id)?;
    b.life.check_part(body)?;
    let batch_id = body.batch.clone();
    let mut part_total = 0i64;
    let mut new_payments = Vec::with_capacity(body.payments.len());
    for (i, pb) in body.payments.iter().enumerate() {
        let field = format!("payments[{i}]");
        let within = |e: Invalid| e.within(&field);
        let (payee, amount) = pb.check(currency).map_err(within)?;
        let amount = amount.minor();
        lifecycle::check_new_e2e(s.disburse.e2e.contains_key(&pb.e2e), &pb.e2e).map_err(within)?;
        match &payee {
            Payee::Participant(p) => {
                let known = s.participant(p).is_some_and(|part| part.award == award_id);
                if !known {
                    return Err(Invalid::new(
                        format!("{field}.payee"),
                        Code::UnknownPayee,
                        format!("{p} is not a participant of award {award_id}"),
                    ));
                }
            }
            Payee::Vendor(v) => {
                if !s.awards[&award_id].vendors.contains(v) {
                    return Err(Invalid::new(
                        format!("{field}.payee"),
                        Code::UnknownPayee,
                        format!("award {award_id} has no vendor {v}"),
                    ));
                }
            }
        }
        let mut sum = 0i64;
        for (j, item_seq) in pb.entitlements.iter().enumerate() {
            let f = format!("{field}.entitlements[{j}]");
            let Some(item) = s.disburse.items.get(item_seq) else {
                return Err(Invalid::new(
                    f,
                    Code::NotAPayable,
                    format!("seq {item_seq} is not an entitlement owed to a payee"),
                ));
            };
            if item.award != award_id || item.payee != payee {
                return Err(Invalid::new(
                    f,
                    Code::PayableOfAnotherPayee,
                    format!(
                        "entitlement seq {item_seq} is owed to {} under award {}",
                        item.payee, item.award
                    ),
                ));
            }
            if let Some(by) = item.reversed_by {
                return Err(Invalid::new(
                    f,
                    Code::EntitlementReversed,
                    format!("entitlement seq {item_seq} was reversed by seq {by}"),
                ));
            }
            lifecycle::check_claim(*item_seq, holder_of(&s.disburse, item))
                .map_err(|e| e.within(&f))?;
            sum += item.amount;
        }
        if sum != amount {
            return Err(Invalid::new(
                format!("{field}.amount"),
                Code::AmountNotEntitlements,
                format!(
                    "the payment is {} but its entitlements add up to {}",
                    money(amount, currency),
                    money(sum, currency)
                ),
            ));
        }
        let payable = payee.payable(&award_id);
        if balances.known() {
            let open = -balances.net(&payable);
            let reserved = s.disburse.reserved.get(&payable).copied().unwrap_or(0);
            if i128::from(amount) + i128::from(reserved) > open {
                return Err(Invalid::new(
                    format!("{field}.amount"),
                    Code::AboveOpenPayable,
                    format!(
                        "the payment of {} to {payee} is above its open payable: {} owed, {} of it already in open batches",
                        money(amount, currency),
                        format_minor(open, currency),
                        money(reserved, currency)
                    ),
                ));
            }
        }
        let mut reissues = Vec::new();
        for (j, r) in pb.reissues.iter().enumerate() {
            let f = format!("{field}.reissues[{j}]");
            let Some(&ri) = s.disburse.e2e.get(r) else {
                return Err(Invalid::new(
                    f,
                    Code::UnknownPayment,
                    format!("there is no payment {r}"),
                ));
            };
            let orig = &s.disburse.payments[ri as usize];
            if !matches!(orig.state, PaymentState::Rejected | PaymentState::Returned)
                || orig.payee != payee
                || orig.reissued_by.is_some()
            {
                return Err(Invalid::new(
                    f,
                    Code::NotReissuable,
                    format!(
                        "payment {r} is {} to {}{}: only a rejected or returned payment to the same payee can be reissued, once",
                        orig.state.as_str(),
                        orig.payee,
                        orig.reissued_by.map(|_| ", already reissued").unwrap_or("")
                    ),
                ));
            }
            if !orig.items.iter().all(|it| {
                pb.entitlements.contains(it)
                    || s.disburse
                        .items
                        .get(it)
                        .is_some_and(|i| i.reversed_by.is_some())
            }) {
                return Err(Invalid::new(
                    f,
                    Code::ReissueIncomplete,
                    format!("a reissue of {r} must settle every live entitlement it settled"),
                ));
            }
            reissues.push(ri);
        }
        // Every open item that a failed payment held must be paid as a reissue citing it.
        for item_seq in &pb.entitlements {
            if let Some(&failed) = s.disburse.items[item_seq].returned.last() {
                if !reissues.contains(&failed)
                    && s.disburse.payments[failed as usize].reissued_by.is_none()
                {
                    return Err(Invalid::new(
                        format!("{field}.reissues"),
                        Code::ReissueNotCited,
                        format!(
                            "entitlement seq {item_seq} was in payment {}, which failed: the new payment must cite it in reissues",
                            s.disburse.payments[failed as usize].e2e
                        ),
                    ));
                }
            }
        }
        // Claim.
        let pi = s.disburse.payments.len() as u32;
        for item_seq in &pb.entitlements {
            s.disburse.items.get_mut(item_seq).expect("checked").payment = Some(pi);
            let it = *item_seq;
            s.undo_disburse(move |d| {
                if let Some(i) = d.items.get_mut(&it) {
                    i.payment = None;
                }
            });
        }
        for &ri in &reissues {
            s.disburse.payments[ri as usize].reissued_by = Some(pi);
            s.undo_disburse(move |d| d.payments[ri as usize].reissued_by = None);
        }
        s.disburse.payments.push(Payment {
            e2e: pb.e2e.clone(),
            batch: batch_id.clone(),
            award: award_id.clone(),
            payee,
            payable: payable.clone(),
            amount,
            items: pb.entitlements.clone(),
            part: body.part,
            reissues,
            reissued_by: None,
            state: PaymentState::Pending,
            events: vec![PaymentEvent {
                event: "batched",
                seq,
                reason: None,
            }],
        });
        s.disburse.e2e.insert(pb.e2e.clone(), pi);
        let e2e = pb.e2e.clone();
        s.undo_disburse(move |d| {
            d.payments.pop();
            d.e2e.remove(&e2e);
        });
        add_reserved(s, &payable, amount);
        part_total += amount;
        new_payments.push(pi);
    }
    let mut life = s.disburse.batches[&batch_id].life.clone();
    life.part(body)?;
    let b = s.disburse.batches.get_mut(&batch_id).expect("checked");
    b.part_seqs.push(seq);
    let old_len = b.payments.len();
    b.payments.extend(new_payments);
    b.part_ranges.push(old_len..b.payments.len());
    b.total += part_total;
    let old_exceptions = b.exceptions.len();
    b.exceptions.extend(body.exceptions.iter().cloned());
    let id = batch_id.clone();
    s.undo_disburse(move |d| {
        if let Some(b) = d.batches.get_mut(&id) {
            b.part_seqs.pop();
            b.payments.truncate(old_len);
            b.part_ranges.pop();
            b.total -= part_total;
            b.exceptions.truncate(old_exceptions);
        }
    });
    set_life(s, &batch_id, life);
    Ok(())
}

fn apply_send(
    s: &mut ProgrammeState,
    seq: u64,
    actor: &str,
    body: &BatchSendBody,
    tx: &NewTransaction,
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    body.check()?;
    let award_id = body.award.clone();
    let b = batch_of(s, &body.batch, &award_id)?;
    let mut life = b.life.clone();
    life.send(body, actor)?;
    let derived = send_postings(&s.disburse, b, body.part)?;
    if derived != tx.postings {
        return Err(Invalid::new(
            "postings",
            Code::PostingsNotDerived,
            format!(
                "the postings must be exactly those of part {} of batch {}: each payment from its payee's payable to payments in transit",
                body.part, body.batch
            ),
        ));
    }
    let total = b.total;
    let parts: Vec<u32> = b.payments[b.part_ranges[body.part as usize].clone()].to_vec();
    for pi in parts {
        let (payable, amount) = {
            let p = &s.disburse.payments[pi as usize];
            (p.payable.clone(), p.amount)
        };
        if balances.known() {
            let open = -balances.net(&payable);
            let reserved = s.disburse.reserved.get(&payable).copied().unwrap_or(0);
            if open < i128::from(reserved) {
                let currency = s.disburse.batches[&body.batch].currency;
                return Err(Invalid::new(
                    "postings",
                    Code::AboveOpenPayable,
                    format!(
                        "payment {} of {} is above what {payable} still owes ({}): the payable changed since the batch was built; cancel it and build a new one",
                        s.disburse.payments[pi as usize].e2e,
                        money(amount, currency),
                        format_minor(open, currency)
                    ),
                ));
            }
        }
        add_reserved(s, &payable, -amount);
        set_payment_state(
            s,
            pi,
            PaymentState::Sent,
            PaymentEvent {
                event: "sent",
                seq,
                reason: None,
            },
        );
    }
    s.disburse
        .batches
        .get_mut(&body.batch)
        .expect("checked")
        .send_seqs
        .push(seq);
    let id = body.batch.clone();
    s.undo_disburse(move |d| {
        if let Some(b) = d.batches.get_mut(&id) {
            b.send_seqs.pop();
        }
    });
    let now_sent = life.status() == BatchStatus::Sent;
    set_life(s, &body.batch, life);
    if now_sent {
        add_committed(s, &award_id, -total);
    }
    Ok(())
}

fn apply_status(
    s: &mut ProgrammeState,
    seq: u64,
    body: &BankStatusBody,
    tx: Option<&NewTransaction>,
    currency: Currency,
) -> Result<(), Invalid> {
    body.check(currency)?;
    let award_id = body.award.clone();
    let import = s
        .disburse
        .imports
        .get(&body.import)
        .ok_or_else(|| lifecycle::unknown_import(&body.import))?;
    lifecycle::check_status_part(
        &import.header.award,
        import.header.parts,
        import.next_part,
        body,
    )?;
    let derived = status_postings(&s.disburse, &award_id, currency, &body.outcomes)?;
    let given = tx.map(|t| t.postings.clone()).unwrap_or_default();
    if derived != given {
        return Err(Invalid::new(
            "postings",
            Code::PostingsNotDerived,
            "the postings must be exactly those the outcomes cause, aggregated per account",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, o) in body.outcomes.iter().enumerate() {
        let field = format!("outcomes[{i}]");
        let within = |e: Invalid| e.within(&field);
        let Some(&pi) = s.disburse.e2e.get(&o.e2e) else {
            return Err(within(lifecycle::unknown_e2e(&o.e2e)));
        };
        if !seen.insert(pi) {
            return Err(within(lifecycle::duplicate_outcome(&o.e2e)));
        }
        let p = &s.disburse.payments[pi as usize];
        let view = PaymentView {
            e2e: &p.e2e,
            batch: &p.batch,
            award: &p.award,
            amount_minor: p.amount,
            state: p.state,
        };
        let next = lifecycle::outcome(&award_id, currency, view, o).map_err(within)?;
        if matches!(next, PaymentState::Rejected | PaymentState::Returned) {
            let items = p.items.clone();
            for it in items {
                release_item(s, it, Some(pi));
            }
        }
        set_payment_state(
            s,
            pi,
            next,
            PaymentEvent {
                event: o.status.as_str(),
                seq,
                reason: o.reason.clone(),
            },
        );
    }
    let import = s.disburse.imports.get_mut(&body.import).expect("checked");
    import.next_part += 1;
    import.part_seqs.push(seq);
    import.outcomes += body.outcomes.len() as u64;
    let old_exceptions = import.exceptions.len();
    import.exceptions.extend(body.exceptions.iter().cloned());
    let n = body.outcomes.len() as u64;
    let sha = body.import.clone();
    s.undo_disburse(move |d| {
        if let Some(i) = d.imports.get_mut(&sha) {
            i.next_part -= 1;
            i.part_seqs.pop();
            i.outcomes -= n;
            i.exceptions.truncate(old_exceptions);
        }
    });
    Ok(())
}

/// The projection rows a disbursement command made at `seq`, read from the state after it was
/// applied: the batch as it now stands, the payments it listed, every payment event it caused,
/// the settings and imports it recorded. A rebuild derives the same rows the same way.
pub(crate) fn rows(
    s: &ProgrammeState,
    seq: u64,
    actor: &str,
    command: &DisburseCommand,
    out: &mut crate::domain::ProgrammeRows,
) {
    use crate::domain::{
        BatchEventRow, BatchRow, ImportPartRow, ImportRow, PaymentEventRow, PaymentRow, SettingsRow,
    };
    let d = &s.disburse;
    let json = |v: serde_json::Value| v.to_string();
    // The payments whose events at this seq are rows.
    let mut touched: Vec<u32> = Vec::new();
    let batch_event = |batch: &Id, event: &str, reason: Option<String>, detail: String| {
        let b = d.batches.get(batch)?;
        Some(BatchEventRow {
            seq,
            batch: batch.to_string(),
            award: b.header.award.to_string(),
            event: event.to_string(),
            actor: actor.to_string(),
            status: b.status.as_str().to_string(),
            total_minor: b.total,
            approvals_required: b.approvals_required,
            digest: b.digest_hex.clone(),
            reason,
            detail,
        })
    };
    let event = match command {
        DisburseCommand::Config(body) => {
            if let Some(st) = d.settings.get(&body.award) {
                out.settings.push(SettingsRow {
                    award: body.award.to_string(),
                    seq,
                    dual_approval_above_minor: st.dual_approval_above,
                    body: serde_json::to_string(body).unwrap_or_default(),
                });
            }
            None
        }
        DisburseCommand::Create(body) => {
            if let Some(b) = d.batches.get(&body.batch) {
                out.batches.push(BatchRow {
                    batch: body.batch.to_string(),
                    award: body.award.to_string(),
                    currency: b.currency.code().to_string(),
                    preparer: b.preparer.clone(),
                    seq,
                    filter: serde_json::to_string(&body.filter).unwrap_or_default(),
                });
            }
            batch_event(&body.batch, "create", None, "{}".into())
        }
        DisburseCommand::Part(body) => {
            if let Some(b) = d.batches.get(&body.batch) {
                if let Some(r) = b.part_ranges.get(body.part as usize) {
                    for (idx, &pi) in b.payments.iter().enumerate().take(r.end).skip(r.start) {
                        let p = &d.payments[pi as usize];
                        let join = |v: Vec<String>| v.join(" ");
                        out.payments.push(PaymentRow {
                            e2e: p.e2e.clone(),
                            batch: p.batch.to_string(),
                            idx: idx as u32,
                            award: p.award.to_string(),
                            payee: p.payee.to_string(),
                            payable: p.payable.clone(),
                            amount_minor: p.amount,
                            part: p.part,
                            seq,
                            items: join(p.items.iter().map(u64::to_string).collect()),
                            reissues: join(
                                p.reissues
                                    .iter()
                                    .map(|&r| d.payments[r as usize].e2e.clone())
                                    .collect(),
                            ),
                        });
                    }
                    touched.extend_from_slice(&b.payments[r.clone()]);
                }
            }
            let detail = json(serde_json::json!({
                "part": body.part,
                "exceptions": body.exceptions,
            }));
            batch_event(&body.batch, "part", None, detail)
        }
        DisburseCommand::Submit(body) => batch_event(&body.batch, "submit", None, "{}".into()),
        DisburseCommand::Approve(body) => {
            batch_event(&body.batch, "approve", body.reason.clone(), "{}".into())
        }
        DisburseCommand::Reject(body) => {
            if let Some(b) = d.batches.get(&body.batch) {
                touched.extend_from_slice(&b.payments);
            }
            batch_event(&body.batch, "reject", body.reason.clone(), "{}".into())
        }
        DisburseCommand::Cancel(body) => {
            if let Some(b) = d.batches.get(&body.batch) {
                touched.extend_from_slice(&b.payments);
            }
            batch_event(
                &body.batch,
                "cancel",
                Some(body.reason.clone()),
                "{}".into(),
            )
        }
        DisburseCommand::File(body) => {
            let detail = json(serde_json::json!({
                "format": body.format,
                "sha256": body.sha256,
                "message_id": body.message_id,
                "created_at": body.created_at,
            }));
            batch_event(&body.batch, "file", None, detail)
        }
        DisburseCommand::Send(body, _) => {
            if let Some(b) = d.batches.get(&body.batch) {
                if let Some(r) = b.part_ranges.get(body.part as usize) {
                    touched.extend_from_slice(&b.payments[r.clone()]);
                }
            }
            let detail = json(serde_json::json!({ "part": body.part, "file": body.file }));
            batch_event(&body.batch, "send", None, detail)
        }
        DisburseCommand::Import(body) => {
            out.imports.push(ImportRow {
                sha256: body.sha256.clone(),
                award: body.award.to_string(),
                format: body.format.clone(),
                seq,
                body: serde_json::to_string(body).unwrap_or_default(),
            });
            None
        }
        DisburseCommand::Status(body, _) => {
            touched.extend(
                body.outcomes
                    .iter()
                    .filter_map(|o| d.e2e.get(&o.e2e).copied()),
            );
            out.import_parts.push(ImportPartRow {
                seq,
                sha256: body.import.clone(),
                part: body.part,
                outcomes: body.outcomes.len() as u64,
                exceptions: serde_json::to_string(&body.exceptions).unwrap_or_default(),
            });
            None
        }
    };
    out.batch_events.extend(event);
    touched.sort_unstable();
    touched.dedup();
    for pi in touched {
        let p = &d.payments[pi as usize];
        let last = p.events.len().saturating_sub(1);
        for (n, ev) in p.events.iter().enumerate().filter(|(_, e)| e.seq == seq) {
            // Only the last event knows the state it left; earlier ones at the same seq are
            // steps through it.
            let state = if n == last {
                p.state.as_str().to_string()
            } else {
                ev.event.to_string()
            };
            out.payment_events.push(PaymentEventRow {
                e2e: p.e2e.clone(),
                n: n as u32,
                seq,
                event: ev.event.to_string(),
                state,
                reason: ev.reason.clone(),
            });
        }
    }
}
