//! Collecting witnesses' cosignatures. After each checkpoint the ledger sends it, with a
//! consistency proof from the last checkpoint each witness cosigned, to every configured
//! witness (C2SP `tlog-witness` `add-checkpoint`), checks the cosignature it gets back against
//! that witness's key, and keeps it (append-only) to serve with the checkpoint.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tranche_audit::note::SignedNote;
use tranche_audit::witness::CosignerVerifier;
use tranche_ledger::Ledger;

use super::error::ApiResult;
use super::AppState;

/// A witness the ledger asks for cosignatures.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// The submission prefix: `<url>/add-checkpoint` is called.
    pub url: String,
    pub verifier: CosignerVerifier,
}

impl WitnessConfig {
    /// Parses `URL=VKEY` (the vkey as text or a file holding it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (url, vkey) = text
            .split_once('=')
            .ok_or("a witness is URL=VKEY (the witness's cosigner key)")?;
        let vkey = std::fs::read_to_string(vkey).unwrap_or_else(|_| vkey.to_string());
        let verifier = CosignerVerifier::parse(&vkey).map_err(|e| e.to_string())?;
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(format!("{url:?} is not an http(s) URL"));
        }
        Ok(WitnessConfig {
            url: url.trim_end_matches('/').to_string(),
            verifier,
        })
    }
}

/// The most of a witness's answer read: a cosignature line or a tree size, a few hundred bytes;
/// the bound keeps a broken or hostile witness from filling the server's memory.
const MAX_WITNESS_ANSWER_BYTES: u64 = 64 * 1024;

enum Answer {
    Cosigned(String),
    /// 409 with the witness's size.
    Size(u64),
    Refused(u16, String),
}

fn post(url: &str, body: String) -> Result<Answer, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut r = agent
        .post(format!("{url}/add-checkpoint"))
        .header("Content-Type", "text/plain")
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let sized = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/x.tlog.size"));
    let text = r
        .body_mut()
        .with_config()
        .limit(MAX_WITNESS_ANSWER_BYTES)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok(match status {
        200 => Answer::Cosigned(text),
        409 if sized => match text.trim().parse() {
            Ok(n) => Answer::Size(n),
            Err(_) => Answer::Refused(409, text),
        },
        other => Answer::Refused(other, text),
    })
}

/// Asks one witness to cosign the ledger's latest checkpoint; returns the size it now holds.
async fn round(ledger: &Ledger, w: &WitnessConfig, have: u64) -> Result<u64, String> {
    let store = ledger.store();
    let Some(cp) = store.latest_checkpoint().await.map_err(|e| e.to_string())? else {
        return Ok(have);
    };
    if cp.size <= have {
        return Ok(have);
    }
    let proof = if have == 0 {
        Vec::new()
    } else {
        store
            .consistency_proof(have, cp.size)
            .await
            .map_err(|e| e.to_string())?
    };
    let mut body = format!("old {have}\n");
    for h in &proof {
        body.push_str(&B64.encode(h));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(&cp.note);
    let url = w.url.clone();
    let answer = tokio::task::spawn_blocking(move || post(&url, body))
        .await
        .map_err(|e| e.to_string())??;
    match answer {
        Answer::Cosigned(lines) => {
            let mut kept = false;
            for line in lines.lines().filter(|l| !l.is_empty()) {
                let line = format!("{line}\n");
                let Ok(note) = SignedNote::parse(&format!("{}{line}", cp.note)) else {
                    continue;
                };
                if w.verifier.verify(&note).is_ok() {
                    store
                        .put_cosignature(cp.size, w.verifier.name(), &line)
                        .await
                        .map_err(|e| e.to_string())?;
                    kept = true;
                }
            }
            if kept {
                tracing::info!(witness = w.verifier.name(), size = cp.size, "cosigned");
                Ok(cp.size)
            } else {
                Err("the witness answered without a valid cosignature by its key".into())
            }
        }
        Answer::Size(n) if n > cp.size => Err(format!(
            "the witness holds size {n}, beyond this ledger's {}: it was shown another history",
            cp.size
        )),
        Answer::Size(n) => Ok(n),
        Answer::Refused(status, text) => Err(format!("refused ({status}): {}", text.trim())),
    }
}

/// Runs until aborted: after each new checkpoint, collects every witness's cosignature.
pub async fn collect(ledger: Ledger, witnesses: Vec<WitnessConfig>) {
    let mut have = vec![0u64; witnesses.len()];
    loop {
        for (i, w) in witnesses.iter().enumerate() {
            // A 409 tells the size the witness holds: one more round goes on from there.
            for _ in 0..2 {
                match round(&ledger, w, have[i]).await {
                    Ok(size) if size != have[i] => have[i] = size,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(witness = w.verifier.name(), error = %e, "no cosignature");
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[utoipa::path(get, path = "/v1/checkpoint/cosigned", tag = "audit",
    responses((status = 200, description = "The latest checkpoint that witnesses cosigned, with their cosignature lines (C2SP signed note)", content_type = "text/plain"),
              (status = 404, description = "No witness has cosigned a checkpoint yet")))]
pub async fn cosigned_checkpoint(State(state): State<AppState>) -> ApiResult<Response> {
    let note = crate::service::audit::cosigned_checkpoint(&state).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}
