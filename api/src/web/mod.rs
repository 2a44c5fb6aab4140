//! The web interface for finance staff, partners, auditors and donors, served by `tranche serve`
//! under `/web/`: server-rendered HTML that works without JavaScript, every asset in the binary.
//!
//! Every read and every write goes through the same handlers as the HTTP API, called on the
//! signed-in user's behalf: the same role rules, the same checks, the same idempotency, and the
//! same errors (field and rule), shown next to the field they name.

mod audit;
mod donor;
mod finance;
pub mod html;
mod partner;
pub mod session;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tranche_audit::Code;

use crate::server::auth::Role;
use crate::server::error::{ApiError, ApiResult};
use crate::server::AppState;

use html::Query;
use session::WebUser;

/// Finance staff: preparers, approvers and administrators.
pub const FINANCE: &[Role] = crate::server::auth::FINANCE_STAFF.0;

/// The refusal of a page to a role that may not open it (403, nothing read), if it may not.
pub fn refuse(user: &WebUser, roles: &[Role]) -> Option<Response> {
    if user.is(roles) {
        None
    } else {
        Some(html::error_page(
            Some(user),
            &ApiError::forbidden(format!(
                "the {} role may not open this page",
                user.caller.role.as_str()
            )),
        ))
    }
}

/// The largest answer of an API handler a page reads back (32 MiB). The handlers are our own,
/// so this guards memory, not against a client: a page holds the answer, then its parsed JSON
/// (several times larger), then its HTML. The largest answer a page reads is a batch dry run
/// listing every payment, about 130 bytes a payment: some 13 MiB for 100,000 payments, the
/// largest batch the ledger is built for. Anything larger is refused (`answer_too_large`) and is
/// better read through the API or its CSV downloads.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// The body of an API handler's answer, read up to [`MAX_ANSWER_BYTES`].
pub async fn answer_bytes(resp: Response) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt as _;
    let mut body = resp.into_body().into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::internal(&e))?;
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::AnswerTooLarge,
                format!(
                    "the answer is larger than {} MiB, more than a page shows: read it through \
                     the API or its CSV download instead",
                    MAX_ANSWER_BYTES / (1024 * 1024)
                ),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The JSON an API handler answered with, or its error.
pub async fn json_of(r: ApiResult<Response>) -> Result<Value, ApiError> {
    let resp = r?;
    let status = resp.status();
    let bytes = answer_bytes(resp).await?;
    if !status.is_success() {
        return Err(ApiError::new(status, Code::Internal, "the request failed"));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(&e))
}

/// A typed API answer as JSON.
pub fn value_of<T: serde::Serialize>(r: ApiResult<axum::Json<T>>) -> Result<Value, ApiError> {
    let axum::Json(t) = r?;
    serde_json::to_value(t).map_err(|e| ApiError::internal(&e))
}

/// Headers for a JSON body to an API handler that needs no Idempotency-Key (a dry run).
pub fn json_headers() -> axum::http::HeaderMap {
    let mut h = axum::http::HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    h
}

/// A string field of a JSON value ("" when absent).
pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A number field of a JSON value (0 when absent).
pub fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// An array field of a JSON value (empty when absent).
pub fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

async fn home(user: WebUser) -> Redirect {
    Redirect::to(match user.caller.role {
        Role::Admin | Role::Preparer | Role::Approver => "/web/finance",
        Role::Partner => "/web/partner",
        Role::Auditor => "/web/audit",
        Role::Donor => "/web/donor",
    })
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        html::CSS,
    )
        .into_response()
}

/// The one script: signs evidence statements in the browser with the partner's key file.
async fn sign_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("sign.js"),
    )
        .into_response()
}

async fn not_found(user: Option<WebUser>) -> Response {
    html::error_page(
        user.as_ref(),
        &ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "there is no such page",
        ),
    )
}

impl axum::extract::OptionalFromRequestParts<AppState> for WebUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        use axum::extract::FromRequestParts;
        Ok(
            <WebUser as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// Headers every web response carries: no framing, no sniffing, no script or style but this
/// server's own, forms only to this server.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    r
}

