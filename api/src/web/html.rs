//! The building blocks of every page, as compile-time checked templates (`maud`): the layout,
//! tables that sort, page and download as CSV without JavaScript, and forms that show the API's
//! error next to the field it names and keep what the user typed. Every value a template
//! inserts is escaped by the template engine; no page builds HTML from strings.

use std::collections::BTreeMap;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::server::error::ApiError;

use super::session::WebUser;

/// Rows of a table shown per page.
pub const PAGE_ROWS: usize = 50;

/// The stylesheet, served at `/web/assets/app.css` (every asset is in the binary).
pub const CSS: &str = include_str!("app.css");

/// Percent-encodes a query or path component.
pub fn enc(t: &str) -> String {
    percent_encoding::utf8_percent_encode(t, COMPONENT).to_string()
}

/// Everything but RFC 3986's unreserved characters is percent-encoded in a component.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The query string of a page, for links that change one parameter and keep the others.
#[derive(Debug, Clone, Default)]
pub struct Query(pub BTreeMap<String, String>);

impl Query {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The query with `k` set to `v` (or removed when `v` is empty), as `?a=b&…`.
    pub fn with(&self, changes: &[(&str, &str)]) -> String {
        let mut q = self.0.clone();
        for (k, v) in changes {
            if v.is_empty() {
                q.remove(*k);
            } else {
                q.insert((*k).to_string(), (*v).to_string());
            }
        }
        let parts: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        if parts.is_empty() {
            "?".into()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// One cell of a table. Amounts and counts are right-aligned and sort by value.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    /// Text linking to a page.
    Link(String, String),
    /// An exact decimal amount (as the API writes it) with its currency.
    Amount(String, String),
    Count(u64),
    /// A journal seq, right-aligned, linking to the record for roles that may see it.
    Seq(u64, Option<String>),
}

impl Cell {
    pub fn text(t: impl Into<String>) -> Cell {
        Cell::Text(t.into())
    }

    fn plain(&self) -> String {
        match self {
            Cell::Text(t) | Cell::Link(t, _) => t.clone(),
            Cell::Amount(a, _) => a.clone(),
            Cell::Count(n) | Cell::Seq(n, _) => n.to_string(),
        }
    }

    fn numeric(&self) -> Option<rust_decimal::Decimal> {
        match self {
            Cell::Amount(a, _) => a.parse().ok(),
            Cell::Count(n) | Cell::Seq(n, _) => Some((*n).into()),
            _ => None,
        }
    }

    fn html(&self) -> Markup {
        html! {
            @match self {
                Cell::Text(t) => td { (t) },
                Cell::Link(t, href) => td { a href=(href) { (t) } },
                Cell::Amount(a, c) => td.num { (a) " " span.cur { (c) } },
                Cell::Count(n) => td.num { (n) },
                Cell::Seq(n, Some(href)) => td.num { a href=(href) { (n) } },
                Cell::Seq(n, None) => td.num { (n) },
            }
        }
    }
}

/// A table with an id unique on its page: `?sort=ID.COL&dir=desc` sorts it, `?ID.page=N` pages
/// it, and `?csv=ID` downloads all its rows (sorted) as CSV.
#[derive(Debug, Clone)]
pub struct Table {
    pub id: &'static str,
    pub caption: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    /// Shown when there are no rows.
    pub empty: &'static str,
    /// A result shown once (after a form was posted): every row, no sort or CSV links, which
    /// would lead to a page without this table.
    pub fixed: bool,
}

impl Table {
    pub fn new(id: &'static str, caption: impl Into<String>, columns: &[&'static str]) -> Table {
        Table {
            id,
            caption: caption.into(),
            columns: columns.to_vec(),
            rows: Vec::new(),
            empty: "Nothing to show.",
            fixed: false,
        }
    }

    /// This table as a one-time result: all rows shown, no sort or CSV links.
    pub fn fixed(mut self) -> Table {
        self.fixed = true;
        self
    }

    /// Whether every cell of a column is a number (it then sorts by value and is right-aligned).
    fn numeric_column(&self, col: usize) -> bool {
        !self.rows.is_empty()
            && self
                .rows
                .iter()
                .all(|r| r.get(col).is_some_and(|c| c.numeric().is_some()))
    }

    pub fn empty(mut self, text: &'static str) -> Table {
        self.empty = text;
        self
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// The column and direction this table is sorted by, from the query.
    fn sorting(&self, q: &Query) -> Option<(usize, bool)> {
        let spec = q.get("sort")?;
        let (id, col) = spec.rsplit_once('.')?;
        if id != self.id {
            return None;
        }
        let col: usize = col.parse().ok()?;
        (col < self.columns.len()).then_some((col, q.get("dir") == Some("desc")))
    }

    fn sorted_rows(&self, q: &Query) -> Vec<&Vec<Cell>> {
        let mut rows: Vec<&Vec<Cell>> = self.rows.iter().collect();
        if let Some((col, desc)) = self.sorting(q) {
            let numeric = self.numeric_column(col);
            rows.sort_by(|a, b| {
                let (x, y) = (a.get(col), b.get(col));
                let ord = if numeric {
                    x.and_then(Cell::numeric).cmp(&y.and_then(Cell::numeric))
                } else {
                    x.map(Cell::plain)
                        .unwrap_or_default()
                        .cmp(&y.map(Cell::plain).unwrap_or_default())
                };
                if desc {
                    ord.reverse()
                } else {
                    ord
                }
            });
        }
        rows
    }

    /// Every row, sorted as shown, as RFC 4180 CSV (cells that a spreadsheet would run as a
    /// formula are defused).
    pub fn csv(&self, q: &Query) -> String {
        // An amount column is written as the number and, in the next column, its currency, so
        // that a spreadsheet reads numbers; text cells are defused against formulas.
        let amount_cols: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .any(|r| matches!(r.get(i), Some(Cell::Amount(..))))
            })
            .collect();
        let mut head = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            head.push(tranche_ledger::csv::cell(c));
            if amount_cols[i] {
                head.push(tranche_ledger::csv::cell(&format!("{c} currency")));
            }
        }
        let mut out = head.join(",");
        out.push_str("\r\n");
        for row in self.sorted_rows(q) {
            let mut cells = Vec::new();
            for (i, is_amount) in amount_cols.iter().enumerate() {
                let c = row.get(i);
                match c {
                    Some(Cell::Amount(a, cur)) => {
                        cells.push(number_or_cell(a));
                        cells.push(tranche_ledger::csv::cell(cur));
                    }
                    Some(Cell::Count(_) | Cell::Seq(..)) => {
                        cells.push(c.map(Cell::plain).unwrap_or_default())
                    }
                    Some(c) => cells.push(tranche_ledger::csv::cell(&c.plain())),
                    None => cells.push(String::new()),
                }
                if *is_amount && !matches!(c, Some(Cell::Amount(..))) {
                    cells.push(String::new());
                }
            }
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }

