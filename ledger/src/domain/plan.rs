//! The ledger's rules, with no I/O: a batch of commands is checked against a view of the
//! current state and turned into a [`Plan`] (records with their seq and prev, Merkle nodes,
//! projection changes and the signed checkpoint) that a store writes in one transaction.
//!
//! Time, the actor and the signing key come in as arguments, so the same input always gives the
//! same plan. The store loads only the part of the state a batch touches.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use std::borrow::Cow;
use tranche_audit::account::{AccountName, AccountType};
use tranche_audit::merkle::{Frontier, Hash, NodeId};
use tranche_audit::money::Currency;
use tranche_audit::note::{Checkpoint, NoteSigner};
use tranche_audit::posting::{check_balanced, is_mirror, Posting, Side};
use tranche_audit::programme::Id;
use tranche_audit::record::{EncodedRecord, Record, RecordError, ZERO_HASH};
use tranche_audit::Code;
use tranche_audit::Invalid;

use super::command::{Command, MAX_BATCH};
use super::disburse::DisburseCommand;
use super::programme::{PersonalData, ProgrammeCommand, ProgrammeState};
use super::rows::{programme_rows, EntitlementRow, ProgrammeRows};
use super::transaction::NewTransaction;

/// What the rules need to know about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub account_type: AccountType,
    pub closed: bool,
    /// Debits minus credits per currency, in minor units.
    pub net: BTreeMap<Currency, i128>,
}

/// What the rules need to know about one transaction that a batch reverses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxState {
    /// The original postings; `None` when replaying trusted records (no mirror check).
    pub postings: Option<Vec<Posting>>,
    pub is_reversal: bool,
    pub reversed_by: Option<u64>,
    /// Its accounting date (a reversal or an adjustment is never dated before it).
    pub date: Option<NaiveDate>,
}

/// The part of the ledger's state a batch touches. `None` in a map means "looked up, absent".
#[derive(Debug, Clone, Default)]
pub struct State {
    pub accounts: HashMap<AccountName, Option<AccountState>>,
    pub transactions: HashMap<u64, Option<TxState>>,
}

/// The end of the chain: what the next append continues from.
#[derive(Debug, Clone)]
pub struct Head {
    pub frontier: Frontier,
    pub last_leaf: Hash,
    pub last_at: Option<DateTime<Utc>>,
}

impl Head {
    pub fn empty() -> Self {
        Head {
            frontier: Frontier::new(),
            last_leaf: ZERO_HASH,
            last_at: None,
        }
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }
}

/// One row of the postings projection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PostingRow {
    pub seq: u64,
    pub idx: u32,
    pub account: String,
    pub currency: String,
    pub side: Side,
    pub amount_minor: i64,
    /// The transaction's accounting date, `YYYY-MM-DD` (what reports filter on).
    pub accounting_date: String,
}

/// One row of the transactions projection (transactions, entitlements, sends, bank outcomes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRow {
    pub seq: u64,
    pub memo: String,
    pub reverses: Option<u64>,
    pub accounting_date: String,
    /// The closed quarter a late correction corrects (`2026Q1`).
    pub prior_period: Option<String>,
}

/// A registration's personal data: (participant, award, partner, data, seq).
pub type PersonalEffect = (Id, Id, Id, PersonalData, u64);

/// Projection changes caused by records: written in the same transaction as the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub accounts_opened: Vec<(String, AccountType, Option<String>, u64)>,
    pub accounts_closed: Vec<(String, u64)>,
    pub postings: Vec<PostingRow>,
    /// (account, currency) -> (debit, credit) added, in minor units.
    pub balance_deltas: BTreeMap<(String, String), (i64, i64)>,
    pub transactions: Vec<TxRow>,
    /// (original, reversal)
    pub reversed: Vec<(u64, u64)>,
    /// Personal data of participants registered now: (participant, award, partner, data, seq).
    /// Never derived from the journal; written to the erasable participant store.
    pub personal: Vec<PersonalEffect>,
    /// Rows of the programme projections (awards, rules, cycles, participants, evidence items,
    /// entitlements): insert-only, each keyed by the seq of the record that made it.
    pub programme: ProgrammeRows,
}

