//! pain.001.001.09 out (customer credit transfer initiation), the same payments as plain CSV,
//! and the structural checker of a pain.001.001.09 file.

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use quick_xml::events::BytesStart;
use rust_decimal::Decimal;
use tranche_audit::disburse::AccountTypeBody;
use tranche_audit::money::{format_minor, Currency, Money, MAX_AMOUNT_MINOR};
use tranche_audit::Code;
use tranche_audit::Invalid;

use super::xml::{required_attribute, walk, Ctx, Handler, Spec};
use super::{is_forbidden_char, parse_money, Iso20022Error, MAX_FILE_BYTES};
use crate::csv::push_cell;

/// The namespace of the messages [`write_pain001`] writes and [`check_pain001`] reads.
pub const PAIN001_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";

/// The header line of [`write_payments_csv`].
pub const PAYMENTS_CSV_HEADER: &str =
    "end_to_end_id,creditor_name,creditor_account,amount,currency,reference";

/// `Max35Text`: message, payment information, instruction and end-to-end ids.
const MAX_ID_CHARS: usize = 35;
/// `Max140Text`: names and unstructured remittance information (longer text is truncated).
const MAX_TEXT_CHARS: usize = 140;
/// `Max34Text`: `Othr/Id` of an account.
const MAX_ACCOUNT_CHARS: usize = 34;

/// An account as pain.001 names it: an IBAN, or another identifier (`Othr/Id`) such as a
/// mobile-money number or a national account number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountId {
    /// An IBAN; spaces are removed and letters upper-cased, and it must be valid: its country's
    /// length and format and its check digits, as the `iban_validate` crate checks them.
    Iban(String),
    /// Any other identifier, at most 34 characters.
    Other(String),
}

/// The shortest IBAN (Norway's) has 15 characters.
const MIN_IBAN_CHARS: usize = 15;

impl AccountId {
    /// Names an account as people write it, spaces dropped: an IBAN when it is written like one
    /// (at least 15 characters, starting with two letters and two digits), anything else, such
    /// as an Ecuadorian account number (`2100456789`) or a mobile-money number, another
    /// identifier. Whether the IBAN is valid is checked by [`check_account`], and again when a
    /// bank file is written.
    pub fn from_text(text: &str) -> AccountId {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let b = compact.as_bytes();
        let iban_like = b.len() >= MIN_IBAN_CHARS
            && b[..2].iter().all(u8::is_ascii_alphabetic)
            && b[2..4].iter().all(u8::is_ascii_digit);
        if iban_like {
            AccountId::Iban(compact.to_ascii_uppercase())
        } else {
            AccountId::Other(compact)
        }
    }
}

/// An account where one is accepted (a participant's bank account, the paying and vendor
/// accounts of an award): [`AccountId::from_text`], refusing an account written like an IBAN
/// that is not a valid one (`invalid_iban`, naming `field`) before it can reach a bank file.
pub fn check_account(field: &str, text: &str) -> Result<AccountId, Invalid> {
    let account = AccountId::from_text(text);
    if let AccountId::Iban(iban) = &account {
        valid_iban(iban).map_err(|detail| Invalid::new(field, Code::InvalidIban, detail))?;
    }
    Ok(account)
}

/// The electronic form of an IBAN (no spaces, upper case), or why `text` is not a valid one.
fn valid_iban(text: &str) -> Result<String, String> {
    use iban::{IbanLike as _, ParseBaseIbanError, ParseIbanError};
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let why = match compact.parse::<iban::Iban>() {
        Ok(iban) => return Ok(iban.electronic_str().to_string()),
        Err(ParseIbanError::InvalidBaseIban {
            source: ParseBaseIbanError::InvalidChecksum,
        }) => "its check digits do not match (mod 97): a character is mistyped or missing".into(),
        Err(ParseIbanError::InvalidBaseIban {
            source: ParseBaseIbanError::InvalidFormat,
        }) => "an IBAN is two letters, two digits and up to 30 letters and digits".into(),
        Err(ParseIbanError::InvalidBban(base)) => format!(
            "it does not have the length and format of an IBAN of {}",
            base.country_code()
        ),
        Err(ParseIbanError::UnknownCountry(base)) => {
            format!("{} is not a country that uses IBANs", base.country_code())
        }
    };
    Err(format!("{text:?} is not a valid IBAN: {why}"))
}

