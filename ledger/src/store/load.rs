//! The programme state a batch of commands needs, loaded from the projection tables: the rows
//! the commands touch, never the history. An append loads it under the writer lock, so the
//! rules decide on what is committed, whatever other processes or API nodes wrote before; a
//! service loads it to check a file before appending it.
//!
//! The registry (awards with their rule versions and cycles, partners with their keys, cohorts
//! with their sessions) is rebuilt by replaying its own records, found through the tables, with
//! the same rules as any append: those records touch nothing else. A participant (her
//! enrolments, attendance, certifications, milestones and live entitlements) is read from
//! `evidence_items` and `entitlements`, since a partner's statement covers many people.
//! `rebuild --check` compares every participant, award, partner and cohort loaded this way
//! with the state replayed from the journal, and names the first that differs.

use std::collections::{BTreeMap, BTreeSet};

use tranche_audit::programme::{Basis, EvidenceItem, Id, Milestone, Outcome, Presence};

use super::backend::{Conn, Query};
use super::programme::replay_record;
use super::projections::{
    entitlement_row, evidence_row, participant_row, ENTITLEMENT, EVIDENCE, PARTICIPANT,
};
use super::{Result, StoreError};
use crate::domain::programme::{
    signature_digest, Attendance, Certification, Enrolment, LiveEntitlement, MilestoneEvidence,
    Participant, ProgrammeCommand, ProgrammeState,
};
use crate::domain::{Command, EntitlementRow, EvidenceRow, ParticipantRow};

/// Ids looked up per query.
const IDS_PER_QUERY: usize = 500;

/// What a batch of commands reads of the programme state.
#[derive(Debug, Default, Clone)]
pub struct Need {
    pub awards: BTreeSet<Id>,
    pub partners: BTreeSet<Id>,
    pub keys: BTreeSet<String>,
    pub cohorts: BTreeSet<Id>,
    pub sessions: BTreeSet<Id>,
    pub participants: BTreeSet<Id>,
    /// (partner, batch id) of evidence statements: already journaled?
    pub statements: BTreeSet<(Id, Id)>,
    /// A participant's attendance at every session; else only at the sessions named (what the
    /// evidence rules read), so that a statement costs the same in the sixth month as in the
    /// first.
    pub all_attendance: bool,
    /// With `all_attendance` unset: also her attendance at every session dated in this period
    /// (what a cycle reads).
    pub attendance_in: Option<tranche_audit::programme::Period>,
    /// A participant's live entitlements (what an entitlement's rules read: the live one per
    /// basis, the cap over the award).
    pub entitlements: bool,
    /// Also the payable items of the participants loaded and the payments holding them: is an
    /// entitlement paid (a reversal, an adjustment, a cycle's corrections ask)?
    pub payments: bool,
}

impl Need {
    /// What `commands` read, or `None` when one of them is a disbursement record (a payment
    /// batch, its decisions, a bank file or outcome): those still run on the whole state.
    pub fn of(commands: &[Command]) -> Option<Need> {
        let mut need = Need::default();
        for c in commands {
            match c {
                Command::Programme(p) => need.programme(p),
                Command::Entitlement(e) => {
                    need.entitlements = true;
                    if e.tx.reverses.is_some() || e.meta.adjusts.is_some() {
                        need.payments = true;
                    }
                    need.awards.insert(e.meta.award.clone());
                    need.participants.insert(e.meta.participant.clone());
                }
                Command::Disburse(_) => return None,
                Command::LedgerKey { .. }
                | Command::RotateKey(_)
                | Command::OpenAccount { .. }
                | Command::CloseAccount { .. } => {}
                // The date rules read the award of the accounts it moves.
                Command::Transaction(t) => {
                    for p in &t.postings {
                        if let Some(a) = tranche_audit::period::award_of_account(p.account.as_str())
                            .and_then(|a| Id::parse(a).ok())
                        {
                            need.awards.insert(a);
                        }
                    }
                }
            }
        }
        Some(need)
    }

