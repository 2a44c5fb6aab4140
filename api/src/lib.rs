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
