//! Reports in the web interface: every report the API serves, computed from the journal at the
//! latest checkpoint and signed, shown with its charts; the donor's page shows the
//! disaggregated results and the SF-425 figures, and nothing else.

use std::fmt::Write as _;

use crate::server::error::Q as AxQuery;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde_json::Value;

use crate::server::auth::Role;
use crate::server::error::ApiError;
use crate::server::reports::{self as rep, ReportQuery};
use crate::server::AppState;

use super::html::{enc, error_page, esc, Page, Query};
use super::session::WebUser;
use super::{json_of, query, refuse, s, value_of, PageQuery};

/// Report kinds a role may open here (the API enforces the same).
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
    if user.is(&[Role::Donor]) {
        DONOR
    } else {
        ALL
    }
}

const READERS: &[Role] = crate::server::auth::DONOR_READ.0;

/// The current calendar quarter, as `2026Q4`.
fn this_quarter() -> String {
    use chrono::Datelike;
    let d = chrono::Utc::now().date_naive();
    format!("{}Q{}", d.year(), (d.month() - 1) / 3 + 1)
}

/// The awards to choose from: what the API shows this role, or for donors (who read only
/// aggregates) the award ids and donors alone.
async fn awards(state: &AppState, user: &WebUser) -> Vec<Value> {
    if let Ok(v) =
        value_of(crate::server::programme::awards(State(state.clone()), user.caller.clone()).await)
    {
        return v.as_array().cloned().unwrap_or_default();
    }
    let Ok(rows) = state.ledger.store().award_rows().await else {
        return Vec::new();
    };
    let mut list: Vec<Value> = rows
        .iter()
        .filter_map(|a| serde_json::from_str::<Value>(&a.body).ok())
        .map(|b| serde_json::json!({"award": s(&b, "award"), "donor": s(&b, "donor")}))
        .collect();
    list.sort_by(|a, b| s(a, "award").cmp(s(b, "award")));
    list
}

/// The form choosing award and period.
fn period_form(action: &str, awards: &[Value], q: &Query, kind: Option<&str>) -> String {
    let mut h = format!(
        "<form class=\"card\" method=\"get\" action=\"{}\"><div class=\"field\"><label for=\"f-award\">Award</label><select id=\"f-award\" name=\"award\">",
        esc(action)
    );
    for a in awards {
        let id = s(a, "award");
        let _ = write!(
            h,
            "<option value=\"{}\"{}>{} ({})</option>",
            esc(id),
            if q.get("award") == Some(id) {
                " selected"
            } else {
                ""
            },
            esc(id),
            esc(s(a, "donor"))
        );
    }
    let _ = write!(
        h,
        "</select></div><div class=\"field\"><label for=\"f-quarter\">Quarter</label><span class=\"hint\">e.g. 2026Q1; or leave empty and give start and end</span>\
<input id=\"f-quarter\" name=\"quarter\" type=\"text\" value=\"{}\"></div>\
<div class=\"field\"><label for=\"f-start\">Start</label><input id=\"f-start\" name=\"start\" type=\"date\" value=\"{}\"></div>\
<div class=\"field\"><label for=\"f-end\">End</label><input id=\"f-end\" name=\"end\" type=\"date\" value=\"{}\"></div>",
        esc(q.get("quarter").unwrap_or("")),
        esc(q.get("start").unwrap_or("")),
        esc(q.get("end").unwrap_or(""))
    );
    match kind {
        Some("participant") => {
            let _ = write!(h, "<div class=\"field\"><label for=\"f-participant\">Participant (pseudonym)</label><input id=\"f-participant\" name=\"participant\" type=\"text\" value=\"{}\"></div>", esc(q.get("participant").unwrap_or("")));
        }
        Some("payments") => {
            let _ = write!(h, "<div class=\"field\"><label for=\"f-batch\">Batch (optional)</label><input id=\"f-batch\" name=\"batch\" type=\"text\" value=\"{}\"></div>", esc(q.get("batch").unwrap_or("")));
        }
        Some("sf425") => {
            let _ = write!(h, "<div class=\"field\"><label for=\"f-rate\">Indirect cost rate (optional)</label><span class=\"hint\">e.g. 0.10</span><input id=\"f-rate\" name=\"indirect_rate\" type=\"text\" value=\"{}\"></div>", esc(q.get("indirect_rate").unwrap_or("")));
        }
        _ => {}
    }
    h.push_str("<button type=\"submit\">Show</button></form>");
    h
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
fn sf425_chart(v: &Value) -> String {
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
    let mut h = String::from(
        "<figure><figcaption>SF-425, cumulative to the end of the period</figcaption>\
<svg role=\"img\" aria-label=\"SF-425 lines, cumulative\" width=\"720\" height=\"190\" viewBox=\"0 0 720 190\" xmlns=\"http://www.w3.org/2000/svg\">",
    );
    for (i, ((l, name), v)) in lines.iter().zip(&vals).enumerate() {
        let y = 5.0 + i as f64 * 30.0;
        let w = v.max(0.0) / max * 380.0;
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{ty}\" font-size=\"12\" fill=\"#1a202c\">{l} {name}</text><rect x=\"230\" y=\"{y}\" width=\"{w:.1}\" height=\"20\" fill=\"#2f855a\"><title>{l}: {v:.2}</title></rect>\
<text x=\"{}\" y=\"{ty}\" font-size=\"12\" fill=\"#1a202c\">{v:.2}</text>",
            236.0 + w,
            ty = y + 14.0
        );
    }
    h.push_str("</svg></figure>");
    h
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

/// One report rendered into the page, or its error.
async fn render_report(
    state: &AppState,
    user: &WebUser,
    kind: &str,
    q: &Query,
) -> Result<String, ApiError> {
    let signed = json_of(
        rep::report(
            State(state.clone()),
            user.caller.clone(),
            Path(kind.to_string()),
            AxQuery(report_query(kind, q, "json")),
        )
        .await,
    )
    .await?;
    let html_resp = rep::report(
        State(state.clone()),
        user.caller.clone(),
        Path(kind.to_string()),
        AxQuery(report_query(kind, q, "html")),
    )
    .await?;
    let bytes = super::answer_bytes(html_resp).await?;
    let mut h = String::new();
    if kind == "sf425" {
        h.push_str(&sf425_chart(&signed));
    }
    h.push_str(&report_fragment(&String::from_utf8_lossy(&bytes)));
    let base = format!("/web/reports/{kind}{}", q.with(&[]));
    let _ = write!(
        h,
        "<p>Download: <a href=\"{}\" download>CSV</a> · <a href=\"{}\" download>signed JSON</a> (check it with <code>tranche-verify report</code>) · <a href=\"{}\" download>HTML page</a></p>",
        esc(&format!("{base}&format=csv")),
        esc(&format!("{base}&format=json")),
        esc(&format!("{base}&format=html"))
    );
    Ok(h)
}

/// `GET /web/reports`: the list of reports this role may open.
pub async fn reports(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, READERS) {
        return r;
    }
    let q = query(q);
    let awards = awards(&state, &user).await;
    let mut p = Page::new("Reports");
    let mut h = String::from("<p>Every report is computed from the journal at the latest checkpoint and signed by the ledger.</p><ul>");
    let first = awards
        .first()
        .map(|a| s(a, "award").to_string())
        .unwrap_or_default();
    for (k, label) in kinds(&user) {
        let _ = write!(
            h,
            "<li><a href=\"/web/reports/{k}?award={}&amp;quarter={}\">{label}</a></li>",
            enc(q.get("award").unwrap_or(&first)),
            enc(&this_quarter())
        );
    }
    h.push_str("</ul>");
    p.html(h);
    p.respond(Some(&user), &q)
}

