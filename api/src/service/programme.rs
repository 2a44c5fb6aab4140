//! Awards, partners, cohorts, participants (personal data only to the roles that may see it),
//! partner-signed evidence and cycles. Reads come from the projections, never a replay.

use axum::http::StatusCode;
use tranche_audit::money::format_minor;
use tranche_audit::programme::{AwardOpenBody, EvidenceBody, Id, Period};
use tranche_audit::Code;
use tranche_ledger::domain::cycle::CycleReport;
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::store::Outcome;

use super::{authorize, submit, Idempotency, Written};
use crate::server::auth::{Caller, Role};
use crate::server::error::{ApiError, ApiResult};
use crate::server::programme::{
    AwardDoc, BudgetLineDoc, CohortDoc, EntitlementDoc, EvidenceDoc, KeyDoc, ParticipantDoc,
    PartnerDoc, RuleDoc, SessionDoc,
};
use crate::server::AppState;

/// An id from a path: 404 when it cannot name anything.
pub fn id(text: &str, field: &str) -> ApiResult<Id> {
    Id::parse(text).map_err(|e| ApiError::from(e.within(field)).status(StatusCode::NOT_FOUND))
}

/// A partner caller may act only for itself.
pub fn own_partner(caller: &Caller, partner: &Id, field: &str) -> ApiResult<()> {
    if caller.role == Role::Partner && caller.partner.as_deref() != Some(partner.as_str()) {
        return Err(ApiError::forbidden(format!(
            "a partner token may act only for its own partner, not for {partner}"
        ))
        .field(field)
        .code(Code::PartnerScope));
    }
    Ok(())
}

/// Every award and where its budget lines stand.
pub async fn awards(state: &AppState, caller: &Caller) -> ApiResult<Vec<AwardDoc>> {
    authorize(caller, "GET", "/v1/awards")?;
    let ids = state
        .ledger
        .store()
        .award_rows()
        .await?
        .into_iter()
        .map(|a| id(&a.award, "award"))
        .collect::<ApiResult<Vec<Id>>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for a in &ids {
        out.push(award_doc(state, a).await?);
    }
    Ok(out)
}

/// One award and where its budget lines stand.
pub async fn award(state: &AppState, caller: &Caller, award: &str) -> ApiResult<AwardDoc> {
    authorize(caller, "GET", "/v1/awards/{award}")?;
    let award = id(award, "award")?;
    award_doc(state, &award).await
}

/// An award and where its budget lines stand, from the projections (no replay): the opening
/// body, the rule versions (their params read from their records), cycles, participants and
/// cohorts counted, and the budget used from the postings.
async fn award_doc(state: &AppState, award: &Id) -> ApiResult<AwardDoc> {
    let store = state.ledger.store();
    let row = store
        .award_rows()
        .await?
        .into_iter()
        .find(|a| a.award == award.as_str())
        .ok_or_else(|| ApiError::not_found(format!("award {award} is not open")))?;
    let body: AwardOpenBody = serde_json::from_str(&row.body)
        .map_err(|e| ApiError::internal(&format!("award {award}: stored body: {e}")))?;
    let currency = body.currency()?;
    let used = state.ledger.budget_used(award).await?;
    let money = |m: i64| format_minor(m.into(), currency);
    let mut budget_lines = Vec::with_capacity(body.budget_lines.len());
    for l in &body.budget_lines {
        let authorised =
            tranche_audit::programme::canonical_amount(&l.authorised, currency, "authorised")?
                .minor();
        let u = used.get(&l.line).copied().unwrap_or(0);
        budget_lines.push(BudgetLineDoc {
            line: l.line.to_string(),
            name: l.name.clone(),
            participant_support: l.participant_support,
            authorised: money(authorised),
            used: money(u),
            remaining: money(authorised - u),
        });
    }
    let (versions, cycle_rows, participants) = store.award_detail(award.as_str()).await?;
    let mut rules = Vec::with_capacity(versions.len());
    for v in &versions {
        let params = match store.records(v.seq, 1).await?.first() {
            Some(r) if r.seq == v.seq => {
                let rec: serde_json::Value = serde_json::from_slice(&r.bytes)
                    .map_err(|e| ApiError::internal(&format!("record {}: {e}", v.seq)))?;
                rec.pointer("/body/params").cloned().unwrap_or_default()
            }
            _ => serde_json::Value::Null,
        };
        rules.push(RuleDoc {
            rule: v.rule.clone(),
            version: v.version,
            effective: v.effective.clone(),
            shape: v.shape.clone(),
            seq: v.seq,
            params,
        });
    }
    let mut cycles: Vec<String> = cycle_rows.into_iter().map(|c| c.period).collect();
    cycles.dedup();
    Ok(AwardDoc {
        award: award.to_string(),
        donor: body.donor.clone(),
        currency: currency.code().to_string(),
        total: body.total.clone(),
        start: body.start.to_string(),
        end: body.end.to_string(),
        seq: row.seq,
        participants,
        cohorts: store.cohort_count(award.as_str()).await?,
        budget_lines,
        rules,
        cycles,
        utc_offset: body.utc_offset.clone(),
        vocabulary: crate::server::programme::VocabularyDoc::of(&body),
    })
}

