//! `tranche-verify`: checks a tranche journal export offline, with no database; a running ledger
//! server over HTTP (`--url`, the only mode that touches the network, behind the `remote`
//! feature); or one receipt (`receipt FILE`). A thin shell over `tranche_audit`: arguments, a
//! progress bar on a terminal, and the verdict in words or JSON. Exit status: 0 valid,
//! 1 invalid, 2 could not read (or connect).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::{ArgGroup, Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tranche_audit::money::format_minor;
use tranche_audit::note::NoteVerifier;
use tranche_audit::receipt::{Receipt, VerifiedReceipt, MAX_RECEIPT_BYTES};
use tranche_audit::record::format_time;
use tranche_audit::verify::{self, Failure, Progress, Summary, VerifyError, VerifyOptions};

#[cfg(feature = "remote")]
mod remote;

const LONG_ABOUT: &str = "\
Verifies a tranche journal export offline: a directory holding records.jsonl (one RFC 8785 \
canonical JSON record per line), checkpoint (the ledger's signed C2SP tlog-checkpoint) and \
ledger.vkey (the ledger's checkpoint key).

It checks, in one streaming pass, stopping at the first fault:
  - the checkpoint is signed by the trusted key, for that key's origin;
  - every line is a record in its exact canonical encoding, under 64 KiB;
  - seq is gapless from 0, and each record's prev is the leaf hash of the record before it
    (a hash chain: an altered record is named by seq);
  - at never goes backwards;
  - record 0 is the ledger.key record naming this origin and this key;
  - accounts are opened once, used only while open, closed only when their balance is zero;
  - every transaction balances per currency, with amounts written at the currency's exact
    minor units, and never mixes memo (off-balance) with balance-sheet accounts;
  - the records are exactly the checkpoint's tree size, and their RFC 6962 Merkle root is the
    root the ledger signed.

An auditor should pass --vkey with the ledger's key obtained out of band (from the ledger's \
operator through another channel, or from an earlier audit). Without it the key is read from \
the export's own ledger.vkey, which only shows that the export agrees with itself.

With --url instead of DIR it verifies a running ledger server the same way: it fetches the \
signed checkpoint (GET /v1/checkpoint) and streams every record it covers (GET /v1/export) \
through the same checks, one record at a time. --vkey is required then. With --state FILE it also \
keeps the checkpoint between runs: the next run requires the ledger's tree to extend it (never \
smaller, the same root at the same size, otherwise an RFC 9162 consistency proof from \
GET /v1/proofs/consistency) and reports anything else as a fork, leaving FILE unchanged. Plain \
http:// only: this build has no TLS, so reach a remote server through a tunnel or a local \
TLS-terminating proxy.

`tranche-verify receipt FILE --vkey KEY` verifies one receipt (a C2SP tlog-proof file): that \
the record it carries is in the tree the ledger signed. (To verify an export directory that is \
literally named \"receipt\", write it as ./receipt.)

Exit status: 0 valid, 1 invalid (the first bad record, or the fork, is named), 2 it could not \
be read or the server could not be reached.";

#[derive(Debug, Parser)]
#[command(
    name = "tranche-verify",
    version,
    about = "Verify a tranche journal export offline (hash chain, double entry, signed Merkle root)",
    long_about = LONG_ABOUT,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    group(ArgGroup::new("source").required(true).args(["dir", "url"]))
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The export directory (records.jsonl, checkpoint, ledger.vkey).
    dir: Option<PathBuf>,

    /// Verify the running ledger server at this base URL (e.g. http://127.0.0.1:8080) instead
    /// of an export directory. Plain HTTP only (no TLS in this build).
    #[arg(long, value_name = "URL", requires = "vkey")]
    url: Option<String>,

    /// With --url: the bearer token to send, if the server asks for one.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TRANCHE_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,

    /// A file keeping the last verified checkpoint between runs (of an export directory or a
    /// server). A checkpoint that does not extend it is reported as a fork, and the two
    /// conflicting signed checkpoints are written to FILE.fork.json as portable evidence
    /// (`tranche-verify fork FILE.fork.json`); on success the file is replaced (atomically)
    /// with the new checkpoint.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// A witness's cosigner key (C2SP vkey, algorithm 0x04), as a file or text. Repeat for
    /// several. The checkpoint must then carry --quorum valid cosignatures from them; with
    /// --url the server's cosigned checkpoint (GET /v1/checkpoint/cosigned) is verified.
    #[arg(long = "witness", value_name = "FILE_OR_TEXT")]
    witnesses: Vec<String>,

    /// How many of the --witness keys must have cosigned the checkpoint (default: all).
    #[arg(long, value_name = "K", requires = "witnesses")]
    quorum: Option<usize>,

    /// The ledger's checkpoint key in C2SP vkey form (name+keyid+base64), as a file holding it
    /// or as the text itself. Obtain it out of band; without it the export's own ledger.vkey is
    /// used (with --url it is required).
    #[arg(long, value_name = "FILE_OR_TEXT")]
    vkey: Option<String>,

    #[command(flatten)]
    output: OutputArgs,

    /// Decode every record with the generic RFC 8785 decoder only (slower), to cross-check the
    /// fast one.
    #[arg(long)]
    reference_decoder: bool,
}

