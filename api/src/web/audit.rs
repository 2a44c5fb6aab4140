//! Auditor pages: the latest checkpoint with its cosignatures, records by seq, the trace of a
//! payment from evidence to bank confirmation, downloads of the export and of receipts, and how
//! to verify them offline with no trust in whoever runs this server.

use crate::server::error::{P, Q as AxQuery};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use tranche_audit::Code;

use crate::server::auth::Role;
use crate::server::error::ApiError;
use crate::server::payments as pay;
use crate::server::routes::{self, ExportQuery, PageQuery as ApiPage};
use crate::server::AppState;

use super::html::{enc, error_page, esc, facts, Cell, Page, Table};
use super::session::WebUser;
use super::{arr, json_of, n, query, refuse, s, value_of, PageQuery};

const AUDITORS: &[Role] = crate::server::auth::AUDIT_READ.0;
/// Who may trace a payment: auditors and finance staff.
const TRACERS: &[Role] = crate::server::auth::LEDGER_READ.0;

fn bad(user: &WebUser, e: ApiError) -> Response {
    error_page(Some(user), &e)
}

async fn text_of(r: Result<Response, ApiError>) -> Result<String, ApiError> {
    let bytes = super::answer_bytes(r?).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn attachment(mut r: Response, name: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `GET /web/audit`: the latest checkpoint and the latest cosigned one.
pub async fn checkpoint(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, AUDITORS) {
        return r;
    }
    let note = match text_of(routes::checkpoint(State(state.clone())).await).await {
        Ok(t) => t,
        Err(e) => return bad(&user, e),
    };
    let cosigned = text_of(crate::server::cosign::cosigned_checkpoint(State(state.clone())).await)
        .await
        .ok();
    let mut lines = note.lines();
    let origin = lines.next().unwrap_or("").to_string();
    let size = lines.next().unwrap_or("").to_string();
    let root = lines.next().unwrap_or("").to_string();
    let mut p = Page::new("Latest checkpoint");
    p.html(facts(&[
        ("Origin", format!("<code>{}</code>", esc(&origin))),
        ("Tree size (records)", esc(&size)),
        ("Root hash", format!("<code>{}</code>", esc(&root))),
    ]));
    p.html(format!(
        "<h2>Signed checkpoint</h2><pre>{}</pre><p><a href=\"/web/audit/vkey\" download>Download the verifier key</a> (and compare it with the one published out of band).</p>",
        esc(&note)
    ));
    match cosigned {
        Some(c) => {
            let cosigs: Vec<&str> = c.lines().filter(|l| l.starts_with('—')).skip(1).collect();
            p.html(format!(
                "<h2>Cosigned by witnesses</h2><p>{} cosignature line(s) beyond the ledger's own signature.</p><pre>{}</pre>",
                cosigs.len(),
                esc(&c)
            ));
        }
        None => {
            p.html("<h2>Cosigned by witnesses</h2><p class=\"warning\">No witness has cosigned a checkpoint yet: start the server with <code>--witness URL=VKEY</code> to defend against a split view.</p>");
        }
    }
    p.html(format!(
        "<h2>Find a record</h2><form class=\"card\" method=\"get\" action=\"/web/audit/records\">\
<div class=\"field\"><label for=\"f-seq\">Seq</label><input id=\"f-seq\" name=\"seq\" type=\"number\" min=\"0\" value=\"{}\"></div>\
<button type=\"submit\">Show the record</button></form>",
        esc(q.0.get("seq").map(String::as_str).unwrap_or(""))
    ));
    p.respond(Some(&user), &query(q))
}

/// `GET /web/audit/records`: the latest records, or `?seq=N` for one.
pub async fn records(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, AUDITORS) {
        return r;
    }
    let q = query(q);
    if let Some(seq) = q.get("seq") {
        return match seq.trim().parse::<u64>() {
            Ok(n) => Redirect::to(&format!("/web/audit/records/{n}")).into_response(),
            Err(_) => bad(
                &user,
                ApiError::bad_request(
                    Code::InvalidSeq,
                    "seq",
                    "a seq is a whole number, 0 or more",
                ),
            ),
        };
    }
    let size = state.ledger.store().tree_size().await.unwrap_or(0);
    let from = q
        .get("from")
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(size.saturating_sub(100));
    let page = match value_of(
        routes::records(
            State(state.clone()),
            user.caller.clone(),
            AxQuery(ApiPage {
                from: Some(from),
                limit: Some(100),
            }),
        )
        .await,
    ) {
        Ok(v) => v,
        Err(e) => return bad(&user, e),
    };
    let mut t = Table::new(
        "records",
        format!(
            "Records {from} to {}",
            from.saturating_add(100).min(size).saturating_sub(1)
        ),
        &["Seq", "Kind", "At (UTC)", "Actor", "Receipt"],
    );
    for r in arr(&page, "records") {
        let rec = r.get("record").cloned().unwrap_or_else(|| r.clone());
        let seq = n(r, "seq");
        t.row(vec![
            Cell::Seq(seq, Some(format!("/web/audit/records/{seq}"))),
            Cell::text(s(&rec, "kind")),
            Cell::text(s(&rec, "at")),
            Cell::text(s(&rec, "actor")),
            Cell::Link("receipt".into(), format!("/web/audit/receipts/{seq}")),
        ]);
    }
    let mut p = Page::new("Records");
    let mut nav = String::from("<p>");
    if from > 0 {
        nav.push_str(&format!(
            "<a href=\"/web/audit/records?from={}\">Earlier records</a> ",
            from.saturating_sub(100)
        ));
    }
    if from.saturating_add(100) < size {
        nav.push_str(&format!(
            "<a href=\"/web/audit/records?from={}\">Later records</a>",
            from.saturating_add(100)
        ));
    }
    nav.push_str("</p>");
    p.html(nav);
    p.table(t);
    p.respond(Some(&user), &q)
}

