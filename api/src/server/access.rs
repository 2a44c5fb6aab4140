//! Who may do what: the one role matrix of the server, for every API route and every web page.
//!
//! This table says which rule of [`super::auth`] each route and page applies, and it is the only
//! list of roles: the API applies a route's line before its handler runs, every service
//! (`crate::service`) checks its caller against the line of the API route it serves, the web's
//! `WebUser` extractor applies a page's line, and the pages ask it which actions to show. The router serves exactly the routes listed here (a test
//! checks both ways, and the OpenAPI document lists the same API routes), the matrix test calls
//! every route and page as every role against a running server and expects exactly this, and
//! ARCHITECTURE.md prints [`markdown`] (a test checks it is current). A rule added to a handler
//! without its line here, or a line here that a handler does not apply, fails those tests.

use super::auth::{
    Role, Rule, ADMIN, APPROVE, AUDIT_READ, DONOR_READ, EVIDENCE, FINANCE_STAFF, FINANCE_WRITE,
    LEDGER_READ, PARTNER_OR_FINANCE, PROGRAMME_READ, PROOF_READ, RELEASE,
};

/// Who may call a route or open a page.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in user (bearer token for the API, session for the web) of one of these roles:
    /// 401 without one, 403 for another role.
    Roles(Rule),
}

impl Access {
    /// Whether `role` may; `None` (signed out) only for public routes.
    pub fn allows(&self, role: Option<Role>) -> bool {
        match (self, role) {
            (Access::Public, _) => true,
            (Access::Roles(_), None) => false,
            (Access::Roles(rule), Some(r)) => rule.0.contains(&r),
        }
    }
}

/// One line of the matrix.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    /// What the handler checks beyond the role (scope, maker-checker), if anything.
    pub note: &'static str,
}

const fn e(method: &'static str, path: &'static str, rule: Rule, note: &'static str) -> Entry {
    Entry {
        method,
        path,
        access: Access::Roles(rule),
        note,
    }
}

const fn public(method: &'static str, path: &'static str, note: &'static str) -> Entry {
    Entry {
        method,
        path,
        access: Access::Public,
        note,
    }
}

const PARTNER_OWN: &str = "a partner only for its own cohorts and participants (`partner_scope`)";
const PERSONAL: &str = "personal data only to admin, preparer and the partner";
const MAKER_CHECKER: &str = "never by the batch's preparer or submitter (`own_batch`); no approver twice (`already_approved`)";

