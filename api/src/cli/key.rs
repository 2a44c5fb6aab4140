//! `tranche key rotate`: the checkpoint key handed over to a new one.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::common::{config, open, Global};

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Replace the checkpoint key: the retiring key signs the hand-over to a new key in a
    /// `ledger.rotate` journal record, the old key file is kept as ledger.retired-<seq>, and
    /// ledger.vkey is rewritten. Stop the server first and start it again after. Verifiers
    /// given the original key follow the hand-over.
    Rotate,
}

pub async fn run(g: &Global, cmd: KeyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCmd::Rotate => {
            let ledger = open(g).await?;
            let old = ledger.verifier().to_vkey();
            let (vkey, seq) = ledger
                .rotate_key(&config(g, None))
                .await
                .context("Failed to rotate the checkpoint key")?;
            println!("the checkpoint key was rotated at seq {seq}");
            println!("  retired: {old}");
            println!("  new:     {vkey}");
            println!("publish the new key; verifiers given the old one follow the hand-over");
            Ok(ExitCode::SUCCESS)
        }
    }
}