/// `GET /web/reports/{kind}`: one report with its charts (or `format=csv|json|html` to
/// download it).
pub async fn report(
    State(state): State<AppState>,
    user: WebUser,
    Path(kind): Path<String>,
    q: PageQuery,
) -> Response {
    if let Some(r) = refuse(&user, READERS) {
        return r;
    }
    let q = query(q);
    let Some((_, title)) = kinds(&user).iter().find(|(k, _)| *k == kind) else {
        if user.is(&[Role::Donor]) {
            return error_page(
                Some(&user),
                &ApiError::forbidden(
                    "the donor role sees the SF-425 figures and the disaggregated results only",
                ),
            );
        }
        // The API decides (a donor asking for a participant statement is refused there).
        let e = match rep::report(
            State(state.clone()),
            user.caller.clone(),
            Path(kind.clone()),
            AxQuery(report_query(&kind, &q, "json")),
        )
        .await
        {
            Err(e) => e,
            Ok(_) => ApiError::not_found(format!("{kind:?} is not a report")),
        };
        return error_page(Some(&user), &e);
    };
    if let Some(format) = q.get("format") {
        return match rep::report(
            State(state.clone()),
            user.caller.clone(),
            Path(kind.clone()),
            AxQuery(report_query(&kind, &q, format)),
        )
        .await
        {
            Ok(mut r) => {
                let ext = match format {
                    "csv" => "csv",
                    "html" => "html",
                    _ => "json",
                };
                let name = format!("{kind}-{}.{ext}", q.get("quarter").unwrap_or("period"));
                if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                    r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
                r
            }
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
                p.html(format!(
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    super::html::error_text(&e)
                ));
                return p.status(e.status).respond(Some(&user), &q);
            }
        }
    }
    p.respond(Some(&user), &q)
}

/// `GET /web/donor`: the disaggregated results and the SF-425 figures, with their charts.
pub async fn donor_home(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, READERS) {
        return r;
    }
    let mut q = query(q);
    let awards = awards(&state, &user).await;
    if q.get("award").is_none() {
        if let Some(a) = awards.first() {
            q.0.insert("award".into(), s(a, "award").to_string());
        }
    }
    if q.get("quarter").is_none() && q.get("start").is_none() {
        q.0.insert("quarter".into(), this_quarter());
    }
    let mut p = Page::new("Results for donors");
    p.html(period_form("/web/donor", &awards, &q, None));
    if q.get("award").is_none() {
        p.html("<p>No award is open yet.</p>");
        return p.respond(Some(&user), &q);
    }
    for (kind, title) in [
        ("disaggregation", "Disaggregated results"),
        ("sf425", "Federal financial report (SF-425 lines)"),
    ] {
        p.html(format!("<h2>{title}</h2>"));
        match render_report(&state, &user, kind, &q).await {
            Ok(h) => {
                p.html(h);
            }
            Err(e) => {
                p.html(format!(
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    super::html::error_text(&e)
                ));
            }
        }
    }
    p.respond(Some(&user), &q)
}