/// The paying party: the programme's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debtor {
    /// `Dbtr/Nm` (truncated to 140 characters).
    pub name: String,
    /// `DbtrAcct/Id`.
    pub account: AccountId,
    /// `DbtrAgt/FinInstnId/BICFI`; without it or a bank code the agent is written as
    /// `Othr/Id` NOTPROVIDED.
    pub agent_bic: Option<String>,
    /// `DbtrAgt/FinInstnId/ClrSysMmbId/MmbId`: the bank's national code.
    pub bank_code: Option<String>,
    /// `DbtrAcct/Tp/Cd`: `SVGS` or `CACC`.
    pub account_type: Option<AccountTypeBody>,
}

/// One payment (`CdtTrfTxInf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditTransfer {
    /// `PmtId/EndToEndId`: at most 35 characters, unique in the file; the bank returns it in
    /// status reports and statements.
    pub end_to_end_id: String,
    /// `PmtId/InstrId`: at most 35 characters.
    pub instruction_id: String,
    /// The amount in minor units (cents for USD, pesos for CLP); positive.
    pub amount_minor: i64,
    /// The amount's currency: the file's.
    pub currency: Currency,
    /// `Cdtr/Nm` (truncated to 140 characters).
    pub creditor_name: String,
    /// `CdtrAcct/Id`.
    pub creditor_account: AccountId,
    /// `CdtrAgt/FinInstnId/BICFI`, written only when known.
    pub creditor_agent_bic: Option<String>,
    /// `CdtrAgt/FinInstnId/ClrSysMmbId/MmbId`, written only when known.
    pub creditor_bank_code: Option<String>,
    /// `CdtrAcct/Tp/Cd`, written only when known.
    pub creditor_account_type: Option<AccountTypeBody>,
    /// `RmtInf/Ustrd` (truncated to 140 characters).
    pub remittance: Option<String>,
}

/// A customer credit transfer initiation: one debtor, one currency, one requested execution
/// date, many payments. Written as one `PmtInf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditTransferInitiation {
    /// `GrpHdr/MsgId`: at most 35 characters, unique per bank.
    pub message_id: String,
    /// `GrpHdr/CreDtTm`.
    pub created_at: DateTime<Utc>,
    /// `GrpHdr/InitgPty/Nm`.
    pub initiating_party: String,
    /// `PmtInf/PmtInfId`; the message id when `None`.
    pub payment_info_id: Option<String>,
    /// `PmtInf/ReqdExctnDt/Dt`.
    pub requested_execution_date: NaiveDate,
    /// `Dbtr`, `DbtrAcct`, `DbtrAgt`.
    pub debtor: Debtor,
    /// The currency of every payment.
    pub currency: Currency,
    /// The payments, in file order; at least one.
    pub payments: Vec<CreditTransfer>,
}

fn input_error(field: impl Into<String>, code: Code, detail: impl Into<String>) -> Iso20022Error {
    Iso20022Error::InvalidValue {
        path: field.into(),
        position: None,
        code,
        detail: detail.into(),
    }
}