/// The partners and their keys (a partner sees itself only).
pub async fn partners(state: &AppState, caller: &Caller) -> ApiResult<Vec<PartnerDoc>> {
    authorize(caller, "GET", "/v1/partners")?;
    let store = state.ledger.store();
    let mut out = Vec::new();
    for p in store.partner_rows().await? {
        if caller.role == Role::Partner && caller.partner.as_deref() != Some(p.partner.as_str()) {
            continue;
        }
        let records = store.partner_key_rows(&p.partner).await?;
        // A key is valid from the record that registers it (or rotates it in) until one
        // revokes it or rotates it out.
        let revoked = |key: &str| {
            records
                .iter()
                .find(|r| {
                    (r.action == "revoke" && r.key_id == key)
                        || (r.action == "rotate" && r.replaces.as_deref() == Some(key))
                })
                .map(|r| r.seq)
        };
        let keys = records
            .iter()
            .filter(|r| r.action != "revoke")
            .map(|r| KeyDoc {
                key_id: r.key_id.clone(),
                public_key: r.public_key.clone().unwrap_or_default(),
                registered_seq: r.seq,
                revoked_seq: revoked(&r.key_id),
            })
            .collect();
        let cohorts = store
            .cohort_rows(None, Some(&p.partner))
            .await?
            .into_iter()
            .map(|c| c.cohort)
            .collect();
        let (_, batches) = store.statement_rows(Some(&p.partner), 0).await?;
        out.push(PartnerDoc {
            partner: p.partner,
            name: p.name,
            seq: p.seq,
            keys,
            cohorts,
            batches,
        });
    }
    out.sort_by(|a, b| a.partner.cmp(&b.partner));
    Ok(out)
}

/// The cohorts and their sessions, of one award or all (a partner's own only).
pub async fn cohorts(
    state: &AppState,
    caller: &Caller,
    award: Option<&str>,
) -> ApiResult<Vec<CohortDoc>> {
    authorize(caller, "GET", "/v1/cohorts")?;
    let store = state.ledger.store();
    let partner = match caller.role {
        Role::Partner => Some(caller.partner.clone().unwrap_or_default()),
        _ => None,
    };
    let mut out = Vec::new();
    for c in store.cohort_rows(award, partner.as_deref()).await? {
        let body: tranche_audit::programme::CohortOpenBody = serde_json::from_str(&c.body)
            .map_err(|e| ApiError::internal(&format!("cohort {}: stored body: {e}", c.cohort)))?;
        let sessions = store
            .session_rows(&c.cohort)
            .await?
            .into_iter()
            .map(|s| SessionDoc {
                session: s.session,
                date: s.date,
            })
            .collect();
        out.push(CohortDoc {
            cohort: c.cohort,
            award: c.award,
            partner: c.partner,
            pathway: body.pathway.as_str().to_string(),
            name: body.name,
            course: body.course.as_ref().map(ToString::to_string),
            provider: body.provider.as_ref().map(ToString::to_string),
            seq: c.seq,
            sessions,
        });
    }
    out.sort_by(|a, b| a.cohort.cmp(&b.cohort));
    Ok(out)
}

