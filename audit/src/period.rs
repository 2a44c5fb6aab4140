//! Accounting dates and closed periods: the date every posting record belongs to, the rules a
//! date must keep, and the records that close and reopen a quarter of an award.
//!
//! A record's `at` is when it was written (the audit trail); its `accounting_date` is the day
//! the money movement belongs to (the value date), and every report and period filter reads
//! that. The rules of a date depend only on the journal (the award, the periods closed before
//! the record, the record's own `at`), so the ledger applies them when it appends and the
//! verifier applies them again from an export.

use std::fmt;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codes::Code;
use crate::invalid::Invalid;
use crate::programme::{AwardOpenBody, Date, Id};

/// The liquidation period after an award's end when the award does not state one: the 120
/// days a US federal award allows to pay what was incurred (2 CFR 200.344).
pub const DEFAULT_LIQUIDATION_DAYS: u32 = 120;
/// How far after the day it is written a record may be dated when the award does not say.
pub const DEFAULT_FUTURE_DAYS: u32 = 7;
/// The most either setting may be.
pub const MAX_DAYS: u32 = 3_650;

/// A calendar quarter, written `2026Q1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: i32,
    /// 1 to 4.
    pub q: u32,
}

impl Quarter {
    pub fn parse(text: &str) -> Result<Quarter, Invalid> {
        let bad = || {
            Invalid::new(
                "quarter",
                Code::InvalidQuarter,
                format!("{text:?} is not a quarter written like 2026Q1"),
            )
        };
        let (y, q) = text.split_once('Q').ok_or_else(bad)?;
        if y.len() != 4 || q.len() != 1 || !y.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let q: u32 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&q) {
            return Err(bad());
        }
        Ok(Quarter { year, q })
    }

    /// The quarter containing `date`.
    pub fn of(date: NaiveDate) -> Quarter {
        Quarter {
            year: date.year(),
            q: (date.month() - 1) / 3 + 1,
        }
    }

    pub fn first(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, 3 * self.q - 2, 1).expect("a quarter's first day")
    }

    pub fn last(&self) -> NaiveDate {
        self.next()
            .first()
            .pred_opt()
            .expect("a quarter's last day")
    }

    pub fn next(&self) -> Quarter {
        if self.q == 4 {
            Quarter {
                year: self.year + 1,
                q: 1,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q + 1,
            }
        }
    }

    pub fn prev(&self) -> Quarter {
        if self.q == 1 {
            Quarter {
                year: self.year - 1,
                q: 4,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q - 1,
            }
        }
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        Quarter::of(d) == *self
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.q)
    }
}

impl Serialize for Quarter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Quarter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Quarter::parse(&text).map_err(|e| serde::de::Error::custom(e.detail))
    }
}

/// The ledger's checkpoint a period was closed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    pub size: u64,
    /// Lowercase hex of the Merkle root at `size`.
    pub root: String,
}

/// Body of `period.close`: a quarter of an award closed by an approver, with the checkpoint
/// the SF-425 submitted for it was computed at and the SHA-256 of that report's body
/// (canonical JSON), so anyone can recompute the report from an export and compare. From
/// this record on nothing can be dated on or before the quarter's last day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodCloseBody {
    pub award: Id,
    pub quarter: Quarter,
    pub checkpoint: CheckpointRef,
    /// The indirect cost rate of the SF-425, in basis points (1000 = 10%).
    pub indirect_bp: u32,
    /// Lowercase hex SHA-256 of the canonical JSON of the SF-425 report body.
    pub sf425: String,
}

/// Body of `period.reopen`: a request to reopen the last closed quarter of an award, with its
/// reason (`request` absent), or the approval of such a request by a second approver
/// (`request` = the request's seq). The quarter reopens with the approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodReopenBody {
    pub award: Id,
    pub quarter: Quarter,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<u64>,
}

impl PeriodCloseBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.award.check("award")?;
        if !lower_hex(&self.checkpoint.root, 32) {
            return Err(Invalid::new(
                "checkpoint.root",
                Code::InvalidDigest,
                "must be 64 lowercase hex digits",
            ));
        }
        if !lower_hex(&self.sf425, 32) {
            return Err(Invalid::new(
                "sf425",
                Code::InvalidDigest,
                "must be 64 lowercase hex digits (a SHA-256)",
            ));
        }
        Ok(())
    }
}