fn check_chars(field: &str, value: &str) -> Result<(), Iso20022Error> {
    if let Some(c) = value.chars().find(|c| is_forbidden_char(*c)) {
        return Err(input_error(
            field,
            Code::ControlCharacter,
            format!("holds the control character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(())
}

/// An identifier: 1 to 35 characters, no control characters, no surrounding spaces. Never
/// truncated: a cut id would no longer match.
fn check_id<'a>(field: &str, value: &'a str) -> Result<&'a str, Iso20022Error> {
    check_chars(field, value)?;
    if value.is_empty() {
        return Err(input_error(field, Code::Empty, "must not be empty"));
    }
    if value.trim() != value {
        return Err(input_error(
            field,
            Code::InvalidValue,
            "must not start or end with a space",
        ));
    }
    let n = value.chars().count();
    if n > MAX_ID_CHARS {
        return Err(input_error(
            field,
            Code::TooLong,
            format!("has {n} characters; at most {MAX_ID_CHARS} are allowed"),
        ));
    }
    Ok(value)
}

/// Free text (names, remittance): trimmed, no control characters, cut to `max` characters.
fn clean_text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, Iso20022Error> {
    check_chars(field, value)?;
    let value = value.trim();
    if value.is_empty() {
        return Err(input_error(field, Code::Empty, "must not be empty"));
    }
    let cut = value
        .char_indices()
        .nth(max)
        .map_or(value, |(i, _)| &value[..i]);
    Ok(cut.trim_end())
}

/// Whether an account is an IBAN, and its normalised identifier.
fn normalise_account(field: &str, account: &AccountId) -> Result<(bool, String), Iso20022Error> {
    match account {
        AccountId::Iban(raw) => {
            check_chars(field, raw)?;
            let iban =
                valid_iban(raw).map_err(|detail| input_error(field, Code::InvalidIban, detail))?;
            Ok((true, iban))
        }
        AccountId::Other(raw) => {
            check_chars(field, raw)?;
            let id = raw.trim();
            if id.is_empty() {
                return Err(input_error(field, Code::Empty, "must not be empty"));
            }
            let n = id.chars().count();
            if n > MAX_ACCOUNT_CHARS {
                return Err(input_error(
                    field,
                    Code::TooLong,
                    format!("has {n} characters; at most {MAX_ACCOUNT_CHARS} are allowed"),
                ));
            }
            Ok((false, id.to_string()))
        }
    }
}

/// A BIC (ISO 9362): 8 or 11 characters, `AAAA BB CC (DDD)`.
fn check_bic<'a>(field: &str, bic: &'a str) -> Result<&'a str, Iso20022Error> {
    let b = bic.as_bytes();
    let ok = (b.len() == 8 || b.len() == 11)
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b[4..6].iter().all(u8::is_ascii_uppercase);
    if !ok {
        return Err(input_error(
            field,
            Code::InvalidBic,
            format!("{bic:?} is not a BIC (8 or 11 upper-case letters and digits)"),
        ));
    }
    Ok(bic)
}

/// A national bank code (`ClrSysMmbId/MmbId`): 3 to 11 digits.
fn check_bank_code<'a>(field: &str, code: &'a str) -> Result<&'a str, Iso20022Error> {
    if !(3..=11).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(input_error(
            field,
            Code::InvalidBankCode,
            format!("{code:?} is not a national bank code (3 to 11 digits)"),
        ));
    }
    Ok(code)
}

/// Appends `text` with the five XML special characters escaped.
fn push_escaped(out: &mut String, text: &str) {
    out.push_str(&quick_xml::escape::escape(text));
}

