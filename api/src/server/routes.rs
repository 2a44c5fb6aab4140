//! The HTTP routes. Each handler checks the caller's role, validates input into ledger
//! commands, and either submits them to the group-commit writer (POST) or reads the store.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tranche_audit::money::{format_minor, Currency};
use tranche_audit::posting::Side;
use tranche_audit::record::{PostingBody, Record};
use tranche_audit::Code;
use tranche_ledger::domain::{Command, ReversalError, TransactionInput};
use tranche_ledger::store::{Outcome, UserRow};
use utoipa::{IntoParams, ToSchema};

use super::auth::{self, Caller, Role, ADMIN, AUDIT_READ, FINANCE_WRITE, LEDGER_READ, PROOF_READ};
use super::error::{parse_json, ApiError, ApiResult, Problem, P, Q};
use super::AppState;

/// The most items a read page returns.
pub const MAX_PAGE: u32 = 1_000;
/// The most transactions one batch request may carry.
pub const MAX_BATCH_REQUEST: usize = 1_000;

// ---------- request and response documents ----------

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SideDoc {
    Debit,
    Credit,
}

/// One posting. Amounts are strings with at most the currency's ISO 4217 decimals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostingRequest {
    #[schema(example = "expense:c4t-stipend")]
    pub account: String,
    #[schema(example = "USD")]
    pub currency: String,
    pub side: SideDoc,
    #[schema(example = "60.00")]
    pub amount: String,
}

/// A balanced transaction: at least two postings; per currency, debits equal credits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionRequest {
    /// The accounting date (value date, `YYYY-MM-DD`); default: today in the award's time
    /// zone. Refused before the award's start, after its end plus its liquidation period, in
    /// a closed quarter, or more than the award's `future_days` ahead.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2026-03-05")]
    pub date: Option<tranche_audit::programme::Date>,
    #[serde(default)]
    pub memo: String,
    pub postings: Vec<PostingRequest>,
    /// A late correction of a closed quarter: the quarter it corrects (`2026Q1`).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2026Q1")]
    pub prior_period: Option<tranche_audit::period::Quarter>,
    /// The seq of the transaction this one reverses (it must mirror it exactly).
    #[serde(default)]
    pub reverses: Option<u64>,
}

impl TransactionRequest {
    fn into_command(self) -> Result<Command, tranche_audit::Invalid> {
        TransactionInput {
            date: self.date,
            prior_period: self.prior_period,
            memo: self.memo,
            postings: self
                .postings
                .into_iter()
                .map(|p| PostingBody {
                    account: p.account,
                    currency: p.currency,
                    side: match p.side {
                        SideDoc::Debit => Side::Debit,
                        SideDoc::Credit => Side::Credit,
                    },
                    amount: p.amount,
                })
                .collect(),
            reverses: self.reverses,
        }
        .into_command()
    }
}

/// Several transactions appended all or nothing, in order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub transactions: Vec<TransactionRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    #[schema(example = "payable:participant:P-00012")]
    pub name: String,
    /// asset, liability, equity, income, expense or memo.
    #[serde(rename = "type")]
    #[schema(example = "liability")]
    pub account_type: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseRequest {
    /// Why the transaction is reversed (required; recorded as the reversal's memo).
    #[serde(default, alias = "memo")]
    pub reason: String,
    /// The reversal's accounting date (`YYYY-MM-DD`), never before the original's; default:
    /// today in the award's time zone.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2026-04-02")]
    pub date: Option<tranche_audit::programme::Date>,
}

/// What a write got: its seqs and the signed checkpoint that covers them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppendResponse {
    pub first_seq: u64,
    pub count: u64,
    pub checkpoint_size: u64,
    /// Lowercase hex of the checkpoint root.
    pub checkpoint_root: String,
}

