//! The disbursement records as they appear in the journal: the award's payment settings, payment
//! batches (header, parts, submission, approvals, rejection, cancellation), the bank files made
//! for them, the sending, and the bank's status and statement files coming back.
//!
//! A batch of 100,000 payments cannot be one record (records stay under 64 KiB), so a batch is
//! a `batch.create` header followed by `batch.part` records, all appended together. Its
//! *digest* is SHA-256 over the canonical bytes of the header and of every part in order, each
//! followed by a newline; `batch.submit` freezes it, and every approval names it. Sending and
//! bank outcomes move money, so `batch.send` and `bank.status` carry postings like any
//! transaction, and the ledger derives those postings from the payments they name.

use crate::codes::Code;
use serde::{Deserialize, Serialize};

/// The batch and payment lifecycle rules, shared by the ledger and the verifier.
pub mod lifecycle;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::money::{format_minor, Currency, Money};
use crate::programme::{canonical_amount, check_name, lowercase_hex, Date, Id};
use crate::record::{canonical_bytes, PostingBody};
use crate::Invalid;

/// The most payments one `batch.part` record holds.
pub const PAYMENTS_PER_PART: usize = 400;
/// The most outcomes (and, separately, exceptions) one `bank.status` record holds.
pub const OUTCOMES_PER_PART: usize = 400;
/// The most entitlements one payment may settle.
pub const MAX_ENTITLEMENTS_PER_PAYMENT: usize = 60;
/// An end-to-end id, as pain.001 allows: at most 35 characters.
pub const MAX_E2E_CHARS: usize = 35;
/// The longest reason or note, in bytes.
pub const MAX_REASON_BYTES: usize = 500;
/// The bank file formats tranche writes.
pub const FILE_FORMATS: [&str; 2] = ["pain.001.001.09", "csv"];
/// The status file formats tranche reads.
pub const IMPORT_FORMATS: [&str; 3] = ["pain.002", "camt.053", "csv"];

fn check_reason(text: &str, field: &str, required: bool) -> Result<(), Invalid> {
    if required && text.trim().is_empty() {
        return Err(Invalid::new(
            field,
            Code::ReasonRequired,
            "a reason is required",
        ));
    }
    if text.len() > MAX_REASON_BYTES {
        return Err(Invalid::new(
            field,
            Code::ReasonTooLong,
            format!("at most {MAX_REASON_BYTES} bytes"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            Code::ControlCharacters,
            "control characters are not allowed",
        ));
    }
    Ok(())
}

fn check_digest(text: &str, field: &str) -> Result<(), Invalid> {
    if lowercase_hex(text, 32) {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            Code::InvalidDigest,
            "must be 64 lowercase hex digits (a SHA-256)",
        ))
    }
}

/// Checks an end-to-end id: 1 to 35 ASCII letters, digits and '-'.
pub fn check_e2e(text: &str, field: &str) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text.len() <= MAX_E2E_CHARS
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            Code::InvalidEndToEndId,
            format!(
                "{text:?} is not an end-to-end id: 1 to {MAX_E2E_CHARS} letters, digits or '-'"
            ),
        ))
    }
}

/// The end-to-end id of the `n`th payment (1-based) of `batch`.
pub fn e2e_id(batch: &Id, n: usize) -> String {
    format!("{}-{n:06}", batch.as_str())
}

// ---------------------------------------------------------------------------------------------
// Payees.

/// Who a payment goes to: a participant (by pseudonym) or a vendor (a training provider).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Payee {
    Participant(Id),
    Vendor(Id),
}

impl Payee {
    /// `participant:P` or `vendor:V`.
    pub fn parse(text: &str) -> Result<Payee, Invalid> {
        let bad = || {
            Invalid::new(
                "",
                Code::InvalidPayee,
                format!("{text:?} is not a payee: write participant:<pseudonym> or vendor:<id>"),
            )
        };
        let (kind, id) = text.split_once(':').ok_or_else(bad)?;
        let id = Id::parse(id).map_err(|_| bad())?;
        match kind {
            "participant" => Ok(Payee::Participant(id)),
            "vendor" => Ok(Payee::Vendor(id)),
            _ => Err(bad()),
        }
    }