/// Why a batch cannot be appended.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Invalid(Invalid),
    #[error("the state the store loaded is missing {0}: a store bug")]
    StateNotLoaded(String),
}

impl From<Invalid> for PlanError {
    fn from(e: Invalid) -> Self {
        PlanError::Invalid(e)
    }
}

fn record_invalid(e: RecordError) -> Invalid {
    match e {
        RecordError::TooLarge(n) => Invalid::new(
            "",
            Code::RecordTooLarge,
            format!(
                "the record would be {n} bytes, over the {} byte limit",
                tranche_audit::record::MAX_RECORD_BYTES
            ),
        ),
        other => Invalid::new("", Code::Unencodable, other.to_string()),
    }
}

/// Applies one command at `seq` to the state, checking every stateful rule, and records the
/// projection changes in `effects`.
pub fn apply(
    state: &mut State,
    programme: &mut ProgrammeState,
    seq: u64,
    actor: &str,
    at: DateTime<Utc>,
    command: &Command,
    effects: &mut Effects,
) -> Result<(), PlanError> {
    match command {
        Command::RotateKey(_) => {
            if seq == 0 {
                return Err(Invalid::new(
                    "kind",
                    Code::RotationFirst,
                    "the first record is the ledger key, never a rotation",
                )
                .into());
            }
        }
        Command::LedgerKey { .. } => {
            if seq != 0 {
                return Err(Invalid::new(
                    "kind",
                    Code::LedgerKeyNotFirst,
                    "the ledger key record can only be the first record",
                )
                .into());
            }
        }
        Command::OpenAccount {
            name,
            account_type,
            description,
        } => {
            let slot = state
                .accounts
                .get_mut(name)
                .ok_or_else(|| PlanError::StateNotLoaded(format!("account {name}")))?;
            if slot.is_some() {
                return Err(Invalid::new(
                    "name",
                    Code::AccountExists,
                    format!("account {name} is already open (or was opened and closed)"),
                )
                .into());
            }
            *slot = Some(AccountState {
                account_type: *account_type,
                closed: false,
                net: BTreeMap::new(),
            });
            effects.accounts_opened.push((
                name.to_string(),
                *account_type,
                description.clone(),
                seq,
            ));
        }
        Command::CloseAccount { name } => {
            let slot = state
                .accounts
                .get_mut(name)
                .ok_or_else(|| PlanError::StateNotLoaded(format!("account {name}")))?;
            let Some(account) = slot else {
                return Err(Invalid::new(
                    "name",
                    Code::UnknownAccount,
                    format!("account {name} was never opened"),
                )
                .into());
            };
            if account.closed {
                return Err(Invalid::new(
                    "name",
                    Code::AccountClosed,
                    format!("account {name} is already closed"),
                )
                .into());
            }
            if let Some((currency, net)) = account.net.iter().find(|(_, n)| **n != 0) {
                return Err(Invalid::new(
                    "name",
                    Code::AccountNotEmpty,
                    format!(
                        "account {name} still has a {currency} balance of {}: only an account at zero can be closed",
                        tranche_audit::money::format_minor(*net, *currency)
                    ),
                )
                .into());
            }
            account.closed = true;
            effects.accounts_closed.push((name.to_string(), seq));
        }
        Command::Transaction(t) => apply_transaction(state, seq, t, effects)?,
        Command::Entitlement(e) => {
            apply_transaction(state, seq, &e.tx, effects)?;
            let balances = StateBalances(state);
            super::programme::apply_entitlement(
                programme,
                seq,
                &e.meta,
                &e.tx.postings,
                e.amount(),
                e.tx.reverses,
                &e.lines,
                &balances,
            )?;
            super::disburse::on_entitlement(programme, seq, &e.meta, &e.tx.postings, e.tx.reverses);
            effects.programme.entitlements.push(EntitlementRow {
                seq,
                award: e.meta.award.to_string(),
                participant: e.meta.participant.to_string(),
                basis: e.meta.basis.as_str().to_string(),
                rule: e.meta.rule.to_string(),
                version: e.meta.version,
                amount_minor: e.amount(),
                reverses: e.tx.reverses,
                adjusts: e.meta.adjusts,
            });
        }
        Command::Disburse(d) => {
            // The rules read balances before the postings move them.
            super::disburse::apply(programme, seq, actor, d, &StateBalances(state))?;
            super::disburse::rows(programme, seq, actor, d, &mut effects.programme);
            let tx = match d {
                DisburseCommand::Send(_, tx) => Some(tx),
                DisburseCommand::Status(_, tx) => tx.as_ref(),
                _ => None,
            };
            if let Some(tx) = tx {
                apply_transaction(state, seq, tx, effects)?;
            }
        }
        Command::Programme(p) => {
            if let ProgrammeCommand::PeriodClose(b) = p {
                check_close(programme, seq, at, b)?;
            }
            super::programme::apply(programme, seq, actor, p)?;
            programme_rows(&mut effects.programme, seq, p);
            if let ProgrammeCommand::ParticipantRegister {
                body,
                personal: Some(data),
            } = p
            {
                effects.personal.push((
                    body.participant.clone(),
                    body.award.clone(),
                    body.partner.clone(),
                    (**data).clone(),
                    seq,
                ));
            }
        }
    }
    // The date rules last, after the record's own rules (as the verifier orders them).
    if let Some(t) = command.transaction() {
        // What it corrects: the transaction it reverses, or the paid entitlement it adjusts.
        let corrects = match command {
            Command::Entitlement(e) => t.reverses.or(e.meta.adjusts),
            _ => t.reverses,
        };
        let dated = Dated {
            date: t.date,
            prior_period: t.prior_period,
            reverses: corrects,
        };
        check_dates(state, programme, at, &dated, &dated_awards(command))?;
    } else if let Command::Disburse(d) = command {
        // A bank outcome that moves no money is dated all the same.
        if let Some(date) = d.accounting_date() {
            let dated = Dated {
                date: Some(date),
                prior_period: None,
                reverses: None,
            };
            check_dates(state, programme, at, &dated, &dated_awards(command))?;
        }
    }
    Ok(())
}

