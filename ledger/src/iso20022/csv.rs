//! The CSV side: cells for the payments CSV, and the status CSV, the plain equivalent of
//! pain.002 and camt.053 for providers without ISO 20022.

use chrono::NaiveDate;
use tranche_audit::money::Money;
use tranche_audit::Code;

use crate::csv::{records, Record};

use super::{
    check_size, is_forbidden_char, parse_iso_date, parse_money, AmountError, Iso20022Error,
    Position, RowError,
};

/// The header line of the status CSV [`parse_status_csv`] reads.
pub const STATUS_CSV_HEADER: &str = "end_to_end_id,status,amount,currency,reason,date";

const STATUS_COLUMNS: [&str; 6] = [
    "end_to_end_id",
    "status",
    "amount",
    "currency",
    "reason",
    "date",
];

/// An end-to-end id has at most 35 characters, as in pain.001.
const MAX_ID_CHARS: usize = 35;

/// A status as the CSV states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CsvStatus {
    /// `accepted`: the provider took the payment.
    Accepted,
    /// `rejected`: the provider refused it; no money left.
    Rejected,
    /// `booked`: the money reached the recipient's account.
    Booked,
    /// `returned`: the money came back.
    Returned,
}

impl CsvStatus {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "accepted" => CsvStatus::Accepted,
            "rejected" => CsvStatus::Rejected,
            "booked" => CsvStatus::Booked,
            "returned" => CsvStatus::Returned,
            _ => return None,
        })
    }
}

/// One row of a status CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvStatusLine {
    /// The physical line the row starts on (the header is line 1).
    pub line: u64,
    /// The end-to-end id tranche wrote.
    pub end_to_end_id: String,
    /// The status.
    pub status: CsvStatus,
    /// The amount with its currency; required for `booked` and `returned`.
    pub amount: Option<Money>,
    /// A reason code or text (`AC04`), if given.
    pub reason: Option<String>,
    /// The date (`YYYY-MM-DD`), if given.
    pub date: Option<NaiveDate>,
}

fn row_error(line: u64, field: &'static str, code: Code, detail: impl Into<String>) -> RowError {
    RowError {
        line,
        field,
        code,
        detail: detail.into(),
    }
}

/// Reads one row; pushes every problem it finds to `errors`.
fn read_row(record: &Record, errors: &mut Vec<RowError>) -> Option<CsvStatusLine> {
    let line = record.line;
    if record.cells.len() != STATUS_COLUMNS.len() {
        errors.push(row_error(
            line,
            "row",
            Code::WrongCellCount,
            format!(
                "has {} cells; the header has {}",
                record.cells.len(),
                STATUS_COLUMNS.len()
            ),
        ));
        return None;
    }
    let before = errors.len();
    let cell = |k: usize| record.cells[k].trim();
    for (k, name) in STATUS_COLUMNS.iter().enumerate() {
        if let Some(c) = cell(k).chars().find(|c| is_forbidden_char(*c)) {
            errors.push(row_error(
                line,
                name,
                Code::ControlCharacter,
                format!("holds the control character U+{:04X}", u32::from(c)),
            ));
        }
    }
    let id = cell(0);
    let id_chars = id.chars().count();
    if id.is_empty() {
        errors.push(row_error(
            line,
            "end_to_end_id",
            Code::MissingId,
            "the end-to-end id is empty",
        ));
    } else if id_chars > MAX_ID_CHARS {
        errors.push(row_error(
            line,
            "end_to_end_id",
            Code::TooLong,
            format!("has {id_chars} characters; at most {MAX_ID_CHARS} are allowed"),
        ));
    }
    let status = CsvStatus::parse(cell(1));
    if status.is_none() {
        errors.push(row_error(
            line,
            "status",
            Code::UnknownStatus,
            format!(
                "{:?} is not a status: use accepted, rejected, booked or returned",
                cell(1)
            ),
        ));
    }
    let (amount_text, currency) = (cell(2), cell(3));
    let mut amount = None;
    if !amount_text.is_empty() {
        if currency.is_empty() {
            errors.push(row_error(
                line,
                "currency",
                Code::MissingCurrency,
                "an amount needs its currency",
            ));
        } else {
            match parse_money(amount_text, currency, false) {
                Ok(m) => amount = Some(m),
                Err(AmountError::UnknownCurrency(c)) => errors.push(row_error(
                    line,
                    "currency",
                    Code::UnknownCurrency,
                    format!("unknown currency {c:?}"),
                )),
                Err(AmountError::Invalid(code, detail)) => {
                    errors.push(row_error(line, "amount", code, detail))
                }
            }
        }
    } else if matches!(status, Some(CsvStatus::Booked | CsvStatus::Returned)) {
        errors.push(row_error(
            line,
            "amount",
            Code::MissingAmount,
            "a booked or returned payment states its amount",
        ));
    }
    let date_text = cell(5);
    let date = if date_text.is_empty() {
        None
    } else {
        let d = parse_iso_date(date_text);
        if d.is_none() {
            errors.push(row_error(
                line,
                "date",
                Code::InvalidDate,
                format!("{date_text:?} is not a date (YYYY-MM-DD)"),
            ));
        }
        d
    };
    if errors.len() > before {
        return None;
    }
    Some(CsvStatusLine {
        line,
        end_to_end_id: id.to_string(),
        status: status?,
        amount,
        reason: Some(cell(4)).filter(|r| !r.is_empty()).map(str::to_string),
        date,
    })
}

