//! `tranche-demo`: a realistic programme to explore, generated from one seed and loaded into the
//! configured ledger (the same `--data-dir` or `DATABASE_URL` that `tranche serve` then serves)
//! through the same operations a real one goes through. A binary of its own so that none of it
//! is in `tranche`.
//!
//! The programme is shaped like Caminando (UN Women and HIAS on the northern border of Ecuador,
//! funded by BPRM): one award in USD, two partners with their own Ed25519 keys, participants
//! from Ecuador, Venezuela and Colombia in four provinces, registered with personal data (the
//! journal gets pseudonyms and commitments), cohorts of about 25 per partner and province on
//! three pathways (vocational scholarships with training providers, entrepreneurship with
//! seed-capital milestones, employability), six months of sessions with realistic attendance
//! signed by the partners month by month, and the monthly cycles run on it, with a second C4T
//! rule version from April and one late attendance correction that reverses an entitlement.
//!
//! Everything comes from one seeded generator, so the journal's content is the same on every
//! run except the record times, the ledger's own key and the users' tokens.

use std::process::ExitCode;

use clap::Parser;
use tranche_api::cli::Global;

/// The money side: a drawdown, the paying accounts and one approved batch.
mod disburse;
/// Loading the programme through the ledger, month by month.
mod load;
/// The programme's records: award, budget, rules, keys, signed statements.
mod records;
/// The fixed parts of the programme.
mod spec;
/// What the demo prints when it is done, and the API users.
mod summary;
/// The generator: cohorts, sessions, people, attendance.
mod world;

#[derive(Debug, Parser)]
#[command(
    name = "tranche-demo",
    version,
    about = "Load a realistic demo programme (BPRM award in Ecuador, two partners, 1,500 \
participants, January to June 2026 with its cycles) and create API users for every role",
    after_help = "The demo refuses to load into a ledger where award bprm-ec-2026 is \
already open (exit code 3). Its records are written under the names of the users it creates \
(user:admin, user:finance-preparer, user:hias-field, user:un-women-field), not --actor; the \
partners' demo signing keys are written to DATA_DIR/demo-partner-keys. The same seed and \
participant count give the same journal content apart from record times and the ledger's own \
key."
)]
pub struct DemoArgs {
    #[command(flatten)]
    pub global: Global,
    /// Participants to register: 40% vocational scholarships, a third entrepreneurship, the
    /// rest employability.
    #[arg(long, default_value_t = 1_500, value_parser = clap::value_parser!(u32).range(20..=50_000))]
    pub participants: u32,
    /// Seed of the generator: the same seed loads the same programme.
    #[arg(long, default_value_t = spec::DEFAULT_SEED)]
    pub seed: u64,
}

fn main() -> ExitCode {
    let args = DemoArgs::parse();
    let runtime = match tranche_api::start("warn") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(load::run(&args.global, args.participants, args.seed)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
