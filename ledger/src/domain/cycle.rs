//! Entitlement cycles: turning the evidence of a period into entitlements under the rule
//! versions in force, with every exception listed.
//!
//! [`compute`] is pure: from the programme state and the budget already used it returns the
//! commands to post (reversals first where evidence was corrected, then new entitlements) and the
//! report. Run twice on the same journal it returns nothing to post, because every entitlement it
//! would make already exists with the same amount. The ledger posts the commands in batches; the
//! journal re-checks every cap and budget on append, so a bug here can refuse a cycle but never
//! overdraw a line.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tranche_audit::account::AccountName;
use tranche_audit::money::{format_minor, Currency, Money};
use tranche_audit::posting::{Posting, Side};
use tranche_audit::programme::{
    accounts, canonical_amount, Basis, Id, Milestone, Outcome, Pathway, Period, Presence,
    RuleParams, MAX_EVIDENCE_REFS,
};
use tranche_audit::Code;
use tranche_audit::Invalid;

use super::command::{Command, EntitlementCommand};
use super::programme::{
    check_period, Award, EntitlementMeta, Participant, ProgrammeState, RuleVersion,
};
use super::transaction::NewTransaction;

/// Why an entitlement was not made, cut, or needs a look. Stable codes for CSV and API.
pub mod reason {
    /// Registered but enrolled in no cohort.
    pub const NOT_ENROLLED: &str = "not_enrolled";
    /// Sessions were scheduled in the period but no attendance was recorded for any.
    pub const NO_ATTENDANCE_RECORDED: &str = "no_attendance_recorded";
    /// Some scheduled sessions have no attendance record; they count as absences.
    pub const ATTENDANCE_INCOMPLETE: &str = "attendance_incomplete";
    /// Attendance below the rule's lowest threshold.
    pub const BELOW_THRESHOLD: &str = "below_threshold";
    /// The amount was cut to what remains under the participant's cap.
    pub const CAPPED: &str = "capped";
    /// Nothing left under the participant's cap.
    pub const CAP_REACHED: &str = "cap_reached";
    /// The budget line has not enough authorisation left; nothing posted.
    pub const BUDGET_EXHAUSTED: &str = "budget_exhausted";
    /// A seed-capital milestone failed: nothing more is paid, the rest of the obligation is released.
    pub const FAILED_MILESTONE: &str = "failed_milestone";
    /// A certification failed: no incentive.
    pub const FAILED_CERTIFICATION: &str = "failed_certification";
    /// No version of the rule was in force on the date that mattered.
    pub const RULE_NOT_IN_FORCE: &str = "rule_not_in_force";
    /// A tranche passed but its obligation was never made (budget exhausted at plan approval).
    pub const NO_OBLIGATION: &str = "no_obligation";
    /// An earlier entitlement was reversed because its evidence changed.
    pub const CORRECTED: &str = "corrected";
    /// An entitlement already paid was lowered by corrected evidence: the difference is
    /// recovered from the payee (a receivable, deducted from her next entitlements).
    pub const RECOVERED: &str = "recovered_after_payment";
    /// An entitlement already paid was raised by corrected evidence: the difference is a
    /// supplement, paid by the next batch.
    pub const SUPPLEMENTED: &str = "supplemented_after_payment";
    /// Part of a new entitlement was kept back against what the payee owes from a recovery.
    pub const DEDUCTED: &str = "deducted_for_recovery";
}

/// One listed exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CycleException {
    pub participant: String,
    pub rule: String,
    pub reason: &'static str,
    pub detail: String,
    /// The amount concerned (what was cut, refused or reversed), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

/// Entitlements of one rule charged to one budget line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineTotal {
    pub rule: String,
    pub budget_line: String,
    /// "payable" (cash owed) or "obligation" (memo commitments and their liquidation).
    pub kind: &'static str,
    pub entitlements: u64,
    pub amount: String,
    pub reversals: u64,
    pub reversed_amount: String,
    #[serde(skip)]
    amount_minor: i64,
    #[serde(skip)]
    reversed_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleUsed {
    pub rule: String,
    pub version: u64,
    pub shape: &'static str,
    pub effective: String,
}