/// `<tag>escaped text</tag>`.
fn element(out: &mut String, tag: &str, text: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    push_escaped(out, text);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn account_xml(out: &mut String, tag: &str, iban: bool, id: &str, tp: Option<AccountTypeBody>) {
    out.push('<');
    out.push_str(tag);
    out.push_str("><Id>");
    if iban {
        element(out, "IBAN", id);
    } else {
        out.push_str("<Othr>");
        element(out, "Id", id);
        out.push_str("</Othr>");
    }
    out.push_str("</Id>");
    if let Some(tp) = tp {
        out.push_str("<Tp>");
        element(out, "Cd", tp.iso_code());
        out.push_str("</Tp>");
    }
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn agent_xml(out: &mut String, tag: &str, bic: Option<&str>, code: Option<&str>) {
    out.push('<');
    out.push_str(tag);
    out.push_str("><FinInstnId>");
    if let Some(bic) = bic {
        element(out, "BICFI", bic);
    }
    if let Some(code) = code {
        out.push_str("<ClrSysMmbId>");
        element(out, "MmbId", code);
        out.push_str("</ClrSysMmbId>");
    }
    if bic.is_none() && code.is_none() {
        out.push_str("<Othr><Id>NOTPROVIDED</Id></Othr>");
    }
    out.push_str("</FinInstnId></");
    out.push_str(tag);
    out.push('>');
}

/// One payment, checked and normalised, ready to write.
struct CheckedPayment<'a> {
    end_to_end_id: &'a str,
    instruction_id: &'a str,
    amount: Money,
    creditor_name: &'a str,
    iban: bool,
    account: String,
    agent_bic: Option<&'a str>,
    bank_code: Option<&'a str>,
    account_type: Option<AccountTypeBody>,
    remittance: Option<&'a str>,
}

fn check_payment<'a>(
    i: usize,
    p: &'a CreditTransfer,
    seen: &mut HashSet<&'a str>,
) -> Result<CheckedPayment<'a>, Iso20022Error> {
    let field = |name: &str| format!("payments[{i}].{name}");
    let end_to_end_id = check_id(&field("end_to_end_id"), &p.end_to_end_id)?;
    if !seen.insert(end_to_end_id) {
        return Err(Iso20022Error::DuplicateEndToEndId {
            path: field("end_to_end_id"),
            position: None,
            id: end_to_end_id.to_string(),
        });
    }
    let instruction_id = check_id(&field("instruction_id"), &p.instruction_id)?;
    if p.amount_minor <= 0 || p.amount_minor > MAX_AMOUNT_MINOR {
        return Err(Iso20022Error::InvalidAmount {
            path: field("amount_minor"),
            position: None,
            code: if p.amount_minor <= 0 {
                Code::AmountNotPositive
            } else {
                Code::AmountTooLarge
            },
            detail: format!(
                "{} minor units: an amount must be positive and at most {MAX_AMOUNT_MINOR}",
                p.amount_minor
            ),
        });
    }
    let creditor_name = clean_text(&field("creditor_name"), &p.creditor_name, MAX_TEXT_CHARS)?;
    let (iban, account) = normalise_account(&field("creditor_account"), &p.creditor_account)?;
    let agent_bic = p
        .creditor_agent_bic
        .as_deref()
        .map(|b| check_bic(&field("creditor_agent_bic"), b))
        .transpose()?;
    let bank_code = p
        .creditor_bank_code
        .as_deref()
        .map(|c| check_bank_code(&field("creditor_bank_code"), c))
        .transpose()?;
    let remittance = match p.remittance.as_deref() {
        Some(r) if !r.trim().is_empty() => {
            Some(clean_text(&field("remittance"), r, MAX_TEXT_CHARS)?)
        }
        _ => None,
    };
    Ok(CheckedPayment {
        end_to_end_id,
        instruction_id,
        amount: Money::from_minor(p.amount_minor, p.currency),
        creditor_name,
        iban,
        account,
        agent_bic,
        bank_code,
        account_type: p.creditor_account_type,
        remittance,
    })
}

