//! The HTTP server: axum routes over the ledger, a group-commit writer in front of the single
//! journal writer, bearer-token roles, problem+json errors, OpenAPI, health and metrics. Only
//! this module (and the CLI) knows HTTP.

/// The role matrix: who may call each route and open each page.
pub mod access;
/// Bearer tokens and the rules the matrix names.
pub mod auth;
/// Witnesses' cosignatures: collected after each checkpoint, served with it.
pub mod cosign;
/// problem+json errors.
pub mod error;
/// Prometheus metrics.
pub mod metrics;
/// Payment batches, approvals, bank files in and out, payments and their trace.
pub mod payments;
/// The programme handlers: awards, partners, cohorts, participants, evidence, rules, cycles.
pub mod programme;
/// The handlers.
/// Reports bound to a signed checkpoint.
pub mod reports;
pub mod routes;
/// Group commit.
pub mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tranche_audit::Code;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tranche_ledger::Ledger;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use error::ApiError;
use metrics::Metrics;
use writer::Writer;

/// The largest request body (413 beyond).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most of a framework refusal's plain text (a 405, 413 or 415) kept when it is made a
/// problem document: those texts are a line long, and a longer one is dropped, not read on.
const MAX_REFUSAL_TEXT_BYTES: usize = 64 * 1024;
/// A request that takes longer is answered 503 (the write, if queued, still completes and a
/// retry with the same Idempotency-Key gets its result).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct AppState {
    pub ledger: Ledger,
    pub writer: Writer,
    pub metrics: Metrics,
    /// Served behind a TLS-terminating proxy: every cookie is `Secure`, whatever the request
    /// says.
    pub behind_tls: bool,
}

/// How a server runs beyond its ledger.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Witnesses to collect cosignatures of every new checkpoint from.
    pub witnesses: Vec<cosign::WitnessConfig>,
    /// Behind a TLS-terminating proxy (`--behind-tls`): cookies are always `Secure`.
    pub behind_tls: bool,
}

/// Every route of the API, as (method, path): the role matrix's API routes. The OpenAPI
/// document must list exactly these (a test checks both ways).
pub fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    access::API.iter().map(|e| (e.method, e.path))
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `tranche users add` or POST /v1/users"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "tranche", description = "Append-only, signed, double-entry disbursement ledger"),
    paths(
        healthz, readyz, metrics_text, openapi_json,
        routes::checkpoint, cosign::cosigned_checkpoint, routes::vkey, routes::inclusion_proof, routes::consistency_proof,
        routes::receipt, routes::export, routes::records, routes::record, routes::balances, routes::accounts,
        routes::open_account, routes::close_account, routes::transactions, routes::post_transaction,
        routes::post_batch, routes::reverse_transaction, routes::recover_entitlement, routes::list_users, routes::create_user,
        routes::revoke_user, routes::me,
        programme::awards, programme::open_award, programme::award, programme::partners,
        programme::register_partner, programme::partner_key, programme::cohorts,
        programme::open_cohort, programme::schedule_sessions, programme::register_participants,
        programme::participant, programme::erase_participant, programme::submit_evidence,
        programme::add_rule, programme::run_cycle,
        payments::settings, payments::create_batch, payments::batches, payments::batch,
        payments::batch_csv, payments::submit_batch, payments::approve, payments::reject,
        payments::cancel, payments::make_file, payments::download_file, payments::send,
        payments::import, payments::imports, payments::payment, payments::trace,
        payments::payment_receipt,
        reports::report, reports::due,
    ),
    components(schemas(error::Problem)),
    modifiers(&BearerAuth),
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The OpenAPI 3.1 document of this server.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up")))]
async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Database reachable, migrations applied"), (status = 503, body = error::Problem, content_type = "application/problem+json")))]
async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.ledger.store().ping().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::NotReady,
            "the database is not reachable",
        )
    })?;
    state.ledger.store().tree_size().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::NotReady,
            "the journal is not readable",
        )
    })?;
    Ok("ready\n")
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// Request id, structured log line, metrics and timeout for every matched route. Logs never
/// carry tokens or bodies.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let start = Instant::now();
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Timeout,
            "the request took too long; retry with the same Idempotency-Key",
        )
        .into_response(),
    };
    let status = response.status().as_u16();
    state.metrics.request(&method, &route, status);
    tracing::info!(
        request_id = id,
        %method,
        %route,
        status,
        latency_ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// The edge of every response. API responses (everything outside the web pages) are never
/// cached or sniffed, and every refusal is a problem document with a stable code, framework
/// rejections included (405, 413, 415, a plain-text 400). A write that reuses an
/// Idempotency-Key with a different request is 409 before its body is even validated, and the
/// request's identity is computed here, once, from the request as it arrived. Behind TLS, every
/// cookie is `Secure`.
async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let web = path == "/" || path == "/web" || path.starts_with("/web/");
    let behind_tls = state.behind_tls;
    let mut response = if web {
        next.run(request).await
    } else {
        api_request(state, path, request, next).await
    };
    if !web {
        harden(&mut response);
        response = problem_shape(response).await;
    }
    if behind_tls {
        secure_cookies(&mut response);
    }
    response
}

