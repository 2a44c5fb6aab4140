//! Reports for donors and finance staff, bound to a signed checkpoint: the figures are computed
//! from the journal up to the latest checkpoint (`tranche_audit::report_compute`, the same code
//! `tranche-verify report` runs on an export), stated with that checkpoint, and signed with the
//! ledger's key. Rendered as the canonical JSON, as CSV, or as a self-contained HTML page.

use base64::Engine as _;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tranche_audit::programme::{Date, Id};
use tranche_audit::record::{format_time, Record};
use tranche_audit::report::{Report, ReportBody, ReportCheckpoint, ReportPeriod, SignedReport};
use tranche_audit::report_compute::{Accumulator, ReportRequest};
use tranche_audit::Code;
use tranche_audit::Invalid;

use crate::store::{StoreError, MAX_PAGE};
use crate::Ledger;

fn invalid(field: &str, code: Code, detail: impl Into<String>) -> StoreError {
    StoreError::Invalid(Invalid::new(field, code, detail))
}

/// The kinds this ledger computes (all of them).
pub use tranche_audit::report::KINDS;

/// `2026Q1` → 2026-01-01 to 2026-03-31.
pub fn quarter(text: &str) -> Result<ReportPeriod, Invalid> {
    let bad = || {
        Invalid::new(
            "quarter",
            Code::InvalidQuarter,
            format!("{text:?} is not a quarter like 2026Q1"),
        )
    };
    let (y, q) = text.split_once(['Q', 'q']).ok_or_else(bad)?;
    let y: i32 = y.parse().map_err(|_| bad())?;
    let q: u32 = q.parse().map_err(|_| bad())?;
    if !(1..=4).contains(&q) {
        return Err(bad());
    }
    let start = NaiveDate::from_ymd_opt(y, 3 * q - 2, 1).ok_or_else(bad)?;
    let next = if q == 4 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, 3 * q + 1, 1)
    }
    .ok_or_else(bad)?;
    Ok(ReportPeriod {
        start: Date(start),
        end: Date(next.pred_opt().ok_or_else(bad)?),
    })
}

/// A quarterly SF-425 due: the quarter, its period, the date it is due (30 days after its end),
/// and where it stands on the day asked about: `upcoming` (the quarter has not ended),
/// `due` (ended, due date not passed) or `overdue` (the due date has passed); `days_left` is
/// the days from that day to the due date (negative when overdue).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Due {
    pub quarter: String,
    pub start: String,
    pub end: String,
    pub due: String,
    pub status: &'static str,
    pub days_left: i64,
}

/// An award's opening body, from the awards projection of `store` (the primary, or the
/// reader reports use).
async fn award_body_in(
    store: &crate::Store,
    award: &Id,
) -> Result<tranche_audit::programme::AwardOpenBody, StoreError> {
    let row = store
        .award_rows()
        .await?
        .into_iter()
        .find(|a| a.award == award.as_str())
        .ok_or_else(|| {
            invalid(
                "award",
                Code::UnknownAward,
                format!("there is no award {award}"),
            )
        })?;
    serde_json::from_str(&row.body)
        .map_err(|e| StoreError::Corrupt(format!("award {award}: stored body: {e}")))
}

impl Ledger {
    /// An award's opening body, from the awards projection (no replay).
    pub async fn award_body(
        &self,
        award: &Id,
    ) -> Result<tranche_audit::programme::AwardOpenBody, StoreError> {
        award_body_in(self.store(), award).await
    }