struct StateBalances<'a>(&'a State);

impl super::programme::Balances for StateBalances<'_> {
    fn net(&self, account: &str) -> i128 {
        let Ok(name) = AccountName::parse(account) else {
            return 0;
        };
        self.0
            .accounts
            .get(&name)
            .and_then(Option::as_ref)
            .map(|a| a.net.values().sum())
            .unwrap_or(0)
    }
}

fn apply_transaction(
    state: &mut State,
    seq: u64,
    t: &NewTransaction,
    effects: &mut Effects,
) -> Result<(), PlanError> {
    check_balanced(&t.postings)?;
    let mut memo_count = 0;
    for (i, p) in t.postings.iter().enumerate() {
        let field = format!("postings[{i}].account");
        let slot = state
            .accounts
            .get(&p.account)
            .ok_or_else(|| PlanError::StateNotLoaded(format!("account {}", p.account)))?;
        let Some(account) = slot else {
            return Err(Invalid::new(
                field,
                Code::UnknownAccount,
                format!("account {} is not open: open it first", p.account),
            )
            .into());
        };
        if account.closed {
            return Err(Invalid::new(
                field,
                Code::AccountClosed,
                format!("account {} is closed", p.account),
            )
            .into());
        }
        if account.account_type.is_memo() {
            memo_count += 1;
        }
    }
    if memo_count != 0 && memo_count != t.postings.len() {
        return Err(Invalid::new(
            "postings",
            Code::MemoMixed,
            "a transaction cannot mix memo (off-balance) and balance-sheet accounts",
        )
        .into());
    }
    if t.reverses.is_some() && t.memo.trim().is_empty() {
        return Err(Invalid::new(
            "memo",
            Code::ReasonRequired,
            "a reversal must say why it is made: give its reason as the memo",
        )
        .into());
    }
    if let Some(original) = t.reverses {
        let slot = state
            .transactions
            .get_mut(&original)
            .ok_or_else(|| PlanError::StateNotLoaded(format!("transaction {original}")))?;
        let Some(orig) = slot else {
            return Err(Invalid::new(
                "reverses",
                Code::UnknownTransaction,
                format!("seq {original} is not a transaction"),
            )
            .into());
        };
        if orig.is_reversal {
            return Err(Invalid::new(
                "reverses",
                Code::ReversalOfReversal,
                format!("seq {original} is itself a reversal: post the original again instead"),
            )
            .into());
        }
        if let Some(by) = orig.reversed_by {
            return Err(Invalid::new(
                "reverses",
                Code::AlreadyReversed,
                format!("seq {original} was already reversed by seq {by}"),
            )
            .into());
        }
        if let Some(postings) = &orig.postings {
            if !is_mirror(postings, &t.postings) {
                return Err(Invalid::new(
                    "postings",
                    Code::NotAMirror,
                    format!(
                        "a reversal must have exactly the postings of seq {original} with debit and credit swapped"
                    ),
                )
                .into());
            }
        }
        orig.reversed_by = Some(seq);
        effects.reversed.push((original, seq));
    }
    let date = t
        .date
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| PlanError::StateNotLoaded("the accounting date".into()))?;
    for (i, p) in t.postings.iter().enumerate() {
        let account = state
            .accounts
            .get_mut(&p.account)
            .and_then(Option::as_mut)
            .expect("checked above");
        let minor = p.money.minor();
        let net = account.net.entry(p.money.currency()).or_default();
        let delta = effects
            .balance_deltas
            .entry((p.account.to_string(), p.money.currency().code().to_string()))
            .or_default();
        match p.side {
            Side::Debit => {
                *net += i128::from(minor);
                delta.0 += minor;
            }
            Side::Credit => {
                *net -= i128::from(minor);
                delta.1 += minor;
            }
        }
        effects.postings.push(PostingRow {
            seq,
            idx: i as u32,
            account: p.account.to_string(),
            currency: p.money.currency().code().to_string(),
            side: p.side,
            amount_minor: minor,
            accounting_date: date.clone(),
        });
    }
    state.transactions.insert(
        seq,
        Some(TxState {
            postings: Some(t.postings.clone()),
            is_reversal: t.reverses.is_some(),
            reversed_by: None,
            date: t.date,
        }),
    );
    effects.transactions.push(TxRow {
        seq,
        memo: t.memo.clone(),
        reverses: t.reverses,
        accounting_date: date,
        prior_period: t.prior_period.map(|q| q.to_string()),
    });
    Ok(())
}

