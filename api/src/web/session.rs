//! Signing in and out, sessions and CSRF.
//!
//! A user signs in once with their API token; the server then sets a session cookie (256
//! random bits, HttpOnly, SameSite=Strict, Secure when the request came over TLS) and stores only
//! its SHA-256 with the user and a CSRF token. Every form carries that CSRF token and every POST
//! is refused without it, or when its Origin is another site. Sessions end on sign-out, when the
//! user's token is revoked, and eight hours after sign-in.

use std::collections::BTreeMap;
use tranche_audit::Code;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};
use tranche_ledger::store::SessionRow;

use crate::server::auth::{caller_from, token_hash, Caller};
use crate::server::error::ApiError;
use crate::server::AppState;

use maud::{html, Markup};

use super::html::{layout, FormState};

pub const COOKIE: &str = "tranche_session";
/// The cookie that carries the sign-in form's CSRF token before there is a session.
const LOGIN_COOKIE: &str = "tranche_login";
/// How long a session lasts after sign-in.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// The largest form or upload the web interface accepts (a bank statement may be large).
pub const MAX_FORM_BYTES: usize = tranche_ledger::iso20022::MAX_FILE_BYTES;

/// A signed-in user of the web interface.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub caller: Caller,
    pub csrf: String,
    pub session_hash: [u8; 32],
}

impl WebUser {
    /// The hidden CSRF field every form of this session carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// The hidden fields of a form that writes: the CSRF token, and a fresh idempotency key so
    /// that a form posted twice (a double click, a reload) acts once.
    pub fn form_fields(&self) -> Markup {
        html! {
            (self.csrf_field())
            input type="hidden" name="idem" value=(random_text());
        }
    }

    /// Whether the role matrix lets this user `method route`: a page or form (`/web/…`) or an
    /// API route (`/v1/…`), as the matrix lists it. Pages use it to show only what the user may
    /// open or do; the route itself is held to the same line when it is called.
    pub fn may(&self, method: &str, route: &str) -> bool {
        crate::server::access::of(method, route)
            .is_some_and(|e| e.access.allows(Some(self.caller.role)))
    }
}

fn random_text() -> String {
    let mut bytes = [0u8; 32];
    // getrandom fails only when the OS has no entropy source; such a machine cannot sign in.
    if getrandom::getrandom(&mut bytes).is_err() {
        tracing::error!("no entropy for a web token");
    }
    B64URL.encode(bytes)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether the request reached us over TLS (directly or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Compares two secrets in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where an unauthenticated request is sent.
fn to_login(parts: &Parts) -> Response {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let target = if parts.method == axum::http::Method::GET && next.starts_with("/web/") {
        format!("/web/login?next={}", super::html::enc(&next))
    } else {
        "/web/login".to_string()
    };
    Redirect::to(&target).into_response()
}

async fn session_user(state: &AppState, headers: &HeaderMap) -> Result<Option<WebUser>, ApiError> {
    let Some(id) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    if id.is_empty() || id.len() > 100 {
        return Ok(None);
    }
    let hash: [u8; 32] = Sha256::digest(id.as_bytes()).into();
    let Some((session, user)) = state.ledger.store().session(&hash).await? else {
        return Ok(None);
    };
    if session.ended_at.is_some() || session.expires_at <= now_secs() {
        return Ok(None);
    }
    Ok(caller_from(user).map(|caller| WebUser {
        caller,
        csrf: session.csrf,
        session_hash: hash,
    }))
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_user(state, &parts.headers).await {
            Ok(Some(u)) => {
                // The role matrix, for every page at once: the one place a page is refused.
                // A HEAD is the GET without its body, and held to the GET's line.
                let method = match parts.method.as_str() {
                    "HEAD" => "GET",
                    m => m,
                };
                let entry = parts
                    .extensions
                    .get::<axum::extract::MatchedPath>()
                    .and_then(|p| crate::server::access::of(method, p.as_str()));
                if entry.is_some_and(|e| !e.access.allows(Some(u.caller.role))) {
                    return Err(super::html::error_page(
                        Some(&u),
                        &ApiError::forbidden(format!(
                            "the {} role may not open this page; nothing was read or written",
                            u.caller.role.as_str()
                        )),
                    ));
                }
                Ok(u)
            }
            Ok(None) => Err(to_login(parts)),
            Err(e) => Err(super::html::error_page(None, &e)),
        }
    }
}

/// The fields of a posted form: text fields, and uploaded files by field name.
#[derive(Debug, Default)]
pub struct Fields {
    pub text: BTreeMap<String, String>,
    pub files: BTreeMap<String, (String, Vec<u8>)>,
}

impl Fields {
    pub fn get(&self, k: &str) -> &str {
        self.text.get(k).map(String::as_str).unwrap_or("")
    }

    /// A field, trimmed, or None when empty.
    pub fn opt(&self, k: &str) -> Option<String> {
        let v = self.get(k).trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    pub fn checked(&self, k: &str) -> bool {
        matches!(self.get(k), "on" | "true" | "1")
    }

    /// The values to show again in the form (never the CSRF token or idempotency key).
    pub fn values(&self) -> BTreeMap<String, String> {
        self.text
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "csrf" | "idem"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Headers for calling an API handler on the user's behalf: the form's idempotency key
    /// (scoped per user by the API, as every key is) and a JSON content type.
    pub fn api_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let key = format!("web-{}", self.get("idem"));
        if let Ok(v) = HeaderValue::from_str(&key) {
            h.insert("idempotency-key", v);
        }
        h
    }
}

/// The forms that take a file; every other form is small and refused as an upload.
const UPLOADS: &[&str] = &[
    "/web/finance/bank",
    "/web/partner/evidence",
    "/web/partner/evidence/sign",
];

/// A form posted by a signed-in user, with its CSRF token checked and its Origin, when the
/// browser sends one, this site. Every web POST goes through this, so none can skip the check.
#[derive(Debug)]
pub struct Posted {
    pub user: WebUser,
    pub fields: Fields,
}

fn forbidden_page(user: Option<&WebUser>, detail: &str) -> Response {
    super::html::error_page(
        user,
        &ApiError::new(StatusCode::FORBIDDEN, Code::Csrf, detail.to_string()),
    )
}

/// The Origin check: a cross-site POST is refused even before its token is looked at.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
}

/// Reads a `multipart/form-data` body (RFC 7578, as browsers send uploads) with `multer`: a
/// part with a file name is a file, any other part a text field, which must be UTF-8. The body
/// is already in memory, read within the route's limit, so the parts are bounded by it.
async fn read_multipart(content_type: &str, body: Bytes) -> Result<Fields, String> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| "the upload has no multipart boundary".to_string())?;
    let unreadable = |e: multer::Error| format!("the upload could not be read: {e}");
    let body = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut parts = multer::Multipart::new(body, boundary);
    let mut fields = Fields::default();
    while let Some(part) = parts.next_field().await.map_err(unreadable)? {
        let name = part
            .name()
            .ok_or("a part of the upload has no name")?
            .to_string();
        let file_name = part.file_name().map(str::to_string);
        let content = part.bytes().await.map_err(unreadable)?.to_vec();
        match file_name {
            Some(file_name) => {
                fields.files.insert(name, (file_name, content));
            }
            None => {
                let text = String::from_utf8(content)
                    .map_err(|_| format!("the field {name} is not UTF-8 text"))?;
                fields.text.insert(name, text);
            }
        }
    }
    Ok(fields)
}