#[derive(Debug, Clone, Copy, Args)]
struct OutputArgs {
    /// Print the outcome as one JSON object on stdout.
    #[arg(long)]
    json: bool,

    /// Print nothing on success and only the failure line on failure; no progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify a receipt (a C2SP tlog-proof file): the record it carries is in the tree that
    /// the ledger's key signed.
    Receipt(ReceiptArgs),
    /// Re-check fork evidence written by --state: two checkpoints signed by the ledger's key
    /// that cannot both be true. Exit 0 when the evidence proves the fork, 1 when it does not.
    Fork(ForkArgs),
    /// Check a report (the signed JSON from `tranche report` or GET /v1/reports/...): its
    /// signature, that the export holds the checkpoint it names, and every figure recomputed
    /// from the export's records up to that tree size.
    Report(ReportCheckArgs),
}

#[derive(Debug, Args)]
struct ReportCheckArgs {
    /// The signed report (JSON).
    file: PathBuf,
    /// The export directory of the same ledger (at least as large as the report's checkpoint).
    #[arg(long, value_name = "DIR")]
    export: PathBuf,
    /// The ledger's key (C2SP vkey, file or text); default: the export's ledger.vkey.
    #[arg(long, value_name = "FILE_OR_TEXT")]
    vkey: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn report_check_main(args: &ReportCheckArgs) -> ExitCode {
    use tranche_audit::report::{differences, SignedReport};
    use tranche_audit::report_compute::{from_export, ReportRequest};
    let output = args.output;
    let unreadable = |what: String, detail: String| {
        report_error(output, &VerifyError::CouldNotRead { what, detail })
    };
    let vkey = args
        .vkey
        .clone()
        .unwrap_or_else(|| args.export.join("ledger.vkey").display().to_string());
    let trusted = match verify::read_vkey(&vkey) {
        Ok(v) => v,
        Err(e) => return report_error(output, &e),
    };
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => return unreadable(args.file.display().to_string(), e.to_string()),
    };
    let signed: SignedReport = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            return unreadable(
                args.file.display().to_string(),
                format!("not a signed report: {e}"),
            )
        }
    };
    let fail = |rule: &'static str, detail: String| {
        report_failure(
            output,
            &Failure {
                seq: None,
                rule,
                detail,
            },
        )
    };
    if let Err(e) = signed.verify_signature(&trusted) {
        return fail(e.code.as_str(), e.detail);
    }
    if signed.report.basis != tranche_audit::report::BASIS {
        return fail(
            "unknown_basis",
            format!(
                "the report states basis {:?}; this verifier computes figures by {:?}",
                signed.report.basis,
                tranche_audit::report::BASIS
            ),
        );
    }
    // The export must hold the report's checkpoint: the root of its first `size` records.
    let cp = &signed.report.checkpoint;
    let records = args.export.join("records.jsonl");
    let root = match (|| -> std::io::Result<tranche_audit::merkle::Hash> {
        use std::io::BufRead;
        let mut f = tranche_audit::merkle::Frontier::new();
        let reader = std::io::BufReader::new(std::fs::File::open(&records)?);
        for line in reader.split(b'\n') {
            if f.size() >= cp.size {
                break;
            }
            f.push(tranche_audit::merkle::leaf_hash(&line?), |_, _| {});
        }
        if f.size() < cp.size {
            return Err(std::io::Error::other(
                "the export is shorter than the report's tree",
            ));
        }
        Ok(f.root())
    })() {
        Ok(r) => r,
        Err(e) => {
            return fail(
                "checkpoint_not_in_export",
                format!("tree size {}: {e}", cp.size),
            )
        }
    };
    if base64::engine::general_purpose::STANDARD.encode(root) != cp.root {
        return fail(
            "checkpoint_not_in_export",
            format!(
                "the export's first {} records do not have the report's root {}",
                cp.size, cp.root
            ),
        );
    }
    let r = &signed.report;
    let (kind, batch, participant, bp) = match &r.body {
        tranche_audit::report::ReportBody::Sf425(s) => {
            let bp = s.indirect_rate.replace('.', "").parse::<u32>().unwrap_or(0);
            ("sf425", None, None, bp)
        }
        tranche_audit::report::ReportBody::Budget(_) => ("budget", None, None, 0),
        tranche_audit::report::ReportBody::Payments(p) => ("payments", p.batch.clone(), None, 0),
        tranche_audit::report::ReportBody::Bank(_) => ("bank", None, None, 0),
        tranche_audit::report::ReportBody::Participant(p) => {
            ("participant", None, Some(p.participant.clone()), 0)
        }
        tranche_audit::report::ReportBody::Disaggregation(d) => {
            // The attributes are outside the journal: check the totals the journal determines.
            let req = ReportRequest {
                kind: "disaggregation".into(),
                award: r.award.clone(),
                period: r.period,
                batch: None,
                participant: None,
                indirect_bp: 0,
                threshold: d.threshold,
            };
            let totals =
                match tranche_audit::report_compute::totals_from_export(&args.export, cp.size, req)
                {
                    Ok(t) => t,
                    Err(e) => return unreadable(records.display().to_string(), e),
                };
            for t in &d.tables {
                // Totals are never hidden: every table publishes the journal's, the same in all.
                let differs = t
                    .totals
                    .iter()
                    .zip(&totals)
                    .any(|(shown, ours)| shown != ours);
                if differs || t.totals.len() != totals.len() {
                    return fail(
                        "figures_differ",
                        format!(
                            "the {} table's totals are not what the journal gives",
                            t.attribute
                        ),
                    );
                }
            }
            if output.json {
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "tree_size": cp.size, "kind": "disaggregation"})
                );
            } else if !output.quiet {
                println!(
                    "OK: the disaggregation report is signed by the ledger and its totals are what the journal gives at tree size {} (the cells rest on attributes outside the journal)",
                    cp.size
                );
            }
            return ExitCode::SUCCESS;
        }
    };
    let req = ReportRequest {
        kind: kind.into(),
        award: r.award.clone(),
        period: r.period,
        batch,
        participant,
        indirect_bp: bp,
        threshold: 5,
    };
    let recomputed = match from_export(&args.export, cp.size, req) {
        Ok(b) => b,
        Err(e) => return unreadable(records.display().to_string(), e),
    };
    let claimed = serde_json::to_value(&r.body).unwrap_or_default();
    let ours = serde_json::to_value(&recomputed).unwrap_or_default();
    let diff = differences(&claimed, &ours);
    if !diff.is_empty() {
        let detail = diff
            .iter()
            .take(20)
            .map(|path| {
                let pick = |v: &serde_json::Value| {
                    path.split('.')
                        .try_fold(v, |v, k| {
                            if let Some((name, idx)) = k.split_once('[') {
                                let i: usize = idx.trim_end_matches(']').parse().ok()?;
                                v.get(name)?.get(i)
                            } else {
                                v.get(k)
                            }
                        })
                        .cloned()
                        .unwrap_or(serde_json::Value::Null)
                };
                format!(
                    "{path}: report says {}, the journal gives {}",
                    pick(&claimed),
                    pick(&ours)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return fail(
            "figures_differ",
            format!("{} figure(s) differ: {detail}", diff.len()),
        );
    }
    if output.json {
        println!(
            "{}",
            serde_json::json!({"ok": true, "tree_size": cp.size, "kind": kind})
        );
    } else if !output.quiet {
        println!(
            "OK: the {kind} report is signed by the ledger and every figure is what the journal gives at tree size {}",
            cp.size
        );
    }
    ExitCode::SUCCESS
}

#[derive(Debug, Args)]
struct ForkArgs {
    /// The evidence file (JSON, tranche/fork-evidence/v1).
    file: PathBuf,
    /// The ledger's checkpoint key in C2SP vkey form, as a file or text.
    #[arg(long, value_name = "FILE_OR_TEXT")]
    vkey: String,
    #[command(flatten)]
    output: OutputArgs,
}

fn fork_main(args: &ForkArgs) -> ExitCode {
    use tranche_audit::fork::{ForkEvidence, Verdict};
    let trusted = match verify::read_vkey(&args.vkey) {
        Ok(v) => v,
        Err(e) => return report_error(args.output, &e),
    };
    let evidence = match ForkEvidence::read(&args.file) {
        Ok(e) => e,
        Err(detail) => {
            return report_error(
                args.output,
                &VerifyError::CouldNotRead {
                    what: args.file.display().to_string(),
                    detail,
                },
            )
        }
    };
    let (proven, detail) = match evidence.check(&trusted) {
        Ok(Verdict::Proven(d)) => (true, d),
        Ok(Verdict::NotProven(d)) => (false, d),
        Err(d) => (false, d),
    };
    if args.output.json {
        println!(
            "{}",
            serde_json::json!({"fork_proven": proven, "detail": detail})
        );
    } else if proven {
        println!("PROVEN: {detail}");
    } else {
        println!("NOT PROVEN: {detail}");
    }
    if proven {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The witness policy: `quorum` of `witnesses` must have cosigned `note`.
fn check_witnesses(cli: &Cli, note: &str) -> Result<(), VerifyError> {
    witness_policy(&cli.witnesses, cli.quorum, note)
}

/// `quorum` (default: all) of the `witnesses` keys must have cosigned `note`.
fn witness_policy(
    witnesses: &[String],
    quorum: Option<usize>,
    note: &str,
) -> Result<(), VerifyError> {
    use tranche_audit::witness::{count_cosignatures, CosignerVerifier};
    if witnesses.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::new();
    for w in witnesses {
        let text = std::fs::read_to_string(w).unwrap_or_else(|_| w.clone());
        keys.push(
            CosignerVerifier::parse(&text).map_err(|e| VerifyError::CouldNotRead {
                what: format!("--witness {w}"),
                detail: e.to_string(),
            })?,
        );
    }
    let quorum = quorum.unwrap_or(keys.len());
    let parsed = tranche_audit::note::SignedNote::parse(note).map_err(|e| {
        VerifyError::Invalid(Failure {
            seq: None,
            rule: verify::rule::MALFORMED_CHECKPOINT,
            detail: e.to_string(),
        })
    })?;
    let (ok, missing) = count_cosignatures(&parsed, &keys);
    if ok < quorum {
        return Err(VerifyError::Invalid(Failure {
            seq: None,
            rule: "witness_quorum",
            detail: format!(
                "the checkpoint carries {ok} valid cosignature(s) of the {} witnesses given, {quorum} required (missing or invalid: {})",
                keys.len(),
                missing.join(", ")
            ),
        }));
    }
    Ok(())
}

/// Where fork evidence is written for a state file.
fn evidence_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".fork.json");
    state.with_file_name(name)
}

/// With --state on an export: the new checkpoint must extend the kept one (the consistency
/// proof is computed from the export itself); a fork writes portable evidence.
fn check_state_dir(
    state: &Path,
    trusted: &NoteVerifier,
    dir: &Path,
) -> Result<(Option<u64>, bool), VerifyError> {
    use tranche_audit::monitor::{self, ExtendError, Growth};
    let note =
        std::fs::read_to_string(dir.join("checkpoint")).map_err(|e| VerifyError::CouldNotRead {
            what: dir.join("checkpoint").display().to_string(),
            detail: e.to_string(),
        })?;
    let new = tranche_audit::note::open_checkpoint(&note, trusted)
        .map_err(|e| VerifyError::CouldNotRead {
            what: "checkpoint".into(),
            detail: e.to_string(),
        })?
        .checkpoint;
    let Some(old) = monitor::read_state(state, trusted)? else {
        monitor::write_state(state, &note).map_err(|e| VerifyError::CouldNotRead {
            what: state.display().to_string(),
            detail: e.to_string(),
        })?;
        return Ok((None, false));
    };
    let records = dir.join("records.jsonl");
    let checked = monitor::check_extends(&old.checkpoint, &new, |a, b| {
        tranche_audit::fork::prefix_proof(&records, a, b).map(|(_, p)| p)
    });
    match checked {
        Ok(g) => {
            if g != Growth::Unchanged {
                monitor::write_state(state, &note).map_err(|e| VerifyError::CouldNotRead {
                    what: state.display().to_string(),
                    detail: e.to_string(),
                })?;
            }
            Ok((Some(old.checkpoint.size), g == Growth::Unchanged))
        }
        Err(ExtendError::Fork(f)) => {
            let larger = (new.size > old.checkpoint.size).then_some(records.as_path());
            let ev = tranche_audit::fork::evidence(
                &old.note,
                &note,
                &old.checkpoint,
                &new,
                larger,
                &f.detail,
            );
            let path = evidence_path(state);
            let written = ev.write(&path).is_ok();
            Err(VerifyError::Invalid(Failure {
                detail: format!(
                    "{} (the earlier checkpoint is kept in {}, unchanged{})",
                    f.detail,
                    state.display(),
                    if written {
                        format!(
                            "; evidence written to {}: check it with tranche-verify fork {} --vkey KEY",
                            path.display(),
                            path.display()
                        )
                    } else {
                        String::new()
                    }
                ),
                ..f
            }))
        }
        Err(ExtendError::Proof(e)) => Err(VerifyError::CouldNotRead {
            what: records.display().to_string(),
            detail: e.to_string(),
        }),
    }
}

#[derive(Debug, Args)]
struct ReceiptArgs {
    /// The receipt file (c2sp.org/tlog-proof@v1, usually *.tlog-proof), or - for standard
    /// input.
    file: PathBuf,

    /// The ledger's checkpoint key in C2SP vkey form, as a file holding it or as the text
    /// itself. Obtain it out of band.
    #[arg(long, value_name = "FILE_OR_TEXT")]
    vkey: String,

    /// A witness's cosigner key: the receipt's checkpoint must carry its cosignature. Repeat.
    #[arg(long = "witness", value_name = "FILE_OR_TEXT")]
    witnesses: Vec<String>,

    /// How many of the --witness keys must have cosigned (default: all).
    #[arg(long, value_name = "K", requires = "witnesses")]
    quorum: Option<usize>,

    /// An earlier receipt: with --consistency, shows that its tree is a prefix of this one's,
    /// so the earlier record is still in the history.
    #[arg(long, value_name = "FILE", requires = "consistency")]
    earlier: Option<PathBuf>,

    /// The consistency proof from the earlier receipt's tree to this one's: the JSON of
    /// GET /v1/proofs/consistency, or one base64 hash per line.
    #[arg(long, value_name = "FILE", requires = "earlier")]
    consistency: Option<PathBuf>,

    #[command(flatten)]
    output: OutputArgs,
}

/// Reads a consistency proof: the API's JSON ({"proof": [...]}) or base64 hashes, one a line.
fn read_proof(path: &Path) -> Result<Vec<tranche_audit::merkle::Hash>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let items: Vec<String> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => v["proof"]
            .as_array()
            .ok_or("the JSON has no proof array")?
            .iter()
            .filter_map(|h| h.as_str().map(str::to_string))
            .collect(),
        Err(_) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    };
    items
        .iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| format!("{h:?} is not a base64 hash"))
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Receipt(args)) => receipt_main(args),
        Some(Command::Fork(args)) => fork_main(args),
        Some(Command::Report(args)) => report_check_main(args),
        None if cli.url.is_some() => remote_main(&cli),
        None => dir_main(&cli),
    }
}

