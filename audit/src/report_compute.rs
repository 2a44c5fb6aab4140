//! The figures of a report, computed from the journal alone: one streaming pass over the
//! records up to the report's tree size. The ledger computes a report this way from its own
//! journal and `tranche-verify report` recomputes it from an export, so the two agree by
//! construction and any edit of a report's figures, or of the journal behind it, shows.
//!
//! The definitions are those of [`crate::report`].

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::Value;

use crate::codes::Code;
use crate::disburse::{
    BankImportBody, BankStatusBody, BatchCreateBody, BatchPartBody, BatchSendBody, PaymentStatus,
};
use crate::money::{format_minor, Currency};
use crate::posting::Side;
use crate::programme::{AwardOpenBody, EntitlementBody, EvidenceBody, Id};
use crate::record::{body_from_value, kind, PostingBody, Record, TransactionBody};
use crate::report::{
    BankLine, BudgetLineRow, BudgetReport, CountAmount, Figure, ParticipantStatement,
    PaymentReconciliation, PaymentRow, PriorPeriodAdjustment, ReportBody, ReportPeriod, Sf425,
    StatementEntry,
};
use crate::report_bank::BankAcc;
use crate::Invalid;

/// What a late correction of a closed quarter moved on lines 10a and 10e of `award`; `None`
/// when it touches neither the award's fund nor its expense accounts.
pub fn prior_period_adjustment(
    award: &Id,
    c: Currency,
    seq: u64,
    q: crate::period::Quarter,
    d: NaiveDate,
    memo: &str,
    postings: &[PostingBody],
) -> Option<PriorPeriodAdjustment> {
    let fund = format!("fund:{award}");
    let expense = format!("expense:{award}:");
    let (mut receipts, mut spent, mut mine) = (0i128, 0i128, false);
    for p in postings {
        let Ok(m) = crate::money::Money::parse_positive(&p.amount, c) else {
            continue;
        };
        let debit = match p.side {
            Side::Debit => i128::from(m.minor()),
            Side::Credit => -i128::from(m.minor()),
        };
        if p.account == fund {
            receipts -= debit;
            mine = true;
        } else if p.account.starts_with(&expense) {
            spent += debit;
            mine = true;
        }
    }
    mine.then(|| PriorPeriodAdjustment {
        seq,
        prior_period: q,
        accounting_date: crate::programme::Date(d),
        memo: memo.to_string(),
        line_10a: format_minor(receipts, c),
        line_10e: format_minor(spent, c),
    })
}

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    pub kind: String,
    pub award: Id,
    pub period: ReportPeriod,
    /// For `payments`: one batch instead of the period.
    pub batch: Option<Id>,
    /// For `participant`.
    pub participant: Option<Id>,
    /// For `sf425`: the indirect cost rate in basis points (1000 = 10%).
    pub indirect_bp: u32,
    /// For `disaggregation`: counts under this are suppressed (default 5).
    pub threshold: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Net {
    period: i128,
    cumulative: i128,
}

#[derive(Debug, Clone)]
struct Item {
    line: Option<Id>,
    /// The entitlement's accounting date.
    date: NaiveDate,
    amount: i64,
    participant: Id,
    payee: String,
}

#[derive(Debug, Clone)]
struct Pay {
    batch: Id,
    payee: String,
    amount: i64,
    items: Vec<u64>,
    state: &'static str,
    reissued_by: Option<String>,
    in_period: bool,
    month: String,
}

/// The streaming computation.
#[derive(Debug)]
pub struct Accumulator {
    req: ReportRequest,
    award: Option<AwardOpenBody>,
    currency: Option<Currency>,
    nets: HashMap<String, Net>,
    items: HashMap<u64, Item>,
    earned: (u64, i128),
    /// Recoveries of paid entitlements recorded in the period: count, amount.
    recovered: (u64, i128),
    payments: BTreeMap<String, Pay>,
    batch_of_e2e: HashMap<String, Id>,
    bank: BankAcc,
    participant: ParticipantStatement,
    seen: u64,
    /// Per participant of the award: the disaggregation measures (journal facts only).
    measures: BTreeMap<Id, Measures>,
    /// Paid per budget line, when given from projections instead of read from the records.
    paid_override: Option<HashMap<Id, i64>>,
    /// The date of every session scheduled: an attendance counts in its session's period.
    session_dates: HashMap<Id, NaiveDate>,
    /// Late corrections of closed quarters dated in the period.
    adjustments: Vec<PriorPeriodAdjustment>,
}

/// What the journal says of one participant, for disaggregated counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measures {
    pub enrolled: bool,
    pub attending: bool,
    pub certified: bool,
    /// Live amounts per shape (minor units): c4t, scholarship (tuition and incentive), seed.
    pub c4t: i64,
    pub scholarship: i64,
    pub seed: i64,
}

/// The measures, in table order.
pub const MEASURES: [&str; 6] = [
    "enrolled",
    "attending",
    "certified",
    "c4t",
    "scholarship",
    "seed_capital",
];

/// The accounting date of a record that posts (`transaction`, `entitlement`, `batch.send`,
/// `bank.status`).
fn accounting_date_of(r: &Record) -> Option<NaiveDate> {
    r.body
        .get("accounting_date")
        .and_then(Value::as_str)
        .and_then(|t| crate::programme::Date::parse(t).ok())
        .map(|d| d.0)
}

