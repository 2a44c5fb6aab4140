//! Reports in the web interface: every report the API serves, computed from the journal at the
//! latest checkpoint and signed, shown with its charts; the donor's page shows the
//! disaggregated results and the SF-425 figures, and nothing else.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use serde_json::Value;
use tranche_audit::report::SignedReport;
use tranche_audit::Code;

use crate::server::auth::Role;
use crate::server::error::ApiError;
use crate::server::reports::ReportQuery;
use crate::server::AppState;
use crate::service::reports as rep;

use super::html::{enc, error_page, error_text, Page, Query};
use super::session::WebUser;
use super::{query, PageQuery};

/// Report kinds a role is offered here. The service holds every role to what the API allows;
/// a donor's pages offer less than that (no budget vs actual).
fn kinds(user: &WebUser) -> &'static [(&'static str, &'static str)] {
    // A donor sees the SF-425 figures and the disaggregated results, and nothing else.
    const DONOR: &[(&str, &str)] = &[
        ("sf425", "Federal financial report (SF-425 lines)"),
        ("disaggregation", "Disaggregated results"),
    ];
    const ALL: &[(&str, &str)] = &[
        ("sf425", "Federal financial report (SF-425 lines)"),
        ("budget", "Budget vs actual"),
        ("payments", "Payment reconciliation"),
        ("bank", "Bank reconciliation"),
        ("disaggregation", "Disaggregated results"),
        ("participant", "Participant statement"),
    ];
    if user.caller.role == Role::Donor {
        DONOR
    } else {
        ALL
    }
}

/// The current calendar quarter, as `2026Q4`.
fn this_quarter() -> String {
    use chrono::Datelike;
    let d = chrono::Utc::now().date_naive();
    format!("{}Q{}", d.year(), (d.month() - 1) / 3 + 1)
}

/// An award to choose from: its id and donor.
struct AwardChoice {
    award: String,
    donor: String,
}

/// The awards to choose from: what the API shows this role, or for donors (who read only
/// aggregates) the award ids and donors alone.
async fn awards(state: &AppState, user: &WebUser) -> Vec<AwardChoice> {
    if let Ok(list) = crate::service::programme::awards(state, &user.caller).await {
        return list
            .into_iter()
            .map(|a| AwardChoice {
                award: a.award,
                donor: a.donor,
            })
            .collect();
    }
    let Ok(rows) = state.ledger.store().award_rows().await else {
        return Vec::new();
    };
    let text = |b: &Value, k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut list: Vec<AwardChoice> = rows
        .iter()
        .filter_map(|a| serde_json::from_str::<Value>(&a.body).ok())
        .map(|b| AwardChoice {
            award: text(&b, "award"),
            donor: text(&b, "donor"),
        })
        .collect();
    list.sort_by(|a, b| a.award.cmp(&b.award));
    list
}

/// The form choosing award and period.
fn period_form(action: &str, awards: &[AwardChoice], q: &Query, kind: Option<&str>) -> Markup {
    let v = |k: &str| q.get(k).unwrap_or("").to_string();
    html! {
        form.card method="get" action=(action) {
            div.field {
                label for="f-award" { "Award" }
                select #f-award name="award" {
                    @for a in awards {
                        option value=(a.award) selected[q.get("award") == Some(a.award.as_str())] {
                            (a.award) " (" (a.donor) ")"
                        }
                    }
                }
            }
            div.field {
                label for="f-quarter" { "Quarter" }
                span.hint { "e.g. 2026Q1; or leave empty and give start and end" }
                input #f-quarter name="quarter" type="text" value=(v("quarter"));
            }
            div.field {
                label for="f-start" { "Start" }
                input #f-start name="start" type="date" value=(v("start"));
            }
            div.field {
                label for="f-end" { "End" }
                input #f-end name="end" type="date" value=(v("end"));
            }
            @match kind {
                Some("participant") => div.field {
                    label for="f-participant" { "Participant (pseudonym)" }
                    input #f-participant name="participant" type="text" value=(v("participant"));
                },
                Some("payments") => div.field {
                    label for="f-batch" { "Batch (optional)" }
                    input #f-batch name="batch" type="text" value=(v("batch"));
                },
                Some("sf425") => div.field {
                    label for="f-rate" { "Indirect cost rate (optional)" }
                    span.hint { "e.g. 0.10" }
                    input #f-rate name="indirect_rate" type="text" value=(v("indirect_rate"));
                },
                _ => {}
            }
            button type="submit" { "Show" }
        }
    }
}