/// The awards whose date rules a posting command keeps: the entitlement's or the batch's
/// award, or for a plain transaction every award whose accounts it moves.
fn dated_awards(command: &Command) -> Vec<String> {
    match command {
        Command::Entitlement(e) => vec![e.meta.award.to_string()],
        Command::Disburse(d) => vec![d.award().to_string()],
        _ => {
            let mut out: Vec<String> = command
                .transaction()
                .map(|t| {
                    t.postings
                        .iter()
                        .filter_map(|p| tranche_audit::period::award_of_account(p.account.as_str()))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            out.sort();
            out.dedup();
            out
        }
    }
}

/// The rules of a posting command's accounting date (`period::check_date` for each award it
/// touches), of the closed quarter it cites, and of a reversal, never dated before its
/// original.
/// What the date rules read of a record.
struct Dated {
    date: Option<NaiveDate>,
    prior_period: Option<tranche_audit::period::Quarter>,
    reverses: Option<u64>,
}

fn check_dates(
    state: &State,
    programme: &ProgrammeState,
    at: DateTime<Utc>,
    t: &Dated,
    awards: &[String],
) -> Result<(), Invalid> {
    use tranche_audit::period;
    let Some(date) = t.date else {
        return Err(Invalid::new(
            "date",
            Code::MissingField,
            "a transaction needs an accounting date",
        ));
    };
    let mut any = false;
    for award in awards {
        let Ok(id) = Id::parse(award) else { continue };
        let Some(a) = programme.awards.get(&id) else {
            continue;
        };
        any = true;
        let today = period::local_date(Some(&a.body), at);
        period::check_date("date", date, today, Some((&a.body, &a.periods)))?;
        if let Some(q) = t.prior_period {
            period::check_prior_period(q, date, &id, &a.periods)?;
        }
    }
    if !any {
        period::check_date("date", date, period::local_date(None, at), None)?;
        if t.prior_period.is_some() {
            return Err(Invalid::new(
                "prior_period",
                Code::PeriodNotClosed,
                "only a transaction of an award can cite one of its closed quarters",
            ));
        }
    }
    if let Some(original) = t.reverses {
        if let Some(Some(TxState { date: Some(d), .. })) = state.transactions.get(&original) {
            if date < *d {
                return Err(Invalid::new(
                    "date",
                    Code::DateBeforeOriginal,
                    format!("{date} is before {d}, the accounting date of seq {original}, which it corrects"),
                ));
            }
        }
    }
    Ok(())
}

/// A close names the checkpoint just before it (nothing may come between the report and the
/// close) and a quarter that has ended in the award's time zone.
fn check_close(
    programme: &ProgrammeState,
    seq: u64,
    at: DateTime<Utc>,
    b: &tranche_audit::period::PeriodCloseBody,
) -> Result<(), Invalid> {
    let award = programme.award(&b.award, "award")?;
    if b.checkpoint.size != seq {
        return Err(Invalid::new(
            "checkpoint",
            Code::LedgerMoved,
            format!(
                "the SF-425 was computed at size {}, but the journal is now at {seq}: compute it again",
                b.checkpoint.size
            ),
        ));
    }
    let today = tranche_audit::period::local_date(Some(&award.body), at);
    award.periods.check_close(&award.body, b, today)
}

/// A command with its accounting date filled in when the caller left it to the ledger: the
/// day it is written in its award's time zone, never before what it reverses or adjusts; a
/// reversal of a transaction in a closed quarter becomes a late correction of that quarter.
fn dated<'c>(
    state: &State,
    programme: &ProgrammeState,
    at: DateTime<Utc>,
    command: &'c Command,
) -> Cow<'c, Command> {
    let Some(t) = command.transaction() else {
        return Cow::Borrowed(command);
    };
    let original = t
        .reverses
        .or(match command {
            Command::Entitlement(e) => e.meta.adjusts,
            _ => None,
        })
        .and_then(|o| state.transactions.get(&o).cloned().flatten())
        .and_then(|o| o.date);
    let awards = dated_awards(command);
    let award = awards
        .iter()
        .filter_map(|a| Id::parse(a).ok())
        .find_map(|a| programme.awards.get(&a));
    let closed = award.and_then(|a| a.periods.closed_through());
    let late = match (original, closed, t.prior_period) {
        (Some(o), Some(c), None) if o <= c => Some(tranche_audit::period::Quarter::of(o)),
        _ => None,
    };
    if t.date.is_some() && late.is_none() {
        return Cow::Borrowed(command);
    }
    let today = tranche_audit::period::local_date(award.map(|a| &a.body), at);
    let mut c = command.clone();
    if let Some(t) = c.transaction_mut() {
        if t.date.is_none() {
            t.date = Some(original.map_or(today, |o| o.max(today)));
        }
        if late.is_some() {
            t.prior_period = late;
        }
    }
    Cow::Owned(c)
}