/// The report of one cycle run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CycleReport {
    pub award: String,
    pub period: String,
    pub currency: String,
    /// The versions in force on the first day of the period.
    pub rules: Vec<RuleUsed>,
    pub participants: u64,
    pub lines: Vec<LineTotal>,
    pub entitlements: u64,
    pub reversals: u64,
    /// Net new payables posted (entitlements minus reversals, payable kind only).
    pub net_payable: String,
    pub exceptions: Vec<CycleException>,
    /// Exceptions per reason.
    pub exception_counts: BTreeMap<&'static str, u64>,
    /// First and last seq of what this run posted, and the checkpoint after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_size: Option<u64>,
}

impl CycleReport {
    /// The exceptions as CSV (header included).
    pub fn exceptions_csv(&self) -> String {
        let mut out = String::from("participant,rule,reason,amount,detail\n");
        for e in &self.exceptions {
            out.push_str(&format!(
                "{},{},{},{},{}\n",
                crate::csv::cell(&e.participant),
                crate::csv::cell(&e.rule),
                e.reason,
                e.amount.as_deref().unwrap_or(""),
                crate::csv::cell(&e.detail)
            ));
        }
        out
    }

    /// Counts and totals per rule and budget line as CSV (header included).
    pub fn lines_csv(&self) -> String {
        let mut out = String::from(
            "rule,budget_line,kind,entitlements,amount,reversals,reversed_amount,currency\n",
        );
        for l in &self.lines {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                l.rule,
                l.budget_line,
                l.kind,
                l.entitlements,
                l.amount,
                l.reversals,
                l.reversed_amount,
                self.currency
            ));
        }
        out
    }
}

/// What a cycle would post, and its report (without seqs until posted).
#[derive(Debug, Clone)]
pub struct Computed {
    pub commands: Vec<Command>,
    pub report: CycleReport,
}

/// (rule, budget line, kind)
type LineKey = (String, String, &'static str);
/// (entitlements, amount, reversals, reversed amount)
type LineCounts = (u64, i64, u64, i64);

struct Ctx<'a> {
    state: &'a ProgrammeState,
    award: &'a Award,
    period: Period,
    currency: Currency,
    /// Budget used per line (expense + unliquidated obligations), minor units, as posting goes.
    used: HashMap<Id, i64>,
    /// Open receivable accounts of the award and what each payee still owes, minor units, as
    /// posting goes.
    receivables: HashMap<String, i64>,
    commands: Vec<Command>,
    exceptions: Vec<CycleException>,
    lines: BTreeMap<LineKey, LineCounts>,
}

