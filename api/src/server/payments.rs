//! The disbursement routes: an award's payment settings, payment batches (create, submit,
//! approve, reject, cancel), bank files out, status and statement files in, and payments with
//! their trace. Every change is a journal record appended through the group-commit writer with
//! the request's Idempotency-Key, in the same database transaction as the key, so a retried
//! request never acts twice.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tranche_audit::disburse::DisbursementConfigBody;
use tranche_audit::Code;
use tranche_ledger::service::payments::{BatchRequest, BatchView};
use tranche_ledger::Ledger;
use utoipa::{IntoParams, ToSchema};

use super::auth::{
    Caller, ADMIN, APPROVE, AUDIT_READ, FINANCE_STAFF, FINANCE_WRITE, LEDGER_READ, RELEASE,
};
use super::bodies::{BatchFilterRequest, SettingsRequest};
use super::error::{parse_json, ApiError, ApiResult, Problem, Q};
use super::routes::{json_body, write};
use super::AppState;

use crate::service::payments::{self as svc, batch_id, not_found};
use crate::service::{Idempotency, Written};

fn doc_of<T: serde::Serialize>(t: &T) -> ApiResult<serde_json::Value> {
    serde_json::to_value(t).map_err(|e| ApiError::internal(&e))
}

fn respond(doc: serde_json::Value, replayed: bool, status: StatusCode) -> Response {
    if replayed {
        (status, [("idempotent-replayed", "true")], Json(doc)).into_response()
    } else {
        (status, Json(doc)).into_response()
    }
}

// ---------- settings ----------

#[utoipa::path(post, path = "/v1/disbursement-settings", tag = "disbursement",
    request_body = SettingsRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = super::routes::AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn settings(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(ADMIN)?;
    let body = json_body(&headers, body)?;
    let config: DisbursementConfigBody = parse_json(&body)?;
    let commands = vec![Ledger::settings_command(config)?];
    write(
        &state,
        &caller,
        &headers,
        "/v1/disbursement-settings",
        &body,
        commands,
    )
    .await
}

// ---------- batches ----------

/// A batch of the award's open payables, or of those the filter picks.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateBatchRequest, example = json!({"award": "c4t-2026", "filter": {"budget_line": "c4t-stipend"}, "dry_run": true}))]
struct CreateBatch {
    award: String,
    #[serde(default)]
    #[schema(value_type = Option<BatchFilterRequest>)]
    filter: tranche_audit::disburse::BatchFilter,
    /// Show what the batch would hold without creating it.
    #[serde(default)]
    dry_run: bool,
}

#[utoipa::path(post, path = "/v1/batches", tag = "disbursement",
    request_body = CreateBatch,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, description = "The batch, its payments, exceptions and digest"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_batch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let req: CreateBatch = parse_json(&body)?;
    let request = BatchRequest {
        award: req.award,
        filter: req.filter,
    };
    if req.dry_run {
        let plan = svc::plan_batch(&state, &caller, &request).await?;
        return Ok(Json(serde_json::json!({
            "batch": plan.batch.as_str(),
            "award": request.award,
            "dry_run": true,
            "total": plan.total,
            "payment_count": plan.payments.len(),
            "digest": plan.digest,
            "payments": plan.payments,
            "exceptions": plan.exceptions,
        }))
        .into_response());
    }
    let idem = Idempotency::of_request(&headers, "/v1/batches", &body)?;
    let (view, written) = svc::create_batch(&state, &caller, &idem, &request).await?;
    Ok(respond(
        doc_of(&view)?,
        written.replayed(),
        StatusCode::CREATED,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BatchListQuery {
    /// Only this award's batches.
    pub award: Option<String>,
}

#[utoipa::path(get, path = "/v1/batches", tag = "disbursement", params(BatchListQuery),
    responses((status = 200, description = "Batches, newest first (without their payments)")),
    security(("bearer" = [])))]
pub async fn batches(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<BatchListQuery>,
) -> ApiResult<Response> {
    caller.require(LEDGER_READ)?;
    let list = svc::batches(&state, &caller, q.award.as_deref()).await?;
    Ok(Json(serde_json::json!({ "batches": list })).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// First payment shown (0-based).
    pub offset: Option<u64>,
    /// Payments shown (default 1000, at most 10000).
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/v1/batches/{batch}", tag = "disbursement",
    params(("batch" = String, Path), PageQuery),
    responses((status = 200, description = "The batch, a page of its payments, its exceptions, approvals, files and status counts"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(batch): Path<String>,
    Q(q): Q<PageQuery>,
) -> ApiResult<Response> {
    caller.require(LEDGER_READ)?;
    let batch = batch_id(&batch)?;
    let view = svc::batch(
        &state,
        &caller,
        &batch,
        q.offset.unwrap_or(0),
        q.limit.unwrap_or(1000).min(10_000),
    )
    .await?;
    Ok(Json(view).into_response())
}

#[utoipa::path(get, path = "/v1/batches/{batch}/payments.csv", tag = "disbursement",
    params(("batch" = String, Path)),
    responses((status = 200, content_type = "text/csv", description = "Every payment of the batch")),
    security(("bearer" = [])))]
pub async fn batch_csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(batch): Path<String>,
) -> ApiResult<Response> {
    caller.require(LEDGER_READ)?;
    let batch = batch_id(&batch)?;
    let rows = state
        .ledger
        .batch_payments(&batch)
        .await
        .map_err(not_found)?;
    let out = tranche_ledger::service::payments::payments_csv(rows);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{batch}-payments.csv\""),
            ),
        ],
        out,
    )
        .into_response())
}