    /// What one programme command reads.
    pub fn programme(&mut self, p: &ProgrammeCommand) {
        match p {
            ProgrammeCommand::AwardOpen(b) => {
                self.awards.insert(b.award.clone());
            }
            ProgrammeCommand::PartnerRegister(b) => {
                self.partners.insert(b.partner.clone());
            }
            ProgrammeCommand::PartnerKey(b) => {
                self.partners.insert(b.partner.clone());
                self.keys.insert(b.key_id.clone());
                self.keys.extend(b.replaces.iter().cloned());
            }
            ProgrammeCommand::CohortOpen(b) => {
                self.awards.insert(b.award.clone());
                self.partners.insert(b.partner.clone());
                self.cohorts.insert(b.cohort.clone());
            }
            ProgrammeCommand::SessionSchedule(b) => {
                self.cohorts.insert(b.cohort.clone());
                self.sessions
                    .extend(b.sessions.iter().map(|s| s.session.clone()));
            }
            ProgrammeCommand::ParticipantRegister { body, .. } => {
                self.awards.insert(body.award.clone());
                self.partners.insert(body.partner.clone());
                self.participants.insert(body.participant.clone());
            }
            ProgrammeCommand::Evidence(e) => {
                let st = &e.statement;
                self.partners.insert(st.partner.clone());
                self.keys.insert(e.key_id.clone());
                self.statements
                    .insert((st.partner.clone(), st.batch_id.clone()));
                for item in &st.items {
                    self.participants.insert(item.participant().clone());
                    match item {
                        EvidenceItem::Enrolment { cohort, .. } => {
                            self.cohorts.insert(cohort.clone());
                        }
                        EvidenceItem::Attendance { session, .. }
                        | EvidenceItem::AttendanceCorrection { session, .. } => {
                            self.sessions.insert(session.clone());
                        }
                        // The cohorts she is enrolled in come with her.
                        EvidenceItem::Certification { .. } | EvidenceItem::Milestone { .. } => {}
                    }
                }
            }
            ProgrammeCommand::RuleVersion(b) => {
                self.awards.insert(b.award.clone());
            }
            ProgrammeCommand::CycleRun(b) => {
                self.awards.insert(b.award.clone());
            }
            ProgrammeCommand::PeriodClose(b) => {
                self.awards.insert(b.award.clone());
            }
            ProgrammeCommand::PeriodReopen(b) => {
                self.awards.insert(b.award.clone());
            }
        }
    }
}

/// One `… IN (…)` query per chunk of `ids`, its rows handed to `each`.
async fn by_ids<'a, I>(
    c: &mut dyn Conn,
    head: &str,
    column: &str,
    upto: u64,
    tail: &str,
    ids: I,
    mut each: impl FnMut(super::backend::Row) -> Result<()>,
) -> Result<()>
where
    I: IntoIterator<Item = &'a str>,
{
    let ids: Vec<&str> = ids.into_iter().collect();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut q = Query::new(head);
        q.push(" WHERE +seq < ")
            .push_bind(upto)
            .push(" AND ")
            .push(column);
        q.push_in(c.arrays(), chunk.iter().copied());
        q.push(tail);
        for r in q.fetch_all(&mut *c).await? {
            each(r)?;
        }
    }
    Ok(())
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn id(text: &str) -> Result<Id> {
    Id::parse(text).map_err(|e| corrupt(format!("{text}: {e}")))
}

fn word<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| corrupt(format!("{what} {text:?}: {e}")))
}

fn date(text: Option<String>, what: &str) -> Result<chrono::NaiveDate> {
    let text = text.ok_or_else(|| corrupt(format!("{what} without a date")))?;
    text.parse()
        .map_err(|e| corrupt(format!("{what} date {text:?}: {e}")))
}

