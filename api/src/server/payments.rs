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
use tranche_audit::programme::Id;
use tranche_audit::Code;
use tranche_ledger::domain::Command;
use tranche_ledger::service::payments::{BatchRequest, ImportReport};
use tranche_ledger::store::Outcome;
use tranche_ledger::Ledger;
use utoipa::{IntoParams, ToSchema};

use super::auth::{
    Caller, ADMIN, APPROVE, AUDIT_READ, FINANCE_STAFF, FINANCE_WRITE, LEDGER_READ, RELEASE,
};
use super::bodies::{BatchFilterRequest, SettingsRequest};
use super::error::{parse_json, ApiError, ApiResult, Problem, Q};
use super::routes::{idempotency_key, json_body, submit, write};
use super::AppState;

fn batch_id(text: &str) -> ApiResult<Id> {
    Id::parse(text).map_err(|e| ApiError::from(e.within("batch")).status(StatusCode::NOT_FOUND))
}

/// The stored outcome of an earlier identical request, if this is a retry.
async fn earlier(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
) -> ApiResult<Option<Outcome>> {
    let key = idempotency_key(headers)?;
    let hash = super::routes::identity(headers, path, body);
    match state
        .ledger
        .store()
        .idempotent_get(&caller.name, &key)
        .await?
    {
        None => Ok(None),
        Some((stored, _)) if stored.as_slice() != hash.as_slice() => Err(ApiError::new(
            StatusCode::CONFLICT,
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was already used with a different request",
        )
        .field("Idempotency-Key")),
        Some((_, outcome)) => Ok(serde_json::from_str::<Outcome>(&outcome).ok()),
    }
}

fn not_found(e: tranche_ledger::StoreError) -> ApiError {
    let err = ApiError::from(e);
    if matches!(
        err.code,
        Code::UnknownBatch | Code::UnknownPayment | Code::UnknownImport
    ) {
        err.status(StatusCode::NOT_FOUND)
    } else {
        err
    }
}

async fn batch_doc(ledger: &Ledger, batch: &Id) -> ApiResult<serde_json::Value> {
    let view = ledger.batch_view(batch, 0, 1000).await.map_err(not_found)?;
    serde_json::to_value(view).map_err(|e| ApiError::internal(&e))
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
        let plan = state.ledger.plan_batch(&request).await?;
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
    let path = "/v1/batches";
    if let Some(o) = earlier(&state, &caller, &headers, path, &body).await? {
        let batch = batch_created_at(&state.ledger, o.first_seq).await?;
        return Ok(respond(
            batch_doc(&state.ledger, &batch).await?,
            true,
            StatusCode::CREATED,
        ));
    }
    let plan = state.ledger.plan_batch(&request).await?;
    let (outcome, replayed) = submit(&state, &caller, &headers, path, &body, plan.commands).await?;
    let batch = batch_created_at(&state.ledger, outcome.first_seq).await?;
    Ok(respond(
        batch_doc(&state.ledger, &batch).await?,
        replayed,
        StatusCode::CREATED,
    ))
}

async fn batch_created_at(ledger: &Ledger, seq: u64) -> ApiResult<Id> {
    let rows = ledger.store().records(seq, 1).await?;
    let record = rows
        .first()
        .and_then(|r| tranche_audit::record::Record::decode_trusted(&r.bytes).ok())
        .ok_or_else(|| ApiError::internal(&"the batch record is missing"))?;
    record
        .body
        .get("batch")
        .and_then(|b| b.as_str())
        .and_then(|b| Id::parse(b).ok())
        .ok_or_else(|| ApiError::internal(&"the record is not a batch"))
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
    let award = q
        .award
        .as_deref()
        .map(|a| Id::parse(a).map_err(|e| ApiError::from(e.within("award"))))
        .transpose()?;
    let list = state.ledger.batches(award.as_ref()).await?;
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
    let view = state
        .ledger
        .batch_view(
            &batch,
            q.offset.unwrap_or(0),
            q.limit.unwrap_or(1000).min(10_000),
        )
        .await
        .map_err(not_found)?;
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

async fn batch_write(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    batch: &Id,
    commands: impl std::future::Future<Output = Result<Vec<Command>, tranche_ledger::StoreError>>,
) -> ApiResult<Response> {
    if earlier(state, caller, headers, path, body).await?.is_some() {
        return Ok(respond(
            batch_doc(&state.ledger, batch).await?,
            true,
            StatusCode::OK,
        ));
    }
    let commands = commands.await.map_err(not_found)?;
    let replayed = if commands.is_empty() {
        false
    } else {
        submit(state, caller, headers, path, body, commands)
            .await?
            .1
    };
    Ok(respond(
        batch_doc(&state.ledger, batch).await?,
        replayed,
        StatusCode::OK,
    ))
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
    let ledger = state.ledger.clone();
    let b = batch.clone();
    batch_write(
        &state,
        &caller,
        &headers,
        &path,
        &body,
        &batch,
        async move { Ok(vec![ledger.submit_command(&b).await?]) },
    )
    .await
}

/// An approval or a rejection of the batch content with this digest.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DecisionRequest)]
struct Decision {
    /// The digest of the content the approver reviewed.
    digest: String,
    #[serde(default)]
    reason: Option<String>,
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
    let d: Decision = parse_json(&body)?;
    let path = format!(
        "/v1/batches/{batch}/{}",
        if approve { "approve" } else { "reject" }
    );
    let ledger = state.ledger.clone();
    let b = batch.clone();
    batch_write(
        &state,
        &caller,
        &headers,
        &path,
        &body,
        &batch,
        async move {
            Ok(vec![
                ledger
                    .decision_command(&b, approve, Some(&d.digest), d.reason)
                    .await?,
            ])
        },
    )
    .await
}

#[utoipa::path(post, path = "/v1/batches/{batch}/approve", tag = "disbursement",
    request_body = Decision,
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
    request_body(content = Decision, description = "The digest of the content reviewed and why it is rejected (a rejection needs a reason)"),
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CancelRequest, example = json!({"reason": "the wrong cohort"}))]
struct Cancel {
    reason: String,
}

