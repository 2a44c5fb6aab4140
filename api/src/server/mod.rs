//! The HTTP server: axum routes over the ledger, a group-commit writer in front of the single
//! journal writer, bearer-token roles, problem+json errors, OpenAPI, health and metrics. Only
//! this module (and the CLI) knows HTTP.

/// The role matrix: who may call each route and open each page.
pub mod access;
/// Bearer tokens and the rules the matrix names.
pub mod auth;
/// The schemas of the request bodies that are a journal record's own body.
pub mod bodies;
/// Witnesses' cosignatures: collected after each checkpoint, served with it.
pub mod cosign;
/// problem+json errors.
pub mod error;
/// Prometheus metrics.
pub mod metrics;
/// Payment batches, approvals, bank files in and out, payments and their trace.
pub mod payments;
/// Closed periods: an award's quarters, closing and reopening them.
pub mod periods;
/// The programme handlers: awards, partners, cohorts, participants, evidence, rules, cycles.
pub mod programme;
/// Reports bound to a signed checkpoint.
pub mod reports;
/// The ledger's own handlers (accounts, transactions, proofs, users) and the write path.
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
use axum::{Json, Router};
use tranche_ledger::Ledger;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

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

/// The document's frame: what it is about and how callers authenticate. Its paths and the
/// schemas they use come from the router ([`api`]), never from a list of their own.
#[derive(OpenApi)]
#[openapi(
    info(title = "tranche", description = "Append-only, signed, double-entry disbursement ledger"),
    components(schemas(error::Problem)),
    modifiers(&BearerAuth),
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The OpenAPI 3.1 document of this server, taken from the routes it serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    static DOC: std::sync::LazyLock<utoipa::openapi::OpenApi> =
        std::sync::LazyLock::new(|| api().into_openapi());
    DOC.clone()
}

