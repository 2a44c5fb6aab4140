//! `tranche evidence import`: partner-signed statements recorded directly in the ledger.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;
use tranche_audit::programme::EvidenceBody;
use tranche_ledger::StoreError;

use super::common::{actor, bad_file, open, parse_many, progress_bar, read_text, Global};

#[derive(Debug, Subcommand)]
pub enum EvidenceCmd {
    /// Record signed statements (from `tranche partner sign`) directly in the ledger.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub async fn run(g: &Global, cmd: EvidenceCmd) -> anyhow::Result<ExitCode> {
    let EvidenceCmd::Import { files } = cmd;
    let mut bodies: Vec<EvidenceBody> = Vec::new();
    // Where each statement came from: (file, statement number in it, 1-based).
    let mut origin: Vec<(usize, usize)> = Vec::new();
    for (k, f) in files.iter().enumerate() {
        let text = read_text(f)?;
        let parsed: Vec<EvidenceBody> = match parse_many(&text) {
            Ok(v) => v,
            Err(e) => return Ok(bad_file(&format!("{}: {e}", f.display()))),
        };
        origin.extend((1..=parsed.len()).map(|n| (k, n)));
        bodies.extend(parsed);
    }
    let at = |i: usize| {
        origin.get(i).map_or_else(String::new, |&(k, n)| {
            format!("{} statement {n}: ", files[k].display())
        })
    };
    let ledger = open(g).await?;
    let bar = progress_bar(0, "journaling evidence");
    let result = ledger
        .import_evidence(&bodies, &actor(g), Utc::now(), &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await;
    bar.finish_and_clear();
    match result {
        Ok(Ok(done)) => {
            if done.already > 0 {
                eprintln!(
                    "{} statements were already in the journal (an earlier run of these files): skipped",
                    done.already
                );
            }
            match done.seqs {
                Some((first, last)) => println!(
                    "journaled {} statements ({} items) at seq {first}..{last}",
                    done.submitted, done.items
                ),
                None => println!("journaled no new statement"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(errors)) => {
            for (i, e) in &errors {
                eprintln!("{}{}: {} ({})", at(*i), e.field, e.detail, e.code);
            }
            eprintln!(
                "refused: {} of {} statements are bad; nothing was written",
                errors.len(),
                bodies.len()
            );
            Ok(ExitCode::from(3))
        }
        Err(StoreError::Invalid(i)) => {
            // The checks passed, so this is a rule only the append knows: the chunks before it
            // are written, and a rerun resumes after them.
            let place = i.item.map(at).unwrap_or_default();
            eprintln!("{place}{}: {} ({})", i.field, i.detail, i.code);
            eprintln!("the statements before it that were written are kept: run again after fixing it to resume");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}
