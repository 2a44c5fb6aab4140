//! Finance pages (preparers, approvers, administrators): awards and their dashboards, cycles,
//! payment batches with maker-checker, bank files out and in, participant statements.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use tranche_audit::Code;

use crate::server::error::Q as AxQuery;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use crate::server::auth::Role;
use crate::server::error::ApiError;
use crate::server::payments as pay;
use crate::server::programme as prog;
use crate::server::routes::{self, BalanceQuery};
use crate::server::AppState;

use super::html::{enc, error_page, esc, facts, money, Cell, FormState, Page, Table};
use super::session::{Fields, Posted, WebUser};
use super::{arr, json_of, n, query, refuse, s, value_of, PageQuery, FINANCE};

/// Who may read participant statements: finance staff and auditors (never donors or partners).
const STATEMENT_READERS: &[Role] = crate::server::auth::LEDGER_READ.0;

fn bad(user: &WebUser, e: ApiError) -> Response {
    error_page(Some(user), &e)
}

async fn award_docs(state: &AppState, user: &WebUser) -> Result<Vec<Value>, ApiError> {
    let v = value_of(prog::awards(State(state.clone()), user.caller.clone()).await)?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

fn award_options(awards: &[Value]) -> Vec<(String, String)> {
    awards
        .iter()
        .map(|a| {
            (
                s(a, "award").to_string(),
                format!("{} ({})", s(a, "award"), s(a, "donor")),
            )
        })
        .collect()
}

/// `GET /web/finance`: the awards.
pub async fn awards(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    let q = query(q);
    let docs = match award_docs(&state, &user).await {
        Ok(d) => d,
        Err(e) => return bad(&user, e),
    };
    let mut t = Table::new(
        "awards",
        "Awards",
        &[
            "Award",
            "Donor",
            "Start",
            "End",
            "Authorised",
            "Used",
            "Remaining",
            "Participants",
        ],
    )
    .empty("No award is open yet: tranche award open AWARD.json");
    for a in &docs {
        let cur = s(a, "currency");
        let used: rust_decimal::Decimal = arr(a, "budget_lines")
            .iter()
            .filter_map(|l| s(l, "used").parse::<rust_decimal::Decimal>().ok())
            .sum();
        let total: rust_decimal::Decimal = s(a, "total").parse().unwrap_or_default();
        t.row(vec![
            Cell::Link(
                s(a, "award").into(),
                format!("/web/finance/awards/{}", enc(s(a, "award"))),
            ),
            Cell::text(s(a, "donor")),
            Cell::text(s(a, "start")),
            Cell::text(s(a, "end")),
            Cell::Amount(s(a, "total").into(), cur.into()),
            Cell::Amount(format!("{used:.2}"), cur.into()),
            Cell::Amount(format!("{:.2}", total - used), cur.into()),
            Cell::Count(n(a, "participants")),
        ]);
    }
    let mut p = Page::new("Awards");
    p.html("<p>Choose an award for its dashboard: budget burn, cash, payables, batches and the reports due.</p>");
    p.table(t);
    p.respond(Some(&user), &q)
}

fn balance_sum(rows: &[Value], pred: impl Fn(&str) -> bool) -> rust_decimal::Decimal {
    rows.iter()
        .filter(|b| pred(s(b, "account")))
        .filter_map(|b| s(b, "balance").parse::<rust_decimal::Decimal>().ok())
        .sum()
}

/// Budget burn per line as an inline SVG bar chart: used share of each line's authorisation.
pub fn burn_chart(lines: &[Value]) -> String {
    let (w, bar) = (420.0, 20.0);
    let height = lines.len() as f64 * (bar + 10.0) + 10.0;
    let mut h = format!(
        "<figure><figcaption>Budget burn per line (used as % of authorised)</figcaption>\
<svg role=\"img\" aria-label=\"Budget burn per line\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        w + 300.0,
        w + 300.0
    );
    for (i, l) in lines.iter().enumerate() {
        let auth: f64 = s(l, "authorised").parse().unwrap_or(0.0);
        let used: f64 = s(l, "used").parse().unwrap_or(0.0);
        let pct = if auth > 0.0 { used / auth * 100.0 } else { 0.0 };
        let y = 5.0 + i as f64 * (bar + 10.0);
        let color = if pct >= 90.0 { "#9b2c2c" } else { "#1f4e8c" };
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{ty}\" font-size=\"12\" fill=\"#1a202c\">{}</text>\
<rect x=\"190\" y=\"{y}\" width=\"{w}\" height=\"{bar}\" fill=\"#e2e8f0\"/>\
<rect x=\"190\" y=\"{y}\" width=\"{:.1}\" height=\"{bar}\" fill=\"{color}\"><title>{}: {} of {} ({pct:.1}%)</title></rect>\
<text x=\"{}\" y=\"{ty}\" font-size=\"12\" fill=\"#1a202c\">{pct:.1}%</text>",
            esc(s(l, "line")),
            pct.min(100.0) / 100.0 * w,
            esc(s(l, "line")),
            esc(s(l, "used")),
            esc(s(l, "authorised")),
            200.0 + w,
            ty = y + 14.0,
        );
    }
    h.push_str("</svg></figure>");
    h
}