fn progress_bar(output: OutputArgs, template: &str) -> ProgressBar {
    if output.quiet || output.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar
}

fn dir_main(cli: &Cli) -> ExitCode {
    let output = cli.output;
    let Some(dir) = cli.dir.as_deref() else {
        unreachable!("clap requires DIR or --url");
    };
    let started = Instant::now();
    let trusted = match cli.vkey.as_deref().map(verify::read_vkey).transpose() {
        Ok(v) => v,
        Err(e) => return report_error(output, &e),
    };
    let key_given = trusted.is_some();
    if !cli.witnesses.is_empty() {
        let note = match std::fs::read_to_string(dir.join("checkpoint")) {
            Ok(n) => n,
            Err(e) => {
                return report_error(
                    output,
                    &VerifyError::CouldNotRead {
                        what: dir.join("checkpoint").display().to_string(),
                        detail: e.to_string(),
                    },
                )
            }
        };
        match check_witnesses(cli, &note) {
            Ok(()) => {}
            Err(VerifyError::Invalid(f)) => return report_failure(output, &f),
            Err(e) => return report_error(output, &e),
        }
    }

    let bar = progress_bar(
        output,
        "verifying [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
    );
    let mut on_progress = |p: Progress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_read);
        bar.set_message(format!("{} records", p.records));
    };
    let result = verify::verify_dir(
        dir,
        VerifyOptions {
            vkey: trusted,
            progress: Some(&mut on_progress),
            reference_decoder: cli.reference_decoder,
        },
    );
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    let result = result.and_then(|summary| {
        let Some(state) = cli.state.as_deref() else {
            return Ok(summary);
        };
        let trusted = match cli.vkey.as_deref() {
            Some(v) => verify::read_vkey(v)?,
            None => verify::read_vkey(&dir.join("ledger.vkey").display().to_string())?,
        };
        check_state_dir(state, &trusted, dir)?;
        Ok(summary)
    });
    match result {
        Ok(summary) => {
            if output.json {
                let mut v = summary.to_json();
                v["ok"] = true.into();
                v["key_from_export"] = (!key_given).into();
                v["elapsed_ms"] = (elapsed.as_millis() as u64).into();
                println!("{v}");
            } else if !output.quiet {
                let key_note = if key_given {
                    "(given with --vkey)"
                } else {
                    "(read from the export's own ledger.vkey: pass --vkey with a key obtained \
                     out of band to tie the export to the ledger)"
                };
                print_summary("OK: the export verifies", &summary, key_note, &[], elapsed);
            }
            ExitCode::SUCCESS
        }
        Err(VerifyError::Invalid(failure)) => report_failure(output, &failure),
        Err(e) => report_error(output, &e),
    }
}