    pub fn html(&self, q: &Query) -> Markup {
        let rows = self.sorted_rows(q);
        let per_page = if self.fixed {
            rows.len().max(1)
        } else {
            PAGE_ROWS
        };
        let pages = rows.len().div_ceil(per_page).max(1);
        let page_key = format!("{}.page", self.id);
        let page: usize = q
            .get(&page_key)
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .clamp(1, pages);
        let sorting = self.sorting(q);
        html! {
            section.table id=(self.id) {
                table {
                    caption {
                        (self.caption) " "
                        span.count { "(" (rows.len()) " row" @if rows.len() != 1 { "s" } ")" }
                        @if !self.fixed {
                            " " a.csv href=(q.with(&[("csv", self.id)])) download { "CSV" }
                        }
                    }
                    thead { tr {
                        @for (i, c) in self.columns.iter().enumerate() {
                            @let numeric = self.numeric_column(i);
                            @if self.fixed {
                                th scope="col" class=[numeric.then_some("num")] { (c) }
                            } @else {
                                @let (aria, next, mark) = match sorting {
                                    Some((col, false)) if col == i => ("ascending", "desc", " ▲"),
                                    Some((col, true)) if col == i => ("descending", "", " ▼"),
                                    _ => ("none", "", ""),
                                };
                                @let sort = format!("{}.{i}", self.id);
                                @let href = q.with(&[("sort", &sort), ("dir", next), (&page_key, "")]);
                                th scope="col" aria-sort=(aria) class=[numeric.then_some("num")] {
                                    a href={ (href) "#" (self.id) } { (c) (mark) }
                                }
                            }
                        }
                    } }
                    tbody {
                        @if rows.is_empty() {
                            tr { td colspan=(self.columns.len()) class="empty" { (self.empty) } }
                        }
                        @for row in rows.iter().skip((page - 1) * per_page).take(per_page) {
                            tr { @for c in row.iter() { (c.html()) } }
                        }
                    }
                }
                @if pages > 1 {
                    nav.pager aria-label={ "Pages of " (self.caption) } {
                        @if page > 1 {
                            a rel="prev" href={ (q.with(&[(&page_key, &(page - 1).to_string())])) "#" (self.id) } { "Previous" }
                            " "
                        }
                        span { "Page " (page) " of " (pages) }
                        @if page < pages {
                            " "
                            a rel="next" href={ (q.with(&[(&page_key, &(page + 1).to_string())])) "#" (self.id) } { "Next" }
                        }
                    }
                }
            }
        }
    }
}