async fn read_fields(headers: &HeaderMap, body: Bytes) -> Result<Fields, String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("multipart/form-data") {
        read_multipart(ct, body).await
    } else {
        let text: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| format!("the form could not be read: {e}"))?;
        Ok(Fields {
            text: text.into_iter().collect(),
            files: BTreeMap::new(),
        })
    }
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts.headers) {
            return Err(forbidden_page(
                Some(&user),
                "this form was posted from another site; nothing was written",
            ));
        }
        // Uploads (multipart) are taken only where a file is expected, from the roles that may
        // upload it, and may be as large as a bank statement; every other form is small.
        let multipart = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/form-data"));
        let limit = if multipart {
            // Who may post to the page is the matrix's line for it, already applied above.
            let upload = UPLOADS.contains(&parts.uri.path());
            if !upload {
                return Err(super::html::error_page(
                    Some(&user),
                    &ApiError::forbidden(format!(
                        "the {} role may not upload a file here; nothing was written",
                        user.caller.role.as_str()
                    )),
                ));
            }
            MAX_FORM_BYTES
        } else {
            crate::server::MAX_BODY_BYTES
        };
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            super::html::error_page(
                Some(&user),
                &ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Code::TooLarge,
                    format!("the form is larger than {limit} bytes; nothing was written"),
                ),
            )
        })?;
        let fields = read_fields(&parts.headers, bytes).await.map_err(|e| {
            super::html::error_page(
                Some(&user),
                &ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidForm, e),
            )
        })?;
        if !same(fields.get("csrf"), &user.csrf) {
            return Err(forbidden_page(
                Some(&user),
                "this form carries no valid CSRF token (it may be from an earlier session); \
                 nothing was written: reload the page and try again",
            ));
        }
        let idem = fields.get("idem");
        if parts.uri.path() != "/web/logout"
            && (idem.len() < 16 || idem.len() > 100 || !idem.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(super::html::error_page(
                Some(&user),
                &ApiError::new(
                    StatusCode::BAD_REQUEST,
                    Code::InvalidForm,
                    "this form carries no valid idempotency key (idem); nothing was written: \
                     reload the page and try again",
                )
                .field("idem"),
            ));
        }
        Ok(Posted { user, fields })
    }
}

// ---------- sign in, sign out ----------

fn login_page(
    headers: &HeaderMap,
    next: &str,
    form: &FormState<'_>,
    status: StatusCode,
) -> Response {
    let token = random_text();
    let body = html! {
        p {
            "Sign in with the API token your administrator gave you (it starts with " code { "tr_" }
            "). It is checked once; the browser then keeps a session cookie for up to "
            (SESSION_SECONDS / 3600) " hours."
        }
        form.card method="post" action="/web/login" {
            (form.general_error(&["token"]))
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="next" value=(next);
            (form.input("token", "API token", "password", &["token"], ""))
            button type="submit" { "Sign in" }
        }
    };
    let mut r = (status, layout("Sign in", None, body)).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, LOGIN_COOKIE, &token, 3600),
    );
    r
}