/// The batch a write left, as the API answers it.
fn batch_answer((view, written): (BatchView, Written)) -> ApiResult<Response> {
    Ok(respond(doc_of(&view)?, written.replayed(), StatusCode::OK))
}

fn optional_json(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    match &body {
        Ok(b) if b.is_empty() => Ok(Bytes::from_static(b"{}")),
        _ => json_body(headers, body),
    }
}

#[utoipa::path(post, path = "/v1/batches/{batch}/submit", tag = "disbursement",
    params(("batch" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "The batch, frozen at its digest and awaiting approval"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn submit_batch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(batch): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let batch = batch_id(&batch)?;
    let body = optional_json(&headers, body)?;
    let path = format!("/v1/batches/{batch}/submit");
    let idem = Idempotency::of_request(&headers, &path, &body)?;
    batch_answer(svc::submit_batch(&state, &caller, &idem, &batch).await?)
}

async fn decide(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    batch: String,
    body: Result<Bytes, BytesRejection>,
    approve: bool,
) -> ApiResult<Response> {
    caller.require(APPROVE)?;
    let batch = batch_id(&batch)?;
    let body = json_body(&headers, body)?;
    let d: svc::Decision = parse_json(&body)?;
    let path = format!(
        "/v1/batches/{batch}/{}",
        if approve { "approve" } else { "reject" }
    );
    let idem = Idempotency::of_request(&headers, &path, &body)?;
    batch_answer(svc::decide(&state, &caller, &idem, &batch, approve, d).await?)
}

#[utoipa::path(post, path = "/v1/batches/{batch}/approve", tag = "disbursement",
    request_body = crate::service::payments::Decision,
    params(("batch" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "The batch with this approval"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(batch): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    decide(state, caller, headers, batch, body, true).await
}

#[utoipa::path(post, path = "/v1/batches/{batch}/reject", tag = "disbursement",
    request_body(content = crate::service::payments::Decision, description = "The digest of the content reviewed and why it is rejected (a rejection needs a reason)"),
    params(("batch" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "The rejected batch; its payables are open again"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(batch): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    decide(state, caller, headers, batch, body, false).await
}

#[utoipa::path(post, path = "/v1/batches/{batch}/cancel", tag = "disbursement",
    request_body = crate::service::payments::Cancel,
    params(("batch" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "The cancelled batch; its payables are open again"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(batch): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let batch = batch_id(&batch)?;
    let body = json_body(&headers, body)?;
    let c: svc::Cancel = parse_json(&body)?;
    let path = format!("/v1/batches/{batch}/cancel");
    let idem = Idempotency::of_request(&headers, &path, &body)?;
    batch_answer(svc::cancel(&state, &caller, &idem, &batch, c).await?)
}

#[utoipa::path(post, path = "/v1/batches/{batch}/files", tag = "disbursement",
    request_body(content = Option<crate::service::payments::MakeFile>, description = "Optional: a pain.001 for today by default"),
    params(("batch" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, description = "The bank file's digest, recorded in the journal; download it from /v1/batches/{batch}/files/{format}"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn make_file(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(batch): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_STAFF)?;
    let batch = batch_id(&batch)?;
    let body = optional_json(&headers, body)?;
    let m: svc::MakeFile = parse_json(&body)?;
    let path = format!("/v1/batches/{batch}/files");
    let idem = Idempotency::of_request(&headers, &path, &body)?;
    let (made, written) = svc::make_file(&state, &caller, &idem, &batch, m).await?;
    Ok(respond(
        doc_of(&made)?,
        written.replayed(),
        StatusCode::CREATED,
    ))
}

#[utoipa::path(get, path = "/v1/batches/{batch}/files/{format}", tag = "disbursement",
    params(("batch" = String, Path), ("format" = String, Path, description = "pain.001 or csv")),
    responses((status = 200, description = "The bank file, made again and checked against the digest in the journal"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn download_file(
    State(state): State<AppState>,
    caller: Caller,
    Path((batch, format)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require(FINANCE_STAFF)?;
    let batch = batch_id(&batch)?;
    let file = svc::bank_file(&state, &caller, &batch, &format).await?;
    Ok((
        [
            (header::CONTENT_TYPE, file.content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.file_name),
            ),
            (header::ETAG, format!("\"{}\"", file.sha256)),
        ],
        file.bytes,
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/batches/{batch}/send", tag = "disbursement",
    request_body(content = Option<crate::service::payments::Send>, description = "Optional when the batch has one bank file"),
    params(("batch" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "The sent batch: each payment moved from payable to payments in transit"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(batch): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(RELEASE)?;
    let batch = batch_id(&batch)?;
    let body = optional_json(&headers, body)?;
    let s: svc::Send = parse_json(&body)?;
    let path = format!("/v1/batches/{batch}/send");
    let idem = Idempotency::of_request(&headers, &path, &body)?;
    batch_answer(svc::send(&state, &caller, &idem, &batch, s).await?)
}

// ---------- bank files in ----------

#[utoipa::path(post, path = "/v1/bank-files", tag = "disbursement",
    request_body(content = String, description = "A pain.002 or camt.053 (application/xml) or status CSV (text/csv), at most 64 MiB"),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, description = "What the file posted, and every line that posted nothing with its reason"), (status = 200, description = "The file was imported before: nothing posted again"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = body.map_err(|r| {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            Code::BodyTooLarge
        } else {
            Code::UnreadableBody
        };
        ApiError::new(status, code, r.body_text()).field("file")
    })?;
    let idem = Idempotency::of_request(&headers, "/v1/bank-files", &body)?;
    let (report, imported) = svc::import(&state, &caller, &idem, &body).await?;
    Ok(match imported {
        // A retry of this caller's import answers as the import did: 201, replayed.
        svc::Imported::Replayed => respond(doc_of(&report)?, true, StatusCode::CREATED),
        // The same file again under another key: nothing posts, and the answer says so.
        svc::Imported::Before => respond(doc_of(&report)?, true, StatusCode::OK),
        svc::Imported::Now => respond(doc_of(&report)?, false, StatusCode::CREATED),
    })
}

#[utoipa::path(get, path = "/v1/bank-files", tag = "disbursement",
    responses((status = 200, description = "Every imported file, newest first, with its outcomes and exceptions")),
    security(("bearer" = [])))]
pub async fn imports(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(LEDGER_READ)?;
    let list = svc::imports(&state, &caller).await?;
    Ok(Json(serde_json::json!({ "imports": list })).into_response())
}

// ---------- payments ----------

#[utoipa::path(get, path = "/v1/payments/{e2e}", tag = "disbursement",
    params(("e2e" = String, Path, description = "End-to-end id")),
    responses((status = 200, description = "The payment and its status"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn payment(
    State(state): State<AppState>,
    caller: Caller,
    Path(e2e): Path<String>,
) -> ApiResult<Response> {
    caller.require(LEDGER_READ)?;
    let p = state.ledger.payment(&e2e).await.map_err(not_found)?;
    Ok(Json(p).into_response())
}

#[utoipa::path(get, path = "/v1/payments/{e2e}/trace", tag = "disbursement",
    params(("e2e" = String, Path, description = "End-to-end id")),
    responses((status = 200, description = "Evidence, rule versions, entitlements, batch, approvals, bank file, sending and bank outcomes, each with its seq"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn trace(
    State(state): State<AppState>,
    caller: Caller,
    Path(e2e): Path<String>,
) -> ApiResult<Response> {
    caller.require(LEDGER_READ)?;
    let t = svc::trace(&state, &caller, &e2e).await?;
    Ok(Json(t).into_response())
}

#[utoipa::path(get, path = "/v1/payments/{e2e}/receipt", tag = "disbursement",
    params(("e2e" = String, Path, description = "End-to-end id")),
    responses((status = 200, description = "A participant's payment receipt: tlog-proof receipts of the entitlements it settled (each names only this payee) and of the bank outcome that confirmed it (end-to-end ids and amounts, no payee); never the batch record, which lists other payees"),
              (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn payment_receipt(
    State(state): State<AppState>,
    caller: Caller,
    Path(e2e): Path<String>,
) -> ApiResult<Response> {
    caller.require(AUDIT_READ)?;
    let (line, confirmed) = state
        .ledger
        .payment_receipt_seqs(&e2e)
        .await
        .map_err(not_found)?;
    let mut entitlements = Vec::new();
    for seq in &line.entitlements {
        entitlements.push(crate::service::audit::receipt_text(&state.ledger, *seq).await?);
    }
    let confirmation = match confirmed {
        Some(seq) => Some(crate::service::audit::receipt_text(&state.ledger, seq).await?),
        None => None,
    };
    Ok(Json(serde_json::json!({
        "e2e": line.e2e,
        "payee": line.payee,
        "amount": line.amount,
        "currency": line.currency,
        "status": line.status,
        "entitlements": entitlements,
        "confirmation": confirmation,
    }))
    .into_response())
}