/// A participant's statement: personal data only to admin, preparer and the partner.
pub async fn participant(
    state: &AppState,
    caller: &Caller,
    participant: &str,
) -> ApiResult<ParticipantDoc> {
    authorize(caller, "GET", "/v1/participants/{participant}")?;
    let pid = id(participant, "participant")?;
    let mut doc = participant_doc(state, caller, &pid).await?;
    if let Some(row) = state.ledger.store().personal_data(pid.as_str()).await? {
        doc.erased_at = row.erased_at;
        if matches!(caller.role, Role::Admin | Role::Preparer | Role::Partner) {
            doc.personal = row.personal;
            doc.attributes = row.attributes;
        }
    }
    Ok(doc)
}

/// A participant from the projections (no replay): the evidence in force (one attendance per
/// session, the last mark or correction), the live entitlements with the recoveries and
/// supplements recorded against them (told apart by their postings), and the C4T total.
async fn participant_doc(state: &AppState, caller: &Caller, pid: &Id) -> ApiResult<ParticipantDoc> {
    let store = state.ledger.store();
    let (p, evidence_rows, entitlement_rows) = store
        .participant_detail(pid.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("participant {pid} is not registered")))?;
    own_partner(caller, &id(&p.partner, "partner")?, "participant")?;
    let currency = match Id::parse(&p.award) {
        Ok(award) => state.ledger.award_body(&award).await?.currency().ok(),
        Err(_) => None,
    };
    let money = |m: i64| currency.map_or(m.to_string(), |c| format_minor(m.into(), c));
    // Attendance in force: the last mark or correction of each session.
    let mut marks: std::collections::BTreeMap<&str, &tranche_ledger::domain::EvidenceRow> =
        std::collections::BTreeMap::new();
    let mut evidence = Vec::new();
    for e in &evidence_rows {
        match e.kind.as_str() {
            "attendance" | "attendance-correction" => {
                marks.insert(&e.subject, e);
            }
            kind => evidence.push(EvidenceDoc {
                kind: kind.to_string(),
                what: e.subject.clone(),
                value: if kind == "enrolment" {
                    "enrolled".to_string()
                } else {
                    e.value.clone()
                },
                date: e.date.clone(),
                seq: e.seq,
            }),
        }
    }
    let sessions: Vec<String> = marks.keys().map(|s| s.to_string()).collect();
    let dates = store.session_dates(&sessions).await?;
    for (session, e) in marks {
        evidence.push(EvidenceDoc {
            kind: "attendance".into(),
            what: session.to_string(),
            value: e.value.clone(),
            date: dates.get(session).cloned(),
            seq: e.seq,
        });
    }
    evidence.sort_by_key(|e| e.seq);
    // Live entitlements per basis, and the adjustments of each.
    struct Live {
        row: tranche_ledger::domain::EntitlementRow,
        adjusted: i64,
        adjustments: Vec<u64>,
    }
    let mut live: std::collections::BTreeMap<String, Live> = std::collections::BTreeMap::new();
    for e in entitlement_rows {
        if let Some(reversed) = e.reverses {
            if live.get(&e.basis).is_some_and(|l| l.row.seq == reversed) {
                live.remove(&e.basis);
            }
        } else if let Some(original) = e.adjusts {
            let recovery = adjustment_is_recovery(state, e.seq).await?;
            if let Some(l) = live.values_mut().find(|l| l.row.seq == original) {
                l.adjusted += if recovery {
                    -e.amount_minor
                } else {
                    e.amount_minor
                };
                l.adjustments.push(e.seq);
            }
        } else {
            live.insert(
                e.basis.clone(),
                Live {
                    row: e,
                    adjusted: 0,
                    adjustments: Vec::new(),
                },
            );
        }
    }
    let c4t_total: i64 = live
        .iter()
        .filter(|(b, _)| b.starts_with("c4t:"))
        .map(|(_, l)| l.row.amount_minor + l.adjusted)
        .sum();
    Ok(ParticipantDoc {
        participant: p.participant,
        award: p.award,
        partner: p.partner,
        registered_seq: p.seq,
        personal: None,
        attributes: None,
        erased_at: None,
        evidence,
        entitlements: live
            .into_iter()
            .map(|(basis, l)| EntitlementDoc {
                basis,
                seq: l.row.seq,
                amount: money(l.row.amount_minor),
                effective: money(l.row.amount_minor + l.adjusted),
                adjustments: l.adjustments,
                rule: l.row.rule,
                version: l.row.version,
            })
            .collect(),
        c4t_total: money(c4t_total),
    })
}

