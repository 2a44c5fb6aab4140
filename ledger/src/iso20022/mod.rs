//! ISO 20022 payment files, as pure functions: no database, no HTTP, no knowledge of batches.
//!
//! Out to the bank or mobile-money provider:
//! - [`write_pain001`]: a `pain.001.001.09` customer credit transfer initiation with one payment
//!   information block, and [`write_payments_csv`], the same payments as plain CSV;
//! - [`check_pain001`]: the structural checker for such a file (counts, control sums, unique
//!   end-to-end ids, amounts at the currency's scale).
//!
//! Back from them:
//! - [`parse_pain002`]: a payment status report (`pain.002.001.*`, e.g. .10 and .12);
//! - [`parse_camt053`]: a bank-to-customer statement (`camt.053.001.*`, .02 to .08 and later),
//!   flattened to one [`StatementLine`] per transaction;
//! - [`parse_status_csv`]: the CSV equivalent of both for providers without ISO 20022.
//!
//! Every parser refuses, before anything else, input over [`MAX_FILE_BYTES`]; the XML parsers
//! refuse any DOCTYPE (so no entity is ever declared, let alone resolved), any encoding but
//! UTF-8, malformed XML (naming its line and column), nesting deeper than 100 elements, and a
//! document of another message type.
//! They read with an event reader and keep only a stack of element names, never a tree, so a
//! statement of 100,000 entries costs its lines and nothing more. Errors are [`Iso20022Error`],
//! which [`Iso20022Error::to_invalid`] turns into the [`Invalid`] every layer reports, its field
//! the element path (`Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt`) or `file`.

mod camt053;
mod csv;
mod pain001;
mod pain002;
mod xml;

#[cfg(test)]
mod tests;

use std::fmt;

use chrono::NaiveDate;

use tranche_audit::money::{Currency, Money, MoneyError};
use tranche_audit::Code;
use tranche_audit::Invalid;

pub use camt053::{
    parse_camt053, Balance, CreditDebit, EntryStatus, Statement, StatementLine, Statements,
};
pub use csv::{parse_status_csv, CsvStatus, CsvStatusLine, STATUS_CSV_HEADER};
pub use pain001::{
    check_account, check_pain001, write_pain001, write_payments_csv, AccountId, CreditTransfer,
    CreditTransferInitiation, Debtor, Pain001Summary, PAIN001_NAMESPACE, PAYMENTS_CSV_HEADER,
};
pub use pain002::{
    parse_pain002, PaymentInfoStatus, PaymentOutcome, StatusReport, TransactionStatus,
    TransactionStatusLine,
};

/// The largest file any parser here accepts, checked before parsing: 64 MiB. The writer
/// refuses to produce a larger pain.001, so everything it writes can be read back.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Where in a file something is: 1-based line and column (in characters), and the 0-based byte
/// offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// The line, from 1.
    pub line: u64,
    /// The column in characters, from 1.
    pub column: u64,
    /// The byte offset from the start of the file, from 0.
    pub byte: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// One bad row of a CSV file: its physical line (1-based; the header is line 1), the column,
/// a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The physical line the row starts on.
    pub line: u64,
    /// The column (header name), or `row` for the row as a whole.
    pub field: &'static str,
    /// A stable rule name (`invalid_amount`, `unknown_status`, `missing_id`, …).
    pub code: Code,
    /// The explanation.
    pub detail: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, {}: {} ({})",
            self.line, self.field, self.detail, self.code
        )
    }
}