/// Loads, as of journal size `upto`, the programme state `need` reads (and what that brings
/// with it: a participant's award, partner, cohorts and sessions; a session's cohort; a
/// cohort's award, partner and every session; a partner's keys). What does not exist is simply
/// absent, as in the whole state. An award lists only the participants loaded.
pub(crate) async fn load(c: &mut dyn Conn, upto: u64, mut need: Need) -> Result<ProgrammeState> {
    let started = std::time::Instant::now();
    // Participants first: they name the rest.
    let mut people: Vec<ParticipantRow> = Vec::new();
    by_ids(
        c,
        &format!("SELECT {PARTICIPANT} FROM participants"),
        "participant",
        upto,
        " ORDER BY seq",
        need.participants.iter().map(Id::as_str),
        |r| {
            people.push(participant_row(r)?);
            Ok(())
        },
    )
    .await?;
    // Rows of several chunks: in journal order again.
    people.sort_by_key(|p| p.seq);
    let names: Vec<&str> = people.iter().map(|p| p.participant.as_str()).collect();
    // Evidence rules read a participant's enrolments, certifications, milestones and her
    // attendance at the sessions the statement names; a cycle and a check read it all.
    let sessions_named: Vec<&str> = need.sessions.iter().map(Id::as_str).collect();
    let some_sessions = !need.all_attendance && sessions_named.len() <= IDS_PER_QUERY;
    let mut evidence: Vec<EvidenceRow> = Vec::new();
    for chunk in names.chunks(IDS_PER_QUERY) {
        let mut q = Query::new(format!(
            "SELECT {EVIDENCE} FROM evidence_items WHERE +seq < "
        ));
        q.push_bind(upto).push(" AND participant");
        q.push_in(c.arrays(), chunk.iter().copied());
        if some_sessions {
            q.push(" AND (kind IN ('enrolment', 'certification', 'milestone')");
            if !sessions_named.is_empty() {
                q.push(" OR subject");
                q.push_in(c.arrays(), sessions_named.iter().copied());
            }
            if let Some(period) = &need.attendance_in {
                q.push(" OR subject IN (SELECT session FROM sessions WHERE date >= ")
                    .push_bind(period.first.to_string())
                    .push(" AND date <= ")
                    .push_bind(period.last().to_string())
                    .push(")");
            }
            q.push(")");
        }
        for r in q.fetch_all(&mut *c).await? {
            evidence.push(evidence_row(r)?);
        }
    }
    // Rows of several chunks: in journal order again.
    evidence.sort_by_key(|e| (e.seq, e.idx));
    let mut entitlements: Vec<EntitlementRow> = Vec::new();
    if need.entitlements || need.payments {
        by_ids(
            c,
            &format!("SELECT {ENTITLEMENT} FROM entitlements"),
            "participant",
            upto,
            "",
            names.iter().copied(),
            |r| {
                entitlements.push(entitlement_row(r)?);
                Ok(())
            },
        )
        .await?;
    }
    entitlements.sort_by_key(|e| e.seq);
    for p in &people {
        need.awards.insert(id(&p.award)?);
        need.partners.insert(id(&p.partner)?);
    }
    for e in &evidence {
        match e.kind.as_str() {
            "enrolment" => {
                need.cohorts.insert(id(&e.subject)?);
            }
            "attendance" | "attendance-correction" => {
                need.sessions.insert(id(&e.subject)?);
            }
            _ => {}
        }
    }
    // A session brings its cohort; a key its partner.
    let sessions: Vec<&str> = need.sessions.iter().map(Id::as_str).collect();
    let mut cohorts_of_sessions = Vec::new();
    by_ids(
        c,
        "SELECT cohort FROM sessions",
        "session",
        upto,
        "",
        sessions,
        |mut r| {
            cohorts_of_sessions.push(id(&r.text("cohort")?)?);
            Ok(())
        },
    )
    .await?;
    need.cohorts.extend(cohorts_of_sessions);
    let mut partners_of_keys = Vec::new();
    by_ids(
        c,
        "SELECT partner FROM partner_keys",
        "key_id",
        upto,
        "",
        need.keys.iter().map(String::as_str),
        |mut r| {
            partners_of_keys.push(id(&r.text("partner")?)?);
            Ok(())
        },
    )
    .await?;
    need.partners.extend(partners_of_keys);
    // A cohort brings its award and partner, and every session scheduled for it.
    let mut seqs: BTreeSet<u64> = BTreeSet::new();
    let mut cohort_links = Vec::new();
    by_ids(
        c,
        "SELECT award, partner, seq FROM cohorts",
        "cohort",
        upto,
        "",
        need.cohorts.iter().map(Id::as_str),
        |mut r| {
            cohort_links.push((id(&r.text("award")?)?, id(&r.text("partner")?)?));
            seqs.insert(r.u64("seq")?);
            Ok(())
        },
    )
    .await?;
    for (award, partner) in cohort_links {
        need.awards.insert(award);
        need.partners.insert(partner);
    }
    by_ids(
        c,
        "SELECT DISTINCT seq FROM sessions",
        "cohort",
        upto,
        "",
        need.cohorts.iter().map(Id::as_str),
        |mut r| {
            seqs.insert(r.u64("seq")?);
            Ok(())
        },
    )
    .await?;
    // An award brings its rule versions, its cycles and the providers of all its cohorts.
    let awards: Vec<&str> = need.awards.iter().map(Id::as_str).collect();
    for (table, column) in [
        ("awards", "award"),
        ("award_rules", "award"),
        ("award_cycles", "award"),
        ("award_periods", "award"),
        ("partners", "partner"),
        ("partner_keys", "partner"),
    ] {
        let ids: Vec<&str> = if column == "award" {
            awards.clone()
        } else {
            need.partners.iter().map(Id::as_str).collect()
        };
        by_ids(
            c,
            &format!("SELECT seq FROM {table}"),
            column,
            upto,
            "",
            ids,
            |mut r| {
                seqs.insert(r.u64("seq")?);
                Ok(())
            },
        )
        .await?;
    }
    let mut vendors: Vec<(Id, Id)> = Vec::new();
    by_ids(
        c,
        "SELECT award, body FROM cohorts",
        "award",
        upto,
        "",
        awards.iter().copied(),
        |mut r| {
            let award = id(&r.text("award")?)?;
            let body: serde_json::Value = serde_json::from_str(&r.text("body")?)
                .map_err(|e| corrupt(format!("cohort body: {e}")))?;
            if let Some(p) = body.get("provider").and_then(|p| p.as_str()) {
                vendors.push((award, id(p)?));
            }
            Ok(())
        },
    )
    .await?;
    // The statements asked about: their batch id and signature.
    let mut statement_seqs = Vec::new();
    for (partner, batch) in &need.statements {
        let found = Query::new(
            "SELECT seq FROM evidence_statements WHERE partner = $1 AND batch_id = $2 AND +seq < $3",
        )
        .bind(partner.as_str())
        .bind(batch.as_str())
        .bind(upto)
        .fetch_all(&mut *c)
        .await?;
        for mut r in found {
            statement_seqs.push(r.u64("seq")?);
        }
    }

    let mut state = ProgrammeState::default();
    state.trust_signatures = true;
    let replayed = replay(c, &mut state, &seqs).await;
    state.trust_signatures = false;
    replayed?;
    for (award, vendor) in vendors {
        if let Some(a) = state.awards.get_mut(&award) {
            a.vendors.insert(vendor);
        }
    }
    for stored in fetch_records(c, &statement_seqs).await? {
        let record = tranche_audit::record::Record::decode_trusted(&stored.bytes)
            .map_err(|e| corrupt(format!("seq {}: {e}", stored.seq)))?;
        let Command::Programme(ProgrammeCommand::Evidence(body)) = Command::from_record(&record)
            .map_err(|e| corrupt(format!("seq {}: {e}", stored.seq)))?
        else {
            return Err(corrupt(format!("seq {} is not evidence", stored.seq)));
        };
        if let Some(p) = state.partners.get_mut(&body.statement.partner) {
            p.batches.insert(
                body.statement.batch_id.clone(),
                signature_digest(&body.signature),
            );
        }
    }
    let recoveries = recoveries(c, &entitlements).await?;
    if need.payments {
        load_items(c, upto, &mut state, &entitlements).await?;
    }
    let rows = (evidence.len(), entitlements.len());
    build_participants(&mut state, people, evidence, entitlements, &recoveries)?;
    state.commit();
    tracing::debug!(
        participants = state.participants.len(),
        evidence_rows = rows.0,
        entitlement_rows = rows.1,
        items = state.disburse.items.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "programme state loaded"
    );
    Ok(state)
}

