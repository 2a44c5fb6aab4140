//! The services the HTTP API and the web pages both call. A JSON handler and a page are two thin
//! adapters: each reads its input (a JSON body, a form), calls one function here, and renders
//! the typed result (JSON, HTML). Neither calls the other.
//!
//! A service owns what needs the server's state beyond the ledger: the role matrix (every
//! service checks its caller against its API route's line of [`crate::server::access`]), the
//! group-commit writer and the Idempotency-Key of a write. Rules that decide amounts stay in the
//! ledger; a service only asks it.

/// The journal as auditors read it: checkpoints, records, receipts, the export.
pub mod audit;
/// Payment batches, bank files out and in, payments and their trace.
pub mod payments;
/// Closed periods: an award's quarters, closing and reopening them.
pub mod periods;
/// Awards, partners, cohorts, participants, evidence and cycles.
pub mod programme;
/// Reports bound to a signed checkpoint.
pub mod reports;

use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use tranche_audit::Code;
use tranche_ledger::domain::Command;
use tranche_ledger::store::{GroupOutcome, GroupRequest, IdempotencyKey, Outcome};

use crate::server::access::{self, Access};
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::writer::SubmitError;
use crate::server::AppState;

/// May `caller` call `method route` (a route as the role matrix lists it)? 403 when the matrix
/// does not give the caller's role that route. A service asks this first, so a page that calls
/// it is held to the same line as the API route.
pub fn authorize(caller: &Caller, method: &str, route: &str) -> ApiResult<()> {
    match access::api_entry(method, route).map(|e| e.access) {
        Some(Access::Public) => Ok(()),
        Some(Access::Roles(rule)) => caller.require(rule),
        // A service naming a route the matrix does not list is a bug here, never the caller's.
        None => Err(ApiError::internal(&format!(
            "{method} {route} is not in the role matrix"
        ))),
    }
}

/// Whether the role matrix lets `caller` call `method route` (to show only the actions a user
/// may take).
pub fn allowed(caller: &Caller, method: &str, route: &str) -> bool {
    authorize(caller, method, route).is_ok()
}

/// What makes a write safe to retry: the caller's key, and the identity of the request it came
/// with (a key reused for another request is refused, never acted on).
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: [u8; 32],
}

impl Idempotency {
    /// An API write: its Idempotency-Key header and the identity of the request as it arrived.
    pub fn of_request(headers: &HeaderMap, path: &str, body: &[u8]) -> ApiResult<Self> {
        Ok(Idempotency {
            key: crate::server::routes::idempotency_key(headers)?,
            request_hash: crate::server::routes::identity(headers, path, body),
        })
    }

    /// A web form's write: the form's own key (one per rendered form, so a double click or a
    /// reload acts once) and the identity of the typed request it makes, as if it were sent to
    /// `path` as JSON.
    pub fn of_form(key: &str, path: &str, request: &impl Serialize) -> Self {
        let body = serde_json::to_vec(request).unwrap_or_default();
        Idempotency {
            key: format!("web-{key}"),
            request_hash: crate::server::routes::request_hash(path, &body),
        }
    }

    fn conflict() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was already used with a different request",
        )
        .field("Idempotency-Key")
    }

    /// The stored answer of an earlier identical request, if this is a retry (and 409 when the
    /// key was used for another request).
    pub async fn earlier(&self, state: &AppState, caller: &Caller) -> ApiResult<Option<String>> {
        match state
            .ledger
            .store()
            .idempotent_get(&caller.name, &self.key)
            .await?
        {
            None => Ok(None),
            Some((stored, _)) if stored.as_slice() != self.request_hash.as_slice() => {
                Err(Self::conflict())
            }
            Some((_, outcome)) => Ok(Some(outcome)),
        }
    }
}

/// Whether a write acted now or answers an earlier identical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Now,
    Replayed,
}

impl Written {
    pub fn replayed(self) -> bool {
        self == Written::Replayed
    }
}

/// Appends commands through the group-commit writer, with the key in the same database
/// transaction: a retried or crashed request never acts twice.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    commands: Vec<Command>,
) -> ApiResult<(Outcome, Written)> {
    let request = GroupRequest {
        actor: caller.actor(),
        commands,
        idempotency: Some(IdempotencyKey {
            user: caller.name.clone(),
            key: idem.key.clone(),
            request_hash: idem.request_hash,
        }),
    };
    match state.writer.submit(request).await {
        Ok(GroupOutcome::Appended(o)) => Ok((o, Written::Now)),
        Ok(GroupOutcome::Replayed(o)) => Ok((o, Written::Replayed)),
        Ok(GroupOutcome::Refused(inv)) => Err(inv.into()),
        Ok(GroupOutcome::KeyReused) => Err(Idempotency::conflict()),
        Err(SubmitError::Busy) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Busy,
            "the write queue is full: retry with the same Idempotency-Key",
        )),
        Err(SubmitError::Failed(e)) => Err(ApiError::internal(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route a service authorizes by is a line of the role matrix: a service never
    /// carries a rule of its own.
    #[test]
    fn every_service_checks_a_line_of_the_matrix() {
        let sources = [
            include_str!("payments.rs"),
            include_str!("programme.rs"),
            include_str!("periods.rs"),
            include_str!("audit.rs"),
            include_str!("reports.rs"),
        ];
        let mut seen = 0;
        for src in sources {
            for call in src.split("authorize(caller, ").skip(1) {
                // Only calls that name both literally: `authorize(caller, "POST", "/v1/…")`.
                let Some(rest) = call.strip_prefix('"') else {
                    continue;
                };
                let Some((method, rest)) = rest.split_once('"') else {
                    continue;
                };
                let Some(rest) = rest.strip_prefix(", \"") else {
                    continue;
                };
                let Some((route, _)) = rest.split_once('"') else {
                    continue;
                };
                assert!(
                    access::api_entry(method, route).is_some(),
                    "{method} {route} is not in the role matrix"
                );
                seen += 1;
            }
        }
        assert!(seen >= 20, "only {seen} checks found");
    }

    #[test]
    fn a_form_and_the_same_json_body_are_the_same_request() {
        let body = br#"{"digest": "abc"}"#;
        let form = Idempotency::of_form(
            "k",
            "/v1/batches/B1/approve",
            &serde_json::json!({"digest": "abc"}),
        );
        assert_eq!(
            form.request_hash,
            crate::server::routes::request_hash("/v1/batches/B1/approve", body)
        );
        assert_eq!(form.key, "web-k");
    }
}
