//! `tranche-verify --url` against a fake ledger server: a minimal HTTP/1.1 responder on
//! 127.0.0.1 serving a synthetic journal through the read API (`/v1/checkpoint`,
//! `/v1/export`, `/v1/proofs/consistency`), whose journal a test can grow, fork or tamper with
//! between runs of the real binary.
#![cfg(feature = "remote")]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use tranche_audit::merkle::{leaf_hash, MemoryTree};
use tranche_audit::note::Checkpoint;
use tranche_audit::record::Record;
use tranche_audit::synth;

/// What the fake server serves: a journal, its tree and its signed checkpoint, and optionally
/// export lines that differ from the journal (a server lying about one record).
struct Log {
    lines: Vec<Vec<u8>>,
    tree: MemoryTree,
    note: String,
    export_override: Option<Vec<Vec<u8>>>,
}

impl Log {
    fn of(lines: Vec<Vec<u8>>) -> Log {
        let mut tree = MemoryTree::new();
        for line in &lines {
            tree.push(leaf_hash(line));
        }
        let note = synth::signer()
            .sign(&Checkpoint::new(synth::ORIGIN, tree.size(), tree.root()).to_text())
            .expect("a checkpoint is a valid note text");
        Log {
            lines,
            tree,
            note,
            export_override: None,
        }
    }

    /// The valid synthetic journal of `size` records; a smaller one is a prefix of it.
    fn honest(size: u64) -> Log {
        Log::of(synth::lines(size).collect())
    }

    /// A journal of `size` records, valid on its own and signed by the same key, whose record
    /// `changed` differs from the honest one (and every record after it is re-chained).
    fn forked(size: u64, changed: usize) -> Log {
        let mut prev = [0u8; 32];
        let lines = synth::lines(size)
            .enumerate()
            .map(|(i, line)| {
                let mut record = Record::decode(&line).expect("synthetic lines are records");
                if i == changed {
                    let memo = record.body["memo"].as_str().expect("a transaction");
                    record.body["memo"] = format!("{memo} (rewritten)").into();
                }
                record.prev = prev;
                let bytes = record.encode().expect("encodes");
                prev = leaf_hash(&bytes);
                bytes
            })
            .collect();
        Log::of(lines)
    }
}

struct Fake {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    /// The request targets received, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn start(log: Log, token: Option<&'static str>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let log = Arc::new(Mutex::new(log));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (shared_log, shared_requests) = (log.clone(), requests.clone());
        // Serves until the test binary exits; every response closes its connection.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = handle(stream, &shared_log, &shared_requests, token);
            }
        });
        Fake {
            addr,
            log,
            requests,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&self, log: Log) {
        *self.log.lock().expect("not poisoned") = log;
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn problem(stream: &mut TcpStream, status: &str, code: &str, detail: &str) {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status,
        "status": status[..3].parse::<u16>().expect("a status code"),
        "code": code,
        "detail": detail,
    });
    respond(
        stream,
        status,
        "application/problem+json",
        body.to_string().as_bytes(),
    );
}