/// `GET /web/audit/records/{seq}`: one record's exact canonical bytes, and its receipt.
pub async fn record(
    State(state): State<AppState>,
    user: WebUser,
    Path(seq): Path<u64>,
) -> Response {
    if let Some(r) = refuse(&user, AUDITORS) {
        return r;
    }
    let bytes = match text_of(
        routes::record(State(state.clone()), user.caller.clone(), P(seq)).await,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => return bad(&user, e),
    };
    let v: Value = serde_json::from_str(&bytes).unwrap_or_default();
    let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
    let leaf = tranche_audit::merkle::leaf_hash(bytes.as_bytes());
    let mut p = Page::new(format!("Record {seq}"));
    p.html(facts(&[
        ("Kind", esc(s(&v, "kind"))),
        ("At (UTC)", esc(s(&v, "at"))),
        ("Actor", esc(s(&v, "actor"))),
        (
            "Leaf hash (hex)",
            format!("<code>{}</code>", hex::encode(leaf)),
        ),
    ]));
    p.html(format!(
        "<p><a href=\"/web/audit/receipts/{seq}\" download>Download its receipt</a> (a C2SP tlog-proof with the record) · \
<a href=\"/web/audit/records/{}\">previous</a> · <a href=\"/web/audit/records/{}\">next</a></p>\
<h2>Canonical bytes (what is hashed)</h2><pre>{}</pre><h2>Readable</h2><pre>{}</pre>",
        seq.saturating_sub(1),
        seq + 1,
        esc(&bytes),
        esc(&pretty)
    ));
    p.respond(Some(&user), &Default::default())
}

/// `GET /web/audit/receipts/{seq}`: the receipt as a download.
pub async fn receipt(
    State(state): State<AppState>,
    user: WebUser,
    Path(seq): Path<u64>,
) -> Response {
    if let Some(r) = refuse(&user, AUDITORS) {
        return r;
    }
    match routes::receipt(State(state), user.caller.clone(), P(seq)).await {
        Ok(r) => attachment(r, &format!("receipt-{seq}.tlog-proof")),
        Err(e) => bad(&user, e),
    }
}

/// `GET /web/audit/export?size=N`: the journal's first N records (default: the latest
/// checkpoint's) as records.jsonl, streamed.
pub async fn export(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, AUDITORS) {
        return r;
    }
    let size = q.0.get("size").and_then(|t| t.parse().ok());
    match routes::export(
        State(state),
        user.caller.clone(),
        AxQuery(ExportQuery { size }),
    )
    .await
    {
        Ok(r) => attachment(r, "records.jsonl"),
        Err(e) => bad(&user, e),
    }
}

/// `GET /web/audit/checkpoint?size=N`: the signed checkpoint of that size as a download (the
/// `checkpoint` file of an export directory).
pub async fn checkpoint_file(
    State(state): State<AppState>,
    user: WebUser,
    q: PageQuery,
) -> Response {
    if let Some(r) = refuse(&user, AUDITORS) {
        return r;
    }
    let store = state.ledger.store();
    let cp = match q.0.get("size").and_then(|t| t.parse::<u64>().ok()) {
        Some(size) => store.checkpoint_at(size).await,
        None => store.latest_checkpoint().await,
    };
    match cp {
        Ok(Some(cp)) => attachment(
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                cp.note,
            )
                .into_response(),
            "checkpoint",
        ),
        Ok(None) => bad(
            &user,
            ApiError::not_found("no checkpoint of that size").field("size"),
        ),
        Err(e) => bad(&user, e.into()),
    }
}

/// `GET /web/audit/vkey`
pub async fn vkey(State(state): State<AppState>, user: WebUser) -> Response {
    if let Some(r) = refuse(&user, AUDITORS) {
        return r;
    }
    attachment(routes::vkey(State(state)).await, "ledger.vkey")
}

