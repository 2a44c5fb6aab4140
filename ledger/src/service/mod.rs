//! Use cases: what the command line, the API and the web pages call. Each one loads what it
//! needs through the store, decides with the domain rules and appends through [`crate::Ledger`].

/// Streaming export of the journal for offline verification.
pub mod export;
/// The journal as hledger and Beancount plain-text accounting files.
pub mod export_text;
/// Disbursement: batches, approvals, bank files, status imports, traces.
pub mod payments;
/// Closed periods: closing a quarter of an award, reopening it with two approvers.
pub mod periods;
/// The programme: awards, cohorts, participants, evidence, cycles.
pub mod programme;
/// Reports bound to a signed checkpoint: computed, signed, rendered.
pub mod reports;