#[derive(Debug, serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /web/login`
pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
) -> Response {
    if let Ok(Some(_)) = session_user(&state, &headers).await {
        return Redirect::to(
            q.next
                .as_deref()
                .filter(|n| safe_next(n))
                .unwrap_or("/web/"),
        )
        .into_response();
    }
    login_page(
        &headers,
        q.next.as_deref().unwrap_or(""),
        &FormState::default(),
        StatusCode::OK,
    )
}

/// Only a path of this site's web interface, never another site.
fn safe_next(n: &str) -> bool {
    n.starts_with("/web/")
        && !n.starts_with("//")
        && !n.contains("://")
        && n.len() <= 2000
        && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

/// `POST /web/login`: checks the token and starts a session.
pub async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match read_fields(&headers, body).await {
        Ok(f) => f,
        Err(e) => {
            let err = ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidForm, e);
            return login_page(
                &headers,
                "",
                &FormState::new(BTreeMap::new(), Some(&err)),
                err.status,
            );
        }
    };
    let next = fields.get("next").to_string();
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !same_origin(&headers) || expected.is_empty() || !same(fields.get("csrf"), &expected) {
        let err = ApiError::new(
            StatusCode::FORBIDDEN,
            Code::Csrf,
            "the sign-in form had expired or came from another site: try again",
        );
        return login_page(
            &headers,
            &next,
            &FormState::new(BTreeMap::new(), Some(&err)),
            err.status,
        );
    }
    let token = fields.get("token").trim().to_string();
    let user = if token.is_empty() || token.len() > 200 {
        None
    } else {
        match state
            .ledger
            .store()
            .user_by_token(&token_hash(&token))
            .await
        {
            Ok(u) => u.and_then(caller_from),
            Err(e) => return super::html::error_page(None, &ApiError::from(e)),
        }
    };
    let Some(caller) = user else {
        let err = ApiError::new(
            StatusCode::UNAUTHORIZED,
            Code::Unauthorized,
            "unknown or revoked token",
        )
        .field("token");
        return login_page(
            &headers,
            &next,
            &FormState::new(BTreeMap::new(), Some(&err)),
            err.status,
        );
    };
    let id = random_text();
    let hash: [u8; 32] = Sha256::digest(id.as_bytes()).into();
    let row = SessionRow {
        user: caller.name.clone(),
        csrf: random_text(),
        created_at: tranche_audit::record::format_time(chrono::Utc::now()),
        expires_at: now_secs() + SESSION_SECONDS,
        ended_at: None,
    };
    if let Err(e) = state.ledger.store().create_session(&row, &hash).await {
        return super::html::error_page(None, &ApiError::from(e));
    }
    tracing::info!(user = %caller.name, role = caller.role.as_str(), "web sign-in");
    let target = if safe_next(&next) {
        next.as_str()
    } else {
        "/web/"
    };
    let mut r = Redirect::to(target).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, COOKIE, &id, SESSION_SECONDS),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, "", 0),
    );
    r
}

/// `POST /web/logout`: ends the session (CSRF-checked like every form).
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, posted: Posted) -> Response {
    let at = tranche_audit::record::format_time(chrono::Utc::now());
    if let Err(e) = state
        .ledger
        .store()
        .end_session(&posted.user.session_hash, &at)
        .await
    {
        return super::html::error_page(Some(&posted.user), &ApiError::from(e));
    }
    let mut r = Redirect::to("/web/login").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&headers, COOKIE, "", 0));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content_type: &'static str, body: &'static [u8]) -> Result<Fields, String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(read_fields(&headers, Bytes::from_static(body)))
    }

    const XYZ: &str = "multipart/form-data; boundary=XyZ";
    const UPLOAD: &[u8] =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n\
type,participant\r\nline\r\n--XyZ--\r\n";

    #[test]
    fn uploads_are_read_into_fields_and_files() {
        let f = read(XYZ, UPLOAD).expect("parses");
        assert_eq!(f.get("csrf"), "abc");
        let (name, bytes) = &f.files["file"];
        assert_eq!(name, "a.csv");
        assert_eq!(bytes.as_slice(), b"type,participant\r\nline");
    }

    #[test]
    fn malformed_uploads_are_refused() {
        let e = read("multipart/form-data", UPLOAD).expect_err("no boundary");
        assert_eq!(e, "the upload has no multipart boundary");
        read(
            XYZ,
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
        )
        .expect_err("no closing boundary");
        read("multipart/form-data; boundary=Q", UPLOAD).expect_err("another boundary");
        let e = read(
            XYZ,
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\r\n--XyZ--\r\n",
        )
        .expect_err("not UTF-8");
        assert_eq!(e, "the field a is not UTF-8 text");
    }
}