    /// The quarterly SF-425 reports of an award, from its start to its end, each due 30 days
    /// after its quarter ends, as they stand on `today` (passed in, so the answer is
    /// reproducible).
    pub async fn reports_due(&self, award: &Id, today: NaiveDate) -> Result<Vec<Due>, StoreError> {
        let a = award_body_in(self.reader(), award).await?;
        let (start, end) = (a.start.0, a.end.0);
        let mut out = Vec::new();
        let mut y = start.year();
        let mut q = (start.month() - 1) / 3 + 1;
        loop {
            let p = quarter(&format!("{y}Q{q}")).map_err(StoreError::Invalid)?;
            if p.start.0 > end {
                break;
            }
            let due = p.end.0 + chrono::Duration::days(30);
            out.push(Due {
                quarter: format!("{y}Q{q}"),
                start: p.start.0.to_string(),
                end: p.end.0.to_string(),
                due: due.to_string(),
                status: if today <= p.end.0 {
                    "upcoming"
                } else if today <= due {
                    "due"
                } else {
                    "overdue"
                },
                days_left: (due - today).num_days(),
            });
            if q == 4 {
                q = 1;
                y += 1;
            } else {
                q += 1;
            }
        }
        Ok(out)
    }

    /// Computes and signs a report at the latest checkpoint.
    pub async fn report(
        &self,
        mut req: ReportRequest,
        now: DateTime<Utc>,
    ) -> Result<SignedReport, StoreError> {
        if !KINDS.contains(&req.kind.as_str()) {
            return Err(invalid(
                "kind",
                Code::UnknownReport,
                format!("{:?} is not a report: {}", req.kind, KINDS.join(", ")),
            ));
        }
        let (currency, award_start, award_end) = {
            let a = award_body_in(self.reader(), &req.award).await?;
            (
                a.currency().map_err(StoreError::Invalid)?,
                a.start.0,
                a.end.0,
            )
        };
        if req.period.start.0 > req.period.end.0 {
            return Err(invalid(
                "start",
                Code::StartAfterEnd,
                format!(
                    "the period starts {} after it ends {}",
                    req.period.start.0, req.period.end.0
                ),
            ));
        }
        if req.period.start.0 < award_start || req.period.end.0 > award_end {
            return Err(invalid(
                "period",
                Code::PeriodOutsideAward,
                format!(
                    "the period {} to {} is not within award {} ({award_start} to {award_end})",
                    req.period.start.0, req.period.end.0, req.award
                ),
            ));
        }
        if req.kind == "participant" && req.participant.is_none() {
            return Err(invalid(
                "participant",
                Code::ParticipantRequired,
                "name the participant",
            ));
        }
        if req.kind != "payments" {
            req.batch = None;
        }
        let cp =
            self.reader().latest_checkpoint().await?.ok_or_else(|| {
                invalid("", Code::EmptyJournal, "the journal has no checkpoint yet")
            })?;
        let body = self.report_body_at(&req, &cp, currency).await?;
        Ok(self.sign_report(&req, currency, &cp, body, now))
    }

    /// A report's body computed from the journal up to the checkpoint `cp`.
    pub(crate) async fn report_body_at(
        &self,
        req: &ReportRequest,
        cp: &crate::SignedCheckpoint,
        currency: tranche_audit::money::Currency,
    ) -> Result<ReportBody, StoreError> {
        let req = req.clone();
        if let Some(body) = self.report_from_projections(&req, cp.size).await? {
            return Ok(body);
        }
        let mut acc = Accumulator::new(req.clone());
        let mut next = 0u64;
        while next < cp.size {
            let page = self.reader().records(next, MAX_PAGE).await?;
            if page.is_empty() {
                break;
            }
            for stored in page.into_iter().take_while(|r| r.seq < cp.size) {
                let r = Record::decode_trusted(&stored.bytes)
                    .map_err(|e| StoreError::Corrupt(format!("seq {}: {e}", stored.seq)))?;
                acc.push(&r)
                    .map_err(|e| StoreError::Corrupt(format!("seq {}: {e}", stored.seq)))?;
                next = stored.seq + 1;
            }
        }
        let body = if req.kind == "disaggregation" {
            // The journal gives who was enrolled, attended, certified and paid; the attributes
            // come from the participant store (erased people count as "not stated").
            let mut attributes = std::collections::HashMap::new();
            for row in self.reader().personal_rows(req.award.as_str()).await? {
                let (Ok(p), Some(serde_json::Value::Object(map))) =
                    (Id::parse(&row.participant), row.attributes)
                else {
                    continue;
                };
                let values: std::collections::BTreeMap<String, String> = map
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                    .collect();
                attributes.insert(p, values);
            }
            ReportBody::Disaggregation(tranche_audit::report_compute::disaggregate(
                acc.measures(),
                &attributes,
                req.threshold.max(1),
                currency,
            ))
        } else {
            acc.finish().map_err(StoreError::Invalid)?
        };
        Ok(body)
    }

