//! The ledger's rules, with no I/O: a batch of commands is checked against a view of the
//! current state and turned into a [`Plan`] (records with their seq and prev, Merkle nodes,
//! projection changes and the signed checkpoint) that a store writes in one transaction.
//!
//! Time, the actor and the signing key come in as arguments, so the same input always gives the
//! same plan. The store loads only the part of the state a batch touches.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tranche_audit::account::{AccountName, AccountType};
use tranche_audit::merkle::{Frontier, Hash, NodeId};
use tranche_audit::money::Currency;
use tranche_audit::note::{Checkpoint, NoteSigner};
use tranche_audit::posting::{check_balanced, is_mirror, Posting, Side};
use tranche_audit::programme::{EntitlementBody, Id};
use tranche_audit::record::{
    kind, AccountCloseBody, AccountOpenBody, EncodedRecord, LedgerKeyBody, PostingBody, Record,
    RecordError, TransactionBody, ZERO_HASH,
};
use tranche_audit::Invalid;

use crate::disburse::DisburseCommand;
use crate::programme::{EntitlementMeta, PersonalData, ProgrammeCommand, ProgrammeState};

/// The most commands one batch may hold.
pub const MAX_BATCH: usize = 10_000;
/// The longest memo or description, in bytes.
pub const MAX_MEMO_BYTES: usize = 2_000;

/// A change a caller asks for. Each becomes exactly one journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The first record of every ledger: its origin and checkpoint key.
    LedgerKey {
        origin: String,
        vkey: String,
    },
    /// The checkpoint key handed over to a new one, signed by the retiring key.
    RotateKey(tranche_audit::record::LedgerRotateBody),
    OpenAccount {
        name: AccountName,
        account_type: AccountType,
        description: Option<String>,
    },
    CloseAccount {
        name: AccountName,
    },
    Transaction(NewTransaction),
    /// A programme record: award, partner, key, cohort, sessions, participant, evidence, rule
    /// version or cycle run.
    Programme(ProgrammeCommand),
    /// A transaction produced by a rule from evidence.
    Entitlement(EntitlementCommand),
    /// A disbursement record: settings, batches, approvals, bank files, bank outcomes.
    Disburse(DisburseCommand),
}

/// An entitlement: a transaction with the rule version and evidence that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementCommand {
    pub meta: EntitlementMeta,
    pub tx: NewTransaction,
    /// Expense and obligation accounts of the budget lines it charges (derived).
    budget: Vec<AccountName>,
    /// The budget lines it charges (derived).
    lines: Vec<Id>,
}

impl EntitlementCommand {
    pub fn new(meta: EntitlementMeta, tx: NewTransaction) -> Result<Self, Invalid> {
        check_memo(&tx.memo, "memo")?;
        check_balanced(&tx.postings)?;
        let budget = crate::programme::budget_accounts(&meta.award, &tx.postings);
        let mut lines: Vec<Id> = Vec::new();
        for p in &tx.postings {
            if p.side == Side::Debit {
                if let Some(l) = crate::programme::budget_line_of(&meta.award, p.account.as_str()) {
                    if !lines.contains(&l) {
                        lines.push(l);
                    }
                }
            }
        }
        Ok(EntitlementCommand {
            meta,
            tx,
            budget,
            lines,
        })
    }

    /// What the entitlement pays or obligates: the total of its credit postings.
    pub fn amount(&self) -> i64 {
        self.tx
            .postings
            .iter()
            .filter(|p| p.side == Side::Credit)
            .map(|p| p.money.minor())
            .sum()
    }

    fn body(&self) -> EntitlementBody {
        EntitlementBody {
            award: self.meta.award.clone(),
            participant: self.meta.participant.clone(),
            basis: self.meta.basis.clone(),
            rule: self.meta.rule.clone(),
            version: self.meta.version,
            evidence: self.meta.evidence.clone(),
            memo: self.tx.memo.clone(),
            postings: self
                .tx
                .postings
                .iter()
                .map(PostingBody::from_posting)
                .collect(),
            reverses: self.tx.reverses,
            adjusts: self.meta.adjusts,
        }
    }

