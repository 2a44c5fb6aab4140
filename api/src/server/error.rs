//! Every error the API returns is RFC 9457 `application/problem+json` with a stable `code` and,
//! where there is one, the offending `field`. Internal errors are logged with their cause and
//! shown to the client only as "internal".

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tranche_audit::{Class, Code, Invalid};
use tranche_ledger::StoreError;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:tranche:problem:<code>`).
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable rule name (e.g. `unbalanced`, `too_many_decimals`).
    pub code: String,
    /// The offending input field, when there is one (`postings[1].amount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The position of the offending item in a batch (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub detail: String,
    pub field: Option<String>,
    pub item: Option<usize>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            item: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn code(mut self, code: Code) -> Self {
        self.code = code;
        self
    }

    pub fn bad_request(code: Code, field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail).field(field)
    }

    pub fn unauthorized(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, Code::Forbidden, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, detail)
    }

    /// Logs the cause; the client sees only that something went wrong on our side.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            "the server failed to handle the request; it has been logged",
        )
    }

    /// The status this error answers: the one its code always answers, if it has one.
    pub fn answered_status(&self) -> StatusCode {
        fixed_status(self.code).unwrap_or(self.status)
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.answered_status();
        Problem {
            type_: format!("urn:tranche:problem:{}", self.code),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            field: self.field.clone(),
            item: self.item,
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(i: Invalid) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: i.code,
            detail: i.detail,
            field: (!i.field.is_empty()).then_some(i.field),
            item: i.item,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(i) => {
                // A code with a class (asking beyond the log is a bad request, not bad
                // content) answers its class's status.
                ApiError::from(i)
            }
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::ProjectionDamaged(what) => {
                tracing::error!(%what, "projection damaged");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::ProjectionDamaged,
                    what,
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        (
            self.answered_status(),
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON body, naming the field that is wrong.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof();
        let code = if syntax {
            Code::MalformedJson
        } else if inner.to_string().contains("unknown field") {
            Code::UnknownField
        } else {
            Code::InvalidField
        };
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, code, inner.to_string());
        if !syntax {
            // The path stops at the object a missing member belongs to: name the member too.
            let parent = (path != ".").then_some(path);
            err.field = match (parent, missing_field(&inner.to_string())) {
                (Some(p), Some(m)) => Some(format!("{p}.{m}")),
                (p, m) => p.or(m),
            };
        }
        err
    })
}

/// A query string, parsed into `T`; a query that does not parse is a problem naming the
/// parameter (`invalid_query`, 400), never the framework's plain-text rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Q<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Q<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de).map(Q).map_err(|e| {
            let path = e.path().to_string();
            let mut err = ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidQuery,
                format!("the query string does not parse: {}", e.inner()),
            );
            if path != "." {
                err.field = Some(path);
            } else if let Some(field) = missing_field(&e.inner().to_string()) {
                err.field = Some(field);
            }
            err
        })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// `missing field `award`` names `award`.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// Path parameters, parsed into `T`; a segment that does not parse (a seq that is not a
/// number) is a problem naming the parameter (`invalid_path`, 400).
#[derive(Debug, Clone, Copy, Default)]
pub struct P<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for P<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(P(t)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let field = match e.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. }
                    | ErrorKind::InvalidUtf8InPathParam { key } => Some(key.clone()),
                    ErrorKind::DeserializeError { key, .. } => Some(key.clone()),
                    // A single parameter parsed as a value: its name is the route's.
                    _ => axum::extract::RawPathParams::from_request_parts(parts, state)
                        .await
                        .ok()
                        .and_then(|raw| {
                            let names: Vec<String> =
                                raw.iter().map(|(k, _)| k.to_string()).collect();
                            (names.len() == 1).then(|| names[0].clone())
                        }),
                };
                let mut err = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    Code::InvalidPath,
                    format!("the path does not parse: {}", e.body_text()),
                );
                err.field = field;
                Err(err)
            }
            Err(other) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidPath,
                other.body_text(),
            )),
        }
    }
}

/// The status every response with this code answers, on every route: a rule is one status.
/// The code's [`Class`] decides it; a code without one answers the status of the place that
/// raised it.
pub fn fixed_status(code: Code) -> Option<StatusCode> {
    code.class().map(status_of)
}

/// The HTTP status of a class of refusal.
pub fn status_of(class: Class) -> StatusCode {
    match class {
        Class::BadRequest => StatusCode::BAD_REQUEST,
        Class::Unauthorized => StatusCode::UNAUTHORIZED,
        Class::Forbidden => StatusCode::FORBIDDEN,
        Class::NotFound => StatusCode::NOT_FOUND,
        Class::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Class::Conflict => StatusCode::CONFLICT,
        Class::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Class::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Class::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A framework response that is not a problem document yet (405 with its `Allow`, 413 from a
/// body limit, 415, a rejection's plain text), made one with a stable code.
pub fn as_problem(status: StatusCode, text: &str) -> ApiError {
    let code = match status {
        StatusCode::BAD_REQUEST => Code::BadRequest,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => Code::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => Code::InvalidRequest,
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => Code::Timeout,
        s if s.is_server_error() => Code::Internal,
        _ => Code::Refused,
    };
    let detail = match text.trim() {
        "" => status.canonical_reason().unwrap_or("refused").to_string(),
        t => t.to_string(),
    };
    ApiError::new(status, code, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule answers one status whoever raises it: the ledger's `partner_scope` (an `Invalid`,
    /// 422 by default) is 403 like the handlers' own.
    #[test]
    fn a_code_answers_the_same_status_wherever_it_is_raised() {
        let from_ledger = ApiError::from(Invalid::new("partner", Code::PartnerScope, "not yours"));
        let from_handler = ApiError::forbidden("not yours").code(Code::PartnerScope);
        for e in [from_ledger, from_handler] {
            assert_eq!(e.answered_status(), StatusCode::FORBIDDEN);
            assert_eq!(e.to_problem().status, 403);
            assert_eq!(e.into_response().status(), StatusCode::FORBIDDEN);
        }
        let last = ApiError::from(Invalid::new("name", Code::LastAdmin, "the last admin"));
        assert_eq!(last.answered_status(), StatusCode::CONFLICT);
        // A code without a fixed status keeps the one it was raised with.
        let other = ApiError::from(Invalid::new("amount", Code::Unbalanced, "off by one"));
        assert_eq!(other.answered_status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn a_framework_refusal_gets_a_stable_code() {
        let e = as_problem(StatusCode::METHOD_NOT_ALLOWED, "");
        assert_eq!(
            (e.code, e.detail.as_str()),
            (Code::MethodNotAllowed, "Method Not Allowed")
        );
        let e = as_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Expected JSON");
        assert_eq!(
            (e.code, e.detail.as_str()),
            (Code::UnsupportedMediaType, "Expected JSON")
        );
        assert_eq!(
            as_problem(StatusCode::PAYLOAD_TOO_LARGE, "").code,
            Code::BodyTooLarge
        );
    }
}