    /// The payee's payable account in `award`.
    pub fn payable(&self, award: &Id) -> String {
        match self {
            Payee::Participant(p) => crate::programme::accounts::participant_payable(award, p),
            Payee::Vendor(v) => crate::programme::accounts::vendor_payable(award, v),
        }
    }

    /// The payee of a payable account of `award`, if it is one.
    pub fn of_payable(award: &Id, account: &str) -> Option<Payee> {
        let rest = account
            .strip_prefix("payable:")?
            .strip_prefix(award.as_str())?
            .strip_prefix(':')?;
        Payee::parse(rest).ok()
    }
}

impl std::fmt::Display for Payee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payee::Participant(p) => write!(f, "participant:{p}"),
            Payee::Vendor(v) => write!(f, "vendor:{v}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Settings.

/// A bank account as the bank file names it: the holder, the account (an IBAN, or another
/// identifier such as a mobile-money number or a domestic account number) and optionally the
/// bank's BIC, its national bank code and the account's type. Ecuador, Chile and Mexico have no
/// IBAN: a domestic account that states its type or bank code states both a type and a bank
/// (BIC or national code), as their banks ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankAccountBody {
    pub name: String,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_bic: Option<String>,
    /// The bank's national code (a clearing system member id, 3 to 11 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<AccountTypeBody>,
}

/// A savings or a current (checking) account: ISO 20022 `CashAccountType` `SVGS` or `CACC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountTypeBody {
    Savings,
    Current,
}

impl AccountTypeBody {
    /// The `ExternalCashAccountType1Code` a pain.001 writes in `Tp/Cd`.
    pub fn iso_code(&self) -> &'static str {
        match self {
            AccountTypeBody::Savings => "SVGS",
            AccountTypeBody::Current => "CACC",
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            AccountTypeBody::Savings => "savings",
            AccountTypeBody::Current => "current",
        }
    }
}

/// Written like an IBAN: two letters, two digits, at least 15 characters (whether it is a valid
/// one is checked by the ledger, with the `iban` crate).
fn iban_like(compact: &str) -> bool {
    let b = compact.as_bytes();
    b.len() >= 15
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..4].iter().all(u8::is_ascii_digit)
}

impl BankAccountBody {
    pub fn check(&self) -> Result<(), Invalid> {
        check_name(&self.name, "name")?;
        let compact: String = self.account.chars().filter(|c| *c != ' ').collect();
        if compact.is_empty()
            || compact.len() > 34
            || !compact
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Invalid::new(
                "account",
                Code::InvalidAccount,
                "an account is 1 to 34 letters, digits or '-' (an IBAN or another identifier)",
            ));
        }
        if let Some(bic) = &self.agent_bic {
            let ok = (bic.len() == 8 || bic.len() == 11)
                && bic
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && bic.as_bytes()[4..6].iter().all(u8::is_ascii_uppercase);
            if !ok {
                return Err(Invalid::new(
                    "agent_bic",
                    Code::InvalidBic,
                    "a BIC is 8 or 11 upper-case letters and digits, its 5th and 6th a country code",
                ));
            }
        }
        if let Some(code) = &self.bank_code {
            if !(3..=11).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Invalid::new(
                    "bank_code",
                    Code::InvalidBankCode,
                    format!("{code:?} is not a national bank code: 3 to 11 digits"),
                ));
            }
        }
        let domestic = !iban_like(&compact);
        if domestic && (self.bank_code.is_some() || self.account_type.is_some()) {
            if self.account_type.is_none() {
                return Err(Invalid::new(
                    "account_type",
                    Code::AccountTypeRequired,
                    "a domestic account states its type: savings or current",
                ));
            }
            if self.bank_code.is_none() && self.agent_bic.is_none() {
                return Err(Invalid::new(
                    "bank_code",
                    Code::BankRequired,
                    "a domestic account names its bank: a national bank code or a BIC",
                ));
            }
        }
        Ok(())
    }
}