impl Accumulator {
    pub fn new(req: ReportRequest) -> Self {
        let participant = ParticipantStatement {
            participant: req
                .participant
                .clone()
                .unwrap_or_else(|| Id::parse("none").expect("valid")),
            evidence: Vec::new(),
            entitlements: Vec::new(),
            payments: Vec::new(),
            earned: String::new(),
            paid: String::new(),
            receipt_seqs: Vec::new(),
        };
        Accumulator {
            req,
            award: None,
            currency: None,
            nets: HashMap::new(),
            items: HashMap::new(),
            earned: (0, 0),
            recovered: (0, 0),
            payments: BTreeMap::new(),
            batch_of_e2e: HashMap::new(),
            bank: BankAcc::default(),
            participant,
            seen: 0,
            measures: BTreeMap::new(),
            paid_override: None,
            session_dates: HashMap::new(),
            adjustments: Vec::new(),
        }
    }

    fn award_prefix(&self) -> String {
        format!(":{}", self.req.award)
    }

    fn mine(&self, account: &str) -> bool {
        let a = self.req.award.as_str();
        account == format!("bank:{a}")
            || account == format!("fund:{a}")
            || account == format!("transit:{a}")
            || account.starts_with(&format!("expense:{a}:"))
            || account.starts_with(&format!("obligation:{a}:"))
            || account.starts_with(&format!("payable:{a}:"))
            || account.starts_with(&format!("receivable:{a}:"))
    }

    fn post(&mut self, postings: &[PostingBody], in_period: bool, after_end: bool) {
        if after_end {
            return;
        }
        for p in postings {
            if !self.mine(&p.account) {
                continue;
            }
            let Some(c) = self.currency else { continue };
            let Ok(m) = crate::money::Money::parse_positive(&p.amount, c) else {
                continue;
            };
            let signed = match p.side {
                Side::Debit => i128::from(m.minor()),
                Side::Credit => -i128::from(m.minor()),
            };
            let n = self.nets.entry(p.account.clone()).or_default();
            n.cumulative += signed;
            if in_period {
                n.period += signed;
            }
        }
    }