/// `GET /web/audit/trace?e2e=…`: a payment from evidence to bank confirmation.
pub async fn trace(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    if let Some(r) = refuse(&user, TRACERS) {
        return r;
    }
    let q = query(q);
    let mut p = Page::new("Trace a payment");
    let e2e = q.get("e2e").unwrap_or("").trim().to_string();
    p.html(format!(
        "<form class=\"card\" method=\"get\" action=\"/web/audit/trace\"><div class=\"field\"><label for=\"f-e2e\">End-to-end id</label>\
<span class=\"hint\">e.g. B000001-000001, as on the bank file and statement</span><input id=\"f-e2e\" name=\"e2e\" type=\"text\" value=\"{}\"></div>\
<button type=\"submit\">Trace</button></form>",
        esc(&e2e)
    ));
    if !e2e.is_empty() {
        match json_of(
            pay::trace(State(state.clone()), user.caller.clone(), Path(e2e.clone())).await,
        )
        .await
        {
            Err(e) => {
                p.html(format!(
                    "<p class=\"field-error\" role=\"alert\">{} <code>{}</code></p>",
                    esc(&e.detail),
                    esc(e.code.as_str())
                ));
                return p.status(e.status).respond(Some(&user), &q);
            }
            Ok(doc) => {
                let pm = doc.get("payment").cloned().unwrap_or_default();
                p.html(facts(&[
                    ("Payment", esc(s(&pm, "e2e"))),
                    ("Payee", esc(s(&pm, "payee"))),
                    (
                        "Amount",
                        super::html::money(s(&pm, "amount"), s(&pm, "currency")),
                    ),
                    ("Status", esc(s(&pm, "status"))),
                    ("Batch", esc(s(&doc, "batch"))),
                ]));
                let link = user.is(AUDITORS);
                let offset = super::partner::award_utc_offset(&state, s(&doc, "award"))
                    .await
                    .ok()
                    .flatten();
                let mut t = Table::new(
                    "steps",
                    "From evidence to the bank",
                    &[
                        "Step",
                        "Seq",
                        "Kind",
                        "At (award's time zone)",
                        "Actor",
                        "Detail",
                    ],
                );
                for st in arr(&doc, "steps") {
                    let seq = n(st, "seq");
                    t.row(vec![
                        Cell::text(s(st, "step")),
                        Cell::Seq(seq, link.then(|| format!("/web/audit/records/{seq}"))),
                        Cell::text(s(st, "kind")),
                        Cell::text(super::html::local_time(s(st, "at"), offset.as_deref())),
                        Cell::text(s(st, "actor")),
                        Cell::text(s(st, "detail")),
                    ]);
                }
                p.table(t);
                if link {
                    p.html(format!(
                        "<p>Every step is a journal record: download the receipt of any of them from its record page, and check it with <code>tranche-verify receipt</code>. <a href=\"/web/audit/trace?e2e={}&amp;csv=steps\">This trace as CSV</a>.</p>",
                        enc(&e2e)
                    ));
                }
            }
        }
    }
    p.respond(Some(&user), &q)
}

/// `GET /web/audit/verify`: how to check everything offline.
pub async fn verify_help(State(state): State<AppState>, user: WebUser) -> Response {
    if let Some(r) = refuse(&user, AUDITORS) {
        return r;
    }
    let vkey = state.ledger.verifier().to_vkey();
    let size = match state.ledger.store().latest_checkpoint().await {
        Ok(cp) => cp.map_or(0, |c| c.size),
        Err(e) => return bad(&user, e.into()),
    };
    let mut p = Page::new("Verify offline");
    p.html(format!(
        "<p>Nothing on these pages needs to be trusted: download the journal and the receipts and check them on your own machine.</p>\
<ol><li>Download the journal up to the latest checkpoint ({size} records): <a href=\"/web/audit/export?size={size}\" download>records.jsonl</a> (streamed) and its signed \
<a href=\"/web/audit/checkpoint?size={size}\" download>checkpoint</a>, and the <a href=\"/web/audit/vkey\" download>verifier key</a>. \
Compare the key with the one the programme published out of band: <code>{}</code></li>\
<li>Put <code>records.jsonl</code> and <code>checkpoint</code> in one directory, then run<pre>tranche-verify DIR --vkey \"$(cat ledger.vkey)\" --state auditor.state</pre>\
It checks the hash chain, the Merkle root against the signed checkpoint, every record against its schema, double entry per currency, partner signatures on evidence and maker-checker on every batch, and with <code>--state</code> that this history extends the one you saw last time (a fork is written out as evidence).</li>\
<li>A receipt: <pre>tranche-verify receipt receipt-42.tlog-proof --vkey \"$(cat ledger.vkey)\"</pre></li>\
<li>Independently of this software, <code>audit/reference/verify.py DIR KEY</code> (Python, standard library and <code>cryptography</code>) re-checks the chain, the root and the signature from the format document alone.</li></ol>",
        esc(&vkey)
    ));
    p.respond(Some(&user), &Default::default())
}