/// A part of a page.
#[derive(Debug, Clone)]
pub enum Block {
    Html(Markup),
    Table(Table),
}

/// A page: its title, its parts, and the status it is served with.
#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    pub blocks: Vec<Block>,
    pub status: StatusCode,
}

impl Page {
    pub fn new(title: impl Into<String>) -> Page {
        Page {
            title: title.into(),
            blocks: Vec::new(),
            status: StatusCode::OK,
        }
    }

    pub fn html(&mut self, h: Markup) -> &mut Self {
        self.blocks.push(Block::Html(h));
        self
    }

    pub fn table(&mut self, t: Table) -> &mut Self {
        self.blocks.push(Block::Table(t));
        self
    }

    pub fn status(mut self, s: StatusCode) -> Page {
        self.status = s;
        self
    }

    /// The page (or, with `?csv=ID`, that table as a CSV download).
    pub fn respond(self, user: Option<&WebUser>, q: &Query) -> Response {
        if let Some(id) = q.get("csv") {
            for b in &self.blocks {
                if let Block::Table(t) = b {
                    if t.id == id {
                        let name = format!("{}-{}.csv", slug(&self.title), t.id);
                        return (
                            [
                                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                                (
                                    header::CONTENT_DISPOSITION,
                                    format!("attachment; filename=\"{name}\""),
                                ),
                            ],
                            t.csv(q),
                        )
                            .into_response();
                    }
                }
            }
        }
        let body = html! {
            @for b in &self.blocks {
                @match b {
                    Block::Html(h) => (h),
                    Block::Table(t) => (t.html(q)),
                }
            }
        };
        (self.status, layout(&self.title, user, body)).into_response()
    }
}

/// A CSV cell for an amount: the number as it is when it is one (a leading minus is not a
/// formula), defused text otherwise.
fn number_or_cell(a: &str) -> String {
    if a.parse::<rust_decimal::Decimal>().is_ok() && !a.contains(['e', 'E']) {
        a.to_string()
    } else {
        tranche_ledger::csv::cell(a)
    }
}