impl Ctx<'_> {
    /// An entitlement is dated the last day of its cycle's month; when that month's quarter is
    /// closed, it is a late correction dated the day it is written (the planner's default).
    fn date(&self) -> Option<chrono::NaiveDate> {
        let last = self.period.last();
        match self.award.periods.closed_through() {
            Some(through) if last <= through => None,
            _ => Some(last),
        }
    }

    /// The closed quarter a cycle's entitlement corrects, when its month is in one.
    fn prior_period(&self) -> Option<tranche_audit::period::Quarter> {
        self.date()
            .is_none()
            .then(|| tranche_audit::period::Quarter::of(self.period.last()))
    }

    fn money(&self, minor: i64) -> String {
        format_minor(minor.into(), self.currency)
    }

    fn except(
        &mut self,
        p: &Participant,
        rule: &Id,
        reason: &'static str,
        detail: String,
        amount: Option<i64>,
    ) {
        let amount = amount.map(|a| self.money(a));
        self.exceptions.push(CycleException {
            participant: p.id.to_string(),
            rule: rule.to_string(),
            reason,
            detail,
            amount,
        });
    }

    fn posting(&self, account: String, side: Side, minor: i64) -> Result<Posting, Invalid> {
        Ok(Posting {
            account: AccountName::parse(&account)?,
            side,
            money: Money::from_minor(minor, self.currency),
        })
    }

    fn room(&self, line: &Id) -> i64 {
        self.award.authorised.get(line).copied().unwrap_or(0)
            - self.used.get(line).copied().unwrap_or(0)
    }

    /// Queues an entitlement debiting `debit` and crediting `credit` for `minor`.
    #[allow(clippy::too_many_arguments)]
    fn entitle(
        &mut self,
        p: &Participant,
        version: &RuleVersion,
        basis: Basis,
        line: &Id,
        kind: &'static str,
        debit: String,
        credit: String,
        minor: i64,
        evidence: Vec<u64>,
        memo: String,
        reverses: Option<u64>,
        adjusts: Option<u64>,
    ) -> Result<(), Invalid> {
        let (debit, credit) = match reverses {
            None => (debit, credit),
            Some(_) => (credit, debit),
        };
        let mut postings = vec![self.posting(debit.clone(), Side::Debit, minor)?];
        // What the payee owes from a recovery is kept back from what she is newly owed.
        let owed_account = accounts::receivable_of_payable(&credit)
            .filter(|_| reverses.is_none() && kind == "payable");
        let kept = owed_account
            .as_ref()
            .and_then(|a| self.receivables.get(a))
            .map_or(0, |owed| (*owed).clamp(0, minor));
        let mut memo = memo;
        if kept < minor {
            postings.push(self.posting(credit, Side::Credit, minor - kept)?);
        }
        if kept > 0 {
            let account = owed_account.expect("kept only with a receivable");
            postings.push(self.posting(account.clone(), Side::Credit, kept)?);
            *self.receivables.get_mut(&account).expect("known") -= kept;
            memo = format!("{memo}; {} kept back for a recovery", self.money(kept));
            self.except(
                p,
                &version.body.rule,
                reason::DEDUCTED,
                format!(
                    "{} of {} kept back against what is owed from a recovery",
                    self.money(kept),
                    self.money(minor)
                ),
                Some(kept),
            );
        }
        let mut evidence = evidence;
        evidence.sort_unstable();
        evidence.dedup();
        evidence.truncate(MAX_EVIDENCE_REFS);
        let command = EntitlementCommand::new(
            EntitlementMeta {
                award: self.award.body.award.clone(),
                participant: p.id.clone(),
                basis,
                rule: version.body.rule.clone(),
                version: version.body.version,
                evidence,
                adjusts,
            },
            NewTransaction {
                memo,
                postings,
                reverses,
                date: self.date(),
                prior_period: self.prior_period(),
            },
        )?;
        let recovery =
            adjusts.is_some()
                && command.tx.postings.iter().any(|q| {
                    q.side == Side::Debit && q.account.as_str().starts_with("receivable:")
                });
        // The budget effect: debits of expense/obligation use the line, credits free it.
        let delta: i64 = command
            .tx
            .postings
            .iter()
            .filter(|q| {
                q.account.as_str() == accounts::expense(&self.award.body.award, line)
                    || q.account.as_str() == accounts::obligation(&self.award.body.award, line)
            })
            .map(|q| match q.side {
                Side::Debit => q.money.minor(),
                Side::Credit => -q.money.minor(),
            })
            .sum();
        *self.used.entry(line.clone()).or_default() += delta;
        let entry = self
            .lines
            .entry((version.body.rule.to_string(), line.to_string(), kind))
            .or_default();
        if reverses.is_some() || recovery {
            entry.2 += 1;
            entry.3 += minor;
        } else {
            entry.0 += 1;
            entry.1 += minor;
        }
        self.commands.push(Command::Entitlement(command));
        Ok(())
    }

    /// Opens the receivable account `name` with the cycle's commands unless it is open.
    fn open_receivable(&mut self, name: &str) -> Result<(), Invalid> {
        if !self.receivables.contains_key(name) {
            self.commands.push(Command::OpenAccount {
                name: AccountName::parse(name)?,
                account_type: tranche_audit::account::AccountType::Asset,
                description: Some("owed back by the payee after an overpayment".into()),
            });
            self.receivables.insert(name.to_string(), 0);
        }
        Ok(())
    }

    /// Checks the line has room for a new charge of `minor`; lists the refusal otherwise.
    fn fits(&mut self, p: &Participant, rule: &Id, line: &Id, minor: i64, what: &str) -> bool {
        let room = self.room(line);
        if minor > room {
            let detail = format!(
                "{what}: budget line {line} has {} left of {} authorised",
                self.money(room.max(0)),
                self.money(self.award.authorised.get(line).copied().unwrap_or(0))
            );
            self.except(p, rule, reason::BUDGET_EXHAUSTED, detail, Some(minor));
            return false;
        }
        true
    }
}

fn amount(text: &str, currency: Currency, field: &str) -> Result<i64, Invalid> {
    Ok(canonical_amount(text, currency, field)?.minor())
}

/// Computes the cycle of `award` for `period` over every participant of the award that `state`
/// holds. `used` is the budget already used per line (expense plus unliquidated obligation
/// balances), in minor units; `receivables` holds every open receivable account of the award
/// with what its payee still owes (debit balance).
pub fn compute(
    state: &ProgrammeState,
    award_id: &Id,
    period: Period,
    used: HashMap<Id, i64>,
    receivables: HashMap<String, i64>,
) -> Result<Computed, Invalid> {
    let mut run = CycleRun::new(award_id, period, used, receivables);
    run.page(state)?;
    run.finish()
}

