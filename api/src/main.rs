//! `tranche`: the command line of the disbursement ledger. `main` stays thin: parse, set up
//! logging, run the chosen command.

use clap::Parser;
use tranche_api::cli;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // The server logs each request; one-shot commands only warnings.
    let default_level = match args.command {
        cli::Cmd::Serve { .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRANCHE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
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
            return std::process::ExitCode::from(2);
        }
    };
    let code = match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    };
    if std::env::var_os(tranche_api::PEAK_MEMORY_ENV).is_some() {
        if let Some(kib) = tranche_api::peak_memory_kib() {
            eprintln!("{} {kib}", tranche_api::PEAK_MEMORY_LINE);
        }
    }
    code
}