async fn api_request(state: AppState, path: String, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    parts.headers.remove(routes::REQUEST_HASH_HEADER);
    let keyed =
        parts.method == axum::http::Method::POST && parts.headers.contains_key("idempotency-key");
    if !keyed {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let limit = if path == "/v1/bank-files" {
        tranche_ledger::iso20022::MAX_FILE_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::BodyTooLarge,
            format!("the request body is larger than {limit} bytes; nothing was written"),
        )
        .into_response();
    };
    let hash = routes::request_hash(&path, &bytes);
    if let Ok(v) = HeaderValue::from_str(&hex::encode(hash)) {
        parts.headers.insert(routes::REQUEST_HASH_HEADER, v);
    }
    if let Some(conflict) = reused_key(&state, &parts.headers, &hash).await {
        return conflict.into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// 409 when this caller already used this Idempotency-Key for a different request.
async fn reused_key(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    hash: &[u8; 32],
) -> Option<ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    let key = routes::idempotency_key(headers).ok()?;
    let store = state.ledger.store();
    let user = store.user_by_token(&auth::token_hash(token)).await.ok()??;
    let (stored, _) = store.idempotent_get(&user.name, &key).await.ok()??;
    (stored.as_slice() != hash.as_slice()).then(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was already used with a different request; nothing was \
             checked or written: use a new key for a new request",
        )
        .field("Idempotency-Key")
    })
}

fn harden(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A refusal that is not yet problem+json becomes one, keeping its status and headers (such as
/// a 405's `Allow`).
async fn problem_shape(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let problem = error::as_problem(status, &text).into_response();
    let (pparts, pbody) = problem.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (k, v) in &pparts.headers {
        parts.headers.insert(k.clone(), v.clone());
    }
    Response::from_parts(parts, pbody)
}

fn secure_cookies(response: &mut Response) {
    let cookies: Vec<HeaderValue> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if cookies.is_empty() {
        return;
    }
    let h = response.headers_mut();
    h.remove(header::SET_COOKIE);
    for c in cookies {
        let text = c.to_str().unwrap_or_default();
        let secured = if text.contains("; Secure") {
            text.to_string()
        } else {
            format!("{text}; Secure")
        };
        if let Ok(v) = HeaderValue::from_str(&secured) {
            h.append(header::SET_COOKIE, v);
        }
    }
}

/// The role matrix, applied to every API route before anything else is read: 401 without a
/// valid token, 403 for a role the matrix does not list (the handler's own check, which the web
/// pages rely on, then agrees). The caller found is handed to the handler.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = match request.method().as_str() {
        "HEAD" => "GET",
        m => m,
    };
    let entry = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| access::api_entry(method, p.as_str()));
    let Some(access::Entry {
        access: access::Access::Roles(rule),
        ..
    }) = entry
    else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let caller =
        match <auth::Caller as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
    if let Err(e) = caller.require(*rule) {
        return e.into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route: see /openapi.json")
}