/// Every page of the web interface.
pub fn router() -> Router<AppState> {
    let big = DefaultBodyLimit::max(session::MAX_FORM_BYTES);
    Router::new()
        .route("/", get(|| async { Redirect::to("/web/") }))
        .route("/web", get(|| async { Redirect::to("/web/") }))
        .route("/web/", get(home))
        .route("/web/assets/app.css", get(css))
        .route("/web/assets/sign.js", get(sign_js))
        .route("/web/login", get(session::login_form).post(session::login))
        .route("/web/logout", post(session::logout))
        .route("/web/finance", get(finance::awards))
        .route("/web/finance/awards/{award}", get(finance::dashboard))
        .route(
            "/web/finance/cycles",
            get(finance::cycles).post(finance::run_cycle),
        )
        .route(
            "/web/finance/batches",
            get(finance::batches).post(finance::create_batch),
        )
        .route("/web/finance/batches/{batch}", get(finance::batch))
        .route(
            "/web/finance/batches/{batch}/{action}",
            post(finance::batch_action),
        )
        .route(
            "/web/finance/batches/{batch}/files/{format}",
            get(finance::download_file),
        )
        .route(
            "/web/finance/bank",
            get(finance::bank).post(finance::upload_bank).layer(big),
        )
        .route("/web/finance/bank/{sha}", get(finance::bank_import))
        .route(
            "/web/finance/participants/{participant}",
            get(finance::participant),
        )
        .route("/web/reports", get(donor::reports))
        .route("/web/reports/{kind}", get(donor::report))
        .route("/web/donor", get(donor::donor_home))
        .route("/web/partner", get(partner::home))
        .route(
            "/web/partner/evidence",
            get(partner::evidence).post(partner::upload).layer(big),
        )
        .route("/web/partner/evidence/sign", post(partner::submit_signed))
        .route("/web/partner/keys", get(partner::keys))
        .route("/web/audit", get(audit::checkpoint))
        .route("/web/audit/records", get(audit::records))
        .route("/web/audit/records/{seq}", get(audit::record))
        .route("/web/audit/receipts/{seq}", get(audit::receipt))
        .route("/web/audit/export", get(audit::export))
        .route("/web/audit/checkpoint", get(audit::checkpoint_file))
        .route("/web/audit/trace", get(audit::trace))
        .route("/web/audit/verify", get(audit::verify_help))
        .route("/web/audit/vkey", get(audit::vkey))
        .route("/web/{*rest}", get(not_found))
        .layer(axum::middleware::map_response(security_headers))
}

/// The query of a page as a map.
pub type PageQuery = axum::extract::Query<std::collections::BTreeMap<String, String>>;

pub fn query(q: PageQuery) -> Query {
    Query(q.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use futures_util::StreamExt as _;

    #[tokio::test]
    async fn an_answer_within_the_bound_is_read_whole() {
        // Valid JSON: white space, then an object, exactly at the bound.
        let mut body = vec![b' '; MAX_ANSWER_BYTES - 2];
        body.extend_from_slice(b"{}");
        let v = json_of(Ok((StatusCode::OK, body).into_response()))
            .await
            .expect("read");
        assert_eq!(v, serde_json::json!({}));
    }

    #[tokio::test]
    async fn an_answer_over_the_bound_is_refused() {
        let mut body = vec![b' '; MAX_ANSWER_BYTES - 1];
        body.extend_from_slice(b"{}");
        let err = json_of(Ok((StatusCode::OK, body).into_response()))
            .await
            .expect_err("too large");
        assert_eq!(err.code, Code::AnswerTooLarge);
        assert!(err.detail.contains("32 MiB"), "{}", err.detail);
    }

    #[tokio::test]
    async fn a_streamed_answer_is_cut_off_at_the_bound_not_read_to_its_end() {
        const CHUNK_BYTES: usize = 1024 * 1024;
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = pulled.clone();
        // Twice the bound, one MiB at a time, counting what the reader pulls.
        let stream =
            futures_util::stream::iter(0..2 * MAX_ANSWER_BYTES / CHUNK_BYTES).map(move |_| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, std::io::Error>(Bytes::from(vec![b' '; CHUNK_BYTES]))
            });
        let resp = Response::new(Body::from_stream(stream));
        let err = answer_bytes(resp).await.expect_err("too large");
        assert_eq!(err.code, Code::AnswerTooLarge);
        let pulled = pulled.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(pulled, MAX_ANSWER_BYTES / CHUNK_BYTES + 1);
    }
}
