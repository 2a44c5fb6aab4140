//! Closed periods: an award's quarters, closing one once its SF-425 is submitted, reopening it
//! with a reason and a second approver. What the API routes and the finance pages both call.

use tranche_audit::period::Quarter;
use tranche_audit::programme::Id;
use tranche_audit::Code;
use tranche_ledger::service::periods::PeriodView;
use tranche_ledger::store::Outcome;

use super::{authorize, submit, Idempotency, Written};
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::AppState;

fn award_id(text: &str) -> ApiResult<Id> {
    Id::parse(text).map_err(|e| ApiError::from(e.within("award")))
}

fn quarter(text: &str) -> ApiResult<Quarter> {
    Quarter::parse(text).map_err(ApiError::from)
}

/// Every quarter of an award, with where it stands.
pub async fn list(state: &AppState, caller: &Caller, award: &str) -> ApiResult<Vec<PeriodView>> {
    authorize(caller, "GET", "/v1/awards/{award}/periods")?;
    Ok(state.ledger.periods(&award_id(award)?).await?)
}

/// Closes `quarter` of `award` with the SF-425's indirect rate (`0.10`), computed at the latest
/// checkpoint; a close that met a moving journal is computed again, under the same key.
pub async fn close(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    award: &str,
    q: &str,
    indirect_rate: Option<&str>,
) -> ApiResult<(Outcome, Written)> {
    authorize(caller, "POST", "/v1/awards/{award}/periods/{quarter}/close")?;
    let award = award_id(award)?;
    let q = quarter(q)?;
    let bp = crate::server::reports::rate_bp(indirect_rate)?;
    let mut attempts = 0;
    loop {
        let (command, _) = state.ledger.close_command(&award, q, bp).await?;
        match submit(state, caller, idem, vec![command]).await {
            Err(e) if e.code == Code::LedgerMoved && attempts < 4 => attempts += 1,
            other => return other,
        }
    }
}

/// Asks to reopen `quarter` of `award`, or approves another approver's request to.
pub async fn reopen(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    award: &str,
    q: &str,
    reason: &str,
) -> ApiResult<(Outcome, Written)> {
    authorize(
        caller,
        "POST",
        "/v1/awards/{award}/periods/{quarter}/reopen",
    )?;
    let award = award_id(award)?;
    let q = quarter(q)?;
    if reason.trim().is_empty() {
        return Err(ApiError::from(tranche_audit::Invalid::new(
            "reason",
            Code::ReasonRequired,
            "reopening a closed period must say why",
        )));
    }
    let (command, _) = state
        .ledger
        .reopen_command(&award, q, reason, &caller.actor())
        .await?;
    submit(state, caller, idem, vec![command]).await
}