    fn from_body(b: EntitlementBody) -> Result<Self, Invalid> {
        b.check_refs()?;
        let postings = TransactionBody {
            memo: String::new(),
            postings: b.postings,
            reverses: None,
        }
        .postings(true)?;
        EntitlementCommand::new(
            EntitlementMeta {
                award: b.award,
                participant: b.participant,
                basis: b.basis,
                rule: b.rule,
                version: b.version,
                evidence: b.evidence,
                adjusts: b.adjusts,
            },
            NewTransaction {
                memo: b.memo,
                postings,
                reverses: b.reverses,
            },
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransaction {
    pub memo: String,
    pub postings: Vec<Posting>,
    pub reverses: Option<u64>,
}

impl NewTransaction {
    /// The typed postings of a `batch.send` record.
    pub fn sending(b: &tranche_audit::disburse::BatchSendBody) -> Result<Self, Invalid> {
        let body = TransactionBody {
            memo: String::new(),
            postings: b.postings.clone(),
            reverses: None,
        };
        Ok(NewTransaction {
            memo: format!("batch {} part {} sent", b.batch, b.part),
            postings: body.postings(true).map_err(|e| e.within("body"))?,
            reverses: None,
        })
    }

    /// The typed postings of a `bank.status` record; `None` when it moves no money.
    pub fn bank_status(
        b: &tranche_audit::disburse::BankStatusBody,
    ) -> Result<Option<Self>, Invalid> {
        if b.postings.is_empty() {
            return Ok(None);
        }
        let body = TransactionBody {
            memo: String::new(),
            postings: b.postings.clone(),
            reverses: None,
        };
        Ok(Some(NewTransaction {
            memo: format!(
                "bank outcomes, import {} part {}",
                &b.import[..12.min(b.import.len())],
                b.part
            ),
            postings: body.postings(true).map_err(|e| e.within("body"))?,
            reverses: None,
        }))
    }
}

/// The JSON a user writes to post a transaction (`tranche post`, `POST /transactions`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionInput {
    #[serde(default)]
    pub memo: String,
    pub postings: Vec<PostingBody>,
    #[serde(default)]
    pub reverses: Option<u64>,
}

impl TransactionInput {
    /// Parses JSON text, naming the offending field on error.
    pub fn from_json(text: &str) -> Result<Self, Invalid> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // A syntax error has no meaningful field: its line and column say where it is.
            let field = if path == "." || inner.is_syntax() || inner.is_eof() {
                String::new()
            } else {
                path
            };
            let code = if inner.is_syntax() || inner.is_eof() {
                "malformed_json"
            } else if inner.to_string().contains("unknown field") {
                "unknown_field"
            } else {
                "invalid_field"
            };
            Invalid::new(field, code, inner.to_string())
        })
    }

    /// Stateless checks: amounts, currencies, account names, balance per currency.
    pub fn into_command(self) -> Result<Command, Invalid> {
        check_memo(&self.memo, "memo")?;
        let body = TransactionBody {
            memo: self.memo,
            postings: self.postings,
            reverses: self.reverses,
        };
        let postings = body.postings(false)?;
        check_balanced(&postings)?;
        Ok(Command::Transaction(NewTransaction {
            memo: body.memo,
            postings,
            reverses: body.reverses,
        }))
    }
}

