//! The `tranche` application: the command line, the HTTP server and the benchmarks. This is the
//! only crate that knows HTTP; it drives `tranche-ledger` and never decides amounts itself.

/// `tranche bench`: figures for append, API and verification throughput.
pub mod bench;
/// The command line.
pub mod cli;
/// `tranche demo`: a realistic programme, loaded and run, to explore every feature on.
pub mod demo;
/// Partner tools: a partner's signing key, evidence CSV signed as statements, submission.
pub mod partner;
/// The disbursement commands: batches, approvals, bank files, imports, traces.
pub mod payments_cli;
/// The programme commands: awards, cohorts, rules, participants, evidence, cycles.
pub mod programme_cli;
/// The HTTP server.
pub mod server;
/// The web interface served by `tranche serve` under `/web/`.
pub mod web;
/// `tranche witness`: an independent witness that cosigns consistent checkpoints.
pub mod witness;