impl PeriodReopenBody {
    pub fn check(&self) -> Result<(), Invalid> {
        self.award.check("award")?;
        let reason = self.reason.trim();
        if reason.is_empty() {
            return Err(Invalid::new(
                "reason",
                Code::ReasonRequired,
                "reopening a closed period must say why",
            ));
        }
        if self.reason.len() > 2_000 || self.reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Invalid::new(
                "reason",
                Code::TooLong,
                "at most 2000 bytes, no control characters but newlines",
            ));
        }
        Ok(())
    }
}

fn lower_hex(text: &str, bytes: usize) -> bool {
    text.len() == bytes * 2 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A pending request to reopen a quarter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReopenRequest {
    pub seq: u64,
    pub actor: String,
    pub quarter: Quarter,
}

/// The closed quarters of one award, in order, and a pending reopen request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Periods {
    /// (quarter, seq of its `period.close`), oldest first; always consecutive.
    pub closed: Vec<(Quarter, u64)>,
    pub request: Option<ReopenRequest>,
}

impl Periods {
    /// The last day of the last closed quarter.
    pub fn closed_through(&self) -> Option<NaiveDate> {
        self.closed.last().map(|(q, _)| q.last())
    }

    pub fn is_closed(&self, q: Quarter) -> bool {
        self.closed.iter().any(|(c, _)| *c == q)
    }

    /// The rules of a close: the quarter has ended (by `today`), it is the first quarter of the
    /// award not yet closed, and it overlaps the award.
    pub fn check_close(
        &self,
        award: &AwardOpenBody,
        b: &PeriodCloseBody,
        today: NaiveDate,
    ) -> Result<(), Invalid> {
        b.check()?;
        if b.award != award.award {
            return Err(Invalid::new("award", Code::UnknownAward, "another award"));
        }
        let first = Quarter::of(award.start.0);
        let next = self.closed.last().map_or(first, |(q, _)| q.next());
        if self.is_closed(b.quarter) {
            return Err(Invalid::new(
                "quarter",
                Code::PeriodClosed,
                format!("{} of award {} is already closed", b.quarter, b.award),
            ));
        }
        if b.quarter != next {
            return Err(Invalid::new(
                "quarter",
                Code::PeriodNotNext,
                format!(
                    "quarters of award {} close in order: the next to close is {next}, not {}",
                    b.award, b.quarter
                ),
            ));
        }
        if b.quarter.first() > award.end.0 {
            return Err(Invalid::new(
                "quarter",
                Code::PeriodOutsideAward,
                format!(
                    "{} begins after award {} ends on {}",
                    b.quarter, b.award, award.end
                ),
            ));
        }
        if b.quarter.last() >= today {
            return Err(Invalid::new(
                "quarter",
                Code::PeriodNotEnded,
                format!(
                    "{} ends on {}: a quarter is closed once it has ended",
                    b.quarter,
                    b.quarter.last()
                ),
            ));
        }
        Ok(())
    }

    /// The rules of a reopen request or approval by `actor`.
    pub fn check_reopen(&self, b: &PeriodReopenBody, actor: &str) -> Result<(), Invalid> {
        b.check()?;
        let Some((last, _)) = self.closed.last() else {
            return Err(Invalid::new(
                "quarter",
                Code::PeriodNotClosed,
                format!("no quarter of award {} is closed", b.award),
            ));
        };
        if *last != b.quarter {
            return Err(Invalid::new(
                "quarter",
                Code::PeriodNotClosed,
                format!(
                    "only the last closed quarter of award {} can be reopened: {last}, not {}",
                    b.award, b.quarter
                ),
            ));
        }
        match (b.request, &self.request) {
            (None, Some(r)) => Err(Invalid::new(
                "request",
                Code::ReopenPending,
                format!(
                    "{} already has a reopen request (seq {}) by {}: a second approver approves it",
                    r.quarter, r.seq, r.actor
                ),
            )),
            (None, None) => Ok(()),
            (Some(seq), Some(r)) if r.seq == seq && r.quarter == b.quarter => {
                if r.actor == actor {
                    Err(Invalid::new(
                        "actor",
                        Code::SameApprover,
                        format!(
                            "{actor} asked to reopen {}: a second, different approver must approve it",
                            b.quarter
                        ),
                    ))
                } else {
                    Ok(())
                }
            }
            (Some(seq), _) => Err(Invalid::new(
                "request",
                Code::UnknownReopenRequest,
                format!("seq {seq} is not a pending request to reopen {}", b.quarter),
            )),
        }
    }

