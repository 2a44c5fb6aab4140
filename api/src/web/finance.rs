//! Finance pages (preparers, approvers, administrators): awards and their dashboards, cycles,
//! payment batches with maker-checker, bank files out and in, participant statements.

use std::collections::BTreeMap;
use tranche_audit::Code;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use rust_decimal::Decimal;
use tranche_ledger::service::payments::{BatchRequest, BatchView, ImportReport, PaymentLine};

use crate::server::error::{parse_json, ApiError};
use crate::server::programme::AwardDoc;
use crate::server::AppState;
use crate::service::payments as pay;
use crate::service::programme as prog;
use crate::service::Idempotency;

use super::html::{enc, error_page, facts, money, notice, Cell, FormState, Page, Query, Table};
use super::session::{Fields, Posted, WebUser};
use super::{query, PageQuery};

fn bad(user: &WebUser, e: ApiError) -> Response {
    error_page(Some(user), &e)
}

fn award_options(awards: &[AwardDoc]) -> Vec<(String, String)> {
    awards
        .iter()
        .map(|a| (a.award.clone(), format!("{} ({})", a.award, a.donor)))
        .collect()
}

fn decimal(t: &str) -> Decimal {
    t.parse().unwrap_or_default()
}

/// `GET /web/finance`: the awards.
pub async fn awards(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let q = query(q);
    let docs = match prog::awards(&state, &user.caller).await {
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
        let cur = &a.currency;
        let used: Decimal = a.budget_lines.iter().map(|l| decimal(&l.used)).sum();
        let total = decimal(&a.total);
        t.row(vec![
            Cell::Link(
                a.award.clone(),
                format!("/web/finance/awards/{}", enc(&a.award)),
            ),
            Cell::text(&a.donor),
            Cell::text(&a.start),
            Cell::text(&a.end),
            Cell::Amount(a.total.clone(), cur.clone()),
            Cell::Amount(format!("{used:.2}"), cur.clone()),
            Cell::Amount(format!("{:.2}", total - used), cur.clone()),
            Cell::Count(a.participants),
        ]);
    }
    let mut p = Page::new("Awards");
    p.html(html! {
        p { "Choose an award for its dashboard: budget burn, cash, payables, batches and the reports due." }
    });
    p.table(t);
    p.respond(Some(&user), &q)
}

/// Budget burn per line as an inline SVG bar chart: used share of each line's authorisation.
pub fn burn_chart(lines: &[crate::server::programme::BudgetLineDoc]) -> Markup {
    let (w, bar) = (420.0, 20.0);
    let height = lines.len() as f64 * (bar + 10.0) + 10.0;
    let width = w + 300.0;
    html! {
        figure {
            figcaption { "Budget burn per line (used as % of authorised)" }
            svg role="img" aria-label="Budget burn per line" width=(width) height=(height)
                viewBox={ "0 0 " (width) " " (height) } xmlns="http://www.w3.org/2000/svg" {
                @for (i, l) in lines.iter().enumerate() {
                    @let auth: f64 = l.authorised.parse().unwrap_or(0.0);
                    @let used: f64 = l.used.parse().unwrap_or(0.0);
                    @let pct = if auth > 0.0 { used / auth * 100.0 } else { 0.0 };
                    @let y = 5.0 + i as f64 * (bar + 10.0);
                    @let ty = y + 14.0;
                    @let color = if pct >= 90.0 { "#9b2c2c" } else { "#1f4e8c" };
                    text x="0" y=(ty) font-size="12" fill="#1a202c" { (l.line) }
                    rect x="190" y=(y) width=(w) height=(bar) fill="#e2e8f0" {}
                    rect x="190" y=(y) width=(format!("{:.1}", pct.min(100.0) / 100.0 * w)) height=(bar) fill=(color) {
                        title { (l.line) ": " (l.used) " of " (l.authorised) " (" (format!("{pct:.1}")) "%)" }
                    }
                    text x=(200.0 + w) y=(ty) font-size="12" fill="#1a202c" { (format!("{pct:.1}")) "%" }
                }
            }
        }
    }
}

