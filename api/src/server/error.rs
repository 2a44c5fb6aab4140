//! Every error the API returns is RFC 9457 `application/problem+json` with a stable `code` and,
//! where there is one, the offending `field`. Internal errors are logged with their cause and
//! shown to the client only as "internal".

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tranche_audit::Invalid;
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
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub item: Option<usize>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
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

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn bad_request(code: &'static str, field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail).field(field)
    }

    pub fn unauthorized(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// Logs the cause; the client sees only that something went wrong on our side.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request; it has been logged",
        )
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            type_: format!("urn:tranche:problem:{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
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
                let mut err = ApiError::from(i);
                // Asking for something beyond the log is a bad request, not bad content.
                if matches!(err.code, "beyond_tree_size" | "invalid_proof_request") {
                    err.status = StatusCode::BAD_REQUEST;
                }
                err
            }
            StoreError::NotFound(what) => ApiError::not_found(what),
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        (
            self.status,
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
            "malformed_json"
        } else if inner.to_string().contains("unknown field") {
            "unknown_field"
        } else {
            "invalid_field"
        };
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, code, inner.to_string());
        if !syntax && path != "." {
            err.field = Some(path);
        }
        err
    })
}