/// Why a file (or the input to a writer) was refused. Every variant says where: a [`Position`]
/// in the file and, below the root, the element path (for a writer's input, the input field
/// such as `payments[3].creditor_name`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Iso20022Error {
    /// Over [`MAX_FILE_BYTES`] (code `too_large`).
    #[error("the file is {size} bytes; at most {limit} bytes are accepted")]
    TooLarge {
        /// The size of the input.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not well-formed XML (code `malformed_xml`).
    #[error("malformed XML at {position}: {detail}")]
    MalformedXml {
        /// Where the parser stopped.
        position: Position,
        /// What is wrong.
        detail: String,
    },
    /// A `<!DOCTYPE …>` declaration, and with it any entity declaration (code
    /// `doctype_refused`).
    #[error(
        "a DOCTYPE declaration at {position} is refused: ISO 20022 messages never carry one, \
         and entity declarations are never read"
    )]
    DoctypeRefused {
        /// Where the declaration starts.
        position: Position,
    },
    /// The XML declaration names an encoding other than UTF-8 (code `unsupported_encoding`).
    #[error(
        "the XML declaration at {position} names the encoding {encoding:?}; only UTF-8 is accepted"
    )]
    UnsupportedEncoding {
        /// Where the declaration is.
        position: Position,
        /// The declared encoding.
        encoding: String,
    },
    /// Another message type than the parser reads (code `wrong_message`).
    #[error("wrong message at {position}: expected {expected}, found {found}")]
    WrongMessage {
        /// Where the root (or the message element) starts.
        position: Position,
        /// What the parser reads, e.g. `camt.053.001.*`.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
    /// A required element (or attribute) is absent (code `missing_element`).
    #[error("{path}{}: {detail}", at(.position))]
    MissingElement {
        /// The path of the missing element.
        path: String,
        /// Where its parent starts.
        position: Option<Position>,
        /// What is missing.
        detail: String,
    },
    /// An amount that is not a positive decimal at its currency's scale (codes
    /// `invalid_amount`, `too_many_decimals`, `amount_not_positive`, `amount_too_large`).
    #[error("{path}{}: {detail}", at(.position))]
    InvalidAmount {
        /// The path of the amount.
        path: String,
        /// Where it starts.
        position: Option<Position>,
        /// The rule it breaks.
        code: Code,
        /// The explanation.
        detail: String,
    },
    /// A currency tranche does not know (code `unknown_currency`).
    #[error("{path}{}: unknown currency {currency:?} (use an ISO 4217 code tranche knows, such as USD, EUR, CLP, MXN or COP)", at(.position))]
    UnknownCurrency {
        /// The path of the amount or currency.
        path: String,
        /// Where it starts.
        position: Option<Position>,
        /// The code found.
        currency: String,
    },
    /// The same end-to-end id twice in one file (code `duplicate_end_to_end_id`).
    #[error("{path}{}: the end-to-end id {id:?} appears more than once", at(.position))]
    DuplicateEndToEndId {
        /// The path of the second occurrence.
        path: String,
        /// Where it starts.
        position: Option<Position>,
        /// The id.
        id: String,
    },
    /// Any other bad value: a count or control sum that does not add up, an unknown status
    /// code, an id too long, a control character, a bad IBAN or BIC…
    #[error("{path}{}: {detail}", at(.position))]
    InvalidValue {
        /// The path of the value.
        path: String,
        /// Where it starts.
        position: Option<Position>,
        /// A stable rule name.
        code: Code,
        /// The explanation.
        detail: String,
    },
    /// A CSV file with bad rows, every one of them listed (code `invalid_rows`).
    #[error("{} bad row(s): {}", .errors.len(), list_rows(.errors))]
    InvalidRows {
        /// Every bad row, in file order.
        errors: Vec<RowError>,
    },
}

fn at(position: &Option<Position>) -> String {
    position.map_or_else(String::new, |p| format!(" (at {p})"))
}

/// How many row errors the message of [`Iso20022Error::InvalidRows`] spells out.
const ROWS_SHOWN: usize = 20;