    /// Applies a close (checked).
    pub fn close(&mut self, quarter: Quarter, seq: u64) {
        self.closed.push((quarter, seq));
    }

    /// Applies a reopen request or approval (checked).
    pub fn reopen(&mut self, b: &PeriodReopenBody, seq: u64, actor: &str) {
        if b.request.is_some() {
            self.closed.pop();
            self.request = None;
        } else {
            self.request = Some(ReopenRequest {
                seq,
                actor: actor.to_string(),
                quarter: b.quarter,
            });
        }
    }
}

/// The local date of `at` in the award's time zone (its fixed `utc_offset`, else UTC).
pub fn local_date(award: Option<&AwardOpenBody>, at: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    let offset = award
        .and_then(|a| a.utc_offset.as_deref())
        .and_then(crate::programme::parse_utc_offset)
        .unwrap_or(0);
    (at + Duration::seconds(i64::from(offset))).date_naive()
}

/// The last day a record of the award may be dated: its end plus its liquidation period.
pub fn last_allowed(award: &AwardOpenBody) -> NaiveDate {
    let days = award.liquidation_days.unwrap_or(DEFAULT_LIQUIDATION_DAYS);
    award.end.0 + Duration::days(i64::from(days))
}

/// The rules of one accounting date, named by `field`:
/// - not before the award's start, not after its end plus its liquidation period;
/// - not in a closed quarter;
/// - not further after the day it is written (`today`, in the award's time zone) than the
///   award's `future_days`.
///
/// `award` is `None` for a transaction that touches no award's accounts: only the last rule
/// applies, with the default allowance.
pub fn check_date(
    field: &str,
    date: NaiveDate,
    today: NaiveDate,
    award: Option<(&AwardOpenBody, &Periods)>,
) -> Result<(), Invalid> {
    let future = award
        .and_then(|(a, _)| a.future_days)
        .unwrap_or(DEFAULT_FUTURE_DAYS);
    if date > today + Duration::days(i64::from(future)) {
        return Err(Invalid::new(
            field,
            Code::DateInFuture,
            format!(
                "{date} is more than {future} days after today ({today}): a record is dated at most {future} days ahead"
            ),
        ));
    }
    let Some((a, periods)) = award else {
        return Ok(());
    };
    if date < a.start.0 {
        return Err(Invalid::new(
            field,
            Code::DateBeforeAward,
            format!("{date} is before award {} starts on {}", a.award, a.start),
        ));
    }
    let last = last_allowed(a);
    if date > last {
        return Err(Invalid::new(
            field,
            Code::DateAfterLiquidation,
            format!(
                "{date} is after award {} ends on {} plus its liquidation period of {} days ({last})",
                a.award,
                a.end,
                a.liquidation_days.unwrap_or(DEFAULT_LIQUIDATION_DAYS)
            ),
        ));
    }
    if let Some(through) = periods.closed_through() {
        if date <= through {
            let q = Quarter::of(date);
            let open = periods.closed.last().map_or(q, |(last, _)| last.next());
            return Err(Invalid::new(
                field,
                Code::PeriodClosed,
                format!(
                    "{date} is in {q}, closed for award {}: post a late correction in the open period ({open} or later) as an adjustment citing {q}",
                    a.award
                ),
            ));
        }
    }
    Ok(())
}

/// The rules of a cited prior period (`prior_period`): a closed quarter of the award, before
/// the record's own date.
pub fn check_prior_period(
    cited: Quarter,
    date: NaiveDate,
    award: &Id,
    periods: &Periods,
) -> Result<(), Invalid> {
    if !periods.is_closed(cited) {
        return Err(Invalid::new(
            "prior_period",
            Code::PeriodNotClosed,
            format!("{cited} of award {award} is not closed: a correction of an open quarter is dated in it"),
        ));
    }
    if cited.last() >= date {
        return Err(Invalid::new(
            "prior_period",
            Code::PeriodNotClosed,
            format!("{cited} is not before the record's date {date}"),
        ));
    }
    Ok(())
}

/// A `Date` from a record body's `accounting_date` text, for callers holding the text.
pub fn parse_accounting_date(text: &str, field: &str) -> Result<NaiveDate, Invalid> {
    Date::parse(text).map(|d| d.0).map_err(|e| e.within(field))
}