/// The body of the report's self-contained page (figures, charts, checkpoint and signature),
/// without its document wrapper and title.
fn report_fragment(html: &str) -> String {
    let body = html.split_once("<body>").map(|(_, b)| b).unwrap_or(html);
    let body = body.split_once("</body>").map(|(b, _)| b).unwrap_or(body);
    match body.split_once("</h1>") {
        Some((_, rest)) => rest.to_string(),
        None => body.to_string(),
    }
}

/// SF-425 figures as a bar chart (cumulative), since a picture says more to a donor.
fn sf425_chart(v: &Value) -> Markup {
    let body = v.pointer("/report/body").cloned().unwrap_or_default();
    let lines = [
        ("10a", "Cash receipts"),
        ("10b", "Cash disbursements"),
        ("10c", "Cash on hand"),
        ("10e", "Federal share of expenditures"),
        ("10f", "Unliquidated obligations"),
        ("10h", "Unobligated balance"),
    ];
    let vals: Vec<f64> = lines
        .iter()
        .map(|(l, _)| {
            body.pointer(&format!("/line_{l}/cumulative"))
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0)
        })
        .collect();
    let max = vals.iter().cloned().fold(1.0f64, f64::max);
    html! {
        figure {
            figcaption { "SF-425, cumulative to the end of the period" }
            svg role="img" aria-label="SF-425 lines, cumulative" width="720" height="190"
                viewBox="0 0 720 190" xmlns="http://www.w3.org/2000/svg" {
                @for (i, ((l, name), v)) in lines.iter().zip(&vals).enumerate() {
                    @let y = 5.0 + i as f64 * 30.0;
                    @let ty = y + 14.0;
                    @let w = v.max(0.0) / max * 380.0;
                    text x="0" y=(ty) font-size="12" fill="#1a202c" { (l) " " (name) }
                    rect x="230" y=(y) width=(format!("{w:.1}")) height="20" fill="#2f855a" {
                        title { (l) ": " (format!("{v:.2}")) }
                    }
                    text x=(236.0 + w) y=(ty) font-size="12" fill="#1a202c" { (format!("{v:.2}")) }
                }
            }
        }
    }
}

fn report_query(kind: &str, q: &Query, format: &str) -> ReportQuery {
    ReportQuery {
        award: q.get("award").unwrap_or("").to_string(),
        start: q.get("start").map(str::to_string),
        end: q.get("end").map(str::to_string),
        quarter: q.get("quarter").map(str::to_string),
        batch: q
            .get("batch")
            .map(str::to_string)
            .filter(|_| kind == "payments"),
        participant: q
            .get("participant")
            .map(str::to_string)
            .filter(|_| kind == "participant"),
        indirect_rate: q
            .get("indirect_rate")
            .map(str::to_string)
            .filter(|_| kind == "sf425"),
        threshold: q.get("threshold").and_then(|t| t.parse().ok()),
        format: Some(format.to_string()),
    }
}

/// One report of `kind` for the page's query, signed.
async fn signed_report(
    state: &AppState,
    user: &WebUser,
    kind: &str,
    q: &Query,
) -> Result<SignedReport, ApiError> {
    rep::report(state, &user.caller, kind, &report_query(kind, q, "json")).await
}

/// One report rendered into the page, or its error.
async fn render_report(
    state: &AppState,
    user: &WebUser,
    kind: &str,
    q: &Query,
) -> Result<Markup, ApiError> {
    let signed = signed_report(state, user, kind, q).await?;
    let chart = if kind == "sf425" {
        let v = serde_json::to_value(&signed).map_err(|e| ApiError::internal(&e))?;
        Some(sf425_chart(&v))
    } else {
        None
    };
    // The report's own HTML rendering (the one the API serves as `format=html`), which escapes
    // every value it writes: shown as it is, the one fragment no template here builds.
    let fragment = report_fragment(&tranche_ledger::service::reports::render_html(&signed));
    let base = format!("/web/reports/{kind}{}", q.with(&[]));
    Ok(html! {
        @if let Some(c) = chart { (c) }
        (PreEscaped(fragment))
        p {
            "Download: "
            a href={ (base) "&format=csv" } download { "CSV" } " · "
            a href={ (base) "&format=json" } download { "signed JSON" }
            " (check it with " code { "tranche-verify report" } ") · "
            a href={ (base) "&format=html" } download { "HTML page" }
        }
    })
}