/// `GET /web/finance/awards/{award}`: the award's dashboard.
pub async fn dashboard(
    State(state): State<AppState>,
    user: WebUser,
    Path(award): Path<String>,
    q: PageQuery,
) -> Response {
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    let q = query(q);
    let a = match value_of(
        prog::award(
            State(state.clone()),
            user.caller.clone(),
            Path(award.clone()),
        )
        .await,
    ) {
        Ok(a) => a,
        Err(e) => return bad(&user, e),
    };
    let cur = s(&a, "currency").to_string();
    let mut balances = Vec::new();
    for prefix in ["bank", "transit", "payable"] {
        match value_of(
            routes::balances(
                State(state.clone()),
                user.caller.clone(),
                AxQuery(BalanceQuery {
                    prefix: Some(format!("{prefix}:{award}")),
                }),
            )
            .await,
        ) {
            Ok(v) => balances.extend(v.as_array().cloned().unwrap_or_default()),
            Err(e) => return bad(&user, e),
        }
    }
    let bank = balance_sum(&balances, |acc| acc == format!("bank:{award}"));
    let transit = balance_sum(&balances, |acc| acc == format!("transit:{award}"));
    let payables = -balance_sum(&balances, |acc| {
        acc.starts_with(&format!("payable:{award}:"))
    });
    let batches = match state
        .ledger
        .batches(tranche_audit::programme::Id::parse(&award).ok().as_ref())
        .await
    {
        Ok(b) => b,
        Err(e) => return bad(&user, e.into()),
    };
    let open: Vec<_> = batches
        .iter()
        .filter(|b| matches!(b.status.as_str(), "draft" | "submitted" | "approved"))
        .collect();
    let mut p = Page::new(format!("Award {award}"));
    p.html(format!(
        "<p>{} · {} to {} · amounts in {}</p>",
        esc(s(&a, "donor")),
        esc(s(&a, "start")),
        esc(s(&a, "end")),
        esc(&cur)
    ));
    p.html(facts(&[
        ("Authorised", money(s(&a, "total"), &cur)),
        ("Cash on hand (bank)", money(&format!("{bank:.2}"), &cur)),
        (
            "Payables (owed, not yet sent)",
            money(&format!("{payables:.2}"), &cur),
        ),
        (
            "In transit (sent, not confirmed)",
            money(&format!("{transit:.2}"), &cur),
        ),
        ("Open batches", open.len().to_string()),
        ("Participants", n(&a, "participants").to_string()),
    ]));
    p.html(burn_chart(arr(&a, "budget_lines")));
    let mut lines = Table::new(
        "lines",
        "Budget lines",
        &[
            "Line",
            "Name",
            "Participant support",
            "Authorised",
            "Used",
            "Remaining",
        ],
    );
    for l in arr(&a, "budget_lines") {
        lines.row(vec![
            Cell::text(s(l, "line")),
            Cell::text(s(l, "name")),
            Cell::text(
                if l.get("participant_support").and_then(Value::as_bool) == Some(true) {
                    "yes"
                } else {
                    "no"
                },
            ),
            Cell::Amount(s(l, "authorised").into(), cur.clone()),
            Cell::Amount(s(l, "used").into(), cur.clone()),
            Cell::Amount(s(l, "remaining").into(), cur.clone()),
        ]);
    }
    p.table(lines);
    let mut t = batch_table("open", "Open batches");
    for b in open {
        batch_row(&mut t, b);
    }
    p.table(t.empty("No batch is waiting: create one under Batches."));
    let award_id = match tranche_audit::programme::Id::parse(&award) {
        Ok(i) => i,
        Err(e) => return bad(&user, e.within("award").into()),
    };
    // Today in the award's time zone.
    let offset = a
        .get("utc_offset")
        .and_then(Value::as_str)
        .and_then(tranche_audit::programme::parse_utc_offset)
        .unwrap_or(0);
    let today = (chrono::Utc::now() + chrono::Duration::seconds(i64::from(offset))).date_naive();
    match state.ledger.reports_due(&award_id, today).await {
        Ok(due) => {
            let mut t = Table::new(
                "due",
                "Quarterly financial reports (SF-425), due 30 days after the quarter",
                &[
                    "Quarter",
                    "Start",
                    "End",
                    "Due",
                    "State",
                    "Days left",
                    "Report",
                ],
            );
            for d in due {
                t.row(vec![
                    Cell::text(&d.quarter),
                    Cell::text(&d.start),
                    Cell::text(&d.end),
                    Cell::text(&d.due),
                    Cell::text(d.status),
                    Cell::text(d.days_left.to_string()),
                    Cell::Link(
                        "SF-425".into(),
                        format!(
                            "/web/reports/sf425?award={}&quarter={}",
                            enc(&award),
                            enc(&d.quarter)
                        ),
                    ),
                ]);
            }
            p.table(t);
        }
        Err(e) => return bad(&user, e.into()),
    }
    p.respond(Some(&user), &q)
}

// ---------- cycles ----------

fn cycle_form(user: &WebUser, awards: &[Value], form: &FormState<'_>) -> String {
    let can = user.is(&[Role::Admin, Role::Preparer]);
    if !can {
        return "<p class=\"warning\">Cycles are run by a finance preparer.</p>".into();
    }
    format!(
        "<form class=\"card\" method=\"post\" action=\"/web/finance/cycles\"><h2>Run a cycle</h2>{}{}{}{}{}\
<button type=\"submit\">Run the cycle</button></form>",
        form.general_error(&["award", "period"]),
        user.form_fields(),
        form.select("award", "Award", &award_options(awards), &["award"]),
        form.input(
            "period",
            "Month",
            "text",
            &["period"],
            "YYYY-MM, e.g. 2026-03"
        ),
        form.checkbox("dry_run", "Dry run: compute and show, post nothing"),
    )
}