/// Writes a pain.001.001.09 document: `GrpHdr` (MsgId, CreDtTm, NbOfTxs, CtrlSum, InitgPty/Nm)
/// and one `PmtInf` (PmtInfId, PmtMtd TRF, NbOfTxs, CtrlSum, ReqdExctnDt/Dt, Dbtr, DbtrAcct,
/// DbtrAgt, and one `CdtTrfTxInf` per payment, each on its own line). Amounts carry exactly the
/// currency's decimals (`60.00`, CLP `1500`); text is escaped; names and remittance are cut to
/// 140 characters; ids are never cut (too long is an error), and so are control characters,
/// duplicate end-to-end ids, bad IBANs and BICs, a payment in another currency, and an output
/// over [`MAX_FILE_BYTES`]. Errors name the input field (`payments[3].creditor_name`).
pub fn write_pain001(batch: &CreditTransferInitiation) -> Result<String, Iso20022Error> {
    let message_id = check_id("message_id", &batch.message_id)?;
    let payment_info_id = match &batch.payment_info_id {
        Some(id) => check_id("payment_info_id", id)?,
        None => message_id,
    };
    let initiating_party = clean_text("initiating_party", &batch.initiating_party, MAX_TEXT_CHARS)?;
    let debtor_name = clean_text("debtor.name", &batch.debtor.name, MAX_TEXT_CHARS)?;
    let (debtor_iban, debtor_account) = normalise_account("debtor.account", &batch.debtor.account)?;
    let debtor_bic = batch
        .debtor
        .agent_bic
        .as_deref()
        .map(|b| check_bic("debtor.agent_bic", b))
        .transpose()?;
    let debtor_bank_code = batch
        .debtor
        .bank_code
        .as_deref()
        .map(|c| check_bank_code("debtor.bank_code", c))
        .transpose()?;
    if batch.payments.is_empty() {
        return Err(input_error(
            "payments",
            Code::Empty,
            "a pain.001 needs at least one payment",
        ));
    }
    let mut seen = HashSet::with_capacity(batch.payments.len());
    let mut payments = Vec::with_capacity(batch.payments.len());
    let mut total: i128 = 0;
    for (i, p) in batch.payments.iter().enumerate() {
        if p.currency != batch.currency {
            return Err(input_error(
                format!("payments[{i}].currency"),
                Code::CurrencyMismatch,
                format!(
                    "the payment is in {} but the file is in {}: one pain.001 carries one currency",
                    p.currency, batch.currency
                ),
            ));
        }
        let checked = check_payment(i, p, &mut seen)?;
        total += i128::from(p.amount_minor);
        payments.push(checked);
    }
    let count = payments.len().to_string();
    let control_sum = format_minor(total, batch.currency);

    let mut out = String::with_capacity(1024 + payments.len() * 420);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<Document xmlns=\"");
    out.push_str(PAIN001_NAMESPACE);
    out.push_str("\">\n<CstmrCdtTrfInitn>\n<GrpHdr>\n");
    element(&mut out, "MsgId", message_id);
    out.push('\n');
    element(
        &mut out,
        "CreDtTm",
        &batch.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    out.push('\n');
    element(&mut out, "NbOfTxs", &count);
    out.push('\n');
    element(&mut out, "CtrlSum", &control_sum);
    out.push_str("\n<InitgPty>");
    element(&mut out, "Nm", initiating_party);
    out.push_str("</InitgPty>\n</GrpHdr>\n<PmtInf>\n");
    element(&mut out, "PmtInfId", payment_info_id);
    out.push_str("\n<PmtMtd>TRF</PmtMtd>\n");
    element(&mut out, "NbOfTxs", &count);
    out.push('\n');
    element(&mut out, "CtrlSum", &control_sum);
    out.push_str("\n<ReqdExctnDt>");
    element(
        &mut out,
        "Dt",
        &batch
            .requested_execution_date
            .format("%Y-%m-%d")
            .to_string(),
    );
    out.push_str("</ReqdExctnDt>\n<Dbtr>");
    element(&mut out, "Nm", debtor_name);
    out.push_str("</Dbtr>\n");
    account_xml(
        &mut out,
        "DbtrAcct",
        debtor_iban,
        &debtor_account,
        batch.debtor.account_type,
    );
    out.push('\n');
    agent_xml(&mut out, "DbtrAgt", debtor_bic, debtor_bank_code);
    out.push('\n');
    let currency = batch.currency.code();
    for p in &payments {
        out.push_str("<CdtTrfTxInf><PmtId>");
        element(&mut out, "InstrId", p.instruction_id);
        element(&mut out, "EndToEndId", p.end_to_end_id);
        out.push_str("</PmtId><Amt><InstdAmt Ccy=\"");
        out.push_str(currency);
        out.push_str("\">");
        out.push_str(&p.amount.to_string());
        out.push_str("</InstdAmt></Amt>");
        if p.agent_bic.is_some() || p.bank_code.is_some() {
            agent_xml(&mut out, "CdtrAgt", p.agent_bic, p.bank_code);
        }
        out.push_str("<Cdtr>");
        element(&mut out, "Nm", p.creditor_name);
        out.push_str("</Cdtr>");
        account_xml(&mut out, "CdtrAcct", p.iban, &p.account, p.account_type);
        if let Some(r) = p.remittance {
            out.push_str("<RmtInf>");
            element(&mut out, "Ustrd", r);
            out.push_str("</RmtInf>");
        }
        out.push_str("</CdtTrfTxInf>\n");
    }
    out.push_str("</PmtInf>\n</CstmrCdtTrfInitn>\n</Document>\n");
    if out.len() > MAX_FILE_BYTES {
        return Err(Iso20022Error::TooLarge {
            size: out.len() as u64,
            limit: MAX_FILE_BYTES as u64,
        });
    }
    Ok(out)
}