/// `GET /web/finance/awards/{award}`: the award's dashboard.
pub async fn dashboard(
    State(state): State<AppState>,
    user: WebUser,
    Path(award): Path<String>,
    q: PageQuery,
) -> Response {
    let mut q = query(q);
    let done = q.0.remove("done").map(|d| match d.as_str() {
        "close" => "The quarter is closed: its SF-425's digest is in the journal, and nothing can be dated in it any more.",
        "reopen" => "Recorded: a request to reopen waits for a second approver; an approval reopens the quarter.",
        _ => "Done.",
    });
    let a = match prog::award(&state, &user.caller, &award).await {
        Ok(a) => a,
        Err(e) => return bad(&user, e),
    };
    let periods = match crate::service::periods::list(&state, &user.caller, &award).await {
        Ok(p) => p,
        Err(e) => return bad(&user, e),
    };
    let cur = a.currency.clone();
    let mut balances = Vec::new();
    for prefix in ["bank", "transit", "payable"] {
        match crate::service::audit::balances(&state, &user.caller, &format!("{prefix}:{award}"))
            .await
        {
            Ok(v) => balances.extend(v),
            Err(e) => return bad(&user, e),
        }
    }
    let sum = |pred: &dyn Fn(&str) -> bool| -> Decimal {
        balances
            .iter()
            .filter(|b| pred(&b.account))
            .map(|b| decimal(&b.balance))
            .sum()
    };
    let bank = sum(&|acc| acc == format!("bank:{award}"));
    let transit = sum(&|acc| acc == format!("transit:{award}"));
    let payables = -sum(&|acc| acc.starts_with(&format!("payable:{award}:")));
    let batches = match pay::batches(&state, &user.caller, Some(&award)).await {
        Ok(b) => b,
        Err(e) => return bad(&user, e),
    };
    let open: Vec<_> = batches
        .iter()
        .filter(|b| matches!(b.status.as_str(), "draft" | "submitted" | "approved"))
        .collect();
    // Today in the award's time zone.
    let offset = a
        .utc_offset
        .as_deref()
        .and_then(tranche_audit::programme::parse_utc_offset)
        .unwrap_or(0);
    let today = (chrono::Utc::now() + chrono::Duration::seconds(i64::from(offset))).date_naive();
    let due =
        match crate::service::reports::due(&state, &user.caller, &award, Some(&today.to_string()))
            .await
        {
            Ok((_, _, due)) => due,
            Err(e) => return bad(&user, e),
        };
    let mut p = Page::new(format!("Award {award}"));
    if let Some(d) = done {
        p.html(notice(d));
    }
    p.html(html! {
        p { (a.donor) " · " (a.start) " to " (a.end) " · amounts in " (cur) }
    });
    p.html(facts(&[
        ("Authorised", money(&a.total, &cur)),
        ("Cash on hand (bank)", money(&format!("{bank:.2}"), &cur)),
        (
            "Payables (owed, not yet sent)",
            money(&format!("{payables:.2}"), &cur),
        ),
        (
            "In transit (sent, not confirmed)",
            money(&format!("{transit:.2}"), &cur),
        ),
        ("Open batches", html! { (open.len()) }),
        ("Participants", html! { (a.participants) }),
    ]));
    p.html(burn_chart(&a.budget_lines));
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
    for l in &a.budget_lines {
        lines.row(vec![
            Cell::text(&l.line),
            Cell::text(&l.name),
            Cell::text(if l.participant_support { "yes" } else { "no" }),
            Cell::Amount(l.authorised.clone(), cur.clone()),
            Cell::Amount(l.used.clone(), cur.clone()),
            Cell::Amount(l.remaining.clone(), cur.clone()),
        ]);
    }
    p.table(lines);
    let mut t = batch_table("open", "Open batches");
    for b in open {
        batch_row(&mut t, b);
    }
    p.table(t.empty("No batch is waiting: create one under Batches."));
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
            "Period",
            "Report",
        ],
    );
    for d in due {
        let period = periods
            .iter()
            .find(|p| p.quarter == d.quarter)
            .map_or("open", |p| p.status);
        t.row(vec![
            Cell::text(&d.quarter),
            Cell::text(&d.start),
            Cell::text(&d.end),
            Cell::text(&d.due),
            Cell::text(d.status),
            Cell::text(d.days_left.to_string()),
            Cell::text(period.replace('_', " ")),
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
    p.html(period_forms(&user, &award, &periods, today));
    p.respond(Some(&user), &q)
}

/// An approver's forms: close the next quarter once it has ended, reopen the last closed one.
fn period_forms(
    user: &WebUser,
    award: &str,
    periods: &[tranche_ledger::service::periods::PeriodView],
    today: chrono::NaiveDate,
) -> Markup {
    if !user.may("POST", "/v1/awards/{award}/periods/{quarter}/close") {
        return html! {};
    }
    let next = periods
        .iter()
        .find(|p| p.status == "open")
        .filter(|p| p.end.as_str() < today.to_string().as_str());
    let last = periods.iter().rev().find(|p| p.status != "open");
    let path = |q: &str, action: &str| {
        format!(
            "/web/finance/awards/{}/periods/{}/{action}",
            enc(award),
            enc(q)
        )
    };
    html! {
        @if let Some(n) = next {
            form.card method="post" action=(path(&n.quarter, "close")) {
                (user.form_fields())
                p { "Once the SF-425 for " (n.quarter) " is submitted, close the quarter: its report's digest is journaled, and nothing can be dated in it any more (late corrections go in the open period, citing it)." }
                label { "Indirect cost rate, as submitted (e.g. 0.10) " input type="text" name="indirect_rate" inputmode="decimal"; }
                button type="submit" { "Close " (n.quarter) }
            }
        }
        @if let Some(l) = last {
            form.card method="post" action=(path(&l.quarter, "reopen")) {
                (user.form_fields())
                p {
                    @if l.status == "reopen_requested" {
                        "A request to reopen " (l.quarter) " waits for a second approver: approving it reopens the quarter."
                    } @else {
                        "Reopening " (l.quarter) " takes a reason and a second approver; it is listed in the audit trail."
                    }
                }
                label { "Reason " input type="text" name="reason" required; }
                button type="submit" class="secondary" {
                    @if l.status == "reopen_requested" { "Approve reopening " (l.quarter) } @else { "Ask to reopen " (l.quarter) }
                }
            }
        }
    }
}

/// `POST /web/finance/awards/{award}/periods/{quarter}/{action}`: close or reopen, through the
/// periods service (held to its API route's line of the role matrix).
pub async fn period_action(
    State(state): State<AppState>,
    Path((award, quarter, action)): Path<(String, String, String)>,
    posted: Posted,
) -> Response {
    let Posted { user, fields } = posted;
    let key = fields.get("idem");
    let path = format!("/v1/awards/{award}/periods/{quarter}/{action}");
    let r = match action.as_str() {
        "close" => {
            let body = crate::server::periods::CloseRequest {
                indirect_rate: fields.opt("indirect_rate"),
            };
            let idem = Idempotency::of_form(key, &path, &body);
            crate::service::periods::close(
                &state,
                &user.caller,
                &idem,
                &award,
                &quarter,
                body.indirect_rate.as_deref(),
            )
            .await
        }
        "reopen" => {
            let body = crate::server::periods::ReopenRequest {
                reason: fields.get("reason").trim().to_string(),
            };
            let idem = Idempotency::of_form(key, &path, &body);
            crate::service::periods::reopen(
                &state,
                &user.caller,
                &idem,
                &award,
                &quarter,
                &body.reason,
            )
            .await
        }
        _ => Err(ApiError::not_found(format!(
            "{action:?} is not an action on a period"
        ))),
    };
    match r {
        Ok(_) => Redirect::to(&format!(
            "/web/finance/awards/{}?done={action}",
            enc(&award)
        ))
        .into_response(),
        Err(e) => bad(&user, e),
    }
}

// ---------- cycles ----------

fn cycle_form(user: &WebUser, awards: &[AwardDoc], form: &FormState<'_>) -> Markup {
    if !user.may("POST", "/web/finance/cycles") {
        return html! { p.warning { "Cycles are run by a finance preparer." } };
    }
    html! {
        form.card method="post" action="/web/finance/cycles" {
            h2 { "Run a cycle" }
            (form.general_error(&["award", "period"]))
            (user.form_fields())
            (form.select("award", "Award", &award_options(awards), &["award"]))
            (form.input("period", "Month", "text", &["period"], "YYYY-MM, e.g. 2026-03"))
            (form.checkbox("dry_run", "Dry run: compute and show, post nothing"))
            button type="submit" { "Run the cycle" }
        }
    }
}

/// `GET /web/finance/cycles[?award=A&period=P]`: the form, and with an award and a month the
/// cycle computed without posting (what a run would post now, and every exception).
pub async fn cycles(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let q = query(q);
    let awards = match prog::awards(&state, &user.caller).await {
        Ok(a) => a,
        Err(e) => return bad(&user, e),
    };
    let mut p = Page::new("Cycles");
    let (Some(award), Some(period)) = (q.get("award"), q.get("period")) else {
        p.html(html! {
            p { "A cycle turns the month's verified evidence into entitlements under the rule versions in force. Running it again posts nothing; after late or corrected evidence it posts only the difference." }
        });
        p.html(cycle_form(&user, &awards, &FormState::default()));
        return p.respond(Some(&user), &q);
    };
    let values: BTreeMap<String, String> = [
        ("award".to_string(), award.to_string()),
        ("period".to_string(), period.to_string()),
    ]
    .into_iter()
    .collect();
    let report = match prog::preview_cycle(&state, &user.caller, award, period).await {
        Ok(r) => r,
        Err(e) => {
            p.html(cycle_form(
                &user,
                &awards,
                &FormState::new(values, Some(&e)),
            ));
            return p.status(e.status).respond(Some(&user), &q);
        }
    };
    let cur = report.currency.clone();
    let ran = q.get("ran").is_some();
    let entitlements = report.entitlements.to_string();
    let reversals = report.reversals.to_string();
    p.html(html! {
        p.notice role="status" {
            @if ran { "Cycle run for " } @else { "Dry run (nothing posted) for " }
            (report.award) " " (report.period) ": "
            (q.get("entitlements").unwrap_or(&entitlements)) " entitlements and "
            (q.get("reversals").unwrap_or(&reversals)) " reversals "
            @if ran { "posted" } @else { "would be posted" }
            ", net payable "
            (money(q.get("net_payable").unwrap_or(&report.net_payable), &cur)) "."
        }
    });
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
    for l in &report.lines {
        lines.row(vec![
            Cell::text(&l.rule),
            Cell::text(&l.budget_line),
            Cell::text(l.kind),
            Cell::Count(l.entitlements),
            Cell::Amount(l.amount.clone(), cur.clone()),
            Cell::Count(l.reversals),
            Cell::Amount(l.reversed_amount.clone(), cur.clone()),
        ]);
    }
    p.table(lines);
    let mut ex = Table::new(
        "exceptions",
        "Exceptions",
        &["Participant", "Rule", "Reason", "Detail", "Amount"],
    )
    .empty("No exceptions.");
    for e in &report.exceptions {
        ex.row(vec![
            Cell::Link(
                e.participant.clone(),
                format!("/web/finance/participants/{}", enc(&e.participant)),
            ),
            Cell::text(&e.rule),
            Cell::text(e.reason),
            Cell::text(&e.detail),
            match &e.amount {
                Some(a) => Cell::Amount(a.clone(), cur.clone()),
                None => Cell::text(""),
            },
        ]);
    }
    p.table(ex);
    p.html(cycle_form(&user, &awards, &FormState::new(values, None)));
    p.respond(Some(&user), &q)
}

/// `POST /web/finance/cycles`: a dry run goes to its page; a run posts, then goes to the
/// cycle's page with what it posted.
pub async fn run_cycle(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { user, fields } = posted;
    let award = fields.get("award").to_string();
    let period = fields.get("period").trim().to_string();
    let dry = fields.checked("dry_run");
    let to = format!(
        "/web/finance/cycles?award={}&period={}",
        enc(&award),
        enc(&period)
    );
    let r = if dry {
        prog::preview_cycle(&state, &user.caller, &award, &period)
            .await
            .map(|_| to)
    } else {
        let request = prog::Cycle {
            award: award.clone(),
            period: period.clone(),
            dry_run: false,
        };
        let idem = Idempotency::of_form(fields.get("idem"), "/v1/cycles", &request);
        prog::run_cycle(&state, &user.caller, &idem, &award, &period)
            .await
            .map(|run| {
                let (entitlements, reversals, net) = run.totals();
                format!(
                    "{to}&ran=1&entitlements={entitlements}&reversals={reversals}&net_payable={}",
                    enc(&net)
                )
            })
    };
    match r {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => {
            let awards = prog::awards(&state, &user.caller).await.unwrap_or_default();
            let mut p = Page::new("Cycles");
            let f = FormState::new(fields.values(), Some(&e));
            p.html(cycle_form(&user, &awards, &f));
            p.status(e.status).respond(Some(&user), &Default::default())
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

fn batch_row(t: &mut Table, b: &BatchView) {
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

fn create_form(user: &WebUser, awards: &[AwardDoc], form: &FormState<'_>) -> Markup {
    if !user.may("POST", "/web/finance/batches") {
        return html! {
            p.warning { "Batches are created by a finance preparer; approvers review them here." }
        };
    }
    html! {
        form.card method="post" action="/web/finance/batches" {
            h2 { "Create a payment batch" }
            p.hint { "One payment per payee, settling every open entitlement that matches. Payees without a bank account, with erased data or owed less than their entitlements are listed as exceptions." }
            (form.general_error(&["award", "filter.province", "filter.cohort", "filter.budget_line"]))
            (user.form_fields())
            (form.select("award", "Award", &award_options(awards), &["award"]))
            (form.input("province", "Province (optional)", "text", &["filter.province"], ""))
            (form.input("cohort", "Cohort (optional)", "text", &["filter.cohort"], ""))
            (form.input("budget_line", "Budget line (optional)", "text", &["filter.budget_line"], ""))
            (form.checkbox("dry_run", "Dry run: show what the batch would hold, create nothing"))
            button type="submit" { "Create the batch" }
        }
    }
}

/// The batch a form asks for, read as the API reads its JSON body (so a bad filter is named
/// as the API names it: `filter.cohort`).
fn batch_request(fields: &Fields) -> Result<BatchRequest, ApiError> {
    let mut filter = serde_json::Map::new();
    for k in ["province", "cohort", "budget_line"] {
        if let Some(v) = fields.opt(k) {
            filter.insert(k.into(), serde_json::Value::String(v));
        }
    }
    let body = serde_json::json!({"award": fields.get("award"), "filter": filter});
    parse_json(body.to_string().as_bytes())
}

/// `GET /web/finance/batches[?dry=1&award=…]`: the batches, the create form, and with `dry`
/// what a batch with that filter would hold, computed without creating it.
pub async fn batches(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let q = query(q);
    let awards = match prog::awards(&state, &user.caller).await {
        Ok(a) => a,
        Err(e) => return bad(&user, e),
    };
    let list = match pay::batches(&state, &user.caller, None).await {
        Ok(l) => l,
        Err(e) => return bad(&user, e),
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
        values.insert("dry_run".into(), "on".into());
        let plan = match batch_request(&fields) {
            Ok(request) => pay::plan_batch(&state, &user.caller, &request).await,
            Err(e) => Err(e),
        };
        match plan {
            Ok(plan) => {
                let cur = awards
                    .iter()
                    .find(|a| a.award == fields.get("award"))
                    .map(|a| a.currency.clone())
                    .unwrap_or_default();
                p.html(html! {
                    p.notice role="status" {
                        "Dry run: the batch would hold " (plan.payments.len()) " payments, "
                        (money(&plan.total, &cur)) ". Nothing was created."
                    }
                });
                p.table(payments_table(&plan.payments, false));
                p.table(exceptions_table(&plan.exceptions, &cur));
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
    if user.may("POST", "/v1/batches/{batch}/approve") {
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

/// `POST /web/finance/batches`: creates the batch and goes to it; a dry run goes to its page.
pub async fn create_batch(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { user, fields } = posted;
    if fields.checked("dry_run") {
        let mut to = String::from("/web/finance/batches?dry=1");
        for k in ["award", "province", "cohort", "budget_line"] {
            if let Some(v) = fields.opt(k) {
                to.push_str(&format!("&{k}={}", enc(&v)));
            }
        }
        return Redirect::to(&to).into_response();
    }
    let r = match batch_request(&fields) {
        Ok(request) => {
            let idem = Idempotency::of_form(fields.get("idem"), "/v1/batches", &request);
            pay::create_batch(&state, &user.caller, &idem, &request).await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok((view, _)) => {
            Redirect::to(&format!("/web/finance/batches/{}", enc(&view.batch))).into_response()
        }
        Err(e) => {
            let awards = prog::awards(&state, &user.caller).await.unwrap_or_default();
            let list = pay::batches(&state, &user.caller, None)
                .await
                .unwrap_or_default();
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

fn payments_table(payments: &[PaymentLine], with_status: bool) -> Table {
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
        let ents: Vec<String> = pm.entitlements.iter().map(u64::to_string).collect();
        t.row(vec![
            Cell::text(&pm.e2e),
            payee_cell(&pm.payee),
            Cell::Amount(pm.amount.clone(), pm.currency.clone()),
            Cell::text(ents.join(" ")),
            Cell::text(if with_status {
                pm.status.clone()
            } else {
                pm.reissues.join(" ")
            }),
        ]);
    }
    t
}

fn exceptions_table(
    exceptions: &[tranche_audit::disburse::BatchExceptionBody],
    cur: &str,
) -> Table {
    let mut t = Table::new(
        "exceptions",
        "Exceptions (not in the batch, and why)",
        &["Payee", "Amount", "Reason"],
    )
    .empty("No exceptions.");
    for e in exceptions {
        t.row(vec![
            payee_cell(&e.payee),
            Cell::Amount(e.amount.clone(), cur.into()),
            Cell::text(&e.reason),
        ]);
    }
    t
}

/// Whether this user may approve or reject this batch: one the role matrix lets approve, who
/// neither prepared nor submitted it and has not decided on it yet. The ledger enforces the
/// same rule; this only decides which buttons to show.
fn may_decide(user: &WebUser, b: &BatchView) -> bool {
    let me = user.caller.actor();
    user.may("POST", "/v1/batches/{batch}/approve")
        && b.preparer != me
        && b.submitted.as_ref().is_none_or(|d| d.actor != me)
        && !b.approvals.iter().any(|d| d.actor == me)
}

/// Whether this user may send an approved batch to the bank: one the role matrix lets release
/// it, who neither prepared nor submitted it (the ledger's `own_batch` rule).
fn may_release(user: &WebUser, b: &BatchView) -> bool {
    let me = user.caller.actor();
    user.may("POST", "/v1/batches/{batch}/send")
        && b.preparer != me
        && b.submitted.as_ref().is_none_or(|d| d.actor != me)
}

/// One action on a batch: a form posting to the batch's action route, with its own fields.
fn action(
    user: &WebUser,
    batch: &str,
    name: &str,
    label: &str,
    class: &str,
    extra: Markup,
) -> Markup {
    html! {
        form method="post" action={ "/web/finance/batches/" (enc(batch)) "/" (name) } {
            (user.form_fields())
            (extra)
            button type="submit" class=(class) { (label) }
        }
    }
}

/// The actions this user may take on the batch now.
fn actions(user: &WebUser, batch: &str, view: &BatchView, form: &FormState<'_>) -> Markup {
    let digest = view.digest.clone().unwrap_or_default();
    let me = user.caller.actor();
    let preparer = user.may("POST", "/v1/batches/{batch}/submit");
    let mut out: Vec<Markup> = Vec::new();
    match view.status.as_str() {
        "draft" if preparer => {
            out.push(action(
                user,
                batch,
                "submit",
                "Submit for approval",
                "",
                html! {},
            ));
        }
        "submitted" if may_decide(user, view) => {
            let dig = html! { input type="hidden" name="digest" value=(digest); };
            out.push(action(user, batch, "approve", "Approve", "", dig.clone()));
            out.push(action(
                user,
                batch,
                "reject",
                "Reject",
                "danger",
                html! {
                    (dig)
                    (form.input("reason", "Reason for rejecting", "text", &["reason"], ""))
                },
            ));
        }
        "submitted" => {
            let why =
                if view.preparer == me || view.submitted.as_ref().is_some_and(|d| d.actor == me) {
                    "You prepared or submitted this batch: another approver must approve it."
                } else if view.approvals.iter().any(|d| d.actor == me) {
                    "You have approved this batch: it needs another approver."
                } else {
                    "Waiting for an approver."
                };
            out.push(html! { p.warning { (why) } });
        }
        "approved" if user.may("POST", "/v1/batches/{batch}/files") => {
            let has = |f: &str| view.files.iter().any(|x| x.format == f);
            if !has("pain.001") {
                out.push(action(
                    user,
                    batch,
                    "files",
                    "Make the pain.001 bank file",
                    "",
                    html! { input type="hidden" name="format" value="pain.001"; },
                ));
            }
            if !has("csv") {
                out.push(action(
                    user,
                    batch,
                    "files",
                    "Make a payments CSV file",
                    "secondary",
                    html! { input type="hidden" name="format" value="csv"; },
                ));
            }
            if !view.files.is_empty() && may_release(user, view) {
                out.push(action(
                    user,
                    batch,
                    "send",
                    "Mark as sent to the bank",
                    "",
                    html! {
                        label {
                            "Sent on (the accounting date; empty: today) "
                            input type="date" name="date";
                        }
                    },
                ));
            } else if !view.files.is_empty() {
                out.push(html! {
                    p.warning { "An approver who neither prepared nor submitted this batch releases it to the bank." }
                });
            }
        }
        _ => {}
    }
    if user.may("POST", "/v1/batches/{batch}/cancel")
        && matches!(view.status.as_str(), "draft" | "submitted" | "approved")
    {
        out.push(action(
            user,
            batch,
            "cancel",
            "Cancel the batch",
            "secondary",
            form.input(
                "cancel_reason",
                "Reason for cancelling",
                "text",
                &["cancel_reason"],
                "",
            ),
        ));
    }
    html! {
        @if !out.is_empty() {
            h2 { "Actions" }
            div.actions { @for a in &out { (a) } }
        }
    }
}

async fn batch_page(
    state: &AppState,
    user: &WebUser,
    batch: &str,
    q: &Query,
    form: &FormState<'_>,
    notice_text: Option<&str>,
) -> Response {
    let id = match pay::batch_id(batch) {
        Ok(i) => i,
        Err(e) => return bad(user, e),
    };
    let view = match pay::batch(state, &user.caller, &id, 0, 0).await {
        Ok(v) => v,
        Err(e) => return bad(user, e),
    };
    let payments = match state.ledger.batch_payments(&id).await {
        Ok(p) => p,
        Err(e) => return bad(user, e.into()),
    };
    let cur = view.currency.clone();
    let mut p = Page::new(format!("Batch {batch}"));
    if let Some(n) = notice_text {
        p.html(notice(n));
    }
    p.html(form.general_error(&["reason"]));
    p.html(facts(&[
        ("Status", html! { span.status { (view.status) } }),
        ("Award", html! { (view.award) }),
        ("Total", money(&view.total, &cur)),
        ("Payments", html! { (view.payment_count) }),
        ("Exceptions", html! { (view.exception_count) }),
        (
            "Prepared by",
            html! { (view.preparer.trim_start_matches("user:")) },
        ),
        (
            "Approvals",
            html! {
                (view.approvals.len()) " of " (view.approvals_required) " required"
                @if view.approvals_required > 1 { " (two distinct approvers: above the award's threshold)" }
                @for (i, d) in view.approvals.iter().enumerate() {
                    @if i == 0 { ": " } @else { ", " }
                    (d.actor.trim_start_matches("user:")) " (seq " (d.seq) ")"
                }
            },
        ),
        (
            "Available funds",
            html! { @if let Some(a) = &view.available_funds { (money(a, &cur)) } },
        ),
    ]));
    if let Some(d) = &view.digest {
        p.html(html! {
            p {
                "Content digest"
                @if view.status == "draft" { " (frozen when submitted; approvals name it)" }
                @else { " (frozen; what approvals name)" }
                ": " code { (d) }
            }
        });
    }
    if let Some(c) = &view.closed {
        p.html(html! {
            p {
                "Closed by " (c.actor.trim_start_matches("user:")) " at seq " (c.seq)
                @if let Some(r) = &c.reason { ": " (r) }
                "."
            }
        });
    }
    p.html(actions(user, batch, &view, form));
    if !view.files.is_empty() {
        let mut t = Table::new(
            "files",
            "Bank files",
            &["Format", "SHA-256", "Seq", "Download"],
        );
        for f in &view.files {
            t.row(vec![
                Cell::text(&f.format),
                Cell::text(&f.sha256),
                Cell::Count(f.seq),
                Cell::Link(
                    format!("Download {}", f.format),
                    format!(
                        "/web/finance/batches/{}/files/{}",
                        enc(batch),
                        enc(&f.format)
                    ),
                ),
            ]);
        }
        p.table(t);
    }
    p.table(payments_table(&payments, true));
    p.table(exceptions_table(&view.exceptions, &cur));
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
    let mut q = query(q);
    let done = q.0.remove("done").map(|d| match d.as_str() {
        "submit" => "Submitted: the batch is frozen at its digest and waits for approval.",
        "approve" => "Approved.",
        "reject" => "Rejected.",
        "cancel" => "Cancelled.",
        "files" => "The bank file was made; its digest is in the journal. Download it below.",
        "send" => "Marked as sent: the payments are in transit.",
        _ => "Done.",
    });
    batch_page(&state, &user, &batch, &q, &FormState::default(), done).await
}

/// The actions on a batch, each a route of the API.
const BATCH_ACTIONS: &[&str] = &["submit", "approve", "reject", "cancel", "files", "send"];

/// `POST /web/finance/batches/{batch}/{action}`: submit, approve, reject, cancel, files, send,
/// each through its service, which holds the user to its API route's line of the role matrix.
pub async fn batch_action(
    State(state): State<AppState>,
    Path((batch, action)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let Posted { user, fields } = posted;
    if !BATCH_ACTIONS.contains(&action.as_str()) {
        return bad(
            &user,
            ApiError::not_found(format!("{action:?} is not an action on a batch")),
        );
    }
    // Held to the action's API route's line first, as the API holds its caller before the
    // handler runs: a role that may not is refused before the batch is even looked up.
    let route = format!("/v1/batches/{{batch}}/{action}");
    if let Err(e) = crate::service::authorize(&user.caller, "POST", &route) {
        return bad(&user, e);
    }
    let id = match pay::batch_id(&batch) {
        Ok(i) => i,
        Err(e) => return bad(&user, e),
    };
    let (st, c, key) = (&state, &user.caller, fields.get("idem"));
    let path = format!("/v1/batches/{id}/{action}");
    let r = match action.as_str() {
        "submit" => {
            let idem = Idempotency::of_form(key, &path, &serde_json::json!({}));
            pay::submit_batch(st, c, &idem, &id).await.map(|_| ())
        }
        "approve" | "reject" => {
            let decision = pay::Decision {
                digest: fields.get("digest").to_string(),
                reason: fields.opt("reason").filter(|_| action == "reject"),
            };
            let idem = Idempotency::of_form(key, &path, &decision);
            pay::decide(st, c, &idem, &id, action == "approve", decision)
                .await
                .map(|_| ())
        }
        "cancel" => {
            let cancel = pay::Cancel {
                reason: fields.get("cancel_reason").trim().to_string(),
            };
            let idem = Idempotency::of_form(key, &path, &cancel);
            pay::cancel(st, c, &idem, &id, cancel).await.map(|_| ())
        }
        "files" => {
            let make = pay::MakeFile {
                format: Some(fields.get("format").to_string()),
                execution_date: None,
            };
            let idem = Idempotency::of_form(key, &path, &make);
            pay::make_file(st, c, &idem, &id, make).await.map(|_| ())
        }
        "send" => {
            let date = match fields.opt("date") {
                None => None,
                Some(d) => match tranche_audit::programme::Date::parse(d.trim()) {
                    Ok(d) => Some(d),
                    Err(e) => return bad(&user, ApiError::from(e.within("date"))),
                },
            };
            let send = pay::Send { file: None, date };
            let idem = Idempotency::of_form(key, &path, &send);
            pay::send(st, c, &idem, &id, send).await.map(|_| ())
        }
        _ => Err(ApiError::not_found(format!(
            "{action:?} is not an action on a batch"
        ))),
    };
    match r {
        // Post, then redirect: the batch page's tables sort, page and download from its own URL.
        Ok(()) => Redirect::to(&format!(
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
/// against its journaled digest, as a download.
pub async fn download_file(
    State(state): State<AppState>,
    user: WebUser,
    Path((batch, format)): Path<(String, String)>,
) -> Response {
    let file = match pay::batch_id(&batch) {
        Ok(id) => pay::bank_file(&state, &user.caller, &id, &format).await,
        Err(e) => Err(e),
    };
    match file {
        Ok(file) => {
            let ext = if format == "csv" { "csv" } else { "xml" };
            let name = format!("{batch}-{format}.{ext}");
            let mut r = (
                [
                    (header::CONTENT_TYPE, file.content_type.to_string()),
                    (header::ETAG, format!("\"{}\"", file.sha256)),
                ],
                file.bytes,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => bad(&user, e),
    }
}

// ---------- bank files in ----------

fn upload_form(user: &WebUser, form: &FormState<'_>) -> Markup {
    html! {
        @if user.may("POST", "/web/finance/bank") {
            form.card method="post" action="/web/finance/bank" enctype="multipart/form-data" {
                h2 { "Upload a bank file" }
                p.hint { "A pain.002 status report, a camt.053 statement or a status CSV, recognised by its content. The same file imported twice posts nothing the second time." }
                (form.general_error(&["file"]))
                (user.form_fields())
                (form.input("file", "Bank file", "file", &["file"], ""))
                button type="submit" { "Import" }
            }
        }
    }
}

fn applied_text(i: &ImportReport) -> String {
    i.applied
        .iter()
        .map(|(k, v)| format!("{k} {}", v.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn imports_table(list: &[ImportReport]) -> Table {
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
        t.row(vec![
            Cell::Link(
                i.sha256.chars().take(16).collect::<String>() + "…",
                format!("/web/finance/bank/{}", enc(&i.sha256)),
            ),
            Cell::text(&i.format),
            Cell::text(&i.award),
            Cell::Count(i.lines),
            Cell::text(applied_text(i)),
            Cell::Count(i.exceptions.len() as u64),
            Cell::Count(i.seq.unwrap_or(0)),
        ]);
    }
    t
}

fn import_result(p: &mut Page, r: &ImportReport) {
    p.html(html! {
        p.notice role="status" {
            @if r.already_imported { "Already imported before, nothing posted again:" } @else { "Imported:" }
            " " (r.format) " file of " (r.lines) " lines for award " (r.award) "."
        }
    });
    let mut applied = Table::new(
        "applied",
        "Reconciliation: outcomes applied",
        &["Outcome", "Payments", "Amount"],
    )
    .empty("Nothing applied.");
    for (k, v) in &r.applied {
        applied.row(vec![
            Cell::text(k),
            Cell::Count(v.count),
            Cell::text(&v.amount),
        ]);
    }
    p.table(applied);
    let mut ex = Table::new(
        "lines",
        "Lines that posted nothing, and why",
        &["Where", "End-to-end id", "Rule", "Detail"],
    )
    .empty("Every line matched.");
    for e in &r.exceptions {
        // A statement line by its entry's references and path; a CSV line by its number.
        let place = match e.at.as_ref().and_then(|a| a.describe()) {
            Some(place) => Cell::text(place),
            None => Cell::Count(e.line),
        };
        ex.row(vec![
            place,
            Cell::text(e.e2e.clone().unwrap_or_default()),
            Cell::text(&e.code),
            Cell::text(&e.detail),
        ]);
    }
    p.table(ex);
}

async fn bank_page(state: &AppState, user: &WebUser, q: &Query, form: &FormState<'_>) -> Response {
    let list = match pay::imports(state, &user.caller).await {
        Ok(v) => v,
        Err(e) => return bad(user, e),
    };
    let mut p = Page::new("Bank files");
    p.html(upload_form(user, form));
    p.table(imports_table(&list));
    p.status(form.error.map_or(StatusCode::OK, |e| e.status))
        .respond(Some(user), q)
}

/// `GET /web/finance/bank`
pub async fn bank(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    bank_page(&state, &user, &query(q), &FormState::default()).await
}

/// `POST /web/finance/bank`: a status or statement file, with its reconciliation result.
pub async fn upload_bank(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { user, fields } = posted;
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
        // The identity of an upload is its bytes, as the API's is its body.
        let idem = Idempotency {
            key: format!("web-{}", fields.get("idem")),
            request_hash: crate::server::routes::request_hash("/v1/bank-files", &file),
        };
        pay::import(&state, &user.caller, &idem, &file).await
    };
    match r {
        Ok((report, _)) => {
            Redirect::to(&format!("/web/finance/bank/{}", enc(&report.sha256))).into_response()
        }
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
    let list = match pay::imports(&state, &user.caller).await {
        Ok(v) => v,
        Err(e) => return bad(&user, e),
    };
    let Some(r) = list.iter().find(|i| i.sha256 == sha) else {
        return bad(
            &user,
            ApiError::not_found("no bank file with this SHA-256 was imported"),
        );
    };
    let mut p = Page::new("Bank file");
    p.html(html! { p { "SHA-256 " code { (sha) } } });
    import_result(&mut p, r);
    p.respond(Some(&user), &query(q))
}

// ---------- participants ----------

fn text_of<'a>(v: &'a Option<serde_json::Value>, k: &str) -> &'a str {
    v.as_ref()
        .and_then(|v| v.get(k))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

/// `GET /web/finance/participants/{participant}`: a participant's statement (finance and
/// auditors; never donors or partners).
pub async fn participant(
    State(state): State<AppState>,
    user: WebUser,
    Path(participant): Path<String>,
    q: PageQuery,
) -> Response {
    let doc = match prog::participant(&state, &user.caller, &participant).await {
        Ok(d) => d,
        Err(e) => return bad(&user, e),
    };
    let currency = prog::award(&state, &user.caller, &doc.award)
        .await
        .map(|a| a.currency)
        .unwrap_or_default();
    let mut p = Page::new(format!("Participant {participant}"));
    let has_account = doc
        .personal
        .as_ref()
        .and_then(|v| v.get("bank_account"))
        .and_then(serde_json::Value::as_str)
        .is_some();
    p.html(facts(&[
        ("Award", html! { (doc.award) }),
        ("Partner", html! { (doc.partner) }),
        ("Registered at seq", html! { (doc.registered_seq) }),
        (
            "Personal data",
            html! {
                @match &doc.erased_at {
                    Some(at) => { "erased at " (at) },
                    None => (text_of(&doc.personal, "name")),
                }
            },
        ),
        ("Sex", html! { (text_of(&doc.attributes, "sex")) }),
        ("Province", html! { (text_of(&doc.attributes, "province")) }),
        ("Pathway", html! { (text_of(&doc.attributes, "pathway")) }),
        (
            "Bank account",
            html! { @if has_account { "on file" } @else { "none" } },
        ),
    ]));
    let mut ev = Table::new(
        "evidence",
        "Evidence",
        &["Type", "What", "Value", "Date", "Seq"],
    );
    for e in &doc.evidence {
        ev.row(vec![
            Cell::text(&e.kind),
            Cell::text(&e.what),
            Cell::text(&e.value),
            Cell::text(e.date.clone().unwrap_or_default()),
            Cell::Seq(e.seq, None),
        ]);
    }
    p.table(ev);
    let mut en = Table::new(
        "entitlements",
        "Entitlements",
        &["Basis", "Rule", "Version", "Amount", "Seq"],
    )
    .empty("No entitlement.");
    for e in &doc.entitlements {
        en.row(vec![
            Cell::text(&e.basis),
            Cell::text(&e.rule),
            Cell::Count(e.version),
            Cell::Amount(e.amount.clone(), currency.clone()),
            Cell::Seq(e.seq, None),
        ]);
    }
    p.table(en);
    p.respond(Some(&user), &query(q))
}