/// A vendor's (training provider's) account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorAccountBody {
    pub vendor: Id,
    #[serde(flatten)]
    pub account: BankAccountBody,
}

/// Body of `disbursement.config`: the award's paying account, its vendors' accounts and the
/// amount above which a batch needs two approvers. A later record replaces an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisbursementConfigBody {
    pub award: Id,
    pub debtor: BankAccountBody,
    #[serde(default)]
    pub vendors: Vec<VendorAccountBody>,
    /// Batches with a total above this need two distinct approvers.
    pub dual_approval_above: String,
}

impl DisbursementConfigBody {
    pub fn check(&self, currency: Currency) -> Result<Money, Invalid> {
        self.award.check("award")?;
        self.debtor.check().map_err(|e| e.within("debtor"))?;
        let mut seen = std::collections::HashSet::new();
        for (i, v) in self.vendors.iter().enumerate() {
            let field = format!("vendors[{i}]");
            v.vendor.check(&format!("{field}.vendor"))?;
            v.account.check().map_err(|e| e.within(&field))?;
            if !seen.insert(&v.vendor) {
                return Err(Invalid::new(
                    format!("{field}.vendor"),
                    Code::DuplicateVendor,
                    format!("vendor {} is listed twice", v.vendor),
                ));
            }
        }
        canonical_amount(&self.dual_approval_above, currency, "dual_approval_above")
    }
}

// ---------------------------------------------------------------------------------------------
// Batches.

/// What a batch was built from: all open payables of the award, or a subset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_line: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// Payees (`participant:P`, `vendor:V`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payees: Option<Vec<String>>,
}

impl BatchFilter {
    pub fn check(&self) -> Result<(), Invalid> {
        if let Some(l) = &self.budget_line {
            l.check("filter.budget_line")?;
        }
        if let Some(c) = &self.cohort {
            c.check("filter.cohort")?;
        }
        if let Some(p) = &self.province {
            check_name(p, "filter.province")?;
        }
        if let Some(payees) = &self.payees {
            if payees.is_empty() {
                return Err(Invalid::new(
                    "filter.payees",
                    Code::EmptyList,
                    "name at least one payee, or leave the list out",
                ));
            }
            for (i, p) in payees.iter().enumerate() {
                Payee::parse(p).map_err(|e| e.within(&format!("filter.payees[{i}]")))?;
            }
        }
        Ok(())
    }
}

/// Body of `batch.create`: the header of a batch whose payments follow in `parts` parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchCreateBody {
    pub batch: Id,
    pub award: Id,
    pub currency: String,
    #[serde(default)]
    pub filter: BatchFilter,
    /// Number of payments.
    pub payments: u64,
    /// Sum of the payments.
    pub total: String,
    /// Number of payees left out, with their reason, in the parts.
    pub exceptions: u64,
    pub parts: u32,
}

impl BatchCreateBody {
    /// Checks the header against the award's currency; returns the total.
    pub fn check(&self, award_currency: Currency) -> Result<Money, Invalid> {
        self.batch.check("batch")?;
        self.award.check("award")?;
        self.filter.check()?;
        let currency = Currency::parse(&self.currency)
            .map_err(|e| Invalid::new("currency", Code::UnknownCurrency, e.to_string()))?;
        if currency != award_currency {
            return Err(Invalid::new(
                "currency",
                Code::CurrencyMismatch,
                format!(
                    "the batch is in {currency} but award {} is in {award_currency}: a batch pays in its award's currency",
                    self.award
                ),
            ));
        }
        if self.payments == 0 || self.parts == 0 {
            return Err(Invalid::new(
                "payments",
                Code::NoPayments,
                "a batch needs at least one payment",
            ));
        }
        let needed = self.payments.div_ceil(PAYMENTS_PER_PART as u64);
        if u64::from(self.parts) < needed {
            return Err(Invalid::new(
                "parts",
                Code::TooFewParts,
                format!("{} payments need at least {needed} parts", self.payments),
            ));
        }
        canonical_amount(&self.total, currency, "total")
    }
}