/// `GET /web/finance/cycles[?award=A&period=P]`: the form, and with an award and a month the
/// cycle computed without posting (what a run would post now, and every exception).
pub async fn cycles(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    let q = query(q);
    let awards = match award_docs(&state, &user).await {
        Ok(a) => a,
        Err(e) => return bad(&user, e),
    };
    let mut p = Page::new("Cycles");
    let (Some(award), Some(period)) = (q.get("award"), q.get("period")) else {
        p.html("<p>A cycle turns the month's verified evidence into entitlements under the rule versions in force. Running it again posts nothing; after late or corrected evidence it posts only the difference.</p>");
        p.html(cycle_form(&user, &awards, &FormState::default()));
        return p.respond(Some(&user), &q);
    };
    let body = json!({"award": award, "period": period, "dry_run": true});
    let r = prog::run_cycle(
        State(state.clone()),
        user.caller.clone(),
        super::json_headers(),
        Ok(Bytes::from(body.to_string())),
    )
    .await;
    let values: BTreeMap<String, String> = [
        ("award".to_string(), award.to_string()),
        ("period".to_string(), period.to_string()),
    ]
    .into_iter()
    .collect();
    match json_of(r).await {
        Err(e) => {
            p.html(cycle_form(
                &user,
                &awards,
                &FormState::new(values, Some(&e)),
            ));
            p.status(e.status).respond(Some(&user), &q)
        }
        Ok(report) => {
            let cur = s(&report, "currency").to_string();
            let ran = q.get("ran").is_some();
            p.html(format!(
                "<p class=\"notice\" role=\"status\">{} {} {}: {} entitlements and {} reversals {}, net payable {}.</p>",
                if ran { "Cycle run for" } else { "Dry run (nothing posted) for" },
                esc(s(&report, "award")),
                esc(s(&report, "period")),
                q.get("entitlements").unwrap_or(&n(&report, "entitlements").to_string()),
                q.get("reversals").unwrap_or(&n(&report, "reversals").to_string()),
                if ran { "posted" } else { "would be posted" },
                money(q.get("net_payable").unwrap_or(s(&report, "net_payable")), &cur)
            ));
            let mut lines = Table::new(
                "lines",
                "What a run would post now, per rule and budget line",
                &[
                    "Rule",
                    "Budget line",
                    "Kind",
                    "Entitlements",
                    "Amount",
                    "Reversals",
                    "Reversed",
                ],
            )
            .empty("Nothing new to post.");
            for l in arr(&report, "lines") {
                lines.row(vec![
                    Cell::text(s(l, "rule")),
                    Cell::text(s(l, "budget_line")),
                    Cell::text(s(l, "kind")),
                    Cell::Count(n(l, "entitlements")),
                    Cell::Amount(s(l, "amount").into(), cur.clone()),
                    Cell::Count(n(l, "reversals")),
                    Cell::Amount(s(l, "reversed_amount").into(), cur.clone()),
                ]);
            }
            p.table(lines);
            let mut ex = Table::new(
                "exceptions",
                "Exceptions",
                &["Participant", "Rule", "Reason", "Detail", "Amount"],
            )
            .empty("No exceptions.");
            for e in arr(&report, "exceptions") {
                ex.row(vec![
                    Cell::Link(
                        s(e, "participant").into(),
                        format!("/web/finance/participants/{}", enc(s(e, "participant"))),
                    ),
                    Cell::text(s(e, "rule")),
                    Cell::text(s(e, "reason")),
                    Cell::text(s(e, "detail")),
                    match e.get("amount").and_then(Value::as_str) {
                        Some(a) => Cell::Amount(a.into(), cur.clone()),
                        None => Cell::text(""),
                    },
                ]);
            }
            p.table(ex);
            p.html(cycle_form(&user, &awards, &FormState::new(values, None)));
            p.respond(Some(&user), &q)
        }
    }
}

/// `POST /web/finance/cycles`: a dry run goes to its page; a run posts, then goes to the
/// cycle's page with what it posted.
pub async fn run_cycle(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { user, fields } = posted;
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    let award = fields.get("award").to_string();
    let period = fields.get("period").trim().to_string();
    let dry = fields.checked("dry_run");
    let body = json!({"award": award, "period": period, "dry_run": dry});
    let r = prog::run_cycle(
        State(state.clone()),
        user.caller.clone(),
        fields.api_headers(),
        Ok(Bytes::from(body.to_string())),
    )
    .await;
    match json_of(r).await {
        Err(e) => {
            let awards = award_docs(&state, &user).await.unwrap_or_default();
            let mut p = Page::new("Cycles");
            let f = FormState::new(fields.values(), Some(&e));
            p.html(cycle_form(&user, &awards, &f));
            p.status(e.status).respond(Some(&user), &Default::default())
        }
        Ok(report) => {
            let mut to = format!(
                "/web/finance/cycles?award={}&period={}",
                enc(&award),
                enc(&period)
            );
            if !dry {
                to.push_str(&format!(
                    "&ran=1&entitlements={}&reversals={}&net_payable={}",
                    n(&report, "entitlements"),
                    n(&report, "reversals"),
                    enc(s(&report, "net_payable"))
                ));
            }
            Redirect::to(&to).into_response()
        }
    }
}

// ---------- batches ----------

fn batch_table(id: &'static str, caption: &str) -> Table {
    Table::new(
        id,
        caption,
        &[
            "Batch",
            "Award",
            "Status",
            "Payments",
            "Exceptions",
            "Total",
            "Prepared by",
            "Approvals",
        ],
    )
}

fn batch_row(t: &mut Table, b: &tranche_ledger::service::payments::BatchView) {
    t.row(vec![
        Cell::Link(
            b.batch.clone(),
            format!("/web/finance/batches/{}", enc(&b.batch)),
        ),
        Cell::text(&b.award),
        Cell::text(&b.status),
        Cell::Count(b.payment_count),
        Cell::Count(b.exception_count),
        Cell::Amount(b.total.clone(), b.currency.clone()),
        Cell::text(b.preparer.trim_start_matches("user:")),
        Cell::text(format!("{} of {}", b.approvals.len(), b.approvals_required)),
    ]);
}