/// A batch ready to be written: records, tree nodes, projection changes and the checkpoint.
#[derive(Debug, Clone)]
pub struct Plan {
    pub records: Vec<EncodedRecord>,
    pub nodes: Vec<(NodeId, Hash)>,
    pub effects: Effects,
    pub checkpoint: SignedCheckpoint,
}

/// A signed checkpoint as stored and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub root: Hash,
    pub note: String,
}

/// Who and when, for every record of a batch.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub actor: &'a str,
    pub now: DateTime<Utc>,
    pub origin: &'a str,
    pub signer: &'a NoteSigner,
}

/// One caller's batch inside a group commit: its actor and its commands, all or nothing.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    pub actor: &'a str,
    pub commands: &'a [Command],
}

/// What happened to one group: the seqs it got, or why it was refused (nothing of it written).
pub type GroupResult = Result<std::ops::Range<u64>, Invalid>;

fn check_group(group: &Group<'_>) -> Result<(), Invalid> {
    if group.commands.is_empty() {
        return Err(Invalid::new(
            "",
            Code::EmptyBatch,
            "a batch needs at least one item",
        ));
    }
    if group.commands.len() > MAX_BATCH {
        return Err(Invalid::new(
            "",
            Code::BatchTooLarge,
            format!("a batch may hold at most {MAX_BATCH} items"),
        ));
    }
    if group.actor.is_empty() || group.actor.len() > 200 {
        return Err(Invalid::new(
            "actor",
            Code::InvalidActor,
            "actor must be 1 to 200 bytes",
        ));
    }
    Ok(())
}

