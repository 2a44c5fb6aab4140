//! Closed periods over HTTP: an award's quarters, closing one once its SF-425 is submitted, and
//! reopening it with a reason and a second approver. Thin adapters over
//! [`crate::service::periods`], as `tranche period` and the finance pages are.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{parse_json, ApiResult, Problem};
use super::routes::{created, json_body, AppendResponse};
use super::AppState;
use crate::service::{periods, Idempotency};

/// One quarter of an award.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodDoc {
    #[schema(example = "2026Q1")]
    pub quarter: String,
    pub start: String,
    pub end: String,
    /// `open`, `closed` or `reopen_requested`.
    pub status: String,
    /// The records that closed it, asked to reopen it and reopened it, in order.
    pub history: Vec<PeriodEventDoc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodEventDoc {
    pub seq: u64,
    /// `close`, `reopen_request` or `reopen`.
    pub kind: String,
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
    let list: Vec<PeriodDoc> = periods::list(&state, &caller, &award)
        .await?
        .into_iter()
        .map(|p| PeriodDoc {
            quarter: p.quarter,
            start: p.start,
            end: p.end,
            status: p.status.to_string(),
            history: p
                .history
                .into_iter()
                .map(|e| PeriodEventDoc {
                    seq: e.seq,
                    kind: e.kind,
                })
                .collect(),
        })
        .collect();
    Ok(Json(list).into_response())
}

/// Closing a quarter: the SF-425 submitted for it is computed at the latest checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The SF-425's indirect cost rate as submitted, e.g. "0.10"; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indirect_rate: Option<String>,
}

#[utoipa::path(post, path = "/v1/awards/{award}/periods/{quarter}/close", tag = "periods", request_body = CloseRequest,
    params(("award" = String, Path), ("quarter" = String, Path, example = "2026Q1"), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path((award, q)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = json_body(&headers, body)?;
    let req: CloseRequest = parse_json(&body)?;
    let path = format!("/v1/awards/{award}/periods/{q}/close");
    let idem = Idempotency::of_request(&headers, &path, &body)?;
    let (outcome, written) = periods::close(
        &state,
        &caller,
        &idem,
        &award,
        &q,
        req.indirect_rate.as_deref(),
    )
    .await?;
    Ok(created(AppendResponse::from(outcome), written.replayed()))
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
    let body = json_body(&headers, body)?;
    let req: ReopenRequest = parse_json(&body)?;
    let path = format!("/v1/awards/{award}/periods/{q}/reopen");
    let idem = Idempotency::of_request(&headers, &path, &body)?;
    let (outcome, written) =
        periods::reopen(&state, &caller, &idem, &award, &q, &req.reason).await?;
    Ok(created(AppendResponse::from(outcome), written.replayed()))
}