/// Every route of the API, each declared once: the handler's `#[utoipa::path]` gives its method,
/// path and documentation, and both the router and the OpenAPI document are built from this.
/// One `routes!` per path (the macro gives every handler it names every path it names).
fn api() -> OpenApiRouter<AppState> {
    use payments as pay;
    use programme as p;
    use routes as r;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
        .routes(routes!(openapi_json))
        .routes(routes!(r::checkpoint))
        .routes(routes!(cosign::cosigned_checkpoint))
        .routes(routes!(r::vkey))
        .routes(routes!(r::inclusion_proof))
        .routes(routes!(r::consistency_proof))
        .routes(routes!(r::receipt))
        .routes(routes!(r::export))
        .routes(routes!(r::records))
        .routes(routes!(r::record))
        .routes(routes!(r::balances))
        .routes(routes!(r::accounts, r::open_account))
        .routes(routes!(r::close_account))
        .routes(routes!(r::transactions, r::post_transaction))
        .routes(routes!(r::post_batch))
        .routes(routes!(r::reverse_transaction))
        .routes(routes!(r::recover_entitlement))
        .routes(routes!(r::me))
        .routes(routes!(r::list_users, r::create_user))
        .routes(routes!(r::revoke_user))
        .routes(routes!(p::awards, p::open_award))
        .routes(routes!(p::award))
        .routes(routes!(p::partners, p::register_partner))
        .routes(routes!(p::partner_key))
        .routes(routes!(p::cohorts, p::open_cohort))
        .routes(routes!(p::schedule_sessions))
        .routes(routes!(p::register_participants))
        .routes(routes!(p::participant))
        .routes(routes!(p::erase_participant))
        .routes(routes!(p::submit_evidence))
        .routes(routes!(p::add_rule))
        .routes(routes!(p::run_cycle))
        .routes(routes!(pay::settings))
        .routes(routes!(pay::batches, pay::create_batch))
        .routes(routes!(pay::batch))
        .routes(routes!(pay::batch_csv))
        .routes(routes!(pay::submit_batch))
        .routes(routes!(pay::approve))
        .routes(routes!(pay::reject))
        .routes(routes!(pay::cancel))
        .routes(routes!(pay::make_file))
        .routes(routes!(pay::download_file))
        .routes(routes!(pay::send))
        .routes(
            routes!(pay::imports, pay::import).layer(DefaultBodyLimit::max(
                tranche_ledger::iso20022::MAX_FILE_BYTES,
            )),
        )
        .routes(routes!(pay::payment))
        .routes(routes!(pay::trace))
        .routes(routes!(pay::payment_receipt))
        .routes(routes!(reports::report))
        .routes(routes!(reports::due))
        .routes(routes!(periods::periods))
        .routes(routes!(periods::close))
        .routes(routes!(periods::reopen))
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

/// The route table: the API's routes and the web pages, before middleware and state.
fn route_table() -> Router<AppState> {
    let (api, _) = api().split_for_parts();
    api.merge(crate::web::router())
}

/// The router with every route, limit and middleware.
pub fn router(state: AppState) -> Router {
    route_table()
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
    use std::collections::BTreeSet;

    /// Every `(method, path)` a router serves, from its description of itself: axum shows its
    /// route table (route ids to paths, and to each route's `Allow` methods) only there. HEAD
    /// goes with GET.
    fn routed(router: &Router<AppState>) -> BTreeSet<(String, String)> {
        let text = format!("{router:?}");
        // The fallback router numbers its own routes: only the path router is read.
        let text = &text[..text.find("fallback_router:").expect("a fallback router")];
        let mut paths = std::collections::BTreeMap::new();
        let mut methods = std::collections::BTreeMap::new();
        for (at, _) in text.match_indices("RouteId(") {
            let rest = &text[at + "RouteId(".len()..];
            let Some((id, rest)) = rest.split_once(')') else {
                continue;
            };
            if let Some(quoted) = rest.strip_prefix(": \"") {
                let path = &quoted[..quoted.find('"').expect("a closing quote")];
                paths.insert(id.to_string(), path.to_string());
            } else if rest.starts_with(": MethodRouter(") {
                let allow = rest
                    .split_once("allow_header: Bytes(b\"")
                    .and_then(|(_, a)| a.split_once('"'))
                    .map_or("", |(a, _)| a);
                methods.insert(id.to_string(), allow.to_string());
            }
        }
        let mut out = BTreeSet::new();
        for (id, path) in paths {
            let allow = methods.get(&id).map_or("", String::as_str);
            assert!(!allow.is_empty(), "{path} routes no method");
            for m in allow.split(',').filter(|m| *m != "HEAD") {
                out.insert((m.to_string(), path.clone()));
            }
        }
        out
    }

    /// A route in the router but not in the OpenAPI document (an axum `.route` beside the
    /// `routes!`, a method added to a path), or documented but not routed, fails here; the web
    /// pages are the rest of the route table. The document lists the role matrix's API routes.
    #[test]
    fn the_router_serves_exactly_the_documented_routes_and_the_pages() {
        let doc = serde_json::to_value(openapi()).expect("the document is JSON");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("operations").keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let matrix: BTreeSet<(String, String)> = routes()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(
            documented, matrix,
            "the document and the role matrix differ"
        );
        // The pages, and the web interface's own page for an address it does not have.
        let pages: BTreeSet<(String, String)> = access::PAGES
            .iter()
            .map(|e| (e.method.to_string(), e.path.to_string()))
            .chain([("GET".to_string(), "/web/{*rest}".to_string())])
            .collect();
        let expected: BTreeSet<(String, String)> = documented.union(&pages).cloned().collect();
        let routed = routed(&route_table());
        assert!(
            routed.len() > 80,
            "only {} routes read: {routed:?}",
            routed.len()
        );
        assert!(
            routed == expected,
            "routed, not documented: {:?}; documented, not routed: {:?}",
            routed.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&routed).collect::<Vec<_>>()
        );
    }

    /// The reading above sees a route added beside the declared ones.
    #[test]
    fn an_undeclared_route_is_seen() {
        let extra = route_table().route("/v1/extra", axum::routing::delete(|| async { "" }));
        assert!(routed(&extra).contains(&("DELETE".to_string(), "/v1/extra".to_string())));
        assert!(!routed(&route_table()).contains(&("DELETE".to_string(), "/v1/extra".to_string())));
    }

    /// Why a schema (or one it uses) says nothing of its shape: `{}` or an object without
    /// properties.
    fn bare(
        doc: &serde_json::Value,
        schema: &serde_json::Value,
        at: &str,
        seen: &mut Vec<String>,
    ) -> Option<String> {
        if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
            if seen.iter().any(|s| s == r) {
                return None;
            }
            seen.push(r.to_string());
            let name = r.rsplit('/').next().unwrap_or_default();
            let target = &doc["components"]["schemas"][name];
            if target.is_null() {
                return Some(format!("{at}: {r} is not in the components"));
            }
            return bare(doc, target, &format!("{at} ({name})"), seen);
        }
        let mut shaped = false;
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(list) = schema.get(key).and_then(|l| l.as_array()) {
                shaped = true;
                for (i, s) in list.iter().enumerate() {
                    if let Some(why) = bare(doc, s, &format!("{at}.{key}[{i}]"), seen) {
                        return Some(why);
                    }
                }
            }
        }
        if let Some(items) = schema.get("items") {
            return bare(doc, items, &format!("{at}[]"), seen);
        }
        if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
            for (name, s) in props {
                if let Some(why) = bare(doc, s, &format!("{at}.{name}"), seen) {
                    return Some(why);
                }
            }
            return None;
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(serde_json::Value::String(t)) => vec![t.as_str()],
            Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).collect(),
            _ => Vec::new(),
        };
        let open = types.contains(&"object") && schema.get("additionalProperties").is_none();
        let empty = types.is_empty() && !shaped && schema.get("enum").is_none();
        (open || empty).then(|| format!("{at} is a bare object: {schema}"))
    }

    /// No body is read whole without a bound: every `to_bytes` of the server names its limit.
    #[test]
    fn every_body_read_has_a_bound() {
        let unbounded = concat!("usize", "::MAX");
        for (file, text) in [
            ("mod.rs", include_str!("mod.rs")),
            ("routes.rs", include_str!("routes.rs")),
            ("programme.rs", include_str!("programme.rs")),
            ("payments.rs", include_str!("payments.rs")),
            ("reports.rs", include_str!("reports.rs")),
            ("cosign.rs", include_str!("cosign.rs")),
            ("auth.rs", include_str!("auth.rs")),
            ("error.rs", include_str!("error.rs")),
        ] {
            assert!(!text.contains(unbounded), "{file} reads without a bound");
        }
    }

    /// Every request body is a typed schema all the way down: no body (and no part of one) is
    /// documented as a bare object.
    #[test]
    fn every_request_body_is_a_typed_schema() {
        let doc = serde_json::to_value(openapi()).expect("the document is JSON");
        let mut bodies = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("operations") {
                let Some(content) = op["requestBody"]["content"].as_object() else {
                    continue;
                };
                for (media, body) in content {
                    bodies += 1;
                    let at = format!("{} {path} ({media})", method.to_uppercase());
                    if let Some(why) = bare(&doc, &body["schema"], &at, &mut Vec::new()) {
                        panic!("{why}");
                    }
                }
            }
        }
        assert!(bodies >= 20, "only {bodies} request bodies found");
    }

    /// The check above finds a bare object where there is one.
    #[test]
    fn a_bare_object_is_found() {
        let doc = serde_json::json!({"components": {"schemas": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"type": "object"}
        }}});
        let a = serde_json::json!({"$ref": "#/components/schemas/A"});
        assert!(bare(&doc, &a, "a", &mut Vec::new()).is_some_and(|w| w.contains("a (A).b (B)")));
        let typed = serde_json::json!({"type": "object", "properties": {"x": {"type": "string"}}});
        assert_eq!(bare(&doc, &typed, "t", &mut Vec::new()), None);
    }

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
