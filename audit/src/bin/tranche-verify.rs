//! `tranche-verify`: checks a tranche journal export offline, with no database and no network.
//! A thin shell over `tranche_audit::verify`: arguments, a progress bar on a terminal, and the
//! verdict in words or JSON. Exit status: 0 valid, 1 invalid, 2 could not read.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tranche_audit::money::format_minor;
use tranche_audit::record::format_time;
use tranche_audit::verify::{self, Failure, Progress, Summary, VerifyError, VerifyOptions};

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

Exit status: 0 the export is valid, 1 it is not (the first bad record is named), 2 it could not \
be read.";

#[derive(Debug, Parser)]
#[command(
    name = "tranche-verify",
    version,
    about = "Verify a tranche journal export offline (hash chain, double entry, signed Merkle root)",
    long_about = LONG_ABOUT
)]
struct Args {
    /// The export directory (records.jsonl, checkpoint, ledger.vkey).
    dir: PathBuf,

    /// The ledger's checkpoint key in C2SP vkey form (name+keyid+base64), as a file holding it
    /// or as the text itself. Obtain it out of band; without it the export's own ledger.vkey is
    /// used.
    #[arg(long, value_name = "FILE_OR_TEXT")]
    vkey: Option<String>,

    /// Print the outcome as one JSON object on stdout.
    #[arg(long)]
    json: bool,

    /// Print nothing on success and only the failure line on failure; no progress bar.
    #[arg(long, short)]
    quiet: bool,

    /// Decode every record with the generic RFC 8785 decoder only (slower), to cross-check the
    /// fast one.
    #[arg(long)]
    reference_decoder: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let trusted = match args.vkey.as_deref().map(verify::read_vkey).transpose() {
        Ok(v) => v,
        Err(e) => return report_error(&args, &e),
    };
    let key_given = trusted.is_some();

    let bar = if args.quiet || args.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "verifying [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .expect("a valid progress template")
            .progress_chars("=> "),
        );
        bar
    };
    let mut on_progress = |p: Progress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_read);
        bar.set_message(format!("{} records", p.records));
    };
    let result = verify::verify_dir(
        &args.dir,
        VerifyOptions {
            vkey: trusted,
            progress: Some(&mut on_progress),
            reference_decoder: args.reference_decoder,
        },
    );
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    match result {
        Ok(summary) => {
            if args.json {
                let mut v = summary.to_json();
                v["ok"] = true.into();
                v["key_from_export"] = (!key_given).into();
                v["elapsed_ms"] = (elapsed.as_millis() as u64).into();
                println!("{v}");
            } else if !args.quiet {
                print_summary(&summary, key_given, elapsed);
            }
            ExitCode::SUCCESS
        }
        Err(VerifyError::Invalid(failure)) => {
            report_failure(&args, &failure);
            ExitCode::from(1)
        }
        Err(e) => report_error(&args, &e),
    }
}

fn report_failure(args: &Args, f: &Failure) {
    if args.json {
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
}

fn report_error(args: &Args, e: &VerifyError) -> ExitCode {
    if args.json {
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
    } else {
        format!("{word}s")
    }
}

fn print_summary(s: &Summary, key_given: bool, elapsed: Duration) {
    let b64 = base64::engine::general_purpose::STANDARD;
    println!("OK: the export verifies");
    println!("  origin      {}", s.origin);
    if key_given {
        println!("  key         {} (given with --vkey)", s.vkey);
    } else {
        println!(
            "  key         {} (read from the export's own ledger.vkey: pass --vkey with a key \
             obtained out of band to tie the export to the ledger)",
            s.vkey
        );
    }
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
    let secs = elapsed.as_secs_f64();
    println!(
        "  elapsed     {secs:.2} s ({} records/s)",
        grouped((s.records as f64 / secs.max(1e-9)) as u64)
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(super::grouped(0), "0");
        assert_eq!(super::grouped(999), "999");
        assert_eq!(super::grouped(1000), "1,000");
        assert_eq!(super::grouped(1234567), "1,234,567");
    }
}
