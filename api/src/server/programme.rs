//! The programme routes: awards, partners and their keys, cohorts and sessions, participants
//! (personal data in, pseudonyms out), partner-signed evidence, rule versions and cycles.
//! Bodies of programme records are the journal's own (docs/FORMAT.md); this module checks who
//! may send them and turns them into ledger commands.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tranche_audit::money::format_minor;
use tranche_audit::programme::{
    AwardOpenBody, EvidenceBody, Id, PartnerKeyBody, PartnerRegisterBody, Period, RuleVersionBody,
    SessionBody, SessionScheduleBody,
};
use tranche_audit::Code;
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::service::programme::{award_commands, CohortInput, ParticipantInput};
use utoipa::{IntoParams, ToSchema};

use super::auth::{
    Caller, Role, ADMIN, EVIDENCE, FINANCE_WRITE, LEDGER_READ, PARTNER_OR_FINANCE, PROGRAMME_READ,
};
use super::bodies::{
    AwardRequest, CohortRequest, EvidenceRequest, ParticipantsRequest, PartnerKeyRequest,
    PartnerRequest, RuleRequest, SessionRequest,
};
use super::error::{parse_json, ApiError, ApiResult, Problem, Q};
use super::routes::{created, json_body, submit, write, AppendResponse};
use super::AppState;

/// The most participants one registration request may carry.
pub const MAX_REGISTRATIONS: usize = 1_000;

fn id(text: &str, field: &str) -> ApiResult<Id> {
    Id::parse(text).map_err(|e| ApiError::from(e.within(field)).status(StatusCode::NOT_FOUND))
}

/// A partner caller may act only for itself.
fn own_partner(caller: &Caller, partner: &Id, field: &str) -> ApiResult<()> {
    if caller.role == Role::Partner && caller.partner.as_deref() != Some(partner.as_str()) {
        return Err(ApiError::forbidden(format!(
            "a partner token may act only for its own partner, not for {partner}"
        ))
        .field(field)
        .code(Code::PartnerScope));
    }
    Ok(())
}

// ---------- awards ----------

#[utoipa::path(post, path = "/v1/awards", tag = "programme",
    request_body = AwardRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn open_award(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let award: AwardOpenBody = parse_json(&body)?;
    let commands = award_commands(award)?;
    write(&state, &caller, &headers, "/v1/awards", &body, commands).await
}

/// One budget line and where it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetLineDoc {
    pub line: String,
    pub name: String,
    pub participant_support: bool,
    pub authorised: String,
    /// Expensed plus unliquidated obligations.
    pub used: String,
    pub remaining: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleDoc {
    pub rule: String,
    pub version: u64,
    pub effective: String,
    pub shape: String,
    pub seq: u64,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AwardDoc {
    pub award: String,
    pub donor: String,
    pub currency: String,
    pub total: String,
    pub start: String,
    pub end: String,
    pub seq: u64,
    pub participants: u64,
    pub cohorts: u64,
    pub budget_lines: Vec<BudgetLineDoc>,
    pub rules: Vec<RuleDoc>,
    /// Periods a cycle has run for.
    pub cycles: Vec<String>,
    /// The award's time zone as an offset from UTC (`-05:00`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<String>,
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
    })
}