#[utoipa::path(post, path = "/v1/batches/{batch}/cancel", tag = "disbursement",
    request_body = Cancel,
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
    let c: Cancel = parse_json(&body)?;
    let path = format!("/v1/batches/{batch}/cancel");
    let ledger = state.ledger.clone();
    let b = batch.clone();
    batch_write(
        &state,
        &caller,
        &headers,
        &path,
        &body,
        &batch,
        async move { Ok(vec![ledger.cancel_command(&b, c.reason).await?]) },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BankFileRequest, example = json!({"format": "pain.001", "execution_date": "2026-04-01"}))]
struct MakeFile {
    /// `pain.001` (default) or `csv`.
    #[serde(default)]
    format: Option<String>,
    /// Requested execution date (default: today).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    execution_date: Option<tranche_audit::programme::Date>,
}

#[utoipa::path(post, path = "/v1/batches/{batch}/files", tag = "disbursement",
    request_body(content = Option<MakeFile>, description = "Optional: a pain.001 for today by default"),
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
    let m: MakeFile = parse_json(&body)?;
    let format = m.format.unwrap_or_else(|| "pain.001".into());
    let path = format!("/v1/batches/{batch}/files");
    let replay = earlier(&state, &caller, &headers, &path, &body)
        .await?
        .is_some();
    let file = state
        .ledger
        .bank_file(
            &batch,
            &format,
            chrono::Utc::now(),
            m.execution_date.map(|d| d.0),
        )
        .await
        .map_err(not_found)?;
    let mut replayed = replay;
    if let (Some(cmd), false) = (file.record.clone(), replay) {
        replayed = submit(&state, &caller, &headers, &path, &body, vec![cmd])
            .await?
            .1;
    }
    let doc = serde_json::json!({
        "batch": batch.as_str(),
        "format": if format == "csv" { "csv" } else { "pain.001.001.09" },
        "sha256": file.sha256,
        "bytes": file.bytes.len(),
        "download": format!("/v1/batches/{batch}/files/{}", if format == "csv" { "csv" } else { "pain.001" }),
    });
    Ok(respond(doc, replayed, StatusCode::CREATED))
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
    let file = state
        .ledger
        .bank_file(&batch, &format, chrono::Utc::now(), None)
        .await
        .map_err(not_found)?;
    if file.record.is_some() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NoBankFile,
            format!("batch {batch} has no {format} file yet: POST /v1/batches/{batch}/files first, which records its digest"),
        ));
    }
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

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SendRequest)]
struct Send {
    /// The SHA-256 of the bank file sent (optional when the batch has one file).
    #[serde(default)]
    file: Option<String>,
}

#[utoipa::path(post, path = "/v1/batches/{batch}/send", tag = "disbursement",
    request_body(content = Option<Send>, description = "Optional when the batch has one bank file"),
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
    let s: Send = parse_json(&body)?;
    let path = format!("/v1/batches/{batch}/send");
    let ledger = state.ledger.clone();
    let b = batch.clone();
    batch_write(
        &state,
        &caller,
        &headers,
        &path,
        &body,
        &batch,
        async move { ledger.send_commands(&b, s.file.as_deref()).await },
    )
    .await
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
    let path = "/v1/bank-files";
    let replay = earlier(&state, &caller, &headers, path, &body).await?;
    let plan = state.ledger.plan_import(&body).await?;
    if replay.is_some() {
        // A retry of this caller's import answers as the import did: 201, replayed.
        let report = state.ledger.import_view(&plan.report.sha256).await?;
        return Ok(respond(doc(&report)?, true, StatusCode::CREATED));
    }
    if plan.report.already_imported {
        // The same file again under another key: nothing posts, and the answer says so.
        return Ok(respond(doc(&plan.report)?, true, StatusCode::OK));
    }
    let sha = plan.report.sha256.clone();
    submit(&state, &caller, &headers, path, &body, plan.commands).await?;
    let report = state.ledger.import_view(&sha).await?;
    Ok(respond(doc(&report)?, false, StatusCode::CREATED))
}

fn doc(r: &ImportReport) -> ApiResult<serde_json::Value> {
    serde_json::to_value(r).map_err(|e| ApiError::internal(&e))
}

#[utoipa::path(get, path = "/v1/bank-files", tag = "disbursement",
    responses((status = 200, description = "Every imported file, newest first, with its outcomes and exceptions")),
    security(("bearer" = [])))]
pub async fn imports(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(LEDGER_READ)?;
    let list = state.ledger.imports().await?;
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
    let t = state.ledger.trace(&e2e).await.map_err(not_found)?;
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
        entitlements.push(super::routes::receipt_text(&state.ledger, *seq).await?);
    }
    let confirmation = match confirmed {
        Some(seq) => Some(super::routes::receipt_text(&state.ledger, seq).await?),
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