    fn sign_report(
        &self,
        req: &ReportRequest,
        currency: tranche_audit::money::Currency,
        cp: &crate::SignedCheckpoint,
        body: ReportBody,
        now: DateTime<Utc>,
    ) -> SignedReport {
        let report = Report {
            award: req.award.clone(),
            currency: currency.code().to_string(),
            period: req.period,
            basis: tranche_audit::report::BASIS.to_string(),
            generated_at: format_time(now),
            checkpoint: ReportCheckpoint {
                origin: self.origin().to_string(),
                size: cp.size,
                root: base64::engine::general_purpose::STANDARD.encode(cp.root),
            },
            body,
        };
        SignedReport::sign(report, self.signer())
    }

    /// SF-425 (any period) and budget vs actual (a period reaching the checkpoint) from the
    /// postings projection, summed per account by seq range, instead of reading every record.
    async fn report_from_projections(
        &self,
        req: &ReportRequest,
        size: u64,
    ) -> Result<Option<ReportBody>, StoreError> {
        if !matches!(req.kind.as_str(), "sf425" | "budget") {
            return Ok(None);
        }
        if req.kind == "budget" {
            // "Paid" is what was paid by the checkpoint: only right when the period reaches
            // the last accounting date written so far.
            let last = self.reader().last_accounting_date().await?;
            if last.is_some_and(|l| l > req.period.end.0) {
                return Ok(None);
            }
        }
        let a = req.award.as_str();
        let families = [
            format!("fund:{a}"),
            format!("bank:{a}"),
            format!("expense:{a}"),
            format!("obligation:{a}"),
        ];
        // Nothing is signed from postings that disagree with the digests kept with the
        // checkpoints (a projection edited behind the ledger's back).
        self.reader().check_families(&families, size).await?;
        let mut nets = Vec::new();
        for prefix in families {
            for (account, side, cumulative, period) in self
                .reader()
                .posting_totals_dated(&prefix, req.period.start.0, req.period.end.0, size)
                .await?
            {
                let sign = if side == "debit" { 1 } else { -1 };
                nets.push((
                    account,
                    sign * i128::from(period),
                    sign * i128::from(cumulative),
                ));
            }
        }
        let award = award_body_in(self.reader(), &req.award).await?;
        // What confirmed payments paid per budget line: only the budget report shows it.
        let paid: std::collections::HashMap<Id, i64> = if req.kind == "budget" {
            self.reader()
                .paid_by_line(&req.award, size)
                .await?
                .into_iter()
                .collect()
        } else {
            std::collections::HashMap::new()
        };
        // The late corrections of closed quarters dated in the period, listed on the SF-425.
        let mut adjustments = Vec::new();
        if req.kind == "sf425" {
            let currency = award.currency().map_err(StoreError::Invalid)?;
            for t in self
                .reader()
                .late_corrections(req.period.start.0, req.period.end.0, size)
                .await?
            {
                let (Some(q), Ok(d)) = (
                    t.prior_period
                        .as_deref()
                        .and_then(|q| tranche_audit::period::Quarter::parse(q).ok()),
                    tranche_audit::programme::Date::parse(&t.accounting_date),
                ) else {
                    continue;
                };
                let postings: Vec<tranche_audit::record::PostingBody> = self
                    .reader()
                    .postings(t.seq, t.seq + 1)
                    .await?
                    .into_iter()
                    .map(|p| tranche_audit::record::PostingBody {
                        currency: p.currency,
                        side: p.side,
                        amount: tranche_audit::money::format_minor(
                            i128::from(p.amount_minor),
                            currency,
                        ),
                        account: p.account,
                    })
                    .collect();
                adjustments.extend(tranche_audit::report_compute::prior_period_adjustment(
                    &req.award, currency, t.seq, q, d.0, &t.memo, &postings,
                ));
            }
        }
        Accumulator::from_totals(req.clone(), award, &nets, paid, adjustments)
            .map(Some)
            .map_err(StoreError::Invalid)
    }
}