fn create_form(user: &WebUser, awards: &[Value], form: &FormState<'_>) -> String {
    if !user.is(&[Role::Admin, Role::Preparer]) {
        return "<p class=\"warning\">Batches are created by a finance preparer; approvers review them here.</p>".into();
    }
    format!(
        "<form class=\"card\" method=\"post\" action=\"/web/finance/batches\"><h2>Create a payment batch</h2>\
<p class=\"hint\">One payment per payee, settling every open entitlement that matches. Payees without a bank account, with erased data or owed less than their entitlements are listed as exceptions.</p>{}{}{}{}{}{}{}\
<button type=\"submit\">Create the batch</button></form>",
        form.general_error(&["award", "filter.province", "filter.cohort", "filter.budget_line"]),
        user.form_fields(),
        form.select("award", "Award", &award_options(awards), &["award"]),
        form.input("province", "Province (optional)", "text", &["filter.province"], ""),
        form.input("cohort", "Cohort (optional)", "text", &["filter.cohort"], ""),
        form.input("budget_line", "Budget line (optional)", "text", &["filter.budget_line"], ""),
        form.checkbox("dry_run", "Dry run: show what the batch would hold, create nothing"),
    )
}

/// `GET /web/finance/batches[?dry=1&award=…]`: the batches, the create form, and with `dry`
/// what a batch with that filter would hold, computed without creating it.
pub async fn batches(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    let q = query(q);
    let awards = match award_docs(&state, &user).await {
        Ok(a) => a,
        Err(e) => return bad(&user, e),
    };
    let list = match state.ledger.batches(None).await {
        Ok(l) => l,
        Err(e) => return bad(&user, e.into()),
    };
    let mut p = Page::new("Payment batches");
    let mut values = BTreeMap::new();
    if q.get("dry").is_some() {
        for k in ["award", "province", "cohort", "budget_line"] {
            if let Some(v) = q.get(k) {
                values.insert(k.to_string(), v.to_string());
            }
        }
        let fields = Fields {
            text: values.clone(),
            ..Default::default()
        };
        let body =
            json!({"award": fields.get("award"), "filter": filter_of(&fields), "dry_run": true});
        let r = pay::create_batch(
            State(state.clone()),
            user.caller.clone(),
            super::json_headers(),
            Ok(Bytes::from(body.to_string())),
        )
        .await;
        values.insert("dry_run".into(), "on".into());
        match json_of(r).await {
            Ok(doc) => {
                let cur = awards
                    .iter()
                    .find(|a| s(a, "award") == fields.get("award"))
                    .map(|a| s(a, "currency").to_string())
                    .unwrap_or_default();
                p.html(format!(
                    "<p class=\"notice\" role=\"status\">Dry run: the batch would hold {} payments, {}. Nothing was created.</p>",
                    n(&doc, "payment_count"),
                    money(s(&doc, "total"), &cur)
                ));
                p.table(payments_table(arr(&doc, "payments"), false));
                p.table(exceptions_table(arr(&doc, "exceptions"), &cur));
                p.html(create_form(&user, &awards, &FormState::new(values, None)));
                return p.respond(Some(&user), &q);
            }
            Err(e) => {
                p.html(create_form(
                    &user,
                    &awards,
                    &FormState::new(values, Some(&e)),
                ));
                return p.status(e.status).respond(Some(&user), &q);
            }
        }
    }
    if user.is(&[Role::Approver, Role::Admin]) {
        let waiting: Vec<_> = list
            .iter()
            .filter(|b| b.status == "submitted" && may_decide(&user, b))
            .collect();
        let mut t = batch_table("waiting", "Waiting for your approval");
        for b in &waiting {
            batch_row(&mut t, b);
        }
        p.table(t.empty("Nothing is waiting for your approval."));
    }
    let mut t = batch_table("batches", "All batches, newest first");
    for b in &list {
        batch_row(&mut t, b);
    }
    p.table(t.empty("No batch yet."));
    p.html(create_form(&user, &awards, &FormState::default()));
    p.respond(Some(&user), &q)
}

fn filter_of(fields: &Fields) -> Value {
    let mut f = serde_json::Map::new();
    for k in ["province", "cohort", "budget_line"] {
        if let Some(v) = fields.opt(k) {
            f.insert(k.into(), Value::String(v));
        }
    }
    Value::Object(f)
}

/// `POST /web/finance/batches`: creates the batch and goes to it; a dry run goes to its page.
pub async fn create_batch(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { user, fields } = posted;
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    if fields.checked("dry_run") {
        let mut to = String::from("/web/finance/batches?dry=1");
        for k in ["award", "province", "cohort", "budget_line"] {
            if let Some(v) = fields.opt(k) {
                to.push_str(&format!("&{k}={}", enc(&v)));
            }
        }
        return Redirect::to(&to).into_response();
    }
    let body =
        json!({"award": fields.get("award"), "filter": filter_of(&fields), "dry_run": false});
    let r = pay::create_batch(
        State(state.clone()),
        user.caller.clone(),
        fields.api_headers(),
        Ok(Bytes::from(body.to_string())),
    )
    .await;
    match json_of(r).await {
        Ok(doc) => {
            Redirect::to(&format!("/web/finance/batches/{}", enc(s(&doc, "batch")))).into_response()
        }
        Err(e) => {
            let awards = award_docs(&state, &user).await.unwrap_or_default();
            let list = state.ledger.batches(None).await.unwrap_or_default();
            let mut p = Page::new("Payment batches");
            let mut t = batch_table("batches", "All batches, newest first").fixed();
            for b in &list {
                batch_row(&mut t, b);
            }
            p.table(t.empty("No batch yet."));
            p.html(create_form(
                &user,
                &awards,
                &FormState::new(fields.values(), Some(&e)),
            ));
            p.status(e.status).respond(Some(&user), &Default::default())
        }
    }
}