pub fn check_memo(text: &str, field: &str) -> Result<(), Invalid> {
    if text.len() > MAX_MEMO_BYTES {
        return Err(Invalid::new(
            field,
            "too_long",
            format!("at most {MAX_MEMO_BYTES} bytes"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new(
            field,
            "control_characters",
            "control characters are not allowed",
        ));
    }
    Ok(())
}

impl Command {
    pub fn open_account(
        name: &str,
        account_type: &str,
        description: Option<String>,
    ) -> Result<Self, Invalid> {
        let name = AccountName::parse(name).map_err(|e| e.within("name"))?;
        let account_type = AccountType::parse(account_type)?;
        if let Some(d) = &description {
            check_memo(d, "description")?;
        }
        Ok(Command::OpenAccount {
            name,
            account_type,
            description,
        })
    }

    pub fn close_account(name: &str) -> Result<Self, Invalid> {
        Ok(Command::CloseAccount {
            name: AccountName::parse(name).map_err(|e| e.within("name"))?,
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Command::LedgerKey { .. } => kind::LEDGER_KEY,
            Command::RotateKey(_) => kind::LEDGER_ROTATE,
            Command::OpenAccount { .. } => kind::ACCOUNT_OPEN,
            Command::CloseAccount { .. } => kind::ACCOUNT_CLOSE,
            Command::Transaction(_) => kind::TRANSACTION,
            Command::Entitlement(_) => kind::ENTITLEMENT,
            Command::Programme(p) => match p {
                ProgrammeCommand::AwardOpen(_) => kind::AWARD_OPEN,
                ProgrammeCommand::PartnerRegister(_) => kind::PARTNER_REGISTER,
                ProgrammeCommand::PartnerKey(_) => kind::PARTNER_KEY,
                ProgrammeCommand::CohortOpen(_) => kind::COHORT_OPEN,
                ProgrammeCommand::SessionSchedule(_) => kind::SESSION_SCHEDULE,
                ProgrammeCommand::ParticipantRegister { .. } => kind::PARTICIPANT_REGISTER,
                ProgrammeCommand::Evidence(_) => kind::EVIDENCE,
                ProgrammeCommand::RuleVersion(_) => kind::RULE_VERSION,
                ProgrammeCommand::CycleRun(_) => kind::CYCLE_RUN,
            },
            Command::Disburse(d) => match d {
                DisburseCommand::Config(_) => kind::DISBURSEMENT_CONFIG,
                DisburseCommand::Create(_) => kind::BATCH_CREATE,
                DisburseCommand::Part(_) => kind::BATCH_PART,
                DisburseCommand::Submit(_) => kind::BATCH_SUBMIT,
                DisburseCommand::Approve(_) => kind::BATCH_APPROVE,
                DisburseCommand::Reject(_) => kind::BATCH_REJECT,
                DisburseCommand::Cancel(_) => kind::BATCH_CANCEL,
                DisburseCommand::File(_) => kind::BATCH_FILE,
                DisburseCommand::Send(..) => kind::BATCH_SEND,
                DisburseCommand::Import(_) => kind::BANK_IMPORT,
                DisburseCommand::Status(..) => kind::BANK_STATUS,
            },
        }
    }

    fn body(&self) -> Value {
        let v = match self {
            Command::LedgerKey { origin, vkey } => serde_json::to_value(LedgerKeyBody {
                origin: origin.clone(),
                vkey: vkey.clone(),
            }),
            Command::RotateKey(b) => serde_json::to_value(b),
            Command::OpenAccount {
                name,
                account_type,
                description,
            } => serde_json::to_value(AccountOpenBody {
                name: name.to_string(),
                account_type: *account_type,
                description: description.clone(),
            }),
            Command::CloseAccount { name } => serde_json::to_value(AccountCloseBody {
                name: name.to_string(),
            }),
            Command::Transaction(t) => serde_json::to_value(TransactionBody {
                memo: t.memo.clone(),
                postings: t.postings.iter().map(PostingBody::from_posting).collect(),
                reverses: t.reverses,
            }),
            Command::Entitlement(e) => serde_json::to_value(e.body()),
            Command::Programme(p) => match p {
                ProgrammeCommand::AwardOpen(b) => serde_json::to_value(b),
                ProgrammeCommand::PartnerRegister(b) => serde_json::to_value(b),
                ProgrammeCommand::PartnerKey(b) => serde_json::to_value(b),
                ProgrammeCommand::CohortOpen(b) => serde_json::to_value(b),
                ProgrammeCommand::SessionSchedule(b) => serde_json::to_value(b),
                ProgrammeCommand::ParticipantRegister { body, .. } => serde_json::to_value(body),
                ProgrammeCommand::Evidence(b) => serde_json::to_value(b),
                ProgrammeCommand::RuleVersion(b) => serde_json::to_value(b),
                ProgrammeCommand::CycleRun(b) => serde_json::to_value(b),
            },
            Command::Disburse(d) => match d {
                DisburseCommand::Config(b) => serde_json::to_value(b),
                DisburseCommand::Create(b) => serde_json::to_value(b),
                DisburseCommand::Part(b) => serde_json::to_value(b),
                DisburseCommand::Submit(b) => serde_json::to_value(b),
                DisburseCommand::Approve(b) | DisburseCommand::Reject(b) => serde_json::to_value(b),
                DisburseCommand::Cancel(b) => serde_json::to_value(b),
                DisburseCommand::File(b) => serde_json::to_value(b),
                DisburseCommand::Send(b, _) => serde_json::to_value(b),
                DisburseCommand::Import(b) => serde_json::to_value(b),
                DisburseCommand::Status(b, _) => serde_json::to_value(b),
            },
        };
        v.expect("bodies are plain data and always serialize")
    }

    /// The command a stored record carries (for replay). Records are trusted here: they were
    /// checked when written, and `rebuild --check` compares the result with the live state.
    pub fn from_record(record: &Record) -> Result<Self, Invalid> {
        let body = &record.body;
        Ok(match record.kind.as_str() {
            kind::LEDGER_KEY => {
                let b: LedgerKeyBody = tranche_audit::record::body_from_value(body)?;
                Command::LedgerKey {
                    origin: b.origin,
                    vkey: b.vkey,
                }
            }
            kind::LEDGER_ROTATE => {
                Command::RotateKey(tranche_audit::record::body_from_value(body)?)
            }
            kind::ACCOUNT_OPEN => {
                let b: AccountOpenBody = tranche_audit::record::body_from_value(body)?;
                Command::OpenAccount {
                    name: AccountName::parse(&b.name)?,
                    account_type: b.account_type,
                    description: b.description,
                }
            }
            kind::ACCOUNT_CLOSE => {
                let b: AccountCloseBody = tranche_audit::record::body_from_value(body)?;
                Command::CloseAccount {
                    name: AccountName::parse(&b.name)?,
                }
            }
            kind::TRANSACTION => {
                let b: TransactionBody = tranche_audit::record::body_from_value(body)?;
                Command::Transaction(NewTransaction {
                    postings: b.postings(true)?,
                    memo: b.memo,
                    reverses: b.reverses,
                })
            }
            kind::ENTITLEMENT => Command::Entitlement(EntitlementCommand::from_body(
                tranche_audit::record::body_from_value(body)?,
            )?),
            kind::AWARD_OPEN => Command::Programme(ProgrammeCommand::AwardOpen(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::PARTNER_REGISTER => Command::Programme(ProgrammeCommand::PartnerRegister(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::PARTNER_KEY => Command::Programme(ProgrammeCommand::PartnerKey(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::COHORT_OPEN => Command::Programme(ProgrammeCommand::CohortOpen(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::SESSION_SCHEDULE => Command::Programme(ProgrammeCommand::SessionSchedule(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::PARTICIPANT_REGISTER => {
                Command::Programme(ProgrammeCommand::ParticipantRegister {
                    body: tranche_audit::record::body_from_value(body)?,
                    personal: None,
                })
            }
            kind::EVIDENCE => Command::Programme(ProgrammeCommand::Evidence(Box::new(
                tranche_audit::record::body_from_value(body)?,
            ))),
            kind::RULE_VERSION => Command::Programme(ProgrammeCommand::RuleVersion(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::CYCLE_RUN => Command::Programme(ProgrammeCommand::CycleRun(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::DISBURSEMENT_CONFIG => Command::Disburse(DisburseCommand::Config(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::BATCH_CREATE => Command::Disburse(DisburseCommand::Create(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::BATCH_PART => Command::Disburse(DisburseCommand::Part(Box::new(
                tranche_audit::record::body_from_value(body)?,
            ))),
            kind::BATCH_SUBMIT => Command::Disburse(DisburseCommand::Submit(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::BATCH_APPROVE => Command::Disburse(DisburseCommand::Approve(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::BATCH_REJECT => Command::Disburse(DisburseCommand::Reject(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::BATCH_CANCEL => Command::Disburse(DisburseCommand::Cancel(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::BATCH_FILE => Command::Disburse(DisburseCommand::File(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::BATCH_SEND => {
                let b: tranche_audit::disburse::BatchSendBody =
                    tranche_audit::record::body_from_value(body)?;
                let tx = NewTransaction::sending(&b)?;
                Command::Disburse(DisburseCommand::Send(Box::new(b), tx))
            }
            kind::BANK_IMPORT => Command::Disburse(DisburseCommand::Import(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::BANK_STATUS => {
                let b: tranche_audit::disburse::BankStatusBody =
                    tranche_audit::record::body_from_value(body)?;
                let tx = NewTransaction::bank_status(&b)?;
                Command::Disburse(DisburseCommand::Status(Box::new(b), tx))
            }
            other => {
                return Err(Invalid::new(
                    "kind",
                    "unknown_kind",
                    format!("unknown record kind {other:?}"),
                ))
            }
        })
    }

    /// The money movement of a transaction or entitlement.
    pub fn transaction(&self) -> Option<&NewTransaction> {
        match self {
            Command::Transaction(t) => Some(t),
            Command::Entitlement(e) => Some(&e.tx),
            Command::Disburse(DisburseCommand::Send(_, tx)) => Some(tx),
            Command::Disburse(DisburseCommand::Status(_, tx)) => tx.as_ref(),
            _ => None,
        }
    }

    /// Accounts this command reads, so the store can load just those.
    pub fn accounts(&self) -> Vec<&AccountName> {
        match self {
            Command::LedgerKey { .. } | Command::RotateKey(_) => vec![],
            Command::OpenAccount { name, .. } | Command::CloseAccount { name } => vec![name],
            Command::Transaction(t) => t.postings.iter().map(|p| &p.account).collect(),
            Command::Entitlement(e) => {
                e.tx.postings
                    .iter()
                    .map(|p| &p.account)
                    .chain(e.budget.iter())
                    .collect()
            }
            Command::Programme(_) => vec![],
            Command::Disburse(d) => match d {
                DisburseCommand::Send(_, tx) => tx.postings.iter().map(|p| &p.account).collect(),
                DisburseCommand::Status(_, tx) => tx
                    .iter()
                    .flat_map(|t| t.postings.iter().map(|p| &p.account))
                    .collect(),
                _ => vec![],
            },
        }
    }

    /// Accounts whose balances the disbursement rules read (payables a batch part claims, the
    /// bank and transit accounts funds are checked against), beyond those the postings touch.
    pub fn balance_accounts(&self) -> Vec<AccountName> {
        use tranche_audit::disburse::Payee;
        use tranche_audit::programme::accounts;
        let Command::Disburse(d) = self else {
            return vec![];
        };
        let award = d.award();
        let cash = || {
            [accounts::bank(award), accounts::transit(award)]
                .iter()
                .filter_map(|a| AccountName::parse(a).ok())
                .collect::<Vec<_>>()
        };
        match d {
            DisburseCommand::Part(p) => p
                .payments
                .iter()
                .filter_map(|pay| Payee::parse(&pay.payee).ok())
                .filter_map(|payee| AccountName::parse(&payee.payable(award)).ok())
                .collect(),
            DisburseCommand::Submit(_) | DisburseCommand::Approve(_) => cash(),
            _ => vec![],
        }
    }
}

/// Why a stored record cannot be turned into its reversal.
#[derive(Debug, thiserror::Error)]
pub enum ReversalError {
    #[error("seq {seq} is a {kind} record, not a transaction")]
    NotATransaction { seq: u64, kind: String },
    /// A stored transaction that does not parse: the journal is damaged, not the input.
    #[error("stored transaction seq {seq} is unreadable: {detail}")]
    Unreadable { seq: u64, detail: String },
    /// Every reversal says why it is made.
    #[error("a reversal must say why it is made: give a reason")]
    NoReason,
}

impl Command {
    /// The exact reversal of a stored transaction: every posting with its side swapped,
    /// `reverses` set, and `reason` (which must not be empty) as its memo.
    pub fn reversal_of(record: &Record, reason: String) -> Result<Command, ReversalError> {
        let seq = record.seq;
        let memo = reason.trim().to_string();
        if memo.is_empty() {
            return Err(ReversalError::NoReason);
        }
        let unreadable = |detail: String| ReversalError::Unreadable { seq, detail };
        if record.kind == kind::ENTITLEMENT {
            let body: EntitlementBody = serde_json::from_value(record.body.clone())
                .map_err(|e| unreadable(e.to_string()))?;
            let Command::Entitlement(mut e) = Command::Entitlement(
                EntitlementCommand::from_body(body).map_err(|e| unreadable(e.to_string()))?,
            ) else {
                unreachable!("built as an entitlement")
            };
            for p in &mut e.tx.postings {
                p.side = p.side.opposite();
            }
            e.tx.memo = memo;
            e.tx.reverses = Some(seq);
            return Ok(Command::Entitlement(e));
        }
        if record.kind != kind::TRANSACTION {
            return Err(ReversalError::NotATransaction {
                seq,
                kind: record.kind.clone(),
            });
        }
        let body: TransactionBody =
            serde_json::from_value(record.body.clone()).map_err(|e| unreadable(e.to_string()))?;
        let mut postings = body.postings(true).map_err(|e| unreadable(e.to_string()))?;
        for p in &mut postings {
            p.side = p.side.opposite();
        }
        Ok(Command::Transaction(NewTransaction {
            memo,
            postings,
            reverses: Some(seq),
        }))
    }
}

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
    /// (seq, memo, reverses)
    pub transactions: Vec<(u64, String, Option<u64>)>,
    /// (original, reversal)
    pub reversed: Vec<(u64, u64)>,
    /// Personal data of participants registered now: (participant, award, partner, data, seq).
    /// Never derived from the journal; written to the erasable participant store.
    pub personal: Vec<PersonalEffect>,
    /// Rows of the programme projections (awards, rules, cycles, participants, evidence items,
    /// entitlements): insert-only, each keyed by the seq of the record that made it.
    pub programme: ProgrammeRows,
}

/// Rows of the programme projections, derived from records alone (no state), so that an append
/// and a rebuild write the same ones. Read by one-shot commands and pages instead of replaying
/// the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgrammeRows {
    pub awards: Vec<AwardRow>,
    pub rules: Vec<RuleRow>,
    pub cycles: Vec<CycleRow>,
    pub participants: Vec<ParticipantRow>,
    pub evidence: Vec<EvidenceRow>,
    pub entitlements: Vec<EntitlementRow>,
    pub settings: Vec<SettingsRow>,
    pub batches: Vec<BatchRow>,
    pub batch_events: Vec<BatchEventRow>,
    pub payments: Vec<PaymentRow>,
    pub payment_events: Vec<PaymentEventRow>,
    pub imports: Vec<ImportRow>,
    pub import_parts: Vec<ImportPartRow>,
    pub partners: Vec<PartnerRow>,
    pub partner_keys: Vec<PartnerKeyRow>,
    pub statements: Vec<StatementRow>,
    pub cohorts: Vec<CohortRow>,
    pub sessions: Vec<SessionRow>,
}

impl ProgrammeRows {
    pub fn is_empty(&self) -> bool {
        self.awards.is_empty()
            && self.rules.is_empty()
            && self.cycles.is_empty()
            && self.participants.is_empty()
            && self.evidence.is_empty()
            && self.entitlements.is_empty()
            && self.settings.is_empty()
            && self.batches.is_empty()
            && self.batch_events.is_empty()
            && self.payments.is_empty()
            && self.payment_events.is_empty()
            && self.imports.is_empty()
            && self.import_parts.is_empty()
            && self.partners.is_empty()
            && self.partner_keys.is_empty()
            && self.statements.is_empty()
            && self.cohorts.is_empty()
            && self.sessions.is_empty()
    }
}

/// An award as opened: its body is the record's canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AwardRow {
    pub award: String,
    pub seq: u64,
    pub currency: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleRow {
    pub award: String,
    pub rule: String,
    pub version: u64,
    pub seq: u64,
    pub shape: String,
    pub effective: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CycleRow {
    pub award: String,
    pub period: String,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ParticipantRow {
    pub participant: String,
    pub award: String,
    pub partner: String,
    pub seq: u64,
}

/// One item of a partner's signed statement: `kind` is `enrolment`, `attendance`,
/// `attendance-correction`, `certification` or `milestone`; `subject` the cohort, session,
/// course or milestone; `value` the status or result (empty for an enrolment).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EvidenceRow {
    pub seq: u64,
    pub idx: u32,
    pub participant: String,
    pub kind: String,
    pub subject: String,
    pub value: String,
    pub date: Option<String>,
}

/// An entitlement transaction (a reversal is its own row, naming what it reverses).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntitlementRow {
    pub seq: u64,
    pub award: String,
    pub participant: String,
    pub basis: String,
    pub rule: String,
    pub version: u64,
    pub amount_minor: i64,
    pub reverses: Option<u64>,
    pub adjusts: Option<u64>,
}

/// An award's disbursement settings as recorded (the latest by seq is in force).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SettingsRow {
    pub award: String,
    pub seq: u64,
    pub dual_approval_above_minor: i64,
    pub body: String,
}

/// A payment batch as created: its header (the filter as canonical JSON).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchRow {
    pub batch: String,
    pub award: String,
    pub currency: String,
    pub preparer: String,
    pub seq: u64,
    pub filter: String,
}

/// One record of a batch's life (`create`, `part`, `submit`, `approve`, `reject`, `cancel`,
/// `file`, `send`) with the batch as it stands after it: the latest row of a batch is its state.
/// `detail` is JSON: a part's number and exceptions, a file's format, SHA-256, message id and
/// creation time, a sending's part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchEventRow {
    pub seq: u64,
    pub batch: String,
    pub award: String,
    pub event: String,
    pub actor: String,
    pub status: String,
    pub total_minor: i64,
    pub approvals_required: u32,
    pub digest: Option<String>,
    pub reason: Option<String>,
    pub detail: String,
}

/// A payment as listed in a batch part (its `seq`); `items` are the entitlement seqs it settles and
/// `reissues` the end-to-end ids of the failed payments it reissues (space-separated).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PaymentRow {
    pub e2e: String,
    pub batch: String,
    /// Its place in the batch, from 0.
    pub idx: u32,
    pub award: String,
    pub payee: String,
    pub payable: String,
    pub amount_minor: i64,
    pub part: u32,
    pub seq: u64,
    pub items: String,
    pub reissues: String,
}

/// The `n`-th event of a payment (0 is `batched`), with the payment's state after it: the
/// event with the highest `n` is the payment's state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PaymentEventRow {
    pub e2e: String,
    pub n: u32,
    pub seq: u64,
    pub event: String,
    pub state: String,
    pub reason: Option<String>,
}

/// A bank file read (`bank.import`): its header as canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImportRow {
    pub sha256: String,
    pub award: String,
    pub format: String,
    pub seq: u64,
    pub body: String,
}

/// One `bank.status` part of an import: how many outcomes it applied, and its exceptions (JSON).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImportPartRow {
    pub seq: u64,
    pub sha256: String,
    pub part: u32,
    pub outcomes: u64,
    pub exceptions: String,
}

/// An implementing partner as registered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartnerRow {
    pub partner: String,
    pub seq: u64,
    pub name: String,
}

/// One record of a partner key's life (`register`, `rotate`, `revoke`): a key is valid from the
/// row that registers or rotates it in until a row revokes it or rotates it out (`replaces`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartnerKeyRow {
    pub seq: u64,
    pub key_id: String,
    pub partner: String,
    pub action: String,
    pub public_key: Option<String>,
    pub replaces: Option<String>,
}

/// A partner-signed evidence statement: who signed it with which key, its batch id, how many
/// items it held and when the partner says it was submitted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatementRow {
    pub seq: u64,
    pub partner: String,
    pub batch_id: String,
    pub items: u64,
    pub key_id: String,
    pub submitted_at: String,
}

/// A cohort as opened (its opening body as canonical JSON).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CohortRow {
    pub cohort: String,
    pub award: String,
    pub partner: String,
    pub seq: u64,
    pub body: String,
}

/// A session as scheduled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionRow {
    pub session: String,
    pub cohort: String,
    pub date: String,
    pub seq: u64,
}

fn word<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}").to_lowercase()
}

/// The programme rows a programme command makes at `seq`.
fn programme_rows(rows: &mut ProgrammeRows, seq: u64, p: &ProgrammeCommand) {
    use tranche_audit::programme::EvidenceItem as I;
    match p {
        ProgrammeCommand::AwardOpen(b) => rows.awards.push(AwardRow {
            award: b.award.to_string(),
            seq,
            currency: b.currency.clone(),
            body: serde_json::to_string(b).unwrap_or_default(),
        }),
        ProgrammeCommand::RuleVersion(b) => rows.rules.push(RuleRow {
            award: b.award.to_string(),
            rule: b.rule.to_string(),
            version: b.version,
            seq,
            shape: b.params.shape().to_string(),
            effective: b.effective.0.to_string(),
        }),
        ProgrammeCommand::CycleRun(b) => rows.cycles.push(CycleRow {
            award: b.award.to_string(),
            period: b.period.to_string(),
            seq,
        }),
        ProgrammeCommand::ParticipantRegister { body, .. } => {
            rows.participants.push(ParticipantRow {
                participant: body.participant.to_string(),
                award: body.award.to_string(),
                partner: body.partner.to_string(),
                seq,
            })
        }
        ProgrammeCommand::Evidence(e) => {
            rows.statements.push(StatementRow {
                seq,
                partner: e.statement.partner.to_string(),
                batch_id: e.statement.batch_id.to_string(),
                items: e.statement.items.len() as u64,
                key_id: e.key_id.clone(),
                submitted_at: e.statement.submitted_at.clone(),
            });
            for (idx, item) in e.statement.items.iter().enumerate() {
                let (kind, subject, value, date) = match item {
                    I::Enrolment { cohort, date, .. } => {
                        ("enrolment", cohort.to_string(), String::new(), Some(date.0))
                    }
                    I::Attendance {
                        session, status, ..
                    } => ("attendance", session.to_string(), word(status), None),
                    I::AttendanceCorrection {
                        session, status, ..
                    } => (
                        "attendance-correction",
                        session.to_string(),
                        word(status),
                        None,
                    ),
                    I::Certification {
                        course,
                        result,
                        date,
                        ..
                    } => (
                        "certification",
                        course.to_string(),
                        word(result),
                        Some(date.0),
                    ),
                    I::Milestone {
                        milestone,
                        result,
                        date,
                        ..
                    } => (
                        "milestone",
                        milestone.as_str().to_string(),
                        word(result),
                        Some(date.0),
                    ),
                };
                rows.evidence.push(EvidenceRow {
                    seq,
                    idx: idx as u32,
                    participant: item.participant().to_string(),
                    kind: kind.to_string(),
                    subject,
                    value,
                    date: date.map(|d| d.to_string()),
                });
            }
        }
        ProgrammeCommand::PartnerRegister(b) => rows.partners.push(PartnerRow {
            partner: b.partner.to_string(),
            seq,
            name: b.name.clone(),
        }),
        ProgrammeCommand::PartnerKey(b) => rows.partner_keys.push(PartnerKeyRow {
            seq,
            key_id: b.key_id.clone(),
            partner: b.partner.to_string(),
            action: word(&b.action),
            public_key: b.public_key.clone(),
            replaces: b.replaces.clone(),
        }),
        ProgrammeCommand::CohortOpen(b) => rows.cohorts.push(CohortRow {
            cohort: b.cohort.to_string(),
            award: b.award.to_string(),
            partner: b.partner.to_string(),
            seq,
            body: serde_json::to_string(b).unwrap_or_default(),
        }),
        ProgrammeCommand::SessionSchedule(b) => {
            rows.sessions.extend(b.sessions.iter().map(|s| SessionRow {
                session: s.session.to_string(),
                cohort: b.cohort.to_string(),
                date: s.date.to_string(),
                seq,
            }))
        }
    }
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
            "record_too_large",
            format!(
                "the record would be {n} bytes, over the {} byte limit",
                tranche_audit::record::MAX_RECORD_BYTES
            ),
        ),
        other => Invalid::new("", "unencodable", other.to_string()),
    }
}

/// Applies one command at `seq` to the state, checking every stateful rule, and records the
/// projection changes in `effects`.
pub fn apply(
    state: &mut State,
    programme: &mut ProgrammeState,
    seq: u64,
    actor: &str,
    command: &Command,
    effects: &mut Effects,
) -> Result<(), PlanError> {
    match command {
        Command::RotateKey(_) => {
            if seq == 0 {
                return Err(Invalid::new(
                    "kind",
                    "rotation_first",
                    "the first record is the ledger key, never a rotation",
                )
                .into());
            }
        }
        Command::LedgerKey { .. } => {
            if seq != 0 {
                return Err(Invalid::new(
                    "kind",
                    "ledger_key_not_first",
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
                    "account_exists",
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
                    "unknown_account",
                    format!("account {name} was never opened"),
                )
                .into());
            };
            if account.closed {
                return Err(Invalid::new(
                    "name",
                    "account_closed",
                    format!("account {name} is already closed"),
                )
                .into());
            }
            if let Some((currency, net)) = account.net.iter().find(|(_, n)| **n != 0) {
                return Err(Invalid::new(
                    "name",
                    "account_not_empty",
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
            crate::programme::apply_entitlement(
                programme,
                seq,
                &e.meta,
                &e.tx.postings,
                e.amount(),
                e.tx.reverses,
                &e.lines,
                &balances,
            )?;
            crate::disburse::on_entitlement(programme, seq, &e.meta, &e.tx.postings, e.tx.reverses);
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
            crate::disburse::apply(programme, seq, actor, d, &StateBalances(state))?;
            crate::disburse::rows(programme, seq, actor, d, &mut effects.programme);
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
            crate::programme::apply(programme, seq, p)?;
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
    Ok(())
}

struct StateBalances<'a>(&'a State);

impl crate::programme::Balances for StateBalances<'_> {
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
                "unknown_account",
                format!("account {} is not open: open it first", p.account),
            )
            .into());
        };
        if account.closed {
            return Err(Invalid::new(
                field,
                "account_closed",
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
            "memo_mixed",
            "a transaction cannot mix memo (off-balance) and balance-sheet accounts",
        )
        .into());
    }
    if t.reverses.is_some() && t.memo.trim().is_empty() {
        return Err(Invalid::new(
            "memo",
            "reason_required",
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
                "unknown_transaction",
                format!("seq {original} is not a transaction"),
            )
            .into());
        };
        if orig.is_reversal {
            return Err(Invalid::new(
                "reverses",
                "reversal_of_reversal",
                format!("seq {original} is itself a reversal: post the original again instead"),
            )
            .into());
        }
        if let Some(by) = orig.reversed_by {
            return Err(Invalid::new(
                "reverses",
                "already_reversed",
                format!("seq {original} was already reversed by seq {by}"),
            )
            .into());
        }
        if let Some(postings) = &orig.postings {
            if !is_mirror(postings, &t.postings) {
                return Err(Invalid::new(
                    "postings",
                    "not_a_mirror",
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
        });
    }
    state.transactions.insert(
        seq,
        Some(TxState {
            postings: Some(t.postings.clone()),
            is_reversal: t.reverses.is_some(),
            reversed_by: None,
        }),
    );
    effects.transactions.push((seq, t.memo.clone(), t.reverses));
    Ok(())
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
            "empty_batch",
            "a batch needs at least one item",
        ));
    }
    if group.commands.len() > MAX_BATCH {
        return Err(Invalid::new(
            "",
            "batch_too_large",
            format!("a batch may hold at most {MAX_BATCH} items"),
        ));
    }
    if group.actor.is_empty() || group.actor.len() > 200 {
        return Err(Invalid::new(
            "actor",
            "invalid_actor",
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
            match apply(state, programme, seq, group.actor, command, &mut effects) {
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
                code: "memo_mixed",
                item: Some(0),
                ..
            })
        ));
    }
}