/// Writes the payments as plain CSV for banks and mobile-money providers without ISO 20022:
/// the header [`PAYMENTS_CSV_HEADER`], then one row per payment, CRLF line ends, cells quoted
/// per RFC 4180. A cell starting with `=`, `+`, `-` or `@` is defused with a leading `'` so that
/// no spreadsheet runs it as a formula, except a phone number (`+` and digits only), which
/// cannot be one. The same checks as [`write_pain001`] apply (ids, names, accounts, amounts,
/// unique end-to-end ids); payments may be in several currencies.
pub fn write_payments_csv(payments: &[CreditTransfer]) -> Result<String, Iso20022Error> {
    let mut seen = HashSet::with_capacity(payments.len());
    let mut out = String::with_capacity(64 + payments.len() * 120);
    out.push_str(PAYMENTS_CSV_HEADER);
    out.push_str("\r\n");
    for (i, p) in payments.iter().enumerate() {
        let c = check_payment(i, p, &mut seen)?;
        let amount = c.amount.to_string();
        let cells = [
            c.end_to_end_id,
            c.creditor_name,
            c.account.as_str(),
            amount.as_str(),
            p.currency.code(),
            c.remittance.unwrap_or(""),
        ];
        for (k, cell) in cells.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            push_cell(&mut out, cell);
        }
        out.push_str("\r\n");
    }
    Ok(out)
}

/// What [`check_pain001`] found in a well-formed pain.001.001.09.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pain001Summary {
    /// `GrpHdr/MsgId`.
    pub message_id: String,
    /// How many `PmtInf` blocks.
    pub payment_infos: usize,
    /// How many transactions (equal to `GrpHdr/NbOfTxs`).
    pub number_of_transactions: u64,
    /// The sum of all amounts (equal to `GrpHdr/CtrlSum` when present).
    pub control_sum: Decimal,
    /// Every transaction's end-to-end id and amount, in file order.
    pub payments: Vec<(String, Money)>,
}

/// A count or sum as the file states it, with where it was.
#[derive(Debug)]
struct Stated<T> {
    value: T,
    path: String,
    byte: u64,
}

#[derive(Debug, Default)]
struct PmtInfState {
    id: bool,
    count: u64,
    sum: Decimal,
    stated_count: Option<Stated<u64>>,
    stated_sum: Option<Stated<Decimal>>,
}

#[derive(Debug, Default)]
struct TxState {
    end_to_end_id: Option<String>,
    currency: Option<String>,
    amount: Option<Money>,
}

#[derive(Debug, Default)]
struct Checker {
    message_id: Option<String>,
    header: bool,
    stated_count: Option<Stated<u64>>,
    stated_sum: Option<Stated<Decimal>>,
    payment_infos: usize,
    pmt_inf: Option<PmtInfState>,
    tx: Option<TxState>,
    seen: HashSet<String>,
    payments: Vec<(String, Money)>,
    sum: Decimal,
}

const DOC: &str = "Document";
const ROOT: &str = "CstmrCdtTrfInitn";

fn parse_count(ctx: &mut Ctx<'_>, text: &str) -> Result<Stated<u64>, Iso20022Error> {
    let t = text.trim();
    if t.is_empty() || t.len() > 15 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ctx.invalid(
            Code::InvalidValue,
            format!("{t:?} is not a count (1 to 15 digits)"),
        ));
    }
    let value = t
        .parse()
        .map_err(|_| ctx.invalid(Code::InvalidValue, format!("{t:?} is not a count")))?;
    Ok(Stated {
        value,
        path: ctx.path(),
        byte: ctx.start_at(ctx.depth()),
    })
}

