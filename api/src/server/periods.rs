//! Closed periods over HTTP: an award's quarters, closing one once its SF-425 is submitted, and
//! reopening it with a reason and a second approver. The same service as `tranche period`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tranche_audit::period::Quarter;
use tranche_audit::programme::Id;
use tranche_audit::Code;
use utoipa::ToSchema;

use super::auth::{Caller, APPROVE, DONOR_READ};
use super::error::{parse_json, ApiError, ApiResult, Problem};
use super::routes::{json_body, write, AppendResponse};
use super::AppState;

fn award_id(text: &str) -> ApiResult<Id> {
    Id::parse(text).map_err(|e| ApiError::from(e.within("award")))
}

fn quarter(text: &str) -> ApiResult<Quarter> {
    Quarter::parse(text).map_err(ApiError::from)
}

/// One quarter of an award.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodDoc {
    #[schema(example = "2026Q1")]
    pub quarter: String,
    pub start: String,
    pub end: String,
    /// `open`, `closed` or `reopen_requested`.
    pub status: String,
    /// The records that closed it, asked to reopen it and reopened it: (seq, kind).
    pub history: Vec<(u64, String)>,
}

#[utoipa::path(get, path = "/v1/awards/{award}/periods", tag = "periods",
    params(("award" = String, Path)),
    responses((status = 200, body = [PeriodDoc]), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn periods(
    State(state): State<AppState>,
    caller: Caller,
    Path(award): Path<String>,
) -> ApiResult<Response> {
    caller.require(DONOR_READ)?;
    let award = award_id(&award)?;
    let list: Vec<PeriodDoc> = state
        .ledger
        .periods(&award)
        .await?
        .into_iter()
        .map(|p| PeriodDoc {
            quarter: p.quarter,
            start: p.start,
            end: p.end,
            status: p.status.to_string(),
            history: p.history.into_iter().map(|e| (e.seq, e.kind)).collect(),
        })
        .collect();
    Ok(Json(list).into_response())
}

/// Closing a quarter: the SF-425 submitted for it is computed at the latest checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The SF-425's indirect cost rate as submitted, e.g. "0.10"; default 0.
    #[serde(default)]
    pub indirect_rate: Option<String>,
}

#[utoipa::path(post, path = "/v1/awards/{award}/periods/{quarter}/close", tag = "periods", request_body = CloseRequest,
    params(("award" = String, Path), ("quarter" = String, Path, example = "2026Q1"), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = 409, description = "The journal moved while the report was computed (`ledger_moved`): retry", body = Problem, content_type = "application/problem+json"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path((award, q)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(APPROVE)?;
    let body = json_body(&headers, body)?;
    let req: CloseRequest = parse_json(&body)?;
    let award = award_id(&award)?;
    let q = quarter(&q)?;
    let bp = super::reports::rate_bp(req.indirect_rate.as_deref())?;
    let (command, _) = state.ledger.close_command(&award, q, bp).await?;
    let path = format!("/v1/awards/{award}/periods/{q}/close");
    write(&state, &caller, &headers, &path, &body, vec![command]).await
}

/// Reopening a closed quarter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenRequest {
    /// Why (required; journaled).
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/awards/{award}/periods/{quarter}/reopen", tag = "periods", request_body = ReopenRequest,
    params(("award" = String, Path), ("quarter" = String, Path, example = "2026Q1"), ("Idempotency-Key" = String, Header)),
    responses((status = 201, description = "A request to reopen, or (by a second approver) the reopening", body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn reopen(
    State(state): State<AppState>,
    caller: Caller,
    Path((award, q)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(APPROVE)?;
    let body = json_body(&headers, body)?;
    let req: ReopenRequest = parse_json(&body)?;
    let award = award_id(&award)?;
    let q = quarter(&q)?;
    if req.reason.trim().is_empty() {
        return Err(ApiError::from(tranche_audit::Invalid::new(
            "reason",
            Code::ReasonRequired,
            "reopening a closed period must say why",
        )));
    }
    let (command, _) = state
        .ledger
        .reopen_command(&award, q, &req.reason, &caller.actor())
        .await?;
    let path = format!("/v1/awards/{award}/periods/{q}/reopen");
    write(&state, &caller, &headers, &path, &body, vec![command]).await
}