impl From<Outcome> for AppendResponse {
    fn from(o: Outcome) -> Self {
        AppendResponse {
            first_seq: o.first_seq,
            count: o.count,
            checkpoint_size: o.checkpoint_size,
            checkpoint_root: o.checkpoint_root,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceDoc {
    pub account: String,
    pub currency: String,
    pub debits: String,
    pub credits: String,
    /// Debits minus credits.
    pub balance: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountDoc {
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: String,
    pub description: Option<String>,
    pub opened_seq: u64,
    pub closed_seq: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordDoc {
    pub seq: u64,
    /// Lowercase hex of SHA-256(0x00 || record bytes).
    pub leaf_hash: String,
    /// The record as JSON; its canonical bytes are served by GET /v1/records/{seq}.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordsPage {
    pub records: Vec<RecordDoc>,
    /// The `from` of the next page, or null at the end.
    pub next: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransactionDoc {
    pub seq: u64,
    pub memo: String,
    pub reverses: Option<u64>,
    pub reversed_by: Option<u64>,
    pub postings: Vec<PostingRequest>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransactionsPage {
    pub transactions: Vec<TransactionDoc>,
    pub next: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InclusionProofDoc {
    pub seq: u64,
    pub size: u64,
    /// Standard base64 of the leaf hash.
    pub leaf_hash: String,
    /// Standard base64 hashes, RFC 9162 §2.1.3 order.
    pub proof: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsistencyProofDoc {
    pub size1: u64,
    pub size2: u64,
    /// Standard base64 hashes, RFC 9162 §2.1.4 order.
    pub proof: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    pub name: String,
    /// admin, preparer, approver, partner, auditor or donor.
    pub role: String,
    /// Required for (and only for) the partner role.
    #[serde(default)]
    pub partner: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserDoc {
    pub name: String,
    pub role: String,
    pub partner: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A new user and its token, shown only this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewUserDoc {
    pub name: String,
    pub role: String,
    pub partner: Option<String>,
    pub token: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// First seq of the page (default 0).
    pub from: Option<u64>,
    /// Page size, at most 1000 (default 100).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BalanceQuery {
    /// An account or a prefix of whole segments, e.g. `expense`.
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    pub seq: u64,
    /// Tree size (default: the latest checkpoint's).
    pub size: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    pub size1: u64,
    pub size2: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Export records 0..size-1 (default: the latest checkpoint's size).
    pub size: Option<u64>,
}

// ---------- helpers ----------

pub(crate) fn page_limit(limit: Option<u32>) -> ApiResult<u32> {
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            Code::LimitOutOfRange,
            "limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(limit)
}

pub(super) fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Bytes> {
    let body = body.map_err(|r| {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            Code::BodyTooLarge
        } else {
            Code::UnreadableBody
        };
        ApiError::new(status, code, r.body_text())
    })?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim() == "application/json")
        });
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::UnsupportedMediaType,
            "the body must be application/json",
        )
        .field("Content-Type"));
    }
    Ok(body)
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| {
            ApiError::bad_request(
                Code::MissingIdempotencyKey,
                "Idempotency-Key",
                "every POST that creates something needs an Idempotency-Key header",
            )
        })?
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request(
                Code::InvalidIdempotencyKey,
                "Idempotency-Key",
                "1 to 200 visible ASCII characters",
            )
        })?;
    Ok(key.to_string())
}

/// The request's identity for idempotency: method, path and the body's canonical JSON (so
/// whitespace and key order do not matter).
pub(crate) fn request_hash(path: &str, body: &[u8]) -> [u8; 32] {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| tranche_audit::record::canonical_bytes(&v).ok())
        .unwrap_or_else(|| body.to_vec());
    let mut h = Sha256::new();
    h.update(b"POST ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(&canonical);
    h.finalize().into()
}

/// The header through which the API middleware hands a write its identity (hex SHA-256 of
/// method, path and canonical body), computed once from the request as it arrived; a client's
/// own value is removed first.
pub const REQUEST_HASH_HEADER: &str = "x-tranche-request-hash";

/// The identity of this write for its Idempotency-Key: the one the middleware computed from the
/// request as it arrived, or (a handler called by a web page) computed here.
pub(crate) fn identity(headers: &HeaderMap, path: &str, body: &[u8]) -> [u8; 32] {
    headers
        .get(REQUEST_HASH_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .unwrap_or_else(|| request_hash(path, body))
}

/// Submits commands through the group-commit writer, honouring the Idempotency-Key.
pub(super) async fn write(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    commands: Vec<Command>,
) -> ApiResult<Response> {
    let (outcome, replayed) = submit(state, caller, headers, path, body, commands).await?;
    Ok(created(AppendResponse::from(outcome), replayed))
}

/// 201 with the document, marked `idempotent-replayed` when it answers an earlier request.
pub(super) fn created<T: Serialize>(doc: T, replayed: bool) -> Response {
    if replayed {
        (
            StatusCode::CREATED,
            [("idempotent-replayed", "true")],
            Json(doc),
        )
            .into_response()
    } else {
        (StatusCode::CREATED, Json(doc)).into_response()
    }
}

/// Submits commands through the group-commit writer, honouring the Idempotency-Key; returns the
/// outcome and whether it is the replay of an earlier identical request.
pub(super) async fn submit(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    commands: Vec<Command>,
) -> ApiResult<(Outcome, bool)> {
    let idem = crate::service::Idempotency::of_request(headers, path, body)?;
    let (outcome, written) = crate::service::submit(state, caller, &idem, commands).await?;
    Ok((outcome, written.replayed()))
}

pub(crate) fn fmt_minor(minor: i128, code: &str) -> String {
    Currency::parse(code).map_or_else(|_| minor.to_string(), |c| format_minor(minor, c))
}

// ---------- writes ----------

#[utoipa::path(post, path = "/v1/accounts", tag = "ledger", request_body = AccountRequest,
    params(("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn open_account(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let req: AccountRequest = parse_json(&body)?;
    let command = Command::open_account(&req.name, &req.account_type, req.description)?;
    write(
        &state,
        &caller,
        &headers,
        "/v1/accounts",
        &body,
        vec![command],
    )
    .await
}

#[utoipa::path(post, path = "/v1/accounts/{name}/close", tag = "ledger",
    params(("name" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn close_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let command = Command::close_account(&name)?;
    let path = format!("/v1/accounts/{name}/close");
    write(&state, &caller, &headers, &path, b"", vec![command]).await
}

#[utoipa::path(post, path = "/v1/transactions", tag = "ledger", request_body = TransactionRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_transaction(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let req: TransactionRequest = parse_json(&body)?;
    let command = req.into_command()?;
    write(
        &state,
        &caller,
        &headers,
        "/v1/transactions",
        &body,
        vec![command],
    )
    .await
}

#[utoipa::path(post, path = "/v1/transactions/batch", tag = "ledger", request_body = BatchRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_batch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let req: BatchRequest = parse_json(&body)?;
    if req.transactions.is_empty() || req.transactions.len() > MAX_BATCH_REQUEST {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::BatchSize,
            format!("a batch holds 1 to {MAX_BATCH_REQUEST} transactions"),
        )
        .field("transactions"));
    }
    let mut commands = Vec::with_capacity(req.transactions.len());
    for (i, t) in req.transactions.into_iter().enumerate() {
        commands.push(
            t.into_command()
                .map_err(|e| ApiError::from(e.within(&format!("transactions[{i}]")).in_item(i)))?,
        );
    }
    write(
        &state,
        &caller,
        &headers,
        "/v1/transactions/batch",
        &body,
        commands,
    )
    .await
}

#[utoipa::path(post, path = "/v1/transactions/{seq}/reverse", tag = "ledger", request_body = ReverseRequest,
    params(("seq" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn reverse_transaction(
    State(state): State<AppState>,
    caller: Caller,
    P(seq): P<u64>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let req: ReverseRequest = parse_json(&body)?;
    let stored = state
        .ledger
        .store()
        .records(seq, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or_else(|| ApiError::not_found(format!("seq {seq} does not exist")).field("seq"))?;
    let record = Record::decode(&stored.bytes).map_err(|e| ApiError::internal(&e))?;
    let command =
        Command::reversal_of(&record, req.reason, req.date.map(|d| d.0)).map_err(|e| match e {
            ReversalError::NoReason => ApiError::from(tranche_audit::Invalid::new(
                "reason",
                Code::ReasonRequired,
                e.to_string(),
            )),
            ReversalError::NotATransaction { .. } => ApiError::from(tranche_audit::Invalid::new(
                "seq",
                Code::UnknownTransaction,
                e.to_string(),
            )),
            ReversalError::Unreadable { .. } => ApiError::internal(&e),
        })?;
    let path = format!("/v1/transactions/{seq}/reverse");
    write(&state, &caller, &headers, &path, &body, vec![command]).await
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// What was overpaid and is to be recovered, at the award's scale.
    #[schema(example = "12.00")]
    pub amount: String,
    /// Why (required; recorded as the recovery's memo).
    pub reason: String,
    /// The recovery's accounting date (`YYYY-MM-DD`), never before the entitlement's; default:
    /// today in the award's time zone.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2026-05-04")]
    pub date: Option<tranche_audit::programme::Date>,
}

/// Records a recovery of part of a paid entitlement: the payee's receivable is debited and the
/// budget line credited; the cycles keep what she owes back from her next entitlements.
#[utoipa::path(post, path = "/v1/entitlements/{seq}/recover", tag = "ledger", request_body = RecoverRequest,
    params(("seq" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = AppendResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn recover_entitlement(
    State(state): State<AppState>,
    caller: Caller,
    P(seq): P<u64>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(FINANCE_WRITE)?;
    let body = json_body(&headers, body)?;
    let req: RecoverRequest = parse_json(&body)?;
    let commands = state
        .ledger
        .recovery_commands(seq, &req.amount, &req.reason, req.date.map(|d| d.0))
        .await?;
    let path = format!("/v1/entitlements/{seq}/recover");
    write(&state, &caller, &headers, &path, &body, commands).await
}

// ---------- reads ----------

#[utoipa::path(get, path = "/v1/balances", tag = "ledger", params(BalanceQuery),
    responses((status = 200, body = [BalanceDoc])), security(("bearer" = [])))]
pub async fn balances(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<BalanceQuery>,
) -> ApiResult<Json<Vec<BalanceDoc>>> {
    caller.require(LEDGER_READ)?;
    Ok(Json(
        crate::service::audit::balances(&state, &caller, q.prefix.as_deref().unwrap_or("")).await?,
    ))
}

#[utoipa::path(get, path = "/v1/accounts", tag = "ledger",
    responses((status = 200, body = [AccountDoc])), security(("bearer" = [])))]
pub async fn accounts(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AccountDoc>>> {
    caller.require(LEDGER_READ)?;
    let rows = state.ledger.store().accounts().await?;
    Ok(Json(
        rows.into_iter()
            .map(|a| AccountDoc {
                name: a.name,
                account_type: a.account_type,
                description: a.description,
                opened_seq: a.opened_seq,
                closed_seq: a.closed_seq,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/v1/transactions", tag = "ledger", params(PageQuery),
    responses((status = 200, body = TransactionsPage), (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn transactions(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<PageQuery>,
) -> ApiResult<Json<TransactionsPage>> {
    caller.require(LEDGER_READ)?;
    let limit = page_limit(q.limit)?;
    let from = q.from.unwrap_or(0);
    let rows = state.ledger.store().transactions(from, limit).await?;
    let next = (rows.len() as u32 == limit)
        .then(|| rows.last().map(|t| t.seq + 1))
        .flatten();
    let (lo, hi) = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => (a.seq, b.seq + 1),
        _ => (0, 0),
    };
    let postings = state.ledger.store().postings(lo, hi).await?;
    let mut docs = Vec::with_capacity(rows.len());
    for t in rows {
        docs.push(TransactionDoc {
            postings: postings
                .iter()
                .filter(|p| p.seq == t.seq)
                .map(|p| PostingRequest {
                    account: p.account.clone(),
                    currency: p.currency.clone(),
                    side: match p.side {
                        Side::Debit => SideDoc::Debit,
                        Side::Credit => SideDoc::Credit,
                    },
                    amount: fmt_minor(i128::from(p.amount_minor), &p.currency),
                })
                .collect(),
            seq: t.seq,
            memo: t.memo,
            reverses: t.reverses,
            reversed_by: t.reversed_by,
        });
    }
    Ok(Json(TransactionsPage {
        transactions: docs,
        next,
    }))
}

#[utoipa::path(get, path = "/v1/records", tag = "audit", params(PageQuery),
    responses((status = 200, body = RecordsPage), (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn records(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<PageQuery>,
) -> ApiResult<Json<RecordsPage>> {
    caller.require(LEDGER_READ)?;
    Ok(Json(
        crate::service::audit::records(&state, &caller, q.from, q.limit).await?,
    ))
}

#[utoipa::path(get, path = "/v1/records/{seq}", tag = "audit", params(("seq" = u64, Path)),
    responses((status = 200, description = "The record's exact canonical bytes", content_type = "application/json"),
              (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    P(seq): P<u64>,
) -> ApiResult<Response> {
    caller.require(LEDGER_READ)?;
    let bytes = crate::service::audit::record(&state, &caller, seq).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

// ---------- audit ----------

#[utoipa::path(get, path = "/v1/checkpoint", tag = "audit",
    responses((status = 200, description = "The latest C2SP signed checkpoint note", content_type = "text/plain")))]
pub async fn checkpoint(State(state): State<AppState>) -> ApiResult<Response> {
    let note = crate::service::audit::checkpoint(&state).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

#[utoipa::path(get, path = "/v1/vkey", tag = "audit",
    responses((status = 200, description = "The checkpoint verifier key (C2SP vkey)", content_type = "text/plain")))]
pub async fn vkey(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", state.ledger.verifier().to_vkey()),
    )
        .into_response()
}

async fn latest_size(state: &AppState) -> ApiResult<u64> {
    Ok(state
        .ledger
        .store()
        .latest_checkpoint()
        .await?
        .map_or(0, |c| c.size))
}

#[utoipa::path(get, path = "/v1/proofs/inclusion", tag = "audit", params(InclusionQuery),
    responses((status = 200, body = InclusionProofDoc), (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<InclusionQuery>,
) -> ApiResult<Json<InclusionProofDoc>> {
    caller.require(PROOF_READ)?;
    let size = match q.size {
        Some(s) => s,
        None => latest_size(&state).await?,
    };
    if size == 0 {
        return Err(ApiError::bad_request(
            Code::InvalidSize,
            "size",
            "tree size must be at least 1",
        ));
    }
    if q.seq >= size {
        return Err(ApiError::bad_request(
            Code::SeqBeyondSize,
            "seq",
            format!("seq {} is not below tree size {size}", q.seq),
        ));
    }
    let proof = state.ledger.store().inclusion_proof(q.seq, size).await?;
    let leaf = state
        .ledger
        .store()
        .records(q.seq, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("record not found"))?
        .leaf;
    Ok(Json(InclusionProofDoc {
        seq: q.seq,
        size,
        leaf_hash: B64.encode(leaf),
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/proofs/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProofDoc), (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn consistency_proof(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProofDoc>> {
    caller.require(PROOF_READ)?;
    if q.size1 == 0 {
        return Err(ApiError::bad_request(
            Code::InvalidSize,
            "size1",
            "size1 must be at least 1",
        ));
    }
    if q.size1 > q.size2 {
        return Err(ApiError::bad_request(
            Code::SizesOutOfOrder,
            "size1",
            format!("size1 {} is greater than size2 {}", q.size1, q.size2),
        ));
    }
    let proof = state
        .ledger
        .store()
        .consistency_proof(q.size1, q.size2)
        .await?;
    Ok(Json(ConsistencyProofDoc {
        size1: q.size1,
        size2: q.size2,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/receipts/{seq}", tag = "audit", params(("seq" = u64, Path)),
    responses((status = 200, description = "A C2SP tlog-proof receipt whose extra line carries the record", content_type = "text/plain"),
              (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn receipt(
    State(state): State<AppState>,
    caller: Caller,
    P(seq): P<u64>,
) -> ApiResult<Response> {
    caller.require(AUDIT_READ)?;
    let text = crate::service::audit::receipt(&state, &caller, seq).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

#[utoipa::path(get, path = "/v1/export", tag = "audit", params(ExportQuery),
    responses((status = 200, description = "records.jsonl: one canonical record per line", content_type = "application/x-ndjson"),
              (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<ExportQuery>,
) -> ApiResult<Response> {
    caller.require(AUDIT_READ)?;
    let (size, stream) = crate::service::audit::export(&state, &caller, q.size).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (
                header::HeaderName::from_static("tranche-tree-size"),
                size.to_string(),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The caller's own identity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeDoc {
    pub name: String,
    pub role: String,
    /// The partner a partner user acts for.
    pub partner: Option<String>,
}

#[utoipa::path(get, path = "/v1/me", tag = "admin",
    responses((status = 200, body = MeDoc), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn me(caller: Caller) -> Json<MeDoc> {
    Json(MeDoc {
        name: caller.name,
        role: caller.role.as_str().to_string(),
        partner: caller.partner,
    })
}

// ---------- users ----------

#[utoipa::path(post, path = "/v1/users", tag = "admin", request_body = UserRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = NewUserDoc), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require(ADMIN)?;
    // The key is required like on every POST; the user name's uniqueness makes a retry safe
    // (a second attempt is a 409), and a token is never stored to be shown twice.
    idempotency_key(&headers)?;
    let body = json_body(&headers, body)?;
    let req: UserRequest = parse_json(&body)?;
    let (user, token) =
        new_user(&state.ledger, &req.name, &req.role, req.partner.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewUserDoc {
            name: user.name,
            role: user.role,
            partner: user.partner,
            token,
        }),
    )
        .into_response())
}

/// Validates and creates a user; returns it and its token (shown once).
pub async fn new_user(
    ledger: &tranche_ledger::Ledger,
    name: &str,
    role: &str,
    partner: Option<&str>,
) -> ApiResult<(UserRow, String)> {
    let user = validate_user(name, role, partner)?;
    let token = auth::new_token().map_err(|e| ApiError::internal(&e))?;
    match ledger
        .store()
        .create_user(&user, &auth::token_hash(&token))
        .await
    {
        Ok(()) => Ok((user, token)),
        Err(tranche_ledger::StoreError::Invalid(i)) if i.code == Code::UserExists => {
            Err(ApiError::new(StatusCode::CONFLICT, Code::UserExists, i.detail).field("name"))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn validate_user(name: &str, role: &str, partner: Option<&str>) -> ApiResult<UserRow> {
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if !valid_name {
        return Err(ApiError::bad_request(
            Code::InvalidUserName,
            "name",
            "1 to 64 letters, digits, '-', '_', '.', '@'",
        ));
    }
    let role = Role::parse(role).ok_or_else(|| {
        ApiError::bad_request(
            Code::InvalidRole,
            "role",
            "role must be admin, preparer, approver, partner, auditor or donor",
        )
    })?;
    match (role, partner) {
        (Role::Partner, None) => {
            return Err(ApiError::bad_request(
                Code::PartnerRequired,
                "partner",
                "a partner user needs --partner",
            ))
        }
        (Role::Partner, Some(p)) if p.is_empty() || p.len() > 64 => {
            return Err(ApiError::bad_request(
                Code::InvalidPartner,
                "partner",
                "1 to 64 characters",
            ))
        }
        (r, Some(_)) if r != Role::Partner => {
            return Err(ApiError::bad_request(
                Code::PartnerNotAllowed,
                "partner",
                "only partner users belong to a partner",
            ))
        }
        _ => {}
    }
    Ok(UserRow {
        name: name.to_string(),
        role: role.as_str().to_string(),
        partner: partner.map(str::to_string),
        created_at: tranche_audit::record::format_time(chrono::Utc::now()),
        revoked_at: None,
    })
}

#[utoipa::path(get, path = "/v1/users", tag = "admin",
    responses((status = 200, body = [UserDoc])), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<UserDoc>>> {
    caller.require(ADMIN)?;
    let users = state.ledger.store().users().await?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| UserDoc {
                name: u.name,
                role: u.role,
                partner: u.partner,
                created_at: u.created_at,
                revoked_at: u.revoked_at,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/v1/users/{name}/revoke", tag = "admin",
    params(("name" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, description = "The last active admin (last_admin)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn revoke_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    caller.require(ADMIN)?;
    idempotency_key(&headers)?;
    let now = tranche_audit::record::format_time(chrono::Utc::now());
    let revoked = state
        .ledger
        .store()
        .revoke_user(&name, &now)
        .await
        .map_err(|e| {
            let err = ApiError::from(e);
            // Revoking the last admin conflicts with the state, whatever the request.
            if err.code == Code::LastAdmin {
                err.status(StatusCode::CONFLICT)
            } else {
                err
            }
        })?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        // Revoking twice is a no-op for the client that retries; an unknown name is not.
        let exists = state
            .ledger
            .store()
            .users()
            .await?
            .iter()
            .any(|u| u.name == name);
        if exists {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found(format!("no user named {name:?}")).field("name"))
        }
    }
}