fn payee_cell(payee: &str) -> Cell {
    match payee.strip_prefix("participant:") {
        Some(p) => Cell::Link(
            payee.into(),
            format!("/web/finance/participants/{}", enc(p)),
        ),
        None => Cell::text(payee),
    }
}

fn payments_table(payments: &[Value], with_status: bool) -> Table {
    let mut t = Table::new(
        "payments",
        "Payments",
        if with_status {
            &["End-to-end id", "Payee", "Amount", "Entitlements", "Status"]
        } else {
            &[
                "End-to-end id",
                "Payee",
                "Amount",
                "Entitlements",
                "Reissues",
            ]
        },
    )
    .empty("No payment.");
    for pm in payments {
        let ents: Vec<String> = arr(pm, "entitlements")
            .iter()
            .filter_map(Value::as_u64)
            .map(|x| x.to_string())
            .collect();
        t.row(vec![
            Cell::text(s(pm, "e2e")),
            payee_cell(s(pm, "payee")),
            Cell::Amount(s(pm, "amount").into(), s(pm, "currency").into()),
            Cell::text(ents.join(" ")),
            Cell::text(if with_status {
                s(pm, "status").to_string()
            } else {
                s(pm, "reissues").to_string()
            }),
        ]);
    }
    t
}

fn exceptions_table(exceptions: &[Value], cur: &str) -> Table {
    let mut t = Table::new(
        "exceptions",
        "Exceptions (not in the batch, and why)",
        &["Payee", "Amount", "Reason"],
    )
    .empty("No exceptions.");
    for e in exceptions {
        t.row(vec![
            payee_cell(s(e, "payee")),
            Cell::Amount(s(e, "amount").into(), cur.into()),
            Cell::text(s(e, "reason")),
        ]);
    }
    t
}

/// Whether this user may approve or reject this batch: an approver (or admin) who neither
/// prepared nor submitted it and has not decided on it yet. The ledger enforces the same rule;
/// this only decides which buttons to show.
fn may_decide(user: &WebUser, b: &tranche_ledger::service::payments::BatchView) -> bool {
    let me = user.caller.actor();
    user.is(&[Role::Admin, Role::Approver])
        && b.preparer != me
        && b.submitted.as_ref().is_none_or(|d| d.actor != me)
        && !b.approvals.iter().any(|d| d.actor == me)
}

/// Whether this user may send an approved batch to the bank: an approver or administrator
/// who neither prepared nor submitted it (the ledger's `own_batch` rule).
fn may_release(user: &WebUser, b: &tranche_ledger::service::payments::BatchView) -> bool {
    let me = user.caller.actor();
    user.is(crate::server::auth::RELEASE.0)
        && b.preparer != me
        && b.submitted.as_ref().is_none_or(|d| d.actor != me)
}

