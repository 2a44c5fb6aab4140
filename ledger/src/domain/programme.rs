//! The programme state: awards, partners and their keys, cohorts, sessions, participants, the
//! evidence they have, rule versions and live entitlements. It is a projection of the journal
//! held in memory (rebuilt from the programme records, caught up under the writer lock), and
//! [`apply`] holds every stateful rule of the programme records, exactly as `domain::apply` does
//! for accounts and transactions.
//!
//! Changes go through an undo log so that a refused batch leaves the state as it was without
//! cloning it: every mutation pushes its inverse, and [`ProgrammeState::rollback_to`] pops them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use tranche_audit::account::AccountName;
use tranche_audit::money::{format_minor, Currency};
use tranche_audit::posting::{Posting, Side};
use tranche_audit::programme::{
    accounts, AwardOpenBody, Basis, CohortOpenBody, CycleRunBody, Date, EvidenceBody, EvidenceItem,
    Id, KeyAction, Milestone, Outcome, ParticipantRegisterBody, PartnerKeyBody,
    PartnerRegisterBody, Pathway, Period, Presence, RuleParams, RuleVersionBody,
    SessionScheduleBody,
};
use tranche_audit::Code;
use tranche_audit::Invalid;

/// Personal data of a participant: never in the journal, kept in the erasable participant store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonalData {
    /// HMAC-SHA256 of the normalised document number under the ledger's participant key.
    pub doc_hmac: String,
    /// The salt of the attribute commitment (hex).
    pub salt: String,
    /// Name, document number, phone, bank account (JSON object).
    pub personal: serde_json::Value,
    /// Sex, nationality, province, pathway, age band (JSON object): what the commitment covers.
    pub attributes: serde_json::Value,
}

/// A programme command: one journal record each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgrammeCommand {
    AwardOpen(AwardOpenBody),
    PartnerRegister(PartnerRegisterBody),
    PartnerKey(PartnerKeyBody),
    CohortOpen(CohortOpenBody),
    SessionSchedule(SessionScheduleBody),
    /// `personal` is present when a partner registers someone, absent when replaying.
    ParticipantRegister {
        body: ParticipantRegisterBody,
        personal: Option<Box<PersonalData>>,
    },
    Evidence(Box<EvidenceBody>),
    RuleVersion(RuleVersionBody),
    CycleRun(CycleRunBody),
    /// A quarter of an award closed (`period.close`).
    PeriodClose(tranche_audit::period::PeriodCloseBody),
    /// A request, or its approval by a second approver, to reopen it (`period.reopen`).
    PeriodReopen(tranche_audit::period::PeriodReopenBody),
}

/// The metadata of an entitlement transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementMeta {
    pub award: Id,
    pub participant: Id,
    pub basis: Basis,
    pub rule: Id,
    pub version: u64,
    pub evidence: Vec<u64>,
    /// The paid entitlement this one adjusts (a recovery or a supplement), if any.
    pub adjusts: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Award {
    pub body: AwardOpenBody,
    pub currency: Currency,
    pub seq: u64,
    /// Authorised amount per budget line, minor units.
    pub authorised: HashMap<Id, i64>,
    /// Rule versions per rule, in version order.
    pub rules: BTreeMap<Id, Vec<RuleVersion>>,
    /// Periods a cycle has run for.
    pub cycles: BTreeSet<Period>,
    /// Vendors (training providers) with a payable account.
    pub vendors: BTreeSet<Id>,
    /// Participants of the award, by index.
    pub participants: Vec<u32>,
    /// Its closed quarters and a pending reopen request.
    pub periods: tranche_audit::period::Periods,
}

impl Award {
    pub fn start(&self) -> NaiveDate {
        self.body.start.0
    }
    pub fn end(&self) -> NaiveDate {
        self.body.end.0
    }
    pub fn contains(&self, d: NaiveDate) -> bool {
        d >= self.start() && d <= self.end()
    }

    /// The version of `rule` in force on `day`.
    pub fn version_on(&self, rule: &Id, day: NaiveDate) -> Option<&RuleVersion> {
        self.rules
            .get(rule)?
            .iter()
            .rev()
            .find(|v| v.body.effective.0 <= day)
    }
}

#[derive(Debug, Clone)]
pub struct RuleVersion {
    pub body: RuleVersionBody,
    pub seq: u64,
}

#[derive(Debug, Clone)]
pub struct PartnerKey {
    pub key: VerifyingKey,
    pub partner: Id,
    pub from_seq: u64,
    pub revoked_seq: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub name: String,
    pub seq: u64,
    pub keys: Vec<String>,
    /// Evidence batch ids submitted, with the SHA-256 of the signature that was accepted (so a
    /// rerun of an import recognises what it already wrote).
    pub batches: HashMap<Id, [u8; 32]>,
}

#[derive(Debug, Clone)]
pub struct Cohort {
    pub body: CohortOpenBody,
    pub seq: u64,
    pub sessions: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: Id,
    pub cohort: Id,
    pub date: NaiveDate,
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub cohort: Id,
    pub date: NaiveDate,
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attendance {
    pub session: u32,
    pub status: Presence,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    pub course: Id,
    pub result: Outcome,
    pub date: NaiveDate,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneEvidence {
    pub milestone: Milestone,
    pub result: Outcome,
    pub date: NaiveDate,
    pub seq: u64,
}

/// A live (not reversed) entitlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEntitlement {
    pub seq: u64,
    /// The amount paid to the payee (or obligated, for memo entitlements), minor units.
    pub amount: i64,
    pub rule: Id,
    pub version: u64,
    /// Supplements minus recoveries recorded against it since it was paid, minor units.
    pub adjusted: i64,
    /// The seqs of those adjustments, oldest first.
    pub adjustments: Vec<u64>,
}

impl LiveEntitlement {
    /// What the payee is entitled to under this basis now: the amount and its adjustments.
    pub fn effective(&self) -> i64 {
        self.amount + self.adjusted
    }
}

#[derive(Debug, Clone)]
pub struct Participant {
    pub id: Id,
    pub award: Id,
    pub partner: Id,
    pub seq: u64,
    pub enrolments: Vec<Enrolment>,
    pub attendance: Vec<Attendance>,
    pub certifications: Vec<Certification>,
    pub milestones: Vec<MilestoneEvidence>,
    pub entitlements: BTreeMap<Basis, LiveEntitlement>,
}

impl Participant {
    /// A participant as registered at `seq`, with no evidence or entitlement yet.
    pub fn new(id: Id, award: Id, partner: Id, seq: u64) -> Participant {
        Participant {
            id,
            award,
            partner,
            seq,
            enrolments: Vec::new(),
            attendance: Vec::new(),
            certifications: Vec::new(),
            milestones: Vec::new(),
            entitlements: BTreeMap::new(),
        }
    }

