//! Payment batches (create, submit, approve, reject, cancel, bank files, send), bank files in,
//! and payments with their trace. Every change is a journal record appended through the
//! group-commit writer with the request's key, in the same database transaction as the key.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tranche_audit::programme::Id;
use tranche_audit::Code;
use tranche_ledger::domain::Command;
use tranche_ledger::service::payments::{
    BankFile, BatchPlan, BatchRequest, BatchView, ImportReport, Trace,
};
use tranche_ledger::store::Outcome;
use tranche_ledger::{Ledger, StoreError};

use super::{authorize, submit, Idempotency, Written};
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::AppState;

/// A batch id from a path: 404 when it cannot name a batch.
pub fn batch_id(text: &str) -> ApiResult<Id> {
    Id::parse(text).map_err(|e| ApiError::from(e.within("batch")).status(StatusCode::NOT_FOUND))
}

/// A ledger error, with the unknown batch, payment or import it names as 404.
pub fn not_found(e: StoreError) -> ApiError {
    let err = ApiError::from(e);
    if matches!(
        err.code,
        Code::UnknownBatch | Code::UnknownPayment | Code::UnknownImport
    ) {
        err.status(StatusCode::NOT_FOUND)
    } else {
        err
    }
}

/// The batch as it stands, with the first page of its payments.
async fn batch_doc(ledger: &Ledger, batch: &Id) -> ApiResult<BatchView> {
    ledger.batch_view(batch, 0, 1000).await.map_err(not_found)
}

/// Every batch, newest first (without their payments), or one award's.
pub async fn batches(
    state: &AppState,
    caller: &Caller,
    award: Option<&str>,
) -> ApiResult<Vec<BatchView>> {
    authorize(caller, "GET", "/v1/batches")?;
    let award = award
        .map(|a| Id::parse(a).map_err(|e| ApiError::from(e.within("award"))))
        .transpose()?;
    Ok(state.ledger.batches(award.as_ref()).await?)
}

/// One batch with a page of its payments.
pub async fn batch(
    state: &AppState,
    caller: &Caller,
    batch: &Id,
    offset: u64,
    limit: u64,
) -> ApiResult<BatchView> {
    authorize(caller, "GET", "/v1/batches/{batch}")?;
    state
        .ledger
        .batch_view(batch, offset, limit)
        .await
        .map_err(not_found)
}

/// What a batch would hold, computed without creating it.
pub async fn plan_batch(
    state: &AppState,
    caller: &Caller,
    request: &BatchRequest,
) -> ApiResult<BatchPlan> {
    authorize(caller, "POST", "/v1/batches")?;
    Ok(state.ledger.plan_batch(request).await?)
}

/// Creates a batch: its header and parts, appended together.
pub async fn create_batch(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    request: &BatchRequest,
) -> ApiResult<(BatchView, Written)> {
    authorize(caller, "POST", "/v1/batches")?;
    if let Some(o) = idem.earlier(state, caller).await? {
        let o: Outcome = serde_json::from_str(&o).map_err(|e| ApiError::internal(&e))?;
        let batch = batch_created_at(&state.ledger, o.first_seq).await?;
        return Ok((batch_doc(&state.ledger, &batch).await?, Written::Replayed));
    }
    let plan = state.ledger.plan_batch(request).await?;
    let (outcome, written) = submit(state, caller, idem, plan.commands).await?;
    let batch = batch_created_at(&state.ledger, outcome.first_seq).await?;
    Ok((batch_doc(&state.ledger, &batch).await?, written))
}

async fn batch_created_at(ledger: &Ledger, seq: u64) -> ApiResult<Id> {
    let rows = ledger.store().records(seq, 1).await?;
    let record = rows
        .first()
        .and_then(|r| tranche_audit::record::Record::decode_trusted(&r.bytes).ok())
        .ok_or_else(|| ApiError::internal(&"the batch record is missing"))?;
    record
        .body
        .get("batch")
        .and_then(|b| b.as_str())
        .and_then(|b| Id::parse(b).ok())
        .ok_or_else(|| ApiError::internal(&"the record is not a batch"))
}

/// A write on an existing batch: once per key, then the batch as it stands.
async fn batch_write(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    batch: &Id,
    commands: impl std::future::Future<Output = Result<Vec<Command>, StoreError>>,
) -> ApiResult<(BatchView, Written)> {
    if idem.earlier(state, caller).await?.is_some() {
        return Ok((batch_doc(&state.ledger, batch).await?, Written::Replayed));
    }
    let commands = commands.await.map_err(not_found)?;
    let written = if commands.is_empty() {
        Written::Now
    } else {
        submit(state, caller, idem, commands).await?.1
    };
    Ok((batch_doc(&state.ledger, batch).await?, written))
}

/// Submits a draft batch: frozen at its digest, awaiting approval.
pub async fn submit_batch(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    batch: &Id,
) -> ApiResult<(BatchView, Written)> {
    authorize(caller, "POST", "/v1/batches/{batch}/submit")?;
    batch_write(state, caller, idem, batch, async {
        Ok(vec![state.ledger.submit_command(batch).await?])
    })
    .await
}

/// An approval or a rejection.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DecisionRequest)]
pub struct Decision {
    /// The digest of the content the approver reviewed.
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Approves (`approve`) or rejects a submitted batch: never by its preparer or submitter, no
/// approver twice (the ledger's rules).
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    batch: &Id,
    approve: bool,
    decision: Decision,
) -> ApiResult<(BatchView, Written)> {
    let route = if approve {
        "/v1/batches/{batch}/approve"
    } else {
        "/v1/batches/{batch}/reject"
    };
    authorize(caller, "POST", route)?;
    batch_write(state, caller, idem, batch, async {
        Ok(vec![
            state
                .ledger
                .decision_command(batch, approve, Some(&decision.digest), decision.reason)
                .await?,
        ])
    })
    .await
}