/// The router with every route, limit and middleware.
pub fn router(state: AppState) -> Router {
    use payments as pay;
    use programme as p;
    use routes as r;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/checkpoint", get(r::checkpoint))
        .route("/v1/checkpoint/cosigned", get(cosign::cosigned_checkpoint))
        .route("/v1/vkey", get(r::vkey))
        .route("/v1/proofs/inclusion", get(r::inclusion_proof))
        .route("/v1/proofs/consistency", get(r::consistency_proof))
        .route("/v1/receipts/{seq}", get(r::receipt))
        .route("/v1/export", get(r::export))
        .route("/v1/records", get(r::records))
        .route("/v1/records/{seq}", get(r::record))
        .route("/v1/balances", get(r::balances))
        .route("/v1/accounts", get(r::accounts).post(r::open_account))
        .route("/v1/accounts/{name}/close", post(r::close_account))
        .route(
            "/v1/transactions",
            get(r::transactions).post(r::post_transaction),
        )
        .route("/v1/transactions/batch", post(r::post_batch))
        .route(
            "/v1/transactions/{seq}/reverse",
            post(r::reverse_transaction),
        )
        .route(
            "/v1/entitlements/{seq}/recover",
            post(r::recover_entitlement),
        )
        .route("/v1/me", get(r::me))
        .route("/v1/users", get(r::list_users).post(r::create_user))
        .route("/v1/users/{name}/revoke", post(r::revoke_user))
        .route("/v1/awards", get(p::awards).post(p::open_award))
        .route("/v1/awards/{award}", get(p::award))
        .route("/v1/partners", get(p::partners).post(p::register_partner))
        .route("/v1/partners/{partner}/keys", post(p::partner_key))
        .route("/v1/cohorts", get(p::cohorts).post(p::open_cohort))
        .route("/v1/cohorts/{cohort}/sessions", post(p::schedule_sessions))
        .route("/v1/participants", post(p::register_participants))
        .route("/v1/participants/{participant}", get(p::participant))
        .route(
            "/v1/participants/{participant}/erase",
            post(p::erase_participant),
        )
        .route("/v1/evidence", post(p::submit_evidence))
        .route("/v1/rules", post(p::add_rule))
        .route("/v1/cycles", post(p::run_cycle))
        .route("/v1/disbursement-settings", post(pay::settings))
        .route("/v1/batches", get(pay::batches).post(pay::create_batch))
        .route("/v1/batches/{batch}", get(pay::batch))
        .route("/v1/batches/{batch}/payments.csv", get(pay::batch_csv))
        .route("/v1/batches/{batch}/submit", post(pay::submit_batch))
        .route("/v1/batches/{batch}/approve", post(pay::approve))
        .route("/v1/batches/{batch}/reject", post(pay::reject))
        .route("/v1/batches/{batch}/cancel", post(pay::cancel))
        .route("/v1/batches/{batch}/files", post(pay::make_file))
        .route(
            "/v1/batches/{batch}/files/{format}",
            get(pay::download_file),
        )
        .route("/v1/batches/{batch}/send", post(pay::send))
        .route(
            "/v1/bank-files",
            get(pay::imports)
                .post(pay::import)
                .layer(DefaultBodyLimit::max(
                    tranche_ledger::iso20022::MAX_FILE_BYTES,
                )),
        )
        .route("/v1/payments/{e2e}", get(pay::payment))
        .route("/v1/payments/{e2e}/trace", get(pay::trace))
        .route("/v1/payments/{e2e}/receipt", get(pay::payment_receipt))
        .route("/v1/reports/{kind}", get(reports::report))
        .route("/v1/reports-due", get(reports::due))
        .merge(crate::web::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Starts the writer and serves on `listener` until `shutdown` resolves; then stops accepting,
/// finishes in-flight requests, and lets the writer drain what it accepted.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ledger: Ledger,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, ledger, ServeOptions::default(), shutdown).await
}

/// [`serve`] with options: witnesses to collect cosignatures from, TLS in front.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    ledger: Ledger,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ServeOptions {
        witnesses,
        behind_tls,
    } = options;
    let cosigning =
        (!witnesses.is_empty()).then(|| tokio::spawn(cosign::collect(ledger.clone(), witnesses)));
    let metrics = Metrics::default();
    if let Ok(size) = ledger.store().tree_size().await {
        metrics.set_tree_size(size);
    }
    let (writer, writer_task) = Writer::start(ledger.clone(), metrics.clone());
    let state = AppState {
        ledger: ledger.clone(),
        writer,
        metrics,
        behind_tls,
    };
    // Forget idempotency keys older than 48 hours (the promise is at least 24).
    let purge = tokio::spawn(async move {
        loop {
            let before = chrono::Utc::now() - chrono::Duration::hours(48);
            let before = tranche_audit::record::format_time(before);
            if let Err(e) = ledger.store().purge_idempotency(&before).await {
                tracing::warn!(error = %e, "idempotency purge failed");
            }
            // Web sessions that expired a day ago or more.
            let expired = chrono::Utc::now().timestamp() - 86_400;
            if let Err(e) = ledger.store().purge_sessions(expired).await {
                tracing::warn!(error = %e, "web session purge failed");
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    purge.abort();
    if let Some(c) = cosigning {
        c.abort();
    }
    // The router (and its Writer handles) is gone: the writer drains its queue and stops.
    let _ = writer_task.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Behind TLS every cookie is Secure, once, whatever the request claimed.
    #[test]
    fn behind_tls_every_cookie_is_secure() {
        let mut r = StatusCode::SEE_OTHER.into_response();
        let h = r.headers_mut();
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("tranche_session=abc; Path=/; HttpOnly; SameSite=Strict"),
        );
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("tranche_login=; Path=/; Max-Age=0; Secure"),
        );
        secure_cookies(&mut r);
        let cookies: Vec<&str> = r
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("text"))
            .collect();
        assert_eq!(
            cookies,
            [
                "tranche_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure",
                "tranche_login=; Path=/; Max-Age=0; Secure",
            ]
        );
    }
}