/// A cycle computed a page of participants at a time, in participant order, so that no more
/// than a page of them is ever loaded: what `compute` does in one page. Budget used, open
/// receivables, commands, exceptions and line totals carry from page to page, so the pages
/// give exactly the result of one.
#[derive(Debug)]
pub struct CycleRun {
    award: Id,
    period: Period,
    currency: Option<Currency>,
    used: HashMap<Id, i64>,
    receivables: HashMap<String, i64>,
    commands: Vec<Command>,
    exceptions: Vec<CycleException>,
    lines: BTreeMap<LineKey, LineCounts>,
    rules_used: Vec<RuleUsed>,
    participants: u64,
    /// The last participant computed: pages must come in order.
    last: Option<Id>,
}

impl CycleRun {
    pub fn new(
        award: &Id,
        period: Period,
        used: HashMap<Id, i64>,
        receivables: HashMap<String, i64>,
    ) -> CycleRun {
        CycleRun {
            award: award.clone(),
            period,
            currency: None,
            used,
            receivables,
            commands: Vec::new(),
            exceptions: Vec::new(),
            lines: BTreeMap::new(),
            rules_used: Vec::new(),
            participants: 0,
            last: None,
        }
    }

    /// Computes the award's participants that `state` holds (every one after the previous
    /// page's last, in id order).
    pub fn page(&mut self, state: &ProgrammeState) -> Result<(), Invalid> {
        let award_id = &self.award;
        let period = self.period;
        let award = state.awards.get(award_id).ok_or_else(|| {
            Invalid::new(
                "award",
                Code::UnknownAward,
                format!("award {award_id} is not open"),
            )
        })?;
        check_period(award, period)?;
        if self.currency.is_none() {
            self.currency = Some(award.currency);
            for (rule, versions) in &award.rules {
                if let Some(v) = award
                    .version_on(rule, period.first)
                    .or_else(|| versions.first())
                {
                    self.rules_used.push(RuleUsed {
                        rule: rule.to_string(),
                        version: v.body.version,
                        shape: v.body.params.shape(),
                        effective: v.body.effective.to_string(),
                    });
                }
            }
        }
        let mut cx = Ctx {
            state,
            award,
            period,
            currency: award.currency,
            used: std::mem::take(&mut self.used),
            receivables: std::mem::take(&mut self.receivables),
            commands: std::mem::take(&mut self.commands),
            exceptions: std::mem::take(&mut self.exceptions),
            lines: std::mem::take(&mut self.lines),
        };
        let mut participants: Vec<&Participant> = award
            .participants
            .iter()
            .map(|&i| &state.participants[i as usize])
            .filter(|p| self.last.as_ref().is_none_or(|last| &p.id > last))
            .collect();
        participants.sort_by(|a, b| a.id.cmp(&b.id));
        let mut result = Ok(());
        'people: for p in &participants {
            for (rule, versions) in &award.rules {
                let Some(first) = versions.first() else {
                    continue;
                };
                let step = match &first.body.params {
                    RuleParams::C4tMonthly { .. } => c4t(&mut cx, p, rule),
                    RuleParams::Scholarship { .. } => scholarship(&mut cx, p, rule),
                    RuleParams::SeedCapital { .. } => seed(&mut cx, p, rule),
                };
                if let Err(e) = step {
                    result = Err(e);
                    break 'people;
                }
            }
        }
        self.used = cx.used;
        self.receivables = cx.receivables;
        self.commands = cx.commands;
        self.exceptions = cx.exceptions;
        self.lines = cx.lines;
        self.participants += participants.len() as u64;
        if let Some(p) = participants.last() {
            self.last = Some(p.id.clone());
        }
        result
    }

    /// The commands to post and the report.
    pub fn finish(mut self) -> Result<Computed, Invalid> {
        let Some(currency) = self.currency else {
            return Err(Invalid::new(
                "award",
                Code::UnknownAward,
                format!("award {} is not open", self.award),
            ));
        };
        let money = |minor: i64| format_minor(minor.into(), currency);
        let mut lines = Vec::new();
        let (mut entitlements, mut reversals, mut net) = (0, 0, 0i64);
        for ((rule, line, kind), (n, a, rn, ra)) in &self.lines {
            entitlements += n;
            reversals += rn;
            if *kind == "payable" {
                net += a - ra;
            }
            lines.push(LineTotal {
                rule: rule.clone(),
                budget_line: line.clone(),
                kind,
                entitlements: *n,
                amount: money(*a),
                reversals: *rn,
                reversed_amount: money(*ra),
                amount_minor: *a,
                reversed_minor: *ra,
            });
        }
        let mut exception_counts = BTreeMap::new();
        for e in &self.exceptions {
            *exception_counts.entry(e.reason).or_insert(0) += 1;
        }
        let report = CycleReport {
            award: self.award.to_string(),
            period: self.period.to_string(),
            currency: currency.code().to_string(),
            rules: self.rules_used,
            participants: self.participants,
            lines,
            entitlements,
            reversals,
            net_payable: format_minor(net.into(), currency),
            exceptions: std::mem::take(&mut self.exceptions),
            exception_counts,
            first_seq: None,
            last_seq: None,
            checkpoint_size: None,
        };
        Ok(Computed {
            commands: self.commands,
            report,
        })
    }
}

