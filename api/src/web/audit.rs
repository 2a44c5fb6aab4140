//! Auditor pages: the latest checkpoint with its cosignatures, records by seq, the trace of a
//! payment from evidence to bank confirmation, downloads of the export and of receipts, and how
//! to verify them offline with no trust in whoever runs this server.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde_json::Value;
use tranche_audit::Code;

use crate::server::error::ApiError;
use crate::server::AppState;
use crate::service::audit as journal;
use crate::service::payments as pay;

use super::html::{enc, error_page, facts, local_time, money, Cell, Page, Table};
use super::session::WebUser;
use super::{query, PageQuery};

fn bad(user: &WebUser, e: ApiError) -> Response {
    error_page(Some(user), &e)
}

/// A plain-text download.
fn attachment(content_type: &'static str, body: impl Into<Body>, name: &str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body.into()).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

const TEXT: &str = "text/plain; charset=utf-8";

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `GET /web/audit`: the latest checkpoint and the latest cosigned one.
pub async fn checkpoint(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let note = match journal::checkpoint(&state).await {
        Ok(t) => t,
        Err(e) => return bad(&user, e),
    };
    let cosigned = journal::cosigned_checkpoint(&state).await.ok();
    let mut lines = note.lines();
    let origin = lines.next().unwrap_or("").to_string();
    let size = lines.next().unwrap_or("").to_string();
    let root = lines.next().unwrap_or("").to_string();
    let mut p = Page::new("Latest checkpoint");
    p.html(facts(&[
        ("Origin", html! { code { (origin) } }),
        ("Tree size (records)", html! { (size) }),
        ("Root hash", html! { code { (root) } }),
    ]));
    p.html(html! {
        h2 { "Signed checkpoint" }
        pre { (note) }
        p {
            a href="/web/audit/vkey" download { "Download the verifier key" }
            " (and compare it with the one published out of band)."
        }
    });
    p.html(html! {
        h2 { "Cosigned by witnesses" }
        @match &cosigned {
            Some(c) => {
                p { (c.lines().filter(|l| l.starts_with('—')).skip(1).count()) " cosignature line(s) beyond the ledger's own signature." }
                pre { (c) }
            }
            None => {
                p.warning {
                    "No witness has cosigned a checkpoint yet: start the server with "
                    code { "--witness URL=VKEY" } " to defend against a split view."
                }
            }
        }
    });
    p.html(html! {
        h2 { "Find a record" }
        form.card method="get" action="/web/audit/records" {
            div.field {
                label for="f-seq" { "Seq" }
                input #f-seq name="seq" type="number" min="0" value=(q.0.get("seq").map(String::as_str).unwrap_or(""));
            }
            button type="submit" { "Show the record" }
        }
    });
    p.respond(Some(&user), &query(q))
}

/// `GET /web/audit/records`: the latest records, or `?seq=N` for one.
pub async fn records(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
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
    let page = match journal::records(&state, &user.caller, Some(from), Some(100)).await {
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
    for r in &page.records {
        let seq = r.seq;
        t.row(vec![
            Cell::Seq(seq, Some(format!("/web/audit/records/{seq}"))),
            Cell::text(str_of(&r.record, "kind")),
            Cell::text(str_of(&r.record, "at")),
            Cell::text(str_of(&r.record, "actor")),
            Cell::Link("receipt".into(), format!("/web/audit/receipts/{seq}")),
        ]);
    }
    let mut p = Page::new("Records");
    p.html(html! {
        p {
            @if from > 0 {
                a href={ "/web/audit/records?from=" (from.saturating_sub(100)) } { "Earlier records" } " "
            }
            @if from.saturating_add(100) < size {
                a href={ "/web/audit/records?from=" (from.saturating_add(100)) } { "Later records" }
            }
        }
    });
    p.table(t);
    p.respond(Some(&user), &q)
}

/// `GET /web/audit/records/{seq}`: one record's exact canonical bytes, and its receipt.
pub async fn record(
    State(state): State<AppState>,
    user: WebUser,
    Path(seq): Path<u64>,
) -> Response {
    let bytes = match journal::record(&state, &user.caller, seq).await {
        Ok(b) => b,
        Err(e) => return bad(&user, e),
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
    let leaf = tranche_audit::merkle::leaf_hash(&bytes);
    let mut p = Page::new(format!("Record {seq}"));
    p.html(facts(&[
        ("Kind", html! { (str_of(&v, "kind")) }),
        ("At (UTC)", html! { (str_of(&v, "at")) }),
        ("Actor", html! { (str_of(&v, "actor")) }),
        ("Leaf hash (hex)", html! { code { (hex::encode(leaf)) } }),
    ]));
    p.html(html! {
        p {
            a href={ "/web/audit/receipts/" (seq) } download { "Download its receipt" }
            " (a C2SP tlog-proof with the record) · "
            a href={ "/web/audit/records/" (seq.saturating_sub(1)) } { "previous" }
            " · "
            a href={ "/web/audit/records/" (seq + 1) } { "next" }
        }
        h2 { "Canonical bytes (what is hashed)" }
        pre { (text) }
        h2 { "Readable" }
        pre { (pretty) }
    });
    p.respond(Some(&user), &Default::default())
}

/// `GET /web/audit/receipts/{seq}`: the receipt as a download.
pub async fn receipt(
    State(state): State<AppState>,
    user: WebUser,
    Path(seq): Path<u64>,
) -> Response {
    match journal::receipt(&state, &user.caller, seq).await {
        Ok(text) => attachment(TEXT, text, &format!("receipt-{seq}.tlog-proof")),
        Err(e) => bad(&user, e),
    }
}

/// `GET /web/audit/export?size=N`: the journal's first N records (default: the latest
/// checkpoint's) as records.jsonl, streamed.
pub async fn export(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let size = q.0.get("size").and_then(|t| t.parse().ok());
    match journal::export(&state, &user.caller, size).await {
        Ok((size, stream)) => {
            let mut r = attachment(
                "application/x-ndjson",
                Body::from_stream(stream),
                "records.jsonl",
            );
            if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
                r.headers_mut().insert("tranche-tree-size", v);
            }
            r
        }
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
    let store = state.ledger.store();
    let cp = match q.0.get("size").and_then(|t| t.parse::<u64>().ok()) {
        Some(size) => store.checkpoint_at(size).await,
        None => store.latest_checkpoint().await,
    };
    match cp {
        Ok(Some(cp)) => attachment(TEXT, cp.note, "checkpoint"),
        Ok(None) => bad(
            &user,
            ApiError::not_found("no checkpoint of that size").field("size"),
        ),
        Err(e) => bad(&user, e.into()),
    }
}

/// `GET /web/audit/vkey` (the user is taken for the role matrix's line, which it applies).
pub async fn vkey(State(state): State<AppState>, _user: WebUser) -> Response {
    attachment(
        TEXT,
        format!("{}\n", state.ledger.verifier().to_vkey()),
        "ledger.vkey",
    )
}

/// `GET /web/audit/trace?e2e=…`: a payment from evidence to bank confirmation.
pub async fn trace(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let q = query(q);
    let mut p = Page::new("Trace a payment");
    let e2e = q.get("e2e").unwrap_or("").trim().to_string();
    p.html(html! {
        form.card method="get" action="/web/audit/trace" {
            div.field {
                label for="f-e2e" { "End-to-end id" }
                span.hint { "e.g. B000001-000001, as on the bank file and statement" }
                input #f-e2e name="e2e" type="text" value=(e2e);
            }
            button type="submit" { "Trace" }
        }
    });
    if e2e.is_empty() {
        return p.respond(Some(&user), &q);
    }
    let doc = match pay::trace(&state, &user.caller, &e2e).await {
        Ok(doc) => doc,
        Err(e) => {
            p.html(html! {
                p.field-error role="alert" { (e.detail) " " code { (e.code) } }
            });
            return p.status(e.status).respond(Some(&user), &q);
        }
    };
    let pm = &doc.payment;
    p.html(facts(&[
        ("Payment", html! { (pm.e2e) }),
        ("Payee", html! { (pm.payee) }),
        ("Amount", money(&pm.amount, &pm.currency)),
        ("Status", html! { (pm.status) }),
        ("Batch", html! { (doc.batch) }),
    ]));
    // Records link to their page for those who may open it.
    let link = user.may("GET", "/web/audit/records/{seq}");
    let offset = super::partner::award_utc_offset(&state, &doc.award)
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
    for st in &doc.steps {
        let seq = st.seq;
        t.row(vec![
            Cell::text(&st.step),
            Cell::Seq(seq, link.then(|| format!("/web/audit/records/{seq}"))),
            Cell::text(&st.kind),
            Cell::text(local_time(&st.at, offset.as_deref())),
            Cell::text(&st.actor),
            Cell::text(&st.detail),
        ]);
    }
    p.table(t);
    if link {
        p.html(html! {
            p {
                "Every step is a journal record: download the receipt of any of them from its record page, and check it with "
                code { "tranche-verify receipt" } ". "
                a href={ "/web/audit/trace?e2e=" (enc(&e2e)) "&csv=steps" } { "This trace as CSV" } "."
            }
        });
    }
    p.respond(Some(&user), &q)
}

/// `GET /web/audit/verify`: how to check everything offline.
pub async fn verify_help(State(state): State<AppState>, user: WebUser) -> Response {
    let vkey = state.ledger.verifier().to_vkey();
    let size = match state.ledger.store().latest_checkpoint().await {
        Ok(cp) => cp.map_or(0, |c| c.size),
        Err(e) => return bad(&user, e.into()),
    };
    let mut p = Page::new("Verify offline");
    p.html(html! {
        p { "Nothing on these pages needs to be trusted: download the journal and the receipts and check them on your own machine." }
        ol {
            li {
                "Download the journal up to the latest checkpoint (" (size) " records): "
                a href={ "/web/audit/export?size=" (size) } download { "records.jsonl" }
                " (streamed) and its signed "
                a href={ "/web/audit/checkpoint?size=" (size) } download { "checkpoint" }
                ", and the " a href="/web/audit/vkey" download { "verifier key" } ". "
                "Compare the key with the one the programme published out of band: " code { (vkey) }
            }
            li {
                "Put " code { "records.jsonl" } " and " code { "checkpoint" } " in one directory, then run"
                pre { "tranche-verify DIR --vkey \"$(cat ledger.vkey)\" --state auditor.state" }
                "It checks the hash chain, the Merkle root against the signed checkpoint, every record against its schema, double entry per currency, partner signatures on evidence and maker-checker on every batch, and with "
                code { "--state" } " that this history extends the one you saw last time (a fork is written out as evidence)."
            }
            li {
                "A receipt: "
                pre { "tranche-verify receipt receipt-42.tlog-proof --vkey \"$(cat ledger.vkey)\"" }
            }
            li {
                "Independently of this software, " code { "audit/reference/verify.py DIR KEY" }
                " (Python, standard library and " code { "cryptography" }
                ") re-checks the chain, the root and the signature from the format document alone."
            }
        }
    });
    p.respond(Some(&user), &Default::default())
}
