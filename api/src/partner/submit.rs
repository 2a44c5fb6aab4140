//! Signed statements posted to a ledger's `/v1/evidence`, each line once: its Idempotency-Key
//! is the SHA-256 of its bytes, so sending a file again never records anything twice.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use indicatif::ProgressBar;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tranche_audit::programme::EvidenceBody;

use super::read_limited;

/// The largest response body `submit` reads.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Waits before retrying a statement the server was too busy to take (503).
pub const BUSY_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// One statement to send: where it came from, its exact bytes and its idempotency key.
#[derive(Debug, Clone)]
pub struct Pending {
    origin: String,
    batch_id: String,
    items: usize,
    body: String,
    key: String,
}

/// How many bad lines of one file `submit` lists (a CSV given by mistake has nothing else).
const MAX_BAD_LINES_SHOWN: usize = 10;

/// The hex SHA-256 of a line: its Idempotency-Key.
pub fn idempotency_key(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// Reads signed statement files; every line must be a well-formed `EvidenceBody`.
pub fn pending(files: &[PathBuf]) -> anyhow::Result<Result<Vec<Pending>, Vec<String>>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let bytes = read_limited(file)?;
        let Ok(text) = String::from_utf8(bytes) else {
            errors.push(format!("{}: not UTF-8 text", file.display()));
            continue;
        };
        let mut bad = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let origin = format!("{} line {}", file.display(), i + 1);
            let body = serde_json::from_str::<EvidenceBody>(line)
                .map_err(|e| format!("not a signed statement: {e}"))
                .and_then(|b| b.check().map(|()| b).map_err(|e| e.to_string()));
            match body {
                Ok(b) => out.push(Pending {
                    origin,
                    batch_id: b.statement.batch_id.to_string(),
                    items: b.statement.items.len(),
                    body: line.to_string(),
                    key: idempotency_key(line),
                }),
                Err(e) => bad.push(format!("{origin}: {e}")),
            }
        }
        if bad.len() > MAX_BAD_LINES_SHOWN {
            let more = bad.len() - MAX_BAD_LINES_SHOWN;
            bad.truncate(MAX_BAD_LINES_SHOWN);
            bad.push(format!("{}: {more} more bad lines", file.display()));
        }
        errors.append(&mut bad);
    }
    if errors.is_empty() && out.is_empty() {
        errors.push("the files hold no statements".into());
    }
    Ok(if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    })
}

#[derive(Debug, Deserialize)]
struct Appended {
    first_seq: Option<u64>,
    count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
    code: Option<String>,
    field: Option<String>,
    item: Option<u64>,
}

#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    endpoint: String,
    auth: String,
}

impl Client {
    pub fn new(url: &str, token: &str) -> anyhow::Result<Client> {
        let base = url.trim_end_matches('/');
        if base.starts_with("https://") {
            bail!(
                "--url: https:// is not supported: this build speaks plain HTTP only (reach a \
                 remote ledger through an SSH tunnel or a local TLS-terminating proxy)"
            );
        }
        if !base.starts_with("http://") || base.len() == "http://".len() {
            bail!("--url: must be the ledger's base URL, such as http://127.0.0.1:8080");
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(RESPONSE_TIMEOUT))
            .timeout_per_read(Some(RESPONSE_TIMEOUT))
            .user_agent(concat!("tranche-partner/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            agent,
            endpoint: format!("{base}/v1/evidence"),
            auth: format!("Bearer {token}"),
        })
    }

    /// POSTs one statement; returns the status, whether it was a replay, and the body text.
    pub fn post(&self, p: &Pending) -> anyhow::Result<(u16, bool, String)> {
        let mut response = self
            .agent
            .post(&self.endpoint)
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &p.key)
            .send(p.body.as_bytes())
            .with_context(|| {
                format!(
                    "Failed to send {} to {} (run the same command again: statements \
                     already recorded are not recorded twice)",
                    p.origin, self.endpoint
                )
            })?;
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes() == b"true");
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        Ok((status, replayed, text))
    }
}

/// How a submission went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub recorded: usize,
    pub refused: usize,
    pub failed: usize,
}

/// One line explaining a non-2xx answer: the problem document's fields when there is one.
fn explain(status: u16, text: &str) -> String {
    let mut out = format!("HTTP {status}");
    match serde_json::from_str::<Problem>(text) {
        Ok(p) => {
            if let Some(t) = p.title {
                out.push_str(&format!(" {t}"));
            }
            out.push(':');
            if let Some(i) = p.item {
                out.push_str(&format!(" item {}:", i + 1));
            }
            if let Some(f) = p.field {
                out.push_str(&format!(" {f}:"));
            }
            if let Some(d) = p.detail {
                out.push_str(&format!(" {d}"));
            }
            if let Some(c) = p.code {
                out.push_str(&format!(" ({c})"));
            }
        }
        Err(_) => {
            let first: String = text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            if !first.trim().is_empty() {
                out.push_str(&format!(": {}", first.trim()));
            }
        }
    }
    out
}