fn c4t(cx: &mut Ctx<'_>, p: &Participant, rule: &Id) -> Result<(), Invalid> {
    let period = cx.period;
    let basis = Basis::c4t(period);
    let live = p.entitlements.get(&basis).cloned();
    let Some(version) = cx.award.version_on(rule, period.first) else {
        if p.enrolments.is_empty() {
            return Ok(());
        }
        let detail = format!("no version of rule {rule} is in force on {}", period.first);
        cx.except(p, rule, reason::RULE_NOT_IN_FORCE, detail, None);
        return Ok(());
    };
    let RuleParams::C4tMonthly {
        line,
        amount: full,
        full_from_percent,
        partial_from_percent,
        cap,
    } = &version.body.params
    else {
        return Ok(());
    };
    let full = amount(full, cx.currency, "amount")?;
    let cap = amount(cap, cx.currency, "cap")?;
    if p.enrolments.is_empty() {
        cx.except(
            p,
            rule,
            reason::NOT_ENROLLED,
            "registered but enrolled in no cohort".into(),
            None,
        );
        return Ok(());
    }
    let mut scheduled = 0i64;
    let mut recorded = 0i64;
    let mut attended = 0i64;
    let mut evidence = Vec::new();
    for e in &p.enrolments {
        let Some(cohort) = cx.state.cohorts.get(&e.cohort) else {
            continue;
        };
        let mut counted = false;
        for &si in &cohort.sessions {
            let s = &cx.state.sessions[si as usize];
            if !period.contains(s.date) || s.date < e.date {
                continue;
            }
            scheduled += 1;
            counted = true;
            if let Some(a) = p.attendance_at(si) {
                recorded += 1;
                evidence.push(a.seq);
                if a.status == Presence::Present {
                    attended += 1;
                }
            }
        }
        if counted {
            evidence.push(e.seq);
        }
    }
    // What the evidence entitles now (None: nothing), before the cap.
    let mut desired: Option<i64> = None;
    let mut memo = String::new();
    if scheduled > 0 {
        if recorded == 0 {
            cx.except(
                p,
                rule,
                reason::NO_ATTENDANCE_RECORDED,
                format!("{scheduled} sessions scheduled in {period}, no attendance recorded"),
                None,
            );
        } else {
            if recorded < scheduled {
                cx.except(
                    p,
                    rule,
                    reason::ATTENDANCE_INCOMPLETE,
                    format!(
                        "{} of {scheduled} sessions in {period} have no attendance record; counted as absent",
                        scheduled - recorded
                    ),
                    None,
                );
            }
            let pct = attended * 100;
            if pct >= i64::from(*full_from_percent) * scheduled {
                desired = Some(full);
            } else if pct >= i64::from(*partial_from_percent) * scheduled {
                // Rounded down to the minor unit.
                desired = Some(full * attended / scheduled);
            } else {
                cx.except(
                    p,
                    rule,
                    reason::BELOW_THRESHOLD,
                    format!(
                        "attended {attended} of {scheduled} sessions ({}%), below {partial_from_percent}%",
                        attended * 100 / scheduled
                    ),
                    None,
                );
            }
            memo = format!(
                "C4T {period}: attended {attended} of {scheduled} sessions ({}%)",
                attended * 100 / scheduled
            );
        }
    }
    // An entitlement already made is never cut back because later months used up the cap:
    // only a change in this month's own evidence changes it.
    if let (Some(l), Some(d)) = (&live, desired) {
        if d >= l.effective() && cap - p.c4t_total(Some(&basis)) <= l.effective() {
            return Ok(());
        }
    }
    if let Some(d) = desired {
        let room = cap - p.c4t_total(Some(&basis));
        if room <= 0 {
            cx.except(
                p,
                rule,
                reason::CAP_REACHED,
                format!("the cap of {} over the award is reached", cx.money(cap)),
                Some(d),
            );
            desired = None;
        } else if d > room {
            cx.except(
                p,
                rule,
                reason::CAPPED,
                format!(
                    "{} cut to {} to stay within the cap of {}",
                    cx.money(d),
                    cx.money(room),
                    cx.money(cap)
                ),
                Some(d - room),
            );
            desired = Some(room);
            memo = format!("{memo}, capped");
        }
    }
    let award_id = cx.award.body.award.clone();
    let expense = accounts::expense(&award_id, line);
    let payable = accounts::participant_payable(&award_id, &p.id);
    if let Some(l) = &live {
        let effective = l.effective();
        if desired.unwrap_or(0) == effective {
            return Ok(());
        }
        let rv = cx
            .award
            .rules
            .get(&l.rule)
            .and_then(|v| v.iter().find(|r| r.body.version == l.version))
            .unwrap_or(version);
        // Paid (or adjusted since): the entitlement stands, and the difference is recovered
        // from the payee or paid as a supplement; reversing it would overpay her.
        let paid = super::programme::paid_by(cx.state, l.seq);
        if paid.is_some() || !l.adjustments.is_empty() {
            let paid_note = paid
                .map(|pm| format!(" (paid by {} of batch {})", pm.e2e, pm.batch))
                .unwrap_or_default();
            let want = desired.unwrap_or(0);
            if want < effective {
                let back = effective - want;
                let receivable = accounts::participant_receivable(&award_id, &p.id);
                cx.open_receivable(&receivable)?;
                cx.except(
                    p,
                    rule,
                    reason::RECOVERED,
                    format!(
                        "entitlement seq {} of {}{paid_note} is now {} after corrected or late evidence: {} recovered from the participant",
                        l.seq,
                        cx.money(effective),
                        cx.money(want),
                        cx.money(back)
                    ),
                    Some(back),
                );
                cx.entitle(
                    p,
                    rv,
                    basis,
                    line,
                    "payable",
                    receivable.clone(),
                    expense,
                    back,
                    evidence,
                    format!(
                        "recovery of C4T {period} (seq {}): evidence corrected after payment",
                        l.seq
                    ),
                    None,
                    Some(l.seq),
                )?;
                *cx.receivables.entry(receivable).or_default() += back;
            } else {
                let more = want - effective;
                let what = format!("supplement of C4T {period} of {}", cx.money(more));
                if cx.fits(p, rule, line, more, &what) {
                    cx.except(
                        p,
                        rule,
                        reason::SUPPLEMENTED,
                        format!(
                            "entitlement seq {} of {}{paid_note} is now {} after corrected or late evidence: a supplement of {}",
                            l.seq,
                            cx.money(effective),
                            cx.money(want),
                            cx.money(more)
                        ),
                        Some(more),
                    );
                    cx.entitle(
                        p,
                        rv,
                        basis,
                        line,
                        "payable",
                        expense,
                        payable,
                        more,
                        evidence,
                        format!(
                            "supplement of C4T {period} (seq {}): evidence corrected after payment",
                            l.seq
                        ),
                        None,
                        Some(l.seq),
                    )?;
                }
            }
            return Ok(());
        }
        // The evidence changed: reverse what was made, then make what is due now.
        cx.except(
            p,
            rule,
            reason::CORRECTED,
            format!(
                "entitlement seq {} of {} reversed after corrected or late evidence",
                l.seq,
                cx.money(l.amount)
            ),
            Some(l.amount),
        );
        cx.entitle(
            p,
            rv,
            basis.clone(),
            line,
            "payable",
            expense.clone(),
            payable.clone(),
            l.amount,
            evidence.clone(),
            format!(
                "reversal of C4T {period} (seq {}): evidence corrected",
                l.seq
            ),
            Some(l.seq),
            None,
        )?;
    }
    if let Some(d) = desired {
        if d > 0
            && cx.fits(
                p,
                rule,
                line,
                d,
                &format!("C4T {period} of {}", cx.money(d)),
            )
        {
            cx.entitle(
                p, version, basis, line, "payable", expense, payable, d, evidence, memo, None, None,
            )?;
        }
    }
    Ok(())
}