/// One payment of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// The end-to-end id the bank file carries and the bank returns.
    pub e2e: String,
    /// `participant:P` or `vendor:V`.
    pub payee: String,
    pub amount: String,
    /// The seqs of the entitlements it settles.
    pub entitlements: Vec<u64>,
    /// End-to-end ids of earlier payments to this payee that were rejected or returned and
    /// whose entitlements this payment settles again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reissues: Vec<String>,
}

impl PaymentBody {
    pub fn check(&self, currency: Currency) -> Result<(Payee, Money), Invalid> {
        check_e2e(&self.e2e, "e2e")?;
        let payee = Payee::parse(&self.payee).map_err(|e| e.within("payee"))?;
        let amount = canonical_amount(&self.amount, currency, "amount")?;
        if self.entitlements.is_empty() || self.entitlements.len() > MAX_ENTITLEMENTS_PER_PAYMENT {
            return Err(Invalid::new(
                "entitlements",
                Code::InvalidEntitlements,
                format!("a payment settles 1 to {MAX_ENTITLEMENTS_PER_PAYMENT} entitlements"),
            ));
        }
        if self.entitlements.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Invalid::new(
                "entitlements",
                Code::NotAscending,
                "entitlement seqs are listed once each, in ascending order",
            ));
        }
        for (i, r) in self.reissues.iter().enumerate() {
            check_e2e(r, &format!("reissues[{i}]"))?;
        }
        Ok((payee, amount))
    }
}

/// A payee with an open payable that the batch could not pay, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchExceptionBody {
    pub payee: String,
    pub amount: String,
    /// `no_bank_account`, `personal_data_erased`, `no_vendor_account`, `payable_short` …
    pub reason: String,
}

/// Body of `batch.part`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchPartBody {
    pub batch: Id,
    pub award: Id,
    /// 0-based.
    pub part: u32,
    pub payments: Vec<PaymentBody>,
    #[serde(default)]
    pub exceptions: Vec<BatchExceptionBody>,
}

impl BatchPartBody {
    pub fn check(&self, currency: Currency) -> Result<(), Invalid> {
        self.batch.check("batch")?;
        self.award.check("award")?;
        if self.payments.len() > PAYMENTS_PER_PART || self.exceptions.len() > PAYMENTS_PER_PART {
            return Err(Invalid::new(
                "payments",
                Code::PartTooLarge,
                format!("a part holds at most {PAYMENTS_PER_PART} payments and as many exceptions"),
            ));
        }
        for (i, p) in self.payments.iter().enumerate() {
            p.check(currency)
                .map_err(|e| e.within(&format!("payments[{i}]")))?;
        }
        for (i, x) in self.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            Payee::parse(&x.payee).map_err(|e| e.within(&format!("{field}.payee")))?;
            canonical_amount(&x.amount, currency, &format!("{field}.amount"))?;
            Id::parse(&x.reason).map_err(|e| e.within(&format!("{field}.reason")))?;
        }
        Ok(())
    }
}

/// Body of `batch.submit`: freezes the batch at `digest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSubmitBody {
    pub batch: Id,
    pub award: Id,
    pub digest: String,
    /// 1, or 2 when the total is above the award's dual-approval amount.
    pub approvals_required: u32,
}

impl BatchSubmitBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.batch.check("batch")?;
        self.award.check("award")?;
        check_digest(&self.digest, "digest")?;
        if !(1..=2).contains(&self.approvals_required) {
            return Err(Invalid::new(
                "approvals_required",
                Code::InvalidApprovals,
                "a batch needs one or two approvals",
            ));
        }
        Ok(())
    }
}

