//! The `tranche` application: the command line and the HTTP server. This is the only crate that
//! knows HTTP; it drives `tranche-ledger` and never decides amounts itself. The benchmarks
//! (`tranche-bench`) and the demo programme (`tranche-demo`) are binaries of their own, in
//! `src/bin/`, built on this library and never part of `tranche`.

/// The command line, one module per command group.
pub mod cli;
/// Partner tools: a partner's signing key, evidence CSV signed as statements, submission.
pub mod partner;
/// The HTTP server.
pub mod server;
/// The services the HTTP API and the web pages both call.
pub mod service;
/// The web interface served by `tranche serve` under `/web/`.
pub mod web;
/// An independent witness that cosigns consistent checkpoints (`tranche witness`).
pub mod witness;

/// What every binary does first: logs to stderr at `default_level` (or `TRANCHE_LOG`), then
/// a multi-threaded runtime; when none can start, the message is printed and the exit status
/// (2) returned. The database driver logs only warnings unless `TRANCHE_LOG` says otherwise
/// (its statements and the server's notices are for debugging, not for an operator's log),
/// and colours are used only on a terminal and never when `NO_COLOR` is set.
pub fn start(default_level: &str) -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRANCHE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(format!("{default_level},sqlx=warn"))
            }),
        )
        .with_ansi(colour(std::io::stderr().is_terminal()))
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::ExitCode::from(2)
        })
}

/// Whether output may carry ANSI colours: only on a terminal, and never when `NO_COLOR` is set
/// to anything non-empty (no-color.org).
pub fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Set in a `tranche` process's environment, it prints its peak resident memory to stderr when
/// it ends (as [`PEAK_MEMORY_LINE`] and a number of KiB): `tranche-bench scale` measures the
/// one-shot commands it runs as children this way.
pub const PEAK_MEMORY_ENV: &str = "TRANCHE_PRINT_PEAK_MEMORY";
/// The start of that line.
pub const PEAK_MEMORY_LINE: &str = "tranche peak resident memory KiB:";

/// This process's peak resident memory in KiB (`VmHWM`), where `/proc` has it.
pub fn peak_memory_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