fn parse_sum(ctx: &mut Ctx<'_>, text: &str) -> Result<Stated<Decimal>, Iso20022Error> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let value = if digits(int) && digits(frac) && int.len() + frac.len() <= 18 {
        Decimal::from_str(t).ok()
    } else {
        None
    };
    let Some(value) = value else {
        return Err(ctx.invalid(
            Code::InvalidValue,
            format!("{t:?} is not a control sum (a decimal number of at most 18 digits)"),
        ));
    };
    Ok(Stated {
        value,
        path: ctx.path(),
        byte: ctx.start_at(ctx.depth()),
    })
}

fn compare(
    ctx: &mut Ctx<'_>,
    what: &str,
    count: u64,
    sum: Decimal,
    stated_count: &Option<Stated<u64>>,
    stated_sum: &Option<Stated<Decimal>>,
) -> Result<(), Iso20022Error> {
    if let Some(s) = stated_count {
        if s.value != count {
            return Err(Iso20022Error::InvalidValue {
                path: s.path.clone(),
                position: Some(ctx.position_of(s.byte)),
                code: Code::CountMismatch,
                detail: format!("{what} states {} transactions but holds {count}", s.value),
            });
        }
    }
    if let Some(s) = stated_sum {
        if s.value != sum {
            return Err(Iso20022Error::InvalidValue {
                path: s.path.clone(),
                position: Some(ctx.position_of(s.byte)),
                code: Code::ControlSumMismatch,
                detail: format!(
                    "{what} states a control sum of {} but its amounts add up to {sum}",
                    s.value
                ),
            });
        }
    }
    Ok(())
}

impl Handler for Checker {
    fn start(&mut self, ctx: &mut Ctx<'_>, element: &BytesStart<'_>) -> Result<(), Iso20022Error> {
        if ctx.depth() == 3 && ctx.is(&[DOC, ROOT, "PmtInf"]) {
            self.pmt_inf = Some(PmtInfState::default());
            self.payment_infos += 1;
        } else if ctx.depth() == 3 && ctx.is(&[DOC, ROOT, "GrpHdr"]) {
            self.header = true;
        } else if ctx.rel(2, &["PmtInf", "CdtTrfTxInf"]) {
            self.tx = Some(TxState::default());
        } else if ctx.rel(2, &["PmtInf", "CdtTrfTxInf", "Amt", "InstdAmt"]) {
            let ccy = required_attribute(ctx, element, "Ccy")?;
            if let Some(tx) = &mut self.tx {
                tx.currency = Some(ccy);
            }
        }
        Ok(())
    }