/// Body of `batch.approve` and `batch.reject`: the approver's decision on the frozen content
/// named by `digest`. A rejection needs a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchDecisionBody {
    pub batch: Id,
    pub award: Id,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl BatchDecisionBody {
    pub fn check(&self, reason_required: bool) -> Result<(), Invalid> {
        self.batch.check("batch")?;
        self.award.check("award")?;
        check_digest(&self.digest, "digest")?;
        check_reason(
            self.reason.as_deref().unwrap_or(""),
            "reason",
            reason_required,
        )
    }
}

/// Body of `batch.cancel`: the preparer withdraws a batch that was not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchCancelBody {
    pub batch: Id,
    pub award: Id,
    pub reason: String,
}

impl BatchCancelBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.batch.check("batch")?;
        self.award.check("award")?;
        check_reason(&self.reason, "reason", true)
    }
}

/// Body of `batch.file`: a bank file made for an approved batch. Only its digest is kept: the
/// file holds personal data (names and accounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchFileBody {
    pub batch: Id,
    pub award: Id,
    /// `pain.001.001.09` or `csv`.
    pub format: String,
    pub sha256: String,
    pub message_id: String,
    /// RFC 3339 UTC: the file's creation time, so it can be made again byte for byte.
    pub created_at: String,
    pub execution_date: Date,
    pub payments: u64,
    pub control_sum: String,
}

impl BatchFileBody {
    pub fn check(&self, currency: Currency) -> Result<(), Invalid> {
        self.batch.check("batch")?;
        self.award.check("award")?;
        if !FILE_FORMATS.contains(&self.format.as_str()) {
            return Err(Invalid::new(
                "format",
                Code::UnknownFormat,
                format!("a bank file is one of {}", FILE_FORMATS.join(", ")),
            ));
        }
        check_digest(&self.sha256, "sha256")?;
        check_e2e(&self.message_id, "message_id")?;
        if crate::record::parse_time(&self.created_at).is_none() {
            return Err(Invalid::new(
                "created_at",
                Code::InvalidTime,
                "must be an RFC 3339 UTC time",
            ));
        }
        canonical_amount(&self.control_sum, currency, "control_sum")?;
        Ok(())
    }
}

/// Body of `batch.send`: one part of the batch handed to the bank; its postings move each
/// payment from the payee's payable to payments in transit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSendBody {
    pub batch: Id,
    pub award: Id,
    pub part: u32,
    /// The SHA-256 of the bank file sent (a `batch.file` of this batch).
    pub file: String,
    /// The day the batch was sent to the bank.
    pub accounting_date: crate::programme::Date,
    pub postings: Vec<PostingBody>,
}

impl BatchSendBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.batch.check("batch")?;
        self.award.check("award")?;
        check_digest(&self.file, "file")
    }
}

// ---------------------------------------------------------------------------------------------
// Bank files in.

/// Body of `bank.import`: a status report or statement read, by its digest, so that the same
/// file is never applied twice. Its outcomes and exceptions follow in `parts` `bank.status`
/// records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankImportBody {
    pub award: Id,
    /// `pain.002`, `camt.053` or `csv`.
    pub format: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// For pain.002: the message id of the pain.001 it reports on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_message_id: Option<String>,
    /// Payment lines read from the file.
    pub lines: u64,
    pub outcomes: u64,
    pub exceptions: u64,
    pub parts: u32,
    /// For a camt.053: each statement's account, booked balances and booked totals, as the
    /// file states them (what a bank reconciliation ties to).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementBody>,
}

/// Credit (money in) or debit (money out) on the bank account, as a statement line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectionBody {
    Credit,
    Debit,
}

impl DirectionBody {
    pub fn as_str(&self) -> &'static str {
        match self {
            DirectionBody::Credit => "credit",
            DirectionBody::Debit => "debit",
        }
    }
}

