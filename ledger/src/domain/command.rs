//! Commands: what a caller asks the ledger to do, with the rules that need no state (amounts,
//! currencies, account names, at least two postings, balanced per currency, memo lengths).
//! The stateful rules are the planner's ([`super::plan`]).

use serde::Deserialize;
use serde_json::Value;
use tranche_audit::account::{AccountName, AccountType};
use tranche_audit::posting::{check_balanced, Side};
use tranche_audit::programme::{EntitlementBody, Id};
use tranche_audit::record::{
    kind, AccountCloseBody, AccountOpenBody, LedgerKeyBody, PostingBody, Record, TransactionBody,
};
use tranche_audit::Code;
use tranche_audit::Invalid;

use super::disburse::DisburseCommand;
use super::programme::{EntitlementMeta, ProgrammeCommand};
use super::transaction::{check_memo, NewTransaction};

/// The most commands one batch may hold.
pub const MAX_BATCH: usize = 10_000;

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
    pub(super) lines: Vec<Id>,
}

impl EntitlementCommand {
    pub fn new(meta: EntitlementMeta, tx: NewTransaction) -> Result<Self, Invalid> {
        check_memo(&tx.memo, "memo")?;
        check_balanced(&tx.postings)?;
        let budget = super::programme::budget_accounts(&meta.award, &tx.postings);
        let mut lines: Vec<Id> = Vec::new();
        for p in &tx.postings {
            if p.side == Side::Debit {
                if let Some(l) = super::programme::budget_line_of(&meta.award, p.account.as_str()) {
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

    pub(super) fn body(&self) -> EntitlementBody {
        EntitlementBody {
            award: self.meta.award.clone(),
            participant: self.meta.participant.clone(),
            basis: self.meta.basis.clone(),
            rule: self.meta.rule.clone(),
            version: self.meta.version,
            evidence: self.meta.evidence.clone(),
            accounting_date: tranche_audit::programme::Date(
                self.tx
                    .date
                    .expect("an entitlement is dated when it is made"),
            ),
            memo: self.tx.memo.clone(),
            postings: self
                .tx
                .postings
                .iter()
                .map(PostingBody::from_posting)
                .collect(),
            prior_period: self.tx.prior_period,
            reverses: self.tx.reverses,
            adjusts: self.meta.adjusts,
        }
    }

    fn from_body(b: EntitlementBody) -> Result<Self, Invalid> {
        b.check_refs()?;
        let postings = TransactionBody {
            accounting_date: b.accounting_date,
            memo: String::new(),
            postings: b.postings,
            prior_period: None,
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
                date: Some(b.accounting_date.0),
                prior_period: b.prior_period,
            },
        )
    }
}
/// The JSON a user writes to post a transaction (`tranche post`, `POST /transactions`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionInput {
    /// The accounting date, `YYYY-MM-DD`; absent: today in the award's time zone.
    #[serde(default)]
    pub date: Option<tranche_audit::programme::Date>,
    #[serde(default)]
    pub memo: String,
    pub postings: Vec<PostingBody>,
    /// The closed quarter a late correction corrects (`2026Q1`).
    #[serde(default)]
    pub prior_period: Option<tranche_audit::period::Quarter>,
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
            let missing = inner
                .to_string()
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next().map(str::to_string));
            let field = if inner.is_syntax() || inner.is_eof() {
                String::new()
            } else {
                // The path stops at the object a missing member belongs to: name the member.
                match (path.as_str(), missing) {
                    (".", Some(m)) => m,
                    (".", None) => String::new(),
                    (_, Some(m)) => format!("{path}.{m}"),
                    (_, None) => path,
                }
            };
            let code = if inner.is_syntax() || inner.is_eof() {
                Code::MalformedJson
            } else if inner.to_string().contains("unknown field") {
                Code::UnknownField
            } else {
                Code::InvalidField
            };
            Invalid::new(field, code, inner.to_string())
        })
    }

    /// Stateless checks: amounts, currencies, account names, balance per currency.
    pub fn into_command(self) -> Result<Command, Invalid> {
        check_memo(&self.memo, "memo")?;
        let postings = self
            .postings
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.to_posting(false)
                    .map_err(|e| e.within(&format!("postings[{i}]")))
            })
            .collect::<Result<Vec<_>, Invalid>>()?;
        check_balanced(&postings)?;
        Ok(Command::Transaction(NewTransaction {
            memo: self.memo,
            postings,
            reverses: self.reverses,
            date: self.date.map(|d| d.0),
            prior_period: self.prior_period,
        }))
    }
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

    pub(super) fn kind(&self) -> &'static str {
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
                ProgrammeCommand::PeriodClose(_) => kind::PERIOD_CLOSE,
                ProgrammeCommand::PeriodReopen(_) => kind::PERIOD_REOPEN,
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

    pub(super) fn body(&self) -> Value {
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
                accounting_date: tranche_audit::programme::Date(
                    t.date
                        .expect("the planner dates a transaction before writing it"),
                ),
                memo: t.memo.clone(),
                postings: t.postings.iter().map(PostingBody::from_posting).collect(),
                prior_period: t.prior_period,
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
                ProgrammeCommand::PeriodClose(b) => serde_json::to_value(b),
                ProgrammeCommand::PeriodReopen(b) => serde_json::to_value(b),
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
                    date: Some(b.accounting_date.0),
                    prior_period: b.prior_period,
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
            kind::PERIOD_CLOSE => Command::Programme(ProgrammeCommand::PeriodClose(
                tranche_audit::record::body_from_value(body)?,
            )),
            kind::PERIOD_REOPEN => Command::Programme(ProgrammeCommand::PeriodReopen(
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
                    Code::UnknownKind,
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

    /// The money movement, to fill in what the caller left to the ledger (its date).
    pub(super) fn transaction_mut(&mut self) -> Option<&mut NewTransaction> {
        match self {
            Command::Transaction(t) => Some(t),
            Command::Entitlement(e) => Some(&mut e.tx),
            Command::Disburse(DisburseCommand::Send(_, tx)) => Some(tx),
            Command::Disburse(DisburseCommand::Status(_, tx)) => tx.as_mut(),
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
    /// `reverses` set, and `reason` (which must not be empty) as its memo, dated `date` (`None`:
    /// the day it is written). When the original lies in a closed quarter the planner marks the
    /// reversal as a late correction of that quarter.
    pub fn reversal_of(
        record: &Record,
        reason: String,
        date: Option<chrono::NaiveDate>,
    ) -> Result<Command, ReversalError> {
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
            e.tx.date = date;
            e.tx.prior_period = None;
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
            date,
            prior_period: None,
        }))
    }
}