/// A cancellation, with its reason.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CancelRequest, example = json!({"reason": "the wrong cohort"}))]
pub struct Cancel {
    pub reason: String,
}

/// Cancels a batch not yet sent; its payables are open again.
pub async fn cancel(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    batch: &Id,
    cancel: Cancel,
) -> ApiResult<(BatchView, Written)> {
    authorize(caller, "POST", "/v1/batches/{batch}/cancel")?;
    batch_write(state, caller, idem, batch, async {
        Ok(vec![
            state.ledger.cancel_command(batch, cancel.reason).await?,
        ])
    })
    .await
}

/// A bank file to make.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BankFileRequest, example = json!({"format": "pain.001", "execution_date": "2026-04-01"}))]
pub struct MakeFile {
    /// `pain.001` (default) or `csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Requested execution date (default: today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub execution_date: Option<tranche_audit::programme::Date>,
}

/// A bank file made, its digest recorded in the journal.
#[derive(Debug, Clone, Serialize)]
pub struct FileMade {
    pub batch: String,
    /// `pain.001.001.09` or `csv`.
    pub format: &'static str,
    pub sha256: String,
    pub bytes: usize,
    /// Where to download it from the API.
    pub download: String,
}

/// Makes an approved batch's bank file and records its digest (once: made again, it is the
/// same file).
pub async fn make_file(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    batch: &Id,
    m: MakeFile,
) -> ApiResult<(FileMade, Written)> {
    authorize(caller, "POST", "/v1/batches/{batch}/files")?;
    let format = m.format.unwrap_or_else(|| "pain.001".into());
    let replay = idem.earlier(state, caller).await?.is_some();
    let file = state
        .ledger
        .bank_file(
            batch,
            &format,
            chrono::Utc::now(),
            m.execution_date.map(|d| d.0),
        )
        .await
        .map_err(not_found)?;
    let mut written = if replay {
        Written::Replayed
    } else {
        Written::Now
    };
    if let (Some(cmd), false) = (file.record.clone(), replay) {
        written = submit(state, caller, idem, vec![cmd]).await?.1;
    }
    let csv = format == "csv";
    Ok((
        FileMade {
            batch: batch.to_string(),
            format: if csv { "csv" } else { "pain.001.001.09" },
            sha256: file.sha256,
            bytes: file.bytes.len(),
            download: format!(
                "/v1/batches/{batch}/files/{}",
                if csv { "csv" } else { "pain.001" }
            ),
        },
        written,
    ))
}

/// A bank file already recorded, made again and checked against its journaled digest.
pub async fn bank_file(
    state: &AppState,
    caller: &Caller,
    batch: &Id,
    format: &str,
) -> ApiResult<BankFile> {
    authorize(caller, "GET", "/v1/batches/{batch}/files/{format}")?;
    let file = state
        .ledger
        .bank_file(batch, format, chrono::Utc::now(), None)
        .await
        .map_err(not_found)?;
    if file.record.is_some() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NoBankFile,
            format!("batch {batch} has no {format} file yet: POST /v1/batches/{batch}/files first, which records its digest"),
        ));
    }
    Ok(file)
}

/// Which bank file was sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SendRequest)]
pub struct Send {
    /// The SHA-256 of the bank file sent (optional when the batch has one file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The day it was sent (`YYYY-MM-DD`), the accounting date of its postings; default:
    /// today in the award's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2026-04-02")]
    pub date: Option<tranche_audit::programme::Date>,
}

/// Marks an approved batch as sent: each payment moves from payable to payments in transit.
pub async fn send(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    batch: &Id,
    s: Send,
) -> ApiResult<(BatchView, Written)> {
    authorize(caller, "POST", "/v1/batches/{batch}/send")?;
    batch_write(state, caller, idem, batch, async {
        state
            .ledger
            .send_commands(batch, s.file.as_deref(), s.date.map(|d| d.0))
            .await
    })
    .await
}

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Posted now.
    Now,
    /// A retry of this caller's import: answered as the import was.
    Replayed,
    /// The same file imported before under another key: nothing posted again.
    Before,
}

/// Imports a status or statement file: what it posted, and every line that posted nothing with
/// its reason.
pub async fn import(
    state: &AppState,
    caller: &Caller,
    idem: &Idempotency,
    file: &[u8],
) -> ApiResult<(ImportReport, Imported)> {
    authorize(caller, "POST", "/v1/bank-files")?;
    let replay = idem.earlier(state, caller).await?;
    // Lines are dated by their booking dates; those that state none, today.
    let plan = state.ledger.plan_import(file, None).await?;
    if replay.is_some() {
        let report = state.ledger.import_view(&plan.report.sha256).await?;
        return Ok((report, Imported::Replayed));
    }
    if plan.report.already_imported {
        return Ok((plan.report, Imported::Before));
    }
    let sha = plan.report.sha256.clone();
    submit(state, caller, idem, plan.commands).await?;
    Ok((state.ledger.import_view(&sha).await?, Imported::Now))
}

/// Every imported file, newest first.
pub async fn imports(state: &AppState, caller: &Caller) -> ApiResult<Vec<ImportReport>> {
    authorize(caller, "GET", "/v1/bank-files")?;
    Ok(state.ledger.imports().await?)
}

/// A payment from evidence to bank confirmation.
pub async fn trace(state: &AppState, caller: &Caller, e2e: &str) -> ApiResult<Trace> {
    authorize(caller, "GET", "/v1/payments/{e2e}/trace")?;
    state.ledger.trace(e2e).await.map_err(not_found)
}