/// One statement (`Stmt`) of a camt.053: its id, its account, the date of its closing balance,
/// its opening (`OPBD`) and closing (`CLBD`) booked balances when it states them (signed: a
/// debit balance is negative), and the totals of its booked entries (`Ntry/Amt`) by direction.
/// When both balances are given, `opening + credits - debits = closing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementBody {
    pub id: String,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing: Option<String>,
    /// Booked entries.
    pub entries: u64,
    pub debits: String,
    pub credits: String,
}

/// A signed amount written at the currency's scale ("-12.50", "0.00"), in minor units.
pub fn signed_amount(text: &str, currency: Currency, field: &str) -> Result<i128, Invalid> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let zero = Money::from_minor(0, currency).to_string();
    if !Money::is_canonical_text(digits, currency) || (negative && digits == zero) {
        return Err(Invalid::new(
            field,
            Code::NonCanonicalAmount,
            format!(
                "{text:?} must be an amount with exactly {} decimals, '-' before a negative one",
                currency.minor_units()
            ),
        ));
    }
    let minor = if digits == zero {
        0
    } else {
        i128::from(canonical_amount(digits, currency, field)?.minor())
    };
    Ok(if negative { -minor } else { minor })
}

impl StatementBody {
    /// The stateless rules; the balances must tie to the booked totals.
    pub fn check(&self, currency: Currency) -> Result<(), Invalid> {
        check_reason(&self.id, "id", true)?;
        check_reason(&self.account, "account", true)?;
        let debits = signed_amount(&self.debits, currency, "debits")?;
        let credits = signed_amount(&self.credits, currency, "credits")?;
        if debits < 0 || credits < 0 {
            return Err(Invalid::new(
                if debits < 0 { "debits" } else { "credits" },
                Code::AmountNotPositive,
                "a total of entries is never negative",
            ));
        }
        let opening = self
            .opening
            .as_deref()
            .map(|t| signed_amount(t, currency, "opening"))
            .transpose()?;
        let closing = self
            .closing
            .as_deref()
            .map(|t| signed_amount(t, currency, "closing"))
            .transpose()?;
        if let (Some(o), Some(c)) = (opening, closing) {
            if o + credits - debits != c {
                return Err(Invalid::new(
                    "closing",
                    Code::StatementUnbalanced,
                    format!(
                        "statement {}: opening balance {} + credits {} - debits {} is {}, \
                         but the closing balance is {}",
                        self.id,
                        format_minor(o, currency),
                        self.credits,
                        self.debits,
                        format_minor(o + credits - debits, currency),
                        format_minor(c, currency)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Where a statement line is: its element path (`Stmt[1]/Ntry[4]/NtryDtls/TxDtls[2]`) and its
/// entry's references, for the lines of a camt.053.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRefs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<DirectionBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `Ntry/NtryRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_ref: Option<String>,
    /// `Ntry/AcctSvcrRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicer_ref: Option<String>,
}

impl LineRefs {
    pub fn check(&self) -> Result<(), Invalid> {
        for (field, v) in [
            ("path", &self.path),
            ("entry_ref", &self.entry_ref),
            ("servicer_ref", &self.servicer_ref),
        ] {
            if let Some(text) = v {
                check_reason(text, field, true)?;
            }
        }
        Ok(())
    }

    /// How a reconciliation names the line: its references and path.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(r) = &self.entry_ref {
            parts.push(format!("NtryRef {r}"));
        }
        if let Some(r) = &self.servicer_ref {
            parts.push(format!("AcctSvcrRef {r}"));
        }
        if let Some(p) = &self.path {
            parts.push(p.clone());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

impl BankImportBody {
    pub fn check(&self, currency: Currency) -> Result<(), Invalid> {
        self.award.check("award")?;
        if !IMPORT_FORMATS.contains(&self.format.as_str()) {
            return Err(Invalid::new(
                "format",
                Code::UnknownFormat,
                format!("a status file is one of {}", IMPORT_FORMATS.join(", ")),
            ));
        }
        check_digest(&self.sha256, "sha256")?;
        for (field, v) in [
            ("message_id", &self.message_id),
            ("original_message_id", &self.original_message_id),
        ] {
            if let Some(text) = v {
                check_reason(text, field, true)?;
            }
        }
        if self.parts == 0 {
            return Err(Invalid::new(
                "parts",
                Code::NoParts,
                "an import has at least one part",
            ));
        }
        if !self.statements.is_empty() && self.format != "camt.053" {
            return Err(Invalid::new(
                "statements",
                Code::UnexpectedField,
                "only a camt.053 states statements",
            ));
        }
        for (i, st) in self.statements.iter().enumerate() {
            st.check(currency)
                .map_err(|e| e.within(&format!("statements[{i}]")))?;
        }
        Ok(())
    }
}

/// What the bank says happened to one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Accepted for execution; still in transit.
    Accepted,
    /// Booked: the money left the programme's account.
    Confirmed,
    /// Refused: the money never left.
    Rejected,
    /// Came back after being sent or booked.
    Returned,
}

impl PaymentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentStatus::Accepted => "accepted",
            PaymentStatus::Confirmed => "confirmed",
            PaymentStatus::Rejected => "rejected",
            PaymentStatus::Returned => "returned",
        }
    }
}

/// One outcome applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    pub e2e: String,
    pub status: PaymentStatus,
    pub amount: String,
    /// The bank's reason code (ISO 20022 `ExternalStatusReason1Code` or return reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The file line (XML line or CSV line) it came from.
    pub line: u64,
    /// Where the line is in a camt.053, and its direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<LineRefs>,
}

/// One line of the file that posted nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportExceptionBody {
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e: Option<String>,
    /// The amount the line states, at its currency's scale, when it states one (so a bank
    /// reconciliation can show what the statement says was paid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// `unknown_end_to_end_id`, `amount_mismatch`, `currency_mismatch`, `already_confirmed` …
    pub code: String,
    pub detail: String,
    /// Where the line is in a camt.053, and its direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<LineRefs>,
}

/// Body of `bank.status`: outcomes of one import, and the postings they cause (in transit to
/// bank for confirmations, back to the payee's payable for rejections and returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankStatusBody {
    pub award: Id,
    /// The `bank.import` this part belongs to (its file's SHA-256).
    pub import: String,
    pub part: u32,
    /// The booking date of the statement or status lines of this part (a part holds the
    /// lines of one date); for a pain.002, the day of the report.
    pub accounting_date: crate::programme::Date,
    pub outcomes: Vec<OutcomeBody>,
    #[serde(default)]
    pub exceptions: Vec<ImportExceptionBody>,
    #[serde(default)]
    pub postings: Vec<PostingBody>,
}