    fn end(&mut self, ctx: &mut Ctx<'_>, text: &str) -> Result<(), Iso20022Error> {
        let depth = ctx.depth();
        if ctx.rel(2, &["PmtInf", "CdtTrfTxInf", "PmtId", "EndToEndId"]) {
            let id = text.trim();
            let n = id.chars().count();
            if n == 0 || n > MAX_ID_CHARS {
                return Err(ctx.invalid(
                    if n == 0 { Code::Empty } else { Code::TooLong },
                    format!("an end-to-end id has 1 to {MAX_ID_CHARS} characters, found {n}"),
                ));
            }
            if self.seen.contains(id) {
                return Err(Iso20022Error::DuplicateEndToEndId {
                    path: ctx.path(),
                    position: Some(ctx.position()),
                    id: id.to_string(),
                });
            }
            self.seen.insert(id.to_string());
            if let Some(tx) = &mut self.tx {
                tx.end_to_end_id = Some(id.to_string());
            }
        } else if ctx.rel(2, &["PmtInf", "CdtTrfTxInf", "Amt", "InstdAmt"]) {
            let ccy = self
                .tx
                .as_ref()
                .and_then(|t| t.currency.clone())
                .unwrap_or_default();
            let amount = parse_money(text.trim(), &ccy, false)
                .map_err(|e| e.at(ctx.path(), Some(ctx.position())))?;
            if let Some(tx) = &mut self.tx {
                tx.amount = Some(amount);
            }
        } else if ctx.rel(2, &["PmtInf", "CdtTrfTxInf"]) {
            let tx = self.tx.take().unwrap_or_default();
            let Some(id) = tx.end_to_end_id else {
                return Err(ctx.missing(depth, "PmtId/EndToEndId"));
            };
            let Some(amount) = tx.amount else {
                return Err(ctx.missing(depth, "Amt/InstdAmt"));
            };
            if let Some(p) = &mut self.pmt_inf {
                p.count += 1;
                p.sum += amount.amount();
            }
            self.sum += amount.amount();
            self.payments.push((id, amount));
        } else if ctx.is(&[DOC, ROOT, "PmtInf", "PmtInfId"]) {
            if let Some(p) = &mut self.pmt_inf {
                p.id = !text.trim().is_empty();
            }
        } else if ctx.is(&[DOC, ROOT, "PmtInf", "NbOfTxs"]) {
            let stated = parse_count(ctx, text)?;
            if let Some(p) = &mut self.pmt_inf {
                p.stated_count = Some(stated);
            }
        } else if ctx.is(&[DOC, ROOT, "PmtInf", "CtrlSum"]) {
            let stated = parse_sum(ctx, text)?;
            if let Some(p) = &mut self.pmt_inf {
                p.stated_sum = Some(stated);
            }
        } else if ctx.is(&[DOC, ROOT, "PmtInf"]) {
            let p = self.pmt_inf.take().unwrap_or_default();
            if !p.id {
                return Err(ctx.missing(depth, "PmtInfId"));
            }
            if p.count == 0 {
                return Err(ctx.missing(depth, "CdtTrfTxInf"));
            }
            compare(
                ctx,
                "PmtInf",
                p.count,
                p.sum,
                &p.stated_count,
                &p.stated_sum,
            )?;
        } else if ctx.is(&[DOC, ROOT, "GrpHdr", "MsgId"]) {
            let id = text.trim();
            if !id.is_empty() {
                self.message_id = Some(id.to_string());
            }
        } else if ctx.is(&[DOC, ROOT, "GrpHdr", "NbOfTxs"]) {
            self.stated_count = Some(parse_count(ctx, text)?);
        } else if ctx.is(&[DOC, ROOT, "GrpHdr", "CtrlSum"]) {
            self.stated_sum = Some(parse_sum(ctx, text)?);
        } else if ctx.is(&[DOC, ROOT, "GrpHdr"]) {
            if self.message_id.is_none() {
                return Err(ctx.missing(depth, "MsgId"));
            }
            if self.stated_count.is_none() {
                return Err(ctx.missing(depth, "NbOfTxs"));
            }
        } else if depth == 2 {
            if !self.header {
                return Err(ctx.missing(depth, "GrpHdr"));
            }
            if self.payment_infos == 0 {
                return Err(ctx.missing(depth, "PmtInf"));
            }
            compare(
                ctx,
                "GrpHdr",
                self.payments.len() as u64,
                self.sum,
                &self.stated_count,
                &self.stated_sum,
            )?;
        }
        Ok(())
    }
}

const PAIN001_SPEC: Spec = Spec {
    message: "pain.001.001",
    versions: &["09"],
    element: ROOT,
    expected: "pain.001.001.09 (CstmrCdtTrfInitn)",
};

/// Checks the structure of a pain.001.001.09 document: the group header's `NbOfTxs` and
/// `CtrlSum` (when present) equal the count and sum of all transactions, each `PmtInf`'s
/// likewise, every `EndToEndId` is present, unique and at most 35 characters, and every
/// `InstdAmt` is a positive amount at its currency's scale in a known currency. The safety
/// rules of the module apply (size, DOCTYPE, encoding, well-formedness, message type).
pub fn check_pain001(xml: &[u8]) -> Result<Pain001Summary, Iso20022Error> {
    let mut checker = Checker::default();
    walk(xml, &PAIN001_SPEC, &mut checker)?;
    let Checker {
        message_id,
        payment_infos,
        payments,
        sum,
        ..
    } = checker;
    Ok(Pain001Summary {
        message_id: message_id.unwrap_or_default(),
        payment_infos,
        number_of_transactions: payments.len() as u64,
        control_sum: sum,
        payments,
    })
}