fn cells(row: &[String]) -> String {
    let line: Vec<String> = row.iter().map(|c| crate::csv::cell(c)).collect();
    line.join(",") + "\r\n"
}

/// The report's main table as CSV (every amount in the award's currency).
pub fn render_csv(r: &SignedReport) -> String {
    let mut out = String::new();
    let rep = &r.report;
    match &rep.body {
        ReportBody::Sf425(s) => {
            out.push_str(&cells(&[
                "line".into(),
                "description".into(),
                "period".into(),
                "cumulative".into(),
            ]));
            for (k, d, f) in [
                ("10a", "Cash receipts", &s.line_10a),
                ("10b", "Cash disbursements", &s.line_10b),
                ("10c", "Cash on hand", &s.line_10c),
                ("10d", "Total federal funds authorized", &s.line_10d),
                ("10e", "Federal share of expenditures", &s.line_10e),
                (
                    "10f",
                    "Federal share of unliquidated obligations",
                    &s.line_10f,
                ),
                ("10g", "Total federal share", &s.line_10g),
                ("10h", "Unobligated balance of federal funds", &s.line_10h),
                ("11 base", "Indirect expense base", &s.line_11_base),
                ("11", "Indirect expense", &s.line_11_amount),
            ] {
                out.push_str(&cells(&[
                    k.into(),
                    d.into(),
                    f.period.clone(),
                    f.cumulative.clone(),
                ]));
            }
            // Late corrections of closed quarters dated in this period (already in the lines).
            for a in &s.prior_period_adjustments {
                out.push_str(&cells(&[
                    format!("adjusts {}", a.prior_period),
                    format!(
                        "Prior-period adjustment, seq {} dated {}: {} (10a {}, 10e {})",
                        a.seq, a.accounting_date, a.memo, a.line_10a, a.line_10e
                    ),
                    String::new(),
                    String::new(),
                ]));
            }
        }
        ReportBody::Budget(b) => {
            out.push_str(&cells(
                &[
                    "line",
                    "name",
                    "participant_support",
                    "authorised",
                    "obligated",
                    "expended",
                    "paid",
                    "remaining",
                    "percent_used",
                    "projected_at_end",
                ]
                .map(String::from),
            ));
            for l in b.lines.iter().chain(std::iter::once(&b.total)) {
                out.push_str(&cells(&[
                    l.line.to_string(),
                    l.name.clone(),
                    l.participant_support.to_string(),
                    l.authorised.clone(),
                    l.obligated.clone(),
                    l.expended.clone(),
                    l.paid.clone(),
                    l.remaining.clone(),
                    l.percent_used.clone(),
                    l.projected_at_end.clone(),
                ]));
            }
        }
        ReportBody::Payments(p) => {
            out.push_str(&cells(
                &[
                    "end_to_end_id",
                    "batch",
                    "payee",
                    "amount",
                    "status",
                    "reissued_by",
                ]
                .map(String::from),
            ));
            for r in &p.payments {
                out.push_str(&cells(&[
                    r.e2e.clone(),
                    r.batch.to_string(),
                    r.payee.clone(),
                    r.amount.clone(),
                    r.status.clone(),
                    r.reissued_by.clone().unwrap_or_default(),
                ]));
            }
        }
        ReportBody::Bank(b) => {
            out.push_str(&cells(
                &[
                    "section",
                    "reference",
                    "end_to_end_id",
                    "direction",
                    "amount",
                    "code",
                    "detail",
                ]
                .map(String::from),
            ));
            for (section, list) in [
                ("return", &b.returns),
                ("ledger_only", &b.ledger_only),
                ("statement_only", &b.statement_only),
                ("duplicate", &b.duplicates),
                ("amount_mismatch", &b.amount_mismatches),
                ("unbalanced_entry", &b.unbalanced_entries),
                ("not_booked", &b.not_booked),
            ] {
                for l in list {
                    out.push_str(&cells(&[
                        section.into(),
                        l.reference.clone(),
                        l.e2e.clone().unwrap_or_default(),
                        l.direction.clone().unwrap_or_default(),
                        l.amount.clone(),
                        l.code.clone().unwrap_or_default(),
                        l.detail.clone(),
                    ]));
                }
            }
            for c in &b.categories {
                out.push_str(&cells(&[
                    "category".into(),
                    c.category.clone(),
                    String::new(),
                    "debit".into(),
                    c.debits.clone(),
                    String::new(),
                    format!("{} lines", c.lines),
                ]));
                out.push_str(&cells(&[
                    "category".into(),
                    c.category.clone(),
                    String::new(),
                    "credit".into(),
                    c.credits.clone(),
                    String::new(),
                    format!("{} lines", c.lines),
                ]));
            }
            for (what, amount) in [
                ("total_debits", &b.total_debits),
                ("total_credits", &b.total_credits),
            ] {
                out.push_str(&cells(&[
                    "statements".into(),
                    what.into(),
                    String::new(),
                    String::new(),
                    amount.clone(),
                    String::new(),
                    if b.ties {
                        "the categories add up to the statements' booked entries".into()
                    } else {
                        "the categories do NOT add up to the statements' booked entries".into()
                    },
                ]));
            }
            if let Some(bal) = &b.balance {
                for (what, amount) in [
                    ("closing", &bal.closing),
                    ("in_transit", &bal.in_transit),
                    ("unreconciled", &bal.unreconciled),
                    ("adjusted", &bal.adjusted),
                    ("ledger", &bal.ledger),
                    ("difference", &bal.difference),
                ] {
                    out.push_str(&cells(&[
                        "balance".into(),
                        what.into(),
                        String::new(),
                        String::new(),
                        amount.clone(),
                        String::new(),
                        format!("statement {} of {}", bal.statement, bal.account),
                    ]));
                }
            }
        }
        ReportBody::Participant(p) => {
            out.push_str(&cells(
                &["seq", "at", "kind", "detail", "amount"].map(String::from),
            ));
            for e in p.evidence.iter().chain(&p.entitlements).chain(&p.payments) {
                out.push_str(&cells(&[
                    e.seq.to_string(),
                    e.at.clone(),
                    e.kind.clone(),
                    e.detail.clone(),
                    e.amount.clone().unwrap_or_default(),
                ]));
            }
        }
        ReportBody::Disaggregation(d) => {
            out.push_str(&cells(
                &["attribute", "value", "measure", "count", "amount"].map(String::from),
            ));
            for t in &d.tables {
                for (i, v) in t.values.iter().enumerate() {
                    for (j, m) in t.measures.iter().enumerate() {
                        let c = &t.cells[i][j];
                        out.push_str(&cells(&[
                            t.attribute.clone(),
                            v.clone(),
                            m.clone(),
                            c.count
                                .map_or_else(|| "suppressed".into(), |n| n.to_string()),
                            c.amount.clone().unwrap_or_default(),
                        ]));
                    }
                }
                for (j, m) in t.measures.iter().enumerate() {
                    out.push_str(&cells(&[
                        t.attribute.clone(),
                        "total".into(),
                        m.clone(),
                        t.totals[j].count.unwrap_or(0).to_string(),
                        t.totals[j].amount.clone().unwrap_or_default(),
                    ]));
                }
            }
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values (all five of `& < > " '`), the
/// one escaper of the reports and the web pages.
pub fn esc(t: &str) -> String {
    quick_xml::escape::escape(t).into_owned()
}

/// A self-contained HTML page: the figures, a chart as inline SVG where one helps, and the
/// checkpoint and signature it is bound to. No script, no network.
pub fn render_html(r: &SignedReport) -> String {
    let rep = &r.report;
    let title = match &rep.body {
        ReportBody::Sf425(_) => "Federal financial report (SF-425 lines)",
        ReportBody::Budget(_) => "Budget vs actual",
        ReportBody::Payments(_) => "Payment reconciliation",
        ReportBody::Bank(_) => "Bank reconciliation",
        ReportBody::Participant(_) => "Participant statement",
        ReportBody::Disaggregation(_) => "Disaggregated results",
    };
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} - {}</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#111}}table{{border-collapse:collapse}}\
th,td{{padding:.3rem .6rem;border-bottom:1px solid #ccc}}td.n{{text-align:right;font-variant-numeric:tabular-nums}}\
caption{{text-align:left;font-weight:600;padding:.4rem 0}}</style></head><body>\
<h1>{title}</h1><p>Award <strong>{}</strong>, {} to {} by accounting date, amounts in {}.</p>",
        esc(rep.award.as_str()),
        esc(rep.award.as_str()),
        rep.period.start.0,
        rep.period.end.0,
        esc(&rep.currency)
    );
    let csv = render_csv(r);
    // The CSV is the report's own, always well formed; its cells may hold commas and quotes
    // (a budget line's name), so it is read as CSV, not split at commas.
    let mut rows = crate::csv::records(&csv).filter_map(Result::ok);
    if let Some(head) = rows.next() {
        h.push_str("<table><caption>Figures</caption><thead><tr>");
        for c in &head.cells {
            h.push_str(&format!("<th scope=\"col\">{}</th>", esc(c)));
        }
        h.push_str("</tr></thead><tbody>");
        for row in rows {
            h.push_str("<tr>");
            for c in &row.cells {
                let numeric = !c.is_empty()
                    && c.chars()
                        .all(|ch| ch.is_ascii_digit() || ch == '.' || ch == '-');
                h.push_str(&format!(
                    "<td{}>{}</td>",
                    if numeric { " class=\"n\"" } else { "" },
                    esc(c)
                ));
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table>");
    }
    if let ReportBody::Budget(b) = &rep.body {
        // Budget burn per line: used share of each line's authorisation.
        let w = 480.0;
        let bar_h = 22.0;
        let height = (b.lines.len() as f64) * (bar_h + 8.0) + 10.0;
        h.push_str(&format!(
            "<figure><figcaption>Budget burn per line (expended and obligated, % of authorised)</figcaption>\
<svg role=\"img\" aria-label=\"Budget burn per line\" width=\"{}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">",
            w + 220.0
        ));
        for (i, l) in b.lines.iter().enumerate() {
            let pct: f64 = l.percent_used.parse().unwrap_or(0.0);
            let y = 5.0 + i as f64 * (bar_h + 8.0);
            h.push_str(&format!(
                "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"140\" y=\"{y}\" width=\"{w}\" height=\"{bar_h}\" fill=\"#eee\"/>\
<rect x=\"140\" y=\"{y}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"#2b6cb0\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}%</text>",
                y + 15.0,
                esc(l.line.as_str()),
                (pct.min(100.0) / 100.0) * w,
                150.0 + w,
                y + 15.0,
                esc(&l.percent_used)
            ));
        }
        h.push_str("</svg></figure>");
    }
    if let ReportBody::Payments(p) = &rep.body {
        // Payments per month by status: stacked bars of amounts.
        let mut months: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, f64>> =
            std::collections::BTreeMap::new();
        for r in &p.payments {
            *months
                .entry(r.month.as_str())
                .or_default()
                .entry(r.status.as_str())
                .or_default() += r.amount.parse::<f64>().unwrap_or(0.0);
        }
        let max = months
            .values()
            .map(|m| m.values().sum::<f64>())
            .fold(0.0f64, f64::max)
            .max(1.0);
        let colors = [
            ("confirmed", "#2f855a"),
            ("sent", "#2b6cb0"),
            ("accepted", "#3182ce"),
            ("pending", "#a0aec0"),
            ("rejected", "#c53030"),
            ("returned", "#dd6b20"),
            ("withdrawn", "#718096"),
        ];
        let (bw, gap, hgt) = (40.0, 20.0, 200.0);
        h.push_str(&format!(
            "<figure><figcaption>Payments per month by status (amounts)</figcaption>\
<svg role=\"img\" aria-label=\"Payments per month by status\" width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
            60.0 + months.len() as f64 * (bw + gap) + 160.0,
            hgt + 40.0
        ));
        for (i, (month, by)) in months.iter().enumerate() {
            let x = 50.0 + i as f64 * (bw + gap);
            let mut y = hgt + 10.0;
            for (status, color) in colors {
                let v = by.get(status).copied().unwrap_or(0.0);
                if v <= 0.0 {
                    continue;
                }
                let hh = v / max * hgt;
                y -= hh;
                h.push_str(&format!(
                    "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{bw}\" height=\"{hh:.1}\" fill=\"{color}\"><title>{month} {status}: {v:.2}</title></rect>"
                ));
            }
            h.push_str(&format!(
                "<text x=\"{x}\" y=\"{}\" font-size=\"11\">{}</text>",
                hgt + 25.0,
                esc(month)
            ));
        }
        for (k, (status, color)) in colors.iter().enumerate() {
            let x = 70.0 + months.len() as f64 * (bw + gap);
            let y = 20.0 + k as f64 * 18.0;
            h.push_str(&format!(
                "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{status}</text>",
                y - 10.0,
                x + 18.0,
                y
            ));
        }
        h.push_str("</svg></figure>");
    }
    if let ReportBody::Disaggregation(d) = &rep.body {
        for t in &d.tables {
            let shown: Vec<(&String, u64)> = t
                .values
                .iter()
                .zip(&t.cells)
                .filter_map(|(v, row)| row[0].count.map(|n| (v, n)))
                .collect();
            let max = shown.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f64;
            h.push_str(&format!(
                "<figure><figcaption>Participants enrolled by {} (small counts hidden)</figcaption>\
<svg role=\"img\" aria-label=\"Enrolled by {}\" width=\"620\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
                esc(&t.attribute),
                esc(&t.attribute),
                shown.len() as f64 * 26.0 + 10.0
            ));
            for (i, (v, n)) in shown.iter().enumerate() {
                let y = 5.0 + i as f64 * 26.0;
                h.push_str(&format!(
                    "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"160\" y=\"{y}\" width=\"{:.1}\" height=\"18\" fill=\"#805ad5\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{n}</text>",
                    y + 14.0,
                    esc(v),
                    *n as f64 / max * 380.0,
                    170.0 + *n as f64 / max * 380.0,
                    y + 14.0
                ));
            }
            h.push_str("</svg></figure>");
        }
    }
    h.push_str(&format!(
        "<h2>Bound to the journal</h2><p>Computed at the checkpoint of origin <code>{}</code>, tree size {}, root <code>{}</code>; \
signed by <code>{}</code>. Check it offline: <code>tranche-verify report REPORT.json --export DIR --vkey KEY</code>.</p>\
<p>Signature: <code>{}</code></p></body></html>\n",
        esc(&rep.checkpoint.origin),
        rep.checkpoint.size,
        esc(&rep.checkpoint.root),
        esc(&r.key),
        esc(&r.signature)
    ));
    h
}