pub fn submit_all(
    client: &Client,
    statements: &[Pending],
    out: &mut dyn Write,
    bar: &ProgressBar,
    busy_retries: &[Duration],
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for p in statements {
        let mut waits = busy_retries.iter();
        let (status, replayed, text) = loop {
            let answer = client.post(p)?;
            match (answer.0, waits.next()) {
                (503, Some(wait)) => std::thread::sleep(*wait),
                _ => break answer,
            }
        };
        let head = format!("{} (batch {}, {} items)", p.origin, p.batch_id, p.items);
        let message = if (200..300).contains(&status) {
            tally.recorded += 1;
            let mut m = format!("{head}: recorded");
            if let Ok(a) = serde_json::from_str::<Appended>(&text) {
                if let Some(s) = a.first_seq {
                    m.push_str(&format!(", first_seq {s}"));
                }
                if let Some(c) = a.count {
                    m.push_str(&format!(", count {c}"));
                }
            }
            if replayed {
                m.push_str(" (already submitted: the ledger's earlier answer)");
            }
            m
        } else if status >= 500 {
            tally.failed += 1;
            format!("{head}: failed: {}", explain(status, &text))
        } else {
            tally.refused += 1;
            format!("{head}: refused: {}", explain(status, &text))
        };
        bar.suspend(|| writeln!(out, "{message}"))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::sign::write_jsonl;
    use crate::partner::sign_csv;
    use crate::partner::testing::{attendance_csv, key};
    use tranche_audit::programme::Id;

    // ---- submitting, against a tiny local HTTP server ----

    /// Serves one canned response per connection and records each request's head and body.
    fn serve(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, std::thread::JoinHandle<Vec<(String, String)>>) {
        use std::io::{BufRead as _, BufReader, Read as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (stream, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("read");
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().expect("a length");
                    }
                    head.push_str(&line);
                }
                let mut request = vec![0; length];
                reader.read_exact(&mut request).expect("body");
                seen.push((head, String::from_utf8(request).expect("utf-8")));
                let mut stream = stream;
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .expect("answer");
            }
            seen
        });
        (url, handle)
    }

    #[test]
    fn submit_sends_each_line_once_with_its_key_and_reports_each_answer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bodies = sign_csv(
            attendance_csv(501).as_bytes(),
            &key(),
            &Id::parse("w1").expect("valid"),
            "2026-03-08T12:00:00Z",
        )
        .expect("signed");
        let file = dir.path().join("w1.signed.jsonl");
        write_jsonl(&file, &bodies).expect("written");
        let (url, server) = serve(vec![
            (201, r#"{"first_seq":42,"count":1,"checkpoint":{}}"#),
            (
                422,
                r#"{"type":"urn:tranche:problem:unknown_participant","title":"Unprocessable Entity","status":422,"detail":"participant p-00500 is not enrolled","code":"unknown_participant","field":"statement.items[0].participant","item":0}"#,
            ),
        ]);
        let client = Client::new(&format!("{url}/"), "secret").expect("a client");
        let statements = pending(std::slice::from_ref(&file))
            .expect("read")
            .expect("valid");
        let mut out = Vec::new();
        let tally =
            submit_all(&client, &statements, &mut out, &ProgressBar::hidden(), &[]).expect("sent");
        assert_eq!(
            tally,
            Tally {
                recorded: 1,
                refused: 1,
                failed: 0
            }
        );
        let printed = String::from_utf8(out).expect("utf-8");
        let shown = file.display();
        assert_eq!(
            printed,
            format!(
                "{shown} line 1 (batch w1-1, 500 items): recorded, first_seq 42, count 1\n\
                 {shown} line 2 (batch w1-2, 1 items): refused: HTTP 422 Unprocessable Entity: \
                 item 1: statement.items[0].participant: participant p-00500 is not enrolled \
                 (unknown_participant)\n"
            )
        );
        let requests = server.join().expect("served");
        let text = std::fs::read_to_string(&file).expect("readable");
        for ((head, body), line) in requests.iter().zip(text.lines()) {
            assert!(head.starts_with("POST /v1/evidence HTTP/1.1\r\n"), "{head}");
            let head = head.to_ascii_lowercase();
            assert!(head.contains("authorization: bearer secret\r\n"), "{head}");
            assert!(
                head.contains("content-type: application/json\r\n"),
                "{head}"
            );
            assert!(
                head.contains(&format!("idempotency-key: {}\r\n", idempotency_key(line))),
                "{head}"
            );
            assert_eq!(body, line);
        }
    }

    #[test]
    fn submit_refuses_files_that_are_not_signed_statements_before_sending() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("x.jsonl");
        std::fs::write(&file, "{\"statement\":1}\n\n").expect("written");
        let errors = pending(std::slice::from_ref(&file))
            .expect("read")
            .expect_err("refused");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("x.jsonl line 1: not a signed statement"),
            "{errors:?}"
        );
        assert!(Client::new("https://ledger.example", "t").is_err());
        assert!(Client::new("ledger:8080", "t").is_err());
    }
}
