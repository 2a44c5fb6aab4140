//! `tranche-demo`: a realistic programme to explore, loaded into the configured ledger (the same
//! `--data-dir` or `DATABASE_URL` that `tranche serve` then serves). A binary of its own so that
//! none of it is in `tranche`.

use std::process::ExitCode;

use clap::Parser;
use tranche_api::cli::Global;

/// The programme, its generator and its loading.
mod demo;

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
    #[arg(long, default_value_t = demo::DEFAULT_SEED)]
    pub seed: u64,
}

fn main() -> ExitCode {
    let args = DemoArgs::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRANCHE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(demo::run(&args.global, &args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
