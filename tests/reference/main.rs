//! The reference verifier in Python (audit/reference/verify.py), written from docs/FORMAT.md
//! alone, accepts a real export of a whole programme and rejects a tampered copy. It runs when
//! python3 and the `cryptography` package are present, and always under CI=true.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tranche() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tranche"))
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../audit/reference/verify.py")
}

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(args: &[&str], data: &Path) -> String {
    run_program(&tranche(), args, data)
}

/// Runs `program` (`tranche`, or `tranche-demo` beside it) on the data directory `data`.
fn run_program(program: &Path, args: &[&str], data: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .env("TRANCHE_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .output()
        .expect("tranche runs");
    assert!(
        out.status.success(),
        "tranche {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn verify(export: &Path) -> (i32, String) {
    let out = Command::new("python3")
        .arg(script())
        .arg(export)
        .arg(export.join("ledger.vkey"))
        .output()
        .expect("python3 runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_python_reference_verifier_accepts_an_export_and_rejects_tampering() {
    if !python_ready() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "under CI=true python3 with the cryptography package is required"
        );
        eprintln!("skipped: python3 with the cryptography package is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    run_program(
        &PathBuf::from(env!("CARGO_BIN_EXE_tranche-demo")),
        &["--participants", "60"],
        &data,
    );
    let export = dir.path().join("export");
    run(&["export", export.to_str().expect("utf-8")], &data);
    let (code, out) = verify(&export);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: "), "{out}");

    // One byte of one record changed: the chain breaks at that record.
    let records = export.join("records.jsonl");
    let text = std::fs::read_to_string(&records).expect("records");
    let lines: Vec<&str> = text.lines().collect();
    let k = lines.len() / 2;
    let tampered: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == k {
                l.replacen("\"seq\":", "\"seq\": ", 1)
            } else {
                (*l).to_string()
            }
        })
        .collect();
    std::fs::write(&records, tampered.join("\n") + "\n").expect("write");
    let (code, out) = verify(&export);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("seq {k}")), "{out}");

    // A record altered and its own hash consistent, but the next record's prev now differs.
    let edited: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == k {
                l.replacen("\"at\":\"2", "\"at\":\"1", 1)
            } else {
                (*l).to_string()
            }
        })
        .collect();
    std::fs::write(&records, edited.join("\n") + "\n").expect("write");
    let (code, out) = verify(&export);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("seq {k}: altered")), "{out}");

    // A missing file cannot be read: exit 2, not 1.
    std::fs::remove_file(export.join("checkpoint")).expect("remove");
    let (code, _) = verify(&export);
    assert_eq!(code, 2);
}