/// The award an account belongs to: its second segment, for the families every award has.
pub fn award_of_account(account: &str) -> Option<&str> {
    let mut parts = account.split(':');
    let family = parts.next()?;
    let award = parts.next()?;
    matches!(
        family,
        "bank" | "fund" | "transit" | "expense" | "payable" | "receivable" | "obligation"
    )
    .then_some(award)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn award() -> AwardOpenBody {
        serde_json::from_value(serde_json::json!({
            "award": "a1", "donor": "BPRM", "currency": "USD", "total": "1000.00",
            "start": "2026-02-15", "end": "2026-12-31", "budget_lines": [],
        }))
        .expect("an award")
    }

    fn close(q: &str) -> PeriodCloseBody {
        PeriodCloseBody {
            award: Id::parse("a1").expect("id"),
            quarter: Quarter::parse(q).expect("q"),
            checkpoint: CheckpointRef {
                size: 1,
                root: "00".repeat(32),
            },
            indirect_bp: 0,
            sf425: "ab".repeat(32),
        }
    }

    #[test]
    fn quarters_close_in_order_once_ended_and_reopen_with_a_second_approver() {
        let a = award();
        let mut p = Periods::default();
        let today = d("2026-06-30");
        assert_eq!(
            p.check_close(&a, &close("2026Q2"), today)
                .expect_err("order")
                .code,
            Code::PeriodNotNext
        );
        p.check_close(&a, &close("2026Q1"), today)
            .expect("Q1 ended");
        p.close(Quarter::parse("2026Q1").expect("q"), 5);
        assert_eq!(
            p.check_close(&a, &close("2026Q2"), today)
                .expect_err("not ended")
                .code,
            Code::PeriodNotEnded
        );
        assert_eq!(
            p.check_close(&a, &close("2026Q1"), today)
                .expect_err("twice")
                .code,
            Code::PeriodClosed
        );
        // Dates: before the award, closed, in the future, after liquidation.
        let rule = |date: &str, today: &str| {
            check_date("date", d(date), d(today), Some((&a, &p))).map_err(|e| e.code)
        };
        assert_eq!(rule("2026-02-14", "2026-06-30"), Err(Code::DateBeforeAward));
        assert_eq!(rule("2026-03-31", "2026-06-30"), Err(Code::PeriodClosed));
        assert_eq!(rule("2026-07-08", "2026-06-30"), Err(Code::DateInFuture));
        assert_eq!(rule("2026-07-07", "2026-06-30"), Ok(()));
        assert_eq!(rule("2027-04-30", "2027-05-01"), Ok(()));
        assert_eq!(
            rule("2027-05-01", "2027-05-01"),
            Err(Code::DateAfterLiquidation)
        );
        // Reopening: a reason, the last closed quarter, a second approver.
        let req = PeriodReopenBody {
            award: Id::parse("a1").expect("id"),
            quarter: Quarter::parse("2026Q1").expect("q"),
            reason: "corrected statement".into(),
            request: None,
        };
        p.check_reopen(
            &PeriodReopenBody {
                reason: " ".into(),
                ..req.clone()
            },
            "ana",
        )
        .expect_err("a reason");
        p.check_reopen(&req, "ana").expect("a request");
        p.reopen(&req, 7, "ana");
        let approve = PeriodReopenBody {
            request: Some(7),
            ..req.clone()
        };
        assert_eq!(
            p.check_reopen(&approve, "ana").expect_err("same").code,
            Code::SameApprover
        );
        p.check_reopen(&approve, "beto").expect("second approver");
        p.reopen(&approve, 8, "beto");
        assert_eq!(p.closed_through(), None);
    }

    fn d(s: &str) -> NaiveDate {
        Date::parse(s).expect("valid").0
    }

    #[test]
    fn quarters_are_written_2026q1_and_know_their_days() {
        let q = Quarter::parse("2026Q1").expect("valid");
        assert_eq!((q.first(), q.last()), (d("2026-01-01"), d("2026-03-31")));
        assert_eq!(Quarter::of(d("2026-12-31")).to_string(), "2026Q4");
        assert_eq!(q.prev().to_string(), "2025Q4");
        assert_eq!(
            Quarter::parse("2026Q4").expect("valid").next().to_string(),
            "2027Q1"
        );
        for bad in ["2026Q5", "2026Q0", "26Q1", "2026-Q1", "2026q1", "2026Q12"] {
            assert_eq!(
                Quarter::parse(bad).expect_err(bad).code,
                Code::InvalidQuarter,
                "{bad}"
            );
        }
    }
}