/// Every route of the HTTP API.
pub const API: &[Entry] = &[
    public("GET", "/healthz", ""),
    public("GET", "/readyz", ""),
    public("GET", "/metrics", ""),
    public("GET", "/openapi.json", ""),
    public("GET", "/v1/checkpoint", "a checkpoint is public by design"),
    public("GET", "/v1/checkpoint/cosigned", ""),
    public("GET", "/v1/vkey", ""),
    e("GET", "/v1/proofs/inclusion", PROOF_READ, "a proof reveals only hashes"),
    e("GET", "/v1/proofs/consistency", PROOF_READ, ""),
    e("GET", "/v1/receipts/{seq}", AUDIT_READ, "a receipt carries the record"),
    e("GET", "/v1/export", AUDIT_READ, "the whole journal"),
    e("GET", "/v1/records", LEDGER_READ, ""),
    e("GET", "/v1/records/{seq}", LEDGER_READ, ""),
    e("GET", "/v1/balances", LEDGER_READ, ""),
    e("GET", "/v1/accounts", LEDGER_READ, ""),
    e("POST", "/v1/accounts", FINANCE_WRITE, ""),
    e("POST", "/v1/accounts/{name}/close", FINANCE_WRITE, ""),
    e("GET", "/v1/transactions", LEDGER_READ, ""),
    e("POST", "/v1/transactions", FINANCE_WRITE, ""),
    e("POST", "/v1/transactions/batch", FINANCE_WRITE, ""),
    e("POST", "/v1/transactions/{seq}/reverse", FINANCE_WRITE, "a reason is required; paid entitlements are recovered, not reversed"),
    e("POST", "/v1/entitlements/{seq}/recover", FINANCE_WRITE, "a reason is required"),
    e("GET", "/v1/me", PROOF_READ, ""),
    e("GET", "/v1/users", ADMIN, ""),
    e("POST", "/v1/users", ADMIN, ""),
    e("POST", "/v1/users/{name}/revoke", ADMIN, "never the last active admin (`last_admin`)"),
    e("GET", "/v1/awards", LEDGER_READ, ""),
    e("POST", "/v1/awards", FINANCE_WRITE, ""),
    e("GET", "/v1/awards/{award}", LEDGER_READ, ""),
    e("GET", "/v1/partners", PROGRAMME_READ, "a partner sees itself only"),
    e("POST", "/v1/partners", ADMIN, ""),
    e("POST", "/v1/partners/{partner}/keys", ADMIN, ""),
    e("GET", "/v1/cohorts", PROGRAMME_READ, PARTNER_OWN),
    e("POST", "/v1/cohorts", FINANCE_WRITE, ""),
    e("POST", "/v1/cohorts/{cohort}/sessions", PARTNER_OR_FINANCE, PARTNER_OWN),
    e("POST", "/v1/participants", PARTNER_OR_FINANCE, PARTNER_OWN),
    e("GET", "/v1/participants/{participant}", PROGRAMME_READ, PERSONAL),
    e("POST", "/v1/participants/{participant}/erase", ADMIN, ""),
    e("POST", "/v1/evidence", EVIDENCE, "a partner only its own statements, signed with its key"),
    e("POST", "/v1/rules", FINANCE_WRITE, ""),
    e("POST", "/v1/cycles", FINANCE_WRITE, ""),
    e("POST", "/v1/disbursement-settings", ADMIN, ""),
    e("GET", "/v1/batches", LEDGER_READ, ""),
    e("POST", "/v1/batches", FINANCE_WRITE, ""),
    e("GET", "/v1/batches/{batch}", LEDGER_READ, ""),
    e("GET", "/v1/batches/{batch}/payments.csv", LEDGER_READ, ""),
    e("POST", "/v1/batches/{batch}/submit", FINANCE_WRITE, ""),
    e("POST", "/v1/batches/{batch}/approve", APPROVE, MAKER_CHECKER),
    e("POST", "/v1/batches/{batch}/reject", APPROVE, MAKER_CHECKER),
    e("POST", "/v1/batches/{batch}/cancel", FINANCE_WRITE, "a reason is required; never once sent"),
    e("POST", "/v1/batches/{batch}/files", FINANCE_STAFF, "bank files carry names and accounts"),
    e("GET", "/v1/batches/{batch}/files/{format}", FINANCE_STAFF, ""),
    e("POST", "/v1/batches/{batch}/send", RELEASE, "releases the funds: never by the batch's preparer or submitter (`own_batch`); the record names who"),
    e("GET", "/v1/bank-files", LEDGER_READ, ""),
    e("POST", "/v1/bank-files", FINANCE_WRITE, ""),
    e("GET", "/v1/payments/{e2e}", LEDGER_READ, ""),
    e("GET", "/v1/payments/{e2e}/trace", LEDGER_READ, ""),
    e("GET", "/v1/payments/{e2e}/receipt", AUDIT_READ, ""),
    e("GET", "/v1/reports/{kind}", DONOR_READ, "donors only `sf425`, `budget` and `disaggregation` (403 for the others)"),
    e("GET", "/v1/reports-due", DONOR_READ, ""),
    e("GET", "/v1/awards/{award}/periods", DONOR_READ, ""),
    e("POST", "/v1/awards/{award}/periods/{quarter}/close", APPROVE, "quarters close in order, once ended; the SF-425's digest is journaled"),
    e("POST", "/v1/awards/{award}/periods/{quarter}/reopen", APPROVE, "a reason; reopens on a second, different approver's request"),
];

/// Signed in, whatever the role.
const SIGNED_IN: Rule = PROOF_READ;

