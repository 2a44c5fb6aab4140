//! The report routes: every report is computed from the journal at the latest checkpoint and
//! signed by the ledger (JSON, the canonical form), or rendered as CSV or a self-contained HTML
//! page. Donors read the SF-425 figures and budget vs actual only.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tranche_audit::programme::Date;
use tranche_audit::report::ReportPeriod;
use tranche_audit::Code;
use utoipa::IntoParams;

use super::auth::{Caller, DONOR_READ};
use super::error::{ApiError, ApiResult, Problem, Q};
use super::AppState;

/// Counts under this are suppressed in disaggregated results unless the caller asks for more.
pub const DEFAULT_THRESHOLD: u64 = 5;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    pub award: String,
    /// First day (YYYY-MM-DD); with `end`, or use `quarter`.
    pub start: Option<String>,
    pub end: Option<String>,
    /// A calendar quarter such as 2026Q1.
    pub quarter: Option<String>,
    /// For `payments`: one batch instead of the period.
    pub batch: Option<String>,
    /// For `participant`: the pseudonym.
    pub participant: Option<String>,
    /// For `sf425`: the indirect cost rate, e.g. 0.10.
    pub indirect_rate: Option<String>,
    /// For `disaggregation`: counts under this are suppressed (default 5).
    pub threshold: Option<u64>,
    /// json (default, signed), csv or html.
    pub format: Option<String>,
}

/// The period of a request: a quarter, or start and end.
pub fn period(
    quarter: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<ReportPeriod, tranche_audit::Invalid> {
    if let Some(q) = quarter {
        return tranche_ledger::service::reports::quarter(q);
    }
    let (Some(s), Some(e)) = (start, end) else {
        return Err(tranche_audit::Invalid::new(
            "period",
            Code::PeriodRequired,
            "give start and end (YYYY-MM-DD) or a quarter (2026Q1)",
        ));
    };
    Ok(ReportPeriod {
        start: Date::parse(s).map_err(|e| e.within("start"))?,
        end: Date::parse(e).map_err(|e| e.within("end"))?,
    })
}

/// `0.10` → 1000 basis points.
pub fn rate_bp(text: Option<&str>) -> Result<u32, tranche_audit::Invalid> {
    let Some(t) = text else { return Ok(0) };
    let bad = || {
        tranche_audit::Invalid::new(
            "indirect_rate",
            Code::InvalidRate,
            "a rate between 0 and 1 with at most 4 decimals, e.g. 0.10",
        )
    };
    let d: rust_decimal::Decimal = t.parse().map_err(|_| bad())?;
    if d < rust_decimal::Decimal::ZERO || d > rust_decimal::Decimal::ONE || d.scale() > 4 {
        return Err(bad());
    }
    u32::try_from((d * rust_decimal::Decimal::from(10_000)).trunc().mantissa()).map_err(|_| bad())
}

#[utoipa::path(get, path = "/v1/reports/{kind}", tag = "reports",
    params(("kind" = String, Path, description = "sf425, budget, payments, bank, participant or disaggregation"), ReportQuery),
    responses((status = 200, description = "The signed report (JSON), or its CSV or HTML rendering"),
              (status = "4XX", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "`projection_damaged`: the postings an SF-425 or budget report reads disagree with the digests kept with the checkpoints (edited outside the ledger); nothing is signed until `tranche rebuild` repairs them", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Q(q): Q<ReportQuery>,
) -> ApiResult<Response> {
    let signed = crate::service::reports::report(&state, &caller, &kind, &q).await?;
    Ok(match q.format.as_deref().unwrap_or("json") {
        "json" => Json(signed).into_response(),
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            tranche_ledger::service::reports::render_csv(&signed),
        )
            .into_response(),
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            tranche_ledger::service::reports::render_html(&signed),
        )
            .into_response(),
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidFormat,
                format!("{other:?} is not a format: json, csv or html"),
            )
            .field("format"))
        }
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DueQuery {
    pub award: String,
    /// The day to state the reports as of (YYYY-MM-DD, UTC); today when absent.
    pub as_of: Option<String>,
}

#[utoipa::path(get, path = "/v1/reports-due", tag = "reports", params(DueQuery),
    responses((status = 200, description = "The award's quarterly SF-425 reports, when each is due (30 days after its quarter) and whether it is upcoming, due or overdue as of the day asked about")),
    security(("bearer" = [])))]
pub async fn due(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<DueQuery>,
) -> ApiResult<Response> {
    caller.require(DONOR_READ)?;
    let (award, as_of, list) =
        crate::service::reports::due(&state, &caller, &q.award, q.as_of.as_deref()).await?;
    Ok(Json(serde_json::json!({
        "award": award.as_str(),
        "as_of": as_of.to_string(),
        "due": list
    }))
    .into_response())
}

/// The `as_of` day of a due list.
pub fn as_of(text: &str) -> Result<chrono::NaiveDate, tranche_audit::Invalid> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        tranche_audit::Invalid::new(
            "as_of",
            Code::InvalidDate,
            format!("{text:?} is not a date like 2026-04-30"),
        )
    })
}
