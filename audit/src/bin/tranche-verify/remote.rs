//! `tranche-verify --url`: verifies a running ledger server over plain HTTP. The only code of
//! `tranche-audit` that touches the network, compiled with the `remote` feature; the checks
//! themselves are the library's (`verify::verify_stream`, `monitor::check_extends`), fed from
//! HTTP responses instead of files.
//!
//! The server's read API (all GET, under `/v1`): `checkpoint` (the signed note as text),
//! `export?size=N` (records 0..N-1 as JSON Lines, streamed), and
//! `proofs/consistency?size1=A&size2=B` (`{"size1":A,"size2":B,"proof":["<base64>",…]}`).
//! Errors are RFC 9457 problem documents with `code` and `detail`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;

use tranche_audit::merkle::Hash;
use tranche_audit::monitor::{self, ExtendError, Growth};
use tranche_audit::note::{NoteVerifier, MAX_NOTE_BYTES};
use tranche_audit::verify::{self, rule, Failure, Progress, Summary, Verifier, VerifyError};

/// A problem document or a proof is small; anything larger is not what was asked for.
const MAX_SMALL_BODY_BYTES: u64 = 64 * 1024;
/// A consistency proof between two trees of at most 2^64 leaves has at most 2 × 64 hashes.
const MAX_CONSISTENCY_HASHES: usize = 128;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may stay silent, before its answer and then between two reads.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// What `verify_server` needs.
pub struct Options<'a> {
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: &'a str,
    pub token: Option<&'a str>,
    pub trusted: &'a NoteVerifier,
    /// Verify the server's witness-cosigned checkpoint instead of its latest one.
    pub cosigned: bool,
    /// A further check of the checkpoint note (the witness policy).
    pub check_checkpoint: &'a dyn Fn(&str) -> Result<(), VerifyError>,
    /// The file that keeps the last verified checkpoint between runs.
    pub state: Option<&'a Path>,
    pub reference_decoder: bool,
    /// Called with the tree size once the checkpoint is verified.
    pub on_checkpoint: &'a mut dyn FnMut(u64),
    pub progress: &'a mut dyn FnMut(Progress),
}

impl fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the token.
        f.debug_struct("Options")
            .field("url", &self.url)
            .field("token", &self.token.map(|_| "…"))
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What a successful run established.
#[derive(Debug)]
pub struct Verified {
    pub summary: Summary,
    /// The size of the checkpoint kept in the state file before this run, if there was one.
    pub previous_size: Option<u64>,
    /// How the checkpoint relates to the kept one, if there was one.
    pub growth: Option<Growth>,
}

/// Fetches the server's checkpoint and opens it with the trusted key; with a state file,
/// requires it to extend the checkpoint kept there (a fork fails with rule `fork` and leaves the
/// file alone); streams every record the checkpoint covers through the verifier; and on success
/// keeps the new checkpoint in the state file.
pub fn verify_server(opts: Options<'_>) -> Result<Verified, VerifyError> {
    let client = Client::new(opts.url, opts.token)?;
    let note = client.checkpoint(opts.cosigned)?;
    (opts.check_checkpoint)(&note)?;
    let mut verifier = Verifier::new(opts.trusted, &note).map_err(VerifyError::Invalid)?;
    verifier.use_reference_decoder(opts.reference_decoder);
    let checkpoint = verifier.checkpoint().clone();
    (opts.on_checkpoint)(checkpoint.size);

    let previous = match opts.state {
        Some(path) => monitor::read_state(path, opts.trusted)?,
        None => None,
    };
    let growth = match &previous {
        None => None,
        Some(old) => {
            let checked = monitor::check_extends(&old.checkpoint, &checkpoint, |a, b| {
                client.consistency_proof(a, b)
            });
            match checked {
                Ok(growth) => Some(growth),
                Err(ExtendError::Fork(f)) => {
                    let kept = opts.state.map(|p| p.display().to_string());
                    let mut evidence = String::new();
                    if let Some(state) = opts.state {
                        let ev = tranche_audit::fork::evidence(
                            &old.note,
                            &note,
                            &old.checkpoint,
                            &checkpoint,
                            None,
                            &f.detail,
                        );
                        let mut name = state.file_name().unwrap_or_default().to_os_string();
                        name.push(".fork.json");
                        let path = state.with_file_name(name);
                        if ev.write(&path).is_ok() {
                            evidence = format!(
                                "; evidence written to {}: check it with tranche-verify fork {} --vkey KEY",
                                path.display(),
                                path.display()
                            );
                        }
                    }
                    return Err(VerifyError::Invalid(Failure {
                        detail: format!(
                            "{} (the earlier checkpoint is kept in {}, which is left unchanged{evidence})",
                            f.detail,
                            kept.unwrap_or_default()
                        ),
                        ..f
                    }));
                }
                Err(ExtendError::Proof(e)) => return Err(e),
            }
        }
    };

    let export = client.export(checkpoint.size)?;
    let summary = verify::verify_stream(
        verifier,
        export.body,
        &export.what,
        export.bytes_total,
        Some(opts.progress),
    )?;

    if let Some(path) = opts.state {
        if growth != Some(Growth::Unchanged) {
            monitor::write_state(path, &note).map_err(|e| VerifyError::CouldNotRead {
                what: path.display().to_string(),
                detail: format!("the ledger verifies, but keeping its checkpoint failed: {e}"),
            })?;
        }
    }
    Ok(Verified {
        summary,
        previous_size: previous.map(|p| p.checkpoint.size),
        growth,
    })
}