/// `GET /web/reports`: the list of reports this role may open.
pub async fn reports(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let q = query(q);
    let awards = awards(&state, &user).await;
    let mut p = Page::new("Reports");
    let first = awards.first().map(|a| a.award.clone()).unwrap_or_default();
    let award = q.get("award").unwrap_or(&first).to_string();
    p.html(html! {
        p { "Every report is computed from the journal at the latest checkpoint and signed by the ledger." }
        ul {
            @for (k, label) in kinds(&user) {
                li { a href={ "/web/reports/" (k) "?award=" (enc(&award)) "&quarter=" (enc(&this_quarter())) } { (label) } }
            }
        }
    });
    p.respond(Some(&user), &q)
}

/// A report as a download, in the format asked for.
fn download(
    kind: &str,
    q: &Query,
    format: &str,
    signed: &SignedReport,
) -> Result<Response, ApiError> {
    let (content_type, body, ext) = match format {
        "json" => (
            "application/json",
            serde_json::to_string(signed).unwrap_or_default(),
            "json",
        ),
        "csv" => (
            "text/csv; charset=utf-8",
            tranche_ledger::service::reports::render_csv(signed),
            "csv",
        ),
        "html" => (
            "text/html; charset=utf-8",
            tranche_ledger::service::reports::render_html(signed),
            "html",
        ),
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidFormat,
                format!("{other:?} is not a format: json, csv or html"),
            )
            .field("format"))
        }
    };
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let name = format!("{kind}-{}.{ext}", q.get("quarter").unwrap_or("period"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// `GET /web/reports/{kind}`: one report with its charts (or `format=csv|json|html` to
/// download it).
pub async fn report(
    State(state): State<AppState>,
    user: WebUser,
    Path(kind): Path<String>,
    q: PageQuery,
) -> Response {
    let q = query(q);
    let Some((_, title)) = kinds(&user).iter().find(|(k, _)| *k == kind) else {
        if user.caller.role == Role::Donor {
            return error_page(
                Some(&user),
                &ApiError::forbidden(
                    "the donor role sees the SF-425 figures and the disaggregated results only",
                ),
            );
        }
        // The service decides (a kind that is no report is refused there).
        let e = match signed_report(&state, &user, &kind, &q).await {
            Err(e) => e,
            Ok(_) => ApiError::not_found(format!("{kind:?} is not a report")),
        };
        return error_page(Some(&user), &e);
    };
    if let Some(format) = q.get("format") {
        return match signed_report(&state, &user, &kind, &q)
            .await
            .and_then(|signed| download(&kind, &q, format, &signed))
        {
            Ok(r) => r,
            Err(e) => error_page(Some(&user), &e),
        };
    }
    let awards = awards(&state, &user).await;
    let mut p = Page::new(*title);
    p.html(period_form(
        &format!("/web/reports/{kind}"),
        &awards,
        &q,
        Some(&kind),
    ));
    if q.get("award").is_some() {
        match render_report(&state, &user, &kind, &q).await {
            Ok(h) => {
                p.html(h);
            }
            Err(e) => {
                p.html(html! { p.error role="alert" { (error_text(&e)) } });
                return p.status(e.status).respond(Some(&user), &q);
            }
        }
    }
    p.respond(Some(&user), &q)
}

/// `GET /web/donor`: the disaggregated results and the SF-425 figures, with their charts.
pub async fn donor_home(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let mut q = query(q);
    let awards = awards(&state, &user).await;
    if q.get("award").is_none() {
        if let Some(a) = awards.first() {
            q.0.insert("award".into(), a.award.clone());
        }
    }
    if q.get("quarter").is_none() && q.get("start").is_none() {
        q.0.insert("quarter".into(), this_quarter());
    }
    let mut p = Page::new("Results for donors");
    p.html(period_form("/web/donor", &awards, &q, None));
    if q.get("award").is_none() {
        p.html(html! { p { "No award is open yet." } });
        return p.respond(Some(&user), &q);
    }
    for (kind, title) in [
        ("disaggregation", "Disaggregated results"),
        ("sf425", "Federal financial report (SF-425 lines)"),
    ] {
        p.html(html! { h2 { (title) } });
        match render_report(&state, &user, kind, &q).await {
            Ok(h) => {
                p.html(h);
            }
            Err(e) => {
                p.html(html! { p.error role="alert" { (error_text(&e)) } });
            }
        }
    }
    p.respond(Some(&user), &q)
}