fn slug(t: &str) -> String {
    let s: String = t
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The navigation of a role: its pages, each shown only when the role matrix lets the role
/// open it.
fn nav(user: &WebUser) -> Vec<(&'static str, &'static str)> {
    use crate::server::auth::Role;
    let pages: &[(&str, &str)] = match user.caller.role {
        Role::Admin | Role::Preparer | Role::Approver => &[
            ("/web/finance", "Awards"),
            ("/web/finance/cycles", "Cycles"),
            ("/web/finance/batches", "Batches"),
            ("/web/finance/bank", "Bank files"),
            ("/web/reports", "Reports"),
        ],
        Role::Partner => &[
            ("/web/partner", "Cohorts"),
            ("/web/partner/evidence", "Evidence"),
            ("/web/partner/keys", "Keys"),
        ],
        Role::Auditor => &[
            ("/web/audit", "Checkpoint"),
            ("/web/audit/records", "Records"),
            ("/web/audit/trace", "Trace a payment"),
            ("/web/audit/verify", "Verify offline"),
            ("/web/reports", "Reports"),
        ],
        Role::Donor => &[("/web/donor", "Results")],
    };
    pages
        .iter()
        .copied()
        .filter(|(href, _)| user.may("GET", href))
        .collect()
}

/// The whole HTML document around a page's body.
pub fn layout(title: &str, user: Option<&WebUser>, body: Markup) -> axum::response::Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tranche" }
                link rel="stylesheet" href="/web/assets/app.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/web/" { "tranche" }
                    @if let Some(u) = user {
                        nav aria-label="Main" { ul {
                            @for (href, label) in nav(u) { li { a href=(href) { (label) } } }
                        } }
                        form.signout method="post" action="/web/logout" {
                            span.who { (u.caller.name) " " span.role { "(" (u.caller.role.as_str()) ")" } }
                            (u.csrf_field())
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    axum::response::Html(page.into_string())
}

/// A refusal shown as a page: the API's code and detail, with the status it carries.
pub fn error_page(user: Option<&WebUser>, e: &ApiError) -> Response {
    let mut p = Page::new(match e.status.as_u16() {
        401 => "Sign in required",
        403 => "Not allowed",
        404 => "Not found",
        _ => "Refused",
    });
    p.html(html! {
        p.error role="alert" { (error_text(e)) }
        p { a href="/web/" { "Back to your start page" } }
    });
    p.status(e.status).respond(user, &Query::default())
}

// ---------- forms ----------

/// The API's error: its detail, its rule (code) and the field it names.
pub fn error_text(e: &ApiError) -> Markup {
    html! {
        (e.detail) " " code { (e.code) }
        @if let Some(f) = &e.field { " " span.field-name { "(" (f) ")" } }
    }
}

/// What a form shows: the values the user typed and the error the API gave, if any.
#[derive(Debug, Default)]
pub struct FormState<'a> {
    pub values: BTreeMap<String, String>,
    pub error: Option<&'a ApiError>,
}

impl<'a> FormState<'a> {
    pub fn new(values: BTreeMap<String, String>, error: Option<&'a ApiError>) -> Self {
        FormState { values, error }
    }

    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }

    /// Whether the error names this field (the API's field, or one inside it).
    fn names(&self, api_fields: &[&str]) -> bool {
        self.error
            .and_then(|e| e.field.as_deref())
            .is_some_and(|f| {
                api_fields.iter().any(|a| {
                    f == *a || f.starts_with(&format!("{a}.")) || f.starts_with(&format!("{a}["))
                })
            })
    }

    /// The error for a field, when it names it.
    fn field_error(&self, api_fields: &[&str]) -> Option<&ApiError> {
        self.error.filter(|_| self.names(api_fields))
    }

    /// The error, shown above the form, when it names no field of the form.
    pub fn general_error(&self, form_fields: &[&str]) -> Markup {
        html! {
            @if let Some(e) = self.error.filter(|_| !self.names(form_fields)) {
                p.error role="alert" { (error_text(e)) }
            }
        }
    }

    /// A labelled input; `api` is the field name the API reports errors under.
    pub fn input(&self, name: &str, label: &str, kind: &str, api: &[&str], hint: &str) -> Markup {
        let id = format!("f-{name}");
        let err = self.field_error(api);
        let described = err.map(|_| format!("{id}-error"));
        let value = (kind != "file" && kind != "password").then(|| self.value(name));
        html! {
            div.field {
                label for=(id) { (label) }
                @if !hint.is_empty() { span.hint { (hint) } }
                input id=(id) name=(name) type=(kind) value=[value]
                    aria-invalid=[err.map(|_| "true")] aria-describedby=[described.as_deref()];
                @if let Some(e) = err {
                    p.field-error id={ (id) "-error" } role="alert" { (error_text(e)) }
                }
            }
        }
    }

    /// A labelled select of (value, label) options.
    pub fn select(
        &self,
        name: &str,
        label: &str,
        options: &[(String, String)],
        api: &[&str],
    ) -> Markup {
        let id = format!("f-{name}");
        let err = self.field_error(api);
        let described = err.map(|_| format!("{id}-error"));
        html! {
            div.field {
                label for=(id) { (label) }
                select id=(id) name=(name)
                    aria-invalid=[err.map(|_| "true")] aria-describedby=[described.as_deref()] {
                    @for (v, l) in options {
                        option value=(v) selected[self.value(name) == v] { (l) }
                    }
                }
                @if let Some(e) = err {
                    p.field-error id={ (id) "-error" } role="alert" { (error_text(e)) }
                }
            }
        }
    }

    pub fn checkbox(&self, name: &str, label: &str) -> Markup {
        let checked = matches!(self.value(name), "on" | "true" | "1");
        let id = format!("f-{name}");
        html! {
            div.field.check {
                input id=(id) name=(name) type="checkbox" checked[checked];
                label for=(id) { (label) }
            }
        }
    }
}

/// A `<dl>` of label and value pairs.
pub fn facts(pairs: &[(&str, Markup)]) -> Markup {
    html! {
        dl.facts {
            @for (k, v) in pairs { div { dt { (k) } dd { (v) } } }
        }
    }
}

