//! The verifiable core of tranche: the journal record format, RFC 6962 Merkle hashing and
//! proofs, C2SP signed notes and checkpoints, and the offline verifier built on them.
//!
//! This crate owns everything a third party needs to check the journal without trusting the
//! ledger's operator. The library must never touch a database, the network or an async runtime:
//! an auditor runs it on an export with nothing else. The one exception is in the
//! `tranche-verify` binary: its `--url` mode, behind the `remote` feature, fetches what it
//! verifies over plain blocking HTTP and hands it to the same checks.

/// Account names (hierarchical) and account types.
pub mod account;
/// The closed vocabulary of refusal codes.
pub mod codes;
/// Disbursement records: payment batches, approvals, bank files, bank outcomes.
pub mod disburse;
/// Field-and-rule errors shared by every layer.
/// Portable evidence of a fork: two inconsistent checkpoints signed by one key.
pub mod fork;
pub mod invalid;
/// RFC 6962 hashing, the streaming frontier, RFC 9162 inclusion and consistency proofs.
pub mod merkle;
/// Currencies and exact amounts.
pub mod money;
/// Watching a ledger over time: the kept checkpoint and the rules that detect a fork.
pub mod monitor;
/// C2SP signed notes, vkeys and tlog checkpoints.
pub mod note;
/// Accounting dates, their rules, and the records that close and reopen a quarter.
pub mod period;
/// Postings and the stateless double-entry rules.
pub mod posting;
/// Programme records: awards, partners and keys, cohorts, participants, signed evidence,
/// rules, entitlements and cycles.
pub mod programme;
/// Receipts: C2SP tlog-proof files proving one record is in the ledger.
pub mod receipt;
/// Journal records: canonical encoding, kinds and bodies.
pub mod record;
/// Reports bound to the journal: their content, signature and the figures' definitions.
pub mod report;
/// The bank reconciliation's part of that pass.
pub mod report_bank;
/// The figures of a report, from the journal alone, in one streaming pass.
pub mod report_compute;
/// Deterministic synthetic exports, for tests and benchmarks only.
pub mod synth;
/// The streaming verifier of an export.
pub mod verify;
/// The closed vocabularies of participants' attributes: sexes, countries, an award's lists.
pub mod vocabulary;
/// Witnesses and their cosignatures (C2SP tlog-witness, tlog-cosignature).
pub mod witness;

pub use invalid::{Class, Code, Invalid};