    pub fn enrolled_in(&self, cohort: &Id) -> Option<&Enrolment> {
        self.enrolments.iter().find(|e| &e.cohort == cohort)
    }

    pub fn attendance_at(&self, session: u32) -> Option<&Attendance> {
        self.attendance.iter().find(|a| a.session == session)
    }

    /// The live C4T total, minor units, leaving out one basis (the one being recomputed).
    pub fn c4t_total(&self, except: Option<&Basis>) -> i64 {
        self.entitlements
            .iter()
            .filter(|(b, _)| b.as_str().starts_with("c4t:") && Some(*b) != except)
            .map(|(_, e)| e.effective())
            .sum()
    }
}

/// One inverse operation of the undo log.
#[derive(Debug)]
enum Undo {
    Disburse(super::payment_state::DisburseUndo),
    Award(Id),
    Partner(Id),
    Key(String),
    Unrevoke(String),
    Batch(Id, Id),
    Cohort(Id),
    Session(Id),
    Participant(Id),
    Enrolment(u32),
    Attendance(u32),
    AttendanceStatus(u32, usize, Attendance),
    Certification(u32),
    Milestone(u32),
    Rule(Id, Id),
    Cycle(Id, Period),
    Vendor(Id, Id),
    Entitlement(u32, Basis, Option<LiveEntitlement>),
    DocHash(Id, String),
    Periods(Id, tranche_audit::period::Periods),
}

/// The whole programme state.
#[derive(Debug, Default)]
pub struct ProgrammeState {
    /// Payment batches, payments, payable items and bank imports.
    pub disburse: super::payment_state::DisburseState,
    pub awards: HashMap<Id, Award>,
    pub partners: HashMap<Id, Partner>,
    pub keys: HashMap<String, PartnerKey>,
    pub cohorts: HashMap<Id, Cohort>,
    pub session_index: HashMap<Id, u32>,
    pub sessions: Vec<Session>,
    pub participant_index: HashMap<Id, u32>,
    pub participants: Vec<Participant>,
    /// (award, document HMAC) pairs taken, for the registrations being planned. Loaded by the
    /// store for the batch at hand; the database's unique index is the lasting guard.
    pub doc_hashes: HashSet<(Id, String)>,
    /// Set only while replaying records the store already checked: evidence signatures are
    /// not verified again (the verifier and `rebuild --check` still do).
    pub trust_signatures: bool,
    undo: Vec<Undo>,
}

impl ProgrammeState {
    pub fn participant(&self, id: &Id) -> Option<&Participant> {
        self.participant_index
            .get(id)
            .map(|&i| &self.participants[i as usize])
    }

    pub fn session(&self, id: &Id) -> Option<&Session> {
        self.session_index
            .get(id)
            .map(|&i| &self.sessions[i as usize])
    }

    /// A position in the undo log, to roll back to.
    pub fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Forgets the undo log: the changes are committed.
    pub fn commit(&mut self) {
        self.undo.clear();
    }

    /// Undoes every change made since `mark`.
    pub fn rollback_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some(u) = self.undo.pop() else { break };
            self.revert(u);
        }
    }

    /// Pushes the inverse of a change to the disbursement state.
    pub(crate) fn undo_disburse(
        &mut self,
        f: impl FnOnce(&mut super::payment_state::DisburseState) + Send + 'static,
    ) {
        self.undo
            .push(Undo::Disburse(super::payment_state::DisburseUndo::new(f)));
    }

    fn revert(&mut self, u: Undo) {
        match u {
            Undo::Disburse(f) => f.run(&mut self.disburse),
            Undo::Award(id) => {
                self.awards.remove(&id);
            }
            Undo::Partner(id) => {
                self.partners.remove(&id);
            }
            Undo::Key(key_id) => {
                if let Some(k) = self.keys.remove(&key_id) {
                    if let Some(p) = self.partners.get_mut(&k.partner) {
                        p.keys.retain(|x| x != &key_id);
                    }
                }
            }
            Undo::Unrevoke(key_id) => {
                if let Some(k) = self.keys.get_mut(&key_id) {
                    k.revoked_seq = None;
                }
            }
            Undo::Batch(partner, batch) => {
                if let Some(p) = self.partners.get_mut(&partner) {
                    p.batches.remove(&batch);
                }
            }
            Undo::Cohort(id) => {
                self.cohorts.remove(&id);
            }
            Undo::Periods(award, periods) => {
                if let Some(a) = self.awards.get_mut(&award) {
                    a.periods = periods;
                }
            }
            Undo::Session(id) => {
                if let Some(i) = self.session_index.remove(&id) {
                    let s = self.sessions.pop();
                    debug_assert_eq!(s.map(|s| s.id), Some(id));
                    for c in self.cohorts.values_mut() {
                        c.sessions.retain(|x| *x != i);
                    }
                }
            }
            Undo::Participant(id) => {
                if let Some(i) = self.participant_index.remove(&id) {
                    if let Some(p) = self.participants.pop() {
                        if let Some(a) = self.awards.get_mut(&p.award) {
                            a.participants.retain(|x| *x != i);
                        }
                    }
                }
            }
            Undo::Enrolment(i) => {
                self.participants[i as usize].enrolments.pop();
            }
            Undo::Attendance(i) => {
                self.participants[i as usize].attendance.pop();
            }
            Undo::AttendanceStatus(i, at, old) => {
                self.participants[i as usize].attendance[at] = old;
            }
            Undo::Certification(i) => {
                self.participants[i as usize].certifications.pop();
            }
            Undo::Milestone(i) => {
                self.participants[i as usize].milestones.pop();
            }
            Undo::Rule(award, rule) => {
                if let Some(a) = self.awards.get_mut(&award) {
                    if let Some(v) = a.rules.get_mut(&rule) {
                        v.pop();
                        if v.is_empty() {
                            a.rules.remove(&rule);
                        }
                    }
                }
            }
            Undo::Cycle(award, period) => {
                if let Some(a) = self.awards.get_mut(&award) {
                    a.cycles.remove(&period);
                }
            }
            Undo::Vendor(award, vendor) => {
                if let Some(a) = self.awards.get_mut(&award) {
                    a.vendors.remove(&vendor);
                }
            }
            Undo::Entitlement(i, basis, old) => {
                let p = &mut self.participants[i as usize];
                match old {
                    Some(e) => {
                        p.entitlements.insert(basis, e);
                    }
                    None => {
                        p.entitlements.remove(&basis);
                    }
                }
            }
            Undo::DocHash(award, hash) => {
                self.doc_hashes.remove(&(award, hash));
            }
        }
    }

    pub fn award(&self, id: &Id, field: &str) -> Result<&Award, Invalid> {
        self.awards.get(id).ok_or_else(|| {
            Invalid::new(field, Code::UnknownAward, format!("award {id} is not open"))
        })
    }

    fn partner(&self, id: &Id, field: &str) -> Result<&Partner, Invalid> {
        self.partners.get(id).ok_or_else(|| {
            Invalid::new(
                field,
                Code::UnknownPartner,
                format!("partner {id} is not registered"),
            )
        })
    }

    fn participant_idx(&self, id: &Id, field: &str) -> Result<u32, Invalid> {
        self.participant_index.get(id).copied().ok_or_else(|| {
            Invalid::new(
                field,
                Code::UnknownParticipant,
                format!("participant {id} is not registered"),
            )
        })
    }
}