/// Every page of the web interface (a session cookie from `/web/login`; every form also needs
/// its CSRF token and the same origin).
pub const PAGES: &[Entry] = &[
    public("GET", "/", "redirects to /web/"),
    public("GET", "/web", "redirects to /web/"),
    e("GET", "/web/", SIGNED_IN, "redirects to the role's home"),
    public("GET", "/web/assets/app.css", ""),
    public("GET", "/web/assets/sign.js", ""),
    public("GET", "/web/login", ""),
    public("POST", "/web/login", "a valid API token opens a session"),
    e("POST", "/web/logout", SIGNED_IN, ""),
    e("GET", "/web/finance", FINANCE_STAFF, ""),
    e("GET", "/web/finance/awards/{award}", FINANCE_STAFF, ""),
    e("POST", "/web/finance/awards/{award}/periods/{quarter}/{action}", APPROVE, "close and reopen as their API routes"),
    e("GET", "/web/finance/cycles", FINANCE_STAFF, ""),
    e("POST", "/web/finance/cycles", FINANCE_WRITE, "as POST /v1/cycles"),
    e("GET", "/web/finance/batches", FINANCE_STAFF, ""),
    e("POST", "/web/finance/batches", FINANCE_WRITE, "as POST /v1/batches"),
    e("GET", "/web/finance/batches/{batch}", FINANCE_STAFF, "shows each user only the actions they may take"),
    e("POST", "/web/finance/batches/{batch}/{action}", FINANCE_STAFF, "each action as its API route: submit and cancel as preparer, approve and reject as approver, files as finance staff, send as releaser"),
    e("GET", "/web/finance/batches/{batch}/files/{format}", FINANCE_STAFF, "as GET /v1/batches/{batch}/files/{format}"),
    e("GET", "/web/finance/bank", FINANCE_STAFF, ""),
    e("POST", "/web/finance/bank", FINANCE_WRITE, "as POST /v1/bank-files"),
    e("GET", "/web/finance/bank/{sha}", FINANCE_STAFF, ""),
    e("GET", "/web/finance/participants/{participant}", LEDGER_READ, PERSONAL),
    e("GET", "/web/reports", DONOR_READ, ""),
    e("GET", "/web/reports/{kind}", DONOR_READ, "as GET /v1/reports/{kind}"),
    e("GET", "/web/donor", DONOR_READ, ""),
    e("GET", "/web/partner", EVIDENCE, ""),
    e("GET", "/web/partner/evidence", EVIDENCE, ""),
    e("POST", "/web/partner/evidence", EVIDENCE, "as POST /v1/evidence"),
    e("POST", "/web/partner/evidence/sign", EVIDENCE, "as POST /v1/evidence"),
    e("GET", "/web/partner/keys", EVIDENCE, ""),
    e("GET", "/web/audit", AUDIT_READ, ""),
    e("GET", "/web/audit/records", AUDIT_READ, ""),
    e("GET", "/web/audit/records/{seq}", AUDIT_READ, ""),
    e("GET", "/web/audit/receipts/{seq}", AUDIT_READ, ""),
    e("GET", "/web/audit/export", AUDIT_READ, ""),
    e("GET", "/web/audit/checkpoint", AUDIT_READ, ""),
    e("GET", "/web/audit/trace", LEDGER_READ, ""),
    e("GET", "/web/audit/verify", AUDIT_READ, ""),
    e("GET", "/web/audit/vkey", AUDIT_READ, ""),
];

/// The access of an API route `method path` (a route pattern as listed), if it is listed.
pub fn api_entry(method: &str, path: &str) -> Option<&'static Entry> {
    API.iter().find(|e| e.method == method && e.path == path)
}

/// The access of `method path` (a route pattern as listed), if it is listed.
pub fn of(method: &str, path: &str) -> Option<&'static Entry> {
    API.iter()
        .chain(PAGES)
        .find(|e| e.method == method && e.path == path)
}

fn roles(access: &Access) -> String {
    match access {
        Access::Public => "public".into(),
        Access::Roles(rule) if rule.0.len() == Role::ALL.len() => "every role".into(),
        Access::Roles(rule) => rule
            .0
            .iter()
            .map(Role::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn table(out: &mut String, entries: &[Entry]) {
    out.push_str("| method | route | who | beyond the role |\n| --- | --- | --- | --- |\n");
    for e in entries {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            e.method,
            e.path,
            roles(&e.access),
            e.note
        ));
    }
}

/// The matrix as the Markdown ARCHITECTURE.md prints, between its markers.
pub fn markdown() -> String {
    let mut out = String::from("API routes (401 without a valid, unrevoked bearer token; 403 `forbidden` for a role not listed):\n\n");
    table(&mut out, API);
    out.push_str("\nWeb pages (signed out: the sign-in page; 403 page for a role not listed):\n\n");
    table(&mut out, PAGES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- role matrix: printed from api/src/server/access.rs -->\n";
    const END: &str = "<!-- end of role matrix -->";

    /// ARCHITECTURE.md prints this matrix, as it is: a change here must be printed there.
    #[test]
    fn architecture_prints_the_matrix_as_it_is() {
        let doc = include_str!("../../../ARCHITECTURE.md");
        let start = doc.find(BEGIN).expect("the role matrix's opening marker") + BEGIN.len();
        let end = doc[start..].find(END).expect("its closing marker") + start;
        let printed = &doc[start..end];
        assert!(
            printed == markdown(),
            "ARCHITECTURE.md's role matrix is out of date; between its markers it should read:\n{}",
            markdown()
        );
    }

    #[test]
    fn every_route_and_page_is_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for e in API.iter().chain(PAGES) {
            assert!(
                seen.insert((e.method, e.path)),
                "{} {} twice",
                e.method,
                e.path
            );
        }
    }
}