async fn batch_page(
    state: &AppState,
    user: &WebUser,
    batch: &str,
    q: &super::html::Query,
    form: &FormState<'_>,
    notice: Option<String>,
) -> Response {
    // The caller's role was checked by the page (finance staff may read every batch); a batch
    // that does not exist, or cannot, is not found, as the API says it.
    let not_found = |e: ApiError| e.status(StatusCode::NOT_FOUND);
    let id = match tranche_audit::programme::Id::parse(batch) {
        Ok(i) => i,
        Err(e) => return bad(user, not_found(e.within("batch").into())),
    };
    let view = match state.ledger.batch_view(&id, 0, 0).await {
        Ok(v) => v,
        Err(e) => {
            let e = ApiError::from(e);
            let e = if e.code == Code::UnknownBatch {
                not_found(e)
            } else {
                e
            };
            return bad(user, e);
        }
    };
    let payments = match state.ledger.batch_payments(&id).await {
        Ok(p) => p,
        Err(e) => return bad(user, e.into()),
    };
    let cur = view.currency.clone();
    let mut p = Page::new(format!("Batch {batch}"));
    if let Some(n) = notice {
        p.html(format!("<p class=\"notice\" role=\"status\">{n}</p>"));
    }
    p.html(form.general_error(&["reason"]));
    let approvals: Vec<String> = view
        .approvals
        .iter()
        .map(|d| {
            format!(
                "{} (seq {})",
                esc(d.actor.trim_start_matches("user:")),
                d.seq
            )
        })
        .collect();
    p.html(facts(&[
        (
            "Status",
            format!("<span class=\"status\">{}</span>", esc(&view.status)),
        ),
        ("Award", esc(&view.award)),
        ("Total", money(&view.total, &cur)),
        ("Payments", view.payment_count.to_string()),
        ("Exceptions", view.exception_count.to_string()),
        (
            "Prepared by",
            esc(view.preparer.trim_start_matches("user:")),
        ),
        (
            "Approvals",
            format!(
                "{} of {} required{}{}",
                view.approvals.len(),
                view.approvals_required,
                if view.approvals_required > 1 {
                    " (two distinct approvers: above the award's threshold)"
                } else {
                    ""
                },
                if approvals.is_empty() {
                    String::new()
                } else {
                    format!(": {}", approvals.join(", "))
                }
            ),
        ),
        (
            "Available funds",
            view.available_funds
                .as_deref()
                .map(|a| money(a, &cur))
                .unwrap_or_default(),
        ),
    ]));
    if let Some(d) = &view.digest {
        p.html(format!(
            "<p>Content digest{}: <code>{}</code></p>",
            if view.status == "draft" {
                " (frozen when submitted; approvals name it)"
            } else {
                " (frozen; what approvals name)"
            },
            esc(d)
        ));
    }
    if let Some(c) = &view.closed {
        p.html(format!(
            "<p>Closed by {} at seq {}{}.</p>",
            esc(c.actor.trim_start_matches("user:")),
            c.seq,
            c.reason
                .as_deref()
                .map(|r| format!(": {}", esc(r)))
                .unwrap_or_default()
        ));
    }
    // The actions this user may take now.
    let mut actions = String::new();
    let digest = view.digest.clone().unwrap_or_default();
    let action = |name: &str, label: &str, class: &str, extra: &str| {
        format!(
            "<form method=\"post\" action=\"/web/finance/batches/{}/{name}\">{}{extra}<button type=\"submit\" class=\"{class}\">{label}</button></form>",
            enc(batch),
            user.form_fields()
        )
    };
    let preparer = user.is(&[Role::Admin, Role::Preparer]);
    match view.status.as_str() {
        "draft" if preparer => {
            actions.push_str(&action("submit", "Submit for approval", "", ""));
        }
        "submitted" if may_decide(user, &view) => {
            let dig = format!(
                "<input type=\"hidden\" name=\"digest\" value=\"{}\">",
                esc(&digest)
            );
            actions.push_str(&action("approve", "Approve", "", &dig));
            actions.push_str(&action(
                "reject",
                "Reject",
                "danger",
                &format!(
                    "{dig}{}",
                    form.input("reason", "Reason for rejecting", "text", &["reason"], "")
                ),
            ));
        }
        "submitted" => {
            let why = if view.preparer == user.caller.actor()
                || view
                    .submitted
                    .as_ref()
                    .is_some_and(|d| d.actor == user.caller.actor())
            {
                "You prepared or submitted this batch: another approver must approve it."
            } else if view
                .approvals
                .iter()
                .any(|d| d.actor == user.caller.actor())
            {
                "You have approved this batch: it needs another approver."
            } else {
                "Waiting for an approver."
            };
            let _ = write!(actions, "<p class=\"warning\">{why}</p>");
        }
        "approved" if user.is(FINANCE) => {
            let has = |f: &str| view.files.iter().any(|x| x.format == f);
            if !has("pain.001") {
                actions.push_str(&action(
                    "files",
                    "Make the pain.001 bank file",
                    "",
                    "<input type=\"hidden\" name=\"format\" value=\"pain.001\">",
                ));
            }
            if !has("csv") {
                actions.push_str(&action(
                    "files",
                    "Make a payments CSV file",
                    "secondary",
                    "<input type=\"hidden\" name=\"format\" value=\"csv\">",
                ));
            }
            if !view.files.is_empty() && may_release(user, &view) {
                actions.push_str(&action("send", "Mark as sent to the bank", "", ""));
            } else if !view.files.is_empty() {
                actions.push_str(
                    "<p class=\"warning\">An approver who neither prepared nor submitted this \
                     batch releases it to the bank.</p>",
                );
            }
        }
        _ => {}
    }
    if preparer && matches!(view.status.as_str(), "draft" | "submitted" | "approved") {
        actions.push_str(&action(
            "cancel",
            "Cancel the batch",
            "secondary",
            &form.input(
                "cancel_reason",
                "Reason for cancelling",
                "text",
                &["cancel_reason"],
                "",
            ),
        ));
    }
    if !actions.is_empty() {
        p.html(format!(
            "<h2>Actions</h2><div class=\"actions\">{actions}</div>"
        ));
    }
    if !view.files.is_empty() {
        let mut t = Table::new(
            "files",
            "Bank files",
            &["Format", "SHA-256", "Seq", "Download"],
        );
        for f in &view.files {
            let v = serde_json::to_value(f).unwrap_or_default();
            let format = s(&v, "format").to_string();
            t.row(vec![
                Cell::text(&format),
                Cell::text(s(&v, "sha256")),
                Cell::Count(n(&v, "seq")),
                Cell::Link(
                    format!("Download {format}"),
                    format!("/web/finance/batches/{}/files/{}", enc(batch), enc(&format)),
                ),
            ]);
        }
        p.table(t);
    }
    let rows: Vec<Value> = payments
        .iter()
        .map(|pl| serde_json::to_value(pl).unwrap_or_default())
        .collect();
    p.table(payments_table(&rows, true));
    let exceptions: Vec<Value> = view
        .exceptions
        .iter()
        .map(|x| serde_json::to_value(x).unwrap_or_default())
        .collect();
    p.table(exceptions_table(&exceptions, &cur));
    p.status(form.error.map_or(StatusCode::OK, |e| e.status))
        .respond(Some(user), q)
}

/// `GET /web/finance/batches/{batch}`
pub async fn batch(
    State(state): State<AppState>,
    user: WebUser,
    Path(batch): Path<String>,
    q: PageQuery,
) -> Response {
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    let mut q = query(q);
    let notice = q.0.remove("done").map(|d| {
        match d.as_str() {
            "submit" => "Submitted: the batch is frozen at its digest and waits for approval.",
            "approve" => "Approved.",
            "reject" => "Rejected.",
            "cancel" => "Cancelled.",
            "files" => "The bank file was made; its digest is in the journal. Download it below.",
            "send" => "Marked as sent: the payments are in transit.",
            _ => "Done.",
        }
        .to_string()
    });
    batch_page(&state, &user, &batch, &q, &FormState::default(), notice).await
}

