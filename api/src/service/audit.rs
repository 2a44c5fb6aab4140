//! The journal as auditors read it: the latest checkpoint and the one witnesses cosigned,
//! records by seq, receipts, the export streamed page by page, and account balances.

use axum::body::Bytes;
use futures_util::Stream;
use tranche_audit::Code;

use super::authorize;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::routes::{fmt_minor, page_limit, BalanceDoc, RecordDoc, RecordsPage};
use crate::server::AppState;

/// The latest signed checkpoint note.
pub async fn checkpoint(state: &AppState) -> ApiResult<String> {
    let cp = state
        .ledger
        .store()
        .latest_checkpoint()
        .await?
        .ok_or_else(|| ApiError::not_found("no checkpoint yet"))?;
    Ok(cp.note)
}

/// The latest checkpoint witnesses cosigned, with their cosignature lines.
pub async fn cosigned_checkpoint(state: &AppState) -> ApiResult<String> {
    let store = state.ledger.store();
    let size = store
        .latest_cosigned_size()
        .await?
        .ok_or_else(|| ApiError::not_found("no checkpoint has been cosigned yet"))?;
    let cp = store
        .cosigned_checkpoint(size)
        .await?
        .ok_or_else(|| ApiError::not_found("the cosigned checkpoint is missing"))?;
    Ok(cp.note)
}

/// A page of records from `from`.
pub async fn records(
    state: &AppState,
    caller: &Caller,
    from: Option<u64>,
    limit: Option<u32>,
) -> ApiResult<RecordsPage> {
    authorize(caller, "GET", "/v1/records")?;
    let limit = page_limit(limit)?;
    let from = from.unwrap_or(0);
    let rows = state.ledger.store().records(from, limit).await?;
    let size = state.ledger.store().tree_size().await?;
    let next = rows.last().map(|r| r.seq + 1).filter(|n| *n < size);
    let mut docs = Vec::with_capacity(rows.len());
    for r in rows {
        docs.push(RecordDoc {
            seq: r.seq,
            leaf_hash: hex::encode(r.leaf),
            record: serde_json::from_slice(&r.bytes).map_err(|e| ApiError::internal(&e))?,
        });
    }
    Ok(RecordsPage {
        records: docs,
        next,
    })
}

/// The exact canonical bytes of record `seq`.
pub async fn record(state: &AppState, caller: &Caller, seq: u64) -> ApiResult<Vec<u8>> {
    authorize(caller, "GET", "/v1/records/{seq}")?;
    let stored = state
        .ledger
        .store()
        .records(seq, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or_else(|| ApiError::not_found(format!("seq {seq} does not exist")).field("seq"))?;
    Ok(stored.bytes)
}

/// The receipt of record `seq` (a C2SP tlog-proof carrying the record).
pub async fn receipt(state: &AppState, caller: &Caller, seq: u64) -> ApiResult<String> {
    authorize(caller, "GET", "/v1/receipts/{seq}")?;
    receipt_text(&state.ledger, seq).await
}

/// The receipt of record `seq`: its inclusion in the latest checkpoint witnesses cosigned when
/// that covers it, else in the latest checkpoint.
pub async fn receipt_text(ledger: &tranche_ledger::Ledger, seq: u64) -> ApiResult<String> {
    let store = ledger.store();
    let cosigned = match store.latest_cosigned_size().await? {
        Some(size) if size > seq => store.cosigned_checkpoint(size).await?,
        _ => None,
    };
    let cp = match cosigned {
        Some(cp) => cp,
        None => store
            .latest_checkpoint()
            .await?
            .ok_or_else(|| ApiError::not_found("no checkpoint yet"))?,
    };
    let stored = store
        .records(seq, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == seq && r.seq < cp.size)
        .ok_or_else(|| {
            ApiError::not_found(format!("seq {seq} is not in the latest checkpoint")).field("seq")
        })?;
    let proof = store.inclusion_proof(seq, cp.size).await?;
    Ok(tranche_audit::receipt::build(seq, &stored.bytes, proof, &cp.note).format())
}

async fn latest_size(state: &AppState) -> ApiResult<u64> {
    Ok(state
        .ledger
        .store()
        .latest_checkpoint()
        .await?
        .map_or(0, |c| c.size))
}

/// The journal's first `size` records (default: the latest checkpoint's) as records.jsonl:
/// the size, and the lines streamed page by page, so memory is one page whatever the journal's
/// size.
pub async fn export(
    state: &AppState,
    caller: &Caller,
    size: Option<u64>,
) -> ApiResult<(
    u64,
    impl Stream<Item = Result<Bytes, std::io::Error>> + use<>,
)> {
    authorize(caller, "GET", "/v1/export")?;
    let latest = latest_size(state).await?;
    let size = size.unwrap_or(latest);
    if size > latest {
        return Err(ApiError::bad_request(
            Code::BeyondTreeSize,
            "size",
            format!("size {size} is beyond the latest checkpoint ({latest})"),
        ));
    }
    let store = state.ledger.store().clone();
    let stream = futures_util::stream::unfold(0u64, move |from| {
        let store = store.clone();
        async move {
            if from >= size {
                return None;
            }
            let page = match store.records(from, 2_000).await {
                Ok(p) if !p.is_empty() => p,
                Ok(_) => return None,
                Err(e) => {
                    tracing::error!(error = %e, "export page failed");
                    return Some((Err(std::io::Error::other("export failed")), size));
                }
            };
            let mut buf = Vec::with_capacity(page.len() * 400);
            let mut next = from;
            for r in page.into_iter().take_while(|r| r.seq < size) {
                buf.extend_from_slice(&r.bytes);
                buf.push(b'\n');
                next = r.seq + 1;
            }
            Some((Ok::<_, std::io::Error>(Bytes::from(buf)), next))
        }
    });
    Ok((size, stream))
}

/// The balances of the accounts whose names start with `prefix`.
pub async fn balances(
    state: &AppState,
    caller: &Caller,
    prefix: &str,
) -> ApiResult<Vec<BalanceDoc>> {
    authorize(caller, "GET", "/v1/balances")?;
    let rows = state.ledger.store().balances(prefix).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (d, c) = (i128::from(r.debit_minor), i128::from(r.credit_minor));
            BalanceDoc {
                debits: fmt_minor(d, &r.currency),
                credits: fmt_minor(c, &r.currency),
                balance: fmt_minor(d - c, &r.currency),
                account: r.account,
                currency: r.currency,
            }
        })
        .collect())
}