#[cfg(feature = "remote")]
fn remote_main(cli: &Cli) -> ExitCode {
    use tranche_audit::monitor::Growth;

    let output = cli.output;
    let (Some(url), Some(vkey)) = (cli.url.as_deref(), cli.vkey.as_deref()) else {
        unreachable!("clap requires --vkey with --url");
    };
    let started = Instant::now();
    let trusted = match verify::read_vkey(vkey) {
        Ok(v) => v,
        Err(e) => return report_error(output, &e),
    };
    let bar = progress_bar(
        output,
        "verifying [{bar:40}] {pos}/{len} records {binary_bytes_per_sec} {msg}",
    );
    let mut on_progress = |p: Progress| bar.set_position(p.records);
    let witness_check = |note: &str| check_witnesses(cli, note);
    let result = remote::verify_server(remote::Options {
        url,
        token: cli.token.as_deref(),
        trusted: &trusted,
        cosigned: !cli.witnesses.is_empty(),
        check_checkpoint: &witness_check,
        state: cli.state.as_deref(),
        reference_decoder: cli.reference_decoder,
        on_checkpoint: &mut |size| bar.set_length(size),
        progress: &mut on_progress,
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    let verified = match result {
        Ok(v) => v,
        Err(VerifyError::Invalid(failure)) => return report_failure(output, &failure),
        Err(e) => return report_error(output, &e),
    };
    let state_name = cli
        .state
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let size = verified.summary.tree_size;
    let (growth, history) = match (verified.previous_size, verified.growth) {
        (None, _) if cli.state.is_none() => (
            "not_kept",
            "not kept: pass --state FILE to detect a fork between runs".to_string(),
        ),
        (None, _) => (
            "first_visit",
            format!("first run with {state_name}: it now holds this checkpoint"),
        ),
        (Some(_), Some(Growth::Unchanged)) | (Some(_), None) => (
            "unchanged",
            format!("unchanged since the checkpoint kept in {state_name}"),
        ),
        (Some(_), Some(Growth::Extended { from_size })) => (
            "extended",
            format!(
                "extends the checkpoint of {} kept in {state_name} (consistency proof \
                 verified); it now holds the checkpoint of {}",
                grouped(from_size),
                grouped(size)
            ),
        ),
    };
    if output.json {
        let mut v = verified.summary.to_json();
        v["ok"] = true.into();
        v["url"] = url.into();
        v["key_from_export"] = false.into();
        v["history"] = serde_json::json!({
            "state": cli.state.as_ref().map(|p| p.display().to_string()),
            "previous_size": verified.previous_size,
            "growth": growth,
        });
        v["elapsed_ms"] = (elapsed.as_millis() as u64).into();
        println!("{v}");
    } else if !output.quiet {
        print_summary(
            &format!("OK: the ledger at {url} verifies"),
            &verified.summary,
            "(given with --vkey)",
            &[("history", history)],
            elapsed,
        );
    }
    ExitCode::SUCCESS
}

#[cfg(not(feature = "remote"))]
fn remote_main(cli: &Cli) -> ExitCode {
    report_error(
        cli.output,
        &VerifyError::CouldNotRead {
            what: cli.url.clone().unwrap_or_default(),
            detail: "this tranche-verify was built without the `remote` feature, so it cannot \
                     reach a server: verify an export directory instead"
                .into(),
        },
    )
}

fn read_receipt(path: &Path) -> Result<Vec<u8>, VerifyError> {
    let limit = MAX_RECEIPT_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    let result = if path == Path::new("-") {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    result.map_err(|e| VerifyError::CouldNotRead {
        what: path.display().to_string(),
        detail: e.to_string(),
    })?;
    Ok(bytes)
}

fn receipt_main(args: &ReceiptArgs) -> ExitCode {
    let output = args.output;
    let trusted = match verify::read_vkey(&args.vkey) {
        Ok(v) => v,
        Err(e) => return report_error(output, &e),
    };
    let bytes = match read_receipt(&args.file) {
        Ok(b) => b,
        Err(e) => return report_error(output, &e),
    };
    let malformed = |detail: String| Failure {
        seq: None,
        rule: tranche_audit::receipt::rule::MALFORMED_RECEIPT,
        detail,
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return report_failure(output, &malformed("the receipt is not UTF-8 text".into()));
    };
    let receipt = match Receipt::parse(&text) {
        Ok(r) => r,
        Err(e) => return report_failure(output, &malformed(e.to_string())),
    };
    if let Err(e) = witness_policy(&args.witnesses, args.quorum, &receipt.checkpoint_note) {
        return match e {
            VerifyError::Invalid(f) => report_failure(output, &f),
            other => report_error(output, &other),
        };
    }
    match receipt.verify(&trusted) {
        Ok(verified) => {
            if let (Some(earlier), Some(proof)) = (&args.earlier, &args.consistency) {
                let older = match read_receipt(earlier)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|t| Receipt::parse(&t).ok())
                {
                    Some(r) => r,
                    None => {
                        return report_failure(
                            output,
                            &malformed(format!("{} is not a receipt", earlier.display())),
                        )
                    }
                };
                let old = match older.verify(&trusted) {
                    Ok(v) => v,
                    Err(e) => {
                        return report_failure(
                            output,
                            &Failure {
                                seq: Some(older.index),
                                rule: e.rule(),
                                detail: format!("the earlier receipt: {e}"),
                            },
                        )
                    }
                };
                let hashes = match read_proof(proof) {
                    Ok(h) => h,
                    Err(detail) => {
                        return report_error(
                            output,
                            &VerifyError::CouldNotRead {
                                what: proof.display().to_string(),
                                detail,
                            },
                        )
                    }
                };
                let (a, b) = (&old.checkpoint, &verified.checkpoint);
                let consistent = if a.size == b.size {
                    a.root == b.root
                } else {
                    a.size < b.size
                        && tranche_audit::merkle::verify_consistency(
                            a.size, b.size, &hashes, &a.root, &b.root,
                        )
                        .is_ok()
                };
                if !consistent {
                    return report_failure(
                        output,
                        &Failure {
                            seq: None,
                            rule: verify::rule::FORK,
                            detail: format!(
                                "the tree of {} records of the earlier receipt is not a prefix of the tree of {} records of this one",
                                a.size, b.size
                            ),
                        },
                    );
                }
                if !output.quiet && !output.json {
                    println!(
                        "OK: the earlier receipt's tree of {} records is a prefix of this one's ({} records): record {} is still in the history",
                        a.size, b.size, old.record.seq
                    );
                }
            }
            report_receipt(output, &verified, &trusted);
            ExitCode::SUCCESS
        }
        Err(e) => report_failure(
            output,
            &Failure {
                seq: Some(receipt.index),
                rule: e.rule(),
                detail: e.to_string(),
            },
        ),
    }
}

fn report_receipt(output: OutputArgs, v: &VerifiedReceipt, trusted: &NoteVerifier) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let r = &v.record;
    if output.json {
        let out = serde_json::json!({
            "ok": true,
            "seq": r.seq,
            "kind": r.kind,
            "actor": r.actor,
            "at": format_time(r.at),
            "leaf_hash": b64.encode(v.leaf),
            "origin": v.checkpoint.origin,
            "vkey": trusted.to_vkey(),
            "tree_size": v.checkpoint.size,
            "root": b64.encode(v.checkpoint.root),
            "record": r.to_value(),
        });
        println!("{out}");
    } else if !output.quiet {
        println!(
            "OK: the receipt verifies: record {} is in the ledger's signed tree",
            r.seq
        );
        println!("  origin      {}", v.checkpoint.origin);
        println!("  key         {} (given with --vkey)", trusted.to_vkey());
        println!(
            "  record      seq {}, {} by {} at {}",
            r.seq,
            r.kind,
            r.actor,
            format_time(r.at)
        );
        println!("  leaf hash   {}", b64.encode(v.leaf));
        println!("  tree size   {}", v.checkpoint.size);
        println!("  root        {}", b64.encode(v.checkpoint.root));
        println!("  bytes       {}", String::from_utf8_lossy(&v.record_bytes));
    }
}

fn report_failure(output: OutputArgs, f: &Failure) -> ExitCode {
    if output.json {
        let v = serde_json::json!({
            "ok": false,
            "seq": f.seq,
            "rule": f.rule,
            "detail": f.detail,
        });
        println!("{v}");
    } else {
        match f.seq {
            Some(seq) => println!("FAILED at seq {seq}: {}: {}", f.rule, f.detail),
            None => println!("FAILED: {}: {}", f.rule, f.detail),
        }
    }
    ExitCode::from(1)
}

fn report_error(output: OutputArgs, e: &VerifyError) -> ExitCode {
    if output.json {
        let v = serde_json::json!({
            "ok": false,
            "rule": "could_not_read",
            "detail": e.to_string(),
        });
        println!("{v}");
    } else {
        eprintln!("tranche-verify: {e}");
    }
    ExitCode::from(2)
}

/// 1234567 -> "1,234,567", for people reading a summary.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3,
        h => h,
    };
    let mut out = digits[..head].to_string();
    for group in digits.as_bytes()[head..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).expect("ASCII digits"));
    }
    out
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else if word.ends_with("ch") {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

fn print_summary(
    headline: &str,
    s: &Summary,
    key_note: &str,
    extra: &[(&str, String)],
    elapsed: Duration,
) {
    let b64 = base64::engine::general_purpose::STANDARD;
    println!("{headline}");
    println!("  origin      {}", s.origin);
    println!("  key         {} {key_note}", s.vkey);
    println!("  tree size   {}", s.tree_size);
    println!("  root        {}", b64.encode(s.root));
    println!(
        "  records     {}: {} {}, {} {} opened ({} closed)",
        grouped(s.records),
        grouped(s.transactions),
        plural(s.transactions, "transaction"),
        s.accounts,
        plural(s.accounts, "account"),
        s.accounts_closed
    );
    if s.evidence_statements + s.partner_keys + s.entitlements > 0 {
        println!(
            "  programme   {} evidence {} ({} {}), {} partner {} registered, {} {}",
            grouped(s.evidence_statements),
            plural(s.evidence_statements, "statement"),
            grouped(s.evidence_items),
            plural(s.evidence_items, "item"),
            s.partner_keys,
            plural(s.partner_keys, "key"),
            grouped(s.entitlements),
            plural(s.entitlements, "entitlement")
        );
    }
    if s.batches > 0 {
        println!(
            "  payments    {} {} of {} {}, {} {}, {} bank {} imported",
            grouped(s.batches),
            plural(s.batches, "batch"),
            grouped(s.payments),
            plural(s.payments, "payment"),
            grouped(s.approvals),
            plural(s.approvals, "approval"),
            grouped(s.bank_imports),
            plural(s.bank_imports, "file")
        );
    }
    if !s.closes.is_empty() {
        let quarters: Vec<String> = s
            .closes
            .iter()
            .map(|(_, c)| format!("{} {}", c.award, c.quarter))
            .collect();
        println!(
            "  closed      {}{}",
            quarters.join(", "),
            if s.closes_recomputed {
                " (each SF-425 recomputed from the export: unchanged)"
            } else {
                " (their SF-425s are recomputed when verifying an export directory)"
            }
        );
    }
    if s.moved_minor.is_empty() {
        println!("  moved       nothing");
    }
    for (i, (currency, minor)) in s.moved_minor.iter().enumerate() {
        let label = if i == 0 { "moved" } else { "" };
        println!(
            "  {label:<11} {currency} {} (sum of debit postings)",
            format_minor(*minor, *currency)
        );
    }
    if let (Some(first), Some(last)) = (s.first_at, s.last_at) {
        println!(
            "  time range  {} to {}",
            format_time(first),
            format_time(last)
        );
    }
    for (label, text) in extra {
        println!("  {label:<11} {text}");
    }
    let secs = elapsed.as_secs_f64();
    println!(
        "  elapsed     {secs:.2} s ({} records/s)",
        grouped((s.records as f64 / secs.max(1e-9)) as u64)
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(super::grouped(0), "0");
        assert_eq!(super::grouped(999), "999");
        assert_eq!(super::grouped(1000), "1,000");
        assert_eq!(super::grouped(1234567), "1,234,567");
    }

    #[test]
    fn the_three_forms_parse() {
        let dir = super::Cli::try_parse_from(["tranche-verify", "exports/x", "--json"])
            .expect("the DIR form");
        assert!(dir.command.is_none() && dir.dir.is_some() && dir.output.json);
        let receipt = super::Cli::try_parse_from([
            "tranche-verify",
            "receipt",
            "r.tlog-proof",
            "--vkey",
            "k",
        ])
        .expect("the receipt form");
        assert!(matches!(receipt.command, Some(super::Command::Receipt(_))));
        let url = super::Cli::try_parse_from([
            "tranche-verify",
            "--url",
            "http://127.0.0.1:1",
            "--vkey",
            "k",
            "--state",
            "s",
        ])
        .expect("the URL form");
        assert!(url.dir.is_none() && url.state.is_some());
        // A state file works with an export directory too.
        let dir = super::Cli::try_parse_from(["tranche-verify", "d", "--state", "s"])
            .expect("an export with a state file");
        assert!(dir.state.is_some());
        // Refused: neither form, both, a URL without a key, a quorum without witnesses.
        for args in [
            &["tranche-verify"][..],
            &["tranche-verify", "d", "--url", "http://h", "--vkey", "k"],
            &["tranche-verify", "--url", "http://h"],
            &["tranche-verify", "d", "--quorum", "1"],
            &["tranche-verify", "receipt", "r"],
        ] {
            assert!(super::Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
