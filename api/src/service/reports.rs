//! Reports bound to a signed checkpoint: computed from the journal at the latest checkpoint and
//! signed by the ledger. Donors read the SF-425 figures, budget vs actual and the disaggregated
//! results only.

use tranche_audit::programme::Id;
use tranche_audit::report::SignedReport;
use tranche_audit::report_compute::ReportRequest;
use tranche_ledger::service::reports::Due;

use super::authorize;
use crate::server::auth::{Caller, Role, DONOR_READ, LEDGER_READ};
use crate::server::error::{ApiError, ApiResult};
use crate::server::reports::{period, rate_bp, ReportQuery, DEFAULT_THRESHOLD};
use crate::server::AppState;

/// The reports a donor may read besides every ledger reader.
pub const DONOR_KINDS: &[&str] = &["sf425", "budget", "disaggregation"];

/// One report of `kind`, signed.
pub async fn report(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    q: &ReportQuery,
) -> ApiResult<SignedReport> {
    authorize(caller, "GET", "/v1/reports/{kind}")?;
    // Beyond the matrix's line: donors only the aggregate reports.
    caller.require(if DONOR_KINDS.contains(&kind) {
        DONOR_READ
    } else {
        LEDGER_READ
    })?;
    let award = Id::parse(&q.award).map_err(|e| ApiError::from(e.within("award")))?;
    let period = period(q.quarter.as_deref(), q.start.as_deref(), q.end.as_deref())?;
    let req = ReportRequest {
        kind: kind.to_string(),
        award,
        period,
        batch: q
            .batch
            .as_deref()
            .map(|b| Id::parse(b).map_err(|e| ApiError::from(e.within("batch"))))
            .transpose()?,
        participant: q
            .participant
            .as_deref()
            .map(|p| Id::parse(p).map_err(|e| ApiError::from(e.within("participant"))))
            .transpose()?,
        indirect_bp: rate_bp(q.indirect_rate.as_deref())?,
        // A donor may raise the suppression threshold, never lower it below the default.
        threshold: q
            .threshold
            .unwrap_or(DEFAULT_THRESHOLD)
            .max(if caller.role == Role::Donor {
                DEFAULT_THRESHOLD
            } else {
                1
            }),
    };
    Ok(state.ledger.report(req, chrono::Utc::now()).await?)
}

/// The award's quarterly SF-425 reports and when each is due, as of a day (YYYY-MM-DD, UTC;
/// today when absent).
pub async fn due(
    state: &AppState,
    caller: &Caller,
    award: &str,
    as_of: Option<&str>,
) -> ApiResult<(Id, chrono::NaiveDate, Vec<Due>)> {
    authorize(caller, "GET", "/v1/reports-due")?;
    let award = Id::parse(award).map_err(|e| ApiError::from(e.within("award")))?;
    let as_of = match as_of {
        Some(t) => crate::server::reports::as_of(t)?,
        None => chrono::Utc::now().date_naive(),
    };
    let list = state.ledger.reports_due(&award, as_of).await?;
    Ok((award, as_of, list))
}