fn scholarship(cx: &mut Ctx<'_>, p: &Participant, rule: &Id) -> Result<(), Invalid> {
    let period = cx.period;
    let award_id = cx.award.body.award.clone();
    for e in &p.enrolments {
        let Some(cohort) = cx.state.cohorts.get(&e.cohort) else {
            continue;
        };
        if cohort.body.pathway != Pathway::VocationalScholarship || e.date > period.last() {
            continue;
        }
        let (Some(course), Some(provider)) = (&cohort.body.course, &cohort.body.provider) else {
            continue;
        };
        // Tuition, once per cohort, to the provider.
        let basis = Basis::tuition(&e.cohort);
        if !p.entitlements.contains_key(&basis) {
            match cx.award.version_on(rule, e.date) {
                None => {
                    let detail =
                        format!("no version of rule {rule} in force on enrolment {}", e.date);
                    cx.except(p, rule, reason::RULE_NOT_IN_FORCE, detail, None);
                }
                Some(v) => {
                    if let RuleParams::Scholarship {
                        tuition_line,
                        tuition,
                        ..
                    } = &v.body.params
                    {
                        let minor = amount(tuition, cx.currency, "tuition")?;
                        let what =
                            format!("tuition of {} for cohort {}", cx.money(minor), e.cohort);
                        if cx.fits(p, rule, tuition_line, minor, &what) {
                            cx.entitle(
                                p,
                                v,
                                basis,
                                tuition_line,
                                "payable",
                                accounts::expense(&award_id, tuition_line),
                                accounts::vendor_payable(&award_id, provider),
                                minor,
                                vec![e.seq],
                                format!("scholarship tuition: {} in cohort {} ({course}), to {provider}", p.id, e.cohort),
                                None, None)?;
                        }
                    }
                }
            }
        }
        // The incentive, on a passed certification of the cohort's course.
        let basis = Basis::incentive(course);
        for c in p.certifications.iter().filter(|c| &c.course == course) {
            if c.date > period.last() {
                continue;
            }
            if c.result == Outcome::Failed {
                if period.contains(c.date) {
                    let detail = format!("certification in {course} failed on {}", c.date);
                    cx.except(p, rule, reason::FAILED_CERTIFICATION, detail, None);
                }
                continue;
            }
            if p.entitlements.contains_key(&basis) {
                continue;
            }
            let Some(v) = cx.award.version_on(rule, c.date) else {
                let detail = format!(
                    "no version of rule {rule} in force on certification {}",
                    c.date
                );
                cx.except(p, rule, reason::RULE_NOT_IN_FORCE, detail, None);
                continue;
            };
            if let RuleParams::Scholarship {
                incentive_line,
                incentive,
                ..
            } = &v.body.params
            {
                let minor = amount(incentive, cx.currency, "incentive")?;
                let what = format!("incentive of {} for {course}", cx.money(minor));
                if cx.fits(p, rule, incentive_line, minor, &what) {
                    cx.entitle(
                        p,
                        v,
                        basis.clone(),
                        incentive_line,
                        "payable",
                        accounts::expense(&award_id, incentive_line),
                        accounts::participant_payable(&award_id, &p.id),
                        minor,
                        vec![e.seq, c.seq],
                        format!("scholarship incentive: {course} certified {}", c.date),
                        None,
                        None,
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn seed(cx: &mut Ctx<'_>, p: &Participant, rule: &Id) -> Result<(), Invalid> {
    if p.milestones.is_empty() {
        return Ok(());
    }
    let period = cx.period;
    let award_id = cx.award.body.award.clone();
    let due: Vec<_> = p
        .milestones
        .iter()
        .filter(|m| m.date <= period.last())
        .collect();
    let Some(plan) = due.iter().find(|m| m.milestone == Milestone::PlanApproved) else {
        return Ok(());
    };
    if plan.result == Outcome::Failed {
        if period.contains(plan.date) {
            let detail = format!("business plan not approved at the visit of {}", plan.date);
            cx.except(p, rule, reason::FAILED_MILESTONE, detail, None);
        }
        return Ok(());
    }
    // The obligation: made once, under the version in force on plan approval.
    let obligation = p.entitlements.get(&Basis::seed_obligation()).cloned();
    let (version, obligated) = match &obligation {
        Some(o) => match cx
            .award
            .rules
            .get(&o.rule)
            .and_then(|v| v.iter().find(|r| r.body.version == o.version))
        {
            Some(v) => (v, o.amount),
            None => return Ok(()),
        },
        None => {
            let Some(v) = cx.award.version_on(rule, plan.date) else {
                let detail = format!(
                    "no version of rule {rule} in force on plan approval {}",
                    plan.date
                );
                cx.except(p, rule, reason::RULE_NOT_IN_FORCE, detail, None);
                return Ok(());
            };
            let RuleParams::SeedCapital {
                line, obligation, ..
            } = &v.body.params
            else {
                return Ok(());
            };
            let minor = amount(obligation, cx.currency, "obligation")?;
            let what = format!("seed capital obligation of {}", cx.money(minor));
            if !cx.fits(p, rule, line, minor, &what) {
                if due
                    .iter()
                    .any(|m| m.milestone != Milestone::PlanApproved && m.result == Outcome::Passed)
                {
                    let detail = "a tranche milestone passed but its obligation could not be made"
                        .to_string();
                    cx.except(p, rule, reason::NO_OBLIGATION, detail, None);
                }
                return Ok(());
            }
            cx.entitle(
                p,
                v,
                Basis::seed_obligation(),
                line,
                "obligation",
                accounts::obligation(&award_id, line),
                accounts::obligation_contra(&award_id, line),
                minor,
                vec![plan.seq],
                format!(
                    "seed capital committed: business plan approved {}",
                    plan.date
                ),
                None,
                None,
            )?;
            (v, minor)
        }
    };
    let RuleParams::SeedCapital {
        line,
        tranche_1,
        tranche_2,
        ..
    } = &version.body.params
    else {
        return Ok(());
    };
    let mut liquidated: i64 = [Milestone::Tranche1, Milestone::Tranche2]
        .iter()
        .filter_map(|m| p.entitlements.get(&Basis::seed_liquidation(*m)))
        .map(|e| e.amount)
        .sum();
    let released = p.entitlements.contains_key(&Basis::seed_release());
    for m in due
        .iter()
        .filter(|m| m.milestone != Milestone::PlanApproved)
    {
        if m.result == Outcome::Failed {
            if !released && obligated > liquidated {
                let rest = obligated - liquidated;
                cx.entitle(
                    p,
                    version,
                    Basis::seed_release(),
                    line,
                    "obligation",
                    accounts::obligation_contra(&award_id, line),
                    accounts::obligation(&award_id, line),
                    rest,
                    vec![plan.seq, m.seq],
                    format!(
                        "seed capital released: milestone {} failed {}",
                        m.milestone.as_str(),
                        m.date
                    ),
                    None,
                    None,
                )?;
                let detail = format!(
                    "milestone {} failed at the visit of {}: {} of the obligation released, nothing more paid",
                    m.milestone.as_str(),
                    m.date,
                    cx.money(rest)
                );
                cx.except(p, rule, reason::FAILED_MILESTONE, detail, Some(rest));
            }
            break;
        }
        let basis = Basis::seed_tranche(m.milestone);
        if p.entitlements.contains_key(&basis) || released {
            continue;
        }
        let text = if m.milestone == Milestone::Tranche1 {
            tranche_1
        } else {
            tranche_2
        };
        let minor = amount(text, cx.currency, "tranche")?;
        // Liquidate that part of the obligation first, then owe it: the line's use is unchanged.
        cx.entitle(
            p,
            version,
            Basis::seed_liquidation(m.milestone),
            line,
            "obligation",
            accounts::obligation_contra(&award_id, line),
            accounts::obligation(&award_id, line),
            minor,
            vec![plan.seq, m.seq],
            format!(
                "seed capital {} liquidates the obligation",
                m.milestone.as_str()
            ),
            None,
            None,
        )?;
        cx.entitle(
            p,
            version,
            basis,
            line,
            "payable",
            accounts::expense(&award_id, line),
            accounts::participant_payable(&award_id, &p.id),
            minor,
            vec![plan.seq, m.seq],
            format!(
                "seed capital {}: milestone verified {}",
                m.milestone.as_str(),
                m.date
            ),
            None,
            None,
        )?;
        liquidated += minor;
    }
    Ok(())
}
