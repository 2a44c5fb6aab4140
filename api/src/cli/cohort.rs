//! `tranche cohort`: cohorts opened with their sessions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use tranche_ledger::service::programme::CohortInput;

use super::common::{append_recorded, bad_file, open, parse_many, read_text, refused, Global};

#[derive(Debug, Subcommand)]
pub enum CohortCmd {
    /// Open cohorts from a JSON file (one cohort, pretty-printed or not) or JSON Lines
    /// (several): cohort, award, partner, pathway (employability, entrepreneurship or
    /// vocational-scholarship), name, course?, provider?, sessions?: [{session, date}]
    /// (docs/examples/cohort.json).
    Open { file: PathBuf },
}

pub async fn run(g: &Global, cmd: CohortCmd) -> anyhow::Result<ExitCode> {
    let CohortCmd::Open { file } = cmd;
    let text = read_text(&file)?;
    let inputs: Vec<CohortInput> = match parse_many(&text) {
        Ok(v) => v,
        Err(e) => return Ok(bad_file(&e)),
    };
    let ledger = open(g).await?;
    let mut commands = Vec::new();
    for input in inputs {
        match ledger.cohort_commands(input).await {
            Ok(c) => commands.extend(c),
            Err(e) => return refused(&e).map(Ok).unwrap_or_else(|| Err(e.into())),
        }
    }
    append_recorded(&ledger, g, &commands).await
}