/// `POST /web/finance/batches/{batch}/{action}`: submit, approve, reject, cancel, files, send.
pub async fn batch_action(
    State(state): State<AppState>,
    Path((batch, action)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let Posted { user, fields } = posted;
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    // Each action is held to its API route's rule first, as the role matrix says.
    let route = format!("/v1/batches/{{batch}}/{action}");
    if let Some(entry) = crate::server::access::of("POST", &route) {
        if let crate::server::access::Access::Roles(rule) = entry.access {
            if let Some(r) = refuse(&user, rule.0) {
                return r;
            }
        }
    }
    let st = || State(state.clone());
    let c = user.caller.clone();
    let h = fields.api_headers();
    let path = || Path(batch.clone());
    let body = |v: Value| Ok(Bytes::from(v.to_string()));
    let r = match action.as_str() {
        "submit" => pay::submit_batch(st(), c, h, path(), body(json!({}))).await,
        "approve" => {
            pay::approve(
                st(),
                c,
                h,
                path(),
                body(json!({"digest": fields.get("digest")})),
            )
            .await
        }
        "reject" => {
            let mut v = json!({"digest": fields.get("digest")});
            if let Some(r) = fields.opt("reason") {
                v["reason"] = Value::String(r);
            }
            pay::reject(st(), c, h, path(), body(v)).await
        }
        "cancel" => {
            pay::cancel(
                st(),
                c,
                h,
                path(),
                body(json!({"reason": fields.get("cancel_reason").trim()})),
            )
            .await
        }
        "files" => {
            pay::make_file(
                st(),
                c,
                h,
                path(),
                body(json!({"format": fields.get("format")})),
            )
            .await
        }
        "send" => pay::send(st(), c, h, path(), body(json!({}))).await,
        _ => {
            return bad(
                &user,
                ApiError::not_found(format!("{action:?} is not an action on a batch")),
            )
        }
    };
    match json_of(r).await {
        // Post, then redirect: the batch page's tables sort, page and download from its own URL.
        Ok(_) => Redirect::to(&format!(
            "/web/finance/batches/{}?done={}",
            enc(&batch),
            enc(&action)
        ))
        .into_response(),
        Err(mut e) => {
            // The cancel form's reason field is named apart from the reject form's.
            if action == "cancel" && e.field.as_deref() == Some("reason") {
                e.field = Some("cancel_reason".into());
            }
            let f = FormState::new(fields.values(), Some(&e));
            batch_page(&state, &user, &batch, &Default::default(), &f, None).await
        }
    }
}

/// `GET /web/finance/batches/{batch}/files/{format}`: the bank file, made again and checked
/// against its journaled digest by the API, as a download.
pub async fn download_file(
    State(state): State<AppState>,
    user: WebUser,
    Path((batch, format)): Path<(String, String)>,
) -> Response {
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    match pay::download_file(
        State(state.clone()),
        user.caller.clone(),
        Path((batch.clone(), format.clone())),
    )
    .await
    {
        Ok(mut r) => {
            let ext = if format == "csv" { "csv" } else { "xml" };
            let name = format!("{batch}-{format}.{ext}");
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => bad(&user, e),
    }
}

// ---------- bank files in ----------

fn upload_form(user: &WebUser, form: &FormState<'_>) -> String {
    if !user.is(&[Role::Admin, Role::Preparer]) {
        return String::new();
    }
    format!(
        "<form class=\"card\" method=\"post\" action=\"/web/finance/bank\" enctype=\"multipart/form-data\">\
<h2>Upload a bank file</h2><p class=\"hint\">A pain.002 status report, a camt.053 statement or a status CSV, recognised by its content. The same file imported twice posts nothing the second time.</p>{}{}{}\
<button type=\"submit\">Import</button></form>",
        form.general_error(&["file"]),
        user.form_fields(),
        form.input("file", "Bank file", "file", &["file"], ""),
    )
}

fn imports_table(list: &[Value]) -> Table {
    let mut t = Table::new(
        "imports",
        "Imported bank files",
        &[
            "File (SHA-256)",
            "Format",
            "Award",
            "Lines",
            "Applied",
            "Exceptions",
            "Seq",
        ],
    )
    .empty("No bank file imported yet.");
    for i in list {
        let applied: Vec<String> = i
            .get("applied")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k} {}", n(v, "count")))
                    .collect()
            })
            .unwrap_or_default();
        t.row(vec![
            Cell::Link(
                s(i, "sha256").chars().take(16).collect::<String>() + "…",
                format!("/web/finance/bank/{}", enc(s(i, "sha256"))),
            ),
            Cell::text(s(i, "format")),
            Cell::text(s(i, "award")),
            Cell::Count(n(i, "lines")),
            Cell::text(applied.join(", ")),
            Cell::Count(arr(i, "exceptions").len() as u64),
            Cell::Count(n(i, "seq")),
        ]);
    }
    t
}

fn import_result(p: &mut Page, r: &Value) {
    p.html(format!(
        "<p class=\"notice\" role=\"status\">{} {} file of {} lines for award {}.</p>",
        if r.get("already_imported").and_then(Value::as_bool) == Some(true) {
            "Already imported before, nothing posted again:"
        } else {
            "Imported:"
        },
        esc(s(r, "format")),
        n(r, "lines"),
        esc(s(r, "award"))
    ));
    let mut applied = Table::new(
        "applied",
        "Reconciliation: outcomes applied",
        &["Outcome", "Payments", "Amount"],
    )
    .empty("Nothing applied.");
    if let Some(m) = r.get("applied").and_then(Value::as_object) {
        for (k, v) in m {
            applied.row(vec![
                Cell::text(k),
                Cell::Count(n(v, "count")),
                Cell::text(s(v, "amount")),
            ]);
        }
    }
    p.table(applied);
    let mut ex = Table::new(
        "lines",
        "Lines that posted nothing, and why",
        &["Line", "End-to-end id", "Rule", "Detail"],
    )
    .empty("Every line matched.");
    for e in arr(r, "exceptions") {
        ex.row(vec![
            Cell::Count(n(e, "line")),
            Cell::text(s(e, "e2e")),
            Cell::text(s(e, "code")),
            Cell::text(s(e, "detail")),
        ]);
    }
    p.table(ex);
}