fn handle(
    mut stream: TcpStream,
    log: &Mutex<Log>,
    requests: &Mutex<Vec<String>>,
    token: Option<&str>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    let target = request_line.split(' ').nth(1).unwrap_or("").to_string();
    requests.lock().expect("not poisoned").push(target.clone());
    if let Some(token) = token {
        if authorization != Some(format!("Bearer {token}")) {
            problem(
                &mut stream,
                "401 Unauthorized",
                "unauthorized",
                "a bearer token is required",
            );
            return Ok(());
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let param = |name: &str| -> Option<u64> {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse().ok())
    };
    let log = log.lock().expect("not poisoned");
    match path {
        "/v1/checkpoint" => respond(
            &mut stream,
            "200 OK",
            "text/plain; charset=utf-8",
            log.note.as_bytes(),
        ),
        "/v1/export" => {
            let size = param("size").unwrap_or(log.tree.size()) as usize;
            let lines = log.export_override.as_ref().unwrap_or(&log.lines);
            if size > lines.len() {
                problem(
                    &mut stream,
                    "400 Bad Request",
                    "size_beyond_tree",
                    "too big",
                );
                return Ok(());
            }
            // Streamed as the server does: no Content-Length, the end of the body is the close.
            stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n",
            )?;
            let mut out = std::io::BufWriter::new(&mut stream);
            for line in &lines[..size] {
                out.write_all(line)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        "/v1/proofs/consistency" => {
            let (Some(size1), Some(size2)) = (param("size1"), param("size2")) else {
                problem(
                    &mut stream,
                    "400 Bad Request",
                    "invalid_query",
                    "size1, size2",
                );
                return Ok(());
            };
            match log.tree.consistency_proof(size1, size2) {
                Ok(proof) => {
                    let proof: Vec<String> = proof.iter().map(|h| B64.encode(h)).collect();
                    let body = serde_json::json!({"size1": size1, "size2": size2, "proof": proof});
                    respond(
                        &mut stream,
                        "200 OK",
                        "application/json",
                        body.to_string().as_bytes(),
                    );
                }
                Err(e) => problem(
                    &mut stream,
                    "400 Bad Request",
                    "invalid_sizes",
                    &e.to_string(),
                ),
            }
        }
        _ => problem(
            &mut stream,
            "404 Not Found",
            "not_found",
            "no such endpoint",
        ),
    }
    Ok(())
}

fn vkey() -> String {
    synth::signer().verifier().to_vkey()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tranche-verify"))
        .args(args)
        .env_remove("TRANCHE_TOKEN")
        .output()
        .expect("the binary runs")
}

fn verify(fake: &Fake, state: Option<&Path>, extra: &[&str]) -> Output {
    let url = fake.url();
    let key = vkey();
    let mut args = vec!["--url", &url, "--vkey", &key];
    let state = state.map(|p| p.to_str().expect("a UTF-8 temporary path"));
    if let Some(state) = state {
        args.extend(["--state", state]);
    }
    args.extend(extra);
    run(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_valid_server_verifies() {
    let fake = Fake::start(Log::honest(40), None);
    let o = verify(&fake, None, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("OK: the ledger at {} verifies", fake.url())),
        "{out}"
    );
    assert!(out.contains("tree size   40"), "{out}");
    assert!(out.contains("not kept: pass --state FILE"), "{out}");
    assert_eq!(
        fake.requests(),
        vec![
            "/v1/checkpoint".to_string(),
            "/v1/export?size=40".to_string()
        ]
    );

    let o = verify(&fake, None, &["--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["ok"], true);
    assert_eq!(v["records"], 40);
    assert_eq!(v["url"], fake.url());
    assert_eq!(v["history"]["growth"], "not_kept");
}

#[test]
fn the_state_follows_the_log_as_it_grows() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let state = dir.path().join("ledger.checkpoint");
    let fake = Fake::start(Log::honest(30), None);
    let first_note = fake.log.lock().expect("not poisoned").note.clone();

    let o = verify(&fake, Some(&state), &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("first run with"), "{}", stdout(&o));
    assert_eq!(std::fs::read_to_string(&state).expect("kept"), first_note);

    fake.serve(Log::honest(75));
    let grown_note = fake.log.lock().expect("not poisoned").note.clone();
    let o = verify(&fake, Some(&state), &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["tree_size"], 75);
    assert_eq!(v["history"]["growth"], "extended");
    assert_eq!(v["history"]["previous_size"], 30);
    assert!(fake
        .requests()
        .contains(&"/v1/proofs/consistency?size1=30&size2=75".to_string()));
    assert_eq!(std::fs::read_to_string(&state).expect("kept"), grown_note);

    let asked = fake.requests().len();
    let o = verify(&fake, Some(&state), &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("unchanged since the checkpoint kept in"));
    // The same tree needs no proof: only the checkpoint and the export were fetched.
    assert_eq!(fake.requests().len(), asked + 2);
}

#[test]
fn a_split_view_is_reported_as_a_fork_and_the_state_keeps_the_old_checkpoint() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let state = dir.path().join("ledger.checkpoint");
    let fake = Fake::start(Log::honest(30), None);
    assert_eq!(verify(&fake, Some(&state), &[]).status.code(), Some(0));
    let kept = std::fs::read_to_string(&state).expect("kept");

    // A larger tree whose record 20 differs: valid and signed on its own, so only the
    // consistency proof from the kept checkpoint can tell.
    fake.serve(Log::forked(60, 20));
    let o = verify(&fake, None, &["--quiet"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "without --state the view is consistent"
    );
    let o = verify(&fake, Some(&state), &[]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("FAILED: fork: "), "{out}");
    assert!(out.contains("consistency proof fails"), "{out}");
    assert!(out.contains("left unchanged"), "{out}");
    assert_eq!(std::fs::read_to_string(&state).expect("kept"), kept);

    // Another root at the same size, and a smaller tree, are forks too.
    fake.serve(Log::forked(30, 29));
    let o = verify(&fake, Some(&state), &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["rule"], "fork");
    assert!(v["detail"]
        .as_str()
        .expect("a detail")
        .contains("two different trees of 30 records"));
    fake.serve(Log::honest(29));
    let o = verify(&fake, Some(&state), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("smaller"), "{}", stdout(&o));
    assert_eq!(std::fs::read_to_string(&state).expect("kept"), kept);

    // The honest log, grown, still extends what was kept.
    fake.serve(Log::honest(61));
    assert_eq!(verify(&fake, Some(&state), &[]).status.code(), Some(0));
}

#[test]
fn a_tampered_export_line_fails_naming_its_seq() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let state = dir.path().join("ledger.checkpoint");
    let mut log = Log::honest(30);
    let mut lines = log.lines.clone();
    let altered = String::from_utf8(lines[17].clone())
        .expect("utf-8")
        .replacen("USD", "EUR", 2);
    assert_ne!(altered.as_bytes(), &lines[17][..]);
    lines[17] = altered.into_bytes();
    log.export_override = Some(lines);
    let fake = Fake::start(log, None);
    let o = verify(&fake, Some(&state), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("FAILED at seq 17: prev_mismatch: "),
        "{}",
        stdout(&o)
    );
    assert!(!state.exists(), "a failed run keeps no checkpoint");
}

#[test]
fn the_bearer_token_is_sent_when_given() {
    let fake = Fake::start(Log::honest(12), Some("s3cret"));
    let o = verify(&fake, None, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("401"), "{err}");
    assert!(
        err.contains("unauthorized: a bearer token is required"),
        "{err}"
    );
    let o = verify(&fake, None, &["--token", "s3cret"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_tranche-verify"))
        .args(["--url", &fake.url(), "--vkey", &vkey(), "--quiet"])
        .env("TRANCHE_TOKEN", "s3cret")
        .output()
        .expect("the binary runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_checkpoint_by_another_key_fails() {
    let fake = Fake::start(Log::honest(12), None);
    let other =
        tranche_audit::note::NoteSigner::from_seed(synth::ORIGIN, [5u8; 32]).expect("a valid name");
    let o = run(&["--url", &fake.url(), "--vkey", &other.verifier().to_vkey()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("FAILED: bad_checkpoint_signature: "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_unreachable_server_exits_2() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.local_addr().expect("bound").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let o = run(&["--url", &url, "--vkey", &vkey(), "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["rule"], "could_not_read");

    let o = run(&["--url", "https://ledger.example", "--vkey", &vkey()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("plain HTTP only"), "{}", stderr(&o));
}
