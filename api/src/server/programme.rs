//! The programme routes: awards, partners and their keys, cohorts and sessions, participants
//! (personal data in, pseudonyms out), partner-signed evidence, rule versions and cycles.
//! Bodies of programme records are the journal's own (docs/FORMAT.md); this module checks who
//! may send them and turns them into ledger commands.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tranche_audit::programme::{
    AwardOpenBody, EvidenceBody, Id, PartnerKeyBody, PartnerRegisterBody, RuleVersionBody,
    SessionBody, SessionScheduleBody,
};
use tranche_audit::Code;
use tranche_ledger::domain::programme::ProgrammeCommand;
use tranche_ledger::domain::Command;
use tranche_ledger::service::programme::{award_commands, CohortInput, ParticipantInput};
use tranche_ledger::store::load::Need;
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

use crate::service::programme::{self as svc, id, own_partner};
use crate::service::Idempotency;

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
    /// The values a participant of this award may be registered with.
    pub vocabulary: VocabularyDoc,
}

/// The closed lists of participants' attributes in one award (its own, or the defaults).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VocabularyDoc {
    pub sex: Vec<String>,
    /// ISO 3166-1 alpha-2 country codes.
    pub nationality: String,
    /// Absent: any province.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provinces: Option<Vec<String>>,
    pub pathways: Vec<String>,
    pub age_bands: Vec<String>,
}

impl VocabularyDoc {
    pub fn of(award: &tranche_audit::programme::AwardOpenBody) -> Self {
        let v = tranche_audit::vocabulary::Vocabulary::of(award);
        VocabularyDoc {
            sex: tranche_audit::vocabulary::SEXES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            nationality: "ISO 3166-1 alpha-2".into(),
            provinces: v.provinces,
            pathways: v.pathways,
            age_bands: v.age_bands,
        }
    }
}

#[utoipa::path(get, path = "/v1/awards", tag = "programme",
    responses((status = 200, body = Vec<AwardDoc>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn awards(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AwardDoc>>> {
    caller.require(LEDGER_READ)?;
    Ok(Json(svc::awards(&state, &caller).await?))
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
    Ok(Json(svc::award(&state, &caller, &award).await?))
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
    Ok(Json(svc::partners(&state, &caller).await?))
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
    let owner = state
        .ledger
        .store()
        .load_programme(Need {
            cohorts: [cohort.clone()].into(),
            ..Need::default()
        })
        .await?
        .cohorts
        .get(&cohort)
        .map(|c| c.body.partner.clone());
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
    Ok(Json(
        svc::cohorts(&state, &caller, q.award.as_deref()).await?,
    ))
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
    let vocabularies = state.ledger.vocabularies().await?;
    let (commands, ids) =
        state
            .ledger
            .participant_commands(&inputs, partner.as_ref(), &vocabularies, &mut rng)?;
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
    Ok(Json(svc::participant(&state, &caller, &participant).await?))
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
    let idem = Idempotency::of_request(&headers, "/v1/evidence", &body)?;
    let (outcome, written) = svc::submit_evidence(&state, &caller, &idem, evidence).await?;
    Ok(created(AppendResponse::from(outcome), written.replayed()))
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
    svc::cycle_of(&req.award, &req.period)?;
    if req.dry_run {
        let report = svc::preview_cycle(&state, &caller, &req.award, &req.period).await?;
        return Ok(Json(report).into_response());
    }
    let idem = Idempotency::of_request(&headers, "/v1/cycles", &body)?;
    Ok(
        match svc::run_cycle(&state, &caller, &idem, &req.award, &req.period).await? {
            svc::CycleRun::Replayed(report) => {
                ([("idempotent-replayed", "true")], Json(report)).into_response()
            }
            svc::CycleRun::Ran(report) => Json(report).into_response(),
        },
    )
}
