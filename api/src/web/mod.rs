//! The web interface for finance staff, partners, auditors and donors, served by `tranche serve`
//! under `/web/`: server-rendered HTML that works without JavaScript, every asset in the binary.
//!
//! A page is a thin adapter, like an API handler: it reads its query or form, calls the same
//! typed service function as the API route (`crate::service`, or a `Ledger` method for a plain
//! read) on the signed-in user's behalf, and renders the typed result with a compile-time
//! checked template (`maud`), which escapes every value. So the API and the pages share the
//! role matrix, the rules, the idempotency and the errors (field and rule), shown next to the
//! field they name. Who may open each page is the role matrix's line for it
//! (`crate::server::access::PAGES`), applied by the [`session::WebUser`] extractor before the
//! page runs.

mod audit;
mod donor;
mod finance;
pub mod html;
mod partner;
pub mod session;

use crate::server::auth::Role;
use crate::server::error::ApiError;
use crate::server::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tranche_audit::Code;

use html::Query;
use session::WebUser;

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
            "/web/finance/awards/{award}/periods/{quarter}/{action}",
            post(finance::period_action),
        )
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