    /// Feeds the next record.
    pub fn push(&mut self, r: &Record) -> Result<(), Invalid> {
        self.seen += 1;
        // Every figure by its accounting date; a record that posts nothing (a payment created,
        // a batch withdrawn) by the day it was written, in the award's time zone.
        let d = accounting_date_of(r)
            .unwrap_or_else(|| crate::period::local_date(self.award.as_ref(), r.at));
        let in_period = d >= self.req.period.start.0 && d <= self.req.period.end.0;
        let after_end = d > self.req.period.end.0;
        let award_id = self.req.award.clone();
        let award = &award_id;
        match r.kind.as_str() {
            kind::AWARD_OPEN => {
                let b: AwardOpenBody = body_from_value(&r.body)?;
                if &b.award == award {
                    self.currency = Some(b.currency()?);
                    self.award = Some(b);
                }
            }
            kind::TRANSACTION => {
                let b: TransactionBody = body_from_value(&r.body)?;
                self.post(&b.postings, in_period, after_end);
                if let (Some(q), true) = (b.prior_period, in_period) {
                    self.note_adjustment(r.seq, q, d, &b.memo, &b.postings);
                }
            }
            kind::ENTITLEMENT => {
                let b: EntitlementBody = body_from_value(&r.body)?;
                if &b.award != award {
                    return Ok(());
                }
                self.post(&b.postings, in_period, after_end);
                if let (Some(q), true) = (b.prior_period, in_period) {
                    self.note_adjustment(r.seq, q, d, &b.memo, &b.postings);
                }
                if after_end {
                    return Ok(());
                }
                let c = self
                    .currency
                    .unwrap_or_else(|| Currency::parse("USD").expect("known"));
                let line = b
                    .postings
                    .iter()
                    .filter(|p| p.side == Side::Debit)
                    .find_map(|p| {
                        p.account
                            .strip_prefix(&format!("expense:{award}:"))
                            .and_then(|l| Id::parse(l).ok())
                    });
                let payable = b
                    .postings
                    .iter()
                    .find(|p| p.account.starts_with(&format!("payable:{award}:")));
                let amount = payable
                    .and_then(|p| crate::money::Money::parse_positive(&p.amount, c).ok())
                    .map_or(0, |m| m.minor());
                let recovery = b.is_recovery();
                if recovery && in_period {
                    let back: i64 = b
                        .postings
                        .iter()
                        .filter(|q| q.side == Side::Debit)
                        .filter_map(|q| crate::money::Money::parse_positive(&q.amount, c).ok())
                        .map(|m| m.minor())
                        .sum();
                    self.recovered.0 += 1;
                    self.recovered.1 += i128::from(back);
                }
                if let Some(m) = self.measures.get_mut(&b.participant) {
                    // Live amounts: a reversal takes back what its original added, and so
                    // does a recovery.
                    let credit: i64 = b
                        .postings
                        .iter()
                        .filter(|q| q.side == Side::Credit && !q.account.starts_with("obligation"))
                        .filter_map(|q| crate::money::Money::parse_positive(&q.amount, c).ok())
                        .map(|m| m.minor())
                        .sum();
                    let debit_back: i64 = if b.reverses.is_some() || recovery {
                        b.postings
                            .iter()
                            .filter(|q| {
                                q.side == Side::Debit
                                    && (q.account.starts_with("payable:")
                                        || q.account.starts_with("receivable:"))
                            })
                            .filter_map(|q| crate::money::Money::parse_positive(&q.amount, c).ok())
                            .map(|m| m.minor())
                            .sum()
                    } else {
                        0
                    };
                    let delta = if b.reverses.is_some() || recovery {
                        -debit_back
                    } else if payable.is_some() {
                        credit
                    } else {
                        0
                    };
                    let basis = b.basis.as_str();
                    if basis.starts_with("c4t:") {
                        m.c4t += delta;
                    } else if basis.starts_with("tuition:") || basis.starts_with("incentive:") {
                        m.scholarship += delta;
                    } else if basis.starts_with("seed:tranche") {
                        m.seed += delta;
                    }
                }
                if let Some(p) = payable {
                    let signed = if p.side == Side::Credit {
                        i128::from(amount)
                    } else {
                        -i128::from(amount)
                    };
                    if in_period {
                        self.earned.0 += 1;
                        self.earned.1 += signed;
                    }
                    if p.side == Side::Credit && b.reverses.is_none() {
                        let payee = p
                            .account
                            .strip_prefix(&format!("payable:{award}:"))
                            .unwrap_or_default()
                            .to_string();
                        self.items.insert(
                            r.seq,
                            Item {
                                line: line.clone(),
                                date: d,
                                amount,
                                participant: b.participant.clone(),
                                payee,
                            },
                        );
                    }
                }
                if self.req.participant.as_ref() == Some(&b.participant) {
                    self.participant.entitlements.push(StatementEntry {
                        seq: r.seq,
                        at: crate::record::format_time(r.at),
                        kind: r.kind.clone(),
                        detail: format!(
                            "{} under rule {} v{}{}",
                            b.basis.as_str(),
                            b.rule,
                            b.version,
                            b.reverses
                                .map(|s| format!(", reversing seq {s}"))
                                .unwrap_or_default()
                        ),
                        amount: (amount > 0).then(|| format_minor(amount.into(), c)),
                    });
                    self.participant.receipt_seqs.push(r.seq);
                }
            }
            kind::PARTICIPANT_REGISTER => {
                // Registered is no measure: what she did by the period's end is.
                let b: crate::programme::ParticipantRegisterBody = body_from_value(&r.body)?;
                if &b.award == award {
                    self.measures.entry(b.participant).or_default();
                }
            }
            kind::SESSION_SCHEDULE => {
                let b: crate::programme::SessionScheduleBody = body_from_value(&r.body)?;
                for s in &b.sessions {
                    self.session_dates.insert(s.session.clone(), s.date.0);
                }
            }
            kind::EVIDENCE => {
                let b: EvidenceBody = body_from_value(&r.body)?;
                for item in &b.statement.items {
                    use crate::programme::{EvidenceItem as E, Outcome, Presence};
                    // A fact counts in the period it happened in: the enrolment's,
                    // certification's or milestone's date, the session's date.
                    let day = match item {
                        E::Enrolment { date, .. }
                        | E::Certification { date, .. }
                        | E::Milestone { date, .. } => Some(date.0),
                        E::Attendance { session, .. } | E::AttendanceCorrection { session, .. } => {
                            self.session_dates.get(session).copied()
                        }
                    };
                    if day.is_some_and(|day| day > self.req.period.end.0) {
                        continue;
                    }
                    let Some(m) = self.measures.get_mut(item.participant()) else {
                        continue;
                    };
                    match item {
                        E::Enrolment { .. } => m.enrolled = true,
                        E::Attendance {
                            status: Presence::Present,
                            ..
                        }
                        | E::AttendanceCorrection {
                            status: Presence::Present,
                            ..
                        } => m.attending = true,
                        E::Certification {
                            result: Outcome::Passed,
                            ..
                        } => m.certified = true,
                        _ => {}
                    }
                }
                let Some(p) = self.req.participant.clone() else {
                    return Ok(());
                };
                let mine: Vec<String> = b
                    .statement
                    .items
                    .iter()
                    .filter(|i| i.participant() == &p)
                    .map(|i| i.type_name().to_string())
                    .collect();
                if !mine.is_empty() {
                    self.participant.evidence.push(StatementEntry {
                        seq: r.seq,
                        at: crate::record::format_time(r.at),
                        kind: r.kind.clone(),
                        detail: format!(
                            "{} item(s) signed by partner {}: {}",
                            mine.len(),
                            b.statement.partner,
                            mine.join(", ")
                        ),
                        amount: None,
                    });
                    self.participant.receipt_seqs.push(r.seq);
                }
            }
            kind::BATCH_CREATE => {
                let b: BatchCreateBody = body_from_value(&r.body)?;
                let _ = b;
            }
            kind::BATCH_PART => {
                let b: BatchPartBody = body_from_value(&r.body)?;
                // Dated by the day it was created until it is sent (then by the send's date).
                if &b.award != award {
                    return Ok(());
                }
                let c = self
                    .currency
                    .unwrap_or_else(|| Currency::parse("USD").expect("known"));
                for p in &b.payments {
                    let amount =
                        crate::money::Money::parse_positive(&p.amount, c).map_or(0, |m| m.minor());
                    // Until it is sent, a payment belongs to the period of what it pays (its
                    // entitlements' latest accounting date), whenever the batch was made.
                    let owed = p
                        .entitlements
                        .iter()
                        .filter_map(|s| self.items.get(s))
                        .map(|i| i.date)
                        .max()
                        .unwrap_or(d);
                    let owed_in_period =
                        owed >= self.req.period.start.0 && owed <= self.req.period.end.0;
                    for r0 in &p.reissues {
                        if let Some(orig) = self.payments.get_mut(r0) {
                            orig.reissued_by = Some(p.e2e.clone());
                        }
                    }
                    self.batch_of_e2e.insert(p.e2e.clone(), b.batch.clone());
                    self.payments.insert(
                        p.e2e.clone(),
                        Pay {
                            batch: b.batch.clone(),
                            payee: p.payee.clone(),
                            amount,
                            items: p.entitlements.clone(),
                            state: "pending",
                            reissued_by: None,
                            in_period: owed_in_period,
                            month: owed.format("%Y-%m").to_string(),
                        },
                    );
                }
            }
            kind::BATCH_REJECT | kind::BATCH_CANCEL => {
                if after_end {
                    return Ok(());
                }
                let batch = r.body.get("batch").and_then(Value::as_str).unwrap_or("");
                for p in self.payments.values_mut() {
                    if p.batch.as_str() == batch && p.state == "pending" {
                        p.state = "withdrawn";
                    }
                }
            }
            kind::BATCH_SEND => {
                let b: BatchSendBody = body_from_value(&r.body)?;
                if &b.award != award {
                    return Ok(());
                }
                self.post(&b.postings, in_period, after_end);
                if after_end {
                    return Ok(());
                }
                // The payments of this part: their payables are debited here.
                let debited: HashSet<&str> = b
                    .postings
                    .iter()
                    .filter(|p| p.side == Side::Debit)
                    .map(|p| p.account.as_str())
                    .collect();
                let prefix = format!("payable:{award}:");
                for p in self.payments.values_mut() {
                    if p.batch == b.batch
                        && p.state == "pending"
                        && debited.contains(format!("{prefix}{}", p.payee).as_str())
                    {
                        p.state = "sent";
                        p.in_period = in_period;
                        p.month = d.format("%Y-%m").to_string();
                    }
                }
            }
            kind::BANK_IMPORT => {
                let b: BankImportBody = body_from_value(&r.body)?;
                // A statement belongs to the period of its date (its closing balance's).
                let day = b
                    .statements
                    .iter()
                    .filter_map(|s| s.date)
                    .map(|d| d.0)
                    .max();
                let (in_period, after_end) = match day {
                    Some(day) => (
                        day >= self.req.period.start.0 && day <= self.req.period.end.0,
                        day > self.req.period.end.0,
                    ),
                    None => (in_period, after_end),
                };
                if let (true, false, Some(c)) = (&b.award == award, after_end, self.currency) {
                    self.bank.import(&b, in_period, c);
                }
            }
            kind::BANK_STATUS => {
                let b: BankStatusBody = body_from_value(&r.body)?;
                if &b.award != award {
                    return Ok(());
                }
                self.post(&b.postings, in_period, after_end);
                if !after_end {
                    for o in &b.outcomes {
                        if let Some(p) = self.payments.get_mut(&o.e2e) {
                            p.state = match o.status {
                                PaymentStatus::Accepted => "accepted",
                                PaymentStatus::Confirmed => "confirmed",
                                PaymentStatus::Rejected => "rejected",
                                PaymentStatus::Returned => "returned",
                            };
                        }
                    }
                }
                if let Some(c) = self.currency {
                    let bank = self.net(&format!("bank:{award}")).cumulative;
                    let transit = self.net(&format!("transit:{award}")).cumulative;
                    self.bank.status(&b, c, bank, transit);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn note_adjustment(
        &mut self,
        seq: u64,
        q: crate::period::Quarter,
        d: NaiveDate,
        memo: &str,
        postings: &[PostingBody],
    ) {
        let Some(c) = self.currency else { return };
        if let Some(a) = prior_period_adjustment(&self.req.award, c, seq, q, d, memo, postings) {
            self.adjustments.push(a);
        }
    }

    fn net(&self, account: &str) -> Net {
        self.nets.get(account).copied().unwrap_or_default()
    }

    fn sum_prefix(&self, prefix: &str) -> Net {
        let mut n = Net::default();
        for (a, v) in &self.nets {
            if a.starts_with(prefix) {
                n.period += v.period;
                n.cumulative += v.cumulative;
            }
        }
        n
    }

    /// The SF-425 or budget report from account totals read from projections (period and
    /// cumulative net debits per account of the award) instead of the records: the same
    /// definitions and the same code as the streaming pass. `paid` gives the budget's paid
    /// column per line.
    pub fn from_totals(
        req: ReportRequest,
        award: AwardOpenBody,
        nets: &[(String, i128, i128)],
        paid: HashMap<Id, i64>,
        adjustments: Vec<PriorPeriodAdjustment>,
    ) -> Result<ReportBody, Invalid> {
        let mut acc = Accumulator::new(req);
        acc.adjustments = adjustments;
        acc.currency = Some(award.currency()?);
        acc.award = Some(award);
        for (account, period, cumulative) in nets {
            let n = acc.nets.entry(account.clone()).or_default();
            n.period += period;
            n.cumulative += cumulative;
        }
        acc.paid_override = Some(paid);
        acc.finish()
    }

    /// The disaggregation measures of every participant of the award.
    pub fn measures(&self) -> &BTreeMap<Id, Measures> {
        &self.measures
    }

    /// The currency of the award (once its `award.open` was read).
    pub fn currency(&self) -> Option<Currency> {
        self.currency
    }

    /// The report body.
    pub fn finish(self) -> Result<ReportBody, Invalid> {
        let award = self.award.clone().ok_or_else(|| {
            Invalid::new(
                "award",
                Code::UnknownAward,
                format!("there is no award {}", self.req.award),
            )
        })?;
        let c = self.currency.expect("set with the award");
        let m = |v: i128| format_minor(v, c);
        let fig = |n: Net| Figure {
            period: m(n.period),
            cumulative: m(n.cumulative),
        };
        let a = award.award.as_str().to_string();
        let _ = self.award_prefix();
        Ok(match self.req.kind.as_str() {
            "sf425" => {
                let fund = self.net(&format!("fund:{a}"));
                let bank = self.net(&format!("bank:{a}"));
                let receipts = Net {
                    period: -fund.period,
                    cumulative: -fund.cumulative,
                };
                let disb = Net {
                    period: receipts.period - bank.period,
                    cumulative: receipts.cumulative - bank.cumulative,
                };
                let cash = Net {
                    period: receipts.period - disb.period,
                    cumulative: receipts.cumulative - disb.cumulative,
                };
                let total = crate::programme::canonical_amount(&award.total, c, "total")?.minor();
                let authorised = Net {
                    period: total.into(),
                    cumulative: total.into(),
                };
                let exp = self.sum_prefix(&format!("expense:{a}:"));
                let obl = self.sum_prefix(&format!("obligation:{a}:"));
                let g = Net {
                    period: exp.period + obl.period,
                    cumulative: exp.cumulative + obl.cumulative,
                };
                let h = Net {
                    period: authorised.period - g.period,
                    cumulative: authorised.cumulative - g.cumulative,
                };
                let mut base = Net::default();
                for l in award.budget_lines.iter().filter(|l| !l.participant_support) {
                    let n = self.net(&format!("expense:{a}:{}", l.line));
                    base.period += n.period;
                    base.cumulative += n.cumulative;
                }
                let bp = i128::from(self.req.indirect_bp);
                let ind = Net {
                    period: base.period * bp / 10_000,
                    cumulative: base.cumulative * bp / 10_000,
                };
                ReportBody::Sf425(Sf425 {
                    line_10a: fig(receipts),
                    line_10b: fig(disb),
                    line_10c: fig(cash),
                    line_10d: fig(authorised),
                    line_10e: fig(exp),
                    line_10f: fig(obl),
                    line_10g: fig(g),
                    line_10h: fig(h),
                    indirect_rate: format!("{}.{:04}", bp / 10_000, bp % 10_000),
                    line_11_base: fig(base),
                    line_11_amount: fig(ind),
                    prior_period_adjustments: self.adjustments.clone(),
                    notes: vec![
                        "10a: credits to the award's fund account less its debits (donor drawdowns).".into(),
                        "10b: 10a less the net movement of the award's bank account (cash that left it).".into(),
                        "10c: 10a - 10b (cumulative: the bank account's balance).".into(),
                        "10d: the award's total authorised.".into(),
                        "10e: net debits of every expense account of the award.".into(),
                        "10f: net debit balance of the memo obligation accounts (seed capital committed, not yet paid).".into(),
                        "10g: 10e + 10f. 10h: 10d - 10g.".into(),
                        "11: the indirect rate times 10e of the budget lines that are not participant support (participant support costs are excluded from the base), rounded down.".into(),
                        "Basis: accounting date. Period: records whose accounting date (value date) is within the period; cumulative: every record dated up to the period's end, whenever it was written.".into(),
                        "Prior-period adjustments: late corrections of closed quarters dated in this period, included in the figures above.".into(),
                    ],
                })
            }
            "budget" => {
                let mut paid_by_line: HashMap<Id, i64> =
                    self.paid_override.clone().unwrap_or_default();
                for p in self.payments.values().filter(|p| p.state == "confirmed") {
                    for i in &p.items {
                        if let Some(item) = self.items.get(i) {
                            if let Some(l) = &item.line {
                                *paid_by_line.entry(l.clone()).or_default() += item.amount;
                            }
                        }
                    }
                }
                let start = award.start.0;
                let end = award.end.0;
                let days_total = (end - start).num_days().max(0) + 1;
                let days = ((self.req.period.end.0 - start).num_days() + 1).clamp(1, days_total);
                let row = |line: Id,
                           name: String,
                           ps: bool,
                           auth: i128,
                           obl: i128,
                           exp: i128,
                           paid: i128| {
                    let pct = if auth > 0 {
                        (exp + obl) * 10_000 / auth
                    } else {
                        0
                    };
                    BudgetLineRow {
                        line,
                        name,
                        participant_support: ps,
                        authorised: m(auth),
                        obligated: m(obl),
                        expended: m(exp),
                        paid: m(paid),
                        remaining: m(auth - exp - obl),
                        percent_used: format!("{}.{:02}", pct / 100, pct % 100),
                        projected_at_end: m(exp * i128::from(days_total) / i128::from(days)),
                    }
                };
                let mut lines = Vec::new();
                let mut t = (0i128, 0i128, 0i128, 0i128);
                for l in &award.budget_lines {
                    let auth = i128::from(
                        crate::programme::canonical_amount(&l.authorised, c, "authorised")?.minor(),
                    );
                    let obl = self.net(&format!("obligation:{a}:{}", l.line)).cumulative;
                    let exp = self.net(&format!("expense:{a}:{}", l.line)).cumulative;
                    let paid = i128::from(paid_by_line.get(&l.line).copied().unwrap_or(0));
                    t = (t.0 + auth, t.1 + obl, t.2 + exp, t.3 + paid);
                    lines.push(row(
                        l.line.clone(),
                        l.name.clone(),
                        l.participant_support,
                        auth,
                        obl,
                        exp,
                        paid,
                    ));
                }
                let total = row(
                    Id::parse("total").expect("valid"),
                    "Total".into(),
                    false,
                    t.0,
                    t.1,
                    t.2,
                    t.3,
                );
                ReportBody::Budget(BudgetReport { lines, total })
            }
            "payments" => {
                let chosen: Vec<(&String, &Pay)> = self
                    .payments
                    .iter()
                    .filter(|(_, p)| match &self.req.batch {
                        Some(b) => &p.batch == b,
                        None => p.in_period,
                    })
                    .collect();
                let ca = |f: &dyn Fn(&Pay) -> bool| {
                    let (n, a) = chosen
                        .iter()
                        .filter(|(_, p)| f(p))
                        .fold((0u64, 0i128), |(n, a), (_, p)| {
                            (n + 1, a + i128::from(p.amount))
                        });
                    CountAmount {
                        count: n,
                        amount: m(a),
                    }
                };
                let still = -self.sum_prefix(&format!("payable:{a}:")).cumulative;
                let owed = self.sum_prefix(&format!("receivable:{a}:")).cumulative;
                let shown = self.recovered.0 > 0 || owed != 0;
                let transit = -self.net(&format!("transit:{a}")).cumulative;
                ReportBody::Payments(PaymentReconciliation {
                    batch: self.req.batch.clone(),
                    earned: CountAmount {
                        count: self.earned.0,
                        amount: m(self.earned.1),
                    },
                    in_open_batches: ca(&|p| p.state == "pending"),
                    sent: ca(&|p| !matches!(p.state, "pending" | "withdrawn")),
                    confirmed: ca(&|p| p.state == "confirmed"),
                    rejected: ca(&|p| p.state == "rejected"),
                    returned: ca(&|p| p.state == "returned"),
                    in_transit: ca(&|p| matches!(p.state, "sent" | "accepted")),
                    reissued: ca(&|p| p.reissued_by.is_some()),
                    still_payable: m(still),
                    transit_balance: m(transit),
                    recovered: shown.then(|| CountAmount {
                        count: self.recovered.0,
                        amount: m(self.recovered.1),
                    }),
                    receivable: shown.then(|| m(owed)),
                    payments: chosen
                        .iter()
                        .map(|(e2e, p)| PaymentRow {
                            e2e: (*e2e).clone(),
                            month: p.month.clone(),
                            batch: p.batch.clone(),
                            payee: p.payee.clone(),
                            amount: m(p.amount.into()),
                            status: p.state.to_string(),
                            reissued_by: p.reissued_by.clone(),
                        })
                        .collect(),
                })
            }
            "bank" => {
                let ledger_only = self
                    .payments
                    .iter()
                    .filter(|(_, p)| matches!(p.state, "sent" | "accepted"))
                    .map(|(e2e, p)| BankLine {
                        reference: format!("batch {}", p.batch),
                        e2e: Some(e2e.clone()),
                        amount: m(p.amount.into()),
                        detail: "sent, not yet on a statement".into(),
                        direction: None,
                        code: None,
                        import: None,
                    })
                    .collect();
                ReportBody::Bank(self.bank.finish(c, ledger_only))
            }
            "participant" => {
                let p = self.req.participant.clone().ok_or_else(|| {
                    Invalid::new(
                        "participant",
                        Code::ParticipantRequired,
                        "name the participant",
                    )
                })?;
                let mut st = self.participant.clone();
                let prefix = format!("participant:{p}");
                let mut paid = 0i128;
                for (e2e, pay) in &self.payments {
                    if pay.payee == prefix {
                        if pay.state == "confirmed" {
                            paid += i128::from(pay.amount);
                        }
                        st.payments.push(StatementEntry {
                            seq: 0,
                            at: String::new(),
                            kind: "payment".into(),
                            detail: format!("{e2e} in batch {}: {}", pay.batch, pay.state),
                            amount: Some(m(pay.amount.into())),
                        });
                    }
                }
                let earned: i128 = self
                    .items
                    .values()
                    .filter(|i| i.participant == p && i.payee == prefix)
                    .map(|i| i128::from(i.amount))
                    .sum();
                st.earned = m(earned);
                st.paid = m(paid);
                st.receipt_seqs.sort_unstable();
                ReportBody::Participant(st)
            }
            other => {
                return Err(Invalid::new(
                    "kind",
                    Code::UnknownReport,
                    format!("{other:?} is not a report this computation makes"),
                ))
            }
        })
    }
}

impl ReportRequest {
    /// The SF-425 a `period.close` names.
    pub fn sf425(c: &crate::period::PeriodCloseBody) -> ReportRequest {
        ReportRequest {
            kind: "sf425".into(),
            award: c.award.clone(),
            period: ReportPeriod {
                start: crate::programme::Date(c.quarter.first()),
                end: crate::programme::Date(c.quarter.last()),
            },
            batch: None,
            participant: None,
            indirect_bp: c.indirect_bp,
            threshold: 5,
        }
    }
}

/// Lowercase hex SHA-256 of a report body's canonical JSON: what a `period.close` records.
pub fn body_digest(body: &ReportBody) -> String {
    use sha2::Digest;
    let value = serde_json::to_value(body).expect("report bodies are plain data");
    let bytes = crate::record::canonical_bytes(&value).expect("report bodies are canonical JSON");
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Several reports from one pass over an export's records up to `size`.
pub fn many_from_export(
    dir: &std::path::Path,
    size: u64,
    reqs: Vec<ReportRequest>,
) -> Result<Vec<ReportBody>, String> {
    accumulate_all(dir, size, reqs)?
        .into_iter()
        .map(|a| a.finish().map_err(|e| e.to_string()))
        .collect()
}

/// Reads an export's records up to `size` into one accumulator per request, in one pass.
fn accumulate_all(
    dir: &std::path::Path,
    size: u64,
    reqs: Vec<ReportRequest>,
) -> Result<Vec<Accumulator>, String> {
    use std::io::BufRead;
    let file = std::fs::File::open(dir.join("records.jsonl"))
        .map_err(|e| format!("records.jsonl: {e}"))?;
    let mut accs: Vec<Accumulator> = reqs.into_iter().map(Accumulator::new).collect();
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    for (i, line) in reader.split(b'\n').enumerate() {
        if i as u64 >= size {
            break;
        }
        let line = line.map_err(|e| e.to_string())?;
        let r = Record::decode_trusted(&line).map_err(|e| format!("seq {i}: {e}"))?;
        for acc in &mut accs {
            acc.push(&r).map_err(|e| format!("seq {i}: {e}"))?;
        }
    }
    Ok(accs)
}

/// Reads an export's records up to `size` into an accumulator.
fn accumulate(dir: &std::path::Path, size: u64, req: ReportRequest) -> Result<Accumulator, String> {
    accumulate_all(dir, size, vec![req])?
        .pop()
        .ok_or_else(|| "no accumulator".to_string())
}

/// The per-measure totals a disaggregation report must publish, from an export.
pub fn totals_from_export(
    dir: &std::path::Path,
    size: u64,
    req: ReportRequest,
) -> Result<Vec<crate::report::Cell>, String> {
    let acc = accumulate(dir, size, req)?;
    let currency = acc.currency().ok_or("the award is not in the export")?;
    Ok(totals(acc.measures(), currency))
}

/// Reads an export's records up to `size` and computes the report body.
pub fn from_export(
    dir: &std::path::Path,
    size: u64,
    req: ReportRequest,
) -> Result<ReportBody, String> {
    accumulate(dir, size, req)?
        .finish()
        .map_err(|e| e.to_string())
}

/// The attributes disaggregated on (recorded outside the journal, in the participant store).
pub const ATTRIBUTES: [&str; 5] = ["sex", "nationality", "province", "pathway", "age_band"];

fn counted(m: &Measures, measure: &str) -> (bool, i64) {
    match measure {
        "enrolled" => (m.enrolled, 0),
        "attending" => (m.attending, 0),
        "certified" => (m.certified, 0),
        "c4t" => (m.c4t > 0, m.c4t),
        "scholarship" => (m.scholarship > 0, m.scholarship),
        _ => (m.seed > 0, m.seed),
    }
}

/// Per measure over all participants: the totals the journal determines (never suppressed).
pub fn totals(measures: &BTreeMap<Id, Measures>, currency: Currency) -> Vec<crate::report::Cell> {
    MEASURES
        .iter()
        .map(|k| {
            let (mut n, mut a) = (0u64, 0i64);
            for m in measures.values() {
                let (yes, amount) = counted(m, k);
                if yes {
                    n += 1;
                    a += amount;
                }
            }
            crate::report::Cell {
                count: Some(n),
                amount: matches!(*k, "c4t" | "scholarship" | "seed_capital")
                    .then(|| format_minor(a.into(), currency)),
            }
        })
        .collect()
}

/// Which cells of one column to hide, given its counts: the suppression rule.
///
/// The column's cells sum to its total, which is published (and is the same figure in every
/// table): that sum is the only relation a reader has, since a row holds different measures of
/// the same people and publishes no total. From it a reader knows the sum of the hidden cells
/// (`total - shown`). So:
/// - primary: every count from 1 to `threshold - 1` is hidden;
/// - complementary: while the column hides fewer than two cells, or their sum is under the
///   threshold, or no larger than the number of hidden cells (which would let a reader who takes
///   every hidden cell to be at least 1 pin them all), its smallest shown non-zero count is hidden
///   too;
/// - when no non-zero count is left to hide (the column's total is itself under the threshold),
///   every cell of the column is hidden, zeros included, so the hidden cells share the total
///   with nothing to tell them apart.
///
/// Zeros are shown otherwise, so a hidden cell is at least 1 unless the whole column is hidden.
/// Then a reader knows of a hidden cell only that it lies in `[1, S - (k - 1)]` (`S` the hidden
/// sum, `k` the hidden cells, `S >= threshold`, `S > k >= 2`), or in `[0, S]` for a wholly
/// hidden column of at least two rows: never one value.
pub fn suppress_column(counts: &[u64], threshold: u64) -> Vec<bool> {
    let mut hidden: Vec<bool> = counts.iter().map(|&n| n > 0 && n < threshold).collect();
    if !hidden.contains(&true) {
        return hidden;
    }
    loop {
        let k = hidden.iter().filter(|h| **h).count() as u64;
        let sum: u64 = counts
            .iter()
            .zip(&hidden)
            .filter(|(_, h)| **h)
            .map(|(n, _)| n)
            .sum();
        if k >= 2 && sum >= threshold && sum > k {
            return hidden;
        }
        let next = (0..counts.len())
            .filter(|&i| !hidden[i] && counts[i] > 0)
            .min_by_key(|&i| (counts[i], i));
        match next {
            Some(i) => hidden[i] = true,
            None => return vec![true; counts.len()],
        }
    }
}

/// Disaggregated counts by each attribute, with small cells suppressed by
/// [`suppress_column`], column by column; an amount is hidden with its count. The totals per
/// measure are one set of figures for every table and are never hidden: the journal determines
/// them and the verifier checks them, and the protection of the cells does not rest on them.
pub fn disaggregate(
    measures: &BTreeMap<Id, Measures>,
    attributes: &std::collections::HashMap<Id, BTreeMap<String, String>>,
    threshold: u64,
    currency: Currency,
) -> crate::report::Disaggregation {
    let totals = totals(measures, currency);
    let mut tables = Vec::new();
    for attr in ATTRIBUTES {
        let mut values: BTreeMap<String, Vec<(u64, i64)>> = BTreeMap::new();
        for (p, m) in measures {
            let value = attributes
                .get(p)
                .and_then(|a| a.get(attr))
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| "not stated".into());
            let row = values
                .entry(value)
                .or_insert_with(|| vec![(0, 0); MEASURES.len()]);
            for (j, k) in MEASURES.iter().enumerate() {
                let (yes, amount) = counted(m, k);
                if yes {
                    row[j].0 += 1;
                    row[j].1 += amount;
                }
            }
        }
        let names: Vec<String> = values.keys().cloned().collect();
        let grid: Vec<Vec<(u64, i64)>> = values.into_values().collect();
        let mut hidden = vec![vec![false; MEASURES.len()]; grid.len()];
        for j in 0..MEASURES.len() {
            let column: Vec<u64> = grid.iter().map(|row| row[j].0).collect();
            for (i, h) in suppress_column(&column, threshold).into_iter().enumerate() {
                hidden[i][j] = h;
            }
        }
        let cells = grid
            .iter()
            .zip(&hidden)
            .map(|(row, h)| {
                row.iter()
                    .zip(h)
                    .enumerate()
                    .map(|(j, ((n, a), hide))| crate::report::Cell {
                        count: (!hide).then_some(*n),
                        amount: (!hide
                            && matches!(MEASURES[j], "c4t" | "scholarship" | "seed_capital"))
                        .then(|| format_minor((*a).into(), currency)),
                    })
                    .collect()
            })
            .collect();
        tables.push(crate::report::DisaggregationTable {
            attribute: attr.to_string(),
            values: names,
            measures: MEASURES.iter().map(|s| s.to_string()).collect(),
            cells,
            totals: totals.clone(),
        });
    }
    crate::report::Disaggregation { threshold, tables }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_suppressed_cell_can_be_recovered_from_the_totals() {
        let usd = Currency::parse("USD").expect("known");
        let mut measures = BTreeMap::new();
        let mut attributes = std::collections::HashMap::new();
        // 23 people: 17 in one province, 4 in another, 2 in a third.
        for i in 0..23u32 {
            let id = Id::parse(&format!("p{i}")).expect("id");
            let province = if i < 17 {
                "Pichincha"
            } else if i < 21 {
                "Imbabura"
            } else {
                "Carchi"
            };
            measures.insert(
                id.clone(),
                Measures {
                    enrolled: true,
                    attending: i % 5 != 0,
                    certified: i % 3 == 0,
                    c4t: if i % 2 == 0 { 6000 } else { 0 },
                    scholarship: 0,
                    seed: 0,
                },
            );
            attributes.insert(
                id,
                BTreeMap::from([("province".to_string(), province.to_string())]),
            );
        }
        let d = disaggregate(&measures, &attributes, 5, usd);
        for t in &d.tables {
            assert_eq!(
                t.totals,
                totals(&measures, usd),
                "{}: the totals",
                t.attribute
            );
            for j in 0..t.measures.len() {
                let column: Vec<Option<u64>> = t.cells.iter().map(|row| row[j].count).collect();
                let hidden = column.iter().filter(|c| c.is_none()).count();
                assert!(
                    hidden != 1,
                    "{}: {} hides one cell",
                    t.attribute,
                    t.measures[j]
                );
                for n in column.iter().flatten() {
                    assert!(*n == 0 || *n >= 5, "{}: {n} shown", t.attribute);
                }
            }
        }
        let province = d
            .tables
            .iter()
            .find(|t| t.attribute == "province")
            .expect("table");
        assert_eq!(province.values, ["Carchi", "Imbabura", "Pichincha"]);
        assert_eq!(province.totals[0].count, Some(23));
    }

    #[test]
    fn a_column_hides_at_least_the_threshold_over_at_least_two_cells() {
        // Two cells of 1: a reader who knew zeros were shown would know both are 1.
        assert_eq!(
            suppress_column(&[1, 1, 0, 9, 7], 5),
            [true, true, false, false, true]
        );
        // One small cell: the smallest other non-zero count goes with it, never a zero.
        assert_eq!(
            suppress_column(&[4, 0, 6, 8], 5),
            [true, false, true, false]
        );
        // Nothing small, nothing hidden.
        assert_eq!(suppress_column(&[0, 5, 6], 5), [false, false, false]);
        // A total under the threshold: the whole column, zeros included.
        assert_eq!(suppress_column(&[2, 0, 1], 5), [true, true, true]);
        // Five ones: their sum reaches the threshold but each would be pinned at 1.
        assert_eq!(
            suppress_column(&[1, 1, 1, 1, 1, 0, 30], 5),
            [true, true, true, true, true, false, true]
        );
    }
}
