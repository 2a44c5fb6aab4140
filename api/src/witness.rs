//! An independent witness (served by `tranche witness`), run by someone other than the ledger's operator
//! (a donor's monitor, an auditor). It has its own key and its own state file; it serves the
//! C2SP `tlog-witness` `add-checkpoint` call and cosigns a ledger checkpoint only when it is
//! consistent with the last one it cosigned for that origin. It never needs the journal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;
use tranche_audit::note::NoteVerifier;
use tranche_audit::witness::{add_checkpoint, Cosigner, WitnessState};

/// The largest add-checkpoint body accepted: a checkpoint note with its signatures and a
/// consistency proof of at most 63 hashes take a few KiB. Refused (413) as soon as the body
/// passes it, before the rest is read.
const MAX_BODY_BYTES: usize = 16 * 1024;

struct Witness {
    cosigner: Cosigner,
    logs: Vec<NoteVerifier>,
    state_path: PathBuf,
    state: Mutex<WitnessState>,
}

/// Reads the witness's private key file, or creates it (0600) for a new witness named `name`.
pub fn load_key(path: &Path, name: Option<&str>) -> anyhow::Result<Cosigner> {
    match std::fs::read_to_string(path) {
        Ok(text) => Cosigner::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = name.context("No key yet: give --name for the new witness key")?;
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
            let c = Cosigner::from_seed(name, seed).map_err(|e| anyhow::anyhow!("{e}"))?;
            tranche_ledger::keys::write_private(path, &c.to_private_text())
                .with_context(|| format!("Failed to write {}", path.display()))?;
            Ok(c)
        }
        Err(e) => Err(e).with_context(|| format!("Failed to read {}", path.display())),
    }
}

fn save_state(path: &Path, state: &WitnessState) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn add(State(w): State<Arc<Witness>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "the body is too large\n").into_response()
        }
        Err(r) => return (r.status(), format!("{}\n", r.body_text())).into_response(),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not UTF-8\n").into_response();
    };
    // Check and persist atomically: one request at a time.
    let mut state = w.state.lock().await;
    match add_checkpoint(&state, &w.logs, &w.cosigner, text, now_unix()) {
        Ok((origin, line, log)) => {
            let mut next = state.clone();
            next.logs.insert(origin.clone(), log.clone());
            if let Err(e) = save_state(&w.state_path, &next) {
                tracing::error!(error = %e, "cannot persist the witness state");
                return (StatusCode::INTERNAL_SERVER_ERROR, "cannot persist state\n")
                    .into_response();
            }
            *state = next;
            tracing::info!(%origin, size = log.size, "cosigned");
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], line).into_response()
        }
        Err(r) => {
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
            tracing::warn!(status = r.status, detail = %r.detail, "refused");
            match r.size {
                Some(size) => (
                    status,
                    [(header::CONTENT_TYPE, "text/x.tlog.size")],
                    format!("{size}\n"),
                )
                    .into_response(),
                None => (status, format!("{}\n", r.detail)).into_response(),
            }
        }
    }
}

async fn vkey(State(w): State<Arc<Witness>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", w.cosigner.verifier().to_vkey()),
    )
        .into_response()
}

/// The witness's router (for tests and `tranche witness`).
pub fn router(
    cosigner: Cosigner,
    logs: Vec<NoteVerifier>,
    state_path: PathBuf,
) -> anyhow::Result<Router> {
    let state = match std::fs::read_to_string(&state_path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a witness state", state_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => WitnessState::default(),
        Err(e) => return Err(e).context("Failed to read the witness state"),
    };
    let w = Arc::new(Witness {
        cosigner,
        logs,
        state_path,
        state: Mutex::new(state),
    });
    Ok(Router::new()
        .route(
            "/add-checkpoint",
            post(add).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/vkey", get(vkey))
        .with_state(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn an_oversized_body_is_refused_before_the_rest_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cosigner = Cosigner::from_seed("witness.test/bound", [7; 32]).expect("key");
        let app = router(cosigner, Vec::new(), dir.path().join("state")).expect("router");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        // A chunked body that passes the bound and never ends: only a reader that stops at the
        // bound can answer it.
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let chunk = vec![b'x'; MAX_BODY_BYTES + 1];
        let mut request = format!(
            "POST /add-checkpoint HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            chunk.len()
        )
        .into_bytes();
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
        stream.write_all(&request).await.expect("send");
        let mut answer = [0u8; 64];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("answered without waiting for the rest of the body")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }
}
