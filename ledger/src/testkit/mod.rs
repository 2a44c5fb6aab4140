//! Test and benchmark kits, compiled only with the `testkit` feature: the test crates and the
//! `tranche-bench` and `tranche-demo` binaries turn it on; no code of `tranche` calls it.

/// A synthetic programme with participants owed money.
pub mod fixture;
/// Throwaway PostgreSQL clusters.
pub mod pgtemp;
