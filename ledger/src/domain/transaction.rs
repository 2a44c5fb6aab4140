//! A plain transaction and its memo: the part of a command that moves money, shared by the
//! commands, the disbursement rules and the cycles.

use chrono::NaiveDate;
use tranche_audit::period::Quarter;
use tranche_audit::posting::Posting;
use tranche_audit::Code;
use tranche_audit::Invalid;

/// The longest memo or description, in bytes.
pub const MAX_MEMO_BYTES: usize = 2_000;

/// A balanced set of postings with its memo, its accounting date, and the transaction it
/// reverses if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransaction {
    pub memo: String,
    pub postings: Vec<Posting>,
    pub reverses: Option<u64>,
    /// The day it belongs to; `None`: the day it is written, in its award's time zone (the
    /// planner fills it in before the rules read it).
    pub date: Option<NaiveDate>,
    /// The closed quarter it corrects, for a late correction.
    pub prior_period: Option<Quarter>,
}

impl NewTransaction {
    /// The typed postings of a `batch.send` record.
    pub fn sending(b: &tranche_audit::disburse::BatchSendBody) -> Result<Self, Invalid> {
        Ok(NewTransaction {
            memo: format!("batch {} part {} sent", b.batch, b.part),
            postings: postings_of(&b.postings)?,
            reverses: None,
            date: Some(b.accounting_date.0),
            prior_period: None,
        })
    }

    /// The typed postings of a `bank.status` record; `None` when it moves no money.
    pub fn bank_status(
        b: &tranche_audit::disburse::BankStatusBody,
    ) -> Result<Option<Self>, Invalid> {
        if b.postings.is_empty() {
            return Ok(None);
        }
        Ok(Some(NewTransaction {
            memo: format!(
                "bank outcomes, import {} part {}",
                &b.import[..12.min(b.import.len())],
                b.part
            ),
            postings: postings_of(&b.postings)?,
            reverses: None,
            date: Some(b.accounting_date.0),
            prior_period: None,
        }))
    }
}

/// The typed postings of a record body's postings (written canonically).
fn postings_of(postings: &[tranche_audit::record::PostingBody]) -> Result<Vec<Posting>, Invalid> {
    postings
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.to_posting(true)
                .map_err(|e| e.within(&format!("body.postings[{i}]")))
        })
        .collect()
}

/// A memo or description: at most [`MAX_MEMO_BYTES`], no control characters but newlines.
pub fn check_memo(text: &str, field: &str) -> Result<(), Invalid> {
    if text.len() > MAX_MEMO_BYTES {
        return Err(Invalid::new(
            field,
            Code::TooLong,
            format!("at most {MAX_MEMO_BYTES} bytes"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new(
            field,
            Code::ControlCharacters,
            "control characters are not allowed",
        ));
    }
    Ok(())
}
