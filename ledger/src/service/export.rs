//! Streaming export: `records.jsonl` (one canonical record per line, in seq order, nothing else
//! on the line), `checkpoint` (the latest signed note) and `ledger.vkey`. The checkpoint is read
//! first and exactly the records it covers are written, so the export is a consistent snapshot
//! even while the ledger keeps appending. Memory is one page of records.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::store::{StoreError, MAX_PAGE};
use crate::Ledger;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the journal is empty: nothing to export")]
    Empty,
    #[error("no checkpoint has been cosigned by a witness yet (tranche serve --witness collects cosignatures)")]
    NotCosigned,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub records: u64,
    pub bytes: u64,
    pub checkpoint_size: u64,
}

/// Exports the journal to `dir` (created if missing). `progress(done, total)` is called per page.
pub async fn export_dir(
    ledger: &Ledger,
    dir: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<Exported, ExportError> {
    let checkpoint = ledger
        .store()
        .latest_checkpoint()
        .await?
        .ok_or(ExportError::Empty)?;
    export_dir_at(ledger, dir, checkpoint, progress).await
}

/// Exports the journal up to the latest checkpoint its witnesses cosigned, with their
/// cosignature lines in the checkpoint file (for `tranche-verify --witness`).
pub async fn export_dir_cosigned(
    ledger: &Ledger,
    dir: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<Exported, ExportError> {
    let store = ledger.store();
    let size = store
        .latest_cosigned_size()
        .await?
        .ok_or(ExportError::NotCosigned)?;
    let checkpoint = store
        .cosigned_checkpoint(size)
        .await?
        .ok_or(ExportError::NotCosigned)?;
    export_dir_at(ledger, dir, checkpoint, progress).await
}

/// Exports the records the signed `checkpoint` covers, with it.
pub async fn export_dir_at(
    ledger: &Ledger,
    dir: &Path,
    checkpoint: crate::SignedCheckpoint,
    mut progress: impl FnMut(u64, u64),
) -> Result<Exported, ExportError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let records_path = dir.join("records.jsonl");
    let tmp_path = dir.join("records.jsonl.partial");
    let mut out =
        BufWriter::with_capacity(1 << 20, File::create(&tmp_path).map_err(io(&tmp_path))?);
    let mut written = 0u64;
    let mut bytes = 0u64;
    while written < checkpoint.size {
        let page = ledger.store().records(written, MAX_PAGE).await?;
        if page.is_empty() {
            break;
        }
        for r in page.into_iter().take_while(|r| r.seq < checkpoint.size) {
            out.write_all(&r.bytes).map_err(io(&tmp_path))?;
            out.write_all(b"\n").map_err(io(&tmp_path))?;
            bytes += r.bytes.len() as u64 + 1;
            written += 1;
        }
        progress(written, checkpoint.size);
    }
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(io(&tmp_path))?;
    // The records file appears whole or not at all.
    std::fs::rename(&tmp_path, &records_path).map_err(io(&records_path))?;
    let cp_path = dir.join("checkpoint");
    std::fs::write(&cp_path, &checkpoint.note).map_err(io(&cp_path))?;
    let vkey_path = dir.join("ledger.vkey");
    ledger.write_vkey(&vkey_path).map_err(io(&vkey_path))?;
    Ok(Exported {
        records: written,
        bytes,
        checkpoint_size: checkpoint.size,
    })
}
