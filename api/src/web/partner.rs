//! Partner pages: its cohorts and sessions, evidence upload (a CSV checked line by line, or the
//! signed statements `tranche partner sign` wrote), what was accepted, and its key registrations.
//!
//! The ledger never holds a partner's signing key: a CSV is checked here with the same rules as
//! `tranche partner sign`, every bad line shown by number, and signed on the partner's machine.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;
use tranche_audit::programme::EvidenceBody;
use tranche_audit::Code;

use crate::server::error::{parse_json, ApiError};
use crate::server::AppState;
use crate::service::programme as prog;
use crate::service::Idempotency;

use super::html::{error_page, notice, Block, Cell, FormState, Page, Query, Table};
use super::session::{Fields, Posted, WebUser};
use super::{query, PageQuery};

fn bad(user: &WebUser, e: ApiError) -> Response {
    error_page(Some(user), &e)
}

/// `GET /web/partner`: the partner's cohorts and their sessions.
pub async fn home(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let q = query(q);
    let cohorts = match prog::cohorts(&state, &user.caller, None).await {
        Ok(v) => v,
        Err(e) => return bad(&user, e),
    };
    let mut p = Page::new(match &user.caller.partner {
        Some(pid) => format!("Cohorts of {pid}"),
        None => "Cohorts".into(),
    });
    let mut t = Table::new(
        "cohorts",
        "Cohorts",
        &[
            "Cohort", "Name", "Award", "Pathway", "Sessions", "First", "Last",
        ],
    )
    .empty("No cohort is open for this partner.");
    for c in &cohorts {
        t.row(vec![
            Cell::Link(
                c.cohort.clone(),
                format!("/web/partner{}", q.with(&[("cohort", &c.cohort)])),
            ),
            Cell::text(&c.name),
            Cell::text(&c.award),
            Cell::text(&c.pathway),
            Cell::Count(c.sessions.len() as u64),
            Cell::text(c.sessions.first().map(|x| x.date.as_str()).unwrap_or("")),
            Cell::text(c.sessions.last().map(|x| x.date.as_str()).unwrap_or("")),
        ]);
    }
    p.table(t);
    if let Some(cid) = q.get("cohort") {
        if let Some(c) = cohorts.iter().find(|c| c.cohort == cid) {
            let mut st = Table::new(
                "sessions",
                format!("Sessions of {cid}"),
                &["Session", "Date"],
            );
            for x in &c.sessions {
                st.row(vec![Cell::text(&x.session), Cell::text(&x.date)]);
            }
            p.table(st);
        }
    }
    p.respond(Some(&user), &q)
}

fn upload_form(user: &WebUser, form: &FormState<'_>) -> Markup {
    html! {
        form.card method="post" action="/web/partner/evidence" enctype="multipart/form-data" {
            h2 { "Upload evidence" }
            p.hint {
                "Either the CSV from your field tool (header "
                code { "type,participant,cohort,session,status,course,milestone,result,date" }
                "), checked here line by line, or the " code { ".signed.jsonl" } " file "
                code { "tranche partner sign" }
                " wrote with your key, which is submitted. Your signing key never leaves your machine: a checked CSV is signed here in your browser with your key file, or on your machine with the command line."
            }
            (form.general_error(&["file", "batch_id"]))
            (user.form_fields())
            (form.input("file", "Evidence file", "file", &["file"], ""))
            (form.input(
                "batch_id",
                "Batch id (for a CSV)",
                "text",
                &["batch_id"],
                "your own name for this upload, used once, e.g. hias-2026-07-attendance-1"
            ))
            button type="submit" { "Upload" }
        }
    }
}

/// Statements listed on the evidence page: the newest, so the page costs the same whatever the
/// history holds.
const ACCEPTED_SHOWN: u64 = 200;

