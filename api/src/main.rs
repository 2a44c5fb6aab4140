//! `tranche`: the command line of the disbursement ledger. `main` stays thin: parse, set up
//! logging, run the chosen command.

use clap::Parser;
use tranche_api::cli;

/// The exit status of a process whose output pipe was closed by its reader (128 + SIGPIPE), as
/// shells report `tranche log | head`.
const BROKEN_PIPE_EXIT: i32 = 141;

fn main() -> std::process::ExitCode {
    // `tranche batch show B1 | head` closes the pipe early: end quietly, as a Unix tool does,
    // instead of printing a panic for the reader that went away.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        default_hook(info);
    }));
    let args = cli::Cli::parse();
    // The server logs each request; one-shot commands only warnings.
    let default_level = match args.command {
        cli::Cmd::Serve(_) => "info",
        _ => "warn",
    };
    let runtime = match tranche_api::start(default_level) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let code = match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            std::process::ExitCode::from(BROKEN_PIPE_EXIT as u8)
        }
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