impl BankStatusBody {
    pub fn check(&self, currency: Currency) -> Result<(), Invalid> {
        self.award.check("award")?;
        check_digest(&self.import, "import")?;
        if self.outcomes.len() > OUTCOMES_PER_PART || self.exceptions.len() > OUTCOMES_PER_PART {
            return Err(Invalid::new(
                "outcomes",
                Code::PartTooLarge,
                format!("a part holds at most {OUTCOMES_PER_PART} outcomes and as many exceptions"),
            ));
        }
        for (i, o) in self.outcomes.iter().enumerate() {
            let field = format!("outcomes[{i}]");
            check_e2e(&o.e2e, &format!("{field}.e2e"))?;
            canonical_amount(&o.amount, currency, &format!("{field}.amount"))?;
            if let Some(r) = &o.reason {
                check_reason(r, &format!("{field}.reason"), true)?;
            }
            if let Some(at) = &o.at {
                at.check().map_err(|e| e.within(&format!("{field}.at")))?;
            }
        }
        for (i, x) in self.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            Id::parse(&x.code).map_err(|e| e.within(&format!("{field}.code")))?;
            check_reason(&x.detail, &format!("{field}.detail"), false)?;
            if let Some(at) = &x.at {
                at.check().map_err(|e| e.within(&format!("{field}.at")))?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The batch digest.

/// SHA-256 over the canonical bytes of the batch header and of each part in order, each
/// followed by `\n`: what `batch.submit` freezes and every approval names.
#[derive(Debug, Clone, Default)]
pub struct BatchDigest(Sha256);

impl BatchDigest {
    pub fn new() -> Self {
        BatchDigest(Sha256::new())
    }

    /// Adds the body of `batch.create` or of the next `batch.part`.
    pub fn add(&mut self, body: &Value) {
        let bytes = canonical_bytes(body).expect("record bodies are canonical JSON values");
        self.0.update(&bytes);
        self.0.update(b"\n");
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0.clone().finalize())
    }
}

/// The digest of a batch from its header and parts.
pub fn batch_digest(create: &BatchCreateBody, parts: &[BatchPartBody]) -> String {
    let mut d = BatchDigest::new();
    d.add(&serde_json::to_value(create).expect("plain data"));
    for p in parts {
        d.add(&serde_json::to_value(p).expect("plain data"));
    }
    d.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payees_round_trip_and_name_their_payable() {
        let award = Id::parse("PRM-2026").expect("valid");
        let p = Payee::parse("participant:P-0001").expect("valid");
        assert_eq!(p.to_string(), "participant:P-0001");
        assert_eq!(p.payable(&award), "payable:PRM-2026:participant:P-0001");
        assert_eq!(
            Payee::of_payable(&award, "payable:PRM-2026:vendor:cecap"),
            Some(Payee::Vendor(Id::parse("cecap").expect("valid")))
        );
        assert_eq!(Payee::of_payable(&award, "bank:PRM-2026"), None);
        assert_eq!(
            Payee::parse("donor:x").map_err(|e| e.code.as_str()),
            Err("invalid_payee")
        );
    }

    #[test]
    fn end_to_end_ids_fit_pain001() {
        let b = Id::parse("B000001").expect("valid");
        assert_eq!(e2e_id(&b, 7), "B000001-000007");
        assert!(check_e2e(&"X".repeat(36), "e2e").is_err());
        assert!(check_e2e("B1 2", "e2e").is_err());
    }

    #[test]
    fn a_batch_in_another_currency_is_refused() {
        let body = BatchCreateBody {
            batch: Id::parse("B000001").expect("valid"),
            award: Id::parse("A").expect("valid"),
            currency: "EUR".into(),
            filter: BatchFilter::default(),
            payments: 1,
            total: "1.00".into(),
            exceptions: 0,
            parts: 1,
        };
        let e = body
            .check(Currency::parse("USD").expect("known"))
            .expect_err("another currency");
        assert_eq!(
            (e.field.as_str(), e.code.as_str()),
            ("currency", "currency_mismatch")
        );
    }

    #[test]
    fn the_digest_changes_with_any_payment() {
        let create = BatchCreateBody {
            batch: Id::parse("B000001").expect("valid"),
            award: Id::parse("A").expect("valid"),
            currency: "USD".into(),
            filter: BatchFilter::default(),
            payments: 1,
            total: "60.00".into(),
            exceptions: 0,
            parts: 1,
        };
        let mut part = BatchPartBody {
            batch: create.batch.clone(),
            award: create.award.clone(),
            part: 0,
            payments: vec![PaymentBody {
                e2e: "B000001-000001".into(),
                payee: "participant:P1".into(),
                amount: "60.00".into(),
                entitlements: vec![10],
                reissues: vec![],
            }],
            exceptions: vec![],
        };
        let a = batch_digest(&create, std::slice::from_ref(&part));
        part.payments[0].amount = "60.01".into();
        assert_ne!(a, batch_digest(&create, &[part]));
        assert_eq!(a.len(), 64);
    }
}