async fn bank_page(
    state: &AppState,
    user: &WebUser,
    q: &super::html::Query,
    form: &FormState<'_>,
) -> Response {
    let list = match json_of(pay::imports(State(state.clone()), user.caller.clone()).await).await {
        Ok(v) => v,
        Err(e) => return bad(user, e),
    };
    let mut p = Page::new("Bank files");
    p.html(upload_form(user, form));
    p.table(imports_table(arr(&list, "imports")));
    p.status(form.error.map_or(StatusCode::OK, |e| e.status))
        .respond(Some(user), q)
}

/// `GET /web/finance/bank`
pub async fn bank(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    bank_page(&state, &user, &query(q), &FormState::default()).await
}

/// `POST /web/finance/bank`: a status or statement file, with its reconciliation result.
pub async fn upload_bank(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { user, fields } = posted;
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    let file = fields
        .files
        .get("file")
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    let r = if file.is_empty() {
        Err(ApiError::bad_request(
            Code::FileRequired,
            "file",
            "choose a pain.002, camt.053 or status CSV file to upload",
        ))
    } else {
        let mut h = fields.api_headers();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        json_of(
            pay::import(
                State(state.clone()),
                user.caller.clone(),
                h,
                Ok(Bytes::from(file)),
            )
            .await,
        )
        .await
    };
    match r {
        Ok(report) => Redirect::to(&format!("/web/finance/bank/{}", enc(s(&report, "sha256"))))
            .into_response(),
        Err(mut e) => {
            if e.field.is_none() {
                e.field = Some("file".into());
            }
            let f = FormState::new(BTreeMap::new(), Some(&e));
            bank_page(&state, &user, &Default::default(), &f).await
        }
    }
}

/// `GET /web/finance/bank/{sha}`: one import's reconciliation result.
pub async fn bank_import(
    State(state): State<AppState>,
    user: WebUser,
    Path(sha): Path<String>,
    q: PageQuery,
) -> Response {
    if let Some(r) = refuse(&user, FINANCE) {
        return r;
    }
    let list = match json_of(pay::imports(State(state.clone()), user.caller.clone()).await).await {
        Ok(v) => v,
        Err(e) => return bad(&user, e),
    };
    let Some(r) = arr(&list, "imports").iter().find(|i| s(i, "sha256") == sha) else {
        return bad(
            &user,
            ApiError::not_found("no bank file with this SHA-256 was imported"),
        );
    };
    let mut p = Page::new("Bank file");
    p.html(format!("<p>SHA-256 <code>{}</code></p>", esc(&sha)));
    import_result(&mut p, r);
    p.respond(Some(&user), &query(q))
}

// ---------- participants ----------

/// `GET /web/finance/participants/{participant}`: a participant's statement (finance and
/// auditors; never donors or partners).
pub async fn participant(
    State(state): State<AppState>,
    user: WebUser,
    Path(participant): Path<String>,
    q: PageQuery,
) -> Response {
    if let Some(r) = refuse(&user, STATEMENT_READERS) {
        return r;
    }
    let doc = match value_of(
        prog::participant(
            State(state.clone()),
            user.caller.clone(),
            Path(participant.clone()),
        )
        .await,
    ) {
        Ok(d) => d,
        Err(e) => return bad(&user, e),
    };
    let currency = value_of(
        prog::award(
            State(state.clone()),
            user.caller.clone(),
            Path(s(&doc, "award").to_string()),
        )
        .await,
    )
    .map(|a| s(&a, "currency").to_string())
    .unwrap_or_default();
    let mut p = Page::new(format!("Participant {participant}"));
    let personal = doc.get("personal").cloned().unwrap_or(Value::Null);
    let attrs = doc.get("attributes").cloned().unwrap_or(Value::Null);
    let erased = doc.get("erased_at").and_then(Value::as_str);
    p.html(facts(&[
        ("Award", esc(s(&doc, "award"))),
        ("Partner", esc(s(&doc, "partner"))),
        ("Registered at seq", n(&doc, "registered_seq").to_string()),
        (
            "Personal data",
            match erased {
                Some(at) => format!("erased at {}", esc(at)),
                None => esc(s(&personal, "name")),
            },
        ),
        ("Sex", esc(s(&attrs, "sex"))),
        ("Province", esc(s(&attrs, "province"))),
        ("Pathway", esc(s(&attrs, "pathway"))),
        (
            "Bank account",
            if personal
                .get("bank_account")
                .and_then(Value::as_str)
                .is_some()
            {
                "on file".into()
            } else {
                "none".into()
            },
        ),
    ]));
    let mut ev = Table::new(
        "evidence",
        "Evidence",
        &["Type", "What", "Value", "Date", "Seq"],
    );
    for e in arr(&doc, "evidence") {
        ev.row(vec![
            Cell::text(s(e, "type")),
            Cell::text(s(e, "what")),
            Cell::text(s(e, "value")),
            Cell::text(s(e, "date")),
            Cell::Seq(n(e, "seq"), None),
        ]);
    }
    p.table(ev);
    let mut en = Table::new(
        "entitlements",
        "Entitlements",
        &["Basis", "Rule", "Version", "Amount", "Seq"],
    )
    .empty("No entitlement.");
    for e in arr(&doc, "entitlements") {
        en.row(vec![
            Cell::text(s(e, "basis")),
            Cell::text(s(e, "rule")),
            Cell::Count(n(e, "version")),
            Cell::Amount(s(e, "amount").into(), currency.clone()),
            Cell::Seq(n(e, "seq"), None),
        ]);
    }
    p.table(en);
    p.respond(Some(&user), &query(q))
}