#[utoipa::path(get, path = "/v1/awards", tag = "programme",
    responses((status = 200, body = Vec<AwardDoc>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn awards(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AwardDoc>>> {
    caller.require(LEDGER_READ)?;
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
        out.push(award_doc(&state, a).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/v1/awards/{award}", tag = "programme", params(("award" = String, Path)),
    responses((status = 200, body = AwardDoc), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn award(
    State(state): State<AppState>,
    caller: Caller,
    Path(award): Path<String>,
) -> ApiResult<Json<AwardDoc>> {
    caller.require(LEDGER_READ)?;
    let award = id(&award, "award")?;
    Ok(Json(award_doc(&state, &award).await?))
}

// ---------- partners and keys ----------

#[utoipa::path(post, path = "/v1/partners", tag = "programme",
    request_body = PartnerRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn register_partner(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(ADMIN)?;
    let body = json_body(&headers, body)?;
    let partner: PartnerRegisterBody = parse_json(&body)?;
    let command = Command::Programme(ProgrammeCommand::PartnerRegister(partner));
    write(
        &state,
        &caller,
        &headers,
        "/v1/partners",
        &body,
        vec![command],
    )
    .await
}

#[utoipa::path(post, path = "/v1/partners/{partner}/keys", tag = "programme",
    params(("partner" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body = PartnerKeyRequest,
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn partner_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(partner): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(ADMIN)?;
    let partner = id(&partner, "partner")?;
    let body = json_body(&headers, body)?;
    let key: PartnerKeyBody = parse_json(&body)?;
    if key.partner != partner {
        return Err(ApiError::bad_request(
            Code::PartnerMismatch,
            "partner",
            format!("the body names partner {}, the path {partner}", key.partner),
        ));
    }
    let path = format!("/v1/partners/{partner}/keys");
    let command = Command::Programme(ProgrammeCommand::PartnerKey(key));
    write(&state, &caller, &headers, &path, &body, vec![command]).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyDoc {
    pub key_id: String,
    pub public_key: String,
    pub registered_seq: u64,
    pub revoked_seq: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartnerDoc {
    pub partner: String,
    pub name: String,
    pub seq: u64,
    pub keys: Vec<KeyDoc>,
    pub cohorts: Vec<String>,
    pub batches: u64,
}

#[utoipa::path(get, path = "/v1/partners", tag = "programme",
    responses((status = 200, body = Vec<PartnerDoc>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn partners(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PartnerDoc>>> {
    caller.require(PROGRAMME_READ)?;
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
    Ok(Json(out))
}

// ---------- cohorts and sessions ----------

#[utoipa::path(post, path = "/v1/cohorts", tag = "programme",
    request_body = CohortRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn open_cohort(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let input: CohortInput = parse_json(&body)?;
    let commands = state.ledger.cohort_commands(input).await?;
    write(&state, &caller, &headers, "/v1/cohorts", &body, commands).await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsRequest {
    #[schema(value_type = Vec<SessionRequest>)]
    pub sessions: Vec<SessionBody>,
}

#[utoipa::path(post, path = "/v1/cohorts/{cohort}/sessions", tag = "programme",
    params(("cohort" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body = SessionsRequest,
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn schedule_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(cohort): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(PARTNER_OR_FINANCE)?;
    let cohort = id(&cohort, "cohort")?;
    let owner = {
        let st = state.ledger.store().programme().await?;
        st.cohorts.get(&cohort).map(|c| c.body.partner.clone())
    };
    let owner =
        owner.ok_or_else(|| ApiError::not_found(format!("cohort {cohort} does not exist")))?;
    own_partner(&caller, &owner, "cohort")?;
    let body = json_body(&headers, body)?;
    let req: SessionsRequest = parse_json(&body)?;
    let commands = req
        .sessions
        .chunks(tranche_audit::programme::MAX_SESSIONS_PER_RECORD)
        .map(|c| {
            Command::Programme(ProgrammeCommand::SessionSchedule(SessionScheduleBody {
                cohort: cohort.clone(),
                sessions: c.to_vec(),
            }))
        })
        .collect::<Vec<_>>();
    if commands.is_empty() {
        return Err(ApiError::bad_request(
            Code::InvalidSessions,
            "sessions",
            "at least one session",
        ));
    }
    let path = format!("/v1/cohorts/{cohort}/sessions");
    write(&state, &caller, &headers, &path, &body, commands).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionDoc {
    pub session: String,
    pub date: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CohortDoc {
    pub cohort: String,
    pub award: String,
    pub partner: String,
    pub pathway: String,
    pub name: String,
    pub course: Option<String>,
    pub provider: Option<String>,
    pub seq: u64,
    pub sessions: Vec<SessionDoc>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CohortQuery {
    /// Only cohorts of this award.
    pub award: Option<String>,
}

#[utoipa::path(get, path = "/v1/cohorts", tag = "programme", params(CohortQuery),
    responses((status = 200, body = Vec<CohortDoc>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn cohorts(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<CohortQuery>,
) -> ApiResult<Json<Vec<CohortDoc>>> {
    caller.require(PROGRAMME_READ)?;
    let store = state.ledger.store();
    let partner = match caller.role {
        Role::Partner => Some(caller.partner.clone().unwrap_or_default()),
        _ => None,
    };
    let mut out = Vec::new();
    for c in store
        .cohort_rows(q.award.as_deref(), partner.as_deref())
        .await?
    {
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
    Ok(Json(out))
}

// ---------- participants ----------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisteredDoc {
    /// The pseudonyms given, in the order of the request.
    pub participants: Vec<String>,
    pub first_seq: u64,
    pub count: u64,
    pub checkpoint_size: u64,
    pub checkpoint_root: String,
}

#[utoipa::path(post, path = "/v1/participants", tag = "programme",
    request_body = ParticipantsRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = RegisteredDoc), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn register_participants(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(PARTNER_OR_FINANCE)?;
    let body = json_body(&headers, body)?;
    let inputs: Vec<ParticipantInput> =
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            parse_json(&body)?
        } else {
            vec![parse_json(&body)?]
        };
    if inputs.is_empty() || inputs.len() > MAX_REGISTRATIONS {
        return Err(ApiError::bad_request(
            Code::InvalidBatch,
            "",
            format!("1 to {MAX_REGISTRATIONS} participants per request"),
        ));
    }
    let partner = match caller.role {
        Role::Partner => {
            let p = caller.partner.as_deref().unwrap_or_default();
            Some(Id::parse(p).map_err(ApiError::from)?)
        }
        _ => None,
    };
    // Pseudonyms derive from the request, so a retry registers exactly the same ones.
    let key = super::routes::idempotency_key(&headers)?;
    let mut rng = state
        .ledger
        .keyed_random(format!("{}\n{}\n", caller.name, key).as_bytes());
    let (commands, ids) = state
        .ledger
        .participant_commands(&inputs, partner.as_ref(), &mut rng)?;
    let (o, replayed) = submit(
        &state,
        &caller,
        &headers,
        "/v1/participants",
        &body,
        commands,
    )
    .await?;
    let doc = RegisteredDoc {
        participants: ids.iter().map(ToString::to_string).collect(),
        first_seq: o.first_seq,
        count: o.count,
        checkpoint_size: o.checkpoint_size,
        checkpoint_root: o.checkpoint_root,
    };
    Ok(created(doc, replayed))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntitlementDoc {
    pub basis: String,
    pub seq: u64,
    pub amount: String,
    /// The amount with the recoveries and supplements recorded against it since it was paid.
    pub effective: String,
    /// The seqs of those adjustments, oldest first.
    pub adjustments: Vec<u64>,
    pub rule: String,
    pub version: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceDoc {
    #[serde(rename = "type")]
    pub kind: String,
    pub what: String,
    pub value: String,
    pub date: Option<String>,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantDoc {
    pub participant: String,
    pub award: String,
    pub partner: String,
    pub registered_seq: u64,
    /// Name, document, phone, bank account: absent once erased, and for roles that may not see it.
    #[schema(value_type = Option<Object>)]
    pub personal: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
    pub erased_at: Option<String>,
    pub evidence: Vec<EvidenceDoc>,
    /// Live (not reversed) entitlements.
    pub entitlements: Vec<EntitlementDoc>,
    pub c4t_total: String,
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

#[utoipa::path(get, path = "/v1/participants/{participant}", tag = "programme",
    params(("participant" = String, Path)),
    responses((status = 200, body = ParticipantDoc), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn participant(
    State(state): State<AppState>,
    caller: Caller,
    Path(participant): Path<String>,
) -> ApiResult<Json<ParticipantDoc>> {
    caller.require(PROGRAMME_READ)?;
    let pid = id(&participant, "participant")?;
    let mut doc = participant_doc(&state, &caller, &pid).await?;
    if let Some(row) = state.ledger.store().personal_data(pid.as_str()).await? {
        doc.erased_at = row.erased_at;
        if matches!(caller.role, Role::Admin | Role::Preparer | Role::Partner) {
            doc.personal = row.personal;
            doc.attributes = row.attributes;
        }
    }
    Ok(Json(doc))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErasedDoc {
    pub participant: String,
    pub erased: bool,
}

#[utoipa::path(post, path = "/v1/participants/{participant}/erase", tag = "programme",
    params(("participant" = String, Path)),
    responses((status = 200, body = ErasedDoc), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn erase_participant(
    State(state): State<AppState>,
    caller: Caller,
    Path(participant): Path<String>,
) -> ApiResult<Json<ErasedDoc>> {
    caller.require(ADMIN)?;
    let pid = id(&participant, "participant")?;
    if state
        .ledger
        .store()
        .participant_detail(pid.as_str())
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "participant {pid} is not registered"
        )));
    }
    let now = tranche_audit::record::format_time(chrono::Utc::now());
    let erased = state
        .ledger
        .store()
        .erase_personal(pid.as_str(), &now)
        .await?;
    tracing::info!(participant = %pid, erased, "personal data erased");
    Ok(Json(ErasedDoc {
        participant: pid.to_string(),
        erased,
    }))
}

// ---------- evidence and rules ----------

#[utoipa::path(post, path = "/v1/evidence", tag = "programme",
    request_body = EvidenceRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn submit_evidence(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(EVIDENCE)?;
    let body = json_body(&headers, body)?;
    let evidence: EvidenceBody = parse_json(&body)?;
    own_partner(&caller, &evidence.statement.partner, "statement.partner")?;
    let command = Command::Programme(ProgrammeCommand::Evidence(Box::new(evidence)));
    write(
        &state,
        &caller,
        &headers,
        "/v1/evidence",
        &body,
        vec![command],
    )
    .await
}

#[utoipa::path(post, path = "/v1/rules", tag = "programme",
    request_body = RuleRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn add_rule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let rule: RuleVersionBody = parse_json(&body)?;
    let command = Command::Programme(ProgrammeCommand::RuleVersion(rule));
    write(&state, &caller, &headers, "/v1/rules", &body, vec![command]).await
}

// ---------- cycles ----------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CycleRequest {
    pub award: String,
    /// The month, YYYY-MM.
    #[schema(example = "2026-03")]
    pub period: String,
    /// Compute and report without posting anything.
    #[serde(default)]
    pub dry_run: bool,
}

#[utoipa::path(post, path = "/v1/cycles", tag = "programme", request_body = CycleRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "The cycle report (counts and totals per rule and budget line, every exception)", content_type = "application/json"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn run_cycle(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let req: CycleRequest = parse_json(&body)?;
    let award = Id::parse(&req.award).map_err(|e| ApiError::from(e.within("award")))?;
    let period = Period::parse(&req.period).map_err(ApiError::from)?;
    let store = state.ledger.store();
    if req.dry_run {
        let computed = state.ledger.preview_cycle(&award, period).await?;
        return Ok(Json(computed.report).into_response());
    }
    let key = super::routes::idempotency_key(&headers)?;
    let hash = super::routes::identity(&headers, "/v1/cycles", &body);
    if let Some((stored, outcome)) = store.idempotent_get(&caller.name, &key).await? {
        if stored.as_slice() != hash.as_slice() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                Code::IdempotencyKeyReused,
                "this Idempotency-Key was already used with a different request",
            )
            .field("Idempotency-Key"));
        }
        let report: serde_json::Value =
            serde_json::from_str(&outcome).map_err(|e| ApiError::internal(&e))?;
        return Ok(([("idempotent-replayed", "true")], Json(report)).into_response());
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
            &key,
            &hash,
            &text,
            &tranche_audit::record::format_time(now),
        )
        .await?;
    state.metrics.set_tree_size(store.tree_size().await?);
    Ok(Json(report).into_response())
}