/// The payable items among `entitlements` (every entitlement that credits a payee's payable)
/// and the payments that hold or held them, with their states: what `paid_by` and the
/// reversal rules ask.
async fn load_items(
    c: &mut dyn Conn,
    upto: u64,
    state: &mut ProgrammeState,
    entitlements: &[EntitlementRow],
) -> Result<()> {
    use crate::domain::payment_state::{Item, Payment, PaymentState};
    use tranche_audit::disburse::Payee;
    // The rules ask about live entitlements only (is the one to reverse, adjust or correct
    // paid?): the last of each participant's basis that no later row reverses.
    let mut live: BTreeMap<(&str, &str), &EntitlementRow> = BTreeMap::new();
    for e in entitlements {
        let key = (e.participant.as_str(), e.basis.as_str());
        match (e.reverses, e.adjusts) {
            (Some(original), _) => {
                if live.get(&key).map(|l| l.seq) == Some(original) {
                    live.remove(&key);
                }
            }
            (None, Some(_)) => {}
            (None, None) => {
                live.insert(key, e);
            }
        }
    }
    let award_of: BTreeMap<u64, (&str, &str)> = live
        .values()
        .map(|e| (e.seq, (e.award.as_str(), e.participant.as_str())))
        .collect();
    let seqs: Vec<u64> = award_of.keys().copied().collect();
    let postings = postings_of(c, &seqs).await?;
    let mut payables: BTreeSet<String> = BTreeSet::new();
    for (seq, (award, participant)) in &award_of {
        let award = id(award)?;
        let rows = postings.get(seq).map(Vec::as_slice).unwrap_or_default();
        let Some((payee, payable, amount, line)) = payable_of(&award, rows) else {
            continue;
        };
        payables.insert(payable);
        state.disburse.items.insert(
            *seq,
            Item {
                award: award.clone(),
                payee,
                participant: id(participant)?,
                line,
                amount,
                payment: None,
                reversed_by: None,
                returned: Vec::new(),
            },
        );
    }
    // The payments to those payables, oldest first, with the state of their latest event.
    let payables: Vec<&str> = payables.iter().map(String::as_str).collect();
    for chunk in payables.chunks(IDS_PER_QUERY) {
        let mut q = Query::new(
            "SELECT p.e2e AS e2e, p.batch AS batch, p.award AS award, p.payee AS payee, p.payable AS payable, p.amount_minor AS amount_minor, p.part AS part, p.items AS items,
                    (SELECT e.state FROM payment_events e WHERE e.e2e = p.e2e AND +e.seq < ",
        );
        q.push_bind(upto)
            .push(" ORDER BY e.n DESC LIMIT 1) AS state FROM payments p WHERE +p.seq < ")
            .push_bind(upto)
            .push(" AND p.payable");
        q.push_in(c.arrays(), chunk.iter().copied());
        q.push(" ORDER BY p.seq, p.idx");
        for mut r in q.fetch_all(&mut *c).await? {
            let e2e = r.text("e2e")?;
            let state_text = r.text("state")?;
            let payment_state = [
                PaymentState::Pending,
                PaymentState::Withdrawn,
                PaymentState::Sent,
                PaymentState::Accepted,
                PaymentState::Confirmed,
                PaymentState::Rejected,
                PaymentState::Returned,
            ]
            .into_iter()
            .find(|s| s.as_str() == state_text)
            .ok_or_else(|| corrupt(format!("payment {e2e}: state {state_text}")))?;
            let items: Vec<u64> = r
                .text("items")?
                .split_whitespace()
                .map(|t| {
                    t.parse()
                        .map_err(|_| corrupt(format!("payment {e2e}: items {t}")))
                })
                .collect::<Result<_>>()?;
            let pi = state.disburse.payments.len() as u32;
            for item in &items {
                if let Some(it) = state.disburse.items.get_mut(item) {
                    if payment_state.is_live() {
                        it.payment = Some(pi);
                    } else if matches!(
                        payment_state,
                        PaymentState::Rejected | PaymentState::Returned
                    ) {
                        it.returned.push(pi);
                    }
                }
            }
            state.disburse.e2e.insert(e2e.clone(), pi);
            state.disburse.payments.push(Payment {
                e2e,
                batch: id(&r.text("batch")?)?,
                award: id(&r.text("award")?)?,
                payee: Payee::parse(&r.text("payee")?).map_err(|e| corrupt(e.to_string()))?,
                payable: r.text("payable")?,
                amount: r.int("amount_minor")?,
                items,
                part: r.u32("part")?,
                reissues: Vec::new(),
                reissued_by: None,
                state: payment_state,
                events: Vec::new(),
            });
        }
    }
    Ok(())
}

/// The postings of each of `seqs`, in order: (account, side, amount in minor units).
type Postings = BTreeMap<u64, Vec<(String, String, i64)>>;

async fn postings_of(c: &mut dyn Conn, seqs: &[u64]) -> Result<Postings> {
    let mut out: Postings = BTreeMap::new();
    let seqs: Vec<i64> = seqs.iter().map(|&s| s as i64).collect();
    for chunk in seqs.chunks(IDS_PER_QUERY) {
        let mut q =
            Query::new("SELECT seq, idx, account, side, amount_minor FROM postings WHERE seq");
        q.push_in(c.arrays(), chunk.iter().copied());
        q.push(" ORDER BY seq, idx");
        for mut r in q.fetch_all(&mut *c).await? {
            out.entry(r.u64("seq")?).or_default().push((
                r.text("account")?,
                r.text("side")?,
                r.int("amount_minor")?,
            ));
        }
    }
    Ok(out)
}

/// What an entitlement's postings owe a payee, as `disburse::on_entitlement` reads them: the
/// first credit to a payable of `award` (the payee, the account, the amount) and the budget
/// line its debits charge.
fn payable_of(
    award: &Id,
    postings: &[(String, String, i64)],
) -> Option<(tranche_audit::disburse::Payee, String, i64, Option<Id>)> {
    let (payee, payable, amount) = postings.iter().find_map(|(account, side, minor)| {
        (side == "credit")
            .then(|| {
                tranche_audit::disburse::Payee::of_payable(award, account)
                    .map(|p| (p, account.clone(), *minor))
            })
            .flatten()
    })?;
    let line = postings
        .iter()
        .filter(|(_, side, _)| side == "debit")
        .find_map(|(account, _, _)| crate::domain::programme::budget_line_of(award, account));
    Some((payee, payable, amount, line))
}

impl super::Store {
    /// What payments of `award` confirmed by journal size `upto` paid, per budget line (the
    /// budget report's "paid"): each one's entitlements, charged to the lines their postings
    /// debit.
    pub async fn paid_by_line(&self, award: &Id, upto: u64) -> Result<BTreeMap<Id, i64>> {
        let c = &mut *self.db.conn().await?;
        let rows = Query::new(
            "SELECT p.items AS items FROM payments p WHERE p.award = $1 AND +p.seq < $2
               AND (SELECT e.state FROM payment_events e WHERE e.e2e = p.e2e AND +e.seq < $2 ORDER BY e.n DESC LIMIT 1) = 'confirmed'
             ORDER BY p.seq, p.idx",
        )
        .bind(award.as_str())
        .bind(upto)
        .fetch_all(&mut *c)
        .await?;
        let mut items: Vec<u64> = Vec::new();
        for mut r in rows {
            for t in r.text("items")?.split_whitespace() {
                items.push(
                    t.parse()
                        .map_err(|_| corrupt(format!("payment items {t}")))?,
                );
            }
        }
        let mut out: BTreeMap<Id, i64> = BTreeMap::new();
        for chunk in items.chunks(10_000) {
            let postings = postings_of(c, chunk).await?;
            for rows in postings.values() {
                if let Some((_, _, amount, Some(line))) = payable_of(award, rows) {
                    *out.entry(line).or_default() += amount;
                }
            }
        }
        Ok(out)
    }
}

/// The journal records at `seqs`.
async fn fetch_records(c: &mut dyn Conn, seqs: &[u64]) -> Result<Vec<super::StoredRecord>> {
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(IDS_PER_QUERY) {
        let mut q = Query::new("SELECT seq, record, leaf_hash FROM journal WHERE seq");
        q.push_in(c.arrays(), chunk.iter().map(|&s| s as i64));
        q.push(" ORDER BY seq");
        for r in q.fetch_all(&mut *c).await? {
            out.push(super::append::record_from_row(r)?);
        }
    }
    out.sort_by_key(|r| r.seq);
    Ok(out)
}

/// Replays the registry records at `seqs`, in journal order.
async fn replay(c: &mut dyn Conn, state: &mut ProgrammeState, seqs: &BTreeSet<u64>) -> Result<()> {
    let seqs: Vec<u64> = seqs.iter().copied().collect();
    for stored in fetch_records(c, &seqs).await? {
        replay_record(state, &stored)?;
    }
    Ok(())
}

/// The adjustments among `entitlements` that are recoveries (they debit the payee's
/// receivable); the others are supplements.
async fn recoveries(c: &mut dyn Conn, entitlements: &[EntitlementRow]) -> Result<BTreeSet<u64>> {
    let adjustments: Vec<i64> = entitlements
        .iter()
        .filter(|e| e.adjusts.is_some())
        .map(|e| e.seq as i64)
        .collect();
    let mut out = BTreeSet::new();
    for chunk in adjustments.chunks(IDS_PER_QUERY) {
        let mut q = Query::new("SELECT seq, account FROM postings WHERE side = 'debit' AND seq");
        q.push_in(c.arrays(), chunk.iter().copied());
        for mut r in q.fetch_all(&mut *c).await? {
            let seq = r.u64("seq")?;
            if r.text("account")?.starts_with("receivable:") {
                out.insert(seq);
            }
        }
    }
    Ok(out)
}

fn build_participants(
    state: &mut ProgrammeState,
    people: Vec<ParticipantRow>,
    evidence: Vec<EvidenceRow>,
    entitlements: Vec<EntitlementRow>,
    recoveries: &BTreeSet<u64>,
) -> Result<()> {
    for row in people {
        let (pid, award, partner, seq) = (
            id(&row.participant)?,
            id(&row.award)?,
            id(&row.partner)?,
            row.seq,
        );
        let idx = state.participants.len() as u32;
        state
            .participants
            .push(Participant::new(pid.clone(), award.clone(), partner, seq));
        state.participant_index.insert(pid, idx);
        if let Some(a) = state.awards.get_mut(&award) {
            a.participants.push(idx);
        }
    }
    for EvidenceRow {
        seq,
        participant,
        kind,
        subject,
        value,
        date: day,
        ..
    } in evidence
    {
        let Some(&pi) = state.participant_index.get(participant.as_str()) else {
            continue;
        };
        match kind.as_str() {
            "enrolment" => {
                let date = date(day, "enrolment")?;
                state.participants[pi as usize].enrolments.push(Enrolment {
                    cohort: id(&subject)?,
                    date,
                    seq,
                });
            }
            "attendance" | "attendance-correction" => {
                let session = *state
                    .session_index
                    .get(subject.as_str())
                    .ok_or_else(|| corrupt(format!("seq {seq}: session {subject} not loaded")))?;
                let status: Presence = word(&value, "attendance")?;
                let now = Attendance {
                    session,
                    status,
                    seq,
                };
                let p = &mut state.participants[pi as usize];
                match p.attendance.iter().position(|a| a.session == session) {
                    Some(at) if kind == "attendance-correction" => p.attendance[at] = now,
                    None if kind == "attendance" => p.attendance.push(now),
                    _ => {
                        return Err(corrupt(format!(
                        "seq {seq}: {kind} of {participant} at {subject} does not follow the rules"
                    )))
                    }
                }
            }
            "certification" => {
                let result: Outcome = word(&value, "certification")?;
                let date = date(day, "certification")?;
                state.participants[pi as usize]
                    .certifications
                    .push(Certification {
                        course: id(&subject)?,
                        result,
                        date,
                        seq,
                    });
            }
            "milestone" => {
                let milestone: Milestone = word(&subject, "milestone")?;
                let result: Outcome = word(&value, "milestone")?;
                let date = date(day, "milestone")?;
                state.participants[pi as usize]
                    .milestones
                    .push(MilestoneEvidence {
                        milestone,
                        result,
                        date,
                        seq,
                    });
            }
            other => return Err(corrupt(format!("seq {seq}: evidence kind {other}"))),
        }
    }
    for EntitlementRow {
        seq,
        participant,
        basis,
        rule,
        version,
        amount_minor: amount,
        reverses,
        adjusts,
        ..
    } in entitlements
    {
        let Some(&pi) = state.participant_index.get(participant.as_str()) else {
            continue;
        };
        let basis = Basis(basis);
        let live = &mut state.participants[pi as usize].entitlements;
        match (reverses, adjusts) {
            (Some(original), _) => {
                if live.get(&basis).map(|l| l.seq) == Some(original) {
                    live.remove(&basis);
                }
            }
            (None, Some(original)) => {
                let Some(l) = live.get_mut(&basis).filter(|l| l.seq == original) else {
                    return Err(corrupt(format!(
                        "seq {seq} adjusts {original}, not the live {} entitlement of {participant}",
                        basis.as_str()
                    )));
                };
                l.adjusted += if recoveries.contains(&seq) {
                    -amount
                } else {
                    amount
                };
                l.adjustments.push(seq);
            }
            (None, None) => {
                live.insert(
                    basis,
                    LiveEntitlement {
                        seq,
                        amount,
                        rule: id(&rule)?,
                        version,
                        adjusted: 0,
                        adjustments: Vec::new(),
                    },
                );
            }
        }
    }
    Ok(())
}

impl super::Store {
    /// Up to `limit` participants of `award` registered before journal size `upto`, after
    /// `after`, in byte order of their ids (a cycle's pages).
    pub async fn award_participant_page(
        &self,
        award: &Id,
        after: Option<&Id>,
        limit: u32,
        upto: u64,
    ) -> Result<Vec<Id>> {
        let order = self.db.byte_order();
        let c = &mut *self.db.conn().await?;
        Query::new(format!(
            "SELECT participant FROM participants WHERE award = $1 AND participant {order} > $2 AND +seq < $3
             ORDER BY participant {order} LIMIT $4"
        ))
        .bind(award.as_str())
        .bind(after.map_or("", Id::as_str))
        .bind(upto)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await?
        .into_iter()
        .map(|mut r| id(&r.text("participant")?))
        .collect()
    }

    /// The programme state `need` reads, as of the journal's current size (each query reads at
    /// most that far, so the state is one moment's). For checking input before appending it:
    /// the append loads it again under the writer lock and decides on that.
    pub async fn load_programme(&self, need: Need) -> Result<ProgrammeState> {
        let mut c = self.db.conn().await?;
        let upto = super::append::tree_size(&mut *c).await?;
        load(&mut *c, upto, need).await
    }

    /// Like [`Self::load_programme`], at journal size `upto`.
    pub async fn load_programme_at(&self, upto: u64, need: Need) -> Result<ProgrammeState> {
        let mut c = self.db.conn().await?;
        load(&mut *c, upto, need).await
    }
}

/// A participant as the rules see her, sessions named rather than numbered: what a loaded and
/// a replayed state must agree on.
pub(crate) fn describe_participant(s: &ProgrammeState, p: &Participant) -> String {
    let attendance: Vec<(String, Presence, u64)> = p
        .attendance
        .iter()
        .map(|a| {
            (
                s.sessions
                    .get(a.session as usize)
                    .map_or_else(|| format!("#{}", a.session), |x| x.id.to_string()),
                a.status,
                a.seq,
            )
        })
        .collect();
    format!(
        "{} award {} partner {} seq {} enrolments {:?} attendance {:?} certifications {:?} milestones {:?} entitlements {:?}",
        p.id,
        p.award,
        p.partner,
        p.seq,
        p.enrolments,
        attendance,
        p.certifications,
        p.milestones,
        p.entitlements
    )
}

/// A payable entitlement as the payment rules see it: payee, amount, line, the live payment
/// holding it and the payments of it that failed, by end-to-end id.
pub(crate) fn describe_item(s: &ProgrammeState, seq: u64) -> Option<String> {
    let item = s.disburse.items.get(&seq)?;
    let payment = |pi: u32| {
        s.disburse.payments.get(pi as usize).map_or_else(
            || format!("#{pi}"),
            |p| format!("{} {} of batch {}", p.e2e, p.state.as_str(), p.batch),
        )
    };
    Some(format!(
        "{} {} {:?} held by {:?} returned {:?} reversed by {:?}",
        item.payee,
        item.amount,
        item.line,
        item.payment.map(payment),
        item.returned
            .iter()
            .map(|&r| payment(r))
            .collect::<Vec<_>>(),
        item.reversed_by
    ))
}

/// An award as the rules see it, without its list of participants (a loaded state lists only
/// those it loaded).
pub(crate) fn describe_award(a: &crate::domain::programme::Award) -> String {
    let mut authorised: Vec<_> = a.authorised.iter().collect();
    authorised.sort();
    format!(
        "{:?} {} seq {} authorised {:?} rules {:?} cycles {:?} vendors {:?} periods {:?}",
        a.body, a.currency, a.seq, authorised, a.rules, a.cycles, a.vendors, a.periods
    )
}

/// A partner with her keys and the statements named (all of them, in a check).
pub(crate) fn describe_partner(s: &ProgrammeState, id: &Id) -> Option<String> {
    let p = s.partners.get(id)?;
    let keys: Vec<String> = p
        .keys
        .iter()
        .map(|k| match s.keys.get(k) {
            Some(key) => format!(
                "{k} {} from {} revoked {:?} {:?}",
                key.partner,
                key.from_seq,
                key.revoked_seq,
                key.key.as_bytes()
            ),
            None => format!("{k} missing"),
        })
        .collect();
    let batches: BTreeMap<&Id, &[u8; 32]> = p.batches.iter().collect();
    Some(format!(
        "{} seq {} keys {keys:?} statements {batches:?}",
        p.name, p.seq
    ))
}

/// A cohort with its sessions named.
pub(crate) fn describe_cohort(s: &ProgrammeState, id: &Id) -> Option<String> {
    let c = s.cohorts.get(id)?;
    let sessions: Vec<String> = c
        .sessions
        .iter()
        .map(|&i| {
            s.sessions.get(i as usize).map_or_else(
                || format!("#{i}"),
                |x| format!("{} {} {} seq {}", x.id, x.cohort, x.date, x.seq),
            )
        })
        .collect();
    Some(format!("{:?} seq {} sessions {sessions:?}", c.body, c.seq))
}

/// Compares the state loaded from the tables with `replayed` (the journal's), entity by
/// entity; the first difference, if any.
pub(crate) async fn compare(
    store: &super::Store,
    upto: u64,
    replayed: &ProgrammeState,
) -> Result<Option<String>> {
    let mut need = Need {
        awards: replayed.awards.keys().cloned().collect(),
        partners: replayed.partners.keys().cloned().collect(),
        cohorts: replayed.cohorts.keys().cloned().collect(),
        ..Need::default()
    };
    for (partner, p) in &replayed.partners {
        for batch in p.batches.keys() {
            need.statements.insert((partner.clone(), batch.clone()));
        }
    }
    let loaded = store.load_programme_at(upto, need).await?;
    let mut awards: Vec<&Id> = replayed.awards.keys().collect();
    awards.sort();
    for a in awards {
        let want = describe_award(&replayed.awards[a]);
        let got = loaded.awards.get(a).map(describe_award);
        if got.as_deref() != Some(want.as_str()) {
            return Ok(Some(format!(
                "award {a}: replayed {want}, loaded {}",
                got.unwrap_or_else(|| "nothing".into())
            )));
        }
    }
    let mut partners: Vec<&Id> = replayed.partners.keys().collect();
    partners.sort();
    for p in partners {
        let want = describe_partner(replayed, p);
        let got = describe_partner(&loaded, p);
        if got != want {
            return Ok(Some(format!(
                "partner {p}: replayed {}, loaded {}",
                want.unwrap_or_default(),
                got.unwrap_or_else(|| "nothing".into())
            )));
        }
    }
    let mut cohorts: Vec<&Id> = replayed.cohorts.keys().collect();
    cohorts.sort();
    for c in cohorts {
        let want = describe_cohort(replayed, c);
        let got = describe_cohort(&loaded, c);
        if got != want {
            return Ok(Some(format!(
                "cohort {c}: replayed {}, loaded {}",
                want.unwrap_or_default(),
                got.unwrap_or_else(|| "nothing".into())
            )));
        }
    }
    drop(loaded);
    let mut people: Vec<&Participant> = replayed.participants.iter().collect();
    people.sort_by(|a, b| a.id.cmp(&b.id));
    for page in people.chunks(1_000) {
        let need = Need {
            participants: page.iter().map(|p| p.id.clone()).collect(),
            all_attendance: true,
            entitlements: true,
            payments: true,
            ..Need::default()
        };
        let loaded = store.load_programme_at(upto, need).await?;
        for p in page {
            let want = describe_participant(replayed, p);
            let got = loaded
                .participant(&p.id)
                .map(|l| describe_participant(&loaded, l));
            if got.as_deref() != Some(want.as_str()) {
                return Ok(Some(format!(
                    "participant {}: replayed {want}, loaded {}",
                    p.id,
                    got.unwrap_or_else(|| "nothing".into())
                )));
            }
            // What "is it paid?" reads of each live entitlement.
            for live in p.entitlements.values() {
                let want = describe_item(replayed, live.seq);
                let got = describe_item(&loaded, live.seq);
                if got != want {
                    return Ok(Some(format!(
                        "payable entitlement seq {} of {}: replayed {}, loaded {}",
                        live.seq,
                        p.id,
                        want.unwrap_or_else(|| "no item".into()),
                        got.unwrap_or_else(|| "no item".into())
                    )));
                }
            }
        }
    }
    Ok(None)
}