/// Whether the adjustment journaled at `seq` is a recovery (it debits the payee's receivable)
/// rather than a supplement.
async fn adjustment_is_recovery(state: &AppState, seq: u64) -> ApiResult<bool> {
    let records = state.ledger.store().records(seq, 1).await?;
    let Some(r) = records.first().filter(|r| r.seq == seq) else {
        return Err(ApiError::internal(&format!("record {seq} is missing")));
    };
    let v: serde_json::Value = serde_json::from_slice(&r.bytes)
        .map_err(|e| ApiError::internal(&format!("record {seq}: {e}")))?;
    Ok(v.pointer("/body/postings")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|ps| {
            ps.iter().any(|q| {
                q.get("side").and_then(serde_json::Value::as_str) == Some("debit")
                    && q.get("account")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|a| a.starts_with("receivable:"))
            })
        }))
}

/// Submits one signed evidence statement: a partner only its own, signed with its key.
pub async fn submit_evidence(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    evidence: EvidenceBody,
) -> ApiResult<(Outcome, Written)> {
    authorize(caller, "POST", "/v1/evidence")?;
    own_partner(caller, &evidence.statement.partner, "statement.partner")?;
    let command = Command::Programme(ProgrammeCommand::Evidence(Box::new(evidence)));
    submit(state, caller, idem, vec![command]).await
}

/// A cycle to compute or run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cycle {
    pub award: String,
    /// The month, YYYY-MM.
    pub period: String,
    /// Compute and report without posting anything.
    pub dry_run: bool,
}

/// The award and month of a cycle request.
pub fn cycle_of(award: &str, period: &str) -> ApiResult<(Id, Period)> {
    let award = Id::parse(award).map_err(|e| ApiError::from(e.within("award")))?;
    let period = Period::parse(period).map_err(ApiError::from)?;
    Ok((award, period))
}

/// What a cycle would post now, and every exception, computed without posting.
pub async fn preview_cycle(
    state: &AppState,
    caller: &Caller,
    award: &str,
    period: &str,
) -> ApiResult<CycleReport> {
    authorize(caller, "POST", "/v1/cycles")?;
    let (award, period) = cycle_of(award, period)?;
    Ok(state.ledger.preview_cycle(&award, period).await?.report)
}

/// A cycle run's report: posted now, or the stored report of the earlier identical request.
#[derive(Debug, Clone)]
pub enum CycleRun {
    Ran(Box<CycleReport>),
    Replayed(serde_json::Value),
}

impl CycleRun {
    /// Entitlements and reversals posted, and the net payable.
    pub fn totals(&self) -> (u64, u64, String) {
        match self {
            CycleRun::Ran(r) => (r.entitlements, r.reversals, r.net_payable.clone()),
            CycleRun::Replayed(v) => (
                v.get("entitlements")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0),
                v.get("reversals")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0),
                v.get("net_payable")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
        }
    }
}

/// Runs a cycle: posts the entitlements and reversals the evidence calls for (nothing when run
/// again), once per key.
pub async fn run_cycle(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    award: &str,
    period: &str,
) -> ApiResult<CycleRun> {
    authorize(caller, "POST", "/v1/cycles")?;
    let (award, period) = cycle_of(award, period)?;
    let store = state.ledger.store();
    if let Some(outcome) = idem.earlier(state, caller).await? {
        let report: serde_json::Value =
            serde_json::from_str(&outcome).map_err(|e| ApiError::internal(&e))?;
        return Ok(CycleRun::Replayed(report));
    }
    let now = chrono::Utc::now();
    let report = state
        .ledger
        .run_cycle(&award, period, &caller.actor(), now, &mut |_, _| {})
        .await?;
    let text = serde_json::to_string(&report).map_err(|e| ApiError::internal(&e))?;
    store
        .idempotent_put(
            &caller.name,
            &idem.key,
            &idem.request_hash,
            &text,
            &tranche_audit::record::format_time(now),
        )
        .await?;
    state.metrics.set_tree_size(store.tree_size().await?);
    Ok(CycleRun::Ran(Box::new(report)))
}