/// An amount with its currency, right-aligned where it stands.
pub fn money(amount: &str, currency: &str) -> Markup {
    html! { span.num { (amount) " " span.cur { (currency) } } }
}

/// A notice that something was done.
pub fn notice(text: impl maud::Render) -> Markup {
    html! { p.notice role="status" { (text) } }
}

/// A record time (RFC 3339 UTC) in an award's time zone, e.g. `2026-03-08 07:00:00 (UTC-05:00)`;
/// in UTC when the award has none.
pub fn local_time(at: &str, utc_offset: Option<&str>) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(at) else {
        return at.to_string();
    };
    let secs = utc_offset
        .and_then(tranche_audit::programme::parse_utc_offset)
        .unwrap_or(0);
    let Some(zone) = chrono::FixedOffset::east_opt(secs) else {
        return at.to_string();
    };
    let label = match utc_offset.filter(|_| secs != 0) {
        Some(o) => format!("UTC{o}"),
        None => "UTC".into(),
    };
    format!(
        "{} ({label})",
        t.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_in_the_award_zone_and_queries_are_encoded() {
        assert_eq!(
            local_time("2026-03-08T12:00:00.5Z", Some("-05:00")),
            "2026-03-08 07:00:00 (UTC-05:00)"
        );
        assert_eq!(
            local_time("2026-03-08T12:00:00Z", None),
            "2026-03-08 12:00:00 (UTC)"
        );
        let q = Query(
            [("award".to_string(), "a b".to_string())]
                .into_iter()
                .collect(),
        );
        assert_eq!(q.with(&[("sort", "t.1")]), "?award=a%20b&sort=t.1");
    }

    /// Every value a template inserts is escaped by the template engine: text, links, form
    /// values and errors alike.
    #[test]
    fn templates_escape_every_value() {
        let evil = "<script>alert('x')</script>\"&";
        let mut t = Table::new("t", evil, &["Name"]);
        t.row(vec![Cell::Link(evil.into(), format!("/web/?q={evil}"))]);
        let html = t.html(&Query::default()).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        let e = ApiError::bad_request(tranche_audit::Code::InvalidField, "name", evil);
        let values = [("name".to_string(), evil.to_string())]
            .into_iter()
            .collect();
        let form = FormState::new(values, Some(&e));
        let html = form
            .input("name", evil, "text", &["name"], evil)
            .into_string();
        assert!(
            !html.contains("<script>") && !html.contains("\"&\""),
            "{html}"
        );
        assert!(html.contains("aria-invalid=\"true\""), "{html}");
    }

    #[test]
    fn tables_sort_by_value_page_and_export_csv() {
        let mut t = Table::new("t", "T", &["Name", "Amount"]);
        for (n, a) in [("b", "10.00"), ("a", "9.50"), ("=cmd", "100.00")] {
            t.row(vec![Cell::text(n), Cell::Amount(a.into(), "USD".into())]);
        }
        let q = Query(
            [("sort".to_string(), "t.1".to_string())]
                .into_iter()
                .collect(),
        );
        let csv = t.csv(&q);
        assert_eq!(
            csv,
            "Name,Amount,Amount currency\r\na,9.50,USD\r\nb,10.00,USD\r\n'=cmd,100.00,USD\r\n"
        );
        for i in 0..120 {
            t.row(vec![Cell::text(format!("r{i}")), Cell::Count(i)]);
        }
        // A column of amounts and counts sorts by value; one with text in it sorts as text.
        let q = Query(
            [
                ("sort".to_string(), "t.1".to_string()),
                ("dir".to_string(), "desc".to_string()),
            ]
            .into_iter()
            .collect(),
        );
        assert!(t
            .csv(&q)
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("r119,119")));
        let html = t.html(&Query::default()).into_string();
        assert!(html.contains("Page 1 of 3"), "{html}");
        let fixed = t.clone().fixed().html(&Query::default()).into_string();
        assert!(!fixed.contains("Page 1 of") && !fixed.contains("csv=") && fixed.contains("r119"));
        let mut mixed = Table::new("m", "M", &["Revoked"]);
        mixed.row(vec![Cell::Count(3)]);
        mixed.row(vec![Cell::text("in force")]);
        mixed.row(vec![Cell::Count(12)]);
        let q = Query(
            [("sort".to_string(), "m.0".to_string())]
                .into_iter()
                .collect(),
        );
        assert_eq!(mixed.csv(&q), "Revoked\r\n12\r\n3\r\nin force\r\n");
    }
}