fn date_in_award(award: &Award, date: &Date, field: &str) -> Result<(), Invalid> {
    if award.contains(date.0) {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            Code::DateOutsideAward,
            format!(
                "{date} is outside award {} ({} to {})",
                award.body.award, award.body.start, award.body.end
            ),
        ))
    }
}

/// The accounts whose balances decide whether an entitlement fits its budget line: for each
/// line the entitlement charges (an expense or obligation posting of its award), the line's
/// expense and obligation accounts.
pub fn budget_accounts(
    award: &Id,
    postings: &[tranche_audit::posting::Posting],
) -> Vec<AccountName> {
    let mut out = Vec::new();
    for p in postings {
        if let Some(line) = budget_line_of(award, p.account.as_str()) {
            for name in [
                accounts::expense(award, &line),
                accounts::obligation(award, &line),
            ] {
                if let Ok(a) = AccountName::parse(&name) {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
    }
    out
}

/// The budget line an account of `award` belongs to, if it is an expense or obligation account.
pub fn budget_line_of(award: &Id, account: &str) -> Option<Id> {
    for prefix in ["expense", "obligation", "obligation-contra"] {
        let head = format!("{prefix}:{award}:");
        if let Some(rest) = account.strip_prefix(&head) {
            return Id::parse(rest).ok();
        }
    }
    None
}

/// Applies one programme command at `seq`, checking every stateful rule. On error the state is
/// unchanged.
pub fn apply(
    state: &mut ProgrammeState,
    seq: u64,
    actor: &str,
    command: &ProgrammeCommand,
) -> Result<(), Invalid> {
    let mark = state.mark();
    let result = apply_inner(state, seq, actor, command);
    if result.is_err() {
        state.rollback_to(mark);
    }
    result
}

fn apply_inner(
    s: &mut ProgrammeState,
    seq: u64,
    actor: &str,
    command: &ProgrammeCommand,
) -> Result<(), Invalid> {
    match command {
        // The planner checks a close's checkpoint and date first (they need the time).
        ProgrammeCommand::PeriodClose(body) => {
            body.check()?;
            let a = s
                .awards
                .get_mut(&body.award)
                .ok_or_else(|| unknown_award(&body.award))?;
            let old = a.periods.clone();
            a.periods.close(body.quarter, seq);
            s.undo.push(Undo::Periods(body.award.clone(), old));
        }
        ProgrammeCommand::PeriodReopen(body) => {
            let a = s
                .awards
                .get_mut(&body.award)
                .ok_or_else(|| unknown_award(&body.award))?;
            a.periods.check_reopen(body, actor)?;
            let old = a.periods.clone();
            a.periods.reopen(body, seq, actor);
            s.undo.push(Undo::Periods(body.award.clone(), old));
        }
        ProgrammeCommand::AwardOpen(body) => {
            body.check()?;
            if s.awards.contains_key(&body.award) {
                return Err(Invalid::new(
                    "award",
                    Code::AwardExists,
                    format!("award {} is already open", body.award),
                ));
            }
            let currency = body.currency()?;
            let authorised = body
                .budget_lines
                .iter()
                .map(|l| {
                    let m = tranche_audit::programme::canonical_amount(
                        &l.authorised,
                        currency,
                        "authorised",
                    )?;
                    Ok((l.line.clone(), m.minor()))
                })
                .collect::<Result<HashMap<_, _>, Invalid>>()?;
            s.awards.insert(
                body.award.clone(),
                Award {
                    body: body.clone(),
                    currency,
                    seq,
                    authorised,
                    rules: BTreeMap::new(),
                    cycles: BTreeSet::new(),
                    vendors: BTreeSet::new(),
                    participants: Vec::new(),
                    periods: Default::default(),
                },
            );
            s.undo.push(Undo::Award(body.award.clone()));
        }
        ProgrammeCommand::PartnerRegister(body) => {
            body.check()?;
            if s.partners.contains_key(&body.partner) {
                return Err(Invalid::new(
                    "partner",
                    Code::PartnerExists,
                    format!("partner {} is already registered", body.partner),
                ));
            }
            s.partners.insert(
                body.partner.clone(),
                Partner {
                    name: body.name.clone(),
                    seq,
                    keys: Vec::new(),
                    batches: HashMap::new(),
                },
            );
            s.undo.push(Undo::Partner(body.partner.clone()));
        }
        ProgrammeCommand::PartnerKey(body) => apply_key(s, seq, body)?,
        ProgrammeCommand::CohortOpen(body) => {
            body.check()?;
            let award = s.award(&body.award, "award")?;
            s.partner(&body.partner, "partner")?;
            if s.cohorts.contains_key(&body.cohort) {
                return Err(Invalid::new(
                    "cohort",
                    Code::CohortExists,
                    format!("cohort {} already exists", body.cohort),
                ));
            }
            let new_vendor = body
                .provider
                .as_ref()
                .filter(|v| !award.vendors.contains(*v))
                .cloned();
            if let Some(v) = new_vendor {
                if let Some(a) = s.awards.get_mut(&body.award) {
                    a.vendors.insert(v.clone());
                }
                s.undo.push(Undo::Vendor(body.award.clone(), v));
            }
            s.cohorts.insert(
                body.cohort.clone(),
                Cohort {
                    body: body.clone(),
                    seq,
                    sessions: Vec::new(),
                },
            );
            s.undo.push(Undo::Cohort(body.cohort.clone()));
        }
        ProgrammeCommand::SessionSchedule(body) => {
            body.check()?;
            let cohort = s.cohorts.get(&body.cohort).ok_or_else(|| {
                Invalid::new(
                    "cohort",
                    Code::UnknownCohort,
                    format!("cohort {} does not exist", body.cohort),
                )
            })?;
            let award = s.award(&cohort.body.award, "cohort")?;
            for (i, sb) in body.sessions.iter().enumerate() {
                let field = format!("sessions[{i}]");
                if s.session_index.contains_key(&sb.session) {
                    return Err(Invalid::new(
                        format!("{field}.session"),
                        Code::SessionExists,
                        format!("session {} already exists", sb.session),
                    ));
                }
                if !award.contains(sb.date.0) {
                    return Err(Invalid::new(
                        format!("{field}.date"),
                        Code::SessionOutsideAward,
                        format!(
                            "session {} on {} is outside award {} ({} to {})",
                            sb.session, sb.date, award.body.award, award.body.start, award.body.end
                        ),
                    ));
                }
            }
            for sb in &body.sessions {
                let idx = s.sessions.len() as u32;
                s.sessions.push(Session {
                    id: sb.session.clone(),
                    cohort: body.cohort.clone(),
                    date: sb.date.0,
                    seq,
                });
                s.session_index.insert(sb.session.clone(), idx);
                if let Some(c) = s.cohorts.get_mut(&body.cohort) {
                    c.sessions.push(idx);
                }
                s.undo.push(Undo::Session(sb.session.clone()));
            }
        }
        ProgrammeCommand::ParticipantRegister { body, personal } => {
            body.check()?;
            s.award(&body.award, "award")?;
            s.partner(&body.partner, "partner")?;
            if s.participant_index.contains_key(&body.participant) {
                return Err(Invalid::new(
                    "participant",
                    Code::ParticipantExists,
                    format!("participant {} is already registered", body.participant),
                ));
            }
            if let Some(p) = personal {
                let key = (body.award.clone(), p.doc_hmac.clone());
                if s.doc_hashes.contains(&key) {
                    return Err(Invalid::new(
                        "document",
                        Code::DuplicateDocument,
                        format!(
                            "a participant with this document number is already registered in award {}",
                            body.award
                        ),
                    ));
                }
                s.doc_hashes.insert(key);
                s.undo
                    .push(Undo::DocHash(body.award.clone(), p.doc_hmac.clone()));
            }
            let idx = s.participants.len() as u32;
            s.participants.push(Participant::new(
                body.participant.clone(),
                body.award.clone(),
                body.partner.clone(),
                seq,
            ));
            s.participant_index.insert(body.participant.clone(), idx);
            if let Some(a) = s.awards.get_mut(&body.award) {
                a.participants.push(idx);
            }
            s.undo.push(Undo::Participant(body.participant.clone()));
        }
        ProgrammeCommand::Evidence(body) => apply_evidence(s, seq, body)?,
        ProgrammeCommand::RuleVersion(body) => apply_rule(s, seq, body)?,
        ProgrammeCommand::CycleRun(body) => {
            body.check()?;
            let award = s.award(&body.award, "award")?;
            check_period(award, body.period)?;
            if !award.cycles.contains(&body.period) {
                if let Some(a) = s.awards.get_mut(&body.award) {
                    a.cycles.insert(body.period);
                }
                s.undo.push(Undo::Cycle(body.award.clone(), body.period));
            }
        }
    }
    Ok(())
}

fn unknown_award(award: &Id) -> Invalid {
    Invalid::new(
        "award",
        Code::UnknownAward,
        format!("there is no award {award}"),
    )
}

/// A cycle period must overlap the award.
pub fn check_period(award: &Award, period: Period) -> Result<(), Invalid> {
    if period.last() < award.start() || period.first > award.end() {
        return Err(Invalid::new(
            "period",
            Code::PeriodOutsideAward,
            format!(
                "{period} is outside award {} ({} to {})",
                award.body.award, award.body.start, award.body.end
            ),
        ));
    }
    Ok(())
}

fn apply_key(s: &mut ProgrammeState, seq: u64, body: &PartnerKeyBody) -> Result<(), Invalid> {
    let key = body.check()?;
    s.partner(&body.partner, "partner")?;
    let usable = |s: &ProgrammeState, id: &str, field: &str| -> Result<(), Invalid> {
        match s.keys.get(id) {
            None => Err(Invalid::new(
                field,
                Code::UnknownKey,
                format!("key {id} is not registered"),
            )),
            Some(k) if k.partner != body.partner => Err(Invalid::new(
                field,
                Code::WrongPartnerKey,
                format!(
                    "key {id} belongs to partner {}, not {}",
                    k.partner, body.partner
                ),
            )),
            Some(k) if k.revoked_seq.is_some() => Err(Invalid::new(
                field,
                Code::KeyRevoked,
                format!("key {id} is already revoked"),
            )),
            Some(_) => Ok(()),
        }
    };
    match body.action {
        KeyAction::Register | KeyAction::Rotate => {
            if s.keys.contains_key(&body.key_id) {
                return Err(Invalid::new(
                    "key_id",
                    Code::KeyExists,
                    format!("key {} is already registered", body.key_id),
                ));
            }
            if let Some(old) = &body.replaces {
                usable(s, old, "replaces")?;
                if let Some(k) = s.keys.get_mut(old) {
                    k.revoked_seq = Some(seq);
                }
                s.undo.push(Undo::Unrevoke(old.clone()));
            }
            let Some(key) = key else {
                return Err(Invalid::new(
                    "public_key",
                    Code::MissingField,
                    "a key is required",
                ));
            };
            s.keys.insert(
                body.key_id.clone(),
                PartnerKey {
                    key,
                    partner: body.partner.clone(),
                    from_seq: seq,
                    revoked_seq: None,
                },
            );
            if let Some(p) = s.partners.get_mut(&body.partner) {
                p.keys.push(body.key_id.clone());
            }
            s.undo.push(Undo::Key(body.key_id.clone()));
        }
        KeyAction::Revoke => {
            usable(s, &body.key_id, "key_id")?;
            if let Some(k) = s.keys.get_mut(&body.key_id) {
                k.revoked_seq = Some(seq);
            }
            s.undo.push(Undo::Unrevoke(body.key_id.clone()));
        }
    }
    Ok(())
}

fn apply_rule(s: &mut ProgrammeState, seq: u64, body: &RuleVersionBody) -> Result<(), Invalid> {
    let award = s.award(&body.award, "award")?;
    body.check(award.currency)?;
    for (i, line) in body.params.lines().into_iter().enumerate() {
        if !award.authorised.contains_key(line) {
            let field = match (&body.params, i) {
                (RuleParams::Scholarship { .. }, 0) => "params.tuition_line",
                (RuleParams::Scholarship { .. }, _) => "params.incentive_line",
                _ => "params.line",
            };
            return Err(Invalid::new(
                field,
                Code::UnknownBudgetLine,
                format!("award {} has no budget line {line}", body.award),
            ));
        }
    }
    date_in_award(award, &body.effective, "effective")?;
    if matches!(body.params, RuleParams::C4tMonthly { .. })
        && body.effective.0 != Period::of(body.effective.0).first
    {
        return Err(Invalid::new(
            "effective",
            Code::EffectiveNotMonthStart,
            "a monthly rule takes effect on the first day of a month",
        ));
    }
    let versions = award.rules.get(&body.rule);
    // One rule per shape and award: two would entitle the same evidence twice.
    if versions.is_none() {
        let same = award.rules.iter().find(|(_, v)| {
            v.first()
                .is_some_and(|r| r.body.params.shape() == body.params.shape())
        });
        if let Some((other, _)) = same {
            return Err(Invalid::new(
                "rule",
                Code::ShapeAlreadyRuled,
                format!(
                    "award {} already has a {} rule ({other}): add a version of it instead",
                    body.award,
                    body.params.shape()
                ),
            ));
        }
    }
    let last = versions.and_then(|v| v.last());
    let expected = last.map_or(1, |l| l.body.version + 1);
    if body.version != expected {
        return Err(Invalid::new(
            "version",
            Code::VersionOutOfOrder,
            format!("the next version of rule {} is {expected}", body.rule),
        ));
    }
    if let Some(last) = last {
        if last.body.params.shape() != body.params.shape() {
            return Err(Invalid::new(
                "params.shape",
                Code::ShapeChanged,
                format!(
                    "rule {} is {}; a new version cannot change its shape",
                    body.rule,
                    last.body.params.shape()
                ),
            ));
        }
        if body.effective <= last.body.effective {
            return Err(Invalid::new(
                "effective",
                Code::EffectiveBeforePrevious,
                format!(
                    "version {} takes effect {}; version {} must take effect after it",
                    last.body.version, last.body.effective, body.version
                ),
            ));
        }
    }
    // A new version never changes what a cycle already decided.
    if let Some(run) = award.cycles.iter().next_back() {
        if body.effective.0 <= run.last() {
            return Err(Invalid::new(
                "effective",
                Code::PeriodAlreadyRun,
                format!(
                    "a cycle already ran for {run}: a new version can take effect from {} on",
                    run.next().first
                ),
            ));
        }
    }
    if let Some(a) = s.awards.get_mut(&body.award) {
        a.rules
            .entry(body.rule.clone())
            .or_default()
            .push(RuleVersion {
                body: body.clone(),
                seq,
            });
    }
    s.undo
        .push(Undo::Rule(body.award.clone(), body.rule.clone()));
    Ok(())
}

fn apply_evidence(s: &mut ProgrammeState, seq: u64, body: &EvidenceBody) -> Result<(), Invalid> {
    body.check()?;
    let st = &body.statement;
    let partner = s.partner(&st.partner, "statement.partner")?;
    let key = s.keys.get(&body.key_id).ok_or_else(|| {
        Invalid::new(
            "key_id",
            Code::UnknownKey,
            format!("key {} is not registered", body.key_id),
        )
    })?;
    if key.partner != st.partner {
        return Err(Invalid::new(
            "key_id",
            Code::WrongPartnerKey,
            format!(
                "key {} belongs to partner {}, not to {}",
                body.key_id, key.partner, st.partner
            ),
        ));
    }
    if let Some(r) = key.revoked_seq {
        return Err(Invalid::new(
            "key_id",
            Code::KeyRevoked,
            format!("key {} was revoked at seq {r}", body.key_id),
        ));
    }
    if !s.trust_signatures {
        body.verify_signature(&key.key)?;
    }
    if partner.batches.contains_key(&st.batch_id) {
        return Err(Invalid::new(
            "statement.batch_id",
            Code::DuplicateBatch,
            format!(
                "partner {} already submitted batch {}",
                st.partner, st.batch_id
            ),
        ));
    }
    if let Some(p) = s.partners.get_mut(&st.partner) {
        p.batches
            .insert(st.batch_id.clone(), signature_digest(&body.signature));
    }
    s.undo
        .push(Undo::Batch(st.partner.clone(), st.batch_id.clone()));
    for (i, item) in st.items.iter().enumerate() {
        apply_item(s, seq, &st.partner, item)
            .map_err(|e| e.within(&format!("statement.items[{i}]")))?;
    }
    Ok(())
}

fn apply_item(
    s: &mut ProgrammeState,
    seq: u64,
    partner: &Id,
    item: &EvidenceItem,
) -> Result<(), Invalid> {
    let pi = s.participant_idx(item.participant(), "participant")?;
    let p = &s.participants[pi as usize];
    let award = s.award(&p.award, "participant")?;
    let own_cohort = |s: &ProgrammeState, cohort: &Id, field: &str| -> Result<(), Invalid> {
        let c = s.cohorts.get(cohort).ok_or_else(|| {
            Invalid::new(
                field,
                Code::UnknownCohort,
                format!("cohort {cohort} does not exist"),
            )
        })?;
        if &c.body.partner != partner {
            return Err(Invalid::new(
                field,
                Code::CohortOfAnotherPartner,
                format!("cohort {cohort} belongs to partner {}", c.body.partner),
            ));
        }
        Ok(())
    };
    match item {
        EvidenceItem::Enrolment { cohort, date, .. } => {
            own_cohort(s, cohort, "cohort")?;
            let c = &s.cohorts[cohort];
            if c.body.award != p.award {
                return Err(Invalid::new(
                    "cohort",
                    Code::CohortOfAnotherAward,
                    format!(
                        "cohort {cohort} belongs to award {}, the participant to {}",
                        c.body.award, p.award
                    ),
                ));
            }
            date_in_award(award, date, "date")?;
            if p.enrolled_in(cohort).is_some() {
                return Err(Invalid::new(
                    "cohort",
                    Code::DuplicateEnrolment,
                    format!("{} is already enrolled in cohort {cohort}", p.id),
                ));
            }
            s.participants[pi as usize].enrolments.push(Enrolment {
                cohort: cohort.clone(),
                date: date.0,
                seq,
            });
            s.undo.push(Undo::Enrolment(pi));
        }
        EvidenceItem::Attendance {
            session, status, ..
        }
        | EvidenceItem::AttendanceCorrection {
            session, status, ..
        } => {
            let si = *s.session_index.get(session).ok_or_else(|| {
                Invalid::new(
                    "session",
                    Code::UnknownSession,
                    format!("session {session} does not exist"),
                )
            })?;
            let sess = &s.sessions[si as usize];
            own_cohort(s, &sess.cohort, "session")?;
            if p.enrolled_in(&sess.cohort).is_none() {
                return Err(Invalid::new(
                    "participant",
                    Code::NotEnrolled,
                    format!(
                        "{} is not enrolled in cohort {}, which session {session} belongs to",
                        p.id, sess.cohort
                    ),
                ));
            }
            let existing = p.attendance.iter().position(|a| a.session == si);
            let correction = matches!(item, EvidenceItem::AttendanceCorrection { .. });
            match (existing, correction) {
                (Some(_), false) => {
                    return Err(Invalid::new(
                        "session",
                        Code::DuplicateAttendance,
                        format!(
                            "attendance of {} at session {session} is already recorded: send an attendance-correction to change it",
                            p.id
                        ),
                    ))
                }
                (None, true) => {
                    return Err(Invalid::new(
                        "session",
                        Code::NothingToCorrect,
                        format!("no attendance of {} at session {session} is recorded yet", p.id),
                    ))
                }
                (Some(at), true) => {
                    let old = p.attendance[at];
                    if old.status == *status {
                        return Err(Invalid::new(
                            "status",
                            Code::CorrectionChangesNothing,
                            format!("attendance of {} at session {session} is already {status:?}", p.id),
                        ));
                    }
                    s.participants[pi as usize].attendance[at] = Attendance {
                        session: si,
                        status: *status,
                        seq,
                    };
                    s.undo.push(Undo::AttendanceStatus(pi, at, old));
                }
                (None, false) => {
                    s.participants[pi as usize].attendance.push(Attendance {
                        session: si,
                        status: *status,
                        seq,
                    });
                    s.undo.push(Undo::Attendance(pi));
                }
            }
        }
        EvidenceItem::Certification {
            course,
            result,
            date,
            ..
        } => {
            let in_course = p.enrolments.iter().any(|e| {
                s.cohorts.get(&e.cohort).is_some_and(|c| {
                    c.body.course.as_ref() == Some(course) && &c.body.partner == partner
                })
            });
            if !in_course {
                return Err(Invalid::new(
                    "course",
                    Code::NotInCourse,
                    format!(
                        "{} is not enrolled in a cohort of course {course} with this partner",
                        p.id
                    ),
                ));
            }
            date_in_award(award, date, "date")?;
            if p.certifications
                .iter()
                .any(|c| &c.course == course && c.result == Outcome::Passed)
            {
                return Err(Invalid::new(
                    "course",
                    Code::DuplicateCertification,
                    format!("{} already passed course {course}", p.id),
                ));
            }
            s.participants[pi as usize]
                .certifications
                .push(Certification {
                    course: course.clone(),
                    result: *result,
                    date: date.0,
                    seq,
                });
            s.undo.push(Undo::Certification(pi));
        }
        EvidenceItem::Milestone {
            milestone,
            result,
            date,
            ..
        } => {
            let in_pathway = p.enrolments.iter().any(|e| {
                s.cohorts.get(&e.cohort).is_some_and(|c| {
                    c.body.pathway == Pathway::Entrepreneurship && &c.body.partner == partner
                })
            });
            if !in_pathway {
                return Err(Invalid::new(
                    "participant",
                    Code::NotInEntrepreneurship,
                    format!(
                        "{} is not enrolled in an entrepreneurship cohort of this partner",
                        p.id
                    ),
                ));
            }
            date_in_award(award, date, "date")?;
            if let Some(f) = p.milestones.iter().find(|m| m.result == Outcome::Failed) {
                return Err(Invalid::new(
                    "milestone",
                    Code::MilestoneAfterFailure,
                    format!(
                        "{} failed milestone {} (seq {}): no later milestone is accepted",
                        p.id,
                        f.milestone.as_str(),
                        f.seq
                    ),
                ));
            }
            if p.milestones.iter().any(|m| m.milestone == *milestone) {
                return Err(Invalid::new(
                    "milestone",
                    Code::DuplicateMilestone,
                    format!(
                        "milestone {} of {} is already verified",
                        milestone.as_str(),
                        p.id
                    ),
                ));
            }
            if let Some(prev) = milestone.previous() {
                let Some(pm) = p.milestones.iter().find(|m| m.milestone == prev) else {
                    return Err(Invalid::new(
                        "milestone",
                        Code::MilestoneOutOfOrder,
                        format!(
                            "{} must pass milestone {} before {}",
                            p.id,
                            prev.as_str(),
                            milestone.as_str()
                        ),
                    ));
                };
                if date.0 < pm.date {
                    return Err(Invalid::new(
                        "date",
                        Code::MilestoneOutOfOrder,
                        format!(
                            "{} is before the visit that verified {} ({})",
                            date,
                            prev.as_str(),
                            pm.date
                        ),
                    ));
                }
            }
            s.participants[pi as usize]
                .milestones
                .push(MilestoneEvidence {
                    milestone: *milestone,
                    result: *result,
                    date: date.0,
                    seq,
                });
            s.undo.push(Undo::Milestone(pi));
        }
    }
    Ok(())
}

/// The SHA-256 of an evidence record's signature text: what identifies the statement accepted
/// under a batch id.
pub fn signature_digest(signature: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(signature.as_bytes()).into()
}

/// What the programme rules need from the account balances to check an entitlement.
pub trait Balances {
    /// Debits minus credits of `account` in minor units (0 when never posted).
    fn net(&self, account: &str) -> i128;
    /// False when replaying trusted records without balances: rules that need them are skipped.
    fn known(&self) -> bool {
        true
    }
}

/// The payment that holds entitlement `seq` once the bank has it (sent, accepted or
/// confirmed), if any: such an entitlement is paid and can no longer be reversed.
pub fn paid_by(s: &ProgrammeState, seq: u64) -> Option<&super::payment_state::Payment> {
    let item = s.disburse.items.get(&seq)?;
    let p = &s.disburse.payments[item.payment? as usize];
    p.state.left_payable().then_some(p)
}

/// Refuses to reverse entitlement `original` when a payment the bank holds pays it (the payee
/// would keep money she is no longer owed) or when it was adjusted since it was paid: the
/// shared rules of `tranche_audit::disburse::lifecycle`, which the verifier applies too.
pub fn check_reversible(
    s: &ProgrammeState,
    original: u64,
    live: Option<&LiveEntitlement>,
) -> Result<(), Invalid> {
    super::payment_state::check_reversal(&s.disburse, original)?;
    let adjusted_at = live
        .filter(|l| l.seq == original)
        .and_then(|l| l.adjustments.first().copied());
    tranche_audit::disburse::lifecycle::check_unadjusted(original, adjusted_at)
}

/// Checks and records an entitlement (or its reversal, or an adjustment of a paid one) at
/// `seq`. `amount` is what the entitlement pays (or obligates, or recovers): the total of its
/// credit postings. Budget accounts must already include this entitlement's postings in
/// `balances`.
#[allow(clippy::too_many_arguments)] // the parts of one entitlement command, borrowed
pub fn apply_entitlement(
    s: &mut ProgrammeState,
    seq: u64,
    meta: &EntitlementMeta,
    postings: &[Posting],
    amount: i64,
    reverses: Option<u64>,
    charged_lines: &[Id],
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    s.award(&meta.award, "award")?;
    let pi = s.participant_idx(&meta.participant, "participant")?;
    let p = &s.participants[pi as usize];
    if p.award != meta.award {
        return Err(Invalid::new(
            "participant",
            Code::ParticipantOfAnotherAward,
            format!("{} belongs to award {}", p.id, p.award),
        ));
    }
    if meta.evidence.iter().any(|e| *e >= seq) {
        return Err(Invalid::new(
            "evidence",
            Code::EvidenceAfterEntitlement,
            "an entitlement can only cite earlier records",
        ));
    }
    let live = p.entitlements.get(&meta.basis).cloned();
    if reverses.is_none() {
        check_receivables(&meta.award, postings, balances)?;
    }
    match (reverses, meta.adjusts) {
        (Some(_), Some(_)) => {
            return Err(Invalid::new(
                "adjusts",
                Code::ReversalAndAdjustment,
                "an entitlement either reverses or adjusts an earlier one, never both",
            ))
        }
        (Some(original), None) => {
            if live.as_ref().map(|l| l.seq) != Some(original) {
                return Err(Invalid::new(
                    "reverses",
                    Code::NotTheLiveEntitlement,
                    format!(
                        "seq {original} is not the live {} entitlement of {}",
                        meta.basis.as_str(),
                        p.id
                    ),
                ));
            }
            // A trusted replay (no balances) re-derives what was written, even a reversal that
            // an older version accepted after payment; the verifier names such a record.
            if balances.known() {
                check_reversible(s, original, live.as_ref())?;
            }
            s.participants[pi as usize].entitlements.remove(&meta.basis);
            s.undo.push(Undo::Entitlement(pi, meta.basis.clone(), live));
            return Ok(());
        }
        (None, Some(original)) => {
            return apply_adjustment(
                s,
                seq,
                meta,
                postings,
                amount,
                original,
                charged_lines,
                balances,
            );
        }
        (None, None) => {
            if let Some(l) = &live {
                return Err(Invalid::new(
                    "basis",
                    Code::DuplicateEntitlement,
                    format!(
                        "{} already has a live {} entitlement (seq {}): reverse it first",
                        p.id,
                        meta.basis.as_str(),
                        l.seq
                    ),
                ));
            }
        }
    }
    let version = meta.version;
    check_rule_cap_and_lines(s, meta, pi, amount, charged_lines, balances)?;
    s.participants[pi as usize].entitlements.insert(
        meta.basis.clone(),
        LiveEntitlement {
            seq,
            amount,
            rule: meta.rule.clone(),
            version,
            adjusted: 0,
            adjustments: Vec::new(),
        },
    );
    s.undo.push(Undo::Entitlement(pi, meta.basis.clone(), None));
    Ok(())
}

/// An entitlement may take back what a payee owes (credit her receivable), never more than
/// she owes: no receivable of the award goes below zero.
fn check_receivables(
    award: &Id,
    postings: &[Posting],
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    if !balances.known() {
        return Ok(());
    }
    let head = format!("receivable:{award}:");
    for q in postings {
        if q.side == Side::Credit && q.account.as_str().starts_with(&head) {
            let net = balances.net(q.account.as_str());
            if net < 0 {
                return Err(Invalid::new(
                    "postings",
                    Code::AboveReceivable,
                    format!(
                        "{} would be deducted from {}, which would then stand at {}: a deduction is at most what the payee owes",
                        format_minor(q.money.minor().into(), q.money.currency()),
                        q.account,
                        format_minor(net, q.money.currency())
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The rule version must exist; a C4T entitlement stays within the cap over the award; every
/// budget line it charges stays within what is authorised.
fn check_rule_cap_and_lines(
    s: &ProgrammeState,
    meta: &EntitlementMeta,
    pi: u32,
    amount: i64,
    charged_lines: &[Id],
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    let award = s.award(&meta.award, "award")?;
    let p = &s.participants[pi as usize];
    let rule = award
        .rules
        .get(&meta.rule)
        .and_then(|v| v.iter().find(|r| r.body.version == meta.version))
        .ok_or_else(|| {
            Invalid::new(
                "version",
                Code::UnknownRuleVersion,
                format!("rule {} has no version {}", meta.rule, meta.version),
            )
        })?;
    if let RuleParams::C4tMonthly { cap, .. } = &rule.body.params {
        let cap = tranche_audit::programme::canonical_amount(cap, award.currency, "cap")?.minor();
        let total = p.c4t_total(None) + amount;
        if total > cap {
            return Err(Invalid::new(
                "postings",
                Code::CapExceeded,
                format!(
                    "{} would receive {} in C4T over the award, above the cap {}",
                    p.id,
                    tranche_audit::money::format_minor(total.into(), award.currency),
                    tranche_audit::money::format_minor(cap.into(), award.currency)
                ),
            ));
        }
    }
    for line in charged_lines {
        let Some(authorised) = award.authorised.get(line) else {
            return Err(Invalid::new(
                "postings",
                Code::UnknownBudgetLine,
                format!("award {} has no budget line {line}", meta.award),
            ));
        };
        let used = balances.net(&accounts::expense(&meta.award, line))
            + balances.net(&accounts::obligation(&meta.award, line));
        if used > i128::from(*authorised) {
            return Err(Invalid::new(
                "postings",
                Code::BudgetExceeded,
                format!(
                    "budget line {line} of award {} would be overdrawn: {} used of {} authorised",
                    meta.award,
                    tranche_audit::money::format_minor(used, award.currency),
                    tranche_audit::money::format_minor((*authorised).into(), award.currency)
                ),
            ));
        }
    }
    Ok(())
}

/// A recovery or a supplement of the paid (or already adjusted) live entitlement `original`.
/// Its postings are derived: a recovery debits the payee's receivable and credits the budget
/// line the entitlement charged, at most what is still entitled; a supplement debits that line
/// and credits the payee's payable (less any deduction from her receivable).
#[allow(clippy::too_many_arguments)]
fn apply_adjustment(
    s: &mut ProgrammeState,
    seq: u64,
    meta: &EntitlementMeta,
    postings: &[Posting],
    amount: i64,
    original: u64,
    charged_lines: &[Id],
    balances: &dyn Balances,
) -> Result<(), Invalid> {
    let pi = s.participant_idx(&meta.participant, "participant")?;
    let p = &s.participants[pi as usize];
    let Some(live) = p
        .entitlements
        .get(&meta.basis)
        .filter(|l| l.seq == original)
        .cloned()
    else {
        return Err(Invalid::new(
            "adjusts",
            Code::NotTheLiveEntitlement,
            format!(
                "seq {original} is not the live {} entitlement of {}",
                meta.basis.as_str(),
                p.id
            ),
        ));
    };
    if live.rule != meta.rule {
        return Err(Invalid::new(
            "rule",
            Code::AdjustmentOfAnotherRule,
            format!(
                "entitlement seq {original} was made under rule {}",
                live.rule
            ),
        ));
    }
    let Some(item) = s.disburse.items.get(&original) else {
        return Err(Invalid::new(
            "adjusts",
            Code::NotAPayable,
            format!("entitlement seq {original} is not owed to a payee: only a payable entitlement is adjusted"),
        ));
    };
    if paid_by(s, original).is_none() && live.adjustments.is_empty() {
        return Err(Invalid::new(
            "adjusts",
            Code::EntitlementNotPaid,
            format!(
                "entitlement seq {original} is not paid: reverse it and make the new one instead"
            ),
        ));
    }
    let award = &meta.award;
    let payable = item.payee.payable(award);
    let receivable = accounts::receivable_of_payable(&payable).expect("a payable account");
    let expense = item
        .line
        .as_ref()
        .map(|l| accounts::expense(award, l))
        .unwrap_or_default();
    let side_of = |side: Side, account: &str| -> i64 {
        postings
            .iter()
            .filter(|q| q.side == side && q.account.as_str() == account)
            .map(|q| q.money.minor())
            .sum()
    };
    let recovery = postings
        .iter()
        .any(|q| q.side == Side::Debit && q.account.as_str() == receivable);
    let shaped = if recovery {
        postings.len() == 2
            && side_of(Side::Debit, &receivable) == amount
            && side_of(Side::Credit, &expense) == amount
    } else {
        let credited = side_of(Side::Credit, &payable) + side_of(Side::Credit, &receivable);
        postings.iter().all(|q| match q.side {
            Side::Debit => q.account.as_str() == expense,
            Side::Credit => q.account.as_str() == payable || q.account.as_str() == receivable,
        }) && side_of(Side::Debit, &expense) == amount
            && credited == amount
    };
    if !shaped || amount <= 0 {
        return Err(Invalid::new(
            "postings",
            Code::PostingsNotDerived,
            format!(
                "an adjustment of entitlement seq {original} is either a recovery (debit {receivable}, credit {expense}) or a supplement (debit {expense}, credit {payable} or {receivable})"
            ),
        ));
    }
    let delta = if recovery {
        if amount > live.effective() {
            let c = s.award(award, "award")?.currency;
            return Err(Invalid::new(
                "postings",
                Code::RecoveryAboveEntitlement,
                format!(
                    "a recovery of {} is more than the {} still entitled under entitlement seq {original}",
                    format_minor(amount.into(), c),
                    format_minor(live.effective().into(), c)
                ),
            ));
        }
        -amount
    } else {
        check_rule_cap_and_lines(s, meta, pi, amount, charged_lines, balances)?;
        amount
    };
    let mut now = live.clone();
    now.adjusted += delta;
    now.adjustments.push(seq);
    s.participants[pi as usize]
        .entitlements
        .insert(meta.basis.clone(), now);
    s.undo
        .push(Undo::Entitlement(pi, meta.basis.clone(), Some(live)));
    Ok(())
}