/// Parses a status CSV: UTF-8 (a BOM is allowed), the header [`STATUS_CSV_HEADER`] on line 1,
/// then one row per status, cells per RFC 4180 as [`crate::csv::records`] reads them
/// (surrounding spaces ignored, blank lines skipped, quoting that breaks the RFC refused).
/// Status is `accepted`, `rejected`, `booked` or `returned`; amount and currency go together
/// (required for booked and returned; read with [`Money::parse_positive`], so too many
/// decimals are refused); reason and date (`YYYY-MM-DD`) are optional. Any bad row refuses
/// the whole file, and [`Iso20022Error::InvalidRows`] lists every bad row by its physical line
/// (bad amount, unknown status, missing id, wrong cell count, …).
pub fn parse_status_csv(input: &[u8]) -> Result<Vec<CsvStatusLine>, Iso20022Error> {
    check_size(input)?;
    let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(body).map_err(|e| {
        let valid = &body[..e.valid_up_to()];
        let line = 1 + valid.iter().filter(|&&c| c == b'\n').count() as u64;
        Iso20022Error::InvalidValue {
            path: "file".into(),
            position: Some(Position {
                line,
                column: 1,
                byte: e.valid_up_to() as u64,
            }),
            code: Code::InvalidUtf8,
            detail: "the file is not UTF-8".into(),
        }
    })?;
    // A line of spaces is as blank as an empty one.
    let blank = |r: &Record| r.cells.len() == 1 && r.cells[0].trim().is_empty();
    let mut rows = records(text).filter(|r| !r.as_ref().is_ok_and(blank));
    let header_ok = rows.next().is_some_and(|r| {
        r.is_ok_and(|r| {
            r.cells.len() == STATUS_COLUMNS.len()
                && r.cells
                    .iter()
                    .zip(STATUS_COLUMNS)
                    .all(|(c, h)| c.trim() == h)
        })
    });
    if !header_ok {
        return Err(Iso20022Error::InvalidValue {
            path: "line 1".into(),
            position: Some(Position {
                line: 1,
                column: 1,
                byte: 0,
            }),
            code: Code::InvalidHeader,
            detail: format!("the first line must be the header {STATUS_CSV_HEADER}"),
        });
    }
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    for record in rows {
        match record {
            Ok(record) => lines.extend(read_row(&record, &mut errors)),
            Err(e) => errors.push(row_error(e.line, "row", e.code, e.detail)),
        }
    }
    if !errors.is_empty() {
        return Err(Iso20022Error::InvalidRows { errors });
    }
    Ok(lines)
}