fn list_rows(errors: &[RowError]) -> String {
    let mut text = errors
        .iter()
        .take(ROWS_SHOWN)
        .map(RowError::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > ROWS_SHOWN {
        text.push_str(&format!("; and {} more", errors.len() - ROWS_SHOWN));
    }
    text
}

impl Iso20022Error {
    /// The stable, machine-readable rule name.
    pub fn code(&self) -> Code {
        match self {
            Iso20022Error::TooLarge { .. } => Code::TooLarge,
            Iso20022Error::MalformedXml { .. } => Code::MalformedXml,
            Iso20022Error::DoctypeRefused { .. } => Code::DoctypeRefused,
            Iso20022Error::UnsupportedEncoding { .. } => Code::UnsupportedEncoding,
            Iso20022Error::WrongMessage { .. } => Code::WrongMessage,
            Iso20022Error::MissingElement { .. } => Code::MissingElement,
            Iso20022Error::InvalidAmount { code, .. } => *code,
            Iso20022Error::UnknownCurrency { .. } => Code::UnknownCurrency,
            Iso20022Error::DuplicateEndToEndId { .. } => Code::DuplicateEndToEndId,
            Iso20022Error::InvalidValue { code, .. } => *code,
            Iso20022Error::InvalidRows { .. } => Code::InvalidRows,
        }
    }

    /// The position in the file, when the error has one.
    pub fn position(&self) -> Option<Position> {
        match self {
            Iso20022Error::TooLarge { .. } | Iso20022Error::InvalidRows { .. } => None,
            Iso20022Error::MalformedXml { position, .. }
            | Iso20022Error::DoctypeRefused { position }
            | Iso20022Error::UnsupportedEncoding { position, .. }
            | Iso20022Error::WrongMessage { position, .. } => Some(*position),
            Iso20022Error::MissingElement { position, .. }
            | Iso20022Error::InvalidAmount { position, .. }
            | Iso20022Error::UnknownCurrency { position, .. }
            | Iso20022Error::DuplicateEndToEndId { position, .. }
            | Iso20022Error::InvalidValue { position, .. } => *position,
        }
    }

    /// The element path (or input field) the error is about; `file` for the file as a whole.
    pub fn field(&self) -> &str {
        match self {
            Iso20022Error::MissingElement { path, .. }
            | Iso20022Error::InvalidAmount { path, .. }
            | Iso20022Error::UnknownCurrency { path, .. }
            | Iso20022Error::DuplicateEndToEndId { path, .. }
            | Iso20022Error::InvalidValue { path, .. } => path,
            _ => "file",
        }
    }

    /// The error in the shape every layer reports: field = the element path or `file`, code =
    /// [`Iso20022Error::code`], detail = the sentence without the path.
    pub fn to_invalid(&self) -> Invalid {
        let detail = match self {
            Iso20022Error::MissingElement {
                position, detail, ..
            }
            | Iso20022Error::InvalidAmount {
                position, detail, ..
            }
            | Iso20022Error::InvalidValue {
                position, detail, ..
            } => format!("{detail}{}", at(position)),
            Iso20022Error::UnknownCurrency {
                position, currency, ..
            } => format!("unknown currency {currency:?}{}", at(position)),
            Iso20022Error::DuplicateEndToEndId { position, id, .. } => {
                format!(
                    "the end-to-end id {id:?} appears more than once{}",
                    at(position)
                )
            }
            other => other.to_string(),
        };
        Invalid::new(self.field(), self.code(), detail)
    }
}

/// Refuses input over [`MAX_FILE_BYTES`].
fn check_size(input: &[u8]) -> Result<(), Iso20022Error> {
    if input.len() > MAX_FILE_BYTES {
        return Err(Iso20022Error::TooLarge {
            size: input.len() as u64,
            limit: MAX_FILE_BYTES as u64,
        });
    }
    Ok(())
}

/// Why an amount found in a file was refused, before it is placed (see [`AmountError::at`]).
#[derive(Debug)]
enum AmountError {
    UnknownCurrency(String),
    Invalid(Code, String),
}

impl AmountError {
    /// Places the error at an element path (or input field) and position.
    fn at(self, path: String, position: Option<Position>) -> Iso20022Error {
        match self {
            AmountError::UnknownCurrency(currency) => Iso20022Error::UnknownCurrency {
                path,
                position,
                currency,
            },
            AmountError::Invalid(code, detail) => Iso20022Error::InvalidAmount {
                path,
                position,
                code,
                detail,
            },
        }
    }
}

/// Parses an amount and its currency code as found in a file. `allow_zero` admits `0`, `0.00`
/// (statements may carry zero entries); everything else must be a positive decimal with at most
/// the currency's minor-unit digits (`60.005` USD is refused, never rounded).
fn parse_money(text: &str, currency: &str, allow_zero: bool) -> Result<Money, AmountError> {
    let Ok(currency) = Currency::parse(currency) else {
        return Err(AmountError::UnknownCurrency(currency.to_string()));
    };
    match Money::parse_positive(text, currency) {
        Ok(m) => Ok(m),
        Err(MoneyError::NotPositive) if allow_zero && !text.starts_with('-') => {
            Ok(Money::from_minor(0, currency))
        }
        Err(e) => Err(AmountError::Invalid(e.code(), e.to_string())),
    }
}

/// Parses an ISO date, exactly `YYYY-MM-DD`.
fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

/// True for characters no text field may hold: C0 and C1 controls (tab and newlines included)
/// and the non-characters XML cannot carry.
fn is_forbidden_char(c: char) -> bool {
    c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}'
}