/// The body of `GET /v1/proofs/consistency`.
#[derive(Debug, Deserialize)]
struct ConsistencyBody {
    size1: u64,
    size2: u64,
    proof: Vec<String>,
}

/// The members of an RFC 9457 problem document that are worth showing.
#[derive(Debug, Deserialize)]
struct Problem {
    code: Option<String>,
    detail: Option<String>,
    title: Option<String>,
}

struct Export {
    what: String,
    body: ureq::BodyReader<'static>,
    /// The Content-Length, or 0 when the server streams without one.
    bytes_total: u64,
}

struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

fn could_not(what: &str, detail: impl fmt::Display) -> VerifyError {
    VerifyError::CouldNotRead {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

impl Client {
    fn new(url: &str, token: Option<&str>) -> Result<Client, VerifyError> {
        let base = url.trim_end_matches('/');
        if base.starts_with("https://") {
            return Err(could_not(
                url,
                "https:// is not supported: this build speaks plain HTTP only (reach a remote \
                 server through an SSH tunnel or a local TLS-terminating proxy)",
            ));
        }
        if !base.starts_with("http://") || base.len() == "http://".len() {
            return Err(could_not(
                url,
                "the URL must be the server's base URL, such as http://127.0.0.1:8080",
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(READ_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .user_agent(concat!("tranche-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            agent,
            base: base.to_string(),
            token: token.map(str::to_string),
        })
    }

    /// GETs `path` (with its query) and returns the response if its status is 200; any other
    /// status is an error carrying the problem document's code and detail.
    fn get(&self, path: &str) -> Result<(String, ureq::http::Response<ureq::Body>), VerifyError> {
        let url = format!("{}{path}", self.base);
        let what = format!("GET {url}");
        let mut request = self.agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().map_err(|e| could_not(&what, e))?;
        let status = response.status();
        if status == ureq::http::StatusCode::OK {
            return Ok((what, response));
        }
        let plain_text = response.body().mime_type() == Some("text/plain");
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_SMALL_BODY_BYTES)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        // A problem document says what went wrong; a plain-text line may; anything else (an
        // HTML error page of a proxy) is left out.
        let explained = match serde_json::from_str::<Problem>(&body) {
            Ok(Problem {
                code,
                detail,
                title,
            }) => [code, detail.or(title)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": "),
            Err(_) if plain_text => body
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
            Err(_) => String::new(),
        };
        let mut detail = format!("the server answered {status}");
        if !explained.trim().is_empty() {
            detail.push_str(": ");
            detail.push_str(explained.trim());
        }
        if status == ureq::http::StatusCode::UNAUTHORIZED && self.token.is_none() {
            detail.push_str(" (pass --token or set TRANCHE_TOKEN)");
        }
        Err(could_not(&what, detail))
    }

    /// The latest signed checkpoint note, exactly as signed.
    fn checkpoint(&self, cosigned: bool) -> Result<String, VerifyError> {
        let path = if cosigned {
            "/v1/checkpoint/cosigned"
        } else {
            "/v1/checkpoint"
        };
        let (what, mut response) = self.get(path)?;
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_NOTE_BYTES as u64)
            .read_to_vec()
            .map_err(|e| could_not(&what, e))?;
        String::from_utf8(bytes).map_err(|_| {
            VerifyError::Invalid(Failure {
                seq: None,
                rule: rule::MALFORMED_CHECKPOINT,
                detail: "the checkpoint is not UTF-8 text".into(),
            })
        })
    }

    /// The records 0..size-1, as a reader over the streamed response body.
    fn export(&self, size: u64) -> Result<Export, VerifyError> {
        let (what, response) = self.get(&format!("/v1/export?size={size}"))?;
        let bytes_total = response
            .headers()
            .get(ureq::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Export {
            what,
            body: response.into_body().into_reader(),
            bytes_total,
        })
    }

    /// The RFC 9162 consistency proof from the tree of `size1` leaves to the tree of `size2`.
    /// A proof that cannot be read is an error; whether it holds is for the caller to check.
    fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, VerifyError> {
        let (what, mut response) = self.get(&format!(
            "/v1/proofs/consistency?size1={size1}&size2={size2}"
        ))?;
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_SMALL_BODY_BYTES)
            .read_to_string()
            .map_err(|e| could_not(&what, e))?;
        let body: ConsistencyBody = serde_json::from_str(&text).map_err(|e| {
            could_not(
                &what,
                format!("the answer is not a consistency proof object: {e}"),
            )
        })?;
        if (body.size1, body.size2) != (size1, size2) {
            return Err(could_not(
                &what,
                format!(
                    "the server answered with a proof from size {} to {}, not {size1} to {size2}",
                    body.size1, body.size2
                ),
            ));
        }
        if body.proof.len() > MAX_CONSISTENCY_HASHES {
            return Err(could_not(&what, "the proof has too many hashes"));
        }
        body.proof
            .iter()
            .enumerate()
            .map(|(i, h)| {
                B64.decode(h)
                    .ok()
                    .and_then(|v| Hash::try_from(v).ok())
                    .ok_or_else(|| {
                        could_not(
                            &what,
                            format!("proof[{i}] is not a 32-byte hash in standard base64"),
                        )
                    })
            })
            .collect()
    }
}