/// The UTC offset of an award (`-05:00`), from the awards projection.
pub(crate) async fn award_utc_offset(
    state: &AppState,
    award: &str,
) -> Result<Option<String>, ApiError> {
    let Ok(award) = tranche_audit::programme::Id::parse(award) else {
        return Ok(None);
    };
    match state.ledger.award_body(&award).await {
        Ok(body) => Ok(body.utc_offset),
        Err(tranche_ledger::StoreError::Invalid(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The evidence statements this partner submitted that the ledger accepted, newest first.
async fn accepted(state: &AppState, partner: Option<&str>) -> Result<Table, ApiError> {
    let store = state.ledger.store();
    // The time zone of the partner's award (its cohorts belong to one award in practice).
    let award = store
        .cohort_rows(None, partner)
        .await?
        .into_iter()
        .next()
        .map(|c| c.award);
    let offset = match award {
        Some(a) => award_utc_offset(state, &a).await?,
        None => None,
    };
    let (statements, count) = store.statement_rows(partner, ACCEPTED_SHOWN).await?;
    let caption = if count > statements.len() as u64 {
        format!(
            "Accepted evidence statements (the newest {} of {count}; the audit pages list every record)",
            statements.len()
        )
    } else {
        "Accepted evidence statements".to_string()
    };
    let mut t = Table::new(
        "accepted",
        caption,
        &[
            "Seq",
            "Batch id",
            "Items",
            "Submitted at",
            "Recorded at",
            "Key",
        ],
    )
    .empty("No statement accepted yet.");
    for st in &statements {
        let at = match store.records(st.seq, 1).await?.first() {
            Some(r) if r.seq == st.seq => {
                let v: Value =
                    serde_json::from_slice(&r.bytes).map_err(|e| ApiError::internal(&e))?;
                v.get("at")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            }
            _ => String::new(),
        };
        t.row(vec![
            Cell::Seq(st.seq, None),
            Cell::text(&st.batch_id),
            Cell::Count(st.items),
            Cell::text(&st.submitted_at),
            Cell::text(super::html::local_time(&at, offset.as_deref())),
            Cell::text(&st.key_id),
        ]);
    }
    Ok(t)
}

async fn evidence_page(
    state: &AppState,
    user: &WebUser,
    q: &Query,
    form: &FormState<'_>,
    result: Vec<Block>,
    status: StatusCode,
) -> Response {
    let mut p = Page::new("Evidence");
    p.blocks.extend(result);
    p.html(upload_form(user, form));
    match accepted(state, user.caller.partner.as_deref()).await {
        Ok(t) => {
            p.table(t);
        }
        Err(e) => return bad(user, e),
    }
    p.status(status).respond(Some(user), q)
}

/// `GET /web/partner/evidence`
pub async fn evidence(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    evidence_page(
        &state,
        &user,
        &query(q),
        &FormState::default(),
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

/// `POST /web/partner/evidence`: a CSV is checked (every bad line by number, nothing
/// written); signed statements are submitted one by one, each with its own result.
pub async fn upload(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { user, fields } = posted;
    let (name, bytes) = fields
        .files
        .get("file")
        .cloned()
        .unwrap_or_else(|| (String::new(), Vec::new()));
    if bytes.is_empty() {
        let e = ApiError::bad_request(
            Code::FileRequired,
            "file",
            "choose an evidence CSV or a signed statements file",
        );
        return refused_page(&state, &user, &fields, e).await;
    }
    let Ok(text) = String::from_utf8(bytes) else {
        let e = ApiError::bad_request(
            Code::NotUtf8,
            "file",
            "the file is not UTF-8 text: export it as CSV in UTF-8",
        );
        return refused_page(&state, &user, &fields, e).await;
    };
    let mut blocks = Vec::new();
    let signed = text.trim_start().starts_with('{');
    if !signed {
        match crate::partner::parse_evidence_csv(&text) {
            Err(lines) => {
                let mut t = Table::new(
                    "bad_lines",
                    format!("{}: lines refused (nothing was accepted)", name),
                    &["Line", "Column", "Rule", "Detail"],
                )
                .fixed();
                for l in &lines {
                    t.row(vec![
                        Cell::Count(l.line as u64),
                        Cell::text(l.column.clone().unwrap_or_default()),
                        Cell::text(l.code.as_str()),
                        Cell::text(&l.detail),
                    ]);
                }
                let one = lines.len() == 1;
                blocks.push(Block::Html(html! {
                    p.error role="alert" {
                        (lines.len()) " line" @if !one { "s" } " of " (name) " refused; fix "
                        @if one { "it" } @else { "them" } " and upload it again. Nothing was written."
                    }
                }));
                blocks.push(Block::Table(t));
                return evidence_page(
                    &state,
                    &user,
                    &Default::default(),
                    &FormState::default(),
                    blocks,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
            Ok(items) => {
                return signing_page(&state, &user, &fields, &name, items).await;
            }
        }
    }
    // Signed statements: one per line, as `tranche partner sign` wrote them.
    let lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r').to_string()))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    submit_lines(&state, &user, &name, lines).await
}

/// Submits signed statements one by one, each with the hash of its line as its
/// Idempotency-Key (as `tranche partner submit` does), so uploading a file again is safe; each
/// line stands alone and gets its own result.
async fn submit_lines(
    state: &AppState,
    user: &WebUser,
    name: &str,
    lines: Vec<(usize, String)>,
) -> Response {
    let mut t = Table::new(
        "results",
        format!("{name}: statements"),
        &["Line", "Batch id", "Items", "Result", "Seq"],
    )
    .fixed();
    let mut refused = 0usize;
    for (number, line) in lines {
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        let st = v.get("statement").cloned().unwrap_or_default();
        // Read as the API reads a body; the line's hash is its key, as the command line's is.
        let idem = Idempotency {
            key: crate::partner::idempotency_key(&line),
            request_hash: crate::server::routes::request_hash("/v1/evidence", line.as_bytes()),
        };
        let r = match parse_json::<EvidenceBody>(line.as_bytes()) {
            Ok(evidence) => prog::submit_evidence(state, &user.caller, &idem, evidence).await,
            Err(e) => Err(e),
        };
        let (result, seq) = match r {
            Ok((outcome, _)) => ("accepted".to_string(), Cell::Count(outcome.first_seq)),
            Err(e) => {
                refused += 1;
                (
                    format!(
                        "refused: {} ({}{})",
                        e.detail,
                        e.code,
                        e.field.map(|f| format!(", {f}")).unwrap_or_default()
                    ),
                    Cell::text(""),
                )
            }
        };
        t.row(vec![
            Cell::Count(number as u64),
            Cell::text(st.get("batch_id").and_then(Value::as_str).unwrap_or("")),
            Cell::Count(
                st.get("items")
                    .and_then(Value::as_array)
                    .map_or(0, |a| a.len() as u64),
            ),
            Cell::text(result),
            seq,
        ]);
    }
    let blocks = vec![
        Block::Html(if refused == 0 {
            notice("Every statement was accepted.")
        } else {
            html! {
                p.error role="alert" { (refused) " statement(s) refused; the others were accepted. Each line stands alone." }
            }
        }),
        Block::Table(t),
    ];
    let status = if refused == 0 {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    evidence_page(
        state,
        user,
        &Default::default(),
        &FormState::default(),
        blocks,
        status,
    )
    .await
}

/// The page that signs a checked CSV's statements in the browser (`sign.js`), with the key file
/// the partner picks; the key is read by the browser and never uploaded.
async fn signing_page(
    state: &AppState,
    user: &WebUser,
    fields: &Fields,
    name: &str,
    items: Vec<(usize, tranche_audit::programme::EvidenceItem)>,
) -> Response {
    use base64::Engine as _;
    let refuse = |e: ApiError| refused_page(state, user, fields, e);
    let Some(partner) = user.caller.partner.clone() else {
        return refuse(ApiError::forbidden(
            "only a partner's own user signs its statements (an administrator submits signed files)",
        ))
        .await;
    };
    let batch_id = match tranche_audit::programme::Id::parse(fields.get("batch_id").trim()) {
        Ok(b) => b,
        Err(e) => return refuse(ApiError::from(e.within("batch_id"))).await,
    };
    let partner = match tranche_audit::programme::Id::parse(&partner) {
        Ok(p) => p,
        Err(e) => return refuse(ApiError::from(e.within("partner"))).await,
    };
    let submitted_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let count = items.len();
    let items = items.into_iter().map(|(_, i)| i).collect();
    let statements = match crate::partner::statements(&partner, &batch_id, items, &submitted_at) {
        Ok(s) => s,
        Err(e) => return refuse(ApiError::from(e)).await,
    };
    let mut hidden = Vec::new();
    for st in &statements {
        let json = serde_json::to_string(st).unwrap_or_default();
        let message = base64::engine::general_purpose::STANDARD.encode(st.signed_message());
        hidden.push((json, message));
    }
    let file = if name.is_empty() { "FILE.csv" } else { name };
    let body = html! {
        p.notice role="status" {
            (count) " rows of " (name) " are well-formed: " (statements.len())
            " statement(s) to sign as batch " code { (batch_id.as_str()) } "."
        }
        form #sign-form .card method="post" action="/web/partner/evidence/sign" enctype="multipart/form-data" data-partner=(partner.as_str()) {
            (user.form_fields())
            @for (i, (json, message)) in hidden.iter().enumerate() {
                input type="hidden" name={ "statement_" (i) } value=(json);
                input type="hidden" name={ "signature_" (i) } value="" data-message=(message);
            }
            input type="hidden" name="key_id" value="";
            input type="hidden" name="name" value=(name);
            div.field {
                label for="keyfile" { "Your key file" }
                span.hint { "read by this browser to sign, never uploaded" }
                input #keyfile type="file";
            }
            button type="button" #sign-button { "Sign and submit" }
            p #sign-status role="status" {}
            noscript {
                p.warning {
                    "Signing here needs JavaScript. Without it, sign on your machine and upload the result: "
                    code { "tranche partner sign " (file) " --key YOUR.key --batch-id " (batch_id.as_str()) }
                }
            }
        }
        script src="/web/assets/sign.js" {}
    };
    let mut p = Page::new("Sign and submit evidence");
    p.html(body);
    p.respond(Some(user), &Default::default())
}

/// The evidence page with the upload form showing an error next to its field.
async fn refused_page(state: &AppState, user: &WebUser, fields: &Fields, e: ApiError) -> Response {
    let f = FormState::new(fields.values(), Some(&e));
    evidence_page(state, user, &Default::default(), &f, Vec::new(), e.status).await
}

/// `POST /web/partner/evidence/sign`: the statements signed in the browser, submitted.
pub async fn submit_signed(State(state): State<AppState>, posted: Posted) -> Response {
    let Posted { user, fields } = posted;
    let key_id = fields.get("key_id").to_string();
    let mut lines = Vec::new();
    for i in 0.. {
        let Some(st) = fields.text.get(&format!("statement_{i}")) else {
            break;
        };
        let statement: Value = serde_json::from_str(st).unwrap_or(Value::Null);
        let body = serde_json::json!({
            "statement": statement,
            "key_id": key_id,
            "signature": fields.get(&format!("signature_{i}")),
        });
        lines.push((i + 1, body.to_string()));
    }
    if lines.is_empty() {
        return bad(
            &user,
            ApiError::bad_request(
                Code::NoStatements,
                "statement_0",
                "the form carries no statement",
            ),
        );
    }
    let name = format!("{} (signed in the browser)", fields.get("name"));
    submit_lines(&state, &user, &name, lines).await
}

/// `GET /web/partner/keys`: the partner's key registrations.
pub async fn keys(State(state): State<AppState>, user: WebUser, q: PageQuery) -> Response {
    let partners = match prog::partners(&state, &user.caller).await {
        Ok(v) => v,
        Err(e) => return bad(&user, e),
    };
    let mut p = Page::new("Signing keys");
    p.html(html! {
        p { "The keys registered in the journal for your statements. A statement signed by a key is accepted only between its registration and its revocation." }
    });
    let mut t = Table::new(
        "keys",
        "Key registrations",
        &[
            "Partner",
            "Key id",
            "Public key",
            "Registered at seq",
            "Revoked at seq",
        ],
    );
    for pr in partners.iter().filter(|pr| {
        user.caller
            .partner
            .as_deref()
            .is_none_or(|me| pr.partner == me)
    }) {
        for k in &pr.keys {
            t.row(vec![
                Cell::text(&pr.partner),
                Cell::text(&k.key_id),
                Cell::text(&k.public_key),
                Cell::Count(k.registered_seq),
                match k.revoked_seq {
                    Some(x) => Cell::Count(x),
                    None => Cell::text("in force"),
                },
            ]);
        }
    }
    p.table(t);
    p.respond(Some(&user), &query(q))
}