/// Plans several independent batches into one database transaction and one checkpoint (group
/// commit). Each group is all or nothing on its own: a refused group leaves the state as it was
/// and the others go ahead. Returns no plan when every group was refused.
pub fn plan_groups(
    head: &Head,
    state: &mut State,
    programme: &mut ProgrammeState,
    groups: &[Group<'_>],
    ctx: &Context<'_>,
) -> Result<(Option<Plan>, Vec<GroupResult>), PlanError> {
    let mut frontier = head.frontier.clone();
    let mut prev = head.last_leaf;
    // Record times never go backwards, even if the clock does.
    let at = match head.last_at {
        Some(last) if last > ctx.now => last,
        _ => ctx.now,
    };
    let total: usize = groups.iter().map(|g| g.commands.len()).sum();
    let mut records = Vec::with_capacity(total);
    let mut nodes = Vec::with_capacity(total * 2);
    let mut effects = Effects::default();
    let mut results = Vec::with_capacity(groups.len());
    for group in groups {
        if let Err(e) = check_group(group) {
            results.push(Err(e));
            continue;
        }
        // Everything a refused group could have touched, to put back.
        let saved_state = (groups.len() > 1).then(|| state.clone());
        let saved = (
            frontier.clone(),
            prev,
            records.len(),
            nodes.len(),
            effects.clone(),
        );
        let first = frontier.size();
        let programme_mark = programme.mark();
        let mut refused = None;
        for (i, command) in group.commands.iter().enumerate() {
            let seq = frontier.size();
            let command = dated(state, programme, at, command);
            match apply(
                state,
                programme,
                seq,
                group.actor,
                at,
                &command,
                &mut effects,
            ) {
                Ok(()) => {}
                Err(PlanError::Invalid(inv)) => {
                    refused = Some(inv.in_item(i));
                    break;
                }
                Err(other) => return Err(other),
            }
            let record = Record {
                seq,
                prev,
                kind: command.kind().to_string(),
                at,
                actor: group.actor.to_string(),
                body: command.body(),
            };
            match EncodedRecord::new(record) {
                Ok(encoded) => {
                    frontier.push(encoded.leaf, |id, h| nodes.push((id, *h)));
                    prev = encoded.leaf;
                    records.push(encoded);
                }
                Err(e) => {
                    refused = Some(record_invalid(e).in_item(i));
                    break;
                }
            }
        }
        match refused {
            None => results.push(Ok(first..frontier.size())),
            Some(inv) => {
                if let Some(s) = saved_state {
                    *state = s;
                }
                programme.rollback_to(programme_mark);
                frontier = saved.0;
                prev = saved.1;
                records.truncate(saved.2);
                nodes.truncate(saved.3);
                effects = saved.4;
                results.push(Err(inv));
            }
        }
    }
    if records.is_empty() {
        return Ok((None, results));
    }
    let root = frontier.root();
    let text = Checkpoint::new(ctx.origin, frontier.size(), root).to_text();
    let note = ctx
        .signer
        .sign(&text)
        .expect("a checkpoint built from a valid origin is a valid note");
    let plan = Plan {
        records,
        nodes,
        effects,
        checkpoint: SignedCheckpoint {
            size: frontier.size(),
            root,
            note,
        },
    };
    Ok((Some(plan), results))
}

/// Checks a whole batch against `state` and builds everything the store must write. The batch is
/// all or nothing: the first refused command refuses the batch, naming its position.
pub fn plan(
    head: &Head,
    state: &mut State,
    programme: &mut ProgrammeState,
    commands: &[Command],
    ctx: &Context<'_>,
) -> Result<Plan, PlanError> {
    let group = Group {
        actor: ctx.actor,
        commands,
    };
    let (plan, mut results) = plan_groups(head, state, programme, &[group], ctx)?;
    match (plan, results.pop()) {
        (Some(plan), Some(Ok(_))) => Ok(plan),
        (_, Some(Err(inv))) => Err(PlanError::Invalid(inv)),
        _ => Err(PlanError::StateNotLoaded("a plan for a valid batch".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tranche_audit::money::Money;

    fn usd(a: &str) -> Money {
        Money::parse_positive(a, Currency::parse("USD").expect("known")).expect("valid")
    }

    fn p(account: &str, side: Side, amount: &str) -> Posting {
        Posting {
            account: AccountName::parse(account).expect("valid"),
            side,
            money: usd(amount),
        }
    }

    fn ctx(signer: &NoteSigner) -> Context<'_> {
        Context {
            actor: "test",
            now: DateTime::from_timestamp(1_772_000_000, 0).expect("valid"),
            origin: "tranche.test/log",
            signer,
        }
    }

    fn state_with(accounts: &[(&str, AccountType)]) -> State {
        let mut s = State::default();
        for (name, t) in accounts {
            s.accounts.insert(
                AccountName::parse(name).expect("valid"),
                Some(AccountState {
                    account_type: *t,
                    closed: false,
                    net: BTreeMap::new(),
                }),
            );
        }
        s
    }

    #[test]
    fn a_batch_gets_consecutive_seqs_and_a_chained_prev() {
        let signer = NoteSigner::from_seed("tranche.test/log", [1; 32]).expect("valid");
        let mut state = state_with(&[("bank", AccountType::Asset), ("fund", AccountType::Equity)]);
        let tx = Command::Transaction(NewTransaction {
            memo: "drawdown".into(),
            postings: vec![p("bank", Side::Debit, "10"), p("fund", Side::Credit, "10")],
            reverses: None,
            date: None,
            prior_period: None,
        });
        let plan = plan(
            &Head::empty(),
            &mut state,
            &mut ProgrammeState::default(),
            &[tx.clone(), tx],
            &ctx(&signer),
        )
        .expect("valid");
        assert_eq!(plan.records[0].record.seq, 0);
        assert_eq!(plan.records[1].record.prev, plan.records[0].leaf);
        assert_eq!(plan.checkpoint.size, 2);
        assert_eq!(
            plan.effects.balance_deltas[&("bank".to_string(), "USD".to_string())],
            (2000, 0)
        );
    }

    #[test]
    fn memo_and_balance_sheet_accounts_never_mix() {
        let signer = NoteSigner::from_seed("tranche.test/log", [1; 32]).expect("valid");
        let mut state = state_with(&[
            ("bank", AccountType::Asset),
            ("obligations", AccountType::Memo),
        ]);
        let tx = Command::Transaction(NewTransaction {
            memo: String::new(),
            postings: vec![
                p("bank", Side::Debit, "1"),
                p("obligations", Side::Credit, "1"),
            ],
            reverses: None,
            date: None,
            prior_period: None,
        });
        let err = plan(
            &Head::empty(),
            &mut state,
            &mut ProgrammeState::default(),
            &[tx],
            &ctx(&signer),
        )
        .expect_err("refused");
        assert!(matches!(
            err,
            PlanError::Invalid(Invalid {
                code: Code::MemoMixed,
                item: Some(0),
                ..
            })
        ));
    }
}
